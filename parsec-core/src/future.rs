//! The future buffer: received events that wait for a parent or for their creator to be
//! permitted (spec §4.4, §5.3).
//!
//! # How it works
//!
//! Held events are indexed by what they wait for: each missing parent hash lists the events
//! waiting on it, and each creator not yet permitted lists its held events. When an event is
//! inserted, or a creator becomes permitted, only the events waiting on that become
//! *candidates* to insert; nothing scans the whole buffer.
//!
//! An entry is *grounded* when every parent it misses is itself held and grounded (an entry
//! that misses no parent and only waits for permission is grounded). A permitted event whose
//! missing parents are all held and grounded can be inserted at once together with its held
//! ancestors (spec §5.3 rule b); any other event is held in O(1), so a peer that sends long
//! chains hanging off parents that never come costs nobody a walk over them. Groundedness
//! spreads to waiters when a parent is held and is withdrawn when a grounded entry is
//! evicted. An event whose creator never was a member by agreed decision is never grounded:
//! rule (b) inserts only events of present or former members, so made-up keys never reach
//! the graph. Per-sender and total limits, in events and in encoded bytes, evict the oldest
//! events: whatever one sender sends, it holds at most its share of the buffer.

use std::collections::{BTreeMap, BTreeSet};

use parsec_graph::{Event, EventHash, PeerId};

/// A held event and the peer that sent it.
#[derive(Clone, Debug)]
pub(crate) struct Held<T> {
    pub(crate) sender: PeerId,
    pub(crate) event: Event<T>,
}

#[derive(Clone, Debug)]
struct Entry<T> {
    held: Held<T>,
    /// Parents missing when it was held; empty when it only waits for permission.
    missing: Vec<EventHash>,
    /// Whether its creator is or was a member (rule (b) may insert it).
    eligible: bool,
    grounded: bool,
    /// Its encoded size.
    bytes: usize,
}

/// What holding an event costs beyond its encoded bytes (its decoded form, hash and index
/// entries), counted against the byte limits so that they bound memory.
pub(crate) const HELD_OVERHEAD_BYTES: usize = 768;

/// How much the buffer may hold (spec §14.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) events_per_sender: usize,
    pub(crate) events_total: usize,
    pub(crate) bytes_per_sender: usize,
    pub(crate) bytes_total: usize,
}

