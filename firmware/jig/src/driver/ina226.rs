//! INA226 current / voltage monitor: big-endian 16-bit registers, bus voltage 1.25 mV / LSB,
//! current register scaled by the calibration register.

use embedded_hal::i2c::I2c;

/// Monitor on the battery / load path.
pub const ADDR_BATTERY: u8 = 0x40;
/// Monitor on VBUS.
pub const ADDR_VBUS: u8 = 0x44;
/// Monitor on the backlight string.
pub const ADDR_BACKLIGHT: u8 = 0x45;

/// Register addresses.
pub mod reg {
    /// Configuration.
    pub const CONFIG: u8 = 0x00;
    /// Shunt voltage, 2.5 uV / LSB.
    pub const SHUNT: u8 = 0x01;
    /// Bus voltage, 1.25 mV / LSB.
    pub const BUS: u8 = 0x02;
    /// Current, current_lsb / LSB.
    pub const CURRENT: u8 = 0x04;
    /// Calibration.
    pub const CALIBRATION: u8 = 0x05;
    /// Manufacturer id, reads 0x5449 ("TI").
    pub const MANUFACTURER_ID: u8 = 0xFE;
}

/// Manufacturer id of a genuine part.
pub const MANUFACTURER_TI: u16 = 0x5449;
/// Averaging 16, 1.1 ms conversions, shunt and bus continuous.
pub const CONFIG_VALUE: u16 = 0x4527;

/// How one monitor is fitted.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    /// Bus address.
    pub addr: u8,
    /// Current represented by one LSB of the current register, A.
    pub current_lsb_a: f32,
    /// Shunt resistance, ohm.
    pub shunt_ohm: f32,
}

impl Fit {
    /// Battery path: 10 mOhm shunt, 0.2 mA / LSB (full scale 6.5 A).
    pub const BATTERY: Fit = Fit {
        addr: ADDR_BATTERY,
        current_lsb_a: 0.000_2,
        shunt_ohm: 0.010,
    };
    /// VBUS: 10 mOhm shunt, 0.1 mA / LSB (full scale 3.2 A).
    pub const VBUS: Fit = Fit {
        addr: ADDR_VBUS,
        current_lsb_a: 0.000_1,
        shunt_ohm: 0.010,
    };
    /// Backlight: 100 mOhm shunt, 10 uA / LSB (full scale 327 mA).
    pub const BACKLIGHT: Fit = Fit {
        addr: ADDR_BACKLIGHT,
        current_lsb_a: 0.000_01,
        shunt_ohm: 0.100,
    };

    /// CAL = 0.00512 / (current_lsb * R_shunt), from the INA226 datasheet.
    pub fn calibration(&self) -> u16 {
        let cal = 0.005_12 / (self.current_lsb_a * self.shunt_ohm);
        // The fits above keep CAL inside 1..=0x7FFF.
        cal as u16
    }
}

fn write_reg<B: I2c>(bus: &mut B, addr: u8, reg: u8, value: u16) -> Result<(), B::Error> {
    let [hi, lo] = value.to_be_bytes();
    bus.write(addr, &[reg, hi, lo])
}

fn read_reg<B: I2c>(bus: &mut B, addr: u8, reg: u8) -> Result<u16, B::Error> {
    let mut buf = [0u8; 2];
    bus.write_read(addr, &[reg], &mut buf)?;
    Ok(u16::from_be_bytes(buf))
}

/// Checks the part and writes configuration and calibration. Returns false for a wrong part.
pub fn init<B: I2c>(bus: &mut B, fit: Fit) -> Result<bool, B::Error> {
    if read_reg(bus, fit.addr, reg::MANUFACTURER_ID)? != MANUFACTURER_TI {
        return Ok(false);
    }
    write_reg(bus, fit.addr, reg::CONFIG, CONFIG_VALUE)?;
    write_reg(bus, fit.addr, reg::CALIBRATION, fit.calibration())?;
    Ok(true)
}

/// Bus voltage, V.
pub fn bus_voltage<B: I2c>(bus: &mut B, fit: Fit) -> Result<f32, B::Error> {
    Ok(f32::from(read_reg(bus, fit.addr, reg::BUS)?) * 0.001_25)
}

/// Current, A (signed).
pub fn current<B: I2c>(bus: &mut B, fit: Fit) -> Result<f32, B::Error> {
    let raw = read_reg(bus, fit.addr, reg::CURRENT)? as i16;
    Ok(f32::from(raw) * fit.current_lsb_a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn calibration_matches_datasheet_formula() {
        assert_eq!(Fit::BATTERY.calibration(), 2560);
        assert_eq!(Fit::VBUS.calibration(), 5120);
        assert_eq!(Fit::BACKLIGHT.calibration(), 5120);
    }

    #[test]
    fn init_checks_id_then_configures() -> Result<(), embedded_hal::i2c::ErrorKind> {
        let mut bus = Mock::new(&[
            Transaction::write_read(0x40, vec![0xFE], vec![0x54, 0x49]),
            Transaction::write(0x40, vec![0x00, 0x45, 0x27]),
            Transaction::write(0x40, vec![0x05, 0x0A, 0x00]),
        ]);
        assert!(init(&mut bus, Fit::BATTERY)?);
        bus.done();
        Ok(())
    }

    #[test]
    fn negative_current_is_signed() -> Result<(), embedded_hal::i2c::ErrorKind> {
        let mut bus = Mock::new(&[Transaction::write_read(0x40, vec![0x04], vec![0xFF, 0x9C])]);
        let i = current(&mut bus, Fit::BATTERY)?;
        assert!((i + 0.02).abs() < 1e-6, "{i}");
        bus.done();
        Ok(())
    }
}
