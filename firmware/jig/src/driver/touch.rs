//! FT5x06-class touch controller in factory test mode.
//!
//! Register 0x00 DEVICE_MODE: write 0x40 to enter factory mode, 0xC0 to start a raw scan; bit 7
//! reads back 1 while the scan runs. 0x01 selects the row read from 0x10 (two bytes, big-endian,
//! per column). 0x02 and 0x03 give the number of rows (TX) and columns (RX).

use benchline_protocol::MAX_TOUCH_COLS;
use embedded_hal::i2c::I2c;
use heapless::Vec;

/// Bus address.
pub const ADDR: u8 = 0x38;

/// Register addresses and values.
pub mod reg {
    /// DEVICE_MODE.
    pub const DEVICE_MODE: u8 = 0x00;
    /// Row select.
    pub const ROW_ADDR: u8 = 0x01;
    /// Number of TX lines (rows).
    pub const TX_NUM: u8 = 0x02;
    /// Number of RX lines (columns).
    pub const RX_NUM: u8 = 0x03;
    /// Raw data of the selected row.
    pub const RAW_DATA: u8 = 0x10;
    /// Factory mode.
    pub const MODE_FACTORY: u8 = 0x40;
    /// Start scan bit.
    pub const START_SCAN: u8 = 0x80;
}

fn read<B: I2c>(bus: &mut B, reg: u8) -> Result<u8, B::Error> {
    let mut b = [0u8];
    bus.write_read(ADDR, &[reg], &mut b)?;
    Ok(b[0])
}

/// Enters factory mode and starts a raw scan.
pub fn start_scan<B: I2c>(bus: &mut B) -> Result<(), B::Error> {
    bus.write(ADDR, &[reg::DEVICE_MODE, reg::MODE_FACTORY])?;
    bus.write(
        ADDR,
        &[reg::DEVICE_MODE, reg::MODE_FACTORY | reg::START_SCAN],
    )
}

/// True once the scan started by [`start_scan`] has finished.
pub fn scan_done<B: I2c>(bus: &mut B) -> Result<bool, B::Error> {
    Ok(read(bus, reg::DEVICE_MODE)? & reg::START_SCAN == 0)
}

/// Rows and columns of the panel.
pub fn size<B: I2c>(bus: &mut B) -> Result<(u8, u8), B::Error> {
    Ok((read(bus, reg::TX_NUM)?, read(bus, reg::RX_NUM)?))
}

/// Raw counts of one row (at most [`MAX_TOUCH_COLS`] columns).
pub fn read_row<B: I2c>(
    bus: &mut B,
    row: u8,
    cols: u8,
) -> Result<Vec<u16, MAX_TOUCH_COLS>, B::Error> {
    let cols = usize::from(cols).min(MAX_TOUCH_COLS);
    bus.write(ADDR, &[reg::ROW_ADDR, row])?;
    let mut buf = [0u8; MAX_TOUCH_COLS * 2];
    bus.write_read(ADDR, &[reg::RAW_DATA], &mut buf[..cols * 2])?;
    let mut out = Vec::new();
    for pair in buf[..cols * 2].chunks_exact(2) {
        // At most MAX_TOUCH_COLS pairs.
        let _ = out.push(u16::from_be_bytes([pair[0], pair[1]]));
    }
    Ok(out)
}
