//! The sync protocol's rules, in one place for the engine and for the hand-driven peers of
//! tests and simulations: what a received request or response asks of us and whether it
//! was answered before ([`Answered`], spec §4.4 and §4.5, step 4), how the events of a
//! sync are packed into messages ([`messages`]), and what a sync sends (spec §4.2), with a
//! memory per peer so that one member cannot make us send the same events again and again.
//!
//! # How it works
//!
//! The graph says what a peer may lack from its tip's ancestry ([`Graph::events_to_send`]).
//! Two things that ancestry cannot tell are remembered here, per peer:
//!
//! * **A silent peer.** A peer whose tip has not changed over
//!   [`SILENT_SYNCS_BEFORE_DELTAS`] of our syncs (it never answers, or is down) gets only
//!   our own events created since our last sync to it (the other members send theirs),
//!   and everything it may lack again at its
//!   [`FIRST_RESEND`]th silent sync, then after [`RESEND_GROWTH`] times as many, and so on
//!   (intervals of at most [`MAX_RESEND`]), in case a message was lost. The resends then
//!   cost a bounded amount per sync on average although each is the size of the graph:
//!   without this, a member that never answers is sent our whole graph every time.
//! * **Forked slots.** A member of a forked slot that its tip does not show is sent once,
//!   and again only when an event of the message has it as a parent (the recipient may have
//!   lost it, and cannot insert the child without it) or with a resend of everything. A
//!   peer's tip does not show the fork members it received but did not build on, nor (the
//!   graph's compaction) those at or above the creator's floor, so without this every
//!   forked slot would be sent on every sync.
//!
//! A message lost on its way to a silent peer costs a delay until the next resend.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use parsec_graph::{
    Cause, CauseKind, EventHash, EventIndex, Graph, PackedEvent, Payload, PeerId, WireLimits,
    WireMessage, wire,
};

use crate::engine::Outgoing;
use crate::error::Error;

/// Which sync message: a request, which is answered with a response, or a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// A `Request`: its last event is the sender's `Requesting` addressed to us.
    Request,
    /// A `Response`: its last event is (or follows) the sender's `Request` answering ours.
    Response,
}

/// The kind of the last message of a packed sync: leading chunks are always `Events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// The last message is a `Request`.
    Request,
    /// The last message is a `Response`.
    Response,
    /// Every message is `Events` (events to deliver, nothing to answer).
    Events,
}

impl From<SyncKind> for MessageKind {
    fn from(kind: SyncKind) -> Self {
        match kind {
            SyncKind::Request => MessageKind::Request,
            SyncKind::Response => MessageKind::Response,
        }
    }
}

/// What a received sync message asks of us (spec §4.4 and §4.5, step 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Answer the request: create a `Request` event with this other-parent (the request's
    /// last event) and send a response.
    Answer {
        /// The request's last event.
        other_parent: EventHash,
    },
    /// Record the response: create a `Response` event with this other-parent (the
    /// response's last event); nothing is sent.
    Record {
        /// The response's last event.
        other_parent: EventHash,
    },
    /// The message's last event is not the sync event it must be: a fault of the sender.
    Invalid,
    /// The request or the request a response answers was handled before: nothing to do
    /// (a duplicated or replayed message).
    AlreadyAnswered,
}

/// The sync messages already answered, so that a duplicated or replayed message is handled
/// once. Honest engines and hand-driven peers in tests share these rules.
#[derive(Clone, Debug, Default)]
pub struct Answered {
    /// `Requesting` events answered with a response.
    requests: BTreeSet<EventHash>,
    /// Our `Requesting` events whose response was recorded (by the answering `Request`).
    responses: BTreeSet<EventHash>,
    /// Our latest `Requesting` events, oldest first, so that a response is recognised
    /// after pruning dropped the request from memory.
    ours: VecDeque<EventHash>,
    ours_set: BTreeSet<EventHash>,
}

/// How many of our own `Requesting` events [`Answered`] remembers beyond the graph.
pub const REMEMBERED_REQUESTS: usize = 4096;

impl Answered {
    /// Remembers `requesting`, our new `Requesting` event.
    pub fn requested(&mut self, requesting: EventHash) {
        if self.ours_set.insert(requesting) {
            self.ours.push_back(requesting);
        }
        while self.ours.len() > REMEMBERED_REQUESTS {
            if let Some(old) = self.ours.pop_front() {
                self.ours_set.remove(&old);
            }
        }
    }

