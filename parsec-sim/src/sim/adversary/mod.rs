//! Adversary peers: members that misbehave on purpose.
//!
//! # How it works
//!
//! An adversary other than [`AdversaryKind::NeverGossip`] is a *puppet*: it writes its own
//! event chain by hand instead of letting an engine do it, so it can do what an honest
//! engine never does (fork, vote twice). To know the graph it gossips from, it keeps an
//! engine of its own and feeds it every event it creates or receives through
//! [`Parsec::replay_event`], the replay path that also accepts events signed with the
//! engine's own key. Between attacks a puppet follows the sync protocol like an honest peer
//! (`Requesting`, `Request`, `Response`, sending each peer what it lacks), so the honest
//! peers keep talking to it and its attacks reach deep into their graphs.
//!
//! Each attack is an [`Act`] chosen in advance by the schedule, with its targets, so a seed
//! fixes every attack:
//!
//! * [`Act::Fork`]: two events with one self-parent, each sent to a different peer (each
//!   branch optionally led by a different vote);
//! * [`Act::DoubleVote`]: a second vote event for an observation it already voted;
//! * [`Act::Replay`]: a message it sent or received earlier, sent again to some peer;
//! * [`Act::BadSignature`]: a new event whose signature does not verify, optionally in the
//!   name of another peer;
//! * [`Act::UnknownParents`]: a validly signed event whose parents nobody holds;
//! * [`Act::Oversized`]: bytes over the size limit, a header claiming too many events, or
//!   undecodable bytes;
//! * [`Act::SplitFork`]: a fork whose second branch goes, as bare `Events` that nothing of
//!   the recipients builds on, to a subset of the peers, before they see the first branch;
//!   the puppet then continues on the first branch and never sends the second again
//!   (variants: a vote on either branch, the fork right after its `Initial` event);
//! * [`Act::MadeUpCreators`]: events by keys that never were members, with an event of its
//!   own built on them on a side branch;
//! * [`Act::Flood`]: large votes held behind a parent nobody has;
//! * [`Act::ManyForks`]: many events in one slot, one to each peer in turn, continuing on
//!   one of them (repeated, thousands of forks).
//!
//! A never-gossiping adversary runs no engine at all: it never sends anything and drops
//! everything it receives.

use std::collections::{BTreeSet, VecDeque};

use parsec_core::sync::{self, Answered, MessageKind, Reply, SyncKind};
use parsec_core::{Config, Parsec};
use parsec_graph::{
    Cause, EventContent, EventHash, EventIndex, Observation, PackedEvent, PeerId, SecretKey,
    Signature, Vote, WireMessage, wire,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::network::Engine;

mod attacks;

/// How an adversary misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdversaryKind {
    /// Never sends anything, drops everything (a member that never came up).
    NeverGossip,
    /// Forks its chain: two events with one self-parent, sent to different peers.
    Fork,
    /// Votes for observations it already voted.
    DoubleVote,
    /// Sends old messages again.
    Replay,
    /// Sends events whose signature does not verify.
    BadSignature,
    /// Sends events whose parents nobody holds.
    UnknownParents,
    /// Sends messages over the limits, or undecodable bytes.
    Oversized,
    /// Forks and shows the second branch to some peers only, as bare events.
    SplitFork,
    /// Sends events by made-up keys.
    MadeUpCreators,
    /// Floods the future buffer with large held votes.
    Flood,
    /// Forks many times.
    ManyForks,
}

impl AdversaryKind {
    /// Every kind.
    pub const ALL: [AdversaryKind; 11] = [
        AdversaryKind::NeverGossip,
        AdversaryKind::Fork,
        AdversaryKind::DoubleVote,
        AdversaryKind::Replay,
        AdversaryKind::BadSignature,
        AdversaryKind::UnknownParents,
        AdversaryKind::Oversized,
        AdversaryKind::SplitFork,
        AdversaryKind::MadeUpCreators,
        AdversaryKind::Flood,
        AdversaryKind::ManyForks,
    ];

