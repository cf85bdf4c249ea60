//! Benchline's jig application on QEMU's `mps2-an386` machine (Cortex-M4), with the simulated
//! device models of benchline-models compiled in. The controller talks to the jig on UART0;
//! the test harness seats and removes simulated phones on UART1 (the control channel). The
//! jig's clock is CMSDK timer 0; its boot id and the models' noise seed come from timing
//! jitter (mps2 has no TRNG). README.md has the memory map and how to run it.
#![no_std]
#![no_main]

extern crate alloc;

mod clock;
mod control;
mod entropy;
mod heap;
mod panic;
mod uart;

use alloc::boxed::Box;
use core::cell::RefCell;

use benchline_jig::{Board, Jig, JigConfig};
use benchline_models::control::Notice;
use benchline_models::{RigBus, RigSlot};
use benchline_protocol::JigKind;
use cortex_m_rt::entry;

use crate::clock::{BoardClock, BoardDelay};
use crate::control::{BoardRig, Control};
use crate::uart::{Uart, UART0, UART1};

/// Slots of this jig (the jig application's most).
const SLOTS: usize = benchline_jig::MAX_SLOTS;
/// Serial number announced in `Hello`.
const SERIAL: &str = "QEMU-AN386-0001";

#[entry]
fn main() -> ! {
    heap::init();
    let Some(core) = cortex_m::Peripherals::take() else {
        // Unreachable: only `main` takes them, once. Reported on the control channel.
        #[allow(clippy::panic)]
        {
            panic!("core peripherals taken twice")
        }
    };
    clock::start(core.SYST);
    let mut control = Control::<SLOTS>::new(Uart::new(UART1));
    let seed = entropy::seed();
    let boot_id = entropy::mix(seed ^ 0x626f_6f74) as u32;
    let rig_seed = entropy::mix(seed ^ 0x0072_6967);

    let rig: &'static RefCell<BoardRig> = Box::leak(Box::new(RefCell::new(BoardRig::build(
        SLOTS, BoardClock, rig_seed,
    ))));
    let mut slots = heapless::Vec::new();
    for s in 0..SLOTS {
        let _ = slots.push(RigSlot::new(&rig, s));
    }
    let board = Board {
        i2c: RigBus::new(&rig),
        delay: BoardDelay,
        slots,
    };
    let mut config = JigConfig::new(SERIAL, JigKind::Combo, boot_id);
    // Its phones are simulated: the controller marks the records and admits them only into a
    // training store.
    config.simulated = true;
    // `Hello` announces this image's version, not the jig library's.
    config.firmware_version = benchline_jig::jig::text(env!("CARGO_PKG_VERSION"));
    let mut jig = Jig::new(board, Uart::new(UART0), BoardClock, config);

    control.send(&Notice::Ready { slots: SLOTS as u8 });
    loop {
        // The UART never fails (its error type is `Infallible`).
        let _ = jig.poll();
        control.poll(rig, || Notice::Report {
            ping_worst_us: jig.ping_worst_us(),
            pings: jig.pings(),
            bad_frames: jig.bad_frames(),
        });
    }
}
