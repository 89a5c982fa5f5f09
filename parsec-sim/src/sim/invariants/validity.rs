//! Validity (spec §15.2): every block was voted, with valid proofs, by enough voters.
//!
//! # How it works
//!
//! The simulation records every vote it makes a peer cast (honest votes the engine
//! accepted, adversaries' hand-made votes, every genesis vote). For each block: its payload
//! is not internal; it has proofs, ascending by signer and without repeats; every signer is
//! a voter and really voted the payload (recorded, and the proof's signature verifies);
//! `Supermajority` blocks (and every non-opaque block) carry proofs from more than two thirds
//! of the voters, `Single`-mode opaque blocks exactly one. A proof seen once is not verified
//! again (every peer outputs the same proofs).

use std::collections::{BTreeMap, BTreeSet};

use parsec_core::Block;
use parsec_graph::{ConsensusMode, Observation, ObservationHash, PeerId, Signature};

use super::{BlockKey, Invariant, Violation};

/// The validity check.
#[derive(Clone, Debug)]
pub struct Validity {
    mode: ConsensusMode,
    voters: Vec<PeerId>,
    votes: BTreeMap<PeerId, BTreeSet<Observation<String>>>,
    verified: BTreeSet<(PeerId, Signature, ObservationHash)>,
}

impl Validity {
    /// A check for blocks decided by `voters` (the sim's membership never changes) in `mode`.
    pub fn new(mode: ConsensusMode, voters: &[PeerId]) -> Self {
        let mut voters = voters.to_vec();
        voters.sort();
        Validity {
            mode,
            voters,
            votes: BTreeMap::new(),
            verified: BTreeSet::new(),
        }
    }

    /// Records that `voter` voted `observation`.
    pub fn record_vote(&mut self, voter: PeerId, observation: &Observation<String>) {
        self.votes
            .entry(voter)
            .or_default()
            .insert(observation.clone());
    }

    /// Checks a block output by `peer`.
    pub fn observe(&mut self, peer: usize, block: &Block<String>) -> Result<(), Violation> {
        let name = BlockKey::of(block, self.mode).short();
        let fail = |detail: String| {
            Err(Violation::new(
                Invariant::Validity,
                Some(peer),
                format!("block {} ({name}): {detail}", block.sequence),
            ))
        };
        if block.payload.is_internal() {
            return fail("an internal observation was output".to_string());
        }
        if block.proofs.is_empty() {
            return fail("no proof".to_string());
        }
        if block.proofs.windows(2).any(|w| w[0].signer >= w[1].signer) {
            return fail("proofs are not strictly ascending by signer".to_string());
        }
        let hash = match block.payload.hash() {
            Ok(hash) => hash,
            Err(error) => return fail(format!("payload cannot be hashed: {error}")),
        };
        for proof in &block.proofs {
            if self.voters.binary_search(&proof.signer).is_err() {
                return fail(format!("signer {} is not a voter", proof.signer));
            }
            let voted = self
                .votes
                .get(&proof.signer)
                .is_some_and(|votes| votes.contains(&block.payload));
            if !voted {
                return fail(format!("{} never voted it", proof.signer));
            }
            let key = (proof.signer, proof.signature, hash);
            if !self.verified.contains(&key) {
                if !proof.verifies(&block.payload) {
                    return fail(format!("the proof by {} does not verify", proof.signer));
                }
                self.verified.insert(key);
            }
        }
        let single = self.mode == ConsensusMode::Single && block.payload.is_opaque();
        let n = self.voters.len();
        if single {
            if block.proofs.len() != 1 {
                return fail(format!(
                    "a Single-mode block carries {} proofs, not one",
                    block.proofs.len()
                ));
            }
        } else if 3 * block.proofs.len() <= 2 * n {
            return fail(format!(
                "{} proofs of {n} voters is not a supermajority",
                block.proofs.len()
            ));
        }
        Ok(())
    }
}
