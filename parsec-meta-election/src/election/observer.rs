//! Building a meta-event (spec §6.3, §6.4): whether a voter's sync event is an observer
//! and whom it observes, its interesting content and its chain's content union, and its
//! meta-vote lists.
//!
//! An event is an observer when it is its creator's first sync event (in this election,
//! on its chain) that strongly sees the first interesting events of a supermajority of the
//! voters; those voters are its observees, and its lists start from them. Its successors
//! on the chain follow its lists.

use std::sync::Arc;

use parsec_coin::CommonCoin;
use parsec_graph::{EventIndex, Graph, Payload};

use super::{Elections, KeyId, MetaEvent, Observer};
use crate::bits::Bits;

impl<C: CommonCoin> Elections<C> {
    /// Builds the meta-event of `event`, a sync event of the voter in `slot`; `kept` is the
    /// content it keeps from an earlier election.
    pub(super) fn build_meta<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        slot: usize,
        kept: Option<Vec<KeyId>>,
    ) {
        let self_sync_parent = graph.node(event).self_sync_parent();
        let parent_lists = self_sync_parent.is_some_and(|s| self.has_lists(s));

        // Observer first: it reads the first interesting events registered before this one.
        let mut strongly_seen = Bits::default();
        let observer = if parent_lists {
            Observer::After
        } else {
            self.observer_status(graph, event, self_sync_parent, &mut strongly_seen)
        };

        // The content union of this event's chain before it, from its self-sync-parent.
        let parent_union: Option<Arc<Bits>> = self_sync_parent
            .and_then(|s| self.meta.get(s.get()))
            .and_then(Option::as_ref)
            .and_then(|m| m.union.clone());
        let content = match kept {
            Some(content) => content,
            None => {
                let empty = Bits::default();
                let union = parent_union.as_deref().unwrap_or(&empty);
                self.compute_content(graph, event, slot, union)
            }
        };
        let union = if content.is_empty() {
            parent_union
        } else {
            self.interesting[slot].push(event);
            let mut union = parent_union.as_deref().cloned().unwrap_or_default();
            for &key in &content {
                union.insert(key as usize);
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
        self.meta[event.get()] = Some(Box::new(MetaEvent {
            content,
            union,
            observer,
            lists,
            strongly_seen,
        }));
        self.note_digest(graph, event);
    }

    /// Whether `event`, whose self-sync-parent has no lists, is an observer, and of whom
    /// (spec §6.4). Fills `strongly_seen` with the voter slots whose first interesting
    /// event it strongly sees.
    fn observer_status<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        self_sync_parent: Option<EventIndex>,
        strongly_seen: &mut Bits,
    ) -> Observer {
        let n = self.voters.len();
        // An observer needs a supermajority of voters with a first interesting event.
        let firsts = self.interesting.iter().filter(|i| !i.is_empty()).count();
        if !self.th.supermajority(firsts) {
            return Observer::None;
        }
        // Without forks in the ancestry, strongly seeing is monotone along a chain: what
        // the self-sync-parent strongly saw, this event strongly sees too.
        let inherited: Bits = if graph.has_forks_in_ancestry(event) {
            Bits::default()
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
            if inherited.contains(p) {
                strongly_seen.insert(p);
                observees.push((p as u32, first));
                continue;
            }
            if !latest_ready {
                graph.latest_ancestors(event, &self.voters.indices, &mut latest);
                latest_ready = true;
            }
            if graph.strongly_sees_via(&latest, first, n) {
                strongly_seen.insert(p);
                observees.push((p as u32, first));
            }
        }
        self.scratch_latest = latest;
        if self.th.supermajority(observees.len()) {
            Observer::This(observees)
        } else {
            Observer::None
        }
    }
}
