//! The lookup finds the cookie a source names as the `cookie` crate does, over one or several
//! `Cookie` headers: the first value that is a valid click id, and the invalid ones before it,
//! rejected for the same reasons in the same order.
//!
//! The `cookie` crate is an independent reading of the header, and the two agree on the inputs
//! kept here; the rest are passed over:
//! - `cookie` reads text, the lookup bytes: headers and the name must be UTF-8.
//! - `cookie` trims any Unicode white space (`str::trim`), the lookup only spaces and tabs, the
//!   optional white space of HTTP: inputs with any other white space are passed over.
//! - Alike: both split pieces at `;` and a piece at its first `=`, skip a piece without `=` or
//!   with an empty name, drop one pair of double quotes around a value, and never
//!   percent-decode. A name the lookup can never match (empty, with `=` or `;`, or with white
//!   space at either end) is never a name `cookie` returns either.
#![no_main]

use affitor_tower::adapter::{self, HeaderLookup};
use affitor_tower::ClickId;
use affitor_tower::lookup::{ClickIdSearch, ClickIdSource};
use libfuzzer_sys::fuzz_target;

/// Whether `text` is in the inputs where `cookie` and the lookup read a header alike.
fn comparable(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_whitespace() && c != ' ' && c != '\t')
}

fuzz_target!(|data: &[u8]| {
    // Layout: the cookie name, then the `Cookie` headers, each after a 0xff.
    let mut parts = data.split(|&byte| byte == 0xff);
    let Some(Ok(name)) = parts.next().map(std::str::from_utf8) else {
        return;
    };
    let Ok(headers) = parts.map(std::str::from_utf8).collect::<Result<Vec<&str>, _>>() else {
        return;
    };
    if !comparable(name) || !headers.iter().all(|header| comparable(header)) {
        return;
    }

    let mut reasons = Vec::new();
    let mut expected = None;
    let values = headers
        .iter()
        .flat_map(|header| cookie::Cookie::split_parse(*header))
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == name);
    for cookie in values {
        match ClickId::from_bytes(cookie.value_trimmed().as_bytes()) {
            Ok(click_id) => {
                expected = Some(click_id);
                break;
            }
            Err(reason) => reasons.push(reason),
        }
    }

    let search = ClickIdSearch::new([ClickIdSource::cookie(name.to_owned())]);
    let step = adapter::lookup_headers(&search, "GET", |header| match header.name() {
        "cookie" => headers.iter().map(|header| header.as_bytes()).collect(),
        _ => Vec::new(),
    });
    let HeaderLookup::Done(lookup) = step else {
        panic!("a GET has no body to read");
    };
    assert_eq!(lookup.click_id(), expected.as_ref());
    // The first eight rejected values are recorded one by one.
    let recorded: Vec<_> = lookup
        .rejected()
        .iter()
        .map(|rejected| rejected.reason())
        .collect();
    reasons.truncate(8);
    assert_eq!(recorded, reasons);
});
