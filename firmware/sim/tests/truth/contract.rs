//! The behavioural contract of the protocol README, against the real firmware: resend and kept
//! replies, the slot's phone states, state requests, typed errors, undecodable frames, boot.

use super::*;

fn dcir(low_ms: u32, high_ms: u32) -> Request {
    Request::BatteryDcir {
        slot: 0,
        low_ma: 800,
        low_ms,
        high_ma: 4000,
        high_ms,
    }
}

fn seated() -> Bench {
    Bench::new(Some(library().phones.remove(0)))
}

#[test]
fn resend_of_a_done_request_is_a_copy_under_the_resends_own_seq_and_runs_nothing() {
    let mut b = seated();
    let charge = b.send(Request::PortCharge {
        slot: 0,
        settle_ms: 1_000,
    });
    let first = b.wait(charge);
    assert!(matches!(first, Reply::Charge(_)), "{first:?}");
    let t0 = b.clock.now_us();
    let resend = b.send(Request::Resend { seq: charge });
    b.pump();
    // A new measurement would carry fresh noise; the copy is bit for bit the first reply.
    assert_eq!(b.take_reply(resend), Some(first));
    assert_eq!(b.take_reply(charge), None, "nothing under the old seq");
    assert!(b.clock.now_us() - t0 < 1_000, "no settle ran again");
    assert!(b.rig.borrow().slots[0].wiring.vbus_on_since.is_none());
}

#[test]
fn error_replies_and_aborted_replies_are_kept_too() {
    let mut b = seated();
    let long = b.send(dcir(10_000, 1_000));
    let busy = b.send(Request::BatteryGauge { slot: 0 });
    b.pump();
    assert_eq!(
        b.take_reply(busy),
        Some(Reply::Error(JigError::Busy(Channel::Battery)))
    );
    b.call(Request::Abort {
        slot: 0,
        channel: Channel::Battery,
    });
    assert_eq!(b.take_reply(long), Some(Reply::Error(JigError::Aborted)));
    for (seq, want) in [
        (busy, Reply::Error(JigError::Busy(Channel::Battery))),
        (long, Reply::Error(JigError::Aborted)),
    ] {
        assert_eq!(b.call(Request::Resend { seq }), want);
    }
}

#[test]
fn resend_while_running_is_pending_with_an_upper_bound_of_the_time_left() {
    let mut b = seated();
    let req = dcir(10_000, 1_000);
    let nominal = req.nominal_ms();
    let seq = b.send(req);
    b.pump();
    let started = b.clock.now_us();
    b.clock.advance_to(started + 3_000_000);
    let Reply::Pending { remaining_ms } = b.call(Request::Resend { seq }) else {
        panic!("a running request is pending")
    };
    assert!(
        remaining_ms <= nominal - 3_000,
        "remaining {remaining_ms} ms after 3 s of a {nominal} ms procedure"
    );
    assert_eq!(
        b.status(0).busy.as_slice(),
        &[Channel::Battery],
        "resend started nothing"
    );
    // The bound holds: the reply comes within `remaining_ms` of jig time.
    let asked = b.clock.now_us();
    assert!(matches!(b.wait(seq), Reply::Dcir(_)));
    let took_ms = (b.clock.now_us() - asked) / 1000;
    assert!(
        took_ms <= u64::from(remaining_ms),
        "took {took_ms} ms, said {remaining_ms}"
    );
    assert!(
        took_ms + 100 >= u64::from(remaining_ms),
        "a tight bound: took {took_ms} ms, said {remaining_ms}"
    );
    assert!(matches!(b.call(Request::Resend { seq }), Reply::Dcir(_)));
}

