//! Any bytes: parsing must return (no panic, no hang), and a valid result must be consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = stratus_sdl::parse(data);
    assert_eq!(parsed.is_valid(), parsed.errors().next().is_none());
    for d in &parsed.diagnostics {
        assert!(d.pos.line >= 1 && d.pos.column >= 1);
    }
    if let Some(sdl) = parsed.sdl {
        assert_eq!(sdl.groups.len(), sdl.manifest.len());
    }
});
