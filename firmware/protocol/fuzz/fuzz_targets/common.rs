//! The check shared by the fuzz targets.

use benchline_protocol::{decode_frame, encode_frame, JigMsg, Packet, Request, MAX_ENCODED_FRAME};
use serde::{de::DeserializeOwned, Serialize};

/// Decodes `frame` as a `Packet<T>`. The decoder must never panic. Whatever it accepts must
/// re-encode (the canonical encoding is never longer than an accepted one), and the re-encoded
/// frame must decode to a packet that encodes to the very same bytes: a fixed point, checked on
/// bytes so that NaN payloads count too.
fn round_trip<T: Serialize + DeserializeOwned + core::fmt::Debug>(frame: &[u8]) {
    let Ok(packet) = decode_frame::<T>(frame) else {
        return;
    };
    let mut first = [0u8; MAX_ENCODED_FRAME];
    let n = match encode_frame(&packet, &mut first) {
        Ok(n) => n,
        Err(e) => panic!("accepted packet does not re-encode ({e}): {packet:?}"),
    };
    let again: Packet<T> = match decode_frame(&first[..n]) {
        Ok(p) => p,
        Err(e) => panic!("re-encoded frame does not decode ({e}): {packet:?}"),
    };
    let mut second = [0u8; MAX_ENCODED_FRAME];
    let m = match encode_frame(&again, &mut second) {
        Ok(m) => m,
        Err(e) => panic!("second encoding failed ({e}): {again:?}"),
    };
    assert_eq!(
        &first[..n],
        &second[..m],
        "round trip changed the packet: {packet:?} -> {again:?}"
    );
}

/// Runs the check for both directions of the protocol.
pub fn check_frame(frame: &[u8]) {
    round_trip::<Request>(frame);
    round_trip::<JigMsg>(frame);
}
