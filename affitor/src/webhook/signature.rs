//! What both signature schemes share: the keys, the HMAC, the headers, the clock check.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::{WebhookError, WebhookErrorKind, excerpt};
use super::event::Tracking;
use super::verifier::{Provider, SecretShape, sealed::Scheme};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// How far a signature's timestamp may be from now unless configured: 5 minutes, as Stripe's
/// and the Standard Webhooks libraries default to.
pub(crate) const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The longest body read unless configured: 1 MiB. Stripe and Polar events are a few KiB; an
/// invoice with hundreds of lines stays well under this.
pub(crate) const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How long the adapters wait for a delivery's body unless configured: a provider sends it at
/// once; a body that trickles in holds a connection and its buffer.
pub(crate) const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// One signing key, ready to sign: the HMAC state after the key, so that each verification
/// hashes only the message. Never printed.
#[derive(Clone)]
pub(crate) struct Key(HmacSha256);

impl Key {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        Self(<HmacSha256 as Mac>::new_from_slice(bytes).expect("HMAC takes a key of any length"))
    }

    /// The HMAC-SHA256 of the concatenated `parts`, as a state still to be finalized.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Whether one of `keys` signed `parts` with one of `signatures`, compared in constant time
/// (`Mac::verify_slice`).
pub(crate) fn any_matches(keys: &[Key], parts: &[&[u8]], signatures: &[Vec<u8>]) -> bool {
    keys.iter().any(|key| {
        let mac = key.mac(parts);
        signatures
            .iter()
            .any(|signature| mac.clone().verify_slice(signature).is_ok())
    })
}

/// The 32 bytes of a 64-digit hex string.
pub(crate) fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let digit = |byte: u8| char::from(byte).to_digit(16);
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
        })
        .collect()
}

/// The shape of a header that carries a Unix timestamp and hex signatures as `name=value`
/// items: Stripe's `t=…,v1=…` and Paddle's `ts=…;h1=…`.
pub(crate) struct TimestampedHeader {
    /// The header's name, as messages print it.
    pub(crate) name: &'static str,
    pub(crate) separator: char,
    /// The item holding the timestamp (the first one counts).
    pub(crate) timestamp: &'static str,
    /// The items holding a signature (every one counts; other items are skipped).
    pub(crate) signature: &'static str,
    /// What joins the timestamp and the body in the signed message.
    pub(crate) joiner: &'static [u8],
}

impl TimestampedHeader {
    /// Finds the header among `headers`, and checks that one of `config`'s keys signed
    /// `{timestamp}{joiner}{body}` and that the timestamp is no older than the tolerance at
    /// `now` (one in the future is accepted, as the providers' own libraries do: a clock that
    /// is behind must not turn payments away, and a timestamp cannot be forged without the
    /// secret).
    pub(crate) fn verify<K, V>(
        &self,
        config: &Config,
        headers: impl IntoIterator<Item = (K, V)>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), WebhookError>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let [header] = find_headers(headers, [self.name]);
        let Some(header) = header else {
            return Err(WebhookError::new(WebhookErrorKind::MissingSignature)
                .with_detail(format!("no `{}` header", self.name)));
        };
        let (timestamp, signatures) = self.parse(header.as_ref())?;
        let timestamp_text = timestamp.to_string();
        let signed = [timestamp_text.as_bytes(), self.joiner, body];
        config.check_signatures(&signed, &signatures, self.signature)?;
        check_timestamp(timestamp, now, config.tolerance, false)
    }

    /// The timestamp and every signature of `header`: an error when it is not text, the
    /// timestamp is missing or not a number, or no signature is 64 hex digits.
    pub(crate) fn parse(&self, header: &[u8]) -> Result<(i64, Vec<Vec<u8>>), WebhookError> {
        let malformed = |what: String| {
            WebhookError::new(WebhookErrorKind::MalformedSignature).with_detail(format!(
                "{what} in `{}` {}",
                self.name,
                excerpt(header, 40)
            ))
        };
        let text = std::str::from_utf8(header).map_err(|_| malformed("not text".to_owned()))?;
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for item in text.split(self.separator) {
            let Some((name, value)) = item.split_once('=') else {
                continue;
            };
            match name.trim() {
                name if name == self.timestamp && timestamp.is_none() => {
                    let parsed = value.trim().parse::<i64>();
                    timestamp =
                        Some(parsed.map_err(|_| malformed(format!("a bad `{}`", self.timestamp)))?);
                }
                name if name == self.signature => signatures.extend(decode_hex(value.trim())),
                _ => {} // other schemes (Stripe's test-mode `v0`), and schemes to come
            }
        }
        let timestamp =
            timestamp.ok_or_else(|| malformed(format!("no `{}=` timestamp", self.timestamp)))?;
        if signatures.is_empty() {
            return Err(malformed(format!(
                "no `{}=` signature of 64 hex digits",
                self.signature
            )));
        }
        Ok((timestamp, signatures))
    }
}

