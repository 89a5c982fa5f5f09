//! The `basic` example: a few peers gossip and vote random payloads until every one of them
//! has every block, printing each round's votes and stable blocks, then a summary.
//!
//! Modelled on the original PARSEC release's example of the same name:
//!
//! ```sh
//! cargo run --release --example basic -- --peers 5 --events 10 --seed 1
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use parsec_examples::{DotDumper, OnRound, Params, Round, Summary, run_with};
use parsec_graph::ConsensusMode;

/// How payloads are decided.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Once per payload, when more than two thirds of the voters voted it.
    Supermajority,
    /// Once per payload and voter.
    Single,
}

/// Runs a PARSEC network in process until every peer has every block.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Number of peers (genesis members), crashed ones included.
    #[arg(long, default_value_t = 5)]
    peers: usize,
    /// Number of payloads every peer votes.
    #[arg(long, default_value_t = 10)]
    events: usize,
    /// Seed of every random choice and of the peers' keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Chance that a peer votes one more payload after its gossip in a round.
    #[arg(long, default_value_t = 1.0 / 3.0)]
    vote_probability: f64,
    /// Consensus mode.
    #[arg(long, value_enum, default_value_t = Mode::Supermajority)]
    mode: Mode,
    /// Peers that crash at the start (the last ones): at most (peers - 1) / 3.
    #[arg(long, default_value_t = 0)]
    faulty: usize,
    /// Give up (and exit non-zero) after this many rounds.
    #[arg(long, default_value_t = 1000)]
    max_rounds: usize,
    /// Write each peer's graph as `DIR/<peer>-<blocks>.dot` whenever it gains blocks (and
    /// `.svg` when Graphviz `dot` is installed).
    #[arg(long, value_name = "DIR")]
    dump_graphs: Option<PathBuf>,
    /// Prune memory, keeping this many of each creator's latest events beyond what
    /// consensus still reads (0: keep every event, the engine's default). Pruning never
    /// changes a block: compare the summary's blocks digest with a run of window 0.
    #[arg(long, default_value_t = 32)]
    pruning_window: u64,
    /// Voter removals a pruning engine absorbs while older votes are undecided (the
    /// engine's `Config::pruning_removal_margin`). These runs never remove a member, so
    /// none is needed; `-1` leaves the engine's default (a third of the voters).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    removal_margin: i64,
    /// Keep each peer's store (the simulated disk, held in this process's memory).
    #[arg(long)]
    keep_stores: bool,
    /// Print the summary only.
    #[arg(long)]
    quiet: bool,
}

/// Prints a round as the original example did: every peer's votes, then its blocks.
fn print_round(round: &Round<'_>) {
    println!("===== Round {} =====", round.number);
    let width = round.peers().map(|p| p.name.len()).max().unwrap_or(0) + 1;
    println!("Votes:");
    for peer in round.peers() {
        let label = format!("{}:", peer.name);
        if peer.engine.is_none() {
            println!("  {label:width$} (crashed)");
            continue;
        }
        let votes: Vec<&str> = peer.votes.iter().map(|&v| round.payload_name(v)).collect();
        println!("  {label:width$} [{}]", votes.join(", "));
    }
    println!("Stable Blocks:");
    for peer in round.peers() {
        let label = format!("{}:", peer.name);
        if peer.engine.is_none() {
            println!("  {label:width$} (crashed)");
            continue;
        }
        let blocks: Vec<String> = peer.blocks.iter().map(|b| round.block_name(b)).collect();
        println!("  {label:width$} [{}]", blocks.join(", "));
    }
    println!();
}

fn print_summary(params: &Params, summary: &Summary) {
    println!("===== Summary =====");
    println!(
        "peers: {} ({} crashed), events: {}, mode: {:?}, seed: {}, vote probability: {:.3}",
        params.peers,
        params.faulty,
        params.events,
        params.consensus_mode,
        params.seed,
        params.vote_probability
    );
    println!("rounds:                  {}", summary.rounds);
    println!(
        "stable blocks:           {} (genesis + {})",
        summary.blocks,
        summary.blocks.saturating_sub(1)
    );
    let per_block = summary.rounds_per_block();
    if per_block.is_finite() {
        println!("rounds per stable block: {per_block:.2}");
    } else {
        println!("rounds per stable block: n/a (no payload block)");
    }
    println!(
        "messages sent:           {} (carrying {} events; {} dropped at crashed peers)",
        summary.messages, summary.events_sent, summary.dropped
    );
    println!("events created:          {}", summary.events_created);
    println!(
        "largest graph:           {} events ({} at most held in memory)",
        summary.largest_graph, summary.most_held
    );
    println!("blocks digest:           {}", summary.blocks_digest);
    println!(
        "wall time:               {:.3} s",
        summary.elapsed.as_secs_f64()
    );
}

fn main() -> ExitCode {
    match run_cli(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(cli: Cli) -> Result<()> {
    let params = Params {
        peers: cli.peers,
        events: cli.events,
        seed: cli.seed,
        vote_probability: cli.vote_probability,
        consensus_mode: match cli.mode {
            Mode::Supermajority => ConsensusMode::Supermajority,
            Mode::Single => ConsensusMode::Single,
        },
        faulty: cli.faulty,
        max_rounds: cli.max_rounds,
        pruning_window: (cli.pruning_window > 0).then_some(cli.pruning_window),
        pruning_removal_margin: usize::try_from(cli.removal_margin).ok(),
        keep_stores: cli.keep_stores,
    };
    params.validate()?;
    let mut dumper = match &cli.dump_graphs {
        Some(dir) => {
            let dumper = DotDumper::new(dir)?;
            if !dumper.renders_svg() {
                eprintln!(
                    "note: Graphviz `dot` is not on the PATH: writing .dot files only to {}",
                    dir.display()
                );
            }
            Some(dumper)
        }
        None => None,
    };
    let quiet = cli.quiet;
    let mut on_round = |round: &Round<'_>| -> Result<()> {
        if !quiet {
            print_round(round);
        }
        if let Some(dumper) = dumper.as_mut() {
            dumper.on_round(round)?;
        }
        Ok(())
    };
    let summary = run_with(&params, &mut on_round)?;
    print_summary(&params, &summary);
    if let (Some(dir), Some(dumper)) = (&cli.dump_graphs, &dumper) {
        println!(
            "graphs:                  {} files in {}",
            dumper.written,
            dir.display()
        );
    }
    Ok(())
}
