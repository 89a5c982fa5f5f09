//! Voting and local misuse (spec §4.7, §14.3): what a peer may vote, when its votes count
//! as decided, and that misuse is an `Err` that changes nothing; vote runs (spec §2.2
//! check 9).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_coin::{CommonCoin, ParityCoin};
use parsec_core::{Config, Error, FaultKind, Parsec, PeerFlags, PeerState};
use parsec_graph::{
    Cause, ConsensusMode, EventHash, Malice, Observation, PackedEvent, PeerId, PeerSet, SecretKey,
    Vote, WireMessage,
};

const FILE: &str = "voting";

#[test]
fn sole_voter_decides_each_vote_immediately() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let me = peer_key(0);
        let config = genesis_config(std::slice::from_ref(&me), mode);
        let (mut engine, step) =
            Parsec::<String, _>::from_genesis(me.clone(), config, ParityCoin).unwrap();
        assert!(step.faults.is_empty());
        let mut blocks = step.blocks;
        assert!(engine.gossip_recipients().is_empty());
        let votes = ["one", "two", "three", "four"];
        for (k, vote) in votes.iter().enumerate() {
            let step = engine.vote_for(opaque(vote)).unwrap();
            assert!(step.send.is_empty(), "{mode:?}: a sole voter sends nothing");
            assert!(step.faults.is_empty());
            assert!(
                step.blocks.iter().any(|b| b.payload == opaque(vote)),
                "{mode:?}: vote {vote:?} not decided by its own vote_for: {:?}",
                step.blocks
            );
            blocks.extend(step.blocks);
            let mut expected = vec![Observation::Genesis {
                group: group(std::slice::from_ref(&me)),
                related_info: Vec::new(),
                coin: ParityCoin.agreement(),
            }];
            expected.extend(votes[..=k].iter().map(|v| opaque(v)));
            let payloads: Vec<_> = blocks.iter().map(|b| b.payload.clone()).collect();
            assert_eq!(payloads, expected, "{mode:?}");
            assert_eq!(engine.our_unpolled_observations().count(), 0, "{mode:?}");
            assert!(engine.have_voted_for(&opaque(vote)));
            assert!(
                matches!(engine.vote_for(opaque(vote)), Err(Error::DuplicateVote)),
                "{mode:?}: a decided vote of ours is still ours"
            );
        }
        for (k, block) in blocks.iter().enumerate() {
            assert_eq!(block.sequence, k as u64);
            assert!(block.verify(&[me.peer_id()]));
            assert_eq!(block.proofs.len(), 1);
        }
        assert_eq!(engine.voters(), [me.peer_id()]);
    }
}

#[test]
fn from_genesis_outside_the_group_is_an_error() {
    let keys = peer_keys(3);
    let config = genesis_config(&keys[..2], ConsensusMode::Supermajority);
    let result = Parsec::<String, _>::from_genesis(keys[2].clone(), config, ParityCoin);
    assert!(matches!(result, Err(Error::NotInGenesisGroup)));
}

#[test]
fn from_genesis_with_an_empty_group_is_an_error() {
    let config = Config::new(PeerSet::default(), ConsensusMode::Supermajority);
    let result = Parsec::<String, _>::from_genesis(peer_key(0), config, ParityCoin);
    assert!(matches!(result, Err(Error::Config(_))));
}

#[test]
fn duplicate_vote_is_an_error() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let keys = peer_keys(4);
        let config = genesis_config(&keys, mode);
        let mut engine = start(&keys[..1], &config).remove(0);
        let before = engine.graph().len();
        assert!(engine.vote_for(opaque("x")).unwrap().blocks.is_empty());
        assert_eq!(engine.graph().len(), before + 1);
        assert!(matches!(
            engine.vote_for(opaque("x")),
            Err(Error::DuplicateVote)
        ));
        assert_eq!(
            engine.graph().len(),
            before + 1,
            "a refused vote creates nothing"
        );
        // The Genesis vote was cast by `from_genesis`.
        let genesis = Observation::Genesis {
            group: group(&keys),
            related_info: Vec::new(),
            coin: engine.coin().agreement(),
        };
        assert!(engine.have_voted_for(&genesis));
        assert!(matches!(
            engine.vote_for(genesis),
            Err(Error::DuplicateVote)
        ));
        // A different payload is fine.
        assert!(engine.vote_for(opaque("y")).unwrap().blocks.is_empty());
    }
}

