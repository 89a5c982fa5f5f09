//! Bad input is a fault (spec §4.4, §14.3): a peer's tampered, misaddressed, duplicated,
//! undecodable or oversized message is a `Fault` in `Ok(Step)` that never panics and never
//! loses state.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{Fault, FaultKind, Step};
use parsec_graph::{Cause, ConsensusMode, WireMessage, wire};
use proptest::prelude::*;

const FILE: &str = "bad_input";

#[test]
fn tampered_first_event_is_bad_signature_and_changes_nothing() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let WireMessage::Request { events } = request.clone() else {
        panic!("not a request: {request:?}");
    };
    let mut tampered = events.clone();
    tamper_signature(&mut tampered[0]);
    let before = bob.graph().len();
    let step = bob
        .handle_message(*alice.our_id(), WireMessage::Request { events: tampered })
        .unwrap();
    assert_eq!(
        step.faults,
        vec![Fault {
            sender: *alice.our_id(),
            creator: None,
            kind: FaultKind::BadSignature
        }]
    );
    assert!(step.send.is_empty());
    assert!(step.inserted().next().is_none());
    assert!(step.blocks.is_empty());
    assert_eq!(bob.graph().len(), before);
    // Nothing was lost: the genuine request is answered.
    let step = bob.handle_message(*alice.our_id(), request).unwrap();
    assert!(step.faults.is_empty());
    assert_eq!(bob.graph().len(), before + events.len() + 1);
    let response = only_message(step);
    assert!(matches!(response, WireMessage::Response { .. }));
    let step = alice.handle_message(*bob.our_id(), response).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
}

#[test]
fn tampered_last_event_keeps_the_earlier_events_and_sends_nothing() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let mut events = request.into_events();
    let n = events.len();
    assert!(n >= 2);
    tamper_signature(events.last_mut().unwrap());
    let before = bob.graph().len();
    let step = bob
        .handle_message(*alice.our_id(), WireMessage::Request { events })
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::BadSignature]);
    assert!(step.send.is_empty(), "no sync event, no response");
    assert_eq!(step.inserted().count(), n - 1);
    assert_eq!(bob.graph().len(), before + n - 1);
}

#[test]
fn tampered_content_is_bad_signature() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let mut events = request.into_events();
    // Redirect Alice's Requesting to someone else without re-signing it.
    let last = events.last_mut().unwrap();
    let Cause::Requesting { recipient, .. } = &mut last.content.cause else {
        panic!("the last event of a request is a Requesting");
    };
    *recipient = peer_key(3).peer_id();
    let step = bob
        .handle_message(*alice.our_id(), WireMessage::Request { events })
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::BadSignature]);
    assert!(step.send.is_empty());
}

#[test]
fn relayed_tampered_event_names_its_creator() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut net = network(&keys[..3], &config, 1);
    // Carol learns Alice's events, then relays them to Bob with one signature broken.
    net.sync(0, 2).unwrap();
    let alice = *net.engine(0).our_id();
    let bob = *net.engine(1).our_id();
    let carol = *net.engine(2).our_id();
    let request = only_message(net.engine_mut(2).create_gossip(bob).unwrap());
    let mut events = request.into_events();
    let first_of_alice = events
        .iter()
        .position(|e| e.content.creator == alice)
        .unwrap();
    tamper_signature(&mut events[first_of_alice]);
    let before = net.engine(1).graph().len();
    let step = net
        .engine_mut(1)
        .handle_message(carol, WireMessage::Request { events })
        .unwrap();
    assert_eq!(
        step.faults,
        vec![Fault {
            sender: carol,
            creator: Some(alice),
            kind: FaultKind::BadSignature
        }]
    );
    assert!(step.send.is_empty());
    assert_eq!(
        net.engine(1).graph().len(),
        before + step.inserted().count()
    );
    net.assert_quiet();
}

#[test]
fn message_from_an_unknown_sender_is_unexpected_sender() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let stranger = peer_key(200).peer_id();
    let before = bob.graph().len();
    for message in [
        request.clone(),
        WireMessage::Response {
            events: request.events().to_vec(),
        },
        WireMessage::Events {
            events: request.events().to_vec(),
        },
    ] {
        let step = bob.handle_message(stranger, message).unwrap();
        assert_eq!(
            step.faults,
            vec![Fault {
                sender: stranger,
                creator: None,
                kind: FaultKind::UnexpectedSender
            }]
        );
        assert!(step.send.is_empty());
        assert_eq!(bob.graph().len(), before);
    }
}

