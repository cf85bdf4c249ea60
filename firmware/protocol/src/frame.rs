//! One frame: `COBS(postcard(Packet<T>) ++ crc32_le) ++ 0x00`.
//!
//! Decoding rejects, with a typed [`FrameError`] and never a panic: frames longer than the bound,
//! invalid COBS, a CRC mismatch, a payload that postcard cannot decode, and trailing bytes after
//! the packet.

use crc::{Crc, CRC_32_ISO_HDLC};
use serde::{de::DeserializeOwned, Serialize};

use crate::message::Packet;

/// Largest payload (postcard bytes plus the 4 CRC bytes) before COBS encoding.
pub const MAX_FRAME_PAYLOAD: usize = 256;
/// Largest frame on the wire, COBS overhead and the 0x00 delimiter included.
pub const MAX_ENCODED_FRAME: usize = cobs::max_encoding_length(MAX_FRAME_PAYLOAD) + 1;

const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// Why a frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The packet does not fit in [`MAX_FRAME_PAYLOAD`] bytes, or the output buffer is too small.
    TooLong,
    /// The bytes between two delimiters are not valid COBS.
    Cobs,
    /// The frame is shorter than a CRC.
    TooShort,
    /// The CRC over the payload does not match: the frame was corrupted on the line.
    Crc,
    /// The CRC matched but the payload is not a packet of the expected type.
    Payload,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::TooLong => "frame longer than the protocol allows",
            FrameError::Cobs => "invalid COBS encoding",
            FrameError::TooShort => "frame shorter than its CRC",
            FrameError::Crc => "CRC mismatch (frame corrupted on the line)",
            FrameError::Payload => "payload is not a valid packet",
        })
    }
}

impl core::error::Error for FrameError {}

/// Encodes `packet` into `out` as a complete frame, delimiter included; returns the frame length.
pub fn encode_frame<T: Serialize>(packet: &Packet<T>, out: &mut [u8]) -> Result<usize, FrameError> {
    let mut payload = [0u8; MAX_FRAME_PAYLOAD];
    let body_len = postcard::to_slice(packet, &mut payload[..MAX_FRAME_PAYLOAD - 4])
        .map_err(|_| FrameError::TooLong)?
        .len();
    let crc = CRC.checksum(&payload[..body_len]);
    payload[body_len..body_len + 4].copy_from_slice(&crc.to_le_bytes());
    let payload_len = body_len + 4;
    if out.len() < cobs::max_encoding_length(payload_len) + 1 {
        return Err(FrameError::TooLong);
    }
    let n = cobs::encode(&payload[..payload_len], out);
    out[n] = 0x00;
    Ok(n + 1)
}

/// Decodes one frame. `frame` holds the COBS bytes between two delimiters (a trailing 0x00 is
/// accepted and ignored).
pub fn decode_frame<T: DeserializeOwned>(frame: &[u8]) -> Result<Packet<T>, FrameError> {
    let frame = match frame.split_last() {
        Some((0, rest)) => rest,
        _ => frame,
    };
    // The delimiter is already stripped; MAX_ENCODED_FRAME counts it.
    if frame.len() > MAX_ENCODED_FRAME - 1 {
        return Err(FrameError::TooLong);
    }
    if frame.contains(&0) {
        return Err(FrameError::Cobs);
    }
    let mut payload = [0u8; MAX_ENCODED_FRAME];
    let len = cobs::decode(frame, &mut payload)
        .map_err(|_| FrameError::Cobs)?
        .frame_size();
    if len < 5 {
        return Err(FrameError::TooShort);
    }
    if len > MAX_FRAME_PAYLOAD {
        return Err(FrameError::TooLong);
    }
    let (body, crc) = payload[..len].split_at(len - 4);
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(crc);
    if CRC.checksum(body) != u32::from_le_bytes(crc_bytes) {
        return Err(FrameError::Crc);
    }
    match postcard::take_from_bytes::<Packet<T>>(body) {
        Ok((packet, [])) => Ok(packet),
        _ => Err(FrameError::Payload),
    }
}

/// Computes the CRC the protocol uses, for documentation examples and third-party checks.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

/// The sequence number of a frame whose CRC matches but whose message does not decode (a
/// request from a newer host, say), so that the receiver can still answer it; `None` when the
/// frame is not intact.
pub fn frame_seq(frame: &[u8]) -> Option<u16> {
    let frame = match frame.split_last() {
        Some((0, rest)) => rest,
        _ => frame,
    };
    if frame.len() > MAX_ENCODED_FRAME - 1 || frame.contains(&0) {
        return None;
    }
    let mut payload = [0u8; MAX_ENCODED_FRAME];
    let len = cobs::decode(frame, &mut payload).ok()?.frame_size();
    if !(5..=MAX_FRAME_PAYLOAD).contains(&len) {
        return None;
    }
    let (body, crc) = payload[..len].split_at(len - 4);
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(crc);
    if CRC.checksum(body) != u32::from_le_bytes(crc_bytes) {
        return None;
    }
    postcard::take_from_bytes::<u16>(body)
        .ok()
        .map(|(seq, _)| seq)
}

/// Splits a byte stream into frames at the `0x00` delimiter, in a fixed buffer: the one
/// receiving path of the host, the jig and the simulator.
///
/// Bytes past [`MAX_ENCODED_FRAME`] without a delimiter are discarded up to the next `0x00`, and
/// that frame is reported as [`FrameError::TooLong`]; empty frames (two delimiters in a row) are
/// skipped.
#[derive(Debug, Clone)]
pub struct FrameAccumulator {
    buf: [u8; MAX_ENCODED_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for FrameAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAccumulator {
    /// An empty accumulator.
    pub const fn new() -> Self {
        FrameAccumulator {
            buf: [0; MAX_ENCODED_FRAME],
            len: 0,
            overflow: false,
        }
    }

    /// Forgets a half-received frame (after a reconnect, say).
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Takes one byte; at a delimiter that ends a non-empty frame, returns the frame's bytes
    /// (without the delimiter), or [`FrameError::TooLong`] if it overflowed.
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], FrameError>> {
        if byte != 0 {
            if self.len < self.buf.len() - 1 {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflow = true;
            }
            return None;
        }
        let len = core::mem::replace(&mut self.len, 0);
        if core::mem::replace(&mut self.overflow, false) {
            return Some(Err(FrameError::TooLong));
        }
        if len == 0 {
            return None;
        }
        Some(Ok(&self.buf[..len]))
    }

    /// Takes one byte and decodes the frame it completes, if any.
    pub fn feed<T: DeserializeOwned>(&mut self, byte: u8) -> Option<Result<Packet<T>, FrameError>> {
        self.push(byte).map(|f| f.and_then(decode_frame))
    }
}
