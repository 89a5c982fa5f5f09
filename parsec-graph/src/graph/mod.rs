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

use std::collections::{BTreeMap, VecDeque};

mod pinned;
mod prune;
mod readmit;
mod summary;

pub use prune::Pruned;
pub use readmit::{ReadmitError, Stub};

use summary::{New, Summary};

// `Graph::self_ancestor_at` (O(log n) by jump pointers) is defined in `summary`.

use crate::event::{CauseKind, Event};
use crate::hashing::DigestMap;
use crate::id::{EventHash, PeerId, PeerIndex};
use crate::observation::{Payload, Vote};

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
    /// Skew-binary jump pointer along the self-chain (`summary`), and the creator index
    /// of its target (known even once the target is pruned).
    jump: EventIndex,
    jump_depth: u64,
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
    /// The event would join a slot of its creator that was pruned (spec §12.5): the
    /// engine skips such events before they get here.
    #[error("slot {index} of the creator was pruned")]
    Pruned {
        /// The slot's index.
        index: u64,
    },
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
    /// Fork-0 member of each slot from index `slot_base` on (entries may name pruned
    /// events; [`Graph::get`] tells).
    slots: VecDeque<EventIndex>,
    slot_base: u64,
    /// Further members of forked slots, by index, in insertion order (held ones only).
    extra: BTreeMap<u64, Vec<EventIndex>>,
    /// The lowest index at which this creator ever forked here (kept after pruning).
    first_fork: Option<u64>,
    /// Below this index nothing of the creator is held that is not at or above the
    /// graph's base (`prune`); 0 while nothing was pruned.
    floor: u64,
    /// The position of every `MARK_EVERY`-th slot's fork-0 member, by index (never
    /// pruned: where catch-up from the store starts reading).
    marks: Vec<EventIndex>,
    tip: Option<EventIndex>,
}

impl PeerEntry {
    /// The fork-0 member of slot `index`, if the slot exists and was not pruned away.
    fn slot_member(&self, index: u64) -> Option<EventIndex> {
        let offset = usize::try_from(index.checked_sub(self.slot_base)?).ok()?;
        self.slots.get(offset).copied()
    }

    /// One past the highest occupied slot.
    fn slot_end(&self) -> u64 {
        self.slot_base + self.slots.len() as u64
    }
}

/// One position in this many of each creator's chain is remembered after pruning.
const MARK_EVERY: u64 = 64;

/// A signed, verified, fork-aware gossip DAG (spec §3).
///
/// It may be pruned ([`Graph::prune`]): positions stay dense and keep their meaning, but
/// events below the base are dropped except for each creator's recent window.
#[derive(Clone, Debug)]
pub struct Graph<T> {
    /// The events at positions `base..`, in position order.
    nodes: VecDeque<EventNode<T>>,
    base: usize,
    /// Events below `base` still held (each creator's window, pinned events; `prune`).
    /// Boxed: filled in position order, a B-tree's nodes stay about half full, and a
    /// pointer wastes less of them than a whole node.
    below: BTreeMap<EventIndex, Box<EventNode<T>>>,
    /// The votes of pinned events that were pruned, with their creators: all a decision
    /// reads of an undecided vote (`prune_keeping`).
    detached: BTreeMap<EventIndex, (PeerId, Box<Vote<T>>)>,
    // Keyed lookups only, never iterated: iteration order cannot leak into results.
    by_hash: DigestMap<EventHash, EventIndex>,
    peers: Vec<PeerEntry>,
    peer_by_id: BTreeMap<PeerId, PeerIndex>,
}

