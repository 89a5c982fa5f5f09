//! The invariant checks themselves: each one catches what it must, so a passing simulation
//! means something.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use parsec_core::{Block, Fault, FaultKind};
use parsec_graph::{Cause, ConsensusMode, Graph, Observation, PeerId, SecretKey, Vote};
use parsec_sim::fixtures::{event, genesis, opaque, peer_ids, peer_key, peer_keys};
use parsec_sim::sim::invariants::agreement::Agreement;
use parsec_sim::sim::invariants::order::Order;
use parsec_sim::sim::invariants::quiet::{self, LogCapture};
use parsec_sim::sim::invariants::termination::Termination;
use parsec_sim::sim::invariants::validity::Validity;
use parsec_sim::sim::invariants::{Invariant, honest_fork};
use parsec_sim::sim::{self, ScheduleOptions};

/// A block of `payload` with proofs by `signers`.
fn block(
    payload: &Observation<String>,
    signers: &[&SecretKey],
    sequence: u64,
    election: u64,
    position: u32,
) -> Block<String> {
    let mut proofs: Vec<_> = signers
        .iter()
        .map(|k| Vote::new(payload.clone(), k).unwrap().proof(k.peer_id()))
        .collect();
    proofs.sort();
    Block {
        payload: payload.clone(),
        proofs,
        sequence,
        election,
        position,
    }
}

#[test]
fn agreement_catches_diverging_blocks() {
    let keys = peer_keys(4);
    let all: Vec<&SecretKey> = keys.iter().collect();
    let mut check = Agreement::new(ConsensusMode::Supermajority);
    let a = block(&opaque("a"), &all, 1, 1, 0);
    let b = block(&opaque("b"), &all, 1, 1, 0);
    check
        .observe(
            0,
            0,
            &block(&genesis(&peer_ids(&keys), [0; 32]), &all, 0, 0, 0),
        )
        .unwrap();
    check.observe(0, 1, &a).unwrap();
    check
        .observe(
            1,
            0,
            &block(&genesis(&peer_ids(&keys), [0; 32]), &all, 0, 0, 0),
        )
        .unwrap();
    let error = check.observe(1, 1, &b).unwrap_err();
    assert_eq!(error.invariant, Invariant::Agreement);
    // Same payload in another group is a disagreement on group boundaries.
    let moved = block(&opaque("a"), &all, 1, 2, 0);
    assert!(check.observe(2, 1, &moved).is_err());
    assert_eq!(check.longest(), 2);
}

#[test]
fn order_catches_bad_numbering_and_repeats() {
    let keys = peer_keys(4);
    let all: Vec<&SecretKey> = keys.iter().collect();
    let g = block(&genesis(&peer_ids(&keys), [0; 32]), &all, 0, 0, 0);
    let mut check = Order::new(ConsensusMode::Supermajority, 2, true);
    // Genesis must come first.
    assert!(
        check
            .observe(0, &block(&opaque("a"), &all, 0, 0, 0))
            .is_err()
    );
    check.observe(1, &g).unwrap();
    check
        .observe(1, &block(&opaque("a"), &all, 1, 1, 0))
        .unwrap();
    // Wrong sequence number, wrong position, repeated payload.
    assert!(
        check
            .observe(1, &block(&opaque("b"), &all, 5, 1, 1))
            .is_err()
    );
    assert!(
        check
            .observe(1, &block(&opaque("b"), &all, 2, 1, 3))
            .is_err()
    );
    let error = check
        .observe(1, &block(&opaque("a"), &all, 2, 2, 0))
        .unwrap_err();
    assert_eq!(error.invariant, Invariant::Order);
    assert!(error.detail.contains("decided twice"), "{error}");
}

