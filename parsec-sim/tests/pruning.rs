//! Pruning is invisible to consensus (spec §12.1, §15 invariant 9): the same seeded
//! schedule, run once with every event kept in memory and once with a tiny pruning
//! window, gives every honest peer the same blocks in the same order, with every
//! invariant holding in both runs. Mixed faults: forks, double votes, crashes, lossy and
//! reordering links, both modes and every coin.
//!
//! `PARSEC_SEED=<n>` replays one seed; `PARSEC_SEEDS=<n>` runs more (default 200).

use parsec_coin::CoinKind;
use parsec_graph::ConsensusMode;
use parsec_sim::fixtures::{self, Rerun};
use parsec_sim::sim::{AdversaryKind, Crashes, NetworkConditions, Schedule, ScheduleOptions, run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FILE: &str = "pruning";

/// Seed `seed`'s options and its pruning window (1 to 8 events per creator).
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
        options.network = NetworkConditions {
            drop: 0.05,
            reorder: 0.1,
            reorder_window: 3,
            ..NetworkConditions::PERFECT
        };
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
    (options, 24 + rng.random_range(0..=8))
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

/// Runs `seeds` both ways; returns (runs, events pruned, blocks compared).
fn compare(seeds: Vec<u64>) -> (u64, u64, u64) {
    let (mut runs, mut pruned, mut blocks) = (0, 0, 0);
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
        let full = run(&kept, &rerun);
        let lean = run(&small, &rerun);
        for outcome in [&full, &lean] {
            if let Some(failure) = &outcome.failure {
                panic!(
                    "seed {seed} (window {window}): {failure}\nstats: {}",
                    outcome.stats
                );
            }
        }
        assert_eq!(
            full.stats.pruned_events, 0,
            "seed {seed}: nothing pruned when off"
        );
        assert_eq!(
            full.blocks, lean.blocks,
            "seed {seed}: window {window} changed some honest peer's blocks"
        );
        runs += 1;
        pruned += lean.stats.pruned_events;
        blocks += lean.blocks.iter().map(|b| b.len() as u64).sum::<u64>();
    }
    (runs, pruned, blocks)
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
    let (mut runs, mut pruned, mut blocks) = (0, 0, 0);
    for handle in handles {
        let (r, p, b) = handle.join().expect("a half panicked");
        runs += r;
        pruned += p;
        blocks += b;
    }
    println!("{runs} seeds run both ways; {blocks} blocks compared; {pruned} events pruned");
    assert_eq!(runs, seeds.len() as u64);
    assert!(
        seeds.len() < 20 || pruned > 0,
        "the small window pruned nothing: the test would prove nothing"
    );
}
