//! `parse::form_field` never panics, and a decoded value is never longer than the body.
#![no_main]

use affitor_tower::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = ["affitor_click_id", "id", "", "a b"][usize::from(pick % 4)];
    if let Some(value) = parse::form_field(body, name) {
        assert!(value.len() <= body.len());
    }
});
