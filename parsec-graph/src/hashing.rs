//! A fast, deterministic hasher for maps keyed by our BLAKE3-derived identifiers.
//!
//! Event hashes, observation hashes and peer ids are already uniformly distributed, so
//! hashing them again with SipHash only costs time; and `RandomState` would read the
//! operating system's random source, which the sans-I/O crates do not touch. An adversary
//! cannot choose these keys without brute-forcing BLAKE3 or ed25519 key generation, so a
//! cheap multiplicative mix of their bytes keeps buckets balanced. Maps built with it are
//! used for keyed lookups only and never iterated, so no result depends on its order.

use std::hash::{BuildHasherDefault, Hasher};

/// Folds written bytes eight at a time with a multiply-rotate mix.
#[derive(Clone, Copy, Default, Debug)]
pub struct DigestHasher(u64);

const MIX: u64 = 0x517c_c1b7_2722_0a95;

impl DigestHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MIX);
    }
}

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`DigestHasher`]s; use with `HashMap::with_hasher(DigestState::default())`.
pub type DigestState = BuildHasherDefault<DigestHasher>;

/// A map keyed by digests, for lookups only: never iterate it where order could matter.
pub type DigestMap<K, V> = std::collections::HashMap<K, V, DigestState>;
