//! Multi-peer runs on the in-process [`Network`]: every honest peer decides every vote, in
//! the same order, with valid proofs and no fault (spec §15 invariants 1, 2, 3, 5, 8, 10).
//!
//! Each test takes its seed from `PARSEC_SEED` if set, else a fixed default, and every
//! failure message names the seed: rerun with `PARSEC_SEED=<n> cargo test -p parsec-sim
//! --test network <name>`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use parsec_core::Block;
use parsec_graph::{ConsensusMode, Observation, PeerId};
use parsec_sim::fixtures::{self, Agreed, Rerun, agreed_sequence, opaque, seed_from_env};
use parsec_sim::network::Network;
use parsec_sim::sim::BlockKey;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn sequence(net: &Network, peer: usize, mode: ConsensusMode) -> Vec<Agreed> {
    agreed_sequence(net.blocks(peer), mode)
}

/// Spec §15.1: every peer's sequence is a prefix of the longest one.
fn check_prefix_agreement(net: &Network, mode: ConsensusMode, context: &str) {
    let sequences: Vec<Vec<Agreed>> = (0..net.len()).map(|i| sequence(net, i, mode)).collect();
    let (longest, reference) = sequences
        .iter()
        .enumerate()
        .max_by_key(|(i, s)| (s.len(), std::cmp::Reverse(*i)))
        .unwrap();
    for (i, s) in sequences.iter().enumerate() {
        assert_eq!(
            s.as_slice(),
            &reference[..s.len()],
            "peer {i}'s blocks are not a prefix of peer {longest}'s ({context}; PARSEC_SEED={})",
            net.seed()
        );
    }
}

/// What one peer will vote, in order.
type VotePlan = Vec<Vec<Observation<String>>>;

/// Supermajority: every peer votes the same three payloads, in a peer-dependent order.
fn supermajority_plan(peers: usize) -> VotePlan {
    let payloads = ["alpha", "bravo", "charlie"];
    (0..peers)
        .map(|i| {
            let mut order: Vec<_> = (0..payloads.len())
                .map(|k| opaque(payloads[(i + k) % payloads.len()]))
                .collect();
            if i % 2 == 1 {
                order.reverse();
            }
            order
        })
        .collect()
}

/// Single: every peer votes two payloads of its own and two shared ones, interleaved in a
/// peer-dependent order.
fn single_plan(peers: usize) -> VotePlan {
    (0..peers)
        .map(|i| {
            let mut order = vec![
                opaque(&format!("own-{i}-a")),
                opaque("shared-x"),
                opaque(&format!("own-{i}-b")),
                opaque("shared-y"),
            ];
            let turn = i % order.len();
            order.rotate_left(turn);
            order
        })
        .collect()
}

/// The keys every peer must decide: payload, plus the voter in `Single` mode.
fn expected_keys(net: &Network, plan: &VotePlan, mode: ConsensusMode) -> BTreeMap<BlockKey, usize> {
    let mut expected = BTreeMap::new();
    for (i, votes) in plan.iter().enumerate() {
        for vote in votes {
            let signer = (mode == ConsensusMode::Single).then(|| net.peer_id(i));
            let key = BlockKey {
                payload: vote.clone(),
                signer,
            };
            expected.insert(key, 0);
        }
    }
    expected
}

fn decided_keys(net: &Network, peer: usize, mode: ConsensusMode) -> BTreeMap<BlockKey, usize> {
    let mut counts = BTreeMap::new();
    for block in net.blocks(peer) {
        *counts.entry(BlockKey::of(block, mode)).or_insert(0) += 1;
    }
    counts
}

/// Runs `peers` genesis members voting `plan` (votes cast at random times while gossip
/// runs) until every peer decided every vote, checking agreement after every step.
fn run(peers: usize, mode: ConsensusMode, plan: &VotePlan, seed: u64) -> Network {
    let mut net = Network::new(peers, mode, seed).unwrap();
    let expected = expected_keys(&net, plan, mode);
    // The vote schedule has its own stream so that the network's choices stay independent.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x766f_7465_7321);
    let mut next_vote = vec![0usize; peers];
    let max_steps = 400 * peers as u64;
    let everyone_decided = |net: &Network| {
        (0..net.len()).all(|i| {
            let got = decided_keys(net, i, mode);
            expected.keys().all(|key| got.contains_key(key))
        })
    };
    loop {
        let pending: Vec<usize> = (0..peers)
            .filter(|&i| next_vote[i] < plan[i].len())
            .collect();
        if pending.is_empty() && everyone_decided(&net) {
            break;
        }
        assert!(
            net.steps() < max_steps,
            "{peers} peers, {mode:?}: not every vote decided after {max_steps} steps \
             (blocks per peer: {:?}; PARSEC_SEED={seed})",
            (0..peers).map(|i| net.blocks(i).len()).collect::<Vec<_>>()
        );
        if !pending.is_empty() && rng.random_ratio(1, 3) {
            let i = pending[rng.random_range(0..pending.len())];
            net.vote(i, plan[i][next_vote[i]].clone())
                .unwrap_or_else(|e| panic!("vote by peer {i}: {e} (PARSEC_SEED={seed})"));
            next_vote[i] += 1;
        }
        let progressed = net
            .step()
            .unwrap_or_else(|e| panic!("step {}: {e} (PARSEC_SEED={seed})", net.steps()));
        assert!(progressed, "no peer can gossip (PARSEC_SEED={seed})");
        check_prefix_agreement(&net, mode, &format!("after step {}", net.steps()));
    }
    net
}

