//! The Benchline jig wire protocol, shared by the jig firmware (`no_std`) and the `benchctl` host.
//!
//! A frame on the serial line is `COBS(postcard(Packet) ++ CRC-32/ISO-HDLC little-endian) ++ 0x00`.
//! Every packet carries a 16-bit sequence number: the host numbers its requests, the jig answers
//! with the same number (answers may come back in any order), and numbers its unsolicited events
//! with a counter of its own. See `README.md` beside this crate for the byte-by-byte layout and a
//! worked example.
//!
//! The crate has these parts:
//! - [`message`]: the requests, replies, events and typed errors;
//! - [`procedure`]: the table of procedures a plan can name (name, channel, parameters,
//!   measurements, request, how a reply becomes measurements), not part of the wire format;
//! - [`pin`]: the names of the port's pins and the phone's [`Connector`];
//! - [`frame`]: encoding and decoding of one frame, with the CRC and the size bound;
//! - [`schema`]: the schema hash that both sides exchange in the handshake;
//! - [`range`]: the parameter ranges the jig accepts;
//! - [`duration`]: how long each procedure takes on the jig, and when it reports progress.
//!
//! Invariant: the jig measures and the controller judges. Replies carry measurements in SI units
//! (volts, amperes, ohms, kelvin; capacities in mAh as the gauge reports them), never verdicts.
#![no_std]

pub mod duration;
pub mod frame;
pub mod message;
pub mod pin;
pub mod procedure;
pub mod range;
pub mod schema;

pub use frame::{
    decode_frame, encode_frame, frame_seq, FrameAccumulator, FrameError, MAX_ENCODED_FRAME,
    MAX_FRAME_PAYLOAD,
};
pub use message::*;
pub use pin::Connector;
pub use procedure::{Measure, Param, Procedure, Reading, Value};
pub use schema::schema_hash;

/// Version of this protocol. A jig whose `Hello` reports another version is refused by the host.
pub const PROTOCOL_VERSION: u16 = 5;
