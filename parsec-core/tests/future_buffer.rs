//! The future buffer (spec §4.4, §5.3): events whose parents are missing are held,
//! bounded per sender, and inserted in a topological order once their parents come; our
//! own unknown event is lost state.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{Error, Fault, FaultKind, Parsec, Step};
use parsec_graph::{Cause, ConsensusMode, EventHash, PackedEvent, WireMessage};

#[test]
fn our_own_unknown_event_is_lost_state() {
    // Alice sends a request, then restarts from genesis without her stored events; the
    // events of that request come back to her (spec §13.3, §14.3). Her Initial and Genesis
    // events are recreated identically; her Requesting is unknown to her.
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys[..2], &config);
    let b = *engines[1].our_id();
    let request = only_message(engines[0].create_gossip(b).unwrap());
    let requesting = request.events().last().unwrap().hash().unwrap();
    let (mut fresh, _) = Parsec::<String, _>::new(keys[0].clone(), config.clone()).unwrap();
    let events = request.into_events();
    let result = fresh.handle_message(b, WireMessage::Events { events });
    assert!(
        matches!(result, Err(Error::LostState(hash)) if hash == requesting),
        "{result:?}"
    );
}

#[test]
fn future_buffer_overflow_is_a_fault() {
    let keys = peer_keys(4);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.max_future_events_per_peer = 2;
    config.max_future_events_total = 2;
    let mut engines = start(&keys[..2], &config);
    let alice = *engines[0].our_id();
    let bob = &mut engines[1];
    // Three events by a stranger (not a member): held, and the oldest is dropped.
    let stranger = peer_key(200);
    let mut events = Vec::new();
    let mut parent: Option<EventHash> = None;
    for index in 0..3u64 {
        let cause = match parent {
            None => Cause::Initial,
            Some(self_parent) => Cause::Requesting {
                self_parent,
                recipient: *bob.our_id(),
            },
        };
        let event = packed_event(&stranger, index, cause);
        parent = Some(event.hash().unwrap());
        events.push(event);
    }
    let len = bob.graph().len();
    let step = bob
        .handle_message(alice, WireMessage::Events { events })
        .unwrap();
    assert_eq!(
        step.faults,
        vec![Fault {
            sender: alice,
            creator: Some(stranger.peer_id()),
            kind: FaultKind::BufferOverflow
        }]
    );
    assert_eq!(bob.held_events(), 2);
    assert_eq!(bob.graph().len(), len);
    assert!(step.send.is_empty());
}

#[test]
fn request_ending_in_a_held_event_gets_no_response_and_no_fault() {
    // Alice relays a stranger's events only: they are held, and since the last event is
    // not inserted, there is no sync event and no response, and no fault (spec §4.4 step 3).
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys[..2], &config);
    let alice = *engines[0].our_id();
    let bob = &mut engines[1];
    let stranger = peer_key(200);
    let initial = packed_event(&stranger, 0, Cause::Initial);
    let step = bob
        .handle_message(
            alice,
            WireMessage::Request {
                events: vec![initial],
            },
        )
        .unwrap();
    assert_eq!(step, Step::default());
    assert_eq!(bob.held_events(), 1);
}

/// Events delivered one per message in reverse order are held until their parents come,
/// then all inserted in a topological order; nothing is left held.
#[test]
fn events_delivered_in_reverse_are_all_inserted() {
    let keys = peer_keys(3);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys, &config);
    let _ = engines[1].vote_for(opaque("p")).unwrap();
    let carol = *engines[2].our_id();
    let bob = *engines[1].our_id();
    let request = only_message(engines[1].create_gossip(carol).unwrap());
    let reply = engines[2].handle_message(bob, request).unwrap();
    let _ = engines[1]
        .handle_message(carol, only_message(reply))
        .unwrap();
    let events: Vec<PackedEvent<String>> = engines[1]
        .graph()
        .iter()
        .map(|n| n.event().packed().clone())
        .collect();
    let alice = &mut engines[0];
    let known_before = alice.graph().len();
    let new: Vec<_> = events
        .iter()
        .filter(|e| !alice.graph().contains(&e.hash().unwrap()))
        .cloned()
        .collect();
    let mut persisted = 0;
    for event in new.iter().rev() {
        let step = alice
            .handle_message(
                bob,
                WireMessage::Events {
                    events: vec![event.clone()],
                },
            )
            .unwrap();
        assert!(step.faults.is_empty(), "{:?}", step.faults);
        persisted += step.inserted().count();
    }
    assert!(new.len() > 4, "the scenario delivers a real backlog");
    assert_eq!(persisted, new.len(), "every event persisted exactly once");
    assert_eq!(alice.held_events(), 0);
    assert_eq!(alice.graph().len(), known_before + new.len());
    // Insertion order is topological: every event's parents come before it.
    for node in alice.graph().iter() {
        for parent in [node.self_parent(), node.other_parent()]
            .into_iter()
            .flatten()
        {
            assert!(parent < node.index());
        }
    }
}

