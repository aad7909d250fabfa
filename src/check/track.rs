//! `track`: which servers follow which, linked once when the runtime is built.

use crate::runtime::BackendRt;

/// Fills each tracked server's `trackers` from the resolved `track` options.
pub fn link(backends: &mut [BackendRt]) {
    let mut pairs = Vec::new();
    for (b, be) in backends.iter().enumerate() {
        for (s, srv) in be.servers.iter().enumerate() {
            if let Some(to) = srv.health.opts.track.as_ref().and_then(|t| t.resolved) {
                pairs.push((to, (b, s)));
            }
        }
    }
    for ((tb, ts), tracker) in pairs {
        if let Some(srv) = backends.get_mut(tb).and_then(|be| be.servers.get_mut(ts)) {
            srv.health.trackers.push(tracker);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::Shared;

    #[test]
    fn trackers_are_linked_across_backends_and_chains() {
        let loaded = crate::config::load_sources(&[(
            "t.cfg",
            "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             backend a\n    server s1 127.0.0.1:2 check\n    server s2 127.0.0.1:3 track s1\n\
             backend b\n    server t1 127.0.0.1:4 track a/s2\n",
        )])
        .expect("config loads");
        let sh = Shared::build(&loaded.config, false, 1);
        assert_eq!(sh.backends[0].servers[0].health.trackers, vec![(0, 1)]);
        assert_eq!(sh.backends[0].servers[1].health.trackers, vec![(1, 0)]);
        assert!(sh.backends[1].servers[0].health.trackers.is_empty());
    }

    #[test]
    fn bad_tracks_are_refused_with_haproxys_words() {
        let err = |line: &str| {
            let text = format!(
                "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                 backend be\n    server s1 127.0.0.1:1 check\n    server s3 127.0.0.1:3\n    {line}\n"
            );
            match crate::config::load_sources(&[("t.cfg", &text)]) {
                Ok(_) => panic!("'{line}' loads"),
                Err(e) => e.to_string(),
            }
        };
        assert!(
            err("server s2 127.0.0.1:2 track nosuch")
                .contains("'server be/s2' : unable to find required server 'nosuch' for tracking.")
        );
        assert!(
            err("server s2 127.0.0.1:2 track nob/s1")
                .contains("'server be/s2' : unable to find required proxy 'nob' for tracking.")
        );
        assert!(err("server s2 127.0.0.1:2 track s3").contains(
            "'server be/s2' : unable to use be/s3 for tracking as it does not have any check nor agent enabled."
        ));
        assert!(
            err("server s2 127.0.0.1:2 track s1 check").contains(
                "'server be/s2' : unable to enable checks and tracking at the same time!"
            )
        );
        assert!(
            err("server s2 127.0.0.1:2 track s4\n    server s4 127.0.0.1:4 track s2").contains(
                "unable to track be/s4 as it belongs to a tracking chain looping back to be/s2."
            )
        );
    }
}
