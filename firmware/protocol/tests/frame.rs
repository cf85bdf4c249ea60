//! Property tests of the frame layer: every message round-trips, every corruption is rejected,
//! and no input makes the decoder panic.
//!
//! Floats are drawn from every bit pattern (NaN payloads, infinities, subnormals, -0.0), so the
//! round trip is checked by bit equality: the re-encoded postcard bytes of the decoded packet must
//! equal those of the original (postcard writes `f32::to_bits` verbatim and every other field
//! canonically, so equal bytes means bit-equal values). `PartialEq` is checked as well whenever
//! the packet holds no NaN.

use std::collections::BTreeMap;

use benchline_protocol::{
    decode_frame, encode_frame, frame::crc32, Backlight, Cc, Channel, Charge, Continuity, Dcir,
    Event, FrameError, Gauge, Hello, Identity, Instrument, JigError, JigKind, JigMsg, LogLevel,
    Packet, PhoneState, PinReading, PortPin, Reply, Request, RpLevel, Sample, SlotStatus, Text,
    TouchRow, TouchScan, MAX_ENCODED_FRAME, MAX_FRAME_PAYLOAD, MAX_INSTRUMENTS, MAX_TEXT,
    MAX_TOUCH_COLS,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::{de::DeserializeOwned, Serialize};

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Any f32: mostly arbitrary bit patterns (so every NaN payload and signalling NaNs too), plus
/// proptest's float generator for a good share of ordinary values and the special values.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(f32::from_bits),
        any::<f32>(),
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(-0.0f32),
    ]
}

/// A heapless string of any Unicode content that fits in `N` bytes (chars that would overflow
/// the capacity are skipped, so multi-byte characters are exercised up to the last byte).
fn any_string<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    prop::collection::vec(any::<char>(), 0..=N).prop_map(|chars| {
        let mut s = heapless::String::<N>::new();
        for c in chars {
            // A char that does not fit is skipped; a shorter one after it may still fit.
            let _ = s.push(c);
        }
        s
    })
}

/// A heapless string filled to capacity with ASCII, the longest encoding a text can have.
fn full_string<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    prop::collection::vec(0x20u8..0x7f, N).prop_map(|bytes| {
        let mut s = heapless::String::<N>::new();
        for b in bytes {
            let _ = s.push(char::from(b));
        }
        s
    })
}

fn any_text() -> impl Strategy<Value = Text> {
    prop_oneof![3 => any_string::<MAX_TEXT>(), 1 => full_string::<MAX_TEXT>()]
}

fn any_vec<T: core::fmt::Debug, const N: usize>(
    item: impl Strategy<Value = T>,
) -> impl Strategy<Value = heapless::Vec<T, N>> {
    prop::collection::vec(item, 0..=N).prop_map(|items| {
        let mut v = heapless::Vec::<T, N>::new();
        for item in items {
            let _ = v.push(item);
        }
        v
    })
}

fn any_channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Battery),
        Just(Channel::Port),
        Just(Channel::Screen)
    ]
}

fn any_instrument() -> impl Strategy<Value = Instrument> {
    prop_oneof![
        Just(Instrument::SlotMux),
        Just(Instrument::Gauge),
        Just(Instrument::PowerMonitor),
        Just(Instrument::Load),
        Just(Instrument::CcFrontEnd),
        Just(Instrument::Continuity),
        Just(Instrument::TouchIc),
        Just(Instrument::DiagEeprom),
    ]
}

fn any_jig_kind() -> impl Strategy<Value = JigKind> {
    prop_oneof![
        Just(JigKind::Combo),
        Just(JigKind::Battery),
        Just(JigKind::Port),
        Just(JigKind::Screen),
    ]
}

fn any_rp_level() -> impl Strategy<Value = RpLevel> {
    prop_oneof![
        Just(RpLevel::Default),
        Just(RpLevel::Current1A5),
        Just(RpLevel::Current3A0),
    ]
}

