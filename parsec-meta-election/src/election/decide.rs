//! Deciding (spec §8.1 to §8.3): the decision at an event, the decided set from the
//! nominations of the candidates decided `true`, the decided group handed back, and what a
//! decision leaves behind.

use std::collections::{BTreeMap, BTreeSet};

use parsec_coin::CommonCoin;
use parsec_graph::{EventIndex, Graph, ObservationKey, Payload, PeerId, Vote, group_hash};

use super::{DecidedGroup, DecidedKey, Elections, KeyId, Observer};
use crate::metavote::MetaVote;

impl<C: CommonCoin> Elections<C> {
    /// The decision at `event`, if any (spec §8.1, §8.2).
    pub(super) fn decide_at<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
    ) -> Option<DecidedGroup<T>> {
        let creator = graph.node(event).creator();
        let keys = if self.voters.len() == 1 {
            if self.voters.indices[0] != creator {
                return None;
            }
            let first = self.first_interesting(graph, event, 0)?;
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
            self.decided_set(graph, event, &yes)
        };
        if keys.is_empty() {
            // Impossible by §8.2; never start an election on it.
            debug_assert!(false, "empty decided set at {event:?}");
            tracing::error!(?event, "empty decided set: no decision taken");
            return None;
        }
        Some(self.conclude(graph, event, keys))
    }

    /// The nomination of candidate `p`, decided `true` at `at`: the first interesting event
    /// of `p` that an observer in `anc(at)` strongly saw. Every observer anywhere that
    /// strongly saw a first interesting event of `p` saw the same one (crate docs), so this
    /// does not depend on which observer is found.
    fn nomination<T: Payload>(
        &self,
        graph: &Graph<T>,
        at: EventIndex,
        p: usize,
    ) -> Option<EventIndex> {
        self.observers
            .iter()
            .filter(|&&observer| graph.is_descendant_of(at, observer))
            .find_map(|observer| {
                let meta = self.meta[observer.get()].as_ref()?;
                let Observer::This(observees) = &meta.observer else {
                    return None;
                };
                let found = observees.binary_search_by_key(&(p as u32), |o| o.0).ok()?;
                Some(observees[found].1)
            })
    }

    /// Merges the nominations of the candidates decided `true` at `at` (spec §8.2).
    fn decided_set<T: Payload>(
        &self,
        graph: &Graph<T>,
        at: EventIndex,
        yes: &[usize],
    ) -> Vec<KeyId> {
        // key -> (smallest position, number of lists)
        let mut merged: BTreeMap<KeyId, (usize, usize)> = BTreeMap::new();
        for &p in yes {
            let Some(first) = self.nomination(graph, at, p) else {
                // Impossible while fewer than a third of the voters are faulty: `true` only
                // ever enters a list from an observer that strongly saw the candidate (crate
                // docs). Beyond that bound a peer could cause it, so it is logged, not
                // asserted; simulations fail on any error logged.
                tracing::error!(?at, candidate = p, "decided true without a nomination");
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

    /// Records the decision and leaves the election waiting for its successor, whose
    /// voters it computes (`next_voters`); returns the decided group.
    fn conclude<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        at: EventIndex,
        ids: Vec<KeyId>,
    ) -> DecidedGroup<T> {
        // The voter set as the group's membership changes leave it, one key after another.
        let mut running: BTreeSet<PeerId> = self.voters.ids.iter().copied().collect();
        let mut entries = Vec::with_capacity(ids.len());
        for &key in &ids {
            self.undecided.remove(&key);
            let records = std::mem::take(&mut self.votes_of[key as usize]);
            // Whoever cast it: its observation is needed for membership effects even when
            // no voter voted it.
            let first_vote = records.first().map(|&first| self.records[first].event);
            // One vote per voter of this election: its latest inserted, in voter order.
            let mut latest: Vec<(usize, EventIndex)> = Vec::with_capacity(records.len());
            for &id in &records {
                let record = &mut self.records[id];
                record.decided = true;
                self.undecided_records.remove(&id);
                if let Some(slot) = self.voters.slot(record.creator) {
                    latest.push((slot, record.event));
                }
            }
            latest.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            latest.dedup_by_key(|(slot, _)| *slot);
            let votes: Vec<EventIndex> = latest.into_iter().map(|(_, event)| event).collect();
            entries.push(self.decided_key(graph, key, &votes, first_vote, &mut running));
            self.decided[key as usize] = true;
            self.decided_keys.insert(&self.keys[key as usize]);
        }
        for tally in self.tallies.iter_mut().flatten() {
            for key in &ids {
                tally.keys.remove(key);
            }
            tally.ready.retain(|key| !self.decided[*key as usize]);
        }
        let decided = &self.decided;
        for meta in self.meta.range_mut(self.cleared, usize::MAX).flatten() {
            meta.content.retain(|&key| !decided[key as usize]);
        }
        let keys: Vec<ObservationKey> = entries.iter().map(|entry| entry.key).collect();
        self.previous_group_hash = group_hash(&keys);
        self.decided_groups += 1;
        self.next_voters = Some(running.into_iter().collect());
        DecidedGroup {
            election: self.election,
            at,
            voters: self.voters.ids.clone(),
            entries,
        }
    }

    /// What the group says about `key`: the payload and proofs from `votes` (the deciding
    /// voters' votes, in voter order), and the membership change of the first registered
    /// vote, applied to `running`.
    fn decided_key<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        key: KeyId,
        votes: &[EventIndex],
        first_vote: Option<EventIndex>,
        running: &mut BTreeSet<PeerId>,
    ) -> DecidedKey<T> {
        // Undecided votes stay readable when their events are pruned (`pinned_votes`).
        let vote_of = |at: EventIndex| -> Option<(PeerId, &Vote<T>)> {
            graph.vote_at(at).map(|(creator, vote)| (*creator, vote))
        };
        let proofs = votes
            .iter()
            .filter_map(|&at| vote_of(at))
            .map(|(voter, vote)| vote.proof(voter))
            .collect();
        let payload = votes
            .first()
            .and_then(|&at| vote_of(at))
            .map(|(_, vote)| vote.observation.clone());
        let membership = match first_vote.and_then(vote_of) {
            Some((_, vote)) => self.membership_change(&vote.observation, running),
            None => super::MembershipChange::None,
        };
        DecidedKey {
            key: self.keys[key as usize],
            payload,
            proofs,
            membership,
        }
    }
}
