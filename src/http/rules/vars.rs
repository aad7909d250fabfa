//! Variables (`set-var(txn.name)`, `var(txn.name)`): HAProxy's `sess`, `txn`,
//! `req` and `res` scopes, kept per client connection. `txn`, `req` and `res`
//! variables end with the exchange; `sess` variables live as long as the
//! connection. Few variables are ever set, so a short list searched in order
//! beats a map; values reuse their buffers from one exchange to the next.
//!
//! `proc` variables are process-wide: every name the configuration writes
//! or reads is given a slot at load ([`ProcVar::resolve`]), and the compiled
//! fetch or action holds that slot, so a run-time read is one atomic load and
//! a write one atomic swap, seen by every worker and connection.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use crate::acl::Val;

/// An owned variable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An address.
    Ip(IpAddr),
    /// Bytes.
    Str(Vec<u8>),
}

impl Value {
    /// The value as a sample.
    pub fn as_val(&self) -> Val<'_> {
        match self {
            Value::Bool(b) => Val::Bool(*b),
            Value::Int(n) => Val::Int(*n),
            Value::Ip(a) => Val::Ip(*a),
            Value::Str(s) => Val::Str(s),
        }
    }

    /// Copies a sample into an owned value, reusing `self`'s buffer.
    pub fn assign(&mut self, v: Val<'_>) {
        match (self, v) {
            (Value::Str(buf), Val::Str(s)) => {
                buf.clear();
                buf.extend_from_slice(s);
            }
            (me, v) => *me = Value::from_val(v),
        }
    }

    /// An owned copy of a sample.
    pub fn from_val(v: Val<'_>) -> Value {
        match v {
            Val::Bool(b) => Value::Bool(b),
            Val::Int(n) => Value::Int(n),
            Val::Ip(a) => Value::Ip(a),
            Val::Str(s) => Value::Str(s.to_vec()),
        }
    }
}

/// Checks a variable name (`txn.name`): a supported scope and a name of
/// letters, digits, `.` and `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    let Some((scope, rest)) = name.split_once('.') else {
        return Err(format!(
            "variable '{name}' needs a scope: 'proc.', 'sess.', 'txn.', 'req.' or 'res.'"
        ));
    };
    match scope {
        // `check`: a health check's own variables (`tcp-check set-var`).
        "proc" | "sess" | "txn" | "req" | "res" | "check" => {}
        _ => return Err(format!("variable '{name}': unknown scope '{scope}'")),
    }
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(format!("invalid variable name '{name}'"));
    }
    Ok(())
}

/// Every `proc` variable slot of this process, by name: filled while the
/// configuration loads, never searched at run time.
static PROC_SLOTS: Mutex<Vec<ProcVar>> = Mutex::new(Vec::new());

/// A `proc` variable resolved to its process-wide slot.
#[derive(Clone)]
pub struct ProcVar {
    name: Arc<str>,
    slot: Arc<ArcSwapOption<Value>>,
}

impl ProcVar {
    /// The slot of `proc` variable `name` (one per name in the process).
    pub fn resolve(name: &str) -> ProcVar {
        let mut slots = PROC_SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slots.iter().find(|p| &*p.name == name) {
            return p.clone();
        }
        let p = ProcVar {
            name: name.into(),
            slot: Arc::new(ArcSwapOption::empty()),
        };
        slots.push(p.clone());
        p
    }

    /// The name as written (`proc.x`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls `f` with the value, if set; answers what `f` did, else false.
    pub fn with<R: Default>(&self, f: impl FnOnce(Val<'_>) -> R) -> R {
        self.with_or(None, f)
    }

    /// As [`ProcVar::with`], with `default` (a string) when unset.
    pub fn with_or<R: Default>(&self, default: Option<&[u8]>, f: impl FnOnce(Val<'_>) -> R) -> R {
        match (&*self.slot.load(), default) {
            (Some(v), _) => f(v.as_val()),
            (None, Some(d)) => f(Val::Str(d)),
            (None, None) => R::default(),
        }
    }

    /// Sets the value, for every worker.
    pub fn set(&self, v: Val<'_>) {
        self.slot.store(Some(Arc::new(Value::from_val(v))));
    }

    /// Unsets the value.
    pub fn unset(&self) {
        self.slot.store(None);
    }
}

impl std::fmt::Debug for ProcVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcVar({})", self.name)
    }
}

impl PartialEq for ProcVar {
    fn eq(&self, other: &ProcVar) -> bool {
        Arc::ptr_eq(&self.slot, &other.slot)
    }
}

impl Eq for ProcVar {}

/// A variable an action writes: a connection's (by name) or a `proc` slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarName {
    name: String,
    proc: Option<ProcVar>,
}

