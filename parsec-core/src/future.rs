//! The future buffer: received events that wait for a parent or for their creator to be
//! permitted (spec §4.4, §5.3).
//!
//! # How it works
//!
//! Held events are indexed by what they wait for: each missing parent hash lists the events
//! waiting on it, and each creator not yet permitted lists its held events. When an event is
//! inserted, or a creator becomes permitted, only the events waiting on that become
//! *candidates* to insert; nothing scans the whole buffer, so a peer that fills it with
//! events that can never be inserted slows nobody down. Per-sender and total limits evict
//! the oldest events.

use std::collections::{BTreeMap, BTreeSet};

use parsec_graph::{Event, EventHash, PeerId};

/// Removes `seq` from the list at `key`, and the list once empty.
fn unlist<K: Ord>(map: &mut BTreeMap<K, Vec<u64>>, key: &K, seq: u64) {
    if let Some(seqs) = map.get_mut(key) {
        seqs.retain(|s| *s != seq);
        if seqs.is_empty() {
            map.remove(key);
        }
    }
}

/// A held event and the peer that sent it.
#[derive(Clone, Debug)]
pub(crate) struct Held<T> {
    pub(crate) sender: PeerId,
    pub(crate) event: Event<T>,
}

/// What a held event waits for.
#[derive(Clone, Debug)]
enum Wait {
    /// These parents are missing.
    Parents(Vec<EventHash>),
    /// Its parents are present but its creator may not send yet.
    Permission(PeerId),
}

#[derive(Clone, Debug)]
struct Entry<T> {
    held: Held<T>,
    wait: Wait,
}

#[derive(Clone, Debug)]
pub(crate) struct FutureBuffer<T> {
    next: u64,
    entries: BTreeMap<u64, Entry<T>>,
    by_hash: BTreeMap<EventHash, u64>,
    waiting: BTreeMap<EventHash, Vec<u64>>,
    unpermitted: BTreeMap<PeerId, Vec<u64>>,
    per_sender: BTreeMap<PeerId, BTreeSet<u64>>,
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
            candidates: BTreeSet::new(),
        }
    }
}

impl<T> FutureBuffer<T> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn contains(&self, hash: &EventHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The held event with this hash.
    pub(crate) fn get(&self, hash: &EventHash) -> Option<&Event<T>> {
        let seq = self.by_hash.get(hash)?;
        self.entries.get(seq).map(|entry| &entry.held.event)
    }

    /// Holds `event`, waiting for `missing` parents (or, if none, for permission).
    /// Returns the events evicted to respect the limits.
    pub(crate) fn hold(
        &mut self,
        sender: PeerId,
        event: Event<T>,
        missing: Vec<EventHash>,
        per_sender_limit: usize,
        total_limit: usize,
    ) -> Vec<Held<T>> {
        let mut evicted = Vec::new();
        let oldest_of_sender = self
            .per_sender
            .get(&sender)
            .filter(|seqs| seqs.len() >= per_sender_limit)
            .and_then(|seqs| seqs.first().copied());
        if let Some(oldest) = oldest_of_sender {
            evicted.extend(self.remove(oldest));
        }
        if self.entries.len() >= total_limit
            && let Some(oldest) = self.entries.keys().next().copied()
        {
            evicted.extend(self.remove(oldest));
        }
        let seq = self.next;
        self.next += 1;
        let wait = if missing.is_empty() {
            self.unpermitted
                .entry(*event.creator())
                .or_default()
                .push(seq);
            Wait::Permission(*event.creator())
        } else {
            for parent in &missing {
                self.waiting.entry(*parent).or_default().push(seq);
            }
            Wait::Parents(missing)
        };
        self.by_hash.insert(*event.hash(), seq);
        self.per_sender.entry(sender).or_default().insert(seq);
        self.entries.insert(
            seq,
            Entry {
                held: Held { sender, event },
                wait,
            },
        );
        evicted
    }

    /// Removes one held event from every index.
    fn remove(&mut self, seq: u64) -> Option<Held<T>> {
        let entry = self.entries.remove(&seq)?;
        self.by_hash.remove(entry.held.event.hash());
        self.candidates.remove(&seq);
        if let Some(seqs) = self.per_sender.get_mut(&entry.held.sender) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.per_sender.remove(&entry.held.sender);
            }
        }
        match &entry.wait {
            Wait::Parents(parents) => {
                for parent in parents {
                    unlist(&mut self.waiting, parent, seq);
                }
            }
            Wait::Permission(peer) => unlist(&mut self.unpermitted, peer, seq),
        }
        Some(entry.held)
    }

    /// Takes the held event with this hash out of the buffer.
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
