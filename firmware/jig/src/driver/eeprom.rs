//! 24C02-class EEPROM on the phone's diagnostic interface holding its identity: model code at
//! 0x00, IMEI at 0x10, serial number at 0x20, each 16 bytes of ASCII padded with 0x00.

use benchline_protocol::Text;
use embedded_hal::i2c::I2c;

/// Bus address.
pub const ADDR: u8 = 0x50;
/// Offset of the model code.
pub const MODEL: u8 = 0x00;
/// Offset of the IMEI.
pub const IMEI: u8 = 0x10;
/// Offset of the serial number.
pub const SERIAL: u8 = 0x20;

/// Reads one 16-byte field (random read: address write, then sequential read).
pub fn read_field<B: I2c>(bus: &mut B, offset: u8) -> Result<Text, B::Error> {
    let mut buf = [0u8; 16];
    bus.write_read(ADDR, &[offset], &mut buf)?;
    let mut out = Text::new();
    for &b in buf.iter().take_while(|&&b| b != 0) {
        let c = if b.is_ascii_graphic() { b as char } else { '?' };
        let _ = out.push(c);
    }
    Ok(out)
}
