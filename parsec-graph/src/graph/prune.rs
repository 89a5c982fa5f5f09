//! Pruning (spec §12): dropping events no later query can reach, so that memory stays
//! bounded while answers stay exactly what the unpruned graph gives.
//!
//! # The rule
//!
//! [`Graph::prune`] moves the graph's *base* up to a position the caller names (the
//! engine passes the earliest position its elections and coin may still ask about). Every
//! event at or above the base is kept. Below it, creator `c`'s events are kept from its
//! *floor* `t_c` up, where `t_c` is the least of:
//!
//! * its highest index minus the window (the recent events a peer may still ask for);
//! * the lowest index at which `c` ever forked here, so that every chain walk and
//!   divergence search over `c`'s forks stays among held events.
//!
//! The votes of events the caller pins ([`Graph::prune_keeping`]) are kept wherever
//! their events lie.
//!
//! The floor does not wait for what current events know: a member whose events keep
//! naming old history (one that lags, or chooses to) would otherwise pin every floor.
//!
//! # Why answers do not change
//!
//! Positions are a topological order, so an event never reaches one inserted after it.
//! A query names events at or above the base (votes, interesting events, observers) or
//! looks one up through a summary. A self-chain walk toward an index at or above the
//! floor meets only held events. A walk that meets a pruned event looked for one lying
//! below the base, which cannot be the held event it is compared with. A latest ancestor
//! below the floor lies below the base, so it sees no event the current election asks
//! about, and reporting none changes no count (spec §12.5). Of a creator that forked,
//! everything from its first fork up is held, and below that its chain is unique.
//! `tests/pruning.rs` checks all of this against an unpruned graph.

use super::{EventIndex, Graph};

/// What one [`Graph::prune`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events dropped from memory by this call.
    pub dropped: usize,
    /// Events held after it.
    pub held: usize,
}

impl<T> Graph<T> {
    /// The lowest position all of whose successors are held: everything below was pruned
    /// except the creators' windows.
    pub fn base(&self) -> EventIndex {
        EventIndex::from(self.base)
    }

    /// `peer`'s pruning floor: below this index only events inserted at or above the
    /// base are held (0 while nothing of it was pruned). An unknown event below it can
    /// only be pruned history, or a fork of it (spec §12.5).
    pub fn pruning_floor(&self, peer: super::PeerIndex) -> u64 {
        self.peers.get(peer.get()).map_or(0, |entry| entry.floor)
    }

    /// Where a sync to `recipient` must start reading the store (spec §12.6, catch-up):
    /// the lowest position of an event of some creator that it lacks, as its latest event
    /// here knows, and that we pruned. `None` when everything it lacks is held. Every
    /// event it lacks below the base lies at or after it, except forks of pruned
    /// history, which no longer matter (spec §12.5). O(creators · log n).
    pub fn catch_up_from(&self, recipient: &super::PeerId) -> Option<EventIndex> {
        let known = self
            .peer_index(recipient)
            .and_then(|p| self.tip(p))
            .map(|tip| &self.held(tip).summary);
        let mut from: Option<EventIndex> = None;
        for (c, entry) in self.peers.iter().enumerate() {
            let lacking = known
                .and_then(|s| s.last(c as u32))
                .map_or(0, |last| last + 1);
            if lacking >= entry.floor {
                continue;
            }
            // The creator's chain holds one event per index below its floor (a fork
            // there is its first fork, which keeps the floor at or below it), and
            // positions rise along it: reading from the mark at or below `lacking`
            // reaches every one it lacks.
            let mark = usize::try_from(lacking / super::MARK_EVERY).unwrap_or(usize::MAX);
            let Some(&start) = entry.marks.get(mark).or(entry.marks.last()) else {
                continue;
            };
            from = Some(from.map_or(start, |f| f.min(start)));
        }
        from.filter(|&f| f.get() < self.base)
    }

    /// Drops what no later query can reach below `keep_from`, keeping each creator's
    /// `window` highest indices (at least one) and what the module docs list. Positions
    /// keep their meaning; pruned ones are no longer [`Graph::get`]. O(held · peers).
    pub fn prune(&mut self, keep_from: EventIndex, window: u64) -> Pruned {
        self.prune_keeping(keep_from, window, &[])
    }

