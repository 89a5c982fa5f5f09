//! The recorded graph as the parser returns it: names only, no keys or hashes.

use std::collections::BTreeMap;

use parsec_graph::ConsensusMode;

/// One recorded gossip graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotGraph {
    /// The recording peer (`/// our_id: NAME`).
    pub our_id: String,
    /// The names of the `peer_list` header, in file order.
    pub peers: Vec<String>,
    /// The consensus mode (`Supermajority` if the header does not say).
    pub consensus_mode: ConsensusMode,
    /// The creators, one per `subgraph cluster_NAME`, in file order.
    pub creators: Vec<String>,
    /// Every event, grouped by creator in cluster order, each creator's events in the order
    /// they are first named inside its cluster.
    pub events: Vec<DotEvent>,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEvent {
    /// The event's name as written, e.g. `"C_2,1"`.
    pub name: String,
    /// The creator's name (from the cluster holding the event).
    pub creator: String,
    /// The event's index (from its name).
    pub index: u64,
    /// The recorder's fork id (from its name; 0 when the name has no `,FORK`).
    pub fork: u32,
    /// The self-parent's name; `None` exactly when `index == 0`.
    pub self_parent: Option<String>,
    /// The other-parent's name.
    pub other_parent: Option<String>,
    /// The recorded cause.
    pub cause: DotCause,
    /// The recorded `last_ancestors`: for each creator the highest index this event reaches,
    /// itself included.
    pub last_ancestors: BTreeMap<String, u64>,
}

/// The cause of an event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DotCause {
    /// The creator's first event.
    Initial,
    /// Created on receiving a sync request.
    Request,
    /// Created on receiving a sync response.
    Response,
    /// Created when sending a sync request to the named peer.
    Requesting(String),
    /// A vote for an observation.
    Observation(DotObservation),
}

/// The observation voted by an `Observation` event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DotObservation {
    /// `Genesis({A, B, …})`: the names as written (not re-sorted).
    Genesis(Vec<String>),
    /// `Add(NAME)` or `Add{peer_id: NAME, related_info: […]}`.
    Add(String),
    /// `Remove(NAME)` or `Remove{peer_id: NAME, related_info: […]}`.
    Remove(String),
    /// `OpaquePayload(TEXT)`: the text between the outer parentheses, verbatim.
    OpaquePayload(String),
    /// `Accusation { NAME, MALICE }` (or with `offender:` / `malice:` field names).
    Accusation {
        /// The accused peer's name.
        offender: String,
        /// The malice as written, e.g. `Fork(A_3)`.
        malice: String,
    },
}