#[test]
fn validity_catches_weak_forged_and_unvoted_blocks() {
    let keys = peer_keys(4);
    let ids = peer_ids(&keys);
    let payload = opaque("a");
    let mut check = Validity::new(ConsensusMode::Supermajority, &ids);
    for id in &ids[..3] {
        check.record_vote(*id, &payload);
    }
    // Three of four voters: a supermajority.
    check
        .observe(
            0,
            &block(&payload, &[&keys[0], &keys[1], &keys[2]], 1, 1, 0),
        )
        .unwrap();
    // Two of four is not.
    assert!(
        check
            .observe(0, &block(&payload, &[&keys[0], &keys[1]], 1, 1, 0))
            .is_err()
    );
    // Peer 3 never voted it.
    assert!(
        check
            .observe(
                0,
                &block(&payload, &[&keys[1], &keys[2], &keys[3]], 1, 1, 0)
            )
            .is_err()
    );
    // A proof that does not verify.
    let mut forged = block(&payload, &[&keys[0], &keys[1], &keys[2]], 1, 1, 0);
    forged.proofs[1].signature = forged.proofs[0].signature;
    let error = check.observe(0, &forged).unwrap_err();
    assert!(error.detail.contains("does not verify"), "{error}");
    // A non-voter's proof.
    let outsider = peer_key(99);
    let mut check = Validity::new(ConsensusMode::Single, &ids);
    check.record_vote(outsider.peer_id(), &payload);
    assert!(
        check
            .observe(0, &block(&payload, &[&outsider], 1, 1, 0))
            .is_err()
    );
    // Single mode: exactly one proof.
    check.record_vote(ids[0], &payload);
    check.record_vote(ids[1], &payload);
    check
        .observe(0, &block(&payload, &[&keys[0]], 1, 1, 0))
        .unwrap();
    assert!(
        check
            .observe(0, &block(&payload, &[&keys[0], &keys[1]], 1, 1, 0))
            .is_err()
    );
}

#[test]
fn honest_fork_is_caught_in_any_graph() {
    let keys = peer_keys(3);
    let mut graph = Graph::<String>::new();
    let a0 = event(&keys[0], 0, Cause::Initial);
    let base = *a0.hash();
    let _ = graph.insert(a0).unwrap();
    for to in [1, 2] {
        let cause = Cause::Requesting {
            self_parent: base,
            recipient: keys[to].peer_id(),
        };
        let _ = graph.insert(event(&keys[0], 1, cause)).unwrap();
    }
    let honest: BTreeMap<PeerId, usize> = [(keys[1].peer_id(), 1)].into_iter().collect();
    honest_fork::check([(2, &graph)], &honest).unwrap();
    let honest: BTreeMap<PeerId, usize> = [(keys[0].peer_id(), 0)].into_iter().collect();
    let error = honest_fork::check([(2, &graph)], &honest).unwrap_err();
    assert_eq!(error.invariant, Invariant::HonestFork);
}

#[test]
fn termination_names_what_is_missing() {
    let keys = peer_keys(4);
    let ids = peer_ids(&keys);
    let all: Vec<&SecretKey> = keys.iter().collect();
    let g = genesis(&ids, [0; 32]);
    let votes = [g.clone(), opaque("a"), opaque("b")];
    let mut check = Termination::new(ConsensusMode::Supermajority, 4);
    // Peer 3 did not vote `b`: only genesis and `a` must be decided.
    check.expect((0..4).map(|p| {
        let n = if p == 3 { 2 } else { 3 };
        (p, ids[p], &votes[..n])
    }));
    assert_eq!(check.expected().len(), 2);
    check.observe(0, &block(&g, &all, 0, 0, 0));
    check.observe(0, &block(&opaque("a"), &all, 1, 1, 0));
    assert!(check.is_done(&[0]));
    assert!(!check.is_done(&[0, 1]));
    let violation = check.violation(&[0, 1], 10);
    assert_eq!(violation.invariant, Invariant::Termination);
    assert!(
        violation.detail.contains("peer 1 misses 2 of 2"),
        "{violation}"
    );
    // Single mode: every honest opaque vote, per voter.
    let mut check = Termination::new(ConsensusMode::Single, 4);
    check.expect((0..4).map(|p| (p, ids[p], &votes[..2])));
    assert_eq!(check.expected().len(), 1 + 4);
}

