//! Procedures answered inline, in the poll that decodes their request: `identify`,
//! `battery.gauge` and touch row reads. Each takes a few milliseconds of bus time
//! (bounded by `benchline_protocol::duration`), so they need no state machine.

use benchline_protocol::{Gauge, Identity, Instrument, JigError, Reply};
use embedded_hal::i2c::I2c;

use super::OrFault;
use crate::board::Board;
use crate::driver::{eeprom, sbs, touch};

/// `identify`: model, IMEI and serial from the phone's diagnostic EEPROM.
pub fn identify<B: I2c, S, D>(board: &mut Board<B, S, D>) -> Result<Reply, JigError> {
    let bus = &mut board.i2c;
    Ok(Reply::Identity(Identity {
        model: eeprom::read_field(bus, eeprom::MODEL).or_fault(Instrument::DiagEeprom)?,
        imei: eeprom::read_field(bus, eeprom::IMEI).or_fault(Instrument::DiagEeprom)?,
        serial: eeprom::read_field(bus, eeprom::SERIAL).or_fault(Instrument::DiagEeprom)?,
    }))
}

/// `battery.gauge`: the Smart Battery System registers.
pub fn gauge<B: I2c, S, D>(board: &mut Board<B, S, D>) -> Result<Reply, JigError> {
    let bus = &mut board.i2c;
    let mut word = |cmd| sbs::read_word(bus, cmd).or_fault(Instrument::Gauge);
    let voltage = word(sbs::reg::VOLTAGE)?;
    let current = word(sbs::reg::CURRENT)? as i16;
    let temperature = word(sbs::reg::TEMPERATURE)?;
    let soc = word(sbs::reg::RELATIVE_SOC)?;
    let remaining = word(sbs::reg::REMAINING_CAPACITY)?;
    let full = word(sbs::reg::FULL_CHARGE_CAPACITY)?;
    let design = word(sbs::reg::DESIGN_CAPACITY)?;
    let cycles = word(sbs::reg::CYCLE_COUNT)?;
    let serial = word(sbs::reg::SERIAL_NUMBER)?;
    Ok(Reply::Gauge(Gauge {
        voltage_v: f32::from(voltage) / 1000.0,
        current_a: f32::from(current) / 1000.0,
        temperature_k: f32::from(temperature) / 10.0,
        state_of_charge_pct: soc.min(255) as u8,
        remaining_mah: remaining,
        full_charge_mah: full,
        design_mah: design,
        cycle_count: cycles,
        serial,
        manufacturer: sbs::read_text(bus, sbs::reg::MANUFACTURER_NAME)
            .or_fault(Instrument::Gauge)?,
        device: sbs::read_text(bus, sbs::reg::DEVICE_NAME).or_fault(Instrument::Gauge)?,
    }))
}

/// `screen.touch.row`: one row of the last completed scan, `scan` = (rows, cols). No scan is
/// [`JigError::NoScan`]; a row past the scan's last is [`JigError::BadRequest`].
pub fn touch_row<B: I2c, S, D>(
    board: &mut Board<B, S, D>,
    scan: Option<(u8, u8)>,
    row: u8,
) -> Result<Reply, JigError> {
    let (rows, cols) = scan.ok_or(JigError::NoScan)?;
    if row >= rows {
        return Err(JigError::BadRequest);
    }
    let raw = touch::read_row(&mut board.i2c, row, cols).or_fault(Instrument::TouchIc)?;
    Ok(Reply::TouchRow(benchline_protocol::TouchRow { row, raw }))
}
