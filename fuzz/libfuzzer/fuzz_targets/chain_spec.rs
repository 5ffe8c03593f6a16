#![no_main]
//! libFuzzer entry of `cinder_fuzz::chain_spec`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cinder_fuzz::chain_spec(data));
