//! Our Graphviz dumps read like the recorded graphs: a replayed graph dumped with
//! `parsec_graph::dot` parses back with the conformance reader into the same events,
//! parents, causes and last-ancestor maps.

use parsec_graph::ConsensusMode;
use parsec_graph::dot::{DotOptions, to_dot};
use parsec_sim::conformance::replay::{load_graph, rebuild};
use parsec_sim::conformance::{DotEvent, graph_file, parse_dot, require_corpus};

#[test]
#[cfg_attr(
    no_conformance_corpus,
    ignore = "no conformance corpus at build time: set PARSEC_CONFORMANCE_DIR (see README)"
)]
fn dumps_parse_back_to_the_recorded_graph() {
    let dir = require_corpus().unwrap_or_else(|e| panic!("{e}"));
    for name in [
        "benches__minimal",
        "functional_tests_sees__alice",
        "benches__dynamic",
    ] {
        let recorded =
            load_graph(&graph_file(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rebuilt = rebuild(&recorded).expect("rebuilds");
        let (mut engine, _) = rebuilt.engine().expect("genesis");
        for event in &rebuilt.events {
            let _ = engine.replay_event(event.clone()).expect("replays");
        }
        let names = &rebuilt.peer_names;
        let name_of =
            |id: &parsec_graph::PeerId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
        let text = to_dot(
            engine.graph(),
            &DotOptions {
                our_id: Some(rebuilt.our_key.peer_id()),
                consensus_mode: ConsensusMode::Supermajority,
                name: &name_of,
            },
        );
        let dumped =
            parse_dot(&text).unwrap_or_else(|e| panic!("{name}: our dump does not parse: {e}"));
        assert_eq!(dumped.our_id, recorded.our_id, "{name}");
        assert_eq!(dumped.events.len(), recorded.events.len(), "{name}");
        // Events are named `<creator>_<index>[,fork]` in our dumps; compare by (creator, index).
        let key = |e: &DotEvent| (e.creator.clone(), e.index, e.fork);
        let mut ours: Vec<_> = dumped
            .events
            .iter()
            .map(|e| (key(e), e.cause.clone(), e.last_ancestors.clone()))
            .collect();
        let mut theirs: Vec<_> = recorded
            .events
            .iter()
            .map(|e| (key(e), e.cause.clone(), e.last_ancestors.clone()))
            .collect();
        ours.sort_by(|a, b| a.0.cmp(&b.0));
        theirs.sort_by(|a, b| a.0.cmp(&b.0));
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o.0, t.0, "{name}: event");
            assert_eq!(o.2, t.2, "{name}: last_ancestors of {:?}", o.0);
            // Opaque payloads print as Debug strings in our dumps; compare the cause kind.
            assert_eq!(
                std::mem::discriminant(&o.1),
                std::mem::discriminant(&t.1),
                "{name}: cause of {:?}",
                o.0
            );
        }
    }
}
