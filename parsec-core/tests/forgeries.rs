//! Validly signed lies (spec §14.1): events forged in our name, events by keys that never
//! were members, and arbitrarily structured events signed by members are faults or
//! accepted, never an `Err` or a panic.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{Fault, FaultKind};
use parsec_graph::{
    Cause, ConsensusMode, EventHash, Observation, PackedEvent, Signature, WireMessage,
};
use proptest::prelude::*;

const FILE: &str = "forgeries";

/// A peer that sends an event claiming to be ours with a signature that does not verify
/// is a peer sending bad data (spec §14.1: a fault in `Ok(Step)`), not a sign that our
/// own store lost state: otherwise any member could stop any other member's driver with
/// one forged event.
#[test]
fn forged_event_in_our_name_is_a_fault_not_lost_state() {
    let (mut alice, bob) = pair();
    let a = *alice.our_id();
    let b = *bob.our_id();
    let tip = *alice.graph().iter().last().unwrap().hash();
    let forged = PackedEvent::<String> {
        content: parsec_graph::EventContent {
            creator: a,
            index: 2,
            cause: Cause::Requesting {
                self_parent: tip,
                recipient: b,
            },
            coin_shares: vec![],
        },
        signature: Signature::from_bytes([0; 64]),
    };
    let len = alice.graph().len();
    let result = alice.handle_message(
        b,
        WireMessage::Events {
            events: vec![forged],
        },
    );
    let step = result.unwrap();
    assert_eq!(
        step.faults,
        vec![Fault {
            sender: b,
            creator: Some(a),
            kind: FaultKind::BadSignature
        }]
    );
    assert_eq!(alice.graph().len(), len);
}

/// A member's event built on an event by a made-up key arrives first and waits; when the
/// made-up key's event arrives it is held too, and rule (b) of spec §5.3 does not bring it
/// in: its creator never was a member. Nothing of the made-up key reaches the graph, and
/// the member's event waits for a parent that can never be inserted.
#[test]
fn an_event_by_a_key_that_never_was_a_member_never_enters_the_graph() {
    let (mut alice, bob) = pair();
    let b = *bob.our_id();
    let mallory = peer_key(50);
    let m0 = packed_event(&mallory, 0, Cause::Initial);
    let bob_tip = *bob.graph().iter().last().unwrap().hash();
    let bob_events: Vec<PackedEvent<String>> = bob
        .graph()
        .iter()
        .map(|n| n.event().packed().clone())
        .collect();
    let child = packed_event(
        &peer_key(1),
        bob.graph().iter().last().unwrap().creator_index() + 1,
        Cause::Request {
            self_parent: bob_tip,
            other_parent: m0.hash().unwrap(),
        },
    );
    let mut events = bob_events;
    events.push(child.clone());
    let step = alice
        .handle_message(b, WireMessage::Events { events })
        .unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_eq!(
        alice.held_events(),
        1,
        "the child waits for its other-parent"
    );
    let step = alice
        .handle_message(
            b,
            WireMessage::Events {
                events: vec![m0.clone()],
            },
        )
        .unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_eq!(alice.held_events(), 2, "both wait");
    assert!(!alice.graph().contains(&m0.hash().unwrap()));
    assert!(!alice.graph().contains(&child.hash().unwrap()));
    assert!(alice.graph().peer_index(&mallory.peer_id()).is_none());
    assert!(step.inserted().next().is_none());
}

/// One event a misbehaving member may sign: which cause, which parents (indices into the
/// pool of known hashes, or a random hash), which index.
#[derive(Clone, Debug)]
struct Forgery {
    creator: usize,
    index: u64,
    cause: u8,
    self_parent: prop::sample::Index,
    other_parent: prop::sample::Index,
    random_parent: bool,
    payload: u8,
    shares: bool,
}

fn forgery() -> impl Strategy<Value = Forgery> {
    (
        0usize..2,
        0u64..6,
        0u8..6,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::bool::weighted(0.1),
        0u8..6,
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(creator, index, cause, self_parent, other_parent, random_parent, payload, shares)| {
                Forgery {
                    creator,
                    index,
                    cause,
                    self_parent,
                    other_parent,
                    random_parent,
                    payload,
                    shares,
                }
            },
        )
}