fn any_port_pin() -> impl Strategy<Value = PortPin> {
    prop_oneof![
        Just(PortPin::Vbus),
        Just(PortPin::Gnd),
        Just(PortPin::DPlus),
        Just(PortPin::DMinus),
        Just(PortPin::Cc1),
        Just(PortPin::Cc2),
        Just(PortPin::Sbu1),
        Just(PortPin::Sbu2),
    ]
}

fn any_log_level() -> impl Strategy<Value = LogLevel> {
    prop_oneof![
        Just(LogLevel::Error),
        Just(LogLevel::Warn),
        Just(LogLevel::Info)
    ]
}

fn any_jig_error() -> impl Strategy<Value = JigError> {
    prop_oneof![
        any_channel().prop_map(JigError::Busy),
        Just(JigError::BadRequest),
        Just(JigError::Unsupported),
        Just(JigError::NoPhone),
        any_instrument().prop_map(JigError::HardwareFault),
        Just(JigError::Aborted),
        Just(JigError::NoScan),
        Just(JigError::UnknownSeq),
    ]
}

fn any_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Hello),
        any::<u32>().prop_map(|nonce| Request::Ping { nonce }),
        any::<u8>().prop_map(|slot| Request::SlotStatus { slot }),
        any::<u8>().prop_map(|slot| Request::Identify { slot }),
        any::<u8>().prop_map(|slot| Request::BatteryGauge { slot }),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u32>(),
            any::<u16>(),
            any::<u32>()
        )
            .prop_map(|(slot, low_ma, low_ms, high_ma, high_ms)| {
                Request::BatteryDcir {
                    slot,
                    low_ma,
                    low_ms,
                    high_ma,
                    high_ms,
                }
            }),
        any::<u8>().prop_map(|slot| Request::PortCc { slot }),
        any::<u8>().prop_map(|slot| Request::PortContinuity { slot }),
        (any::<u8>(), any::<u32>())
            .prop_map(|(slot, settle_ms)| Request::PortCharge { slot, settle_ms }),
        any::<u8>().prop_map(|slot| Request::ScreenTouch { slot }),
        (any::<u8>(), any::<u8>()).prop_map(|(slot, row)| Request::TouchRow { slot, row }),
        (any::<u8>(), any::<u32>())
            .prop_map(|(slot, settle_ms)| Request::ScreenBacklight { slot, settle_ms }),
        (any::<u8>(), any_channel()).prop_map(|(slot, channel)| Request::Abort { slot, channel }),
        any::<u8>().prop_map(|slot| Request::Release { slot }),
        any::<u16>().prop_map(|seq| Request::Resend { seq }),
    ]
}

fn any_hello() -> impl Strategy<Value = Hello> {
    (
        any::<u16>(),
        any::<u64>(),
        any_text(),
        any_jig_kind(),
        any_text(),
        any::<u8>(),
        any_vec::<_, MAX_INSTRUMENTS>(any_instrument()),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                protocol_version,
                schema_hash,
                firmware_version,
                jig_kind,
                jig_serial,
                slots,
                instruments,
                boot_id,
                simulated,
            )| Hello {
                protocol_version,
                schema_hash,
                firmware_version,
                jig_kind,
                jig_serial,
                slots,
                instruments,
                boot_id,
                simulated,
            },
        )
}

fn any_gauge() -> impl Strategy<Value = Gauge> {
    (
        (any_f32(), any_f32(), any_f32()),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
        ),
        (any_text(), any_text()),
    )
        .prop_map(
            |(
                (voltage_v, current_a, temperature_k),
                (
                    state_of_charge_pct,
                    remaining_mah,
                    full_charge_mah,
                    design_mah,
                    cycle_count,
                    serial,
                ),
                (manufacturer, device),
            )| Gauge {
                voltage_v,
                current_a,
                temperature_k,
                state_of_charge_pct,
                remaining_mah,
                full_charge_mah,
                design_mah,
                cycle_count,
                serial,
                manufacturer,
                device,
            },
        )
}

