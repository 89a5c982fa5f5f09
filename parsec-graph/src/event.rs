//! Events: their content, the wire form, and verification (spec §2).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::encoding::{self, CodecError, EVENT_TAG, VOTE_TAG};
use crate::id::{EventHash, KeyCache, ObservationHash, PeerId, SecretKey, Signature, raw_bytes};
use crate::observation::{ConsensusMode, Observation, ObservationKey, Payload, Vote};

/// The largest index an event may carry (keeps indices exact as floating point too).
pub const MAX_EVENT_INDEX: u64 = 1 << 53;

/// A threshold-coin signature share carried by an event (spec §7.5).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct CoinShare {
    /// The meta-election.
    pub election: u64,
    /// The candidate whose binary agreement needs the coin.
    pub candidate: PeerId,
    /// The round whose genuine flip needs it.
    pub round: u32,
    /// The BLS signature share (96 raw bytes).
    #[serde(with = "raw_bytes")]
    pub share: [u8; 96],
}

/// Why an event was created and what it points to (spec §2.1). Variant order is the wire order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Cause<T> {
    /// The creator's first event (index 0).
    Initial,
    /// "I am sending a gossip request to `recipient`."
    Requesting {
        /// The creator's previous event.
        self_parent: EventHash,
        /// Who the request goes to.
        recipient: PeerId,
    },
    /// "I received a request"; `other_parent` is the requester's `Requesting`.
    Request {
        /// The creator's previous event.
        self_parent: EventHash,
        /// The last event of the received request.
        other_parent: EventHash,
    },
    /// "I received a response"; `other_parent` is the responder's last event.
    Response {
        /// The creator's previous event.
        self_parent: EventHash,
        /// The last event of the received response.
        other_parent: EventHash,
    },
    /// A vote.
    Observation {
        /// The creator's previous event.
        self_parent: EventHash,
        /// The signed observation; boxed so that the many sync events do not pay its size
        /// (the encoding is the same as unboxed).
        vote: Box<Vote<T>>,
    },
}

/// The kind of a cause, without its fields.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum CauseKind {
    /// [`Cause::Initial`].
    Initial,
    /// [`Cause::Requesting`].
    Requesting,
    /// [`Cause::Request`].
    Request,
    /// [`Cause::Response`].
    Response,
    /// [`Cause::Observation`].
    Observation,
}

impl CauseKind {
    /// `Requesting`, `Request` and `Response` are sync events; only they carry
    /// meta-election state.
    pub fn is_sync(self) -> bool {
        matches!(
            self,
            CauseKind::Requesting | CauseKind::Request | CauseKind::Response
        )
    }
}

impl<T> Cause<T> {
    /// The kind of this cause.
    pub fn kind(&self) -> CauseKind {
        match self {
            Cause::Initial => CauseKind::Initial,
            Cause::Requesting { .. } => CauseKind::Requesting,
            Cause::Request { .. } => CauseKind::Request,
            Cause::Response { .. } => CauseKind::Response,
            Cause::Observation { .. } => CauseKind::Observation,
        }
    }

    /// The self-parent's hash (none for `Initial`).
    pub fn self_parent(&self) -> Option<&EventHash> {
        match self {
            Cause::Initial => None,
            Cause::Requesting { self_parent, .. }
            | Cause::Request { self_parent, .. }
            | Cause::Response { self_parent, .. }
            | Cause::Observation { self_parent, .. } => Some(self_parent),
        }
    }

    /// The other-parent's hash (only `Request` and `Response` have one).
    pub fn other_parent(&self) -> Option<&EventHash> {
        match self {
            Cause::Request { other_parent, .. } | Cause::Response { other_parent, .. } => {
                Some(other_parent)
            }
            _ => None,
        }
    }

    /// The vote, for an `Observation`.
    pub fn vote(&self) -> Option<&Vote<T>> {
        match self {
            Cause::Observation { vote, .. } => Some(vote),
            _ => None,
        }
    }
}

