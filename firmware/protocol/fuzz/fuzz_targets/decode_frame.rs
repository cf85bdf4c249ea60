//! Feeds arbitrary bytes to `decode_frame::<Request>` and `decode_frame::<JigMsg>`: no panic, and
//! whatever decodes survives a re-encode / decode round trip (see `common.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| common::check_frame(data));
