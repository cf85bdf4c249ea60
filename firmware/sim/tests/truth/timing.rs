//! `Request::nominal_ms` bounds the jig time of every procedure, measured on the real firmware
//! with the simulated bus taking the time a 100 kHz I2C bus takes; and procedures running at the
//! same time delay each other by at most `CONTENTION_MS` each.

use benchline_protocol::duration::CONTENTION_MS;
use benchline_protocol::range::*;

use super::*;

/// A phone with the largest touch panel the protocol carries: the longest scan and rows.
fn big_screen() -> Phone {
    let mut p = library().phones.remove(0);
    p.screen.rows = 255;
    p.screen.cols = MAX_TOUCH_COLS as u8;
    p.screen.dead_nodes.clear();
    p.screen.shorted_nodes.clear();
    p
}

/// Sends every request at once and runs the jig until all are answered; returns each one's
/// jig time from the poll that received it to the poll that answered it, us.
fn durations(b: &mut Bench, reqs: &[Request]) -> Vec<u64> {
    let seqs: Vec<u16> = reqs.iter().map(|r| b.send(r.clone())).collect();
    let t0 = b.clock.now_us();
    let mut took = vec![None; reqs.len()];
    for _ in 0..100_000 {
        b.pump();
        for (i, &seq) in seqs.iter().enumerate() {
            if let Some(r) = b.take_reply(seq) {
                assert!(
                    !matches!(r, Reply::Error(_) | Reply::Pending { .. }),
                    "{:?}: {r:?}",
                    reqs[i]
                );
                took[i] = Some(b.clock.now_us() - t0);
            }
        }
        if took.iter().all(Option::is_some) {
            return took.into_iter().flatten().collect();
        }
        if let Some(t) = b.jig.next_deadline() {
            b.clock.advance_to(t);
        }
    }
    panic!("not every request was answered");
}

#[test]
fn every_procedure_alone_finishes_within_its_nominal_duration() {
    let dcir = |low_ma, low_ms, high_ma, high_ms| Request::BatteryDcir {
        slot: 0,
        low_ma,
        low_ms,
        high_ma,
        high_ms,
    };
    let mut b = Bench::new(Some(big_screen()));
    let cases = [
        Request::Hello,
        Request::Ping { nonce: 1 },
        Request::SlotStatus { slot: 0 },
        Request::Identify { slot: 0 },
        Request::BatteryGauge { slot: 0 },
        dcir(800, 10_000, 4000, 1_000),
        dcir(
            1,
            *DCIR_LOW_MS.start(),
            *DCIR_MA.end(),
            *DCIR_HIGH_MS.start(),
        ),
        dcir(800, *DCIR_LOW_MS.end(), 4000, *DCIR_HIGH_MS.end()),
        Request::PortCc { slot: 0 },
        Request::PortContinuity { slot: 0 },
        Request::PortCharge {
            slot: 0,
            settle_ms: 0,
        },
        Request::PortCharge {
            slot: 0,
            settle_ms: *CHARGE_SETTLE_MS.end(),
        },
        Request::ScreenTouch { slot: 0 },
        Request::TouchRow { slot: 0, row: 254 },
        Request::ScreenBacklight {
            slot: 0,
            settle_ms: 0,
        },
        Request::ScreenBacklight {
            slot: 0,
            settle_ms: *BACKLIGHT_SETTLE_MS.end(),
        },
        Request::Resend { seq: 1 },
        Request::Abort {
            slot: 0,
            channel: Channel::Battery,
        },
        Request::Release { slot: 0 },
    ];
    for req in cases {
        let took = durations(&mut b, std::slice::from_ref(&req))[0];
        let nominal_us = u64::from(req.nominal_ms()) * 1000;
        assert!(
            took <= nominal_us,
            "{}: took {took} us, nominal {nominal_us} us ({req:?})",
            req.procedure()
        );
        let floor_ms = match req {
            Request::BatteryDcir {
                low_ms, high_ms, ..
            } => low_ms + high_ms,
            Request::PortCharge { settle_ms, .. } | Request::ScreenBacklight { settle_ms, .. } => {
                settle_ms
            }
            _ => 0,
        };
        assert!(took >= u64::from(floor_ms) * 1000, "{req:?} cut short");
    }
}

#[test]
fn procedures_at_the_same_time_delay_each_other_by_at_most_the_contention_bound() {
    let clock = SimClock::new(0.0);
    let rig = Rig::new(4, clock.clone(), 3);
    for slot in 0..4 {
        rig.borrow_mut().insert(slot, big_screen());
    }
    let mut b = Bench::on(rig, clock, "SIM-L", 1);
    let mut reqs = Vec::new();
    for slot in 0..4 {
        reqs.extend([
            Request::Identify { slot },
            Request::BatteryDcir {
                slot,
                low_ma: 800,
                low_ms: 300,
                high_ma: 4000,
                high_ms: 100,
            },
            Request::PortContinuity { slot },
            Request::ScreenTouch { slot },
        ]);
    }
    let took = durations(&mut b, &reqs);
    let others = reqs.len() as u64 - 1;
    for (req, took) in reqs.iter().zip(took) {
        let bound = u64::from(req.nominal_ms() + CONTENTION_MS * others as u32) * 1000;
        assert!(
            took <= bound,
            "{req:?}: took {took} us with {others} others, bound {bound} us"
        );
    }
}

#[test]
fn a_ping_is_answered_before_queued_bus_work() {
    let phone = library().phones.remove(0);
    let mut b = Bench::new(Some(phone));
    let gauges: Vec<u16> = (0..4)
        .map(|_| b.send(Request::BatteryGauge { slot: 0 }))
        .collect();
    let ping = b.send(Request::Ping { nonce: 5 });
    let before = b.clock.now_us();
    // One turn of the main loop: the ping is answered, at most one gauge read is done.
    b.jig.poll().unwrap();
    let out = b.jig.link_mut().take_output();
    let answered: Vec<u16> = out
        .split(|&x| x == 0)
        .filter(|f| !f.is_empty())
        .filter_map(|f| decode_frame::<JigMsg>(f).ok())
        .filter(|p| matches!(p.msg, JigMsg::Reply(_)))
        .map(|p| p.seq)
        .collect();
    assert_eq!(answered.first(), Some(&ping), "{answered:?}");
    assert!(answered.len() <= 2, "{answered:?}");
    assert_eq!(b.jig.queued(), 3);
    // Each later gauge read takes its own turn; every one is answered in the end.
    for g in gauges.into_iter().filter(|g| !answered.contains(g)) {
        assert!(matches!(b.wait(g), Reply::Gauge(_)));
    }
    assert!(b.clock.now_us() > before);
}
