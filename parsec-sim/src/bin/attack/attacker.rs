//! The attacker M of the `attack` measurements: it signs its own chain and keeps an engine
//! to know what each peer lacks.

use std::collections::BTreeSet;

use anyhow::Context;
use parsec_coin::ParityCoin;
use parsec_core::Config;
use parsec_core::sync::{Answered, Reply, SyncKind};
use parsec_graph::{
    Cause, EventContent, EventHash, Observation, PackedEvent, PeerId, SecretKey, Vote, WireMessage,
    wire,
};
use parsec_sim::sim::peer_key;

use super::{CHUNK, Engine, FLOOD_PER_STEP, HONEST, M, PEERS};

/// Messages the attacker sends: recipient number and bytes.
pub(crate) type Sends = Vec<(usize, Vec<u8>)>;

/// The kind of the last message of a sync.
#[derive(Clone, Copy)]
pub(crate) enum Last {
    Request,
    Response,
    Events,
}

/// The misbehaving member: signs its own chain, keeps an engine to know what to send.
pub(crate) struct Attacker {
    pub(crate) key: SecretKey,
    pub(crate) id: PeerId,
    pub(crate) ids: Vec<PeerId>,
    pub(crate) config: Config,
    pub(crate) engine: Engine,
    pub(crate) tip: EventHash,
    pub(crate) next_index: u64,
    pub(crate) answered: Answered,
    /// Events of its making its engine did not insert, still to send to each peer once.
    pub(crate) pending: Vec<Vec<(EventHash, PackedEvent<String>)>>,
    /// Made-up keys so far, and the last event made by one.
    pub(crate) made_up: u64,
    pub(crate) last_made_up: Option<EventHash>,
    pub(crate) forged: u64,
    pub(crate) forks: u64,
    /// Errors its engine returned (not a finding: it is fed forks and foreign chains).
    pub(crate) engine_errors: u64,
}

impl Attacker {
    pub(crate) fn new(ids: &[PeerId], config: Config) -> anyhow::Result<Attacker> {
        let key = peer_key(M);
        let (engine, step) = Engine::from_genesis(key.clone(), config.clone(), ParityCoin)
            .context("the attacker's engine")?;
        let last = step.inserted().last().context("genesis created no event")?;
        let tip = last.hash().context("hashing its genesis event")?;
        let next_index = last.content.index + 1;
        Ok(Attacker {
            id: key.peer_id(),
            key,
            ids: ids.to_vec(),
            config,
            engine,
            tip,
            next_index,
            answered: Answered::default(),
            pending: vec![Vec::new(); PEERS],
            made_up: 0,
            last_made_up: None,
            forged: 0,
            forks: 0,
            engine_errors: 0,
        })
    }

    /// Feeds a signed event to its engine; if the engine does not insert it, queues it for
    /// every honest peer.
    pub(crate) fn record(&mut self, packed: PackedEvent<String>, hash: EventHash) {
        if self.engine.replay_event(packed.clone()).is_err() {
            self.engine_errors += 1;
        }
        if !self.engine.graph().contains(&hash) {
            for queue in &mut self.pending[..HONEST] {
                queue.push((hash, packed.clone()));
            }
        }
    }

    /// Signs an event of its own at `index` on `self_parent` and records it.
    pub(crate) fn create_at(
        &mut self,
        self_parent: EventHash,
        index: u64,
        cause: impl FnOnce(EventHash) -> Cause<String>,
    ) -> anyhow::Result<EventHash> {
        let event = EventContent {
            creator: self.id,
            index,
            cause: cause(self_parent),
            coin_shares: Vec::new(),
        }
        .sign(&self.key, &self.config.event_limits)?;
        let hash = *event.hash();
        self.record(event.into_packed(), hash);
        Ok(hash)
    }

    /// Signs its next event on its tip.
    pub(crate) fn create(
        &mut self,
        cause: impl FnOnce(EventHash) -> Cause<String>,
    ) -> anyhow::Result<()> {
        self.tip = self.create_at(self.tip, self.next_index, cause)?;
        self.next_index += 1;
        Ok(())
    }

