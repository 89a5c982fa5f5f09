//! The `parsec-node` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use parsec_node::keys;

/// A parsec-rs consensus node.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Makes a new member key in DIR/node.key (mode 0600) and prints its public id,
    /// which the genesis file names the member by. Never replaces an existing key.
    Keygen {
        /// The directory to write the key to (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Keygen { out } => match keys::generate(&out) {
            Ok((key, path)) => {
                println!("{}", keys::id_text(&key.peer_id()));
                eprintln!("key written to {}", path.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("parsec-node keygen: {error}");
                ExitCode::FAILURE
            }
        },
    }
}
