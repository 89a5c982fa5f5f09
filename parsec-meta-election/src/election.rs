//! The sequence of meta-elections over one peer's graph (spec §6, §8.1, §8.2, §8.5, §8.6).
//!
//! # How it works
//!
//! Every inserted event is evaluated once, in insertion order, in the current election.
//! A voter's sync event gets a *meta-event*: its interesting content (the undecided keys
//! that became interesting in its ancestry), whether it is an observer, and, from its
//! creator's observer on, one meta-vote list per candidate. When every list of an event
//! ends decided, the keys nominated by the candidates decided `true` form the decided
//! group, and the next election starts from the earliest undecided vote.
//!
//! Content is kept incremental: per voter we keep a tally of the undecided votes in the
//! ancestry of its latest sync event (a cursor per creator over that creator's votes, which
//! the creator's chain adds in index order), so each event only looks at votes it has not
//! seen before. After a decision with an unchanged voter set, meta-events before the old
//! election's first observer keep their content minus the decided keys (the original's
//! reuse procedure, §8.6); a changed voter set re-evaluates everything from the restart
//! point (§8.5).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use smallvec::SmallVec;

use parsec_coin::{CoinContext, CoinId, CommonCoin, ElectionInfo};
use parsec_graph::hashing::DigestMap;
use parsec_graph::{
    ConsensusMode, EventIndex, Graph, ObservationKey, Payload, PeerId, PeerIndex, encoding,
};

use crate::metavote::{MetaVote, Thresholds, advance, advance_into};

/// The voters of one election with their local numbers, in `PeerId` order. A voter's
/// position in this order is its *slot*: candidates and lists are indexed by slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoterSet {
    ids: Vec<PeerId>,
    indices: Vec<PeerIndex>,
    slot_of: Vec<Option<u32>>,
}

impl VoterSet {
    /// The voter set of `(PeerId, PeerIndex)` pairs (any order; duplicates ignored).
    pub fn new(mut voters: Vec<(PeerId, PeerIndex)>) -> Self {
        voters.sort();
        voters.dedup();
        let mut slot_of = Vec::new();
        for (slot, (_, index)) in voters.iter().enumerate() {
            if slot_of.len() <= index.get() {
                slot_of.resize(index.get() + 1, None);
            }
            slot_of[index.get()] = Some(slot as u32);
        }
        VoterSet {
            ids: voters.iter().map(|(id, _)| *id).collect(),
            indices: voters.iter().map(|(_, index)| *index).collect(),
            slot_of,
        }
    }

    /// Number of voters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The voters' identities, ascending.
    pub fn ids(&self) -> &[PeerId] {
        &self.ids
    }

    /// The slot of a local peer number, if that peer votes.
    pub fn slot(&self, peer: PeerIndex) -> Option<usize> {
        self.slot_of
            .get(peer.get())
            .copied()
            .flatten()
            .map(|s| s as usize)
    }

    /// Whether `peer` votes.
    pub fn contains(&self, peer: PeerIndex) -> bool {
        self.slot(peer).is_some()
    }
}

/// What one election decided, at which event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The election's number.
    pub election: u64,
    /// The event at which it was decided.
    pub at: EventIndex,
    /// The decided keys, in decided order (never empty).
    pub keys: Vec<ObservationKey>,
    /// Per key: the vote events by voters of this election, one per voter (its latest).
    pub votes: Vec<Vec<EventIndex>>,
    /// Per key: the earliest registered vote event for it, whoever voted (its observation
    /// is needed for membership effects even when no voter voted it).
    pub first_votes: Vec<Option<EventIndex>>,
    /// The voters of the deciding election.
    pub voters: Vec<PeerId>,
}

/// Observer status of a meta-event (spec §6.4).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Observer {
    None,
    /// This event is its creator's observer; the observee slots.
    This(Vec<u32>),
    /// A self-ancestor was the observer.
    After,
}

/// Dense local number of an observation key, in order of first registration: the hot
/// paths compare and hash these instead of 64-byte keys.
type KeyId = u32;

/// The coin id an entry waiting at `(ρ, FT)` for candidate `p` needs: `(e, p, ρ − 1)`
/// (spec §6.5.7), and the context to ask it in.
fn coin_query<'a, T>(
    info: &'a ElectionInfo<'a>,
    p: usize,
    entry: &MetaVote,
    graph: &'a Graph<T>,
    event: EventIndex,
) -> (CoinId, CoinContext<'a, T>) {
    let id = CoinId {
        election: info.election,
        candidate: info.voters[p],
        round: entry.round.saturating_sub(1),
    };
    (
        id,
        CoinContext {
            graph,
            at: event,
            info,
        },
    )
}

