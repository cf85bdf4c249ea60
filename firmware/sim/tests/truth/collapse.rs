//! A battery that cannot hold the DCIR load (protocol README section 9.12): the simulated cell
//! delivers nothing below its discharge cut-off (`benchline_sim::cell`), and the jig reports
//! such a cell as collapsed with an infinite resistance, never as the small resistance the
//! formula would give. Across true DCIR 0.1-5 ohm, packs of 2000 and 5000 mAh and states of
//! charge 10-90 %: a reply is either within the stated accuracy of the truth or collapsed.

use benchline_protocol::range::{DCIR_CUTOFF_MV, DCIR_HELD_MV};

use super::progress::run_alone;
use super::*;

/// The cut-off, V.
const CUTOFF_V: f64 = DCIR_CUTOFF_MV as f64 / 1000.0;

/// The first A54 of the library (5000 mAh) with its battery's resistance, charge and design
/// capacity set.
fn cell(dcir_ohm: f64, soc_pct: f64, design_mah: u16) -> Phone {
    let mut p = library()
        .phones
        .into_iter()
        .find(|p| p.model == "A54")
        .unwrap();
    p.battery.dcir_mohm = dcir_ohm * 1000.0;
    p.battery.soc_pct = soc_pct;
    p.battery.design_mah = design_mah;
    p
}

/// The IEC 61960 request of the standard plan: 0.2 C for 10 s, then 1 C for 1 s.
fn iec(design_mah: u16) -> Request {
    Request::BatteryDcir {
        slot: 0,
        low_ma: design_mah / 5,
        low_ms: 10_000,
        high_ma: design_mah,
        high_ms: 1_000,
    }
}

/// The truth's terminal voltage under `ma`, V.
fn truth_v(phone: &Phone, ma: u16) -> f64 {
    phone.ocv() - f64::from(ma) / 1000.0 * phone.battery.dcir_mohm / 1000.0
}

#[test]
fn the_simulated_cut_off_is_the_jigs() {
    assert_eq!(
        (benchline_sim::cell::CUTOFF_V * 1000.0).round() as u16,
        DCIR_CUTOFF_MV
    );
}

#[test]
fn the_issues_dead_a54_cells_are_collapsed_not_low_resistances() {
    // True 2.5, 3 and 4 ohm at 50 % once read 0.333, 0.208 and 0.0 ohm.
    for ohm in [2.5, 3.0, 4.0] {
        let phone = cell(ohm, 50.0, 5000);
        let mut b = Bench::new(Some(phone));
        let Reply::Dcir(d) = b.call(iec(5000)) else {
            panic!("{ohm} ohm")
        };
        assert!(d.collapsed, "{ohm} ohm: {d:?}");
        assert_eq!(d.resistance_ohm, f32::INFINITY, "{ohm} ohm");
        assert!(f64::from(d.v_min_v) < CUTOFF_V, "{ohm} ohm: {d:?}");
    }
}

