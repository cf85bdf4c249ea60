//! The Benchline jig on a Raspberry Pi Pico (RP2040): the `benchline-jig` application on
//! embassy-rp, its link a USB CDC-ACM serial port.
//!
//! - [`usb`]: the USB device and the task that moves bytes between the CDC-ACM endpoints and
//!   the two pipes of [`link`], whose adapter the jig reads and writes without ever waiting.
//! - [`wiring`]: the pin table (I2C0, the five GPIOs of each slot); [`expander`]: the TCA9555
//!   that drives the continuity selectors' address lines.
//! - [`identity`]: serial number (flash unique id) and boot id (ring oscillator);
//!   [`clock`]: microseconds since boot.
//!
//! The jig runs in the main task: `poll`, then sleep until its next deadline, bytes from the
//! host, or room for its replies, whichever comes first (at most [`IDLE_US`], the presence
//! switches' scan period). A watchdog resets the chip if a poll never returns (a stuck bus).
#![no_std]
#![no_main]

mod clock;
mod expander;
mod identity;
mod link;
mod usb;
mod wiring;

use core::cell::RefCell;

use benchline_jig::{Board, Jig, JigConfig};
use benchline_protocol::JigKind;
use embassy_executor::Spawner;
use embassy_futures::select::select;
use embassy_rp::bind_interrupts;
use embassy_rp::i2c::{self, I2c};
use embassy_rp::peripherals::USB;
use embassy_rp::watchdog::Watchdog;
use embassy_time::{Delay, Duration, Instant, Timer};
use embedded_hal_bus::i2c::RefCellDevice;
use heapless::{String, Vec};
use static_cell::StaticCell;

use crate::expander::Expander;
use crate::wiring::SlotGpios;

bind_interrupts!(struct Irqs {
    USBCTRL_IRQ => embassy_rp::usb::InterruptHandler<USB>;
});

/// Longest sleep between two polls when the jig has no deadline: a seated or removed phone is
/// noticed within this time.
pub const IDLE_US: u64 = 5_000;

/// The watchdog's timeout: far longer than one poll (a few milliseconds of bus time) plus the
/// longest sleep between polls ([`IDLE_US`]).
pub const WATCHDOG: Duration = Duration::from_millis(500);

/// Longest sleep while the jig's replies wait for a host that does not read: how late a job's
/// step may then be.
pub const BLOCKED_US: u64 = 1_000;

#[embassy_executor::main(
    executor = "embassy_rp::executor::Executor",
    entry = "cortex_m_rt::entry"
)]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());

    static SERIAL: StaticCell<String<{ identity::SERIAL_LEN }>> = StaticCell::new();
    let serial: &'static str = SERIAL.init(identity::serial(p.FLASH)).as_str();
    let boot_id = identity::boot_id();

    let (device, class) = usb::build(embassy_rp::usb::Driver::new(p.USB, Irqs), serial);
    // The task's pool holds one and this is the only spawn, so it cannot be refused.
    if let Ok(token) = usb::run(device, class) {
        spawner.spawn(token);
    }

    // A blocking I2C transfer on a bus held low by a faulty device never ends: the watchdog
    // then resets the chip (all outputs safe, a new boot id for the host) instead of hanging.
    let mut watchdog = Watchdog::new(p.WATCHDOG);
    watchdog.pause_on_debug(true);
    watchdog.start(WATCHDOG);

    let mut bus_config = i2c::Config::default();
    bus_config.frequency = wiring::I2C_HZ;
    let bus = RefCell::new(I2c::new_blocking(p.I2C0, p.PIN_1, p.PIN_0, bus_config));
    let expander = Expander::new(&bus);
    // An expander that does not answer now is configured again by its first use; until then
    // the continuity procedures that need it answer HardwareFault.
    let _ = expander.configure();

    let mut slots = Vec::new();
    let gpios = [
        SlotGpios {
            presence: p.PIN_2,
            vbus_en: p.PIN_3,
            backlight_en: p.PIN_4,
            release: p.PIN_5,
            cont_en: p.PIN_6,
        }
        .into_slot(&expander, 0),
        SlotGpios {
            presence: p.PIN_7,
            vbus_en: p.PIN_8,
            backlight_en: p.PIN_9,
            release: p.PIN_10,
            cont_en: p.PIN_11,
        }
        .into_slot(&expander, 1),
        SlotGpios {
            presence: p.PIN_12,
            vbus_en: p.PIN_13,
            backlight_en: p.PIN_14,
            release: p.PIN_15,
            cont_en: p.PIN_16,
        }
        .into_slot(&expander, 2),
        SlotGpios {
            presence: p.PIN_17,
            vbus_en: p.PIN_18,
            backlight_en: p.PIN_19,
            release: p.PIN_20,
            cont_en: p.PIN_21,
        }
        .into_slot(&expander, 3),
    ];
    for slot in gpios {
        // Four slots, MAX_SLOTS = 4: every push fits.
        let _ = slots.push(slot);
    }

    let board = Board {
        i2c: RefCellDevice::new(&bus),
        delay: Delay,
        slots,
    };
    let mut config = JigConfig::new(serial, JigKind::Combo, boot_id);
    // `Hello` announces this image's version: the one `benchctl flash` confirms after a flash.
    config.firmware_version = benchline_jig::jig::text(env!("CARGO_PKG_VERSION"));
    let mut jig = Jig::new(board, link::PipeLink::new(), clock::Uptime, config);

    loop {
        watchdog.feed(WATCHDOG);
        // The link never fails (its error type is Infallible).
        let _ = jig.poll();
        let now = Instant::now().as_micros();
        let mut wake = jig
            .next_deadline()
            .map_or(now + IDLE_US, |d| d.min(now + IDLE_US));
        if wake <= now && jig.queued() == 0 && link::transmit_full() {
            // Due only because replies wait for room in the link (the host is not reading):
            // sleep until the USB task makes room, serving due jobs at least every BLOCKED_US.
            wake = now + BLOCKED_US;
        }
        if wake <= now {
            // Work is due at once: still let the USB task move bytes first.
            embassy_futures::yield_now().await;
        } else {
            select(Timer::at(Instant::from_micros(wake)), link::ACTIVITY.wait()).await;
            // Asleep until bytes came or a deadline: not time a ping waited on the jig's loop.
            jig.slept(Instant::now().as_micros().saturating_sub(now));
        }
    }
}

/// A panic resets the chip: every GPIO returns to its reset state (input, pulled down), so all
/// relays, loads and current sources drop, and the host sees a new boot id.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}
