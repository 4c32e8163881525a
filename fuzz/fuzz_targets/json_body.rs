//! JSON request bodies: arbitrary bytes through the server's body parser into every
//! write DTO, then the core parsers of the fields they carry.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastvue_fuzz::json_body(data));