/// The secrets of a verifier, from a builder or an environment variable.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    pub(crate) fn push(&mut self, secret: String) {
        self.0.push(secret);
    }

    /// The secrets of `P`'s variable, as [`split`] reads its value. `None` when it is unset or
    /// empty.
    pub(crate) fn from_env<P: Provider>() -> Option<Self> {
        Self::parse::<P>(&std::env::var(P::SECRET_VARIABLE).ok()?)
    }

    fn parse<P: Provider>(value: &str) -> Option<Self> {
        let secrets: Vec<String> = split::<P>(value).into_iter().map(str::to_owned).collect();
        (!secrets.is_empty()).then_some(Self(secrets))
    }

    /// Each secret turned into its keys' bytes; an error when there is none (naming `P`'s
    /// variable), or one is empty, shorter after its prefix than `P` takes, or, where `P`
    /// issues its secrets, holds `...` (a piece of a secret, or a placeholder such as
    /// `whsec_...`: anyone could guess it and sign sales).
    pub(crate) fn keys<P: Provider>(&self) -> Result<Vec<Key>, WebhookError> {
        let provider = P::NAME;
        if self.0.is_empty() {
            return Err(
                WebhookError::missing_secret(P::SECRET_VARIABLE).with_detail(format!(
                    "a {provider} verifier needs the endpoint's signing secret"
                )),
            );
        }
        let mut all = Vec::with_capacity(self.0.len());
        for (index, secret) in self.0.iter().enumerate() {
            // Which secret, by its place, never by what it holds.
            let which = match self.0.len() {
                1 => format!("the {provider} signing secret"),
                n => format!("{provider} signing secret #{} of {n}", index + 1),
            };
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(WebhookError::new(WebhookErrorKind::InvalidSecret)
                    .with_detail(format!("{which} is empty")));
            }
            let (prefix, rest) = <P as Scheme>::SECRET_PREFIXES
                .iter()
                .find_map(|prefix| Some((*prefix, secret.strip_prefix(prefix)?)))
                .unwrap_or(("", secret));
            let length = rest.chars().count();
            let least = <P as Scheme>::MIN_SECRET_CHARS;
            let after = match prefix {
                "" => String::new(),
                prefix => format!(" after `{prefix}`"),
            };
            if length < least {
                return Err(
                    WebhookError::new(WebhookErrorKind::InvalidSecret).with_detail(format!(
                        "{which} has {length} character(s){after}, and a {provider} signing \
                         secret has at least {least}: give the whole secret ({}), not a part \
                         of it or a placeholder",
                        P::SECRET_VARIABLE
                    )),
                );
            }
            if <P as Scheme>::ISSUES_SECRETS && rest.contains("...") {
                return Err(
                    WebhookError::new(WebhookErrorKind::InvalidSecret).with_detail(format!(
                        "{which} holds `...`, as a placeholder does: give the whole secret \
                         ({}) from the {provider} dashboard",
                        P::SECRET_VARIABLE
                    )),
                );
            }
            all.extend(P::keys(secret).iter().map(|bytes| Key::new(bytes)));
        }
        Ok(all)
    }
}

/// The secrets of a variable's value, as [`Verifier::from_env`](super::Verifier::from_env)
/// reads them: several, split at commas and whitespace, only when each piece has the shape `P`
/// issues (a rotation: `whsec_new_signing_key,whsec_old_signing_key`); otherwise the whole value, trimmed, as one
/// secret. A secret chosen by its user (Lemon Squeezy's) may hold spaces and commas, and no
/// shape tells a list of them from one: its value is always one secret. Empty: no secret.
pub(crate) fn split<P: Provider>(value: &str) -> Vec<&str> {
    let whole = value.trim();
    if whole.is_empty() {
        return Vec::new();
    }
    let pieces: Vec<&str> = whole
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|piece| !piece.is_empty())
        .collect();
    if pieces.is_empty() {
        return Vec::new(); // separators only: nothing was set
    }
    let issued = |piece: &&str| P::secret_shape(piece) == SecretShape::Usual;
    if <P as Scheme>::ISSUES_SECRETS && pieces.len() > 1 && pieces.iter().all(issued) {
        pieces
    } else {
        vec![whole]
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} secret(s)", self.0.len())
    }
}