/// Everything an event says, i.e. what its creator signs (spec §2.1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct EventContent<T> {
    /// Who created and signed it.
    pub creator: PeerId,
    /// 0 for the `Initial` event, else the self-parent's index plus one.
    pub index: u64,
    /// Why it was created, with its parents.
    pub cause: Cause<T>,
    /// Threshold-coin shares (empty unless the threshold coin is in use).
    pub coin_shares: Vec<CoinShare>,
}

/// An event as it travels: content plus signature. Unverified until [`PackedEvent::verify`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct PackedEvent<T> {
    /// What the creator signed.
    pub content: EventContent<T>,
    /// The creator's signature over the event signing bytes.
    pub signature: Signature,
}

/// A received event before verification; the same type as the wire form.
pub type UnverifiedEvent<T> = PackedEvent<T>;

/// Limits that make an event invalid, part of the genesis configuration (spec §14.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EventLimits {
    /// Largest encoded observation in a vote.
    pub max_observation_bytes: usize,
    /// Most coin shares one event may carry.
    pub max_coin_shares_per_event: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            max_observation_bytes: 1 << 20,
            max_coin_shares_per_event: 64,
        }
    }
}

/// Why an event is not valid on its own (spec §2.2 checks 1 to 4 and the graph-free part of 7).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// The index is above [`MAX_EVENT_INDEX`].
    #[error("event index {index} exceeds 2^53")]
    IndexTooLarge {
        /// The claimed index.
        index: u64,
    },
    /// `Initial` at an index other than 0, or another cause at index 0.
    #[error("cause {kind:?} does not fit index {index}")]
    CauseIndexMismatch {
        /// The cause kind.
        kind: CauseKind,
        /// The index.
        index: u64,
    },
    /// An `Initial` event carries coin shares.
    #[error("an Initial event carries coin shares")]
    InitialWithCoinShares,
    /// More coin shares than the limit.
    #[error("{count} coin shares exceed the limit of {limit}")]
    TooManyCoinShares {
        /// Shares carried.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Two coin shares for the same (election, candidate, round).
    #[error("two coin shares for election {election}, round {round}")]
    DuplicateCoinShare {
        /// The election.
        election: u64,
        /// The round.
        round: u32,
    },
    /// The event signature does not verify with the creator.
    #[error("event signature does not verify")]
    BadSignature,
    /// The vote signature does not verify with the creator.
    #[error("vote signature does not verify")]
    BadVoteSignature,
    /// A vote for `DkgResult`, which is never valid in an event.
    #[error("DkgResult cannot be voted")]
    ForbiddenObservation,
    /// The encoded observation is larger than the limit.
    #[error("observation of {size} bytes exceeds the limit of {limit}")]
    ObservationTooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The content could not be encoded (a payload's own `Serialize` failed).
    #[error("event content cannot be encoded: {0}")]
    Encoding(String),
}

impl From<CodecError> for EventError {
    fn from(error: CodecError) -> Self {
        EventError::Encoding(error.to_string())
    }
}

impl<T: Payload> EventContent<T> {
    /// `"parsec-rs/v1/event\0" ‖ enc(self)`: what the creator signs and the hash covers.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, CodecError> {
        encoding::tagged(EVENT_TAG, self)
    }

    /// The structural checks that need neither the signature nor the graph.
    fn check_structure(&self, limits: &EventLimits) -> Result<(), EventError> {
        if self.index > MAX_EVENT_INDEX {
            return Err(EventError::IndexTooLarge { index: self.index });
        }
        let kind = self.cause.kind();
        if (kind == CauseKind::Initial) != (self.index == 0) {
            return Err(EventError::CauseIndexMismatch {
                kind,
                index: self.index,
            });
        }
        if kind == CauseKind::Initial && !self.coin_shares.is_empty() {
            return Err(EventError::InitialWithCoinShares);
        }
        if self.coin_shares.len() > limits.max_coin_shares_per_event {
            return Err(EventError::TooManyCoinShares {
                count: self.coin_shares.len(),
                limit: limits.max_coin_shares_per_event,
            });
        }
        if self.coin_shares.len() > 1 {
            let mut seen = BTreeSet::new();
            for share in &self.coin_shares {
                if !seen.insert((share.election, share.candidate, share.round)) {
                    return Err(EventError::DuplicateCoinShare {
                        election: share.election,
                        round: share.round,
                    });
                }
            }
        }
        if let Some(vote) = self.cause.vote() {
            if matches!(vote.observation, Observation::DkgResult { .. }) {
                return Err(EventError::ForbiddenObservation);
            }
            let size = encoding::encoded_len(&vote.observation)?;
            if size > limits.max_observation_bytes {
                return Err(EventError::ObservationTooLarge {
                    size,
                    limit: limits.max_observation_bytes,
                });
            }
        }
        Ok(())
    }

    /// Signs this content as `key`'s event after the structural checks.
    ///
    /// This is how a peer makes its own events; the creator must be `key`'s identity and a
    /// vote must be signed by the same key.
    pub fn sign(self, key: &SecretKey, limits: &EventLimits) -> Result<Event<T>, EventError> {
        if self.creator != key.peer_id() {
            return Err(EventError::BadSignature);
        }
        self.check_structure(limits)?;
        let bytes = self.signing_bytes()?;
        let signature = key.sign(&bytes);
        let packed = PackedEvent {
            content: self,
            signature,
        };
        Event::from_checked(packed, &bytes)
    }
}

