#![no_main]
//! `health_core::fuzzing::roll_up` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| health_core::fuzzing::roll_up(data));