/// `blake3(GROUP_TAG ‖ enc(Vec<ObservationHash>))` of a decided group (spec §1.3), encoded
/// by hand: a `u64` count, then the raw hashes.
fn group_hash(keys: &[ObservationKey]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(encoding::GROUP_TAG);
    hasher.update(&(keys.len() as u64).to_le_bytes());
    for key in keys {
        hasher.update(key.hash().as_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// The first eight bytes of a key's observation hash, big-endian: agrees with key order
/// whenever it differs.
fn hash_prefix(key: &ObservationKey) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&key.hash().as_bytes()[..8]);
    u64::from_be_bytes(prefix)
}

fn bit(set: &[u64], id: KeyId) -> bool {
    set.get(id as usize / 64)
        .is_some_and(|word| word & (1 << (id % 64)) != 0)
}

fn set_small_bit(set: &mut SmallVec<[u64; 1]>, slot: usize) {
    let word = slot / 64;
    if set.len() <= word {
        set.resize(word + 1, 0);
    }
    set[word] |= 1 << (slot % 64);
}

fn clear_bit(set: &mut [u64], id: KeyId) {
    if let Some(word) = set.get_mut(id as usize / 64) {
        *word &= !(1 << (id % 64));
    }
}

fn set_bit(set: &mut Vec<u64>, id: KeyId) {
    let word = id as usize / 64;
    if set.len() <= word {
        set.resize(word + 1, 0);
    }
    set[word] |= 1 << (id % 64);
}

type List = Arc<[MetaVote]>;

#[derive(Clone, Debug)]
struct MetaEvent {
    content: Vec<KeyId>,
    observer: Observer,
    lists: Option<Lists>,
    /// Voter slots whose first interesting event this event strongly sees (bitset), kept
    /// while it is not an observer so that its successor need not test them again.
    strongly_seen: SmallVec<[u64; 1]>,
}

/// The meta-vote lists of an event, with what they were computed from.
#[derive(Clone, Debug)]
struct Lists {
    /// One list per candidate slot. Lists are shared between an event and its successor
    /// while they do not change (decided ones never do).
    per_candidate: Box<[List]>,
    /// Per voter slot: the other voter's latest event with lists that was counted.
    others: SmallVec<[Option<EventIndex>; 8]>,
    /// Whether the coin filled an estimate here (then the next event must recompute).
    coin_applied: bool,
}

#[derive(Clone, Copy, Debug)]
struct VoteRecord {
    event: EventIndex,
    creator: PeerIndex,
    index: u64,
    key: KeyId,
    decided: bool,
}

/// What a voter's tally knows about one key.
#[derive(Clone, Debug, Default)]
struct KeyTally {
    /// Voter slots whose votes for the key are in the ancestry (bitset).
    voters: Vec<u64>,
    count: usize,
    /// Index of the tally owner's own earliest vote for the key.
    own_index: Option<u64>,
}

/// The undecided votes in the ancestry of a voter's latest evaluated sync event.
#[derive(Clone, Debug, Default)]
struct Tally {
    /// Per creator: how many of its vote records have been looked at.
    cursors: Vec<usize>,
    /// Records looked at but not (yet) in the ancestry: only with forks.
    deferred: Vec<usize>,
    keys: BTreeMap<KeyId, KeyTally>,
    /// Keys interesting by their votes and not yet in the voter's content union.
    /// (May hold a key twice; deduplicated when taken.)
    ready: Vec<KeyId>,
    /// The event the tally describes the ancestry of.
    at: Option<EventIndex>,
}

/// The meta-elections of one peer, generic over the coin.
#[derive(Debug)]
pub struct Elections<C> {
    coin: C,
    mode: ConsensusMode,
    election: u64,
    voters: VoterSet,
    th: Thresholds,
    previous_group_hash: [u8; 32],
    records: Vec<VoteRecord>,
    by_creator: Vec<Vec<usize>>,
    /// Every key ever registered, by id, and the reverse index.
    keys: Vec<ObservationKey>,
    key_ids: DigestMap<ObservationKey, KeyId>,
    /// Per key: decided in an earlier election.
    decided: Vec<bool>,
    /// Per key: its vote records while undecided.
    votes_of: Vec<Vec<usize>>,
    undecided: BTreeSet<KeyId>,
    decided_groups: u64,
    meta: Vec<Option<MetaEvent>>,
    observers: Vec<EventIndex>,
    interesting: Vec<Vec<EventIndex>>,
    /// Per voter slot: the keys of its interesting events this election (bitset by id).
    union: Vec<Vec<u64>>,
    tallies: Vec<Tally>,
    /// Set between a decision and the start of the next election.
    restart_pending: bool,
    /// Events evaluated so far (all positions below are evaluated).
    evaluated: usize,
    /// Meta-events below this position are all `None` (they precede every restart point).
    cleared: usize,
    /// Reused buffers of the hot path.
    scratch_latest: Vec<EventIndex>,
    scratch_fresh: Vec<usize>,
    scratch_list: Vec<MetaVote>,
}

/// Misuse of the election state by the engine (never caused by peer data).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElectionError {
    /// An event was fed while a decision awaited `start_next_election`.
    #[error("a decision is pending: start the next election first")]
    RestartPending,
    /// `start_next_election` without a decision.
    #[error("no decision is pending")]
    NoDecision,
    /// Events were fed out of insertion order.
    #[error("event {got} fed, expected {expected}")]
    OutOfOrder {
        /// The position expected next.
        expected: usize,
        /// The position fed.
        got: usize,
    },
    /// An election with no voters.
    #[error("an election needs at least one voter")]
    NoVoters,
}