/// The value of the first header of each of `names` (in any case) among `headers`.
pub(crate) fn find_headers<const N: usize, K, V>(
    headers: impl IntoIterator<Item = (K, V)>,
    names: [&str; N],
) -> [Option<V>; N]
where
    K: AsRef<str>,
    V: AsRef<[u8]>,
{
    let mut found: [Option<V>; N] = std::array::from_fn(|_| None);
    for (name, value) in headers {
        let name = name.as_ref();
        let named = names.iter().position(|n| n.eq_ignore_ascii_case(name));
        if let Some(index) = named.filter(|&index| found[index].is_none()) {
            found[index] = Some(value);
        }
    }
    found
}

/// Seconds since the Unix epoch, negative before it.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Checks that the signature's `timestamp` is no older than `tolerance` at `now`, and, with
/// `reject_future`, no further ahead than it either.
pub(crate) fn check_timestamp(
    timestamp: i64,
    now: SystemTime,
    tolerance: Duration,
    reject_future: bool,
) -> Result<(), WebhookError> {
    let now = unix_seconds(now);
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = now.saturating_sub(timestamp);
    if age > tolerance {
        return Err(
            WebhookError::new(WebhookErrorKind::Expired).with_detail(format!(
                "signed {age} s ago, more than the tolerance of {tolerance} s: a replayed event, \
             or this server's clock is wrong"
            )),
        );
    }
    let ahead = age.saturating_neg();
    if reject_future && ahead > tolerance {
        return Err(
            WebhookError::new(WebhookErrorKind::Expired).with_detail(format!(
                "signed {ahead} s in the future, more than the tolerance of {tolerance} s: this \
             server's clock, or the sender's, is wrong"
            )),
        );
    }
    Ok(())
}

/// A built verifier's settings, shared by its clones.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) keys: Vec<Key>,
    pub(crate) tolerance: Duration,
    pub(crate) body_limit: usize,
    pub(crate) body_timeout: Duration,
    /// How its events are tracked: each event holds a reference.
    pub(crate) tracking: Arc<Tracking>,
}

impl Config {
    /// Checks that one of the verifier's keys signed `parts` with one of `signatures`
    /// (`scheme` names them in the error: `v1`, `h1`).
    pub(crate) fn check_signatures(
        &self,
        parts: &[&[u8]],
        signatures: &[Vec<u8>],
        scheme: &str,
    ) -> Result<(), WebhookError> {
        if any_matches(&self.keys, parts, signatures) {
            return Ok(());
        }
        Err(
            // What the sender sent, never what the verifier holds: the answer goes back to
            // whoever posted the delivery.
            WebhookError::new(WebhookErrorKind::SignatureMismatch).with_detail(format!(
                "{} `{scheme}` signature(s) in the header, none made with this endpoint's secret",
                signatures.len()
            )),
        )
    }