    /// What a sync message of `kind` from `sender`, whose last event `last` is inserted in
    /// `graph`, asks of `us`; remembers it as answered.
    pub fn reply<T>(
        &mut self,
        graph: &Graph<T>,
        kind: SyncKind,
        last: EventIndex,
        sender: &PeerId,
        us: &PeerId,
    ) -> Reply {
        let other_parent = *graph.node(last).hash();
        match kind {
            SyncKind::Request => {
                if !is_request_to(graph, last, sender, us) {
                    Reply::Invalid
                } else if !unpruned(graph, last) {
                    // Pruned history put back for a late child: whether we answered it
                    // was forgotten with it, so it is never answered (again).
                    Reply::AlreadyAnswered
                } else if self.requests.insert(other_parent) {
                    Reply::Answer { other_parent }
                } else {
                    Reply::AlreadyAnswered
                }
            }
            SyncKind::Response => match request_answered(graph, last, sender, us, &self.ours_set) {
                None => Reply::Invalid,
                Some(request)
                    if graph
                        .index_of(&request)
                        .is_none_or(|at| !unpruned(graph, at)) =>
                {
                    Reply::AlreadyAnswered
                }
                Some(request) if self.responses.insert(request) => Reply::Record { other_parent },
                Some(_) => Reply::AlreadyAnswered,
            },
        }
    }
}

impl Answered {
    /// Forgets the answered syncs whose events were pruned (a sync naming one is never
    /// answered again, [`Answered::reply`]), so that what it remembers stays within the
    /// pruning windows.
    pub fn forget_pruned<T>(&mut self, graph: &Graph<T>) {
        let held = |hash: &EventHash| graph.index_of(hash).is_some_and(|at| unpruned(graph, at));
        self.requests.retain(held);
        self.responses.retain(held);
    }

    /// Answered syncs remembered (for the memory figures).
    pub fn remembered(&self) -> usize {
        self.requests.len() + self.responses.len() + self.ours.len()
    }
}

/// Whether the held event at `at` was never pruned: it lies at or above its creator's
/// pruning floor (an event below it is held only when re-admitted from the store).
fn unpruned<T>(graph: &Graph<T>, at: EventIndex) -> bool {
    let node = graph.node(at);
    node.creator_index() >= graph.pruning_floor(node.creator())
}

/// Whether `last`, the inserted last event of a request from `sender`, is a `Requesting` by
/// `sender` addressed to `us`: the request we answer (spec §4.4 step 4).
pub fn is_request_to<T>(graph: &Graph<T>, last: EventIndex, sender: &PeerId, us: &PeerId) -> bool {
    let node = graph.node(last);
    *graph.peer_id(node.creator()) == *sender
        && matches!(node.event().cause(), Cause::Requesting { recipient, .. } if recipient == us)
}

/// The `Request` that a response from `sender` ending with the inserted `last` answers:
/// `last`'s nearest sync self-ancestor (itself if a sync event) must be a `Request` by
/// `sender` whose other-parent is a `Requesting` by `us` (spec §4.5 step 4).
pub fn request_answered<T>(
    graph: &Graph<T>,
    last: EventIndex,
    sender: &PeerId,
    us: &PeerId,
    our_requests: &BTreeSet<EventHash>,
) -> Option<EventHash> {
    let node = graph.node(last);
    let sync = if node.is_sync() {
        last
    } else {
        node.self_sync_parent()?
    };
    // A long chain of votes can put the nearest sync self-ancestor below what we hold.
    let request = graph.get(sync)?;
    let Cause::Request { other_parent, .. } = request.event().cause() else {
        return None;
    };
    let ours = match graph.index_of(other_parent) {
        Some(at) => {
            let requesting = graph.node(at);
            *graph.peer_id(requesting.creator()) == *us
                && requesting.kind() == CauseKind::Requesting
        }
        // Pruned from memory since: one of our latest requests, if we remember it.
        None => our_requests.contains(other_parent),
    };
    (ours && *graph.peer_id(request.creator()) == *sender).then(|| *request.hash())
}

/// Syncs to a peer whose tip does not change before we send it only what is new.
pub const SILENT_SYNCS_BEFORE_DELTAS: u32 = 2;

/// Silent syncs before the first resend to a silent peer.
pub const FIRST_RESEND: u32 = 8;

/// How much longer each interval between resends is than the previous one.
pub const RESEND_GROWTH: u32 = 4;

/// The longest interval between two resends.
pub const MAX_RESEND: u32 = 1024;

/// What we sent one peer.
#[derive(Clone, Debug, Default)]
struct Sent {
    /// Its tip in our graph at our last sync.
    tip: Option<EventIndex>,
    /// Our graph's length after that sync: everything below was sent.
    up_to: usize,
    /// Syncs since its tip last changed.
    silent_syncs: u32,
    /// The silent sync at which everything is sent again.
    next_full: u32,
    /// Members of forked slots sent since the last resend of everything.
    fork_members: BTreeSet<EventIndex>,
}

/// Per peer, what we sent it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncMemory {
    peers: BTreeMap<PeerId, Sent>,
}

