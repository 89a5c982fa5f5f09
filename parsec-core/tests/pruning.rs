//! Memory pruning in the engine (spec §12): a pruned engine decides what an unpruned one
//! decides while holding a bounded part of its graph, says so in its status, skips
//! events below a creator's pruning floor, re-admits from the store a pruned parent a
//! late event needs, and drops the event with fault `ParentUnavailable` when the store
//! lacks it too.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{ConfigError, Error, FaultKind, Parsec, StoreOp};
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
            // Decided keys leave a digest each, and nothing else once compacted.
            assert_eq!(pruned.decided_keys, PAYLOADS as u64 + 1, "and Genesis");
            assert!(pruned.keys_tracked < 9, "peer {i}: {pruned:?}");
            // Answered syncs are forgotten with their pruned events.
            assert!(
                pruned.syncs_remembered < kept.syncs_remembered,
                "peer {i}: {pruned:?} against {kept:?}"
            );
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

/// The events of creator 1 that peer 0 of `lean` pruned (below its floor), from its store.
fn pruned_events_of_peer_1(lean: &Network) -> Vec<PackedEvent<String>> {
    let creator = lean.peer_id(1);
    let pruned = lean.engine(0).graph();
    let floor = pruned.pruning_floor(pruned.peer_index(&creator).unwrap());
    let stored = lean.nodes()[0].store().events_now(0, usize::MAX).unwrap();
    stored
        .into_iter()
        .filter(|e| e.content.creator == creator && e.content.index < floor)
        .filter(|e| !pruned.contains(&e.hash().unwrap()))
        .collect()
}

#[test]
fn events_below_the_floor_are_skipped_and_forks_on_pruned_parents_readmit_them() {
    let mut lean = run(Some(4), 7);
    let ids: Vec<parsec_graph::PeerId> = (0..4).map(|i| lean.peer_id(i)).collect();
    // An input with nothing in it carries out a prune still due.
    let flushed = lean.engine_mut(0).readmit(Vec::new()).unwrap();
    assert_eq!(flushed, parsec_core::Step::default());
    let old = pruned_events_of_peer_1(&lean);
    assert!(old.len() > 10, "peer 0 pruned peer 1's early events");
    let before = lean.engine(0).status().memory;
    let held_before = lean.engine(0).held_events();
    // History we dropped, sent again: skipped, not verified, not held, no fault.
    let step = lean
        .engine_mut(0)
        .handle_message(
            ids[2],
            WireMessage::Events {
                events: old.clone(),
            },
        )
        .unwrap();
    assert_eq!(step, parsec_core::Step::default());
    assert_eq!(lean.engine(0).held_events(), held_before);
    assert_eq!(lean.engine(0).status().memory, before);

    // Forks of peer 1 at its floor, on the pruned event below it: held, and the parent
    // asked of the store.
    let graph = lean.engine(0).graph();
    let p1 = graph.peer_index(&ids[1]).unwrap();
    let floor = graph.pruning_floor(p1);
    let parent = old
        .iter()
        .find(|e| e.content.index + 1 == floor)
        .expect("the event just below the floor was pruned")
        .hash()
        .unwrap();
    let fork = |recipient: usize| {
        parsec_graph::EventContent {
            creator: ids[1],
            index: floor,
            cause: parsec_graph::Cause::Requesting {
                self_parent: parent,
                recipient: ids[recipient],
            },
            coin_shares: vec![],
        }
        .sign(&peer_keys(4)[1], &Default::default())
        .unwrap()
        .into_packed()
    };
    let send = |lean: &mut Network, event: PackedEvent<String>| {
        let step = lean
            .engine_mut(0)
            .handle_message(
                ids[2],
                WireMessage::Events {
                    events: vec![event],
                },
            )
            .unwrap();
        assert!(step.faults.is_empty(), "{:?}", step.faults);
        assert_eq!(step.fetch, vec![parent]);
        assert_eq!(lean.engine(0).held_events(), held_before + 1);
    };

    // A store that lacks the parent too: dropped with ParentUnavailable.
    send(&mut lean, fork(0));
    let step = lean.engine_mut(0).readmit(vec![(parent, None)]).unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::ParentUnavailable]);
    assert_eq!(lean.engine(0).held_events(), held_before);

    // The store's copy: re-admitted, and the fork inserted as an unpruned engine inserts
    // it (a fork fault, the event and its stub persisted).
    send(&mut lean, fork(3));
    let found = lean.nodes()[0].store().find_now(&parent).unwrap();
    assert!(
        found.as_ref().is_some_and(|f| f.stub.is_some()),
        "{found:?}"
    );
    let step = lean.engine_mut(0).readmit(vec![(parent, found)]).unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::Fork { index: floor }]);
    assert_eq!(step.inserted().count(), 1);
    assert!(step.persist.iter().any(|op| matches!(op, StoreOp::Stub(_))));
    assert_eq!(lean.engine(0).held_events(), held_before);
    assert!(lean.engine(0).graph().contains(&parent));
    assert!(!lean.engine(0).graph().holds(EventIndex::from(0)));

    // A record that is not the one asked for is a damaged store, not a silent skip.
    let other = old[0].hash().unwrap();
    let wrong = lean.nodes()[0].store().find_now(&other).unwrap();
    let error = lean
        .engine_mut(0)
        .readmit(vec![(old[1].hash().unwrap(), wrong)])
        .unwrap_err();
    assert!(matches!(error, Error::Readmit { .. }), "{error}");
}
