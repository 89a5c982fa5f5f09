//! Builds test graphs from named events.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use parsec_graph::{
    Cause, Event, EventContent, EventHash, EventIndex, EventLimits, Graph, Observation, PeerId,
    SecretKey, Vote,
};

/// A deterministic key for a peer name.
pub fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(*blake3::hash(name.as_bytes()).as_bytes())
}

/// Named events over a graph; names are `X_i` style labels chosen by the test.
#[derive(Default)]
pub struct Builder {
    pub graph: Graph<String>,
    pub events: BTreeMap<String, (EventIndex, EventHash, String, u64)>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    fn make(&self, creator: &str, index: u64, cause: Cause<String>) -> Event<String> {
        let key = key(creator);
        EventContent {
            creator: key.peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(&key, &EventLimits::default())
        .unwrap()
    }

    fn add(&mut self, name: &str, creator: &str, index: u64, cause: Cause<String>) -> EventIndex {
        let event = self.make(creator, index, cause);
        let hash = *event.hash();
        let at = self.graph.insert(event).unwrap().index();
        self.events
            .insert(name.to_string(), (at, hash, creator.to_string(), index));
        at
    }

    fn parent(&self, name: &str) -> (EventHash, u64) {
        let (_, hash, _, index) = &self.events[name];
        (*hash, *index)
    }

    pub fn idx(&self, name: &str) -> EventIndex {
        self.events[name].0
    }

    pub fn peer(&self, creator: &str) -> PeerId {
        key(creator).peer_id()
    }

    pub fn initial(&mut self, name: &str, creator: &str) -> EventIndex {
        self.add(name, creator, 0, Cause::Initial)
    }

    /// A `Request` (a sync event with both parents).
    pub fn sync(
        &mut self,
        name: &str,
        creator: &str,
        self_parent: &str,
        other_parent: &str,
    ) -> EventIndex {
        let (sp, index) = self.parent(self_parent);
        let (op, _) = self.parent(other_parent);
        self.add(
            name,
            creator,
            index + 1,
            Cause::Request {
                self_parent: sp,
                other_parent: op,
            },
        )
    }

    /// A `Requesting` to `recipient` (self-parent only).
    pub fn requesting(
        &mut self,
        name: &str,
        creator: &str,
        self_parent: &str,
        recipient: &str,
    ) -> EventIndex {
        let (sp, index) = self.parent(self_parent);
        let recipient = self.peer(recipient);
        self.add(
            name,
            creator,
            index + 1,
            Cause::Requesting {
                self_parent: sp,
                recipient,
            },
        )
    }

    /// A vote for `OpaquePayload(payload)`.
    pub fn vote(
        &mut self,
        name: &str,
        creator: &str,
        self_parent: &str,
        payload: &str,
    ) -> EventIndex {
        let (sp, index) = self.parent(self_parent);
        let vote = Vote::new(
            Observation::OpaquePayload(payload.to_string()),
            &key(creator),
        )
        .unwrap();
        self.add(
            name,
            creator,
            index + 1,
            Cause::Observation {
                self_parent: sp,
                vote: Box::new(vote),
            },
        )
    }
}
