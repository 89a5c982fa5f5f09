//! Total order and integrity within one peer's output (spec §15.1, §15.3).
//!
//! # How it works
//!
//! For each honest peer, in output order: block `k` carries sequence number `k`; the first
//! block is the genesis group; positions count up from 0 within an election and restart at
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
    peers: Vec<PeerOrder>,
}

impl Order {
    /// A check for `peers` peers deciding in `mode`.
    pub fn new(mode: ConsensusMode, peers: usize) -> Self {
        Order {
            mode,
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
        if k == 0 && !matches!(block.payload, Observation::Genesis { .. }) {
            return fail("the first block is not the genesis group".to_string());
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
