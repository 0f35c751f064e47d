#![no_main]
//! `health_core::fuzzing::score_rows` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| health_core::fuzzing::score_rows(data));