impl SyncMemory {
    /// The events to send `peer` now, in insertion order (our new sync event, the last
    /// inserted, always among them), and, for a delta (our own events only), the
    /// position it starts at; what was sent is remembered.
    pub(crate) fn select<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        us: &PeerId,
        peer: PeerId,
    ) -> (Vec<EventIndex>, Option<usize>) {
        let tip = graph.peer_index(&peer).and_then(|p| graph.tip(p));
        let sent = self.peers.entry(peer).or_insert_with(|| Sent {
            next_full: FIRST_RESEND,
            ..Sent::default()
        });
        if sent.tip == tip && sent.up_to > 0 {
            sent.silent_syncs += 1;
        } else {
            sent.silent_syncs = 0;
            sent.next_full = FIRST_RESEND;
        }
        let full = sent.silent_syncs == sent.next_full;
        if full {
            sent.next_full = sent
                .next_full
                .saturating_add((sent.next_full * (RESEND_GROWTH - 1)).min(MAX_RESEND));
            sent.fork_members.clear();
        }
        let from = if sent.silent_syncs >= SILENT_SYNCS_BEFORE_DELTAS && !full {
            sent.up_to
        } else {
            0
        };
        let mut events = graph.events_to_send(&peer);
        if from > 0 {
            // Deltas carry our own new events only: every member sends its own, so a
            // silent peer is not sent each event once by every member.
            let ours = graph.peer_index(us);
            events.retain(|&at| at.get() >= from && Some(graph.node(at).creator()) == ours);
        }
        let forked = |at: EventIndex| {
            let node = graph.node(at);
            graph.is_forked_slot(node.creator(), node.creator_index())
        };
        // Only when some member was sent before is there anything to leave out (the
        // common case, no forks at all, costs one pass).
        if events
            .iter()
            .any(|&at| sent.fork_members.contains(&at) && forked(at))
        {
            // Children before parents: a forked slot's member goes the first time, and
            // again whenever an event of this message has it as a parent (the recipient
            // may have lost it, and could not insert the child without it).
            let mut needed: BTreeSet<EventIndex> = BTreeSet::new();
            let mut keep = vec![false; events.len()];
            for (i, &at) in events.iter().enumerate().rev() {
                keep[i] = !forked(at) || needed.contains(&at) || !sent.fork_members.contains(&at);
                if keep[i] {
                    let node = graph.node(at);
                    needed.extend(node.self_parent());
                    needed.extend(node.other_parent());
                }
            }
            let mut kept = keep.iter();
            events.retain(|_| kept.next().copied().unwrap_or(true));
        }
        sent.fork_members
            .extend(events.iter().copied().filter(|&at| forked(at)));
        sent.tip = tip;
        sent.up_to = graph.len();
        (events, (from > 0).then_some(from))
    }
}

/// The messages to `peer` carrying `events` (in this order), chunked within `limits`:
/// leading chunks as `Events`, the last one (ending with our sync event) as a message of
/// `kind`.
pub fn messages<T: Payload>(
    graph: &Graph<T>,
    peer: PeerId,
    events: &[EventIndex],
    kind: impl Into<MessageKind>,
    limits: WireLimits,
) -> Result<Vec<Outgoing<T>>, Error> {
    let packed = events
        .iter()
        .map(|&at| graph.node(at).event().packed().clone())
        .collect();
    chunk(peer, packed, kind.into(), limits).map_err(|e| Error::OwnEvent(e.into()))
}

/// [`messages`] for events read back from the store (catch-up): an event that cannot be
/// sized is left out and logged (a store returns only events this build encoded).
pub(crate) fn pack<T: Payload>(
    peer: PeerId,
    events: Vec<PackedEvent<T>>,
    kind: MessageKind,
    limits: WireLimits,
) -> Vec<Outgoing<T>> {
    let sized: Vec<PackedEvent<T>> = events
        .into_iter()
        .filter(|event| match wire::encoded_len(event) {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "a stored event cannot be encoded");
                false
            }
        })
        .collect();
    chunk(peer, sized, kind, limits).unwrap_or_default()
}

fn chunk<T: Payload>(
    peer: PeerId,
    events: Vec<PackedEvent<T>>,
    kind: MessageKind,
    limits: WireLimits,
) -> Result<Vec<Outgoing<T>>, parsec_graph::CodecError> {
    // Leave room for the message tag and length.
    let budget = limits.max_message_bytes.saturating_sub(16);
    let mut chunks: Vec<Vec<PackedEvent<T>>> = vec![Vec::new()];
    let mut size = 0usize;
    for event in events {
        let len = wire::encoded_len(&event)?;
        let full = chunks
            .last()
            .is_some_and(|c| c.len() >= limits.max_events_per_message);
        if full || (size + len > budget && chunks.last().is_some_and(|c| !c.is_empty())) {
            chunks.push(Vec::new());
            size = 0;
        }
        size += len;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(event);
        }
    }
    let last = chunks.len() - 1;
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, events)| Outgoing {
            to: peer,
            message: match kind {
                _ if i < last => WireMessage::Events { events },
                MessageKind::Request => WireMessage::Request { events },
                MessageKind::Response => WireMessage::Response { events },
                MessageKind::Events => WireMessage::Events { events },
            },
        })
        .collect())
}
