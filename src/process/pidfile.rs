//! The pidfile: "<pid>\n", written once after daemonizing.

use super::ProcessError;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes this process's pid followed by a newline to `path` (created or
/// truncated, mode 0644).
pub fn write(path: &Path) -> Result<(), ProcessError> {
    let err = |source| ProcessError::Pidfile {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(err)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("ringlb-pidfile-{}-{name}", std::process::id()))
    }

    #[test]
    fn writes_pid_and_newline() {
        let path = temp_path("ok");
        std::fs::write(&path, "a much longer previous content\n").expect("seed file");
        write(&path).expect("write pidfile");
        let text = std::fs::read_to_string(&path).expect("read back");
        assert_eq!(text, format!("{}\n", std::process::id()));
        std::fs::remove_file(&path).expect("cleanup");
    }

    #[test]
    fn error_names_the_path() {
        let path = Path::new("/nonexistent-dir-for-ringlb-test/ringlb.pid");
        let msg = write(path).expect_err("must fail").to_string();
        assert!(
            msg.contains("/nonexistent-dir-for-ringlb-test/ringlb.pid"),
            "{msg}"
        );
    }
}
