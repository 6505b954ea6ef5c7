//! Consent given after landing: a visit to a partner link the consent predicate refused, held in a
//! signed token that the page keeps, and recorded as a click once the visitor consents.
//!
//! The token carries the facts of the landing (the partner's code, the landing URL, the referrer,
//! the time) and nothing else: no cookie is set and no click is sent while the visitor has not
//! consented. It is `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`, where the
//! payload is the version, the time, a nonce and the three facts, one per line (none of them can
//! hold a line break: they come from a request's target and headers).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::adapter::{HeldClick, Skip};

/// The key that signs held clicks (see
/// [`CaptureClicks::hold_until_consent`](super::CaptureClicks::hold_until_consent)).
///
/// Every server that may receive a held click back must have the same key: give them all the
/// same secret with [`from_secret`](Self::from_secret). [`random`](Self::random) suits one
/// process; the held clicks it signed are refused after a restart (their visitors lose the
/// server's click, as without this feature). The key never appears in `Debug` output.
///
/// ```
/// use affitor_tower::capture::HeldClickKey;
///
/// let key = HeldClickKey::from_secret("4f1c8a0e2b9d7c6a5e3f1b0d9c8a7e6f")?; // 32 bytes or more
/// assert!(HeldClickKey::from_secret("short").is_err());
/// assert_eq!(format!("{key:?}"), "HeldClickKey(..)");
/// # Ok::<(), affitor_tower::capture::WeakSecret>(())
/// ```
#[derive(Clone)]
pub struct HeldClickKey {
    key: Arc<[u8]>,
}

impl HeldClickKey {
    /// The fewest bytes a secret may have: 32, as many as the signature's.
    ///
    /// ```
    /// assert_eq!(affitor_tower::capture::HeldClickKey::MIN_SECRET_LEN, 32);
    /// ```
    pub const MIN_SECRET_LEN: usize = 32;

    /// A key from a secret the app keeps (an environment variable, a secret store): at least
    /// [`MIN_SECRET_LEN`](Self::MIN_SECRET_LEN) bytes, random, the same on every server.
    ///
    /// # Errors
    ///
    /// [`WeakSecret`] when the secret is shorter than 32 bytes.
    ///
    /// See [`HeldClickKey`] for an example.
    pub fn from_secret(secret: impl AsRef<[u8]>) -> Result<Self, WeakSecret> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(WeakSecret { len: secret.len() });
        }
        Ok(Self { key: secret.into() })
    }

    /// A random key, for one process (see [`HeldClickKey`] for what a restart costs).
    ///
    /// # Panics
    ///
    /// When the operating system has no random source to read.
    ///
    /// ```
    /// let key = affitor_tower::capture::HeldClickKey::random();
    /// # drop(key);
    /// ```
    pub fn random() -> Self {
        let mut key = [0_u8; 32];
        fill_random(&mut key);
        Self { key: key.into() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
    }
}

impl fmt::Debug for HeldClickKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeldClickKey(..)")
    }
}

/// The secret given to [`HeldClickKey::from_secret`] is too short to sign with.
///
/// ```
/// let error = affitor_tower::capture::HeldClickKey::from_secret("abc").unwrap_err();
/// assert!(error.to_string().starts_with("the held-click secret is 3 bytes long"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeakSecret {
    len: usize,
}

impl fmt::Display for WeakSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the held-click secret is {} bytes long; give at least {} random bytes, the same on \
             every server (for example the output of `openssl rand -base64 32`)",
            self.len,
            HeldClickKey::MIN_SECRET_LEN,
        )
    }
}

impl std::error::Error for WeakSecret {}

/// The longest token read back: a landing URL and a referrer of 2 KiB each, encoded, fit.
const MAX_TOKEN: usize = 6 * 1024;

/// The longest referrer held: a longer one is left out of the token (the click is held without
/// it).
pub(super) const MAX_REFERRER: usize = 2048;

/// How many spent tokens are remembered, to refuse them a second time: 100,000 (about 5 MB),
/// the oldest forgotten first once they have expired, or when there are more.
const MAX_SPENT: usize = 100_000;

/// The payload's version.
const VERSION: &str = "1";

/// Holding clicks: the key, a nonce source, and the tokens spent, in this process's memory only
/// (another process, or this one restarted, may record a token again: the docs of `HeldClick`
/// say so).
pub(super) struct Hold {
    key: HeldClickKey,
    /// The nonce's first half, random per process; the second half counts.
    nonce_prefix: u64,
    nonce_count: AtomicU64,
    spent: Mutex<Spent>,
}

/// The tokens recorded, by nonce, in the order they were recorded, with the time each expires.
#[derive(Default)]
struct Spent {
    nonces: HashSet<u128>,
    order: VecDeque<(u64, u128)>,
}

