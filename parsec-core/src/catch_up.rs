//! Catch-up from the store (spec §12.4 as settled, §12.6): a peer that lacks events we
//! pruned from memory is sent them from the store, so that no peer is ever cut off by
//! pruning, however long it was away or however far behind it joins.
//!
//! # How it works
//!
//! When a sync to a peer must carry events we no longer hold, the engine does not send
//! it: it hands the driver a [`CatchUp`] in [`Step::catch_up`](crate::Step::catch_up)
//! with the events it holds and the store range holding the others. The driver reads
//! that range from its [`Store`](crate::Store) (positions `from..until`, a topological
//! order), keeps what [`CatchUp::wants`], and sends [`CatchUp::messages`]: the very
//! messages an unpruned engine would have sent, the store's events merged in by
//! position, the last one the request or response. Pruning therefore changes what is
//! held in memory, never what is sent.
//!
//! Only events below a creator's pruning floor come from the store; the rest, and every
//! fork member (a creator's floor never passes its first fork), come from memory. A
//! driver without a store can still call `messages(Vec::new())`: the peer then gets
//! what memory holds, and must be caught up by another member.
//!
//! ```no_run
//! # use parsec_core::{CatchUp, Outgoing, Store, StoreError};
//! # fn serve(store: &parsec_core::MemStore<String>, catch_up: CatchUp<String>,
//! #     send: impl Fn(Outgoing<String>)) -> Result<(), StoreError> {
//! // An async store: `collect(|from, limit| runtime.block_on(store.events(from, limit)))`,
//! // or read the range with `store.events(..).await` in a loop and filter with `wants`.
//! let stored = catch_up.collect(|from, limit| store.events_now(from, limit))?;
//! for message in catch_up.messages(stored) {
//!     send(message);
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use parsec_graph::{PackedEvent, Payload, PeerId, WireLimits};

use crate::engine::Outgoing;
use crate::sync::{self, MessageKind};

/// Events asked of the store per read by [`CatchUp::collect`].
pub const READ_CHUNK: usize = 1024;

/// A sync whose events are partly in the store (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatchUp<T> {
    /// The peer to send to.
    pub to: PeerId,
    /// The first store position to read.
    pub from: u64,
    /// Where reading stops (exclusive): the graph's base, from which on all is in memory.
    pub until: u64,
    /// Per creator, the highest index the peer holds (as its latest event we hold
    /// knows); a creator not listed: it holds none.
    known: BTreeMap<PeerId, u64>,
    /// Per creator whose events were pruned, its pruning floor: only events below it
    /// come from the store. A creator not listed has nothing to send from the store.
    floors: BTreeMap<PeerId, u64>,
    /// The events sent from memory, with their positions.
    held: Vec<(u64, PackedEvent<T>)>,
    kind: MessageKind,
    limits: WireLimits,
}

impl<T: Payload> CatchUp<T> {
    pub(crate) fn new(
        to: PeerId,
        (from, until): (u64, u64),
        known: BTreeMap<PeerId, u64>,
        floors: BTreeMap<PeerId, u64>,
        held: Vec<(u64, PackedEvent<T>)>,
        kind: MessageKind,
        limits: WireLimits,
    ) -> Self {
        CatchUp {
            to,
            from,
            until,
            known,
            floors,
            held,
            kind,
            limits,
        }
    }

    /// Whether a stored event goes with this sync: the peer lacks it (by its creator's
    /// index) and memory no longer holds it (below its creator's pruning floor).
    pub fn wants(&self, event: &PackedEvent<T>) -> bool {
        let creator = &event.content.creator;
        let index = event.content.index;
        let lacks = self.known.get(creator).is_none_or(|&known| index > known);
        let pruned = self.floors.get(creator).is_some_and(|&floor| index < floor);
        lacks && pruned
    }

    /// Reads the wanted events of `from..until` through `read(position, limit)` (a store's
    /// `events`, awaited or not), with their positions: what [`CatchUp::messages`] takes.
    /// Stops early if `read` returns nothing.
    pub fn collect<E>(
        &self,
        mut read: impl FnMut(u64, usize) -> Result<Vec<PackedEvent<T>>, E>,
    ) -> Result<Vec<(u64, PackedEvent<T>)>, E> {
        let mut stored = Vec::new();
        let mut position = self.from;
        while position < self.until {
            let chunk = read(position, READ_CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            for event in chunk {
                if position < self.until && self.wants(&event) {
                    stored.push((position, event));
                }
                position += 1;
            }
        }
        Ok(stored)
    }

    /// The messages of the sync: `stored` (wanted events with their store positions, in
    /// position order) merged with what memory sends, packed as the engine packs a sync.
    pub fn messages(self, stored: Vec<(u64, PackedEvent<T>)>) -> Vec<Outgoing<T>> {
        let mut events = Vec::with_capacity(stored.len() + self.held.len());
        let mut stored = stored.into_iter().peekable();
        for (position, event) in self.held {
            while let Some((_, from_store)) = stored.next_if(|(p, _)| *p < position) {
                events.push(from_store);
            }
            events.push(event);
        }
        events.extend(stored.map(|(_, event)| event));
        sync::pack(self.to, events, self.kind, self.limits)
    }
}
