//! Jig time for the simulator: scaled real time plus a virtual offset.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use benchline_jig::Clock;

/// A clock shared by the jig, its devices and the simulator loop.
#[derive(Clone)]
pub struct SimClock {
    inner: Rc<Inner>,
}

struct Inner {
    start: Instant,
    scale: f64,
    offset_us: Cell<u64>,
}

impl SimClock {
    /// `scale` real seconds per jig second: 1 real time, 0.01 a hundred times faster, 0 virtual.
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        SimClock {
            inner: Rc::new(Inner {
                start: Instant::now(),
                scale,
                offset_us: Cell::new(0),
            }),
        }
    }

    /// The time scale.
    pub fn scale(&self) -> f64 {
        self.inner.scale
    }

    /// True when time only moves by [`SimClock::advance`] and [`SimClock::advance_to`].
    pub fn is_virtual(&self) -> bool {
        self.inner.scale == 0.0
    }

    /// Moves jig time forward by `us` (busy-wait delays in firmware).
    pub fn advance(&self, us: u64) {
        self.inner
            .offset_us
            .set(self.inner.offset_us.get().saturating_add(us));
    }

    /// Moves jig time forward to at least `t_us`.
    pub fn advance_to(&self, t_us: u64) {
        let now = self.now_us();
        if t_us > now {
            self.advance(t_us - now);
        }
    }

    /// Real time until jig time reaches `t_us` (zero when it already has or time is virtual).
    pub fn real_until(&self, t_us: u64) -> std::time::Duration {
        let now = self.now_us();
        if self.is_virtual() || t_us <= now {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64((t_us - now) as f64 * 1e-6 * self.inner.scale)
    }
}

impl Clock for SimClock {
    fn now_us(&self) -> u64 {
        let real = if self.inner.scale > 0.0 {
            (self.inner.start.elapsed().as_secs_f64() * 1e6 / self.inner.scale) as u64
        } else {
            0
        };
        real.saturating_add(self.inner.offset_us.get())
    }
}

impl benchline_models::RigClock for SimClock {
    /// The bus was busy for `us`: jig time moves on by as much (the firmware waited for it).
    fn bus_time(&self, us: u64) {
        self.advance(us);
    }
}
