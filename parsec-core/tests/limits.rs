//! What one member can cost the others (issue: Byzantine safety): a silent member is not
//! sent the whole graph on every sync, held events are bounded in bytes per sender, and a
//! forked slot is not sent again to a peer that holds all of it.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

use parsec_core::{FaultKind, Step};
use parsec_graph::{
    Cause, ConsensusMode, EventContent, EventHash, EventLimits, Observation, PackedEvent,
    SecretKey, Vote, WireMessage,
};

/// The events of a step's messages.
fn events_sent(step: &Step<String>) -> usize {
    step.send
        .iter()
        .map(|out| match &out.message {
            WireMessage::Request { events }
            | WireMessage::Response { events }
            | WireMessage::Events { events } => events.len(),
        })
        .sum()
}

/// Delivers `step`'s messages to `to` and its answers back, once.
fn deliver(from: &mut Engine, to: &mut Engine, step: Step<String>) {
    let sender = *from.our_id();
    for out in step.send {
        let answer = to.handle_message(sender, out.message).unwrap();
        let back = *to.our_id();
        for out in answer.send {
            let _ = from.handle_message(back, out.message).unwrap();
        }
    }
}

/// A member that never answers: after two syncs that found it silent, it gets only what
/// is new since the last sync, and everything again at its 8th, 32nd, 128th, ... silent
/// sync (growing intervals, so that the resends cost a bounded amount per sync on average).
#[test]
fn a_silent_member_gets_what_is_new_not_the_whole_graph() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys, &config);
    let silent = *engines[3].our_id();
    // Alice builds up a graph with Bob and Carol.
    for round in 0..20 {
        let (a, rest) = engines.split_at_mut(1);
        let peer = &mut rest[round % 2];
        let step = a[0].create_gossip(*peer.our_id()).unwrap();
        deliver(&mut a[0], peer, step);
    }
    let graph = engines[0].graph().len();
    let sizes: Vec<usize> = (0..130)
        .map(|_| events_sent(&engines[0].create_gossip(silent).unwrap()))
        .collect();
    for (i, &size) in sizes.iter().enumerate() {
        if matches!(i, 0 | 1 | 8 | 32 | 128) {
            assert!(size > graph, "sync {i} sends everything ({sizes:?})");
        } else {
            assert_eq!(size, 1, "sync {i} carries only our new event ({sizes:?})");
        }
    }
    // Once it answers, syncs are full again (it may have missed something).
    let step = engines[0].create_gossip(silent).unwrap();
    let (a, rest) = engines.split_at_mut(1);
    deliver(&mut a[0], &mut rest[2], step);
    let after = events_sent(&engines[0].create_gossip(silent).unwrap());
    assert!(after < graph, "it now knows most of the graph");
    assert!(after >= 1);
}

fn forge(key: &SecretKey, index: u64, cause: Cause<String>) -> PackedEvent<String> {
    EventContent {
        creator: key.peer_id(),
        index,
        cause,
        coin_shares: vec![],
    }
    .sign(key, &EventLimits::default())
    .unwrap()
    .into_packed()
}

/// Large votes held behind a parent nobody has: the sender holds at most its byte share;
/// the oldest are dropped with a fault, and nobody else's room is taken.
#[test]
fn held_events_are_bounded_in_bytes_per_sender() {
    let keys = peer_keys(4);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.event_limits.max_observation_bytes = 64 << 10;
    config.max_future_bytes_per_peer = 256 << 10;
    config.max_future_bytes_total = 1 << 20;
    let mut engines = start(&keys, &config);
    let bob = *engines[1].our_id();
    let mut events = Vec::new();
    for i in 0..20u8 {
        let observation = Observation::OpaquePayload(format!("{i}-{}", "x".repeat(60 << 10)));
        let vote = Vote::new(observation, &keys[1]).unwrap();
        events.push(forge(
            &keys[1],
            1000 + u64::from(i),
            Cause::Observation {
                self_parent: EventHash::from_bytes([i; 32]),
                vote: Box::new(vote),
            },
        ));
    }
    let mut overflows = 0;
    for event in events {
        let step = engines[0]
            .handle_message(
                bob,
                WireMessage::Events {
                    events: vec![event],
                },
            )
            .unwrap();
        overflows += step
            .faults
            .iter()
            .filter(|f| f.kind == FaultKind::BufferOverflow)
            .count();
        assert!(engines[0].held_bytes() <= config.max_future_bytes_per_peer);
    }
    let held = engines[0].held_events();
    assert_eq!(held, 4, "four votes of ~60 KiB fit in 256 KiB");
    assert_eq!(overflows, 20 - held);
}

