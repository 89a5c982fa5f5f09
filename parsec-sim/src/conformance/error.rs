//! The one error type of the conformance readers.

/// Why a graph or expected-blocks file could not be read.
///
/// Every variant that comes from a position in the input carries its 1-based `line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The header has no `/// our_id: NAME` line.
    #[error("the header has no `our_id` line")]
    MissingOurId,
    /// A header field appears twice.
    #[error("line {line}: duplicate header field `{field}`")]
    DuplicateHeaderField {
        /// 1-based line number.
        line: usize,
        /// The field name (`our_id`, `peer_list` or `consensus_mode`).
        field: &'static str,
    },
    /// A header field has a value that cannot be read.
    #[error("line {line}: malformed header line `{text}`")]
    MalformedHeader {
        /// 1-based line number.
        line: usize,
        /// The offending line, trimmed.
        text: String,
    },
    /// `consensus_mode` is neither `Supermajority` nor `Single`.
    #[error("line {line}: unknown consensus mode `{mode}`")]
    UnknownConsensusMode {
        /// 1-based line number.
        line: usize,
        /// The value found.
        mode: String,
    },
    /// The `peer_list: {` block is not closed by `/// }` before the graph starts.
    #[error("line {line}: the peer_list block is not closed")]
    UnterminatedPeerList {
        /// 1-based line number of the first line after the unterminated block.
        line: usize,
    },
    /// A peer is listed twice in the `peer_list` header.
    #[error("line {line}: peer `{name}` is listed twice")]
    DuplicatePeer {
        /// 1-based line number.
        line: usize,
        /// The peer's name.
        name: String,
    },
    /// A `}` closes a block that was never opened.
    #[error("line {line}: unbalanced `}}`")]
    UnbalancedBrace {
        /// 1-based line number.
        line: usize,
    },
    /// Two `subgraph cluster_NAME` blocks have the same `NAME`.
    #[error("line {line}: cluster for creator `{creator}` appears twice")]
    DuplicateCreator {
        /// 1-based line number.
        line: usize,
        /// The creator's name.
        creator: String,
    },
    /// A `subgraph` line that cannot be read.
    #[error("line {line}: malformed subgraph line `{text}`")]
    MalformedSubgraph {
        /// 1-based line number.
        line: usize,
        /// The offending line, trimmed.
        text: String,
    },
    /// A statement starting with a quoted name that is not a valid node or edge statement.
    #[error("line {line}: malformed statement `{text}`")]
    MalformedStatement {
        /// 1-based line number.
        line: usize,
        /// The offending line, trimmed.
        text: String,
    },
    /// An event name that is not `PREFIX_INDEX` or `PREFIX_INDEX,FORK`.
    #[error("line {line}: bad event name `{name}`")]
    BadEventName {
        /// 1-based line number.
        line: usize,
        /// The name found.
        name: String,
    },
    /// An event is named inside two different clusters.
    #[error("line {line}: event `{name}` belongs to both `{first}` and `{second}`")]
    EventInTwoClusters {
        /// 1-based line number.
        line: usize,
        /// The event's name.
        name: String,
        /// The creator it was first seen with.
        first: String,
        /// The other creator.
        second: String,
    },
    /// Two events of one creator have the same `(index, fork)`.
    #[error("line {line}: events `{name}` and `{other}` of `{creator}` share index and fork")]
    DuplicateSlot {
        /// 1-based line number where `name` was declared.
        line: usize,
        /// The creator.
        creator: String,
        /// One of the events.
        name: String,
        /// The other one.
        other: String,
    },
    /// An event is given two self-parents.
    #[error("line {line}: event `{name}` has a second self-parent `{parent}`")]
    MultipleSelfParents {
        /// 1-based line number of the second edge.
        line: usize,
        /// The event's name.
        name: String,
        /// The second self-parent.
        parent: String,
    },
    /// An event is given two other-parents.
    #[error("line {line}: event `{name}` has a second other-parent `{parent}`")]
    MultipleOtherParents {
        /// 1-based line number of the second edge.
        line: usize,
        /// The event's name.
        name: String,
        /// The second other-parent.
        parent: String,
    },
    /// An edge or a details entry names an event that no cluster declares.
    #[error("line {line}: unknown event `{name}`")]
    UnknownEvent {
        /// 1-based line number.
        line: usize,
        /// The name found.
        name: String,
    },
    /// An event's index disagrees with its self-parent: it must be 0 without a self-parent
    /// and the self-parent's index plus one otherwise.
    #[error(
        "line {line}: event `{name}` has index {index}, but its self-parent {self_parent:?} \
         requires {expected:?}"
    )]
    BadIndex {
        /// 1-based line number where the event was declared.
        line: usize,
        /// The event's name.
        name: String,
        /// The index from its name.
        index: u64,
        /// The self-parent's name, if any.
        self_parent: Option<String>,
        /// The index it should have (`None` if the self-parent's index is `u64::MAX`).
        expected: Option<u64>,
    },
    /// An event named in a cluster has no `cause` or no `last_ancestors` details line.
    #[error("line {line}: event `{name}` has no `{field}` details")]
    MissingDetail {
        /// 1-based line number where the event was declared.
        line: usize,
        /// The event's name.
        name: String,
        /// `cause` or `last_ancestors`.
        field: &'static str,
    },
    /// An event has two `cause` or two `last_ancestors` lines.
    #[error("line {line}: event `{name}` has a second `{field}` line")]
    DuplicateDetail {
        /// 1-based line number.
        line: usize,
        /// The event's name.
        name: String,
        /// `cause` or `last_ancestors`.
        field: &'static str,
    },
    /// A `cause` or `last_ancestors` line that follows no node statement.
    #[error("line {line}: details line outside any event")]
    DetailOutsideEvent {
        /// 1-based line number.
        line: usize,
    },
    /// A `cause` that cannot be read.
    #[error("line {line}: malformed cause `{text}`")]
    MalformedCause {
        /// 1-based line number.
        line: usize,
        /// The text after `cause:`.
        text: String,
    },
    /// A `last_ancestors` map that cannot be read.
    #[error("line {line}: malformed last_ancestors `{text}`")]
    MalformedLastAncestors {
        /// 1-based line number.
        line: usize,
        /// The text after `last_ancestors:`.
        text: String,
    },
    /// The graph handed to `recorded_order` names an event twice.
    #[error("event `{name}` appears twice in the graph")]
    DuplicateEventName {
        /// The event's name.
        name: String,
    },
    /// The graph handed to `recorded_order` has a parent that is not one of its events.
    #[error("event `{child}` has unknown parent `{parent}`")]
    UnknownParent {
        /// The event naming the parent.
        child: String,
        /// The missing parent.
        parent: String,
    },
    /// `recorded_order` cannot place every event (a cycle in the parent relation).
    #[error("recorded order stuck after {placed} of {total} events; blocked: {blocked:?}")]
    OrderStuck {
        /// Events placed before getting stuck.
        placed: usize,
        /// Events in the graph.
        total: usize,
        /// The next unplaced event of each peer that still has some.
        blocked: Vec<String>,
    },
    /// A `== group N` line whose `N` is not the next group number.
    #[error("line {line}: expected `== group {expected}`, found `{text}`")]
    BadGroupHeader {
        /// 1-based line number.
        line: usize,
        /// The group number that should come next.
        expected: usize,
        /// The offending line, trimmed.
        text: String,
    },
    /// A payload line before the first `== group N` line.
    #[error("line {line}: payload `{text}` before the first group header")]
    PayloadOutsideGroup {
        /// 1-based line number.
        line: usize,
        /// The payload line, trimmed.
        text: String,
    },
}
