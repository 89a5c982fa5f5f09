//! Graph insertion, ancestry queries and event verification at 32 creators.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use parsec_graph::{
    Cause, Event, EventContent, EventIndex, EventLimits, Graph, PackedEvent, PeerIndex, SecretKey,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CREATORS: usize = 32;
const EVENTS: usize = 10_240;

/// A gossip-shaped graph: each event is a request from a random creator whose other-parent
/// is a recent event of another creator.
fn gossip_events(seed: u64) -> Vec<Event<String>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys: Vec<SecretKey> = (0..CREATORS as u8)
        .map(|c| SecretKey::from_seed([c + 1; 32]))
        .collect();
    let limits = EventLimits::default();
    let mut events: Vec<Event<String>> = Vec::with_capacity(EVENTS);
    let mut tips: Vec<Option<usize>> = vec![None; CREATORS];
    for c in 0..CREATORS {
        let e = EventContent {
            creator: keys[c].peer_id(),
            index: 0,
            cause: Cause::Initial,
            coin_shares: vec![],
        };
        tips[c] = Some(events.len());
        events.push(e.sign(&keys[c], &limits).expect("valid"));
    }
    while events.len() < EVENTS {
        let c = rng.random_range(0..CREATORS);
        let mut o = rng.random_range(0..CREATORS);
        if o == c {
            o = (o + 1) % CREATORS;
        }
        let (Some(sp), Some(op)) = (tips[c], tips[o]) else {
            continue;
        };
        let e = EventContent {
            creator: keys[c].peer_id(),
            index: events[sp].index() + 1,
            cause: Cause::Request {
                self_parent: *events[sp].hash(),
                other_parent: *events[op].hash(),
            },
            coin_shares: vec![],
        };
        tips[c] = Some(events.len());
        events.push(e.sign(&keys[c], &limits).expect("valid"));
    }
    events
}

fn bench(c: &mut Criterion) {
    let events = gossip_events(1);
    let mut group = c.benchmark_group("graph");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("insert_10k_events_32_creators", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                let mut graph = Graph::new();
                for e in events {
                    let _ = graph.insert(e).expect("parents present");
                }
                graph
            },
            BatchSize::LargeInput,
        )
    });
    let mut graph = Graph::new();
    for e in events.iter().cloned() {
        let _ = graph.insert(e).expect("parents present");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let pairs: Vec<(EventIndex, EventIndex)> = (0..1000)
        .map(|_| {
            let x = rng.random_range(EVENTS / 2..EVENTS);
            let y = rng.random_range(0..x);
            (EventIndex::from(x), EventIndex::from(y))
        })
        .collect();
    group.throughput(Throughput::Elements(pairs.len() as u64));
    let voters: Vec<PeerIndex> = graph.peers().map(|(p, _)| p).collect();
    group.bench_function("strongly_sees_1000_queries", |b| {
        b.iter(|| {
            pairs
                .iter()
                .filter(|(x, y)| graph.strongly_sees(*x, *y, &voters))
                .count()
        })
    });
    group.bench_function("sees_1000_queries", |b| {
        b.iter(|| pairs.iter().filter(|(x, y)| graph.sees(*x, *y)).count())
    });
    let packed: Vec<PackedEvent<String>> = events
        .iter()
        .take(100)
        .map(|e| e.packed().clone())
        .collect();
    group.throughput(Throughput::Elements(packed.len() as u64));
    group.bench_function("verify_100_events", |b| {
        b.iter_batched(
            || packed.clone(),
            |packed| {
                for p in packed {
                    p.verify(&EventLimits::default()).expect("valid");
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
