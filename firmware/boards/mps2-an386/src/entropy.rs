//! Randomness without a TRNG: mps2 has none, so the board times a short busy loop against
//! timer 0 many times and mixes the iteration counts. Under QEMU the timer follows the host's
//! clock while the loop runs at whatever speed the host gives the emulator, so the counts
//! carry the host's scheduling and cache jitter. README.md says what that is worth.
//!
//! Under `qemu -icount` the loop and the timer move together and the counts carry nothing, so
//! the board also mixes in a launcher's seed word: 8 bytes at [`SEED_WORD`] (the first bytes of
//! the otherwise unused PSRAM, zero unless the launcher wrote them, e.g. with QEMU's
//! `-device loader,addr=0x21000000,data=N,data-len=8`), as a board with a seed in OTP would.
#![allow(unsafe_code)]

use core::ptr::read_volatile;

use crate::clock;

/// Where a launcher may leave a 64-bit seed (PSRAM, little-endian).
pub const SEED_WORD: usize = 0x2100_0000;

/// Timer ticks each sample spans (10 µs at 25 MHz).
const SPAN: u32 = 250;
/// Samples mixed into the seed.
const SAMPLES: u32 = 512;

/// One sample: loop iterations while the timer moves by [`SPAN`] ticks.
pub fn sample() -> u32 {
    let start = clock::raw();
    let mut n: u32 = 0;
    while start.wrapping_sub(clock::raw()) < SPAN {
        n = n.wrapping_add(1);
    }
    n
}

/// The launcher's seed word (zero when none was left).
fn launcher_seed() -> u64 {
    // SAFETY: PSRAM is plain RAM in the mps2-an386 memory map that nothing else in the image
    // uses; two aligned 32-bit volatile reads.
    let (lo, hi) = unsafe {
        (
            read_volatile(SEED_WORD as *const u32),
            read_volatile((SEED_WORD + 4) as *const u32),
        )
    };
    u64::from(lo) | (u64::from(hi) << 32)
}

/// A 64-bit seed from the launcher's seed word, [`SAMPLES`] samples, the timer's value when
/// done and the stack's address, each folded in through a 64-bit finaliser (MurmurHash3's
/// `fmix64`).
pub fn seed() -> u64 {
    let mut state: u64 = mix(0x6a09_e667_f3bc_c908 ^ launcher_seed());
    for i in 0..SAMPLES {
        state = mix(state ^ (u64::from(sample()) | (u64::from(i) << 32)));
    }
    let here = 0u8;
    state = mix(state ^ u64::from(clock::raw()));
    mix(state ^ (core::ptr::addr_of!(here) as u64))
}

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}
