//! The sequence of meta-elections over one peer's graph (spec §6, §8.1, §8.2, §8.5, §8.6).
//!
//! # How it works
//!
//! Every inserted event is evaluated once, in insertion order, in the current election.
//! A voter's sync event gets a *meta-event*: its interesting content (the undecided keys
//! that became interesting in its ancestry), whether it is an observer, and, from its
//! creator's observer on, one meta-vote list per candidate. When every list of an event
//! ends decided, the keys nominated by the candidates decided `true` form the decided
//! group (`decide.rs`). The elections then apply the group's membership changes
//! themselves, start the next election from the earliest undecided vote and re-evaluate
//! the graph from there, which may decide again at once (a cascade, `restart.rs`): one
//! inserted event hands back every group it led to, in one [`ElectionStep`].
//!
//! The files: `insert.rs` registers votes and evaluates events, `observer.rs` builds a
//! meta-event, `content.rs` its interesting content, `lists.rs` its meta-vote lists,
//! `decide.rs` the decision, `restart.rs` the membership changes and the next election,
//! `step.rs` what is handed back, `digest.rs` the digests that check purity.
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
//! it has not seen before (`content.rs`). A restart reuses what it can (`restart.rs`).

mod compact;
mod content;
mod decide;
mod digest;
mod insert;
mod lists;
mod metas;
mod observer;
mod restart;
mod step;

use std::collections::BTreeSet;
use std::sync::Arc;

use smallvec::SmallVec;

use parsec_coin::CommonCoin;
use parsec_graph::{
    ConsensusMode, DigestMap, EventIndex, InsertError, ObservationKey, PeerId, PeerIndex,
};

use crate::bits::Bits;
use crate::metavote::{MetaVote, Thresholds};
pub use crate::voters::VoterSet;
use content::Tally;
pub use digest::MetaDigest;
use metas::Metas;
pub use step::{DecidedGroup, DecidedKey, ElectionStep, MembershipChange, PendingKey};

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

/// The first eight bytes of a key's observation hash, big-endian: agrees with key order
/// whenever it differs.
fn hash_prefix(key: &ObservationKey) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&key.hash().as_bytes()[..8]);
    u64::from_be_bytes(prefix)
}

type List = Arc<[MetaVote]>;

#[derive(Clone, Debug)]
struct MetaEvent {
    content: Vec<KeyId>,
    /// The content union of its chain up to it: the keys of its creator's interesting
    /// events on its self-chain, itself included (by key id; `None`: empty). Shared along
    /// the chain; it may hold decided keys, which exclude nothing more.
    union: Option<Arc<Bits>>,
    observer: Observer,
    lists: Option<Lists>,
    /// Voter slots whose first interesting event this event strongly sees, kept while it
    /// is not an observer so that its successor need not test them again.
    strongly_seen: Bits,
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
    /// The election current when it was registered.
    since: u64,
    /// Its observation removes a peer if decided (`Remove`, `Accusation`): deciding it can
    /// lower the thresholds of the elections after it.
    removes: bool,
}

/// The meta-elections of one peer, generic over the coin.
///
/// Feed it every event inserted into the peer's graph, in insertion order, with
/// [`Elections::on_insert`]; it returns the groups decided and the coin data to publish.
#[derive(Clone, Debug)]
pub struct Elections<C> {
    coin: C,
    mode: ConsensusMode,
    election: u64,
    voters: VoterSet,
    th: Thresholds,
    previous_group_hash: [u8; 32],
    records: Vec<VoteRecord>,
    by_creator: Vec<Vec<usize>>,
    /// Every key registered and not dropped by `compact`, by id, and the reverse index.
    keys: Vec<ObservationKey>,
    key_ids: DigestMap<ObservationKey, KeyId>,
    /// Per key id: decided in an earlier election (until `compact` drops the id).
    decided: Vec<bool>,
    /// Every key decided so far, by digest: the only trace a decided key leaves.
    decided_keys: crate::KeySet,
    /// Per key: its vote records while undecided.
    votes_of: Vec<Vec<usize>>,
    undecided: BTreeSet<KeyId>,
    decided_groups: u64,
    /// Peers a decision removed: they never become voters again.
    removed: BTreeSet<PeerId>,
    /// The voters of the next election, between a decision and its restart. Only set
    /// across calls when the restart failed (`restart.rs`); the next call retries it.
    next_voters: Option<Vec<PeerId>>,
    meta: Metas,
    observers: Vec<EventIndex>,
    /// Per voter slot: its interesting events this election, on any branch, in insertion
    /// order (so, for a voter that never forked here, in index order).
    interesting: Vec<Vec<EventIndex>>,
    /// Per voter slot: its tallies, most recently used first (`content`).
    tallies: Vec<Vec<Tally>>,
    /// The vote records not decided yet, in registration order.
    undecided_records: BTreeSet<usize>,
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
    /// The coins the current election needed, as (candidate slot, round).
    coins_needed: BTreeSet<(usize, u32)>,
    coin_stats: CoinStats,
    /// See [`Elections::set_removal_margin`].
    removal_margin: Option<usize>,
}

