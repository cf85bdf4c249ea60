//! ADS1115 behind the continuity tester: AIN0 = pin path voltage at 10 mA, AIN1 = leakage
//! sense across 100 kOhm. Conversions complete at once (the firmware waits 1.2 ms anyway).

use super::{be_word, noise, Device, Env, Nack};

/// ADC model.
#[derive(Default)]
pub struct Ads1115 {
    ptr: u8,
    config: u16,
    conversion: i16,
}

impl Ads1115 {
    fn convert(&mut self, env: &mut Env<'_>) {
        let input = (self.config >> 12) & 0b111;
        let fsr = match (self.config >> 9) & 0b111 {
            0 => 6.144,
            1 => 4.096,
            2 => 2.048,
            3 => 1.024,
            4 => 0.512,
            _ => 0.256,
        };
        let pin = env.wiring.cont_pin();
        let volts = match (env.phone, env.wiring.cont_en, input) {
            (Some(p), true, 0b100) => match p.pin_ohm(pin) {
                Some(r) => r * 0.010 + noise(env.rng, 0.000_01),
                None => f64::INFINITY,
            },
            (Some(p), true, 0b101) => p.leakage_a(pin) * 100_000.0,
            (None, true, 0b100) => f64::INFINITY,
            _ => 0.0,
        };
        let code = libm::round(volts / fsr * 32768.0);
        self.conversion = if code >= 32767.0 {
            i16::MAX
        } else {
            code.max(-32768.0) as i16
        };
    }
}

impl Device for Ads1115 {
    fn write(&mut self, env: &mut Env<'_>, data: &[u8]) -> Result<(), Nack> {
        let (&ptr, rest) = data.split_first().ok_or(Nack)?;
        self.ptr = ptr;
        if let ([hi, lo], 0x01) = (rest, ptr) {
            self.config = u16::from_be_bytes([*hi, *lo]) & 0x7FFF;
            if hi & 0x80 != 0 {
                self.convert(env);
            }
        }
        Ok(())
    }

    fn read(&mut self, _env: &mut Env<'_>, buf: &mut [u8]) -> Result<(), Nack> {
        let v = match self.ptr {
            0x00 => self.conversion as u16,
            // OS reads 1: no conversion in progress.
            0x01 => self.config | 0x8000,
            _ => 0,
        };
        be_word(buf, v);
        Ok(())
    }
}
