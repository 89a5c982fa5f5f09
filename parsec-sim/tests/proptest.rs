//! Agreement, validity, termination and the other invariants of spec §15 under random
//! conditions: 1 to 16 peers, either mode, every fault mix, network mix and vote timing.
//!
//! The case count is small by default (`PROPTEST_CASES` sets it); the cases come from a
//! fixed seed, `PARSEC_SEED` picks another. A failing case prints its recipe and the soak
//! command that replays exactly that scenario.

#![allow(clippy::unwrap_used)]

use parsec_graph::ConsensusMode;
use parsec_sim::fixtures;
use parsec_sim::sim::{self, FaultMix, NetworkMix, Recipe, VoteMix};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Cases run when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 24;

/// The seed of the cases when `PARSEC_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5eed;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed = fixtures::seed_from_env(DEFAULT_SEED);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // Each case is a whole simulation: shrink a little, not for ever.
        max_shrink_iters: 32,
        failure_persistence: None,
        ..Config::default()
    }
}

fn recipe() -> impl Strategy<Value = Recipe> {
    (
        1usize..=16,
        prop_oneof![
            Just(ConsensusMode::Supermajority),
            Just(ConsensusMode::Single)
        ],
        1usize..=4,
        proptest::sample::select(FaultMix::ALL),
        proptest::sample::select(NetworkMix::ALL),
        proptest::sample::select(VoteMix::ALL),
        any::<u64>(),
    )
        .prop_map(
            |(peers, mode, payloads, faults, network, votes, seed)| Recipe {
                peers,
                mode,
                payloads,
                faults,
                network,
                votes,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn agreement_under_various_conditions(recipe in recipe()) {
        let replay = format!(
            "cargo run --release -p parsec-sim --bin soak -- --scenario \"{recipe}\""
        );
        let outcome = sim::run_options(&recipe.options(), recipe.seed, &replay);
        prop_assert!(outcome.is_ok(), "{recipe}: {:?}", outcome.err());
        let outcome = outcome.unwrap();
        if let Some(failure) = &outcome.failure {
            prop_assert!(
                false,
                "{recipe}: {} (step {})\nstats: {}\nreplay this scenario: {replay}\n\
                 rerun the property's cases: PARSEC_SEED={} cargo test -p parsec-sim \
                 --test proptest -- --exact agreement_under_various_conditions",
                failure.violation,
                failure.step,
                outcome.stats,
                fixtures::seed_from_env(DEFAULT_SEED),
            );
        }
    }
}
