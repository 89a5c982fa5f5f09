//! Receiving events (spec §4.4, §5.3): verify, place (insert now, with the held ancestors
//! rule (b) brings in, or hold), release held events once their parents or creator are
//! ready, and insert with evaluation.

use std::collections::{BTreeMap, BTreeSet};

use parsec_coin::CommonCoin;
use parsec_graph::{
    Cause, Event, EventError, EventHash, EventIndex, Graph, Inserted, Observation, PackedEvent,
    Payload, PeerId, wire,
};

use super::{Origin, Parsec, Placed, Step};
use crate::error::{Error, FaultKind};
use crate::future::{self, Held};
use crate::peers::{PeerFlags, PeerState};
use crate::store::StoreOp;

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// The common first half of handling a request or a response (spec §4.4 steps 1-3):
    /// checks the sender, receives the (non-empty) events, and returns the message's last
    /// event if handling goes on: it was inserted and nothing stopped the handling.
    pub(super) fn receive_sync(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        events: Vec<PackedEvent<T>>,
    ) -> Result<Option<EventIndex>, Error> {
        if !self.accepts_from(step, &sender) {
            return Ok(None);
        }
        let Some(Ok(last_hash)) = events.last().map(PackedEvent::hash) else {
            step.fault(sender, None, FaultKind::MalformedMessage);
            return Ok(None);
        };
        let completed = self.receive_events(step, sender, events, Origin::Peer)?;
        if !completed || self.removed {
            return Ok(None);
        }
        // Not inserted now (waiting for parents or chunks): no sync event, not a fault.
        Ok(self.graph.index_of(&last_hash))
    }

    /// Verifies and places each event in order; false if handling stopped at a bad event.
    /// Held events are retried after each insertion (spec §4.4), so that the next event of
    /// the message, and our reply, find them in the graph; with own events retrying too
    /// (`create_own`), no input needs to release held events itself.
    pub(super) fn receive_events(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        events: Vec<PackedEvent<T>>,
        origin: Origin,
    ) -> Result<bool, Error> {
        for packed in events {
            let creator = packed.content.creator;
            let index = packed.content.index;
            let Ok(prepared) = packed.prepare() else {
                step.fault(sender, Some(creator), FaultKind::MalformedMessage);
                return Ok(false);
            };
            let hash = *prepared.hash();
            if self.graph.contains(&hash) || self.held.contains(&hash) {
                continue;
            }
            // Below the creator's pruning floor an unknown event is history we dropped,
            // or a fork of it, which no longer matters (spec §12.5): skipped unverified.
            // Our own pruned events come back this way too, and prove no lost state.
            if self.below_pruning_floor(&creator, index) {
                continue;
            }
            let event = match prepared.verify_with(&self.config.event_limits, &mut self.keys) {
                Ok(event) => event,
                Err(EventError::BadSignature | EventError::BadVoteSignature) => {
                    step.fault(sender, Some(creator), FaultKind::BadSignature);
                    return Ok(false);
                }
                Err(error) => {
                    step.fault(sender, Some(creator), FaultKind::InvalidEvent(error));
                    return Ok(false);
                }
            };
            // Only a validly signed event of ours proves lost state; a forged one is just
            // a bad signature from whoever relayed it.
            if creator == self.our_id && origin == Origin::Peer {
                return Err(Error::LostState(hash));
            }
            // The Genesis vote is fixed by the configuration (spec §5.2): one that differs
            // (another group, related info or coin) is refused with everything built on it.
            if let Some(vote) = event.vote()
                && matches!(vote.observation, Observation::Genesis { .. })
                && vote.observation != self.genesis_observation()
            {
                step.fault(sender, Some(creator), FaultKind::IncorrectGenesis);
                return Ok(false);
            }
            match self.place(step, sender, event)? {
                Placed::Inserted => self.release_held(step)?,
                Placed::Held => {}
                Placed::Rejected => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Whether `creator`'s events at `index` were pruned here (spec §12.5).
    fn below_pruning_floor(&self, creator: &PeerId, index: u64) -> bool {
        self.graph
            .peer_index(creator)
            .is_some_and(|p| index < self.graph.pruning_floor(p))
    }

    pub(super) fn is_permitted(&self, creator: &PeerId) -> bool {
        *creator == self.our_id || self.flags(creator).contains(PeerFlags::SEND)
    }

    /// Whether `creator` is or was a member by agreed decision (genesis, decided `Add`):
    /// only such creators' events can enter the graph (spec §5.3). Every peer entry was
    /// made by one of those, and removal keeps the entry.
    pub(super) fn was_member(&self, creator: &PeerId) -> bool {
        self.peers.contains_key(creator)
    }

    /// Inserts `event` now if it can be, with any held ancestors it needs (spec §5.3 rule b),
    /// or holds it.
    pub(super) fn place(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        event: Event<T>,
    ) -> Result<Placed, Error> {
        let missing = self.missing_parents(&event);
        if let Some(self_parent) = event.cause().self_parent()
            && missing.contains(self_parent)
            && !self.held.contains(self_parent)
            && self.below_pruning_floor(event.creator(), event.index().saturating_sub(1))
            && self.unavailable.contains(self_parent)
        {
            // Its self-parent was pruned (the next one up is always held) and the store
            // does not hold it either: waiting for it would only fill the buffer.
            step.fault(sender, Some(*event.creator()), FaultKind::ParentUnavailable);
            return Ok(Placed::Held);
        }
        if !self.is_permitted(event.creator()) {
            self.hold(step, sender, event, missing);
            return Ok(Placed::Held);
        }
        if !missing.is_empty() {
            // Rule (b) applies only when the held ancestry reaches the graph; otherwise
            // the event waits, in O(1).
            if !missing.iter().all(|parent| self.held.is_grounded(parent)) {
                self.hold(step, sender, event, missing);
                return Ok(Placed::Held);
            }
            for hash in self.held_ancestors(&missing) {
                if let Some(held) = self.held.take(&hash)
                    && let Placed::Rejected = self.insert_now(step, held.sender, held.event)?
                {
                    return Ok(Placed::Rejected);
                }
            }
            // Inserting the ancestors may have decided a removal of this creator: check
            // everything again (the parents are now present, so this does not recurse
            // further).
            if missing.iter().all(|parent| self.graph.contains(parent)) {
                return self.place(step, sender, event);
            }
            self.hold(step, sender, event, missing);
            return Ok(Placed::Held);
        }
        self.insert_now(step, sender, event)
    }

    /// The parents of `event` that are not in the graph.
    pub(super) fn missing_parents(&self, event: &Event<T>) -> Vec<EventHash> {
        parents_of(event)
            .filter(|parent| !self.graph.contains(parent))
            .collect()
    }

    /// The held events that supply `missing` (all held and grounded), parents first.
    pub(super) fn held_ancestors(&self, missing: &[EventHash]) -> Vec<EventHash> {
        let mut needed: BTreeMap<EventHash, &Event<T>> = BTreeMap::new();
        let mut stack: Vec<EventHash> = missing.to_vec();
        while let Some(hash) = stack.pop() {
            if self.graph.contains(&hash) || needed.contains_key(&hash) {
                continue;
            }
            if let Some(event) = self.held.get(&hash) {
                needed.insert(hash, event);
                stack.extend(parents_of(event));
            }
        }
        let events: Vec<&Event<T>> = needed.into_values().collect();
        topological(&self.graph, &events)
            .into_iter()
            .map(|i| *events[i].hash())
            .collect()
    }

    pub(super) fn hold(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        event: Event<T>,
        missing: Vec<EventHash>,
    ) {
        tracing::debug!(hash = %event.hash(), creator = %event.creator(), "holding event");
        self.fetch_pruned(step, &missing);
        let eligible = self.was_member(event.creator());
        // The encoded size plus what holding it costs beyond that (an encoding error cannot
        // happen for an event that was decoded or signed; count it as too large to hold).
        let bytes = wire::encoded_len(event.packed()).map_or(usize::MAX, |len| {
            len.saturating_add(future::HELD_OVERHEAD_BYTES)
        });
        let limits = future::Limits {
            events_per_sender: self.config.max_future_events_per_peer,
            events_total: self.config.max_future_events_total,
            bytes_per_sender: self.config.max_future_bytes_per_peer,
            bytes_total: self.config.max_future_bytes_total,
        };
        let evicted = self
            .held
            .hold(sender, event, missing, eligible, bytes, limits);
        for dropped in evicted {
            step.fault(
                dropped.sender,
                Some(*dropped.event.creator()),
                FaultKind::BufferOverflow,
            );
        }
    }

    /// Inserts the held events that became insertable, until none is (spec §4.4, §5.3).
    /// Only events whose missing parent arrived or whose creator became permitted are
    /// looked at; those still not insertable are held again.
    pub(super) fn release_held(&mut self, step: &mut Step<T>) -> Result<(), Error> {
        loop {
            if self.removed {
                return Ok(());
            }
            let batch = self.held.take_candidates();
            if batch.is_empty() {
                return Ok(());
            }
            let events: Vec<&Event<T>> = batch.iter().map(|h| &h.event).collect();
            let order = topological(&self.graph, &events);
            let mut slots: Vec<Option<Held<T>>> = batch.into_iter().map(Some).collect();
            let mut in_order = vec![false; slots.len()];
            for &i in &order {
                in_order[i] = true;
            }
            let ordered: Vec<usize> = order
                .iter()
                .copied()
                .chain((0..slots.len()).filter(|&i| !in_order[i]))
                .collect();
            for i in ordered {
                let Some(held) = slots[i].take() else {
                    continue;
                };
                if self.graph.contains(held.event.hash()) {
                    continue;
                }
                let _ = self.place(step, held.sender, held.event)?;
            }
        }
    }

    /// Inserts a verified event whose parents are present and evaluates it.
    pub(super) fn insert_now(
        &mut self,
        step: &mut Step<T>,
        sender: PeerId,
        event: Event<T>,
    ) -> Result<Placed, Error> {
        let creator = *event.creator();
        if let Cause::Observation { self_parent, .. } = event.cause()
            && let Some(parent) = self.graph.index_of(self_parent)
            && self.graph.node(parent).vote_run() >= self.config.max_vote_run
        {
            step.fault(sender, Some(creator), FaultKind::VoteRunTooLong);
            return Ok(Placed::Rejected);
        }
        let packed = event.packed().clone();
        let hash = *event.hash();
        let inserted = match self.graph.insert(event) {
            Ok(inserted) => inserted,
            Err(error) => {
                step.fault(sender, Some(creator), FaultKind::InvalidParents(error));
                return Ok(Placed::Rejected);
            }
        };
        let Inserted::New { index, fork } = inserted else {
            return Ok(Placed::Inserted);
        };
        if let Some(fork) = fork
            && fork.creator != self.our_id
        {
            step.fault(
                sender,
                Some(fork.creator),
                FaultKind::Fork { index: fork.index },
            );
        }
        step.persist.push(StoreOp::Event {
            position: index.get() as u64,
            event: packed,
        });
        step.persist.extend(self.stub_op(index));
        self.held.parent_arrived(&hash);
        if creator != self.our_id
            && let Some(PeerState::Present(flags)) = self.peers.get_mut(&creator)
        {
            *flags = *flags | PeerFlags::RECV;
        }
        self.process(step, index)?;
        Ok(Placed::Inserted)
    }
}

fn parents_of<T>(event: &Event<T>) -> impl Iterator<Item = EventHash> + '_ {
    [event.cause().self_parent(), event.cause().other_parent()]
        .into_iter()
        .flatten()
        .copied()
}

/// Indices of `events` in a topological order (parents first), ties broken by
/// `(creator, index, hash)` (spec §5.3). Events with a parent neither in `graph` nor among
/// `events` are left out.
fn topological<T>(graph: &Graph<T>, events: &[&Event<T>]) -> Vec<usize> {
    let position: BTreeMap<EventHash, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (*e.hash(), i))
        .collect();
    let mut pending_parents = vec![0usize; events.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    let mut blocked = vec![false; events.len()];
    for (i, event) in events.iter().enumerate() {
        for parent in parents_of(event) {
            if graph.contains(&parent) {
                continue;
            }
            match position.get(&parent) {
                Some(&p) => {
                    pending_parents[i] += 1;
                    children[p].push(i);
                }
                None => blocked[i] = true,
            }
        }
    }
    let key = |i: usize| {
        (
            *events[i].creator(),
            events[i].index(),
            *events[i].hash(),
            i,
        )
    };
    let mut ready: BTreeSet<(PeerId, u64, EventHash, usize)> = (0..events.len())
        .filter(|&i| pending_parents[i] == 0 && !blocked[i])
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(events.len());
    while let Some(next) = ready.pop_first() {
        let i = next.3;
        order.push(i);
        for &child in &children[i] {
            pending_parents[child] -= 1;
            if pending_parents[child] == 0 && !blocked[child] {
                ready.insert(key(child));
            }
        }
    }
    order
}
