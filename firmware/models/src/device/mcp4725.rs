//! MCP4725 DAC setting the electronic load (2 mA per code).

use super::{Device, Env, Nack};

/// DAC model.
#[derive(Default)]
pub struct Mcp4725 {
    code: u16,
}

impl Device for Mcp4725 {
    fn write(&mut self, env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack> {
        if let [hi, lo, ..] = data {
            // Fast mode: 0 0 PD1 PD0 D11..D8, D7..D0. Power-down bits switch the output off.
            let powered_down = hi & 0x30 != 0;
            self.code = if powered_down {
                0
            } else {
                u16::from_be_bytes([hi & 0x0F, *lo])
            };
            env.wiring.load_a = if env.phone.is_some() {
                f64::from(self.code) * 0.002
            } else {
                0.0
            };
            return Ok(());
        }
        Err(Nack)
    }

    fn read(&mut self, _env: &mut Env<'_>, buf: &mut [u8]) -> Result<(), Nack> {
        let [hi, lo] = (self.code << 4).to_be_bytes();
        for (i, o) in buf.iter_mut().enumerate() {
            *o = [0xC0, hi, lo].get(i).copied().unwrap_or(0);
        }
        Ok(())
    }
}
