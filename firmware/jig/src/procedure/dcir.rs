//! `battery.dcir`: IEC 61960 DC internal resistance. The load draws `low_ma` (0.2 C) for
//! `low_ms` (10 s), the jig samples V1 and I1 on the battery monitor, then `high_ma` (1 C) for
//! `high_ms` (1 s) and samples V2 and I2. R = (V1 - V2) / (I2 - I1).
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
use embedded_hal::{delay::DelayNs, digital::InputPin, digital::OutputPin, i2c::I2c};

use super::{OrFault, Step};
use crate::board::Board;
use crate::driver::{ina226, mcp4725};

/// Smallest current step that gives a meaningful resistance, A (the request's own step is
/// checked against the same bound before anything runs).
const MIN_DELTA_A: f32 = benchline_protocol::range::DCIR_MIN_STEP_MA as f32 / 1000.0;

/// State of a DCIR measurement.
#[derive(Debug)]
pub struct Dcir {
    phase: Phase,
    high_ma: u16,
    high_ms: u32,
    /// Duration of the step under way, us.
    step_us: u64,
    /// The samples for the host's chart; `None` when the procedure does not report progress.
    chart: Option<Chart>,
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
fn read<B: I2c, O, I, D>(board: &mut Board<B, O, I, D>) -> Result<(f32, f32), JigError> {
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
    pub fn start<B: I2c, O, I, D>(
        board: &mut Board<B, O, I, D>,
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
                high_ma,
                high_ms,
                step_us: u64::from(low_ms) * 1000,
                chart,
            },
            low_ms,
        ))
    }

    /// Samples at the end of a step; `now_us` is the jig time at the start of the step.
    pub fn step<B: I2c, O: OutputPin, I: InputPin, D: DelayNs>(
        &mut self,
        board: &mut Board<B, O, I, D>,
        now_us: u64,
    ) -> Result<Step, JigError> {
        let (v, i) = read(board)?;
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
                if i - i1 < MIN_DELTA_A {
                    // The load did not draw the second step: the load or its wiring is faulty.
                    return Err(JigError::HardwareFault(Instrument::Load));
                }
                Ok(Step::Done(Reply::Dcir(benchline_protocol::Dcir {
                    v1_v: v1,
                    i1_a: i1,
                    v2_v: v,
                    i2_a: i,
                    resistance_ohm: (v1 - v) / (i - i1),
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
    pub fn sample<B: I2c, O, I, D>(
        &mut self,
        board: &mut Board<B, O, I, D>,
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

    fn board(expect: &[Transaction]) -> Board<Mock, (), (), ()> {
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
}
