//! File-level syntax through the whole loader: conditional blocks, messages,
//! special variables and duration warnings with their file:line.

use super::*;

#[test]
fn if_blocks_pick_lines_like_haproxy_2_6() {
    let c = config(&global(
        ".if version_atleast(2.5)\n    maxconn 100\n.else\n    maxconn 200\n.endif\n\
         .if version_before(2.6) || !feature(THREAD)\n    nbthread 9\n.elif defined(LB_PORT)\n    nbthread 3\n.endif",
    ));
    assert_eq!(c.global.maxconn, Some(100));
    assert_eq!(c.global.nbthread, Some(3));
}

#[test]
fn inactive_lines_are_not_parsed() {
    let c = config(&global(".if 0\n    no-such-keyword at all\n.endif"));
    assert_eq!(c.global.maxconn, None);
}

#[test]
fn blocks_close_in_their_own_file() {
    // As HAProxy, each file is read on its own: the error is at its last line.
    let e = load_with_env(
        &[
            ("a.cfg", "global\n.if 1\n\n# end\n"),
            ("b.cfg", &listen("")),
        ],
        &env,
    )
    .unwrap_err();
    assert_eq!(e.errors, ["a.cfg:4: non-terminated '.if' block."]);
    let e = load_with_env(
        &[
            ("a.cfg", "global\n.if 0\n"),
            ("b.cfg", ".endif\n"),
            ("c.cfg", &listen("")),
        ],
        &env,
    )
    .unwrap_err();
    assert_eq!(
        e.errors,
        [
            "a.cfg:2: non-terminated '.if' block.",
            "b.cfg:1: lone '.endif' with no matching '.if'."
        ]
    );
}

#[test]
fn messages_and_special_variables() {
    let l = load(&global(
        "    .notice \"${.FILE}:${.LINE} in ${.SECTION}\"\n    .warning \"w\"",
    ))
    .unwrap();
    assert_eq!(l.notices[0].message, "'t.cfg:2 in global'.");
    assert_eq!(l.notices[0].origin.line, 2);
    assert_eq!(
        format!("{}: {}", l.warnings[0].origin, l.warnings[0].message),
        "t.cfg:3: 'w'."
    );
    let e = errors(&global("    .alert \"stop here\""));
    assert_eq!(e, ["t.cfg:2: 'stop here'."]);
    let e = errors(&global(".foo"));
    assert_eq!(e, ["t.cfg:2: unknown directive '.foo'."]);
}

#[test]
fn section_variable_names_the_proxy() {
    let l = load(&listen("    .notice \"${.SECTION}\"")).unwrap();
    assert_eq!(l.notices[0].message, "'l'.");
}

#[test]
fn duration_with_text_after_the_unit_warns_at_its_line() {
    let text = listen("    timeout client 15min");
    let w = warnings(&text);
    assert_has(
        &w,
        "t.cfg:8: unexpected character 'i' after the timer value '15min'",
    );
    let c = config(&text);
    assert_eq!(
        c.frontends[0].timeouts.client,
        Some(std::time::Duration::from_secs(900))
    );
}
