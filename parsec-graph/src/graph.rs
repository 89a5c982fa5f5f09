//! The gossip graph: insertion, slots and forks, ancestry summaries and the queries built
//! on them (spec §3, §4.2).
//!
//! # How it works
//!
//! Every inserted event gets a dense [`EventIndex`] in insertion order, which is therefore a
//! topological order. Alongside it we keep an *ancestry summary*: for every creator, the
//! highest index of that creator's events reachable from the event (`last`), and, only when
//! forks are involved, which members of each forked slot are reachable. A summary is merged
//! from the two parents' summaries in O(creators) at insertion, so `⪰`, `sees` and
//! `strongly_sees` never walk the graph: `Y ∈ anc(E)` iff `last_E[creator(Y)] ≥ index(Y)`
//! and `Y`'s fork id is among those `E` reaches at that slot (none recorded means fork 0).
//!
//! ## Compaction above a fork
//!
//! Once `anc(E)` holds two events of creator `c` with the same index, `E` descends from a
//! fork of `c` and sees none of `c`'s events (spec §3.4). From then on the summary keeps
//! `c`'s fork sets only below `c`'s *floor* in `anc(E)`, the lowest index at which `anc(E)`
//! holds two of `c`'s events; at and above the floor it records nothing, and
//! [`Graph::is_descendant_of`] answers `false` for `c`'s events there. So a creator that
//! forks thousands of times costs each event one floor, not one entry per fork. The floor
//! is a function of `anc(E)` alone (it names an index, not a local fork id), so every peer
//! answers these queries alike; it only ever moves down along a chain.

use std::collections::BTreeMap;

use crate::event::{CauseKind, Event};
use crate::hashing::DigestMap;
use crate::id::{EventHash, PeerId, PeerIndex};
use crate::observation::Payload;

/// A dense local number for an inserted event: its insertion position.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EventIndex(u32);

impl From<usize> for EventIndex {
    /// The `n`-th inserted event (0-based). Positions beyond `u32::MAX` saturate and name
    /// no event.
    fn from(n: usize) -> Self {
        EventIndex(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

impl EventIndex {
    /// The number as a vector index.
    pub const fn get(self) -> usize {
        self.0 as usize
    }
}

/// Which members of forked slots an ancestry reaches. Absent in the common case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ForkSummary {
    /// `(creator, index)` → sorted fork ids reached, only where that is not just `{0}`, and
    /// only below the creator's floor.
    slots: BTreeMap<(u32, u64), Vec<u32>>,
    /// Sorted by creator: the creators of which the ancestry holds two members of one slot,
    /// each with its floor, the lowest such index.
    floors: Vec<(u32, u64)>,
}

/// The ancestry summary of one event (spec §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Summary {
    /// Per creator: highest reachable index plus one; 0 when none is reachable.
    last: Box<[u64]>,
    forks: Option<Box<ForkSummary>>,
}

impl Summary {
    fn last(&self, creator: u32) -> Option<u64> {
        match self.last.get(creator as usize) {
            Some(&plus_one) if plus_one > 0 => Some(plus_one - 1),
            _ => None,
        }
    }

    fn entry(&self, creator: u32, index: u64) -> Option<&[u32]> {
        self.forks
            .as_ref()
            .and_then(|forks| forks.slots.get(&(creator, index)))
            .map(Vec::as_slice)
    }

    /// Fork ids of `creator`'s slot `index` reached by this ancestry.
    fn fork_ids_at(&self, creator: u32, index: u64, out: &mut Vec<u32>) {
        match self.last(creator) {
            Some(last) if last >= index => match self.entry(creator, index) {
                Some(ids) => out.extend_from_slice(ids),
                None => out.push(0),
            },
            _ => {}
        }
    }

    /// The lowest index at which the ancestry holds two of `creator`'s events.
    fn floor(&self, creator: u32) -> Option<u64> {
        let floors = &self.forks.as_ref()?.floors;
        floors
            .binary_search_by_key(&creator, |&(c, _)| c)
            .ok()
            .map(|i| floors[i].1)
    }