/// How often the elections needed the coin (for reports: random schedules almost never
/// split the aux values, so a coin that is never needed proves nothing about it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoinStats {
    /// Distinct coins `(election, candidate, round)` some evaluated event needed.
    pub coins_needed: u64,
    /// Elections in which some event needed a coin.
    pub elections_needing_coin: u64,
}

/// Misuse of the election state by the caller, or a graph that cannot take a new voter
/// (never caused by peer data).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElectionError {
    /// Events were fed out of insertion order.
    #[error("event {got} fed, expected {expected}")]
    OutOfOrder {
        /// The position expected next.
        expected: usize,
        /// The position fed.
        got: usize,
    },
    /// An election with no voters: at creation, or after a decision removed every voter
    /// (then nothing more can be decided).
    #[error("an election needs at least one voter")]
    NoVoters,
    /// A voter added by a decision could not be registered in the graph (it is full).
    #[error("cannot register an added voter: {0}")]
    Register(#[from] InsertError),
    /// Decisions removed so many voters that the next election must re-evaluate events
    /// the graph has pruned (more removals between two prunings than
    /// [`Elections::oldest_needed`] allows for). Nothing was decided on the pruned graph;
    /// an engine that reports it stops, and restarts from its store with a larger
    /// pruning window or none.
    #[error(
        "the next election must evaluate from position {needed}, but the graph was pruned up to {base}"
    )]
    HistoryPruned {
        /// The first position the restart must evaluate.
        needed: usize,
        /// The graph's base when the restart was attempted.
        base: usize,
    },
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
            decided_keys: crate::KeySet::new(),
            votes_of: Vec::new(),
            undecided: BTreeSet::new(),
            decided_groups: 0,
            removed: BTreeSet::new(),
            next_voters: None,
            meta: Metas::default(),
            observers: Vec::new(),
            interesting: vec![Vec::new(); n],
            tallies: vec![Vec::new(); n],
            undecided_records: BTreeSet::new(),
            evaluated: 0,
            cleared: 0,
            scratch_latest: Vec::new(),
            scratch_fresh: Vec::new(),
            scratch_list: Vec::new(),
            digests: None,
            coins_needed: BTreeSet::new(),
            coin_stats: CoinStats::default(),
            removal_margin: None,
        })
    }

    /// The current election's number.
    pub fn election(&self) -> u64 {
        self.election
    }

    /// The current election's voters.
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

    /// The coin, to change how it verifies or signs (a simulator's hook: the coin's
    /// answers must stay a pure function of the graph, spec §7.1).
    pub fn coin_mut(&mut self) -> &mut C {
        &mut self.coin
    }

    /// Whether `key` was decided in an earlier election.
    pub fn is_decided(&self, key: &ObservationKey) -> bool {
        self.decided_keys.contains(key)
    }

    /// Whether an undecided vote for `key` is registered.
    pub fn is_undecided(&self, key: &ObservationKey) -> bool {
        self.key_ids
            .get(key)
            .is_some_and(|id| self.undecided.contains(id))
    }

    /// The earliest graph position these elections and their coin may still read: the
    /// restart point of the current election, or an older event the coin holds data of.
    /// The graph may be pruned below it (spec §12.3).
    pub fn oldest_needed(&self) -> EventIndex {
        let coin = self.coin.oldest_event().map_or(usize::MAX, |e| e.get());
        EventIndex::from(self.keep_from().min(coin))
    }

    /// How many voter removals beyond those already voted [`Elections::oldest_needed`]
    /// allows for (`None`: a third of the current voters). Local: it changes what a
    /// pruned graph must keep, never a decision.
    pub fn set_removal_margin(&mut self, margin: Option<usize>) {
        self.removal_margin = margin;
    }

    /// The events of the undecided votes, ascending: a decision reads their votes for its
    /// payload and proofs, however old they are, so the graph keeps those below
    /// [`Elections::oldest_needed`] too (`Graph::prune_keeping`).
    pub fn pinned_votes(&self) -> Vec<EventIndex> {
        // Records are registered in insertion order, and ids keep that order.
        self.undecided_records
            .iter()
            .map(|&id| self.records[id].event)
            .collect()
    }

    /// Drops the meta-events below what a restart may still evaluate, which nothing reads
    /// again (they read as none, as they did before).
    pub fn prune(&mut self) {
        self.meta.drop_below(self.keep_from());
    }

    /// The earliest position the current election or a restart after it may evaluate: the
    /// current election's restart point, and the interest floor (`interest_floor`) under
    /// the lowest thresholds a later election can have before the next call. Those are the
    /// current ones lowered by every pending removal that more than a third of the voters
    /// voted (so that faulty voters alone, voting removals nobody else supports, cannot
    /// make us keep more), and by the removal margin ([`Elections::set_removal_margin`])
    /// for removals supported later. A restart that would need more fails with
    /// [`ElectionError::HistoryPruned`] instead of deciding on a pruned graph.
    fn keep_from(&self) -> usize {
        let n = self.voters.len();
        let mut supporters = Vec::new();
        let removals = self
            .undecided
            .iter()
            .filter(|&&key| {
                let votes = &self.votes_of[key as usize];
                if !votes.first().is_some_and(|&id| self.records[id].removes) {
                    return false;
                }
                supporters.clear();
                supporters.extend(
                    votes
                        .iter()
                        .filter_map(|&id| self.voters.slot(self.records[id].creator)),
                );
                supporters.sort_unstable();
                supporters.dedup();
                3 * supporters.len() > n
            })
            .count();
        let margin = self
            .removal_margin
            .unwrap_or_else(|| n.saturating_sub(1) / 3);
        let lowest = Thresholds::new(n.saturating_sub(removals + margin).max(1));
        self.restart_point().min(self.interest_floor(lowest))
    }

    /// The lowest position at which an event can have interesting content in an election
    /// with thresholds `th` (spec §6.3), given the votes registered: a single key is
    /// interesting only in the ancestry of its vote, a supermajority key only in the
    /// ancestry of a supermajority of votes for it, so nowhere before the position of its
    /// `t`-th registered vote (counting every record, which can only make it earlier).
    /// Before it an election builds no content, hence no observer, no lists and no
    /// decision: a restart starts there. The end when no undecided key can be interesting.
    fn interest_floor(&self, th: Thresholds) -> usize {
        let supermajority = (1..=th.n()).find(|&c| th.supermajority(c)).unwrap_or(1);
        self.undecided
            .iter()
            .filter_map(|&key| {
                let needed = match self.keys[key as usize] {
                    ObservationKey::Single(..) => 1,
                    ObservationKey::Supermajority(_) => supermajority,
                };
                // A key's records are in registration, hence position, order.
                let &id = self.votes_of[key as usize].get(needed - 1)?;
                Some(self.records[id].event.get())
            })
            .min()
            .unwrap_or(self.evaluated)
            .min(self.evaluated)
    }

    /// The earliest meta-event the current election may still read, and where the next
    /// restart can start at the earliest with the same voters: the current election's
    /// restart point, or its interest floor if that is later. No meta-event below the
    /// floor carries anything (content needs a key interesting there; observees and
    /// lists need content before them), so reading one as none changes nothing. With no
    /// vote undecided, that is the end.
    fn restart_point(&self) -> usize {
        self.cleared
            .max(self.interest_floor(self.th))
            .min(self.evaluated)
    }

    /// Observation keys tracked by id: the undecided ones, and decided ones until they
    /// are compacted away.
    pub fn keys_tracked(&self) -> usize {
        self.keys.len()
    }

    /// Keys decided so far (remembered as digests).
    pub fn decided_key_count(&self) -> usize {
        self.decided_keys.len()
    }

    /// Meta-event slots held in memory.
    pub fn held_meta_events(&self) -> usize {
        self.meta.held()
    }

    /// The oldest undecided vote: its position, and how many elections have decided
    /// since it was registered (spec §12.7). While it stays, nothing after it is pruned.
    pub fn oldest_undecided(&self) -> Option<(EventIndex, u64)> {
        self.undecided_records
            .iter()
            .map(|&id| &self.records[id])
            .min_by_key(|record| record.event)
            .map(|record| (record.event, self.election - record.since))
    }

    /// How often the coin was needed so far.
    pub fn coin_stats(&self) -> CoinStats {
        self.coin_stats
    }

    /// Counts a coin the current election needed (the first time only).
    fn note_coin_need(
        needed: &mut BTreeSet<(usize, u32)>,
        stats: &mut CoinStats,
        slot: usize,
        round: u32,
    ) {
        if needed.is_empty() {
            stats.elections_needing_coin += 1;
        }
        if needed.insert((slot, round)) {
            stats.coins_needed += 1;
        }
    }

    /// Every undecided key with a registered vote, in order of first registration, with
    /// how many distinct voters of the current election voted it: for status reports.
    pub fn pending(&self) -> Vec<PendingKey> {
        let mut seen = Bits::default();
        self.undecided
            .iter()
            .map(|&key| {
                seen.clear();
                let voters = self.votes_of[key as usize]
                    .iter()
                    .filter_map(|&id| self.voters.slot(self.records[id].creator))
                    .filter(|&slot| seen.insert(slot))
                    .count();
                PendingKey {
                    key: self.keys[key as usize],
                    voters,
                }
            })
            .collect()
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

    /// The meta-vote lists of `event` in the current election, one per candidate in voter
    /// order, if it has lists: for tests, diagnostics and simulated attackers that read
    /// what an honest peer's events vote.
    pub fn lists_of(&self, event: EventIndex) -> Option<Vec<(PeerId, Vec<MetaVote>)>> {
        let lists = self.meta.get(event.get())?.as_ref()?.lists.as_ref()?;
        Some(
            self.voters
                .ids()
                .iter()
                .zip(lists.per_candidate.iter())
                .map(|(&id, list)| (id, list.to_vec()))
                .collect(),
        )
    }

    fn has_lists(&self, event: EventIndex) -> bool {
        self.meta
            .get(event.get())
            .and_then(Option::as_ref)
            .is_some_and(|m| m.lists.is_some())
    }
}

#[cfg(test)]
mod tests;
