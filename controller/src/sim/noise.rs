//! Line noise: a seeded fault injector on the byte path between the host and a simulated jig.
//!
//! Unlike a [`Fault`](super::Fault), which hits one chosen request, noise hits bytes at random in
//! both directions: a bit flipped, a byte dropped, a byte doubled, a random byte inserted, and
//! now and then a silent stall of the line (the bytes are held, not lost). The same seed gives
//! the same damage to the same bytes.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shortest stall of the line.
pub const STALL_MIN: Duration = Duration::from_millis(50);
/// Longest stall of the line.
pub const STALL_MAX: Duration = Duration::from_millis(300);

/// How noisy the line between the host and a simulated jig is.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    /// Probability, per byte, that the byte is damaged (one bit flipped, the byte dropped,
    /// doubled, or followed by a random byte), from 0 to 1.
    pub rate: f64,
    /// Probability, per byte, that the line falls silent before the byte, from 0 to 1.
    pub stall_rate: f64,
    /// Shortest silence of the line (real time).
    pub stall_min: Duration,
    /// Longest silence of the line (real time); each stall lasts a random time in between.
    pub stall_max: Duration,
    /// Seed of the damage; a simulated jig mixes in its own seed so jigs of a line differ.
    pub seed: u64,
}

impl Noise {
    /// Damage `rate` of the bytes, no stalls, stalls of [`STALL_MIN`]..=[`STALL_MAX`] once
    /// [`Noise::stall_rate`] is set.
    pub fn new(rate: f64, seed: u64) -> Noise {
        Noise {
            rate,
            stall_rate: 0.0,
            stall_min: STALL_MIN,
            stall_max: STALL_MAX,
            seed,
        }
    }
}

/// A rate that is not a fraction from 0 to 1.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not a rate: give the fraction of bytes hit, from 0 to 1 (e.g. 0.001 for 0.1 % of bytes)")]
pub struct RateError {
    value: String,
}

/// Parses a rate, a fraction of bytes from 0 to 1 (for command-line options).
pub fn parse_rate(s: &str) -> Result<f64, RateError> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(RateError { value: s.into() }),
    }
}

/// How many bytes the noise damaged, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    pub flipped: u64,
    pub dropped: u64,
    pub doubled: u64,
    pub inserted: u64,
    pub stalls: u64,
}

impl Damage {
    /// Bytes damaged, all kinds (stalls damage nothing).
    pub fn bytes(&self) -> u64 {
        self.flipped + self.dropped + self.doubled + self.inserted
    }
}

/// What one direction of the line made of some bytes.
#[derive(Debug, PartialEq)]
pub(crate) struct Passed {
    /// The bytes as they come out of the line.
    pub bytes: Vec<u8>,
    /// The line falls silent before `bytes[at]` for this long: what comes from `at` on is held.
    pub stall: Option<(usize, Duration)>,
}

/// One direction of a noisy line.
pub(crate) struct NoisyLine {
    rate: f64,
    stall_rate: f64,
    stall_min: Duration,
    stall_max: Duration,
    rng: ChaCha8Rng,
    pub damage: Damage,
}

