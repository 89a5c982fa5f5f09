//! Local errors and peer faults (spec §14.1).

use parsec_coin::{CoinFaultKind, CoinKind, KeyError};
use parsec_graph::{EventError, EventHash, InsertError, PeerId, WireError};
use parsec_meta_election::ElectionError;

/// Local misuse or failure. A peer's bad data is never an `Error`: it is a [`Fault`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error("bad configuration: {0}")]
    Config(#[from] ConfigError),
    /// We are not in the genesis group we were asked to start.
    #[error("we are not a member of the genesis group")]
    NotInGenesisGroup,
    /// The peer is not known.
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// The call needs a state we (or the peer) do not have.
    #[error("not permitted: {0}")]
    NotPermitted(NotPermitted),
    /// We already voted for this observation.
    #[error("we already voted for this observation")]
    DuplicateVote,
    /// We cast `max_vote_run` votes without a sync event in between: gossip first.
    #[error("too many votes without gossip: sync with a peer before voting again")]
    VoteRunTooLong,
    /// Applications cannot vote this observation (accusations, DKG results).
    #[error("this observation cannot be voted by the application")]
    ForbiddenObservation,
    /// The observation is larger than `max_observation_bytes`.
    #[error("observation of {size} bytes exceeds the limit of {limit}")]
    ObservationTooLarge {
        /// Its encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// We have been removed and process nothing more.
    #[error("we have been removed from the section")]
    Removed,
    /// A peer sent an event created by us that we do not hold: our store lost data, and
    /// continuing could fork our own chain.
    #[error("received our own event {0} that we do not hold: local state was lost")]
    LostState(EventHash),
    /// The store's log cannot be restored (damaged, or not this engine's).
    #[error("cannot restore from the store: {0}")]
    Restore(#[from] crate::engine::RestoreError),
    /// Our own event could not be made (encoding or limits).
    #[error("cannot create our own event: {0}")]
    OwnEvent(#[from] EventError),
    /// Our own event did not fit the graph (an internal bug).
    #[error("cannot insert our own event: {0}")]
    OwnInsert(#[from] InsertError),
    /// The election state was misused (an internal bug).
    #[error("election state: {0}")]
    Election(#[from] ElectionError),
    /// A message of ours cannot be encoded within the limits.
    #[error("cannot encode a message: {0}")]
    Wire(#[from] WireError),
    /// What the store returned for re-admission is not what we stored: the store is
    /// damaged, or it is another engine's.
    #[error("stored event at position {position} cannot be re-admitted: {reason}")]
    Readmit {
        /// The position the store gave.
        position: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The store failed while the engine was being restored through
    /// [`Restore::run`](crate::Restore::run).
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Why a [`crate::Config`] is unusable; each variant names the setting at fault.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `genesis_group` has no member.
    #[error("genesis_group is empty")]
    EmptyGenesisGroup,
    /// A `wire_limits` value is zero, or `max_message_bytes` is above the decoder's
    /// ceiling.
    #[error(
        "wire_limits: max_message_bytes ({max_message_bytes}) and max_events_per_message \
         ({max_events_per_message}) must be positive, max_message_bytes within the decoder's ceiling"
    )]
    WireLimits {
        /// The configured message size limit.
        max_message_bytes: usize,
        /// The configured event count limit.
        max_events_per_message: usize,
    },
    /// `event_limits.max_observation_bytes` is zero.
    #[error("event_limits.max_observation_bytes is zero")]
    ZeroObservationBytes,
    /// `wire_limits.max_message_bytes` cannot carry the largest valid vote event.
    #[error(
        "wire_limits.max_message_bytes is {max_message_bytes}, but a vote of \
         max_observation_bytes with all its coin shares takes {largest_event}"
    )]
    MessageTooSmall {
        /// The configured limit.
        max_message_bytes: usize,
        /// The encoded size of the largest valid vote event (an upper bound).
        largest_event: usize,
    },
    /// `max_vote_run` is zero.
    #[error("max_vote_run is zero")]
    ZeroVoteRun,
    /// `pruning_window` is `Some(0)` (a creator's latest event must stay in memory).
    #[error("pruning_window is zero (use None to keep every event in memory)")]
    ZeroPruningWindow,
    /// `max_future_events_per_peer` is zero or above `max_future_events_total`.
    #[error(
        "max_future_events_per_peer ({per_peer}) must be positive and at most \
         max_future_events_total ({total})"
    )]
    FutureEvents {
        /// The per-sender limit.
        per_peer: usize,
        /// The total limit.
        total: usize,
    },
    /// `max_future_bytes_per_peer` cannot hold the largest vote event, or is above
    /// `max_future_bytes_total`.
    #[error(
        "max_future_bytes_per_peer ({per_peer}) must hold the largest vote event \
         ({largest_event} bytes) and be at most max_future_bytes_total ({total})"
    )]
    FutureBytes {
        /// The per-sender limit.
        per_peer: usize,
        /// The total limit.
        total: usize,
        /// The encoded size of the largest valid vote event (an upper bound).
        largest_event: usize,
    },
    /// `coin` is `Threshold` but `coin_keys` is not set.
    #[error("coin is threshold but coin_keys (the dealt key epoch) is not set")]
    MissingCoinKeys,
    /// `coin_keys` or `coin_secret` is set for a coin that does not use them.
    #[error("coin_keys and coin_secret are for the threshold coin, but coin is {coin}")]
    UnusedCoinKeys {
        /// The configured coin.
        coin: CoinKind,
    },
    /// The holders of `coin_keys` are not the genesis group.
    #[error("the holders of coin_keys are not the genesis group")]
    CoinHoldersNotGenesisGroup,
    /// We hold a share of `coin_keys` but `coin_secret` is not set.
    #[error("this member holds a share of coin_keys but coin_secret is not set")]
    MissingCoinSecret,
    /// `coin_secret` does not fit `coin_keys` or this member.
    #[error("coin_secret: {0}")]
    CoinSecret(#[from] KeyError),
}

