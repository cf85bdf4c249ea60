//! Treats the input as postcard bytes and frames it with a correct CRC and COBS before decoding,
//! so the fuzzer spends its time in the postcard decoder instead of failing the CRC check.
#![no_main]

use benchline_protocol::{frame::crc32, MAX_ENCODED_FRAME, MAX_FRAME_PAYLOAD};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let body = &data[..data.len().min(MAX_FRAME_PAYLOAD + 8)];
    let mut payload = [0u8; MAX_FRAME_PAYLOAD + 12];
    payload[..body.len()].copy_from_slice(body);
    payload[body.len()..body.len() + 4].copy_from_slice(&crc32(body).to_le_bytes());
    let payload = &payload[..body.len() + 4];
    let mut frame = [0u8; MAX_ENCODED_FRAME + 16];
    let n = cobs::encode(payload, &mut frame);
    common::check_frame(&frame[..=n]);
});
