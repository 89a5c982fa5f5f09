//! The engine: genesis, voting, the sync protocol, insertion, decisions and membership
//! (spec §4, §5, §8.3, §8.4).
//!
//! # How it works
//!
//! Every event, ours or received, goes through one insertion path: verify, check that its
//! creator may send and its parents are present (else hold it in the future buffer),
//! insert it into the graph, and evaluate it in the current meta-election. A decision is
//! turned into a block group, its membership changes are applied, and the next election
//! starts at once (which may decide again: a cascade). Held events are released once the
//! cascade is over. Nothing here performs I/O: every input returns a [`Step`] saying what
//! to persist, what to send and which blocks were decided.

use std::collections::{BTreeMap, BTreeSet};

use parsec_coin::CommonCoin;
use parsec_graph::{
    Cause, ConsensusMode, Event, EventContent, EventError, EventHash, EventIndex, Graph,
    InsertError, Inserted, KeyCache, Observation, ObservationKey, PackedEvent, Payload, PeerId,
    SecretKey, Vote, WireMessage, encoding, wire,
};
use parsec_meta_election::{Decision, Elections, MetaDigest, VoterSet};

use crate::block::Block;
use crate::config::Config;
use crate::error::{Error, Fault, FaultKind};
use crate::future::{self, FutureBuffer, Held};
use crate::peers::{PeerFlags, PeerState};
use crate::sync::{self, SyncMemory};

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
    /// Events inserted by this input, in insertion order: persist them before sending.
    pub persist: Vec<PackedEvent<T>>,
    /// Messages to send, in order.
    pub send: Vec<Outgoing<T>>,
    /// Blocks decided by this input, in consensus order.
    pub blocks: Vec<Block<T>>,
    /// What peers did wrong.
    pub faults: Vec<Fault>,
}

impl<T> Default for Step<T> {
    fn default() -> Self {
        Step {
            persist: Vec::new(),
            send: Vec::new(),
            blocks: Vec::new(),
            faults: Vec::new(),
        }
    }
}

impl<T> Step<T> {
    /// Appends `other` to this step.
    pub fn extend(&mut self, other: Step<T>) {
        self.persist.extend(other.persist);
        self.send.extend(other.send);
        self.blocks.extend(other.blocks);
        self.faults.extend(other.faults);
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

/// What became of one received event.
enum Placed {
    Inserted,
    Held,
    Rejected,
}

/// The PARSEC engine of one peer, generic over the payload and the common coin.
#[derive(Debug)]
pub struct Parsec<T: Payload, C: CommonCoin> {
    key: SecretKey,
    our_id: PeerId,
    config: Config,
    graph: Graph<T>,
    elections: Elections<C>,
    peers: BTreeMap<PeerId, PeerState>,
    our_last: Option<EventIndex>,
    our_votes: Vec<(ObservationKey, Observation<T>)>,
    /// `Requesting` events we answered with a `Request`.
    answered_requests: BTreeSet<EventHash>,
    /// `Request` events we answered with a `Response`.
    answered_responses: BTreeSet<EventHash>,
    held: FutureBuffer<T>,
    /// Decompressed public keys of the peers whose events we verify.
    keys: KeyCache,
    next_sequence: u64,
    removed: bool,
    replaying: bool,
    /// What we sent each peer, to send less again (`sync`).
    sent: SyncMemory,
}

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// Starts a genesis member: every genesis member becomes a voter of election 0, and we
    /// create our `Initial` event and our `Genesis` vote (spec §5.2).
    pub fn from_genesis(key: SecretKey, config: Config, coin: C) -> Result<(Self, Step<T>), Error> {
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
        let elections = Elections::new(VoterSet::new(voters), config.consensus_mode, coin)?;
        let mut parsec = Parsec {
            key,
            our_id,
            config,
            graph,
            elections,
            peers,
            our_last: None,
            our_votes: Vec::new(),
            answered_requests: BTreeSet::new(),
            answered_responses: BTreeSet::new(),
            held: FutureBuffer::default(),
            keys: KeyCache::new(),
            next_sequence: 0,
            removed: false,
            replaying: false,
            sent: SyncMemory::default(),
        };
        let mut step = Step::default();
        parsec.create_own(&mut step, |_| Cause::Initial)?;
        let genesis = Observation::Genesis {
            group: parsec.config.genesis_group.clone(),
            related_info: parsec.config.related_info.clone(),
        };
        parsec.create_vote(&mut step, genesis)?;
        Ok((parsec, step))
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
            Ok(key) => self.our_votes.iter().any(|(k, _)| *k == key),
            Err(_) => false,
        }
    }

