//! `battery.dcir`: IEC 61960 DC internal resistance. The load draws `low_ma` (0.2 C) for
//! `low_ms` (10 s), the jig samples V1 and I1 on the battery monitor, then `high_ma` (1 C) for
//! `high_ms` (1 s) and samples V2 and I2. R = (V1 - V2) / (I2 - I1).
//!
//! A battery that cannot hold a step (protocol README section 9.12) is reported as such: every
//! reading under load is checked against the cell's discharge cut-off
//! ([`DCIR_CUTOFF_MV`](benchline_protocol::range::DCIR_CUTOFF_MV)), and each step's closing
//! reading also against its setpoint (a current below half of it with the voltage held near the
//! cut-off). The reply then says `collapsed`, with `resistance_ohm = +inf`: the formula would give
//! a small resistance for a cell whose voltage fell to zero. The jig still runs both steps, so the
//! procedure's timing and samples do not depend on the battery.
//!
//! When the procedure reports progress it also takes the samples the host draws its chart from
//! (`Event::Progress.sample`, protocol README section 9.8): the rest level before the load is
//! switched on, then in each step one reading [`DCIR_SAMPLE_SETTLE_MS`] after the load change
//! (capped at a quarter of the step) and one at each further quarter, and the V1/I1 reading at
//! the end of the low step. The jig also asks for a reading at each progress mark
//! ([`Dcir::sample`]). A step's points are due relative to the step's end, which the caller
//! tracks (the job's wake-up time).

use benchline_protocol::duration::{DCIR_SAMPLES_PER_STEP, DCIR_SAMPLE_SETTLE_MS};
use benchline_protocol::{Instrument, JigError, Reply, Sample};
use embedded_hal::i2c::I2c;

use super::{OrFault, Step};
use crate::board::Board;
use crate::driver::{ina226, mcp4725};

/// Smallest current step that gives a meaningful resistance, A (the request's own step is
/// checked against the same bound before anything runs).
const MIN_DELTA_A: f32 = benchline_protocol::range::DCIR_MIN_STEP_MA as f32 / 1000.0;

/// The cell's discharge cut-off, V.
const CUTOFF_V: f32 = benchline_protocol::range::DCIR_CUTOFF_MV as f32 / 1000.0;

/// Below this voltage, V, a step that draws less than half its setpoint is held at the cut-off by
/// the cell (its protection, or the load's compliance): the cell was the limit, not the load.
const HELD_V: f32 = (benchline_protocol::range::DCIR_CUTOFF_MV
    + benchline_protocol::range::DCIR_HELD_MV) as f32
    / 1000.0;

/// What the readings under load say about the battery so far.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hold {
    /// Lowest voltage read under load, V (`+inf` before the first).
    v_min: f32,
    /// The battery could not hold a step.
    collapsed: bool,
}

impl Hold {
    const NONE: Hold = Hold {
        v_min: f32::INFINITY,
        collapsed: false,
    };

    /// Takes a reading under load: `v` V, `i` A. `setpoint_a` is the step's current when the
    /// reading closes the step (settled), `None` for a sample within the step.
    fn reading(&mut self, v: f32, i: f32, setpoint_a: Option<f32>) {
        if v < self.v_min {
            self.v_min = v;
        }
        let below_cutoff = v < CUTOFF_V;
        let short = setpoint_a.is_some_and(|set| i < set / 2.0 && v < HELD_V);
        if below_cutoff || short {
            self.collapsed = true;
        }
    }
}

/// State of a DCIR measurement.
#[derive(Debug)]
pub struct Dcir {
    phase: Phase,
    low_ma: u16,
    high_ma: u16,
    high_ms: u32,
    /// Duration of the step under way, us.
    step_us: u64,
    /// The samples for the host's chart; `None` when the procedure does not report progress.
    chart: Option<Chart>,
    /// Whether the battery held the load so far.
    hold: Hold,
}

#[derive(Debug)]
enum Phase {
    Low,
    High { v1: f32, i1: f32 },
}

