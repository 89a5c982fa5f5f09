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
//! ## Only the ancestry decides
//!
//! Every quantity below is a pure function of the evaluated event's ancestry and of the
//! agreed election state (voters, decided keys, previous group hash), never of the order
//! in which this peer inserted events: two honest peers that evaluate the same event in
//! the same election compute the same meta-event, even when a forking voter showed them
//! its branches in different orders, or showed one of them a branch nothing builds on.
//!
//! * **Content** of a sync event `E` by voter `C` (spec §6.3): the undecided votes in
//!   `anc(E)`, minus the *content union* of `E`'s chain, the keys of the interesting
//!   events among `C`'s earlier sync events on `E`'s own self-chain in this election.
//!   Another branch of a forking `C` does not count, whatever this peer inserted first.
//!   A key's rank is the lowest index among `C`'s own votes for it in `anc(E)`.
//! * **First interesting event** of voter `p` as seen from `E` (for observers, §6.4): the
//!   lowest-index interesting event of `p` in `anc(E)`, and none when `E` descends from a
//!   fork of `p`. (Without a fork of `p` in `anc(E)`, `p`'s events there form one chain, so
//!   "lowest index" names one event.)
//! * **Observees** of `E`: the voters whose first interesting event as seen from `E` is
//!   strongly seen by `E`, counting only the current voters (spec §3.5).
//! * **Nomination** of a candidate `p` decided `true` at `D` (for the decided set, §8.2):
//!   the first interesting event of `p` recorded by any observer in `anc(D)` that has `p`
//!   as an observee.
//!
//! "In `anc(E)`" is the graph's [`Graph::is_descendant_of`]: once `E` descends from a fork
//! of `c`, `c`'s events at or above `c`'s floor (the lowest index at which `anc(E)` holds
//! two of `c`'s events) are not tracked, so a forking creator's votes there do not count.
//! The floor is itself a function of `anc(E)`. A voter's tally is counted afresh when a
//! floor in its event's ancestry moves, since that can take counted votes away.
//!
//! Why the decided set cannot differ between honest peers. Suppose observers `O1` and `O2`
//! (anywhere, on any peer) strongly see `X` and `Y`, each `p`'s first interesting event as
//! seen from it. More than two thirds of the voters have a latest event in `anc(O1)` that
//! sees `X`, and more than two thirds one in `anc(O2)` that sees `Y`; the two groups share
//! more than a third of the voters, so an honest voter `h` among them. `h` has one chain;
//! the later of its two events has both `X` and `Y` in its ancestry and, since it sees one
//! of them, descends from no fork of `p`: `X` and `Y` lie on one chain of `p`. If `X` were
//! lower, it would be an interesting event of `p` in `anc(O2)` below `Y` (content is a
//! pure function of the ancestry, so `X` is interesting there too); so `X = Y`. Every
//! observer with `p` as an observee therefore names the same nomination. And a candidate
//! decided `true` at `D` always has such an observer in `anc(D)`, an honest one: `true`
//! reaches `D`'s list only through counts over events in `anc(D)` with thresholds of a
//! third or more of the voters (bin values need a supermajority of estimates, a step's new
//! estimate a supermajority or some aux values, the coin is asked only after both values
//! were aux values), so some honest voter's list in `anc(D)` had `true` at round 0; on an
//! honest chain, that came from its own observer having `p` as an observee, or again from
//! a third of counted lists, one of them honest and earlier. Honest chains never fork, so
//! that observer is always tracked. Contents, the nominations and their merge are pure, so
//! every honest peer that decides election `e` decides the same keys in the same order.
//!
//! ## Incremental evaluation
//!
//! Content is kept incremental: per voter we keep tallies of the undecided votes in the
//! ancestry of its latest sync events (a cursor per creator over that creator's votes,
//! which the creator's chain adds in index order), one per branch it was recently on, and
//! every meta-event carries its chain's content union, so each event only looks at votes
//! it has not seen before (`content.rs`). After a decision
//! with an unchanged voter set, meta-events before the old election's first observer keep
//! their content minus the decided keys (the original's reuse procedure, §8.6); a changed
//! voter set re-evaluates everything from the restart point (§8.5).

