#![no_main]
//! `health_core::fuzzing::compile_ruleset` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| health_core::fuzzing::compile_ruleset(data));
