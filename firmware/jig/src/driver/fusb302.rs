//! FUSB302 USB-C front end, used as a source: Rp pull-up current select (HOST_CUR), pull-up
//! enables and the CC measure switch, and the MDAC comparator (42 mV steps) that the jig walks
//! by binary search to measure a CC voltage.

use embedded_hal::{delay::DelayNs, i2c::I2c};

/// Bus address.
pub const ADDR: u8 = 0x22;

/// Register addresses and bits.
pub mod reg {
    /// Device id; reads 0x9x.
    pub const DEVICE_ID: u8 = 0x01;
    /// PU_EN2 (7), PU_EN1 (6), MEAS_CC2 (3), MEAS_CC1 (2).
    pub const SWITCHES0: u8 = 0x02;
    /// MDAC in bits 5:0; comparator threshold = (MDAC + 1) * 42 mV.
    pub const MEASURE: u8 = 0x04;
    /// HOST_CUR in bits 3:2: 01 default, 10 1.5 A, 11 3 A.
    pub const CONTROL0: u8 = 0x06;
    /// COMP (5): measured CC above the MDAC threshold; BC_LVL in bits 1:0.
    pub const STATUS0: u8 = 0x40;
    /// PU_EN1.
    pub const PU_EN1: u8 = 1 << 6;
    /// PU_EN2.
    pub const PU_EN2: u8 = 1 << 7;
    /// MEAS_CC1.
    pub const MEAS_CC1: u8 = 1 << 2;
    /// MEAS_CC2.
    pub const MEAS_CC2: u8 = 1 << 3;
    /// COMP.
    pub const COMP: u8 = 1 << 5;
}

/// Comparator step, V.
pub const MDAC_STEP_V: f32 = 0.042;

fn write<B: I2c>(bus: &mut B, reg: u8, v: u8) -> Result<(), B::Error> {
    bus.write(ADDR, &[reg, v])
}

fn read<B: I2c>(bus: &mut B, reg: u8) -> Result<u8, B::Error> {
    let mut b = [0u8];
    bus.write_read(ADDR, &[reg], &mut b)?;
    Ok(b[0])
}

/// True when a FUSB302 answers with its device id.
pub fn probe<B: I2c>(bus: &mut B) -> Result<bool, B::Error> {
    Ok(read(bus, reg::DEVICE_ID)? & 0xF0 == 0x90)
}

/// HOST_CUR code for a pull-up level.
pub fn host_cur(rp: benchline_protocol::RpLevel) -> u8 {
    match rp {
        benchline_protocol::RpLevel::Default => 0b01,
        benchline_protocol::RpLevel::Current1A5 => 0b10,
        benchline_protocol::RpLevel::Current3A0 => 0b11,
    }
}

/// Measures the voltage on CC1 (`cc = 1`) or CC2 with the given pull-up: enables the pull-up,
/// lets it settle for 1 ms, then finds the comparator threshold in six or seven steps of 50 us.
/// Leaves the pull-ups off, also when the bus fails midway.
pub fn measure_cc<B: I2c, D: DelayNs>(
    bus: &mut B,
    delay: &mut D,
    cc: u8,
    rp: benchline_protocol::RpLevel,
) -> Result<f32, B::Error> {
    write(bus, reg::CONTROL0, host_cur(rp) << 2)?;
    let sw = if cc == 1 {
        reg::PU_EN1 | reg::MEAS_CC1
    } else {
        reg::PU_EN2 | reg::MEAS_CC2
    };
    let search = |bus: &mut B, delay: &mut D| -> Result<i16, B::Error> {
        write(bus, reg::SWITCHES0, sw)?;
        delay.delay_ms(1);
        // Binary search for the highest MDAC code whose threshold the voltage still exceeds.
        let (mut lo, mut hi) = (0i16, 63i16);
        while lo <= hi {
            let mid = (lo + hi) / 2;
            write(bus, reg::MEASURE, mid as u8)?;
            delay.delay_us(50);
            if read(bus, reg::STATUS0)? & reg::COMP != 0 {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    };
    let found = search(bus, delay);
    let off = write(bus, reg::SWITCHES0, 0);
    let lo = found?;
    off?;
    // `lo` counts the thresholds the voltage exceeds, so V lies in (lo * 42 mV, (lo + 1) * 42 mV];
    // report the middle of that step. lo = 64 means above the top threshold (2.69 V, open).
    Ok((f32::from(lo) + 0.5) * MDAC_STEP_V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    #[test]
    fn a_bus_error_mid_search_still_turns_the_pull_ups_off() {
        let mut bus = Mock::new(&[
            Transaction::write(ADDR, vec![reg::CONTROL0, 0b01 << 2]),
            Transaction::write(ADDR, vec![reg::SWITCHES0, reg::PU_EN1 | reg::MEAS_CC1]),
            Transaction::write(ADDR, vec![reg::MEASURE, 31]),
            Transaction::write_read(ADDR, vec![reg::STATUS0], vec![0]).with_error(ErrorKind::Other),
            Transaction::write(ADDR, vec![reg::SWITCHES0, 0]),
        ]);
        let r = measure_cc(
            &mut bus,
            &mut NoopDelay::new(),
            1,
            benchline_protocol::RpLevel::Default,
        );
        assert_eq!(r, Err(ErrorKind::Other));
        bus.done();
    }
}
