//! Agreement (spec §15.1): every honest peer's block sequence is a prefix of the longest.
//!
//! # How it works
//!
//! The first peer to output a block at position `k` fixes the reference entry `k`: the
//! block's [`BlockKey`], election and position in its group (so group boundaries must agree
//! too). Every later block at `k`, from any honest peer, must equal it. Since each block is
//! checked when it is output, all honest sequences are prefixes of the reference at every
//! step, and the reference is the longest sequence.

use parsec_core::Block;
use parsec_graph::ConsensusMode;

use super::{BlockKey, Invariant, Violation};

/// One position of the agreed sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key: BlockKey,
    election: u64,
    position: u32,
}

/// The agreement check.
#[derive(Clone, Debug)]
pub struct Agreement {
    mode: ConsensusMode,
    reference: Vec<(Entry, usize)>,
}

impl Agreement {
    /// A check for blocks decided in `mode`.
    pub fn new(mode: ConsensusMode) -> Self {
        Agreement {
            mode,
            reference: Vec::new(),
        }
    }

    /// The length of the longest honest sequence so far.
    pub fn longest(&self) -> usize {
        self.reference.len()
    }

    /// Checks `block`, output by `peer` as its block number `index` (from 0).
    pub fn observe(
        &mut self,
        peer: usize,
        index: usize,
        block: &Block<String>,
    ) -> Result<(), Violation> {
        let entry = Entry {
            key: BlockKey::of(block, self.mode),
            election: block.election,
            position: block.position,
        };
        match self.reference.get(index) {
            Some((expected, first)) if *expected != entry => Err(Violation::new(
                Invariant::Agreement,
                Some(peer),
                format!(
                    "block {index} is {} (election {}, position {}) but peer {first} output {} \
                     (election {}, position {})",
                    entry.key.short(),
                    entry.election,
                    entry.position,
                    expected.key.short(),
                    expected.election,
                    expected.position
                ),
            )),
            Some(_) => Ok(()),
            None if index == self.reference.len() => {
                self.reference.push((entry, peer));
                Ok(())
            }
            None => Err(Violation::new(
                Invariant::Agreement,
                Some(peer),
                format!(
                    "block {index} output before block {} was seen",
                    self.reference.len()
                ),
            )),
        }
    }
}