    fn contains(&self, creator: u32, index: u64, fork_id: u32) -> bool {
        if self.floor(creator).is_some_and(|floor| index >= floor) {
            return false;
        }
        match self.last(creator) {
            Some(last) if last >= index => match self.entry(creator, index) {
                Some(ids) => ids.binary_search(&fork_id).is_ok(),
                None => fork_id == 0,
            },
            _ => false,
        }
    }

    fn forked_on(&self, creator: u32) -> bool {
        self.floor(creator).is_some()
    }

    fn merge(
        parents: [Option<&Summary>; 2],
        creator: u32,
        index: u64,
        fork_id: u32,
        peer_count: usize,
    ) -> Summary {
        let mut last = vec![0u64; peer_count].into_boxed_slice();
        for parent in parents.iter().flatten() {
            for (mine, theirs) in last.iter_mut().zip(parent.last.iter()) {
                *mine = (*mine).max(*theirs);
            }
        }
        // Max, not assignment: through its other-parent an event can reach a longer branch
        // of its own creator's fork, and `last` means the highest index in the ancestry.
        let own = &mut last[creator as usize];
        *own = (*own).max(index + 1);

        let any_forks = parents.iter().flatten().any(|p| p.forks.is_some());
        let forks = if !any_forks && fork_id == 0 {
            None
        } else {
            Self::merge_forks(parents, creator, index, fork_id)
        };
        Summary { last, forks }
    }

    fn merge_forks(
        parents: [Option<&Summary>; 2],
        creator: u32,
        index: u64,
        fork_id: u32,
    ) -> Option<Box<ForkSummary>> {
        // Floors: the lowest of the parents', lowered where the merge meets two members.
        let mut floors: BTreeMap<u32, u64> = BTreeMap::new();
        for forks in parents.iter().flatten().filter_map(|p| p.forks.as_ref()) {
            for &(c, floor) in &forks.floors {
                let entry = floors.entry(c).or_insert(floor);
                *entry = (*entry).min(floor);
            }
        }
        let mut keys: Vec<(u32, u64)> = parents
            .iter()
            .flatten()
            .filter_map(|p| p.forks.as_ref())
            .flat_map(|forks| forks.slots.keys().copied())
            .collect();
        if fork_id != 0 {
            keys.push((creator, index));
        }
        keys.sort_unstable();
        keys.dedup();

        let mut slots = BTreeMap::new();
        let mut ids = Vec::new();
        // Ascending by creator, then index: the first forked slot of a creator found here
        // is its new floor, and its later slots are then skipped.
        for (c, i) in keys {
            if floors.get(&c).is_some_and(|&floor| i >= floor) {
                continue;
            }
            ids.clear();
            for parent in parents.iter().flatten() {
                parent.fork_ids_at(c, i, &mut ids);
            }
            if (c, i) == (creator, index) {
                ids.push(fork_id);
            }
            ids.sort_unstable();
            ids.dedup();
            if ids.len() > 1 {
                floors.insert(c, i);
            } else if ids.as_slice() != [0] && !ids.is_empty() {
                slots.insert((c, i), ids.clone());
            }
        }
        if slots.is_empty() && floors.is_empty() {
            return None;
        }
        Some(Box::new(ForkSummary {
            slots,
            floors: floors.into_iter().collect(),
        }))
    }
}

/// An inserted event with what the graph derived for it (spec §2.3).
#[derive(Clone, Debug)]
pub struct EventNode<T> {
    event: Event<T>,
    index: EventIndex,
    creator: PeerIndex,
    fork_id: u32,
    kind: CauseKind,
    self_parent: Option<EventIndex>,
    other_parent: Option<EventIndex>,
    self_sync_parent: Option<EventIndex>,
    vote_run: u32,
    summary: Summary,
}

impl<T> EventNode<T> {
    /// The verified event.
    pub fn event(&self) -> &Event<T> {
        &self.event
    }

    /// Its insertion position.
    pub fn index(&self) -> EventIndex {
        self.index
    }

    /// Its hash.
    pub fn hash(&self) -> &EventHash {
        self.event.hash()
    }

