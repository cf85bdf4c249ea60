//! The phone's battery pack as the jig's load sees it: a Li-ion cell (open-circuit voltage from
//! the state of charge, in series with its DC internal resistance) behind the pack's protection
//! circuit.
//!
//! Physical model: while the load asks for `I`, the cell's terminal voltage would be
//! `OCV - I x R`. A cell cannot deliver current below its discharge cut-off ([`CUTOFF_V`], about
//! 3.0 V for a phone's Li-ion cell: DESIGN.md, "Battery"). When `OCV - I x R` would fall below
//! it, the pack's protection circuit trips and opens the pack's output: no current flows, and
//! the load pulls the pack's terminals (the battery monitor's bus) to 0 V. The cell itself rests
//! at its open-circuit voltage behind the open switch. The protection releases as soon as the
//! load asks for no more than the cell can give above the cut-off (at the latest when the jig
//! switches the load off), as a protection IC's lockout releases when the load is removed; the
//! model keeps no state, so the next procedure sees the cell again.
//!
//! Every device that sees the battery path answers from [`under_load`]: the INA226 on the load
//! path (bus voltage and current) and the gauge (its current register).

use crate::phone::Phone;

/// Discharge cut-off of a phone's Li-ion cell, V: the pack's protection opens when the cell
/// would fall below it under load. The same value as the jig's
/// `benchline_protocol::range::DCIR_CUTOFF_MV` (a truth test keeps them equal).
pub const CUTOFF_V: f64 = 3.0;

/// What the pack delivers to the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Output {
    /// Voltage at the pack's terminals (the battery monitor's bus), V.
    pub volts: f64,
    /// Current flowing out of the pack into the load, A.
    pub amps: f64,
    /// The protection opened the pack's output: the cell cannot deliver the load's current above
    /// its cut-off.
    pub tripped: bool,
}

/// Most current the cell delivers before its voltage reaches the cut-off, A.
pub fn max_current_a(phone: &Phone) -> f64 {
    let ohm = phone.battery.dcir_mohm / 1000.0;
    let headroom = phone.ocv() - CUTOFF_V;
    if headroom <= 0.0 {
        return 0.0;
    }
    if ohm > 0.0 {
        headroom / ohm
    } else {
        f64::INFINITY
    }
}

/// The pack while the load asks for `load_a` amperes (0 = load off).
pub fn under_load(phone: &Phone, load_a: f64) -> Output {
    let load_a = if load_a.is_finite() {
        load_a.max(0.0)
    } else {
        0.0
    };
    if load_a <= 0.0 {
        return Output {
            volts: phone.ocv(),
            amps: 0.0,
            tripped: false,
        };
    }
    let volts = phone.terminal_voltage(load_a);
    if volts < CUTOFF_V {
        Output {
            volts: 0.0,
            amps: 0.0,
            tripped: true,
        }
    } else {
        Output {
            volts,
            amps: load_a,
            tripped: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn cell(dcir_mohm: f64, soc_pct: f64) -> Result<Phone, Box<dyn std::error::Error>> {
        let mut p = crate::phone::tests::sample();
        p.battery.dcir_mohm = dcir_mohm;
        p.battery.soc_pct = soc_pct;
        Ok(p)
    }

    #[test]
    fn a_healthy_cell_delivers_the_load_on_its_resistance_line() -> TestResult {
        let p = cell(150.0, 50.0)?;
        let out = under_load(&p, 4.0);
        assert!(!out.tripped);
        assert_eq!(out.amps, 4.0);
        assert!((out.volts - (p.ocv() - 0.6)).abs() < 1e-9, "{out:?}");
        assert!(out.volts >= CUTOFF_V);
        Ok(())
    }

    #[test]
    fn a_cell_that_would_fall_below_cut_off_trips_and_delivers_nothing() -> TestResult {
        // The A54 at 50 %: 2.5 ohm at 1 A would leave 1.33 V.
        let p = cell(2500.0, 50.0)?;
        let out = under_load(&p, 1.0);
        assert_eq!(
            out,
            Output {
                volts: 0.0,
                amps: 0.0,
                tripped: true
            }
        );
        // Load off: the protection releases, the cell rests at its OCV.
        let rest = under_load(&p, 0.0);
        assert!(!rest.tripped);
        assert_eq!(rest.volts, p.ocv());
        Ok(())
    }

    #[test]
    fn the_trip_point_is_where_the_voltage_reaches_cut_off() -> TestResult {
        let p = cell(400.0, 10.0)?;
        let max = max_current_a(&p);
        assert!((max - (p.ocv() - CUTOFF_V) / 0.4).abs() < 1e-9);
        assert!(!under_load(&p, max * 0.999).tripped);
        assert!(under_load(&p, max * 1.001).tripped);
        Ok(())
    }
}
