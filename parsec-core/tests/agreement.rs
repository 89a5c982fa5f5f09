//! The sync protocol's edge cases with full runs (spec §4.4, §4.5): small groups, chunked,
//! lossy and encoded syncs, stale requests and late votes all end in agreement.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::Config;
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey, wire};
use parsec_sim::network::{Network, NetworkBuilder};

const FILE: &str = "agreement";

/// Runs `n` genesis members voting `p` and `q` (every peer both) to agreement, losing
/// `loss_percent` of the messages.
fn agree(
    n: usize,
    mode: ConsensusMode,
    config_edit: impl Fn(&mut Config),
    loss_percent: u32,
    seed: u64,
) -> Network {
    agree_with(
        n,
        mode,
        config_edit,
        |net| net.loss(f64::from(loss_percent) / 100.0),
        &[opaque("p"), opaque("q")],
        seed,
    )
}

/// Runs `n` genesis members voting `payloads` (every peer all of them) to agreement on
/// the network `net_edit` shapes, and checks what they decided.
fn agree_with(
    n: usize,
    mode: ConsensusMode,
    config_edit: impl Fn(&mut Config),
    net_edit: impl FnOnce(NetworkBuilder) -> NetworkBuilder,
    payloads: &[Observation<String>],
    seed: u64,
) -> Network {
    let keys = peer_keys(n);
    let mut config = genesis_config(&keys, mode);
    config_edit(&mut config);
    let mut net = network_with(&keys, &config, seed, net_edit);
    for i in 0..n {
        for p in payloads {
            net.cast(i, p.clone());
        }
    }
    let voters = n;
    net.reach(
        300 * voters as u64,
        "every peer decides every payload",
        |net| (0..voters).all(|i| payloads.iter().all(|p| net.has_decided_all(i, p, voters))),
    );
    let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
    for i in 0..voters {
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        for p in payloads {
            net.check_blocks_of(i, p, &ids);
        }
    }
    net.assert_quiet();
    net
}

#[test]
fn small_groups_agree() {
    for n in [2, 3] {
        for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
            for seed in seeds_from_env(0, 4) {
                let _rerun = rerun(FILE, "small_groups_agree", seed);
                println!("{n} peers, {mode:?}, seed {seed}");
                agree(n, mode, |_| {}, 0, seed);
            }
        }
    }
}

#[test]
fn chunked_syncs_agree() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in seeds_from_env(0, 3) {
            let _rerun = rerun(FILE, "chunked_syncs_agree", seed);
            println!("{mode:?}, seed {seed}");
            let net = agree(
                4,
                mode,
                |config| config.wire_limits.max_events_per_message = 3,
                0,
                seed,
            );
            assert!(net.chunks() > 0, "no sync was chunked");
        }
    }
}

#[test]
fn lost_messages_do_not_prevent_agreement() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in seeds_from_env(0, 4) {
            let _rerun = rerun(FILE, "lost_messages_do_not_prevent_agreement", seed);
            println!("{mode:?}, seed {seed}");
            let net = agree(4, mode, |_| {}, 25, seed);
            assert!(net.lost() > 0);
        }
    }
}

#[test]
fn lost_chunks_do_not_prevent_agreement() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in seeds_from_env(0, 4) {
            let _rerun = rerun(FILE, "lost_chunks_do_not_prevent_agreement", seed);
            println!("{mode:?}, seed {seed}");
            let net = agree(
                4,
                mode,
                |config| config.wire_limits.max_events_per_message = 3,
                25,
                seed,
            );
            assert!(net.lost() > 0 && net.chunks() > 0);
        }
    }
}

#[test]
fn syncs_over_the_wire_agree() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in seeds_from_env(0, 3) {
            let _rerun = rerun(FILE, "syncs_over_the_wire_agree", seed);
            agree_with(
                4,
                mode,
                |_| {},
                |net| net.over_the_wire(true),
                &[opaque("p"), opaque("q")],
                seed,
            );
        }
    }
}

