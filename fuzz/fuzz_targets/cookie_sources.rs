//! The lookup finds the cookie a source names as filtering `parse::cookies` by that name does:
//! the first value that is a valid click id, and every invalid one before it, rejected.
#![no_main]

use affitor_tower::{ClickId, ClickIdSource, ClickIdSources, HeaderLookup, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: the cookie name, then 0xff, then the `Cookie` header.
    let Some(split) = data.iter().position(|&byte| byte == 0xff) else {
        return;
    };
    let (Ok(name), header) = (std::str::from_utf8(&data[..split]), &data[split + 1..]) else {
        return;
    };

    let values = parse::cookies(header).filter(|(found, _)| *found == name.as_bytes());
    let mut rejected = 0;
    let mut expected = None;
    for (_, value) in values {
        match ClickId::from_bytes(value) {
            Ok(click_id) => {
                expected = Some(click_id);
                break;
            }
            Err(_) => rejected += 1,
        }
    }

    let sources = ClickIdSources::new([ClickIdSource::cookie(name.to_owned())]);
    let step = sources.lookup_headers("GET", |wanted| (wanted == "cookie").then_some(header));
    let HeaderLookup::Done(lookup) = step else {
        panic!("a GET has no body to read");
    };
    assert_eq!(lookup.click_id(), expected.as_ref());
    // Up to eight rejected values are recorded one by one.
    assert_eq!(lookup.rejected().len(), rejected.min(8));
});