    /// Our votes that are not decided yet, in voting order.
    pub fn our_unpolled_observations(&self) -> impl Iterator<Item = &Observation<T>> {
        self.our_votes
            .iter()
            .filter(|(key, _)| !self.elections.is_decided(key))
            .map(|(_, observation)| observation)
    }

    fn key_of(&self, observation: &Observation<T>) -> Result<ObservationKey, Error> {
        let hash = observation
            .hash()
            .map_err(|e| Error::OwnEvent(EventError::from(e)))?;
        Ok(observation.key(hash, self.our_id, self.config.consensus_mode))
    }

    /// Votes for `observation` (spec §4.7).
    pub fn vote_for(&mut self, observation: Observation<T>) -> Result<Step<T>, Error> {
        if self.removed {
            return Err(Error::Removed);
        }
        if !self.flags(&self.our_id).contains(PeerFlags::VOTE) {
            return Err(Error::NotPermitted("we are not a voter"));
        }
        if matches!(
            observation,
            Observation::Accusation { .. } | Observation::DkgResult { .. }
        ) {
            return Err(Error::ForbiddenObservation);
        }
        let size = encoding::encoded_len(&observation).map_err(|e| Error::OwnEvent(e.into()))?;
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
        self.release_held(&mut step)?;
        Ok(step)
    }

    /// Starts a sync with `peer`: creates our `Requesting` and returns the request carrying
    /// every event `peer` may lack (spec §4.3).
    pub fn create_gossip(&mut self, peer: PeerId) -> Result<Step<T>, Error> {
        if self.removed {
            return Err(Error::Removed);
        }
        if !self.peers.contains_key(&peer) || peer == self.our_id {
            return Err(Error::UnknownPeer(peer));
        }
        if !self.flags(&self.our_id).contains(PeerFlags::SEND) {
            return Err(Error::NotPermitted("we may not send gossip"));
        }
        if !self.flags(&peer).contains(PeerFlags::DKG | PeerFlags::RECV) {
            return Err(Error::NotPermitted("the peer may not receive gossip"));
        }
        let mut step = Step::default();
        self.sync_and_send(&mut step, peer, true, |self_parent| Cause::Requesting {
            self_parent,
            recipient: peer,
        })?;
        Ok(step)
    }