/// Keeps a probability in [0, 1] (NaN counts as 0) whatever the caller filled in.
fn probability(p: f64) -> f64 {
    if p.is_nan() {
        0.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

impl NoisyLine {
    /// One direction of the line: `stream` tells directions and jigs with the same seed apart.
    pub fn new(noise: &Noise, stream: u64) -> NoisyLine {
        let mut rng = ChaCha8Rng::seed_from_u64(noise.seed);
        rng.set_stream(stream);
        NoisyLine {
            rate: probability(noise.rate),
            stall_rate: probability(noise.stall_rate),
            stall_min: noise.stall_min.min(noise.stall_max),
            stall_max: noise.stall_max.max(noise.stall_min),
            rng,
            damage: Damage::default(),
        }
    }

    /// Sends `input` down the line; at most one stall starts in one call, and none unless
    /// `may_stall` (the line is already silent, say).
    pub fn pass(&mut self, input: &[u8], may_stall: bool) -> Passed {
        let mut out = Vec::with_capacity(input.len() + input.len() / 64 + 1);
        let mut stall = None;
        if self.rate == 0.0 && (self.stall_rate == 0.0 || !may_stall) {
            out.extend_from_slice(input);
            return Passed { bytes: out, stall };
        }
        for &b in input {
            if may_stall
                && stall.is_none()
                && self.stall_rate > 0.0
                && self.rng.gen::<f64>() < self.stall_rate
            {
                let d = self.rng.gen_range(self.stall_min..=self.stall_max);
                self.damage.stalls += 1;
                stall = Some((out.len(), d));
            }
            if self.rate == 0.0 || self.rng.gen::<f64>() >= self.rate {
                out.push(b);
                continue;
            }
            match self.rng.gen_range(0..4u8) {
                0 => {
                    out.push(b ^ (1 << self.rng.gen_range(0..8u8)));
                    self.damage.flipped += 1;
                }
                1 => self.damage.dropped += 1,
                2 => {
                    out.extend_from_slice(&[b, b]);
                    self.damage.doubled += 1;
                }
                _ => {
                    out.extend_from_slice(&[b, self.rng.gen()]);
                    self.damage.inserted += 1;
                }
            }
        }
        Passed { bytes: out, stall }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        (0..n).map(|_| rng.gen()).collect()
    }

    #[test]
    fn rate_zero_passes_bytes_unchanged() {
        let input = bytes(100_000);
        let mut line = NoisyLine::new(&Noise::new(0.0, 7), 0);
        let out = line.pass(&input, true);
        assert_eq!(
            out,
            Passed {
                bytes: input,
                stall: None
            }
        );
        assert_eq!(line.damage, Damage::default());
    }

    #[test]
    fn rate_damages_about_that_fraction_of_bytes() {
        // 0x55 everywhere: a flipped bit always shows; doubles and inserts lengthen the
        // stream, drops shorten it.
        let n = 100_000u64;
        let input = vec![0x55u8; n as usize];
        for rate in [0.001, 0.01, 0.1] {
            let mut line = NoisyLine::new(&Noise::new(rate, 3), 0);
            let out = line.pass(&input, true).bytes;
            let d = line.damage;
            let expected = rate * n as f64;
            let sigma = (n as f64 * rate * (1.0 - rate)).sqrt();
            let hit = d.bytes() as f64;
            assert!(
                (hit - expected).abs() < 5.0 * sigma,
                "rate {rate}: {hit} bytes damaged, expected about {expected}"
            );
            // Every kind shows up once there are enough hits.
            assert!(d.flipped > 0 && d.dropped > 0 && d.doubled > 0 && d.inserted > 0);
            // And the damage is really in the output.
            assert_eq!(
                out.len() as u64,
                n - d.dropped + d.doubled + d.inserted,
                "rate {rate}"
            );
            let changed = out.iter().filter(|&&b| b != 0x55).count() as u64;
            assert!(
                changed >= d.flipped && changed <= d.flipped + d.inserted,
                "rate {rate}: {changed} bytes differ, {d:?}"
            );
        }
    }

    #[test]
    fn same_seed_same_output_other_seed_or_stream_other_output() {
        let input = bytes(20_000);
        let mut noise = Noise::new(0.01, 11);
        noise.stall_rate = 0.001;
        let run = |noise: &Noise, stream| {
            let mut line = NoisyLine::new(noise, stream);
            // In pieces, as the loop reads them.
            input
                .chunks(100)
                .map(|c| line.pass(c, true))
                .collect::<Vec<_>>()
        };
        let a = run(&noise, 0);
        assert_eq!(a, run(&noise, 0));
        assert_ne!(a, run(&noise, 1));
        assert_ne!(
            a,
            run(
                &Noise {
                    seed: 12,
                    ..noise.clone()
                },
                0
            )
        );
    }

    #[test]
    fn stalls_hold_bytes_and_last_within_bounds() {
        let input = bytes(10_000);
        let mut noise = Noise::new(0.0, 5);
        noise.stall_rate = 0.01;
        let mut line = NoisyLine::new(&noise, 0);
        let mut stalls = 0;
        for chunk in input.chunks(500) {
            let p = line.pass(chunk, true);
            // Stalls hold bytes, never lose them.
            assert_eq!(p.bytes, chunk);
            if let Some((at, d)) = p.stall {
                stalls += 1;
                assert!(at < chunk.len());
                assert!((STALL_MIN..=STALL_MAX).contains(&d), "{d:?}");
            }
            // No stall while the line is already silent.
            assert_eq!(line.pass(chunk, false).stall, None);
        }
        // 500 bytes at 1 %: almost every chunk stalls.
        assert!(stalls >= 15, "{stalls} stalls in 20 chunks");
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        assert_eq!(parse_rate("0.001").ok(), Some(0.001));
        assert_eq!(parse_rate("0").ok(), Some(0.0));
        assert_eq!(parse_rate("1").ok(), Some(1.0));
        for bad in ["-0.1", "1.5", "NaN", "inf", "1%", ""] {
            let e = parse_rate(bad).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains("from 0 to 1")),
                "{bad}: {e:?}"
            );
        }
    }
}
