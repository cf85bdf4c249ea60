//! The second channel of a firmware image that simulates its phones (the QEMU board): the test
//! seats and removes simulated phones through it, never through the jig's own link. A test
//! channel, not the product's wire protocol: no sequence numbers, no CRC, no versioning (the
//! test and the image are built from the same tree).
//!
//! # Wire format, byte for byte
//!
//! Each message is one frame: `COBS(postcard(message)) ++ 0x00`, in both directions
//! ([`encode`], [`decode`], [`ControlReader`]). A frame holds at most [`MAX_CONTROL_FRAME`] bytes
//! before its delimiter. Postcard writes an enum as its variant index (varint), then the
//! variant's fields in declaration order: `u8` as one byte, `u32`/`u16` as varints (7 bits a
//! byte, least significant first, high bit set on every byte but the last), `f64` as 8 bytes
//! little-endian, `bool` and `Option` tag as 0/1, `String`/`Vec`/`BTreeMap` as a varint length
//! then the items (UTF-8 bytes for a string), arrays and structs as their items with no length.
//!
//! Host to image, [`Command`]: `00 slot <Phone>` seat a phone (every field of
//! [`Phone`] in declaration order), `01 slot` remove it, `02` report.
//! Image to host, [`Notice`]: `00 slots` ready (sent once at boot, before the jig runs),
//! `01 slot` released (the jig released the clamp: testing is over), `02 slot` seated,
//! `03 slot` removed, `04 ping_worst_us pings bad_frames` report (three varints), `05 why`
//! refused, with `why` a [`Refusal`]: `00 slot` no such slot, `01 slot` occupied, `02 slot`
//! empty, `03` bad frame.
//!
//! Example: `Command::Remove { slot: 2 }` is postcard `01 02`, on the wire `03 01 02 00`;
//! `Notice::Ready { slots: 4 }` is postcard `00 04`, on the wire `01 02 04 00`.

use alloc::boxed::Box;
use alloc::vec::Vec;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::phone::Phone;

/// Largest frame on the control channel, delimiter excluded, bytes.
pub const MAX_CONTROL_FRAME: usize = 2048;

/// What the test asks of the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Seat `phone` in `slot` (the presence switch closes).
    Seat {
        /// Slot, from 0.
        slot: u8,
        /// The phone's physical model (boxed: the other messages are a few bytes).
        phone: Box<Phone>,
    },
    /// Take the phone out of `slot`.
    Remove {
        /// Slot, from 0.
        slot: u8,
    },
    /// Report the link statistics ([`Notice::Report`]).
    Report,
}

/// What the image tells the test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// The image booted with `slots` slots and takes commands.
    Ready {
        /// Slots of the jig.
        slots: u8,
    },
    /// The jig released the clamp of `slot`: testing is over, the phone may be taken out.
    Released {
        /// Slot, from 0.
        slot: u8,
    },
    /// A phone was seated, as asked.
    Seated {
        /// Slot, from 0.
        slot: u8,
    },
    /// A phone was removed, as asked.
    Removed {
        /// Slot, from 0.
        slot: u8,
    },
    /// Link statistics since boot.
    Report {
        /// Longest time a ping waited for its answer, jig us.
        ping_worst_us: u32,
        /// Pings answered.
        pings: u32,
        /// Frames of the jig's link that did not decode.
        bad_frames: u32,
    },
    /// A command was not carried out.
    Refused {
        /// Why.
        why: Refusal,
    },
}

/// Why a [`Command`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The jig has no slot `slot`.
    NoSuchSlot {
        /// The slot asked for.
        slot: u8,
    },
    /// A phone is already seated in `slot`: remove it first.
    Occupied {
        /// The slot asked for.
        slot: u8,
    },
    /// No phone is seated in `slot`.
    Empty {
        /// The slot asked for.
        slot: u8,
    },
    /// A frame that did not decode as a command (or was longer than [`MAX_CONTROL_FRAME`]).
    BadFrame,
}

/// Why a control frame could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlError {
    /// The message does not fit the buffer, or the frame is longer than [`MAX_CONTROL_FRAME`].
    TooLong,
    /// The bytes are not valid COBS, or not a message of the expected type.
    Malformed,
}

impl core::fmt::Display for ControlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ControlError::TooLong => "control frame too long for its buffer",
            ControlError::Malformed => "control frame is not valid COBS or not a known message",
        })
    }
}

impl core::error::Error for ControlError {}

/// Encodes `message` as one frame into `buf`, delimiter included; returns the frame.
pub fn encode<'a, T: Serialize>(
    message: &T,
    buf: &'a mut [u8],
) -> Result<&'a mut [u8], ControlError> {
    let frame = postcard::to_slice_cobs(message, buf).map_err(|_| ControlError::TooLong)?;
    if frame.len() > MAX_CONTROL_FRAME + 1 {
        return Err(ControlError::TooLong);
    }
    Ok(frame)
}

/// Encodes `message` as one frame, delimiter included.
pub fn encode_vec<T: Serialize>(message: &T) -> Result<Vec<u8>, ControlError> {
    let frame = postcard::to_allocvec_cobs(message).map_err(|_| ControlError::TooLong)?;
    if frame.len() > MAX_CONTROL_FRAME + 1 {
        return Err(ControlError::TooLong);
    }
    Ok(frame)
}