/// Validly signed but arbitrarily structured events from members (forks, index gaps,
/// wrong parents, odd votes, coin shares) are faults or accepted, never an `Err` or a
/// panic, at the receiver and at the next peer they are gossiped to.
#[test]
fn signed_garbage_from_members_is_never_an_error() {
    let strategy = (proptest::collection::vec(forgery(), 1..8), any::<bool>());
    check_property(
        FILE,
        "signed_garbage_from_members_is_never_an_error",
        128,
        3,
        strategy,
        |(forgeries, as_request)| {
            let keys = peer_keys(4);
            let config = genesis_config(&keys, ConsensusMode::Supermajority);
            let mut engines = start(&keys[..2], &config);
            let (a, b) = (*engines[0].our_id(), *engines[1].our_id());
            // One honest sync first, so that Bob knows some history.
            let request = only_message(engines[0].create_gossip(b).unwrap());
            let response = only_message(engines[1].handle_message(a, request).unwrap());
            let _ = engines[0].handle_message(b, response).unwrap();
            // Carol and Dave run no engine; their keys sign the forgeries.
            let forgers = [&keys[2], &keys[3]];
            let mut pool: Vec<EventHash> =
                engines[1].graph().iter().map(|node| *node.hash()).collect();
            let mut events = Vec::new();
            for f in &forgeries {
                let key = forgers[f.creator];
                let pick = |index: &prop::sample::Index| {
                    if f.random_parent {
                        EventHash::from_bytes([f.payload; 32])
                    } else {
                        pool[index.index(pool.len())]
                    }
                };
                let (self_parent, other_parent) = (pick(&f.self_parent), pick(&f.other_parent));
                let vote = |observation: Observation<String>| {
                    parsec_graph::Vote::new(observation, key).unwrap()
                };
                let cause = match f.cause {
                    0 => Cause::Initial,
                    1 => Cause::Requesting {
                        self_parent,
                        recipient: [a, b, keys[2].peer_id()][f.payload as usize % 3],
                    },
                    2 => Cause::Request {
                        self_parent,
                        other_parent,
                    },
                    3 => Cause::Response {
                        self_parent,
                        other_parent,
                    },
                    4 => Cause::Observation {
                        self_parent,
                        vote: Box::new(vote(opaque(&format!("forged-{}", f.payload)))),
                    },
                    _ => Cause::Observation {
                        self_parent,
                        vote: Box::new(vote(match f.payload % 3 {
                            0 => Observation::Genesis {
                                group: group(&keys[..3]),
                                related_info: vec![],
                                coin: parsec_coin::CommonCoin::agreement(
                                    &parsec_coin::ConcreteCoin::new(),
                                ),
                            },
                            1 => Observation::Genesis {
                                group: group(&keys),
                                related_info: vec![],
                                coin: parsec_coin::CommonCoin::agreement(
                                    &parsec_coin::ConcreteCoin::new(),
                                ),
                            },
                            _ => Observation::Remove {
                                peer_id: a,
                                related_info: vec![],
                            },
                        })),
                    },
                };
                let coin_shares = if f.shares && f.index > 0 {
                    vec![parsec_graph::CoinShare {
                        election: 0,
                        candidate: a,
                        round: 0,
                        share: [f.payload; 96],
                    }]
                } else {
                    vec![]
                };
                let content = parsec_graph::EventContent::<String> {
                    creator: key.peer_id(),
                    index: f.index,
                    cause,
                    coin_shares,
                };
                // Contents the signer itself refuses (e.g. Initial at index 3) are signed by hand.
                let packed = match content.clone().sign(key, &config.event_limits) {
                    Ok(event) => event.into_packed(),
                    Err(_) => {
                        let signature = key.sign(&content.signing_bytes().unwrap());
                        PackedEvent { content, signature }
                    }
                };
                pool.push(packed.hash().unwrap());
                events.push(packed);
            }
            let message = if as_request {
                WireMessage::Request { events }
            } else {
                WireMessage::Events { events }
            };
            let step = engines[1].handle_message(a, message);
            prop_assert!(step.is_ok(), "{:?}", step.err());
            // Bob keeps gossiping with Alice, who receives whatever Bob accepted.
            for _ in 0..3 {
                let request = only_message(engines[1].create_gossip(a).unwrap());
                let step = engines[0].handle_message(b, request);
                prop_assert!(step.is_ok(), "{:?}", step.err());
                for out in step.unwrap().send {
                    let back = engines[1].handle_message(a, out.message);
                    prop_assert!(back.is_ok(), "{:?}", back.err());
                }
            }
            Ok(())
        },
    );
}
