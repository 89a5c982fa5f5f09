//! Re-admission from the store (spec §12.5 as settled): a late event whose parent we
//! pruned is not dropped; the driver looks the parent up in the store ([`Step::fetch`]),
//! and the engine puts it back in memory long enough for the late event to be inserted,
//! exactly where and how an unpruned engine inserts it (`parsec-graph`'s `readmit`).
//!
//! Without it, a member that crashed with an event persisted but not sent, or whose
//! syncs were delayed past our memory window, would be cut off for good once it sends
//! that event: nothing it makes after it could be inserted either.

use std::collections::BTreeSet;

use parsec_coin::CommonCoin;
use parsec_graph::{EventHash, Payload};

use super::{Parsec, Step};
use crate::error::Error;
use crate::store::{StoreOp, Stored};

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// Hands in what the store returned for a step's [`Step::fetch`]: for each hash asked
    /// for, the stored event with its stub, or `None` if the store holds none. Events
    /// held back for those parents are inserted now (the step carries what that did);
    /// one whose self-parent the store does not hold either is dropped with fault
    /// [`ParentUnavailable`](crate::FaultKind::ParentUnavailable). A stored record that is
    /// not what we stored (another hash, a broken signature, a stub that does not fit) is
    /// [`Error::Readmit`]: the store is damaged.
    pub fn readmit(
        &mut self,
        answers: Vec<(EventHash, Option<Stored<T>>)>,
    ) -> Result<Step<T>, Error> {
        self.prune_if_due();
        let mut step = Step::default();
        let mut unavailable = BTreeSet::new();
        for (hash, stored) in answers {
            if self.graph.contains(&hash) {
                continue;
            }
            match stored {
                Some(stored) if stored.stub.is_some() => self.readmit_stored(&hash, stored)?,
                // Stored without a stub (by an engine that did not prune): it cannot come
                // back, as if it were not stored.
                _ => {
                    unavailable.insert(hash);
                }
            }
            self.held.parent_arrived(&hash);
        }
        self.unavailable = unavailable;
        let released = self.release_held(&mut step);
        self.unavailable.clear();
        released?;
        Ok(step)
    }

    /// Puts one stored event back into the graph, after checking it is the one asked for.
    pub(super) fn readmit_stored(
        &mut self,
        hash: &EventHash,
        stored: Stored<T>,
    ) -> Result<(), Error> {
        let position = stored.position;
        let bad = |reason: String| Error::Readmit { position, reason };
        let stub = stored.stub.ok_or_else(|| bad("no stub".into()))?;
        if stub.position().get() as u64 != position {
            return Err(bad(format!(
                "its stub is for position {:?}",
                stub.position()
            )));
        }
        let prepared = stored
            .event
            .prepare()
            .map_err(|e| bad(format!("unreadable: {e}")))?;
        if prepared.hash() != hash {
            return Err(bad(format!("it has hash {}, not {hash}", prepared.hash())));
        }
        let event = prepared
            .verify_with(&self.config.event_limits, &mut self.keys)
            .map_err(|e| bad(format!("invalid: {e}")))?;
        self.graph
            .readmit(event, stub)
            .map_err(|e| bad(e.to_string()))?;
        tracing::debug!(%hash, position, "re-admitted a pruned event");
        Ok(())
    }

    /// Asks the driver for `missing` parents that may be pruned history (spec §12.5), if
    /// anything was pruned at all.
    pub(super) fn fetch_pruned(&self, step: &mut Step<T>, missing: &[EventHash]) {
        if self.graph.base().get() == 0 {
            return;
        }
        for parent in missing {
            // One the store just said it lacks is not asked for again at once (the
            // events waiting on it were looked at again because of that answer).
            if !self.held.contains(parent)
                && !step.fetch.contains(parent)
                && !self.unavailable.contains(parent)
            {
                step.fetch.push(*parent);
            }
        }
    }

    /// The stub of a newly inserted event, for engines that prune.
    pub(super) fn stub_op(&self, at: parsec_graph::EventIndex) -> Option<StoreOp<T>> {
        self.config
            .pruning_window
            .map(|_| StoreOp::Stub(self.graph.node(at).stub()))
    }
}
