//! Decisions (spec §5.4, §8.3, §8.7): a decided group becomes blocks, its membership
//! changes are applied, and the next election starts (which may decide again).

use std::collections::BTreeSet;

use parsec_coin::CommonCoin;
use parsec_graph::{EventIndex, Observation, Payload, PeerId};
use parsec_meta_election::{Decision, VoterSet};

use super::{Parsec, Step};
use crate::block::Block;
use crate::error::Error;
use crate::peers::{PeerFlags, PeerState};

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// Evaluates a newly inserted event and runs any decision cascade (spec §6.2, §8.7).
    pub(super) fn process(&mut self, step: &mut Step<T>, index: EventIndex) -> Result<(), Error> {
        if self.removed {
            return Ok(());
        }
        let mut decision = self.elections.on_insert(&self.graph, index)?;
        while let Some(decided) = decision {
            let voters = self.apply_decision(step, &decided)?;
            if self.removed {
                return Ok(());
            }
            decision = self.elections.start_next_election(&self.graph, voters)?;
        }
        Ok(())
    }

    /// Turns a decision into blocks and applies its membership changes (spec §5.4, §8.3).
    pub(super) fn apply_decision(
        &mut self,
        step: &mut Step<T>,
        decision: &Decision,
    ) -> Result<VoterSet, Error> {
        let mut voters: BTreeSet<PeerId> = decision.voters.iter().copied().collect();
        let mut position = 0u32;
        tracing::debug!(
            election = decision.election,
            keys = decision.keys.len(),
            "decided"
        );
        for (i, votes) in decision.votes.iter().enumerate() {
            let vote_of = |at: EventIndex| {
                let node = self.graph.node(at);
                node.event()
                    .vote()
                    .map(|vote| (*self.graph.peer_id(node.creator()), vote))
            };
            let proofs: Vec<_> = votes
                .iter()
                .filter_map(|&at| vote_of(at))
                .map(|(voter, vote)| vote.proof(voter))
                .collect();
            let block_payload = votes.first().and_then(|&at| vote_of(at)).map(|(_, v)| v);
            if let Some(vote) = block_payload
                && !vote.observation.is_internal()
            {
                step.blocks.push(Block {
                    payload: vote.observation.clone(),
                    proofs,
                    sequence: self.next_sequence,
                    election: decision.election,
                    position,
                });
                self.next_sequence += 1;
                position += 1;
            }
            let change = decision
                .first_votes
                .get(i)
                .copied()
                .flatten()
                .and_then(vote_of)
                .and_then(|(_, vote)| match &vote.observation {
                    Observation::Add { peer_id, .. } => Some((true, *peer_id)),
                    Observation::Remove { peer_id, .. } => Some((false, *peer_id)),
                    Observation::Accusation { offender, .. } => Some((false, *offender)),
                    _ => None,
                });
            match change {
                Some((true, peer)) => self.apply_add(&mut voters, peer),
                Some((false, peer)) => self.apply_remove(&mut voters, peer, decision.at),
                None => {}
            }
        }
        for block in step.blocks.iter().rev().take(position as usize).rev() {
            tracing::info!(
                sequence = block.sequence,
                election = block.election,
                "block"
            );
        }
        let mut set = Vec::with_capacity(voters.len());
        for voter in voters {
            set.push((voter, self.graph.register_peer(voter)?));
        }
        Ok(VoterSet::new(set))
    }

    pub(super) fn apply_add(&mut self, voters: &mut BTreeSet<PeerId>, peer: PeerId) {
        if voters.contains(&peer) || matches!(self.peers.get(&peer), Some(PeerState::Removed(_))) {
            return;
        }
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

    pub(super) fn apply_remove(
        &mut self,
        voters: &mut BTreeSet<PeerId>,
        peer: PeerId,
        at: EventIndex,
    ) {
        // Removing a key that never was a member changes nothing: it must not become a
        // former member, whose events rule (b) of spec §5.3 would let in.
        if matches!(self.peers.get(&peer), Some(PeerState::Removed(_)) | None) {
            return;
        }
        self.peers.insert(peer, PeerState::Removed(at));
        voters.remove(&peer);
        if peer == self.our_id {
            tracing::info!("we have been removed; stopping");
            self.removed = true;
        }
    }
}
