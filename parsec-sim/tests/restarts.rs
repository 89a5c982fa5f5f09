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
/// half the time, up to one fault of another kind, and one to three restarts; with
/// `pruned`, engines prune to a window of 12 to 24 events per creator.
fn options(seed: u64, pruned: bool) -> ScheduleOptions {
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
    if pruned {
        options.pruning_window = Some(rng.random_range(12..=24));
    }
    options
}

/// What a set of runs added up to.
#[derive(Default)]
struct Totals {
    runs: u64,
    restarts: u64,
    revotes: u64,
    catch_up_events: u64,
    readmitted: u64,
}

/// Runs `seeds` on two threads; returns what they added up to.
fn run_seeds(seeds: Vec<u64>, test: &'static str, pruned: bool) -> Totals {
    let halves: Vec<Vec<u64>> = vec![
        seeds.iter().copied().step_by(2).collect(),
        seeds.iter().copied().skip(1).step_by(2).collect(),
    ];
    let handles: Vec<_> = halves
        .into_iter()
        .map(|seeds| {
            std::thread::spawn(move || {
                let mut totals = Totals::default();
                for seed in seeds {
                    let rerun = fixtures::test_command("parsec-sim", FILE, test);
                    let _guard = Rerun::new(seed, rerun.clone());
                    let options = options(seed, pruned);
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
                    totals.runs += 1;
                    totals.restarts += outcome.stats.restarts;
                    totals.revotes += outcome.stats.revotes;
                    totals.catch_up_events += outcome.stats.catch_up_events;
                    totals.readmitted += outcome.stats.readmitted;
                }
                totals
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| panic!("a seed failed (see above)"))
        })
        .fold(Totals::default(), |a, b| Totals {
            runs: a.runs + b.runs,
            restarts: a.restarts + b.restarts,
            revotes: a.revotes + b.revotes,
            catch_up_events: a.catch_up_events + b.catch_up_events,
            readmitted: a.readmitted + b.readmitted,
        })
}

#[test]
fn restarted_peers_keep_every_invariant() {
    let test = "restarted_peers_keep_every_invariant";
    let seeds = fixtures::seeds_from_env(1, 500);
    let count = seeds.len() as u64;
    let t = run_seeds(seeds, test, false);
    println!(
        "{} runs, {} restarts, {} votes cast again after a lost batch",
        t.runs, t.restarts, t.revotes
    );
    assert_eq!(t.runs, count);
    assert!(t.restarts >= t.runs);
}

/// As above with engines that prune their memory to a small window: a restarted peer is
/// caught up from its peers' stores, and its late events (persisted before the crash,
/// sent after it) name parents its peers pruned meanwhile, which they re-admit from their
/// stores (spec §12.5).
#[test]
fn pruned_peers_restart_catch_up_and_are_caught_up_with() {
    let test = "pruned_peers_restart_catch_up_and_are_caught_up_with";
    let seeds = fixtures::seeds_from_env(1, 500);
    let count = seeds.len() as u64;
    let t = run_seeds(seeds, test, true);
    println!(
        "{} runs, {} restarts, {} events served from stores, {} pruned parents re-admitted",
        t.runs, t.restarts, t.catch_up_events, t.readmitted
    );
    assert_eq!(t.runs, count);
    assert!(t.restarts >= t.runs);
    if count >= 100 {
        assert!(t.catch_up_events > 0, "no catch-up from a store was needed");
        assert!(t.readmitted > 0, "no late event needed a re-admission");
    }
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
