//! Where an outbox is: a location parsed once, as the database reads it, and shown from what
//! was parsed with its secrets left out.
//!
//! A Postgres URL's query parameters are checked before sqlx sees them: sqlx 0.9 logs the value
//! of a parameter it does not know at WARN, so such a parameter never reaches it.

use std::ffi::OsStr;

use crate::error::OutboxError;

mod keys;

use keys::{
    SSL_MODES_TAKEN, canonical, holds_secret, is_key, is_known_key, is_secret, is_ssl_mode,
    libpq_knows, sqlx_reads,
};

/// Shown in `Debug` output as [`Location::shown`] shows it: never with its secrets.
#[derive(PartialEq, Eq)]
pub(crate) enum Location {
    /// A Postgres URL or `key=value` connection string.
    Postgres(Postgres),
    /// A SQLite file's path, without its `sqlite:` prefix.
    Sqlite(String),
}

#[derive(PartialEq, Eq)]
pub(crate) struct Postgres {
    /// The URL to hand sqlx (its scheme in lower case, the parameters sqlx would ignore left
    /// out), or `None` for a `key=value` string.
    url: Option<String>,
    /// The parameters, decoded: a URL's query, or a connection string's pairs.
    params: Pairs,
    /// The location as logs and errors show it.
    shown: String,
}

/// Parameters, in the order written: each key and its value, decoded.
type Pairs = Vec<(String, String)>;

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Postgres(_) => "Postgres",
            Self::Sqlite(_) => "Sqlite",
        };
        f.debug_tuple(kind).field(&self.shown()).finish()
    }
}

impl Location {
    /// Reads `location`: Postgres (a `postgres://` or `postgresql://` URL, or a libpq
    /// `key=value` string), a `sqlite:` location, a location with any other scheme (refused),
    /// or a path. A Postgres location is refused beside a `PGSSLMODE` libpq does not know
    /// ([`Postgres::check_env_sslmode`]).
    pub(crate) fn parse(location: &str) -> Result<Self, OutboxError> {
        let location = Self::read(location)?;
        if let Self::Postgres(postgres) = &location {
            postgres.check_env_sslmode(std::env::var_os("PGSSLMODE").as_deref())?;
        }
        Ok(location)
    }

    /// [`Location::parse`], the environment left out.
    fn read(location: &str) -> Result<Self, OutboxError> {
        let location = location.trim();
        if let Some(rest) = strip_prefix_ignore_case(location, "postgres://")
            .or_else(|| strip_prefix_ignore_case(location, "postgresql://"))
        {
            let scheme = &location[..location.len() - rest.len() - 3];
            return Postgres::from_url(&scheme.to_ascii_lowercase(), rest).map(Self::Postgres);
        }
        if let Some(path) = strip_prefix_ignore_case(location, "sqlite://")
            .or_else(|| strip_prefix_ignore_case(location, "sqlite:"))
        {
            if path.trim().is_empty() {
                return Err(invalid(
                    location.to_owned(),
                    "it names no file: write the SQLite file's path after `sqlite:` \
                     (`sqlite:affitor-outbox.db`)",
                ));
            }
            return Self::sqlite(location, path);
        }
        if let Some((scheme, _)) = location.split_once("://")
            && is_scheme(scheme)
        {
            return Err(OutboxError::UnknownLocation {
                location: show_url_like(location),
            });
        }
        // A text naming any key the outbox passes on is a connection string, if a malformed
        // one: never a file's path, which would also show its password.
        match key_values(location) {
            Ok(pairs) if pairs.iter().all(|(key, _)| is_key(key)) && names_a_key(&pairs) => {
                Ok(Self::Postgres(Postgres::from_pairs(pairs)?))
            }
            Ok(pairs) if names_a_key(&pairs) => Err(invalid(
                show_pairs(&pairs),
                "the `key=value` connection string has a key libpq does not spell so: keys \
                 are letters, digits and `_`, unencoded",
            )),
            Err((pairs, reason)) if starts_with_a_key(location) || names_a_key(&pairs) => {
                Err(invalid(
                    format!("{} …", show_pairs(&pairs)).trim_start().to_owned(),
                    format!("the `key=value` connection string does not parse: {reason}"),
                ))
            }
            // A path is shown and logged as written: what reads as a URL or as another
            // driver's connection string never is.
            _ => match mistaken_url(location).or_else(|| no_path(location)) {
                Some(refused) => Err(refused),
                None => Self::sqlite(location, location),
            },
        }
    }

