//! Replays every recorded graph in a folder and compares with the expected blocks.
//!
//! `cargo run --release -p parsec-sim --bin replay -- GRAPHS_DIR [EXPECTED_DIR]`

use std::path::PathBuf;
use std::process::ExitCode;

use parsec_sim::conformance::replay::replay_file;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(graphs) = args.first().map(PathBuf::from) else {
        eprintln!("usage: replay GRAPHS_DIR [EXPECTED_DIR]");
        return ExitCode::from(2);
    };
    let expected = args.get(1).map(PathBuf::from);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&graphs) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "dot"))
            .collect(),
        Err(error) => {
            eprintln!("cannot read {}: {error}", graphs.display());
            return ExitCode::from(2);
        }
    };
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let expected_file = expected.as_ref().map(|dir| dir.join(format!("{name}.txt")));
        let report = replay_file(&name, &file, expected_file.as_deref());
        println!("{report}");
        if report.failure.is_none() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
