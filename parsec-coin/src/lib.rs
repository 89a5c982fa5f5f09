//! `parsec-coin`: the common coin that breaks ties in parsec-rs meta-elections.
//!
//! Sits between `parsec-graph` and `parsec-meta-election`. A meta-election asks the coin
//! for a value only when a binary agreement leaves a genuine-flip step with split aux
//! values (spec §6.5.7). The answer for a coin id at an event must be a pure function of
//! that event's ancestry and the agreed election state (spec §7.1): otherwise two peers
//! could decide at different events. Coins therefore read the graph, never a clock or a
//! local random source.
//!
//! This crate defines the [`CommonCoin`] trait, the [`ConcreteCoin`] derived from the graph
//! (no setup, spec §7.3), the [`ThresholdCoin`] from threshold BLS signatures of a dealt
//! key set (spec §7.5, with [`deal`], [`KeyEpoch`] and [`SecretShare`] for the keys), the
//! [`Coin`] a [`CoinKind`] names and, behind the `test-coin` feature, the [`ParityCoin`]
//! that reproduces the original implementation's predictable coin for conformance replays.
//! `parsec-core`'s `Config` shows how a genesis configuration chooses the coin.
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

mod concrete;
mod kind;
#[cfg(feature = "test-coin")]
mod parity;
mod threshold;

pub use concrete::ConcreteCoin;
pub use kind::{Coin, CoinKind, UnknownCoin};
#[cfg(feature = "test-coin")]
pub use parity::ParityCoin;
pub use threshold::{
    CoinFault, CoinFaultKind, Dealt, KeyEpoch, KeyError, SecretShare, ThresholdCoin,
    VerifiedShares, deal,
};

/// The digest a coin gives for [`CommonCoin::agreement`].
pub type CoinAgreement = [u8; 32];

/// The agreement digest of a coin of kind `kind` with public parameters `public`.
pub fn agreement_digest(kind: &str, public: &[u8]) -> CoinAgreement {
    let mut hasher = blake3::Hasher::new_derive_key("parsec-rs 2026 coin agreement v1");
    hasher.update(&(kind.len() as u64).to_le_bytes());
    hasher.update(kind.as_bytes());
    hasher.update(public);
    *hasher.finalize().as_bytes()
}

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
    /// What every member must agree on about this coin: a digest of its kind and its
    /// public parameters (for the threshold coin, the key epoch), never of a secret. The
    /// engine puts it in its `Genesis` vote, so a member configured with another coin is
    /// refused (spec §5.2) instead of silently evaluating elections differently.
    fn agreement(&self) -> CoinAgreement;

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

    /// `ctx.at` was inserted and is about to be evaluated: a coin that reads what events
    /// carry (threshold shares) records it here.
    fn on_inserted<T>(&mut self, ctx: &CoinContext<'_, T>) {
        let _ = ctx;
    }

    /// Peers' coin data found bad since the last call (ignored, and reported as faults).
    fn take_faults(&mut self) -> Vec<CoinFault> {
        Vec::new()
    }

    /// Whether the coin reads [`CommonCoin::on_evaluated`] (the meta-election skips the
    /// work of reporting when it does not).
    fn wants_evaluations(&self) -> bool {
        false
    }

    /// The meta-election evaluated `ctx.at` (an event with meta-vote lists), before any
    /// coin filled an estimate there: `past_flip[p]` is the highest round whose
    /// genuine-flip aux value for candidate slot `p` (voter order) the event's creator had
    /// committed at it, if any (spec §7.3 step 3). Called before any `value` at `ctx.at`.
    fn on_evaluated<T>(&mut self, past_flip: &[Option<u32>], ctx: &CoinContext<'_, T>) {
        let _ = (past_flip, ctx);
    }

    /// The earliest graph position the coin may still read (an event it holds data of),
    /// or `None` when it holds none below the current election's restart point. The
    /// engine prunes the graph no higher than this (spec §12.3). The default, position 0,
    /// keeps everything: a coin that does not say what it needs is never pruned under.
    fn oldest_event(&self) -> Option<EventIndex> {
        Some(EventIndex::from(0))
    }
}
