//! The soak runner: many random scenarios, every invariant checked on each, and a summary.
//!
//! ```text
//! cargo run --release -p parsec-sim --bin soak -- --runs 1000 --seed 1
//! PARSEC_SEED=<scenario seed> cargo run --release -p parsec-sim --bin soak -- --replay
//! cargo run --release -p parsec-sim --bin soak -- --scenario "peers=7 mode=single ..."
//! ```
//!
//! Options: `--runs N` (default 100), `--seed S` (default `PARSEC_SEED` or 1) picks the
//! scenario seeds, `--max-peers P` (default 16), `--replay [X]` runs the one scenario drawn
//! from seed `X` (default `PARSEC_SEED`), `--scenario LINE` runs the scenario printed as
//! `LINE`, `--coin K` (parity, the default, concrete or threshold) picks every engine's coin,
//! `--verbose` prints every run. Each scenario is a [`Recipe`] drawn from its own
//! seed; a failure prints that seed and the command that replays it. The exit code is 1 if
//! any run failed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parsec_coin::CoinKind;
use parsec_graph::ConsensusMode;
use parsec_sim::sim::{self, Recipe, Stats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const REPLAY: &str = "cargo run --release -p parsec-sim --bin soak -- --replay";

struct Args {
    runs: u64,
    seed: u64,
    max_peers: usize,
    replay: Option<u64>,
    scenario: Option<Recipe>,
    verbose: bool,
    coin: CoinKind,
}

fn env_seed() -> anyhow::Result<Option<u64>> {
    match std::env::var("PARSEC_SEED") {
        Ok(value) => {
            Ok(Some(value.trim().parse().with_context(|| {
                format!("PARSEC_SEED={value:?} is not a u64")
            })?))
        }
        Err(_) => Ok(None),
    }
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        runs: 100,
        seed: env_seed()?.unwrap_or(1),
        max_peers: 16,
        replay: None,
        scenario: None,
        verbose: false,
        coin: CoinKind::Parity,
    };
    let mut words = std::env::args().skip(1).peekable();
    while let Some(word) = words.next() {
        fn value(words: &mut impl Iterator<Item = String>, name: &str) -> anyhow::Result<String> {
            words
                .next()
                .with_context(|| format!("{name} needs a value"))
        }
        match word.as_str() {
            "--runs" => args.runs = value(&mut words, "--runs")?.parse().context("--runs")?,
            "--seed" => args.seed = value(&mut words, "--seed")?.parse().context("--seed")?,
            "--max-peers" => {
                args.max_peers = value(&mut words, "--max-peers")?
                    .parse()
                    .context("--max-peers")?;
            }
            "--replay" => {
                let explicit = match words.peek() {
                    Some(next) if !next.starts_with("--") => {
                        Some(value(&mut words, "--replay")?.parse().context("--replay")?)
                    }
                    _ => None,
                };
                let seed = explicit.or(env_seed()?);
                args.replay = Some(seed.context("--replay needs a seed or PARSEC_SEED")?);
            }
            "--scenario" => {
                args.scenario = Some(
                    value(&mut words, "--scenario")?
                        .parse()
                        .context("--scenario")?,
                );
            }
            "--verbose" => args.verbose = true,
            "--coin" => args.coin = value(&mut words, "--coin")?.parse()?,
            "--help" | "-h" => {
                println!(
                    "usage: soak [--runs N] [--seed S] [--max-peers P] [--replay [X]] \
                     [--scenario LINE] [--coin parity|concrete|threshold] [--verbose]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(args)
}

/// One run's result.
struct Run {
    recipe: Recipe,
    stats: Stats,
    failure: Option<String>,
}

fn run_one(recipe: Recipe, coin: CoinKind) -> Run {
    let mut options = recipe.options();
    options.coin = coin;
    let replay = if coin == CoinKind::Parity {
        REPLAY.to_string()
    } else {
        format!("cargo run --release -p parsec-sim --bin soak -- --coin {coin} --replay")
    };
    match sim::run_options(&options, recipe.seed, &replay) {
        Ok(outcome) => Run {
            recipe,
            failure: outcome.failure.map(|f| f.to_string()),
            stats: outcome.stats,
        },
        Err(error) => Run {
            recipe,
            failure: Some(format!("the recipe gives no schedule: {error}")),
            stats: Stats::default(),
        },
    }
}

fn print_run(run: &Run) {
    let verdict = if run.failure.is_some() { "FAIL" } else { "ok" };
    println!("{verdict:4} {}: {}", run.recipe, run.stats);
    if let Some(failure) = &run.failure {
        println!("     {}", failure.replace('\n', "\n     "));
    }
}

/// A group of runs in the summary table.
#[derive(Default)]
struct Group {
    runs: u64,
    failed: u64,
    steps: u64,
    ratios: Vec<f64>,
    blocks: u64,
    engine: Duration,
    cpu: Duration,
    wall: Duration,
    messages: u64,
    bytes: u64,
    elections: u64,
    elections_needing_coin: u64,
}

impl Group {
    fn add(&mut self, run: &Run) {
        self.runs += 1;
        self.failed += u64::from(run.failure.is_some());
        self.steps += run.stats.steps;
        if let Some(ratio) = run.stats.rounds_per_stable_block() {
            self.ratios.push(ratio);
        }
        self.blocks += run.stats.stable_blocks;
        self.engine += run.stats.engine_time;
        self.cpu += run.stats.cpu_time.unwrap_or_default();
        self.wall += run.stats.wall_time;
        self.messages += run.stats.messages();
        self.bytes += run.stats.bytes();
        self.elections += run.stats.elections;
        self.elections_needing_coin += run.stats.elections_needing_coin;
    }

    fn row(&mut self, name: &str) -> String {
        self.ratios.sort_by(f64::total_cmp);
        let at = |q: f64| -> String {
            if self.ratios.is_empty() {
                return "-".to_string();
            }
            let i = ((self.ratios.len() - 1) as f64 * q).round() as usize;
            format!("{:.2}", self.ratios[i])
        };
        let mean = if self.ratios.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{:.2}",
                self.ratios.iter().sum::<f64>() / self.ratios.len() as f64
            )
        };
        let per_block = |time: Duration| {
            if self.blocks == 0 || time.is_zero() {
                "-".to_string()
            } else {
                format!("{:.2}", time.as_secs_f64() * 1e3 / self.blocks as f64)
            }
        };
        let runs = self.runs.max(1);
        format!(
            "{name:<26} {:>6} {:>6} {:>8.1} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7} {:>8} {:>8.2} \
             {:>6.2}",
            self.runs,
            self.failed,
            self.steps as f64 / runs as f64,
            mean,
            at(0.5),
            at(0.95),
            at(1.0),
            per_block(self.engine),
            per_block(self.cpu),
            self.messages / runs,
            self.bytes / runs / 1024,
            self.wall.as_secs_f64(),
            100.0 * self.elections_needing_coin as f64 / self.elections.max(1) as f64
        )
    }
}

fn summary(runs: &[Run], seed: u64, max_peers: usize, coin: CoinKind, elapsed: Duration) {
    let mut all = Group::default();
    let mut groups: BTreeMap<(u8, String), Group> = BTreeMap::new();
    for run in runs {
        all.add(run);
        let r = run.recipe;
        let mode = match r.mode {
            ConsensusMode::Supermajority => "supermajority",
            ConsensusMode::Single => "single",
        };
        let peers = match r.peers {
            1..=3 => "1-3",
            4..=7 => "4-7",
            8..=11 => "8-11",
            _ => "12-16",
        };
        for key in [
            (0, format!("mode={mode}")),
            (1, format!("peers={peers}")),
            (2, format!("faults={}", r.faults.name())),
            (3, format!("network={}", r.network.name())),
            (4, format!("votes={}", r.votes.name())),
        ] {
            groups.entry(key).or_default().add(run);
        }
    }
    println!();
    println!(
        "soak summary: {} runs from --seed {seed} (1-{max_peers} peers, {coin} coin), {:.1} s",
        runs.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "{:<26} {:>6} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7} {:>8} {:>8} {:>6}",
        "",
        "runs",
        "failed",
        "steps",
        "r/blk",
        "median",
        "p95",
        "max",
        "eng ms",
        "cpu ms",
        "msgs",
        "KiB",
        "time s",
        "coin%"
    );
    println!("{}", all.row("all"));
    for ((_, name), group) in groups.iter_mut() {
        println!("{}", group.row(name));
    }
    println!(
        "(steps: mean gossip rounds per run; r/blk: rounds per stable block, mean, median, p95 \
         and max over runs; eng ms, cpu ms: honest engines' time and the run's CPU time per \
         stable block; msgs, KiB: sent per run; time: wall time of the runs; coin%: elections \
         that needed the coin, in percent)"
    );
    let failures: Vec<&Run> = runs.iter().filter(|r| r.failure.is_some()).collect();
    if failures.is_empty() {
        println!("no failures");
    } else {
        println!("{} failures:", failures.len());
        for run in failures {
            print_run(run);
        }
    }
}

fn main() -> ExitCode {
    match soak() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("soak: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn soak() -> anyhow::Result<bool> {
    let args = parse_args()?;
    let single = match (args.scenario, args.replay) {
        (Some(recipe), _) => Some(recipe),
        (None, Some(seed)) => Some(Recipe::random(seed, args.max_peers)),
        (None, None) => None,
    };
    if let Some(recipe) = single {
        let run = run_one(recipe, args.coin);
        print_run(&run);
        return Ok(run.failure.is_none());
    }
    let mut seeds = ChaCha8Rng::seed_from_u64(args.seed);
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut runs = Vec::with_capacity(args.runs as usize);
    let mut failed = 0;
    for i in 0..args.runs {
        let recipe = Recipe::random(seeds.random(), args.max_peers);
        let run = run_one(recipe, args.coin);
        failed += usize::from(run.failure.is_some());
        if args.verbose || run.failure.is_some() {
            print_run(&run);
        }
        let done = i + 1;
        if tty || done % 50 == 0 || done == args.runs {
            let elapsed = started.elapsed().as_secs_f64();
            let eta = elapsed / done as f64 * (args.runs - done) as f64;
            eprint!(
                "{}[{done:>5}/{}] {failed} failed, {elapsed:.0} s elapsed, ~{eta:.0} s left{}",
                if tty { "\r" } else { "" },
                args.runs,
                if tty { "   " } else { "\n" }
            );
            let _ = std::io::stderr().flush();
        }
        runs.push(run);
    }
    if tty {
        eprintln!();
    }
    summary(
        &runs,
        args.seed,
        args.max_peers,
        args.coin,
        started.elapsed(),
    );
    Ok(failed == 0)
}