    /// Refuses a body over the limit, before anything else is done with it.
    pub(crate) fn check_size(&self, body: &[u8]) -> Result<(), WebhookError> {
        if body.len() > self.body_limit {
            return Err(
                WebhookError::new(WebhookErrorKind::BodyTooLarge).with_detail(format!(
                    "more than {} bytes: raise the verifier's `body_limit` if your events \
                     are this large",
                    self.body_limit
                )),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stripe's, Polar's and Paddle's secrets have a shape of their own: a list of them is a
    /// rotation. Anything else is one secret, whole: a Lemon Squeezy secret is chosen by its
    /// user, and splitting `my shop 2024` made three short keys, none of which Lemon Squeezy
    /// signs with, and one of which (`my`) anyone could sign with.
    #[test]
    fn a_variable_holds_one_secret_or_a_rotation_of_issued_ones() {
        use crate::webhook::{LemonSqueezy, Paddle, Polar, Stripe};

        fn secrets<P: Provider>(value: &str) -> Option<Vec<String>> {
            Secrets::parse::<P>(value).map(|secrets| secrets.0)
        }
        let (a, b) = (
            "whsec_0123456789abcdefABCDEF",
            "whsec_FEDCBA9876543210fedcba",
        );
        assert_eq!(secrets::<Stripe>(a), Some(vec![a.to_owned()]));
        assert_eq!(
            secrets::<Stripe>(&format!(" {a}, {b}\n")),
            Some(vec![a.to_owned(), b.to_owned()])
        );
        let polar = [
            "polar_whs_0123456789abcdefghij",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La",
        ];
        assert_eq!(
            secrets::<Polar>(&polar.join(" ")),
            Some(polar.map(str::to_owned).to_vec())
        );
        let paddle = "pdl_ntfset_01abcdefghijklmnopqrstu";
        assert_eq!(
            secrets::<Paddle>(&format!("{paddle},{paddle}")),
            Some(vec![paddle.to_owned(), paddle.to_owned()])
        );
        // A piece not in the issued shape: the whole value, trimmed, is the secret.
        assert_eq!(
            secrets::<Stripe>(&format!(" {a} my secret ")),
            Some(vec![format!("{a} my secret")])
        );
        for phrase in [
            "my shop 2024",
            "lemonade summertime",
            "secret-one,secret-two",
        ] {
            assert_eq!(
                secrets::<LemonSqueezy>(&format!(" {phrase}\n")),
                Some(vec![phrase.to_owned()])
            );
        }
        assert_eq!(secrets::<Stripe>(""), None);
        assert_eq!(secrets::<Stripe>(" , "), None);
        assert_eq!(secrets::<LemonSqueezy>(" \n"), None);
    }

    /// A key shorter than any provider's secret is refused when the verifier is built, saying
    /// which secret and what to do, never what it holds.
    #[test]
    fn a_secret_shorter_than_the_provider_takes_is_refused() {
        use crate::webhook::{LemonSqueezy, Stripe};

        fn refused<P: Provider>(secrets: &[&str]) -> WebhookError {
            let mut all = Secrets::default();
            for secret in secrets {
                all.push((*secret).to_owned());
            }
            all.keys::<P>().expect_err("a short secret")
        }
        let error = refused::<LemonSqueezy>(&["xq7"]);
        assert_eq!(error.kind(), WebhookErrorKind::InvalidSecret);
        let message = error.to_string();
        assert!(
            message.contains(
                "the Lemon Squeezy signing secret has 3 character(s), and a Lemon Squeezy \
                 signing secret has at least 6"
            ) && message.contains("give the whole secret (LEMONSQUEEZY_WEBHOOK_SECRET)")
                && !message.contains("xq7"),
            "{message}"
        );
        let message = refused::<Stripe>(&["whsec_0123456789abcdefABCDEF", " q1z2 "]).to_string();
        assert!(
            message.contains("Stripe signing secret #2 of 2 has 4 character(s)")
                && !message.contains("q1z2"),
            "{message}"
        );
        let mut six = Secrets::default();
        six.push("abcdef".to_owned());
        assert_eq!(six.keys::<LemonSqueezy>().map(|keys| keys.len()), Ok(1));
    }

    #[test]
    fn hex_is_decoded_in_either_case_and_refused_otherwise() {
        assert_eq!(decode_hex(&"0F".repeat(32)), Some(vec![15; 32]));
        assert_eq!(decode_hex(&"zz".repeat(32)), None);
        assert_eq!(decode_hex("0f"), None);
    }

    #[test]
    fn the_tolerance_is_one_sided_or_two_sided() {
        let tolerance = Duration::from_secs(300);
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert!(check_timestamp(9_700, now, tolerance, true).is_ok());
        assert!(check_timestamp(9_699, now, tolerance, false).is_err());
        assert!(check_timestamp(10_300, now, tolerance, true).is_ok());
        assert!(check_timestamp(10_301, now, tolerance, true).is_err());
        assert!(check_timestamp(i64::MAX, now, tolerance, false).is_ok());
        assert!(check_timestamp(i64::MIN, now, tolerance, false).is_err());
        assert!(check_timestamp(i64::MAX, UNIX_EPOCH, tolerance, true).is_err());
    }

    #[test]
    fn headers_are_found_in_any_case_first_one_wins() {
        let headers = [
            ("Webhook-Id", "a"),
            ("webhook-id", "b"),
            ("WEBHOOK-SIGNATURE", "c"),
        ];
        assert_eq!(
            find_headers(
                headers,
                ["webhook-id", "webhook-timestamp", "webhook-signature"]
            ),
            [Some("a"), None, Some("c")]
        );
    }
}
