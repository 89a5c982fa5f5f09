//! Interesting content (spec §6.3): per voter, tallies of the undecided votes in the
//! ancestry of its latest sync events, one per branch it was last seen on.
//!
//! A tally describes the ancestry of one sync event `at` of its voter. The voter's next
//! sync event on that chain extends it: it looks only at vote records it has not looked
//! at. An event that does not follow any kept tally (its voter forked and came back to
//! an older branch, or a fork floor moved, which can take counted votes away) gets a
//! fresh tally, counted over the undecided records only. Up to [`BRANCH_TALLIES`] are kept
//! per voter, the most recently used first, so a voter alternating between a few branches
//! costs what a voter with one chain costs.
//!
//! A record of a forked creator that is not in the ancestry and does not extend the
//! creator's latest event there never will be on this chain (a descendant reaching it
//! would hold two of the creator's events at one index, and the graph stops tracking the
//! creator there): it is dropped, not deferred, so a branch of votes that nobody builds on
//! costs each event nothing.

use std::collections::BTreeMap;

use parsec_coin::CommonCoin;
use parsec_graph::{EventIndex, Graph, ObservationKey, Payload, PeerIndex};

use super::{Elections, KeyId, VoteRecord, hash_prefix};
use crate::bits::Bits;

/// What a voter's tally knows about one key.
#[derive(Clone, Debug, Default)]
pub(super) struct KeyTally {
    /// Voter slots whose votes for the key are in the ancestry.
    voters: Bits,
    count: usize,
    /// The lowest index among the tally owner's own votes for the key in the ancestry
    /// (lowest, not first seen: a forking owner's votes on two branches arrive in any order).
    own_index: Option<u64>,
}

impl KeyTally {
    fn note_own(&mut self, index: u64) {
        self.own_index = Some(self.own_index.map_or(index, |i| i.min(index)));
    }
}

/// Tallies kept per voter (one per branch a forking voter was recently on).
const BRANCH_TALLIES: usize = 4;

/// The undecided votes in the ancestry of one evaluated sync event of a voter.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    /// Per creator: how many of its vote records have been looked at.
    pub(super) cursors: Vec<usize>,
    /// Records looked at but not (yet) in the ancestry: only with forks.
    pub(super) deferred: Vec<usize>,
    pub(super) keys: BTreeMap<KeyId, KeyTally>,
    /// Keys interesting by their votes and not yet in the content union of `at`'s chain.
    /// (May hold a key twice; deduplicated when taken.)
    pub(super) ready: Vec<KeyId>,
    /// The event the tally describes the ancestry of.
    pub(super) at: Option<EventIndex>,
    /// The fork floors of `at` (the graph's compaction): votes at or above a creator's
    /// floor are not in the ancestry, so a lower floor can take counted votes away.
    pub(super) floors: Vec<(PeerIndex, u64)>,
}

