//! Where the corpus is and what it holds.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use super::location::{CI_ENV, CORPUS_DIR_ENV, ci_requires_corpus, corpus_path};

/// The conformance corpus is not where [`corpus_location`] looks.
///
/// The corpus tests are built ignored when the corpus is absent, so they meet this error
/// only when asked to run anyway (`--ignored`) or under CI, where a missing corpus is a
/// failure rather than a skip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "conformance corpus not found at {}: set {CORPUS_DIR_ENV} or put it at \
     ../shared/conformance beside the checkout{}",
    .dir.display(),
    ci_note(.ci)
)]
pub struct CorpusMissing {
    /// Where it was looked for.
    pub dir: PathBuf,
    /// Whether `CI` is set (a missing corpus is then a failure, not a skip).
    pub ci: bool,
}

fn ci_note(ci: &bool) -> &'static str {
    if *ci {
        " (CI is set: a missing corpus fails the conformance tests)"
    } else {
        ""
    }
}

/// Where the conformance corpus is looked for: `$PARSEC_CONFORMANCE_DIR` if that variable
/// is set, otherwise `<CARGO_MANIFEST_DIR>/../../shared/conformance` (`../shared/conformance`
/// beside the checkout). The build script checks the same folder.
pub fn corpus_location() -> PathBuf {
    corpus_path(
        std::env::var_os(CORPUS_DIR_ENV).as_deref(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
}

/// The conformance corpus folder ([`corpus_location`]); `None` if the folder does not
/// exist.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = corpus_location();
    dir.is_dir().then_some(dir)
}

/// The conformance corpus folder, or why it is missing: what the corpus tests start with
/// (they fail on the error rather than skip).
pub fn require_corpus() -> Result<PathBuf, CorpusMissing> {
    corpus_dir().ok_or_else(|| CorpusMissing {
        dir: corpus_location(),
        ci: ci_requires_corpus(std::env::var_os(CI_ENV).as_deref()),
    })
}

/// The recorded graph `NAME` of the corpus in `dir`: `dir/graphs/NAME.dot`.
pub fn graph_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("graphs").join(format!("{name}.dot"))
}

/// The expected blocks of the graph `NAME` of the corpus in `dir`: `dir/expected/NAME.txt`.
pub fn expected_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("expected").join(format!("{name}.txt"))
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
        let expected = expected_file(dir, &name);
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
    use crate::conformance::replay::load_graph;
    use crate::conformance::{DotEvent, DotGraph, parse_expected, recorded_order};
    use std::collections::BTreeMap;
    use std::time::Instant;

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
    #[cfg_attr(
        no_conformance_corpus,
        ignore = "no conformance corpus at build time: set PARSEC_CONFORMANCE_DIR (see README)"
    )]
    fn corpus_graphs_parse_order_and_ancestors() {
        let dir = require_corpus().unwrap_or_else(|e| panic!("{e}"));
        let start = Instant::now();
        let graphs = corpus_graphs(&dir).unwrap();
        assert!(!graphs.is_empty(), "no graphs in {}", dir.display());
        let mut total_events = 0;
        for (name, graph_path, _) in &graphs {
            let graph = load_graph(graph_path).unwrap_or_else(|e| panic!("{name}: {e}"));
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
    #[cfg_attr(
        no_conformance_corpus,
        ignore = "no conformance corpus at build time: set PARSEC_CONFORMANCE_DIR (see README)"
    )]
    fn corpus_expected_files_parse() {
        let dir = require_corpus().unwrap_or_else(|e| panic!("{e}"));
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
