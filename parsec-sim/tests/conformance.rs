//! Every recorded graph of `../shared/conformance` replays to its expected block groups
//! (spec §16), through the same code path as the `replay` command.

use parsec_sim::conformance::replay::{load_graph, rebuild, replay_file, run, run_pruned};
use parsec_sim::conformance::{corpus_graphs, require_corpus};

#[test]
#[cfg_attr(
    no_conformance_corpus,
    ignore = "no conformance corpus at build time: set PARSEC_CONFORMANCE_DIR (see README)"
)]
fn corpus_replays_to_expected_groups() {
    let dir = require_corpus().unwrap_or_else(|e| panic!("{e}"));
    let graphs = corpus_graphs(&dir).expect("corpus folder is readable");
    assert_eq!(graphs.len(), 41, "the corpus holds 41 graphs");
    let mut failures = Vec::new();
    for (name, graph, expected) in &graphs {
        let report = replay_file(name, graph, Some(expected));
        println!("{report}");
        if let Some(failure) = report.failure {
            failures.push(format!("{name}: {failure}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} graphs differ:\n{}",
        failures.len(),
        graphs.len(),
        failures.join("\n")
    );
}

/// Pruning is invisible to consensus on every recorded graph, membership changes included
/// (spec §12, §15 invariant 9): replayed with small pruning windows, each decides exactly
/// the groups of the unpruned replay.
#[test]
#[cfg_attr(
    no_conformance_corpus,
    ignore = "no conformance corpus at build time: set PARSEC_CONFORMANCE_DIR (see README)"
)]
fn corpus_replays_alike_when_pruned() {
    let dir = require_corpus().unwrap_or_else(|e| panic!("{e}"));
    let graphs = corpus_graphs(&dir).expect("corpus folder is readable");
    let mut failures = Vec::new();
    for (name, graph, _) in &graphs {
        let rebuilt = rebuild(&load_graph(graph).expect("graph loads")).expect("graph rebuilds");
        let full = run(&rebuilt).expect("unpruned replay");
        for window in [1, 2, 5, 16] {
            match run_pruned(&rebuilt, Some(window)) {
                Ok(pruned) if pruned.groups == full.groups => {}
                Ok(pruned) => failures.push(format!(
                    "{name}, window {window}: {} groups, unpruned {}",
                    pruned.groups.len(),
                    full.groups.len()
                )),
                Err(error) => failures.push(format!("{name}, window {window}: {error}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
