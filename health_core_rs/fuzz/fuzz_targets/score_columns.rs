#![no_main]
//! `health_core::fuzzing::score_columns` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| health_core::fuzzing::score_columns(data));