impl<T> Default for Graph<T> {
    fn default() -> Self {
        Graph {
            nodes: VecDeque::new(),
            base: 0,
            below: BTreeMap::new(),
            detached: BTreeMap::new(),
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
            slots: VecDeque::new(),
            slot_base: 0,
            extra: BTreeMap::new(),
            first_fork: None,
            floor: 0,
            marks: Vec::new(),
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
                let node = self.held(parent);
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
                if self.held(parent).event.creator() == event.creator() {
                    return Err(InsertError::OtherParentBySameCreator { parent: *hash });
                }
                Some(parent)
            }
        };
        let position = EventIndex(u32::try_from(self.len()).map_err(|_| InsertError::Full)?);
        let creator = self.register_peer(*event.creator())?;
        let slot = event.index();
        let entry = &mut self.peers[creator.get()];

        // Index 0 always has a member once a creator's later events exist, and indices are
        // contiguous (each event needs its self-parent), so a slot is either the next one
        // or an occupied one.
        // A slot below the pruned range cannot be reached: its self-parent is gone, and the
        // engine skips events below a creator's floor before they get here.
        let (fork_id, fork) = if slot < entry.slot_end() {
            let first = entry
                .slot_member(slot)
                .ok_or(InsertError::Pruned { index: slot })?;
            let extra = entry.extra.entry(slot).or_default();
            extra.push(position);
            // Members stay listed after they are pruned, so fork ids are never reused.
            let fork_id = u32::try_from(extra.len()).map_err(|_| InsertError::Full)?;
            entry.first_fork = Some(entry.first_fork.map_or(slot, |f| f.min(slot)));
            let fork = ForkDetected {
                creator: entry.id,
                index: slot,
                first,
                second: position,
            };
            (fork_id, Some(fork))
        } else {
            entry.slots.push_back(position);
            if slot.is_multiple_of(MARK_EVERY) {
                entry.marks.push(position);
            }
            (0, None)
        };
        let old_tip = entry.tip;
        let tip_index = old_tip.map(|tip| self.held(tip).event.index());
        let entry = &mut self.peers[creator.get()];
        let is_new_tip = tip_index.is_none_or(|t| slot >= t);
        if is_new_tip {
            entry.tip = Some(position);
        }

        let summary = self.merge_summary(
            [self_parent, other_parent],
            New {
                position,
                creator: creator.0,
                index: slot,
                fork_id,
                self_parent,
            },
        );
        let (jump, jump_depth) = self.jump_for(self_parent, position, slot);
        let self_sync_parent = self_parent.and_then(|p| {
            let parent = self.held(p);
            if parent.kind.is_sync() {
                Some(p)
            } else {
                parent.self_sync_parent
            }
        });
        let vote_run = match (event.cause().kind(), self_parent) {
            (CauseKind::Observation, Some(p)) => self.held(p).vote_run.saturating_add(1),
            (CauseKind::Observation, None) => 1,
            _ => 0,
        };
        self.by_hash.insert(*event.hash(), position);
        if self.nodes.len() == self.nodes.capacity() {
            // Grown by a quarter, not doubled: a pruned graph's nodes stay about as many
            // as its windows, and doubling would leave up to half of them unused.
            self.nodes.reserve_exact(self.nodes.len() / 4 + 64);
        }
        self.nodes.push_back(EventNode {
            kind: event.cause().kind(),
            event,
            index: position,
            creator,
            fork_id,
            self_parent,
            other_parent,
            self_sync_parent,
            vote_run,
            jump,
            jump_depth,
            summary,
        });
        Ok(Inserted::New {
            index: position,
            fork,
        })
    }
}

impl<T> Graph<T> {
    /// Number of events ever inserted: the next event's position. Pruned events count.
    pub fn len(&self) -> usize {
        self.base + self.nodes.len()
    }

    /// Whether no event was ever inserted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of events held in memory (all of them unless pruned).
    pub fn held_len(&self) -> usize {
        self.nodes.len() + self.below.len()
    }

    /// The event at `index`.
    ///
    /// # Panics
    /// If `index` did not come from this graph, or names an event pruned since.
    pub fn node(&self, index: EventIndex) -> &EventNode<T> {
        self.held(index)
    }