    /// The SQLite file at `path`, written `location`; a directory is refused (a container's
    /// volume, named in place of a file in it), rather than told to `chmod 600`.
    fn sqlite(location: &str, path: &str) -> Result<Self, OutboxError> {
        let folder = std::path::Path::new(path);
        if folder.is_dir() {
            let file = folder.join("affitor-outbox.db");
            let reason = format!(
                "it names a directory, not a file: name a file in it, such as {}",
                file.display()
            );
            return Err(invalid(location.to_owned(), reason));
        }
        Ok(Self::Sqlite(path.to_owned()))
    }

    /// The location as logs and errors show it: every secret left out.
    pub(crate) fn shown(&self) -> &str {
        match self {
            Self::Postgres(postgres) => postgres.shown(),
            Self::Sqlite(path) => path,
        }
    }
}

impl Postgres {
    /// The location as logs and errors show it: its password left out.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// A URL, `rest` what follows `scheme://`: its user info ends where sqlx's parser ends it,
    /// at the first `/`, `?` or `#`; an `@` after that is a password's, unencoded, and refused.
    fn from_url(scheme: &str, rest: &str) -> Result<Self, OutboxError> {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if tail.contains('@') {
            // An `@` past a `?` or `#` may be a query's, what follows it a password's.
            let host = match rest.rsplit_once('@') {
                Some((user_info, _)) if user_info.contains(['?', '#']) => "…",
                Some((_, host)) => host.split(['?', '#']).next().unwrap_or_default(),
                None => "",
            };
            return Err(invalid(
                format!("{scheme}://***@{host}"),
                "the URL's user info holds a `/`, `?` or `#`: percent-encode them in the user \
                 name and password (`/` as %2F, `?` as %3F, `#` as %23, `@` as %40)",
            ));
        }
        let (user_info, host) = match authority.rsplit_once('@') {
            Some((user_info, host)) => (Some(user_info), host),
            None => (None, authority),
        };
        let tail = tail.split('#').next().unwrap_or_default();
        let (path, written_query) = tail.split_once('?').unwrap_or((tail, ""));
        let (params, query, shown_query) = read_query(written_query);
        let user = user_info.map(|info| info.split_once(':').map_or(info, |(user, _)| user));
        // A part that holds another driver's `;password=...` is shown as `***`, and refused.
        let shown_user = match user_info {
            Some(info) if info.contains(':') => format!("{}:***@", hide(user.unwrap_or(""))),
            Some(info) => format!("{}@", hide(info)),
            None => String::new(),
        };
        let shown_path = if hide(path) == "***" { "/***" } else { path };
        let shown = format!(
            "{scheme}://{shown_user}{}{shown_path}{shown_query}",
            hide(host)
        );
        let parts = [
            ("user name", user.unwrap_or("")),
            ("host", host),
            ("path", path),
        ];
        check_query(&shown, written_query, &params, &parts)?;
        check_unknown(
            &shown,
            params.iter().map(|(key, _)| key.as_str()),
            sqlx_reads,
        )?;
        let postgres = Self {
            url: Some(format!("{scheme}://{authority}{path}{query}")),
            params,
            shown,
        };
        check_hostaddr(&postgres, url_host(host))?;
        postgres.check_sslmode()
    }

    /// Refuses an `sslmode` libpq does not know (`verfy-full`, `Require`): sqlx's error would
    /// name its own `ssl_mode` and list none of libpq's.
    fn check_sslmode(self) -> Result<Self, OutboxError> {
        match self
            .params
            .iter()
            .find(|(key, value)| canonical(key) == "sslmode" && !is_ssl_mode(value))
        {
            Some((key, value)) => Err(invalid(
                self.shown.clone(),
                format!(
                    "`{key}` is `{value}`, which libpq does not know: {SSL_MODES_TAKEN} — use \
                     verify-full, which verifies the server's certificate and its host name"
                ),
            )),
            None => Ok(self),
        }
    }

