//! What the elections hand back: the [`ElectionStep`] of one inserted event, its decided
//! groups, and the status of the keys still pending.

use parsec_coin::CoinFault;
use parsec_graph::{CoinShare, EventIndex, Observation, ObservationKey, PeerId, Proof};

/// What evaluating one inserted event produced, folded over the whole decision cascade it
/// started: every group decided, in consensus order, and the coin data to publish.
///
/// The caller applies the groups in order and attaches `coin_shares` to its next own event.
#[must_use = "an ElectionStep holds decided groups and coin shares to publish"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionStep<T> {
    /// The groups decided, in consensus order: the one decided at the inserted event, then
    /// each one its successor elections decided while re-evaluating the graph.
    pub decided: Vec<DecidedGroup<T>>,
    /// What the coin queued for our next own event while evaluating (always empty with a
    /// coin that publishes nothing).
    pub coin_shares: Vec<CoinShare>,
    /// Peers' coin data the coin ignored as bad (a threshold share that does not verify,
    /// from a non-holder, ...): the caller reports them as faults of their creators.
    pub coin_faults: Vec<CoinFault>,
}

impl<T> Default for ElectionStep<T> {
    fn default() -> Self {
        ElectionStep {
            decided: Vec::new(),
            coin_shares: Vec::new(),
            coin_faults: Vec::new(),
        }
    }
}

impl<T> ElectionStep<T> {
    /// Whether nothing was decided and there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.decided.is_empty() && self.coin_shares.is_empty() && self.coin_faults.is_empty()
    }
}

/// The keys one election decided, with everything needed to turn them into blocks and to
/// follow the membership changes they made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedGroup<T> {
    /// The election's number.
    pub election: u64,
    /// The event at which it was decided.
    pub at: EventIndex,
    /// The voters of the deciding election, ascending.
    pub voters: Vec<PeerId>,
    /// The decided keys, in decided order (never empty).
    pub entries: Vec<DecidedKey<T>>,
}

/// One decided key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedKey<T> {
    /// The key.
    pub key: ObservationKey,
    /// The observation as the deciding election's voters voted it, from the first of their
    /// votes in voter order; `None` when none of them voted it (a `Single` key of a peer
    /// that no longer votes). A block is made of it unless it is internal
    /// ([`Observation::is_internal`]).
    pub payload: Option<Observation<T>>,
    /// One proof per voter of the deciding election that voted it (its latest vote), in
    /// voter order.
    pub proofs: Vec<Proof>,
    /// The membership change it made, if any took effect.
    pub membership: MembershipChange,
}

/// The effect of a decided key on the voter set (spec §5.4).
///
/// Read from the first registered vote for the key, whoever cast it. An `Add` takes effect
/// iff the peer is not a voter and was never removed; a `Remove` or an `Accusation` iff its
/// peer is a voter. Changes apply in decided order, each seeing the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    /// No change: not a membership observation, or one that did not take effect.
    None,
    /// The peer became a voter.
    Added(PeerId),
    /// The peer stopped being a voter, for good.
    Removed(PeerId),
}

/// An undecided key, for status reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingKey {
    /// The key.
    pub key: ObservationKey,
    /// How many distinct voters of the current election voted it.
    pub voters: usize,
}
