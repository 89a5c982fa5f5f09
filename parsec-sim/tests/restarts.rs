//! Honest peers crash at every point that matters to durability (between steps, after
//! persisting but before sending, in the middle of a store batch, right after a
//! decision) and restart from their store (spec §13): every invariant holds, none forks
//! its own chain (the simulator's no-honest-fork check), no decided block is lost,
//! repeated or reordered across the restart (`Invariant::Durability`), and each restarted
//! peer catches up and decides everything (termination).
//!
//! `PARSEC_SEED=<n>` replays one seed; `PARSEC_SEEDS=<n>` runs more.

use parsec_coin::CoinKind;
use parsec_graph::ConsensusMode;
use parsec_sim::fixtures::{self, Rerun};
use parsec_sim::sim::{
    AdversaryKind, Crashes, NetworkConditions, Schedule, ScheduleOptions, StoreBackend,
    run_with_stores,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FILE: &str = "restarts";
const PAYLOADS: usize = 4;

/// The options of seed `seed`: 4 to 7 peers, either mode, a lossy and reordering network
/// half the time, up to one fault of another kind, and one to three restarts.
fn options(seed: u64) -> ScheduleOptions {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let peers = rng.random_range(4..=7);
    let mode = if rng.random_bool(0.5) {
        ConsensusMode::Supermajority
    } else {
        ConsensusMode::Single
    };
    let mut options = ScheduleOptions::new(peers, mode);
    options.payloads = PAYLOADS;
    if rng.random_bool(0.5) {
        options.network = NetworkConditions::LOSSY;
    }
    match rng.random_range(0..4) {
        0 => options.adversaries = vec![AdversaryKind::Fork],
        1 => options.adversaries = vec![AdversaryKind::DoubleVote],
        2 => options.crashes = Crashes::Random { count: 1 },
        _ => {}
    }
    options.restarts = rng.random_range(1..=3).min(peers - options.faulty());
    options.coin =
        [CoinKind::Parity, CoinKind::Concrete, CoinKind::Threshold][rng.random_range(0..3)];
    options
}

/// Runs `seeds` on two threads; returns (runs, restarts, revotes) summed.
fn run_seeds(seeds: Vec<u64>, test: &'static str) -> (u64, u64, u64) {
    let halves: Vec<Vec<u64>> = vec![
        seeds.iter().copied().step_by(2).collect(),
        seeds.iter().copied().skip(1).step_by(2).collect(),
    ];
    let handles: Vec<_> = halves
        .into_iter()
        .map(|seeds| {
            std::thread::spawn(move || {
                let (mut runs, mut restarts, mut revotes) = (0, 0, 0);
                for seed in seeds {
                    let rerun = fixtures::test_command("parsec-sim", FILE, test);
                    let _guard = Rerun::new(seed, rerun.clone());
                    let options = options(seed);
                    let schedule = Schedule::generate(&options, seed)
                        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                    assert_eq!(schedule.restarting.len(), options.restarts);
                    let outcome = run_with_stores(&schedule, &rerun, StoreBackend::Memory);
                    if let Some(failure) = &outcome.failure {
                        panic!("{failure}\nstats: {}", outcome.stats);
                    }
                    assert_eq!(
                        outcome.stats.restarts, options.restarts as u64,
                        "seed {seed}: every planned restart happened"
                    );
                    runs += 1;
                    restarts += outcome.stats.restarts;
                    revotes += outcome.stats.revotes;
                }
                (runs, restarts, revotes)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| panic!("a seed failed (see above)"))
        })
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

#[test]
fn restarted_peers_keep_every_invariant() {
    let test = "restarted_peers_keep_every_invariant";
    let seeds = fixtures::seeds_from_env(1, 500);
    let count = seeds.len() as u64;
    let (runs, restarts, revotes) = run_seeds(seeds, test);
    println!("{runs} runs, {restarts} restarts, {revotes} votes cast again after a lost batch");
    assert_eq!(runs, count);
    assert!(restarts >= runs);
}

#[test]
fn a_schedule_without_restarts_is_unchanged_by_the_restart_plan() {
    // The plan draws from its own stream: the same options with restarts have the same
    // actions once the crash and restart actions are taken out.
    let mut options = ScheduleOptions::new(5, ConsensusMode::Supermajority);
    options.payloads = 3;
    let plain = Schedule::generate(&options, 42).unwrap_or_else(|e| panic!("{e}"));
    options.restarts = 2;
    let restarting = Schedule::generate(&options, 42).unwrap_or_else(|e| panic!("{e}"));
    let strip = |schedule: &Schedule| -> Vec<Vec<parsec_sim::sim::Action>> {
        schedule
            .steps
            .iter()
            .map(|step| {
                step.iter()
                    .filter(|a| {
                        !matches!(
                            a,
                            parsec_sim::sim::Action::CrashAt { .. }
                                | parsec_sim::sim::Action::Restart { .. }
                        )
                    })
                    .cloned()
                    .collect()
            })
            .collect()
    };
    let mut stripped = strip(&restarting);
    while stripped.len() > plain.steps.len() && stripped.last().is_some_and(Vec::is_empty) {
        stripped.pop();
    }
    assert_eq!(stripped, plain.steps);
    assert_eq!(restarting.restarting.len(), 2);
    // More restarts than peers that may restart is refused.
    options.restarts = 6;
    assert!(Schedule::generate(&options, 42).is_err());
}