#[test]
fn across_resistance_charge_and_capacity_a_reply_is_the_truth_or_collapsed() {
    let mut collapsed = 0;
    let mut measured = 0;
    for design in [2000u16, 5000] {
        for ohm in [0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0] {
            for soc in [10.0, 50.0, 90.0] {
                let phone = cell(ohm, soc, design);
                let what = format!("{design} mAh, {ohm} ohm, {soc} %");
                let v_low = truth_v(&phone, design / 5);
                let v_high = truth_v(&phone, design);
                let mut b = Bench::new(Some(phone));
                let Reply::Dcir(d) = b.call(iec(design)) else {
                    panic!("{what}")
                };
                // Clear of the cut-off by more than the monitor's noise, the outcome is certain.
                let margin = 0.01;
                if v_high > CUTOFF_V + margin {
                    assert!(!d.collapsed, "{what}: the cell holds: {d:?}");
                    let truth = ohm * 1000.0;
                    close(
                        f64::from(d.resistance_ohm) * 1000.0,
                        truth,
                        1.0 + truth * 0.02,
                        &format!("{what}: DCIR mOhm"),
                    );
                    measured += 1;
                } else if v_high < CUTOFF_V - margin {
                    assert!(d.collapsed, "{what}: the cell cannot hold 1 C: {d:?}");
                    collapsed += 1;
                }
                // Whatever the margin: never a finite resistance below the truth's accuracy.
                if d.collapsed {
                    assert_eq!(d.resistance_ohm, f32::INFINITY, "{what}");
                    assert!(
                        f64::from(d.v_min_v) < CUTOFF_V + f64::from(DCIR_HELD_MV) / 1000.0,
                        "{what}: {d:?}"
                    );
                } else {
                    assert!(
                        f64::from(d.resistance_ohm) >= ohm * 0.98 - 0.001,
                        "{what}: {d:?}"
                    );
                }
                // The readings follow the physical model: a step that holds reads its truth, a
                // step that cannot reads the open pack (0 V, 0 A).
                for (v, i, truth, ma) in [
                    (d.v1_v, d.i1_a, v_low, design / 5),
                    (d.v2_v, d.i2_a, v_high, design),
                ] {
                    if truth > CUTOFF_V + margin {
                        close(f64::from(v), truth, 0.002, &format!("{what}: V at {ma} mA"));
                        close(
                            f64::from(i),
                            f64::from(ma) / 1000.0,
                            0.003,
                            &format!("{what}: I at {ma} mA"),
                        );
                    } else if truth < CUTOFF_V - margin {
                        assert_eq!((v, i), (0.0, 0.0), "{what}: {ma} mA trips the pack");
                    }
                }
            }
        }
    }
    assert!(
        collapsed >= 20 && measured >= 5,
        "{collapsed} collapsed, {measured} measured"
    );
}

#[test]
fn a_collapse_shows_in_the_samples_and_the_load_is_switched_off() {
    // 0.5 ohm at 10 %: the 1 A step holds (3.1 V), the 5 A step cannot (1.1 V).
    let phone = cell(0.5, 10.0, 5000);
    let ocv = phone.ocv();
    let (seen, reply) = run_alone(phone.clone(), &iec(5000));
    let Reply::Dcir(d) = reply else {
        panic!("{reply:?}")
    };
    assert!(d.collapsed, "{d:?}");
    assert!(
        (f64::from(d.v1_v) - truth_v(&phone, 1000)).abs() < 0.002,
        "{d:?}"
    );
    assert_eq!((d.v2_v, d.i2_a, d.v_min_v), (0.0, 0.0, 0.0), "{d:?}");
    let samples: Vec<Sample> = seen.iter().filter_map(|(_, _, s)| *s).collect();
    // The rest level is the open-circuit voltage; the high step's samples read the open pack.
    assert!((f64::from(samples[0].voltage_v) - ocv).abs() < 0.002);
    let high: Vec<&Sample> = samples.iter().filter(|s| s.t_ms > 10_030).collect();
    assert!(!high.is_empty());
    for s in high {
        assert_eq!((s.voltage_v, s.current_a), (0.0, 0.0), "{s:?}");
    }
    // The same phone again: the protection released when the load went off, the cell is back.
    let mut b = Bench::new(Some(phone.clone()));
    let Reply::Gauge(g) = b.call(Request::BatteryGauge { slot: 0 }) else {
        panic!()
    };
    assert_eq!(g.current_a, 0.0);
    let Reply::Dcir(d) = b.call(Request::BatteryDcir {
        slot: 0,
        low_ma: 200,
        low_ms: 1000,
        high_ma: 1000,
        high_ms: 1000,
    }) else {
        panic!()
    };
    assert!(!d.collapsed, "{d:?}");
    close(f64::from(d.resistance_ohm), 0.5, 0.011, "0.5 ohm at 1 A");
}
