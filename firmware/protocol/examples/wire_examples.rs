//! Prints the worked examples of `README.md`, stage by stage: postcard bytes, CRC, COBS, frame.
//!
//! `cargo run -p benchline-protocol --example wire_examples`. The bytes printed here are pinned
//! by `tests/readme_examples.rs`, so the README cannot drift from the code.

use benchline_protocol::{
    frame::crc32, schema_hash, Event, JigMsg, Packet, Reply, Request, MAX_ENCODED_FRAME,
    MAX_FRAME_PAYLOAD, PROTOCOL_VERSION,
};
use serde::Serialize;

#[path = "../tests/common/worked.rs"]
mod worked;
use worked::{dcir_progress, hello_reply, hex, port_progress, released_status, stages};

fn show<T: Serialize + core::fmt::Debug>(title: &str, packet: &Packet<T>) -> Result<(), String> {
    let s = stages(packet).map_err(|e| e.to_string())?;
    let payload = [s.postcard.as_slice(), &s.crc.to_le_bytes()].concat();
    println!("{title}: {packet:?}");
    println!("postcard  {}", hex(&s.postcard));
    println!(
        "crc32     0x{:08X} -> little-endian {}",
        s.crc,
        hex(&s.crc.to_le_bytes())
    );
    println!("payload   {}", hex(&payload));
    println!("cobs      {}", hex(&s.cobs));
    println!("frame     {}", hex(&s.frame));
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
    show("hello reply", &hello_reply()?)?;
    show(
        "booted event",
        &Packet {
            seq: 0,
            msg: JigMsg::Event(Event::Booted {
                boot_id: 0x1234_5678,
            }),
        },
    )?;
    show(
        "resend request",
        &Packet {
            seq: 8,
            msg: Request::Resend { seq: 7 },
        },
    )?;
    show(
        "pending reply",
        &Packet {
            seq: 8,
            msg: JigMsg::Reply(Reply::Pending { remaining_ms: 8050 }),
        },
    )?;
    show("released slot status", &released_status())?;
    show("dcir progress with a sample", &dcir_progress())?;
    show("port progress without a sample", &port_progress())?;
    Ok(())
}
