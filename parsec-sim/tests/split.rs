//! The split scheduler (`parsec_sim::split`): an attacker that owns message delivery and
//! reads every peer's meta-votes. Whatever it does, honest peers agree; under a fair
//! scheduler every coin decides; a seed replays a run exactly.

use parsec_coin::CoinKind;
use parsec_sim::fixtures::{Rerun, seeds_from_env, test_command};
use parsec_sim::split::{self, Scheduler, SplitOptions, SplitOutcome};

const COINS: [CoinKind; 3] = [CoinKind::Parity, CoinKind::Concrete, CoinKind::Threshold];

fn play(options: &SplitOptions, seed: u64, test: &str) -> SplitOutcome {
    let _rerun = Rerun::new(seed, test_command("parsec-sim", "split", test));
    let outcome = split::run(options, seed).expect("the run plays");
    outcome.agreement().expect("honest peers agree");
    assert!(
        outcome.faults.is_empty(),
        "seed {seed}: honest engines reported faults: {:?}",
        outcome.faults
    );
    assert!(
        outcome.all_decided(),
        "seed {seed} with the {} coin: not every honest peer decided within {} actions: {:?}",
        options.coin,
        options.max_actions,
        outcome.elections
    );
    outcome
}

#[test]
fn every_coin_decides_under_a_fair_scheduler() {
    for coin in COINS {
        let options = SplitOptions::new(coin, Scheduler::Fair);
        for seed in seeds_from_env(1, 6) {
            let outcome = play(&options, seed, "every_coin_decides_under_a_fair_scheduler");
            assert!(outcome.elections.iter().any(|e| e.decided));
        }
    }
}

#[test]
fn the_split_scheduler_never_breaks_agreement() {
    for coin in COINS {
        let mut options = SplitOptions::new(coin, Scheduler::Split);
        options.elections = 1;
        for seed in seeds_from_env(1, 2) {
            let outcome = play(&options, seed, "the_split_scheduler_never_breaks_agreement");
            eprintln!(
                "{coin} coin, seed {seed}: {} actions, longest stall {} rounds, {:?}",
                outcome.actions,
                outcome.longest_stall(),
                outcome.elections
            );
        }
    }
}

#[test]
fn a_seed_replays_a_split_run_exactly() {
    let mut options = SplitOptions::new(CoinKind::Concrete, Scheduler::Split);
    options.elections = 1;
    let seed = 3;
    let first = play(&options, seed, "a_seed_replays_a_split_run_exactly");
    let again = play(&options, seed, "a_seed_replays_a_split_run_exactly");
    assert_eq!(first.actions, again.actions);
    assert_eq!(first.elections, again.elections);
    let payloads = |o: &SplitOutcome| -> Vec<Vec<String>> {
        o.blocks
            .iter()
            .map(|b| {
                b.iter()
                    .map(|block| format!("{:?}", block.payload))
                    .collect()
            })
            .collect()
    };
    assert_eq!(payloads(&first), payloads(&again));
}

#[test]
fn bad_options_are_errors() {
    let mut options = SplitOptions::new(CoinKind::Concrete, Scheduler::Fair);
    options.faulty = 2;
    assert!(matches!(
        split::run(&options, 1),
        Err(split::SplitError::TooManyFaulty {
            faulty: 2,
            peers: 4
        })
    ));
    options.peers = 1;
    options.faulty = 0;
    assert!(matches!(
        split::run(&options, 1),
        Err(split::SplitError::TooFewPeers(1))
    ));
}
