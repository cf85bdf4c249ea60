//! The control channel on UART1 (benchline-models' `control` module): the test seats and
//! removes simulated phones, the board says when the jig released a slot's clamp and reports
//! the jig's link statistics. Never the jig's own link.

use core::cell::RefCell;

use benchline_models::control::{self, Command, ControlReader, Notice, Refusal};
use benchline_models::Rig;

use crate::clock::BoardClock;
use crate::uart::Uart;

/// Bytes taken from the UART per turn of the main loop, so that a long `Seat` frame never
/// holds the jig.
const BYTES_PER_TURN: usize = 64;

/// The rig this board simulates.
pub type BoardRig = Rig<BoardClock>;

/// The control channel and what it has told the test.
pub struct Control<const SLOTS: usize> {
    uart: Uart,
    reader: ControlReader,
    /// `Released` already sent for the phone now in the slot.
    told_released: [bool; SLOTS],
}

impl<const SLOTS: usize> Control<SLOTS> {
    /// The channel on `uart`.
    pub fn new(uart: Uart) -> Self {
        Control {
            uart,
            reader: ControlReader::new(),
            told_released: [false; SLOTS],
        }
    }

    /// Sends one notice. The peer is the test harness, which always reads: waiting for the
    /// UART's one-byte buffer is bounded by the host draining the pseudo-terminal.
    pub fn send(&mut self, notice: &Notice) {
        let mut buf = [0u8; 64];
        // Every notice fits in 64 bytes (a handful of varints).
        if let Ok(frame) = control::encode(notice, &mut buf) {
            self.uart.write_blocking(frame);
        }
    }

    /// One turn: carries out the commands received and tells of slots the jig released.
    /// `report` gives the jig's link statistics for a `Report`.
    pub fn poll(&mut self, rig: &RefCell<BoardRig>, report: impl Fn() -> Notice) {
        for _ in 0..BYTES_PER_TURN {
            let Some(byte) = self.uart.try_read_byte() else {
                break;
            };
            let Some(message) = self.reader.push::<Command>(byte) else {
                continue;
            };
            let notice = match message {
                Ok(command) => self.carry_out(rig, command, &report),
                Err(_) => Notice::Refused {
                    why: Refusal::BadFrame,
                },
            };
            self.send(&notice);
        }
        for slot in 0..SLOTS {
            let released = {
                let rig = rig.borrow();
                rig.released(slot) && !rig.is_empty(slot)
            };
            if released && !self.told_released[slot] {
                self.told_released[slot] = true;
                self.send(&Notice::Released { slot: slot as u8 });
            }
        }
    }

    fn carry_out(
        &mut self,
        rig: &RefCell<BoardRig>,
        command: Command,
        report: &impl Fn() -> Notice,
    ) -> Notice {
        match command {
            Command::Seat { slot, phone } => {
                let s = usize::from(slot);
                let mut rig = rig.borrow_mut();
                if s >= SLOTS || s >= rig.slots.len() {
                    return Notice::Refused {
                        why: Refusal::NoSuchSlot { slot },
                    };
                }
                if !rig.is_empty(s) {
                    return Notice::Refused {
                        why: Refusal::Occupied { slot },
                    };
                }
                rig.insert(s, *phone);
                self.told_released[s] = false;
                Notice::Seated { slot }
            }
            Command::Remove { slot } => {
                let s = usize::from(slot);
                let mut rig = rig.borrow_mut();
                if s >= SLOTS || s >= rig.slots.len() {
                    return Notice::Refused {
                        why: Refusal::NoSuchSlot { slot },
                    };
                }
                match rig.remove(s) {
                    Some(_) => Notice::Removed { slot },
                    None => Notice::Refused {
                        why: Refusal::Empty { slot },
                    },
                }
            }
            Command::Report => report(),
        }
    }
}
