//! Request decoding and validation: bytes as any client could send them in a `Submit` call.
//! The logic is `minhu_gateway::fuzzing::submit_request`, which unit tests also run.

#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    minhu_gateway::fuzzing::submit_request(bytes);
});
