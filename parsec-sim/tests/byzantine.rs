//! What one member that signs whatever it likes can make honest peers do (issue: Byzantine
//! safety): forks whose branches reach different peers in different orders, events by
//! made-up keys, floods of held votes, thousands of forks. Every run checks every
//! invariant of spec §15 after every step, agreement and "same meta-event at the same
//! event" (invariant 7) included; these tests add what each attack must not achieve.
//!
//! The seed loops run `PARSEC_SEEDS` seeds from the test's first seed (default a few
//! dozen); `PARSEC_SEED` runs one. A failure prints the seed and the command that
//! replays it.

#![allow(clippy::unwrap_used)]

use parsec_core::FaultKind;
use parsec_graph::ConsensusMode;
use parsec_sim::fixtures::seeds_from_env;
use parsec_sim::sim::harness::{TestRun, rerun_command, seed_from_env};
use parsec_sim::sim::{self, AdversaryKind, ScheduleOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const FILE: &str = "byzantine";

const MODES: [ConsensusMode; 2] = [ConsensusMode::Supermajority, ConsensusMode::Single];

/// Runs `options` for every seed; panics with every failing seed and its replay command.
fn run_seeds(test: &str, options: &ScheduleOptions, seeds: &[u64]) -> Vec<sim::Outcome> {
    let rerun = rerun_command(FILE, test);
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for &seed in seeds {
        let outcome = sim::run_options(options, seed, &rerun).unwrap();
        if let Some(failure) = &outcome.failure {
            failures.push(failure.to_string());
        }
        outcomes.push(outcome);
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed ({:?}):\n{}",
        failures.len(),
        seeds.len(),
        options.mode,
        failures.join("\n")
    );
    outcomes
}

/// One forking member of four shows the second branch of each fork, as bare events, to
/// random honest peers before they see the first branch, then goes on with the first
/// (sometimes each branch opens with a vote of its own, sometimes the fork is on its
/// `Initial` event, before its Genesis vote). No honest peer evaluates an event
/// differently from another, and all decide the same blocks.
#[test]
fn split_forks_never_split_the_honest_peers() {
    for mode in MODES {
        let mut options = ScheduleOptions::new(4, mode);
        options.payloads = 3;
        options.adversaries = vec![AdversaryKind::SplitFork];
        options.attack_probability = 0.5;
        let outcomes = run_seeds(
            "split_forks_never_split_the_honest_peers",
            &options,
            &seeds_from_env(700, 40),
        );
        let compared: u64 = outcomes.iter().map(|o| o.stats.meta_events_compared).sum();
        assert!(compared > 0, "invariant 7 compared nothing");
        let forks = outcomes
            .iter()
            .flat_map(|o| o.faults.iter().flatten())
            .filter(|f| matches!(f.kind, FaultKind::Fork { .. }))
            .count();
        assert!(forks > 0, "no honest peer ever saw a fork");
    }
}

/// Seven peers, two of them splitting their forks: the fault bound with more peers.
#[test]
fn two_split_forkers_of_seven() {
    let test = TestRun::new(FILE, "two_split_forkers_of_seven", 31);
    for mode in MODES {
        let mut options = ScheduleOptions::new(7, mode);
        options.payloads = 4;
        options.adversaries = vec![AdversaryKind::SplitFork; 2];
        options.attack_probability = 0.5;
        let outcome = test.check(&options);
        assert!(outcome.stats.meta_events_compared > 0);
    }
}

/// Events by made-up keys never enter an honest graph, not even as ancestors of the
/// member's own events: every honest graph knows the genesis members only.
#[test]
fn made_up_creators_never_enter_the_graph() {
    let test = TestRun::new(FILE, "made_up_creators_never_enter_the_graph", 32);
    for mode in MODES {
        let mut options = ScheduleOptions::new(4, mode);
        options.payloads = 3;
        options.adversaries = vec![AdversaryKind::MadeUpCreators];
        options.attack_probability = 0.6;
        let outcome = test.check(&options);
        assert!(outcome.stats.attacks > 0);
        // Only honest engines report their graph's creators.
        let honest: Vec<(usize, usize)> = outcome
            .stats
            .peers
            .iter()
            .map(|stats| stats.graph_creators)
            .enumerate()
            .filter(|&(_, creators)| creators > 0)
            .collect();
        assert_eq!(honest.len(), 3, "three honest graphs: {honest:?}");
        for (peer, creators) in honest {
            assert_eq!(creators, 4, "peer {peer} knows made-up creators");
        }
    }
}

/// Large votes held behind a parent nobody has fill at most the flooder's share of the
/// buffer, in bytes as well as in events; the oldest are dropped with a fault.
#[test]
fn held_votes_are_bounded_in_bytes() {
    let test = TestRun::new(FILE, "held_votes_are_bounded_in_bytes", 33);
    let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
    options.payloads = 3;
    options.adversaries = vec![AdversaryKind::Flood];
    options.attack_probability = 0.8;
    let schedule = sim::Schedule::generate(&options, test.seed()).unwrap();
    let limit = sim::sim_config(&[], options.mode, options.max_events_per_message)
        .max_future_bytes_per_peer;
    let outcome = test.check_schedule(&schedule);
    let mut overflows = 0;
    for (peer, stats) in outcome.stats.peers.iter().enumerate() {
        assert!(
            stats.max_held_bytes <= limit,
            "peer {peer} held {} bytes, over {limit}",
            stats.max_held_bytes
        );
        overflows += outcome.faults[peer]
            .iter()
            .filter(|f| f.kind == FaultKind::BufferOverflow)
            .count();
    }
    assert!(overflows > 0, "the flood never reached the limit");
}

/// A member that forks its chain over and over, each slot into several events spread to
/// everyone: the honest peers still agree and decide.
#[test]
fn many_forks_change_nothing_decided() {
    let test = TestRun::new(FILE, "many_forks_change_nothing_decided", 34);
    for mode in MODES {
        let mut options = ScheduleOptions::new(4, mode);
        options.payloads = 3;
        options.adversaries = vec![AdversaryKind::ManyForks];
        options.attack_probability = 0.8;
        let outcome = test.check(&options);
        assert!(outcome.stats.attacks > 0);
    }
}

fn fork_config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(16);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed_from_env(0xf0_4c)),
        max_shrink_iters: 16,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(fork_config())]

    /// Random fork schedules: 4 to 10 peers, up to the fault bound of forking members
    /// (plain, split or many forks), either mode; agreement and invariant 7 hold (with
    /// every other invariant the simulation checks).
    #[test]
    fn random_fork_schedules_keep_agreement(
        peers in 4usize..=10,
        single in any::<bool>(),
        kinds in proptest::collection::vec(
            proptest::sample::select(vec![
                AdversaryKind::Fork,
                AdversaryKind::SplitFork,
                AdversaryKind::ManyForks,
            ]),
            1..=3,
        ),
        attack in 0.2f64..0.8,
        seed in any::<u64>(),
    ) {
        let mode = if single { ConsensusMode::Single } else { ConsensusMode::Supermajority };
        let mut options = ScheduleOptions::new(peers, mode);
        options.payloads = 2;
        let f = options.max_faulty();
        options.adversaries = kinds.into_iter().take(f).collect();
        options.attack_probability = attack;
        let rerun = format!(
            "PARSEC_SEED={} cargo test -p parsec-sim --test {FILE} -- --exact \
             random_fork_schedules_keep_agreement",
            seed_from_env(0xf0_4c)
        );
        let outcome = sim::run_options(&options, seed, &rerun).unwrap();
        if let Some(failure) = &outcome.failure {
            prop_assert!(false, "{} peers, {:?}, {:?}: {failure}", peers, mode, options.adversaries);
        }
    }
}