/// A held click's facts, read from a token whose signature and age were checked.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Landing {
    nonce: u128,
    issued: u64,
    pub(super) code: String,
    pub(super) landing_url: String,
    pub(super) referrer: Option<String>,
}

impl Hold {
    pub(super) fn new(key: HeldClickKey) -> Self {
        let mut prefix = [0_u8; 8];
        fill_random(&mut prefix);
        Self {
            key,
            nonce_prefix: u64::from_le_bytes(prefix),
            nonce_count: AtomicU64::new(0),
            spent: Mutex::new(Spent::default()),
        }
    }

    /// Signs a held click for a landing on `landing_url` from `referrer` at `now`.
    pub(super) fn issue(
        &self,
        code: &str,
        landing_url: &str,
        referrer: Option<&str>,
        now: SystemTime,
    ) -> HeldClick {
        let count = self.nonce_count.fetch_add(1, Ordering::Relaxed);
        let nonce = (u128::from(self.nonce_prefix) << 64) | u128::from(count);
        let referrer = referrer.filter(|referrer| referrer.len() <= MAX_REFERRER);
        let payload = format!(
            "{VERSION}\n{}\n{nonce:032x}\n{code}\n{landing_url}\n{}",
            unix_seconds(now),
            referrer.unwrap_or_default(),
        );
        let mut mac = self.key.mac();
        mac.update(payload.as_bytes());
        let signature = mac.finalize().into_bytes();
        let token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        );
        HeldClick::new(token)
    }

    /// The facts of `token` at `now`: refused when it is malformed or signed by another key,
    /// when it has expired, or when it was recorded already.
    pub(super) fn open(&self, token: &str, now: SystemTime) -> Result<Landing, Skip> {
        let landing = self.verify(token).ok_or(Skip::HeldClickInvalid)?;
        let now = unix_seconds(now);
        let expires = landing.issued.saturating_add(HeldClick::LIFETIME.as_secs());
        // A token from the future (another server's clock, a minute ahead) is still good.
        if now > expires || landing.issued > now.saturating_add(60) {
            return Err(Skip::HeldClickExpired);
        }
        let spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        if spent.nonces.contains(&landing.nonce) {
            return Err(Skip::HeldClickSpent);
        }
        Ok(landing)
    }

    /// Marks `landing`'s token recorded, at `now`: false when another request recorded it
    /// first.
    pub(super) fn spend(&self, landing: &Landing, now: SystemTime) -> bool {
        let now = unix_seconds(now);
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        let Spent { nonces, order } = &mut *spent;
        while let Some(&(expires, nonce)) = order.front() {
            if expires >= now && order.len() < MAX_SPENT {
                break;
            }
            order.pop_front();
            nonces.remove(&nonce);
        }
        if !nonces.insert(landing.nonce) {
            return false;
        }
        let expires = landing
            .issued
            .saturating_add(HeldClick::LIFETIME.as_secs() + 60);
        order.push_back((expires, landing.nonce));
        true
    }

    /// The token's payload, when the key signed it.
    fn verify(&self, token: &str) -> Option<Landing> {
        if token.len() > MAX_TOKEN {
            return None;
        }
        let (payload, signature) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.key.mac();
        mac.update(&payload);
        mac.verify_slice(&signature).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let mut fields = payload.split('\n');
        if fields.next()? != VERSION {
            return None;
        }
        let issued = fields.next()?.parse().ok()?;
        let nonce = u128::from_str_radix(fields.next()?, 16).ok()?;
        let code = fields.next()?.to_owned();
        let landing_url = fields.next()?.to_owned();
        let referrer = Some(fields.next()?)
            .filter(|referrer| !referrer.is_empty())
            .map(str::to_owned);
        if fields.next().is_some() {
            return None;
        }
        Some(Landing {
            nonce,
            issued,
            code,
            landing_url,
            referrer,
        })
    }
}

