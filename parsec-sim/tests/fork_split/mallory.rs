//! M, the forking member: it writes its own chain and forks exactly once, as the test asks.

use std::collections::BTreeSet;

use parsec_coin::ParityCoin;
use parsec_core::sync::{Answered, Reply, SyncKind};
use parsec_core::{Config, Parsec};
use parsec_graph::{
    Cause, EventContent, EventHash, Observation, PackedEvent, PeerId, SecretKey, VerifiedEvents,
    Vote, WireMessage,
};

use super::{Delivery, Engine, Msg, Variant, engine_error, payload};

/// M: writes its own chain, keeps an engine that holds everything it knows (its own events
/// go in through `replay_event`), and answers like an honest peer, except for the one fork.
pub(super) struct Mallory {
    pub(super) key: SecretKey,
    pub(super) id: PeerId,
    pub(super) config: Config,
    pub(super) engine: Engine,
    pub(super) initial: EventHash,
    pub(super) tip: EventHash,
    pub(super) next_index: u64,
    pub(super) answered: Answered,
    /// The fork to make when A's next `Requesting` arrives, and who gets branch 2.
    pub(super) armed: Option<(Variant, PeerId)>,
    /// Branch 2: M never sends these itself.
    pub(super) hidden: BTreeSet<EventHash>,
    /// The last event of branch 1, once forked.
    pub(super) branch1: Option<EventHash>,
    /// Branch 2, held back for a late delivery.
    pub(super) late: Option<Vec<PackedEvent<String>>>,
}

impl Mallory {
    pub(super) fn new(
        key: SecretKey,
        config: Config,
        verified: VerifiedEvents,
    ) -> Result<Self, String> {
        let (mut engine, step) = Parsec::from_genesis(key.clone(), config.clone(), ParityCoin)
            .map_err(|e| engine_error("M", e))?;
        engine.share_verified_events(verified);
        let hashes: Vec<EventHash> = step.inserted().map(|e| e.hash().unwrap()).collect();
        let [initial, genesis_vote] = hashes[..] else {
            return Err(format!("M's genesis created {} events", hashes.len()));
        };
        Ok(Mallory {
            id: key.peer_id(),
            key,
            config,
            engine,
            initial,
            tip: genesis_vote,
            next_index: 2,
            answered: Answered::default(),
            armed: None,
            hidden: BTreeSet::new(),
            branch1: None,
            late: None,
        })
    }

    /// Signs an event at `index` on `self_parent` and feeds it to M's engine.
    pub(super) fn create_at(
        &mut self,
        self_parent: EventHash,
        index: u64,
        cause: Cause<String>,
    ) -> Result<EventHash, String> {
        debug_assert_eq!(cause.self_parent(), Some(&self_parent));
        let event = EventContent {
            creator: self.id,
            index,
            cause,
            coin_shares: Vec::new(),
        }
        .sign(&self.key, &self.config.event_limits)
        .map_err(|e| format!("M cannot sign: {e}"))?;
        let hash = *event.hash();
        let _ = self
            .engine
            .replay_event(event.into_packed())
            .map_err(|e| engine_error("M", e))?;
        Ok(hash)
    }

    /// Signs M's next event on its tip.
    pub(super) fn create(
        &mut self,
        cause: impl FnOnce(EventHash) -> Cause<String>,
    ) -> Result<(), String> {
        self.tip = self.create_at(self.tip, self.next_index, cause(self.tip))?;
        self.next_index += 1;
        Ok(())
    }

    /// A branch on `(parent, index)`: a vote for each of `votes`, then a `Request` answering
    /// `requesting`. Returns its events and its last event.
    pub(super) fn branch(
        &mut self,
        (mut parent, mut index): (EventHash, u64),
        votes: &[Observation<String>],
        requesting: EventHash,
    ) -> Result<(Vec<EventHash>, EventHash, u64), String> {
        let mut events = Vec::new();
        for observation in votes {
            let vote = Vote::new(observation.clone(), &self.key)
                .map_err(|e| format!("M cannot sign a vote: {e}"))?;
            let cause = Cause::Observation {
                self_parent: parent,
                vote: Box::new(vote),
            };
            parent = self.create_at(parent, index, cause)?;
            events.push(parent);
            index += 1;
        }
        let cause = Cause::Request {
            self_parent: parent,
            other_parent: requesting,
        };
        parent = self.create_at(parent, index, cause)?;
        events.push(parent);
        Ok((events, parent, index + 1))
    }

    /// The events `to` may lack, except `exclude`, in insertion order.
    pub(super) fn events_for(
        &self,
        to: PeerId,
        exclude: &BTreeSet<EventHash>,
    ) -> Vec<PackedEvent<String>> {
        let graph = self.engine.graph();
        graph
            .events_to_send(&to)
            .into_iter()
            .map(|at| graph.node(at))
            .filter(|node| !exclude.contains(node.hash()))
            .map(|node| node.event().packed().clone())
            .collect()
    }

