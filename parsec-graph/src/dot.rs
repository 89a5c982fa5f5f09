//! Graphviz export in the layout of the recorded conformance graphs (feature `dump-graphs`).
//!
//! One cluster per creator listing its events along self-parent edges, other-parent edges
//! outside the clusters, then a details section with each event's cause and last
//! ancestors as `///` comments, so that our dumps read like the recorded graphs and the
//! conformance parser can read them back.

use std::fmt::Write;

use crate::event::Cause;
use crate::graph::{EventIndex, Graph};
use crate::id::PeerId;
use crate::observation::{ConsensusMode, Observation, Payload};

/// What the header of a dump says, and how peers are named.
pub struct DotOptions<'a> {
    /// The peer whose graph this is.
    pub our_id: Option<PeerId>,
    /// The consensus mode to print.
    pub consensus_mode: ConsensusMode,
    /// Display name of a peer; must not contain `"` or `_`.
    pub name: &'a dyn Fn(&PeerId) -> String,
}

fn event_name<T>(graph: &Graph<T>, index: EventIndex, name: &dyn Fn(&PeerId) -> String) -> String {
    let node = graph.node(index);
    let creator = graph.peer_id(node.creator());
    let forked = graph.slot(node.creator(), node.creator_index()).len() > 1;
    if forked {
        format!(
            "{}_{},{}",
            name(creator),
            node.creator_index(),
            node.fork_id()
        )
    } else {
        format!("{}_{}", name(creator), node.creator_index())
    }
}

fn observation_text<T: Payload>(
    observation: &Observation<T>,
    name: &dyn Fn(&PeerId) -> String,
) -> String {
    match observation {
        Observation::Genesis { group, .. } => {
            let mut names: Vec<String> = group.iter().map(name).collect();
            names.sort();
            format!("Genesis({{{}}})", names.join(", "))
        }
        Observation::Add { peer_id, .. } => format!("Add({})", name(peer_id)),
        Observation::Remove { peer_id, .. } => format!("Remove({})", name(peer_id)),
        Observation::Accusation { offender, malice } => {
            format!("Accusation {{ {}, {:?} }}", name(offender), malice)
        }
        Observation::OpaquePayload(payload) => format!("OpaquePayload({payload:?})"),
        Observation::StartDkg { participants } => {
            let names: Vec<String> = participants.iter().map(name).collect();
            format!("StartDkg({{{}}})", names.join(", "))
        }
        Observation::DkgMessage(_) => "DkgMessage".to_string(),
        Observation::DkgResult { .. } => "DkgResult".to_string(),
    }
}

/// The graph as a Graphviz document.
pub fn to_dot<T: Payload>(graph: &Graph<T>, options: &DotOptions<'_>) -> String {
    let name = options.name;
    let mut out = String::new();
    let mut peers: Vec<(String, crate::PeerIndex)> =
        graph.peers().map(|(index, id)| (name(id), index)).collect();
    peers.sort();
    if let Some(our_id) = &options.our_id {
        let _ = writeln!(out, "/// our_id: {}", name(our_id));
    }
    let _ = writeln!(out, "/// peer_list: {{");
    for (peer, _) in &peers {
        let _ = writeln!(out, "///   {peer}: PeerState()");
    }
    let _ = writeln!(out, "/// }}");
    let _ = writeln!(out, "/// consensus_mode: {:?}", options.consensus_mode);
    let _ = writeln!(
        out,
        "digraph GossipGraph {{\n  splines=false\n  rankdir=BT\n"
    );
    for (peer, index) in &peers {
        let _ = writeln!(out, "  style=invis\n  subgraph cluster_{peer} {{");
        let _ = writeln!(out, "    label=\"{peer}\"\n    \"{peer}\" [style=invis]");
        let mut other_edges = Vec::new();
        for node in graph.iter().filter(|n| n.creator() == *index) {
            let this = event_name(graph, node.index(), name);
            match node.self_parent() {
                None => {
                    let _ = writeln!(out, "    \"{peer}\" -> \"{this}\" [style=invis]");
                }
                Some(parent) => {
                    let _ = writeln!(
                        out,
                        "    \"{}\" -> \"{this}\" [minlen=1]",
                        event_name(graph, parent, name)
                    );
                }
            }
            if let Some(parent) = node.other_parent() {
                other_edges.push(format!(
                    "  \"{}\" -> \"{this}\" [constraint=false]",
                    event_name(graph, parent, name)
                ));
            }
        }
        let _ = writeln!(out, "  }}");
        for edge in other_edges {
            let _ = writeln!(out, "{edge}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "  {{\n    rank=same");
    for (peer, _) in &peers {
        let _ = writeln!(out, "    \"{peer}\" [style=filled, color=white]");
    }
    let _ = writeln!(out, "  }}");
    let chain: Vec<String> = peers.iter().map(|(p, _)| format!("\"{p}\"")).collect();
    if chain.len() > 1 {
        let _ = writeln!(out, "  {} [style=invis]", chain.join(" -> "));
    }
    let _ = writeln!(out, "\n/// ===== details of events =====");
    for node in graph.iter() {
        let this = event_name(graph, node.index(), name);
        let cause = match node.event().cause() {
            Cause::Initial => "Initial".to_string(),
            Cause::Requesting { recipient, .. } => format!("Requesting({})", name(recipient)),
            Cause::Request { .. } => "Request".to_string(),
            Cause::Response { .. } => "Response".to_string(),
            Cause::Observation { vote, .. } => {
                format!("Observation({})", observation_text(&vote.observation, name))
            }
        };
        let shape = if node.is_sync() {
            ", shape=rectangle"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  \"{this}\" [fillcolor=white{shape}, label=\"{this}\"]"
        );
        let _ = writeln!(out, "/// cause: {cause}");
        let mut last: Vec<(String, u64)> = graph
            .last_ancestors(node.index())
            .map(|(peer, index)| (name(graph.peer_id(peer)), index))
            .collect();
        last.sort();
        let last: Vec<String> = last.iter().map(|(p, i)| format!("{p}: {i}")).collect();
        let _ = writeln!(out, "/// last_ancestors: {{{}}}\n", last.join(", "));
    }
    let _ = writeln!(out, "}}");
    out
}
