//! The schema hash: an FNV-1a 64 hash over the postcard schema of both message directions,
//! folded with the capacities of the fixed-size strings and vectors and the frame bound.
//!
//! Firmware and host compute it from the same types, so any change to a message layout or to a
//! capacity changes the hash and the host refuses a jig whose firmware was built from other
//! types. (postcard-schema describes `heapless::String<N>` without `N`, hence the fold.)

use postcard_schema::key::hash::fnv1a64::hash_ty_path;

use crate::frame::MAX_FRAME_PAYLOAD;
use crate::message::{
    JigMsg, Packet, Request, LOG_TEXT, MAX_INSTRUMENTS, MAX_TEXT, MAX_TOUCH_COLS,
};

const HOST_TO_JIG: [u8; 8] = hash_ty_path::<Packet<Request>>("benchline/host-to-jig");
const JIG_TO_HOST: [u8; 8] = hash_ty_path::<Packet<JigMsg>>("benchline/jig-to-host");

/// Every capacity that bounds a message on the wire.
const CAPACITIES: [usize; 7] = [
    MAX_TEXT,
    MAX_TOUCH_COLS,
    MAX_INSTRUMENTS,
    LOG_TEXT,
    3,
    8,
    MAX_FRAME_PAYLOAD,
];

const fn fold_capacities(mut state: u64) -> u64 {
    let mut i = 0;
    while i < CAPACITIES.len() {
        let bytes = (CAPACITIES[i] as u32).to_le_bytes();
        let mut j = 0;
        while j < bytes.len() {
            state ^= bytes[j] as u64;
            state = state.wrapping_mul(0x0000_0100_0000_01b3);
            j += 1;
        }
        i += 1;
    }
    state
}

/// The schema hash of this build's message types.
pub const fn schema_hash() -> u64 {
    let layouts = u64::from_le_bytes(HOST_TO_JIG) ^ u64::from_le_bytes(JIG_TO_HOST).rotate_left(1);
    fold_capacities(layouts)
}
