//! The jig's monotonic clock: CMSDK APB timer 0 counting down from `u32::MAX` at the 25 MHz
//! APB clock (a wrap every 171.8 s), extended to 64 bits in software. Every reading adds the
//! ticks since the reading before; SysTick (0.67 s) also takes a reading, so two readings are
//! never a wrap apart whatever the main loop does, and the count never goes backwards.
//!
//! Under QEMU the timer follows QEMU's virtual clock: wall time, or the instruction count under
//! `-icount` (as the end-to-end test runs it, 8 ns an instruction).
#![allow(unsafe_code)]

use core::cell::Cell;
use core::ptr::{read_volatile, write_volatile};

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::exception;
use critical_section::Mutex;

/// CMSDK APB timer 0 on mps2-an386.
const TIMER0: usize = 0x4000_0000;
const CTRL: usize = 0x00;
const VALUE: usize = 0x04;
const RELOAD: usize = 0x08;
const CTRL_ENABLE: u32 = 1 << 0;

/// Timer ticks per microsecond (25 MHz).
pub const TICKS_PER_US: u64 = 25;

/// The last raw value read and the ticks counted up to it.
static COUNT: Mutex<Cell<(u32, u64)>> = Mutex::new(Cell::new((u32::MAX, 0)));

fn write_reg(offset: usize, value: u32) {
    // SAFETY: timer 0's registers in the mps2-an386 memory map; only this module uses them.
    unsafe { write_volatile((TIMER0 + offset) as *mut u32, value) }
}

/// The timer's raw value: counts down at 25 MHz.
pub fn raw() -> u32 {
    // SAFETY: as in `write_reg`; reading VALUE has no side effect.
    unsafe { read_volatile((TIMER0 + VALUE) as *const u32) }
}

/// Starts timer 0 free-running and SysTick as the wrap guard. Call once, first thing.
pub fn start(mut syst: SYST) {
    write_reg(CTRL, 0);
    write_reg(RELOAD, u32::MAX);
    write_reg(VALUE, u32::MAX);
    critical_section::with(|cs| COUNT.borrow(cs).set((u32::MAX, 0)));
    write_reg(CTRL, CTRL_ENABLE);
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Ticks (25 MHz) since [`start`].
pub fn ticks() -> u64 {
    critical_section::with(|cs| {
        let cell = COUNT.borrow(cs);
        let (last, total) = cell.get();
        let now = raw();
        // Down-counter: the ticks elapsed are last - now, modulo the 2^32 wrap.
        let total = total + u64::from(last.wrapping_sub(now));
        cell.set((now, total));
        total
    })
}

#[exception]
fn SysTick() {
    let _ = ticks();
}

/// The jig's [`benchline_jig::Clock`]: microseconds since boot.
#[derive(Clone, Copy)]
pub struct BoardClock;

impl benchline_jig::Clock for BoardClock {
    fn now_us(&self) -> u64 {
        ticks() / TICKS_PER_US
    }
}

/// Busy-wait delays on the same timer (the jig's short settling waits).
pub struct BoardDelay;

impl embedded_hal::delay::DelayNs for BoardDelay {
    fn delay_ns(&mut self, ns: u32) {
        let wait = (u64::from(ns) * TICKS_PER_US).div_ceil(1000);
        let start = ticks();
        while ticks() - start < wait {
            core::hint::spin_loop();
        }
    }
}

impl benchline_models::RigClock for BoardClock {
    /// An I2C transaction of the simulated bus takes the time it would take on the real one:
    /// the board waits it out, so the jig's loop is held as long as on hardware.
    fn bus_time(&self, us: u64) {
        let wait = us * TICKS_PER_US;
        let start = ticks();
        while ticks() - start < wait {
            core::hint::spin_loop();
        }
    }
}
