//! `parse::json_string_field` never panics, whatever the body and the field name, and the body
//! of an object it reads a field from is not longer than the value it returns could be.
#![no_main]

use affitor_tower::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the field name; the rest is the body.
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = ["affitorClickId", "affitor_click_id", "id", ""][usize::from(pick % 4)];
    if let Some(value) = parse::json_string_field(body, name) {
        // An unescaped value is never longer than its escaped form (`\uXXXX` is six bytes
        // for at most three, a surrogate pair twelve for four).
        assert!(value.len() <= body.len());
    }
});