/// Every end-of-run invariant for a run of `plan` in `mode`.
fn check_final(net: &Network, plan: &VotePlan, mode: ConsensusMode) {
    let seed = net.seed();
    let n = net.len();
    check_prefix_agreement(net, mode, "at the end");
    let mut group: Vec<PeerId> = (0..n).map(|i| net.peer_id(i)).collect();
    group.sort();
    let reference = sequence(net, 0, mode);
    for i in 0..n {
        // Identical sequences, group boundaries included.
        assert_eq!(
            sequence(net, i, mode),
            reference,
            "peer {i} and peer 0 differ (PARSEC_SEED={seed})"
        );
        let blocks = net.blocks(i);
        let voters = net.engine(i).voters();
        assert_eq!(
            voters,
            group.as_slice(),
            "peer {i}: voters changed (PARSEC_SEED={seed})"
        );
        // Genesis first.
        match &blocks[0].payload {
            Observation::Genesis {
                group: genesis,
                related_info,
                ..
            } => {
                assert_eq!(
                    genesis.iter().copied().collect::<Vec<_>>(),
                    group,
                    "peer {i}: wrong genesis group (PARSEC_SEED={seed})"
                );
                assert!(related_info.is_empty());
            }
            other => panic!("peer {i}: block 0 is {other:?}, not Genesis (PARSEC_SEED={seed})"),
        }
        // Sequence numbers and positions.
        let mut previous: Option<&Block<String>> = None;
        for (k, block) in blocks.iter().enumerate() {
            assert_eq!(
                block.sequence, k as u64,
                "peer {i}: block {k} has sequence {} (PARSEC_SEED={seed})",
                block.sequence
            );
            let expected_position = match previous {
                Some(p) if p.election == block.election => p.position + 1,
                Some(p) => {
                    assert!(
                        block.election > p.election,
                        "peer {i}: block {k} goes back to election {} (PARSEC_SEED={seed})",
                        block.election
                    );
                    0
                }
                None => 0,
            };
            assert_eq!(
                block.position, expected_position,
                "peer {i}: block {k} position (PARSEC_SEED={seed})"
            );
            previous = Some(block);
            // Validity.
            assert!(
                block.verify(voters),
                "peer {i}: block {k} ({:?}) does not verify (PARSEC_SEED={seed})",
                block.payload
            );
            let mut signers: Vec<PeerId> = block.proofs.iter().map(|p| p.signer).collect();
            signers.dedup();
            assert_eq!(
                signers.len(),
                block.proofs.len(),
                "peer {i}: block {k} has unsorted or repeated proofs (PARSEC_SEED={seed})"
            );
            if mode == ConsensusMode::Single && block.payload.is_opaque() {
                assert_eq!(
                    block.proofs.len(),
                    1,
                    "peer {i}: Single block {k} has {} proofs (PARSEC_SEED={seed})",
                    block.proofs.len()
                );
            } else {
                assert!(
                    3 * block.proofs.len() > 2 * n,
                    "peer {i}: block {k} ({:?}) has {} proofs of {n} voters (PARSEC_SEED={seed})",
                    block.payload,
                    block.proofs.len()
                );
            }
        }
        // Integrity: every vote decided exactly once, nothing else decided.
        let mut expected = expected_keys(net, plan, mode);
        let genesis_key = BlockKey {
            payload: blocks[0].payload.clone(),
            signer: None,
        };
        expected.insert(genesis_key, 0);
        let got = decided_keys(net, i, mode);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "peer {i}: decided keys differ from the votes (PARSEC_SEED={seed})"
        );
        for (key, count) in &got {
            assert_eq!(
                *count, 1,
                "peer {i}: {key:?} decided {count} times (PARSEC_SEED={seed})"
            );
        }
        // Every inserted event was handed out for persisting, once.
        let graph = net.engine(i).graph();
        assert_eq!(
            net.persisted(i),
            graph.len(),
            "peer {i}: persisted events vs graph (PARSEC_SEED={seed})"
        );
        // No honest peer forked.
        for (index, creator) in graph.peers() {
            assert!(
                !graph.has_forked(index),
                "peer {i} sees a fork by {creator} (PARSEC_SEED={seed})"
            );
        }
        // Nothing left undecided.
        let unpolled: Vec<_> = net.engine(i).our_unpolled_observations().collect();
        assert!(
            unpolled.is_empty(),
            "peer {i}: undecided votes {unpolled:?} (PARSEC_SEED={seed})"
        );
    }
    // Honest runs are quiet.
    let faults = net.all_faults();
    assert!(
        faults.is_empty(),
        "faults in an honest run: {faults:?} (PARSEC_SEED={seed})"
    );
}

