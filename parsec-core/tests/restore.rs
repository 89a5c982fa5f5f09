//! Restart from the store (spec §13): an engine rebuilt with `Parsec::restore` from what
//! it persisted continues its own chain (no second event at an index it used, so no peer
//! sees it fork), decides the same blocks and keeps deciding with the others; a log that
//! is not ours or fails validation is an error, never a fresh start.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{
    Coin, Error, Loaded, MemStore, Parsec, RestoreError, Store, StoreError, StoreHeader, StoreOp,
};
use parsec_graph::{ConsensusMode, Observation, PackedEvent, PeerId, SecretKey};
use parsec_sim::network::Network;

const FILE: &str = "restore";

/// Every payload of `payloads` decided by every peer.
fn all_decided(net: &Network, payloads: &[Observation<String>]) -> bool {
    (0..net.len()).all(|i| {
        payloads
            .iter()
            .all(|p| net.has_decided_all(i, p, net.len()))
    })
}

/// No engine saw peer `peer` fork.
fn assert_no_self_fork(net: &Network, peer: usize) {
    let id = net.peer_id(peer);
    for i in 0..net.len() {
        let graph = net.engine(i).graph();
        let forked = graph.peer_index(&id).is_some_and(|p| graph.has_forked(p));
        assert!(!forked, "peer {i} saw peer {peer} fork");
    }
}

/// The index of the last event `peer` created, as its own engine holds it.
fn own_tip(net: &Network, peer: usize) -> u64 {
    let graph = net.engine(peer).graph();
    let us = graph.peer_index(&net.peer_id(peer)).unwrap();
    graph.node(graph.tip(us).unwrap()).creator_index()
}

#[test]
fn a_restarted_member_continues_its_chain_and_decides_with_the_others() {
    for coin in ["concrete", "threshold"] {
        for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
            for seed in seeds_from_env(0, 3) {
                let test = "a_restarted_member_continues_its_chain_and_decides_with_the_others";
                let _rerun = rerun(FILE, test, seed);
                let keys = peer_keys(4);
                let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
                let config = genesis_config(&keys, mode);
                let mut net = network_with(&keys, &config, seed, |b| match coin {
                    "threshold" => b.coins(threshold_coins(&keys, &ids, seed)).loss(0.1),
                    _ => b.loss(0.1),
                });
                let first = [opaque("a"), opaque("b")];
                for i in 0..4 {
                    for p in &first {
                        net.cast(i, p.clone());
                    }
                }
                net.reach(2000, "the first payloads", |net| all_decided(net, &first));
                let crashed = (seed % 4) as usize;
                let tip = own_tip(&net, crashed);
                let blocks = net.blocks(crashed).to_vec();
                net.crash(crashed).unwrap();
                // The others go on without it.
                let second = [opaque("c"), opaque("d")];
                for i in (0..4).filter(|&i| i != crashed) {
                    for p in &second {
                        net.cast(i, p.clone());
                    }
                }
                for _ in 0..40 {
                    net.step().unwrap();
                }
                let replayed = net.restart(crashed).unwrap();
                assert_eq!(
                    replayed,
                    net.node(crashed)
                        .store()
                        .load_now()
                        .unwrap()
                        .unwrap()
                        .events
                );
                assert_eq!(
                    own_tip(&net, crashed),
                    tip,
                    "the restored tip is the last logged"
                );
                assert_eq!(
                    net.blocks(crashed),
                    &blocks[..],
                    "no block lost or repeated"
                );
                for p in &second {
                    net.cast(crashed, p.clone());
                }
                net.reach(4000, "every payload after the restart", |net| {
                    all_decided(net, &first) && all_decided(net, &second)
                });
                for i in 0..4 {
                    assert_eq!(
                        net.sequence(i),
                        net.sequence(0),
                        "{coin} {mode:?}: peer {i}"
                    );
                }
                assert!(own_tip(&net, crashed) > tip);
                assert_no_self_fork(&net, crashed);
                net.assert_quiet();
            }
        }
    }
}

/// The store of a member that ran a few syncs with three others, and its key and config.
fn a_used_store() -> (SecretKey, parsec_core::Config, MemStore<String>) {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut net = network(&keys, &config, 7);
    for i in 0..4 {
        net.cast(i, opaque("x"));
    }
    net.reach(500, "x decided", |net| net.has_decided(0, &opaque("x")));
    (keys[0].clone(), config, net.node(0).store().clone())
}

/// Restores from `events` with `header`, reading everything at once, as from a store
/// that holds exactly these events and no block.
fn restore_from(
    key: &SecretKey,
    config: &parsec_core::Config,
    header: &StoreHeader,
    events: Vec<PackedEvent<String>>,
) -> Result<parsec_core::Restored<String, Coin>, Error> {
    let loaded = Loaded {
        header: *header,
        events: events.len() as u64,
        blocks: 0,
    };
    restore_loaded(key, config, &loaded, events)
}

