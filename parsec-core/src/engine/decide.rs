//! Decisions (spec §5.4, §8.3, §8.7): the meta-elections hand back every group an
//! inserted event decided (they run the cascade of restarts themselves); each group
//! becomes blocks, and its membership changes update the peers' states.

use std::collections::BTreeSet;

use parsec_coin::CommonCoin;
use parsec_graph::{EventIndex, Payload, PeerId};
use parsec_meta_election::{DecidedGroup, MembershipChange};

use super::{Parsec, Step};
use crate::block::Block;
use crate::error::{Error, FaultKind};
use crate::peers::{PeerFlags, PeerState};
use crate::store::StoreOp;

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// Evaluates a newly inserted event and applies the groups it decided (spec §6.2,
    /// §8.7).
    pub(super) fn process(&mut self, step: &mut Step<T>, index: EventIndex) -> Result<(), Error> {
        if self.removed {
            return Ok(());
        }
        let decided = self.elections.on_insert(&mut self.graph, index)?;
        // Published with our next own event, as the coin asked.
        self.coin_shares.extend(decided.coin_shares);
        for fault in decided.coin_faults {
            // The creator signed the event that carried the bad coin data; whoever relayed
            // it is not to blame.
            step.fault(fault.creator, None, FaultKind::CoinShare(fault.kind));
        }
        let decisions = !decided.decided.is_empty();
        for group in decided.decided {
            self.apply_group(step, group);
            if self.removed {
                // The groups after our removal were decided without us: we stop here.
                return Ok(());
            }
        }
        // The restart point moves at decisions; the windows move with every event.
        if decisions
            || self
                .config
                .pruning_window
                .is_some_and(|w| (index.get() as u64 + 1).is_multiple_of(w))
        {
            // Not now: the rest of this input may still read what would be dropped (the
            // request a response answers, events of the same message).
            self.prune_due = true;
        }
        Ok(())
    }

    /// Drops from memory what no later computation reads (spec §12.3): the restart point
    /// only moves at a decision. Invisible to consensus (`parsec-graph`'s `prune`).
    pub(super) fn prune_if_due(&mut self) {
        if !std::mem::take(&mut self.prune_due) {
            return;
        }
        let Some(window) = self.config.pruning_window else {
            return;
        };
        self.elections.prune();
        let keep_from = self.elections.oldest_needed();
        let pinned = self.elections.pinned_votes();
        let pruned = self.graph.prune_keeping(keep_from, window, &pinned);
        self.answered.forget_pruned(&self.graph);
        tracing::trace!(dropped = pruned.dropped, held = pruned.held, "pruned");
    }

    /// Turns a decided group into blocks, numbered on from the last block, and applies its
    /// membership changes (spec §5.4, §8.3).
    fn apply_group(&mut self, step: &mut Step<T>, group: DecidedGroup<T>) {
        // The voter set as the changes before each entry left it.
        let mut voters: BTreeSet<PeerId> = group.voters.iter().copied().collect();
        let mut position = 0u32;
        tracing::debug!(
            election = group.election,
            keys = group.entries.len(),
            "decided"
        );
        for entry in group.entries {
            if let Some(at) = self.our_votes.iter().position(|(key, _)| *key == entry.key) {
                self.our_votes.remove(at);
                self.our_decided_votes.insert(&entry.key);
            }
            if let Some(payload) = entry.payload
                && !payload.is_internal()
            {
                let block = Block {
                    payload,
                    proofs: entry.proofs,
                    sequence: self.next_sequence,
                    election: group.election,
                    position,
                };
                step.persist.push(StoreOp::Block(block.clone()));
                step.blocks.push(block);
                self.next_sequence += 1;
                position += 1;
            }
            match entry.membership {
                MembershipChange::Added(peer) => self.apply_add(&mut voters, peer),
                MembershipChange::Removed(peer) => {
                    self.apply_remove(&mut voters, peer, group.election);
                }
                MembershipChange::None => {}
            }
        }
        for block in step.blocks.iter().rev().take(position as usize).rev() {
            tracing::info!(
                sequence = block.sequence,
                election = block.election,
                "block"
            );
        }
    }

    /// A decided `Add` that took effect: `peer` becomes a voter we accept events from, and
    /// one we gossip to if every other voter is one already (`voters` is the voter set
    /// before it).
    fn apply_add(&mut self, voters: &mut BTreeSet<PeerId>, peer: PeerId) {
        // The meta-elections only report an Add of a peer that is neither a voter nor
        // removed; present peers are exactly the voters.
        debug_assert!(!voters.contains(&peer) && !self.peers.contains_key(&peer));
        let everyone_receives = voters
            .iter()
            .filter(|v| **v != self.our_id && **v != peer)
            .all(|v| self.flags(v).contains(PeerFlags::RECV));
        let mut flags = self.flags(&peer) | PeerFlags::VOTE | PeerFlags::SEND;
        if everyone_receives {
            flags = flags | PeerFlags::RECV;
        }
        self.peers.insert(peer, PeerState::Present(flags));
        self.held.creator_permitted(&peer);
        voters.insert(peer);
    }

    /// A decided `Remove` or accusation that took effect in `election`: `peer` is removed
    /// for good; if it is us, we stop.
    fn apply_remove(&mut self, voters: &mut BTreeSet<PeerId>, peer: PeerId, election: u64) {
        // The meta-elections only report the removal of a voter, and voters are present.
        debug_assert!(matches!(self.peers.get(&peer), Some(PeerState::Present(_))));
        self.peers.insert(peer, PeerState::Removed { election });
        voters.remove(&peer);
        if peer == self.our_id {
            tracing::info!("we have been removed; stopping");
            self.removed = true;
        }
    }
}
