//! Smart Battery System gauge (SMBus 0x0B). Present only while a phone is seated.

use super::{Device, Env, Nack};

/// SBS gauge model.
#[derive(Default)]
pub struct Gauge {
    cmd: u8,
}

impl Device for Gauge {
    fn write(&mut self, env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack> {
        env.phone.ok_or(Nack)?;
        self.cmd = *data.first().ok_or(Nack)?;
        Ok(())
    }

    fn read(&mut self, env: &mut Env<'_>, buf: &mut [u8]) -> Result<(), Nack> {
        let p = env.phone.ok_or(Nack)?;
        let b = &p.battery;
        let word = |v: u16, buf: &mut [u8]| {
            let bytes = v.to_le_bytes();
            for (i, o) in buf.iter_mut().enumerate() {
                *o = if i < 2 { bytes[i] } else { 0xFF };
            }
        };
        let block = |s: &str, buf: &mut [u8]| {
            let bytes = s.as_bytes();
            for (i, o) in buf.iter_mut().enumerate() {
                *o = match i {
                    0 => bytes.len().min(32) as u8,
                    i if i <= bytes.len() => bytes[i - 1],
                    _ => 0xFF,
                };
            }
        };
        let full = p.full_charge_mah();
        match self.cmd {
            0x08 => word(libm::round((b.temperature_c + 273.15) * 10.0) as u16, buf),
            0x09 => word(libm::round(p.ocv() * 1000.0) as u16, buf),
            0x0A => {
                // What the cell delivers (nothing while its protection is open), as discharge.
                let amps = crate::cell::under_load(p, env.wiring.load_a).amps;
                word((libm::round(-amps * 1000.0) as i16) as u16, buf)
            }
            0x0D => word(libm::round(b.soc_pct).clamp(0.0, 100.0) as u16, buf),
            0x0F => word(libm::round(f64::from(full) * b.soc_pct / 100.0) as u16, buf),
            0x10 => word(full, buf),
            0x17 => word(b.cycles, buf),
            0x18 => word(b.design_mah, buf),
            0x1C => word(b.serial, buf),
            0x20 => block(&b.manufacturer, buf),
            0x21 => block(&b.device, buf),
            _ => return Err(Nack),
        }
        Ok(())
    }
}
