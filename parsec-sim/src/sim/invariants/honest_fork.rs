//! No honest fork (spec §15.4): across all graphs, no two events by an honest creator share
//! an index.
//!
//! # How it works
//!
//! Every graph the simulation holds (honest engines and adversaries' engines alike) tracks
//! the forks of each creator; the check asks each one whether any honest creator has forked.
//! Honest peers include those that crashed: a crash must never make a peer fork.

use std::collections::BTreeMap;

use parsec_graph::{Graph, PeerId};

use super::{Invariant, Violation};

/// Checks `graphs` (the peer number holding each graph, and the graph) against the
/// `honest` creators (identity to peer number).
pub fn check<'a>(
    graphs: impl IntoIterator<Item = (usize, &'a Graph<String>)>,
    honest: &BTreeMap<PeerId, usize>,
) -> Result<(), Violation> {
    for (holder, graph) in graphs {
        for (id, creator) in honest {
            let Some(index) = graph.peer_index(id) else {
                continue;
            };
            if graph.has_forked(index) {
                let slots: Vec<u64> = graph.forked_slots(index).collect();
                return Err(Violation::new(
                    Invariant::HonestFork,
                    Some(holder),
                    format!(
                        "its graph holds a fork by honest peer {creator} ({id}) at indices {slots:?}"
                    ),
                ));
            }
        }
    }
    Ok(())
}