    /// Refuses, when the location sets no `sslmode`, a `PGSSLMODE` (`env`, its value) libpq
    /// does not know, as libpq does: sqlx would run it as `prefer`, unverified.
    pub(crate) fn check_env_sslmode(&self, env: Option<&OsStr>) -> Result<(), OutboxError> {
        match env {
            Some(mode)
                if self.param("sslmode").is_none() && !mode.to_str().is_some_and(is_ssl_mode) =>
            {
                Err(invalid(
                    self.shown.clone(),
                    format!(
                        "it sets no sslmode, and the environment's PGSSLMODE is `{}`, which \
                         libpq does not know (sqlx would run it as prefer, unverified): \
                         {SSL_MODES_TAKEN} — set PGSSLMODE=verify-full, or unset it and give \
                         sslmode in the location",
                        mode.to_string_lossy()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// A `key=value` connection string's pairs.
    fn from_pairs(pairs: Pairs) -> Result<Self, OutboxError> {
        let shown = show_pairs(&pairs);
        if let Some((key, _)) = pairs.iter().find(|(_, value)| holds_secret(value)) {
            return Err(invalid(
                shown,
                format!(
                    "the value of `{key}` holds a password: pairs are separated by spaces, as \
                     libpq reads them (`host=db dbname=shop password=...`), not by `;`"
                ),
            ));
        }
        let keys = pairs.iter().map(|(key, _)| key.as_str());
        check_unknown(&shown, keys, is_known_key)?;
        let postgres = Self {
            url: None,
            params: pairs,
            shown,
        };
        check_hostaddr(&postgres, None)?;
        postgres.check_sslmode()
    }

    /// The URL to hand sqlx, or `None` for a `key=value` string ([`Postgres::params`]).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The value of the last parameter that sets libpq's `key` (`sslrootcert`, which a URL
    /// may write `ssl-root-cert` or `ssl-ca`), or `None`.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(name, _)| canonical(name) == key)
            .map(|(_, value)| value.as_str())
    }
}

/// A URL's query: its parameters decoded; the query to hand sqlx (`?` and the parameters it
/// reads, as written, or nothing); and the query as shown, each secret's value, and that of a
/// key neither sqlx nor libpq knows, as `***`.
fn read_query(query: &str) -> (Pairs, String, String) {
    let mut params = Vec::new();
    let mut kept = Vec::new();
    let mut shown = Vec::new();
    for segment in query.split('&').filter(|segment| !segment.is_empty()) {
        let Some((raw_key, raw_value)) = segment.split_once('=') else {
            // Refused (`from_url`): a word without its key may be anything, a password too.
            shown.push("***".to_owned());
            continue;
        };
        let (key, value) = (percent_decode(raw_key), percent_decode(raw_value));
        let known = sqlx_reads(&key) || libpq_knows(&key);
        let shown_value = if !known || is_secret(&key) || holds_secret(&value) {
            "***"
        } else {
            raw_value
        };
        shown.push(format!("{raw_key}={shown_value}"));
        if sqlx_reads(&key) {
            kept.push(segment);
        }
        params.push((key, value));
    }
    let query = |parts: Vec<&str>| {
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    };
    let shown = query(shown.iter().map(String::as_str).collect());
    (params, query(kept), shown)
}

/// Refuses a URL's query word without `=`, which libpq refuses and whose key may be anything
/// (a password); and a URL whose `parts` (its user name, host and path) or parameters hold a
/// secret as another driver writes it (`?sslmode=require;password=...`): sqlx would be handed
/// it, and its errors would show it.
fn check_query(
    shown: &str,
    query: &str,
    params: &[(String, String)],
    parts: &[(&str, &str)],
) -> Result<(), OutboxError> {
    if query
        .split('&')
        .any(|segment| !segment.is_empty() && !segment.contains('='))
    {
        return Err(invalid(
            shown.to_owned(),
            "a parameter of the URL's query has no `=` (libpq refuses it): write each as \
             `key=value`, and percent-encode a `&` in a value as %26",
        ));
    }
    let part = parts
        .iter()
        .find(|(_, part)| holds_secret(&percent_decode(part)))
        .map(|(name, _)| format!("its {name}"));
    let param = params
        .iter()
        .find(|(_, value)| holds_secret(value))
        .map(|(key, _)| format!("the value of `{key}`"));
    match part.or(param) {
        Some(holder) => Err(invalid(
            shown.to_owned(),
            format!(
                "{holder} holds a password: a URL's parameters are separated by `&` \
                 (`?sslmode=verify-full&password=...`), not by `;` — or give the password in \
                 the user info, percent-encoded (`postgres://app:...@db/shop`)"
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses the parameters the outbox does not hand sqlx that it must not drop: a TLS setting
/// (dropped, the connection would run at `prefer`), an authentication setting or `passfile`,
/// one whose key reads as a secret (sqlx would log its value), or one libpq does not know
/// (libpq refuses it); any other is left out with a warning naming its key.
fn check_unknown<'a>(
    shown: &str,
    keys: impl Iterator<Item = &'a str>,
    known: impl Fn(&str) -> bool,
) -> Result<(), OutboxError> {
    for key in keys.filter(|key| !known(key)) {
        let lower = key.to_ascii_lowercase();
        if lower == "passfile" {
            return Err(invalid(
                shown.to_owned(),
                "its parameter `passfile` is not one its Postgres driver (sqlx 0.9) reads: \
                 dropped, the connection would go without the password — set the environment's \
                 PGPASSFILE to the file instead (sqlx reads it, or ~/.pgpass), and remove the \
                 parameter",
            ));
        }
        let security = [
            "ssl",
            "requiressl",
            "require_auth",
            "channel_binding",
            "gss",
            "krb",
            "requirepeer",
            "oauth",
            "scram",
        ]
        .iter()
        .any(|prefix| lower.starts_with(prefix));
        if security || is_secret(key) {
            let hint = if lower != key && known(&lower) {
                format!(" (write it `{lower}`: keys are read in lower case)")
            } else {
                String::new()
            };
            return Err(invalid(
                shown.to_owned(),
                format!(
                    "its parameter `{key}` is not one this outbox passes on to its Postgres \
                     driver (sqlx 0.9){hint}, and dropping it would weaken the connection or \
                     log a secret — remove it, or use the parameters the fleet guide lists"
                ),
            ));
        }
        if !libpq_knows(key) {
            return Err(invalid(
                shown.to_owned(),
                format!(
                    "`{key}` is not a connection parameter libpq knows, and libpq refuses it \
                     (\"invalid connection option\") — check its spelling (`password`, \
                     `dbname`, `sslmode`, ...), or remove it"
                ),
            ));
        }
        tracing::warn!(
            key,
            "Affitor outbox: a connection parameter its Postgres driver does not read is ignored"
        );
    }
    Ok(())
}

/// Refuses `hostaddr` beside a different host (`host`, or the URL's `url_host`): libpq
/// connects to the address and verifies the server's certificate as the host, where sqlx 0.9
/// has one host for both (the last given), so it would verify the certificate as the address,
/// or connect to the name and drop the address.
fn check_hostaddr(postgres: &Postgres, url_host: Option<&str>) -> Result<(), OutboxError> {
    let host = postgres
        .param("host")
        .or(url_host)
        .filter(|host| !host.is_empty());
    match (postgres.param("hostaddr"), host) {
        (Some(address), Some(host)) if address != host => Err(invalid(
            postgres.shown.clone(),
            format!(
                "`hostaddr` beside `host` cannot be run as libpq runs it (connect to \
                 `{address}`, verify the server's certificate as `{host}`): its Postgres driver \
                 (sqlx 0.9) has one host for both — give `host` alone, the name the \
                 certificate names, and let DNS or /etc/hosts give its address"
            ),
        )),
        _ => Ok(()),
    }
}

/// The host of a URL's authority (after any user info), without its port or an IPv6
/// address's brackets; `None` when empty.
fn url_host(authority_host: &str) -> Option<&str> {
    let host = match authority_host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority_host.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then_some(host)
}

/// The quotes a value pasted with them starts with (`"postgres://..."`, which docker's
/// `--env-file` keeps), typographic ones included.
const QUOTES: [char; 7] = [
    '"', '\'', '`', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}',
];

/// Refuses a text no one means as a SQLite file's path, which would be shown and logged whole,
/// and made a folder of: a quoted value, a mistyped Postgres URL (`postgres:/app:pw@db`), or
/// any text holding `://` (`DATABASE_URL=postgres://...`) that does not start as a path does
/// (`/`, `./`, `../`).
fn mistaken_url(text: &str) -> Option<OutboxError> {
    if let Some(rest) = text.strip_prefix(QUOTES) {
        let quote = &text[..text.len() - rest.len()];
        // A path as written; a URL's scheme and host; a `key=value`'s nothing.
        let shown = if rest.contains(':') {
            format!("{quote}{}", show_url_like(rest))
        } else if rest.contains(['=', '@']) {
            format!("{quote}…")
        } else {
            text.to_owned()
        };
        return Some(invalid(
            shown,
            "it starts with a quote: the quotes around the value were kept as part of it \
             (docker's --env-file keeps them) — remove them",
        ));
    }
    let postgres = ["postgres:", "postgresql:"]
        .iter()
        .any(|scheme| strip_prefix_ignore_case(text, scheme).is_some());
    let path = ["/", "./", "../"]
        .iter()
        .any(|start| text.starts_with(start));
    (postgres || (text.contains("://") && !path)).then(|| OutboxError::UnknownLocation {
        location: show_url_like(text),
    })
}

/// Refuses, as a SQLite file's path, a text that does not start as a path does (`/`, `./`,
/// `../`, a drive's `C:\`) and holds `=`, `;`, `@` or `:`: another driver's connection string
/// (`Server=db;Password=...`), a URL without its scheme (`app:pw@db/shop`), a `.pgpass` line,
/// or an empty location. It is shown up to the first of them, where no password starts.
fn no_path(text: &str) -> Option<OutboxError> {
    if text.is_empty() {
        return Some(invalid(
            String::new(),
            "it is empty: give a Postgres URL (`postgres://...`) or a SQLite file's path",
        ));
    }
    let drive = text.as_bytes().get(..3).is_some_and(|head| {
        head[0].is_ascii_alphabetic() && head[1] == b':' && matches!(head[2], b'\\' | b'/')
    });
    let path = drive
        || ["/", "./", "../"]
            .iter()
            .any(|start| text.starts_with(start));
    let at = text.find(['=', ';', '@', ':'])?;
    (!path).then(|| {
        invalid(
            format!("{}…", &text[..at]),
            "it is neither a Postgres URL nor a `key=value` string the outbox reads, and as a \
             SQLite file's path it holds `=`, `;`, `@` or `:`, as another driver's connection \
             string or a URL without its scheme does (a path is shown and logged whole) — give \
             Postgres as `postgres://user:password@host/db` or `host=... password=...`, and \
             a file whose name holds them as `./NAME` or `sqlite:NAME`",
        )
    })
}

/// A text read as a URL (`scheme://user:password@host/...`, or `scheme:` then the rest), shown
/// as far as no reading of it can hold a secret: its scheme, `***@` for its user info, and its
/// host, or `…` when an `@` past the host leaves the host in doubt (a password's `/`, or a
/// query's `@`).
fn show_url_like(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, _)) => (scheme, &text[scheme.len() + 1..]),
        None => text.split_once(':').unwrap_or((text, "")),
    };
    // The scheme's own letters, not what was pasted before it (`DATABASE_URL=`).
    let scheme = scheme
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | ':')))
        .next()
        .unwrap_or_default();
    let authority = rest.trim_start_matches('/');
    let slashes = &rest[..rest.len() - authority.len()];
    let end = authority.find(['/', '?', '#']).unwrap_or(authority.len());
    let (authority, tail) = authority.split_at(end);
    let host = match authority.rsplit_once('@') {
        _ if tail.contains('@') => "…".to_owned(),
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let host = host
        .split(|c: char| c.is_whitespace() || QUOTES.contains(&c))
        .next()
        .unwrap_or_default();
    format!("{scheme}:{slashes}{}", hide_port(host))
}

/// `host` with a port that is not a number as `***`: a password, its user and `@` left out
/// (`postgres://app:pw`).
fn hide_port(host: &str) -> String {
    match host.rsplit_once(':') {
        Some((name, port)) if !host.ends_with(']') && !port.chars().all(|c| c.is_ascii_digit()) => {
            format!("{name}:***")
        }
        _ => host.to_owned(),
    }
}

fn invalid(location: String, reason: impl Into<String>) -> OutboxError {
    OutboxError::InvalidLocation {
        location,
        reason: reason.into(),
    }
}

/// Whether any of `pairs` has a key the outbox passes on (in any case).
fn names_a_key(pairs: &[(String, String)]) -> bool {
    pairs.iter().any(|(key, _)| is_known_key(key))
}

/// Whether `text` starts as a connection string does (`host=`, `sslmode =`, ...).
fn starts_with_a_key(text: &str) -> bool {
    text.split_once('=')
        .is_some_and(|(key, _)| is_known_key(key.trim()))
}

/// The pairs of a libpq connection string, as libpq reads them: spaces around `=` allowed, a
/// value single-quoted or not, a backslash escaping the character after it in either. On
/// failure, the pairs read before it and what is wrong.
fn key_values(text: &str) -> Result<Pairs, (Pairs, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // After a secret, the word is the rest of its value: named by the key, not shown;
            // a word that is no key libpq knows may be a password, and is not shown either.
            let after = match pairs.last() {
                Some((secret, _)) if is_secret(secret) => {
                    format!("the value of `{secret}` (quote a value that holds a space: '...')")
                }
                _ if libpq_knows(&key) => format!("`{key}`"),
                _ => {
                    "a word that is no key libpq knows (not shown: it may be a password)".to_owned()
                }
            };
            return Err((pairs, format!("`=` is missing after {after}")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let quoted = chars.next_if_eq(&'\'').is_some();
        let mut value = String::new();
        let mut closed = !quoted;
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '\'' if quoted => {
                    closed = true;
                    break;
                }
                c if c.is_whitespace() && !quoted => break,
                c => value.push(c),
            }
        }
        if !closed {
            return Err((
                pairs,
                format!("the quoted value of `{key}` has no closing quote"),
            ));
        }
        pairs.push((key, value));
    }
}

/// A connection string's pairs as shown: a secret's value, or that of a key libpq does not
/// know, as `***`; any other quoted when it must be.
fn show_pairs(pairs: &[(String, String)]) -> String {
    let shown: Vec<String> = pairs
        .iter()
        .map(|(key, value)| {
            if is_secret(key) || holds_secret(value) || !libpq_knows(key) {
                format!("{key}=***")
            } else if value.is_empty()
                || value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\')
            {
                format!(
                    "{key}='{}'",
                    value.replace('\\', "\\\\").replace('\'', "\\'")
                )
            } else {
                format!("{key}={value}")
            }
        })
        .collect();
    shown.join(" ")
}

/// A part of a URL as shown: `***` when it holds a secret once decoded.
fn hide(part: &str) -> &str {
    if holds_secret(&percent_decode(part)) {
        "***"
    } else {
        part
    }
}

/// `text` with each `%XX` read as the byte it encodes (`+` as a space, as in a query); an
/// invalid escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| text.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[at]) {
            (Some(byte), _) => {
                decoded.push(byte);
                at += 3;
            }
            (None, b'+') => {
                decoded.push(b' ');
                at += 1;
            }
            (None, byte) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Whether `text` reads as a URL scheme (`postgress`, `pg`, `jdbc:postgresql`): a letter, then
/// letters, digits, `+`, `-`, `.` or `:`. A path's folder (`./data`, `C:\data`) never does.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | ':'))
}

#[cfg(test)]
mod tests;