    /// Whether this adversary never sends anything.
    pub fn is_silent(self) -> bool {
        self == AdversaryKind::NeverGossip
    }
}

/// How an oversized or broken message is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversize {
    /// One byte more than the recipient's `max_message_bytes`.
    TooLarge,
    /// A header claiming one event more than `max_events_per_message`.
    TooManyEvents,
    /// Bytes that decode to nothing.
    Garbage,
}

/// One attack, with its targets (peer numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// Two events with one self-parent: a `Requesting` to each target, each target sent
    /// only its own branch. With `votes`, each branch starts with a different vote.
    Fork {
        /// The two recipients.
        to: [usize; 2],
        /// Whether each branch starts with a vote of its own.
        votes: bool,
    },
    /// A second vote event for an observation already voted (or two for a new one).
    DoubleVote,
    /// Sends again an old message (the `pick`-th of those remembered, modulo their number).
    Replay {
        /// The recipient.
        to: usize,
        /// Which remembered message.
        pick: usize,
    },
    /// A new event whose signature does not verify, signed in the name of `impersonate`
    /// (or its own).
    BadSignature {
        /// The recipient.
        to: usize,
        /// Whose name the event claims.
        impersonate: Option<usize>,
    },
    /// A validly signed event whose parents nobody holds.
    UnknownParents {
        /// The recipient.
        to: usize,
    },
    /// A message over the limits or undecodable.
    Oversized {
        /// The recipient.
        to: usize,
        /// How.
        how: Oversize,
    },
    /// A fork whose second branch only `hidden_to` receive, first and as bare `Events`;
    /// the first branch goes to `to` as a request.
    SplitFork {
        /// The recipient of the first branch.
        to: usize,
        /// The peers shown the second branch.
        hidden_to: Vec<usize>,
        /// Whether each branch starts with a vote of its own.
        votes: [bool; 2],
        /// Fork at index 1, on the `Initial` event (before the Genesis vote), instead of
        /// at the tip.
        at_initial: bool,
    },
    /// Events by `creators` made-up keys, sent to `to` with an event of the puppet's own
    /// built on them (a side branch).
    MadeUpCreators {
        /// The recipient.
        to: usize,
        /// How many made-up keys.
        creators: usize,
    },
    /// `events` votes of `bytes` bytes each, held behind a parent nobody has.
    Flood {
        /// The recipient.
        to: usize,
        /// How many votes.
        events: usize,
        /// Payload bytes of each.
        bytes: usize,
    },
    /// `forks` events in the slot after its tip, each sent to a peer in turn; the puppet
    /// continues on the first.
    ManyForks {
        /// How many events in the slot.
        forks: usize,
    },
}

