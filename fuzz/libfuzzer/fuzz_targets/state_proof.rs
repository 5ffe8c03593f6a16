#![no_main]
//! libFuzzer entry of `cinder_fuzz::state_proof`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| cinder_fuzz::state_proof(data));
