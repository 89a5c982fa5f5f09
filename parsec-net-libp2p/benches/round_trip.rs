//! Request-response round trips between two local swarms over TCP loopback, for sync
//! messages of about 1 KiB, 64 KiB and 1 MiB (a request carrying one event, answered by a
//! response carrying it back), beside the same exchange over the in-process
//! `MemTransport`: the difference is what the adapter adds to one sync.
//!
//! `cargo bench -p parsec-net-libp2p --bench round_trip`

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parsec_core::{Incoming, PeerSet, SecretKey, Transport, WireLimits, WireMessage};
use parsec_graph::{Cause, EventHash, Observation, Vote};
use parsec_net_libp2p::{Libp2pConfig, Libp2pTransport};
use parsec_sim::fixtures;
use parsec_sim::mem_transport::MemNet;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// A sync message of about `bytes`: events of at most 64 KiB of payload each (the
/// engine's per-observation limit is 1 MiB; a large sync carries many events).
fn message(key: &SecretKey, bytes: usize, response: bool) -> WireMessage<String> {
    let per_event = bytes.min(64 << 10);
    let events = (0..bytes.div_ceil(per_event))
        .map(|i| {
            let vote = Vote::new(Observation::OpaquePayload("x".repeat(per_event)), key).unwrap();
            fixtures::packed_event(
                key,
                1 + i as u64,
                Cause::Observation {
                    self_parent: EventHash::from_bytes([3; 32]),
                    vote: Box::new(vote),
                },
            )
        })
        .collect();
    if response {
        WireMessage::Response { events }
    } else {
        WireMessage::Request { events }
    }
}

async fn next_message<X: Transport<String> + ?Sized>(at: &mut X) -> WireMessage<String> {
    loop {
        if let Incoming::Message { message, .. } = at.next_incoming().await.unwrap() {
            return message;
        }
    }
}

async fn round_trip<A, B>(
    a: &mut A,
    b: &mut B,
    ids: &[parsec_core::PeerId; 2],
    ask: &WireMessage<String>,
    answer: &WireMessage<String>,
) where
    A: Transport<String> + ?Sized,
    B: Transport<String> + ?Sized,
{
    a.send(ids[1], ask.clone()).await.unwrap();
    next_message(b).await;
    b.send(ids[0], answer.clone()).await.unwrap();
    next_message(a).await;
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys = [fixtures::peer_key(0), fixtures::peer_key(1)];
    let ids = [keys[0].peer_id(), keys[1].peer_id()];
    let members: PeerSet = ids.iter().copied().collect();
    let limits = WireLimits {
        max_message_bytes: 4 << 20,
        max_events_per_message: 16,
    };
    let (mut a, mut b) = runtime.block_on(async {
        let mut config = Libp2pConfig::new(keys[0].clone(), members.clone());
        config.limits = limits;
        let a = Libp2pTransport::<String>::start(config).await.unwrap();
        let mut config = Libp2pConfig::new(keys[1].clone(), members.clone());
        config.limits = limits;
        config.addresses.insert(ids[0], a.listen_addrs().to_vec());
        let b = Libp2pTransport::<String>::start(config).await.unwrap();
        // B dials A; A can answer once the connection is up (a send before is lost).
        while !a.connected().contains(&ids[1]) || !b.connected().contains(&ids[0]) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        (a, b)
    });
    let net = MemNet::with_limits(limits);
    let mut mem_a = net.join::<String>(&keys[0], members.clone());
    let mut mem_b = net.join::<String>(&keys[1], members.clone());
    let mut group = c.benchmark_group("round_trip");
    for (size, name) in SIZES {
        let ask = message(&keys[0], size, false);
        let answer = message(&keys[1], size, true);
        // Connect and warm up before measuring.
        runtime.block_on(round_trip(&mut a, &mut b, &ids, &ask, &answer));
        group.throughput(Throughput::Bytes(2 * size as u64));
        group.bench_function(BenchmarkId::new("libp2p_tcp", name), |bench| {
            bench.iter(|| runtime.block_on(round_trip(&mut a, &mut b, &ids, &ask, &answer)));
        });
        group.bench_function(BenchmarkId::new("in_process", name), |bench| {
            bench
                .iter(|| runtime.block_on(round_trip(&mut mem_a, &mut mem_b, &ids, &ask, &answer)));
        });
    }
    group.finish();
    runtime.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
