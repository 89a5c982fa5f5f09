//! Parser for the original PARSEC's annotated Graphviz gossip graphs (`ALGORITHM.md` §16.2)
//! and the recorded insertion order (§16.5).
//!
//! The parser reads names only: an event is identified by its name (`"C_2,1"`), a peer by
//! its name (`"Carol"`). It is line based, as the recorder writes one statement per line.
//!
//! * [`model`]: what the parser returns ([`DotGraph`], [`DotEvent`], [`DotCause`],
//!   [`DotObservation`]);
//! * [`parse`]: the reader itself ([`parse_dot`]), built on the lexical layer of
//!   [`syntax`] and the details readers of [`details`];
//! * [`order`]: the recorded insertion order ([`recorded_order`]).

mod details;
mod model;
mod order;
mod parse;
mod syntax;

pub use model::{DotCause, DotEvent, DotGraph, DotObservation};
pub use order::recorded_order;
pub use parse::parse_dot;
pub use syntax::split_event_name;

#[cfg(test)]
/// A small graph in the recorder's format, shared by the parser's and the order's tests:
/// Alice (our_id) has three events, Bob one (named only by the invisible first-event edge),
/// Carol none; `Dave` is a header peer without a cluster.
const SMALL: &str = r#"/// our_id: Alice
/// peer_list: {
///   Alice: PeerState(VOTE|SEND|RECV)
///   Carol: PeerState()
///   Bob: PeerState(VOTE|SEND|RECV)
///   Dave: PeerState(VOTE|SEND|RECV)
/// }
/// consensus_mode: Single
digraph GossipGraph {
  splines=false
  rankdir=BT

  style=invis
  subgraph cluster_Alice {
    label="Alice"
    "Alice" [style=invis]
    "Alice" -> "A_0" [style=invis]
    "A_0" -> "A_1" [minlen=1]
    "A_1" -> "A_2" [minlen=2]
  }
  "B_0" -> "A_2" [constraint=false]

  style=invis
  subgraph cluster_Bob {
    label="Bob"
    "Bob" [style=invis]
    "Bob" -> "B_0" [style=invis]
  }

  style=invis
  subgraph cluster_Carol {
    label="Carol"
    "Carol" [style=invis]
  }

  {
    rank=same
    "Alice" [style=filled, color=white]
    "Bob" [style=filled, color=white]
    "Carol" [style=filled, color=white]
  }
  "Alice" -> "Bob" -> "Carol" [style=invis]

/// ===== details of events =====
  "A_0" [fillcolor=white, label=<<table border="0">
<tr><td colspan="6">A_0</td></tr>
</table>>]
/// cause: Initial
/// last_ancestors: {Alice: 0}

  "A_1" [style=filled, label=<<table border="0">
<tr><td colspan="6">A_1</td></tr>
</table>>]
/// cause: Observation(Add{peer_id: Dave, related_info: [1, 2]})
/// last_ancestors: {Alice: 1}

  "A_2" [fillcolor=white, label=<<table>
</table>>]
/// cause: Observation(OpaquePayload(hello (world)))
/// last_ancestors: {Alice: 2, Bob: 0}

  "B_0" [fillcolor=white, label=<<table>
</table>>]
/// cause: Initial
/// last_ancestors: {Bob: 0}

}

/// ===== meta-elections =====
/// consensus_history:
  "garbage after the end" [
"#;