fn restore_loaded(
    key: &SecretKey,
    config: &parsec_core::Config,
    loaded: &Loaded,
    events: Vec<PackedEvent<String>>,
) -> Result<parsec_core::Restored<String, Coin>, Error> {
    let mut restore = Parsec::<String, Coin>::restore(key.clone(), config.clone(), loaded)?;
    restore.replay(events)?;
    restore.finish()
}

fn restore_error(result: Result<parsec_core::Restored<String, Coin>, Error>) -> RestoreError {
    match result {
        Err(Error::Restore(error)) => error,
        Ok(_) => panic!("a bad log was restored"),
        Err(other) => panic!("expected a restore error, got {other:?}"),
    }
}

#[test]
fn an_intact_log_restores_the_same_graph_and_blocks() {
    let (key, config, store) = a_used_store();
    let loaded = store.load_now().unwrap().unwrap();
    let events = store.events_now(0, usize::MAX).unwrap();
    let restored = restore_loaded(&key, &config, &loaded, events).unwrap();
    assert_eq!(restored.engine.graph().len() as u64, loaded.events);
    assert_eq!(restored.blocks, store.blocks_now(0, usize::MAX).unwrap());
    assert!(!restored.blocks.is_empty());
    assert!(restored.persist.is_empty(), "the store lacks no block");
    for (i, block) in restored.blocks.iter().enumerate() {
        assert_eq!(block.sequence, i as u64);
    }
}

#[test]
fn blocks_the_store_lacks_come_back_to_be_persisted() {
    // A store that kept the events of a step but not its blocks (a torn write): the
    // restore decides them again and hands them back as ops, from the first missing one.
    let (key, config, store) = a_used_store();
    let loaded = store.load_now().unwrap().unwrap();
    let events = store.events_now(0, usize::MAX).unwrap();
    let blocks = store.blocks_now(0, usize::MAX).unwrap();
    assert!(blocks.len() >= 2);
    let kept = Loaded {
        blocks: 1,
        ..loaded
    };
    let restored = restore_loaded(&key, &config, &kept, events.clone()).unwrap();
    let expected: Vec<StoreOp<String>> = blocks[1..].iter().cloned().map(StoreOp::Block).collect();
    assert_eq!(restored.persist, expected);
    // The ops fit the store they are for: a store truncated to one block accepts them.
    let torn = MemStore::<String>::new();
    let mut first = vec![StoreOp::Init(loaded.header)];
    first.extend(events.iter().enumerate().map(|(i, e)| StoreOp::Event {
        position: i as u64,
        event: e.clone(),
    }));
    first.push(StoreOp::Block(blocks[0].clone()));
    torn.apply_now(first).unwrap();
    torn.apply_now(restored.persist).unwrap();
    assert_eq!(torn.blocks_now(0, usize::MAX).unwrap(), blocks);

    // More blocks stored than the events decide, or fewer events replayed than stored.
    let ahead = Loaded {
        blocks: blocks.len() as u64 + 1,
        ..loaded
    };
    assert!(matches!(
        restore_error(restore_loaded(&key, &config, &ahead, events.clone())),
        RestoreError::BlocksAhead { .. }
    ));
    let replayed = events.len() - 1;
    assert!(matches!(
        restore_error(restore_loaded(
            &key,
            &config,
            &loaded,
            events[..replayed].to_vec()
        )),
        RestoreError::Incomplete { .. }
    ));
}

#[test]
fn a_log_that_is_not_ours_is_refused() {
    let (key, config, store) = a_used_store();
    let header = store.load_now().unwrap().unwrap().header;
    let events = store.events_now(0, usize::MAX).unwrap();
    // Another member's key.
    let other = peer_key(1);
    assert!(matches!(
        restore_error(restore_from(&other, &config, &header, events.clone())),
        RestoreError::WrongOwner { .. }
    ));
    // Another genesis configuration: another consensus mode, or another event limit.
    let mut single = config.clone();
    single.consensus_mode = ConsensusMode::Single;
    assert!(matches!(
        restore_error(restore_from(&key, &single, &header, events.clone())),
        RestoreError::WrongGenesis
    ));
    let mut limits = config.clone();
    limits.event_limits.max_observation_bytes -= 1;
    assert!(matches!(
        restore_error(restore_from(&key, &limits, &header, events)),
        RestoreError::WrongGenesis
    ));
}

