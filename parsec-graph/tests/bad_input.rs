//! Bad input gets a typed error and changes nothing; the wire format round-trips and is
//! canonical; decoding arbitrary bytes never panics.

#![allow(clippy::unwrap_used)]

mod support;

use parsec_graph::{
    Cause, CoinShare, EventContent, EventError, EventLimits, Graph, InsertError, Observation,
    PackedEvent, PeerSet, SecretKey, Signature, Vote, WireError, WireLimits, WireMessage, wire,
};
use proptest::prelude::*;
use support::{Builder, key};

fn content(creator: &SecretKey, index: u64, cause: Cause<String>) -> EventContent<String> {
    EventContent {
        creator: creator.peer_id(),
        index,
        cause,
        coin_shares: vec![],
    }
}

fn packed(creator: &SecretKey, index: u64, cause: Cause<String>) -> PackedEvent<String> {
    content(creator, index, cause)
        .sign(creator, &EventLimits::default())
        .unwrap()
        .into_packed()
}

/// A small valid graph: Alice and Bob with a request each way.
fn base() -> Builder {
    let mut b = Builder::new();
    b.initial("A0", "Alice");
    b.initial("B0", "Bob");
    b.requesting("A1", "Alice", "A0", "Bob");
    b.sync("B1", "Bob", "B0", "A1");
    b
}

fn snapshot(g: &Graph<String>) -> Vec<[u8; 32]> {
    g.iter().map(|n| *n.hash().as_bytes()).collect()
}

#[test]
fn bad_signature_is_rejected() {
    let alice = key("Alice");
    let mut event = packed(&alice, 0, Cause::Initial);
    let mut sig = *event.signature.as_bytes();
    sig[3] ^= 1;
    event.signature = Signature::from_bytes(sig);
    assert_eq!(
        event.verify(&EventLimits::default()),
        Err(EventError::BadSignature)
    );
    // Signed by someone else.
    let mut event = packed(&alice, 0, Cause::Initial);
    event.signature = packed(&key("Mallory"), 0, Cause::Initial).signature;
    assert_eq!(
        event.verify(&EventLimits::default()),
        Err(EventError::BadSignature)
    );
}

#[test]
fn bad_vote_signature_is_rejected() {
    let b = base();
    let (_, a1, _, _) = b.events["A1"];
    let alice = key("Alice");
    // A vote signed by Mallory inside Alice's correctly signed event.
    let vote = Vote::new(Observation::OpaquePayload("x".to_string()), &key("Mallory")).unwrap();
    let event = packed(
        &alice,
        2,
        Cause::Observation {
            self_parent: a1,
            vote: Box::new(vote),
        },
    );
    assert_eq!(
        event.verify(&EventLimits::default()),
        Err(EventError::BadVoteSignature)
    );
}

#[test]
fn structural_errors_are_typed() {
    let alice = key("Alice");
    let limits = EventLimits::default();
    let sp = *base().graph.iter().next().unwrap().hash();
    let requesting = Cause::Requesting {
        self_parent: sp,
        recipient: key("Bob").peer_id(),
    };
    assert!(matches!(
        content(&alice, 0, requesting.clone()).sign(&alice, &limits),
        Err(EventError::CauseIndexMismatch { .. })
    ));
    assert!(matches!(
        content(&alice, 3, Cause::Initial).sign(&alice, &limits),
        Err(EventError::CauseIndexMismatch { .. })
    ));
    assert!(matches!(
        content(&alice, (1 << 53) + 1, requesting.clone()).sign(&alice, &limits),
        Err(EventError::IndexTooLarge { .. })
    ));
    let share = CoinShare {
        election: 0,
        candidate: alice.peer_id(),
        round: 0,
        share: [7; 96],
    };
    let mut with_shares = content(&alice, 1, requesting.clone());
    with_shares.coin_shares = vec![share.clone(), share.clone()];
    assert!(matches!(
        with_shares.sign(&alice, &limits),
        Err(EventError::DuplicateCoinShare { .. })
    ));
    let mut initial_with_share = content(&alice, 0, Cause::Initial);
    initial_with_share.coin_shares = vec![share];
    assert_eq!(
        initial_with_share.sign(&alice, &limits),
        Err(EventError::InitialWithCoinShares)
    );
    let vote = Vote::new(
        Observation::DkgResult {
            participants: PeerSet::default(),
            public_key_set: vec![],
        },
        &alice,
    )
    .unwrap();
    assert_eq!(
        content(
            &alice,
            1,
            Cause::Observation {
                self_parent: sp,
                vote: Box::new(vote)
            }
        )
        .sign(&alice, &limits),
        Err(EventError::ForbiddenObservation)
    );
    let big = Vote::new(Observation::OpaquePayload("x".repeat(100)), &alice).unwrap();
    let small = EventLimits {
        max_observation_bytes: 64,
        ..limits
    };
    assert!(matches!(
        content(
            &alice,
            1,
            Cause::Observation {
                self_parent: sp,
                vote: Box::new(big)
            }
        )
        .sign(&alice, &small),
        Err(EventError::ObservationTooLarge { .. })
    ));
}

