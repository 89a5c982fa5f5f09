//! What peers vote on: observations, signed votes, malice evidence and observation keys.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::encoding::{self, CodecError, GROUP_TAG, OBSERVATION_TAG, VOTE_TAG};
use crate::id::{EventHash, ObservationHash, PeerId, SecretKey, Signature};

/// What an application may put in an `OpaquePayload`: any serde type with value semantics.
///
/// It is encoded with the canonical layout of spec §1.2, so two peers holding equal values
/// produce equal bytes and hashes.
pub trait Payload:
    Serialize + DeserializeOwned + Clone + Eq + Ord + Hash + Debug + Send + Sync + 'static
{
}

impl<T> Payload for T where
    T: Serialize + DeserializeOwned + Clone + Eq + Ord + Hash + Debug + Send + Sync + 'static
{
}

/// A set of peers, encoded as a strictly ascending sequence (spec §1.2).
///
/// Decoding rejects unsorted or repeated entries, so the encoding of a decoded set is the
/// bytes it came from.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "Vec<PeerId>", into = "Vec<PeerId>")]
pub struct PeerSet(BTreeSet<PeerId>);

impl PeerSet {
    /// The set's members in ascending order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &PeerId> + '_ {
        self.0.iter()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `peer` is a member.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.0.contains(peer)
    }

    /// The underlying ordered set.
    pub fn as_set(&self) -> &BTreeSet<PeerId> {
        &self.0
    }
}

impl FromIterator<PeerId> for PeerSet {
    fn from_iter<I: IntoIterator<Item = PeerId>>(iter: I) -> Self {
        PeerSet(iter.into_iter().collect())
    }
}

impl From<BTreeSet<PeerId>> for PeerSet {
    fn from(set: BTreeSet<PeerId>) -> Self {
        PeerSet(set)
    }
}

impl From<PeerSet> for Vec<PeerId> {
    fn from(set: PeerSet) -> Self {
        set.0.into_iter().collect()
    }
}

/// A peer set on the wire was not strictly ascending.
#[derive(Debug, thiserror::Error)]
#[error("peer set is not strictly ascending")]
pub struct UnsortedPeerSet;

impl TryFrom<Vec<PeerId>> for PeerSet {
    type Error = UnsortedPeerSet;

    fn try_from(peers: Vec<PeerId>) -> Result<Self, Self::Error> {
        if peers.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(UnsortedPeerSet);
        }
        Ok(PeerSet(peers.into_iter().collect()))
    }
}

/// An event embedded in an accusation as its canonical packed bytes.
///
/// Evidence events are kept as bytes rather than as nested events so that the observation
/// type is not recursive: decoding depth stays bounded whatever a peer sends. They are
/// decoded (with the usual limits) only when an accusation is checked.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct EncodedEvent(pub Vec<u8>);

/// Never constructed: marks that an accomplice accusation cannot name another accomplice.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Unnestable {}

macro_rules! malice_enum {
    ($(#[$doc:meta])* $name:ident, $accomplice:ty) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
        pub enum $name {
            /// A `Genesis` vote by a creator outside its group, or not at index 1.
            UnexpectedGenesis(EventHash),
            /// Two vote events of one creator with the same key (the two lowest indices).
            DuplicateVote(EventHash, EventHash),
            /// An event at index 1 by a genesis member that is not its `Genesis` vote.
            MissingGenesis(EventHash),
            /// A `Genesis` vote that differs from the configured one (event rejected).
            IncorrectGenesis(EncodedEvent),
            /// Two events with the same self-parent (the hash of that self-parent).
            Fork(EventHash),
            /// An accusation whose evidence does not prove the claimed malice.
            InvalidAccusation(EventHash),
            /// An event whose other-parent has the same creator (event rejected).
            OtherParentBySameCreator(EncodedEvent),
            /// An event whose self-parent has another creator (event rejected).
            SelfParentByDifferentCreator(EncodedEvent),
            /// A `Request` that answers no `Requesting` addressed to it (event rejected).
            InvalidRequest(EncodedEvent),
            /// A `Response` that answers no `Request` to its creator (event rejected).
            InvalidResponse(EncodedEvent),
            /// The creator received evidence of malice (in the named event) and did not accuse.
            Accomplice(EventHash, $accomplice),
            /// A coin share that fails verification: the event and the share's position.
            InvalidCoinShare(EventHash, u32),
        }
    };
}

malice_enum!(
    /// Provable misbehaviour, the evidence of an accusation (spec §10.2).
    Malice,
    Box<AccompliceMalice>
);
malice_enum!(
    /// The malice an accomplice failed to report: any kind but `Accomplice` itself, so that
    /// evidence never nests.
    AccompliceMalice,
    Unnestable
);

/// A distributed key generation message, carried by consensus (spec §11).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum DkgMessage {
    /// A proposer's commitment and one encrypted row per participant.
    Part {
        /// Which DKG instance.
        key_gen_id: u64,
        /// The encoded bivariate commitment.
        commitment: Vec<u8>,
        /// Encrypted rows, one per participant in `PeerId` order.
        rows: Vec<Vec<u8>>,
    },
    /// A participant's acknowledgement of a proposer's part.
    Ack {
        /// Which DKG instance.
        key_gen_id: u64,
        /// Index of the proposer among the participants.
        proposer: u64,
        /// Encrypted values, one per participant in `PeerId` order.
        values: Vec<Vec<u8>>,
    },
}

