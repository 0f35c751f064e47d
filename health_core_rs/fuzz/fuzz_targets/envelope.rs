#![no_main]
//! `health_core::fuzzing::envelope` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| health_core::fuzzing::envelope(data));