#[test]
fn graph_errors_change_nothing() {
    let mut b = base();
    let before = snapshot(&b.graph);
    let (_, a1, _, _) = b.events["A1"];
    let (_, b1, _, _) = b.events["B1"];
    let alice = key("Alice");
    let limits = EventLimits::default();
    let insert =
        |g: &mut Graph<String>, p: PackedEvent<String>| g.insert(p.verify(&limits).unwrap());

    let orphan = packed(&key("Carol"), 0, Cause::Initial);
    let unknown = *orphan.clone().verify(&limits).unwrap().hash();
    // Unknown self-parent.
    let e = packed(
        &alice,
        2,
        Cause::Requesting {
            self_parent: unknown,
            recipient: alice.peer_id(),
        },
    );
    assert_eq!(
        insert(&mut b.graph, e),
        Err(InsertError::UnknownSelfParent(unknown))
    );
    // Unknown other-parent.
    let e = packed(
        &alice,
        2,
        Cause::Request {
            self_parent: a1,
            other_parent: unknown,
        },
    );
    assert_eq!(
        insert(&mut b.graph, e),
        Err(InsertError::UnknownOtherParent(unknown))
    );
    // Self-parent by another creator.
    let e = packed(
        &alice,
        2,
        Cause::Requesting {
            self_parent: b1,
            recipient: alice.peer_id(),
        },
    );
    assert_eq!(
        insert(&mut b.graph, e),
        Err(InsertError::SelfParentByDifferentCreator { parent: b1 })
    );
    // Other-parent by the same creator.
    let (_, a0, _, _) = b.events["A0"];
    let e = packed(
        &alice,
        2,
        Cause::Request {
            self_parent: a1,
            other_parent: a0,
        },
    );
    assert_eq!(
        insert(&mut b.graph, e),
        Err(InsertError::OtherParentBySameCreator { parent: a0 })
    );
    // Index gap.
    let e = packed(
        &alice,
        5,
        Cause::Requesting {
            self_parent: a1,
            recipient: alice.peer_id(),
        },
    );
    assert_eq!(
        insert(&mut b.graph, e),
        Err(InsertError::IndexGap {
            index: 5,
            parent_index: 1
        })
    );
    assert_eq!(snapshot(&b.graph), before);
    // And a known event is idempotent.
    let again = b.graph.node(b.idx("B1")).event().clone();
    assert_eq!(
        b.graph.insert(again),
        Ok(parsec_graph::Inserted::Known(b.idx("B1")))
    );
    assert_eq!(snapshot(&b.graph), before);
}

fn sample_message() -> WireMessage<String> {
    let b = base();
    let events = b.graph.iter().map(|n| n.event().packed().clone()).collect();
    WireMessage::Request { events }
}

#[test]
fn oversized_messages_are_refused() {
    let message = sample_message();
    let bytes = wire::encode(&message, &WireLimits::default()).unwrap();
    let tight = WireLimits {
        max_message_bytes: bytes.len() - 1,
        ..WireLimits::default()
    };
    assert!(matches!(
        wire::decode::<String>(&bytes, &tight),
        Err(WireError::TooLarge { .. })
    ));
    assert!(matches!(
        wire::encode(&message, &tight),
        Err(WireError::TooLarge { .. })
    ));
    let few = WireLimits {
        max_events_per_message: 3,
        ..WireLimits::default()
    };
    assert!(matches!(
        wire::decode::<String>(&bytes, &few),
        Err(WireError::TooManyEvents { count: 4, limit: 3 })
    ));
    // A forged event count is refused before anything is decoded.
    let mut forged = bytes.clone();
    forged[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        wire::decode::<String>(&forged, &WireLimits::default()),
        Err(WireError::TooManyEvents { .. })
    ));
    // Trailing bytes are malformed.
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        wire::decode::<String>(&trailing, &WireLimits::default()),
        Err(WireError::Malformed(_))
    ));
}

