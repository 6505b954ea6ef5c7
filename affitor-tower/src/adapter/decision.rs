//! What capture made of a request: a click to record, or why not.

use std::fmt;

use super::PartnerClick;

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
    /// The consent predicate said no.
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
        })
    }
}
