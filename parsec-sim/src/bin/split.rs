//! Runs the split scheduler and prints each run's elections: rounds and coins needed.
//!
//! `cargo run --release -p parsec-sim --bin split -- --coin parity --scheduler split
//! --runs 10 --seed 1 [--elections 2] [--fairness 24] [--faulty 1] [--peers 4]
//! [--max-actions 20000] [--search default|cheap] [--rollouts 8] [--escalate 64]`

use std::process::ExitCode;
use std::time::Instant;

use parsec_coin::CoinKind;
use parsec_sim::split::{self, Scheduler, Search, SplitOptions};

fn main() -> ExitCode {
    let mut options = SplitOptions::new(CoinKind::Parity, Scheduler::Split);
    let mut runs = 10u64;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let parsed = match flag.as_str() {
            "--coin" => value
                .parse()
                .map(|c| options.coin = c)
                .map_err(|e| e.to_string()),
            "--scheduler" => match value.as_str() {
                "split" => Ok(Scheduler::Split),
                "fair" => Ok(Scheduler::Fair),
                other => Err(format!("unknown scheduler {other:?} (split or fair)")),
            }
            .map(|s| options.scheduler = s),
            "--runs" => value.parse().map(|v| runs = v).map_err(|e| format!("{e}")),
            "--seed" => value.parse().map(|v| seed = v).map_err(|e| format!("{e}")),
            "--elections" => value
                .parse()
                .map(|v| options.elections = v)
                .map_err(|e| format!("{e}")),
            "--fairness" => value
                .parse()
                .map(|v| options.fairness = v)
                .map_err(|e| format!("{e}")),
            "--faulty" => value
                .parse()
                .map(|v| options.faulty = v)
                .map_err(|e| format!("{e}")),
            "--peers" => value
                .parse()
                .map(|v| options.peers = v)
                .map_err(|e| format!("{e}")),
            "--search" => match value.as_str() {
                "default" => Ok(Search::DEFAULT),
                "cheap" => Ok(Search::CHEAP),
                other => Err(format!("unknown search {other:?} (default or cheap)")),
            }
            .map(|s| options.search = s),
            "--rollouts" => value
                .parse()
                .map(|v| options.search.rollouts = v)
                .map_err(|e| format!("{e}")),
            "--escalate" => value
                .parse()
                .map(|v| options.search.escalate = v)
                .map_err(|e| format!("{e}")),
            "--max-actions" => value
                .parse()
                .map(|v| options.max_actions = v)
                .map_err(|e| format!("{e}")),
            other => Err(format!("unknown flag {other:?}")),
        };
        if let Err(error) = parsed {
            eprintln!("{flag}: {error}");
            return ExitCode::from(2);
        }
    }
    let mut failed = 0;
    for s in seed..seed + runs {
        let started = Instant::now();
        match split::run(&options, s) {
            Ok(outcome) => {
                let agree = outcome.agreement();
                let elections: Vec<String> = outcome
                    .elections
                    .iter()
                    .map(|e| {
                        format!(
                            "e{}:{}r/{}c{}",
                            e.election,
                            e.rounds,
                            e.coins_needed,
                            if e.decided { "" } else { "!" }
                        )
                    })
                    .collect();
                println!(
                    "seed {s}: {} actions, {} decided, stall {} rounds, {} [{:.1}s]{}",
                    outcome.actions,
                    if outcome.all_decided() {
                        "all"
                    } else {
                        "NOT all"
                    },
                    outcome.longest_stall(),
                    elections.join(" "),
                    started.elapsed().as_secs_f64(),
                    match agree {
                        Ok(()) => String::new(),
                        Err(e) => format!(" DISAGREE {e}"),
                    }
                );
                if outcome.agreement().is_err() {
                    failed += 1;
                }
            }
            Err(error) => {
                println!("seed {s}: {error}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