fn any_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        any_hello().prop_map(Reply::Hello),
        any::<u32>().prop_map(|nonce| Reply::Pong { nonce }),
        (
            prop_oneof![
                Just(PhoneState::Empty),
                Just(PhoneState::Seated),
                Just(PhoneState::Released)
            ],
            any_vec::<_, 3>(any_channel())
        )
            .prop_map(|(phone, busy)| Reply::Slot(SlotStatus { phone, busy })),
        (any_text(), any_text(), any_text()).prop_map(|(model, imei, serial)| Reply::Identity(
            Identity {
                model,
                imei,
                serial
            }
        )),
        any_gauge().prop_map(Reply::Gauge),
        (
            (any_f32(), any_f32(), any_f32(), any_f32(), any_f32()),
            any::<bool>(),
            any_f32()
        )
            .prop_map(
                |((v1_v, i1_a, v2_v, i2_a, resistance_ohm), collapsed, v_min_v)| {
                    Reply::Dcir(Dcir {
                        v1_v,
                        i1_a,
                        v2_v,
                        i2_a,
                        resistance_ohm,
                        collapsed,
                        v_min_v,
                    })
                }
            ),
        (any_rp_level(), any_f32(), any_f32()).prop_map(|(rp, cc1_v, cc2_v)| Reply::Cc(Cc {
            rp,
            cc1_v,
            cc2_v
        })),
        any_vec::<_, 8>((any_port_pin(), any_f32(), any_f32()).prop_map(
            |(pin, resistance_ohm, leakage_a)| PinReading {
                pin,
                resistance_ohm,
                leakage_a,
            }
        ))
        .prop_map(|pins| Reply::Continuity(Continuity { pins })),
        (any_f32(), any_f32())
            .prop_map(|(vbus_v, current_a)| Reply::Charge(Charge { vbus_v, current_a })),
        (any::<u8>(), any::<u8>())
            .prop_map(|(rows, cols)| Reply::TouchScan(TouchScan { rows, cols })),
        (
            any::<u8>(),
            prop_oneof![
                any_vec::<_, MAX_TOUCH_COLS>(any::<u16>()),
                // A full row of the largest counts: the longest message of the protocol.
                Just(full_touch_row()),
            ]
        )
            .prop_map(|(row, raw)| Reply::TouchRow(TouchRow { row, raw })),
        (any_f32(), any_f32()).prop_map(|(voltage_v, current_a)| Reply::Backlight(Backlight {
            voltage_v,
            current_a
        })),
        Just(Reply::Done),
        any_jig_error().prop_map(Reply::Error),
        any::<u32>().prop_map(|remaining_ms| Reply::Pending { remaining_ms }),
    ]
}

/// A full row of counts that each need a 3-byte varint.
fn full_touch_row() -> heapless::Vec<u16, MAX_TOUCH_COLS> {
    let mut raw = heapless::Vec::new();
    while raw.push(u16::MAX).is_ok() {}
    raw
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        any::<u32>().prop_map(|boot_id| Event::Booted { boot_id }),
        any::<u8>().prop_map(|slot| Event::PhoneInserted { slot }),
        any::<u8>().prop_map(|slot| Event::PhoneRemoved { slot }),
        (
            any::<u8>(),
            any_channel(),
            any::<u8>(),
            prop::option::of((any::<u32>(), any_f32(), any_f32()))
        )
            .prop_map(|(slot, channel, percent, sample)| Event::Progress {
                slot,
                channel,
                percent,
                sample: sample.map(|(t_ms, voltage_v, current_a)| Sample {
                    t_ms,
                    voltage_v,
                    current_a,
                }),
            }),
        (
            any_log_level(),
            prop_oneof![any_string::<48>(), full_string::<48>()]
        )
            .prop_map(|(level, text)| Event::Log { level, text }),
    ]
}