/// Decodes one frame: the COBS bytes between two delimiters (a trailing 0x00 is accepted).
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, ControlError> {
    let frame = match frame.split_last() {
        Some((0, rest)) => rest,
        _ => frame,
    };
    if frame.len() > MAX_CONTROL_FRAME {
        return Err(ControlError::TooLong);
    }
    if frame.is_empty() || frame.contains(&0) {
        return Err(ControlError::Malformed);
    }
    let mut bytes = Vec::with_capacity(frame.len() + 1);
    bytes.extend_from_slice(frame);
    bytes.push(0);
    postcard::from_bytes_cobs(&mut bytes).map_err(|_| ControlError::Malformed)
}

/// Splits a byte stream into control frames at the 0x00 delimiter and decodes each. Bytes past
/// [`MAX_CONTROL_FRAME`] without a delimiter are dropped up to the next one, and that frame is
/// reported as [`ControlError::TooLong`]; empty frames are skipped.
#[derive(Debug, Default)]
pub struct ControlReader {
    buf: Vec<u8>,
    overflow: bool,
}

impl ControlReader {
    /// An empty reader.
    pub const fn new() -> Self {
        ControlReader {
            buf: Vec::new(),
            overflow: false,
        }
    }

    /// Takes one byte; at a delimiter that ends a non-empty frame, the message it decodes to.
    pub fn push<T: DeserializeOwned>(&mut self, byte: u8) -> Option<Result<T, ControlError>> {
        if byte != 0 {
            if self.buf.len() < MAX_CONTROL_FRAME {
                self.buf.push(byte);
            } else {
                self.overflow = true;
            }
            return None;
        }
        let overflow = core::mem::replace(&mut self.overflow, false);
        if overflow {
            self.buf.clear();
            return Some(Err(ControlError::TooLong));
        }
        if self.buf.is_empty() {
            return None;
        }
        self.buf.push(0);
        let message = postcard::from_bytes_cobs(&mut self.buf).map_err(|_| ControlError::Malformed);
        self.buf.clear();
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn frames_are_as_documented() -> TestResult {
        assert_eq!(
            encode_vec(&Command::Remove { slot: 2 })?,
            [0x03, 0x01, 0x02, 0x00]
        );
        assert_eq!(encode_vec(&Command::Report)?, [0x02, 0x02, 0x00]);
        assert_eq!(
            encode_vec(&Notice::Ready { slots: 4 })?,
            [0x01, 0x02, 0x04, 0x00]
        );
        let refused = Notice::Refused {
            why: Refusal::Occupied { slot: 1 },
        };
        assert_eq!(postcard::to_allocvec(&refused)?, [0x05, 0x01, 0x01]);
        let report = Notice::Report {
            ping_worst_us: 300,
            pings: 1,
            bad_frames: 0,
        };
        assert_eq!(
            postcard::to_allocvec(&report)?,
            [0x04, 0xAC, 0x02, 0x01, 0x00]
        );
        Ok(())
    }

    #[test]
    fn commands_and_notices_round_trip_through_the_reader() -> TestResult {
        let mut phone = crate::phone::tests::sample();
        phone.answers.insert("pixels".into(), "pass".into());
        let commands = [
            Command::Seat {
                slot: 3,
                phone: Box::new(phone),
            },
            Command::Remove { slot: 0 },
            Command::Report,
        ];
        let mut stream = Vec::new();
        for c in &commands {
            stream.extend(encode_vec(c)?);
        }
        let mut reader = ControlReader::new();
        let got: Vec<Command> = stream
            .iter()
            .filter_map(|&b| reader.push::<Command>(b))
            .collect::<Result<_, _>>()?;
        assert_eq!(got, commands);

        let notices = [
            Notice::Ready { slots: 4 },
            Notice::Released { slot: 1 },
            Notice::Seated { slot: 1 },
            Notice::Removed { slot: 1 },
            Notice::Report {
                ping_worst_us: 9_999,
                pings: 70_000,
                bad_frames: 2,
            },
            Notice::Refused {
                why: Refusal::NoSuchSlot { slot: 9 },
            },
            Notice::Refused {
                why: Refusal::BadFrame,
            },
        ];
        for n in &notices {
            let mut buf = [0u8; 32];
            let frame = encode(n, &mut buf)?;
            assert_eq!(decode::<Notice>(frame)?, *n);
        }
        Ok(())
    }

    #[test]
    fn bad_frames_are_reported_and_the_reader_recovers() -> TestResult {
        let mut reader = ControlReader::new();
        // Not COBS of a command: a variant index out of range.
        let bad: Vec<_> = [0x02, 0x09, 0x00]
            .iter()
            .filter_map(|&b| reader.push::<Command>(b))
            .collect();
        assert_eq!(bad, [Err(ControlError::Malformed)]);
        // Too long: dropped up to its delimiter.
        let mut long = std::vec![0x01; MAX_CONTROL_FRAME + 10];
        long.push(0);
        let got: Vec<_> = long
            .iter()
            .filter_map(|&b| reader.push::<Command>(b))
            .collect();
        assert_eq!(got, [Err(ControlError::TooLong)]);
        // Empty frames are skipped; the next good frame decodes.
        let mut next = std::vec![0x00, 0x00];
        next.extend(encode_vec(&Command::Report)?);
        let got: Vec<_> = next
            .iter()
            .filter_map(|&b| reader.push::<Command>(b))
            .collect();
        assert_eq!(got, [Ok(Command::Report)]);
        assert_eq!(decode::<Command>(&[]), Err(ControlError::Malformed));
        let mut small = [0u8; 4];
        assert_eq!(
            encode(
                &Notice::Report {
                    ping_worst_us: u32::MAX,
                    pings: 0,
                    bad_frames: 0
                },
                &mut small
            )
            .err(),
            Some(ControlError::TooLong)
        );
        Ok(())
    }
}
