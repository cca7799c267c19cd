//! The edge's log on stderr, shaped by where it goes: colour only on a terminal (and
//! never with `NO_COLOR`), so a file or a pipe gets plain lines; under systemd no
//! timestamp (the journal stamps each line itself) and the level as the journal's
//! priority prefix (`<4>` for a warning) instead of a word.
//!
//! What is logged: info for our own lines, rumqttd silent and rumqttc from warnings, and
//! `RUST_LOG` on top of that, so `RUST_LOG=edge::meter=debug` adds each camera's
//! once-a-second line without losing the rest (a directive for the same target
//! replaces the default's: `RUST_LOG=rumqttd=info` brings rumqttd back).

use tracing_subscriber::EnvFilter;

/// Our lines at info. rumqttd logs routine events (a client closing, a probe) at error
/// level, so it is silent unless asked for.
const DEFAULT: &str = "info,rumqttd=off,rumqttc=warn";

/// Sets up the log; once, before anything logs.
pub fn init() {
    let filter = EnvFilter::builder().parse_lossy(directives(std::env::var("RUST_LOG").ok().as_deref()));
    let colour = colour(std::io::IsTerminal::is_terminal(&std::io::stderr()), std::env::var_os("NO_COLOR"));
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if to_the_journal() {
        // The journal stamps each line, and reads its level from a `<N>` prefix
        // (sd-daemon(3)): `journalctl -p warning -u mqcam` then finds the warnings.
        let format = tracing_subscriber::fmt::format().without_time().with_level(false).with_ansi(false);
        log.with_ansi(false).event_format(Priority(format)).init();
    } else {
        log.with_ansi(colour).init();
    }
}

/// A line's syslog priority as sd-daemon(3) prefixes it: `<3>` error … `<7>` debug.
fn priority(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// Each line of `F` with its priority in front, for the journal.
struct Priority<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for Priority<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// The filter: the defaults, then what `RUST_LOG` asks (later directives for the same
/// target win).
fn directives(rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim).filter(|r| !r.is_empty()) {
        Some(asked) => format!("{DEFAULT},{asked}"),
        None => DEFAULT.to_string(),
    }
}

/// Colour codes only for a person at a terminal, and not when `NO_COLOR` is set to
/// anything but empty (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Whether stderr is systemd's journal stream: `JOURNAL_STREAM` names its device and
/// inode (systemd.exec(5)), and it must still be stderr, not a stream inherited by a
/// process whose stderr was redirected since.
#[cfg(unix)]
fn to_the_journal() -> bool {
    use std::os::{fd::AsFd, unix::fs::MetadataExt};
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else { return false };
    // A duplicate of stderr's descriptor, to read its device and inode (fstat).
    let stderr = std::io::stderr().as_fd().try_clone_to_owned().map(std::fs::File::from);
    match stderr.and_then(|f| f.metadata()) {
        Ok(m) => journal_stream_is(&stream.to_string_lossy(), m.dev(), m.ino()),
        Err(_) => false,
    }
}

#[cfg(not(unix))]
fn to_the_journal() -> bool {
    false
}

/// Whether `JOURNAL_STREAM`'s `<device>:<inode>` is this device and inode.
fn journal_stream_is(stream: &str, dev: u64, ino: u64) -> bool {
    let parsed = stream.split_once(':').and_then(|(d, i)| Some((d.parse().ok()?, i.parse().ok()?)));
    parsed == Some((dev, ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_is_added_to_the_defaults_and_overrides_them() {
        assert_eq!(directives(None), DEFAULT);
        assert_eq!(directives(Some(" ")), DEFAULT);
        assert_eq!(directives(Some("edge::meter=debug")), format!("{DEFAULT},edge::meter=debug"));
        // The filter itself: for the same target, the later level wins.
        let enabled = |rust_log: &str, target_info: bool| {
            let filter = EnvFilter::builder().parse_lossy(directives(Some(rust_log)));
            let subscriber =
                tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::sink).finish();
            tracing::subscriber::with_default(subscriber, || {
                let info = tracing::enabled!(target: "edge::run", tracing::Level::INFO);
                let meter = tracing::enabled!(target: "edge::meter", tracing::Level::DEBUG);
                let broker = tracing::enabled!(target: "rumqttd::router", tracing::Level::ERROR);
                assert_eq!(info, target_info, "{rust_log}");
                (meter, broker)
            })
        };
        assert_eq!(enabled("", true), (false, false), "the defaults");
        assert_eq!(enabled("edge::meter=debug", true), (true, false), "added to them");
        assert_eq!(enabled("warn", false), (false, false), "the default level replaced");
        assert_eq!(enabled("rumqttd=error", true), (false, true), "rumqttd asked for");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }

    #[test]
    fn the_journal_stream_must_be_this_device_and_inode() {
        assert!(journal_stream_is("8:12345", 8, 12345));
        assert!(!journal_stream_is("8:12345", 8, 12346), "another stream: stderr was redirected");
        assert!(!journal_stream_is("8", 8, 12345));
        assert!(!journal_stream_is("x:12345", 8, 12345));
        assert!(!journal_stream_is("", 0, 0));
    }

    /// What the journal gets: the priority, then the line without time or level word.
    #[test]
    fn journal_lines_carry_their_priority_and_no_time() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let format = tracing_subscriber::fmt::format().without_time().with_level(false).with_ansi(false);
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .event_format(Priority(format))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "edge::pipeline", camera = "door", "source failed");
            tracing::info!(target: "edge::run", "running");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "<4>edge::pipeline: source failed camera=\"door\"\n<6>edge::run: running\n");
    }
}
