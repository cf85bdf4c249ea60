//! The real jig application on simulated hardware: every procedure's measurement matches the
//! phone's truth within the tolerances stated in the crate docs, procedures on different channels
//! overlap, and a ping is answered within 10 ms of jig time during a long procedure.
//!
//! The modules test the behavioural contract of `firmware/protocol/README.md`: [`contract`]
//! (resend, slot states, state requests, typed errors, undecodable frames, boot),
//! [`progress`] (progress events), [`timing`] (nominal durations) and [`collapse`] (a battery
//! that cannot hold the DCIR load).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use benchline_jig::Clock;
use benchline_protocol::*;
use benchline_sim::{build_jig, Library, Phone, Rig, SimClock, SimJig};

mod collapse;
mod contract;
mod progress;
mod timing;

struct Bench {
    rig: Rc<RefCell<Rig>>,
    clock: SimClock,
    jig: SimJig,
    seq: u16,
    inbox: Vec<Packet<JigMsg>>,
}

fn library() -> Library {
    Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/phones")).unwrap()
}

impl Bench {
    fn new(phone: Option<Phone>) -> Self {
        let clock = SimClock::new(0.0);
        let rig = Rig::new(2, clock.clone(), 7);
        if let Some(p) = phone {
            rig.borrow_mut().insert(0, p);
        }
        Bench::on(rig, clock, "SIM-T", 42)
    }

    /// A jig built on `rig` (phones already seated), booted and its first frames read.
    fn on(rig: Rc<RefCell<Rig>>, clock: SimClock, serial: &str, boot_id: u32) -> Self {
        let jig = build_jig(&rig, serial, boot_id, PROTOCOL_VERSION);
        let mut b = Bench {
            rig,
            clock,
            jig,
            seq: 0,
            inbox: Vec::new(),
        };
        b.pump();
        b
    }

    /// Polls the jig until every request sent so far was taken up; collects what it wrote.
    fn pump(&mut self) {
        loop {
            self.jig.poll().unwrap();
            let out = self.jig.link_mut().take_output();
            for f in out.split(|&b| b == 0).filter(|f| !f.is_empty()) {
                self.inbox.push(decode_frame::<JigMsg>(f).unwrap());
            }
            if self.jig.queued() == 0 {
                break;
            }
        }
    }

    fn send(&mut self, req: Request) -> u16 {
        self.send_any(req)
    }

    /// Sends any serializable message as the body of a request frame (intact, with its CRC).
    fn send_any<T: serde::Serialize>(&mut self, msg: T) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        let mut buf = [0u8; MAX_ENCODED_FRAME];
        let n = encode_frame(&Packet { seq: self.seq, msg }, &mut buf).unwrap();
        self.jig.link_mut().feed(&buf[..n]);
        self.seq
    }

    /// Power-cycles the jig: outputs off, a new boot, the phones stay seated.
    fn reboot(&mut self, boot_id: u32) {
        for s in self.rig.borrow_mut().slots.iter_mut() {
            s.wiring = Default::default();
        }
        self.jig = build_jig(&self.rig, "SIM-T", boot_id, PROTOCOL_VERSION);
        self.inbox.clear();
        self.pump();
    }

    /// The events received so far, with their event numbers, in arrival order.
    fn events(&self) -> Vec<(u16, Event)> {
        self.inbox
            .iter()
            .filter_map(|p| match &p.msg {
                JigMsg::Event(e) => Some((p.seq, e.clone())),
                JigMsg::Reply(_) => None,
            })
            .collect()
    }

    fn status(&mut self, slot: u8) -> SlotStatus {
        match self.call(Request::SlotStatus { slot }) {
            Reply::Slot(s) => s,
            other => panic!("slot status: {other:?}"),
        }
    }

    fn take_reply(&mut self, seq: u16) -> Option<Reply> {
        let i = self
            .inbox
            .iter()
            .position(|p| p.seq == seq && matches!(p.msg, JigMsg::Reply(_)))?;
        match self.inbox.remove(i).msg {
            JigMsg::Reply(r) => Some(r),
            JigMsg::Event(_) => None,
        }
    }

    /// Runs the jig (jumping virtual time to each deadline) until `seq` is answered.
    fn wait(&mut self, seq: u16) -> Reply {
        for _ in 0..10_000 {
            self.pump();
            if let Some(r) = self.take_reply(seq) {
                return r;
            }
            if let Some(t) = self.jig.next_deadline() {
                self.clock.advance_to(t);
            }
        }
        panic!("no reply to {seq}");
    }

    fn call(&mut self, req: Request) -> Reply {
        let seq = self.send(req);
        self.wait(seq)
    }
}

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: measured {actual}, truth {expected}, tolerance {tol}"
    );
}

