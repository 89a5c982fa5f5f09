//! Helpers for tests: seeds from `PARSEC_SEED`, replay commands, and runs that panic with
//! both on failure.
//!
//! ```
//! use parsec_graph::ConsensusMode;
//! use parsec_sim::sim::ScheduleOptions;
//! use parsec_sim::sim::harness::TestRun;
//!
//! // In `tests/honest.rs`: seed 4 unless PARSEC_SEED says otherwise.
//! let test = TestRun::new("honest", "four_peers", 4);
//! let outcome = test.check(&ScheduleOptions::new(4, ConsensusMode::Supermajority));
//! // A failing assertion from here on also prints the replay command.
//! assert_eq!(outcome.stats.stable_blocks, 1);
//! ```

use parsec_coin::CoinKind;

use super::{Outcome, Schedule, ScheduleOptions, run, run_options};
pub use crate::fixtures::seed_from_env;
use crate::fixtures::{Rerun, test_command};

/// The command that runs test `test` of integration-test file `file` of this crate.
pub fn rerun_command(file: &str, test: &str) -> String {
    test_command("parsec-sim", file, test)
}

/// One simulation test: its seed (`PARSEC_SEED`, else a default) and its replay command.
///
/// While it is alive, any panic on the thread (an invariant or a test's own assertion)
/// also prints `PARSEC_SEED=<seed>` and the command that replays the test (it holds a
/// [`Rerun`] guard).
#[derive(Debug)]
pub struct TestRun {
    rerun: Rerun,
}

impl TestRun {
    /// The test `test` in integration-test file `file`, seeded from `PARSEC_SEED` or
    /// `default_seed`.
    ///
    /// # Panics
    /// If `PARSEC_SEED` is set but is not a `u64`.
    pub fn new(file: &str, test: &str, default_seed: u64) -> Self {
        TestRun {
            rerun: Rerun::new(seed_from_env(default_seed), rerun_command(file, test)),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.rerun.seed()
    }

    /// The command that replays the test with `PARSEC_SEED` set.
    pub fn rerun(&self) -> &str {
        self.rerun.command()
    }

    /// Runs the schedule of `options` with this test's seed, prints its statistics, and
    /// returns its outcome.
    ///
    /// # Panics
    /// If the options are invalid or an invariant is violated.
    ///
    /// Tests that leave the coin at its default (the parity coin) run the same schedule with
    /// the concrete and the threshold coin too, each checked for every invariant; the
    /// parity run's outcome is returned.
    pub fn check(&self, options: &ScheduleOptions) -> Outcome {
        let first = self.check_with(options);
        if options.coin == CoinKind::Parity {
            for coin in [CoinKind::Concrete, CoinKind::Threshold] {
                let mut other = options.clone();
                other.coin = coin;
                self.check_with(&other);
            }
        }
        first
    }

    fn check_with(&self, options: &ScheduleOptions) -> Outcome {
        match run_options(options, self.seed(), self.rerun()) {
            Ok(outcome) => report(outcome, options.coin),
            Err(error) => panic!("bad schedule options: {error}"),
        }
    }

    /// Runs `schedule` (drawn with [`TestRun::seed`]), prints its statistics, and returns its
    /// outcome.
    ///
    /// # Panics
    /// If an invariant is violated.
    pub fn check_schedule(&self, schedule: &Schedule) -> Outcome {
        report(run(schedule, self.rerun()), schedule.coin)
    }
}

fn report(outcome: Outcome, coin: CoinKind) -> Outcome {
    if let Some(failure) = &outcome.failure {
        panic!("{coin} coin: {failure}\nstats: {}", outcome.stats);
    }
    println!(
        "PARSEC_SEED={} ({coin} coin): {}",
        outcome.stats.seed, outcome.stats
    );
    outcome
}