#[test]
fn resend_of_a_request_never_received_or_forgotten_is_unknown_seq() {
    let mut b = seated();
    assert_eq!(
        b.call(Request::Resend { seq: 999 }),
        Reply::Error(JigError::UnknownSeq)
    );
    let oldest = b.send(Request::Ping { nonce: 1 });
    for nonce in 0..KEPT_REPLIES as u32 {
        b.call(Request::Ping { nonce });
    }
    assert_eq!(
        b.call(Request::Resend { seq: oldest }),
        Reply::Error(JigError::UnknownSeq),
        "only the last {KEPT_REPLIES} replies are kept"
    );
    // Replies to Resend are not kept themselves, so they do not push real replies out.
    let kept = b.send(Request::Ping { nonce: 77 });
    b.pump();
    for _ in 0..2 * KEPT_REPLIES {
        b.call(Request::Resend { seq: kept });
    }
    assert_eq!(
        b.call(Request::Resend { seq: kept }),
        Reply::Pong { nonce: 77 }
    );
}

#[test]
fn a_released_phone_is_never_testable_until_it_is_taken_out() {
    let mut b = seated();
    let charge = b.send(Request::PortCharge {
        slot: 0,
        settle_ms: 5_000,
    });
    let touch = b.send(Request::ScreenTouch { slot: 0 });
    let long = b.send(dcir(10_000, 1_000));
    b.pump();
    b.inbox.clear();
    let release = b.send(Request::Release { slot: 0 });
    b.pump();
    // Each running procedure's Aborted reply, battery, port, screen, then Done.
    let order: Vec<(u16, Reply)> = b
        .inbox
        .drain(..)
        .filter_map(|p| match p.msg {
            JigMsg::Reply(r) => Some((p.seq, r)),
            JigMsg::Event(_) => None,
        })
        .collect();
    let aborted = Reply::Error(JigError::Aborted);
    assert_eq!(
        order,
        vec![
            (long, aborted.clone()),
            (charge, aborted.clone()),
            (touch, aborted),
            (release, Reply::Done)
        ]
    );
    assert!(b.rig.borrow().released(0), "the clamp is open");
    {
        let rig = b.rig.borrow();
        let w = &rig.slots[0].wiring;
        assert!(w.vbus_on_since.is_none() && w.load_a == 0.0 && !w.backlight_en);
    }
    for _ in 0..3 {
        assert_eq!(b.status(0).phone, PhoneState::Released);
        assert_eq!(
            b.call(Request::BatteryGauge { slot: 0 }),
            Reply::Error(JigError::NoPhone)
        );
        assert_eq!(
            b.call(Request::TouchRow { slot: 0, row: 0 }),
            Reply::Error(JigError::NoPhone)
        );
        b.clock.advance(1_000_000);
    }
    assert_eq!(
        b.call(Request::Release { slot: 0 }),
        Reply::Done,
        "release is idempotent"
    );
    assert_eq!(b.status(0).phone, PhoneState::Released);

    let old = b.rig.borrow_mut().remove(0).unwrap();
    b.pump();
    assert_eq!(b.status(0).phone, PhoneState::Empty);
    assert!(!b.rig.borrow().released(0), "the clamp closes once empty");
    b.rig.borrow_mut().insert(0, old);
    b.pump();
    assert_eq!(b.status(0).phone, PhoneState::Seated);
    let evs: Vec<Event> = b.events().into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        evs,
        vec![
            Event::PhoneRemoved { slot: 0 },
            Event::PhoneInserted { slot: 0 }
        ]
    );
    assert!(matches!(
        b.call(Request::BatteryGauge { slot: 0 }),
        Reply::Gauge(_)
    ));
}

#[test]
fn abort_and_release_are_state_requests_answered_done() {
    let mut b = seated();
    for channel in [Channel::Battery, Channel::Port, Channel::Screen] {
        assert_eq!(
            b.call(Request::Abort { slot: 0, channel }),
            Reply::Done,
            "idle {channel:?}"
        );
        assert_eq!(
            b.call(Request::Abort { slot: 1, channel }),
            Reply::Done,
            "empty slot"
        );
    }
    assert_eq!(b.call(Request::Release { slot: 1 }), Reply::Done);
    assert_eq!(b.status(1).phone, PhoneState::Empty);
    assert!(
        !b.rig.borrow().released(1),
        "nothing to release in an empty slot"
    );
    // A phone seated after a release of the empty slot is clamped and testable.
    b.rig.borrow_mut().insert(1, library().phones.remove(1));
    b.pump();
    assert_eq!(b.status(1).phone, PhoneState::Seated);
    assert!(!b.rig.borrow().released(1));
    for req in [
        Request::Abort {
            slot: 9,
            channel: Channel::Port,
        },
        Request::Release { slot: 9 },
    ] {
        assert_eq!(b.call(req), Reply::Error(JigError::BadRequest));
    }
}

