//! What the commands print: lines a person reads (a mark and colour per status, when the
//! terminal has colour and `NO_COLOR` is unset; a spinner on stderr while waiting, when stderr
//! is a terminal), or with `--json` one JSON document per command result on stdout. Text that
//! came from elsewhere (a webhook's answer, the API's message) reaches a terminal with its
//! control characters replaced: an escape sequence in it is shown, never run.

use std::borrow::Cow;
use std::fmt::{self, Display};
use std::io::IsTerminal as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use serde_json::Value;

/// How a check or a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// It is as it should be.
    Pass,
    /// It is not: the command exits non-zero.
    Fail,
    /// It may be wrong: worth a look, the command still succeeds.
    Warn,
    /// Not checked: not configured, or an earlier check failed.
    Skip,
}

impl Status {
    /// The status as `--json` writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::Skip => "skip",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Self::Pass => "✓",
            Self::Fail => "✗",
            Self::Warn => "!",
            Self::Skip => "-",
        }
    }

    fn style(self) -> Style {
        match self {
            Self::Pass => AnsiColor::Green.on_default().bold(),
            Self::Fail => AnsiColor::Red.on_default().bold(),
            Self::Warn => AnsiColor::Yellow.on_default().bold(),
            Self::Skip => Style::new().dimmed(),
        }
    }
}

/// A warning on stderr, as [`Output::warning`] prints it: for what has no `Output` at hand
/// (the settings, read before a command prints).
pub(crate) fn warning(text: &str) {
    let style = Status::Warn.style();
    anstream::eprintln!(
        "{style}{} warning:{style:#} {}",
        Status::Warn.mark(),
        printable(text)
    );
}

/// Writes `text` and a newline to stdout. A reader that went away (`affitor status | head -1`)
/// ends the command quietly with status 1, its output not all read; where `println!` would
/// panic, as Rust ignores `SIGPIPE`.
fn print_line(stdout: &mut impl std::io::Write, text: impl Display) {
    match writeln!(stdout, "{text}") {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(1),
        Err(error) => {
            warning(&format!("cannot write to stdout: {error}"));
            std::process::exit(1);
        }
    }
}

/// Where a command prints: a person's terminal, or `--json`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    /// A line for a person (nothing with `--json`). Colour is stripped when stdout is not a
    /// terminal, or `NO_COLOR` is set.
    pub(crate) fn line(self, text: impl Display) {
        if !self.json {
            print_line(&mut anstream::stdout().lock(), text);
        }
    }

    /// `✓ label  detail`, the mark and the label in the status's colour.
    pub(crate) fn status(self, status: Status, label: &str, detail: &str) {
        let style = status.style();
        self.line(format_args!(
            "{style}{} {:<width$}{style:#} {}",
            status.mark(),
            printable(label),
            printable(detail),
            width = LABEL_WIDTH
        ));
    }

    /// What to do about the line above, indented under it.
    pub(crate) fn hint(self, text: &str) {
        let style = AnsiColor::Cyan.on_default();
        self.line(format_args!(
            "  {:width$} {style}→ {}{style:#}",
            "",
            printable(text),
            width = LABEL_WIDTH
        ));
    }

    /// A heading for a person.
    pub(crate) fn heading(self, text: &str) {
        let style = Style::new().bold();
        self.line(format_args!("{style}{}{style:#}", printable(text)));
    }

    /// A warning about how the command was run, on stderr, with `--json` too (stdout keeps the
    /// one document).
    pub(crate) fn warning(self, text: &str) {
        warning(text);
    }

    /// The command's result, with `--json`: one document on one line.
    pub(crate) fn document(self, value: &Value) {
        if self.json {
            print_line(&mut std::io::stdout().lock(), value);
        }
    }

    /// A spinner on stderr with `message`, until it is dropped: only for a person at a terminal.
    /// Must run inside the tokio runtime.
    pub(crate) fn spinner(self, message: impl Into<String>) -> Spinner {
        let message = Arc::new(Mutex::new(message.into()));
        let shown = !self.json && std::io::stderr().is_terminal();
        let task = shown.then(|| {
            let message = Arc::clone(&message);
            tokio::spawn(async move {
                for frame in FRAMES.iter().cycle() {
                    let text = message.lock().map(|text| text.clone()).unwrap_or_default();
                    {
                        let mut stderr = std::io::stderr().lock();
                        let _ = write!(stderr, "\r\x1b[2K{frame} {text}");
                        let _ = stderr.flush();
                    }
                    tokio::time::sleep(Duration::from_millis(90)).await;
                }
            })
        });
        Spinner { message, task }
    }
}

