//! [`ErrorReport`]: an error and its causes on one line, for a person to read.

use std::error::Error as StdError;
use std::fmt;

/// An error and its causes (its [`source`](StdError::source), then that one's, in turn) on one
/// line, for a person: what failed and what to do, then what the database or the system
/// answered. `affitor-relay` and `affitor doctor` print an outbox that does not open this way.
///
/// Each cause is told once: one whose text the error before it already says (a driver's error
/// that repeats its source, as sqlx's do) is left out. Line breaks become spaces. It prints
/// nothing but the errors' own `Display`, and affitor's errors never hold a secret.
///
/// ```
/// use affitor::ErrorReport;
/// # use std::{error::Error, fmt, io};
/// # #[derive(Debug)]
/// # struct OpenFailed(io::Error);
/// # impl fmt::Display for OpenFailed {
/// #     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
/// #         f.write_str("could not open the outbox: check that the database is up")
/// #     }
/// # }
/// # impl Error for OpenFailed {
/// #     fn source(&self) -> Option<&(dyn Error + 'static)> {
/// #         Some(&self.0)
/// #     }
/// # }
///
/// // An error whose source is the system's answer, `connection refused`.
/// let error = OpenFailed(io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused"));
/// assert_eq!(
///     ErrorReport::new(&error).to_string(),
///     "could not open the outbox: check that the database is up (cause: connection refused)"
/// );
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ErrorReport<'a> {
    error: &'a (dyn StdError + 'a),
}

impl<'a> ErrorReport<'a> {
    /// The report of `error`, to print with `{}` or turn into a `String`.
    ///
    /// ```
    /// # fn open() -> Result<(), std::io::Error> { Ok(()) }
    /// if let Err(error) = open() {
    ///     eprintln!("{}", affitor::ErrorReport::new(&error));
    /// }
    /// ```
    pub fn new(error: &'a (dyn StdError + 'a)) -> Self {
        Self { error }
    }
}

impl fmt::Display for ErrorReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut said = self.error.to_string();
        write_one_line(f, &said)?;
        let mut opened = false;
        let mut source = self.error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() && !said.contains(&text) {
                f.write_str(if opened { ": " } else { " (cause: " })?;
                write_one_line(f, &text)?;
                opened = true;
            }
            said = text;
            source = cause.source();
        }
        if opened {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// `text` with its line breaks as spaces: a report is one line of a log or a terminal.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let mut lines = text.split('\n');
    if let Some(first) = lines.next() {
        f.write_str(first)?;
    }
    for line in lines {
        f.write_str(" ")?;
        f.write_str(line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// An error with a message of its own and, maybe, a source.
    #[derive(Debug)]
    struct Failed {
        message: &'static str,
        source: Option<Box<dyn StdError + 'static>>,
    }

    impl Failed {
        fn new(message: &'static str, source: impl StdError + 'static) -> Self {
            Self {
                message,
                source: Some(Box::new(source)),
            }
        }
    }

    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl StdError for Failed {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.source.as_deref()
        }
    }

    /// A driver's error that says its source's text too, as sqlx's do.
    #[derive(Debug)]
    struct Driver(io::Error);

    impl fmt::Display for Driver {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "error communicating with database: {}", self.0)
        }
    }

    impl StdError for Driver {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn report(error: &dyn StdError) -> String {
        ErrorReport::new(error).to_string()
    }

    #[test]
    fn an_error_without_a_source_is_its_message() {
        let error = io::Error::other("the outbox is gone");
        assert_eq!(report(&error), "the outbox is gone");
    }

    #[test]
    fn each_cause_is_told_once_after_the_message() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let error = Failed::new("could not open the outbox", Driver(refused));
        assert_eq!(
            report(&error),
            "could not open the outbox (cause: error communicating with database: refused)"
        );
        let chain = Failed::new(
            "could not open the outbox",
            Failed::new(
                "the TLS handshake failed",
                io::Error::other("unknown issuer"),
            ),
        );
        assert_eq!(
            report(&chain),
            "could not open the outbox (cause: the TLS handshake failed: unknown issuer)"
        );
    }

    #[test]
    fn a_cause_the_message_already_says_or_an_empty_one_is_left_out() {
        let said = Failed::new("could not connect: refused", io::Error::other("refused"));
        assert_eq!(report(&said), "could not connect: refused");
        let empty = Failed::new(
            "could not connect",
            Failed::new("", io::Error::other("refused")),
        );
        assert_eq!(report(&empty), "could not connect (cause: refused)");
    }

    #[test]
    fn a_report_is_one_line() {
        let error = Failed::new("the schema\nis behind", io::Error::other("version 1\nof 2"));
        assert_eq!(
            report(&error),
            "the schema is behind (cause: version 1 of 2)"
        );
    }
}