#[test]
fn voting_an_accusation_or_dkg_result_is_forbidden() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engine = start(&keys[..1], &config).remove(0);
    let before = engine.graph().len();
    let accusation = Observation::Accusation {
        offender: keys[1].peer_id(),
        malice: Malice::Fork(EventHash::from_bytes([7; 32])),
    };
    assert!(matches!(
        engine.vote_for(accusation.clone()),
        Err(Error::ForbiddenObservation)
    ));
    assert!(!engine.have_voted_for(&accusation));
    let result = Observation::DkgResult {
        participants: group(&keys),
        public_key_set: vec![1, 2, 3],
    };
    assert!(matches!(
        engine.vote_for(result),
        Err(Error::ForbiddenObservation)
    ));
    assert_eq!(engine.graph().len(), before);
    // Only the Genesis vote is pending.
    let unpolled: Vec<_> = engine.our_unpolled_observations().collect();
    assert!(
        matches!(unpolled.as_slice(), [Observation::Genesis { .. }]),
        "{unpolled:?}"
    );
}

#[test]
fn oversized_observation_is_an_error() {
    let keys = peer_keys(4);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.event_limits.max_observation_bytes = 256;
    let mut engine = start(&keys[..1], &config).remove(0);
    let before = engine.graph().len();
    let big = Observation::OpaquePayload("z".repeat(300));
    assert!(matches!(
        engine.vote_for(big.clone()),
        Err(Error::ObservationTooLarge { limit: 256, size }) if size > 256
    ));
    assert!(!engine.have_voted_for(&big));
    assert_eq!(engine.graph().len(), before);
    // Just under the limit is fine.
    let step = engine
        .vote_for(Observation::OpaquePayload("z".repeat(200)))
        .unwrap();
    assert!(step.blocks.is_empty());
}

#[test]
fn oversized_observation_with_default_limits_is_an_error() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engine = start(&keys[..1], &config).remove(0);
    let limit = config.event_limits.max_observation_bytes;
    let big = Observation::OpaquePayload("z".repeat(limit + 1));
    assert!(matches!(
        engine.vote_for(big),
        Err(Error::ObservationTooLarge { .. })
    ));
}

#[test]
fn create_gossip_to_an_unknown_peer_or_ourselves_is_an_error() {
    let (mut alice, _) = pair();
    let before = alice.graph().len();
    let stranger = peer_key(200).peer_id();
    assert!(matches!(
        alice.create_gossip(stranger),
        Err(Error::UnknownPeer(p)) if p == stranger
    ));
    let us = *alice.our_id();
    assert!(alice.create_gossip(us).is_err());
    assert_eq!(
        alice.graph().len(),
        before,
        "a refused gossip creates nothing"
    );
}

#[test]
fn gossip_recipients_are_the_other_genesis_members() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let engine = start(&keys[..1], &config).remove(0);
    let mut others: Vec<PeerId> = keys[1..].iter().map(SecretKey::peer_id).collect();
    others.sort();
    assert_eq!(engine.gossip_recipients(), others);
    for k in &keys {
        assert_eq!(
            engine.peer_state(&k.peer_id()),
            Some(PeerState::Present(
                PeerFlags::VOTE | PeerFlags::SEND | PeerFlags::RECV
            ))
        );
    }
    assert_eq!(engine.peer_state(&peer_key(200).peer_id()), None);
}

