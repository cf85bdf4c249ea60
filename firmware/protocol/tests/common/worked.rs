//! The README's worked examples, computed stage by stage: shared by `tests/readme_examples.rs`
//! (which pins the bytes) and `examples/wire_examples.rs` (which prints them).

use benchline_protocol::{
    encode_frame, frame::crc32, schema_hash, Channel, Event, Hello, Instrument, JigKind, JigMsg,
    Packet, PhoneState, Reply, Sample, SlotStatus, MAX_ENCODED_FRAME, PROTOCOL_VERSION,
};
use serde::Serialize;

/// Bytes as upper-case hex pairs separated by spaces, as the README writes them.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One packet on its way to the wire.
pub struct Stages {
    /// postcard encoding of the packet.
    pub postcard: Vec<u8>,
    /// CRC-32 of the postcard bytes.
    pub crc: u32,
    /// COBS encoding of the payload.
    pub cobs: Vec<u8>,
    /// What `encode_frame` writes: the COBS bytes and the 0x00 delimiter.
    pub frame: Vec<u8>,
}

/// Computes every stage of `packet`, the frame through the real encoder.
pub fn stages<T: Serialize>(packet: &Packet<T>) -> Result<Stages, Box<dyn std::error::Error>> {
    let postcard = postcard::to_allocvec(packet)?;
    let crc = crc32(&postcard);
    let mut payload = postcard.clone();
    payload.extend_from_slice(&crc.to_le_bytes());
    let mut cobs = vec![0u8; cobs::max_encoding_length(payload.len())];
    let n = cobs::encode(&payload, &mut cobs);
    cobs.truncate(n);
    let mut frame = [0u8; MAX_ENCODED_FRAME];
    let n = encode_frame(packet, &mut frame)?;
    Ok(Stages {
        postcard,
        crc,
        cobs,
        frame: frame[..n].to_vec(),
    })
}

/// Example (c)'s reply: the handshake of a 4-slot combo jig.
pub fn hello_reply() -> Result<Packet<JigMsg>, &'static str> {
    let mut firmware_version = heapless::String::new();
    firmware_version.push_str("0.1.0").map_err(|()| "text")?;
    let mut jig_serial = heapless::String::new();
    jig_serial.push_str("BL-0001").map_err(|()| "text")?;
    let mut instruments = heapless::Vec::new();
    instruments
        .extend_from_slice(&[Instrument::SlotMux, Instrument::Gauge])
        .map_err(|()| "instruments")?;
    Ok(Packet {
        seq: 0,
        msg: JigMsg::Reply(Reply::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            schema_hash: schema_hash(),
            firmware_version,
            jig_kind: JigKind::Combo,
            jig_serial,
            slots: 4,
            instruments,
            boot_id: 0x1234_5678,
            simulated: false,
        })),
    })
}

/// Example (d)'s status: slot 1's phone released and still in the slot, no channel busy.
pub fn released_status() -> Packet<JigMsg> {
    Packet {
        seq: 9,
        msg: JigMsg::Reply(Reply::Slot(SlotStatus {
            phone: PhoneState::Released,
            busy: heapless::Vec::new(),
        })),
    }
}

/// Example (e)'s first event: a sample of the high step of a 10 s / 1 s DCIR on slot 0, 250 ms
/// into the step, sent after the 90 % mark.
pub fn dcir_progress() -> Packet<JigMsg> {
    Packet {
        seq: 12,
        msg: JigMsg::Event(Event::Progress {
            slot: 0,
            channel: Channel::Battery,
            percent: 90,
            sample: Some(Sample {
                t_ms: 10_250,
                voltage_v: 3.75,
                current_a: 4.0,
            }),
        }),
    }
}

/// Example (e)'s second event: the 40 % mark of a port procedure on slot 1, with no sample.
pub fn port_progress() -> Packet<JigMsg> {
    Packet {
        seq: 13,
        msg: JigMsg::Event(Event::Progress {
            slot: 1,
            channel: Channel::Port,
            percent: 40,
            sample: None,
        }),
    }
}
