//! Replays the four `bench_section_size_evt1024_interleave` graphs (4, 8, 16, 32 peers x
//! 1024 payloads) from pre-built, pre-verified events: graph insertion plus consensus only.
//! Parsing and signature checks are measured separately.

use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use parsec_coin::ParityCoin;
use parsec_core::Parsec;
use parsec_graph::{Event, EventLimits, PackedEvent};
use parsec_sim::conformance::replay::{Rebuilt, rebuild};
use parsec_sim::conformance::{corpus_dir, parse_dot};

const NODES: [u32; 4] = [4, 8, 16, 32];

fn load(dir: &Path, nodes: u32) -> Option<(String, Rebuilt)> {
    let name = format!("bench_section_size_evt1024_interleave__a_node{nodes}_opaque_evt1024");
    let text = std::fs::read_to_string(dir.join("graphs").join(format!("{name}.dot"))).ok()?;
    let dot = parse_dot(&text).ok()?;
    Some((name, rebuild(&dot).ok()?))
}

fn verified(events: &[PackedEvent<String>]) -> Vec<Event<String>> {
    events
        .iter()
        .map(|p| {
            p.clone()
                .verify(&EventLimits::default())
                .expect("recorded events verify")
        })
        .collect()
}

fn replay(rebuilt: &Rebuilt, events: Vec<Event<String>>) -> usize {
    let (mut engine, first) = Parsec::<String, ParityCoin>::from_genesis(
        rebuilt.our_key.clone(),
        rebuilt.config.clone(),
        ParityCoin,
    )
    .expect("genesis");
    let mut blocks = first.blocks.len();
    for event in events {
        blocks += engine.replay_verified(event).expect("replay").blocks.len();
    }
    assert_eq!(blocks, 1025, "every payload and the genesis are decided");
    blocks
}

fn bench(c: &mut Criterion) {
    let Some(dir) = corpus_dir() else {
        eprintln!("conformance corpus not found: replay benchmark skipped");
        return;
    };
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    for nodes in NODES {
        let Some((name, rebuilt)) = load(&dir, nodes) else {
            eprintln!("{nodes}-peer graph missing: skipped");
            continue;
        };
        let events = verified(&rebuilt.events);
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(format!("consensus_{nodes}_peers"), |b| {
            b.iter_batched(
                || events.clone(),
                |e| replay(&rebuilt, e),
                BatchSize::LargeInput,
            )
        });
        if nodes == 32 {
            group.bench_function(format!("verify_{nodes}_peers"), |b| {
                b.iter(|| verified(&rebuilt.events).len())
            });
            group.bench_function(format!("parse_{nodes}_peers"), |b| {
                let path = dir.join("graphs").join(format!("{name}.dot"));
                let text = std::fs::read_to_string(path).expect("graph readable");
                b.iter(|| parse_dot(&text).expect("parses").events.len())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
