//! Same result at the same event (spec §15, invariant 7): two honest peers that evaluate an
//! event in the same election compute the same meta-event.
//!
//! # How it works
//!
//! Every honest engine records a digest of each meta-event it evaluates (content, observer
//! with its observees' first interesting events, every candidate's list), keyed by event
//! hash and election. After every simulation step the digests are collected here; the
//! first digest seen for a key is kept with the peer that produced it, and any later digest
//! for the same key must equal it. This catches a split at the event where it starts,
//! long before two peers output different blocks.

use std::collections::BTreeMap;

use parsec_core::MetaDigest;
use parsec_graph::EventHash;

use super::{Invariant, Violation};

/// The digests seen so far.
#[derive(Debug, Default)]
pub struct SameMetaEvent {
    seen: BTreeMap<(u64, EventHash), ([u8; 32], usize)>,
    /// Digests compared against an earlier peer's.
    pub compared: u64,
}

impl SameMetaEvent {
    /// No digests yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the digests `peer` recorded since its last report.
    pub fn observe(&mut self, peer: usize, digests: Vec<MetaDigest>) -> Result<(), Violation> {
        for digest in digests {
            let key = (digest.election, digest.event);
            match self.seen.get(&key) {
                None => {
                    self.seen.insert(key, (digest.digest, peer));
                }
                Some(&(first, first_peer)) => {
                    if first_peer != peer {
                        self.compared += 1;
                    }
                    if first != digest.digest {
                        return Err(Violation::new(
                            Invariant::SameMetaEvent,
                            Some(peer),
                            format!(
                                "event {} in election {} evaluates differently here than at \
                                 peer {first_peer}",
                                digest.event, digest.election
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