    /// Every event `to` may lack, except `exclude`, as messages whose last is of kind
    /// `last` (leading chunks as `Events`).
    pub(crate) fn messages(
        &mut self,
        to: usize,
        last: Last,
        exclude: &BTreeSet<EventHash>,
    ) -> anyhow::Result<Sends> {
        let graph = self.engine.graph();
        let mut events: Vec<PackedEvent<String>> = graph
            .events_to_send(&self.ids[to])
            .into_iter()
            .map(|at| graph.node(at))
            .filter(|node| !exclude.contains(node.hash()))
            .map(|node| node.event().packed().clone())
            .collect();
        // Held when made, maybe inserted since (with the event of its own built on them):
        // then `events_to_send` has them already.
        let pending = std::mem::take(&mut self.pending[to]);
        events.extend(
            pending
                .into_iter()
                .filter(|(hash, _)| !graph.contains(hash))
                .map(|(_, packed)| packed),
        );
        let limits = self.config.wire_limits;
        let mut chunks: Vec<Vec<PackedEvent<String>>> = events
            .chunks(CHUNK.min(limits.max_events_per_message))
            .map(<[_]>::to_vec)
            .collect();
        let final_chunk = chunks.pop().unwrap_or_default();
        let mut sends = Vec::new();
        for events in chunks {
            sends.push((to, wire::encode(&WireMessage::Events { events }, &limits)?));
        }
        let message = match last {
            Last::Request => WireMessage::Request {
                events: final_chunk,
            },
            Last::Response => WireMessage::Response {
                events: final_chunk,
            },
            Last::Events => WireMessage::Events {
                events: final_chunk,
            },
        };
        sends.push((to, wire::encode(&message, &limits)?));
        Ok(sends)
    }

    /// Starts a sync with `to`, as an honest peer does.
    pub(crate) fn gossip(&mut self, to: usize) -> anyhow::Result<Sends> {
        let recipient = self.ids[to];
        self.create(|self_parent| Cause::Requesting {
            self_parent,
            recipient,
        })?;
        self.messages(to, Last::Request, &BTreeSet::new())
    }

