//! 24C02 identity EEPROM on the phone's diagnostic interface: model at 0x00, IMEI at 0x10,
//! serial at 0x20, 16 bytes each, zero padded.

use super::{Device, Env, Nack};

/// EEPROM model.
#[derive(Default)]
pub struct Eeprom {
    addr: u8,
}

impl Device for Eeprom {
    fn write(&mut self, env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack> {
        env.phone.ok_or(Nack)?;
        self.addr = *data.first().ok_or(Nack)?;
        Ok(())
    }

    fn read(&mut self, env: &mut Env<'_>, buf: &mut [u8]) -> Result<(), Nack> {
        let p = env.phone.ok_or(Nack)?;
        let mut image = [0u8; 256];
        for (offset, text) in [(0x00, &p.model), (0x10, &p.imei), (0x20, &p.serial)] {
            for (i, b) in text.bytes().take(16).enumerate() {
                image[offset + i] = b;
            }
        }
        for o in buf.iter_mut() {
            *o = image[usize::from(self.addr)];
            self.addr = self.addr.wrapping_add(1);
        }
        Ok(())
    }
}
