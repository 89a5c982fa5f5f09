//! After a decision (spec §5.4, §8.5 to §8.7): the group's membership changes give the
//! next voter set, the next election starts, and the graph is re-evaluated from the
//! restart point, which may decide again (a cascade).
//!
//! # How it works
//!
//! The membership changes of a group apply in decided order, each read from the first
//! registered vote for its key, whoever cast it (the one observation every peer holds for
//! that key). An `Add` of a peer that is not a voter and was never removed makes it a
//! voter; a `Remove` or an `Accusation` of a voter removes it, for good. Anything else
//! changes nothing: a peer cannot be removed twice, nor come back. The rule reads only the
//! agreed decisions, so every peer computes the same voter set for the next election.
//!
//! The next election restarts at its interest floor: the earliest position at which an
//! undecided key can be interesting under its thresholds (the position of a single key's
//! vote, of a supermajority key's `t`-th vote), so votes that too few voters cast pin
//! nothing. With an unchanged voter set,
//! meta-events before the old election's first observer keep their content minus the
//! decided keys (the original's reuse procedure, §8.6); a changed voter set re-evaluates
//! everything from the restart point (§8.5). Each decision the re-evaluation reaches is
//! handed back after the one before it and restarts again, until an evaluation decides
//! nothing.

use std::collections::BTreeSet;

use parsec_coin::CommonCoin;
use parsec_graph::{EventIndex, Graph, Observation, Payload, PeerId};

use super::{
    DecidedGroup, ElectionError, ElectionStep, Elections, MembershipChange, Observer, VoterSet,
};
use crate::metavote::Thresholds;

impl<C: CommonCoin> Elections<C> {
    /// The effect of a decided `observation` on `running`, the voter set as the keys
    /// before it in the group left it, applied to it (module docs).
    pub(super) fn membership_change<T>(
        &mut self,
        observation: &Observation<T>,
        running: &mut BTreeSet<PeerId>,
    ) -> MembershipChange {
        match observation {
            Observation::Add { peer_id, .. } => {
                if running.contains(peer_id) || self.removed.contains(peer_id) {
                    return MembershipChange::None;
                }
                running.insert(*peer_id);
                MembershipChange::Added(*peer_id)
            }
            Observation::Remove { peer_id, .. }
            | Observation::Accusation {
                offender: peer_id, ..
            } => {
                // Removing a peer that is not a voter changes nothing: it must not become
                // a former member, nor be kept from joining later.
                if !running.remove(peer_id) {
                    return MembershipChange::None;
                }
                self.removed.insert(*peer_id);
                MembershipChange::Removed(*peer_id)
            }
            _ => MembershipChange::None,
        }
    }

    /// Starts the elections owed after the last decision, and the ones their
    /// re-evaluations decide, appending each decided group to `step`. A restart that
    /// fails stays owed.
    pub(super) fn restart_cascade<T: Payload>(
        &mut self,
        graph: &mut Graph<T>,
        step: &mut ElectionStep<T>,
    ) -> Result<(), ElectionError> {
        while let Some(ids) = self.next_voters.take() {
            let voters = match Self::voter_set(graph, &ids) {
                Ok(voters) => voters,
                Err(error) => {
                    self.next_voters = Some(ids);
                    return Err(error);
                }
            };
            match self.start_next_election(graph, voters) {
                Ok(Some(group)) => step.decided.push(group),
                Ok(None) => {}
                Err(error) => {
                    self.next_voters = Some(ids);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// The voter set of `ids` (ascending), registering in `graph` the ones it does not
    /// know yet (voters just added), in that order.
    fn voter_set<T: Payload>(
        graph: &mut Graph<T>,
        ids: &[PeerId],
    ) -> Result<VoterSet, ElectionError> {
        if ids.is_empty() {
            return Err(ElectionError::NoVoters);
        }
        let mut set = Vec::with_capacity(ids.len());
        for &voter in ids {
            set.push((voter, graph.register_peer(voter)?));
        }
        Ok(VoterSet::new(set))
    }

    /// Starts the election after a decision, with `voters` (the same set for no change),
    /// and re-evaluates the graph from the restart point, the interest floor of the new
    /// election (spec §8.5, §8.6): before it no event can be interesting, so every
    /// meta-event there is empty. Returns the next decision if the re-evaluation reaches
    /// one (a cascade). Changes nothing if the graph no longer holds what it must
    /// evaluate.
    fn start_next_election<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        voters: VoterSet,
    ) -> Result<Option<DecidedGroup<T>>, ElectionError> {
        let end = self.evaluated;
        let changed = voters != self.voters;
        let th = Thresholds::new(voters.len());
        let restart = self.interest_floor(th).min(end);
        let base = graph.base().get().max(self.meta.base());
        if restart < end && restart < base {
            return Err(ElectionError::HistoryPruned {
                needed: restart,
                base,
            });
        }
        self.election += 1;
        self.coins_needed.clear();
        self.compact_if_due();
        let first_observer = self.observers.iter().map(|o| o.get()).min();
        self.observers.clear();
        for meta in self.meta.range_mut(self.cleared.min(restart), restart) {
            *meta = None;
        }
        // Lower than before only when removals lowered the thresholds.
        self.cleared = restart;

        if changed {
            let n = voters.len();
            self.voters = voters;
            self.th = th;
            self.interesting = vec![Vec::new(); n];
            self.tallies = vec![Vec::new(); n];
            for meta in self.meta.range_mut(restart, usize::MAX) {
                *meta = None;
            }
            for position in restart..end {
                let event = EventIndex::from(position);
                if let Some(group) = self.evaluate(graph, event, None) {
                    return Ok(Some(group));
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
            let Some(meta) = self.meta.get_mut(position).and_then(Option::as_mut) else {
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
            let kept = self
                .meta
                .get_mut(position)
                .and_then(Option::take)
                .map(|meta| meta.content);
            if let Some(group) = self.evaluate(graph, event, kept) {
                return Ok(Some(group));
            }
        }
        Ok(None)
    }
}
