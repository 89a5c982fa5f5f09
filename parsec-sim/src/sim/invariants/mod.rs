//! The invariants every simulation checks (spec §15), one module each.
//!
//! # How it works
//!
//! The simulation hands every block an honest engine outputs to [`agreement`], [`order`],
//! [`validity`] and [`termination`] the moment it is output, so a violation is caught at
//! the step that caused it; [`honest_fork`] looks at every graph after every step; [`quiet`]
//! sees every fault as it is reported and every `warn!`/`error!` the engines log;
//! [`same_meta`] compares the digests of every meta-event the honest engines evaluate. The
//! termination check runs at the end, once faults have stopped. Each check returns a
//! [`Violation`] naming the invariant, the peer and what was wrong.

use std::fmt;

use parsec_core::Block;
use parsec_graph::{ConsensusMode, Observation, PeerId};

pub mod agreement;
pub mod honest_fork;
pub mod order;
pub mod quiet;
pub mod same_meta;
pub mod termination;
pub mod validity;

/// Which invariant a [`Violation`] breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Invariant {
    /// Every honest peer's block sequence is a prefix of the longest one.
    Agreement,
    /// Each peer's blocks are numbered, grouped and keyed consistently, none repeated.
    Order,
    /// Every block was voted, with valid proofs, by enough voters.
    Validity,
    /// No honest peer ever forked.
    HonestFork,
    /// Once faults stop, every payload the honest peers must decide is decided.
    Termination,
    /// A run without adversaries reports no fault and logs no warning; with adversaries,
    /// faults blame only adversaries.
    Quiet,
    /// An honest engine returned an error (bad input must be a fault, never an error).
    Engine,
    /// Two honest peers evaluated one event in one election differently (spec §15.7).
    SameMetaEvent,
    /// A restarted peer's store lost, repeated or reordered what it had decided, or the
    /// store failed.
    Durability,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Invariant::Agreement => "agreement",
            Invariant::Order => "total order",
            Invariant::Validity => "validity",
            Invariant::HonestFork => "no honest fork",
            Invariant::Termination => "termination",
            Invariant::Quiet => "quiet honest run",
            Invariant::Engine => "engine error",
            Invariant::SameMetaEvent => "same meta-event at the same event",
            Invariant::Durability => "durability across restarts",
        };
        f.write_str(name)
    }
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The peer (by number) where it showed, if one.
    pub peer: Option<usize>,
    /// What was wrong, for people.
    pub detail: String,
}

impl Violation {
    /// A violation of `invariant` seen at `peer`.
    pub fn new(invariant: Invariant, peer: Option<usize>, detail: impl Into<String>) -> Self {
        Violation {
            invariant,
            peer,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.peer {
            Some(peer) => write!(
                f,
                "{} violated at peer {peer}: {}",
                self.invariant, self.detail
            ),
            None => write!(f, "{} violated: {}", self.invariant, self.detail),
        }
    }
}

impl std::error::Error for Violation {}

/// What identifies a decision: the payload, plus the voter for `Single`-mode opaque blocks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockKey {
    /// What was decided.
    pub payload: Observation<String>,
    /// The voter, for a `Single`-mode opaque block.
    pub signer: Option<PeerId>,
}

impl BlockKey {
    /// The key of `block` in `mode`.
    pub fn of(block: &Block<String>, mode: ConsensusMode) -> BlockKey {
        let single = mode == ConsensusMode::Single && block.payload.is_opaque();
        BlockKey {
            payload: block.payload.clone(),
            signer: if single {
                block.proofs.first().map(|p| p.signer)
            } else {
                None
            },
        }
    }

    /// A short name for messages: the payload (`p3`, `genesis`, ...), plus the signer.
    pub fn short(&self) -> String {
        let payload = short_payload(&self.payload);
        match self.signer {
            Some(signer) => format!("{payload}@{signer}"),
            None => payload,
        }
    }
}

/// A short name for an observation: the payload itself for opaque ones, else its kind.
pub fn short_payload(observation: &Observation<String>) -> String {
    match observation {
        Observation::OpaquePayload(payload) => payload.clone(),
        Observation::Genesis { .. } => "genesis".to_string(),
        Observation::Add { peer_id, .. } => format!("add({peer_id})"),
        Observation::Remove { peer_id, .. } => format!("remove({peer_id})"),
        Observation::Accusation { offender, .. } => format!("accuse({offender})"),
        Observation::StartDkg { .. } => "start-dkg".to_string(),
        Observation::DkgMessage(_) => "dkg-message".to_string(),
        Observation::DkgResult { .. } => "dkg-result".to_string(),
    }
}