/// The thing voted on (spec §1.5). Variant order is the wire order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Observation<T> {
    /// The genesis group; each genesis member votes it at index 1.
    Genesis {
        /// The genesis members.
        group: PeerSet,
        /// Application data agreed with the group.
        related_info: Vec<u8>,
        /// The digest of the common coin the members agreed on (its kind and public
        /// parameters, `parsec_coin::CommonCoin::agreement`): a member configured with
        /// another coin votes another `Genesis`, which every other member refuses.
        coin: [u8; 32],
    },
    /// Add a voter.
    Add {
        /// The peer to add.
        peer_id: PeerId,
        /// Application data.
        related_info: Vec<u8>,
    },
    /// Remove a voter.
    Remove {
        /// The peer to remove.
        peer_id: PeerId,
        /// Application data.
        related_info: Vec<u8>,
    },
    /// Malice detected against `offender`; created by the engine only.
    Accusation {
        /// Who misbehaved.
        offender: PeerId,
        /// The evidence.
        malice: Malice,
    },
    /// Application data.
    OpaquePayload(T),
    /// Start a distributed key generation among `participants` (internal).
    StartDkg {
        /// Who takes part.
        participants: PeerSet,
    },
    /// A DKG message (internal).
    DkgMessage(DkgMessage),
    /// A completed DKG; synthesised locally, never valid in an event.
    DkgResult {
        /// Who took part.
        participants: PeerSet,
        /// The encoded public key set.
        public_key_set: Vec<u8>,
    },
}

impl<T: Serialize> Observation<T> {
    /// `blake3("parsec-rs/v1/observation\0" ‖ enc(self))`.
    pub fn hash(&self) -> Result<ObservationHash, CodecError> {
        Ok(ObservationHash::from_bytes(encoding::tagged_hash(
            OBSERVATION_TAG,
            self,
        )?))
    }

    /// Whether this observation is decided per creator (`Single` key) whatever the mode.
    fn always_single(&self) -> bool {
        matches!(self, Observation::DkgMessage(_))
    }

    /// Whether the engine handles this observation itself and never outputs it as a block.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Observation::StartDkg { .. } | Observation::DkgMessage(_)
        )
    }

    /// Whether this is application data (the only kind whose key follows the mode).
    pub fn is_opaque(&self) -> bool {
        matches!(self, Observation::OpaquePayload(_))
    }

    /// The key under which this observation, voted by `creator`, is decided (spec §9).
    ///
    /// This is the one place keys are made: the engine keys its own votes with it, and
    /// the meta-election keys vote events with it (through [`crate::Event::vote_key`],
    /// which only saves hashing the observation again).
    pub fn key_by(
        &self,
        creator: PeerId,
        mode: ConsensusMode,
    ) -> Result<ObservationKey, CodecError> {
        Ok(self.key(self.hash()?, creator, mode))
    }

    /// As [`Observation::key_by`], for a caller that holds the observation's hash already
    /// (`hash` must be [`Observation::hash`]).
    pub fn key(
        &self,
        hash: ObservationHash,
        creator: PeerId,
        mode: ConsensusMode,
    ) -> ObservationKey {
        let single = self.always_single() || (self.is_opaque() && mode == ConsensusMode::Single);
        if single {
            ObservationKey::Single(hash, creator)
        } else {
            ObservationKey::Supermajority(hash)
        }
    }
}

/// How `OpaquePayload` votes are decided (spec §9); fixed at genesis.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub enum ConsensusMode {
    /// A payload is decided once, when more than two thirds of the voters voted it.
    #[default]
    Supermajority,
    /// Every voter's vote is decided on its own; equal payloads may be decided once per voter.
    Single,
}

/// Identifies a decision candidate (spec §9).
///
/// `Ord` is the *key order* of spec §6.3: observation hash first, then a `Supermajority`
/// key before a `Single` key, then `Single` keys by creator.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ObservationKey {
    /// One decision per observation.
    Supermajority(ObservationHash),
    /// One decision per (observation, voter).
    Single(ObservationHash, PeerId),
}

impl ObservationKey {
    /// The observation hash part.
    pub fn hash(&self) -> ObservationHash {
        match self {
            ObservationKey::Supermajority(hash) | ObservationKey::Single(hash, _) => *hash,
        }
    }