#[test]
fn have_voted_for_and_unpolled_observations_before_and_after_the_decision() {
    let seed = seed_from_env(17);
    let _rerun = rerun(
        FILE,
        "have_voted_for_and_unpolled_observations_before_and_after_the_decision",
        seed,
    );
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let keys = peer_keys(4);
        let config = genesis_config(&keys, mode);
        let mut net = network(&keys, &config, seed);
        let x = opaque("x");
        assert!(!net.engine(0).have_voted_for(&x));
        // Before the Genesis decision, the Genesis vote is unpolled.
        let unpolled: Vec<_> = net.engine(0).our_unpolled_observations().cloned().collect();
        assert!(
            matches!(unpolled.as_slice(), [Observation::Genesis { .. }]),
            "{unpolled:?}"
        );
        net.cast(0, x.clone());
        assert!(net.engine(0).have_voted_for(&x));
        assert!(!net.engine(1).have_voted_for(&x), "{mode:?}");
        let unpolled: Vec<_> = net.engine(0).our_unpolled_observations().cloned().collect();
        assert_eq!(unpolled.last(), Some(&x));
        for i in 1..4 {
            net.cast(i, x.clone());
        }
        net.reach(400, "every peer decides x", |net| {
            (0..4).all(|i| net.has_decided(i, &x))
        });
        for i in 0..4 {
            assert!(net.engine(i).have_voted_for(&x), "{mode:?}: peer {i}");
            // In Single mode each peer's own vote is decided separately: run until all are.
        }
        net.reach(400, "every peer's votes are polled", |net| {
            (0..4).all(|i| net.engine(i).our_unpolled_observations().next().is_none())
        });
        for i in 0..4 {
            assert!(net.engine(i).have_voted_for(&x));
            assert!(matches!(
                net.engine_mut(i).vote_for(x.clone()),
                Err(Error::DuplicateVote)
            ));
        }
        net.assert_quiet();
    }
}

/// A peer may cast at most `max_vote_run` votes in a row; a sync resets the run. Our
/// Genesis vote counts: it directly follows the Initial event.
#[test]
fn our_vote_run_is_bounded_and_reset_by_gossip() {
    let keys = peer_keys(2);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.max_vote_run = 3;
    let mut engines = start(&keys, &config);
    let _ = engines[0].vote_for(opaque("a")).unwrap();
    let _ = engines[0].vote_for(opaque("b")).unwrap();
    assert!(matches!(
        engines[0].vote_for(opaque("c")),
        Err(Error::VoteRunTooLong)
    ));
    assert!(!engines[0].have_voted_for(&opaque("c")));
    let bob = *engines[1].our_id();
    let _ = engines[0].create_gossip(bob).unwrap();
    let _ = engines[0].vote_for(opaque("c")).unwrap();
}

/// A received vote that extends a run past the limit is rejected with a fault, and the
/// handling of the message stops there.
#[test]
fn a_received_vote_run_past_the_limit_is_a_fault() {
    let keys = peer_keys(2);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.max_vote_run = 2;
    let mut engines = start(&keys, &config);
    // Bob's chain: Initial, Genesis vote (run 1), "x" (run 2) — then a forged third vote.
    let _ = engines[1].vote_for(opaque("x")).unwrap();
    let bob = *engines[1].our_id();
    let tip = *engines[1].graph().iter().last().unwrap().hash();
    let third = packed_event(
        &keys[1],
        3,
        Cause::Observation {
            self_parent: tip,
            vote: Box::new(Vote::new(opaque("y"), &keys[1]).unwrap()),
        },
    );
    assert_eq!(third.content.creator, bob);
    let events: Vec<PackedEvent<String>> = engines[1]
        .graph()
        .iter()
        .map(|n| n.event().packed().clone())
        .chain(std::iter::once(third))
        .collect();
    let before = engines[0].graph().len();
    let step = engines[0]
        .handle_message(bob, WireMessage::Events { events })
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::VoteRunTooLong]);
    // Bob's Initial, Genesis and "x" were accepted; the forged vote was not.
    assert_eq!(engines[0].graph().len(), before + 3);
}
