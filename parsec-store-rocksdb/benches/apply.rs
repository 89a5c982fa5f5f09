//! `RocksStore::apply` for realistic steps (batches of 1, 16 and 256 events of about 300
//! bytes, synced), and the time to restore an engine-sized log: reading 100,000 logged
//! events back in chunks.
//!
//! `cargo bench -p parsec-store-rocksdb --bench apply`

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parsec_core::{Store, StoreHeader, StoreOp};
use parsec_graph::{Cause, EventHash, Observation, PackedEvent, Vote};
use parsec_sim::fixtures;
use parsec_store_rocksdb::RocksStore;

/// `count` events of one chain, each a vote of a 300-byte payload.
fn events(count: usize) -> Vec<PackedEvent<String>> {
    let key = fixtures::peer_key(0);
    let mut parent = EventHash::from_bytes([1; 32]);
    (1..=count as u64)
        .map(|index| {
            let vote = Vote::new(Observation::OpaquePayload(format!("{index:0>300}")), &key);
            let event = fixtures::event(
                &key,
                index,
                Cause::Observation {
                    self_parent: parent,
                    vote: Box::new(vote.unwrap()),
                },
            );
            parent = *event.hash();
            event.into_packed()
        })
        .collect()
}

fn header() -> StoreHeader {
    StoreHeader {
        owner: fixtures::peer_key(0).peer_id(),
        genesis: [9; 32],
    }
}

fn apply(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool = events(256);
    let mut group = c.benchmark_group("rocksdb apply (sync)");
    for batch in [1usize, 16, 256] {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::<String>::open_blocking(dir.path()).unwrap();
        runtime
            .block_on(store.apply(vec![StoreOp::Init(header())]))
            .unwrap();
        let mut position = 0u64;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter(|| {
                let ops = (0..batch)
                    .map(|i| {
                        let op = StoreOp::Event {
                            position,
                            event: pool[i % pool.len()].clone(),
                        };
                        position += 1;
                        op
                    })
                    .collect();
                runtime.block_on(store.apply(ops)).unwrap();
            })
        });
    }
    group.finish();
}

fn restore_read(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::<String>::open_blocking(dir.path()).unwrap();
    let pool = events(1_000);
    let mut ops = vec![StoreOp::Init(header())];
    for position in 0..100_000u64 {
        ops.push(StoreOp::Event {
            position,
            event: pool[position as usize % pool.len()].clone(),
        });
        if ops.len() == 4_096 {
            runtime
                .block_on(store.apply(std::mem::take(&mut ops)))
                .unwrap();
        }
    }
    runtime.block_on(store.apply(ops)).unwrap();
    drop(store);
    let mut group = c.benchmark_group("rocksdb restore read");
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("open and read 100k events", |b| {
        b.iter(|| {
            let store = RocksStore::<String>::open_blocking(dir.path()).unwrap();
            let mut from = 0;
            loop {
                let read = runtime.block_on(store.events(from, 4_096)).unwrap();
                if read.is_empty() {
                    break;
                }
                from += read.len() as u64;
            }
            assert_eq!(from, 100_000);
        })
    });
    group.finish();
}

criterion_group!(benches, apply, restore_read);
criterion_main!(benches);
