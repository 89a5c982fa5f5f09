//! Digests of meta-events, for checking spec §15 invariant 7 (two honest peers that
//! evaluate an event in the same election compute the same meta-event).
//!
//! A digest covers everything a meta-event holds, named by what every peer agrees on
//! (observation keys, peer ids, event hashes), never by local numbers: content, observer
//! status with each observee's first interesting event, and every candidate's list.

use parsec_coin::CommonCoin;
use parsec_graph::{EventHash, EventIndex, Graph, ObservationKey, Payload};

use super::{Elections, MetaEvent, Observer};
use crate::metavote::{MetaValue, RoundStep};

/// The digest of one evaluated meta-event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetaDigest {
    /// The election it was evaluated in.
    pub election: u64,
    /// The evaluated event.
    pub event: EventHash,
    /// BLAKE3 of the meta-event's canonical description.
    pub digest: [u8; 32],
}

const DIGEST_TAG: &[u8] = b"parsec-rs/meta-event-digest/1";

fn key_bytes(hasher: &mut blake3::Hasher, key: &ObservationKey) {
    hasher.update(key.hash().as_bytes());
    match key {
        ObservationKey::Supermajority(_) => hasher.update(&[0]),
        ObservationKey::Single(_, creator) => hasher.update(&[1]).update(creator.as_bytes()),
    };
}

fn set_byte(contains: impl Fn(bool) -> bool) -> u8 {
    u8::from(contains(true)) | (u8::from(contains(false)) << 1)
}

impl<C: CommonCoin> Elections<C> {
    /// Starts or stops recording a [`MetaDigest`] of every meta-event this peer evaluates
    /// (off by default: it costs a hash per evaluated event). For simulations and tests.
    pub fn record_digests(&mut self, on: bool) {
        self.digests = on.then(Vec::new);
    }

    /// The digests recorded since the last call, in evaluation order.
    pub fn take_digests(&mut self) -> Vec<MetaDigest> {
        self.digests
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub(super) fn note_digest<T: Payload>(&mut self, graph: &Graph<T>, event: EventIndex) {
        if self.digests.is_none() {
            return;
        }
        let Some(meta) = self.meta[event.get()].as_ref() else {
            return;
        };
        let digest = self.digest_of(graph, meta);
        let record = MetaDigest {
            election: self.election,
            event: *graph.node(event).hash(),
            digest,
        };
        if let Some(digests) = self.digests.as_mut() {
            digests.push(record);
        }
    }

    fn digest_of<T: Payload>(&self, graph: &Graph<T>, meta: &MetaEvent) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(DIGEST_TAG);
        hasher.update(&self.election.to_le_bytes());
        hasher.update(&(meta.content.len() as u64).to_le_bytes());
        for &key in &meta.content {
            key_bytes(&mut hasher, &self.keys[key as usize]);
        }
        match &meta.observer {
            Observer::None => {
                hasher.update(&[0]);
            }
            Observer::This(observees) => {
                hasher.update(&[1]);
                hasher.update(&(observees.len() as u64).to_le_bytes());
                for &(slot, first) in observees {
                    hasher.update(self.voters.ids()[slot as usize].as_bytes());
                    hasher.update(graph.node(first).hash().as_bytes());
                }
            }
            Observer::After => {
                hasher.update(&[2]);
            }
        }
        match &meta.lists {
            None => {
                hasher.update(&[0]);
            }
            Some(lists) => {
                hasher.update(&[1]);
                for list in lists.per_candidate.iter() {
                    hasher.update(&(list.len() as u64).to_le_bytes());
                    for entry in list.iter() {
                        let step = match entry.step {
                            RoundStep::ForcedTrue => 0,
                            RoundStep::ForcedFalse => 1,
                            RoundStep::GenuineFlip => 2,
                        };
                        hasher.update(&entry.round.to_le_bytes());
                        hasher.update(&[step]);
                        match entry.value {
                            MetaValue::Decided(value) => {
                                hasher.update(&[0, u8::from(value)]);
                            }
                            MetaValue::Undecided { est, bin, aux } => {
                                let aux = match aux {
                                    None => 0,
                                    Some(false) => 1,
                                    Some(true) => 2,
                                };
                                hasher.update(&[
                                    1,
                                    set_byte(|b| est.contains(b)),
                                    set_byte(|b| bin.contains(b)),
                                    aux,
                                ]);
                            }
                        }
                    }
                }
            }
        }
        *hasher.finalize().as_bytes()
    }
}
