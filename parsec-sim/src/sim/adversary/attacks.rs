//! The attacks that target what one member can make honest peers do beyond a plain fork:
//! split views of a fork, made-up creators, buffer floods and fork floods.

use std::collections::BTreeSet;

use parsec_graph::{
    Cause, EventContent, EventHash, Observation, PackedEvent, PeerId, SecretKey, WireMessage, wire,
};

use parsec_core::sync::MessageKind;

use super::{Puppet, PuppetError, Sends};

/// Room left in a message for framing when packing large events.
const MESSAGE_SLACK: usize = 4096;

impl Puppet {
    /// A hash nobody holds, different for every call.
    fn nowhere(&mut self, salt: u8) -> EventHash {
        self.forged += 1;
        let mut bytes = [salt; 32];
        bytes[..8].copy_from_slice(&self.forged.to_le_bytes());
        EventHash::from_bytes(bytes)
    }

    /// The second branch first, as bare `Events` to `hidden_to`, then the first branch as
    /// a request to `to`; the puppet continues on the first and hides the second.
    pub(super) fn split_fork(
        &mut self,
        to: PeerId,
        hidden_to: Vec<PeerId>,
        votes: [bool; 2],
        at_initial: bool,
        voted: &mut Vec<Observation<String>>,
    ) -> Result<Sends, PuppetError> {
        let hidden_recipient = hidden_to.first().copied().unwrap_or(to);
        // The second branch: on the Initial event (before the Genesis vote) or on the tip.
        let (mut parent, mut index) = if at_initial {
            (self.initial, 1)
        } else {
            (self.tip, self.next_index)
        };
        let mut second = BTreeSet::new();
        if votes[1] {
            parent = self.vote_at(parent, index, "split", voted)?;
            second.insert(parent);
            index += 1;
        }
        let last = self.create_at(parent, index, |self_parent| Cause::Requesting {
            self_parent,
            recipient: hidden_recipient,
        })?;
        second.insert(last);

        // The first branch: the chain it continues on.
        let mut first = BTreeSet::new();
        if at_initial {
            // Its existing chain is the first branch; a new Requesting starts the sync.
        } else if votes[0] {
            let hash = self.vote_at(self.tip, self.next_index, "split", voted)?;
            self.tip = hash;
            self.next_index += 1;
            first.insert(hash);
        }
        let requesting =
            self.create_at(self.tip, self.next_index, |self_parent| Cause::Requesting {
                self_parent,
                recipient: to,
            })?;
        self.tip = requesting;
        self.next_index += 1;
        first.insert(requesting);

        let mut sends = Vec::new();
        for peer in hidden_to {
            sends.extend(self.messages(peer, MessageKind::Events, &first)?);
        }
        self.hidden.extend(second);
        sends.extend(self.messages(to, MessageKind::Request, &BTreeSet::new())?);
        Ok(sends)
    }

    fn vote_at(
        &mut self,
        parent: EventHash,
        index: u64,
        what: &str,
        voted: &mut Vec<Observation<String>>,
    ) -> Result<EventHash, PuppetError> {
        let observation = self.fresh_payload(what);
        let vote = self.sign_vote(observation.clone())?;
        let hash = self.create_at(parent, index, |self_parent| Cause::Observation {
            self_parent,
            vote: Box::new(vote),
        })?;
        self.votes.push(observation.clone());
        voted.push(observation);
        Ok(hash)
    }

    /// `creators` made-up keys, each with an `Initial` event and a `Request` on the previous
    /// one's, and an event of the puppet's own on the last of them, on a side branch (its
    /// next slot; it goes on from its tip as if nothing happened). Sent to `to` as `Events`.
    pub(super) fn made_up_creators(
        &mut self,
        to: PeerId,
        creators: usize,
    ) -> Result<Sends, PuppetError> {
        let limits = self.config.event_limits;
        let mut events: Vec<PackedEvent<String>> = Vec::new();
        let mut previous: Option<EventHash> = None;
        for _ in 0..creators {
            self.forged += 1;
            let mut seed = blake3::Hasher::new();
            seed.update(self.id.as_bytes());
            seed.update(&self.forged.to_le_bytes());
            let key = SecretKey::from_seed(*seed.finalize().as_bytes());
            let initial = EventContent::<String> {
                creator: key.peer_id(),
                index: 0,
                cause: Cause::Initial,
                coin_shares: Vec::new(),
            }
            .sign(&key, &limits)?;
            let mut last = *initial.hash();
            events.push(initial.into_packed());
            if let Some(other_parent) = previous {
                let request = EventContent::<String> {
                    creator: key.peer_id(),
                    index: 1,
                    cause: Cause::Request {
                        self_parent: last,
                        other_parent,
                    },
                    coin_shares: Vec::new(),
                }
                .sign(&key, &limits)?;
                last = *request.hash();
                events.push(request.into_packed());
            }
            previous = Some(last);
        }
        if let Some(other_parent) = previous {
            // Not fed to its own engine: nobody may ever insert it.
            let own = EventContent::<String> {
                creator: self.id,
                index: self.next_index,
                cause: Cause::Response {
                    self_parent: self.tip,
                    other_parent,
                },
                coin_shares: Vec::new(),
            }
            .sign(&self.key, &limits)?;
            events.push(own.into_packed());
        }
        self.pack(to, events)
    }