fn any_jig_msg() -> impl Strategy<Value = JigMsg> {
    prop_oneof![
        3 => any_reply().prop_map(JigMsg::Reply),
        1 => any_event().prop_map(JigMsg::Event),
    ]
}

fn packet<T: core::fmt::Debug>(msg: impl Strategy<Value = T>) -> impl Strategy<Value = Packet<T>> {
    (any::<u16>(), msg).prop_map(|(seq, msg)| Packet { seq, msg })
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn encode<T: Serialize>(packet: &Packet<T>) -> Result<Vec<u8>, TestCaseError> {
    let mut buf = [0u8; MAX_ENCODED_FRAME];
    let n = encode_frame(packet, &mut buf)
        .map_err(|e| TestCaseError::fail(format!("encode_frame failed: {e}")))?;
    Ok(buf[..n].to_vec())
}

fn postcard_bytes<T: Serialize>(packet: &Packet<T>) -> Result<Vec<u8>, TestCaseError> {
    postcard::to_allocvec(packet).map_err(|e| TestCaseError::fail(format!("postcard: {e}")))
}

/// Encodes, checks the frame's shape, decodes, and checks bit equality.
fn check_round_trip<T>(packet: &Packet<T>) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    let frame = encode(packet)?;
    prop_assert!(frame.len() <= MAX_ENCODED_FRAME);
    prop_assert_eq!(
        frame.last(),
        Some(&0u8),
        "frame must end with the delimiter"
    );
    prop_assert!(
        !frame[..frame.len() - 1].contains(&0),
        "no 0x00 inside a frame"
    );
    let body = postcard_bytes(packet)?;
    prop_assert!(body.len() + 4 <= MAX_FRAME_PAYLOAD);

    let decoded: Packet<T> = decode_frame(&frame)
        .map_err(|e| TestCaseError::fail(format!("decode_frame failed: {e}")))?;
    // Bit equality, NaN payloads included.
    prop_assert_eq!(postcard_bytes(&decoded)?, body);
    prop_assert_eq!(encode(&decoded)?, frame.clone());
    if !format!("{packet:?}").contains("NaN") {
        prop_assert_eq!(&decoded, packet);
    }
    // The delimiter is optional on input.
    let without_delimiter: Packet<T> = decode_frame(&frame[..frame.len() - 1])
        .map_err(|e| TestCaseError::fail(format!("decode without delimiter failed: {e}")))?;
    prop_assert_eq!(postcard_bytes(&without_delimiter)?, postcard_bytes(packet)?);
    Ok(())
}

/// Applies 1..=4 corruptions at distinct positions of the frame body (the final delimiter is
/// left alone). Each corruption XORs a nonzero mask, so every chosen byte really changes.
fn corrupt(frame: &[u8], flips: &[(Index, u8)]) -> (Vec<u8>, BTreeMap<usize, u8>) {
    let body_len = frame.len() - 1;
    let mut masks = BTreeMap::new();
    for (index, mask) in flips {
        masks.entry(index.index(body_len)).or_insert(*mask);
    }
    let mut corrupted = frame.to_vec();
    for (&at, &mask) in &masks {
        corrupted[at] ^= mask;
    }
    (corrupted, masks)
}

/// Splits the corrupted bytes on 0x00 as a receiver would and checks that no piece decodes,
/// whichever message type the receiver expects.
fn check_rejected(corrupted: &[u8], masks: &BTreeMap<usize, u8>) -> Result<(), TestCaseError> {
    for piece in corrupted.split(|&b| b == 0) {
        let as_request = decode_frame::<Request>(piece);
        prop_assert!(
            as_request.is_err(),
            "corrupted piece {:02X?} (masks {:?}) decoded as {:?}",
            piece,
            masks,
            as_request
        );
        let as_jig_msg = decode_frame::<JigMsg>(piece);
        prop_assert!(
            as_jig_msg.is_err(),
            "corrupted piece {:02X?} (masks {:?}) decoded as {:?}",
            piece,
            masks,
            as_jig_msg
        );
    }
    Ok(())
}

