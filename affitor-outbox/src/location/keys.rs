//! What libpq and sqlx 0.9 know of a location's parameters: the keys each reads, libpq's
//! `sslmode` values, and the keys and values that name a secret.

use super::percent_decode;

/// The parameters sqlx 0.9 reads from a URL's query, as it spells them.
const SQLX_URL_KEYS: [&str; 17] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
];

/// The `key=value` keys the outbox hands sqlx (in any case).
const KEY_VALUE_KEYS: [&str; 11] = [
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
];

/// libpq's connection options (PostgreSQL 18): libpq refuses any other key ("invalid connection
/// option"), and so does the outbox, never showing its value.
const LIBPQ_KEYS: [&str; 50] = [
    "service",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslcertmode",
    "sslpassword",
    "sslkeylogfile",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "require_auth",
    "min_protocol_version",
    "max_protocol_version",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "target_session_attrs",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
];

/// libpq's `sslmode` values, which it takes in lower case only.
const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// What an error says libpq's `sslmode` takes.
pub(super) const SSL_MODES_TAKEN: &str =
    "it takes disable, allow, prefer, require, verify-ca or verify-full, in lower case";

/// Whether libpq takes `value` as an `sslmode` (in lower case, as it spells them).
pub(super) fn is_ssl_mode(value: &str) -> bool {
    SSL_MODES.contains(&value)
}

/// Whether sqlx 0.9 reads the URL parameter `key` (as it spells it: in lower case).
pub(super) fn sqlx_reads(key: &str) -> bool {
    SQLX_URL_KEYS.contains(&key) || key == "options" || key.starts_with("options[")
}

/// libpq's name of a parameter: in lower case, sqlx's aliases (`ssl-mode`, `ssl-ca`) read as
/// libpq's key.
pub(super) fn canonical(key: &str) -> String {
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "ssl-mode" => "sslmode".to_owned(),
        "ssl-root-cert" | "ssl-ca" => "sslrootcert".to_owned(),
        "ssl-cert" => "sslcert".to_owned(),
        "ssl-key" => "sslkey".to_owned(),
        _ => key,
    }
}

/// Whether libpq knows the connection option `key` (in any case).
pub(super) fn libpq_knows(key: &str) -> bool {
    LIBPQ_KEYS.contains(&key.to_ascii_lowercase().as_str())
}

/// Whether the outbox hands `key` to sqlx from a `key=value` string (in any case).
pub(super) fn is_known_key(key: &str) -> bool {
    KEY_VALUE_KEYS.contains(&key.to_ascii_lowercase().as_str())
}

/// Whether `key` reads as an option's name: letters, digits and `_`.
pub(super) fn is_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a parameter's key, as written, names a secret once percent-decoded: `password` and
/// any key ending in it (`sslpassword`, `pass-word`), `passwd`, `pwd`, or a key naming a secret
/// or a token; what is not a letter or a digit is passed over.
pub(super) fn is_secret(key: &str) -> bool {
    let mut key = percent_decode(key).to_ascii_lowercase();
    key.retain(|c| c.is_ascii_alphanumeric());
    key.ends_with("password")
        || key.ends_with("passwd")
        || key.ends_with("pwd")
        || key.contains("secret")
        || key.contains("token")
}

/// Whether a value holds a `key=value` of a secret (`db;Password=...`, another driver's
/// connection string written as one value): it is then shown as `***`.
pub(super) fn holds_secret(value: &str) -> bool {
    value
        .split([' ', '\t', ';', '&', '?', ','])
        .filter_map(|part| part.split_once('='))
        .any(|(key, _)| is_secret(key))
}
