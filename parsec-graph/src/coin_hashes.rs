//! The hashes the common coins are built on (spec §1.3): every peer must compute them bit
//! for bit alike, so they live next to the canonical encoding.

use crate::PeerId;
use crate::encoding::{COIN_TAG, COIN_VALUE_TAG, RANK_TAG, ROUND_TAG};

/// The round hash `RH(e, p, r)` of spec §7.3:
/// `blake3(ROUND_TAG ‖ enc((election, previous_group, candidate, round)))`.
pub fn round_hash(
    election: u64,
    previous_group: &[u8; 32],
    candidate: &PeerId,
    round: u32,
) -> [u8; 32] {
    // The canonical encoding of this tuple is its fields' raw bytes, integers little-endian
    // (the test below checks it against the codec); writing them directly skips a buffer.
    let mut hasher = blake3::Hasher::new();
    hasher.update(ROUND_TAG);
    hasher.update(&election.to_le_bytes());
    hasher.update(previous_group);
    hasher.update(candidate.as_bytes());
    hasher.update(&round.to_le_bytes());
    *hasher.finalize().as_bytes()
}

/// A voter's rank key: `blake3(RANK_TAG ‖ PeerId bytes)`.
pub fn rank_key(peer: &PeerId) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(RANK_TAG);
    hasher.update(peer.as_bytes());
    *hasher.finalize().as_bytes()
}

/// The message a threshold coin's holders sign for coin `(election, candidate, round)` of
/// key epoch `epoch`: `COIN_TAG ‖ enc((epoch, election, candidate, round))`.
pub fn coin_share_message(epoch: u64, election: u64, candidate: &PeerId, round: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(COIN_TAG.len() + 8 + 8 + 32 + 4);
    out.extend_from_slice(COIN_TAG);
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&election.to_le_bytes());
    out.extend_from_slice(candidate.as_bytes());
    out.extend_from_slice(&round.to_le_bytes());
    out
}

/// The coin value hash of a combined threshold signature's bytes:
/// `blake3(COIN_VALUE_TAG ‖ signature)`.
pub fn coin_value_hash(signature: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(COIN_VALUE_TAG);
    hasher.update(signature);
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::{tagged, tagged_hash};

    #[test]
    fn hand_encodings_are_the_canonical_ones() {
        let peer = PeerId::from_bytes([9; 32]);
        let group = [3u8; 32];
        assert_eq!(
            round_hash(7, &group, &peer, 5),
            tagged_hash(ROUND_TAG, &(7u64, group, peer, 5u32)).unwrap()
        );
        assert_eq!(
            coin_share_message(2, 7, &peer, 5),
            tagged(COIN_TAG, &(2u64, 7u64, peer, 5u32)).unwrap()
        );
        let mut rank = RANK_TAG.to_vec();
        rank.extend_from_slice(peer.as_bytes());
        assert_eq!(rank_key(&peer), *blake3::hash(&rank).as_bytes());
    }

    #[test]
    fn every_field_changes_the_round_hash() {
        let a = PeerId::from_bytes([1; 32]);
        let b = PeerId::from_bytes([2; 32]);
        let base = round_hash(1, &[0; 32], &a, 0);
        assert_ne!(base, round_hash(2, &[0; 32], &a, 0));
        assert_ne!(base, round_hash(1, &[1; 32], &a, 0));
        assert_ne!(base, round_hash(1, &[0; 32], &b, 0));
        assert_ne!(base, round_hash(1, &[0; 32], &a, 1));
    }
}