#[test]
fn hello_reports_versions_and_instruments() {
    let mut b = Bench::new(None);
    let Reply::Hello(h) = b.call(Request::Hello) else {
        panic!()
    };
    assert_eq!(h.protocol_version, PROTOCOL_VERSION);
    assert_eq!(h.schema_hash, schema_hash());
    assert_eq!(h.slots, 2);
    assert_eq!(h.boot_id, 42);
    assert!(
        h.simulated,
        "the simulator must announce itself as simulated"
    );
    assert!(h.instruments.contains(&Instrument::PowerMonitor));
    assert!(h.instruments.contains(&Instrument::CcFrontEnd));
    assert!(b
        .inbox
        .iter()
        .any(|p| p.msg == JigMsg::Event(Event::Booted { boot_id: 42 })));
}

#[test]
fn every_phone_measures_its_truth() {
    for phone in library().phones {
        let mut b = Bench::new(Some(phone.clone()));
        let id = &phone.id;

        let Reply::Identity(ident) = b.call(Request::Identify { slot: 0 }) else {
            panic!("{id}")
        };
        assert_eq!(
            (ident.model.as_str(), ident.imei.as_str()),
            (phone.model.as_str(), phone.imei.as_str())
        );

        let Reply::Gauge(g) = b.call(Request::BatteryGauge { slot: 0 }) else {
            panic!("{id}")
        };
        let health = f64::from(g.full_charge_mah) / f64::from(g.design_mah) * 100.0;
        close(
            health,
            phone.battery.health_pct,
            0.1,
            &format!("{id} health %"),
        );
        assert_eq!(g.cycle_count, phone.battery.cycles, "{id} cycles");

        let c = f64::from(phone.battery.design_mah);
        let req = Request::BatteryDcir {
            slot: 0,
            low_ma: (c * 0.2) as u16,
            low_ms: 10_000,
            high_ma: c as u16,
            high_ms: 1_000,
        };
        let t0 = b.clock.now_us();
        let Reply::Dcir(d) = b.call(req) else {
            panic!("{id}")
        };
        assert!(
            b.clock.now_us() - t0 >= 11_000_000,
            "{id}: a DCIR pulse takes 11 s of jig time"
        );
        let truth = phone.battery.dcir_mohm;
        // A cell that cannot hold 1 C above its cut-off is reported collapsed (README 9.12).
        let v_high = phone.ocv() - c / 1000.0 * truth / 1000.0;
        let cutoff = f64::from(range::DCIR_CUTOFF_MV) / 1000.0;
        if v_high < cutoff - 0.01 {
            assert!(d.collapsed, "{id}: {d:?}");
            assert_eq!(d.resistance_ohm, f32::INFINITY, "{id}");
        } else if v_high > cutoff + 0.01 {
            assert!(!d.collapsed, "{id}: {d:?}");
            close(
                f64::from(d.resistance_ohm) * 1000.0,
                truth,
                1.0 + truth * 0.02,
                &format!("{id} DCIR mOhm"),
            );
        }

        let Reply::Cc(cc) = b.call(Request::PortCc { slot: 0 }) else {
            panic!("{id}")
        };
        for (v, n) in [(cc.cc1_v, 1u8), (cc.cc2_v, 2)] {
            let expected = phone
                .cc_rd_ohm(n)
                .map_or(5.0_f64.min(64.5 * 0.042), |rd| 5.0 * rd / (22_000.0 + rd));
            close(f64::from(v), expected, 0.042, &format!("{id} CC{n} V"));
        }

        let Reply::Continuity(cont) = b.call(Request::PortContinuity { slot: 0 }) else {
            panic!("{id}")
        };
        for (i, r) in cont.pins.iter().enumerate() {
            match phone.pin_ohm(i) {
                None => assert!(
                    r.resistance_ohm.is_infinite(),
                    "{id} pin {i} should be open: {r:?}"
                ),
                Some(ohm) => close(
                    f64::from(r.resistance_ohm),
                    ohm,
                    0.007,
                    &format!("{id} pin {i} ohm"),
                ),
            }
            close(
                f64::from(r.leakage_a),
                phone.leakage_a(i),
                2e-9,
                &format!("{id} pin {i} leakage"),
            );
        }

        let Reply::Charge(ch) = b.call(Request::PortCharge {
            slot: 0,
            settle_ms: 1000,
        }) else {
            panic!("{id}")
        };
        let vbus_ok = phone.pin_ohm(0).is_some() && phone.pin_ohm(1).is_some();
        let expected = if vbus_ok {
            phone.port.charge_ma / 1000.0
        } else {
            0.0
        };
        close(
            f64::from(ch.current_a),
            expected,
            0.003,
            &format!("{id} charge A"),
        );

        let Reply::TouchScan(scan) = b.call(Request::ScreenTouch { slot: 0 }) else {
            panic!("{id}")
        };
        assert_eq!(
            (scan.rows, scan.cols),
            (phone.screen.rows, phone.screen.cols)
        );
        let mut low = Vec::new();
        let mut high = Vec::new();
        for row in 0..scan.rows {
            let Reply::TouchRow(r) = b.call(Request::TouchRow { slot: 0, row }) else {
                panic!("{id}")
            };
            assert_eq!(r.raw.len(), usize::from(scan.cols));
            for (col, &v) in r.raw.iter().enumerate() {
                if v < 2000 {
                    low.push([row, col as u8]);
                } else if v > 9000 {
                    high.push([row, col as u8]);
                }
            }
        }
        assert_eq!(low, phone.screen.dead_nodes, "{id} dead nodes");
        assert_eq!(high, phone.screen.shorted_nodes, "{id} shorted nodes");

        let Reply::Backlight(bl) = b.call(Request::ScreenBacklight {
            slot: 0,
            settle_ms: 50,
        }) else {
            panic!("{id}")
        };
        close(
            f64::from(bl.current_a),
            phone.screen.backlight_ma / 1000.0,
            0.000_2,
            &format!("{id} backlight A"),
        );
    }
}