    /// The creator's local number.
    pub fn creator(&self) -> PeerIndex {
        self.creator
    }

    /// The index in the creator's chain.
    pub fn creator_index(&self) -> u64 {
        self.event.index()
    }

    /// Position within its slot: 0 for the first inserted member (spec §3.2). Local.
    pub fn fork_id(&self) -> u32 {
        self.fork_id
    }

    /// The cause kind.
    pub fn kind(&self) -> CauseKind {
        self.kind
    }

    /// Whether this is a sync event (`Requesting`, `Request`, `Response`).
    pub fn is_sync(&self) -> bool {
        self.kind.is_sync()
    }

    /// The self-parent.
    pub fn self_parent(&self) -> Option<EventIndex> {
        self.self_parent
    }

    /// The other-parent.
    pub fn other_parent(&self) -> Option<EventIndex> {
        self.other_parent
    }

    /// The nearest strict self-ancestor that is a sync event.
    pub fn self_sync_parent(&self) -> Option<EventIndex> {
        self.self_sync_parent
    }

    /// How many vote events end the creator's chain here: this one and its immediate
    /// self-ancestors, up to the first non-vote (spec §2.2 check 9).
    pub fn vote_run(&self) -> u32 {
        self.vote_run
    }
}

/// Why an event could not be inserted (spec §2.2 checks 5 and 6). The graph is unchanged.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertError {
    /// The self-parent is not in the graph.
    #[error("unknown self-parent {0}")]
    UnknownSelfParent(EventHash),
    /// The other-parent is not in the graph.
    #[error("unknown other-parent {0}")]
    UnknownOtherParent(EventHash),
    /// The self-parent was created by someone else.
    #[error("self-parent {parent} was created by another peer")]
    SelfParentByDifferentCreator {
        /// The self-parent.
        parent: EventHash,
    },
    /// The other-parent was created by the event's own creator.
    #[error("other-parent {parent} was created by the same peer")]
    OtherParentBySameCreator {
        /// The other-parent.
        parent: EventHash,
    },
    /// The index is not the self-parent's plus one.
    #[error("index {index} does not follow the self-parent's index {parent_index}")]
    IndexGap {
        /// The event's index.
        index: u64,
        /// The self-parent's index.
        parent_index: u64,
    },
    /// The graph holds `u32::MAX` events or peers already.
    #[error("graph capacity exhausted")]
    Full,
}

/// A second event in an already occupied slot: `creator` forked at `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkDetected {
    /// Who forked.
    pub creator: PeerId,
    /// The index both events carry.
    pub index: u64,
    /// The first inserted member of the slot.
    pub first: EventIndex,
    /// The new member.
    pub second: EventIndex,
}

/// What an insertion did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Inserted {
    /// The event is new; `fork` is set when it shares its slot with an earlier event.
    New {
        /// Its position.
        index: EventIndex,
        /// The fork it completes, if any.
        fork: Option<ForkDetected>,
    },
    /// An event with the same hash was already present; nothing changed.
    Known(EventIndex),
}

impl Inserted {
    /// The event's position, new or old.
    pub fn index(&self) -> EventIndex {
        match *self {
            Inserted::New { index, .. } | Inserted::Known(index) => index,
        }
    }
}

#[derive(Clone, Debug)]
struct PeerEntry {
    id: PeerId,
    /// Fork-0 member of each slot, by index.
    slots: Vec<EventIndex>,
    /// Further members of forked slots, by index, in insertion order.
    extra: BTreeMap<u64, Vec<EventIndex>>,
    tip: Option<EventIndex>,
}

/// A signed, verified, fork-aware gossip DAG (spec §3).
#[derive(Clone, Debug)]
pub struct Graph<T> {
    nodes: Vec<EventNode<T>>,
    // Keyed lookups only, never iterated: iteration order cannot leak into results.
    by_hash: DigestMap<EventHash, EventIndex>,
    peers: Vec<PeerEntry>,
    peer_by_id: BTreeMap<PeerId, PeerIndex>,
}

