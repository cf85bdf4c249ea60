//! Smart Battery System (SBS 1.1) gauge at SMBus address 0x0B: words are little-endian, block
//! reads start with a length byte.

use embedded_hal::i2c::I2c;
use heapless::String;

/// SMBus address of a smart battery.
pub const ADDR: u8 = 0x0B;

/// SBS command codes used by the jig.
pub mod reg {
    /// Temperature, 0.1 K.
    pub const TEMPERATURE: u8 = 0x08;
    /// Voltage, mV.
    pub const VOLTAGE: u8 = 0x09;
    /// Current, mA, signed (positive = charging).
    pub const CURRENT: u8 = 0x0A;
    /// RelativeStateOfCharge, %.
    pub const RELATIVE_SOC: u8 = 0x0D;
    /// RemainingCapacity, mAh.
    pub const REMAINING_CAPACITY: u8 = 0x0F;
    /// FullChargeCapacity, mAh.
    pub const FULL_CHARGE_CAPACITY: u8 = 0x10;
    /// CycleCount.
    pub const CYCLE_COUNT: u8 = 0x17;
    /// DesignCapacity, mAh.
    pub const DESIGN_CAPACITY: u8 = 0x18;
    /// SerialNumber.
    pub const SERIAL_NUMBER: u8 = 0x1C;
    /// ManufacturerName, block.
    pub const MANUFACTURER_NAME: u8 = 0x20;
    /// DeviceName, block.
    pub const DEVICE_NAME: u8 = 0x21;
}

/// Reads one SBS word.
pub fn read_word<B: I2c>(bus: &mut B, cmd: u8) -> Result<u16, B::Error> {
    let mut buf = [0u8; 2];
    bus.write_read(ADDR, &[cmd], &mut buf)?;
    Ok(u16::from_le_bytes(buf))
}

/// Reads an SBS block as text; bytes that are not printable ASCII become `?`.
pub fn read_text<B: I2c, const N: usize>(bus: &mut B, cmd: u8) -> Result<String<N>, B::Error> {
    let mut buf = [0u8; 33];
    let want = (N + 1).min(buf.len());
    bus.write_read(ADDR, &[cmd], &mut buf[..want])?;
    let len = usize::from(buf[0]).min(want - 1);
    let mut out = String::new();
    for &b in &buf[1..=len] {
        let c = if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '?'
        };
        // Capacity is N and len <= N, so this cannot overflow.
        let _ = out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn word_is_little_endian() -> Result<(), embedded_hal::i2c::ErrorKind> {
        let mut bus = Mock::new(&[Transaction::write_read(
            ADDR,
            vec![reg::VOLTAGE],
            vec![0x1C, 0x0F],
        )]);
        assert_eq!(read_word(&mut bus, reg::VOLTAGE)?, 3868);
        bus.done();
        Ok(())
    }

    #[test]
    fn block_text_uses_length_byte() -> Result<(), embedded_hal::i2c::ErrorKind> {
        let mut data = vec![3, b'A', b'T', b'L'];
        data.resize(9, 0xFF);
        let mut bus = Mock::new(&[Transaction::write_read(
            ADDR,
            vec![reg::MANUFACTURER_NAME],
            data,
        )]);
        let name: String<8> = read_text(&mut bus, reg::MANUFACTURER_NAME)?;
        assert_eq!(name.as_str(), "ATL");
        bus.done();
        Ok(())
    }

    #[test]
    fn block_length_beyond_buffer_is_clamped() -> Result<(), embedded_hal::i2c::ErrorKind> {
        let mut data = vec![200];
        data.extend_from_slice(b"ABCD");
        let mut bus = Mock::new(&[Transaction::write_read(ADDR, vec![reg::DEVICE_NAME], data)]);
        let name: String<4> = read_text(&mut bus, reg::DEVICE_NAME)?;
        assert_eq!(name.as_str(), "ABCD");
        bus.done();
        Ok(())
    }
}