impl<C: CommonCoin> Elections<C> {
    /// Brings a tally of the voter up to `event`'s ancestry and takes the keys that became
    /// interesting (spec §6.3). `union` is the content union of `event`'s chain before it:
    /// the keys of its creator's earlier interesting events on its own self-chain.
    pub(super) fn compute_content<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
        union: &Bits,
    ) -> Vec<KeyId> {
        let own = self.voters.indices[slot];
        let parent = graph.node(event).self_sync_parent();
        let floors: Vec<(PeerIndex, u64)> = graph.fork_floors(event).collect();
        let kept = self.tallies[slot]
            .iter()
            .position(|t| t.at.is_some() && t.at == parent && t.floors == floors);
        let mut fresh = std::mem::take(&mut self.scratch_fresh);
        fresh.clear();
        let mut tally = match kept {
            Some(i) => {
                let mut tally = self.tallies[slot].remove(i);
                self.extend_tally(graph, event, &mut tally, &mut fresh);
                tally
            }
            None => self.fresh_tally(graph, event, floors, &mut fresh),
        };
        tally.at = Some(event);
        for &id in &fresh {
            let record = self.records[id];
            if record.decided || union.contains(record.key as usize) {
                continue;
            }
            if let ObservationKey::Single(..) = self.keys[record.key as usize] {
                // A single key is interesting on any one vote: only the rank is tallied.
                if record.creator == own {
                    let entry = tally.keys.entry(record.key).or_default();
                    entry.note_own(record.index);
                }
                tally.ready.push(record.key);
                continue;
            }
            let entry = tally.keys.entry(record.key).or_default();
            let mut counted = false;
            if let Some(voter) = self.voters.slot(record.creator)
                && entry.voters.insert(voter)
            {
                entry.count += 1;
                counted = true;
            }
            if record.creator == own {
                entry.note_own(record.index);
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
        let content = self.take_ready(graph, event, &mut tally);
        let tallies = &mut self.tallies[slot];
        tallies.insert(0, tally);
        tallies.truncate(BRANCH_TALLIES);
        content
    }

    /// The ready keys that are interesting at `event`, in content order, taken from the
    /// tally.
    fn take_ready<T: Payload>(
        &self,
        graph: &Graph<T>,
        event: EventIndex,
        tally: &mut Tally,
    ) -> Vec<KeyId> {
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
        for &(_, _, id) in &content {
            tally.keys.remove(&id);
        }
        content.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Whether a record of a forked creator that `event` does not reach may still come
    /// into a later event's ancestry on this chain: only if it extends what `event` holds
    /// of its creator, that is, the creator's latest event in `anc(event)` is its
    /// self-ancestor (module docs).
    fn may_come<T: Payload>(graph: &Graph<T>, event: EventIndex, record: &VoteRecord) -> bool {
        if graph.descends_from_fork_of(event, record.creator) {
            return false;
        }
        match graph.latest_ancestor(event, record.creator) {
            None => true,
            Some(latest) => {
                let index = graph.node(latest).creator_index();
                // Below its creator's floor and first fork a chain is unique: a record
                // there (pruned, or re-admitted) extends every lower event of it.
                let unique = record.index < graph.pruning_floor(record.creator)
                    && graph
                        .first_fork(record.creator)
                        .is_none_or(|fork| record.index < fork);
                record.index > index
                    && (unique || graph.self_ancestor_at(record.event, index) == Some(latest))
            }
        }
    }

    /// Extends `tally` (of `event`'s self-sync-parent) to `event`: the deferred records now
    /// reached, and the records not looked at yet, into `fresh`.
    fn extend_tally<T: Payload>(
        &self,
        graph: &Graph<T>,
        event: EventIndex,
        tally: &mut Tally,
        fresh: &mut Vec<usize>,
    ) {
        if tally.cursors.len() < self.by_creator.len() {
            tally.cursors.resize(self.by_creator.len(), 0);
        }
        tally.deferred.retain(|&id| {
            let record = &self.records[id];
            if record.decided {
                false
            } else if graph.is_descendant_of_at(event, record.event, record.creator, record.index) {
                fresh.push(id);
                false
            } else {
                Self::may_come(graph, event, record)
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
                if !forked
                    || graph.is_descendant_of_at(event, record.event, record.creator, record.index)
                {
                    fresh.push(id);
                } else if Self::may_come(graph, event, record) {
                    tally.deferred.push(id);
                }
            }
        }
    }

    /// A tally of `event`'s ancestry counted afresh, over the undecided records only.
    fn fresh_tally<T: Payload>(
        &self,
        graph: &Graph<T>,
        event: EventIndex,
        floors: Vec<(PeerIndex, u64)>,
        fresh: &mut Vec<usize>,
    ) -> Tally {
        let mut tally = Tally {
            cursors: self.by_creator.iter().map(Vec::len).collect(),
            floors,
            ..Tally::default()
        };
        for &id in &self.undecided_records {
            let record = &self.records[id];
            if graph.is_descendant_of_at(event, record.event, record.creator, record.index) {
                fresh.push(id);
            } else if Self::may_come(graph, event, record) {
                tally.deferred.push(id);
            }
        }
        tally
    }

    /// The first interesting event of voter `p` as seen from `event` (spec §6.4, ours):
    /// `p`'s lowest-index interesting event of this election in `anc(event)`, and none if
    /// `event` descends from a fork of `p`. A pure function of the ancestry: insertion
    /// order, and branches of a forking voter that `event` does not descend from, play no
    /// part.
    pub(super) fn first_interesting<T: Payload>(
        &self,
        graph: &Graph<T>,
        event: EventIndex,
        p: usize,
    ) -> Option<EventIndex> {
        let peer = self.voters.indices[p];
        let interesting = &self.interesting[p];
        if interesting.is_empty() || graph.descends_from_fork_of(event, peer) {
            return None;
        }
        if !graph.has_forked(peer) {
            // One chain: insertion order is index order, and every later interesting event
            // descends from the first.
            let first = interesting[0];
            return graph.is_descendant_of(event, first).then_some(first);
        }
        interesting
            .iter()
            .copied()
            .filter(|&f| graph.is_descendant_of(event, f))
            .min_by_key(|&f| graph.node(f).creator_index())
    }
}