impl<T: Payload> PackedEvent<T> {
    /// Checks everything that needs no graph (spec §2.2 checks 1 to 4, and check 7's vote
    /// signature and observation rules) and returns the insertable event.
    ///
    /// This is the only way to obtain an [`Event`] from received bytes.
    pub fn verify(self, limits: &EventLimits) -> Result<Event<T>, EventError> {
        self.verify_with(limits, &mut KeyCache::new())
    }

    /// [`PackedEvent::verify`] with decompressed keys kept in `keys` across calls.
    pub fn verify_with(
        self,
        limits: &EventLimits,
        keys: &mut KeyCache,
    ) -> Result<Event<T>, EventError> {
        self.prepare()?.verify_with(limits, keys)
    }

    /// Encodes the signing bytes and hash once, so that a receiver can look the hash up
    /// before it pays for verification.
    pub fn prepare(self) -> Result<PreparedEvent<T>, CodecError> {
        let bytes = self.content.signing_bytes()?;
        let hash = EventHash::from_bytes(*blake3::hash(&bytes).as_bytes());
        Ok(PreparedEvent {
            packed: self,
            bytes,
            hash,
        })
    }

    /// The hash this event has (computable without verification).
    pub fn hash(&self) -> Result<EventHash, CodecError> {
        Ok(EventHash::from_bytes(
            *blake3::hash(&self.content.signing_bytes()?).as_bytes(),
        ))
    }
}

/// A received event with its signing bytes and hash computed, not yet verified.
#[derive(Clone, Debug)]
pub struct PreparedEvent<T> {
    packed: PackedEvent<T>,
    bytes: Vec<u8>,
    hash: EventHash,
}

impl<T: Payload> PreparedEvent<T> {
    /// The event's hash.
    pub fn hash(&self) -> &EventHash {
        &self.hash
    }

    /// The creator it claims.
    pub fn creator(&self) -> &PeerId {
        &self.packed.content.creator
    }