    /// `events` votes of `bytes` payload bytes each, far ahead of its chain on parents
    /// nobody has: each waits in the recipient's future buffer.
    pub(super) fn flood(
        &mut self,
        to: PeerId,
        events: usize,
        bytes: usize,
    ) -> Result<Sends, PuppetError> {
        let limits = self.config.event_limits;
        let bytes = bytes.min(limits.max_observation_bytes.saturating_sub(64));
        let mut packed = Vec::with_capacity(events);
        for _ in 0..events {
            let self_parent = self.nowhere(0xf1);
            let observation =
                Observation::OpaquePayload(format!("flood-{}-{}", self.forged, "x".repeat(bytes)));
            let vote = self.sign_vote(observation)?;
            let event = EventContent::<String> {
                creator: self.id,
                index: self.next_index + 2_000_000 + self.forged,
                cause: Cause::Observation {
                    self_parent,
                    vote: Box::new(vote),
                },
                coin_shares: Vec::new(),
            }
            .sign(&self.key, &limits)?;
            packed.push(event.into_packed());
        }
        self.pack(to, packed)
    }

    /// `forks` events in the slot after its tip, each a `Request` on a different event of
    /// another peer, each sent to one peer in turn; it continues on the first. Its own
    /// engine holds them all, so its later syncs spread every member as fork evidence.
    pub(super) fn many_forks(
        &mut self,
        forks: usize,
        ids: &[PeerId],
    ) -> Result<Sends, PuppetError> {
        let graph = self.engine.graph();
        let others: Vec<EventHash> = graph
            .iter()
            .rev()
            .filter(|node| *graph.peer_id(node.creator()) != self.id)
            .take(forks)
            .map(|node| *node.hash())
            .collect();
        let recipients: Vec<PeerId> = ids.iter().copied().filter(|id| *id != self.id).collect();
        let (base, index) = (self.tip, self.next_index);
        let mut members = Vec::new();
        for other_parent in others {
            let hash = self.create_at(base, index, |self_parent| Cause::Request {
                self_parent,
                other_parent,
            })?;
            members.push(hash);
        }
        let Some(&first) = members.first() else {
            return Ok(Vec::new());
        };
        let mut sends = Vec::new();
        if !recipients.is_empty() {
            for (k, member) in members.iter().enumerate() {
                let exclude: BTreeSet<EventHash> =
                    members.iter().copied().filter(|m| m != member).collect();
                sends.extend(self.messages(
                    recipients[k % recipients.len()],
                    MessageKind::Events,
                    &exclude,
                )?);
            }
        }
        self.tip = first;
        self.next_index = index + 1;
        Ok(sends)
    }

    /// `events` as `Events` messages to `to`, each within the message limits.
    fn pack(&self, to: PeerId, events: Vec<PackedEvent<String>>) -> Result<Sends, PuppetError> {
        let limits = self.config.wire_limits;
        let room = limits.max_message_bytes.saturating_sub(MESSAGE_SLACK);
        let mut sends = Vec::new();
        let mut batch: Vec<PackedEvent<String>> = Vec::new();
        let mut size = 0;
        for event in events {
            let bytes = parsec_graph::wire::encoded_len(&event)
                .map_err(|e| PuppetError::Sign(parsec_graph::EventError::from(e)))?;
            if !batch.is_empty()
                && (size + bytes > room || batch.len() >= limits.max_events_per_message)
            {
                let message = WireMessage::Events {
                    events: std::mem::take(&mut batch),
                };
                sends.push((to, wire::encode(&message, &limits)?));
                size = 0;
            }
            size += bytes;
            batch.push(event);
        }
        if !batch.is_empty() {
            let message = WireMessage::Events { events: batch };
            sends.push((to, wire::encode(&message, &limits)?));
        }
        Ok(sends)
    }
}
