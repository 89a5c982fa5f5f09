//! What a sync sends (spec §4.2), with a memory per peer so that one member cannot make us
//! send the same events again and again.
//!
//! # How it works
//!
//! The graph says what a peer may lack from its tip's ancestry ([`Graph::events_to_send`]).
//! Two things that ancestry cannot tell are remembered here, per peer:
//!
//! * **A silent peer.** A peer whose tip has not changed over
//!   [`SILENT_SYNCS_BEFORE_DELTAS`] of our syncs (it never answers, or is down) gets only
//!   what we inserted since our last sync to it, and everything again every
//!   [`FULL_SYNC_INTERVAL`] syncs while it stays silent (in case a message was lost).
//!   Without this, a member that never answers is sent our whole graph every time.
//! * **Forked slots.** Members of forked slots that its tip does not show are sent once;
//!   after that only on the periodic full sync. A peer's tip does not show the fork members
//!   it received but did not build on, nor (the graph's compaction) those at or above the
//!   creator's floor, so without this every forked slot would be sent on every sync.
//!
//! Losing a message costs at most [`FULL_SYNC_INTERVAL`] syncs of delay: the recipient
//! holds what it cannot insert yet until the next full sync brings the missing parents.

use std::collections::{BTreeMap, BTreeSet};

use parsec_graph::{
    EventIndex, Graph, PackedEvent, Payload, PeerId, WireLimits, WireMessage, encoding,
};

use crate::engine::Outgoing;
use crate::error::Error;

/// Syncs to a peer whose tip does not change before we send it only what is new.
pub(crate) const SILENT_SYNCS_BEFORE_DELTAS: u32 = 2;

/// Every this many syncs to a peer, send everything it may lack again.
pub(crate) const FULL_SYNC_INTERVAL: u32 = 8;

/// What we sent one peer.
#[derive(Clone, Debug, Default)]
struct Sent {
    /// Its tip in our graph at our last sync.
    tip: Option<EventIndex>,
    /// Our graph's length after that sync: everything below was sent.
    up_to: usize,
    /// Syncs since its tip last changed.
    silent_syncs: u32,
    /// Syncs since the last full one.
    since_full: u32,
    /// Members of forked slots sent since the last full sync.
    fork_members: BTreeSet<EventIndex>,
}

/// Per peer, what we sent it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncMemory {
    peers: BTreeMap<PeerId, Sent>,
}

impl SyncMemory {
    /// The events to send `peer` now, in insertion order (our new sync event, the last
    /// inserted, always among them), and what was sent is remembered.
    pub(crate) fn select<T: Payload>(&mut self, graph: &Graph<T>, peer: PeerId) -> Vec<EventIndex> {
        let tip = graph.peer_index(&peer).and_then(|p| graph.tip(p));
        let sent = self.peers.entry(peer).or_default();
        sent.silent_syncs = if sent.tip == tip && sent.up_to > 0 {
            sent.silent_syncs + 1
        } else {
            0
        };
        sent.since_full += 1;
        let full = sent.since_full >= FULL_SYNC_INTERVAL;
        if full {
            sent.since_full = 0;
            sent.fork_members.clear();
        }
        let from = if sent.silent_syncs >= SILENT_SYNCS_BEFORE_DELTAS && !full {
            sent.up_to
        } else {
            0
        };
        let mut events = graph.events_to_send(&peer);
        events.retain(|&at| {
            if at.get() < from {
                return false;
            }
            let node = graph.node(at);
            if !graph.is_forked_slot(node.creator(), node.creator_index()) {
                return true;
            }
            // A forked slot's member: once per full-sync interval.
            sent.fork_members.insert(at)
        });
        sent.tip = tip;
        sent.up_to = graph.len();
        events
    }
}

/// The request or response for `peer` carrying `events`, chunked within `limits`: leading
/// chunks as `Events`, the last one (ending with our sync event) as the message itself.
pub(crate) fn messages<T: Payload>(
    graph: &Graph<T>,
    peer: PeerId,
    events: &[EventIndex],
    request: bool,
    limits: WireLimits,
) -> Result<Vec<Outgoing<T>>, Error> {
    // Leave room for the message tag and length.
    let budget = limits.max_message_bytes.saturating_sub(16);
    let mut chunks: Vec<Vec<PackedEvent<T>>> = vec![Vec::new()];
    let mut size = 0usize;
    for &at in events {
        let event = graph.node(at).event().packed().clone();
        let len = encoding::encoded_len(&event).map_err(|e| Error::OwnEvent(e.into()))?;
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
            message: if i < last {
                WireMessage::Events { events }
            } else if request {
                WireMessage::Request { events }
            } else {
                WireMessage::Response { events }
            },
        })
        .collect())
}
