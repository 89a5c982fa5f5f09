//! Ancestry summaries (spec §3.3): what an event's ancestry holds of every creator, merged
//! from the parents' summaries at insertion, so that ancestry queries never walk the graph.
//!
//! # How it works
//!
//! Per creator, `last` is the highest index of its events in the ancestry. Without forks
//! that says everything: the creator's events there are the ones at indices up to `last`
//! on its one chain. With forks, which events those are matters, and an event whose
//! ancestry holds a creator's later fork members (or two of them) carries a *fork entry*
//! for that creator:
//!
//! * `top`: the creator's highest-index event in the ancestry (one of them when forked);
//! * `floor`: the lowest index at which the ancestry holds two of the creator's events.
//!
//! Below the floor the ancestry holds one chain of the creator, the self-chain of `top`, so
//! `Y ∈ anc(E)` iff `Y` is `top`'s self-ancestor at `Y`'s index, which skew-binary jump
//! pointers (one per event) find in O(log n) steps. At and above the floor nothing is
//! tracked (the graph's compaction, see the parent module). A creator without an entry
//! has, in that ancestry, only the first-inserted member of each slot (fork id 0): that is
//! always a chain, since a later-inserted member would have brought an entry with it.
//! So an event carries at most one entry per creator, however often the creator forked.
//!
//! Merging two parents compares their tops for each creator with an entry: equal, one the
//! other's self-ancestor, or diverging at some index, which then lowers the floor.

use super::{EventIndex, Graph};

/// What an ancestry holds of one creator that forked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CreatorFork {
    pub(super) creator: u32,
    /// The creator's highest-index event in the ancestry (one of them when forked).
    pub(super) top: EventIndex,
    /// The lowest index at which the ancestry holds two of the creator's events.
    pub(super) floor: Option<u64>,
}

/// The ancestry summary of one event (spec §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Summary {
    /// Per creator: highest reachable index plus one; 0 when none is reachable. 32 bits
    /// suffice: an index is at most the number of its creator's events inserted before
    /// it, and positions are 32-bit.
    pub(super) last: Box<[u32]>,
    /// Sorted by creator: the creators whose later-inserted fork members the ancestry holds.
    pub(super) forks: Option<Box<[CreatorFork]>>,
}

impl Summary {
    pub(super) fn last(&self, creator: u32) -> Option<u64> {
        match self.last.get(creator as usize) {
            Some(&plus_one) if plus_one > 0 => Some(u64::from(plus_one) - 1),
            _ => None,
        }
    }

    pub(super) fn fork(&self, creator: u32) -> Option<&CreatorFork> {
        let forks = self.forks.as_deref()?;
        forks
            .binary_search_by_key(&creator, |f| f.creator)
            .ok()
            .map(|i| &forks[i])
    }

    /// The lowest index at which the ancestry holds two of `creator`'s events.
    pub(super) fn floor(&self, creator: u32) -> Option<u64> {
        self.fork(creator).and_then(|f| f.floor)
    }

    pub(super) fn forked_on(&self, creator: u32) -> bool {
        self.floor(creator).is_some()
    }

    /// The creators the ancestry holds a fork of, with their floors.
    pub(super) fn floors(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.forks
            .iter()
            .flat_map(|forks| forks.iter())
            .filter_map(|f| f.floor.map(|floor| (f.creator, floor)))
    }
}

/// The new event while its summary is being made (it is not among the nodes yet).
#[derive(Clone, Copy)]
pub(super) struct New {
    pub(super) position: EventIndex,
    pub(super) creator: u32,
    pub(super) index: u64,
    pub(super) fork_id: u32,
    pub(super) self_parent: Option<EventIndex>,
}

impl<T> Graph<T> {
    /// The skew-binary jump pointer of a new event at creator index `own_index` whose
    /// self-parent is `parent` (Myers' random-access lists), with its target's index: with
    /// one pointer per event, a self-ancestor at any index is found in O(log n) steps.
    /// Where the pointer to extend was pruned the chain starts over from the parent; that
    /// costs steps, never correctness.
    pub(super) fn jump_for(
        &self,
        parent: Option<EventIndex>,
        own: EventIndex,
        own_index: u64,
    ) -> (EventIndex, u64) {
        let Some(p) = parent else {
            return (own, own_index);
        };
        let parent = self.held(p);
        let (j1, d1) = (parent.jump, parent.jump_depth);
        let d0 = parent.event.index();
        match self.get(j1) {
            Some(j) if d0 - d1 == d1 - j.jump_depth => (j.jump, j.jump_depth),
            _ => (p, d0),
        }
    }

