//! Monitoring keywords: `monitor-uri <uri>`, `monitor fail if|unless <cond>`,
//! and 1.4's `monitor-net`, refused as HAProxy 2.6 refuses it.

use crate::acl::Condition;
use crate::config::parse::Args;
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

/// `monitor-net <net>`: removed in HAProxy 2.x, refused with its replacement.
pub fn monitor_net(args: &mut Args) -> Result<(), String> {
    let net = args.next_string("a network")?;
    Err(format!(
        "'monitor-net' doesn't exist anymore (removed in HAProxy 2.0). Please use \
         'http-request return status 200 if {{ src {net} }}' (mode http) or \
         'tcp-request connection reject if {{ src {net} }}' (mode tcp) instead, or \
         'monitor-uri'."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Origin;

    fn line(p: &mut RawProxy, words: &[&str]) -> Result<(), String> {
        let mut args = Args::new(words.iter().map(|s| s.to_string()).collect());
        match words[0] {
            "monitor-uri" => monitor_uri(p, &mut args),
            "monitor-net" => monitor_net(&mut args),
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
        let e = line(&mut p, &["monitor-net", "10.0.0.0/8"]).unwrap_err();
        assert!(e.contains("src 10.0.0.0/8"), "{e}");
    }
}
