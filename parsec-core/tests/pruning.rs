//! Memory pruning in the engine (spec §12): a pruned engine decides what an unpruned one
//! decides while holding a bounded part of its graph, says so in its status, skips
//! events below a creator's pruning floor, and drops an event whose self-parent it
//! pruned with fault `ParentUnavailable`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{ConfigError, Error, FaultKind, Parsec};
use parsec_graph::{ConsensusMode, EventIndex, PackedEvent, WireMessage};
use parsec_sim::network::Network;

const FILE: &str = "pruning";
const PAYLOADS: usize = 24;

/// Four peers voting `PAYLOADS` payloads in `Single` mode until all are decided.
fn run(window: Option<u64>, seed: u64) -> Network {
    let keys = peer_keys(4);
    let mut config = genesis_config(&keys, ConsensusMode::Single);
    config.pruning_window = window;
    let mut net = network(&keys, &config, seed);
    for p in 0..PAYLOADS {
        net.cast(p % 4, opaque(&format!("p{p}")));
    }
    net.reach(20_000, "every payload decided", |net| {
        (0..4).all(|i| net.payloads(i).iter().filter(|p| p.is_opaque()).count() == PAYLOADS)
    });
    // A little more gossip, so that the last decisions prune too.
    for _ in 0..40 {
        net.step().unwrap();
    }
    net
}

#[test]
fn a_pruned_engine_decides_the_same_holding_less() {
    for seed in seeds_from_env(0, 3) {
        let _rerun = rerun(FILE, "a_pruned_engine_decides_the_same_holding_less", seed);
        let full = run(None, seed);
        let lean = run(Some(4), seed);
        for i in 0..4 {
            assert_eq!(full.sequence(i), lean.sequence(i), "peer {i}");
            let kept = full.engine(i).status().memory;
            let pruned = lean.engine(i).status().memory;
            assert_eq!(kept.events_held, kept.events_inserted);
            assert_eq!(kept.base, 0);
            assert!(pruned.base > 0, "peer {i}: {pruned:?}");
            assert!(
                pruned.events_held * 3 < pruned.events_inserted,
                "peer {i} holds too much: {pruned:?}"
            );
            assert!(pruned.meta_events_held < kept.meta_events_held);
            assert_eq!(pruned.oldest_undecided, None, "everything is decided");
            assert_eq!(pruned.events_held, lean.engine(i).graph().held_len() as u64);
        }
        lean.assert_quiet();
        // Syncs to peers lagging beyond a window of 4 needed the stores (and sent what
        // the unpruned run sent: the blocks are the same).
        let served: u64 = lean.nodes().iter().map(|n| n.catch_up_events()).sum();
        let unserved: u64 = full.nodes().iter().map(|n| n.catch_up_events()).sum();
        assert!(served > 0, "seed {seed}: no catch-up was needed");
        assert_eq!(unserved, 0);
    }
}

#[test]
fn a_zero_window_is_refused() {
    let keys = peer_keys(4);
    let mut config = genesis_config(&keys, ConsensusMode::Single);
    config.pruning_window = Some(0);
    let error = Parsec::<String, parsec_core::Coin>::new(keys[0].clone(), config).unwrap_err();
    assert!(
        matches!(error, Error::Config(ConfigError::ZeroPruningWindow)),
        "{error}"
    );
}

/// The events of creator 1 that `lean` pruned (below its floor), from `full`'s graph.
fn pruned_events_of_peer_1(full: &Network, lean: &Network) -> Vec<PackedEvent<String>> {
    let creator = full.peer_id(1);
    let graph = full.engine(0).graph();
    let pruned = lean.engine(0).graph();
    let floor = pruned.pruning_floor(pruned.peer_index(&creator).unwrap());
    graph
        .iter()
        .filter(|n| *graph.peer_id(n.creator()) == creator)
        .filter(|n| n.creator_index() < floor && !pruned.contains(n.hash()))
        .map(|n| n.event().packed().clone())
        .collect()
}

#[test]
fn events_below_the_floor_are_skipped_and_orphans_of_pruned_parents_dropped() {
    let full = run(None, 7);
    let mut lean = run(Some(4), 7);
    let old = pruned_events_of_peer_1(&full, &lean);
    assert!(old.len() > 10, "peer 0 pruned peer 1's early events");
    let before = lean.engine(0).status().memory;
    let held_before = lean.engine(0).held_events();
    // History we dropped, sent again: skipped, not verified, not held, no fault.
    let step = lean
        .engine_mut(0)
        .handle_message(
            full.peer_id(2),
            WireMessage::Events {
                events: old.clone(),
            },
        )
        .unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert!(step.persist.is_empty());
    assert_eq!(lean.engine(0).held_events(), held_before);
    assert_eq!(lean.engine(0).status().memory, before);

    // A fork of peer 1 built on an event we pruned: its self-parent can never come, so
    // it is dropped with ParentUnavailable instead of filling the future buffer.
    let graph = lean.engine(0).graph();
    let p1 = graph.peer_index(&full.peer_id(1)).unwrap();
    let floor = graph.pruning_floor(p1);
    let parent = old
        .iter()
        .find(|e| e.content.index + 1 == floor)
        .expect("the event just below the floor was pruned");
    let orphan = parsec_graph::EventContent {
        creator: full.peer_id(1),
        index: floor,
        cause: parsec_graph::Cause::Requesting {
            self_parent: parent.hash().unwrap(),
            recipient: full.peer_id(0),
        },
        coin_shares: vec![],
    }
    .sign(&peer_keys(4)[1], &Default::default())
    .unwrap()
    .into_packed();
    let step = lean
        .engine_mut(0)
        .handle_message(
            full.peer_id(2),
            WireMessage::Events {
                events: vec![orphan],
            },
        )
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::ParentUnavailable]);
    assert_eq!(lean.engine(0).held_events(), held_before);
    assert!(!lean.engine(0).graph().holds(EventIndex::from(0)));
}