/// The byte limits must hold the largest vote, or a valid vote could never wait for its
/// parent.
#[test]
fn byte_limits_below_the_largest_vote_are_refused() {
    let keys = peer_keys(1);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.max_future_bytes_per_peer = 1024;
    assert!(config.validate().is_err());
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.max_future_bytes_total = config.max_future_bytes_per_peer - 1;
    assert!(config.validate().is_err());
}

/// Every event of `engine`'s graph, as sent.
fn events_of(engine: &Engine) -> Vec<PackedEvent<String>> {
    engine
        .graph()
        .iter()
        .map(|n| n.event().packed().clone())
        .collect()
}

/// Carol's (peer 2's) chain, then two events of hers at index 2 on it: a fork.
fn carol_forks(
    keys: &[SecretKey],
    engines: &[Engine],
) -> (
    Vec<PackedEvent<String>>,
    PackedEvent<String>,
    PackedEvent<String>,
) {
    let chain = events_of(&engines[2]);
    let c1 = chain.last().unwrap().hash().unwrap();
    let fork = |recipient| {
        forge(
            &keys[2],
            2,
            Cause::Requesting {
                self_parent: c1,
                recipient,
            },
        )
    };
    let (c2a, c2b) = (fork(*engines[0].our_id()), fork(*engines[1].our_id()));
    (chain, c2a, c2b)
}

/// Whether a request of `step` (or one of its leading chunks) carries the event `hash`.
fn sends(step: &Step<String>, hash: EventHash) -> bool {
    step.send.iter().any(|out| match &out.message {
        WireMessage::Request { events } | WireMessage::Events { events } => {
            events.iter().any(|e| e.hash().unwrap() == hash)
        }
        WireMessage::Response { .. } => false,
    })
}

/// Carol forks and shows both members to Alice and Bob as bare events, which nothing of
/// Bob's builds on, so Bob's tip never shows them: Alice sends them to Bob once, and her
/// next sync to him carries neither.
#[test]
fn a_forked_slot_is_not_sent_again_to_a_peer_that_holds_it() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys, &config);
    let (carol, bob) = (*engines[2].our_id(), *engines[1].our_id());
    let (chain, c2a, c2b) = carol_forks(&keys, &engines);
    for engine in &mut engines[..2] {
        let mut events = chain.clone();
        events.extend([c2a.clone(), c2b.clone()]);
        let step = engine
            .handle_message(carol, WireMessage::Events { events })
            .unwrap();
        assert!(
            step.faults
                .iter()
                .any(|f| matches!(f.kind, FaultKind::Fork { .. }))
        );
    }
    let (a, b) = (c2a.hash().unwrap(), c2b.hash().unwrap());
    let step = engines[0].create_gossip(bob).unwrap();
    assert!(
        sends(&step, a) && sends(&step, b),
        "the first sync carries both"
    );
    let (alice, rest) = engines.split_at_mut(1);
    deliver(&mut alice[0], &mut rest[0], step);
    let step = engines[0].create_gossip(bob).unwrap();
    assert!(
        !sends(&step, a) && !sends(&step, b),
        "the forked slot was sent again"
    );
}

/// A forked slot's member already sent goes again when an event of the message has it as
/// a parent: the recipient may have lost it and could not insert the child without it.
#[test]
fn a_fork_member_goes_again_with_a_child_that_needs_it() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys, &config);
    let (bob, carol, dave) = (
        *engines[1].our_id(),
        *engines[2].our_id(),
        *engines[3].our_id(),
    );
    let (mut events, c2a, c2b) = carol_forks(&keys, &engines);
    events.extend([c2a.clone(), c2b.clone()]);
    let _ = engines[0]
        .handle_message(carol, WireMessage::Events { events })
        .unwrap();
    let (a, b) = (c2a.hash().unwrap(), c2b.hash().unwrap());
    // The first sync to Bob carries both members; it is lost.
    let step = engines[0].create_gossip(bob).unwrap();
    assert!(sends(&step, a) && sends(&step, b));
    // Dave builds on the second member, and Alice learns of it.
    let mut events = events_of(&engines[3]);
    let d_tip = events.last().unwrap().clone();
    let child = forge(
        &keys[3],
        d_tip.content.index + 1,
        Cause::Request {
            self_parent: d_tip.hash().unwrap(),
            other_parent: b,
        },
    );
    events.push(child.clone());
    let _ = engines[0]
        .handle_message(dave, WireMessage::Events { events })
        .unwrap();
    assert!(engines[0].graph().contains(&child.hash().unwrap()));
    // The next sync carries Dave's event with the member it needs, not the other one.
    let step = engines[0].create_gossip(bob).unwrap();
    assert!(sends(&step, child.hash().unwrap()));
    assert!(sends(&step, b), "the parent of an event sent goes with it");
    assert!(!sends(&step, a), "a member nothing needs is not sent again");
}
