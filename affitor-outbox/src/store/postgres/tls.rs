//! TLS to Postgres: the modes refused, the connections warned about, and what to do when the
//! server's certificate is refused.
//!
//! sqlx makes the connection (rustls, with its aws-lc-rs provider: the one reqwest links for
//! the client): `sslmode` and `sslrootcert` come from the location. Its root store is always
//! the public web's CAs (`webpki-roots`) plus `sslrootcert`'s, and its `verify-ca` forgives any
//! host name: a mode whose verification libpq confines to `sslrootcert` is refused rather than
//! run weaker than its name ([`refused`]). `verify-full` with `sslrootcert` is run, but trusts
//! the file's CAs beside the public web's, never alone as libpq does: every advice that names
//! `sslrootcert` says so ([`ROOT_CERT_ADDS`]). Its errors say what failed; [`explain`] adds
//! what to do, never a weaker mode.

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// What `sslrootcert` does here, said wherever the advice names it: the advice is not read as
/// confining trust to the file, as libpq's `verify-full` does.
const ROOT_CERT_ADDS: &str = "sslrootcert adds that CA to the public web's CAs, which sqlx 0.9 \
                              still trusts, where libpq would trust the file alone";

/// Why the outbox refuses `options`'s TLS settings, or `None`: the modes sqlx 0.9 would run
/// weaker than libpq (`allow` without its fall-back to TLS; a verification libpq confines to
/// `sslrootcert`).
/// `root_cert`: whether `sslrootcert` (or `PGSSLROOTCERT`) is set.
pub(crate) fn refused(options: &PgConnectOptions, root_cert: bool) -> Option<String> {
    let instead = format!(
        "use sslmode=verify-full with sslrootcert set to your CA's file, and connect with a \
         host name the server's certificate names ({ROOT_CERT_ADDS})"
    );
    match options.get_ssl_mode() {
        PgSslMode::Allow => Some(format!(
            "sslmode=allow cannot be run as libpq runs it: its Postgres driver (sqlx 0.9) never \
             falls back to TLS, so the connection would be plain text, or fail against a server \
             that requires TLS — {instead}; or sslmode=prefer, unverified"
        )),
        PgSslMode::VerifyCa => Some(format!(
            "sslmode=verify-ca cannot be run as libpq runs it: its Postgres driver (sqlx 0.9, \
             rustls) trusts the public web's CAs beside sslrootcert and checks no host name, so \
             any publicly issued certificate, for any domain, would pass — {instead}"
        )),
        PgSslMode::Require if root_cert => Some(format!(
            "sslmode=require with sslrootcert verifies the server against that file in libpq \
             (as verify-ca does), which its Postgres driver (sqlx 0.9) cannot confine to it and \
             would not verify at all — {instead}"
        )),
        _ => None,
    }
}