    /// `v`'s self-ancestor (or `v`) at `index`, if `index` is at most `v`'s and that
    /// self-ancestor is held. A walk that meets a pruned event stops with `None`: the
    /// event sought then lies below the graph's base, and below its creator's floor.
    pub fn self_ancestor_at(&self, mut v: EventIndex, index: u64) -> Option<EventIndex> {
        let mut node = self.get(v)?;
        if node.event.index() < index {
            return None;
        }
        while node.event.index() > index {
            v = if node.jump_depth >= index {
                node.jump
            } else {
                node.self_parent?
            };
            node = self.get(v)?;
        }
        Some(v)
    }

    /// The creator's events an ancestry with this summary holds below its floor end at
    /// this event: the fork entry's top, or the first-inserted member at `last`.
    fn top_of(&self, summary: &Summary, creator: u32) -> Option<EventIndex> {
        if let Some(fork) = summary.fork(creator) {
            return Some(fork.top);
        }
        let member = self
            .peers
            .get(creator as usize)?
            .slot_member(summary.last(creator)?)?;
        self.holds(member).then_some(member)
    }

    /// Whether the ancestry with this summary reaches `y` (spec §3.3, with the compaction
    /// above a floor).
    pub(super) fn reaches(&self, summary: &Summary, y: EventIndex) -> bool {
        let Some(target) = self.get(y) else {
            // Callers ask about held events only (the pruning rule keeps what they name).
            debug_assert!(false, "ancestry query about pruned event {y:?}");
            return false;
        };
        let (creator, index) = (target.creator.0, target.event.index());
        if summary.last(creator).is_none_or(|last| last < index) {
            return false;
        }
        match summary.fork(creator) {
            None => target.fork_id == 0,
            Some(fork) => {
                fork.floor.is_none_or(|floor| index < floor)
                    && self.self_ancestor_at(fork.top, index) == Some(y)
            }
        }
    }

    /// The event of `creator` at `index` the ancestry holds, below its floor.
    pub(super) fn reached_at(
        &self,
        summary: &Summary,
        creator: u32,
        index: u64,
    ) -> Option<EventIndex> {
        if summary.last(creator)? < index {
            return None;
        }
        match summary.fork(creator) {
            None => {
                let member = self.peers.get(creator as usize)?.slot_member(index)?;
                self.holds(member).then_some(member)
            }
            Some(fork) => {
                if fork.floor.is_some_and(|floor| index >= floor) {
                    return None;
                }
                self.self_ancestor_at(fork.top, index)
            }
        }
    }