/// Where the chart's samples stand.
#[derive(Debug)]
struct Chart {
    /// Jig time the procedure started: `t_ms = 0`, us.
    origin_us: u64,
    /// The next sample point of the step under way (0 = after the load change, then the
    /// quarters); [`DCIR_SAMPLES_PER_STEP`] when none is left.
    next: u32,
    /// A reading the procedure took for itself in this poll (the rest level, V1 and I1), to be
    /// sent instead of a new one.
    taken: Option<Sample>,
}

/// Milliseconds from `origin_us` to `at_us`, saturating.
fn ms_since(origin_us: u64, at_us: u64) -> u32 {
    u32::try_from(at_us.saturating_sub(origin_us) / 1000).unwrap_or(u32::MAX)
}

/// Offset of sample point `k` from the start of a step of `step_us`, us.
fn point_us(step_us: u64, k: u32) -> u64 {
    let part = step_us / u64::from(DCIR_SAMPLES_PER_STEP);
    if k == 0 {
        (u64::from(DCIR_SAMPLE_SETTLE_MS) * 1000).min(part)
    } else {
        step_us * u64::from(k) / u64::from(DCIR_SAMPLES_PER_STEP)
    }
}

/// Battery voltage and current, V and A.
fn read<B: I2c, S, D>(board: &mut Board<B, S, D>) -> Result<(f32, f32), JigError> {
    let v = ina226::bus_voltage(&mut board.i2c, ina226::Fit::BATTERY)
        .or_fault(Instrument::PowerMonitor)?;
    let i =
        ina226::current(&mut board.i2c, ina226::Fit::BATTERY).or_fault(Instrument::PowerMonitor)?;
    Ok((v, i))
}

impl Dcir {
    /// Applies the low step and returns the job with its first wait (the low step), ms. The
    /// jig checks the parameters against `benchline_protocol::range` before; a second step that
    /// is not above the first is refused here too. With `chart_from` (the jig time the
    /// procedure started, when it reports progress) the battery monitor is read first, with
    /// the load still off: the rest level, the chart's first sample.
    pub fn start<B: I2c, S, D>(
        board: &mut Board<B, S, D>,
        low_ma: u16,
        low_ms: u32,
        high_ma: u16,
        high_ms: u32,
        chart_from: Option<u64>,
    ) -> Result<(Self, u32), JigError> {
        if low_ma >= high_ma {
            return Err(JigError::BadRequest);
        }
        let chart = match chart_from {
            Some(origin_us) => {
                let (voltage_v, current_a) = read(board)?;
                Some(Chart {
                    origin_us,
                    next: 0,
                    taken: Some(Sample {
                        t_ms: 0,
                        voltage_v,
                        current_a,
                    }),
                })
            }
            None => None,
        };
        mcp4725::set_load_ma(&mut board.i2c, u32::from(low_ma)).or_fault(Instrument::Load)?;
        Ok((
            Dcir {
                phase: Phase::Low,
                low_ma,
                high_ma,
                high_ms,
                step_us: u64::from(low_ms) * 1000,
                chart,
                hold: Hold::NONE,
            },
            low_ms,
        ))
    }

    /// Samples at the end of a step; `now_us` is the jig time at the start of the step.
    pub fn step<B: I2c, S, D>(
        &mut self,
        board: &mut Board<B, S, D>,
        now_us: u64,
    ) -> Result<Step, JigError> {
        let (v, i) = read(board)?;
        let setpoint_ma = match self.phase {
            Phase::Low => self.low_ma,
            Phase::High { .. } => self.high_ma,
        };
        self.hold
            .reading(v, i, Some(f32::from(setpoint_ma) / 1000.0));
        match self.phase {
            Phase::Low => {
                mcp4725::set_load_ma(&mut board.i2c, u32::from(self.high_ma))
                    .or_fault(Instrument::Load)?;
                self.phase = Phase::High { v1: v, i1: i };
                self.step_us = u64::from(self.high_ms) * 1000;
                if let Some(chart) = &mut self.chart {
                    // V1 and I1 close the low step on the chart; the high step's points follow.
                    chart.taken = Some(Sample {
                        t_ms: ms_since(chart.origin_us, now_us),
                        voltage_v: v,
                        current_a: i,
                    });
                    chart.next = 0;
                }
                Ok(Step::Wait(self.high_ms))
            }
            Phase::High { v1, i1 } => {
                mcp4725::set_load_ma(&mut board.i2c, 0).or_fault(Instrument::Load)?;
                let Hold { v_min, collapsed } = self.hold;
                if !collapsed && i - i1 < MIN_DELTA_A {
                    // The load did not draw the second step while the battery held its voltage:
                    // the load or its wiring is faulty.
                    return Err(JigError::HardwareFault(Instrument::Load));
                }
                let resistance_ohm = if collapsed {
                    f32::INFINITY
                } else {
                    (v1 - v) / (i - i1)
                };
                Ok(Step::Done(Reply::Dcir(benchline_protocol::Dcir {
                    v1_v: v1,
                    i1_a: i1,
                    v2_v: v,
                    i2_a: i,
                    resistance_ohm,
                    collapsed,
                    v_min_v: v_min,
                })))
            }
        }
    }