    /// The event at `index`, if it is held (inserted, and not pruned).
    pub fn get(&self, index: EventIndex) -> Option<&EventNode<T>> {
        match index.get().checked_sub(self.base) {
            Some(offset) => self.nodes.get(offset),
            None => self.below.get(&index).map(|node| &**node),
        }
    }

    /// Whether the event at `index` is held.
    pub fn holds(&self, index: EventIndex) -> bool {
        self.get(index).is_some()
    }

    /// The node at a position the graph's own structure names as held.
    fn held(&self, index: EventIndex) -> &EventNode<T> {
        match self.get(index) {
            Some(node) => node,
            None => panic!("event {index:?} is not held by this graph"),
        }
    }

    /// The position of the event with this hash.
    pub fn index_of(&self, hash: &EventHash) -> Option<EventIndex> {
        self.by_hash.get(hash).copied()
    }

    /// Whether an event with this hash is present.
    pub fn contains(&self, hash: &EventHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// All events held, in insertion (topological) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &EventNode<T>> {
        self.below
            .values()
            .map(|node| &**node)
            .chain(self.nodes.iter())
    }

    /// Events held that were inserted at or after `from`, in insertion order.
    pub fn iter_from(&self, from: EventIndex) -> impl Iterator<Item = &EventNode<T>> {
        let skip = from.get().saturating_sub(self.base);
        self.below
            .range(from..)
            .map(|(_, node)| &**node)
            .chain(self.nodes.iter().skip(skip))
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

    /// The held members of `peer`'s slot `index`, in insertion order (two or more: a fork).
    pub fn slot(&self, peer: PeerIndex, index: u64) -> Vec<EventIndex> {
        let Some(entry) = self.peers.get(peer.get()) else {
            return Vec::new();
        };
        let first = entry.slot_member(index);
        let extra = entry.extra.get(&index).into_iter().flatten().copied();
        first
            .into_iter()
            .chain(extra)
            .filter(|&member| self.holds(member))
            .collect()
    }

    /// Whether `peer` has ever forked in this graph (pruning does not forget it).
    pub fn has_forked(&self, peer: PeerIndex) -> bool {
        self.peers
            .get(peer.get())
            .is_some_and(|entry| entry.first_fork.is_some())
    }

    /// The lowest index at which `peer` ever forked in this graph, if it did.
    pub fn first_fork(&self, peer: PeerIndex) -> Option<u64> {
        self.peers
            .get(peer.get())
            .and_then(|entry| entry.first_fork)
    }

    /// Whether `peer`'s slot `index` holds two or more events here.
    pub fn is_forked_slot(&self, peer: PeerIndex, index: u64) -> bool {
        self.peers
            .get(peer.get())
            .is_some_and(|entry| entry.extra.contains_key(&index))
    }

    /// The indices at which `peer` forked, ascending (those not pruned away entirely).
    pub fn forked_slots(&self, peer: PeerIndex) -> impl Iterator<Item = u64> + '_ {
        self.peers
            .get(peer.get())
            .into_iter()
            .flat_map(|entry| entry.extra.keys().copied())
    }

    /// `last_X[peer]`: the highest index of `peer`'s events in `anc(X)`.
    pub fn last_ancestor(&self, x: EventIndex, peer: PeerIndex) -> Option<u64> {
        self.held(x).summary.last(peer.0)
    }

