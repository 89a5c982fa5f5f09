//! A faulty third (the original release's tests): with `f = (n - 1) / 3` of ten peers
//! silent or crashing, the others still agree and decide every payload (spec §15).
//!
//! Each test takes its seed from `PARSEC_SEED` if set; a failure prints the seed and the
//! command that replays it.

use parsec_graph::ConsensusMode;
use parsec_sim::sim::harness::TestRun;
use parsec_sim::sim::{AdversaryKind, Crashes, ScheduleOptions};

const FILE: &str = "faulty";
const PEERS: usize = 10;
const PAYLOADS: usize = 10;

fn options() -> ScheduleOptions {
    let mut options = ScheduleOptions::new(PEERS, ConsensusMode::Supermajority);
    options.payloads = PAYLOADS;
    options
}

/// A third of the peers never gossip at all (never send, never answer).
#[test]
fn faulty_third_never_gossip() {
    let test = TestRun::new(FILE, "faulty_third_never_gossip", 11);
    let mut options = options();
    options.adversaries = vec![AdversaryKind::NeverGossip; options.max_faulty()];
    let outcome = test.check(&options);
    assert_eq!(outcome.stats.stable_blocks, PAYLOADS as u64);
    assert!(outcome.stats.undeliverable > 0);
}

/// A third of the peers crash together, halfway through the voting.
#[test]
fn faulty_third_terminate_concurrently() {
    let test = TestRun::new(FILE, "faulty_third_terminate_concurrently", 12);
    let mut options = options();
    options.crashes = Crashes::Together {
        count: options.max_faulty(),
        step: None,
    };
    let outcome = test.check(&options);
    assert_eq!(outcome.stats.stable_blocks, PAYLOADS as u64);
}

/// A third of the peers crash, each at its own random step.
#[test]
fn faulty_third_terminate_at_random_points() {
    let test = TestRun::new(FILE, "faulty_third_terminate_at_random_points", 13);
    let mut options = options();
    options.crashes = Crashes::Random {
        count: options.max_faulty(),
    };
    let outcome = test.check(&options);
    assert_eq!(outcome.stats.stable_blocks, PAYLOADS as u64);
}
