//! HAProxy's predefined ACLs (configuration.txt 7.4), as the `acl` words
//! each one stands for. Compiled into a proxy's [`super::AclSet`] on first use.

/// (name, the words after `acl <name>`), in HAProxy's table order.
pub const PREDEFINED: &[(&str, &str)] = &[
    ("FALSE", "always_false"),
    ("HTTP", "req.proto_http"),
    ("HTTP_1.0", "req.ver 1.0"),
    ("HTTP_1.1", "req.ver 1.1"),
    ("HTTP_CONTENT", "req.hdr_val(content-length) gt 0"),
    ("HTTP_URL_ABS", "url_reg ^[^/:]*://"),
    ("HTTP_URL_SLASH", "url_beg /"),
    ("HTTP_URL_STAR", "url *"),
    ("LOCALHOST", "src 127.0.0.1/8 ::1"),
    ("METH_CONNECT", "method CONNECT"),
    ("METH_DELETE", "method DELETE"),
    ("METH_GET", "method GET HEAD"),
    ("METH_HEAD", "method HEAD"),
    ("METH_OPTIONS", "method OPTIONS"),
    ("METH_POST", "method POST"),
    ("METH_PUT", "method PUT"),
    ("METH_TRACE", "method TRACE"),
    ("REQ_CONTENT", "req.len gt 0"),
    ("TRUE", "always_true"),
    ("WAIT_END", "wait_end"),
];

/// The words of predefined ACL `name`, if it is one.
pub fn words(name: &str) -> Option<&'static str> {
    PREDEFINED.iter().find(|(n, _)| *n == name).map(|(_, w)| *w)
}

#[cfg(test)]
mod tests {
    use super::super::rule::parse_acl;
    use super::*;

    #[test]
    fn every_predefined_acl_compiles() {
        for (name, w) in PREDEFINED {
            let words: Vec<String> = w.split(' ').map(String::from).collect();
            parse_acl(&words, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(words("METH_GET"), Some("method GET HEAD"));
        assert_eq!(words("RDP_COOKIE"), None);
    }
}
