//! FUSB302 front end as a source: the pull-up (HOST_CUR, modelled as Rp to 5 V) against the
//! phone's Rd, measured through the MDAC comparator.

use super::{Device, Env, Nack};

/// Front end model.
#[derive(Default)]
pub struct Fusb302 {
    ptr: u8,
    switches0: u8,
    measure: u8,
    control0: u8,
}

impl Fusb302 {
    fn rp_ohm(&self) -> f64 {
        match (self.control0 >> 2) & 3 {
            0b01 => 56_000.0,
            0b10 => 22_000.0,
            0b11 => 10_000.0,
            _ => f64::INFINITY,
        }
    }

    /// Voltage on the CC pin selected by MEAS_CC1 / MEAS_CC2.
    fn measured_v(&self, env: &Env<'_>) -> f64 {
        let cc = if self.switches0 & (1 << 2) != 0 {
            1
        } else if self.switches0 & (1 << 3) != 0 {
            2
        } else {
            return 0.0;
        };
        let pull_up = self.switches0 & (1 << (5 + cc)) != 0;
        let rp = self.rp_ohm();
        if !pull_up || !rp.is_finite() {
            return 0.0;
        }
        match env.phone.and_then(|p| p.cc_rd_ohm(cc)) {
            Some(rd) => 5.0 * rd / (rp + rd),
            None => 5.0,
        }
    }

    fn status0(&self, env: &Env<'_>) -> u8 {
        let v = self.measured_v(env);
        let bc_lvl = if v < 0.2 {
            0
        } else if v < 0.66 {
            1
        } else if v < 1.23 {
            2
        } else {
            3
        };
        let threshold = f64::from((self.measure & 0x3F) + 1) * 0.042;
        let comp = if v > threshold { 1 << 5 } else { 0 };
        let vbusok = if env.wiring.vbus_on_since.is_some() {
            1 << 7
        } else {
            0
        };
        bc_lvl | comp | vbusok
    }
}

impl Device for Fusb302 {
    fn write(&mut self, _env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack> {
        let (&ptr, rest) = data.split_first().ok_or(Nack)?;
        self.ptr = ptr;
        for (i, &v) in rest.iter().enumerate() {
            match ptr.wrapping_add(i as u8) {
                0x02 => self.switches0 = v,
                0x04 => self.measure = v,
                0x06 => self.control0 = v,
                _ => {}
            }
        }
        Ok(())
    }

    fn read(&mut self, env: &mut Env<'_>, buf: &mut [u8]) -> Result<(), Nack> {
        for (i, o) in buf.iter_mut().enumerate() {
            *o = match self.ptr.wrapping_add(i as u8) {
                0x01 => 0x91,
                0x02 => self.switches0,
                0x04 => self.measure,
                0x06 => self.control0,
                0x40 => self.status0(env),
                _ => 0,
            };
        }
        Ok(())
    }
}