mod content;
mod decide;
mod digest;
mod lists;

use std::collections::BTreeSet;
use std::sync::Arc;

use smallvec::SmallVec;

use parsec_coin::CommonCoin;
use parsec_graph::hashing::DigestMap;
use parsec_graph::{
    ConsensusMode, EventIndex, Graph, ObservationKey, Payload, PeerId, PeerIndex, encoding,
};

use crate::metavote::{MetaVote, Thresholds};
pub use crate::voters::VoterSet;
use content::Tally;
pub use digest::MetaDigest;

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
    /// This event is its creator's observer; per observee slot, ascending, the observee's
    /// first interesting event that it strongly saw.
    This(Vec<(u32, EventIndex)>),
    /// A self-ancestor was the observer.
    After,
}

/// Dense local number of an observation key, in order of first registration: the hot
/// paths compare and hash these instead of 64-byte keys.
type KeyId = u32;

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
    /// The content union of its chain up to it: the keys of its creator's interesting
    /// events on its self-chain, itself included (bitset by key id; `None`: empty). Shared
    /// along the chain; it may hold decided keys, which exclude nothing more.
    union: Option<Arc<Vec<u64>>>,
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
    /// Per voter slot: its interesting events this election, on any branch, in insertion
    /// order (so, for a voter that never forked here, in index order).
    interesting: Vec<Vec<EventIndex>>,
    /// Per voter slot: its tallies, most recently used first (`content`).
    tallies: Vec<Vec<Tally>>,
    /// The vote records not decided yet, in registration order.
    undecided_records: BTreeSet<usize>,
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
    /// Digests of evaluated meta-events, when recording (invariant checks).
    digests: Option<Vec<MetaDigest>>,
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
            tallies: vec![Vec::new(); n],
            undecided_records: BTreeSet::new(),
            restart_pending: false,
            evaluated: 0,
            cleared: 0,
            scratch_latest: Vec::new(),
            scratch_fresh: Vec::new(),
            scratch_list: Vec::new(),
            digests: None,
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
            self.undecided_records.insert(id);
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
            self.tallies = vec![Vec::new(); n];
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
        // The content unions the meta-events carry need no rebuilding: every content kept
        // below is the old content minus the decided keys, and a decided key in a union
        // excludes nothing that is not excluded anyway.
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
                let mut observees: Vec<(u32, EventIndex)> = Vec::new();
                for p in 0..n {
                    let Some(first) = self.first_interesting(graph, event, p) else {
                        continue;
                    };
                    if bit(&inherited, p as KeyId) {
                        set_small_bit(&mut strongly_seen, p);
                        observees.push((p as u32, first));
                        continue;
                    }
                    if !latest_ready {
                        graph.latest_ancestors(event, &self.voters.indices, &mut latest);
                        latest_ready = true;
                    }
                    if graph.strongly_sees_via(&latest, first, n) {
                        set_small_bit(&mut strongly_seen, p);
                        observees.push((p as u32, first));
                    }
                }
                self.scratch_latest = latest;
                if self.th.supermajority(observees.len()) {
                    Observer::This(observees)
                } else {
                    Observer::None
                }
            } else {
                Observer::None
            }
        };

        // The content union of this event's chain before it, from its self-sync-parent.
        let parent_union: Option<Arc<Vec<u64>>> = self_sync_parent
            .and_then(|s| self.meta.get(s.get()))
            .and_then(Option::as_ref)
            .and_then(|m| m.union.clone());
        let content = match kept {
            Some(content) => content,
            None => {
                let union = parent_union.as_deref().map_or(&[][..], Vec::as_slice);
                self.compute_content(graph, event, slot, union)
            }
        };
        let union = if content.is_empty() {
            parent_union
        } else {
            self.interesting[slot].push(event);
            let mut union = parent_union.as_deref().cloned().unwrap_or_default();
            for &key in &content {
                set_bit(&mut union, key);
            }
            Some(Arc::new(union))
        };

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
            union,
            observer,
            lists,
            strongly_seen,
        });
        self.note_digest(graph, event);
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