/// Which permission a call lacked.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotPermitted {
    /// Only voters vote.
    #[error("we are not a voter")]
    NotAVoter,
    /// We may not send gossip (not yet accepted by every member).
    #[error("we may not send gossip yet")]
    MayNotSend,
    /// The peer may not be gossiped to (not a member, or not ready).
    #[error("peer {0} may not receive gossip")]
    PeerMayNotReceive(PeerId),
}

/// What was wrong with what a peer sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Undecodable bytes, trailing bytes, or an empty request.
    MalformedMessage,
    /// A message over the size or event-count limit.
    OversizedMessage,
    /// A message from an unknown peer or one we do not accept events from.
    UnexpectedSender,
    /// An event or vote signature that does not verify.
    BadSignature,
    /// An event that breaks a structural rule.
    InvalidEvent(EventError),
    /// An event that does not fit the graph (parents, index).
    InvalidParents(InsertError),
    /// A `Genesis` vote that differs from ours (another group, related info or coin; spec
    /// §5.2): the event is rejected, so a member configured differently cannot take part.
    IncorrectGenesis,
    /// A vote event that follows `max_vote_run` votes with no sync event between them.
    VoteRunTooLong,
    /// Two events of one creator with the same index (the event is kept).
    Fork {
        /// The index of the forked slot.
        index: u64,
    },
    /// A held event was dropped because the future buffer was full.
    BufferOverflow,
    /// An event whose self-parent we pruned and our store does not hold either (spec
    /// §12.5; [`Parsec::readmit`](crate::Parsec::readmit)): it can never be inserted
    /// here, so it is dropped.
    ParentUnavailable,
    /// The last event of a request or response is not the sync event it must be.
    InvalidMessage,
    /// Coin data an event carried was ignored (a threshold share that does not verify, or
    /// from a peer that holds no share, ...); the event itself is kept (spec §7.5).
    CoinShare(CoinFaultKind),
}

/// A peer's bad input, reported in [`crate::Step::faults`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The peer that sent the bytes.
    pub sender: PeerId,
    /// The creator of the offending event, when it is not the sender.
    pub creator: Option<PeerId>,
    /// What was wrong.
    pub kind: FaultKind,
}
