//! Meta-vote lists at an event (spec §6.5.2, §6.5.7): an observer's first lists and the
//! lists that follow from the self-sync-parent's, with the coin filling waiting estimates.

use std::sync::Arc;

use smallvec::SmallVec;

use parsec_coin::{CoinContext, CoinId, CommonCoin, ElectionInfo};
use parsec_graph::{EventIndex, Graph, Payload};

use super::{Elections, List, Lists};
use crate::metavote::{BoolSet, MetaValue, MetaVote, advance, advance_into};

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

/// The highest round whose genuine-flip aux value a list's creator has committed (spec
/// §7.3 step 3): an entry at `(r, GF)` decided or with aux set, or any entry of a later
/// round.
fn past_flip(list: &[MetaVote]) -> Option<u32> {
    list.iter()
        .filter_map(|m| {
            if m.is_past_flip(m.round) {
                Some(m.round)
            } else {
                m.round.checked_sub(1)
            }
        })
        .max()
}

impl<C: CommonCoin> Elections<C> {
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

    pub(super) fn observer_lists<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
        observees: &[(u32, EventIndex)],
    ) -> Lists {
        let others = self.others(graph, event, slot);
        let mut lists: Vec<&[MetaVote]> = Vec::with_capacity(others.len());
        let per_candidate: Box<[List]> = (0..self.voters.len())
            .map(|p| {
                let observee = observees.binary_search_by_key(&(p as u32), |o| o.0).is_ok();
                let initial = [MetaVote::initial(observee)];
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
        if self.coin.wants_evaluations() {
            let rounds: SmallVec<[Option<u32>; 16]> =
                per_candidate.iter().map(|l| past_flip(l)).collect();
            let ctx = CoinContext {
                graph,
                at: event,
                info: &info,
            };
            self.coin.on_evaluated(&rounds, &ctx);
        }
        for (p, list) in per_candidate.iter().enumerate() {
            for entry in list.iter().filter(|m| m.awaits_coin()) {
                let (id, ctx) = coin_query(&info, p, entry, graph, event);
                Self::note_coin_need(&mut self.coins_needed, &mut self.coin_stats, p, id.round);
                self.coin.on_needed(&id, &ctx);
            }
        }
        Lists {
            per_candidate,
            others,
            coin_applied: false,
        }
    }

    pub(super) fn following_lists<T: Payload>(
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
        let coins_needed = &mut self.coins_needed;
        let coin_stats = &mut self.coin_stats;
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
            if list[..] == previous[..] {
                all.push(previous.clone());
            } else {
                all.push(List::from(&list[..]));
            }
        }
        self.scratch_list = list;
        // The coin hears what this event committed before it fills any estimate here, so
        // that an event may qualify for the very coin it asks (spec §7.3 step 3).
        if coin.wants_evaluations() {
            let rounds: SmallVec<[Option<u32>; 16]> = all.iter().map(|l| past_flip(l)).collect();
            let ctx = CoinContext {
                graph,
                at: event,
                info: &info,
            };
            coin.on_evaluated(&rounds, &ctx);
        }
        for (p, slot) in all.iter_mut().enumerate() {
            if !slot.iter().any(MetaVote::awaits_coin) {
                continue;
            }
            let mut filled: Option<Vec<MetaVote>> = None;
            for (i, entry) in slot.iter().enumerate() {
                if !entry.awaits_coin() {
                    continue;
                }
                let (id, ctx) = coin_query(&info, p, entry, graph, event);
                Self::note_coin_need(coins_needed, coin_stats, p, id.round);
                coin.on_needed(&id, &ctx);
                if let Some(value) = coin.value(&id, &ctx) {
                    let copy = filled.get_or_insert_with(|| slot.to_vec());
                    if let MetaValue::Undecided { est, .. } = &mut copy[i].value {
                        *est = BoolSet::single(value);
                        coin_applied = true;
                    }
                }
            }
            if let Some(copy) = filled {
                *slot = List::from(copy);
            }
        }
        Some(Lists {
            per_candidate: all.into_boxed_slice(),
            others,
            coin_applied,
        })
    }
}
