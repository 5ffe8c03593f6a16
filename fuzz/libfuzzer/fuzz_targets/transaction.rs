#![no_main]
//! libFuzzer entry of `cinder_fuzz::transaction`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cinder_fuzz::transaction(data));