/// Frames an arbitrary payload with a correct CRC, bypassing the serializer, so that the postcard
/// decoder itself sees arbitrary input.
fn frame_raw(body: &[u8]) -> Vec<u8> {
    let mut payload = body.to_vec();
    payload.extend_from_slice(&crc32(body).to_le_bytes());
    let mut out = vec![0u8; cobs::max_encoding_length(payload.len()) + 1];
    let n = cobs::encode(&payload, &mut out);
    out.truncate(n);
    out.push(0);
    out
}

/// Decoding never panics, and whatever decodes re-encodes to a frame that decodes the same.
fn check_decode_total<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    if let Ok(packet) = decode_frame::<T>(bytes) {
        check_round_trip(&packet)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    // proptest's default of 256 cases per property keeps the suite at well under a second;
    // `PROPTEST_CASES=100000 cargo test -p benchline-protocol --test frame` digs deeper.
    #![proptest_config(ProptestConfig::default())]

    /// (a) Every host-to-jig packet round-trips.
    #[test]
    fn request_round_trips(packet in packet(any_request())) {
        check_round_trip(&packet)?;
    }

    /// (a) Every jig-to-host packet round-trips.
    #[test]
    fn jig_msg_round_trips(packet in packet(any_jig_msg())) {
        check_round_trip(&packet)?;
    }

    /// (b) A request frame with 1..=4 corrupted bytes never decodes, in any of its pieces.
    #[test]
    fn corrupted_request_is_rejected(
        packet in packet(any_request()),
        flips in prop::collection::vec((any::<Index>(), 1u8..=255), 1..=4),
    ) {
        let frame = encode(&packet)?;
        let (corrupted, masks) = corrupt(&frame, &flips);
        check_rejected(&corrupted, &masks)?;
    }

    /// (b) A jig frame with 1..=4 corrupted bytes never decodes, in any of its pieces.
    #[test]
    fn corrupted_jig_msg_is_rejected(
        packet in packet(any_jig_msg()),
        flips in prop::collection::vec((any::<Index>(), 1u8..=255), 1..=4),
    ) {
        let frame = encode(&packet)?;
        let (corrupted, masks) = corrupt(&frame, &flips);
        check_rejected(&corrupted, &masks)?;
    }

    /// (b) A burst: up to 4 consecutive bytes replaced by arbitrary different values.
    #[test]
    fn burst_is_rejected(
        packet in packet(any_jig_msg()),
        start in any::<Index>(),
        masks in prop::collection::vec(1u8..=255, 1..=4),
    ) {
        let frame = encode(&packet)?;
        let body_len = frame.len() - 1;
        let start = start.index(body_len);
        let mut corrupted = frame.clone();
        let mut applied = BTreeMap::new();
        for (at, mask) in (start..body_len).zip(masks) {
            corrupted[at] ^= mask;
            applied.insert(at, mask);
        }
        check_rejected(&corrupted, &applied)?;
    }

    /// (c) Arbitrary bytes never make the decoder panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        check_decode_total::<Request>(&bytes)?;
        check_decode_total::<JigMsg>(&bytes)?;
    }

    /// (c) Arbitrary bytes without zeros (so they reach the COBS decoder whole) never panic.
    #[test]
    fn arbitrary_zero_free_bytes_never_panic(
        bytes in prop::collection::vec(1u8..=255, 0..600),
        delimiter in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if delimiter {
            bytes.push(0);
        }
        check_decode_total::<Request>(&bytes)?;
        check_decode_total::<JigMsg>(&bytes)?;
    }

    /// (c) Arbitrary payloads with a correct CRC reach postcard: it never panics either, and
    /// whatever decodes survives a round trip.
    #[test]
    fn arbitrary_payload_with_valid_crc_never_panics(
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let frame = frame_raw(&body);
        check_decode_total::<Request>(&frame)?;
        check_decode_total::<JigMsg>(&frame)?;
        if body.len() + 4 > MAX_FRAME_PAYLOAD {
            prop_assert_eq!(decode_frame::<Request>(&frame), Err(FrameError::TooLong));
        }
    }

    /// (c) Valid payloads with mutated fields (after the sequence number) reach postcard with
    /// mostly well-formed structure: still no panic.
    #[test]
    fn mutated_valid_payload_never_panics(
        packet in packet(any_jig_msg()),
        at in any::<Index>(),
        value in any::<u8>(),
        cut in any::<Index>(),
    ) {
        let mut body = postcard_bytes(&packet)?;
        let i = at.index(body.len());
        body[i] = value;
        body.truncate(1 + cut.index(body.len()));
        check_decode_total::<JigMsg>(&frame_raw(&body))?;
        check_decode_total::<Request>(&frame_raw(&body))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases
// ---------------------------------------------------------------------------------------------

#[test]
fn crc_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn size_bounds() {
    assert_eq!(MAX_FRAME_PAYLOAD, 256);
    assert_eq!(MAX_ENCODED_FRAME, 259);
}

#[test]
fn empty_and_delimiter_only_frames_are_rejected() {
    assert_eq!(decode_frame::<Request>(&[]), Err(FrameError::Cobs));
    assert_eq!(decode_frame::<Request>(&[0]), Err(FrameError::Cobs));
    assert_eq!(decode_frame::<Request>(&[0, 0]), Err(FrameError::Cobs));
    assert_eq!(decode_frame::<Request>(&[1, 0]), Err(FrameError::TooShort));
}

#[test]
fn a_request_is_not_a_jig_msg() -> Result<(), FrameError> {
    // Request::Abort { slot: 2, channel: Port } has discriminant 12, which JigMsg does not have.
    let mut buf = [0u8; MAX_ENCODED_FRAME];
    let n = encode_frame(
        &Packet {
            seq: 1,
            msg: Request::Abort {
                slot: 2,
                channel: Channel::Port,
            },
        },
        &mut buf,
    )?;
    assert_eq!(decode_frame::<JigMsg>(&buf[..n]), Err(FrameError::Payload));
    Ok(())
}

#[test]
fn trailing_bytes_are_rejected() {
    // A valid Request::Hello body followed by one extra byte, with a CRC over all of it.
    let frame = frame_raw(&[0x00, 0x00, 0x00]);
    assert_eq!(decode_frame::<Request>(&frame), Err(FrameError::Payload));
    let frame = frame_raw(&[0x00, 0x00]);
    assert_eq!(
        decode_frame::<Request>(&frame),
        Ok(Packet {
            seq: 0,
            msg: Request::Hello
        })
    );
}

#[test]
fn overlong_text_is_rejected() {
    // Event::Log with a 49-byte text: one more than String<48> holds.
    let mut body = vec![0x05, 0x01, 0x04, 0x02, 49];
    body.extend(std::iter::repeat_n(b'x', 49));
    assert_eq!(
        decode_frame::<JigMsg>(&frame_raw(&body)),
        Err(FrameError::Payload)
    );
    body[4] = 48;
    body.pop();
    assert!(decode_frame::<JigMsg>(&frame_raw(&body)).is_ok());
}

#[test]
fn largest_message_fits() {
    // The longest message: a full touch row of counts that each need a 3-byte varint, with a
    // 3-byte sequence number.
    let packet = Packet {
        seq: u16::MAX,
        msg: JigMsg::Reply(Reply::TouchRow(TouchRow {
            row: u8::MAX,
            raw: full_touch_row(),
        })),
    };
    let body = postcard::to_allocvec(&packet).unwrap_or_default();
    assert_eq!(body.len(), 3 + 1 + 1 + 1 + 1 + 3 * MAX_TOUCH_COLS);
    let mut buf = [0u8; MAX_ENCODED_FRAME];
    assert!(encode_frame(&packet, &mut buf).is_ok());
}