impl<C: CommonCoin> Elections<C> {
    /// Election 0 with `voters`.
    pub fn new(voters: VoterSet, mode: ConsensusMode, coin: C) -> Result<Self, ElectionError> {
        if voters.is_empty() {
            return Err(ElectionError::NoVoters);
        }
        let n = voters.len();
        Ok(Elections {
            coin,
            mode,
            election: 0,
            th: Thresholds::new(n),
            voters,
            previous_group_hash: [0; 32],
            records: Vec::new(),
            by_creator: Vec::new(),
            keys: Vec::new(),
            key_ids: DigestMap::default(),
            decided: Vec::new(),
            votes_of: Vec::new(),
            undecided: BTreeSet::new(),
            decided_groups: 0,
            meta: Vec::new(),
            observers: Vec::new(),
            interesting: vec![Vec::new(); n],
            union: vec![Vec::new(); n],
            tallies: vec![Tally::default(); n],
            restart_pending: false,
            evaluated: 0,
            cleared: 0,
            scratch_latest: Vec::new(),
            scratch_fresh: Vec::new(),
            scratch_list: Vec::new(),
        })
    }

    /// The current election's number.
    pub fn election(&self) -> u64 {
        self.election
    }

    /// The current voters.
    pub fn voters(&self) -> &VoterSet {
        &self.voters
    }

    /// The consensus mode.
    pub fn mode(&self) -> ConsensusMode {
        self.mode
    }

    /// The coin.
    pub fn coin(&self) -> &C {
        &self.coin
    }

    /// The coin, mutably (to take outgoing data).
    pub fn coin_mut(&mut self) -> &mut C {
        &mut self.coin
    }

    /// Whether `key` was decided in an earlier election.
    pub fn is_decided(&self, key: &ObservationKey) -> bool {
        self.key_ids
            .get(key)
            .is_some_and(|&id| self.decided[id as usize])
    }

    /// Whether an undecided vote for `key` is registered.
    pub fn is_undecided(&self, key: &ObservationKey) -> bool {
        self.key_ids
            .get(key)
            .is_some_and(|id| self.undecided.contains(id))
    }

    fn intern(&mut self, key: ObservationKey) -> KeyId {
        if let Some(&id) = self.key_ids.get(&key) {
            return id;
        }
        let id = self.keys.len() as KeyId;
        self.keys.push(key);
        self.key_ids.insert(key, id);
        self.decided.push(false);
        self.votes_of.push(Vec::new());
        id
    }

    /// Number of groups decided so far.
    pub fn decided_groups(&self) -> u64 {
        self.decided_groups
    }

    /// The group hash of the last decision (zeros before the first).
    pub fn previous_group_hash(&self) -> &[u8; 32] {
        &self.previous_group_hash
    }

    /// The interesting content of `event` in the current election (its ordered keys), if
    /// it has a meta-event: for tests and diagnostics comparing peers' evaluations.
    pub fn content_of(&self, event: EventIndex) -> Option<Vec<ObservationKey>> {
        let meta = self.meta.get(event.get())?.as_ref()?;
        Some(
            meta.content
                .iter()
                .map(|&id| self.keys[id as usize])
                .collect(),
        )
    }