#[test]
fn message_claiming_to_be_from_ourselves_is_unexpected_sender() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let before = bob.graph().len();
    let step = bob.handle_message(*bob.our_id(), request).unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::UnexpectedSender]);
    assert_eq!(bob.graph().len(), before);
}

#[test]
fn empty_request_is_malformed() {
    let (alice, mut bob) = pair();
    let step = bob
        .handle_message(*alice.our_id(), WireMessage::Request { events: Vec::new() })
        .unwrap();
    assert_eq!(
        step.faults,
        vec![Fault {
            sender: *alice.our_id(),
            creator: None,
            kind: FaultKind::MalformedMessage
        }]
    );
    assert!(step.send.is_empty());
    let step = bob
        .handle_message(*alice.our_id(), WireMessage::Request { events: vec![] })
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::MalformedMessage]);
}

#[test]
fn empty_response_and_empty_events_are_ignored() {
    let (alice, mut bob) = pair();
    let before = bob.graph().len();
    for message in [
        WireMessage::Response { events: vec![] },
        WireMessage::Events { events: vec![] },
    ] {
        let step = bob.handle_message(*alice.our_id(), message).unwrap();
        assert_eq!(step, Step::default());
    }
    assert_eq!(bob.graph().len(), before);
}

#[test]
fn request_not_addressed_to_us_is_invalid_message() {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys[..3], &config);
    let carol = *engines[2].our_id();
    let alice = *engines[0].our_id();
    // Alice's request for Carol, delivered to Bob.
    let request = only_message(engines[0].create_gossip(carol).unwrap());
    let n = request.events().len();
    let bob = &mut engines[1];
    let before = bob.graph().len();
    let step = bob.handle_message(alice, request.clone()).unwrap();
    assert_eq!(
        step.faults,
        vec![Fault {
            sender: alice,
            creator: None,
            kind: FaultKind::InvalidMessage
        }]
    );
    assert!(step.send.is_empty(), "no response");
    // The events themselves are valid and kept, but no sync event was created.
    assert_eq!(bob.graph().len(), before + n);
    // Delivered to Carol it is fine.
    let step = engines[2].handle_message(alice, request).unwrap();
    assert!(step.faults.is_empty());
    assert_eq!(step.send.len(), 1);
}

#[test]
fn request_delivered_as_a_response_is_invalid_message() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let step = bob
        .handle_message(
            *alice.our_id(),
            WireMessage::Response {
                events: request.into_events(),
            },
        )
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::InvalidMessage]);
    assert!(step.send.is_empty());
}

#[test]
fn request_whose_last_event_is_a_vote_is_invalid_message() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let mut events = request.into_events();
    events.pop(); // the Requesting: the Genesis vote is now last
    let step = bob
        .handle_message(*alice.our_id(), WireMessage::Request { events })
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::InvalidMessage]);
    assert!(step.send.is_empty());
}

#[test]
fn duplicate_request_gets_no_second_response() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let first = bob
        .handle_message(*alice.our_id(), request.clone())
        .unwrap();
    assert!(first.faults.is_empty());
    let response = only_message(first);
    let len = bob.graph().len();
    let second = bob.handle_message(*alice.our_id(), request).unwrap();
    assert_eq!(second, Step::default(), "a duplicate is silent");
    assert_eq!(bob.graph().len(), len);
    // Likewise a duplicated response creates one Response event only.
    let step = alice
        .handle_message(*bob.our_id(), response.clone())
        .unwrap();
    assert!(step.faults.is_empty());
    assert!(step.send.is_empty());
    let len = alice.graph().len();
    let again = alice.handle_message(*bob.our_id(), response).unwrap();
    assert_eq!(again, Step::default());
    assert_eq!(alice.graph().len(), len);
}

