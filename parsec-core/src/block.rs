//! Blocks: decided payloads with the votes that prove them (spec §8.3).

use parsec_graph::{Observation, Payload, PeerId, Proof};
use serde::{Deserialize, Serialize};

/// A decided payload with one proof per voter of the deciding election that voted it.
///
/// Payloads and their order are agreed by every honest peer; proof sets may differ (each
/// peer includes the votes it knows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block<T> {
    /// What was decided.
    pub payload: Observation<T>,
    /// The voters' signatures, ascending by signer.
    pub proofs: Vec<Proof>,
    /// Position in this peer's block output, from 0.
    pub sequence: u64,
    /// The election that decided it.
    pub election: u64,
    /// Position within its group.
    pub position: u32,
}

impl<T: Payload> Block<T> {
    /// Whether every proof is a valid signature of the payload by its signer, and every
    /// signer is in `voters`. A third party checks a block with this and the voters'
    /// public keys.
    pub fn verify(&self, voters: &[PeerId]) -> bool {
        !self.proofs.is_empty()
            && self
                .proofs
                .iter()
                .all(|proof| voters.contains(&proof.signer) && proof.verifies(&self.payload))
    }
}
