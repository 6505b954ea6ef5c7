//! What capture made of a request: a click to record, or why not.

use std::fmt;

use super::{HeldClick, PartnerClick};

/// What [`CaptureClicks::decide`](crate::capture::CaptureClicks::decide) made of a request.
///
/// ```
/// use affitor_tower::adapter::{Decision, Skip, Visit};
/// use affitor_tower::capture::CaptureClicks;
///
/// let headers = http::HeaderMap::new();
/// let decision = CaptureClicks::new().decide(&Visit::new("GET", "/pricing", None, &headers));
/// assert!(matches!(decision, Decision::Skip(Skip::NoPartnerLink)));
/// ```
#[derive(Debug)]
pub enum Decision {
    /// A partner link to record.
    Capture(PartnerClick),
    /// Nothing to record, and why.
    Skip(Skip),
    /// A partner link the consent predicate refused, held until the visitor consents (see
    /// [`CaptureClicks::hold_until_consent`](crate::capture::CaptureClicks::hold_until_consent)):
    /// nothing to record now; put the [`HeldClick`] in the request's extensions for the page,
    /// and keep the response out of shared caches ([`KeepPrivate`](super::KeepPrivate)).
    Hold(HeldClick),
}

/// Why a request is not recorded as a click.
///
/// Adapters log it at `debug`, except [`Skip::NoPartnerLink`], the answer for almost every
/// request.
///
/// ```
/// use affitor_tower::adapter::Skip;
///
/// assert_eq!(
///     Skip::SamePartner.to_string(),
///     "the visitor already has a click id from this partner",
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// The query has no `aff` parameter.
    NoPartnerLink,
    /// The `aff` value is not 1 to 64 of `A-Z a-z 0-9 _ -`.
    InvalidPartnerCode,
    /// The method is not `GET` (a `HEAD` is never a click).
    NotGet,
    /// A prefetch or prerender (`Sec-Purpose`, `Purpose` or `X-Moz: prefetch`): the visitor
    /// has not opened the page.
    Prefetch,
    /// `Sec-Fetch-Mode` says the browser is not navigating to a page (an image, a script, a
    /// `fetch` call).
    NotNavigation,
    /// A link-preview bot, a crawler, or a client that sends no `User-Agent`.
    Bot,
    /// The visitor already has a click id, and `affitor_aff_url` names the same partner.
    SamePartner,
    /// The consent predicate said no. (With
    /// [`hold_until_consent`](crate::capture::CaptureClicks::hold_until_consent), a partner
    /// link's visit is a [`Decision::Hold`] instead.)
    NoConsent,
    /// The host the visitor asked for is missing or malformed, so the landing URL cannot be
    /// rebuilt.
    NoHost,
    /// The [`ClickLimit`](crate::capture::ClickLimit) held the visit back: its address, its
    /// partner's links, or all visits together had sent as many clicks as the limit allows. A
    /// flood of visits is not a flood of click calls.
    RateLimited,
    /// The same address visited the same partner's link moments ago, and that visit got no
    /// click id: this one, the same click, gets none either, and makes no call. (A repeat of a
    /// click that got an id, or whose call still runs, is a [`Decision::Capture`] answered with
    /// that id, without a call.)
    Repeated,
    /// The API refused this partner code moments ago (an unknown or inactive link): no click
    /// call until that is forgotten (10 minutes).
    RefusedPartner,
    /// The request's [held click](HeldClick) is malformed, or was not signed with this app's
    /// key.
    HeldClickInvalid,
    /// The request's [held click](HeldClick) is older than [`HeldClick::LIFETIME`].
    HeldClickExpired,
    /// The request's [held click](HeldClick) was recorded already.
    HeldClickSpent,
    /// The request that carries a [held click](HeldClick) comes from another site
    /// (`Sec-Fetch-Site`).
    CrossSite,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoPartnerLink => "the query has no `aff` parameter",
            Self::InvalidPartnerCode => {
                "the `aff` value is not 1 to 64 of A-Z a-z 0-9 _ - (the link is malformed)"
            }
            Self::NotGet => "only a GET is a click (never a HEAD)",
            Self::Prefetch => "a prefetch is not a visit",
            Self::NotNavigation => "Sec-Fetch-Mode says this is not a page navigation",
            Self::Bot => "the user agent is a bot, a link preview, or missing",
            Self::SamePartner => "the visitor already has a click id from this partner",
            Self::NoConsent => "the consent predicate said no",
            Self::NoHost => "the Host header is missing or malformed",
            Self::RateLimited => {
                "the click limit held this visit back (its address's, its partner's or the total \
                 bound)"
            }
            Self::Repeated => {
                "this address visited this partner's link moments ago, and that visit got no \
                 click id"
            }
            Self::RefusedPartner => {
                "the API refused this partner code moments ago (an unknown or inactive link)"
            }
            Self::HeldClickInvalid => {
                "the held click is malformed or was not signed with this app's key (check that \
                 every server has the same HeldClickKey)"
            }
            Self::HeldClickExpired => "the held click is older than 30 minutes",
            Self::HeldClickSpent => "the held click was recorded already",
            Self::CrossSite => "the held click was sent from another site (Sec-Fetch-Site)",
        })
    }
}
