//! `parse::cookies` never panics, and every pair it yields has a name without `=` or `;`.
#![no_main]

use affitor_tower::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (name, value) in parse::cookies(data) {
        assert!(!name.is_empty());
        assert!(!name.contains(&b'=') && !name.contains(&b';'));
        assert!(!value.contains(&b';'));
    }
});