impl<T> Default for Graph<T> {
    fn default() -> Self {
        Graph {
            nodes: Vec::new(),
            by_hash: DigestMap::default(),
            peers: Vec::new(),
            peer_by_id: BTreeMap::new(),
        }
    }
}

impl<T: Payload> Graph<T> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The local number of `peer`, giving it one if it has none yet.
    pub fn register_peer(&mut self, peer: PeerId) -> Result<PeerIndex, InsertError> {
        if let Some(&index) = self.peer_by_id.get(&peer) {
            return Ok(index);
        }
        let index = PeerIndex(u32::try_from(self.peers.len()).map_err(|_| InsertError::Full)?);
        self.peers.push(PeerEntry {
            id: peer,
            slots: Vec::new(),
            extra: BTreeMap::new(),
            tip: None,
        });
        self.peer_by_id.insert(peer, index);
        Ok(index)
    }

    /// Inserts a verified event whose parents are present. Idempotent by hash; on error
    /// the graph is unchanged.
    pub fn insert(&mut self, event: Event<T>) -> Result<Inserted, InsertError> {
        if let Some(&known) = self.by_hash.get(event.hash()) {
            return Ok(Inserted::Known(known));
        }
        let self_parent = match event.cause().self_parent() {
            None => None,
            Some(hash) => {
                let parent = *self
                    .by_hash
                    .get(hash)
                    .ok_or(InsertError::UnknownSelfParent(*hash))?;
                let node = &self.nodes[parent.get()];
                if node.event.creator() != event.creator() {
                    return Err(InsertError::SelfParentByDifferentCreator { parent: *hash });
                }
                if node.event.index().checked_add(1) != Some(event.index()) {
                    return Err(InsertError::IndexGap {
                        index: event.index(),
                        parent_index: node.event.index(),
                    });
                }
                Some(parent)
            }
        };
        let other_parent = match event.cause().other_parent() {
            None => None,
            Some(hash) => {
                let parent = *self
                    .by_hash
                    .get(hash)
                    .ok_or(InsertError::UnknownOtherParent(*hash))?;
                if self.nodes[parent.get()].event.creator() == event.creator() {
                    return Err(InsertError::OtherParentBySameCreator { parent: *hash });
                }
                Some(parent)
            }
        };
        let position = EventIndex(u32::try_from(self.nodes.len()).map_err(|_| InsertError::Full)?);
        let creator = self.register_peer(*event.creator())?;
        let peer_count = self.peers.len();
        let slot = event.index();
        let entry = &mut self.peers[creator.get()];

        // Index 0 always has a member once a creator's later events exist, and indices are
        // contiguous (each event needs its self-parent), so a slot is either the next one
        // or an occupied one.
        let (fork_id, fork) = match usize::try_from(slot)
            .ok()
            .filter(|&s| s < entry.slots.len())
        {
            Some(s) => {
                let extra = entry.extra.entry(slot).or_default();
                extra.push(position);
                let fork_id = u32::try_from(extra.len()).map_err(|_| InsertError::Full)?;
                let fork = ForkDetected {
                    creator: entry.id,
                    index: slot,
                    first: entry.slots[s],
                    second: position,
                };
                (fork_id, Some(fork))
            }
            None => {
                entry.slots.push(position);
                (0, None)
            }
        };
        let is_new_tip = match entry.tip {
            None => true,
            Some(tip) => slot >= self.nodes[tip.get()].event.index(),
        };
        if is_new_tip {
            entry.tip = Some(position);
        }

        let summary = Summary::merge(
            [
                self_parent.map(|p| &self.nodes[p.get()].summary),
                other_parent.map(|p| &self.nodes[p.get()].summary),
            ],
            creator.0,
            slot,
            fork_id,
            peer_count,
        );
        let self_sync_parent = self_parent.and_then(|p| {
            let parent = &self.nodes[p.get()];
            if parent.kind.is_sync() {
                Some(p)
            } else {
                parent.self_sync_parent
            }
        });
        let vote_run = match (event.cause().kind(), self_parent) {
            (CauseKind::Observation, Some(p)) => self.nodes[p.get()].vote_run.saturating_add(1),
            (CauseKind::Observation, None) => 1,
            _ => 0,
        };
        self.by_hash.insert(*event.hash(), position);
        self.nodes.push(EventNode {
            kind: event.cause().kind(),
            event,
            index: position,
            creator,
            fork_id,
            self_parent,
            other_parent,
            self_sync_parent,
            vote_run,
            summary,
        });
        Ok(Inserted::New {
            index: position,
            fork,
        })
    }
}

