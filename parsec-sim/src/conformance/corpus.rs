//! Where the corpus is and what it holds.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the location of the conformance corpus.
pub const CORPUS_DIR_ENV: &str = "PARSEC_CONFORMANCE_DIR";

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
    use crate::conformance::{DotEvent, DotGraph, parse_dot, parse_expected, recorded_order};
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