impl Act {
    /// An attack of `kind` by `peer` among `peers` peers, targets drawn from `rng`.
    pub(crate) fn random(
        kind: AdversaryKind,
        peer: usize,
        peers: usize,
        rng: &mut ChaCha8Rng,
    ) -> Act {
        let other = |rng: &mut ChaCha8Rng| {
            if peers < 2 {
                return peer;
            }
            let mut to = rng.random_range(0..peers - 1);
            if to >= peer {
                to += 1;
            }
            to
        };
        match kind {
            AdversaryKind::NeverGossip | AdversaryKind::DoubleVote => Act::DoubleVote,
            AdversaryKind::Fork => {
                let a = other(rng);
                let mut b = other(rng);
                if peers > 2 {
                    while b == a {
                        b = other(rng);
                    }
                }
                Act::Fork {
                    to: [a, b],
                    votes: rng.random_bool(0.5),
                }
            }
            AdversaryKind::Replay => Act::Replay {
                to: other(rng),
                pick: rng.random_range(0..usize::MAX),
            },
            AdversaryKind::BadSignature => Act::BadSignature {
                to: other(rng),
                impersonate: rng
                    .random_bool(0.5)
                    .then(|| rng.random_range(0..peers.max(1))),
            },
            AdversaryKind::UnknownParents => Act::UnknownParents { to: other(rng) },
            AdversaryKind::Oversized => Act::Oversized {
                to: other(rng),
                how: match rng.random_range(0..3) {
                    0 => Oversize::TooLarge,
                    1 => Oversize::TooManyEvents,
                    _ => Oversize::Garbage,
                },
            },
            AdversaryKind::SplitFork => {
                let to = other(rng);
                let hidden_to: Vec<usize> = (0..peers)
                    .filter(|&p| p != peer && p != to && rng.random_bool(0.5))
                    .collect();
                Act::SplitFork {
                    to,
                    hidden_to,
                    votes: [rng.random_bool(0.5), rng.random_bool(0.5)],
                    at_initial: rng.random_bool(0.2),
                }
            }
            AdversaryKind::MadeUpCreators => Act::MadeUpCreators {
                to: other(rng),
                creators: rng.random_range(1..=64),
            },
            AdversaryKind::Flood => Act::Flood {
                to: other(rng),
                events: rng.random_range(1..=32),
                bytes: rng.random_range(1..=64) << 10,
            },
            AdversaryKind::ManyForks => Act::ManyForks {
                forks: rng.random_range(2..=8),
            },
        }
    }
}