/// What to warn of a connection to another machine below `verify-full`, or `None` (a
/// verified connection, or one to this machine: a loopback address or a Unix socket).
pub(crate) fn weakness(options: &PgConnectOptions) -> Option<String> {
    let host = options.get_host();
    let local = options.get_socket().is_some()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let (mode, what) = match options.get_ssl_mode() {
        PgSslMode::VerifyFull => return None,
        _ if local => return None,
        PgSslMode::Disable => ("disable", "the connection is plain text"),
        // sqlx 0.9 runs `allow` as `disable` (a pool the app built; a location is refused).
        PgSslMode::Allow => ("allow", "the connection is plain text"),
        PgSslMode::Prefer => (
            "prefer",
            "a machine on the path can strip TLS, then read every event and the password \
             (sqlx sends it in clear text when the server asks for it)",
        ),
        PgSslMode::Require => (
            "require",
            "encrypted, but the server is not verified: a machine on the path can pose as it",
        ),
        PgSslMode::VerifyCa => ("verify-ca", "the server's host name is not checked"),
    };
    Some(format!(
        "the Postgres connection to `{host}` runs at sslmode={mode}: {what} — set \
         sslmode=verify-full, and sslrootcert to your CA's file if a public CA did not sign the \
         server's certificate ({ROOT_CERT_ADDS})"
    ))
}

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
             certificate names (sslmode=verify-full checks it), or have the server's \
             certificate name this host",
            options.get_host()
        )
    } else if matches!(error, sqlx::Error::Tls(_)) || text.contains("certificate") {
        format!(
            "the server's certificate is not signed by a CA this outbox trusts: set sslrootcert \
             to the file of the CA that signed it (your provider's CA bundle; without \
             sslrootcert only the public web's CAs are trusted; {ROOT_CERT_ADDS})"
        )
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
    }

    /// No advice points to a weaker mode than the one that failed.
    #[test]
    fn no_advice_points_to_a_weaker_mode() {
        for refusal in [
            "invalid peer certificate: NotValidForName",
            "invalid peer certificate: UnknownIssuer",
        ] {
            let error = sqlx::Error::Tls(refusal.into());
            let text =
                explain(error, &options("postgres://db/shop?sslmode=verify-full")).to_string();
            for weaker in ["verify-ca", "require", "prefer", "disable"] {
                assert!(!text.contains(weaker), "{text}");
            }
        }
    }

    /// The modes sqlx would run weaker than libpq are refused, saying what to use instead.
    #[test]
    fn modes_sqlx_runs_weaker_than_libpq_are_refused() {
        let allow = options("postgres://db/shop?sslmode=allow");
        let reason = super::refused(&allow, false).expect("refused");
        assert!(reason.contains("never falls back to TLS"), "{reason}");
        assert!(reason.contains("verify-full with sslrootcert"), "{reason}");
        let verify_ca = options("postgres://db/shop?sslmode=verify-ca");
        let reason = super::refused(&verify_ca, true).expect("refused");
        assert!(reason.contains("verify-full with sslrootcert"), "{reason}");
        assert!(super::refused(&verify_ca, false).is_some());
        let require = options("postgres://db/shop?sslmode=require");
        assert!(super::refused(&require, true).is_some());
        assert!(super::refused(&require, false).is_none());
        let full = options("postgres://db/shop?sslmode=verify-full");
        assert!(super::refused(&full, true).is_none());
    }

    /// Another machine below verify-full is warned about; this machine is not.
    #[test]
    fn a_remote_host_below_verify_full_is_warned_about() {
        for url in [
            "postgres://db.internal/shop",
            "postgres://10.0.0.5/shop?sslmode=require",
            "postgres://db/shop?sslmode=disable",
        ] {
            let warning = super::weakness(&options(url)).expect(url);
            assert!(warning.contains("verify-full"), "{warning}");
        }
        // sqlx runs `allow` as `disable`: plain text, not TLS that could be stripped.
        let allow = super::weakness(&options("postgres://db/shop?sslmode=allow"));
        assert!(allow.is_some_and(|warning| warning.contains("plain text")));
        for url in [
            "postgres://db.internal/shop?sslmode=verify-full",
            "postgres://localhost/shop",
            "postgres://127.0.0.1/shop?sslmode=disable",
            "postgres://[::1]/shop",
            "postgres:///shop?host=/var/run/postgresql",
        ] {
            assert_eq!(super::weakness(&options(url)), None, "{url}");
        }
    }

    /// Every advice to set sslrootcert says that the public web's CAs stay trusted beside it:
    /// none reads as confining trust to the file, as libpq does.
    #[test]
    fn advice_naming_sslrootcert_says_the_public_cas_stay_trusted() {
        let mut advice: Vec<String> = ["allow", "verify-ca", "require"]
            .iter()
            .filter_map(|mode| {
                let url = format!("postgres://db/shop?sslmode={mode}");
                super::refused(&options(&url), true)
            })
            .collect();
        advice.extend(super::weakness(&options(
            "postgres://db/shop?sslmode=require",
        )));
        let error = sqlx::Error::Tls("invalid peer certificate: UnknownIssuer".into());
        let options = options("postgres://db/shop?sslmode=verify-full");
        advice.push(explain(error, &options).to_string());
        assert_eq!(advice.len(), 5);
        for text in advice {
            assert!(text.contains("sslrootcert"), "{text}");
            assert!(
                text.contains("public web's CAs, which sqlx 0.9 still trusts"),
                "{text}"
            );
        }
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
