//! The engine: genesis, voting, the sync protocol, insertion, decisions and membership
//! (spec §4, §5, §8.3, §8.4).
//!
//! # How it works
//!
//! Four inputs: [`Parsec::vote_for`], [`Parsec::create_gossip`], [`Parsec::handle_message`]
//! and [`Parsec::handle_bytes`]. Every event, ours or received, goes through one insertion
//! path (`receive.rs`): verify, check that its creator may send and its parents are present
//! (else hold it in the future buffer), insert it into the graph, and evaluate it in the
//! meta-election. The meta-election returns its own step (`parsec_meta_election::
//! ElectionStep`): the block groups decided (it restarts itself after each, so a cascade
//! comes back as several groups) and the coin shares to attach to our next event;
//! `decide.rs` turns each group into blocks and applies its membership changes. The sync
//! protocol's rules (what a request or response asks of us, how events are packed) live in
//! [`crate::sync`], shared with the hand-driven peers of the simulator. Held events are
//! retried in two places only, after each insertion of a received event (spec §4.4) and
//! after each own event, so that a reply finds them in the graph and no input releases them
//! itself. Nothing here performs I/O: every input returns a
//! [`Step`] saying what to persist, what to send and which blocks were decided.

use std::collections::{BTreeMap, BTreeSet};

use parsec_coin::{Coin, CommonCoin, KeyError};
use parsec_graph::{
    Cause, CoinShare, EventContent, EventError, EventHash, EventIndex, Graph, InsertError,
    KeyCache, Observation, ObservationKey, PackedEvent, Payload, PeerId, SecretKey, Vote,
    WireMessage, wire,
};
#[cfg(feature = "testing")]
use parsec_meta_election::MetaVote;
use parsec_meta_election::{Elections, KeySet, MetaDigest, VoterSet};

use crate::block::Block;
use crate::catch_up::CatchUp;
use crate::config::Config;
use crate::error::{ConfigError, Error, Fault, FaultKind, NotPermitted};
use crate::future::FutureBuffer;
use crate::peers::{PeerFlags, PeerState};
use crate::status::{self, Memory, PendingVote, Status};
use crate::store::{StoreHeader, StoreOp};
use crate::sync::{Answered, Reply, SyncKind, SyncMemory};

mod decide;
mod gossip;
mod readmit;
mod receive;
mod restore;

pub use restore::{Restore, RestoreError, Restored};

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing<T> {
    /// The recipient.
    pub to: PeerId,
    /// The message.
    pub message: WireMessage<T>,
}

/// What an input produced. The driver makes `persist` durable before it sends `send`.
#[must_use = "a Step holds events to persist, messages to send and decided blocks"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step<T> {
    /// What this input changed, in order (the events it inserted, the blocks it decided,
    /// at first start the store's header): apply it to the [`Store`](crate::Store), and
    /// only after that succeeds send `send`.
    pub persist: Vec<StoreOp<T>>,
    /// Messages to send, in order.
    pub send: Vec<Outgoing<T>>,
    /// Blocks decided by this input, in consensus order.
    pub blocks: Vec<Block<T>>,
    /// What peers did wrong.
    pub faults: Vec<Fault>,
    /// Events peers lack that only the store holds: send each from the store, ahead of
    /// this step's messages to its peer ([`crate::catch_up`]).
    pub catch_up: Vec<CatchUp<T>>,
    /// Parents of events we hold back that may be history we pruned from memory: look
    /// each up with [`Store::find`](crate::Store::find) and hand those found to
    /// [`Parsec::readmit`] (after applying this step's `persist`). One not found is not
    /// ours yet: nothing to do.
    pub fetch: Vec<EventHash>,
}

impl<T> Default for Step<T> {
    fn default() -> Self {
        Step {
            persist: Vec::new(),
            send: Vec::new(),
            blocks: Vec::new(),
            faults: Vec::new(),
            catch_up: Vec::new(),
            fetch: Vec::new(),
        }
    }
}

