//! `parse::header_value` trims, never panics, and what it returns is a part of its input.
#![no_main]

use affitor_tower::{ClickId, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = parse::header_value(data);
    assert!(value.len() <= data.len());
    assert!(!value.starts_with(b" ") && !value.ends_with(b"\t"));
    if let Ok(click_id) = ClickId::from_bytes(value) {
        assert_eq!(click_id.as_str().as_bytes(), value);
    }
});