    /// The key of a vote event, under this mode.
    pub fn key_of<T: Payload>(
        &self,
        graph: &Graph<T>,
        event: EventIndex,
    ) -> Option<ObservationKey> {
        let node = graph.node(event);
        let vote = node.event().vote()?;
        let hash = node.event().observation_hash()?;
        Some(
            vote.observation
                .key(*hash, *graph.peer_id(node.creator()), self.mode),
        )
    }

    /// Registers the newly inserted event `event` and evaluates it (spec §6.2). Events must
    /// be fed in insertion order, each exactly once.
    pub fn on_insert<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
    ) -> Result<Option<Decision>, ElectionError> {
        if self.restart_pending {
            return Err(ElectionError::RestartPending);
        }
        if event.get() != self.evaluated {
            return Err(ElectionError::OutOfOrder {
                expected: self.evaluated,
                got: event.get(),
            });
        }
        let key = self.key_of(graph, event).map(|key| self.intern(key));
        if let Some(key) = key
            && !self.decided[key as usize]
        {
            let node = graph.node(event);
            let id = self.records.len();
            self.records.push(VoteRecord {
                event,
                creator: node.creator(),
                index: node.creator_index(),
                key,
                decided: false,
            });
            let creator = node.creator().get();
            if self.by_creator.len() <= creator {
                self.by_creator.resize(creator + 1, Vec::new());
            }
            self.by_creator[creator].push(id);
            self.votes_of[key as usize].push(id);
            self.undecided.insert(key);
        }
        self.meta.push(None);
        self.evaluated += 1;
        Ok(self.evaluate(graph, event, None))
    }

    /// Starts the election after a decision, with `voters` (the same set for no change),
    /// and re-evaluates the graph from the restart point (spec §8.5, §8.6). Returns the
    /// next decision if the re-evaluation reaches one (a cascade).
    pub fn start_next_election<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        voters: VoterSet,
    ) -> Result<Option<Decision>, ElectionError> {
        if !self.restart_pending {
            return Err(ElectionError::NoDecision);
        }
        if voters.is_empty() {
            return Err(ElectionError::NoVoters);
        }
        self.restart_pending = false;
        self.election += 1;
        let end = self.evaluated;
        let restart = self
            .undecided
            .iter()
            .flat_map(|&key| &self.votes_of[key as usize])
            .map(|&id| self.records[id].event.get())
            .min()
            .unwrap_or(end);
        let first_observer = self.observers.iter().map(|o| o.get()).min();
        self.observers.clear();
        let cleared = self.cleared.min(restart).min(end);
        for meta in &mut self.meta[cleared..restart.min(end)] {
            *meta = None;
        }
        self.cleared = self.cleared.max(restart.min(end));

        if voters != self.voters {
            let n = voters.len();
            self.voters = voters;
            self.th = Thresholds::new(n);
            self.interesting = vec![Vec::new(); n];
            self.union = vec![Vec::new(); n];
            self.tallies = vec![Tally::default(); n];
            for meta in &mut self.meta[restart.min(end)..] {
                *meta = None;
            }
            for position in restart..end {
                let event = EventIndex::from(position);
                if let Some(decision) = self.evaluate(graph, event, None) {
                    return Ok(Some(decision));
                }
            }
            return Ok(None);
        }

        let resume = restart.max(first_observer.unwrap_or(restart)).min(end);
        for interesting in &mut self.interesting {
            interesting.clear();
        }
        // The content unions need no rebuilding: every content kept below is the old
        // content minus the decided keys, so each union is the old one minus those keys,
        // which `conclude` already cleared.
        for position in restart..resume {
            let Some(meta) = self.meta[position].as_mut() else {
                continue;
            };
            meta.observer = Observer::None;
            meta.lists = None;
            meta.strongly_seen.clear();
            if !meta.content.is_empty() {
                let creator = graph.node(EventIndex::from(position)).creator();
                if let Some(slot) = self.voters.slot(creator) {
                    self.interesting[slot].push(EventIndex::from(position));
                }
            }
        }
        for position in resume..end {
            let event = EventIndex::from(position);
            let kept = self.meta[position].take().map(|meta| meta.content);
            if let Some(decision) = self.evaluate(graph, event, kept) {
                return Ok(Some(decision));
            }
        }
        Ok(None)
    }

    /// Evaluates one event in the current election; `kept` is the content it keeps from an
    /// earlier election (already stripped of decided keys).
    fn evaluate<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        kept: Option<Vec<KeyId>>,
    ) -> Option<Decision> {
        let node = graph.node(event);
        if node.is_sync()
            && let Some(slot) = self.voters.slot(node.creator())
        {
            self.build_meta(graph, event, slot, kept);
        }
        self.decide_at(graph, event)
    }

    fn has_lists(&self, event: EventIndex) -> bool {
        self.meta
            .get(event.get())
            .and_then(Option::as_ref)
            .is_some_and(|m| m.lists.is_some())
    }

    fn build_meta<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
        kept: Option<Vec<KeyId>>,
    ) {
        let n = self.voters.len();
        let self_sync_parent = graph.node(event).self_sync_parent();
        let parent_lists = self_sync_parent.is_some_and(|s| self.has_lists(s));

        // Observer first: it reads the first interesting events registered before this one.
        let mut strongly_seen: SmallVec<[u64; 1]> = SmallVec::new();
        let observer = if parent_lists {
            Observer::After
        } else {
            // An observer needs a supermajority of voters with a first interesting event.
            let firsts = self.interesting.iter().filter(|i| !i.is_empty()).count();
            if self.th.supermajority(firsts) {
                // Without forks in the ancestry, strongly seeing is monotone along a chain:
                // what the self-sync-parent strongly saw, this event strongly sees too.
                let inherited: SmallVec<[u64; 1]> = if graph.has_forks_in_ancestry(event) {
                    SmallVec::new()
                } else {
                    self_sync_parent
                        .and_then(|s| self.meta[s.get()].as_ref())
                        .map(|m| m.strongly_seen.clone())
                        .unwrap_or_default()
                };
                let mut latest = std::mem::take(&mut self.scratch_latest);
                let mut latest_ready = false;
                for p in 0..n {
                    let Some(&first) = self.interesting[p].first() else {
                        continue;
                    };
                    if bit(&inherited, p as KeyId) {
                        set_small_bit(&mut strongly_seen, p);
                        continue;
                    }
                    if !latest_ready {
                        graph.latest_ancestors(event, &mut latest);
                        latest_ready = true;
                    }
                    if graph.strongly_sees_via(&latest, first, n) {
                        set_small_bit(&mut strongly_seen, p);
                    }
                }
                self.scratch_latest = latest;
                let observees: Vec<u32> =
                    (0..n as u32).filter(|&p| bit(&strongly_seen, p)).collect();
                if self.th.supermajority(observees.len()) {
                    Observer::This(observees)
                } else {
                    Observer::None
                }
            } else {
                Observer::None
            }
        };

        let fresh = kept.is_none();
        let content = match kept {
            Some(content) => content,
            None => self.compute_content(graph, event, slot),
        };
        if !content.is_empty() {
            self.interesting[slot].push(event);
            if fresh {
                for &key in &content {
                    set_bit(&mut self.union[slot], key);
                }
            }
        }

        let lists = match &observer {
            Observer::None => None,
            Observer::This(observees) => {
                self.observers.push(event);
                Some(self.observer_lists(graph, event, slot, observees))
            }
            Observer::After => {
                self_sync_parent.and_then(|s| self.following_lists(graph, event, slot, s))
            }
        };
        if !matches!(observer, Observer::None) {
            strongly_seen.clear();
        }
        self.meta[event.get()] = Some(MetaEvent {
            content,
            observer,
            lists,
            strongly_seen,
        });
    }

    /// Per voter slot, the latest event of each other voter in the ancestry, if it has
    /// lists in this election (spec §6.5.2).
    fn others<T: Payload>(
        &self,
        graph: &Graph<T>,
        event: EventIndex,
        own_slot: usize,
    ) -> SmallVec<[Option<EventIndex>; 8]> {
        (0..self.voters.len())
            .map(|q| {
                if q == own_slot {
                    return None;
                }
                graph
                    .latest_ancestor(event, self.voters.indices[q])
                    .filter(|&latest| self.has_lists(latest))
            })
            .collect()
    }

    /// Candidate `p`'s list at `event` (shared handle).
    fn list(&self, event: EventIndex, p: usize) -> Option<&List> {
        self.meta[event.get()]
            .as_ref()
            .and_then(|m| m.lists.as_ref())
            .and_then(|lists| lists.per_candidate.get(p))
    }

    /// The others' lists for candidate `p`, in voter order.
    fn others_lists<'a>(
        &'a self,
        others: &[Option<EventIndex>],
        p: usize,
        out: &mut Vec<&'a [MetaVote]>,
    ) {
        out.clear();
        out.extend(
            others
                .iter()
                .flatten()
                .map(|&q| self.list(q, p).map_or(&[][..], |l| &l[..])),
        );
    }

    fn observer_lists<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
        observees: &[u32],
    ) -> Lists {
        let others = self.others(graph, event, slot);
        let mut lists: Vec<&[MetaVote]> = Vec::with_capacity(others.len());
        let per_candidate: Box<[List]> = (0..self.voters.len())
            .map(|p| {
                let initial = [MetaVote::initial(observees.contains(&(p as u32)))];
                self.others_lists(&others, p, &mut lists);
                List::from(advance(&initial, &lists, self.th))
            })
            .collect();
        // No coin is applied at an observer, but its needs are reported (spec §6.5.7).
        let info = ElectionInfo {
            election: self.election,
            voters: &self.voters.ids,
            previous_group_hash: self.previous_group_hash,
        };
        for (p, list) in per_candidate.iter().enumerate() {
            for entry in list.iter().filter(|m| m.awaits_coin()) {
                let (id, ctx) = coin_query(&info, p, entry, graph, event);
                self.coin.on_needed(&id, &ctx);
            }
        }
        Lists {
            per_candidate,
            others,
            coin_applied: false,
        }
    }

    fn following_lists<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
        parent: EventIndex,
    ) -> Option<Lists> {
        let others = self.others(graph, event, slot);
        // Disjoint borrows: the lists are read while the coin is asked.
        let meta = &self.meta;
        let coin = &mut self.coin;
        let th = self.th;
        let info = ElectionInfo {
            election: self.election,
            voters: &self.voters.ids,
            previous_group_hash: self.previous_group_hash,
        };
        let parent_lists = meta[parent.get()].as_ref()?.lists.as_ref()?;
        let lists_of = |q: Option<EventIndex>| -> Option<&[List]> {
            meta[q?.get()]
                .as_ref()
                .and_then(|m| m.lists.as_ref())
                .map(|l| &l.per_candidate[..])
        };
        // The other voters' lists, in voter order, and for the voters whose latest event
        // changed since our parent's evaluation, the old and new lists side by side.
        let other_lists: SmallVec<[&[List]; 16]> =
            others.iter().filter_map(|&q| lists_of(q)).collect();
        let mut comparable = !parent_lists.coin_applied;
        let mut changed: SmallVec<[(&[List], &[List]); 8]> = SmallVec::new();
        for (&old, &new) in parent_lists.others.iter().zip(others.iter()) {
            if old != new {
                match (lists_of(old), lists_of(new)) {
                    (Some(a), Some(b)) => changed.push((a, b)),
                    _ => comparable = false,
                }
            }
        }
        let mut all: Vec<List> = Vec::with_capacity(parent_lists.per_candidate.len());
        let mut lists: SmallVec<[&[MetaVote]; 16]> = SmallVec::new();
        let mut list: Vec<MetaVote> = std::mem::take(&mut self.scratch_list);
        let mut coin_applied = false;
        for (p, previous) in parent_lists.per_candidate.iter().enumerate() {
            // A list that is one decided entry cannot change; a longer decided list can
            // still be cut back to an earlier entry that now decides (spec §6.5.6).
            let decided =
                previous.len() == 1 && previous.last().is_some_and(|m| m.decision().is_some());
            // Advancing is idempotent for fixed inputs: when every changed other event
            // carries the very same list for this candidate, the parent's list stands.
            // An entry still waiting for the coin must ask again at every event.
            let unchanged = comparable
                && !previous.iter().any(MetaVote::awaits_coin)
                && changed.iter().all(|(a, b)| Arc::ptr_eq(&a[p], &b[p]));
            if decided || unchanged {
                all.push(previous.clone());
                continue;
            }
            lists.clear();
            lists.extend(other_lists.iter().map(|l| &l[p][..]));
            advance_into(previous, &lists, th, &mut list);
            for entry in list.iter_mut().filter(|m| m.awaits_coin()) {
                let (id, ctx) = coin_query(&info, p, entry, graph, event);
                coin.on_needed(&id, &ctx);
                if let Some(value) = coin.value(&id, &ctx)
                    && let crate::metavote::MetaValue::Undecided { est, .. } = &mut entry.value
                {
                    *est = crate::metavote::BoolSet::single(value);
                    coin_applied = true;
                }
            }
            if list[..] == previous[..] {
                all.push(previous.clone());
            } else {
                all.push(List::from(&list[..]));
            }
        }
        self.scratch_list = list;
        Some(Lists {
            per_candidate: all.into_boxed_slice(),
            others,
            coin_applied,
        })
    }

    /// Brings the voter's tally up to `event`'s ancestry and takes the keys that became
    /// interesting (spec §6.3).
    fn compute_content<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
    ) -> Vec<KeyId> {
        let own = self.voters.indices[slot];
        let tally = &mut self.tallies[slot];
        // The tally grows with its voter's chain. A voter that forked moves between branches,
        // and the new event does not see what the other branch saw: count afresh.
        if tally
            .at
            .is_some_and(|at| !graph.is_descendant_of(event, at))
        {
            *tally = Tally::default();
        }
        tally.at = Some(event);
        if tally.cursors.len() < self.by_creator.len() {
            tally.cursors.resize(self.by_creator.len(), 0);
        }
        let mut fresh = std::mem::take(&mut self.scratch_fresh);
        fresh.clear();
        tally.deferred.retain(|&id| {
            if self.records[id].decided {
                false
            } else if graph.is_descendant_of(event, self.records[id].event) {
                fresh.push(id);
                false
            } else {
                true
            }
        });
        for (creator, ids) in self.by_creator.iter().enumerate() {
            let cursor = &mut tally.cursors[creator];
            if *cursor == ids.len() {
                continue;
            }
            let peer = PeerIndex::from(creator);
            let last = graph.last_ancestor(event, peer);
            let forked = graph.has_forked(peer);
            while let Some(&id) = ids.get(*cursor) {
                let record = &self.records[id];
                // Without forks a creator's votes arrive in index order and the ancestry
                // holds exactly those up to `last`; with forks each is checked.
                if !forked && last.is_none_or(|l| record.index > l) {
                    break;
                }
                *cursor += 1;
                if record.decided {
                    continue;
                }
                if !forked || graph.is_descendant_of(event, record.event) {
                    fresh.push(id);
                } else {
                    tally.deferred.push(id);
                }
            }
        }
        for &id in &fresh {
            let record = self.records[id];
            if record.decided || bit(&self.union[slot], record.key) {
                continue;
            }
            if let ObservationKey::Single(..) = self.keys[record.key as usize] {
                // A single key is interesting on any one vote: only the rank is tallied.
                if record.creator == own {
                    let entry = tally.keys.entry(record.key).or_default();
                    entry.own_index.get_or_insert(record.index);
                }
                tally.ready.push(record.key);
                continue;
            }
            let entry = tally.keys.entry(record.key).or_default();
            let mut counted = false;
            if let Some(voter) = self.voters.slot(record.creator) {
                let (word, bit) = (voter / 64, 1u64 << (voter % 64));
                if entry.voters.len() <= word {
                    entry.voters.resize(word + 1, 0);
                }
                if entry.voters[word] & bit == 0 {
                    entry.voters[word] |= bit;
                    entry.count += 1;
                    counted = true;
                }
            }
            if record.creator == own && entry.own_index.is_none() {
                entry.own_index = Some(record.index);
            }
            // Once, when the count first reaches a supermajority.
            if counted
                && self.th.supermajority(entry.count)
                && !self.th.supermajority(entry.count - 1)
            {
                tally.ready.push(record.key);
            }
        }
        self.scratch_fresh = fresh;
        if tally.ready.is_empty() {
            return Vec::new();
        }
        let single_ok = {
            let known = self
                .voters
                .indices
                .iter()
                .filter(|&&v| graph.last_ancestor(event, v).is_some())
                .count();
            self.th.supermajority(known)
        };
        let keys = &self.keys;
        let taken = |id: &KeyId| {
            single_ok || matches!(keys[*id as usize], ObservationKey::Supermajority(_))
        };
        let mut content: Vec<(u64, u64, KeyId)> = tally
            .ready
            .iter()
            .filter(|id| taken(id))
            .map(|&id| {
                let rank = tally
                    .keys
                    .get(&id)
                    .and_then(|t| t.own_index)
                    .unwrap_or(u64::MAX);
                (rank, hash_prefix(&keys[id as usize]), id)
            })
            .collect();
        // Key order compares hashes first; their leading bytes settle almost every pair.
        content.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| keys[a.2 as usize].cmp(&keys[b.2 as usize]))
        });
        content.dedup_by_key(|(_, _, id)| *id);
        tally.ready.retain(|id| !taken(id));
        for (_, _, id) in &content {
            tally.keys.remove(id);
        }
        content.into_iter().map(|(_, _, id)| id).collect()
    }

    /// The decision at `event`, if any (spec §8.1, §8.2).
    fn decide_at<T: Payload>(&mut self, graph: &Graph<T>, event: EventIndex) -> Option<Decision> {
        let creator = graph.node(event).creator();
        let keys = if self.voters.len() == 1 {
            if self.voters.indices[0] != creator {
                return None;
            }
            let first = *self.interesting[0].first()?;
            self.meta[first.get()].as_ref()?.content.clone()
        } else {
            let lists = self.meta[event.get()].as_ref()?.lists.as_ref()?;
            let mut yes = Vec::new();
            for list in lists.per_candidate.iter() {
                list.last()?.decision()?;
            }
            for (p, list) in lists.per_candidate.iter().enumerate() {
                if list.last().and_then(MetaVote::decision) == Some(true) {
                    yes.push(p);
                }
            }
            self.decided_set(&yes)
        };
        if keys.is_empty() {
            // Impossible by §8.2; never start an election on it.
            debug_assert!(false, "empty decided set at {event:?}");
            tracing::error!(?event, "empty decided set: no decision taken");
            return None;
        }
        Some(self.conclude(event, keys))
    }

    /// Merges the first interesting contents of the candidates decided `true` (spec §8.2).
    fn decided_set(&self, yes: &[usize]) -> Vec<KeyId> {
        // key -> (smallest position, number of lists)
        let mut merged: BTreeMap<KeyId, (usize, usize)> = BTreeMap::new();
        for &p in yes {
            let Some(&first) = self.interesting[p].first() else {
                continue;
            };
            let Some(meta) = self.meta[first.get()].as_ref() else {
                continue;
            };
            for (position, key) in meta.content.iter().enumerate() {
                let entry = merged.entry(*key).or_insert((position, 0));
                entry.0 = entry.0.min(position);
                entry.1 += 1;
            }
        }
        let mut keys: Vec<(usize, std::cmp::Reverse<usize>, ObservationKey, KeyId)> = merged
            .into_iter()
            .map(|(id, (position, count))| {
                (
                    position,
                    std::cmp::Reverse(count),
                    self.keys[id as usize],
                    id,
                )
            })
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, _, _, id)| id).collect()
    }

    /// Records the decision and leaves the election waiting for its successor.
    fn conclude(&mut self, at: EventIndex, ids: Vec<KeyId>) -> Decision {
        let mut votes = Vec::with_capacity(ids.len());
        let mut first_votes = Vec::with_capacity(ids.len());
        for &key in &ids {
            self.undecided.remove(&key);
            let records = std::mem::take(&mut self.votes_of[key as usize]);
            first_votes.push(records.first().map(|&first| self.records[first].event));
            // One vote per voter of this election: its latest inserted, in voter order.
            let mut latest: Vec<(usize, EventIndex)> = Vec::with_capacity(records.len());
            for &id in &records {
                let record = &mut self.records[id];
                record.decided = true;
                if let Some(slot) = self.voters.slot(record.creator) {
                    latest.push((slot, record.event));
                }
            }
            latest.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            latest.dedup_by_key(|(slot, _)| *slot);
            votes.push(latest.into_iter().map(|(_, event)| event).collect());
            self.decided[key as usize] = true;
        }
        for union in &mut self.union {
            for &key in &ids {
                clear_bit(union, key);
            }
        }
        for tally in &mut self.tallies {
            for key in &ids {
                tally.keys.remove(key);
            }
            tally.ready.retain(|key| !self.decided[*key as usize]);
        }
        let decided = &self.decided;
        for meta in self.meta[self.cleared..].iter_mut().flatten() {
            meta.content.retain(|&key| !decided[key as usize]);
        }
        let keys: Vec<ObservationKey> = ids.iter().map(|&id| self.keys[id as usize]).collect();
        self.previous_group_hash = group_hash(&keys);
        self.decided_groups += 1;
        self.restart_pending = true;
        Decision {
            election: self.election,
            at,
            keys,
            votes,
            first_votes,
            voters: self.voters.ids.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parsec_graph::ObservationHash;

    #[test]
    fn group_hash_is_the_canonical_encoding() {
        let keys = vec![
            ObservationKey::Supermajority(ObservationHash::from_bytes([1; 32])),
            ObservationKey::Single(
                ObservationHash::from_bytes([2; 32]),
                PeerId::from_bytes([3; 32]),
            ),
        ];
        let hashes: Vec<ObservationHash> = keys.iter().map(ObservationKey::hash).collect();
        let expected = encoding::tagged_hash(encoding::GROUP_TAG, &hashes).unwrap();
        assert_eq!(group_hash(&keys), expected);
        assert_eq!(
            group_hash(&[]),
            encoding::tagged_hash(encoding::GROUP_TAG, &Vec::<ObservationHash>::new()).unwrap()
        );
    }
}