#[test]
fn large_syncs_are_split_within_the_byte_limit() {
    let big: Vec<_> = (0..3)
        .map(|k| Observation::OpaquePayload(format!("{k}").repeat(1400)))
        .collect();
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in seeds_from_env(0, 3) {
            let _rerun = rerun(FILE, "large_syncs_are_split_within_the_byte_limit", seed);
            let net = agree_with(
                4,
                mode,
                |config| {
                    config.wire_limits.max_message_bytes = 4096;
                    config.event_limits.max_observation_bytes = 1500;
                    config.event_limits.max_coin_shares_per_event = 8;
                },
                |net| net.over_the_wire(true),
                &big,
                seed,
            );
            assert!(net.chunks() > 0, "no sync was split");
        }
    }
}

/// A vote event adds its own overhead (creator, index, cause, self-parent, signatures,
/// coin shares, message header) to its observation: `Config::validate` must refuse limits
/// under which a valid vote could never be sent, and accept tight ones that fit.
#[test]
fn a_vote_of_the_largest_valid_observation_can_be_sent() {
    let keys = peer_keys(2);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.wire_limits.max_message_bytes = 4096;
    config.event_limits.max_observation_bytes = 4000;
    assert!(
        config.validate().is_err(),
        "a 4000-byte vote cannot fit 4096 bytes"
    );
    config.event_limits.max_coin_shares_per_event = 0;
    assert!(config.validate().is_err(), "not even without coin shares");
    config.event_limits.max_observation_bytes = 4096 - parsec_core::testing::EVENT_OVERHEAD_BYTES;
    config.validate().unwrap();
    let limit = config.event_limits.max_observation_bytes;
    let mut engines = start(&keys, &config);
    // The largest observation the limits allow.
    let mut payload = "z".repeat(limit);
    while parsec_graph::wire::encoded_len(&Observation::OpaquePayload(payload.clone())).unwrap()
        > limit
    {
        payload.pop();
    }
    let step = engines[0]
        .vote_for(Observation::OpaquePayload(payload))
        .unwrap();
    assert!(step.faults.is_empty());
    let bob = *engines[1].our_id();
    let step = engines[0].create_gossip(bob).unwrap();
    for out in &step.send {
        let encoded = wire::encode(&out.message, &config.wire_limits);
        assert!(
            encoded.is_ok(),
            "a message of {} events cannot be encoded: {:?}",
            out.message.events().len(),
            encoded.err()
        );
    }
}

#[test]
fn stale_request_delivered_late_is_still_answered() {
    let (mut alice, mut bob) = pair();
    let (a, b) = (*alice.our_id(), *bob.our_id());
    let stale = only_message(alice.create_gossip(b).unwrap());
    let fresh = only_message(alice.create_gossip(b).unwrap());
    // The newer request arrives first and is answered.
    let response = only_message(bob.handle_message(a, fresh).unwrap());
    let step = alice.handle_message(b, response).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    // The older one arrives late: its events are known, but its Requesting was never
    // answered, so it gets its own Request and response.
    let len = bob.graph().len();
    let step = bob.handle_message(a, stale).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_eq!(bob.graph().len(), len + 1, "only Bob's new Request");
    let response = only_message(step);
    let step = alice.handle_message(b, response).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_still_works(alice, bob);
}

#[test]
fn late_vote_for_a_decided_payload_is_not_decided_again() {
    let seed = seed_from_env(21);
    let _rerun = rerun(
        FILE,
        "late_vote_for_a_decided_payload_is_not_decided_again",
        seed,
    );
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut net = network(&keys, &config, seed);
    let x = opaque("x");
    for i in 0..3 {
        net.cast(i, x.clone());
    }
    net.reach(400, "every peer decides x", |net| {
        (0..4).all(|i| net.has_decided(i, &x))
    });
    // Peer 3 votes x only now, then everyone votes y.
    net.cast(3, x.clone());
    assert!(net.engine(3).have_voted_for(&x));
    assert_eq!(
        net.engine(3).our_unpolled_observations().count(),
        0,
        "a vote for a decided key is not pending"
    );
    let y = opaque("y");
    for i in 0..4 {
        net.cast(i, y.clone());
    }
    net.reach(400, "every peer decides y", |net| {
        (0..4).all(|i| net.has_decided(i, &y))
    });
    for _ in 0..40 {
        assert!(net.step().unwrap());
    }
    for i in 0..4 {
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        let count = net.blocks(i).iter().filter(|b| b.payload == x).count();
        assert_eq!(count, 1, "peer {i}: x decided {count} times");
    }
    net.assert_quiet();
}