/// `text` as it may reach a terminal: each control character (an escape sequence's start, a
/// carriage return that would overwrite the line, a bell) and each bidirectional override
/// (which reorders what a person reads) replaced by `�`; a line break or a tab by a space.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' | '\r' | '\t' => ' ',
                c if unsafe_char(c) => '\u{fffd}',
                c => c,
            })
            .collect(),
    )
}

/// `text` with the password of each URL in it that carries credentials
/// (`scheme://user:PASSWORD@host`) replaced by `***`: what a person typed (a `--to` URL, an
/// argument clap refused, a project file's `api_url`) is shown without its secret. A password
/// holding `/`, `?` or `#` unescaped is found too; one holding a space is not a URL anyone
/// would type. An `http(s)` URL's user info without a password (`https://TOKEN@host`) is a
/// token, and goes too; a database URL's user name alone stays, to say who connected.
pub(crate) fn redact_url_credentials(text: &str) -> Cow<'_, str> {
    let mut redacted = String::new();
    // What of `text` is copied to `redacted` already.
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let authority = from + found + 3;
        from = authority;
        let scheme_len = text[..authority - 3]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .count();
        if scheme_len == 0 {
            continue;
        }
        let scheme = &text[authority - 3 - scheme_len..authority - 3];
        let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
        let rest = &text[authority..];
        let Some((start, end)) =
            password_span(rest).or_else(|| web.then(|| token_span(rest)).flatten())
        else {
            continue;
        };
        let (start, end) = (authority + start, authority + end);
        if &text[start..end] == "***" {
            continue;
        }
        redacted.push_str(&text[copied..start]);
        redacted.push_str("***");
        copied = end;
        from = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    redacted.push_str(&text[copied..]);
    Cow::Owned(redacted)
}

/// Where the password is in `rest`, what follows a URL's `://`: between the first `:` of its
/// user info and the `@` before its host; `None` when it has no password.
fn password_span(rest: &str) -> Option<(usize, usize)> {
    // The URL ends at a space or a control character (a line's end, a colour's escape).
    let token = &rest[..rest
        .find(|c: char| c.is_whitespace() || c.is_control())
        .unwrap_or(rest.len())];
    let colon = token.find(':')?;
    if token[..colon].contains(['/', '?', '#', '@', '[', ']']) {
        // A path's, a query's or an IPv6 address's colon, not a user's.
        return None;
    }
    let after = &token[colon + 1..];
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let at = match authority.rfind('@') {
        Some(at) => at,
        // A port, such as `host:8080/path`: no credentials.
        None if authority.bytes().all(|b| b.is_ascii_digit()) => return None,
        // A password holding `/`, `?` or `#`: the host follows the first `@` after it.
        None => after.find('@')?,
    };
    Some((colon + 1, colon + 1 + at))
}

/// Where a token is in `rest`, what follows a URL's `://`: the user info before the `@` of
/// its host when it holds no `:`; `None` when there is none.
fn token_span(rest: &str) -> Option<(usize, usize)> {
    let authority = &rest[..rest
        .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c.is_control())
        .unwrap_or(rest.len())];
    let at = authority.find('@')?;
    (at > 0 && !authority[..at].contains(':')).then_some((0, at))
}

/// How wide the label column is.
const LABEL_WIDTH: usize = 28;

