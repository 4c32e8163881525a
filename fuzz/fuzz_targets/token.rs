//! Token parsing: arbitrary bytes as a bearer token, and arbitrary headers and claims
//! signed with the real key, through `JwtCodec::verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastvue_fuzz::token(data));