impl<T> Graph<T> {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph holds no event.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The event at `index`.
    ///
    /// # Panics
    /// If `index` did not come from this graph.
    pub fn node(&self, index: EventIndex) -> &EventNode<T> {
        &self.nodes[index.get()]
    }

    /// The event at `index`, if any.
    pub fn get(&self, index: EventIndex) -> Option<&EventNode<T>> {
        self.nodes.get(index.get())
    }

    /// The position of the event with this hash.
    pub fn index_of(&self, hash: &EventHash) -> Option<EventIndex> {
        self.by_hash.get(hash).copied()
    }

    /// Whether an event with this hash is present.
    pub fn contains(&self, hash: &EventHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// All events in insertion (topological) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &EventNode<T>> + ExactSizeIterator {
        self.nodes.iter()
    }

    /// Events inserted at or after `from`, in insertion order.
    pub fn iter_from(&self, from: EventIndex) -> impl Iterator<Item = &EventNode<T>> {
        self.nodes.iter().skip(from.get())
    }

    /// Number of peers known (creators seen plus registered peers).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The local number of `peer`.
    pub fn peer_index(&self, peer: &PeerId) -> Option<PeerIndex> {
        self.peer_by_id.get(peer).copied()
    }

    /// The identity behind a local number.
    ///
    /// # Panics
    /// If `peer` did not come from this graph.
    pub fn peer_id(&self, peer: PeerIndex) -> &PeerId {
        &self.peers[peer.get()].id
    }

    /// All known peers with their local numbers, in local-number order.
    pub fn peers(&self) -> impl Iterator<Item = (PeerIndex, &PeerId)> {
        self.peers
            .iter()
            .enumerate()
            .map(|(i, entry)| (PeerIndex(i as u32), &entry.id))
    }

    /// The most recently inserted event in `peer`'s highest slot.
    pub fn tip(&self, peer: PeerIndex) -> Option<EventIndex> {
        self.peers.get(peer.get()).and_then(|entry| entry.tip)
    }

    /// The members of `peer`'s slot `index`, in insertion order (two or more: a fork).
    pub fn slot(&self, peer: PeerIndex, index: u64) -> Vec<EventIndex> {
        let Some(entry) = self.peers.get(peer.get()) else {
            return Vec::new();
        };
        let Some(&first) = usize::try_from(index).ok().and_then(|i| entry.slots.get(i)) else {
            return Vec::new();
        };
        let mut members = vec![first];
        if let Some(extra) = entry.extra.get(&index) {
            members.extend_from_slice(extra);
        }
        members
    }

    fn slot_member(&self, peer: u32, index: u64, fork_id: u32) -> Option<EventIndex> {
        let entry = self.peers.get(peer as usize)?;
        if fork_id == 0 {
            usize::try_from(index)
                .ok()
                .and_then(|i| entry.slots.get(i))
                .copied()
        } else {
            entry
                .extra
                .get(&index)
                .and_then(|extra| extra.get(fork_id as usize - 1))
                .copied()
        }
    }

    /// Whether `peer` has ever forked in this graph.
    pub fn has_forked(&self, peer: PeerIndex) -> bool {
        self.peers
            .get(peer.get())
            .is_some_and(|entry| !entry.extra.is_empty())
    }

    /// Whether `peer`'s slot `index` holds two or more events here.
    pub fn is_forked_slot(&self, peer: PeerIndex, index: u64) -> bool {
        self.peers
            .get(peer.get())
            .is_some_and(|entry| entry.extra.contains_key(&index))
    }

