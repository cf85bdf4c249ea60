//! The parameter ranges the jig accepts. A request with a parameter outside its range is
//! answered `Error(BadRequest)` and nothing runs. The ranges are physical: what the jig's load,
//! monitors and timers can do, and a superset of what the host's plan catalogue lets a plan ask.
//!
//! `README.md` ("Parameter ranges") lists the same values; a test keeps the two equal.

use core::ops::RangeInclusive;

use crate::message::Request;

/// Load current of either `BatteryDcir` step (`low_ma`, `high_ma`), mA. The top is what the
/// battery monitor measures (full scale 6.55 A with its 10 mOhm shunt); the load could draw
/// 8.19 A, but a step the monitor cannot measure would give a wrong resistance. Also
/// `low_ma < high_ma`.
pub const DCIR_MA: RangeInclusive<u16> = 1..=6_500;
/// Duration of the first (low) `BatteryDcir` step, ms: up to a minute.
pub const DCIR_LOW_MS: RangeInclusive<u32> = 1..=60_000;
/// Duration of the second (high) `BatteryDcir` step, ms: up to 10 s at the high current.
pub const DCIR_HIGH_MS: RangeInclusive<u32> = 1..=10_000;
/// Least difference between the two `BatteryDcir` steps (`high_ma - low_ma`), mA: a smaller step
/// gives no meaningful resistance. A step in range that the load then fails to draw (measured
/// I2 - I1 below this) is the load's fault: `HardwareFault(Load)`.
pub const DCIR_MIN_STEP_MA: u16 = 10;
/// Discharge cut-off of a phone's Li-ion cell, mV. A `BatteryDcir` reading under load below it
/// means the battery cannot deliver the step's current: the reply says `collapsed` (README
/// section 9.12). This is the cell's physics (the end of its usable voltage), not a grading limit.
pub const DCIR_CUTOFF_MV: u16 = 3_000;
/// How close to the cut-off, mV, a step's voltage counts as held there by the cell's protection
/// or the load's compliance: a step that draws less than half its setpoint at a voltage below
/// `DCIR_CUTOFF_MV + DCIR_HELD_MV` collapsed. With the voltage higher the cell was not the limit.
pub const DCIR_HELD_MV: u16 = 100;
/// `PortCharge` settle time, ms: up to 30 s for the phone to negotiate.
pub const CHARGE_SETTLE_MS: RangeInclusive<u32> = 0..=30_000;
/// `ScreenBacklight` settle time, ms: up to 10 s.
pub const BACKLIGHT_SETTLE_MS: RangeInclusive<u32> = 0..=10_000;

impl Request {
    /// True when every parameter of the request lies in its range (for `BatteryDcir` also
    /// `high_ma - low_ma >= DCIR_MIN_STEP_MA`). Slot numbers and touch rows depend on the jig and the last scan, so
    /// the jig checks those itself.
    pub fn params_in_range(&self) -> bool {
        match *self {
            Request::BatteryDcir {
                low_ma,
                low_ms,
                high_ma,
                high_ms,
                ..
            } => {
                DCIR_MA.contains(&low_ma)
                    && DCIR_MA.contains(&high_ma)
                    && high_ma.saturating_sub(low_ma) >= DCIR_MIN_STEP_MA
                    && DCIR_LOW_MS.contains(&low_ms)
                    && DCIR_HIGH_MS.contains(&high_ms)
            }
            Request::PortCharge { settle_ms, .. } => CHARGE_SETTLE_MS.contains(&settle_ms),
            Request::ScreenBacklight { settle_ms, .. } => BACKLIGHT_SETTLE_MS.contains(&settle_ms),
            _ => true,
        }
    }
}
