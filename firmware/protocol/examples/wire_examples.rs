//! Prints the worked examples of `README.md`, stage by stage: postcard bytes, CRC, COBS, frame.
//!
//! `cargo run -p benchline-protocol --example wire_examples`. The bytes printed here are pinned
//! by `tests/readme_examples.rs`, so the README cannot drift from the code.

use benchline_protocol::{
    encode_frame, frame::crc32, schema_hash, Event, Hello, Instrument, JigKind, JigMsg, Packet,
    Reply, Request, MAX_ENCODED_FRAME, MAX_FRAME_PAYLOAD, PROTOCOL_VERSION,
};
use serde::Serialize;

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show<T: Serialize + core::fmt::Debug>(title: &str, packet: &Packet<T>) -> Result<(), String> {
    let body = postcard::to_allocvec(packet).map_err(|e| e.to_string())?;
    let crc = crc32(&body);
    let mut payload = body.clone();
    payload.extend_from_slice(&crc.to_le_bytes());
    let mut cobs = vec![0u8; cobs::max_encoding_length(payload.len())];
    let cobs_len = cobs::encode(&payload, &mut cobs);
    cobs.truncate(cobs_len);
    let mut frame = [0u8; MAX_ENCODED_FRAME];
    let n = encode_frame(packet, &mut frame).map_err(|e| e.to_string())?;
    println!("{title}: {packet:?}");
    println!("  postcard     {}", hex(&body));
    println!(
        "  crc32        0x{crc:08X} -> LE {}",
        hex(&crc.to_le_bytes())
    );
    println!("  payload      {}", hex(&payload));
    println!("  cobs         {}", hex(&cobs));
    println!("  frame        {}", hex(&frame[..n]));
    println!();
    Ok(())
}

fn main() -> Result<(), String> {
    println!("PROTOCOL_VERSION  = {PROTOCOL_VERSION}");
    println!("schema_hash()     = 0x{:016X}", schema_hash());
    println!("MAX_FRAME_PAYLOAD = {MAX_FRAME_PAYLOAD}");
    println!("MAX_ENCODED_FRAME = {MAX_ENCODED_FRAME}");
    println!("crc32(\"123456789\") = 0x{:08X}", crc32(b"123456789"));
    println!();
    show(
        "request",
        &Packet {
            seq: 7,
            msg: Request::BatteryGauge { slot: 0 },
        },
    )?;
    show(
        "reply",
        &Packet {
            seq: 7,
            msg: JigMsg::Reply(Reply::Pong { nonce: 0xDEAD_BEEF }),
        },
    )?;
    show(
        "hello request",
        &Packet {
            seq: 0,
            msg: Request::Hello,
        },
    )?;
    let mut firmware_version = heapless::String::new();
    firmware_version.push_str("0.1.0").map_err(|()| "text")?;
    let mut jig_serial = heapless::String::new();
    jig_serial.push_str("BL-0001").map_err(|()| "text")?;
    let mut instruments = heapless::Vec::new();
    instruments
        .extend_from_slice(&[Instrument::SlotMux, Instrument::Gauge])
        .map_err(|()| "instruments")?;
    show(
        "hello reply",
        &Packet {
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
            })),
        },
    )?;
    show(
        "booted event",
        &Packet {
            seq: 0,
            msg: JigMsg::Event(Event::Booted {
                boot_id: 0x1234_5678,
            }),
        },
    )?;
    Ok(())
}