    /// The indices at which `peer` forked, ascending.
    pub fn forked_slots(&self, peer: PeerIndex) -> impl Iterator<Item = u64> + '_ {
        self.peers
            .get(peer.get())
            .into_iter()
            .flat_map(|entry| entry.extra.keys().copied())
    }

    /// `last_X[peer]`: the highest index of `peer`'s events in `anc(X)`.
    pub fn last_ancestor(&self, x: EventIndex, peer: PeerIndex) -> Option<u64> {
        self.nodes[x.get()].summary.last(peer.0)
    }

    /// Every defined `last_X[p]`, in local-number order.
    pub fn last_ancestors(&self, x: EventIndex) -> impl Iterator<Item = (PeerIndex, u64)> + '_ {
        self.nodes[x.get()]
            .summary
            .last
            .iter()
            .enumerate()
            .filter(|(_, plus_one)| **plus_one > 0)
            .map(|(p, plus_one)| (PeerIndex(p as u32), plus_one - 1))
    }

    /// `X ⪰ Y`: `Y` is `X` or one of its ancestors, except that when `X` descends from a
    /// fork of `Y`'s creator, `Y` counts only if it lies below that creator's floor in
    /// `anc(X)` (module docs: compaction above a fork). O(1).
    pub fn is_descendant_of(&self, x: EventIndex, y: EventIndex) -> bool {
        if x == y {
            return true;
        }
        let target = &self.nodes[y.get()];
        self.nodes[x.get()]
            .summary
            .contains(target.creator.0, target.event.index(), target.fork_id)
    }

    /// Whether `anc(X)` holds two events of any one creator with the same index.
    pub fn has_forks_in_ancestry(&self, x: EventIndex) -> bool {
        self.nodes[x.get()]
            .summary
            .forks
            .as_ref()
            .is_some_and(|forks| !forks.floors.is_empty())
    }

    /// Whether `anc(X)` holds two events of `peer` with the same index.
    pub fn descends_from_fork_of(&self, x: EventIndex, peer: PeerIndex) -> bool {
        self.nodes[x.get()].summary.forked_on(peer.0)
    }

    /// `peer`'s floor in `anc(X)`: the lowest index at which `anc(X)` holds two of its
    /// events, if any (module docs).
    pub fn fork_floor(&self, x: EventIndex, peer: PeerIndex) -> Option<u64> {
        self.nodes[x.get()].summary.floor(peer.0)
    }

    /// Every creator `X` descends from a fork of, with its floor, by local number.
    pub fn fork_floors(&self, x: EventIndex) -> impl Iterator<Item = (PeerIndex, u64)> + '_ {
        self.nodes[x.get()]
            .summary
            .forks
            .iter()
            .flat_map(|forks| forks.floors.iter().map(|&(c, f)| (PeerIndex(c), f)))
    }

    /// `sees(X, Y)`: `X ⪰ Y` and `X` does not descend from a fork of `Y`'s creator (spec §3.4).
    pub fn sees(&self, x: EventIndex, y: EventIndex) -> bool {
        let target = &self.nodes[y.get()];
        let summary = &self.nodes[x.get()].summary;
        summary.contains(target.creator.0, target.event.index(), target.fork_id)
            && !summary.forked_on(target.creator.0)
    }

    /// The event of `peer` at `index` in `anc(X)`, when exactly one is there (and it lies
    /// below `peer`'s floor, if `X` descends from a fork of `peer`).
    pub fn ancestor_at(&self, x: EventIndex, peer: PeerIndex, index: u64) -> Option<EventIndex> {
        let summary = &self.nodes[x.get()].summary;
        if summary.last(peer.0)? < index || summary.floor(peer.0).is_some_and(|f| index >= f) {
            return None;
        }
        let fork_id = match summary.entry(peer.0, index) {
            None => 0,
            Some([only]) => *only,
            Some(_) => return None,
        };
        self.slot_member(peer.0, index, fork_id)
    }

    /// The event of `peer` at `last_X[peer]`, unless `X` descends from a fork of `peer`.
    pub fn latest_ancestor(&self, x: EventIndex, peer: PeerIndex) -> Option<EventIndex> {
        let summary = &self.nodes[x.get()].summary;
        if summary.forked_on(peer.0) {
            return None;
        }
        self.ancestor_at(x, peer, summary.last(peer.0)?)
    }

    /// The latest event in `anc(X)` of each of `peers`, skipping those `X` saw fork, in
    /// the order given (the events `strongly_sees` tests; spec §3.5). Written to `out` so
    /// that callers asking about many targets compute it once.
    pub fn latest_ancestors(&self, x: EventIndex, peers: &[PeerIndex], out: &mut Vec<EventIndex>) {
        out.clear();
        out.extend(peers.iter().filter_map(|&p| self.latest_ancestor(x, p)));
    }

    /// `strongly_sees(X, Y)` given the [`Graph::latest_ancestors`] of `X` over the
    /// `voter_count` voters.
    pub fn strongly_sees_via(
        &self,
        latest: &[EventIndex],
        y: EventIndex,
        voter_count: usize,
    ) -> bool {
        let mut seeing = 0;
        for (i, &event) in latest.iter().enumerate() {
            if self.sees(event, y) {
                seeing += 1;
                if 3 * seeing > 2 * voter_count {
                    return true;
                }
            } else if 3 * (seeing + latest.len() - i - 1) <= 2 * voter_count {
                return false;
            }
        }
        3 * seeing > 2 * voter_count
    }

    /// How many of `voters` have a latest event in `anc(X)` that sees `Y` (spec §3.5).
    /// Other creators in the ancestry never count, so events by made-up or former members
    /// cannot make up a quorum.
    pub fn strongly_seeing_count(
        &self,
        x: EventIndex,
        y: EventIndex,
        voters: &[PeerIndex],
    ) -> usize {
        voters
            .iter()
            .filter(|&&p| {
                self.latest_ancestor(x, p)
                    .is_some_and(|latest| self.sees(latest, y))
            })
            .count()
    }

    /// `strongly_sees(X, Y)` for the voter set `voters` (distinct local numbers): more than
    /// two thirds of the voters have a latest event in `anc(X)` that sees `Y` (spec §3.5).
    /// O(voters).
    pub fn strongly_sees(&self, x: EventIndex, y: EventIndex, voters: &[PeerIndex]) -> bool {
        3 * self.strongly_seeing_count(x, y, voters) > 2 * voters.len()
    }

    /// The events to send to `recipient` so that it lacks none of ours (spec §4.2), in
    /// insertion order. May include events it already has. Of a forked slot below what
    /// the recipient's tip knows, only the members its tip's ancestry lacks are sent (the
    /// spec sends every member on every sync: a creator that forked thousands of times
    /// would cost every sync all of its forks).
    pub fn events_to_send(&self, recipient: &PeerId) -> Vec<EventIndex> {
        let Some(tip) = self.peer_index(recipient).and_then(|p| self.tip(p)) else {
            return (0..self.nodes.len() as u32).map(EventIndex).collect();
        };
        let known = &self.nodes[tip.get()].summary;
        let mut out = Vec::new();
        for (p, entry) in self.peers.iter().enumerate() {
            let p = p as u32;
            let first_unknown = known.last(p).map_or(0, |last| last + 1);
            let start = usize::try_from(first_unknown).unwrap_or(usize::MAX);
            out.extend(entry.slots.iter().skip(start).copied());
            for (&slot, extra) in entry.extra.iter() {
                if slot >= first_unknown {
                    out.extend_from_slice(extra);
                } else if known.last(p).is_some() {
                    // Fork evidence below what it knows: it may hold only one side. Send
                    // the members its tip's ancestry lacks (fork id 0 is the slot's first
                    // member, the others follow in order), so that a forked slot costs
                    // each sync nothing once it holds all of it.
                    if let Ok(s) = usize::try_from(slot)
                        && !known.contains(p, slot, 0)
                    {
                        out.push(entry.slots[s]);
                    }
                    for (i, &member) in extra.iter().enumerate() {
                        let fork_id = u32::try_from(i + 1).unwrap_or(u32::MAX);
                        if !known.contains(p, slot, fork_id) {
                            out.push(member);
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }
}
