//! Decided membership changes (spec §5.4): an `Add` makes a voter, a `Remove` shrinks the
//! voters, and the remaining peers go on deciding with proofs from the new voters.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{Error, PeerFlags, PeerState};
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey};

const FILE: &str = "membership";

/// The seeds and modes every membership test runs with (membership observations are
/// `Supermajority` keys in both modes).
/// `PARSEC_SEED` picks one seed, `PARSEC_SEEDS` how many (default 6).
fn membership_cases() -> impl Iterator<Item = (u64, ConsensusMode)> {
    seeds_from_env(0, 6).into_iter().flat_map(|seed| {
        [ConsensusMode::Supermajority, ConsensusMode::Single]
            .into_iter()
            .map(move |mode| (seed, mode))
    })
}

#[test]
fn decided_add_makes_the_new_peer_a_voter() {
    for (seed, mode) in membership_cases() {
        println!("seed {seed}, {mode:?}");
        let _rerun = rerun(FILE, "decided_add_makes_the_new_peer_a_voter", seed);
        add_case(seed, mode);
    }
}

fn add_case(seed: u64, mode: ConsensusMode) {
    let all = peer_keys(5);
    let genesis = &all[..4];
    let fifth = all[4].peer_id();
    let config = genesis_config(genesis, mode);
    let mut net = network(genesis, &config, seed);
    let add = Observation::Add {
        peer_id: fifth,
        related_info: vec![],
    };
    for i in 0..4 {
        assert_eq!(net.engine(i).voters().len(), 4);
        assert_eq!(net.engine(i).peer_state(&fifth), None);
        net.cast(i, add.clone());
    }
    net.reach(600, "every peer decides the Add", |net| {
        (0..4).all(|i| net.has_decided(i, &add))
    });
    let mut expected_voters: Vec<PeerId> = all.iter().map(SecretKey::peer_id).collect();
    expected_voters.sort();
    let genesis_voters: Vec<PeerId> = genesis.iter().map(SecretKey::peer_id).collect();
    for i in 0..4 {
        assert_eq!(net.engine(i).voters(), expected_voters, "peer {i}");
        let state = net.engine(i).peer_state(&fifth).unwrap();
        assert!(
            state.has(PeerFlags::VOTE | PeerFlags::SEND),
            "peer {i}: {state:?}"
        );
        assert!(net.engine(i).gossip_recipients().contains(&fifth));
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        assert_eq!(net.payloads(i).len(), 2, "Genesis, Add");
        net.check_blocks_of(i, &add, &genesis_voters);
    }
    // The four still decide with five voters (4 of 5 is more than 2/3).
    let after = opaque("after the add");
    for i in 0..4 {
        net.cast(i, after.clone());
    }
    net.reach(600, "every peer decides the payload after the Add", |net| {
        (0..4).all(|i| net.has_decided_all(i, &after, 4))
    });
    for i in 0..4 {
        assert_eq!(net.blocks(i).last().unwrap().payload, after);
        net.check_blocks_of(i, &after, &expected_voters);
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
    }
    net.assert_quiet();
}

#[test]
fn decided_remove_shrinks_the_voters() {
    for (seed, mode) in membership_cases() {
        let _rerun = rerun(FILE, "decided_remove_shrinks_the_voters", seed);
        println!("seed {seed}, {mode:?}, the removed peer votes too");
        remove_case(seed, mode, 4);
        println!("seed {seed}, {mode:?}, the removed peer does not vote");
        remove_case(seed, mode, 3);
    }
}

