//! FT5x06-class touch controller in factory mode. A scan takes 1 ms of jig time per row; healthy
//! nodes read about 5000 counts, dead nodes near 40, shorted nodes near 15000.

use super::{noise, Device, Env, Nack};

/// Nominal raw count of a healthy node.
pub const NOMINAL: f64 = 5000.0;
/// Raw count of a dead node.
pub const DEAD: f64 = 40.0;
/// Raw count of a shorted node.
pub const SHORTED: f64 = 15000.0;

/// Touch IC model.
#[derive(Default)]
pub struct Touch {
    ptr: u8,
    mode: u8,
    row: u8,
    scan_done_at: Option<u64>,
    scanned: bool,
}

impl Device for Touch {
    fn write(&mut self, env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack> {
        let p = env.phone.ok_or(Nack)?;
        let (&ptr, rest) = data.split_first().ok_or(Nack)?;
        self.ptr = ptr;
        match (ptr, rest.first()) {
            (0x00, Some(&v)) => {
                self.mode = v & 0x70;
                if v & 0x80 != 0 && self.mode == 0x40 {
                    self.scan_done_at = Some(env.now_us + u64::from(p.screen.rows) * 1000);
                    self.scanned = false;
                }
            }
            (0x01, Some(&v)) => self.row = v,
            _ => {}
        }
        Ok(())
    }

    fn read(&mut self, env: &mut Env<'_>, buf: &mut [u8]) -> Result<(), Nack> {
        let p = env.phone.ok_or(Nack)?;
        if let Some(t) = self.scan_done_at {
            if env.now_us >= t {
                self.scan_done_at = None;
                self.scanned = true;
            }
        }
        match self.ptr {
            0x00 => fill(
                buf,
                self.mode | if self.scan_done_at.is_some() { 0x80 } else { 0 },
            ),
            0x02 => fill(buf, p.screen.rows),
            0x03 => fill(buf, p.screen.cols),
            0x10 if self.mode == 0x40 && self.scanned => {
                for (col, pair) in buf.chunks_mut(2).enumerate() {
                    let node = [self.row, col as u8];
                    let base = if p.screen.dead_nodes.contains(&node) {
                        DEAD
                    } else if p.screen.shorted_nodes.contains(&node) {
                        SHORTED
                    } else {
                        NOMINAL
                    };
                    let v = if col < usize::from(p.screen.cols) {
                        (base + noise(env.rng, 60.0)).max(0.0) as u16
                    } else {
                        0
                    };
                    let b = v.to_be_bytes();
                    for (i, o) in pair.iter_mut().enumerate() {
                        *o = b[i];
                    }
                }
            }
            _ => fill(buf, 0),
        }
        Ok(())
    }
}

fn fill(buf: &mut [u8], v: u8) {
    buf.iter_mut().for_each(|b| *b = v);
}
