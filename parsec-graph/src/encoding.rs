//! The canonical encoding (spec §1.2) and the domain tags of spec §1.3.
//!
//! Everything hashed or signed goes through [`encode`]: bincode 2 with the legacy
//! configuration, which is the bincode 1.x default layout (fixed-width little-endian
//! integers, `u64` sequence lengths, `u32` enum tags). Byte arrays are written raw by the
//! types themselves.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Domain tag of event signing bytes.
pub const EVENT_TAG: &[u8] = b"parsec-rs/v1/event\0";
/// Domain tag of vote signing bytes.
pub const VOTE_TAG: &[u8] = b"parsec-rs/v1/vote\0";
/// Domain tag of observation hashes.
pub const OBSERVATION_TAG: &[u8] = b"parsec-rs/v1/observation\0";
/// Domain tag of coin share messages.
pub const COIN_TAG: &[u8] = b"parsec-rs/v1/coin\0";
/// Domain tag of coin value hashes.
pub const COIN_VALUE_TAG: &[u8] = b"parsec-rs/v1/coin-value\0";
/// Domain tag of round hashes.
pub const ROUND_TAG: &[u8] = b"parsec-rs/v1/round\0";
/// Domain tag of rank keys.
pub const RANK_TAG: &[u8] = b"parsec-rs/v1/rank\0";
/// Domain tag of group hashes.
pub const GROUP_TAG: &[u8] = b"parsec-rs/v1/group\0";

/// Encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value could not be encoded (only a payload type's own `Serialize` can fail).
    #[error("encoding failed: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// The bytes are not a valid encoding.
    #[error("decoding failed: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// The bytes hold a valid value followed by more bytes.
    #[error("{trailing} trailing bytes after the encoded value")]
    TrailingBytes {
        /// How many bytes were left over.
        trailing: usize,
    },
}

/// Hard ceiling on what one decode may claim for strings and byte vectors.
///
/// bincode allocates a string's claimed length before reading it; without a limit a forged
/// length of 2^60 would abort the process. Configured message limits must stay below this.
pub const DECODE_CEILING: usize = 256 << 20;

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::NoLimit,
> {
    bincode::config::legacy()
}

fn decode_config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::Limit<DECODE_CEILING>,
> {
    bincode::config::legacy().with_limit::<DECODE_CEILING>()
}

/// Canonical bytes of `value`.
pub fn encode<V: Serialize + ?Sized>(value: &V) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(value, config())?)
}

/// Appends the canonical bytes of `value` to `out`.
pub fn encode_into<V: Serialize + ?Sized>(value: &V, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, config())?;
    Ok(())
}

/// `tag ‖ enc(value)`: the bytes that are hashed or signed.
pub fn tagged<V: Serialize + ?Sized>(tag: &[u8], value: &V) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(tag.len() + 128);
    out.extend_from_slice(tag);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// BLAKE3 of `tag ‖ enc(value)`.
pub fn tagged_hash<V: Serialize + ?Sized>(tag: &[u8], value: &V) -> Result<[u8; 32], CodecError> {
    Ok(*blake3::hash(&tagged(tag, value)?).as_bytes())
}

/// Decodes exactly one value from `bytes`, rejecting trailing bytes.
///
/// The caller bounds `bytes.len()`. A forged sequence length preallocates at most serde's
/// cautious bound and a forged string length at most [`DECODE_CEILING`] before the read
/// fails, so hostile input cannot exhaust memory.
pub fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V, CodecError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, decode_config())?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes {
            trailing: bytes.len() - used,
        });
    }
    Ok(value)
}

/// Counts bytes instead of storing them.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of the canonical encoding of `value`, without allocating it.
pub fn encoded_len<V: Serialize + ?Sized>(value: &V) -> Result<usize, CodecError> {
    let mut counter = Counter(0);
    bincode::serde::encode_into_std_write(value, &mut counter, config())?;
    Ok(counter.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Observation, SecretKey, Vote};

    #[test]
    fn unsorted_peer_sets_do_not_decode() {
        let a = SecretKey::from_seed([1; 32]).peer_id();
        let b = SecretKey::from_seed([2; 32]).peer_id();
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let sorted: Observation<String> = Observation::StartDkg {
            participants: [lo, hi].into_iter().collect(),
        };
        let bytes = encode(&sorted).expect("encodes");
        assert_eq!(
            decode::<Observation<String>>(&bytes).expect("decodes"),
            sorted
        );
        // Swap the two 32-byte keys after the tag (4) and length (8).
        let mut swapped = bytes.clone();
        swapped[12..44].copy_from_slice(hi.as_bytes());
        swapped[44..76].copy_from_slice(lo.as_bytes());
        assert!(decode::<Observation<String>>(&swapped).is_err());
        let mut duplicated = bytes;
        duplicated[44..76].copy_from_slice(lo.as_bytes());
        assert!(decode::<Observation<String>>(&duplicated).is_err());
    }

    #[test]
    fn forged_string_length_is_an_error() {
        let key = SecretKey::from_seed([1; 32]);
        let vote = Vote::new(Observation::OpaquePayload("abc".to_string()), &key).expect("signs");
        let mut bytes = encode(&vote).expect("encodes");
        // Observation tag (4) then the string length (8).
        bytes[4..12].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(decode::<Vote<String>>(&bytes).is_err());
    }
}