#[test]
fn quiet_catches_faults_and_warnings() {
    let capture = LogCapture::new();
    capture.scope(|| {
        tracing::info!("not counted");
        tracing::warn!(peer = 3, "counted");
        tracing::error!("counted too");
    });
    let captured = capture.captured();
    assert_eq!((captured.warnings, captured.errors), (1, 1));
    assert!(
        captured.samples[0].contains("peer=3"),
        "{:?}",
        captured.samples
    );
    assert!(quiet::check_logs(false, &captured).is_err());
    // With adversaries a warning is expected, an error never.
    assert!(quiet::check_logs(true, &captured).is_err());
    let warned = LogCapture::new();
    warned.scope(|| tracing::warn!("a peer fault"));
    assert!(quiet::check_logs(true, &warned.captured()).is_ok());
    assert!(quiet::check_logs(false, &warned.captured()).is_err());
    // Other threads' logs are not counted.
    let other = LogCapture::new();
    other.scope(|| {
        std::thread::spawn(|| tracing::warn!("elsewhere"))
            .join()
            .unwrap();
    });
    assert_eq!(other.captured().warnings, 0);

    let keys = peer_keys(3);
    let fault = Fault {
        sender: keys[0].peer_id(),
        creator: Some(keys[1].peer_id()),
        kind: FaultKind::BadSignature,
    };
    assert!(quiet::check_fault(2, &fault, &BTreeSet::new()).is_err());
    let adversaries: BTreeSet<PeerId> = [keys[1].peer_id()].into_iter().collect();
    quiet::check_fault(2, &fault, &adversaries).unwrap();
    let adversaries: BTreeSet<PeerId> = [keys[2].peer_id()].into_iter().collect();
    assert!(quiet::check_fault(0, &fault, &adversaries).is_err());
}

/// A run that cannot terminate (no liveness steps, votes still undecided) fails with the
/// seed and the replay command in its message.
#[test]
fn a_failed_run_names_its_seed_and_replay_command() {
    let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
    options.payloads = 3;
    options.votes = sim::VoteTiming::BeforeGossip;
    options.gossip_probability = 0.0;
    options.liveness_steps = 0;
    let outcome = sim::run_options(&options, 77, "cargo test --test invariants").unwrap();
    let failure = outcome.failure.unwrap();
    assert_eq!(failure.violation.invariant, Invariant::Termination);
    let message = failure.to_string();
    assert!(
        message.contains("PARSEC_SEED=77 cargo test --test invariants"),
        "{message}"
    );
}

#[test]
fn impossible_options_are_refused() {
    let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
    options.crashes = sim::Crashes::Random { count: 2 };
    assert!(matches!(
        sim::run_options(&options, 1, ""),
        Err(sim::ScheduleError::TooManyFaulty {
            faulty: 2,
            peers: 4,
            max: 1
        })
    ));
    let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
    options.network.drop = 1.5;
    assert!(sim::run_options(&options, 1, "").is_err());
    assert!(sim::run_options(&ScheduleOptions::new(0, ConsensusMode::Single), 1, "").is_err());
}

#[test]
fn same_meta_event_catches_one_event_evaluated_two_ways() {
    use parsec_core::MetaDigest;
    use parsec_graph::EventHash;
    use parsec_sim::sim::invariants::same_meta::SameMetaEvent;

    let event = EventHash::from_bytes([7; 32]);
    let digest = |election, byte| MetaDigest {
        election,
        event,
        digest: [byte; 32],
    };
    let mut check = SameMetaEvent::new();
    check.observe(0, vec![digest(0, 1)]).unwrap();
    // The same evaluation elsewhere, and another election's evaluation, are fine.
    check.observe(1, vec![digest(0, 1), digest(1, 2)]).unwrap();
    assert_eq!(check.compared, 1);
    let violation = check.observe(2, vec![digest(0, 3)]).unwrap_err();
    assert_eq!(violation.invariant, Invariant::SameMetaEvent);
    assert_eq!(violation.peer, Some(2));
}
