#![no_main]
//! libFuzzer entry of `cinder_fuzz::block`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cinder_fuzz::block(data));