    /// Every defined `last_X[p]`, in local-number order.
    pub fn last_ancestors(&self, x: EventIndex) -> impl Iterator<Item = (PeerIndex, u64)> + '_ {
        self.held(x)
            .summary
            .last
            .iter()
            .enumerate()
            .filter(|(_, plus_one)| **plus_one > 0)
            .map(|(p, plus_one)| (PeerIndex(p as u32), u64::from(*plus_one) - 1))
    }

    /// `X ⪰ Y`: `Y` is `X` or one of its ancestors, except that when `X` descends from a
    /// fork of `Y`'s creator, `Y` counts only if it lies below that creator's floor in
    /// `anc(X)` (module docs: compaction above a fork). O(1) for a creator that never
    /// forked, O(log n) for one that did.
    pub fn is_descendant_of(&self, x: EventIndex, y: EventIndex) -> bool {
        x == y || self.reaches(&self.held(x).summary, y)
    }

    /// Whether `anc(X)` holds two events of any one creator with the same index.
    pub fn has_forks_in_ancestry(&self, x: EventIndex) -> bool {
        self.held(x).summary.floors().next().is_some()
    }

    /// Whether `anc(X)` holds two events of `peer` with the same index.
    pub fn descends_from_fork_of(&self, x: EventIndex, peer: PeerIndex) -> bool {
        self.held(x).summary.forked_on(peer.0)
    }

    /// `peer`'s floor in `anc(X)`: the lowest index at which `anc(X)` holds two of its
    /// events, if any (module docs).
    pub fn fork_floor(&self, x: EventIndex, peer: PeerIndex) -> Option<u64> {
        self.held(x).summary.floor(peer.0)
    }

    /// Every creator `X` descends from a fork of, with its floor, by local number.
    pub fn fork_floors(&self, x: EventIndex) -> impl Iterator<Item = (PeerIndex, u64)> + '_ {
        self.held(x)
            .summary
            .floors()
            .map(|(c, f)| (PeerIndex(c), f))
    }

    /// `sees(X, Y)`: `X ⪰ Y` and `X` does not descend from a fork of `Y`'s creator (spec §3.4).
    pub fn sees(&self, x: EventIndex, y: EventIndex) -> bool {
        let summary = &self.held(x).summary;
        !summary.forked_on(self.held(y).creator.0) && self.reaches(summary, y)
    }

    /// The event of `peer` at `index` in `anc(X)`, when exactly one is there (and it lies
    /// below `peer`'s floor, if `X` descends from a fork of `peer`).
    pub fn ancestor_at(&self, x: EventIndex, peer: PeerIndex, index: u64) -> Option<EventIndex> {
        self.reached_at(&self.held(x).summary, peer.0, index)
    }

    /// The event of `peer` at `last_X[peer]`, unless `X` descends from a fork of `peer`.
    pub fn latest_ancestor(&self, x: EventIndex, peer: PeerIndex) -> Option<EventIndex> {
        let summary = &self.held(x).summary;
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
            return self
                .iter()
                .filter(|node| {
                    node.index.get() >= self.base
                        || node.event.index() >= self.peers[node.creator.get()].floor
                })
                .map(|node| node.index)
                .collect();
        };
        let known = &self.held(tip).summary;
        let mut out = Vec::new();
        for (p, entry) in self.peers.iter().enumerate() {
            let p = p as u32;
            let first_unknown = known.last(p).map_or(0, |last| last + 1);
            let skip = first_unknown.saturating_sub(entry.slot_base);
            let start = usize::try_from(skip).unwrap_or(usize::MAX);
            out.extend(entry.slots.iter().skip(start).copied());
            for (&slot, extra) in entry.extra.iter() {
                if slot >= first_unknown {
                    out.extend_from_slice(extra);
                } else if known.last(p).is_some() {
                    // Fork evidence below what it knows: it may hold only one side. Send
                    // the members its tip's ancestry lacks, so that a forked slot costs
                    // each sync nothing once it holds all of it.
                    let first = entry.slot_member(slot);
                    for member in first.into_iter().chain(extra.iter().copied()) {
                        if self.holds(member) && !self.reaches(known, member) {
                            out.push(member);
                        }
                    }
                }
            }
        }
        // What was pruned cannot be sent from memory, and what is held below its creator's
        // floor (a pinned vote) is not either: catch-up from the store serves both, as
        // part of the pruned history, so that no event is sent twice.
        out.retain(|&at| {
            self.get(at).is_some_and(|node| {
                at.get() >= self.base || node.event.index() >= self.peers[node.creator.get()].floor
            })
        });
        out.sort_unstable();
        out
    }
}
