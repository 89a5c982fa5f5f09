//! The simulator's crash and restart runs with every honest peer's log in a RocksDB
//! directory: a crash closes the database, and the restart reads back what reached the
//! disk (parsec-sim's `tests/restarts.rs` runs the same plan on `MemStore`s, over more
//! seeds). Half the runs prune memory, so that catch-up and re-admission read the disk.
//!
//! `PARSEC_SEED=<n>` replays one seed; `PARSEC_SEEDS=<n>` runs more.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use parsec_core::Store;
use parsec_graph::ConsensusMode;
use parsec_sim::fixtures::{self, Rerun};
use parsec_sim::sim::{
    Crashes, NetworkConditions, Schedule, ScheduleOptions, StoreBackend, run_with_stores,
};
use parsec_store_rocksdb::RocksStore;

#[test]
fn peers_restart_from_rocksdb_and_keep_every_invariant() {
    let test = "peers_restart_from_rocksdb_and_keep_every_invariant";
    let (mut restarts, mut served, mut readmitted) = (0, 0, 0);
    let seeds = fixtures::seeds_from_env(1, 12);
    let count = seeds.len();
    for seed in seeds {
        let rerun = fixtures::test_command("parsec-store-rocksdb", "restarts", test);
        let _guard = Rerun::new(seed, rerun.clone());
        let peers = 4 + (seed % 3) as usize;
        let mode = if seed % 2 == 0 {
            ConsensusMode::Supermajority
        } else {
            ConsensusMode::Single
        };
        let mut options = ScheduleOptions::new(peers, mode);
        options.payloads = 3;
        options.restarts = 2;
        if seed % 3 == 0 {
            options.crashes = Crashes::Random { count: 1 };
            options.network = NetworkConditions {
                drop: 0.05,
                ..NetworkConditions::PERFECT
            };
        }
        // Half the runs prune: catch-up and re-admission then read RocksDB.
        if seed % 4 >= 2 {
            options.pruning_window = Some(12 + seed % 4);
            options.payloads = 8;
        }
        let schedule = Schedule::generate(&options, seed).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let open: parsec_sim::sim::OpenStore = Arc::new(move |peer| {
            let store = RocksStore::<String>::open_blocking(root.join(format!("peer-{peer}")))?;
            Ok(Box::new(store) as Box<dyn Store<String>>)
        });
        let outcome = run_with_stores(&schedule, &rerun, StoreBackend::Custom(open));
        if let Some(failure) = &outcome.failure {
            panic!("{failure}\nstats: {}", outcome.stats);
        }
        assert_eq!(outcome.stats.restarts, 2, "seed {seed}");
        restarts += outcome.stats.restarts;
        served += outcome.stats.catch_up_events;
        readmitted += outcome.stats.readmitted;
    }
    println!(
        "{restarts} restarts from RocksDB; {served} events served and {readmitted} re-admitted from it"
    );
    if count >= 12 {
        assert!(
            served > 0 && readmitted > 0,
            "the disk paths were not exercised"
        );
    }
}
