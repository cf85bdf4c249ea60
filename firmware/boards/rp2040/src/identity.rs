//! Who this jig is: its serial number (the flash chip's 64-bit unique id, in hex, also the USB
//! serial string) and its boot id (random at every boot).

use embassy_rp::clocks::RoscRng;
use embassy_rp::flash::{Blocking, Flash};
use embassy_rp::peripherals::FLASH;
use embassy_rp::Peri;
use heapless::String;

/// Size of the Pico's QSPI flash (W25Q16JV).
pub const FLASH_SIZE: usize = 2 * 1024 * 1024;

/// Length of a serial number: 16 upper-case hex digits.
pub const SERIAL_LEN: usize = 16;

/// Said instead of a serial number when the flash would not give its unique id (never seen on
/// a Pico; the host then shows this jig as one it cannot tell apart).
pub const NO_SERIAL: &str = "0000000000000000";

/// Reads the flash chip's unique id and formats it as 16 upper-case hex digits. Called once at
/// boot, before the USB device starts (the read runs from RAM with the flash's XIP off).
pub fn serial(flash: Peri<'static, FLASH>) -> String<SERIAL_LEN> {
    let mut flash = Flash::<_, Blocking, FLASH_SIZE>::new_blocking(flash);
    let mut uid = [0u8; 8];
    match flash.blocking_unique_id(&mut uid) {
        Ok(()) => hex(&uid),
        Err(_) => String::try_from(NO_SERIAL).unwrap_or_default(),
    }
}

/// Upper-case hex of up to 8 bytes.
fn hex(bytes: &[u8; 8]) -> String<SERIAL_LEN> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::new();
    for b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            // 16 digits fit exactly; a push cannot fail.
            let _ = out.push(char::from(DIGITS[usize::from(nibble)]));
        }
    }
    out
}

/// A boot id from the ring oscillator's random bit: different at every boot, so the host
/// notices a reset.
pub fn boot_id() -> u32 {
    RoscRng.next_u32()
}
