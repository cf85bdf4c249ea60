//! Progress events: elapsed jig time over the nominal duration, one event per 10-point mark,
//! never 100, always before the procedure's reply, and none for short procedures; a DCIR's
//! events carry samples of the battery monitor that draw its pulse.

use benchline_protocol::duration::{DCIR_SAMPLES_PER_STEP, DCIR_SAMPLE_SETTLE_MS};

use super::*;

/// One `Progress` event: its percent, the jig time (from the start) it was sent at, its sample.
pub(super) type Seen = (u8, u64, Option<Sample>);

/// Runs `req` alone on `phone`; returns its `Progress` events and its reply, and checks that
/// the events all precede the reply.
pub(super) fn run_alone(phone: Phone, req: &Request) -> (Vec<Seen>, Reply) {
    let mut b = Bench::new(Some(phone));
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
                    sample,
                }) => {
                    assert_eq!((slot, c), (0, channel), "{req:?}");
                    seen.push((percent, now, sample));
                }
                JigMsg::Reply(r) if p.seq == seq => {
                    assert!(!matches!(r, Reply::Error(_)), "{req:?}: {r:?}");
                    return (seen, r);
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

/// The `Progress` events of `req` run alone on the library's first phone.
fn progress_of(req: Request) -> Vec<Seen> {
    run_alone(library().phones.remove(0), &req).0
}

/// The events that report a mark: those whose percent passed another multiple of
/// `PROGRESS_STEP_PCT` since the event before (the others only carry a sample).
fn marks(seen: &[Seen]) -> Vec<(u8, u64)> {
    let step = benchline_protocol::duration::PROGRESS_STEP_PCT;
    let mut last = 0;
    let mut out = Vec::new();
    for &(percent, at, _) in seen {
        assert!(percent >= last, "percent went down: {seen:?}");
        if percent / step > last / step {
            out.push((percent, at));
        }
        last = percent;
    }
    out
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
        let marks = marks(&seen);
        let percents: Vec<u8> = marks.iter().map(|&(p, _)| p).collect();
        // Virtual time wakes the jig exactly at each mark.
        assert_eq!(percents, [10, 20, 30, 40, 50, 60, 70, 80, 90], "{req:?}");
        let dcir = matches!(req, Request::BatteryDcir { .. });
        if !dcir {
            // Only a DCIR sends events between the marks, and only its events carry samples.
            assert_eq!(seen.len(), marks.len(), "{req:?}: {seen:?}");
        }
        for (_, _, sample) in &seen {
            assert_eq!(sample.is_some(), dcir, "{req:?}: {seen:?}");
        }
        for (percent, at) in marks {
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

/// What the simulated battery monitor and load get right, A: the load's 2 mA DAC step, plus the
/// monitor's 0.2 mA of noise, its 0.25 mA shunt step and its 0.2 mA current LSB.
const CURRENT_TOL_A: f64 = 0.002 + 0.000_2 + 0.000_25 + 0.000_2;

#[test]
fn dcir_progress_carries_samples_that_draw_the_pulse() {
    let (low_ma, low_ms, high_ma, high_ms) = (800u16, 10_000u32, 4000u16, 1_000u32);
    let cutoff = f64::from(benchline_protocol::range::DCIR_CUTOFF_MV) / 1000.0;
    // The phones whose cell holds both steps above its cut-off (with room for the noise); a
    // collapsing cell's samples are checked in `collapse`.
    let holding = library().phones.into_iter().filter(|p| {
        p.ocv() - f64::from(high_ma) / 1000.0 * p.battery.dcir_mohm / 1000.0 > cutoff + 0.01
    });
    let mut tested = 0;
    for phone in holding {
        tested += 1;
        let req = Request::BatteryDcir {
            slot: 0,
            low_ma,
            low_ms,
            high_ma,
            high_ms,
        };
        let id = phone.id.clone();
        let ocv = phone.ocv();
        let (seen, reply) = run_alone(phone, &req);
        let Reply::Dcir(d) = reply else {
            panic!("{id}: {reply:?}")
        };
        let samples: Vec<Sample> = seen
            .iter()
            .map(|(_, _, s)| s.unwrap_or_else(|| panic!("{id}: a DCIR progress without sample")))
            .collect();
        // A rest reading, the points of two steps, V1 and nine marks, none of them merged: the
        // most a DCIR sends (the README's example).
        let most = 1 + 2 * DCIR_SAMPLES_PER_STEP as usize + 1 + 9;
        assert_eq!(samples.len(), most, "{id}: {samples:?}");
        // Each sample is sent at (or just after) the jig time it was read at.
        for ((_, at, _), s) in seen.iter().zip(&samples) {
            let read_at_us = u64::from(s.t_ms) * 1000;
            assert!(
                read_at_us <= *at && *at < read_at_us + 5_000,
                "{id}: {s:?} sent at {at} us"
            );
        }
        assert!(
            samples.windows(2).all(|w| w[0].t_ms < w[1].t_ms),
            "{id}: t_ms must increase: {samples:?}"
        );

        // The rest level, read before the load is switched on.
        let rest = samples[0];
        assert_eq!(rest.t_ms, 0, "{id}");
        close(
            f64::from(rest.current_a),
            0.0,
            CURRENT_TOL_A,
            &format!("{id} rest A"),
        );
        close(
            f64::from(rest.voltage_v),
            ocv,
            0.002,
            &format!("{id} rest V"),
        );

        // Then the low step up to V1 (the reading the reply reports), then the high step.
        let step_of = |s: &Sample| {
            let i = f64::from(s.current_a);
            if (i - f64::from(low_ma) / 1000.0).abs() <= CURRENT_TOL_A {
                "low"
            } else if (i - f64::from(high_ma) / 1000.0).abs() <= CURRENT_TOL_A {
                "high"
            } else {
                panic!("{id}: current of {s:?} is neither step")
            }
        };
        let steps: Vec<&str> = samples[1..].iter().map(step_of).collect();
        let lows = steps.iter().take_while(|s| **s == "low").count();
        assert!(
            steps[lows..].iter().all(|s| *s == "high"),
            "{id}: {steps:?}"
        );
        let (low, high) = samples[1..].split_at(lows);
        assert!(low.len() >= DCIR_SAMPLES_PER_STEP as usize, "{id}: {low:?}");
        assert!(high.len() >= 2, "{id}: {high:?}");
        let v1 = low[low.len() - 1];
        assert_eq!(
            (v1.voltage_v, v1.current_a),
            (d.v1_v, d.i1_a),
            "{id}: the low step's last sample is V1, I1"
        );
        // The first sample of each step comes one monitor conversion after its load change.
        assert!(low[0].t_ms <= DCIR_SAMPLE_SETTLE_MS + 2, "{id}: {low:?}");
        assert!(
            high[0].t_ms >= v1.t_ms + DCIR_SAMPLE_SETTLE_MS
                && high[0].t_ms <= v1.t_ms + DCIR_SAMPLE_SETTLE_MS + 5,
            "{id}: {high:?} after {v1:?}"
        );
        // Every sample lies within its step, and the samples span both steps.
        assert!(v1.t_ms >= low_ms && v1.t_ms < low_ms + 5, "{id}: {v1:?}");
        assert!(
            low.iter().any(|s| s.t_ms <= low_ms / 4) && low.iter().any(|s| s.t_ms >= low_ms / 2),
            "{id}: {low:?}"
        );
        assert!(
            high.iter()
                .all(|s| s.t_ms > low_ms && s.t_ms < low_ms + high_ms + 5),
            "{id}: {high:?}"
        );
        assert!(
            high.iter().any(|s| s.t_ms >= low_ms + high_ms / 2),
            "{id}: {high:?}"
        );

        // The drop under load: rest above every low reading, every low above every high.
        let max = |s: &[Sample]| s.iter().map(|s| s.voltage_v).fold(f32::MIN, f32::max);
        let min = |s: &[Sample]| s.iter().map(|s| s.voltage_v).fold(f32::MAX, f32::min);
        assert!(
            rest.voltage_v > max(low) && min(low) > max(high),
            "{id}: rest {rest:?}, low {low:?}, high {high:?}"
        );
        // And the samples agree with the reply's resistance.
        let r =
            (f64::from(min(low)) - f64::from(max(high))) / (f64::from(high_ma - low_ma) / 1000.0);
        close(
            r,
            f64::from(d.resistance_ohm),
            0.002,
            &format!("{id} resistance from the samples"),
        );
        // v_min is the lowest reading under load: the high step's.
        assert!(!d.collapsed, "{id}: {d:?}");
        assert_eq!(d.v_min_v, min(high).min(d.v2_v), "{id}: {d:?}");
    }
    assert!(tested >= 20, "only {tested} phones hold 4 A");
}

#[test]
fn dcir_samples_cover_a_short_high_step() {
    // A 100 ms high step after a 60 s low step: no progress mark falls in it, its own points do.
    let (low_ms, high_ms) = (60_000u32, 100u32);
    let seen = progress_of(Request::BatteryDcir {
        slot: 0,
        low_ma: 500,
        low_ms,
        high_ma: 2500,
        high_ms,
    });
    let high: Vec<Sample> = seen
        .iter()
        .filter_map(|(_, _, s)| *s)
        .filter(|s| s.current_a > 2.0)
        .collect();
    // The point after the load change is capped at a quarter of the step, where it meets the
    // first quarter: 25, 50 and 75 ms into the step.
    let into: Vec<u32> = high.iter().map(|s| s.t_ms - low_ms).collect();
    assert_eq!(high.len(), DCIR_SAMPLES_PER_STEP as usize - 1, "{high:?}");
    for (got, want) in into.iter().zip([25, 50, 75]) {
        assert!((want..want + 3).contains(got), "{into:?}");
    }
}
