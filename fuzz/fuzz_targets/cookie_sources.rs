//! The lookup finds the cookie a source names as filtering `parse::cookies` by that name does,
//! over one or several `Cookie` headers: the first value that is a valid click id, and the
//! invalid ones before it, rejected for the same reasons in the same order.
#![no_main]

use affitor_tower::{ClickId, ClickIdSource, ClickIdSources, HeaderLookup, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: the cookie name, then the `Cookie` headers, each after a 0xff.
    let mut parts = data.split(|&byte| byte == 0xff);
    let Some(Ok(name)) = parts.next().map(std::str::from_utf8) else {
        return;
    };
    let headers: Vec<&[u8]> = parts.collect();

    let mut reasons = Vec::new();
    let mut expected = None;
    let values = headers
        .iter()
        .flat_map(|header| parse::cookies(header))
        .filter(|(found, _)| *found == name.as_bytes());
    for (_, value) in values {
        match ClickId::from_bytes(value) {
            Ok(click_id) => {
                expected = Some(click_id);
                break;
            }
            Err(reason) => reasons.push(reason),
        }
    }

    let sources = ClickIdSources::new([ClickIdSource::cookie(name.to_owned())]);
    let step = sources.lookup_headers("GET", |wanted| {
        if wanted == "cookie" {
            headers.clone()
        } else {
            Vec::new()
        }
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