#[test]
fn abort_stops_only_its_own_channel() {
    let mut b = seated();
    let long = b.send(dcir(10_000, 1_000));
    let charge = b.send(Request::PortCharge {
        slot: 0,
        settle_ms: 2_000,
    });
    b.pump();
    b.call(Request::Abort {
        slot: 0,
        channel: Channel::Battery,
    });
    assert_eq!(b.take_reply(long), Some(Reply::Error(JigError::Aborted)));
    assert!(
        b.rig.borrow().slots[0].wiring.vbus_on_since.is_some(),
        "VBUS of the port channel stays on"
    );
    let Reply::Charge(c) = b.wait(charge) else {
        panic!("the charge finishes")
    };
    assert!(c.current_a > 0.5, "{c:?}");
}

#[test]
fn touch_row_without_a_scan_is_no_scan_and_a_row_out_of_range_is_bad_request() {
    let mut b = seated();
    assert_eq!(
        b.call(Request::TouchRow { slot: 0, row: 0 }),
        Reply::Error(JigError::NoScan)
    );
    let Reply::TouchScan(scan) = b.call(Request::ScreenTouch { slot: 0 }) else {
        panic!()
    };
    assert!(matches!(
        b.call(Request::TouchRow {
            slot: 0,
            row: scan.rows - 1
        }),
        Reply::TouchRow(_)
    ));
    assert_eq!(
        b.call(Request::TouchRow {
            slot: 0,
            row: scan.rows
        }),
        Reply::Error(JigError::BadRequest)
    );
    // An aborted scan leaves no scan behind.
    b.send(Request::ScreenTouch { slot: 0 });
    b.pump();
    b.call(Request::Abort {
        slot: 0,
        channel: Channel::Screen,
    });
    assert_eq!(
        b.call(Request::TouchRow { slot: 0, row: 0 }),
        Reply::Error(JigError::NoScan)
    );
    // Nor does the scan of a phone that was taken out.
    b.call(Request::ScreenTouch { slot: 0 });
    let phone = b.rig.borrow_mut().remove(0).unwrap();
    b.pump();
    b.rig.borrow_mut().insert(0, phone);
    b.pump();
    assert_eq!(
        b.call(Request::TouchRow { slot: 0, row: 0 }),
        Reply::Error(JigError::NoScan)
    );
}

#[test]
fn parameters_outside_their_ranges_are_bad_requests_and_drive_nothing() {
    use benchline_protocol::range::*;
    let mut b = seated();
    let d = |low_ma, low_ms, high_ma, high_ms| Request::BatteryDcir {
        slot: 0,
        low_ma,
        low_ms,
        high_ma,
        high_ms,
    };
    let bad = [
        d(0, 10_000, 4000, 1_000),
        d(800, 0, 4000, 1_000),
        d(800, 10_000, 4000, 0),
        d(800, 0, 4000, 0),
        d(800, u32::MAX, 4000, 1_000),
        d(800, *DCIR_LOW_MS.end() + 1, 4000, 1_000),
        d(800, 10_000, 4000, *DCIR_HIGH_MS.end() + 1),
        d(800, 10_000, *DCIR_MA.end() + 1, 1_000),
        d(4000, 10_000, 4000, 1_000),
        d(4000, 10_000, 800, 1_000),
        Request::PortCharge {
            slot: 0,
            settle_ms: *CHARGE_SETTLE_MS.end() + 1,
        },
        Request::PortCharge {
            slot: 0,
            settle_ms: u32::MAX,
        },
        Request::ScreenBacklight {
            slot: 0,
            settle_ms: *BACKLIGHT_SETTLE_MS.end() + 1,
        },
    ];
    for req in bad {
        assert!(!req.params_in_range(), "{req:?}");
        assert_eq!(
            b.call(req.clone()),
            Reply::Error(JigError::BadRequest),
            "{req:?}"
        );
        let rig = b.rig.borrow();
        let w = &rig.slots[0].wiring;
        assert!(
            w.load_a == 0.0 && w.vbus_on_since.is_none() && !w.backlight_en,
            "{req:?} drove an output"
        );
    }
    // The edges of every range run.
    let edges = [
        d(
            *DCIR_MA.start(),
            *DCIR_LOW_MS.start(),
            *DCIR_MA.end(),
            *DCIR_HIGH_MS.start(),
        ),
        d(800, *DCIR_LOW_MS.end(), 4000, *DCIR_HIGH_MS.end()),
        Request::PortCharge {
            slot: 0,
            settle_ms: *CHARGE_SETTLE_MS.start(),
        },
        Request::PortCharge {
            slot: 0,
            settle_ms: *CHARGE_SETTLE_MS.end(),
        },
        Request::ScreenBacklight {
            slot: 0,
            settle_ms: *BACKLIGHT_SETTLE_MS.start(),
        },
        Request::ScreenBacklight {
            slot: 0,
            settle_ms: *BACKLIGHT_SETTLE_MS.end(),
        },
    ];
    for req in edges {
        assert!(req.params_in_range(), "{req:?}");
        let r = b.call(req.clone());
        assert!(!matches!(r, Reply::Error(_)), "{req:?}: {r:?}");
    }
}

