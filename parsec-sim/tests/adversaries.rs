//! Byzantine peers: forks, double votes, replayed, forged and oversized messages. Honest
//! peers must keep agreement and validity, terminate, and blame only the adversaries
//! (spec §15). Malice detection (spec §10) is not implemented yet, so adversaries are
//! never removed.
//!
//! Each test takes its seed from `PARSEC_SEED` if set; a failure prints the seed and the
//! command that replays it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use parsec_core::FaultKind;
use parsec_graph::ConsensusMode;
use parsec_sim::sim::harness::TestRun;
use parsec_sim::sim::{self, AdversaryKind, Delay, ScheduleOptions};

const FILE: &str = "adversaries";

/// Two of seven peers fork their chains again and again, sending each branch to a
/// different peer (half of the time each branch opens with a different vote); the honest
/// peers see the forks, report them, and still agree and decide every honest vote.
#[test]
fn consensus_with_fork() {
    let test = TestRun::new(FILE, "consensus_with_fork", 21);
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let mut options = ScheduleOptions::new(7, mode);
        options.payloads = 6;
        options.adversaries = vec![AdversaryKind::Fork; 2];
        options.attack_probability = 0.4;
        let outcome = test.check(&options);
        // Every honest vote is decided: once per payload, or once per honest voter.
        let honest_decisions = if mode == ConsensusMode::Single {
            5 * 6
        } else {
            6
        };
        assert!(outcome.stats.stable_blocks >= honest_decisions);
        let forks = outcome
            .faults
            .iter()
            .flatten()
            .filter(|f| matches!(f.kind, FaultKind::Fork { .. }))
            .count();
        assert!(forks > 0, "no honest peer saw a fork");
        assert!(outcome.stats.warnings > 0, "faults are logged as warnings");
    }
}

/// Two of seven peers vote payloads they already voted; every payload is still decided
/// once, with one proof per voter.
#[test]
fn adversary_double_vote() {
    let test = TestRun::new(FILE, "adversary_double_vote", 22);
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let mut options = ScheduleOptions::new(7, mode);
        options.payloads = 6;
        options.adversaries = vec![AdversaryKind::DoubleVote; 2];
        options.attack_probability = 0.5;
        let schedule = sim::Schedule::generate(&options, test.seed()).unwrap();
        let outcome = test.check_schedule(&schedule);
        for &adversary in schedule.adversaries.keys() {
            let votes = &outcome.votes[adversary];
            let distinct: BTreeSet<_> = votes.iter().collect();
            assert!(
                distinct.len() < votes.len(),
                "adversary {adversary} never voted twice"
            );
        }
        let honest_decisions = if mode == ConsensusMode::Single {
            5 * 6
        } else {
            6
        };
        assert!(outcome.stats.stable_blocks >= honest_decisions);
    }
}

/// Adversaries replay old messages and send events with bad signatures, unknown parents,
/// and messages over the limits or undecodable; honest peers report faults naming them and
/// are otherwise unaffected.
#[test]
fn adversary_garbage() {
    let test = TestRun::new(FILE, "adversary_garbage", 23);
    let mut options = ScheduleOptions::new(13, ConsensusMode::Supermajority);
    options.payloads = 4;
    options.adversaries = vec![
        AdversaryKind::Replay,
        AdversaryKind::BadSignature,
        AdversaryKind::UnknownParents,
        AdversaryKind::Oversized,
    ];
    options.attack_probability = 0.5;
    options.network.delay = Delay::Uniform { min: 0, max: 2 };
    let outcome = test.check(&options);
    let kinds: Vec<FaultKind> = outcome
        .faults
        .iter()
        .flatten()
        .map(|f| f.kind.clone())
        .collect();
    for expected in [
        FaultKind::BadSignature,
        FaultKind::OversizedMessage,
        FaultKind::MalformedMessage,
        FaultKind::InvalidMessage,
    ] {
        assert!(
            kinds.contains(&expected),
            "no {expected:?} fault: {kinds:?}"
        );
    }
    assert_eq!(outcome.stats.stable_blocks, 4);
}

/// Adversarial runs replay exactly from their seed, adversaries' attacks included.
#[test]
fn adversarial_runs_are_reproducible() {
    let test = TestRun::new(FILE, "adversarial_runs_are_reproducible", 24);
    let mut options = ScheduleOptions::new(10, ConsensusMode::Single);
    options.payloads = 3;
    options.adversaries = vec![
        AdversaryKind::Fork,
        AdversaryKind::DoubleVote,
        AdversaryKind::BadSignature,
    ];
    options.network.delay = Delay::Uniform { min: 0, max: 2 };
    options.network.duplicate = 0.1;
    let run = || sim::run_options(&options, test.seed(), test.rerun()).unwrap();
    let (first, second) = (run(), run());
    assert!(first.failure.is_none(), "{}", first.failure.unwrap());
    assert_eq!(first.blocks, second.blocks);
    assert_eq!(first.faults, second.faults);
    assert_eq!(first.votes, second.votes);
    assert_eq!(first.stats.peers, second.stats.peers);
    assert_eq!(first.stats.steps, second.stats.steps);
}
