//! TLS to Postgres: what to do when the server's certificate is refused.
//!
//! sqlx makes the connection (rustls, with its aws-lc-rs provider: the one reqwest links for
//! the client): `sslmode` and `sslrootcert` come from the location, and without `sslrootcert`
//! a `verify-ca` or `verify-full` connection trusts the public web's CAs (`webpki-roots`).
//! Its errors say what failed; this adds what to do.

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// `error`, when the TLS connection failed, with what to do about it: a [`sqlx::Error::Tls`]
/// whose text ends with the advice, and whose source's source is sqlx's own error (a TLS
/// error, or the I/O error that carries rustls's refusal). Any other error is returned as it is.
pub(crate) fn explain(error: sqlx::Error, options: &PgConnectOptions) -> sqlx::Error {
    let verifies = matches!(
        options.get_ssl_mode(),
        PgSslMode::VerifyCa | PgSslMode::VerifyFull
    );
    // rustls's refusal comes up through the socket, as an I/O error that holds it.
    let (text, unreadable_file) = match &error {
        sqlx::Error::Tls(source) => (source.to_string(), false),
        sqlx::Error::Io(io) => (
            io.get_ref().map(ToString::to_string).unwrap_or_default(),
            matches!(
                io.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ),
        ),
        _ => return error,
    };
    let advice = if text.contains("Invalid certificate") {
        "sslrootcert must name a PEM file of CA certificates (`-----BEGIN CERTIFICATE-----`)"
            .to_owned()
    } else if !verifies {
        return error;
    } else if unreadable_file {
        "the file sslrootcert names (or PGSSLROOTCERT) could not be read: give the path of the \
         CA's PEM file, readable by this process"
            .to_owned()
    } else if text.contains("NotValidForName") {
        format!(
            "the server's certificate does not name the host `{}`: connect with a host name the \
             certificate names (sslmode=verify-full checks it), or use sslmode=verify-ca to check \
             the CA only",
            options.get_host()
        )
    } else if matches!(error, sqlx::Error::Tls(_)) || text.contains("certificate") {
        "the server's certificate is not signed by a CA this outbox trusts: set sslrootcert to \
         the file of the CA that signed it (your provider's CA bundle; without sslrootcert only \
         the public web's CAs are trusted), or use sslmode=require to encrypt without verifying \
         the server"
            .to_owned()
    } else {
        return error;
    };
    let source = match error {
        sqlx::Error::Tls(source) => source,
        sqlx::Error::Io(source) => Box::new(source),
        other => return other,
    };
    sqlx::Error::Tls(Box::new(Refused { source, advice }))
}

/// What went wrong with the TLS connection, and what to do; sqlx's error is its source, not
/// repeated in its message.
#[derive(Debug)]
struct Refused {
    source: Box<dyn std::error::Error + Send + Sync>,
    advice: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.advice)
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::postgres::PgConnectOptions;

    use super::explain;

    fn options(url: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(url).expect("a URL")
    }

    #[test]
    fn an_unknown_ca_is_explained_naming_sslrootcert() {
        let error = sqlx::Error::Tls("invalid peer certificate: UnknownIssuer".into());
        let explained = explain(
            error,
            &options("postgres://db/shop?sslmode=verify-full&sslrootcert=/ca.pem"),
        );
        assert!(matches!(explained, sqlx::Error::Tls(_)));
        let text = explained.to_string();
        assert!(text.contains("set sslrootcert"), "{text}");
        let advice = std::error::Error::source(&explained).expect("the advice");
        assert!(!advice.to_string().contains("UnknownIssuer"), "{advice}");
        let refusal = std::error::Error::source(advice).expect("sqlx's error");
        assert!(refusal.to_string().contains("UnknownIssuer"), "{refusal}");
    }

    /// rustls's refusal, as sqlx 0.9 returns it: an I/O error that holds it.
    #[test]
    fn a_refusal_inside_an_io_error_is_explained() {
        let refusal = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        let explained = explain(
            sqlx::Error::Io(refusal),
            &options("postgres://db/shop?sslmode=verify-ca"),
        );
        assert!(matches!(explained, sqlx::Error::Tls(_)));
        assert!(explained.to_string().contains("set sslrootcert"));
        let error = sqlx::Error::Io(std::io::ErrorKind::NotFound.into());
        let text = explain(error, &options("postgres://db/shop?sslmode=verify-full")).to_string();
        assert!(text.contains("sslrootcert names"), "{text}");
    }

    #[test]
    fn a_host_the_certificate_does_not_name_is_explained() {
        let error = sqlx::Error::Tls("invalid peer certificate: NotValidForName".into());
        let text = explain(
            error,
            &options("postgres://db.internal/shop?sslmode=verify-full"),
        )
        .to_string();
        assert!(text.contains("`db.internal`"), "{text}");
        assert!(text.contains("verify-ca"), "{text}");
    }

    #[test]
    fn other_errors_are_left_as_they_are() {
        let error = sqlx::Error::Tls("handshake failure".into());
        let text = explain(error, &options("postgres://db/shop?sslmode=require")).to_string();
        assert!(!text.contains("sslrootcert"), "{text}");
        let error = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(matches!(
            explain(error, &options("postgres://db/shop?sslmode=verify-full")),
            sqlx::Error::Io(_)
        ));
        let error = sqlx::Error::Io(std::io::ErrorKind::NotFound.into());
        assert!(matches!(
            explain(error, &options("postgres://db/shop?sslmode=require")),
            sqlx::Error::Io(_)
        ));
    }
}