/// The guard that prints how to replay `test` with `seed` if it fails.
fn rerun(test: &str, seed: u64) -> Rerun {
    Rerun::new(seed, fixtures::test_command("parsec-sim", "network", test))
}

fn scenario(test: &'static str, peers: usize, mode: ConsensusMode, default_seed: u64) {
    let seed = seed_from_env(default_seed);
    let _rerun = rerun(test, seed);
    let plan = match mode {
        ConsensusMode::Supermajority => supermajority_plan(peers),
        ConsensusMode::Single => single_plan(peers),
    };
    let net = run(peers, mode, &plan, seed);
    check_final(&net, &plan, mode);
    println!(
        "{peers} peers, {mode:?}: {} steps, {} blocks (PARSEC_SEED={seed})",
        net.steps(),
        net.blocks(0).len()
    );
}

#[test]
fn supermajority_4_peers() {
    scenario("supermajority_4_peers", 4, ConsensusMode::Supermajority, 1);
}

#[test]
fn supermajority_7_peers() {
    scenario("supermajority_7_peers", 7, ConsensusMode::Supermajority, 2);
}

#[test]
fn supermajority_10_peers() {
    scenario(
        "supermajority_10_peers",
        10,
        ConsensusMode::Supermajority,
        3,
    );
}

#[test]
fn single_4_peers() {
    scenario("single_4_peers", 4, ConsensusMode::Single, 4);
}

#[test]
fn single_7_peers() {
    scenario("single_7_peers", 7, ConsensusMode::Single, 5);
}

#[test]
fn single_10_peers() {
    scenario("single_10_peers", 10, ConsensusMode::Single, 6);
}

#[test]
fn same_seed_same_blocks() {
    let seed = seed_from_env(7);
    let _rerun = rerun("same_seed_same_blocks", seed);
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let plan = match mode {
            ConsensusMode::Supermajority => supermajority_plan(5),
            ConsensusMode::Single => single_plan(5),
        };
        let first = run(5, mode, &plan, seed);
        let second = run(5, mode, &plan, seed);
        assert_eq!(
            first.steps(),
            second.steps(),
            "{mode:?}: step counts differ (PARSEC_SEED={seed})"
        );
        for i in 0..first.len() {
            assert_eq!(
                first.blocks(i),
                second.blocks(i),
                "{mode:?}: peer {i}'s blocks differ between two runs (PARSEC_SEED={seed})"
            );
            let hashes = |net: &Network| -> Vec<_> {
                net.engine(i)
                    .graph()
                    .iter()
                    .map(|node| *node.hash())
                    .collect()
            };
            assert_eq!(
                hashes(&first),
                hashes(&second),
                "{mode:?}: peer {i}'s graphs differ between two runs (PARSEC_SEED={seed})"
            );
            assert_eq!(first.persisted(i), second.persisted(i));
            assert_eq!(first.faults(i), second.faults(i));
        }
    }
}

#[test]
fn network_accessors_and_errors() {
    let mut net = Network::new(3, ConsensusMode::Supermajority, 11).unwrap();
    assert_eq!(net.len(), 3);
    assert!(!net.is_empty());
    for i in 0..3 {
        assert_eq!(net.index_of(&net.peer_id(i)), Some(i));
        // The genesis step decides nothing and reports nothing.
        assert!(net.blocks(i).is_empty());
        assert!(net.faults(i).is_empty());
    }
    assert!(net.vote(3, opaque("x")).is_err());
    assert!(net.sync(0, 0).is_err());
    assert!(net.sync(0, 5).is_err());
    assert!(matches!(
        net.run_until(2, |_| false),
        Err(parsec_sim::network::NetworkError::StepLimit { steps: 2 })
    ));
    assert_eq!(net.steps(), 2);
    assert_eq!(net.run_until(10, |_| true).unwrap(), 0);
}

