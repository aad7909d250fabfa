//! Variables (`set-var(txn.name)`, `var(txn.name)`): HAProxy's `sess`, `txn`,
//! `req` and `res` scopes, kept per client connection. `txn`, `req` and `res`
//! variables end with the exchange; `sess` variables live as long as the
//! connection. Few variables are ever set, so a short list searched in order
//! beats a map; values reuse their buffers from one exchange to the next.

use std::net::IpAddr;

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
/// letters, digits, `.` and `_`. `proc` variables would need process-wide
/// state and are refused.
pub fn check_name(name: &str) -> Result<(), String> {
    let Some((scope, rest)) = name.split_once('.') else {
        return Err(format!(
            "variable '{name}' needs a scope: 'sess.', 'txn.', 'req.' or 'res.'"
        ));
    };
    match scope {
        "sess" | "txn" | "req" | "res" => {}
        "proc" => {
            return Err(format!(
                "variable '{name}': the 'proc' scope is not supported by ringlb yet"
            ));
        }
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
        assert!(check_name("proc.x").unwrap_err().contains("proc"));
        assert!(check_name("txn.").is_err());
    }
}
