//! Honest networks (the original release's first tests): every vote is decided by every
//! peer, in the same order, with valid proofs, no fault and no warning (spec §15).
//!
//! Each test takes its seed from `PARSEC_SEED` if set; a failure prints the seed and the
//! command that replays it.

#![allow(clippy::unwrap_used)]

use parsec_graph::{ConsensusMode, Observation};
use parsec_sim::sim::harness::TestRun;
use parsec_sim::sim::{self, Delay, ScheduleOptions, VoteTiming};

const FILE: &str = "honest";

/// Four peers (the smallest network whose supermajority is less than all of it) agree on
/// one payload.
#[test]
fn minimal_network() {
    let test = TestRun::new(FILE, "minimal_network", 1);
    let outcome = test.check(&ScheduleOptions::new(4, ConsensusMode::Supermajority));
    assert_eq!(outcome.stats.stable_blocks, 1);
    for blocks in &outcome.blocks {
        assert_eq!(blocks.len(), 2, "genesis and the payload");
    }
}

/// Every peer votes ten payloads before anyone gossips.
#[test]
fn multiple_votes_before_gossip() {
    let test = TestRun::new(FILE, "multiple_votes_before_gossip", 2);
    let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
    options.payloads = 10;
    options.votes = VoteTiming::BeforeGossip;
    let outcome = test.check(&options);
    assert_eq!(outcome.stats.stable_blocks, 10);
}

/// Every peer votes ten payloads while gossip runs, one every three steps on average.
#[test]
fn multiple_votes_during_gossip() {
    let test = TestRun::new(FILE, "multiple_votes_during_gossip", 3);
    let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
    options.payloads = 10;
    let outcome = test.check(&options);
    assert_eq!(outcome.stats.stable_blocks, 10);
}

/// Applications vote payloads again before gossip starts: the engine refuses the repeats
/// and every payload is decided once.
#[test]
fn duplicate_votes_before_gossip() {
    let test = TestRun::new(FILE, "duplicate_votes_before_gossip", 4);
    let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
    options.payloads = 5;
    options.votes = VoteTiming::BeforeGossip;
    options.duplicate_votes = 0.5;
    let outcome = test.check(&options);
    assert_eq!(outcome.stats.stable_blocks, 5);
    assert!(outcome.stats.duplicate_votes_refused > 0);
}

/// A random schedule on a network without delays (every sync completes at once): seven
/// peers, each starting a sync in half of the steps and voting in a quarter of them.
#[test]
fn random_schedule_no_delays() {
    let test = TestRun::new(FILE, "random_schedule_no_delays", 5);
    let mut options = ScheduleOptions::new(7, ConsensusMode::Supermajority);
    options.payloads = 10;
    options.network.delay = Delay::None;
    options.gossip_probability = 0.5;
    options.votes = VoteTiming::Probability(0.25);
    let outcome = test.check(&options);
    assert_eq!(outcome.stats.stable_blocks, 10);
}

/// `Single` mode: each vote is decided on its own, one block per (payload, voter), with
/// exactly that voter's proof, also for payloads only some peers vote.
#[test]
fn consensus_mode_single() {
    let test = TestRun::new(FILE, "consensus_mode_single", 6);
    let mut options = ScheduleOptions::new(5, ConsensusMode::Single);
    options.payloads = 4;
    options.partial_payloads = 2;
    let outcome = test.check(&options);
    let opaque_votes: usize = outcome
        .votes
        .iter()
        .map(|votes| votes.iter().filter(|v| v.is_opaque()).count())
        .sum();
    assert!(opaque_votes > 5 * 4, "some partial payloads were voted");
    for blocks in &outcome.blocks {
        assert!(matches!(blocks[0].payload, Observation::Genesis { .. }));
        let singles: Vec<_> = blocks.iter().filter(|b| b.payload.is_opaque()).collect();
        assert_eq!(singles.len(), opaque_votes, "every vote decided once");
        assert!(singles.iter().all(|b| b.proofs.len() == 1));
    }
}

/// The same seed gives the same run: blocks, faults and every counter.
#[test]
fn same_seed_same_run() {
    let test = TestRun::new(FILE, "same_seed_same_run", 7);
    let mut options = ScheduleOptions::new(5, ConsensusMode::Supermajority);
    options.payloads = 4;
    options.network.delay = Delay::Uniform { min: 0, max: 2 };
    options.network.drop = 0.1;
    let run = || sim::run_options(&options, test.seed(), test.rerun()).unwrap();
    let (first, second) = (run(), run());
    assert!(first.failure.is_none(), "{}", first.failure.unwrap());
    assert_eq!(first.blocks, second.blocks);
    assert_eq!(first.faults, second.faults);
    let counters = |s: &sim::Stats| {
        (
            s.steps,
            s.peers.clone(),
            s.links,
            s.stable_blocks,
            s.largest_graph,
        )
    };
    assert_eq!(counters(&first.stats), counters(&second.stats));
}
