//! What the handle and the network task share: who is connected, and each member's
//! budget in the incoming queue (bytes and items), so that one member can neither fill
//! our memory nor crowd the others' messages out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use parsec_core::PeerId;

/// What the handle and the task share.
#[derive(Default)]
pub(crate) struct Shared {
    /// Members connected now.
    connected: Mutex<BTreeSet<PeerId>>,
    /// Messages dropped (a full queue, a spent budget), not yet reported.
    pub overloaded: AtomicU64,
    /// Bytes and items of each member's messages in the incoming queue.
    queued: Mutex<BTreeMap<PeerId, (usize, usize)>>,
}

impl Shared {
    fn queued(&self) -> MutexGuard<'_, BTreeMap<PeerId, (usize, usize)>> {
        // Every update is one insert or subtraction: a poisoned map is still whole.
        self.queued
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connected set, locked.
    pub(crate) fn connected(&self) -> MutexGuard<'_, BTreeSet<PeerId>> {
        self.connected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves one item of `bytes` of `from`'s budget; `false` if it would pass
    /// `max_bytes` or `max_items`.
    pub(crate) fn reserve(
        &self,
        from: &PeerId,
        bytes: usize,
        max_bytes: usize,
        max_items: usize,
    ) -> bool {
        let mut queued = self.queued();
        let (held, items) = queued.entry(*from).or_default();
        if held.saturating_add(bytes) > max_bytes || *items >= max_items {
            return false;
        }
        *held += bytes;
        *items += 1;
        true
    }

    /// Releases one item of `bytes` of `from`'s budget (taken off the queue).
    pub(crate) fn taken(&self, from: &PeerId, bytes: usize) {
        let mut queued = self.queued();
        if let Some((held, items)) = queued.get_mut(from) {
            *held = held.saturating_sub(bytes);
            *items = items.saturating_sub(1);
            if *items == 0 {
                queued.remove(from);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_spends_only_its_own_budget() {
        let shared = Shared::default();
        let (a, b) = (PeerId::from_bytes([1; 32]), PeerId::from_bytes([2; 32]));
        assert!(shared.reserve(&a, 60, 100, 3));
        assert!(!shared.reserve(&a, 50, 100, 3), "bytes spent");
        assert!(shared.reserve(&a, 40, 100, 3));
        assert!(
            shared.reserve(&b, 100, 100, 3),
            "another member's budget is whole"
        );
        shared.taken(&a, 60);
        assert!(shared.reserve(&a, 0, 100, 3));
        assert!(shared.reserve(&a, 0, 100, 3));
        assert!(!shared.reserve(&a, 0, 100, 3), "items spent");
    }
}
