//! What the engine is waiting for: the current election, the votes not decided yet and how
//! many voters voted each (spec §6.3, §8.1).
//!
//! A vote is decided only once it is *interesting*: in `Supermajority` mode more than two
//! thirds of the current voters must have voted the same payload; in `Single` mode every
//! vote is its own key and one vote suffices. A payload voted by too few voters therefore
//! never decides, and [`Status::pending`] shows why.

use parsec_coin::CoinKind;
use parsec_graph::{ConsensusMode, ObservationKey, PeerId};
use parsec_meta_election::CoinStats;

/// A snapshot of the engine's progress ([`crate::Parsec::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The current election's number (the number of block groups decided so far).
    pub election: u64,
    /// The current election's voters, ascending.
    pub voters: Vec<PeerId>,
    /// The consensus mode.
    pub mode: ConsensusMode,
    /// How many distinct voters must vote a key before it can be decided.
    pub votes_needed: usize,
    /// Every registered vote not decided yet, in the order the engine first saw it.
    pub pending: Vec<PendingVote>,
    /// Blocks output so far.
    pub blocks: u64,
    /// Events held in the future buffer (waiting for parents or for their creator).
    pub held_events: usize,
    /// Encoded bytes of the held events.
    pub held_bytes: usize,
    /// Whether we have been removed (then nothing more is processed).
    pub removed: bool,
    /// The coin kind the configuration names (a coin handed to `from_genesis` may differ).
    pub coin: CoinKind,
    /// How often the elections needed the coin so far (every election since genesis).
    pub coin_stats: CoinStats,
    /// What the engine holds in memory (spec §12.7).
    pub memory: Memory,
}

/// What the engine holds in memory, and what keeps it from pruning more (spec §12.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Memory {
    /// Events ever inserted into the graph (the store holds all of them).
    pub events_inserted: u64,
    /// Events held in memory: full events, each with its ancestry summary. Pruning keeps
    /// no stubs: what it keeps, a sync may send.
    pub events_held: u64,
    /// Meta-event slots held (one per position since the current election's restart).
    pub meta_events_held: u64,
    /// The graph's base: every event from this position on is held.
    pub base: u64,
    /// The oldest undecided vote: its position and how many elections have decided since
    /// it was registered. It pins nothing but its vote: the base follows the elections'
    /// interest floor (a key is interesting only once enough voters voted it).
    pub oldest_undecided: Option<(u64, u64)>,
    /// Undecided votes whose events were pruned, held as their votes alone (a decision
    /// reads them for its payload and proofs).
    pub detached_votes: u64,
    /// Observation keys the elections track (undecided ones, and decided ones not yet
    /// compacted away).
    pub keys_tracked: u64,
    /// Keys decided so far, remembered as 32-byte digests (spec §6.1: a vote for one is
    /// ignored forever): the one part that grows with the history.
    pub decided_keys: u64,
    /// Sync messages remembered as answered (within the pruning windows).
    pub syncs_remembered: u64,
}

/// One undecided key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingVote {
    /// The key (the observation's hash, and in `Single` mode its voter).
    pub key: ObservationKey,
    /// How many distinct current voters voted it (in this peer's graph).
    pub voters: usize,
    /// Whether we voted it.
    pub ours: bool,
}

impl PendingVote {
    /// Whether enough voters voted it for it to be decided once gossip spreads the votes:
    /// if false, it waits for more votes, not for more gossip.
    pub fn enough_votes(&self, status: &Status) -> bool {
        self.voters >= status.votes_needed
    }
}

/// The fewest voters out of `n` that make a key decidable in `mode`.
pub(crate) fn votes_needed(mode: ConsensusMode, n: usize) -> usize {
    match mode {
        // The smallest x with 3x > 2n.
        ConsensusMode::Supermajority => 2 * n / 3 + 1,
        ConsensusMode::Single => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_needed_is_the_smallest_supermajority() {
        for n in 1..40usize {
            let x = votes_needed(ConsensusMode::Supermajority, n);
            assert!(3 * x > 2 * n, "n = {n}");
            assert!(3 * (x - 1) <= 2 * n, "n = {n}");
            assert_eq!(votes_needed(ConsensusMode::Single, n), 1);
        }
    }
}