#[test]
fn round_trip_is_canonical() {
    let message = sample_message();
    let limits = WireLimits::default();
    let bytes = wire::encode(&message, &limits).unwrap();
    let decoded: WireMessage<String> = wire::decode(&bytes, &limits).unwrap();
    assert_eq!(decoded, message);
    assert_eq!(wire::encode(&decoded, &limits).unwrap(), bytes);
    // Each event re-verifies to the same hash.
    for (packed, node) in decoded.events().iter().zip(base().graph.iter()) {
        assert_eq!(
            packed
                .clone()
                .verify(&EventLimits::default())
                .unwrap()
                .hash(),
            node.hash()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = wire::decode::<String>(&bytes, &WireLimits::default());
    }

    /// Valid messages with a few bytes flipped: decoding fails cleanly or yields a message
    /// that re-encodes to the same bytes.
    #[test]
    fn mutated_messages_decode_canonically_or_fail(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let limits = WireLimits::default();
        let mut bytes = wire::encode(&sample_message(), &limits).unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(message) = wire::decode::<String>(&bytes, &limits) {
            prop_assert_eq!(wire::encode(&message, &limits).unwrap(), bytes);
        }
    }
}

#[test]
fn key_cache_verifies_like_the_plain_check() {
    let alice = key("Alice");
    let message = b"parsec";
    let good = alice.sign(message);
    let mut bad = *good.as_bytes();
    bad[0] ^= 1;
    let bad = Signature::from_bytes(bad);
    let mut cache = parsec_graph::KeyCache::new();
    for _ in 0..2 {
        assert!(cache.verify(&alice.peer_id(), message, &good));
        assert!(!cache.verify(&alice.peer_id(), message, &bad));
        assert!(!cache.verify(&key("Bob").peer_id(), message, &good));
    }
    // Not a point on the curve: never verifies, cached or not.
    let invalid = parsec_graph::PeerId::from_bytes([0xff; 32]);
    assert!(!invalid.verify(message, &good));
    assert!(!cache.verify(&invalid, message, &good));
    // Past its capacity the cache starts over and still answers correctly.
    for i in 0..(parsec_graph::KeyCache::CAPACITY as u32 + 10) {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        let _ = cache.verify(&parsec_graph::PeerId::from_bytes(bytes), message, &good);
    }
    assert!(cache.verify(&alice.peer_id(), message, &good));
}

#[test]
fn shared_verification_never_accepts_a_forgery() {
    let b = base();
    let node = b.graph.iter().last().unwrap();
    let good = node.event().packed().clone();
    let shared = parsec_graph::VerifiedEvents::new();
    let mut first = parsec_graph::KeyCache::with_shared(shared.clone());
    let mut second = parsec_graph::KeyCache::with_shared(shared.clone());
    let limits = EventLimits::default();
    good.clone().verify_with(&limits, &mut first).unwrap();
    assert_eq!(shared.len(), 1);
    // Same content, another signature: not what was checked, so it is checked, and fails.
    let mut forged = good.clone();
    let mut sig = *forged.signature.as_bytes();
    sig[10] ^= 0x40;
    forged.signature = Signature::from_bytes(sig);
    assert_eq!(
        forged.verify_with(&limits, &mut second),
        Err(EventError::BadSignature)
    );
    assert_eq!(shared.len(), 1);
    // The checked event passes for the other engine without a second check.
    assert_eq!(
        good.verify_with(&limits, &mut second).unwrap().hash(),
        node.hash()
    );
}

#[test]
fn prepared_verification_gives_the_same_event() {
    let alice = key("Alice");
    let b = base();
    let (_, a1, _, _) = b.events["A1"];
    let vote = Vote::new(Observation::OpaquePayload("v".to_string()), &alice).unwrap();
    let packed = packed(
        &alice,
        2,
        Cause::Observation {
            self_parent: a1,
            vote: Box::new(vote),
        },
    );
    let plain = packed.clone().verify(&EventLimits::default()).unwrap();
    let prepared = packed.prepare().unwrap();
    assert_eq!(prepared.hash(), plain.hash());
    let via = prepared
        .verify_with(&EventLimits::default(), &mut parsec_graph::KeyCache::new())
        .unwrap();
    assert_eq!(via, plain);
    assert_eq!(
        via.observation_hash(),
        Some(
            &Observation::<String>::OpaquePayload("v".to_string())
                .hash()
                .unwrap()
        )
    );
}