    /// `events` as messages: leading chunks as `Events`, the last one made by `last`.
    pub(super) fn chunked(
        &self,
        to: PeerId,
        events: Vec<PackedEvent<String>>,
        last: fn(Vec<PackedEvent<String>>) -> Msg,
    ) -> Vec<(PeerId, Msg)> {
        let mut chunks: Vec<Vec<PackedEvent<String>>> = events
            .chunks(self.config.wire_limits.max_events_per_message)
            .map(<[_]>::to_vec)
            .collect();
        let tail = chunks.pop().unwrap_or_default();
        let mut sends: Vec<(PeerId, Msg)> = chunks
            .into_iter()
            .map(|events| (to, WireMessage::Events { events }))
            .collect();
        sends.push((to, last(tail)));
        sends
    }

    /// What an honest peer on branch 1 sends `to`: everything it may lack but branch 2.
    pub(super) fn sync_messages(&self, to: PeerId, request: bool) -> Vec<(PeerId, Msg)> {
        let events = self.events_for(to, &self.hidden);
        if request {
            self.chunked(to, events, |events| WireMessage::Request { events })
        } else {
            self.chunked(to, events, |events| WireMessage::Response { events })
        }
    }

    /// Starts a sync with `to`, like an honest peer.
    pub(super) fn gossip(&mut self, to: PeerId) -> Result<Vec<(PeerId, Msg)>, String> {
        self.create(|self_parent| Cause::Requesting {
            self_parent,
            recipient: to,
        })?;
        Ok(self.sync_messages(to, true))
    }

    /// Answers A's `requesting` on two branches (see the module docs).
    pub(super) fn fork(
        &mut self,
        variant: Variant,
        a: PeerId,
        b: PeerId,
        requesting: EventHash,
    ) -> Result<Vec<(PeerId, Msg)>, String> {
        let before = variant == Variant::BeforeGenesisVote;
        // Branch 2 first, so that branch 1's `Request` is the last event M inserted and
        // ends its response to A.
        let base2 = if before {
            (self.initial, 1)
        } else {
            (self.tip, self.next_index)
        };
        let votes2 = if variant == Variant::VotesBothWays {
            vec![payload("Q2")]
        } else {
            Vec::new()
        };
        let (branch2, _, _) = self.branch(base2, &votes2, requesting)?;
        let votes1 = if variant.votes_q() {
            vec![payload("Q")]
        } else {
            Vec::new()
        };
        // With `before`, the genesis vote (M's tip, never sent yet) opens branch 1.
        let mut branch1: BTreeSet<EventHash> = if before {
            BTreeSet::from([self.tip])
        } else {
            BTreeSet::new()
        };
        let (events1, tip, next_index) =
            self.branch((self.tip, self.next_index), &votes1, requesting)?;
        branch1.extend(events1);
        self.tip = tip;
        self.next_index = next_index;
        self.branch1 = Some(tip);
        self.hidden.extend(branch2.iter().copied());
        let mut sends = Vec::new();
        match variant.delivery() {
            Delivery::First => {
                let events = self.events_for(b, &branch1);
                sends.extend(self.chunked(b, events, |events| WireMessage::Events { events }));
            }
            Delivery::Late => {
                let graph = self.engine.graph();
                self.late = Some(
                    branch2
                        .iter()
                        .map(|h| graph.node(graph.index_of(h).unwrap()).event().packed())
                        .cloned()
                        .collect(),
                );
            }
            Delivery::Never => {}
        }
        sends.extend(self.sync_messages(a, false));
        Ok(sends)
    }

    /// Handles a message from `from`, answering a request like an honest peer (or with the
    /// armed fork).
    pub(super) fn receive(
        &mut self,
        from: PeerId,
        message: Msg,
    ) -> Result<Vec<(PeerId, Msg)>, String> {
        let kind = match message {
            WireMessage::Request { .. } => Some(SyncKind::Request),
            WireMessage::Response { .. } => Some(SyncKind::Response),
            WireMessage::Events { .. } => None,
        };
        let events = message.into_events();
        let Some(last) = events.last().map(|e| e.hash().unwrap()) else {
            return Ok(Vec::new());
        };
        for event in events {
            let _ = self
                .engine
                .replay_event(event)
                .map_err(|e| engine_error("M", e))?;
        }
        let graph = self.engine.graph();
        let Some(at) = graph.index_of(&last) else {
            return Ok(Vec::new());
        };
        let Some(kind) = kind else {
            return Ok(Vec::new());
        };
        match self.answered.reply(graph, kind, at, &from, &self.id) {
            Reply::Answer { other_parent } => {
                if let Some((variant, b)) = self.armed.take() {
                    return self.fork(variant, from, b, other_parent);
                }
                self.create(|self_parent| Cause::Request {
                    self_parent,
                    other_parent,
                })?;
                return Ok(self.sync_messages(from, false));
            }
            Reply::Record { other_parent } => {
                self.create(|self_parent| Cause::Response {
                    self_parent,
                    other_parent,
                })?;
            }
            Reply::Invalid | Reply::AlreadyAnswered => {}
        }
        Ok(Vec::new())
    }
}
