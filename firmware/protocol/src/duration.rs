//! How long each procedure takes on the jig, and when it reports progress.
//!
//! [`Request::nominal_ms`] is an upper bound of the jig time a request takes, from the poll of
//! the jig's main loop that decodes it to the poll that sends its reply, when nothing else runs
//! on the jig. It counts the procedure's settle and conversion times, its I2C traffic at
//! 100 kHz and a margin; it does not count the serial link (the host adds its round trip). Every
//! other procedure running at the same time on the same jig (any slot, any channel) shares the
//! jig's one I2C bus and main loop, and can make it later by at most [`CONTENTION_MS`].
//!
//! The bounds were measured from the firmware's own timings (its wake-up times and `DelayNs`
//! calls, and the bytes it moves on the bus) and are checked against the real firmware on
//! simulated hardware by `firmware/sim/tests`.

use crate::message::Request;

/// Requests answered from the jig's own state, with at most a few bus writes: `Hello`, `Ping`,
/// `SlotStatus`, `Abort`, `Release`, `Resend`, ms.
pub const STATE_MS: u32 = 10;
/// `Identify`: three 16-byte EEPROM reads, ms.
pub const IDENTIFY_MS: u32 = 20;
/// `BatteryGauge`: nine SBS words and two SBS blocks, ms.
pub const GAUGE_MS: u32 = 30;
/// `PortCc`: two comparator searches of 1.35 ms each plus their bus traffic, ms.
pub const CC_MS: u32 = 30;
/// `PortContinuity`: eight pins, each 2 ms of settling and two 1.2 ms conversions, ms.
pub const CONTINUITY_MS: u32 = 100;
/// `ScreenTouch`: the jig waits up to 500 ms for the touch IC's scan, polling it every 5 ms, ms.
pub const TOUCH_SCAN_MS: u32 = 600;
/// `TouchRow`: one row of up to 48 raw counts, ms.
pub const TOUCH_ROW_MS: u32 = 30;
/// What `BatteryDcir` adds to `low_ms + high_ms`: setting the load three times and sampling the
/// battery monitor twice (and, when it reports progress, the rest reading before the first
/// step and the samples that fall between the steps' ends), ms.
pub const DCIR_OVERHEAD_MS: u32 = 50;
/// What `PortCharge` and `ScreenBacklight` add to `settle_ms`: switching the supply and one
/// monitor reading, ms.
pub const SETTLE_OVERHEAD_MS: u32 = 50;
/// The most another procedure running at the same time on the same jig can delay a
/// procedure: its own bus and processor work over its whole run (the touch scan's 5 ms polls
/// over 500 ms are the largest), ms.
pub const CONTENTION_MS: u32 = 80;
/// A procedure on a channel reports [`crate::Event::Progress`] when its nominal duration is at
/// least this long, ms.
pub const PROGRESS_MIN_MS: u32 = 150;
/// A procedure that reports progress sends one `Progress` event each time its percentage
/// passes another multiple of this many points (10, 20, ... 90).
pub const PROGRESS_STEP_PCT: u8 = 10;
/// A `battery.dcir` that reports progress samples each of its two load steps at this many
/// points: one shortly after the load change, then at each further 1/this of the step (1/4,
/// 1/2, 3/4). Each sample goes to the host in an [`crate::Event::Progress`].
pub const DCIR_SAMPLES_PER_STEP: u32 = 4;
/// How long after a load change `battery.dcir` takes the first sample of the new step, capped
/// at 1/[`DCIR_SAMPLES_PER_STEP`] of the step, ms: one full conversion of the battery monitor
/// (16 averages of a 1.1 ms bus and a 1.1 ms shunt conversion, 35.2 ms), so that the reading
/// holds only the new level.
pub const DCIR_SAMPLE_SETTLE_MS: u32 = 36;

impl Request {
    /// The most jig time the request takes when nothing else runs on the jig, ms: from the
    /// procedure's parameters where it has them (`BatteryDcir`: `low_ms + high_ms`;
    /// `PortCharge`, `ScreenBacklight`: `settle_ms`) plus a bound on its bus work, and a fixed
    /// bound for the others. Excludes the serial link. Parameters outside their ranges saturate
    /// instead of overflowing.
    pub fn nominal_ms(&self) -> u32 {
        match *self {
            Request::Hello
            | Request::Ping { .. }
            | Request::SlotStatus { .. }
            | Request::Abort { .. }
            | Request::Release { .. }
            | Request::Resend { .. } => STATE_MS,
            Request::Identify { .. } => IDENTIFY_MS,
            Request::BatteryGauge { .. } => GAUGE_MS,
            Request::BatteryDcir {
                low_ms, high_ms, ..
            } => low_ms
                .saturating_add(high_ms)
                .saturating_add(DCIR_OVERHEAD_MS),
            Request::PortCc { .. } => CC_MS,
            Request::PortContinuity { .. } => CONTINUITY_MS,
            Request::PortCharge { settle_ms, .. } | Request::ScreenBacklight { settle_ms, .. } => {
                settle_ms.saturating_add(SETTLE_OVERHEAD_MS)
            }
            Request::ScreenTouch { .. } => TOUCH_SCAN_MS,
            Request::TouchRow { .. } => TOUCH_ROW_MS,
        }
    }

    /// True when the procedure sends [`crate::Event::Progress`] while it runs: it occupies a
    /// channel and its [`Request::nominal_ms`] is at least [`PROGRESS_MIN_MS`].
    pub fn reports_progress(&self) -> bool {
        self.channel().is_some() && self.nominal_ms() >= PROGRESS_MIN_MS
    }
}
