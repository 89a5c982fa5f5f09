//! Every coin in a run that needs it. Random schedules almost never split the aux values
//! (one run in the 1,000 of `soak --seed 1` does: 16 peers, crashes, a lossy network); that
//! run must decide with the parity, concrete and threshold coins alike, and must really
//! have consulted the coin, or it shows nothing about the coin.

#![allow(clippy::unwrap_used)]

use parsec_coin::CoinKind;
use parsec_sim::sim::{self, Recipe};

const NEEDS_THE_COIN: &str = "peers=16 mode=supermajority payloads=2 faults=crash \
                              network=lossy votes=one-in-three seed=11713817333203705726";

#[test]
fn a_run_that_needs_the_coin_decides_with_every_coin() {
    let recipe: Recipe = NEEDS_THE_COIN.parse().unwrap();
    for coin in [CoinKind::Parity, CoinKind::Concrete, CoinKind::Threshold] {
        let mut options = recipe.options();
        options.coin = coin;
        let rerun = format!(
            "cargo run --release -p parsec-sim --bin soak -- --coin {coin} --scenario '{NEEDS_THE_COIN}'"
        );
        let outcome = sim::run_options(&options, recipe.seed, &rerun).unwrap();
        if let Some(failure) = &outcome.failure {
            panic!("{coin} coin: {failure}");
        }
        println!("{coin} coin: {}", outcome.stats);
        assert!(
            outcome.stats.coins_needed > 0,
            "{coin} coin: the run no longer needs the coin, so it tests nothing about it"
        );
        assert_eq!(outcome.stats.stable_blocks, 2, "{coin} coin");
    }
}