    /// Handles a message from `from`, answering as an honest peer does.
    pub(crate) fn receive(&mut self, from: usize, bytes: &[u8]) -> anyhow::Result<Sends> {
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
            if self.engine.replay_event(event).is_err() {
                self.engine_errors += 1;
            }
        }
        let Some(last) = last else {
            return Ok(Vec::new());
        };
        let from_id = self.ids[from];
        let graph = self.engine.graph();
        let Some(at) = graph.index_of(&last) else {
            return Ok(Vec::new());
        };
        let Some(kind) = kind else {
            return Ok(Vec::new());
        };
        match self.answered.reply(graph, kind, at, &from_id, &self.id) {
            Reply::Answer { other_parent } => {
                self.create(|self_parent| Cause::Request {
                    self_parent,
                    other_parent,
                })?;
                return self.messages(from, Last::Response, &BTreeSet::new());
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

    /// `count` made-up keys, each with an `Initial` event and (but the very first) a
    /// `Request` on the previous key's last event; then its own next event, a `Request` on
    /// the last of them, and a normal sync to `to`.
    pub(crate) fn made_up_creators(&mut self, count: usize, to: usize) -> anyhow::Result<Sends> {
        let limits = self.config.event_limits;
        for _ in 0..count {
            self.made_up += 1;
            let mut seed = blake3::Hasher::new();
            seed.update(b"parsec-sim attack made-up key");
            seed.update(&self.made_up.to_le_bytes());
            let key = SecretKey::from_seed(*seed.finalize().as_bytes());
            let initial = EventContent::<String> {
                creator: key.peer_id(),
                index: 0,
                cause: Cause::Initial,
                coin_shares: Vec::new(),
            }
            .sign(&key, &limits)?;
            let mut last = *initial.hash();
            self.record(initial.into_packed(), last);
            if let Some(other_parent) = self.last_made_up {
                let request = EventContent::<String> {
                    creator: key.peer_id(),
                    index: 1,
                    cause: Cause::Request {
                        self_parent: last,
                        other_parent,
                    },
                    coin_shares: Vec::new(),
                }
                .sign(&key, &limits)?;
                last = *request.hash();
                self.record(request.into_packed(), last);
            }
            self.last_made_up = Some(last);
        }
        if let Some(other_parent) = self.last_made_up {
            self.create(|self_parent| Cause::Request {
                self_parent,
                other_parent,
            })?;
        }
        self.gossip(to)
    }

    /// Its normal sync to `to`, then [`FLOOD_PER_STEP`] votes of `bytes` payload bytes, on
    /// self-parents nobody has, as one `Events` message to each honest peer.
    pub(crate) fn flood(&mut self, to: usize, bytes: usize) -> anyhow::Result<Sends> {
        let mut sends = self.gossip(to)?;
        let limits = self.config.event_limits;
        let filler = "x".repeat(bytes);
        let mut events = Vec::with_capacity(FLOOD_PER_STEP);
        for _ in 0..FLOOD_PER_STEP {
            self.forged += 1;
            let mut nowhere = [0xf1; 32];
            nowhere[..8].copy_from_slice(&self.forged.to_le_bytes());
            let observation = Observation::OpaquePayload(format!("{}{filler}", self.forged));
            let vote = Vote::new(observation, &self.key)?;
            let event = EventContent::<String> {
                creator: self.id,
                // Far ahead of its chain: never its real slot.
                index: self.next_index + 2_000_000 + self.forged,
                cause: Cause::Observation {
                    self_parent: EventHash::from_bytes(nowhere),
                    vote: Box::new(vote),
                },
                coin_shares: Vec::new(),
            }
            .sign(&self.key, &limits)?;
            events.push(event.into_packed());
        }
        let bytes = wire::encode(&WireMessage::Events { events }, &self.config.wire_limits)?;
        for peer in 0..HONEST {
            sends.push((peer, bytes.clone()));
        }
        Ok(sends)
    }

    /// `extra + 1` events in its next slot on its tip: a `Requesting` to each honest peer
    /// in `order` (its sync request), then `Request` events on other peers' events as bare
    /// `Events`, each peer sent only its own; it continues on the first.
    pub(crate) fn fork(&mut self, extra: usize, order: &[usize]) -> anyhow::Result<Sends> {
        let graph = self.engine.graph();
        let others: Vec<EventHash> = graph
            .iter()
            .rev()
            .filter(|node| *graph.peer_id(node.creator()) != self.id)
            .take(extra + 1)
            .map(|node| *node.hash())
            .collect();
        let (base, index) = (self.tip, self.next_index);
        let mut members = Vec::new();
        for j in 0..=extra {
            let to = order[j % order.len()];
            if j < order.len() {
                let recipient = self.ids[to];
                let hash = self.create_at(base, index, |self_parent| Cause::Requesting {
                    self_parent,
                    recipient,
                })?;
                members.push((hash, to, Last::Request));
            } else if let Some(&other_parent) = others.get(j - order.len()) {
                let hash = self.create_at(base, index, |self_parent| Cause::Request {
                    self_parent,
                    other_parent,
                })?;
                members.push((hash, to, Last::Events));
            }
        }
        self.forks += members.len().saturating_sub(1) as u64;
        let mut sends = Vec::new();
        for &(member, to, last) in &members {
            let exclude: BTreeSet<EventHash> = members
                .iter()
                .map(|(m, _, _)| *m)
                .filter(|m| *m != member)
                .collect();
            sends.extend(self.messages(to, last, &exclude)?);
        }
        if let Some(&(first, _, _)) = members.first() {
            self.tip = first;
            self.next_index = index + 1;
        }
        Ok(sends)
    }
}
