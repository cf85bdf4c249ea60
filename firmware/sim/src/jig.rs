//! A complete simulated jig: the real jig application on simulated hardware.

use std::cell::RefCell;
use std::rc::Rc;

use benchline_jig::{Board, Jig, JigConfig, SlotPins};
use benchline_protocol::JigKind;

use crate::bus::SimBus;
use crate::clock::SimClock;
use crate::link::MemLink;
use crate::rig::{PinId, Rig, SimDelay, SimPin};

/// The pins of one simulated slot: every pin is a [`SimPin`] (input and output alike).
pub type SimSlot = SlotPins<SimPin, SimPin, SimPin, SimPin, SimPin, SimPin, SimPin, SimPin>;

/// The jig application wired to simulated hardware.
pub type SimJig = Jig<SimBus, SimSlot, SimDelay, MemLink, SimClock>;

/// Builds a jig with `slots` slots on `rig` (which must have at least that many slots). It
/// announces itself as simulated (`Hello::simulated`): every jig of the simulator does.
pub fn build_jig(
    rig: &Rc<RefCell<Rig>>,
    serial: &str,
    boot_id: u32,
    protocol_version: u16,
) -> SimJig {
    let (clock, slots) = {
        let r = rig.borrow();
        (r.clock.clone(), r.slots.len())
    };
    let mut pins = heapless::Vec::new();
    for s in 0..slots.min(benchline_jig::MAX_SLOTS) {
        let pin = |id| SimPin::new(rig, s, id);
        let _ = pins.push(SlotPins {
            presence: pin(PinId::Presence),
            vbus_en: pin(PinId::VbusEn),
            backlight_en: pin(PinId::BacklightEn),
            release: pin(PinId::Release),
            cont_en: pin(PinId::ContEn),
            cont_sel: (
                pin(PinId::ContSel(0)),
                pin(PinId::ContSel(1)),
                pin(PinId::ContSel(2)),
            ),
        });
    }
    let board = Board {
        i2c: SimBus::new(rig),
        delay: SimDelay::new(clock.clone()),
        slots: pins,
    };
    let mut config = JigConfig::new(serial, JigKind::Combo, boot_id);
    config.protocol_version = protocol_version;
    // Simulated hardware says so in its handshake, whoever starts it.
    config.simulated = true;
    Jig::new(board, MemLink::default(), clock, config)
}
