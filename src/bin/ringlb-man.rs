//! Writes ringlb's man page, `ringlb(8)`, generated from the command-line
//! definition (`ringlb::cli::Cli`), so its synopsis and options cannot drift
//! from what the binary parses; the sections clap has no place for (signals,
//! files, see also) are written here. `ringlb-man [OUT]` writes to OUT, or
//! to stdout; `scripts/package` runs it and gzips the page into the .deb.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;

/// The sections after OPTIONS, in roff.
const MORE: &str = r#".SH SIGNALS
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop at once (in master\-worker mode, the master stops its workers).
.TP
\fBSIGUSR1\fR
Soft stop: stop accepting, finish the current connections, exit.
.TP
\fBSIGUSR2\fR, \fBSIGHUP\fR
In master\-worker mode (\fB\-W\fR, \fB\-Ws\fR), to the master: a seamless reload.
The master reads the configuration again, starts a new worker on the same
listening sockets, and soft\-stops the old worker once the new one serves.
A configuration that fails keeps the old worker serving; with \fB\-Ws\fR the
reason shows in \fBsystemctl status ringlb\fR.
.SH FILES
.TP
\fI/etc/ringlb/ringlb.cfg\fR
The configuration the packaged unit runs (HAProxy's syntax).
.TP
\fI/etc/default/ringlb\fR
The unit's options: \fBCONFIG\fR, \fBPIDFILE\fR, \fBEXTRAOPTS\fR.
.TP
\fI/lib/systemd/system/ringlb.service\fR
The unit: \fBType=notify\fR running \fBringlb \-Ws\fR; \fBsystemctl reload ringlb\fR
checks the configuration (\fBringlb \-c\fR) then sends \fBSIGUSR2\fR to the master.
.TP
\fI/run/ringlb\-master.sock\fR
The master CLI (\fB\-S\fR) of the unit: \fBshow proc\fR, \fBreload\fR.
.SH SEE ALSO
\fBhaproxy\fR(1), \fBsystemctl\fR(1), \fBsd_notify\fR(3)
"#;

fn render(out: &mut dyn Write) -> io::Result<()> {
    // Section 8: a daemon run by the administrator, under /usr/sbin.
    let man = clap_mangen::Man::new(ringlb::cli::Cli::command())
        .section("8")
        .manual("System Administration")
        .date(date())
        .source(format!("ringlb {}", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    out.write_all(MORE.as_bytes())?;
    man.render_version_section(out)
}

/// The page's date, YYYY-MM-DD: `$SOURCE_DATE_EPOCH` (reproducible builds;
/// `scripts/package` sets it to the last commit's time), else now.
fn date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn main() -> ExitCode {
    let mut page = Vec::new();
    let written = render(&mut page).and_then(|()| match std::env::args_os().nth(1) {
        Some(path) => std::fs::write(&path, &page),
        None => io::stdout().write_all(&page),
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringlb-man: {e}");
            ExitCode::FAILURE
        }
    }
}
