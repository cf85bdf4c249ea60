//! The jig's clock: embassy-time's monotonic timer (the RP2040's 1 MHz TIMER), in microseconds
//! since boot.

use benchline_jig::Clock;
use embassy_time::Instant;

/// Microseconds since boot from the RP2040 timer.
pub struct Uptime;

impl Clock for Uptime {
    fn now_us(&self) -> u64 {
        Instant::now().as_micros()
    }
}
