//! The scaling table: mean rounds per stable block of the `basic` scenario for 5, 10 and 20
//! peers and 10, 20, 40 and 100 events, over seeds 1 to 5, as a Markdown table.
//!
//! ```sh
//! cargo run --release -p parsec-examples --example scaling
//! ```

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use parsec_examples::{Params, run};

/// Runs the `basic` scenario over a grid of sizes and prints mean rounds per stable block.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Peer counts (rows).
    #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
    peers: Vec<usize>,
    /// Event counts (columns).
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,100")]
    events: Vec<usize>,
    /// Seeds 1 to this, per cell.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
}

fn main() -> ExitCode {
    match run_grid(&Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_grid(cli: &Cli) -> Result<()> {
    let start = Instant::now();
    let header: Vec<String> = cli.events.iter().map(|e| format!("{e} events")).collect();
    let mut table = format!("| peers | {} |\n|---|", header.join(" | "));
    table.push_str(&"---|".repeat(cli.events.len()));
    table.push('\n');
    for &peers in &cli.peers {
        let mut row = format!("| {peers} |");
        for &events in &cli.events {
            let cell = Instant::now();
            let mut total = 0.0;
            for seed in 1..=cli.seeds {
                let params = Params {
                    peers,
                    events,
                    seed,
                    ..Params::default()
                };
                let summary = run(&params)
                    .with_context(|| format!("{peers} peers, {events} events, seed {seed}"))?;
                total += summary.rounds_per_block();
            }
            let mean = total / cli.seeds as f64;
            eprintln!(
                "{peers} peers x {events} events: {mean:.2} rounds per block ({:.1} s)",
                cell.elapsed().as_secs_f64()
            );
            row.push_str(&format!(" {mean:.2} |"));
        }
        table.push_str(&row);
        table.push('\n');
    }
    println!("{table}");
    println!(
        "Mean rounds per stable block over seeds 1..={}; wall time {:.1} s.",
        cli.seeds,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