    /// Sort key that realises the key order regardless of variant order.
    fn order(&self) -> (ObservationHash, u8, Option<PeerId>) {
        match self {
            ObservationKey::Supermajority(hash) => (*hash, 0, None),
            ObservationKey::Single(hash, peer) => (*hash, 1, Some(*peer)),
        }
    }
}

/// The group hash of a decided group, its keys in decided order (spec §1.3):
/// `blake3(GROUP_TAG ‖ enc(Vec<ObservationHash>))`. The coin of the next election reads it,
/// so every peer must compute it bit for bit alike.
pub fn group_hash(keys: &[ObservationKey]) -> [u8; 32] {
    // Encoded by hand, as the canonical layout does it (a `u64` count, then the raw
    // hashes), to skip collecting the hashes into a vector first; the test below checks
    // that the bytes are the canonical encoding's.
    let mut hasher = blake3::Hasher::new();
    hasher.update(GROUP_TAG);
    hasher.update(&(keys.len() as u64).to_le_bytes());
    for key in keys {
        hasher.update(key.hash().as_bytes());
    }
    *hasher.finalize().as_bytes()
}

impl Ord for ObservationKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for ObservationKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A signed observation (spec §1.4).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Vote<T> {
    /// What is voted.
    pub observation: Observation<T>,
    /// The voter's signature over the vote signing bytes.
    pub signature: Signature,
}

impl<T: Serialize> Vote<T> {
    /// Signs `observation` with `key`.
    pub fn new(observation: Observation<T>, key: &SecretKey) -> Result<Self, CodecError> {
        let signature = key.sign(&encoding::tagged(VOTE_TAG, &observation)?);
        Ok(Vote {
            observation,
            signature,
        })
    }

    /// Whether the signature verifies with `voter` (strictly).
    pub fn is_signed_by(&self, voter: &PeerId) -> bool {
        match encoding::tagged(VOTE_TAG, &self.observation) {
            Ok(bytes) => voter.verify(&bytes, &self.signature),
            Err(_) => false,
        }
    }

    /// The detached proof of this vote by `voter`.
    pub fn proof(&self, voter: PeerId) -> Proof {
        Proof {
            signer: voter,
            signature: self.signature,
        }
    }
}

/// A vote signature detached from its event; blocks carry proofs (spec §1.4).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Proof {
    /// The voter.
    pub signer: PeerId,
    /// Its signature over the vote signing bytes of the observation.
    pub signature: Signature,
}

impl Proof {
    /// Whether this proof is a valid vote for `observation` by `signer`.
    pub fn verifies<T: Serialize>(&self, observation: &Observation<T>) -> bool {
        match encoding::tagged(VOTE_TAG, observation) {
            Ok(bytes) => self.signer.verify(&bytes, &self.signature),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn group_hash_is_the_canonical_encoding() {
        let keys = vec![
            ObservationKey::Supermajority(ObservationHash::from_bytes([1; 32])),
            ObservationKey::Single(
                ObservationHash::from_bytes([2; 32]),
                PeerId::from_bytes([3; 32]),
            ),
        ];
        let hashes: Vec<ObservationHash> = keys.iter().map(ObservationKey::hash).collect();
        let expected = encoding::tagged_hash(GROUP_TAG, &hashes).unwrap();
        assert_eq!(group_hash(&keys), expected);
        assert_eq!(
            group_hash(&[]),
            encoding::tagged_hash(GROUP_TAG, &Vec::<ObservationHash>::new()).unwrap()
        );
    }

    /// The meta-election keys vote events by the cached hash, the engine keys its own votes
    /// by hashing: both must give the same key.
    #[test]
    fn a_vote_events_key_is_its_observations_key() {
        use crate::event::{Cause, EventContent, EventLimits};

        let key = SecretKey::from_seed([7; 32]);
        let me = key.peer_id();
        let limits = EventLimits::default();
        let initial = EventContent::<String> {
            creator: me,
            index: 0,
            cause: Cause::Initial,
            coin_shares: vec![],
        }
        .sign(&key, &limits)
        .unwrap();
        assert_eq!(initial.vote_key(ConsensusMode::Supermajority), None);
        let observations = [
            Observation::OpaquePayload("x".to_string()),
            Observation::DkgMessage(DkgMessage::Ack {
                key_gen_id: 1,
                proposer: 0,
                values: vec![],
            }),
            Observation::Remove {
                peer_id: PeerId::from_bytes([3; 32]),
                related_info: vec![],
            },
        ];
        for observation in observations {
            let event = EventContent {
                creator: me,
                index: 1,
                cause: Cause::Observation {
                    self_parent: *initial.hash(),
                    vote: Box::new(Vote::new(observation.clone(), &key).unwrap()),
                },
                coin_shares: vec![],
            }
            .sign(&key, &limits)
            .unwrap();
            for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
                let expected = observation.key_by(me, mode).unwrap();
                assert_eq!(event.vote_key(mode), Some(expected), "{observation:?}");
            }
        }
    }
}
