//! The whole two-step lookup over fuzzed headers and body never panics, and a click id it finds
//! is always valid.
#![no_main]

use affitor_tower::adapter::{self, HeaderLookup};
use affitor_tower::{ClickId, lookup::ClickIdSearch};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 5] = [
    "x-affitor-click-id",
    "cookie",
    "content-type",
    "content-length",
    "x-other",
];

fuzz_target!(|data: &[u8]| {
    // Layout: a method byte, a limit byte, then up to five headers, each a name byte and a
    // value ended by 0xff; the rest is the body.
    let [method, limit, rest @ ..] = data else {
        return;
    };
    let method = ["GET", "POST", "PUT", "PATCH"][usize::from(method % 4)];
    let mut headers = Vec::new();
    let mut rest = rest;
    while headers.len() < 5 {
        let Some((&name, tail)) = rest.split_first() else {
            break;
        };
        let end = tail.iter().position(|&byte| byte == 0xff).unwrap_or(tail.len());
        headers.push((NAMES[usize::from(name) % NAMES.len()], &tail[..end]));
        rest = tail.get(end + 1..).unwrap_or_default();
    }
    let body = rest;

    let sources = ClickIdSearch::default().body_limit(usize::from(*limit) * 8);
    let step = adapter::lookup_headers(&sources, method, |header| {
        headers
            .iter()
            .filter(|(key, _)| *key == header.name())
            .map(|(_, value)| *value)
            .collect::<Vec<_>>()
    });
    let lookup = match step {
        HeaderLookup::Done(lookup) => lookup,
        HeaderLookup::ReadBody(read) => read.finish(body),
    };
    if let Some(click_id) = lookup.click_id() {
        assert_eq!(ClickId::from_bytes(click_id.as_str().as_bytes()).as_ref(), Ok(click_id));
    }
});