/// Removes `seq` from the set at `key`, and the set once empty.
fn unlist<K: Ord>(map: &mut BTreeMap<K, BTreeSet<u64>>, key: &K, seq: u64) {
    if let Some(seqs) = map.get_mut(key) {
        seqs.remove(&seq);
        if seqs.is_empty() {
            map.remove(key);
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct FutureBuffer<T> {
    next: u64,
    entries: BTreeMap<u64, Entry<T>>,
    by_hash: BTreeMap<EventHash, u64>,
    waiting: BTreeMap<EventHash, BTreeSet<u64>>,
    unpermitted: BTreeMap<PeerId, BTreeSet<u64>>,
    per_sender: BTreeMap<PeerId, BTreeSet<u64>>,
    bytes_of_sender: BTreeMap<PeerId, usize>,
    bytes: usize,
    candidates: BTreeSet<u64>,
}

impl<T> Default for FutureBuffer<T> {
    fn default() -> Self {
        FutureBuffer {
            next: 0,
            entries: BTreeMap::new(),
            by_hash: BTreeMap::new(),
            waiting: BTreeMap::new(),
            unpermitted: BTreeMap::new(),
            per_sender: BTreeMap::new(),
            bytes_of_sender: BTreeMap::new(),
            bytes: 0,
            candidates: BTreeSet::new(),
        }
    }
}

impl<T> FutureBuffer<T> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Encoded bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn contains(&self, hash: &EventHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The held event with this hash.
    pub(crate) fn get(&self, hash: &EventHash) -> Option<&Event<T>> {
        let seq = self.by_hash.get(hash)?;
        self.entries.get(seq).map(|entry| &entry.held.event)
    }

    /// Whether this hash is held and grounded: its held ancestry reaches the graph.
    pub(crate) fn is_grounded(&self, hash: &EventHash) -> bool {
        self.by_hash
            .get(hash)
            .and_then(|seq| self.entries.get(seq))
            .is_some_and(|entry| entry.grounded)
    }

    /// Holds `event` of `bytes` encoded bytes, waiting for `missing` parents (or, if none,
    /// for permission); `eligible` says whether its creator is or was a member. Returns the
    /// events evicted to respect the limits (the event itself if it can never fit). An event
    /// already held is ignored.
    pub(crate) fn hold(
        &mut self,
        sender: PeerId,
        event: Event<T>,
        missing: Vec<EventHash>,
        eligible: bool,
        bytes: usize,
        limits: Limits,
    ) -> Vec<Held<T>> {
        let mut evicted = Vec::new();
        if self.by_hash.contains_key(event.hash()) {
            return evicted;
        }
        if bytes > limits.bytes_per_sender || bytes > limits.bytes_total {
            evicted.push(Held { sender, event });
            return evicted;
        }
        // The sender's oldest first, then everyone's oldest, until the event fits.
        loop {
            let count = self.per_sender.get(&sender).map_or(0, BTreeSet::len);
            let held = self.bytes_of_sender.get(&sender).copied().unwrap_or(0);
            if count < limits.events_per_sender && held + bytes <= limits.bytes_per_sender {
                break;
            }
            let Some(oldest) = self
                .per_sender
                .get(&sender)
                .and_then(|s| s.first().copied())
            else {
                break;
            };
            evicted.extend(self.evict(oldest));
        }
        while self.entries.len() >= limits.events_total || self.bytes + bytes > limits.bytes_total {
            let Some(oldest) = self.entries.keys().next().copied() else {
                break;
            };
            evicted.extend(self.evict(oldest));
        }
        let seq = self.next;
        self.next += 1;
        let hash = *event.hash();
        if missing.is_empty() {
            self.unpermitted
                .entry(*event.creator())
                .or_default()
                .insert(seq);
        }
        for parent in &missing {
            self.waiting.entry(*parent).or_default().insert(seq);
        }
        let grounded = eligible && missing.iter().all(|parent| self.is_grounded(parent));
        self.by_hash.insert(hash, seq);
        self.per_sender.entry(sender).or_default().insert(seq);
        *self.bytes_of_sender.entry(sender).or_default() += bytes;
        self.bytes += bytes;
        self.entries.insert(
            seq,
            Entry {
                held: Held { sender, event },
                missing,
                eligible,
                grounded,
                bytes,
            },
        );
        if grounded {
            self.spread_grounding(hash);
        }
        evicted
    }

    /// The held events waiting on `parent`, in arrival order.
    fn waiters_of(&self, parent: &EventHash) -> Vec<u64> {
        self.waiting
            .get(parent)
            .map(|seqs| seqs.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `hash` became held and grounded: its waiters that now have every missing parent
    /// held and grounded become grounded too, and candidates (rule b may insert them).
    fn spread_grounding(&mut self, hash: EventHash) {
        let mut stack = vec![hash];
        while let Some(parent) = stack.pop() {
            let waiters = self.waiters_of(&parent);
            for seq in waiters {
                let Some(entry) = self.entries.get(&seq) else {
                    continue;
                };
                if entry.grounded
                    || !entry.eligible
                    || !entry.missing.iter().all(|p| self.is_grounded(p))
                {
                    continue;
                }
                let child = *entry.held.event.hash();
                if let Some(entry) = self.entries.get_mut(&seq) {
                    entry.grounded = true;
                }
                self.candidates.insert(seq);
                stack.push(child);
            }
        }
    }

    /// `hash` stops being held and grounded: its waiters lose their grounding.
    fn withdraw_grounding(&mut self, hash: EventHash) {
        let mut stack = vec![hash];
        while let Some(parent) = stack.pop() {
            let waiters = self.waiters_of(&parent);
            for seq in waiters {
                if let Some(entry) = self.entries.get_mut(&seq)
                    && entry.grounded
                {
                    entry.grounded = false;
                    stack.push(*entry.held.event.hash());
                }
            }
        }
    }

    /// Removes one held event from every index.
    fn remove(&mut self, seq: u64) -> Option<Held<T>> {
        let entry = self.entries.remove(&seq)?;
        self.by_hash.remove(entry.held.event.hash());
        self.candidates.remove(&seq);
        unlist(&mut self.per_sender, &entry.held.sender, seq);
        self.bytes -= entry.bytes;
        if let Some(held) = self.bytes_of_sender.get_mut(&entry.held.sender) {
            *held -= entry.bytes;
            if *held == 0 {
                self.bytes_of_sender.remove(&entry.held.sender);
            }
        }
        if entry.missing.is_empty() {
            unlist(&mut self.unpermitted, entry.held.event.creator(), seq);
        }
        for parent in &entry.missing {
            unlist(&mut self.waiting, parent, seq);
        }
        Some(entry.held)
    }

    /// Drops one held event for lack of room.
    fn evict(&mut self, seq: u64) -> Option<Held<T>> {
        let held = self.remove(seq)?;
        self.withdraw_grounding(*held.event.hash());
        Some(held)
    }

    /// Takes the held event with this hash out of the buffer (to insert it).
    pub(crate) fn take(&mut self, hash: &EventHash) -> Option<Held<T>> {
        let seq = *self.by_hash.get(hash)?;
        self.remove(seq)
    }

    /// `hash` was inserted: the events waiting on it become candidates.
    pub(crate) fn parent_arrived(&mut self, hash: &EventHash) {
        if let Some(seqs) = self.waiting.get(hash) {
            self.candidates.extend(seqs.iter().copied());
        }
    }

    /// `peer` may now send: its held events become candidates.
    pub(crate) fn creator_permitted(&mut self, peer: &PeerId) {
        if let Some(seqs) = self.unpermitted.get(peer) {
            self.candidates.extend(seqs.iter().copied());
        }
    }

    /// Takes every candidate out of the buffer, in arrival order. The caller inserts those
    /// that can be inserted and holds the others again.
    pub(crate) fn take_candidates(&mut self) -> Vec<Held<T>> {
        let seqs = std::mem::take(&mut self.candidates);
        seqs.into_iter()
            .filter_map(|seq| self.remove(seq))
            .collect()
    }
}