/// The spinner's frames.
const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// A spinner on stderr; cleared when dropped. See [`Output::spinner`].
#[derive(Debug)]
pub(crate) struct Spinner {
    message: Arc<Mutex<String>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Spinner {
    /// Shows `message` from the next frame on.
    pub(crate) fn set_message(&self, message: impl Into<String>) {
        if let Ok(mut text) = self.message.lock() {
            *text = message.into();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
        }
    }
}

/// A duration as a person reads it: `45s`, `2m 05s`, `30 min`.
pub(crate) fn duration(duration: Duration) -> impl Display {
    struct Shown(Duration);
    impl Display for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let seconds = self.0.as_secs();
            match seconds {
                0..60 => write!(f, "{seconds}s"),
                60..3600 if seconds.is_multiple_of(60) => write!(f, "{} min", seconds / 60),
                60..3600 => write!(f, "{}m {:02}s", seconds / 60, seconds % 60),
                _ => write!(f, "{}h {:02}m", seconds / 3600, seconds % 3600 / 60),
            }
        }
    }
    Shown(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        let shown = |seconds| duration(Duration::from_secs(seconds)).to_string();
        assert_eq!(shown(5), "5s");
        assert_eq!(shown(125), "2m 05s");
        assert_eq!(shown(1800), "30 min");
        assert_eq!(shown(3900), "1h 05m");
    }

    #[test]
    fn text_from_elsewhere_cannot_drive_the_terminal() {
        assert_eq!(printable("plain: ok ✓"), "plain: ok ✓");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("\u{1b}]0;pwned\u{7}\u{1b}[2Jok\r\nnext\u{9b}31m"),
            "\u{fffd}]0;pwned\u{fffd}\u{fffd}[2Jok  next\u{fffd}31m"
        );
        assert_eq!(printable("a\u{202e}cba"), "a\u{fffd}cba");
    }

    #[test]
    fn a_urls_password_is_never_shown() {
        for (text, shown) in [
            (
                "unexpected argument 'postgres://affitor:s3cr3tPW@127.0.0.1/affitor_test' found",
                "unexpected argument 'postgres://affitor:***@127.0.0.1/affitor_test' found",
            ),
            (
                "--to https://hook:s3cr3tPW@example.com/wh is not this machine",
                "--to https://hook:***@example.com/wh is not this machine",
            ),
            (
                "(https://user:s3cr3tPW@evil.example):",
                "(https://user:***@evil.example):",
            ),
            ("postgres://u:p@ss@db/x", "postgres://u:***@db/x"),
            ("postgres://u:pa/ss@db/x", "postgres://u:***@db/x"),
            ("postgres://u:pa'ss@db'", "postgres://u:***@db'"),
            (
                "a http://a:b@x/ and b https://c:d@y",
                "a http://a:***@x/ and b https://c:***@y",
            ),
            (
                "https://ghp_t0k3n@example.com/wh",
                "https://***@example.com/wh",
            ),
            ("see HTTP://t0k3n@x.", "see HTTP://***@x."),
            (
                "\u{1b}[33mhttp://a:b@x\u{1b}[0m",
                "\u{1b}[33mhttp://a:***@x\u{1b}[0m",
            ),
        ] {
            assert_eq!(redact_url_credentials(text), shown, "{text}");
            assert!(
                matches!(redact_url_credentials(shown), Cow::Borrowed(_)),
                "{shown}"
            );
        }
        for untouched in [
            "http://127.0.0.1:3000/webhooks/stripe",
            "http://[::1]:3000/a@b",
            "postgres://affitor@127.0.0.1/affitor_test",
            "https://example.com/x?email=a@b.c&t=1:2",
            "http://host:8080/x@y",
            "no url: here@there",
            "://a:b@c",
        ] {
            assert!(
                matches!(redact_url_credentials(untouched), Cow::Borrowed(_)),
                "{untouched}"
            );
        }
    }

    #[test]
    fn every_status_has_a_mark_and_a_name() {
        for (status, name) in [
            (Status::Pass, "pass"),
            (Status::Fail, "fail"),
            (Status::Warn, "warn"),
            (Status::Skip, "skip"),
        ] {
            assert_eq!(status.name(), name);
            assert!(!status.mark().is_empty());
        }
    }
}
