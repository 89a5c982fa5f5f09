//! Termination (spec §15.5): once faults stop, every honest running peer decides every
//! payload it must.
//!
//! # How it works
//!
//! The decided [`BlockKey`]s of each peer are collected as blocks are output. When the
//! liveness phase starts, the keys that must be decided are fixed from the votes the honest
//! running peers cast: in `Supermajority` mode every observation voted by *all* of them
//! (they are more than two thirds of the voters), in `Single` mode every opaque vote by any
//! of them plus the observations all of them voted. The run is over once each honest running
//! peer has decided all of them; if the liveness phase runs out first, the missing keys are
//! reported.

use std::collections::{BTreeMap, BTreeSet};

use parsec_core::Block;
use parsec_graph::{ConsensusMode, Observation, PeerId};

use super::{BlockKey, Invariant, Violation};

/// The termination check.
#[derive(Clone, Debug)]
pub struct Termination {
    mode: ConsensusMode,
    decided: Vec<BTreeSet<BlockKey>>,
    expected: BTreeSet<BlockKey>,
}

impl Termination {
    /// A check for `peers` peers deciding in `mode`.
    pub fn new(mode: ConsensusMode, peers: usize) -> Self {
        Termination {
            mode,
            decided: vec![BTreeSet::new(); peers],
            expected: BTreeSet::new(),
        }
    }

    /// Records a block output by `peer`.
    pub fn observe(&mut self, peer: usize, block: &Block<String>) {
        if let Some(decided) = self.decided.get_mut(peer) {
            decided.insert(BlockKey::of(block, self.mode));
        }
    }

    /// Fixes what must be decided from the successful votes of the honest running peers
    /// (peer number, identity, votes).
    pub fn expect<'a>(
        &mut self,
        honest_running: impl IntoIterator<Item = (usize, PeerId, &'a [Observation<String>])>,
    ) {
        let mut count: BTreeMap<&Observation<String>, usize> = BTreeMap::new();
        let mut voters = 0;
        let mut expected = BTreeSet::new();
        for (_, id, votes) in honest_running {
            voters += 1;
            let distinct: BTreeSet<&Observation<String>> = votes.iter().collect();
            for observation in distinct {
                *count.entry(observation).or_insert(0) += 1;
                if self.mode == ConsensusMode::Single && observation.is_opaque() {
                    expected.insert(BlockKey {
                        payload: observation.clone(),
                        signer: Some(id),
                    });
                }
            }
        }
        for (observation, n) in count {
            let single = self.mode == ConsensusMode::Single && observation.is_opaque();
            if n == voters && !single && !observation.is_internal() {
                expected.insert(BlockKey {
                    payload: observation.clone(),
                    signer: None,
                });
            }
        }
        self.expected = expected;
    }

    /// The keys that must be decided.
    pub fn expected(&self) -> &BTreeSet<BlockKey> {
        &self.expected
    }

    /// The expected keys `peer` has not decided.
    pub fn missing(&self, peer: usize) -> Vec<&BlockKey> {
        match self.decided.get(peer) {
            Some(decided) => self.expected.difference(decided).collect(),
            None => self.expected.iter().collect(),
        }
    }

    /// Whether every peer of `peers` decided every expected key.
    pub fn is_done(&self, peers: &[usize]) -> bool {
        peers.iter().all(|&p| self.missing(p).is_empty())
    }

    /// The violation to report when the liveness phase ran out: who misses what.
    pub fn violation(&self, peers: &[usize], steps: u64) -> Violation {
        let mut lines = Vec::new();
        for &peer in peers {
            let missing = self.missing(peer);
            if !missing.is_empty() {
                let names: Vec<String> = missing.iter().take(8).map(|k| k.short()).collect();
                lines.push(format!(
                    "peer {peer} misses {} of {} ({}{})",
                    missing.len(),
                    self.expected.len(),
                    names.join(", "),
                    if missing.len() > 8 { ", ..." } else { "" }
                ));
            }
        }
        Violation::new(
            Invariant::Termination,
            None,
            format!(
                "not every payload decided after {steps} liveness steps: {}",
                lines.join("; ")
            ),
        )
    }
}