#[test]
fn an_intact_frame_that_is_no_known_request_is_answered_bad_request() {
    let mut b = seated();
    // A variant from a newer host, an Abort of channel 3, a Ping with a byte left over.
    let newer = b.send_any(40u8);
    let channel_3 = b.send_any((12u8, 0u8, 3u8));
    let trailing = b.send_any((1u8, 5u8, 0xAAu8));
    b.pump();
    for seq in [newer, channel_3, trailing] {
        assert_eq!(
            b.take_reply(seq),
            Some(Reply::Error(JigError::BadRequest)),
            "seq {seq}"
        );
    }
    assert_eq!(b.jig.bad_frames(), 0, "intact frames are not dropped");
    assert_eq!(
        b.call(Request::Resend { seq: channel_3 }),
        Reply::Error(JigError::BadRequest),
        "kept like any reply"
    );

    // A garbled frame (one bit flipped) is dropped with a Log event and no reply.
    let mut buf = [0u8; MAX_ENCODED_FRAME];
    let n = encode_frame(
        &Packet {
            seq: 500,
            msg: Request::Ping { nonce: 3 },
        },
        &mut buf,
    )
    .unwrap();
    buf[2] ^= 0x10;
    b.inbox.clear();
    b.jig.link_mut().feed(&buf[..n]);
    b.pump();
    assert_eq!(b.take_reply(500), None);
    assert!(matches!(
        b.events().as_slice(),
        [(
            _,
            Event::Log {
                level: LogLevel::Warn,
                ..
            }
        )]
    ));
    assert_eq!(b.jig.bad_frames(), 1);
}

#[test]
fn after_a_reset_events_restart_at_0_and_seated_phones_are_announced_again() {
    let mut b = seated();
    let boot = |b: &Bench, boot_id| {
        assert_eq!(
            b.events(),
            vec![
                (0, Event::Booted { boot_id }),
                (1, Event::PhoneInserted { slot: 0 })
            ]
        );
    };
    boot(&b, 42);
    b.call(Request::Ping { nonce: 0 });
    b.call(Request::Release { slot: 0 });
    assert_eq!(b.status(0).phone, PhoneState::Released);

    b.reboot(43);
    boot(&b, 43);
    // The jig does not remember a release across a reset: the phone is seated and new to it.
    assert_eq!(b.status(0).phone, PhoneState::Seated);
    let Reply::Hello(h) = b.call(Request::Hello) else {
        panic!()
    };
    assert_eq!(h.boot_id, 43);
    assert_eq!(
        b.call(Request::Resend { seq: 1 }),
        Reply::Error(JigError::UnknownSeq),
        "kept replies are gone"
    );
}
