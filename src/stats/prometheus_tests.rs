//! Unit tests of `prometheus.rs`.

use super::*;

#[test]
fn query_parameters_as_haproxy_reads_them() {
    let all = Query {
        scopes: ALL,
        no_maint: false,
    };
    assert_eq!(parse_query(b"/metrics"), Some(all));
    assert_eq!(parse_query(b"/metrics?x=1"), Some(all));
    assert_eq!(parse_query(b"/metrics?scope=").map(|q| q.scopes), Some(0));
    assert_eq!(
        parse_query(b"/m?scope=global&scope=server").map(|q| q.scopes),
        Some(GLOBAL | SERVER)
    );
    assert_eq!(parse_query(b"/m?scope=*").map(|q| q.scopes), Some(ALL));
    assert_eq!(parse_query(b"/m?scope=listener").map(|q| q.scopes), Some(0));
    assert_eq!(parse_query(b"/m?no-maint").map(|q| q.no_maint), Some(true));
    assert_eq!(parse_query(b"/m?scope=foo"), None);
    assert_eq!(parse_query(b"/m?scope"), None);
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(esc("plain"), "plain");
    assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

#[test]
fn histogram_lines_are_cumulative_with_sum_and_count() {
    let h = super::super::histogram::Histogram::default();
    h.record(std::time::Duration::from_millis(3));
    h.record(std::time::Duration::from_millis(7));
    let m = Merged::sum([&h]);
    let mut out = String::new();
    histogram(&mut out, "x", "proxy=\"p\"", &m);
    assert!(out.contains("x_bucket{proxy=\"p\",le=\"0.005\"} 1\n"));
    assert!(out.contains("x_bucket{proxy=\"p\",le=\"0.01\"} 2\n"));
    assert!(out.contains("x_bucket{proxy=\"p\",le=\"+Inf\"} 2\n"));
    assert!(out.contains("x_sum{proxy=\"p\"} 0.010000\n"));
    assert!(out.contains("x_count{proxy=\"p\"} 2\n"));
}
