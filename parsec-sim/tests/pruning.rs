//! Pruning is invisible to consensus (spec §12.1, §15 invariant 9): the same seeded
//! schedule, run once with every event kept in memory and once with a tiny pruning
//! window (12 to 24 events per creator), gives every honest peer the same blocks in the
//! same order, with every invariant holding in both runs. Such windows are close to the
//! lag of live peers, so peers are often caught up from their stores, whose messages
//! must then be exactly the unpruned engine's. (Below about 8, a sync's answer can name
//! as parent our own request of a few events ago that was pruned already, and waits.) Mixed faults: forks, double votes, crashes, lossy and
//! reordering links, both modes and every coin.
//!
//! `PARSEC_SEED=<n>` replays one seed; `PARSEC_SEEDS=<n>` runs more (default 200).

use parsec_coin::CoinKind;
use parsec_graph::ConsensusMode;
use parsec_sim::fixtures::{self, Rerun};
use parsec_sim::sim::{
    AdversaryKind, Crashes, NetworkConditions, Schedule, ScheduleOptions, StoreBackend,
    run_with_stores,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FILE: &str = "pruning";

/// Seed `seed`'s options and its pruning window.
fn options(seed: u64) -> (ScheduleOptions, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let peers = rng.random_range(4..=7);
    let mode = if rng.random_bool(0.5) {
        ConsensusMode::Supermajority
    } else {
        ConsensusMode::Single
    };
    let mut options = ScheduleOptions::new(peers, mode);
    options.payloads = rng.random_range(3..=8);
    if rng.random_bool(0.5) {
        options.network = NetworkConditions::LOSSY;
    }
    match rng.random_range(0..5) {
        0 => options.adversaries = vec![AdversaryKind::Fork],
        1 => options.adversaries = vec![AdversaryKind::DoubleVote],
        2 => options.crashes = Crashes::Random { count: 1 },
        3 => options.adversaries = vec![AdversaryKind::Fork; options.max_faulty()],
        _ => {}
    }
    options.coin =
        [CoinKind::Parity, CoinKind::Concrete, CoinKind::Threshold][rng.random_range(0..3)];
    (options, rng.random_range(12..=24))
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("PARSEC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("PARSEC_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    (0..count).collect()
}

/// What the seeds of one thread did.
#[derive(Default)]
struct Totals {
    runs: u64,
    pruned: u64,
    blocks: u64,
    served: u64,
}

/// Runs `seeds` both ways.
fn compare(seeds: Vec<u64>) -> Totals {
    let mut totals = Totals::default();
    for seed in seeds {
        let rerun = fixtures::test_command("parsec-sim", FILE, "pruning_changes_no_block");
        let _guard = Rerun::new(seed, rerun.clone());
        let (mut options, window) = options(seed);
        options.pruning_window = None;
        let kept =
            Schedule::generate(&options, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        options.pruning_window = Some(window);
        let small =
            Schedule::generate(&options, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        // Stores in both runs: pruned peers serve what others lack from theirs.
        let full = run_with_stores(&kept, &rerun, StoreBackend::Memory);
        let lean = run_with_stores(&small, &rerun, StoreBackend::Memory);
        for outcome in [&full, &lean] {
            if let Some(failure) = &outcome.failure {
                panic!(
                    "seed {seed} (window {window}): {failure}\nstats: {}",
                    outcome.stats
                );
            }
        }
        assert_eq!(full.stats.pruned_events, 0, "seed {seed}: pruned when off");
        assert_eq!(full.stats.catch_ups, 0, "seed {seed}: catch-up when off");
        assert_eq!(lean.stats.catch_ups_unserved, 0, "seed {seed}");
        assert_eq!(
            full.blocks, lean.blocks,
            "seed {seed}: window {window} changed some honest peer's blocks"
        );
        totals.runs += 1;
        totals.pruned += lean.stats.pruned_events;
        totals.served += lean.stats.catch_up_events;
        totals.blocks += lean.blocks.iter().map(|b| b.len() as u64).sum::<u64>();
    }
    totals
}

#[test]
fn pruning_changes_no_block() {
    let seeds = seeds();
    let halves: Vec<Vec<u64>> = vec![
        seeds.iter().copied().step_by(2).collect(),
        seeds.iter().copied().skip(1).step_by(2).collect(),
    ];
    let handles: Vec<_> = halves
        .into_iter()
        .map(|half| std::thread::spawn(move || compare(half)))
        .collect();
    let mut all = Totals::default();
    for handle in handles {
        let totals = handle.join().expect("a half panicked");
        all.runs += totals.runs;
        all.pruned += totals.pruned;
        all.blocks += totals.blocks;
        all.served += totals.served;
    }
    println!(
        "{} seeds run both ways; {} blocks compared; {} events pruned; {} events served \
         from stores",
        all.runs, all.blocks, all.pruned, all.served
    );
    assert_eq!(all.runs, seeds.len() as u64);
    assert!(
        seeds.len() < 20 || all.pruned > 0,
        "the small window pruned nothing: the test would prove nothing"
    );
    assert!(
        seeds.len() < 20 || all.served > 0,
        "no peer lagged beyond the window: the catch-up path went untried"
    );
}
