//! Dropping root after the listeners are bound (`chroot`, `uid`/`gid` in `global`).

use super::ProcessError;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Takes `dir` as the root directory (`global chroot`), then moves into it.
/// Called once the sockets are bound and the files read, before dropping
/// root (a chroot needs it). What the process opens later by path (a
/// `unix@` log socket) is then looked for inside `dir`, as with HAProxy.
pub fn chroot(dir: &Path) -> Result<(), ProcessError> {
    let err = |source| ProcessError::Chroot {
        path: dir.to_path_buf(),
        source,
    };
    let mut c = dir.as_os_str().as_bytes().to_vec();
    if c.contains(&0) {
        return Err(err(io::Error::from(io::ErrorKind::InvalidInput)));
    }
    c.push(0);
    // SAFETY: `c` is a NUL-terminated path alive for the call.
    if unsafe { libc::chroot(c.as_ptr().cast()) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: a static NUL-terminated path.
    if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}

/// Switches to `gid` then `uid` when running as root (supplementary groups cut
/// to just `gid`); as non-root changes nothing and returns a warning if the
/// configuration asks for other ids, as HAProxy does.
pub fn drop_to(uid: Option<u32>, gid: Option<u32>) -> Result<Option<String>, ProcessError> {
    // SAFETY: geteuid/getegid take no arguments and cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid != 0 {
        return Ok(non_root_warning(euid, egid, uid, gid));
    }
    // Group first: once the uid is dropped, changing groups is no longer allowed.
    if let Some(gid) = gid {
        let groups = [gid as libc::gid_t];
        // SAFETY: the pointer and length describe a live one-element array of
        // gid_t that setgroups only reads during the call.
        if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
            return Err(ProcessError::Setgroups {
                gid,
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: setgid takes a plain integer; glibc applies it to every
        // thread of the process.
        if unsafe { libc::setgid(gid) } != 0 {
            return Err(ProcessError::Setgid {
                gid,
                source: io::Error::last_os_error(),
            });
        }
    }
    if let Some(uid) = uid {
        // SAFETY: setuid takes a plain integer; as root it sets the real,
        // effective and saved uid on every thread, so root cannot be regained.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(ProcessError::Setuid {
                uid,
                source: io::Error::last_os_error(),
            });
        }
    }
    Ok(None)
}

/// The warning for a non-root process asked to change ids, or `None` when the
/// asked ids are the current ones (nothing to do, nothing to say).
fn non_root_warning(euid: u32, egid: u32, uid: Option<u32>, gid: Option<u32>) -> Option<String> {
    let uid_differs = uid.is_some_and(|u| u != euid);
    let gid_differs = gid.is_some_and(|g| g != egid);
    (uid_differs || gid_differs).then(|| {
        format!(
            "uid/gid set in configuration but ringlb is not running as root; \
             keeping uid {euid} gid {egid}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_root_asked_other_ids_warns() {
        let w = non_root_warning(1000, 1000, Some(99), Some(99)).expect("warning");
        assert!(w.starts_with("uid/gid set"), "{w}");
        assert!(w.contains("not running as root"), "{w}");
        assert!(w.contains("keeping uid 1000 gid 1000"), "{w}");
        assert!(non_root_warning(1000, 1000, None, Some(5)).is_some());
    }

    #[test]
    fn non_root_asked_same_ids_is_silent() {
        assert_eq!(non_root_warning(1000, 100, Some(1000), Some(100)), None);
        assert_eq!(non_root_warning(1000, 100, None, None), None);
    }

    #[test]
    fn current_ids_are_a_no_op() {
        // SAFETY: geteuid/getegid take no arguments and cannot fail.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        if euid == 0 {
            // As root, only the no-argument call is safe to run here: any
            // setgid/setgroups would change the whole test process.
            assert_eq!(drop_to(None, None).expect("no-op"), None);
            // SAFETY: as above.
            assert_eq!(unsafe { libc::geteuid() }, 0);
        } else {
            assert_eq!(drop_to(Some(euid), Some(egid)).expect("no-op"), None);
            let w = drop_to(Some(euid.wrapping_add(1)), None).expect("warning");
            assert!(w.is_some());
        }
    }
}