#[test]
fn a_damaged_log_is_an_error_naming_the_position() {
    let (key, config, store) = a_used_store();
    let header = store.load_now().unwrap().unwrap().header;
    let events = store.events_now(0, usize::MAX).unwrap();
    assert!(events.len() > 6);

    // A signature changed.
    let mut tampered = events.clone();
    tamper_signature(&mut tampered[5]);
    assert!(matches!(
        restore_error(restore_from(&key, &config, &header, tampered)),
        RestoreError::Invalid { position: 5, .. }
    ));

    // An event missing: a later one lacks its parent, or one of ours skips an index, or
    // the positions shift.
    let mut missing = events.clone();
    missing.remove(3);
    assert!(matches!(
        restore_error(restore_from(&key, &config, &header, missing)),
        RestoreError::Misplaced { .. } | RestoreError::Diverged { .. }
    ));

    // An event logged twice.
    let mut twice = events.clone();
    twice.insert(4, events[3].clone());
    assert!(matches!(
        restore_error(restore_from(&key, &config, &header, twice)),
        RestoreError::Misplaced { position: 4 } | RestoreError::Diverged { position: 4, .. }
    ));

    // Nothing logged, or only part of the first step.
    assert!(matches!(
        restore_error(restore_from(&key, &config, &header, Vec::new())),
        RestoreError::MissingOwnEvents
    ));
    assert!(matches!(
        restore_error(restore_from(&key, &config, &header, events[..1].to_vec())),
        RestoreError::MissingOwnEvents
    ));
}

#[test]
fn one_of_our_events_the_engine_would_not_have_created_is_a_divergence() {
    // A log whose own event at index 2 is one we never made (another cause, validly
    // signed with our key): the replay must not accept it as our chain.
    let (key, config, store) = a_used_store();
    let header = store.load_now().unwrap().unwrap().header;
    let mut events = store.events_now(0, usize::MAX).unwrap();
    let us = key.peer_id();
    let at = events
        .iter()
        .position(|e| e.content.creator == us && e.content.index == 2)
        .unwrap();
    let original = &events[at];
    let forged = packed_event(
        &key,
        2,
        parsec_graph::Cause::Observation {
            self_parent: *original.content.cause.self_parent().unwrap(),
            vote: Box::new(parsec_graph::Vote::new(opaque("never voted"), &key).unwrap()),
        },
    );
    events[at] = forged;
    assert!(matches!(
        restore_error(restore_from(&key, &config, &header, events)),
        RestoreError::Diverged { .. }
            | RestoreError::Invalid { .. }
            | RestoreError::Misplaced { .. }
    ));
}

#[test]
fn the_memory_store_refuses_ops_that_do_not_continue_it() {
    let (_, _, store) = a_used_store();
    let loaded = store.load_now().unwrap().unwrap();
    let event = store.events_now(0, 1).unwrap().remove(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let boxed: Box<dyn Store<String>> = Box::new(store.clone());
    // A gap, a repeat, and a block out of sequence: refused whole, nothing applied.
    for position in [loaded.events + 2, loaded.events] {
        let ops = vec![
            StoreOp::Event {
                position: loaded.events,
                event: event.clone(),
            },
            StoreOp::Event {
                position,
                event: event.clone(),
            },
        ];
        let error = runtime.block_on(boxed.apply(ops)).unwrap_err();
        assert!(matches!(error, StoreError::OutOfOrder(_)), "{error}");
        assert_eq!(runtime.block_on(boxed.load()).unwrap(), Some(loaded));
    }
    let mut block = store.blocks_now(0, 1).unwrap().remove(0);
    block.sequence = loaded.blocks + 3;
    assert!(matches!(
        store.apply_now(vec![StoreOp::Block(block)]),
        Err(StoreError::OutOfOrder(_))
    ));
    // Another owner's header.
    let mut header = loaded.header;
    header.owner = peer_key(2).peer_id();
    assert!(matches!(
        store.apply_now(vec![StoreOp::Init(header)]),
        Err(StoreError::WrongHeader { .. })
    ));
    // Ops before any header.
    let fresh = MemStore::<String>::new();
    assert!(matches!(
        fresh.apply_now(vec![StoreOp::Event { position: 0, event }]),
        Err(StoreError::OutOfOrder(_))
    ));
    assert_eq!(fresh.load_now().unwrap(), None);
    // The same header again is nothing new.
    store.apply_now(vec![StoreOp::Init(loaded.header)]).unwrap();
    assert_eq!(store.load_now().unwrap(), Some(loaded));
    // Range reads past the end are empty.
    assert!(store.events_now(loaded.events, 10).unwrap().is_empty());
    assert!(store.events_now(u64::MAX, 10).unwrap().is_empty());
    assert_eq!(store.events_now(1, 2).unwrap().len(), 2);
}