/// A member sending a long chain that hangs off a parent that never comes fills its share
/// of the buffer, is evicted oldest first with faults, and does not stop honest syncs.
#[test]
fn a_chain_off_a_missing_parent_stays_held_and_harms_nobody() {
    let keys = peer_keys(3);
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.max_future_events_per_peer = 64;
    config.max_future_events_total = 128;
    let mut engines = start(&keys, &config);
    let b = *engines[1].our_id();
    let c = *engines[2].our_id();
    // Bob's forged chain at indices 10.. hangs off a hash nobody has.
    let mut parent = EventHash::from_bytes([9; 32]);
    let mut chain = Vec::new();
    for index in 10..110 {
        let event = packed_event(
            &keys[1],
            index,
            Cause::Requesting {
                self_parent: parent,
                recipient: c,
            },
        );
        parent = event.hash().unwrap();
        chain.push(event);
    }
    let step = engines[0]
        .handle_message(b, WireMessage::Events { events: chain })
        .unwrap();
    assert_eq!(engines[0].held_events(), 64);
    assert_eq!(
        step.faults
            .iter()
            .filter(|f| f.kind == FaultKind::BufferOverflow)
            .count(),
        100 - 64
    );
    // Carol syncs with Alice as usual.
    let a = *engines[0].our_id();
    let request = only_message(engines[2].create_gossip(a).unwrap());
    let step = engines[0].handle_message(c, request).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_eq!(step.send.len(), 1, "Alice answers Carol");
}

/// A held event whose missing parent comes in a request is in the graph before we answer,
/// so the response carries it on (spec §4.4: held events are retried after each insertion,
/// not after the reply).
#[test]
fn an_event_released_by_a_request_travels_in_the_response() {
    let keys = peer_keys(3);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys, &config);
    let [alice_id, bob_id, carol_id] = [0, 1, 2].map(|i| *engines[i].our_id());
    // Carol answers Bob's request: her `Request` event has Bob's `Requesting` as its other
    // parent, which Alice has not seen.
    let request = only_message(engines[1].create_gossip(carol_id).unwrap());
    let carols_reply = only_message(engines[2].handle_message(bob_id, request).unwrap());
    let carols_request_event = carols_reply.events().last().unwrap().hash().unwrap();
    let step = engines[0]
        .handle_message(
            carol_id,
            WireMessage::Events {
                events: carols_reply.into_events(),
            },
        )
        .unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_eq!(
        engines[0].held_events(),
        1,
        "Carol's sync event waits for Bob's"
    );
    // Bob's request to Alice brings the missing parent; Bob never saw Carol's reply.
    let request = only_message(engines[1].create_gossip(alice_id).unwrap());
    let response = only_message(engines[0].handle_message(bob_id, request).unwrap());
    assert_eq!(engines[0].held_events(), 0);
    let carried: Vec<EventHash> = response
        .events()
        .iter()
        .map(|e| e.hash().unwrap())
        .collect();
    assert!(
        carried.contains(&carols_request_event),
        "the response lacks the released event"
    );
    // And Bob inserts it with the rest, without a fault.
    let step = engines[1].handle_message(alice_id, response).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert!(engines[1].graph().contains(&carols_request_event));
}