    /// Handles any message from `sender`.
    pub fn handle_message(
        &mut self,
        sender: PeerId,
        message: WireMessage<T>,
    ) -> Result<Step<T>, Error> {
        match message {
            WireMessage::Request { events } => self.handle_request(sender, events),
            WireMessage::Response { events } => self.handle_response(sender, events),
            WireMessage::Events { events } => self.handle_events(sender, events),
        }
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
        if let Some(PeerState::Removed(_)) = self.peers.get(sender) {
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

    /// Handles a leading chunk of a large sync: events only, no reply.
    pub fn handle_events(
        &mut self,
        sender: PeerId,
        events: Vec<PackedEvent<T>>,
    ) -> Result<Step<T>, Error> {
        let mut step = Step::default();
        if !self.accepts_from(&mut step, &sender) {
            return Ok(step);
        }
        self.receive_events(&mut step, sender, events)?;
        self.release_held(&mut step)?;
        Ok(step)
    }

    /// Handles a sync request and answers it (spec §4.4).
    pub fn handle_request(
        &mut self,
        sender: PeerId,
        events: Vec<PackedEvent<T>>,
    ) -> Result<Step<T>, Error> {
        let mut step = Step::default();
        if events.is_empty() {
            if self.accepts_from(&mut step, &sender) {
                step.fault(sender, None, FaultKind::MalformedMessage);
            }
            return Ok(step);
        }
        let Some((last, last_hash)) = self.receive_sync(&mut step, sender, events)? else {
            return Ok(step);
        };
        if !sync::is_request_to(&self.graph, last, &sender, &self.our_id) {
            step.fault(sender, None, FaultKind::InvalidMessage);
            return Ok(step);
        }
        if self.answered_requests.contains(&last_hash) {
            return Ok(step);
        }
        self.answered_requests.insert(last_hash);
        self.sync_and_send(&mut step, sender, false, |self_parent| Cause::Request {
            self_parent,
            other_parent: last_hash,
        })?;
        Ok(step)
    }

    /// Handles a sync response (spec §4.5).
    pub fn handle_response(
        &mut self,
        sender: PeerId,
        events: Vec<PackedEvent<T>>,
    ) -> Result<Step<T>, Error> {
        let mut step = Step::default();
        // An empty response comes from a peer that is not a member yet: nothing to do.
        if events.is_empty() {
            return Ok(step);
        }
        let Some((last, last_hash)) = self.receive_sync(&mut step, sender, events)? else {
            return Ok(step);
        };
        let answered = sync::request_answered(&self.graph, last, &sender, &self.our_id);
        let Some(request_hash) = answered else {
            step.fault(sender, None, FaultKind::InvalidMessage);
            return Ok(step);
        };
        if !self.answered_responses.insert(request_hash) {
            return Ok(step);
        }
        self.create_own(&mut step, |self_parent| Cause::Response {
            self_parent,
            other_parent: last_hash,
        })?;
        self.release_held(&mut step)?;
        Ok(step)
    }

    /// Feeds one recorded event through the full insertion path as if received from its
    /// creator, our own events included (conformance replays; spec §16.7).
    #[cfg(feature = "replay")]
    pub fn replay_event(&mut self, event: PackedEvent<T>) -> Result<Step<T>, Error> {
        let mut step = Step::default();
        let sender = event.content.creator;
        self.replaying = true;
        let result = self
            .receive_events(&mut step, sender, vec![event])
            .and_then(|_| self.release_held(&mut step));
        self.replaying = false;
        result.map(|()| step)
    }

    /// As [`Parsec::replay_event`] for an event already verified (benchmarks of insertion
    /// and consensus alone).
    #[cfg(feature = "replay")]
    pub fn replay_verified(&mut self, event: Event<T>) -> Result<Step<T>, Error> {
        let mut step = Step::default();
        if self.graph.contains(event.hash()) {
            return Ok(step);
        }
        let sender = *event.creator();
        self.replaying = true;
        let result = self
            .place(&mut step, sender, event)
            .and_then(|_| self.release_held(&mut step));
        self.replaying = false;
        result.map(|()| step)
    }

    /// Shares signature checks with the other engines of this process that get the same
    /// `shared` record (simulations): each event's signatures are then verified once per
    /// process instead of once per engine. Only for engines that trust each other.
    pub fn share_verified_events(&mut self, shared: parsec_graph::VerifiedEvents) {
        self.keys = KeyCache::with_shared(shared);
    }

    /// Number of events held in the future buffer.
    pub fn held_events(&self) -> usize {
        self.held.len()
    }

    /// Encoded bytes of the events held in the future buffer.
    pub fn held_bytes(&self) -> usize {
        self.held.bytes()
    }

    /// The common first half of handling a request or a response (spec §4.4 steps 1-3):
    /// checks the sender, receives the (non-empty) events, and returns the message's last
    /// event if handling goes on: it was inserted and nothing stopped the handling.
    fn receive_sync(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        events: Vec<PackedEvent<T>>,
    ) -> Result<Option<(EventIndex, EventHash)>, Error> {
        if !self.accepts_from(step, &sender) {
            return Ok(None);
        }
        let Some(Ok(last_hash)) = events.last().map(PackedEvent::hash) else {
            step.fault(sender, None, FaultKind::MalformedMessage);
            return Ok(None);
        };
        let completed = self.receive_events(step, sender, events)?;
        self.release_held(step)?;
        if !completed || self.removed {
            return Ok(None);
        }
        // Not inserted now (waiting for parents or chunks): no sync event, not a fault.
        Ok(self
            .graph
            .index_of(&last_hash)
            .map(|last| (last, last_hash)))
    }

    /// Verifies and places each event in order; false if handling stopped at a bad event.
    fn receive_events(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        events: Vec<PackedEvent<T>>,
    ) -> Result<bool, Error> {
        for packed in events {
            let creator = packed.content.creator;
            let Ok(prepared) = packed.prepare() else {
                step.fault(sender, Some(creator), FaultKind::MalformedMessage);
                return Ok(false);
            };
            let hash = *prepared.hash();
            if self.graph.contains(&hash) || self.held.contains(&hash) {
                continue;
            }
            let event = match prepared.verify_with(&self.config.event_limits, &mut self.keys) {
                Ok(event) => event,
                Err(EventError::BadSignature | EventError::BadVoteSignature) => {
                    step.fault(sender, Some(creator), FaultKind::BadSignature);
                    return Ok(false);
                }
                Err(error) => {
                    step.fault(sender, Some(creator), FaultKind::InvalidEvent(error));
                    return Ok(false);
                }
            };
            // Only a validly signed event of ours proves lost state; a forged one is just
            // a bad signature from whoever relayed it.
            if creator == self.our_id && !self.replaying {
                return Err(Error::LostState(hash));
            }
            match self.place(step, sender, event)? {
                // Retry held events after each insertion, not only at the end (spec §4.4).
                Placed::Inserted => self.release_held(step)?,
                Placed::Held => {}
                Placed::Rejected => return Ok(false),
            }
        }
        Ok(true)
    }

    fn is_permitted(&self, creator: &PeerId) -> bool {
        *creator == self.our_id || self.flags(creator).contains(PeerFlags::SEND)
    }

    /// Whether `creator` is or was a member by agreed decision (genesis, decided `Add`):
    /// only such creators' events can enter the graph (spec §5.3). Every peer entry was
    /// made by one of those, and removal keeps the entry.
    fn was_member(&self, creator: &PeerId) -> bool {
        self.peers.contains_key(creator)
    }

    /// Inserts `event` now if it can be, with any held ancestors it needs (spec §5.3 rule b),
    /// or holds it.
    fn place(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        event: Event<T>,
    ) -> Result<Placed, Error> {
        let missing: Vec<EventHash> = [event.cause().self_parent(), event.cause().other_parent()]
            .into_iter()
            .flatten()
            .filter(|parent| !self.graph.contains(parent))
            .copied()
            .collect();
        if !self.is_permitted(event.creator()) {
            self.hold(step, sender, event, missing);
            return Ok(Placed::Held);
        }
        if !missing.is_empty() {
            // Rule (b) applies only when the held ancestry reaches the graph; otherwise
            // the event waits, in O(1).
            if !missing.iter().all(|parent| self.held.is_grounded(parent)) {
                self.hold(step, sender, event, missing);
                return Ok(Placed::Held);
            }
            for hash in self.held_ancestors(&missing) {
                if let Some(held) = self.held.take(&hash)
                    && let Placed::Rejected = self.insert_now(step, held.sender, held.event)?
                {
                    return Ok(Placed::Rejected);
                }
            }
            // Inserting the ancestors may have decided a removal of this creator: check
            // everything again (the parents are now present, so this does not recurse
            // further).
            if missing.iter().all(|parent| self.graph.contains(parent)) {
                return self.place(step, sender, event);
            }
            self.hold(step, sender, event, missing);
            return Ok(Placed::Held);
        }
        self.insert_now(step, sender, event)
    }

    /// The held events that supply `missing` (all held and grounded), parents first.
    fn held_ancestors(&self, missing: &[EventHash]) -> Vec<EventHash> {
        let mut needed: BTreeMap<EventHash, &Event<T>> = BTreeMap::new();
        let mut stack: Vec<EventHash> = missing.to_vec();
        while let Some(hash) = stack.pop() {
            if self.graph.contains(&hash) || needed.contains_key(&hash) {
                continue;
            }
            if let Some(event) = self.held.get(&hash) {
                needed.insert(hash, event);
                stack.extend(parents_of(event));
            }
        }
        let events: Vec<&Event<T>> = needed.into_values().collect();
        topological(&self.graph, &events)
            .into_iter()
            .map(|i| *events[i].hash())
            .collect()
    }

    fn hold(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        event: Event<T>,
        missing: Vec<EventHash>,
    ) {
        tracing::debug!(hash = %event.hash(), creator = %event.creator(), "holding event");
        let eligible = self.was_member(event.creator());
        // The encoded size plus what holding it costs beyond that (an encoding error cannot
        // happen for an event that was decoded or signed; count it as too large to hold).
        let bytes = encoding::encoded_len(event.packed()).map_or(usize::MAX, |len| {
            len.saturating_add(future::HELD_OVERHEAD_BYTES)
        });
        let limits = future::Limits {
            events_per_sender: self.config.max_future_events_per_peer,
            events_total: self.config.max_future_events_total,
            bytes_per_sender: self.config.max_future_bytes_per_peer,
            bytes_total: self.config.max_future_bytes_total,
        };
        let evicted = self
            .held
            .hold(sender, event, missing, eligible, bytes, limits);
        for dropped in evicted {
            step.fault(
                dropped.sender,
                Some(*dropped.event.creator()),
                FaultKind::BufferOverflow,
            );
        }
    }

    /// Inserts the held events that became insertable, until none is (spec §4.4, §5.3).
    /// Only events whose missing parent arrived or whose creator became permitted are
    /// looked at; those still not insertable are held again.
    fn release_held(&mut self, step: &mut Step<T>) -> Result<(), Error> {
        loop {
            if self.removed {
                return Ok(());
            }
            let batch = self.held.take_candidates();
            if batch.is_empty() {
                return Ok(());
            }
            let events: Vec<&Event<T>> = batch.iter().map(|h| &h.event).collect();
            let order = topological(&self.graph, &events);
            let mut slots: Vec<Option<Held<T>>> = batch.into_iter().map(Some).collect();
            let mut in_order = vec![false; slots.len()];
            for &i in &order {
                in_order[i] = true;
            }
            let ordered: Vec<usize> = order
                .iter()
                .copied()
                .chain((0..slots.len()).filter(|&i| !in_order[i]))
                .collect();
            for i in ordered {
                let Some(held) = slots[i].take() else {
                    continue;
                };
                if self.graph.contains(held.event.hash()) {
                    continue;
                }
                let _ = self.place(step, held.sender, held.event)?;
            }
        }
    }

    /// Inserts a verified event whose parents are present and evaluates it.
    fn insert_now(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        event: Event<T>,
    ) -> Result<Placed, Error> {
        let creator = *event.creator();
        if let Cause::Observation { self_parent, .. } = event.cause()
            && let Some(parent) = self.graph.index_of(self_parent)
            && self.graph.node(parent).vote_run() >= self.config.max_vote_run
        {
            step.fault(sender, Some(creator), FaultKind::VoteRunTooLong);
            return Ok(Placed::Rejected);
        }
        let packed = event.packed().clone();
        let hash = *event.hash();
        let inserted = match self.graph.insert(event) {
            Ok(inserted) => inserted,
            Err(error) => {
                step.fault(sender, Some(creator), FaultKind::InvalidParents(error));
                return Ok(Placed::Rejected);
            }
        };
        let Inserted::New { index, fork } = inserted else {
            return Ok(Placed::Inserted);
        };
        if let Some(fork) = fork
            && fork.creator != self.our_id
        {
            step.fault(
                sender,
                Some(fork.creator),
                FaultKind::Fork { index: fork.index },
            );
        }
        step.persist.push(packed);
        self.held.parent_arrived(&hash);
        if creator != self.our_id
            && let Some(PeerState::Present(flags)) = self.peers.get_mut(&creator)
        {
            *flags = *flags | PeerFlags::RECV;
        }
        self.process(step, index)?;
        Ok(Placed::Inserted)
    }

    /// Evaluates a newly inserted event and runs any decision cascade (spec §6.2, §8.7).
    fn process(&mut self, step: &mut Step<T>, index: EventIndex) -> Result<(), Error> {
        if self.removed {
            return Ok(());
        }
        let mut decision = self.elections.on_insert(&self.graph, index)?;
        while let Some(decided) = decision {
            let voters = self.apply_decision(step, &decided)?;
            if self.removed {
                return Ok(());
            }
            decision = self.elections.start_next_election(&self.graph, voters)?;
        }
        Ok(())
    }

    /// Turns a decision into blocks and applies its membership changes (spec §5.4, §8.3).
    fn apply_decision(
        &mut self,
        step: &mut Step<T>,
        decision: &Decision,
    ) -> Result<VoterSet, Error> {
        let mut voters: BTreeSet<PeerId> = decision.voters.iter().copied().collect();
        let mut position = 0u32;
        tracing::debug!(
            election = decision.election,
            keys = decision.keys.len(),
            "decided"
        );
        for (i, votes) in decision.votes.iter().enumerate() {
            let vote_of = |at: EventIndex| {
                let node = self.graph.node(at);
                node.event()
                    .vote()
                    .map(|vote| (*self.graph.peer_id(node.creator()), vote))
            };
            let proofs: Vec<_> = votes
                .iter()
                .filter_map(|&at| vote_of(at))
                .map(|(voter, vote)| vote.proof(voter))
                .collect();
            let block_payload = votes.first().and_then(|&at| vote_of(at)).map(|(_, v)| v);
            if let Some(vote) = block_payload
                && !vote.observation.is_internal()
            {
                step.blocks.push(Block {
                    payload: vote.observation.clone(),
                    proofs,
                    sequence: self.next_sequence,
                    election: decision.election,
                    position,
                });
                self.next_sequence += 1;
                position += 1;
            }
            let change = decision
                .first_votes
                .get(i)
                .copied()
                .flatten()
                .and_then(vote_of)
                .and_then(|(_, vote)| match &vote.observation {
                    Observation::Add { peer_id, .. } => Some((true, *peer_id)),
                    Observation::Remove { peer_id, .. } => Some((false, *peer_id)),
                    Observation::Accusation { offender, .. } => Some((false, *offender)),
                    _ => None,
                });
            match change {
                Some((true, peer)) => self.apply_add(&mut voters, peer),
                Some((false, peer)) => self.apply_remove(&mut voters, peer, decision.at),
                None => {}
            }
        }
        for block in step.blocks.iter().rev().take(position as usize).rev() {
            tracing::info!(
                sequence = block.sequence,
                election = block.election,
                "block"
            );
        }
        let mut set = Vec::with_capacity(voters.len());
        for voter in voters {
            set.push((voter, self.graph.register_peer(voter)?));
        }
        Ok(VoterSet::new(set))
    }

    fn apply_add(&mut self, voters: &mut BTreeSet<PeerId>, peer: PeerId) {
        if voters.contains(&peer) || matches!(self.peers.get(&peer), Some(PeerState::Removed(_))) {
            return;
        }
        let everyone_receives = voters
            .iter()
            .filter(|v| **v != self.our_id && **v != peer)
            .all(|v| self.flags(v).contains(PeerFlags::RECV));
        let mut flags = self.flags(&peer) | PeerFlags::VOTE | PeerFlags::SEND;
        if everyone_receives {
            flags = flags | PeerFlags::RECV;
        }
        self.peers.insert(peer, PeerState::Present(flags));
        self.held.creator_permitted(&peer);
        voters.insert(peer);
    }

    fn apply_remove(&mut self, voters: &mut BTreeSet<PeerId>, peer: PeerId, at: EventIndex) {
        // Removing a key that never was a member changes nothing: it must not become a
        // former member, whose events rule (b) of spec §5.3 would let in.
        if matches!(self.peers.get(&peer), Some(PeerState::Removed(_)) | None) {
            return;
        }
        self.peers.insert(peer, PeerState::Removed(at));
        voters.remove(&peer);
        if peer == self.our_id {
            tracing::info!("we have been removed; stopping");
            self.removed = true;
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
        self.our_votes.push((key, observation));
        Ok(())
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
                self.elections.coin_mut().take_outgoing()
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
        Ok(at)
    }

    /// Creates our sync event, then the request or response carrying every event `peer`
    /// may lack (the new sync event last).
    fn sync_and_send(
        &mut self,
        step: &mut Step<T>,
        peer: PeerId,
        request: bool,
        cause: impl FnOnce(EventHash) -> Cause<T>,
    ) -> Result<(), Error> {
        self.create_own(step, cause)?;
        self.release_held(step)?;
        let events = self.sent.select(&self.graph, &self.our_id, peer);
        let messages =
            sync::messages(&self.graph, peer, &events, request, self.config.wire_limits)?;
        step.send.extend(messages);
        Ok(())
    }

    /// The consensus mode.
    pub fn consensus_mode(&self) -> ConsensusMode {
        self.config.consensus_mode
    }
}

fn parents_of<T>(event: &Event<T>) -> impl Iterator<Item = EventHash> + '_ {
    [event.cause().self_parent(), event.cause().other_parent()]
        .into_iter()
        .flatten()
        .copied()
}

/// Indices of `events` in a topological order (parents first), ties broken by
/// `(creator, index, hash)` (spec §5.3). Events with a parent neither in `graph` nor among
/// `events` are left out.
fn topological<T>(graph: &Graph<T>, events: &[&Event<T>]) -> Vec<usize> {
    let position: BTreeMap<EventHash, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (*e.hash(), i))
        .collect();
    let mut pending_parents = vec![0usize; events.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    let mut blocked = vec![false; events.len()];
    for (i, event) in events.iter().enumerate() {
        for parent in parents_of(event) {
            if graph.contains(&parent) {
                continue;
            }
            match position.get(&parent) {
                Some(&p) => {
                    pending_parents[i] += 1;
                    children[p].push(i);
                }
                None => blocked[i] = true,
            }
        }
    }
    let key = |i: usize| {
        (
            *events[i].creator(),
            events[i].index(),
            *events[i].hash(),
            i,
        )
    };
    let mut ready: BTreeSet<(PeerId, u64, EventHash, usize)> = (0..events.len())
        .filter(|&i| pending_parents[i] == 0 && !blocked[i])
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(events.len());
    while let Some(next) = ready.pop_first() {
        let i = next.3;
        order.push(i);
        for &child in &children[i] {
            pending_parents[child] -= 1;
            if pending_parents[child] == 0 && !blocked[child] {
                ready.insert(key(child));
            }
        }
    }
    order
}
