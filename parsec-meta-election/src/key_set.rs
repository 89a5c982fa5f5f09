//! A compact set of observation keys: the elections' decided keys (spec §6.1
//! `decided_keys`, which never shrinks: a vote for one is ignored forever), and the
//! engine's own decided votes. Kept as 32-byte digests, so a long run costs 32 bytes per
//! key (the elections drop everything else a decided key left, `election/compact.rs`).

use parsec_graph::{DigestMap, ObservationKey};

/// Below this many recent entries, nothing is merged into the sorted run.
const MERGE_AT: usize = 1024;

/// A set of observation keys, held as digests: a sorted run (32 bytes per key) and a
/// small hash set of the latest, merged into the run once it grows past an eighth of it.
/// Lookups are O(log n), insertions amortised O(log n).
///
/// ```
/// use parsec_graph::{ObservationHash, ObservationKey};
/// use parsec_meta_election::KeySet;
///
/// let key = ObservationKey::Supermajority(ObservationHash::from_bytes([1; 32]));
/// let mut set = KeySet::new();
/// assert!(!set.contains(&key));
/// set.insert(&key);
/// assert!(set.contains(&key));
/// assert_eq!(set.len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    sorted: Vec<[u8; 32]>,
    recent: DigestMap<[u8; 32], ()>,
}

/// The digest a key is remembered by (collision resistant, so two keys never share one
/// in practice, and the same on every peer).
fn digest(key: &ObservationKey) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("parsec-rs v1 key set");
    hasher.update(key.hash().as_bytes());
    match key {
        ObservationKey::Supermajority(_) => hasher.update(&[0]),
        ObservationKey::Single(_, creator) => hasher.update(&[1]).update(creator.as_bytes()),
    };
    *hasher.finalize().as_bytes()
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `key` was inserted.
    pub fn contains(&self, key: &ObservationKey) -> bool {
        let digest = digest(key);
        self.recent.contains_key(&digest) || self.sorted.binary_search(&digest).is_ok()
    }

    /// Adds `key` (once, however often it is inserted).
    pub fn insert(&mut self, key: &ObservationKey) {
        let digest = digest(key);
        if self.sorted.binary_search(&digest).is_ok() {
            return;
        }
        self.recent.insert(digest, ());
        if self.recent.len() >= MERGE_AT.max(self.sorted.len() / 8) {
            let recent = std::mem::take(&mut self.recent);
            self.sorted.extend(recent.into_keys());
            self.sorted.sort_unstable();
            self.sorted.shrink_to_fit();
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Whether no key was inserted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parsec_graph::{ObservationHash, PeerId};

    fn key(n: u32) -> ObservationKey {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        if n.is_multiple_of(2) {
            ObservationKey::Supermajority(ObservationHash::from_bytes(bytes))
        } else {
            ObservationKey::Single(
                ObservationHash::from_bytes(bytes),
                PeerId::from_bytes([3; 32]),
            )
        }
    }

    #[test]
    fn every_inserted_key_is_found_across_merges_and_no_other() {
        let mut set = KeySet::new();
        let count = 3 * MERGE_AT as u32 + 17;
        for n in 0..count {
            set.insert(&key(n));
            set.insert(&key(n));
        }
        assert_eq!(
            set.len(),
            count as usize,
            "a key inserted twice is held once"
        );
        assert!(!set.sorted.is_empty(), "merged at least once");
        for n in 0..count {
            assert!(set.contains(&key(n)), "key {n} lost");
        }
        for n in count..count + 100 {
            assert!(!set.contains(&key(n)), "key {n} never inserted");
        }
    }
}