    /// As [`Graph::prune`], also keeping the votes at `pinned` (ascending positions)
    /// wherever they lie: the elections' undecided votes, which a decision still reads for
    /// its payload and proofs, however old. Of a pinned event that is pruned only its
    /// vote and creator stay ([`Graph::vote_at`]); ancestry queries about it go by its
    /// creator and index ([`Graph::is_descendant_of_at`]), since below its creator's
    /// floor and first fork its chain is unique.
    pub fn prune_keeping(
        &mut self,
        keep_from: EventIndex,
        window: u64,
        pinned: &[EventIndex],
    ) -> Pruned {
        debug_assert!(pinned.windows(2).all(|w| w[0] <= w[1]), "pinned unsorted");
        let new_base = keep_from.get().min(self.len()).max(self.base);
        let window = window.max(1);
        let floors: Vec<u64> = self
            .peers
            .iter()
            .map(|entry| {
                let top = entry
                    .tip
                    .and_then(|tip| self.get(tip))
                    .map_or(0, |n| n.event.index());
                let recent = top.saturating_sub(window - 1);
                entry.first_fork.map_or(recent, |fork| recent.min(fork))
            })
            .collect();
        let keep = |floors: &[u64], node: &super::EventNode<T>| {
            floors
                .get(node.creator.get())
                .is_none_or(|&floor| node.event.index() >= floor)
        };
        let is_pinned = |at: EventIndex| pinned.binary_search(&at).is_ok();
        let mut detach = Vec::new();

        let mut dropped = 0;
        while self.base < new_base {
            let Some(node) = self.nodes.pop_front() else {
                break;
            };
            self.base += 1;
            if keep(&floors, &node) {
                self.below.insert(node.index, Box::new(node));
            } else {
                self.by_hash.remove(node.event.hash());
                dropped += 1;
                if is_pinned(node.index) {
                    detach.push((node.index, node.creator, node.event));
                }
            }
        }
        // Give back what a burst left unused (see the growth rule in `insert`).
        let len = self.nodes.len();
        if self.nodes.capacity() > len + len / 2 + 256 {
            self.nodes.shrink_to(len + len / 4 + 64);
        }
        // Pinned ones are taken out first, to own their events (`retain` only lends them).
        let leaving: Vec<EventIndex> = self
            .below
            .iter()
            .filter(|&(&at, node)| is_pinned(at) && !keep(&floors, node))
            .map(|(&at, _)| at)
            .collect();
        for at in leaving {
            if let Some(node) = self.below.remove(&at) {
                self.by_hash.remove(node.event.hash());
                dropped += 1;
                detach.push((at, node.creator, node.event));
            }
        }
        let by_hash = &mut self.by_hash;
        self.below.retain(|_, node| {
            let kept = keep(&floors, node);
            if !kept {
                by_hash.remove(node.event.hash());
                dropped += 1;
            }
            kept
        });
        // A pinned event below the floor keeps only its vote: all a decision reads of it.
        // Queries about it go by creator and index (`Graph::is_descendant_of_at`).
        for (at, creator, event) in detach {
            let voter = self.peers[creator.get()].id;
            if let Some(vote) = event.into_vote() {
                self.detached.insert(at, (voter, vote));
            }
        }
        self.detached.retain(|&at, _| is_pinned(at));

        for (c, floor) in floors.iter().enumerate() {
            let entry = &self.peers[c];
            let mut gone = 0;
            for &member in &entry.slots {
                let held = match member.get().checked_sub(self.base) {
                    Some(_) => true,
                    None => self.below.contains_key(&member),
                };
                if held {
                    break;
                }
                gone += 1;
            }
            let below = &self.below;
            let base = self.base;
            let entry = &mut self.peers[c];
            entry.slots.drain(..gone);
            entry.slot_base += gone as u64;
            entry.floor = entry.floor.max(*floor);

            let slot_base = entry.slot_base;
            // A forked slot is forgotten once all its members are gone (its fork-0 member
            // among them); a partly held one keeps its list, so fork ids are never reused.
            entry.extra.retain(|&slot, members| {
                slot >= slot_base
                    || members
                        .iter()
                        .any(|m| m.get() >= base || below.contains_key(m))
            });
        }
        Pruned {
            dropped,
            held: self.held_len(),
        }
    }
}