#[test]
fn channels_overlap_and_ping_is_answered_within_10ms_of_jig_time() {
    let phone = library().phones.remove(0);
    let mut b = Bench::new(Some(phone));
    let dcir = b.send(Request::BatteryDcir {
        slot: 0,
        low_ma: 870,
        low_ms: 10_000,
        high_ma: 4355,
        high_ms: 1_000,
    });
    let cont = b.send(Request::PortContinuity { slot: 0 });
    b.pump();
    // While the DCIR runs, the port channel finishes and pings come back at once.
    let mut pongs = 0;
    while b.take_reply(dcir).is_none() {
        let sent_at = b.clock.now_us();
        let ping = b.send(Request::Ping { nonce: pongs });
        b.pump();
        let r = b.take_reply(ping).expect("pong in the same poll");
        assert_eq!(r, Reply::Pong { nonce: pongs });
        assert!(
            b.clock.now_us() - sent_at < 10_000,
            "ping took {} us",
            b.clock.now_us() - sent_at
        );
        pongs += 1;
        if let Some(t) = b.jig.next_deadline() {
            b.clock.advance_to(t.min(b.clock.now_us() + 500_000));
        }
        b.pump();
    }
    assert!(pongs > 10, "pinged {pongs} times during the DCIR");
    assert!(
        matches!(b.take_reply(cont), Some(Reply::Continuity(_))),
        "continuity finished during DCIR"
    );
}

#[test]
fn busy_channel_and_missing_phone_are_typed_errors() {
    let phone = library().phones.remove(0);
    let mut b = Bench::new(Some(phone));
    let first = b.send(Request::BatteryDcir {
        slot: 0,
        low_ma: 800,
        low_ms: 10_000,
        high_ma: 4000,
        high_ms: 1_000,
    });
    let second = b.send(Request::BatteryGauge { slot: 0 });
    b.pump();
    assert_eq!(
        b.take_reply(second),
        Some(Reply::Error(JigError::Busy(Channel::Battery)))
    );
    assert_eq!(
        b.call(Request::Abort {
            slot: 0,
            channel: Channel::Battery
        }),
        Reply::Done
    );
    assert_eq!(b.take_reply(first), Some(Reply::Error(JigError::Aborted)));
    assert_eq!(
        b.call(Request::BatteryGauge { slot: 1 }),
        Reply::Error(JigError::NoPhone)
    );
    assert_eq!(
        b.call(Request::BatteryGauge { slot: 9 }),
        Reply::Error(JigError::BadRequest)
    );
    assert_eq!(
        b.rig.borrow().slots[0].wiring.load_a,
        0.0,
        "abort switches the load off"
    );
}

#[test]
fn removing_the_phone_aborts_its_procedures() {
    let phone = library().phones.remove(0);
    let mut b = Bench::new(Some(phone));
    let charge = b.send(Request::PortCharge {
        slot: 0,
        settle_ms: 5_000,
    });
    b.pump();
    assert!(b.rig.borrow().slots[0].wiring.vbus_on_since.is_some());
    b.rig.borrow_mut().remove(0);
    b.pump();
    assert_eq!(b.take_reply(charge), Some(Reply::Error(JigError::Aborted)));
    assert!(b
        .inbox
        .iter()
        .any(|p| p.msg == JigMsg::Event(Event::PhoneRemoved { slot: 0 })));
    assert!(
        b.rig.borrow().slots[0].wiring.vbus_on_since.is_none(),
        "VBUS is off once the phone is gone"
    );
}

#[test]
fn garbage_on_the_line_is_dropped_and_the_jig_keeps_answering() {
    let mut b = Bench::new(None);
    b.jig.link_mut().feed(&[0x13, 0x37, 0xFF, 0x00, 0x42, 0x00]);
    b.jig.link_mut().feed(&[0xAA; 700]);
    b.jig.link_mut().feed(&[0x00]);
    assert_eq!(b.call(Request::Ping { nonce: 9 }), Reply::Pong { nonce: 9 });
    assert_eq!(b.jig.bad_frames(), 3);
}