impl VarName {
    /// Checks `name` and resolves a `proc` variable to its slot.
    pub fn parse(name: &str) -> Result<VarName, String> {
        check_name(name)?;
        let proc = name.starts_with("proc.").then(|| ProcVar::resolve(name));
        Ok(VarName {
            name: name.to_string(),
            proc,
        })
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The `proc` slot, for a process-wide variable.
    pub fn proc(&self) -> Option<&ProcVar> {
        self.proc.as_ref()
    }

    /// Sets the variable: in `vars`, or process-wide.
    pub fn set(&self, vars: &mut Vars, v: Val<'_>) {
        match &self.proc {
            Some(p) => p.set(v),
            None => vars.set(&self.name, v),
        }
    }

    /// Unsets the variable.
    pub fn unset(&self, vars: &mut Vars) {
        match &self.proc {
            Some(p) => p.unset(),
            None => vars.unset(&self.name),
        }
    }
}

impl std::ops::Deref for VarName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

impl PartialEq<str> for VarName {
    fn eq(&self, other: &str) -> bool {
        self.name == other
    }
}

impl PartialEq<&str> for VarName {
    fn eq(&self, other: &&str) -> bool {
        self.name == *other
    }
}

/// What a sample reads at startup: no request, no connection.
struct Boot;

impl crate::acl::Sample for Boot {}

/// The global `set-var <proc.name> <expr>`: evaluated once, at load (the
/// caller checked that its fetch needs no traffic). A sample with no value
/// leaves the variable alone, as a rule's `set-var` does.
pub fn set_at_boot(var: &ProcVar, e: &crate::acl::Expr) {
    let mut sc = crate::acl::Scratch::new();
    e.for_each(&Boot, &mut sc, |v: Val<'_>, _| {
        var.set(v);
        true
    });
}

/// The global `set-var-fmt <proc.name> <fmt>`: rendered once, at load.
pub fn set_fmt_at_boot(var: &ProcVar, f: &crate::lf::LogFormat) {
    let mut sc = crate::acl::Scratch::new();
    let mut out = Vec::new();
    f.render(&Boot, &crate::lf::NoVars, &mut sc, &mut out);
    var.set(Val::Str(&out));
}

/// The variables of one client connection.
#[derive(Debug, Default)]
pub struct Vars {
    entries: Vec<(Box<str>, Value, bool)>,
}

impl Vars {
    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<Val<'_>> {
        self.entries
            .iter()
            .find(|(n, _, set)| *set && &**n == name)
            .map(|(_, v, _)| v.as_val())
    }

    /// Sets a variable.
    pub fn set(&mut self, name: &str, v: Val<'_>) {
        match self.entries.iter_mut().find(|(n, ..)| &**n == name) {
            Some((_, val, set)) => {
                val.assign(v);
                *set = true;
            }
            None => self.entries.push((name.into(), Value::from_val(v), true)),
        }
    }

    /// Unsets a variable.
    pub fn unset(&mut self, name: &str) {
        if let Some(e) = self.entries.iter_mut().find(|(n, ..)| &**n == name) {
            e.2 = false;
        }
    }

    /// Ends an exchange: only `sess` variables remain.
    pub fn end_exchange(&mut self) {
        for (n, _, set) in &mut self.entries {
            if !n.starts_with("sess.") {
                *set = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_lifetimes() {
        let mut v = Vars::default();
        v.set("txn.a", Val::Str(b"x"));
        v.set("sess.b", Val::Int(3));
        assert_eq!(v.get("txn.a"), Some(Val::Str(b"x")));
        v.end_exchange();
        assert_eq!(v.get("txn.a"), None);
        assert_eq!(v.get("sess.b"), Some(Val::Int(3)));
        v.set("txn.a", Val::Str(b"yz"));
        assert_eq!(v.get("txn.a"), Some(Val::Str(b"yz")));
        v.unset("txn.a");
        assert_eq!(v.get("txn.a"), None);
        assert!(check_name("txn.x_1").is_ok());
        assert!(check_name("x").unwrap_err().contains("scope"));
        assert!(check_name("proc.x").is_ok());
        assert!(check_name("txn.").is_err());
    }

    #[test]
    fn proc_variables_share_one_slot_per_name() {
        let a = VarName::parse("proc.unit_shared").unwrap();
        let b = ProcVar::resolve("proc.unit_shared");
        assert_eq!(a.proc(), Some(&b));
        assert_ne!(b, ProcVar::resolve("proc.unit_other"));
        let mut vars = Vars::default();
        a.set(&mut vars, Val::Int(7));
        // Not in the connection's variables: in the process-wide slot.
        assert_eq!(vars.get("proc.unit_shared"), None);
        assert!(b.with(|v| v == Val::Int(7)));
        let seen = std::thread::spawn(move || b.with(|v| v == Val::Int(7)));
        assert!(seen.join().unwrap());
        a.unset(&mut vars);
        assert!(!ProcVar::resolve("proc.unit_shared").with(|_| true));
        let t = VarName::parse("txn.t").unwrap();
        assert!(t.proc().is_none());
        t.set(&mut vars, Val::Int(1));
        assert_eq!(vars.get("txn.t"), Some(Val::Int(1)));
    }
}