    /// Verifies it (see [`PackedEvent::verify`]), with keys cached in `keys`.
    pub fn verify_with(
        self,
        limits: &EventLimits,
        keys: &mut KeyCache,
    ) -> Result<Event<T>, EventError> {
        let PreparedEvent {
            packed,
            bytes,
            hash,
        } = self;
        packed.content.check_structure(limits)?;
        if keys.already_verified(&hash, &packed.signature) {
            return Event::from_prepared(packed, hash);
        }
        if !keys.verify(&packed.content.creator, &bytes, &packed.signature) {
            return Err(EventError::BadSignature);
        }
        let mut observation_hash = None;
        if let Some(vote) = packed.content.cause.vote() {
            // One encoding of the observation serves the vote signature and its hash.
            let encoded = encoding::encode(&vote.observation)?;
            let mut vote_bytes = Vec::with_capacity(VOTE_TAG.len() + encoded.len());
            vote_bytes.extend_from_slice(VOTE_TAG);
            vote_bytes.extend_from_slice(&encoded);
            if !keys.verify(&packed.content.creator, &vote_bytes, &vote.signature) {
                return Err(EventError::BadVoteSignature);
            }
            let mut hasher = blake3::Hasher::new();
            hasher.update(encoding::OBSERVATION_TAG);
            hasher.update(&encoded);
            observation_hash = Some(ObservationHash::from_bytes(*hasher.finalize().as_bytes()));
        }
        keys.record_verified(&hash, &packed.signature);
        match observation_hash {
            Some(observation_hash) => Ok(Event {
                packed,
                hash,
                observation_hash: Some(observation_hash),
            }),
            None => Event::from_prepared(packed, hash),
        }
    }
}

/// A verified event, ready for insertion into a [`crate::Graph`].
///
/// Obtained only through [`PackedEvent::verify`] or [`EventContent::sign`]; it caches its
/// hash and, for votes, the observation hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<T> {
    packed: PackedEvent<T>,
    hash: EventHash,
    observation_hash: Option<ObservationHash>,
}

impl<T: Payload> Event<T> {
    /// The key of the vote, for a vote event: [`Observation::key_by`] with the creator as
    /// voter, from the cached observation hash.
    pub fn vote_key(&self, mode: ConsensusMode) -> Option<ObservationKey> {
        let hash = self.observation_hash?;
        Some(self.vote()?.observation.key(hash, *self.creator(), mode))
    }

    fn from_checked(packed: PackedEvent<T>, signing_bytes: &[u8]) -> Result<Self, EventError> {
        let hash = EventHash::from_bytes(*blake3::hash(signing_bytes).as_bytes());
        Self::from_prepared(packed, hash)
    }

    fn from_prepared(packed: PackedEvent<T>, hash: EventHash) -> Result<Self, EventError> {
        let observation_hash = match packed.content.cause.vote() {
            Some(vote) => Some(vote.observation.hash()?),
            None => None,
        };
        Ok(Event {
            packed,
            hash,
            observation_hash,
        })
    }
}

impl<T> Event<T> {
    /// The event's hash.
    pub fn hash(&self) -> &EventHash {
        &self.hash
    }

    /// The creator.
    pub fn creator(&self) -> &PeerId {
        &self.packed.content.creator
    }

    /// The index in the creator's chain.
    pub fn index(&self) -> u64 {
        self.packed.content.index
    }

    /// The cause.
    pub fn cause(&self) -> &Cause<T> {
        &self.packed.content.cause
    }

    /// The signed content.
    pub fn content(&self) -> &EventContent<T> {
        &self.packed.content
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.packed.signature
    }

    /// The vote, for a vote event.
    pub fn vote(&self) -> Option<&Vote<T>> {
        self.packed.content.cause.vote()
    }

    /// The vote of a vote event, taking the event apart.
    pub fn into_vote(self) -> Option<Box<Vote<T>>> {
        match self.packed.content.cause {
            Cause::Observation { vote, .. } => Some(vote),
            _ => None,
        }
    }

    /// The hash of the voted observation, for a vote event.
    pub fn observation_hash(&self) -> Option<&ObservationHash> {
        self.observation_hash.as_ref()
    }

    /// Coin shares carried.
    pub fn coin_shares(&self) -> &[CoinShare] {
        &self.packed.content.coin_shares
    }

    /// The wire form.
    pub fn packed(&self) -> &PackedEvent<T> {
        &self.packed
    }

    /// Gives up the cached data and returns the wire form.
    pub fn into_packed(self) -> PackedEvent<T> {
        self.packed
    }
}
