//! The time to restore an engine from 100,000 logged events (spec §13.3): the log of one
//! peer of a simulated four-peer run, read back through `Restore::run` (each event
//! checked, inserted and evaluated again), from a `MemStore` (the engine's own cost) and
//! from a `RocksStore` (opening the database and reading it as well).
//!
//! `cargo bench -p parsec-store-rocksdb --bench restore`. Under `cargo test --benches`
//! (a smoke run) the log has 2,000 events.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parsec_core::{MemStore, Store, StoreOp};
use parsec_graph::ConsensusMode;
use parsec_sim::fixtures::{self, opaque};
use parsec_sim::network::{Engine, Network};
use parsec_store_rocksdb::RocksStore;

/// Events in the restored log: 100,000 when benchmarking, fewer in a smoke run.
fn logged_events() -> u64 {
    if std::env::args().any(|arg| arg == "--bench") {
        100_000
    } else {
        2_000
    }
}

/// A four-peer `Single` run in which every peer keeps voting, until peer 0 logged
/// `events` events.
fn run_until_logged(events: u64) -> Network {
    let mut net = Network::new(4, ConsensusMode::Single, 5).unwrap();
    let logged = |net: &Network| net.node(0).store().load_now().unwrap().unwrap().events;
    let mut round = 0u64;
    while logged(&net) < events {
        for peer in 0..4 {
            net.vote(peer, opaque(&format!("{round}-{peer}"))).unwrap();
        }
        round += 1;
        for _ in 0..8 {
            net.step().unwrap();
        }
    }
    net
}

/// Copies `from` into a new RocksDB directory, as the engine's steps would have.
fn copy_to_rocksdb(
    from: &MemStore<String>,
    dir: &std::path::Path,
    runtime: &tokio::runtime::Runtime,
) -> u64 {
    let loaded = from.load_now().unwrap().unwrap();
    let store = RocksStore::<String>::open_blocking(dir).unwrap();
    runtime
        .block_on(store.apply(vec![StoreOp::Init(loaded.header)]))
        .unwrap();
    let mut position = 0;
    loop {
        let events = from.events_now(position, 4_096).unwrap();
        if events.is_empty() {
            break;
        }
        let ops = events
            .into_iter()
            .map(|event| {
                let op = StoreOp::Event { position, event };
                position += 1;
                op
            })
            .collect();
        runtime.block_on(store.apply(ops)).unwrap();
    }
    let blocks = from.blocks_now(0, usize::MAX).unwrap();
    let count = blocks.len() as u64;
    runtime
        .block_on(store.apply(blocks.into_iter().map(StoreOp::Block).collect()))
        .unwrap();
    count
}

fn restore(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let events = logged_events();
    let net = run_until_logged(events);
    let store = net.node(0).store();
    let loaded = store.load_now().unwrap().unwrap();
    let config = net.engine(0).config().clone();
    let key = fixtures::peer_key(0);
    let dir = tempfile::tempdir().unwrap();
    let blocks = copy_to_rocksdb(store, dir.path(), &runtime);
    eprintln!(
        "restoring {} logged events and {blocks} blocks",
        loaded.events
    );

    let mut group = c.benchmark_group("restore");
    group.sample_size(10);
    group.throughput(Throughput::Elements(loaded.events));
    group.bench_function("engine from MemStore", |b| {
        b.iter(|| {
            let mut restore = Engine::restore(key.clone(), config.clone(), &loaded).unwrap();
            restore
                .run(
                    |from, limit| store.events_now(from, limit),
                    |hash| store.find_now(hash),
                )
                .unwrap();
            let restored = restore.finish().unwrap();
            assert_eq!(restored.blocks.len() as u64, loaded.blocks);
        })
    });
    group.bench_function("engine from RocksStore", |b| {
        b.iter(|| {
            let rocks = RocksStore::<String>::open_blocking(dir.path()).unwrap();
            let loaded = runtime.block_on(rocks.load()).unwrap().unwrap();
            let mut restore = Engine::restore(key.clone(), config.clone(), &loaded).unwrap();
            restore
                .run(
                    |from, limit| runtime.block_on(rocks.events(from, limit)),
                    |hash| runtime.block_on(rocks.find(hash)),
                )
                .unwrap();
            let restored = restore.finish().unwrap();
            assert_eq!(restored.blocks.len() as u64, blocks);
        })
    });
    group.finish();
}

criterion_group!(benches, restore);
criterion_main!(benches);