    /// The lowest index at which the self-chains ending at `a` and `b` (one creator's)
    /// hold different events, if they do; `None` when one is the other's self-ancestor.
    /// `new` stands for an event not yet among the nodes (`b` is then its self-parent's
    /// chain with it on top).
    fn divergence(&self, a: EventIndex, b: Chain) -> Option<u64> {
        let at_b = |index: u64| match b {
            Chain::Old(b) => self.self_ancestor_at(b, index),
            Chain::New(new) => {
                if index == new.index {
                    Some(new.position)
                } else {
                    new.self_parent
                        .and_then(|p| self.self_ancestor_at(p, index))
                }
            }
        };
        let b_index = match b {
            Chain::Old(b) => self.held(b).event.index(),
            Chain::New(new) => new.index,
        };
        let a_node = self.held(a);
        let top = a_node.event.index().min(b_index);
        let agree = |index: u64| self.self_ancestor_at(a, index) == at_b(index);
        if agree(top) {
            return None;
        }
        // Below the creator's first fork every slot has one member, so any two chains
        // agree there (index 0 too: a creator has one possible Initial event). Starting
        // the search there also keeps it out of pruned history: a creator's floor never
        // rises above its first fork.
        let first_fork = self.peers[a_node.creator.get()].first_fork.unwrap_or(0);
        let (mut lo, mut hi) = (first_fork.saturating_sub(1).min(top), top);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if agree(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }

    /// The summary of the new event `new` with these parents.
    pub(super) fn merge_summary(&self, parents: [Option<EventIndex>; 2], new: New) -> Summary {
        let peer_count = self.peers.len();
        let summaries = parents.map(|p| p.map(|p| &self.held(p).summary));
        let mut last = vec![0u32; peer_count].into_boxed_slice();
        for parent in summaries.iter().flatten() {
            for (mine, theirs) in last.iter_mut().zip(parent.last.iter()) {
                *mine = (*mine).max(*theirs);
            }
        }
        // Max, not assignment: through its other-parent an event can reach a longer branch
        // of its own creator's fork, and `last` means the highest index in the ancestry.
        let own = &mut last[new.creator as usize];
        *own = (*own).max(u32::try_from(new.index + 1).unwrap_or(u32::MAX));

        let mut creators: Vec<u32> = summaries
            .iter()
            .flatten()
            .filter_map(|s| s.forks.as_deref())
            .flat_map(|forks| forks.iter().map(|f| f.creator))
            .collect();
        if new.fork_id != 0 {
            creators.push(new.creator);
        }
        if creators.is_empty() {
            return Summary { last, forks: None };
        }
        creators.sort_unstable();
        creators.dedup();
        let forks: Box<[CreatorFork]> = creators
            .into_iter()
            .map(|c| self.merge_fork(&summaries, c, new))
            .collect();
        Summary {
            last,
            forks: Some(forks),
        }
    }

    /// The fork entry of creator `c` for the new event.
    fn merge_fork(&self, summaries: &[Option<&Summary>; 2], c: u32, new: New) -> CreatorFork {
        let index = |e: EventIndex| self.held(e).event.index();
        let mut floor: Option<u64> = summaries.iter().flatten().filter_map(|s| s.floor(c)).min();
        let lower = |floor: &mut Option<u64>, d: Option<u64>| {
            if let Some(d) = d {
                *floor = Some(floor.map_or(d, |f| f.min(d)));
            }
        };
        let mut top: Option<EventIndex> = None;
        for summary in summaries.iter().flatten() {
            let Some(t) = self.top_of(summary, c) else {
                continue;
            };
            top = Some(match top {
                None => t,
                Some(current) if current == t => current,
                Some(current) => {
                    let d = self.divergence_below(current, Chain::Old(t), floor);
                    lower(&mut floor, d);
                    if index(t) > index(current) {
                        t
                    } else {
                        current
                    }
                }
            });
        }
        if c == new.creator {
            top = Some(match top {
                None => new.position,
                Some(current) => {
                    let d = self.divergence_below(current, Chain::New(new), floor);
                    lower(&mut floor, d);
                    if new.index > index(current) {
                        new.position
                    } else {
                        current
                    }
                }
            });
        }
        CreatorFork {
            creator: c,
            // Some parent or the new event itself holds an event of `c`.
            top: top.unwrap_or(new.position),
            floor,
        }
    }

    /// [`Graph::divergence`], but only if it can lie below `floor`: two chains that agree
    /// just below it agree everywhere below it.
    fn divergence_below(&self, a: EventIndex, b: Chain, floor: Option<u64>) -> Option<u64> {
        if let Some(f) = floor {
            let below = f.checked_sub(1)?;
            let at_b = match b {
                Chain::Old(b) => self.self_ancestor_at(b, below),
                Chain::New(new) if new.index == below => Some(new.position),
                Chain::New(new) => new
                    .self_parent
                    .and_then(|p| self.self_ancestor_at(p, below)),
            };
            let at_a = self.self_ancestor_at(a, below);
            if at_a.is_some() && at_a == at_b {
                return None;
            }
        }
        self.divergence(a, b)
    }
}

/// A chain of one creator to compare: an inserted event's, or the new event's.
#[derive(Clone, Copy)]
enum Chain {
    Old(EventIndex),
    New(New),
}
