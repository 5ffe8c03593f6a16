#![no_main]
//! libFuzzer entry of `cinder_fuzz::ibc`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cinder_fuzz::ibc(data));