impl<T> Step<T> {
    /// The events in `persist`, in insertion order.
    pub fn inserted(&self) -> impl Iterator<Item = &PackedEvent<T>> + '_ {
        self.persist.iter().filter_map(|op| match op {
            StoreOp::Event { event, .. } => Some(event),
            _ => None,
        })
    }

    /// Appends `other` to this step.
    pub fn extend(&mut self, other: Step<T>) {
        self.persist.extend(other.persist);
        self.send.extend(other.send);
        self.blocks.extend(other.blocks);
        self.faults.extend(other.faults);
        self.catch_up.extend(other.catch_up);
        self.fetch.extend(other.fetch);
    }

    fn fault(&mut self, sender: PeerId, creator: Option<PeerId>, kind: FaultKind) {
        tracing::warn!(%sender, creator = ?creator, kind = ?kind, "peer fault");
        let creator = creator.filter(|c| *c != sender);
        self.faults.push(Fault {
            sender,
            creator,
            kind,
        });
    }
}

/// Where received events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A peer: an event of ours that we do not hold proves lost state.
    Peer,
    /// A recorded graph fed back in (testing), our own events included.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Replay,
}

/// What became of one received event.
enum Placed {
    Inserted,
    Held,
    Rejected,
}

/// The PARSEC engine of one peer, generic over the payload and the common coin.
///
/// With feature `testing` it is `Clone`, so that a simulated attacker can try what an input
/// would do to a copy; a production engine is never copied (two copies signing would fork
/// the member's own chain).
#[derive(Debug)]
#[cfg_attr(feature = "testing", derive(Clone))]
pub struct Parsec<T: Payload, C: CommonCoin> {
    key: SecretKey,
    our_id: PeerId,
    config: Config,
    graph: Graph<T>,
    elections: Elections<C>,
    peers: BTreeMap<PeerId, PeerState>,
    our_last: Option<EventIndex>,
    /// Our votes not decided yet, in voting order.
    our_votes: Vec<(ObservationKey, Observation<T>)>,
    /// Our votes decided since: all a decided vote of ours leaves (32 bytes).
    our_decided_votes: KeySet,
    /// The requests and responses handled so far.
    answered: Answered,
    held: FutureBuffer<T>,
    /// Decompressed public keys of the peers whose events we verify.
    keys: KeyCache,
    next_sequence: u64,
    /// Coin data the meta-elections produced, for our next own event.
    coin_shares: Vec<CoinShare>,
    removed: bool,
    /// A decision or a window's worth of events asks for pruning before the next input.
    prune_due: bool,
    /// What we sent each peer, to send less again (`sync`).
    sent: SyncMemory,
    /// While [`Parsec::readmit`] runs: the parents asked for that the store lacks.
    unavailable: BTreeSet<EventHash>,
}

impl<T: Payload> Parsec<T, Coin> {
    /// Starts a genesis member with the coin `config.coin` names (see
    /// [`Parsec::from_genesis`]).
    pub fn new(key: SecretKey, config: Config) -> Result<(Self, Step<T>), Error> {
        let coin = Self::configured_coin(&key, &config)?;
        Self::from_genesis(key, config, coin)
    }

