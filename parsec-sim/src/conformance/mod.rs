//! Readers for the conformance corpus: the recorded gossip graphs (`graphs/NAME.dot`) and
//! the blocks they must produce (`expected/NAME.txt`).
//!
//! The corpus lives outside the workspace (`../shared/conformance/`, see
//! `ALGORITHM.md` §16) and is only read at test time; nothing here copies it. The parsers
//! work on names (strings) only: turning names into keys and events is the job of
//! [`replay`].

pub mod dot;
pub mod expected;
pub mod replay;

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

pub use dot::{
    DotCause, DotEvent, DotGraph, DotObservation, Mode, parse_dot, recorded_order, split_event_name,
};
pub use expected::parse_expected;

/// Environment variable that overrides the location of the conformance corpus.
pub const CORPUS_DIR_ENV: &str = "PARSEC_CONFORMANCE_DIR";

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

/// The conformance corpus folder: `$PARSEC_CONFORMANCE_DIR` if that variable is set,
/// otherwise `<CARGO_MANIFEST_DIR>/../../shared/conformance`; `None` if the folder does not
/// exist.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(CORPUS_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    };
    dir.is_dir().then_some(dir)
}

/// Every graph of the corpus in `dir`, sorted by name: `(NAME, dir/graphs/NAME.dot,
/// dir/expected/NAME.txt)`.
///
/// A graph without its expected file is an error (`io::ErrorKind::NotFound`), so that a
/// conformance run can never skip a graph silently.
pub fn corpus_graphs(dir: &Path) -> io::Result<Vec<(String, PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("graphs"))? {
        let graph = entry?.path();
        if graph.extension() != Some(OsStr::new("dot")) || !graph.is_file() {
            continue;
        }
        let Some(name) = graph.file_stem().and_then(OsStr::to_str) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("graph file name is not UTF-8: {}", graph.display()),
            ));
        };
        let name = name.to_owned();
        let expected = dir.join("expected").join(format!("{name}.txt"));
        if !expected.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no expected file for graph {name}: {}", expected.display()),
            ));
        }
        out.push((name, graph, expected));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Instant;

    fn corpus_or_skip(test: &str) -> Option<PathBuf> {
        let dir = corpus_dir();
        if dir.is_none() {
            eprintln!(
                "\n!!!!! {test}: SKIPPED: conformance corpus not found (set {CORPUS_DIR_ENV} \
                 or put it at ../shared/conformance) !!!!!\n"
            );
        }
        dir
    }

    /// §16.5 word for word: rescan the peers from the first after every placement. Assumes
    /// every creator is in the header (true of the corpus, asserted by the caller).
    fn naive_recorded_order(graph: &DotGraph) -> Vec<usize> {
        let mut others: Vec<&str> = graph
            .peers
            .iter()
            .map(String::as_str)
            .filter(|p| *p != graph.our_id)
            .collect();
        others.sort_unstable();
        others.dedup();
        let peers: Vec<&str> = std::iter::once(graph.our_id.as_str())
            .chain(others)
            .collect();
        let queues: Vec<Vec<&DotEvent>> = peers
            .iter()
            .map(|p| {
                let mut q: Vec<&DotEvent> =
                    graph.events.iter().filter(|e| e.creator == *p).collect();
                q.sort_by_key(|e| (e.index, e.fork));
                q
            })
            .collect();
        let index_of: BTreeMap<&str, usize> = graph
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.as_str(), i))
            .collect();
        let mut placed = vec![false; graph.events.len()];
        let mut next = vec![0; peers.len()];
        let mut order = Vec::new();
        'place: loop {
            for (p, queue) in queues.iter().enumerate() {
                let Some(event) = queue.get(next[p]) else {
                    continue;
                };
                if [&event.self_parent, &event.other_parent]
                    .into_iter()
                    .flatten()
                    .all(|parent| placed[index_of[parent.as_str()]])
                {
                    let e = index_of[event.name.as_str()];
                    placed[e] = true;
                    order.push(e);
                    next[p] += 1;
                    continue 'place;
                }
            }
            return order;
        }
    }

    /// Parses every graph, orders it, and checks the order and every recorded
    /// `last_ancestors` map against one recomputed from the parents.
    #[test]
    fn corpus_graphs_parse_order_and_ancestors() {
        let Some(dir) = corpus_or_skip("corpus_graphs_parse_order_and_ancestors") else {
            return;
        };
        let start = Instant::now();
        let graphs = corpus_graphs(&dir).unwrap();
        assert!(!graphs.is_empty(), "no graphs in {}", dir.display());
        let mut total_events = 0;
        for (name, graph_path, _) in &graphs {
            let text = std::fs::read_to_string(graph_path).unwrap();
            let graph = parse_dot(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!graph.events.is_empty(), "{name}: no events");
            let order = recorded_order(&graph).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(order, naive_recorded_order(&graph), "{name}");
            total_events += order.len();

            let index_of: BTreeMap<&str, usize> = graph
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| (e.name.as_str(), i))
                .collect();
            assert_eq!(order.len(), graph.events.len(), "{name}");
            let mut position = vec![usize::MAX; graph.events.len()];
            for (pos, &e) in order.iter().enumerate() {
                assert_eq!(position[e], usize::MAX, "{name}: event placed twice");
                position[e] = pos;
            }

            let mut computed: Vec<BTreeMap<&str, u64>> = vec![BTreeMap::new(); order.len()];
            for &e in &order {
                let event = &graph.events[e];
                let mut la = BTreeMap::new();
                for parent in [&event.self_parent, &event.other_parent]
                    .into_iter()
                    .flatten()
                {
                    let p = index_of[parent.as_str()];
                    assert!(
                        position[p] < position[e],
                        "{name}: parent {parent} placed after {}",
                        event.name
                    );
                    for (&creator, &index) in &computed[p] {
                        let slot = la.entry(creator).or_insert(index);
                        *slot = (*slot).max(index);
                    }
                }
                let own = la.entry(event.creator.as_str()).or_insert(event.index);
                *own = (*own).max(event.index);
                let recorded: BTreeMap<&str, u64> = event
                    .last_ancestors
                    .iter()
                    .map(|(k, v)| (k.as_str(), *v))
                    .collect();
                assert_eq!(la, recorded, "{name}: last_ancestors of {}", event.name);
                computed[e] = la;
            }

            // Every creator is a peer of the header in this corpus.
            for creator in &graph.creators {
                assert!(graph.peers.contains(creator), "{name}: creator {creator}");
            }
            assert!(graph.peers.contains(&graph.our_id), "{name}: our_id");
        }
        eprintln!(
            "parsed and ordered {} graphs ({total_events} events) in {:?}",
            graphs.len(),
            start.elapsed()
        );
    }

    #[test]
    fn corpus_expected_files_parse() {
        let Some(dir) = corpus_or_skip("corpus_expected_files_parse") else {
            return;
        };
        let graphs = corpus_graphs(&dir).unwrap();
        let mut empty = 0;
        for (name, _, expected_path) in &graphs {
            let text = std::fs::read_to_string(expected_path).unwrap();
            let groups = parse_expected(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            if groups.is_empty() {
                empty += 1;
                continue;
            }
            // The genesis is decided exactly once, in the first group (which may also hold
            // many other payloads).
            let genesis_per_group: Vec<usize> = groups
                .iter()
                .map(|g| g.iter().filter(|p| p.starts_with("Genesis({")).count())
                .collect();
            assert_eq!(genesis_per_group[0], 1, "{name}: genesis in group 1");
            assert!(
                genesis_per_group[1..].iter().all(|&n| n == 0),
                "{name}: genesis after group 1"
            );
            for group in &groups {
                assert!(!group.is_empty(), "{name}: empty group");
                for payload in group {
                    assert!(
                        ["Genesis(", "Add(", "Remove(", "OpaquePayload("]
                            .iter()
                            .any(|p| payload.starts_with(p))
                            && payload.ends_with(')'),
                        "{name}: payload {payload}"
                    );
                }
            }
        }
        // Only `functional_tests_sees__alice` decides nothing.
        assert_eq!(empty, 1);
    }

    #[test]
    fn corpus_graphs_missing_dir_is_an_error() {
        let missing = Path::new("/nonexistent/parsec-conformance");
        assert!(corpus_graphs(missing).is_err());
    }
}
