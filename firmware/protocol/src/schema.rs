//! The schema hash: an FNV-1a 64 hash over the postcard schema of both message directions.
//!
//! Firmware and host compute it from the same types, so any change to a message layout changes
//! the hash and the host refuses a jig whose firmware was built from other types.

use postcard_schema::key::hash::fnv1a64::hash_ty_path;

use crate::message::{JigMsg, Packet, Request};

const HOST_TO_JIG: [u8; 8] = hash_ty_path::<Packet<Request>>("benchline/host-to-jig");
const JIG_TO_HOST: [u8; 8] = hash_ty_path::<Packet<JigMsg>>("benchline/jig-to-host");

/// The schema hash of this build's message types.
pub const fn schema_hash() -> u64 {
    u64::from_le_bytes(HOST_TO_JIG) ^ u64::from_le_bytes(JIG_TO_HOST).rotate_left(1)
}
