//! Interesting content (spec §6.3): per voter, a tally of the undecided votes in the
//! ancestry of its latest sync event, and the content union of that event's chain.

use std::collections::BTreeMap;

use parsec_coin::CommonCoin;
use parsec_graph::{EventIndex, Graph, ObservationKey, Payload, PeerIndex};

use super::{Elections, KeyId, bit, hash_prefix, set_bit};

/// What a voter's tally knows about one key.
#[derive(Clone, Debug, Default)]
pub(super) struct KeyTally {
    /// Voter slots whose votes for the key are in the ancestry (bitset).
    voters: Vec<u64>,
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

/// The undecided votes in the ancestry of a voter's latest evaluated sync event.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    /// Per creator: how many of its vote records have been looked at.
    pub(super) cursors: Vec<usize>,
    /// Records looked at but not (yet) in the ancestry: only with forks.
    pub(super) deferred: Vec<usize>,
    pub(super) keys: BTreeMap<KeyId, KeyTally>,
    /// Keys interesting by their votes and not yet in the voter's content union.
    /// (May hold a key twice; deduplicated when taken.)
    pub(super) ready: Vec<KeyId>,
    /// The content union: the keys of the interesting events on the self-chain of `at`
    /// (`at` included) in this election (bitset by key id).
    pub(super) union: Vec<u64>,
    /// The event the tally describes the ancestry of.
    pub(super) at: Option<EventIndex>,
    /// The fork floors of `at` (the graph's compaction): votes at or above a creator's
    /// floor are not in the ancestry, so a lower floor can take counted votes away.
    pub(super) floors: Vec<(PeerIndex, u64)>,
}

impl<C: CommonCoin> Elections<C> {
    /// Brings the voter's tally up to `event`'s ancestry and takes the keys that became
    /// interesting (spec §6.3).
    pub(super) fn compute_content<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
    ) -> Vec<KeyId> {
        let own = self.voters.indices[slot];
        let parent = graph.node(event).self_sync_parent();
        // The tally grows along its voter's chain of sync events. When this event does not
        // follow the tally's (a voter that forked moves between branches), count afresh and
        // rebuild the union from this event's own chain: what another branch saw or
        // nominated must not count here.
        // A fork floor that moved (rare: a lower fork came into the ancestry) may take
        // counted votes away: count afresh too.
        let same_floors = self.tallies[slot]
            .floors
            .iter()
            .copied()
            .eq(graph.fork_floors(event));
        if self.tallies[slot].at != parent || !same_floors {
            let union = self.chain_union(graph, parent);
            self.tallies[slot] = Tally {
                union,
                floors: graph.fork_floors(event).collect(),
                ..Tally::default()
            };
        }
        let tally = &mut self.tallies[slot];
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
            if record.decided || bit(&tally.union, record.key) {
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
            set_bit(&mut tally.union, id);
        }
        content.into_iter().map(|(_, _, id)| id).collect()
    }

    /// The content union of a chain: the keys of the meta-events of this election on the
    /// self-sync chain ending at `from` (spec §6.3, pure in the chain). Only for a tally
    /// counted afresh: at a voter's first evaluated event, or when it changes branch.
    fn chain_union<T: Payload>(&self, graph: &Graph<T>, from: Option<EventIndex>) -> Vec<u64> {
        let mut union = Vec::new();
        let mut cursor = from;
        // Meta-events below `cleared` belong to no election any more.
        while let Some(at) = cursor.filter(|at| at.get() >= self.cleared) {
            if let Some(meta) = self.meta.get(at.get()).and_then(Option::as_ref) {
                for &key in &meta.content {
                    set_bit(&mut union, key);
                }
            }
            cursor = graph.node(at).self_sync_parent();
        }
        union
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
