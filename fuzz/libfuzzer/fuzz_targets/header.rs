#![no_main]
//! libFuzzer entry of `cinder_fuzz::header`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cinder_fuzz::header(data));