#[test]
fn undecodable_and_oversized_bytes_are_faults() {
    let keys = peer_keys(4);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.event_limits.max_observation_bytes = 512;
    config.event_limits.max_coin_shares_per_event = 0;
    config.wire_limits.max_message_bytes = 4096;
    config.wire_limits.max_events_per_message = 8;
    let mut engines = start(&keys[..2], &config);
    let alice = *engines[0].our_id();
    let bob = &mut engines[1];
    let len = bob.graph().len();
    let cases: Vec<(Vec<u8>, FaultKind)> = vec![
        (vec![], FaultKind::MalformedMessage),
        (vec![0; 3], FaultKind::MalformedMessage),
        (vec![0xff; 40], FaultKind::OversizedMessage),
        (vec![0; 5000], FaultKind::OversizedMessage),
        // Tag 0 (Request), 9 events: over the event-count limit.
        (
            [0u32.to_le_bytes().as_slice(), 9u64.to_le_bytes().as_slice()].concat(),
            FaultKind::OversizedMessage,
        ),
        // Tag 7: no such message.
        (
            [7u32.to_le_bytes().as_slice(), 0u64.to_le_bytes().as_slice()].concat(),
            FaultKind::MalformedMessage,
        ),
        // A Request claiming one event but carrying none.
        (
            [0u32.to_le_bytes().as_slice(), 1u64.to_le_bytes().as_slice()].concat(),
            FaultKind::MalformedMessage,
        ),
        // A well-formed empty Request.
        (
            [0u32.to_le_bytes().as_slice(), 0u64.to_le_bytes().as_slice()].concat(),
            FaultKind::MalformedMessage,
        ),
    ];
    for (bytes, kind) in cases {
        let step = bob.handle_bytes(alice, &bytes).unwrap();
        assert_eq!(
            step.faults,
            vec![Fault {
                sender: alice,
                creator: None,
                kind
            }],
            "bytes {:?}",
            &bytes[..bytes.len().min(16)]
        );
        assert!(step.send.is_empty());
        assert_eq!(bob.graph().len(), len);
    }
}

#[test]
fn trailing_bytes_are_malformed() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let limits = bob.config().wire_limits;
    let mut bytes = wire::encode(&request, &limits).unwrap();
    bytes.push(0);
    let len = bob.graph().len();
    let step = bob.handle_bytes(*alice.our_id(), &bytes).unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::MalformedMessage]);
    assert_eq!(bob.graph().len(), len);
    // The same bytes without the trailing one are a proper request.
    bytes.pop();
    let step = bob.handle_bytes(*alice.our_id(), &bytes).unwrap();
    assert!(step.faults.is_empty());
    assert_eq!(step.send.len(), 1);
}

fn allowed_fault(kind: &FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::MalformedMessage
            | FaultKind::OversizedMessage
            | FaultKind::BadSignature
            | FaultKind::InvalidEvent(_)
            | FaultKind::InvalidParents(_)
            | FaultKind::InvalidMessage
    )
}

/// Arbitrary bytes never panic, never err, and leave the graph as it was.
#[test]
fn arbitrary_bytes_are_a_fault_never_a_panic() {
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..512),
        any::<bool>(),
        0u32..4,
        0u64..4,
    );
    check_property(
        FILE,
        "arbitrary_bytes_are_a_fault_never_a_panic",
        256,
        1,
        strategy,
        |(bytes, small_header, tag, count)| {
            let (alice, mut bob) = pair();
            let mut bytes = bytes;
            if small_header {
                // Give the decoder a plausible header so it reads further.
                let mut framed = tag.to_le_bytes().to_vec();
                framed.extend(count.to_le_bytes());
                framed.extend(bytes);
                bytes = framed;
            }
            let len = bob.graph().len();
            let step = bob.handle_bytes(*alice.our_id(), &bytes).unwrap();
            prop_assert!(step.faults.len() <= 1, "{:?}", step.faults);
            prop_assert!(
                step.faults.iter().all(|f| allowed_fault(&f.kind)),
                "{:?}",
                step.faults
            );
            prop_assert!(step.send.is_empty());
            prop_assert!(step.blocks.is_empty());
            prop_assert_eq!(bob.graph().len(), len);
            assert_still_works(alice, bob);
            Ok(())
        },
    );
}

/// A genuine request with one byte changed, or cut short, is handled or is a fault: never
/// a panic or an `Err`, and the engines keep working.
#[test]
fn corrupted_request_bytes_are_a_fault_never_a_panic() {
    let strategy = (any::<prop::sample::Index>(), 1u8..=255, any::<bool>());
    check_property(
        FILE,
        "corrupted_request_bytes_are_a_fault_never_a_panic",
        256,
        2,
        strategy,
        |(position, xor, cut)| {
            let (mut alice, mut bob) = pair();
            let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
            let mut bytes = wire::encode(&request, &bob.config().wire_limits).unwrap();
            let at = position.index(bytes.len());
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] ^= xor;
            }
            let step = bob.handle_bytes(*alice.our_id(), &bytes).unwrap();
            prop_assert!(
                step.faults.iter().all(|f| allowed_fault(&f.kind)),
                "{:?}",
                step.faults
            );
            prop_assert!(step.blocks.is_empty());
            if !step.send.is_empty() {
                // Only an intact request is answered.
                prop_assert!(step.faults.is_empty());
            }
            assert_still_works(alice, bob);
            Ok(())
        },
    );
}
