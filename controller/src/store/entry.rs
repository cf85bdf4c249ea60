//! One stored record: its place in the hash chain and its body, and the key layout of the trees.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash before the first record.
pub const GENESIS: Hash = [0; 32];

/// Largest record body accepted when decoding (a damaged length cannot make us allocate more).
pub const MAX_BODY: usize = 4 << 20;

/// zstd level for record bodies: fast, and about 5x smaller for record JSON.
const LEVEL: i32 = 3;

/// A record as kept in the `records` tree, keyed by its sequence number: postcard of
/// `prev`, `hash` and the zstd-compressed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Hash of the record before it ([`GENESIS`] for the first).
    pub prev: Hash,
    /// [`chain_hash`] of this record.
    pub hash: Hash,
    /// The record as JSON, exactly as it was written (the bytes the hash covers).
    pub body: Vec<u8>,
}

impl Entry {
    /// Builds the entry for `body` at `seq` after `prev`.
    pub fn new(seq: u64, prev: Hash, body: Vec<u8>) -> Entry {
        Entry {
            prev,
            hash: chain_hash(&prev, seq, &body),
            body,
        }
    }

    /// Encodes for the store.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let zbody =
            zstd::bulk::compress(&self.body, LEVEL).map_err(|e| CodecError(e.to_string()))?;
        postcard::to_stdvec(&Stored {
            prev: self.prev,
            hash: self.hash,
            zbody,
        })
        .map_err(|e| CodecError(e.to_string()))
    }

    /// Decodes from the store.
    pub fn decode(bytes: &[u8]) -> Result<Entry, CodecError> {
        let s: StoredRef<'_> =
            postcard::from_bytes(bytes).map_err(|e| CodecError(e.to_string()))?;
        // The frame states the body's size: allocate that, not MAX_BODY, for every record.
        let size = match zstd::zstd_safe::get_frame_content_size(s.zbody) {
            Ok(Some(n)) => usize::try_from(n).map_or(MAX_BODY, |n| n.min(MAX_BODY)),
            _ => MAX_BODY,
        };
        let body = DECOMPRESSOR
            .with(|d| match &mut *d.borrow_mut() {
                Some(d) => d.decompress(s.zbody, size),
                None => zstd::bulk::decompress(s.zbody, size),
            })
            .map_err(|e| CodecError(format!("its body does not decompress: {e}")))?;
        Ok(Entry {
            prev: s.prev,
            hash: s.hash,
            body,
        })
    }
}

thread_local! {
    // One zstd context per thread, made once (making one costs as much as using it).
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(LEVEL).ok());
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

/// The stored form of an [`Entry`].
#[derive(Serialize, Deserialize)]
struct Stored {
    prev: Hash,
    hash: Hash,
    zbody: Vec<u8>,
}

/// The stored form of an [`Entry`] as it is decoded: the compressed body borrowed from the
/// stored bytes, not copied byte by byte.
#[derive(Deserialize)]
struct StoredRef<'a> {
    prev: Hash,
    hash: Hash,
    #[serde(borrow)]
    zbody: &'a [u8],
}

/// A record's bytes do not encode or decode.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

/// SHA-256 over the previous record's hash (32 bytes), the sequence number (8 bytes, big
/// endian) and the body's JSON bytes: a record cannot change, move or vanish without breaking
/// the hash of every record after it.
pub fn chain_hash(prev: &Hash, seq: u64, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(body);
    h.finalize().into()
}

/// Lower-case hex of a hash.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower- or upper-case hex of a hash.
pub fn parse_hex(text: &str) -> Option<Hash> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A hash as lower-case hex in serde formats.
pub mod hex_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{hex, parse_hex, Hash};

    /// Serializes as hex.
    pub fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(hash))
    }

    /// Deserializes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        parse_hex(&text).ok_or_else(|| serde::de::Error::custom("not 64 hex digits"))
    }
}

/// Key of a record: its sequence number, big endian (so keys sort in chain order).
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Sequence number from an 8-byte key or key suffix.
pub fn key_seq(bytes: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = bytes.get(bytes.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// Key in the device index: the IMEI, a 0 byte, the sequence number.
pub fn device_key(imei: &str, seq: u64) -> Vec<u8> {
    let mut k = device_prefix(imei);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Prefix of every device-index key of one IMEI.
pub fn device_prefix(imei: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(imei.len() + 9);
    k.extend_from_slice(imei.as_bytes());
    k.push(0);
    k
}

/// Key in the time index: the finish time in ms since the Unix epoch, then the sequence
/// number, both big endian.
pub fn time_key(finished_ms: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&finished_ms.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_hash_covers_everything() {
        let e = Entry::new(7, [1; 32], b"{\"a\":1}".to_vec());
        let bytes = e.encode().unwrap();
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
        assert_ne!(e.hash, chain_hash(&[1; 32], 8, b"{\"a\":1}"));
        assert_ne!(e.hash, chain_hash(&[2; 32], 7, b"{\"a\":1}"));
        assert_ne!(e.hash, chain_hash(&[1; 32], 7, b"{\"a\":2}"));
        assert_eq!(parse_hex(&hex(&e.hash)), Some(e.hash));
        assert_eq!(parse_hex("xyz"), None);
    }

    #[test]
    fn index_keys_sort_by_device_then_seq_and_by_time_then_seq() {
        assert!(device_key("35", 9) < device_key("35", 10));
        assert!(device_key("35", u64::MAX) < device_key("351", 0));
        assert!(time_key(5, 9) < time_key(6, 1));
        assert_eq!(key_seq(&device_key("35", 42)), Some(42));
        assert_eq!(key_seq(&time_key(1, 43)), Some(43));
        assert_eq!(key_seq(b"short"), None);
    }
}
