//! Progress events: elapsed jig time over the nominal duration, one event per 10-point mark,
//! never 100, always before the procedure's reply, and none for short procedures.

use super::*;

/// Runs `req` alone on a seated phone; returns the percentages of its `Progress` events with
/// the jig time (from the start) each was sent at, and checks they all precede the reply.
fn progress_of(req: Request) -> Vec<(u8, u64)> {
    let mut b = Bench::new(Some(library().phones.remove(0)));
    b.inbox.clear();
    let channel = req.channel().unwrap();
    let t0 = b.clock.now_us();
    let seq = b.send(req.clone());
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        b.pump();
        let now = b.clock.now_us() - t0;
        for p in b.inbox.drain(..) {
            match p.msg {
                JigMsg::Event(Event::Progress {
                    slot,
                    channel: c,
                    percent,
                }) => {
                    assert_eq!((slot, c), (0, channel), "{req:?}");
                    seen.push((percent, now));
                }
                JigMsg::Reply(r) if p.seq == seq => {
                    assert!(!matches!(r, Reply::Error(_)), "{req:?}: {r:?}");
                    return seen;
                }
                other => panic!("{req:?}: unexpected {other:?}"),
            }
        }
        if let Some(t) = b.jig.next_deadline() {
            b.clock.advance_to(t);
        }
    }
    panic!("{req:?} never answered");
}

#[test]
fn long_procedures_report_progress_that_moves_and_comes_before_the_reply() {
    let long = [
        Request::BatteryDcir {
            slot: 0,
            low_ma: 800,
            low_ms: 10_000,
            high_ma: 4000,
            high_ms: 1_000,
        },
        Request::PortCharge {
            slot: 0,
            settle_ms: 1_000,
        },
        Request::ScreenBacklight {
            slot: 0,
            settle_ms: 2_000,
        },
    ];
    for req in long {
        assert!(req.reports_progress(), "{req:?}");
        let nominal_us = u64::from(req.nominal_ms()) * 1000;
        let seen = progress_of(req.clone());
        let percents: Vec<u8> = seen.iter().map(|&(p, _)| p).collect();
        // Virtual time wakes the jig exactly at each mark.
        assert_eq!(percents, [10, 20, 30, 40, 50, 60, 70, 80, 90], "{req:?}");
        for (percent, at) in seen {
            let expected = nominal_us * u64::from(percent) / 100;
            assert!(
                at >= expected && at <= expected + 5_000,
                "{req:?}: {percent} % sent at {at} us, mark at {expected} us"
            );
        }
    }
}

#[test]
fn short_procedures_report_no_progress() {
    let short = [
        Request::PortContinuity { slot: 0 },
        Request::ScreenBacklight {
            slot: 0,
            settle_ms: 50,
        },
        Request::BatteryDcir {
            slot: 0,
            low_ma: 800,
            low_ms: 40,
            high_ma: 4000,
            high_ms: 10,
        },
        Request::BatteryGauge { slot: 0 },
        Request::PortCc { slot: 0 },
    ];
    for req in short {
        assert!(!req.reports_progress(), "{req:?}");
        assert_eq!(progress_of(req.clone()), [], "{req:?}");
    }
    // A touch scan may report progress, but one that finishes before its first mark
    // (10 % of 600 ms) sends none.
    assert!(Request::ScreenTouch { slot: 0 }.reports_progress());
    assert_eq!(progress_of(Request::ScreenTouch { slot: 0 }), []);
}