    /// When the next sample is due, jig us, given the end of the step under way: at once for
    /// a reading taken in this poll; `None` when the step has no point left or the procedure
    /// takes no samples.
    pub fn next_sample_at(&self, step_end_us: u64) -> Option<u64> {
        let chart = self.chart.as_ref()?;
        if chart.taken.is_some() {
            return Some(0);
        }
        (chart.next < DCIR_SAMPLES_PER_STEP).then(|| {
            step_end_us
                .saturating_sub(self.step_us)
                .saturating_add(point_us(self.step_us, chart.next))
        })
    }

    /// The sample to send now (at a sample point or a progress mark): the reading the
    /// procedure took in this poll, or a new one of `slot` taken at `now_us`. Every point of
    /// the step due by `now_us` counts as sent. `None` when the procedure takes no samples.
    pub fn sample<B: I2c, S, D>(
        &mut self,
        board: &mut Board<B, S, D>,
        slot: u8,
        now_us: u64,
        step_end_us: u64,
    ) -> Result<Option<Sample>, JigError> {
        let step_us = self.step_us;
        let Some(chart) = self.chart.as_mut() else {
            return Ok(None);
        };
        let sample = match chart.taken.take() {
            Some(s) => s,
            None => {
                super::select(board, slot)?;
                let (voltage_v, current_a) = read(board)?;
                // Taken while a step runs: the load is on.
                self.hold.reading(voltage_v, current_a, None);
                Sample {
                    t_ms: ms_since(chart.origin_us, now_us),
                    voltage_v,
                    current_a,
                }
            }
        };
        let step_start = step_end_us.saturating_sub(step_us);
        while chart.next < DCIR_SAMPLES_PER_STEP
            && step_start.saturating_add(point_us(step_us, chart.next)) <= now_us
        {
            chart.next += 1;
        }
        Ok(Some(sample))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    fn board(expect: &[Transaction]) -> Board<Mock, (), ()> {
        Board {
            i2c: Mock::new(expect),
            delay: (),
            slots: heapless::Vec::new(),
        }
    }

    /// A fresh reading of slot 1: the mux, then bus voltage 0x0C80 (4.0 V) and current 0x0FA0
    /// (0.8 A).
    fn reading() -> [Transaction; 3] {
        [
            Transaction::write(0x70, vec![0x02]),
            Transaction::write_read(0x40, vec![0x02], vec![0x0C, 0x80]),
            Transaction::write_read(0x40, vec![0x04], vec![0x0F, 0xA0]),
        ]
    }

    #[test]
    fn a_step_has_its_points_after_the_change_and_at_its_quarters() {
        let points = |ms: u64| (0..4).map(|k| point_us(ms * 1000, k)).collect::<Vec<_>>();
        assert_eq!(points(10_000), [36_000, 2_500_000, 5_000_000, 7_500_000]);
        assert_eq!(points(1_000), [36_000, 250_000, 500_000, 750_000]);
        // Shorter than four settle times: the first point meets the first quarter.
        assert_eq!(points(100), [25_000, 25_000, 50_000, 75_000]);
    }

    #[test]
    fn samples_follow_the_schedule_and_reuse_the_procedures_own_reading() -> Result<(), JigError> {
        let rest = Sample {
            t_ms: 0,
            voltage_v: 4.1,
            current_a: 0.0,
        };
        let mut job = Dcir {
            phase: Phase::Low,
            high_ma: 4000,
            high_ms: 1000,
            step_us: 10_000_000,
            chart: Some(Chart {
                origin_us: 0,
                next: 0,
                taken: Some(rest),
            }),
            low_ma: 800,
            hold: Hold::NONE,
        };
        // The low step started at 1 ms, so it ends at 10.001 s.
        let end = 10_001_000;
        assert_eq!(
            job.next_sample_at(end),
            Some(0),
            "the rest reading, at once"
        );
        let mut quiet = board(&[]);
        assert_eq!(job.sample(&mut quiet, 1, 1_000, end)?, Some(rest));
        quiet.i2c.done();
        assert_eq!(job.next_sample_at(end), Some(37_000));

        let mut bus = board(&reading());
        let s = job.sample(&mut bus, 1, 37_000, end)?;
        bus.i2c.done();
        assert_eq!(s.map(|s| s.t_ms), Some(37));
        assert_eq!(job.next_sample_at(end), Some(2_501_000));

        // Late: every point due by now is sent in one event.
        let mut bus = board(&reading());
        let s = job.sample(&mut bus, 1, 9_000_000, end)?;
        bus.i2c.done();
        let s = s.ok_or(JigError::BadRequest)?;
        assert_eq!((s.t_ms, s.voltage_v), (9_000, 4.0));
        assert!((s.current_a - 0.8).abs() < 1e-6, "{s:?}");
        assert_eq!(job.next_sample_at(end), None);
        Ok(())
    }

    #[test]
    fn a_procedure_without_progress_takes_no_samples() -> Result<(), JigError> {
        let mut bus = board(&[Transaction::write(0x60, vec![0x01, 0x90])]);
        let (mut job, wait) = Dcir::start(&mut bus, 800, 40, 4000, 10, None)?;
        assert_eq!(wait, 40);
        assert_eq!(job.next_sample_at(40_000), None);
        assert_eq!(job.sample(&mut bus, 0, 0, 40_000)?, None);
        bus.i2c.done();
        Ok(())
    }

    /// The battery monitor's answer to one reading: bus voltage `v` V, then current `i` A.
    fn monitor(v: f32, i: f32) -> [Transaction; 2] {
        let bus = ((v / 0.001_25).round() as u16).to_be_bytes();
        let cur = ((i / 0.000_2).round() as i16).to_be_bytes();
        [
            Transaction::write_read(0x40, vec![0x02], bus.to_vec()),
            Transaction::write_read(0x40, vec![0x04], cur.to_vec()),
        ]
    }

    /// The load set to `ma`.
    fn load(ma: u16) -> Transaction {
        let [hi, lo] = ma.div_ceil(2).to_be_bytes();
        Transaction::write(0x60, vec![hi, lo])
    }

    /// A whole 800 mA / 4000 mA procedure without progress whose low and high steps end on these
    /// readings.
    fn run(low: (f32, f32), high: (f32, f32)) -> Result<Step, JigError> {
        let mut expect = vec![load(800)];
        expect.extend(monitor(low.0, low.1));
        expect.push(load(4000));
        expect.extend(monitor(high.0, high.1));
        expect.push(load(0));
        let mut bus = board(&expect);
        let (mut job, _) = Dcir::start(&mut bus, 800, 40, 4000, 10, None)?;
        assert!(matches!(job.step(&mut bus, 0)?, Step::Wait(10)));
        let done = job.step(&mut bus, 40_000);
        bus.i2c.done();
        done
    }

    fn dcir(step: Result<Step, JigError>) -> Result<benchline_protocol::Dcir, JigError> {
        match step? {
            Step::Done(Reply::Dcir(d)) => Ok(d),
            _ => Err(JigError::BadRequest),
        }
    }

    #[test]
    fn a_cell_that_holds_gives_its_resistance() -> Result<(), JigError> {
        let d = dcir(run((3.84, 0.8), (3.36, 4.0)))?;
        assert!(!d.collapsed, "{d:?}");
        assert!((d.resistance_ohm - 0.15).abs() < 0.001, "{d:?}");
        assert!((d.v_min_v - 3.36).abs() < 0.001, "{d:?}");
        Ok(())
    }

    #[test]
    fn a_voltage_collapsed_to_zero_is_reported_not_taken_for_a_small_resistance(
    ) -> Result<(), JigError> {
        // The A54: 2.5 ohm at 50 % once read 0.333 ohm. The pack's protection opened
        // under the high step: 0 V, 0 A.
        let d = dcir(run((3.33, 0.8), (0.0, 0.0)))?;
        assert!(d.collapsed, "{d:?}");
        assert_eq!(d.resistance_ohm, f32::INFINITY);
        assert_eq!(d.v_min_v, 0.0);
        assert_eq!(
            (d.v2_v, d.i2_a),
            (0.0, 0.0),
            "the readings are kept as read"
        );
        // Collapsed already at the low step: both steps still run, the reply says so.
        let d = dcir(run((0.0, 0.0), (0.0, 0.0)))?;
        assert!(d.collapsed && d.resistance_ohm.is_infinite(), "{d:?}");
        Ok(())
    }

    #[test]
    fn a_voltage_below_cut_off_is_a_collapse_even_at_full_current() -> Result<(), JigError> {
        // No protection: the cell gives the current, but at 2.2 V, below its cut-off.
        let d = dcir(run((3.6, 0.8), (2.2, 4.0)))?;
        assert!(d.collapsed, "{d:?}");
        assert!(d.resistance_ohm.is_infinite());
        assert!((d.v_min_v - 2.2).abs() < 0.001, "{d:?}");
        Ok(())
    }

    #[test]
    fn a_current_held_short_at_cut_off_is_a_collapse() -> Result<(), JigError> {
        // The load's compliance holds the cell at its cut-off: 1.2 A of the 4 A asked for.
        let d = dcir(run((3.5, 0.8), (3.02, 1.2)))?;
        assert!(d.collapsed, "{d:?}");
        assert!(d.resistance_ohm.is_infinite());
        Ok(())
    }

    #[test]
    fn a_load_that_draws_nothing_with_the_voltage_up_is_the_loads_fault() {
        // The battery holds 3.84 V: the cell was not the limit, the load was.
        assert_eq!(
            run((3.84, 0.8), (3.84, 0.8)).err(),
            Some(JigError::HardwareFault(Instrument::Load))
        );
    }

    #[test]
    fn a_sample_under_load_below_cut_off_marks_the_collapse() -> Result<(), JigError> {
        let mut hold = Hold::NONE;
        hold.reading(3.7, 0.8, Some(0.8));
        assert_eq!(
            hold,
            Hold {
                v_min: 3.7,
                collapsed: false
            }
        );
        // A sample within the step: only its voltage counts (the current may not have settled).
        hold.reading(3.05, 0.1, None);
        assert!(!hold.collapsed);
        hold.reading(2.9, 4.0, None);
        assert!(hold.collapsed);
        assert!((hold.v_min - 2.9).abs() < 1e-6);
        // NaN never lowers the minimum.
        let mut hold = Hold::NONE;
        hold.reading(f32::NAN, 0.0, None);
        assert_eq!(hold.v_min, f32::INFINITY);

        // Through `sample`: a reading of the high step at 0 V.
        let mut job = Dcir {
            phase: Phase::High { v1: 3.6, i1: 0.8 },
            low_ma: 800,
            high_ma: 4000,
            high_ms: 1000,
            step_us: 1_000_000,
            chart: Some(Chart {
                origin_us: 0,
                next: 0,
                taken: None,
            }),
            hold: Hold::NONE,
        };
        let mut expect = vec![Transaction::write(0x70, vec![0x02])];
        expect.extend(monitor(0.0, 0.0));
        let mut bus = board(&expect);
        job.sample(&mut bus, 1, 10_040_000, 11_000_000)?;
        bus.i2c.done();
        assert!(job.hold.collapsed);
        assert_eq!(job.hold.v_min, 0.0);
        Ok(())
    }
}
