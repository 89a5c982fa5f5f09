//! `parsec-coin`: the common coin that breaks ties in parsec-rs meta-elections.
//!
//! Sits between `parsec-graph` and `parsec-meta-election`. A meta-election asks the coin
//! for a value only when a binary agreement leaves a genuine-flip step with split aux
//! values (spec §6.5.7). The answer for a coin id at an event must be a pure function of
//! that event's ancestry and the agreed election state (spec §7.1): otherwise two peers
//! could decide at different events. Coins therefore read the graph, never a clock or a
//! local random source.
//!
//! This crate defines the [`CommonCoin`] trait and, behind the `test-coin` feature, the
//! [`ParityCoin`] that reproduces the original implementation's predictable coin for
//! conformance replays. The graph-derived and threshold-signature coins come next.
//!
//! ```
//! # #[cfg(feature = "test-coin")] {
//! use parsec_coin::{CoinContext, CoinId, CommonCoin, ElectionInfo, ParityCoin};
//! use parsec_graph::{EventIndex, Graph, PeerId};
//!
//! let graph = Graph::<String>::new();
//! let voters = [PeerId::from_bytes([1; 32])];
//! let info = ElectionInfo { election: 0, voters: &voters, previous_group_hash: [0; 32] };
//! let id = CoinId { election: 0, candidate: voters[0], round: 0 };
//! let ctx = CoinContext { graph: &graph, at: EventIndex::from(0), info: &info };
//! let mut coin = ParityCoin;
//! // The estimate after round 0's genuine flip is `true`, after round 1's `false`.
//! assert_eq!(coin.value(&id, &ctx), Some(true));
//! assert_eq!(coin.value(&CoinId { round: 1, ..id }, &ctx), Some(false));
//! # }
//! ```

#![forbid(unsafe_code)]

use parsec_graph::{CoinShare, EventIndex, Graph, PeerId};

/// Which coin: election `election`, candidate `candidate`, and the round whose genuine
/// flip left the estimate empty (spec §7.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CoinId {
    /// The meta-election.
    pub election: u64,
    /// The candidate whose binary agreement needs the coin.
    pub candidate: PeerId,
    /// The round of the genuine flip.
    pub round: u32,
}

/// The agreed state of the election a coin is asked about.
#[derive(Clone, Copy, Debug)]
pub struct ElectionInfo<'a> {
    /// The election's number.
    pub election: u64,
    /// Its voters, ascending.
    pub voters: &'a [PeerId],
    /// The group hash of the previous decision (zeros for election 0).
    pub previous_group_hash: [u8; 32],
}

/// Everything a coin may read to answer: the graph, the event, the election.
#[derive(Clone, Copy, Debug)]
pub struct CoinContext<'a, T> {
    /// The evaluating peer's graph.
    pub graph: &'a Graph<T>,
    /// The event at which the coin is asked.
    pub at: EventIndex,
    /// The election.
    pub info: &'a ElectionInfo<'a>,
}

/// A common coin (spec §7.1).
///
/// `value` must be a pure function of `anc(ctx.at)` and `ctx.info`; it may be `None`
/// ("not available yet"), in which case the estimate stays empty and the evaluation asks
/// again at the creator's next event.
pub trait CommonCoin {
    /// The coin for `id` as known at `ctx.at`.
    fn value<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) -> Option<bool>;

    /// The evaluation of `ctx.at` needed `id` (whether or not the coin is available).
    /// Coins that publish data (threshold shares) queue it here for our next event.
    fn on_needed<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) {
        let _ = (id, ctx);
    }

    /// Data to attach to our next own event.
    fn take_outgoing(&mut self) -> Vec<CoinShare> {
        Vec::new()
    }
}

/// The original implementation's predictable coin: `true` iff the round is even.
///
/// Always available and ignores everything but the round; an adversarial scheduler can
/// exploit it, so it exists for conformance replays and tests only (spec §7.2).
#[cfg(feature = "test-coin")]
#[derive(Clone, Copy, Debug, Default)]
pub struct ParityCoin;

#[cfg(feature = "test-coin")]
impl CommonCoin for ParityCoin {
    fn value<T>(&mut self, id: &CoinId, _ctx: &CoinContext<'_, T>) -> Option<bool> {
        Some(id.round.is_multiple_of(2))
    }
}

#[cfg(all(test, feature = "test-coin"))]
mod tests {
    use super::*;

    #[test]
    fn parity_coin_follows_round_parity_only() {
        let graph = Graph::<u8>::new();
        let voters = [PeerId::from_bytes([1; 32]), PeerId::from_bytes([2; 32])];
        let mut coin = ParityCoin;
        for election in [0, 7] {
            for candidate in voters {
                let info = ElectionInfo {
                    election,
                    voters: &voters,
                    previous_group_hash: [election as u8; 32],
                };
                let ctx = CoinContext {
                    graph: &graph,
                    at: EventIndex::from(0),
                    info: &info,
                };
                for round in 0..6 {
                    let id = CoinId {
                        election,
                        candidate,
                        round,
                    };
                    assert_eq!(coin.value(&id, &ctx), Some(round % 2 == 0), "round {round}");
                }
            }
        }
        assert!(coin.take_outgoing().is_empty());
    }
}