impl fmt::Debug for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spent = self
            .spent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .order
            .len();
        f.debug_struct("Hold")
            .field("key", &self.key)
            .field("spent", &spent)
            .finish_non_exhaustive()
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Fills `bytes` from the operating system's random source.
fn fill_random(bytes: &mut [u8]) {
    if let Err(error) = getrandom::fill(bytes) {
        panic!("the operating system's random source cannot be read: {error}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn hold() -> Hold {
        Hold::new(HeldClickKey::from_secret(SECRET).expect("32 bytes"))
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    const LANDED: u64 = 1_800_000_000;

    #[test]
    fn a_token_gives_back_the_facts_it_was_signed_with() {
        let hold = hold();
        let held = hold.issue(
            "partner",
            "https://shop.example/?aff=partner",
            Some("https://blog.example/post"),
            at(LANDED),
        );
        assert!(
            held.as_str()
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
        );
        let landing = hold
            .open(held.as_str(), at(LANDED + 60))
            .expect("a fresh token");
        assert_eq!(landing.code, "partner");
        assert_eq!(landing.landing_url, "https://shop.example/?aff=partner");
        assert_eq!(
            landing.referrer.as_deref(),
            Some("https://blog.example/post")
        );
        assert_eq!(landing.issued, LANDED);
    }

    #[test]
    fn a_landing_without_a_referrer_is_held_without_one() {
        let hold = hold();
        let held = hold.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        let landing = hold.open(held.as_str(), at(LANDED)).expect("fresh");
        assert_eq!(landing.referrer, None);
        let long = "https://blog.example/".to_owned() + &"a".repeat(MAX_REFERRER);
        let held = hold.issue("p", "https://shop.example/?aff=p", Some(&long), at(LANDED));
        let landing = hold.open(held.as_str(), at(LANDED)).expect("fresh");
        assert_eq!(landing.referrer, None, "a referrer too long is left out");
    }

    #[test]
    fn a_token_expires_thirty_minutes_after_the_landing() {
        let hold = hold();
        let held = hold.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        let lifetime = HeldClick::LIFETIME.as_secs();
        assert!(hold.open(held.as_str(), at(LANDED + lifetime)).is_ok());
        assert_eq!(
            hold.open(held.as_str(), at(LANDED + lifetime + 1)),
            Err(Skip::HeldClickExpired)
        );
        assert_eq!(
            hold.open(held.as_str(), at(LANDED - 61)),
            Err(Skip::HeldClickExpired),
            "issued more than a minute in the future"
        );
    }

    #[test]
    fn a_token_is_recorded_once() {
        let hold = hold();
        let held = hold.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        let landing = hold.open(held.as_str(), at(LANDED)).expect("fresh");
        assert!(hold.spend(&landing, at(LANDED)));
        assert!(!hold.spend(&landing, at(LANDED)), "a race lost");
        assert_eq!(
            hold.open(held.as_str(), at(LANDED + 1)),
            Err(Skip::HeldClickSpent)
        );
        let other = hold.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        assert_ne!(other, held, "each token has a nonce of its own");
        assert!(hold.open(other.as_str(), at(LANDED + 1)).is_ok());
    }

    /// What `HeldClick`'s docs promise and no more: the tokens spent are this process's; another
    /// (a server of the fleet, a restart) with the same key records the token again.
    #[test]
    fn a_token_is_spent_per_process() {
        let (one, other) = (hold(), hold());
        let held = one.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        let landing = one.open(held.as_str(), at(LANDED)).expect("fresh");
        assert!(one.spend(&landing, at(LANDED)));
        let landing = other
            .open(held.as_str(), at(LANDED))
            .expect("signed by the same key");
        assert!(other.spend(&landing, at(LANDED)));
    }

    #[test]
    fn spent_tokens_are_forgotten_once_expired() {
        let hold = hold();
        let first = hold.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        let landing = hold.open(first.as_str(), at(LANDED)).expect("fresh");
        assert!(hold.spend(&landing, at(LANDED)));
        let later = LANDED + 2 * HeldClick::LIFETIME.as_secs();
        let second = hold.issue("p", "https://shop.example/?aff=p", None, at(later));
        let landing = hold.open(second.as_str(), at(later)).expect("fresh");
        assert!(hold.spend(&landing, at(later)));
        let spent = hold.spent.lock().expect("not poisoned");
        assert_eq!(spent.order.len(), 1, "the expired one is forgotten");
    }

    #[test]
    fn a_forged_or_foreign_token_is_invalid() {
        let hold = hold();
        let held = hold.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        let token = held.as_str();
        let (payload, signature) = token.split_once('.').expect("two parts");

        let forged_payload = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("base64"))
                .expect("utf-8")
                .replace("\np\n", "\nattacker\n"),
        );
        let forged = format!("{forged_payload}.{signature}");
        let other_key = Hold::new(HeldClickKey::from_secret([7_u8; 32]).expect("32 bytes"));
        for token in [
            forged.as_str(),
            "",
            "no-dot",
            "a.b",
            &token[..token.len() - 2],
            &"A".repeat(MAX_TOKEN + 1),
        ] {
            assert_eq!(
                hold.open(token, at(LANDED)),
                Err(Skip::HeldClickInvalid),
                "{token:.40}"
            );
        }
        assert_eq!(
            other_key.open(token, at(LANDED)),
            Err(Skip::HeldClickInvalid)
        );
    }

    #[test]
    fn the_key_and_the_token_stay_out_of_debug_output() {
        let key = HeldClickKey::from_secret(SECRET).expect("32 bytes");
        let hold = Hold::new(key.clone());
        let held = hold.issue("p", "https://shop.example/?aff=p", None, at(LANDED));
        for debug in [format!("{key:?}"), format!("{hold:?}"), format!("{held:?}")] {
            assert!(!debug.contains(SECRET), "{debug}");
            assert!(!debug.contains(held.as_str()), "{debug}");
        }
    }
}