/// Why a puppet cannot go on (its engine failed; the puppet then stops).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PuppetError {
    /// Its own event could not be made.
    #[error("cannot sign an event: {0}")]
    Sign(#[from] parsec_graph::EventError),
    /// Its engine refused an event.
    #[error("its engine failed: {0}")]
    Engine(#[from] parsec_core::Error),
    /// A message could not be encoded.
    #[error("cannot encode a message: {0}")]
    Wire(#[from] parsec_graph::WireError),
    /// Its engine's genesis created no event to build on.
    #[error("its genesis created no event")]
    NoGenesisEvent,
}

/// Messages an adversary sends: recipient and bytes.
pub(crate) type Sends = Vec<(PeerId, Vec<u8>)>;

/// How many old messages a puppet remembers for replays.
const REMEMBERED: usize = 32;

/// An adversary that writes its own chain (see the module docs).
#[derive(Debug)]
pub(crate) struct Puppet {
    key: SecretKey,
    id: PeerId,
    config: Config,
    engine: Engine,
    tip: EventHash,
    next_index: u64,
    answered: Answered,
    votes: Vec<Observation<String>>,
    remembered: VecDeque<Vec<u8>>,
    forged: u64,
    /// Its `Initial` event.
    initial: EventHash,
    /// Branches shown only to some peers: never sent again.
    hidden: BTreeSet<EventHash>,
    /// Events it created, for statistics.
    pub(crate) created: u64,
}

impl Puppet {
    /// A puppet member with `key`; returns it with the observations it voted (its genesis).
    pub(crate) fn new(
        key: SecretKey,
        config: Config,
    ) -> Result<(Puppet, Vec<Observation<String>>), PuppetError> {
        let (engine, step) = Parsec::new(key.clone(), config.clone())?;
        let mut votes = Vec::new();
        let mut tip = None;
        let mut initial = None;
        for packed in step.inserted() {
            if packed.content.index == 0 {
                initial = Some(packed.hash().map_err(parsec_graph::EventError::from)?);
            }
            if let Some(vote) = packed.content.cause.vote() {
                votes.push(vote.observation.clone());
            }
            tip = Some((
                packed.hash().map_err(parsec_graph::EventError::from)?,
                packed.content.index,
            ));
        }
        let missing = || PuppetError::NoGenesisEvent;
        let (tip, last_index) = tip.ok_or_else(missing)?;
        let initial = initial.ok_or_else(missing)?;
        let id = key.peer_id();
        Ok((
            Puppet {
                key,
                id,
                config,
                engine,
                tip,
                next_index: last_index + 1,
                answered: Answered::default(),
                votes: votes.clone(),
                remembered: VecDeque::new(),
                forged: 0,
                initial,
                hidden: BTreeSet::new(),
                created: step.persist.len() as u64,
            },
            votes,
        ))
    }

    /// The engine that holds what the puppet knows.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Signs an event at `index` on `self_parent` and feeds it to the puppet's engine.
    fn create_at(
        &mut self,
        self_parent: EventHash,
        index: u64,
        cause: impl FnOnce(EventHash) -> Cause<String>,
    ) -> Result<EventHash, PuppetError> {
        let event = EventContent {
            creator: self.id,
            index,
            cause: cause(self_parent),
            coin_shares: Vec::new(),
        }
        .sign(&self.key, &self.config.event_limits)?;
        let hash = *event.hash();
        let _ = self.engine.replay_event(event.into_packed())?;
        self.created += 1;
        Ok(hash)
    }

    /// Signs our next event on our tip.
    fn create(
        &mut self,
        cause: impl FnOnce(EventHash) -> Cause<String>,
    ) -> Result<EventHash, PuppetError> {
        let hash = self.create_at(self.tip, self.next_index, cause)?;
        self.tip = hash;
        self.next_index += 1;
        Ok(hash)
    }

    /// Votes `observation` (whether or not it did before). Returns what it voted.
    pub(crate) fn vote(
        &mut self,
        observation: Observation<String>,
    ) -> Result<Observation<String>, PuppetError> {
        let vote = self.sign_vote(observation.clone())?;
        self.create(|self_parent| Cause::Observation {
            self_parent,
            vote: Box::new(vote),
        })?;
        self.votes.push(observation.clone());
        Ok(observation)
    }

    fn sign_vote(&self, observation: Observation<String>) -> Result<Vote<String>, PuppetError> {
        Vote::new(observation, &self.key)
            .map_err(|e| PuppetError::Sign(parsec_graph::EventError::from(e)))
    }

    /// Every event `to` may lack, except `exclude` and the hidden branches, packed as an
    /// honest engine packs them, the last message of `kind`.
    fn messages(
        &self,
        to: PeerId,
        kind: MessageKind,
        exclude: &BTreeSet<EventHash>,
    ) -> Result<Sends, PuppetError> {
        let graph = self.engine.graph();
        let events: Vec<EventIndex> = graph
            .events_to_send(&to)
            .into_iter()
            .filter(|&at| {
                let hash = graph.node(at).hash();
                !exclude.contains(hash) && !self.hidden.contains(hash)
            })
            .collect();
        let mut sends = Vec::new();
        for out in sync::messages(graph, to, &events, kind, self.config.wire_limits)? {
            sends.push((to, wire::encode(&out.message, &self.config.wire_limits)?));
        }
        Ok(sends)
    }

    /// Starts a sync with `to`, like an honest peer.
    pub(crate) fn gossip(&mut self, to: PeerId) -> Result<Sends, PuppetError> {
        self.create(|self_parent| Cause::Requesting {
            self_parent,
            recipient: to,
        })?;
        let sends = self.messages(to, MessageKind::Request, &BTreeSet::new())?;
        self.remember(&sends);
        Ok(sends)
    }

    fn remember(&mut self, sends: &Sends) {
        for (_, bytes) in sends {
            self.remember_bytes(bytes);
        }
    }

    fn remember_bytes(&mut self, bytes: &[u8]) {
        if self.remembered.len() == REMEMBERED {
            self.remembered.pop_front();
        }
        self.remembered.push_back(bytes.to_vec());
    }

    /// Handles a message from `from`, answering a request like an honest peer.
    pub(crate) fn receive(&mut self, from: PeerId, bytes: &[u8]) -> Result<Sends, PuppetError> {
        self.remember_bytes(bytes);
        let Ok(message) = wire::decode::<String>(bytes, &self.config.wire_limits) else {
            return Ok(Vec::new());
        };
        let kind = match message {
            WireMessage::Request { .. } => Some(SyncKind::Request),
            WireMessage::Response { .. } => Some(SyncKind::Response),
            WireMessage::Events { .. } => None,
        };
        let events = message.into_events();
        let last = events.last().and_then(|e| e.hash().ok());
        for event in events {
            let _ = self.engine.replay_event(event)?;
        }
        let (Some(kind), Some(last)) = (kind, last) else {
            return Ok(Vec::new());
        };
        let graph = self.engine.graph();
        let Some(at) = graph.index_of(&last) else {
            return Ok(Vec::new());
        };
        match self.answered.reply(graph, kind, at, &from, &self.id) {
            Reply::Answer { other_parent } => {
                self.create(|self_parent| Cause::Request {
                    self_parent,
                    other_parent,
                })?;
                let sends = self.messages(from, MessageKind::Response, &BTreeSet::new())?;
                self.remember(&sends);
                Ok(sends)
            }
            Reply::Record { other_parent } => {
                self.create(|self_parent| Cause::Response {
                    self_parent,
                    other_parent,
                })?;
                Ok(Vec::new())
            }
            Reply::Invalid | Reply::AlreadyAnswered => Ok(Vec::new()),
        }
    }

    fn fresh_payload(&mut self, what: &str) -> Observation<String> {
        self.forged += 1;
        Observation::OpaquePayload(format!("{what}-{}-{}", &self.id.to_string(), self.forged))
    }

    /// Carries out `act`; `ids` maps peer numbers to identities. Returns the messages to
    /// send and the observations it voted.
    pub(crate) fn act(
        &mut self,
        act: &Act,
        ids: &[PeerId],
    ) -> Result<(Sends, Vec<Observation<String>>), PuppetError> {
        let id_of = |peer: usize| ids.get(peer).copied();
        let mut voted = Vec::new();
        let sends = match act {
            Act::Fork { to, votes } => {
                let (Some(a), Some(b)) = (id_of(to[0]), id_of(to[1])) else {
                    return Ok((Vec::new(), voted));
                };
                let base = (self.tip, self.next_index);
                let mut branches: Vec<(BTreeSet<EventHash>, EventHash, u64)> = Vec::new();
                for recipient in [a, b] {
                    let (mut parent, mut index) = base;
                    let mut members = BTreeSet::new();
                    if *votes {
                        let observation = self.fresh_payload("fork");
                        let vote = self.sign_vote(observation.clone())?;
                        parent =
                            self.create_at(parent, index, |self_parent| Cause::Observation {
                                self_parent,
                                vote: Box::new(vote),
                            })?;
                        members.insert(parent);
                        index += 1;
                        self.votes.push(observation.clone());
                        voted.push(observation);
                    }
                    parent = self.create_at(parent, index, |self_parent| Cause::Requesting {
                        self_parent,
                        recipient,
                    })?;
                    members.insert(parent);
                    branches.push((members, parent, index + 1));
                }
                let mut sends = self.messages(a, MessageKind::Request, &branches[1].0)?;
                sends.extend(self.messages(b, MessageKind::Request, &branches[0].0)?);
                self.tip = branches[0].1;
                self.next_index = branches[0].2;
                sends
            }
            Act::DoubleVote => {
                let again = self.votes.iter().rev().find(|o| o.is_opaque()).cloned();
                let observation = match again {
                    Some(observation) => observation,
                    None => {
                        let fresh = self.fresh_payload("double");
                        voted.push(self.vote(fresh.clone())?);
                        fresh
                    }
                };
                voted.push(self.vote(observation)?);
                Vec::new()
            }
            Act::Replay { to, pick } => {
                let Some(to) = id_of(*to).filter(|_| !self.remembered.is_empty()) else {
                    return Ok((Vec::new(), voted));
                };
                let bytes = self.remembered[pick % self.remembered.len()].clone();
                vec![(to, bytes)]
            }
            Act::BadSignature { to, impersonate } => {
                let Some(to) = id_of(*to) else {
                    return Ok((Vec::new(), voted));
                };
                let creator = impersonate.and_then(id_of).unwrap_or(self.id);
                self.forged += 1;
                let content = EventContent::<String> {
                    creator,
                    index: self.next_index,
                    cause: Cause::Requesting {
                        self_parent: self.tip,
                        recipient: to,
                    },
                    coin_shares: Vec::new(),
                };
                let bytes = content
                    .signing_bytes()
                    .map_err(|e| PuppetError::Sign(parsec_graph::EventError::from(e)))?;
                let mut signature = *self.key.sign(&bytes).as_bytes();
                signature[(self.forged % 64) as usize] ^= 0x01;
                let event = PackedEvent {
                    content,
                    signature: Signature::from_bytes(signature),
                };
                let message = WireMessage::Request {
                    events: vec![event],
                };
                vec![(to, wire::encode(&message, &self.config.wire_limits)?)]
            }
            Act::UnknownParents { to } => {
                let Some(to) = id_of(*to) else {
                    return Ok((Vec::new(), voted));
                };
                self.forged += 1;
                let nowhere = |salt: u8| {
                    let mut bytes = [salt; 32];
                    bytes[..8].copy_from_slice(&self.forged.to_le_bytes());
                    EventHash::from_bytes(bytes)
                };
                let event = EventContent::<String> {
                    creator: self.id,
                    // Far ahead of its chain, so it can never collide with a real event.
                    index: self.next_index + 1_000_000 + self.forged,
                    cause: Cause::Request {
                        self_parent: nowhere(0xa5),
                        other_parent: nowhere(0x5a),
                    },
                    coin_shares: Vec::new(),
                }
                .sign(&self.key, &self.config.event_limits)?;
                let message = WireMessage::Request {
                    events: vec![event.into_packed()],
                };
                vec![(to, wire::encode(&message, &self.config.wire_limits)?)]
            }
            Act::SplitFork {
                to,
                hidden_to,
                votes,
                at_initial,
            } => {
                let (Some(to), hidden_to) = (
                    id_of(*to),
                    hidden_to.iter().filter_map(|&p| id_of(p)).collect(),
                ) else {
                    return Ok((Vec::new(), voted));
                };
                self.split_fork(to, hidden_to, *votes, *at_initial, &mut voted)?
            }
            Act::MadeUpCreators { to, creators } => {
                let Some(to) = id_of(*to) else {
                    return Ok((Vec::new(), voted));
                };
                self.made_up_creators(to, *creators)?
            }
            Act::Flood { to, events, bytes } => {
                let Some(to) = id_of(*to) else {
                    return Ok((Vec::new(), voted));
                };
                self.flood(to, *events, *bytes)?
            }
            Act::ManyForks { forks } => self.many_forks(*forks, ids)?,
            Act::Oversized { to, how } => {
                let Some(to) = id_of(*to) else {
                    return Ok((Vec::new(), voted));
                };
                let limits = self.config.wire_limits;
                let bytes = match how {
                    Oversize::TooLarge => vec![0u8; limits.max_message_bytes + 1],
                    Oversize::TooManyEvents => {
                        let mut bytes = 0u32.to_le_bytes().to_vec();
                        bytes.extend((limits.max_events_per_message as u64 + 1).to_le_bytes());
                        bytes
                    }
                    Oversize::Garbage => {
                        let mut bytes = 7u32.to_le_bytes().to_vec();
                        bytes.extend(1u64.to_le_bytes());
                        bytes.extend([0xff; 24]);
                        bytes
                    }
                };
                vec![(to, bytes)]
            }
        };
        Ok((sends, voted))
    }
}