    /// The coin `config.coin` names, with its key material checked against us.
    fn configured_coin(key: &SecretKey, config: &Config) -> Result<Coin, Error> {
        config.validate()?;
        Ok(match Coin::new(config.coin) {
            Some(coin) => coin,
            None => {
                let keys = config
                    .coin_keys
                    .clone()
                    .ok_or(ConfigError::MissingCoinKeys)?;
                let ours = config.coin_secret.clone();
                match &ours {
                    Some(share) if share.holder != key.peer_id() => {
                        return Err(ConfigError::CoinSecret(KeyError::WrongHolder {
                            file: share.holder,
                            expected: key.peer_id(),
                        })
                        .into());
                    }
                    None if keys.holder_index(&key.peer_id()).is_some() => {
                        return Err(ConfigError::MissingCoinSecret.into());
                    }
                    _ => {}
                }
                Coin::threshold(keys, ours).map_err(ConfigError::CoinSecret)?
            }
        })
    }
}

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// Starts a genesis member: every genesis member becomes a voter of election 0, and we
    /// create our `Initial` event and our `Genesis` vote (spec §5.2). `coin` is used as
    /// given (a coin of your own, or [`Coin::new`] of a kind): `config.coin` is read only
    /// by [`Parsec::new`].
    pub fn from_genesis(key: SecretKey, config: Config, coin: C) -> Result<(Self, Step<T>), Error> {
        let mut parsec = Self::genesis_state(key, config, coin)?;
        let mut step = Step::default();
        step.persist.push(StoreOp::Init(parsec.store_header()));
        parsec.create_own(&mut step, |_| Cause::Initial)?;
        let genesis = parsec.genesis_observation();
        parsec.create_vote(&mut step, genesis)?;
        Ok((parsec, step))
    }

    /// The engine of a genesis member before its first event: what both a first start and
    /// a restore begin with.
    fn genesis_state(key: SecretKey, config: Config, coin: C) -> Result<Self, Error> {
        config.validate()?;
        let our_id = key.peer_id();
        if !config.genesis_group.contains(&our_id) {
            return Err(Error::NotInGenesisGroup);
        }
        let mut graph = Graph::new();
        let mut voters = Vec::new();
        let mut peers = BTreeMap::new();
        for member in config.genesis_group.iter() {
            voters.push((*member, graph.register_peer(*member)?));
            peers.insert(
                *member,
                PeerState::Present(PeerFlags::VOTE | PeerFlags::SEND | PeerFlags::RECV),
            );
        }
        let mut elections = Elections::new(VoterSet::new(voters), config.consensus_mode, coin)?;
        elections.set_removal_margin(config.pruning_removal_margin);
        Ok(Parsec {
            key,
            our_id,
            config,
            graph,
            elections,
            peers,
            our_last: None,
            our_votes: Vec::new(),
            our_decided_votes: KeySet::new(),
            answered: Answered::default(),
            held: FutureBuffer::default(),
            keys: KeyCache::new(),
            next_sequence: 0,
            coin_shares: Vec::new(),
            removed: false,
            prune_due: false,
            sent: SyncMemory::default(),
            unavailable: BTreeSet::new(),
        })
    }

    /// What the store of this engine records as its owner and genesis: our identity and
    /// a digest of the consensus part of the configuration (the `Genesis` observation,
    /// with its coin, the consensus mode and the event limits).
    pub fn store_header(&self) -> StoreHeader {
        let limits = &self.config.event_limits;
        let mut hasher = blake3::Hasher::new_derive_key("parsec-rs 2026 genesis digest v1");
        // Encoding our own observation cannot fail (it was signed at creation); an error
        // would only make the digest differ from every other, never match a wrong one.
        let genesis = wire::encode_value(&(self.genesis_observation(), self.config.consensus_mode))
            .unwrap_or_default();
        hasher.update(&(genesis.len() as u64).to_le_bytes());
        hasher.update(&genesis);
        for limit in [
            limits.max_observation_bytes as u64,
            limits.max_coin_shares_per_event as u64,
            u64::from(self.config.max_vote_run),
        ] {
            hasher.update(&limit.to_le_bytes());
        }
        StoreHeader {
            owner: self.our_id,
            genesis: *hasher.finalize().as_bytes(),
        }
    }

    /// The one `Genesis` observation the configuration allows (spec §5.2): the group, the
    /// related info and our coin's agreement digest.
    pub fn genesis_observation(&self) -> Observation<T> {
        Observation::Genesis {
            group: self.config.genesis_group.clone(),
            related_info: self.config.related_info.clone(),
            coin: self.elections.coin().agreement(),
        }
    }

    /// The common coin (to read its kind or key epoch).
    pub fn coin(&self) -> &C {
        self.elections.coin()
    }

    /// The common coin, to share its verified shares or drop its secret (feature
    /// `testing`: what the simulator's attacker does to its copies of honest engines).
    #[cfg(feature = "testing")]
    pub fn coin_mut(&mut self) -> &mut C {
        self.elections.coin_mut()
    }

    /// Our identity.
    pub fn our_id(&self) -> &PeerId {
        &self.our_id
    }

    /// The gossip graph.
    pub fn graph(&self) -> &Graph<T> {
        &self.graph
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current election's voters, ascending.
    pub fn voters(&self) -> &[PeerId] {
        self.elections.voters().ids()
    }

    /// The state of `peer`, if known.
    pub fn peer_state(&self, peer: &PeerId) -> Option<PeerState> {
        self.peers.get(peer).copied()
    }

    /// Starts or stops recording a digest of every meta-event this engine evaluates, keyed
    /// by event hash and election (off by default). Simulations compare them across honest
    /// peers: two honest peers never evaluate one event differently (spec §15, invariant 7).
    pub fn record_meta_digests(&mut self, on: bool) {
        self.elections.record_digests(on);
    }

    /// The digests recorded since the last call, in evaluation order.
    pub fn take_meta_digests(&mut self) -> Vec<MetaDigest> {
        self.elections.take_digests()
    }

    /// The meta-vote lists of the event `hash` in the current election, one per candidate,
    /// if it has lists (feature `testing`: what a simulated attacker that sees every
    /// honest peer's state reads).
    #[cfg(feature = "testing")]
    pub fn meta_votes(&self, hash: &EventHash) -> Option<Vec<(PeerId, Vec<MetaVote>)>> {
        self.elections.lists_of(self.graph.index_of(hash)?)
    }

    /// Whether we have been removed (then nothing more is processed).
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    fn flags(&self, peer: &PeerId) -> PeerFlags {
        self.peers
            .get(peer)
            .map_or(PeerFlags::NONE, PeerState::flags)
    }

    /// The peers we may gossip to: every other peer with `DKG` and `RECV`, if we may send.
    pub fn gossip_recipients(&self) -> Vec<PeerId> {
        if self.removed || !self.flags(&self.our_id).contains(PeerFlags::SEND) {
            return Vec::new();
        }
        self.peers
            .iter()
            .filter(|(id, state)| {
                **id != self.our_id && state.has(PeerFlags::DKG) && state.has(PeerFlags::RECV)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether we voted for `observation`.
    pub fn have_voted_for(&self, observation: &Observation<T>) -> bool {
        match self.key_of(observation) {
            Ok(key) => {
                self.our_votes.iter().any(|(k, _)| *k == key)
                    || self.our_decided_votes.contains(&key)
            }
            Err(_) => false,
        }
    }

    /// Our votes that are not decided yet, in voting order.
    pub fn our_unpolled_observations(&self) -> impl Iterator<Item = &Observation<T>> {
        self.our_votes.iter().map(|(_, observation)| observation)
    }

    fn key_of(&self, observation: &Observation<T>) -> Result<ObservationKey, Error> {
        observation
            .key_by(self.our_id, self.config.consensus_mode)
            .map_err(|e| Error::OwnEvent(EventError::from(e)))
    }

    /// Votes for `observation` (spec §4.7).
    pub fn vote_for(&mut self, observation: Observation<T>) -> Result<Step<T>, Error> {
        self.prune_if_due();
        if self.removed {
            return Err(Error::Removed);
        }
        if !self.flags(&self.our_id).contains(PeerFlags::VOTE) {
            return Err(Error::NotPermitted(NotPermitted::NotAVoter));
        }
        if matches!(
            observation,
            Observation::Accusation { .. } | Observation::DkgResult { .. }
        ) {
            return Err(Error::ForbiddenObservation);
        }
        let size = wire::encoded_len(&observation).map_err(|e| Error::OwnEvent(e.into()))?;
        if size > self.config.event_limits.max_observation_bytes {
            return Err(Error::ObservationTooLarge {
                size,
                limit: self.config.event_limits.max_observation_bytes,
            });
        }
        if self.have_voted_for(&observation) {
            return Err(Error::DuplicateVote);
        }
        let run = self
            .our_last
            .map_or(0, |last| self.graph.node(last).vote_run());
        if run >= self.config.max_vote_run {
            return Err(Error::VoteRunTooLong);
        }
        let mut step = Step::default();
        self.create_vote(&mut step, observation)?;
        if self.voters() == [self.our_id] {
            // A sole voter needs a sync event to carry its interesting content.
            let us = self.our_id;
            self.create_own(&mut step, |self_parent| Cause::Requesting {
                self_parent,
                recipient: us,
            })?;
        }
        Ok(step)
    }

    /// Starts a sync with `peer`: creates our `Requesting` and returns the request carrying
    /// every event `peer` may lack (spec §4.3).
    pub fn create_gossip(&mut self, peer: PeerId) -> Result<Step<T>, Error> {
        self.prune_if_due();
        if self.removed {
            return Err(Error::Removed);
        }
        if !self.peers.contains_key(&peer) || peer == self.our_id {
            return Err(Error::UnknownPeer(peer));
        }
        if !self.flags(&self.our_id).contains(PeerFlags::SEND) {
            return Err(Error::NotPermitted(NotPermitted::MayNotSend));
        }
        if !self.flags(&peer).contains(PeerFlags::DKG | PeerFlags::RECV) {
            return Err(Error::NotPermitted(NotPermitted::PeerMayNotReceive(peer)));
        }
        let mut step = Step::default();
        self.sync_and_send(&mut step, peer, SyncKind::Request, |self_parent| {
            Cause::Requesting {
                self_parent,
                recipient: peer,
            }
        })?;
        Ok(step)
    }

    /// Handles any message from `sender`: a request (answered), a response, or a leading
    /// chunk of a large sync (events only). A peer's bad data is a fault in the step.
    pub fn handle_message(
        &mut self,
        sender: PeerId,
        message: WireMessage<T>,
    ) -> Result<Step<T>, Error> {
        self.prune_if_due();
        let mut step = Step::default();
        match message {
            WireMessage::Request { events } => {
                self.handle_sync(&mut step, sender, SyncKind::Request, events)?;
            }
            WireMessage::Response { events } => {
                self.handle_sync(&mut step, sender, SyncKind::Response, events)?;
            }
            WireMessage::Events { events } => {
                if self.accepts_from(&mut step, &sender) {
                    self.receive_events(&mut step, sender, events, Origin::Peer)?;
                }
            }
        }
        Ok(step)
    }

    /// Decodes `bytes` from `sender` and handles the message; undecodable bytes are a fault.
    pub fn handle_bytes(&mut self, sender: PeerId, bytes: &[u8]) -> Result<Step<T>, Error> {
        match wire::decode(bytes, &self.config.wire_limits) {
            Ok(message) => self.handle_message(sender, message),
            Err(error) => {
                let mut step = Step::default();
                let kind = match error {
                    parsec_graph::WireError::TooLarge { .. }
                    | parsec_graph::WireError::TooManyEvents { .. } => FaultKind::OversizedMessage,
                    _ => FaultKind::MalformedMessage,
                };
                step.fault(sender, None, kind);
                Ok(step)
            }
        }
    }

    /// Whether a message from `sender` may be handled at all (spec §4.4 step 1).
    fn accepts_from(&self, step: &mut Step<T>, sender: &PeerId) -> bool {
        if self.removed {
            return false;
        }
        if let Some(PeerState::Removed { .. }) = self.peers.get(sender) {
            // A removed peer may not have decided its own removal yet and keeps gossiping
            // in good faith: ignore it without blaming it.
            tracing::debug!(%sender, "ignoring a message from a removed peer");
            return false;
        }
        if *sender == self.our_id || !self.flags(sender).contains(PeerFlags::SEND) {
            step.fault(*sender, None, FaultKind::UnexpectedSender);
            return false;
        }
        true
    }

    /// Handles a request (answered with a response, spec §4.4) or a response (recorded
    /// with a `Response` event, spec §4.5).
    fn handle_sync(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        kind: SyncKind,
        events: Vec<PackedEvent<T>>,
    ) -> Result<(), Error> {
        if events.is_empty() {
            // An empty response comes from a peer that is not a member yet: nothing to do.
            // A request always carries the sender's `Requesting`.
            if kind == SyncKind::Request && self.accepts_from(step, &sender) {
                step.fault(sender, None, FaultKind::MalformedMessage);
            }
            return Ok(());
        }
        let Some(last) = self.receive_sync(step, sender, events)? else {
            return Ok(());
        };
        self.reply(step, sender, kind, last)
    }

    /// Answers a request or records a response whose last event is inserted at `last`.
    fn reply(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        kind: SyncKind,
        last: EventIndex,
    ) -> Result<(), Error> {
        match self
            .answered
            .reply(&self.graph, kind, last, &sender, &self.our_id)
        {
            Reply::Answer { other_parent } => {
                self.sync_and_send(step, sender, SyncKind::Response, |self_parent| {
                    Cause::Request {
                        self_parent,
                        other_parent,
                    }
                })?;
            }
            Reply::Record { other_parent } => {
                self.create_own(step, |self_parent| Cause::Response {
                    self_parent,
                    other_parent,
                })?;
            }
            Reply::Invalid => step.fault(sender, None, FaultKind::InvalidMessage),
            Reply::AlreadyAnswered => {}
        }
        Ok(())
    }

    /// Feeds one recorded event through the full insertion path as if received from its
    /// creator, our own events included (conformance replays; spec §16.7).
    #[cfg(feature = "testing")]
    pub fn replay_event(&mut self, event: PackedEvent<T>) -> Result<Step<T>, Error> {
        self.prune_if_due();
        let mut step = Step::default();
        let sender = event.content.creator;
        self.receive_events(&mut step, sender, vec![event], Origin::Replay)?;
        Ok(step)
    }

    /// As [`Parsec::replay_event`] for an event already verified (benchmarks of insertion
    /// and consensus alone).
    #[cfg(feature = "testing")]
    pub fn replay_verified(&mut self, event: parsec_graph::Event<T>) -> Result<Step<T>, Error> {
        self.prune_if_due();
        let mut step = Step::default();
        if self.graph.contains(event.hash()) {
            return Ok(step);
        }
        let sender = *event.creator();
        self.place(&mut step, sender, event)?;
        self.release_held(&mut step)?;
        Ok(step)
    }

    /// Shares signature checks with the other engines of this process that get the same
    /// `shared` record (simulations): each event's signatures are then verified once per
    /// process instead of once per engine. Only for engines that trust each other.
    #[cfg(feature = "testing")]
    pub fn share_verified_events(&mut self, shared: parsec_graph::VerifiedEvents) {
        self.keys = KeyCache::with_shared(shared);
    }

    /// Number of events held in the future buffer.
    #[cfg(feature = "testing")]
    pub fn held_events(&self) -> usize {
        self.held.len()
    }

    /// Encoded bytes of the events held in the future buffer.
    pub fn held_bytes(&self) -> usize {
        self.held.bytes()
    }

    /// What the engine is waiting for: the current election, the votes not decided yet
    /// (with how many voters voted each, against how many a decision needs), the blocks
    /// output and the held events.
    pub fn status(&self) -> Status {
        let voters = self.voters().to_vec();
        let pending = self
            .elections
            .pending()
            .into_iter()
            .map(|p| PendingVote {
                key: p.key,
                voters: p.voters,
                ours: self.our_votes.iter().any(|(key, _)| *key == p.key),
            })
            .collect();
        Status {
            election: self.elections.election(),
            votes_needed: status::votes_needed(self.config.consensus_mode, voters.len()),
            voters,
            mode: self.config.consensus_mode,
            pending,
            blocks: self.next_sequence,
            held_events: self.held.len(),
            held_bytes: self.held.bytes(),
            removed: self.removed,
            coin: self.config.coin,
            coin_stats: self.elections.coin_stats(),
            memory: Memory {
                events_inserted: self.graph.len() as u64,
                events_held: self.graph.held_len() as u64,
                meta_events_held: self.elections.held_meta_events() as u64,
                base: self.graph.base().get() as u64,
                oldest_undecided: self
                    .elections
                    .oldest_undecided()
                    .map(|(at, age)| (at.get() as u64, age)),
                detached_votes: self.graph.detached_votes() as u64,
                keys_tracked: self.elections.keys_tracked() as u64,
                decided_keys: self.elections.decided_key_count() as u64,
                syncs_remembered: self.answered.remembered() as u64,
            },
        }
    }

    fn create_vote(
        &mut self,
        step: &mut Step<T>,
        observation: Observation<T>,
    ) -> Result<(), Error> {
        let key = self.key_of(&observation)?;
        let vote =
            Vote::new(observation.clone(), &self.key).map_err(|e| Error::OwnEvent(e.into()))?;
        self.create_own(step, |self_parent| Cause::Observation {
            self_parent,
            vote: Box::new(vote),
        })?;
        self.note_our_vote(key, observation);
        Ok(())
    }

    /// Records a vote of ours, just inserted: pending until its key is decided (a vote for
    /// a key decided already is ignored by consensus, so it is decided for us at once).
    pub(super) fn note_our_vote(&mut self, key: ObservationKey, observation: Observation<T>) {
        if self.elections.is_decided(&key) {
            self.our_decided_votes.insert(&key);
        } else {
            self.our_votes.push((key, observation));
        }
    }

    /// Creates, inserts and evaluates our next event.
    fn create_own(
        &mut self,
        step: &mut Step<T>,
        cause: impl FnOnce(EventHash) -> Cause<T>,
    ) -> Result<EventIndex, Error> {
        let (index, cause) = match self.our_last {
            None => (0, Cause::Initial),
            Some(last) => {
                let node = self.graph.node(last);
                (node.creator_index() + 1, cause(*node.hash()))
            }
        };
        let content = EventContent {
            creator: self.our_id,
            index,
            cause,
            coin_shares: if index == 0 {
                Vec::new()
            } else {
                // An event may carry only so many shares: the rest go with the next one.
                let limit = self.config.event_limits.max_coin_shares_per_event;
                let rest = self
                    .coin_shares
                    .split_off(self.coin_shares.len().min(limit));
                std::mem::replace(&mut self.coin_shares, rest)
            },
        };
        let event = content.sign(&self.key, &self.config.event_limits)?;
        let hash = *event.hash();
        match self.insert_now(step, self.our_id, event)? {
            Placed::Inserted => {}
            Placed::Held | Placed::Rejected => {
                return Err(Error::OwnInsert(InsertError::UnknownSelfParent(hash)));
            }
        }
        let at = self
            .graph
            .index_of(&hash)
            .ok_or(Error::OwnInsert(InsertError::UnknownSelfParent(hash)))?;
        self.our_last = Some(at);
        // Our new event may have decided a membership change that permits a held
        // creator: whatever we create or send next has its events.
        self.release_held(step)?;
        Ok(at)
    }
}
