//! Total order and integrity within one peer's output (spec §15.1, §15.3).
//!
//! # How it works
//!
//! For each honest peer, in output order: block `k` carries sequence number `k`; the first
//! block is the genesis group (unless a Byzantine voter runs in `Single` mode: one that
//! forks its genesis vote away from some events lets a single-vote payload become
//! interesting before the genesis group has its supermajority, and both honest sides
//! then agree on a group that starts with that payload); positions count up from 0 within an election and restart at
//! 0 when a later election starts (elections never go back); and no [`BlockKey`] is output
//! twice (no payload twice in `Supermajority` mode, no (payload, voter) twice in `Single`).

use std::collections::BTreeSet;

use parsec_core::Block;
use parsec_graph::{ConsensusMode, Observation};

use super::{BlockKey, Invariant, Violation};

#[derive(Clone, Debug, Default)]
struct PeerOrder {
    count: u64,
    last: Option<(u64, u32)>,
    keys: BTreeSet<BlockKey>,
}

/// The order check.
#[derive(Clone, Debug)]
pub struct Order {
    mode: ConsensusMode,
    genesis_first: bool,
    peers: Vec<PeerOrder>,
}

impl Order {
    /// A check for `peers` peers deciding in `mode`; `genesis_first` asks for the genesis
    /// group as every peer's first block.
    pub fn new(mode: ConsensusMode, peers: usize, genesis_first: bool) -> Self {
        Order {
            mode,
            genesis_first,
            peers: vec![PeerOrder::default(); peers],
        }
    }

    /// Checks the next block output by `peer`.
    pub fn observe(&mut self, peer: usize, block: &Block<String>) -> Result<(), Violation> {
        let fail = |detail: String| Err(Violation::new(Invariant::Order, Some(peer), detail));
        let Some(state) = self.peers.get_mut(peer) else {
            return fail(format!("no peer {peer}"));
        };
        let k = state.count;
        if block.sequence != k {
            return fail(format!("block {k} has sequence number {}", block.sequence));
        }
        if k == 0 && self.genesis_first && !matches!(block.payload, Observation::Genesis { .. }) {
            return fail(format!(
                "the first block is not the genesis group but {} (election {}, position {})",
                super::short_payload(&block.payload),
                block.election,
                block.position
            ));
        }
        let expected_position = match state.last {
            None => 0,
            Some((election, position)) if election == block.election => position + 1,
            Some((election, _)) if block.election > election => 0,
            Some((election, _)) => {
                return fail(format!(
                    "block {k} is from election {} after election {election}",
                    block.election
                ));
            }
        };
        if block.position != expected_position {
            return fail(format!(
                "block {k} has position {} in election {}, expected {expected_position}",
                block.position, block.election
            ));
        }
        let key = BlockKey::of(block, self.mode);
        if state.keys.contains(&key) {
            return fail(format!(
                "{} decided twice (again as block {k})",
                key.short()
            ));
        }
        state.keys.insert(key);
        state.last = Some((block.election, block.position));
        state.count += 1;
        Ok(())
    }
}
