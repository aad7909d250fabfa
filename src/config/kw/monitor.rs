//! Monitoring keywords: `monitor-uri <uri>`, `monitor fail if|unless <cond>`,
//! and 1.4's `monitor-net <net>` (run with a warning; HAProxy 2.6 refuses it).

use crate::acl::Condition;
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;

/// `monitor-uri <uri>`: requests for exactly this URI are answered by ringlb.
pub fn monitor_uri(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let uri = args.next_string("an URI")?;
    args.finish()?;
    p.monitor_uri = Some(uri);
    Ok(())
}

/// `monitor fail if|unless <cond>`: the monitor answers 503 while it holds.
pub fn monitor(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    if args.next_opt().as_deref() != Some("fail") {
        return Err("'monitor' only supports 'fail'".into());
    }
    let words = args.rest();
    if !matches!(words.first().map(String::as_str), Some("if" | "unless")) {
        return Err(
            "'monitor fail' requires either 'if' or 'unless' followed by a condition".into(),
        );
    }
    let cond =
        Condition::parse(&words, &mut p.acls, None).map_err(|e| format!("'monitor fail': {e}"))?;
    p.monitor_fail.push(cond);
    Ok(())
}

/// `monitor-net <net>` (HAProxy 1.4, removed in 2.0): run as 1.4 ran it,
/// with a warning naming the modern forms.
pub fn monitor_net(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let net = args.next_string("a network")?;
    args.finish()?;
    let parsed = crate::acl::parse_cidr(&net).map_err(|e| format!("'monitor-net': {e}"))?;
    p.monitor_net = Some(parsed);
    cx.warn(format!(
        "'monitor-net' was removed in HAProxy 2.0; ringlb runs it as 1.4 did (connections from \
         {net} get 'HTTP/1.0 200 OK' in mode http and are closed in mode tcp, unlogged). Use \
         'monitor-uri', or 'http-request return status 200 if {{ src {net} }}' / \
         'tcp-request connection reject if {{ src {net} }}' instead."
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Origin;

    fn line(p: &mut RawProxy, words: &[&str]) -> Result<(), String> {
        let mut args = Args::new(words.iter().map(|s| s.to_string()).collect());
        match words[0] {
            "monitor-uri" => monitor_uri(p, &mut args),
            _ => monitor(p, &mut args),
        }
    }

    #[test]
    fn parses_and_refuses_like_haproxy() {
        let mut p = RawProxy::new_defaults(String::new(), Origin::default());
        assert_eq!(line(&mut p, &["monitor-uri", "/up"]), Ok(()));
        assert_eq!(p.monitor_uri.as_deref(), Some("/up"));
        assert_eq!(
            line(&mut p, &["monitor-uri"]),
            Err("'monitor-uri' expects an URI".into())
        );
        assert_eq!(
            line(&mut p, &["monitor", "foo", "if", "TRUE"]),
            Err("'monitor' only supports 'fail'".into())
        );
        assert!(
            line(&mut p, &["monitor", "fail"])
                .unwrap_err()
                .contains("requires either")
        );
        assert_eq!(line(&mut p, &["monitor", "fail", "if", "TRUE"]), Ok(()));
        assert_eq!(
            line(
                &mut p,
                &["monitor", "fail", "unless", "{", "src", "10.0.0.0/8", "}"]
            ),
            Ok(())
        );
        assert_eq!(p.monitor_fail.len(), 2);
        assert!(p.monitor_fail[1].unless);
        assert!(line(&mut p, &["monitor", "fail", "if", "nosuchacl"]).is_err());
        let mut diag = crate::config::parse::Diag::default();
        let mut cx = Ctx {
            origin: Origin::default(),
            diag: &mut diag,
        };
        let mut args = Args::new(vec!["monitor-net".into(), "10.0.0.0/8".into()]);
        assert_eq!(monitor_net(&mut cx, &mut p, &mut args), Ok(()));
        assert_eq!(p.monitor_net, Some(("10.0.0.0".parse().unwrap(), 8)));
        assert!(diag.warnings[0].message.contains("src 10.0.0.0/8"));
        let mut cx = Ctx {
            origin: Origin::default(),
            diag: &mut diag,
        };
        let mut args = Args::new(vec!["monitor-net".into(), "10.0.0.0/33".into()]);
        assert!(monitor_net(&mut cx, &mut p, &mut args).is_err());
    }
}