/// A peer that never starts and a peer that crashes receive nothing: every message to
/// them is counted undeliverable, and the others still decide.
#[test]
fn not_started_and_crashed_peers_receive_nothing() {
    let seed = seed_from_env(12);
    let _rerun = rerun("not_started_and_crashed_peers_receive_nothing", seed);
    let mut net = Network::builder(7)
        .seed(seed)
        .not_started([6])
        .build()
        .unwrap();
    assert!(!net.is_running(6));
    assert!(net.try_engine(6).is_none());
    assert!(matches!(
        net.vote(6, opaque("x")),
        Err(parsec_sim::network::NetworkError::NotRunning(6))
    ));
    net.crash(5).unwrap();
    assert!(
        net.try_engine(5).is_some(),
        "a crashed peer keeps its engine"
    );
    for i in 0..5 {
        net.vote(i, opaque("x")).unwrap();
    }
    net.sync(0, 6).unwrap();
    assert_eq!(
        net.undeliverable(),
        1,
        "the request to the peer that never started"
    );
    net.run_until(2000, |net| (0..5).all(|i| net.has_decided(i, &opaque("x"))))
        .unwrap();
    assert!(net.undeliverable() > 1);
    assert_eq!(net.traffic(6).messages_received, 0);
    assert_eq!(net.traffic(5).messages_received, 0);
    assert!(net.blocks(5).is_empty());
    check_prefix_agreement(&net, ConsensusMode::Supermajority, "at the end");
    assert!(net.all_faults().is_empty(), "{:?}", net.all_faults());
}

/// Lost messages, delays, duplicates and reordering, with every message encoded on the
/// way: the peers still agree, report nothing, and the links count what they did.
#[test]
fn faulty_links_over_the_wire_still_agree() {
    let seed = seed_from_env(13);
    let _rerun = rerun("faulty_links_over_the_wire_still_agree", seed);
    let mode = ConsensusMode::Single;
    let conditions = parsec_sim::network::NetworkConditions {
        delay: parsec_sim::network::Delay::Uniform { min: 0, max: 2 },
        drop: 0.1,
        duplicate: 0.1,
        reorder: 0.2,
        reorder_window: 3,
    };
    let mut net = Network::builder(4)
        .mode(mode)
        .seed(seed)
        .conditions(conditions)
        .over_the_wire(true)
        .build()
        .unwrap();
    for i in 0..4 {
        net.vote(i, opaque("p")).unwrap();
    }
    net.run_until(4000, |net| {
        (0..4).all(|i| {
            net.blocks(i)
                .iter()
                .filter(|b| b.payload.is_opaque())
                .count()
                == 4
        })
    })
    .unwrap();
    let counts = net.links().counts();
    assert!(
        counts.dropped > 0 && counts.duplicated > 0 && counts.reordered > 0,
        "{counts:?}"
    );
    assert!(
        (0..4).all(|i| net.traffic(i).bytes_sent > 0),
        "sent as bytes"
    );
    check_prefix_agreement(&net, mode, "at the end");
    assert!(net.all_faults().is_empty(), "{:?}", net.all_faults());
}

#[test]
fn taken_blocks_are_handed_out_once_and_still_checked_at_restart() {
    let seed = seed_from_env(23);
    let mut net = Network::new(4, ConsensusMode::Supermajority, seed).unwrap();
    for i in 0..4 {
        net.vote(i, opaque("a")).unwrap();
    }
    net.run_until(2000, |net| (0..4).all(|i| net.blocks(i).len() == 2))
        .unwrap();
    let before = net.blocks(1).to_vec();
    let taken = net.take_blocks(1);
    assert_eq!(taken, before, "PARSEC_SEED={seed}");
    assert!(net.blocks(1).is_empty());
    assert!(net.take_blocks(1).is_empty(), "handed out once");
    assert_eq!(net.node(1).blocks_taken(), 2);
    net.crash(1).unwrap();
    // The restored engine decides the taken blocks again; they match, so it restarts.
    net.restart(1).unwrap();
    for i in 0..4 {
        net.vote(i, opaque("b")).unwrap();
    }
    net.run_until(4000, |net| {
        net.node(1).blocks_taken() + net.blocks(1).len() == 3
            && (0..4).all(|i| i == 1 || net.blocks(i).len() == 3)
    })
    .unwrap();
    assert_eq!(
        net.blocks(1),
        &net.blocks(0)[2..],
        "only the block decided after the take (PARSEC_SEED={seed})"
    );
}
