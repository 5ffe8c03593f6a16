#![no_main]
//! libFuzzer entry of `cinder_fuzz::consensus`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cinder_fuzz::consensus(data));