fn remove_case(seed: u64, mode: ConsensusMode, voting: usize) {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, mode);
    let mut net = network(&keys, &config, seed);
    let dave = keys[3].peer_id();
    let remove = Observation::Remove {
        peer_id: dave,
        related_info: vec![],
    };
    for i in 0..voting {
        net.cast(i, remove.clone());
    }
    net.reach(600, "the others decide the Remove", |net| {
        (0..3).all(|i| net.has_decided(i, &remove))
    });
    let mut remaining: Vec<PeerId> = keys[..3].iter().map(SecretKey::peer_id).collect();
    remaining.sort();
    for i in 0..3 {
        assert_eq!(net.engine(i).voters(), remaining, "peer {i}");
        assert!(matches!(
            net.engine(i).peer_state(&dave),
            Some(PeerState::Removed { .. })
        ));
        assert!(!net.engine(i).gossip_recipients().contains(&dave));
        assert!(!net.engine(i).is_removed());
    }
    let dave_decided = net.has_decided(3, &remove);
    println!("  the removed peer decided its removal: {dave_decided}");
    if dave_decided {
        assert!(net.engine(3).is_removed());
        assert!(net.engine(3).gossip_recipients().is_empty());
        assert!(matches!(
            net.engine_mut(3).vote_for(opaque("late")),
            Err(Error::Removed)
        ));
    }
    // The three remaining peers go on deciding, with proofs from the new voters only.
    let after = opaque("after the remove");
    for i in 0..3 {
        net.cast(i, after.clone());
    }
    net.reach(600, "the remaining peers decide after the Remove", |net| {
        (0..3).all(|i| net.has_decided_all(i, &after, 3))
    });
    for i in 0..3 {
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        assert_eq!(net.blocks(i).last().unwrap().payload, after);
        net.check_blocks_of(i, &after, &remaining);
        net.check_blocks_of(
            i,
            &remove,
            &keys.iter().map(SecretKey::peer_id).collect::<Vec<_>>(),
        );
    }
    // Dave's blocks, if any, are a prefix of the others' and stop at the Remove.
    let dave_sequence = net.sequence(3);
    assert_eq!(dave_sequence[..], net.sequence(0)[..dave_sequence.len()]);
    assert!(!net.payloads(3).contains(&after));
    if dave_decided {
        assert_eq!(dave_sequence.last().map(|d| &d.key.payload), Some(&remove));
    }
    // A removed peer that has not decided its own removal yet still gossips; the others
    // ignore it without blaming it.
    net.assert_quiet();
}

#[test]
fn removed_peer_cannot_be_gossiped_to() {
    let seed = seed_from_env(3);
    let _rerun = rerun(FILE, "removed_peer_cannot_be_gossiped_to", seed);
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut net = network(&keys, &config, seed);
    let dave = keys[3].peer_id();
    let remove = Observation::Remove {
        peer_id: dave,
        related_info: vec![],
    };
    for i in 0..3 {
        net.cast(i, remove.clone());
    }
    net.reach(600, "peer 0 decides the Remove", |net| {
        net.has_decided(0, &remove)
    });
    let len = net.engine(0).graph().len();
    assert!(matches!(
        net.engine_mut(0).create_gossip(dave),
        Err(Error::NotPermitted(_))
    ));
    assert_eq!(net.engine(0).graph().len(), len);
    assert_eq!(
        net.engine(0).peer_state(&dave).map(|s| s.flags()),
        Some(PeerFlags::NONE)
    );
}

#[test]
fn shrinking_to_a_sole_voter_still_decides() {
    let seed = seed_from_env(4);
    let _rerun = rerun(FILE, "shrinking_to_a_sole_voter_still_decides", seed);
    let keys = peer_keys(2);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut net = network(&keys, &config, seed);
    let remove = Observation::Remove {
        peer_id: keys[1].peer_id(),
        related_info: vec![],
    };
    net.cast(0, remove.clone());
    net.cast(1, remove.clone());
    net.reach(200, "peer 0 decides the Remove", |net| {
        net.has_decided(0, &remove)
    });
    assert_eq!(net.engine(0).voters(), [keys[0].peer_id()]);
    assert!(net.engine(0).gossip_recipients().is_empty());
    // Now alone, peer 0 decides each vote at once.
    for payload in ["after-1", "after-2"] {
        let step = net.engine_mut(0).vote_for(opaque(payload)).unwrap();
        assert!(step.faults.is_empty());
        let decided: Vec<_> = step.blocks.iter().map(|b| b.payload.clone()).collect();
        assert_eq!(decided, vec![opaque(payload)], "decided at its own vote");
        assert!(step.blocks[0].verify(&[keys[0].peer_id()]));
    }
}
