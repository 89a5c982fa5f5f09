//! Pinned votes (spec §12.3, as settled): an undecided vote's event may be pruned like any
//! other, but its vote stays, since the decision that takes it reads its payload and
//! proofs; and the elections still ask whether later events reach it, which its creator
//! and index answer without the event (`Graph::prune_keeping` keeps them).

use super::{EventIndex, Graph, PeerId, PeerIndex};
use crate::observation::Vote;

impl<T> Graph<T> {
    /// The creator and vote of the vote event at `index`: held, or a pinned vote whose
    /// event was pruned ([`Graph::prune_keeping`]).
    pub fn vote_at(&self, index: EventIndex) -> Option<(&PeerId, &Vote<T>)> {
        match self.get(index) {
            Some(node) => node.event.vote().map(|vote| (node.event.creator(), vote)),
            None => self.detached.get(&index).map(|(id, vote)| (id, &**vote)),
        }
    }

    /// Pinned votes held without their events.
    pub fn detached_votes(&self) -> usize {
        self.detached.len()
    }

    /// `X ⪰ Y` for an event `Y` given with its creator and index, which may have been
    /// pruned: a pinned vote's, say. An event below its creator's floor and first fork is
    /// the only one of its creator at its index here (fork 0), so `X` reaches it iff
    /// `X`'s ancestry holds that creator's events up to its index, and, if `X` descends
    /// from a fork of it, the index lies below its floor in `anc(X)`. Elsewhere `Y` must
    /// be held, as for [`Graph::is_descendant_of`].
    pub fn is_descendant_of_at(
        &self,
        x: EventIndex,
        y: EventIndex,
        creator: PeerIndex,
        index: u64,
    ) -> bool {
        let unique = self.peers.get(creator.get()).is_some_and(|entry| {
            index < entry.floor && entry.first_fork.is_none_or(|fork| index < fork)
        });
        // Below the floor a held event may be one re-admitted from the store, whose chain
        // walks would cross pruned events: the rule below answers for it too.
        if x == y || !unique {
            return self.is_descendant_of(x, y);
        }
        let summary = &self.held(x).summary;
        summary.last(creator.0).is_some_and(|last| last >= index)
            && summary
                .fork(creator.0)
                .is_none_or(|fork| fork.floor.is_none_or(|floor| index < floor))
    }
}
