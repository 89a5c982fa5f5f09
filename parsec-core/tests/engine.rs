//! Engine-level tests of the public `Parsec` API: local misuse is an `Err`, a peer's bad
//! input is a `Fault` in `Ok(Step)` that never panics and never loses state (spec §14), the
//! sync protocol's edge cases (spec §4.4, §4.5), voting (spec §4.7) and decided membership
//! changes (spec §5.4).

#![allow(clippy::unwrap_used)]

use parsec_coin::ParityCoin;
use parsec_core::{Block, Config, Error, Fault, FaultKind, Parsec, PeerFlags, PeerState, Step};
use parsec_graph::{
    Cause, ConsensusMode, EventHash, Malice, Observation, PackedEvent, PeerId, PeerSet, SecretKey,
    Signature, WireMessage, wire,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Engine = Parsec<String, ParityCoin>;

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed([i + 1; 32])
}

fn keys(n: u8) -> Vec<SecretKey> {
    (0..n).map(key).collect()
}

fn group(keys: &[SecretKey]) -> PeerSet {
    keys.iter().map(SecretKey::peer_id).collect()
}

fn opaque(s: &str) -> Observation<String> {
    Observation::OpaquePayload(s.to_string())
}

/// Starts every key as a genesis member; the genesis steps decide and report nothing.
fn start(keys: &[SecretKey], config: &Config) -> Vec<Engine> {
    keys.iter()
        .map(|k| {
            let (engine, step) =
                Parsec::from_genesis(k.clone(), config.clone(), ParityCoin).unwrap();
            assert!(step.send.is_empty());
            assert!(step.faults.is_empty());
            assert!(
                step.blocks.is_empty(),
                "nothing is decided without a sync event"
            );
            assert_eq!(step.persist.len(), 2, "Initial and the Genesis vote");
            engine
        })
        .collect()
}

fn pair() -> (Engine, Engine) {
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut engines = start(&keys[..2], &config).into_iter();
    (engines.next().unwrap(), engines.next().unwrap())
}

/// The single message of a step.
fn only_message(step: Step<String>) -> WireMessage<String> {
    assert_eq!(step.send.len(), 1, "expected one message: {:?}", step.send);
    step.send.into_iter().next().unwrap().message
}

fn kinds(step: &Step<String>) -> Vec<FaultKind> {
    step.faults.iter().map(|f| f.kind.clone()).collect()
}

fn tamper_signature(event: &mut PackedEvent<String>) {
    let mut bytes = *event.signature.as_bytes();
    bytes[0] ^= 0x01;
    event.signature = Signature::from_bytes(bytes);
}

/// A small gossip loop over engines, recording every block and fault. Messages to peers
/// that are not in `peers` (not started here) are dropped; removed peers are not picked.
struct Net {
    peers: Vec<Engine>,
    blocks: Vec<Vec<Block<String>>>,
    faults: Vec<Vec<Fault>>,
    rng: ChaCha8Rng,
    /// Chance in percent that a message is lost.
    loss_percent: u32,
    /// `Events` chunks delivered or lost.
    chunks: usize,
    /// Messages lost.
    lost: usize,
    /// Send every message as bytes (`wire::encode`, then `handle_bytes`).
    over_the_wire: bool,
}

impl Net {
    fn new(keys: &[SecretKey], config: &Config, seed: u64) -> Net {
        let peers = start(keys, config);
        let n = peers.len();
        Net {
            peers,
            blocks: vec![Vec::new(); n],
            faults: vec![Vec::new(); n],
            rng: ChaCha8Rng::seed_from_u64(seed),
            loss_percent: 0,
            chunks: 0,
            lost: 0,
            over_the_wire: false,
        }
    }

    fn index_of(&self, id: &PeerId) -> Option<usize> {
        self.peers.iter().position(|p| p.our_id() == id)
    }

    fn record(&mut self, i: usize, step: Step<String>) -> Vec<parsec_core::Outgoing<String>> {
        self.blocks[i].extend(step.blocks);
        self.faults[i].extend(step.faults);
        step.send
    }

    fn vote(&mut self, i: usize, observation: Observation<String>) {
        let step = self.peers[i].vote_for(observation).unwrap();
        let sent = self.record(i, step);
        assert!(sent.is_empty());
    }

    fn sync(&mut self, i: usize, j: usize) {
        let to = *self.peers[j].our_id();
        let step = self.peers[i].create_gossip(to).unwrap();
        let mut queue: Vec<_> = self
            .record(i, step)
            .into_iter()
            .map(|out| (i, out))
            .collect();
        while !queue.is_empty() {
            let (from, out) = queue.remove(0);
            let Some(target) = self.index_of(&out.to) else {
                continue;
            };
            if matches!(out.message, WireMessage::Events { .. }) {
                self.chunks += 1;
            }
            if self.loss_percent > 0 && self.rng.random_range(0..100) < self.loss_percent {
                self.lost += 1;
                continue;
            }
            let from_id = *self.peers[from].our_id();
            let step = if self.over_the_wire {
                let limits = self.peers[from].config().wire_limits;
                let bytes = wire::encode(&out.message, &limits)
                    .unwrap_or_else(|e| panic!("peer {from} sent an unencodable message: {e}"));
                self.peers[target].handle_bytes(from_id, &bytes).unwrap()
            } else {
                self.peers[target]
                    .handle_message(from_id, out.message)
                    .unwrap()
            };
            let sent = self.record(target, step);
            queue.extend(sent.into_iter().map(|out| (target, out)));
        }
    }

    /// One sync between a random running peer and one of its recipients that runs here.
    fn random_sync(&mut self) {
        let senders: Vec<(usize, Vec<usize>)> = (0..self.peers.len())
            .filter_map(|i| {
                let recipients: Vec<usize> = self.peers[i]
                    .gossip_recipients()
                    .iter()
                    .filter_map(|id| self.index_of(id))
                    .collect();
                (!recipients.is_empty()).then_some((i, recipients))
            })
            .collect();
        assert!(!senders.is_empty(), "nobody can gossip");
        let (i, recipients) = &senders[self.rng.random_range(0..senders.len())];
        let j = recipients[self.rng.random_range(0..recipients.len())];
        self.sync(*i, j);
    }

    fn run_until(&mut self, max_steps: usize, what: &str, done: impl Fn(&Net) -> bool) {
        for _ in 0..max_steps {
            if done(self) {
                return;
            }
            self.random_sync();
        }
        assert!(done(self), "{what}: not reached after {max_steps} syncs");
    }

    fn has_decided(&self, i: usize, observation: &Observation<String>) -> bool {
        self.blocks[i].iter().any(|b| b.payload == *observation)
    }

    fn payloads(&self, i: usize) -> Vec<Observation<String>> {
        self.blocks[i].iter().map(|b| b.payload.clone()).collect()
    }

    /// What peers agree on: payloads, the voter of `Single`-mode opaque blocks, and the
    /// group boundaries.
    fn sequence(&self, i: usize) -> Vec<(Observation<String>, Option<PeerId>, u64, u32)> {
        let single = self.peers[i].config().consensus_mode == ConsensusMode::Single;
        self.blocks[i]
            .iter()
            .map(|b| {
                let signer = (single && b.payload.is_opaque()).then(|| b.proofs[0].signer);
                (b.payload.clone(), signer, b.election, b.position)
            })
            .collect()
    }

    /// Whether peer `i` decided every vote of `observation` by `voters` peers: once in
    /// `Supermajority` mode (or for a non-opaque observation), once per voter in `Single`.
    fn has_decided_all(&self, i: usize, observation: &Observation<String>, voters: usize) -> bool {
        let count = self.blocks[i]
            .iter()
            .filter(|b| b.payload == *observation)
            .count();
        let single = self.peers[i].config().consensus_mode == ConsensusMode::Single;
        if single && observation.is_opaque() {
            count == voters
        } else {
            count == 1
        }
    }

    /// Checks peer `i`'s blocks of `observation` against the voter set `voters`.
    fn check_blocks_of(&self, i: usize, observation: &Observation<String>, voters: &[PeerId]) {
        let single = self.peers[i].config().consensus_mode == ConsensusMode::Single
            && observation.is_opaque();
        for block in self.blocks[i].iter().filter(|b| b.payload == *observation) {
            assert!(block.verify(voters), "peer {i}: {block:?}");
            if single {
                assert_eq!(block.proofs.len(), 1, "peer {i}: {block:?}");
            } else {
                assert!(
                    3 * block.proofs.len() > 2 * voters.len(),
                    "peer {i}: {} proofs of {} voters",
                    block.proofs.len(),
                    voters.len()
                );
            }
        }
    }

    fn assert_quiet(&self) {
        for (i, faults) in self.faults.iter().enumerate() {
            assert!(faults.is_empty(), "peer {i} reported {faults:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Voting and local misuse (spec §4.7, §14.3).

#[test]
fn sole_voter_decides_each_vote_immediately() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let me = key(0);
        let config = Config::new(group(std::slice::from_ref(&me)), mode);
        let (mut engine, step) =
            Parsec::<String, _>::from_genesis(me.clone(), config, ParityCoin).unwrap();
        assert!(step.faults.is_empty());
        let mut blocks = step.blocks;
        assert!(engine.gossip_recipients().is_empty());
        let votes = ["one", "two", "three", "four"];
        for (k, vote) in votes.iter().enumerate() {
            let step = engine.vote_for(opaque(vote)).unwrap();
            assert!(step.send.is_empty(), "{mode:?}: a sole voter sends nothing");
            assert!(step.faults.is_empty());
            assert!(
                step.blocks.iter().any(|b| b.payload == opaque(vote)),
                "{mode:?}: vote {vote:?} not decided by its own vote_for: {:?}",
                step.blocks
            );
            blocks.extend(step.blocks);
            let mut expected = vec![Observation::Genesis {
                group: group(std::slice::from_ref(&me)),
                related_info: Vec::new(),
            }];
            expected.extend(votes[..=k].iter().map(|v| opaque(v)));
            let payloads: Vec<_> = blocks.iter().map(|b| b.payload.clone()).collect();
            assert_eq!(payloads, expected, "{mode:?}");
            assert_eq!(engine.our_unpolled_observations().count(), 0, "{mode:?}");
            assert!(engine.have_voted_for(&opaque(vote)));
        }
        for (k, block) in blocks.iter().enumerate() {
            assert_eq!(block.sequence, k as u64);
            assert!(block.verify(&[me.peer_id()]));
            assert_eq!(block.proofs.len(), 1);
        }
        assert_eq!(engine.voters(), [me.peer_id()]);
    }
}

#[test]
fn from_genesis_outside_the_group_is_an_error() {
    let keys = keys(3);
    let config = Config::new(group(&keys[..2]), ConsensusMode::Supermajority);
    let result = Parsec::<String, _>::from_genesis(keys[2].clone(), config, ParityCoin);
    assert!(matches!(result, Err(Error::NotInGenesisGroup)));
}

#[test]
fn from_genesis_with_an_empty_group_is_an_error() {
    let config = Config::new(PeerSet::default(), ConsensusMode::Supermajority);
    let result = Parsec::<String, _>::from_genesis(key(0), config, ParityCoin);
    assert!(matches!(result, Err(Error::Config(_))));
}

#[test]
fn duplicate_vote_is_an_error() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let keys = keys(4);
        let config = Config::new(group(&keys), mode);
        let mut engine = start(&keys[..1], &config).remove(0);
        let before = engine.graph().len();
        assert!(engine.vote_for(opaque("x")).unwrap().blocks.is_empty());
        assert_eq!(engine.graph().len(), before + 1);
        assert!(matches!(
            engine.vote_for(opaque("x")),
            Err(Error::DuplicateVote)
        ));
        assert_eq!(
            engine.graph().len(),
            before + 1,
            "a refused vote creates nothing"
        );
        // The Genesis vote was cast by `from_genesis`.
        let genesis = Observation::Genesis {
            group: group(&keys),
            related_info: Vec::new(),
        };
        assert!(engine.have_voted_for(&genesis));
        assert!(matches!(
            engine.vote_for(genesis),
            Err(Error::DuplicateVote)
        ));
        // A different payload is fine.
        assert!(engine.vote_for(opaque("y")).unwrap().blocks.is_empty());
    }
}

#[test]
fn voting_an_accusation_or_dkg_result_is_forbidden() {
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut engine = start(&keys[..1], &config).remove(0);
    let before = engine.graph().len();
    let accusation = Observation::Accusation {
        offender: keys[1].peer_id(),
        malice: Malice::Fork(EventHash::from_bytes([7; 32])),
    };
    assert!(matches!(
        engine.vote_for(accusation.clone()),
        Err(Error::ForbiddenObservation)
    ));
    assert!(!engine.have_voted_for(&accusation));
    let result = Observation::DkgResult {
        participants: group(&keys),
        public_key_set: vec![1, 2, 3],
    };
    assert!(matches!(
        engine.vote_for(result),
        Err(Error::ForbiddenObservation)
    ));
    assert_eq!(engine.graph().len(), before);
    // Only the Genesis vote is pending.
    let unpolled: Vec<_> = engine.our_unpolled_observations().collect();
    assert!(
        matches!(unpolled.as_slice(), [Observation::Genesis { .. }]),
        "{unpolled:?}"
    );
}

#[test]
fn oversized_observation_is_an_error() {
    let keys = keys(4);
    let mut config = Config::new(group(&keys), ConsensusMode::Supermajority);
    config.event_limits.max_observation_bytes = 256;
    let mut engine = start(&keys[..1], &config).remove(0);
    let before = engine.graph().len();
    let big = Observation::OpaquePayload("z".repeat(300));
    assert!(matches!(
        engine.vote_for(big.clone()),
        Err(Error::ObservationTooLarge { limit: 256, size }) if size > 256
    ));
    assert!(!engine.have_voted_for(&big));
    assert_eq!(engine.graph().len(), before);
    // Just under the limit is fine.
    let step = engine
        .vote_for(Observation::OpaquePayload("z".repeat(200)))
        .unwrap();
    assert!(step.blocks.is_empty());
}

#[test]
fn oversized_observation_with_default_limits_is_an_error() {
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut engine = start(&keys[..1], &config).remove(0);
    let limit = config.event_limits.max_observation_bytes;
    let big = Observation::OpaquePayload("z".repeat(limit + 1));
    assert!(matches!(
        engine.vote_for(big),
        Err(Error::ObservationTooLarge { .. })
    ));
}

#[test]
fn create_gossip_to_an_unknown_peer_or_ourselves_is_an_error() {
    let (mut alice, _) = pair();
    let before = alice.graph().len();
    let stranger = key(200).peer_id();
    assert!(matches!(
        alice.create_gossip(stranger),
        Err(Error::UnknownPeer(p)) if p == stranger
    ));
    let us = *alice.our_id();
    assert!(alice.create_gossip(us).is_err());
    assert_eq!(
        alice.graph().len(),
        before,
        "a refused gossip creates nothing"
    );
}

#[test]
fn gossip_recipients_are_the_other_genesis_members() {
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let engine = start(&keys[..1], &config).remove(0);
    let mut others: Vec<PeerId> = keys[1..].iter().map(SecretKey::peer_id).collect();
    others.sort();
    assert_eq!(engine.gossip_recipients(), others);
    for k in &keys {
        assert_eq!(
            engine.peer_state(&k.peer_id()),
            Some(PeerState::Present(
                PeerFlags::VOTE | PeerFlags::SEND | PeerFlags::RECV
            ))
        );
    }
    assert_eq!(engine.peer_state(&key(200).peer_id()), None);
}

#[test]
fn have_voted_for_and_unpolled_observations_before_and_after_the_decision() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let keys = keys(4);
        let config = Config::new(group(&keys), mode);
        let mut net = Net::new(&keys, &config, 17);
        let x = opaque("x");
        assert!(!net.peers[0].have_voted_for(&x));
        // Before the Genesis decision, the Genesis vote is unpolled.
        let unpolled: Vec<_> = net.peers[0].our_unpolled_observations().cloned().collect();
        assert!(
            matches!(unpolled.as_slice(), [Observation::Genesis { .. }]),
            "{unpolled:?}"
        );
        net.vote(0, x.clone());
        assert!(net.peers[0].have_voted_for(&x));
        assert!(!net.peers[1].have_voted_for(&x), "{mode:?}");
        let unpolled: Vec<_> = net.peers[0].our_unpolled_observations().cloned().collect();
        assert_eq!(unpolled.last(), Some(&x));
        for i in 1..4 {
            net.vote(i, x.clone());
        }
        net.run_until(400, "every peer decides x", |net| {
            (0..4).all(|i| net.has_decided(i, &x))
        });
        for i in 0..4 {
            assert!(net.peers[i].have_voted_for(&x), "{mode:?}: peer {i}");
            // In Single mode each peer's own vote is decided separately: run until all are.
        }
        net.run_until(400, "every peer's votes are polled", |net| {
            (0..4).all(|i| net.peers[i].our_unpolled_observations().next().is_none())
        });
        for i in 0..4 {
            assert!(net.peers[i].have_voted_for(&x));
            assert!(matches!(
                net.peers[i].vote_for(x.clone()),
                Err(Error::DuplicateVote)
            ));
        }
        net.assert_quiet();
    }
}

// ---------------------------------------------------------------------------------------
// Bad input is a fault (spec §4.4, §14.3).

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
    assert!(step.persist.is_empty());
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
    assert_eq!(step.persist.len(), n - 1);
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
    *recipient = key(3).peer_id();
    let step = bob
        .handle_message(*alice.our_id(), WireMessage::Request { events })
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::BadSignature]);
    assert!(step.send.is_empty());
}

#[test]
fn relayed_tampered_event_names_its_creator() {
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut net = Net::new(&keys[..3], &config, 1);
    // Carol learns Alice's events, then relays them to Bob with one signature broken.
    net.sync(0, 2);
    let alice = *net.peers[0].our_id();
    let bob = *net.peers[1].our_id();
    let carol = *net.peers[2].our_id();
    let request = only_message(net.peers[2].create_gossip(bob).unwrap());
    let mut events = request.into_events();
    let first_of_alice = events
        .iter()
        .position(|e| e.content.creator == alice)
        .unwrap();
    tamper_signature(&mut events[first_of_alice]);
    let before = net.peers[1].graph().len();
    let step = net.peers[1]
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
    assert_eq!(net.peers[1].graph().len(), before + step.persist.len());
    net.assert_quiet();
}

#[test]
fn message_from_an_unknown_sender_is_unexpected_sender() {
    let (mut alice, mut bob) = pair();
    let request = only_message(alice.create_gossip(*bob.our_id()).unwrap());
    let stranger = key(200).peer_id();
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
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
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
    let keys = keys(4);
    let mut config = Config::new(group(&keys), ConsensusMode::Supermajority);
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

/// After a bad input, the engines still complete a sync and decide a vote.
fn assert_still_works(mut alice: Engine, mut bob: Engine) {
    let alice_id = *alice.our_id();
    let bob_id = *bob.our_id();
    for _ in 0..3 {
        let request = only_message(alice.create_gossip(bob_id).unwrap());
        let step = bob.handle_message(alice_id, request).unwrap();
        assert!(step.faults.is_empty(), "{:?}", step.faults);
        let response = only_message(step);
        let step = alice.handle_message(bob_id, response).unwrap();
        assert!(step.faults.is_empty(), "{:?}", step.faults);
    }
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic, never err, and leave the graph as it was.
    #[test]
    fn arbitrary_bytes_are_a_fault_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        small_header in any::<bool>(),
        tag in 0u32..4,
        count in 0u64..4,
    ) {
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
        prop_assert!(step.faults.iter().all(|f| allowed_fault(&f.kind)), "{:?}", step.faults);
        prop_assert!(step.send.is_empty());
        prop_assert!(step.blocks.is_empty());
        prop_assert_eq!(bob.graph().len(), len);
        assert_still_works(alice, bob);
    }

    /// A genuine request with one byte changed, or cut short, is handled or is a fault: never
    /// a panic or an `Err`, and the engines keep working.
    #[test]
    fn corrupted_request_bytes_are_a_fault_never_a_panic(
        position in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<bool>(),
    ) {
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
        prop_assert!(step.faults.iter().all(|f| allowed_fault(&f.kind)), "{:?}", step.faults);
        prop_assert!(step.blocks.is_empty());
        if !step.send.is_empty() {
            // Only an intact request is answered.
            prop_assert!(step.faults.is_empty());
        }
        assert_still_works(alice, bob);
    }
}

// ---------------------------------------------------------------------------------------
// Membership (spec §5.4).

/// The seeds and modes every membership test runs with (membership observations are
/// `Supermajority` keys in both modes).
fn membership_cases() -> impl Iterator<Item = (u64, ConsensusMode)> {
    (0..6u64).flat_map(|seed| {
        [ConsensusMode::Supermajority, ConsensusMode::Single]
            .into_iter()
            .map(move |mode| (seed, mode))
    })
}

#[test]
fn decided_add_makes_the_new_peer_a_voter() {
    for (seed, mode) in membership_cases() {
        println!("seed {seed}, {mode:?}");
        add_case(seed, mode);
    }
}

fn add_case(seed: u64, mode: ConsensusMode) {
    let all = keys(5);
    let genesis = &all[..4];
    let fifth = all[4].peer_id();
    let config = Config::new(group(genesis), mode);
    let mut net = Net::new(genesis, &config, seed);
    let add = Observation::Add {
        peer_id: fifth,
        related_info: vec![],
    };
    for i in 0..4 {
        assert_eq!(net.peers[i].voters().len(), 4);
        assert_eq!(net.peers[i].peer_state(&fifth), None);
        net.vote(i, add.clone());
    }
    net.run_until(600, "every peer decides the Add", |net| {
        (0..4).all(|i| net.has_decided(i, &add))
    });
    let mut expected_voters: Vec<PeerId> = all.iter().map(SecretKey::peer_id).collect();
    expected_voters.sort();
    let genesis_voters: Vec<PeerId> = genesis.iter().map(SecretKey::peer_id).collect();
    for i in 0..4 {
        assert_eq!(net.peers[i].voters(), expected_voters, "peer {i}");
        let state = net.peers[i].peer_state(&fifth).unwrap();
        assert!(
            state.has(PeerFlags::VOTE | PeerFlags::SEND),
            "peer {i}: {state:?}"
        );
        assert!(net.peers[i].gossip_recipients().contains(&fifth));
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        assert_eq!(net.payloads(i).len(), 2, "Genesis, Add");
        net.check_blocks_of(i, &add, &genesis_voters);
    }
    // The four still decide with five voters (4 of 5 is more than 2/3).
    let after = opaque("after the add");
    for i in 0..4 {
        net.vote(i, after.clone());
    }
    net.run_until(600, "every peer decides the payload after the Add", |net| {
        (0..4).all(|i| net.has_decided_all(i, &after, 4))
    });
    for i in 0..4 {
        assert_eq!(net.blocks[i].last().unwrap().payload, after);
        net.check_blocks_of(i, &after, &expected_voters);
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
    }
    net.assert_quiet();
}

#[test]
fn decided_remove_shrinks_the_voters() {
    for (seed, mode) in membership_cases() {
        println!("seed {seed}, {mode:?}, the removed peer votes too");
        remove_case(seed, mode, 4);
        println!("seed {seed}, {mode:?}, the removed peer does not vote");
        remove_case(seed, mode, 3);
    }
}

fn remove_case(seed: u64, mode: ConsensusMode, voting: usize) {
    let keys = keys(4);
    let config = Config::new(group(&keys), mode);
    let mut net = Net::new(&keys, &config, seed);
    let dave = keys[3].peer_id();
    let remove = Observation::Remove {
        peer_id: dave,
        related_info: vec![],
    };
    for i in 0..voting {
        net.vote(i, remove.clone());
    }
    net.run_until(600, "the others decide the Remove", |net| {
        (0..3).all(|i| net.has_decided(i, &remove))
    });
    let mut remaining: Vec<PeerId> = keys[..3].iter().map(SecretKey::peer_id).collect();
    remaining.sort();
    for i in 0..3 {
        assert_eq!(net.peers[i].voters(), remaining, "peer {i}");
        assert!(matches!(
            net.peers[i].peer_state(&dave),
            Some(PeerState::Removed { .. })
        ));
        assert!(!net.peers[i].gossip_recipients().contains(&dave));
        assert!(!net.peers[i].is_removed());
    }
    let dave_decided = net.has_decided(3, &remove);
    println!("  the removed peer decided its removal: {dave_decided}");
    if dave_decided {
        assert!(net.peers[3].is_removed());
        assert!(net.peers[3].gossip_recipients().is_empty());
        assert!(matches!(
            net.peers[3].vote_for(opaque("late")),
            Err(Error::Removed)
        ));
    }
    // The three remaining peers go on deciding, with proofs from the new voters only.
    let after = opaque("after the remove");
    for i in 0..3 {
        net.vote(i, after.clone());
    }
    net.run_until(600, "the remaining peers decide after the Remove", |net| {
        (0..3).all(|i| net.has_decided_all(i, &after, 3))
    });
    for i in 0..3 {
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        assert_eq!(net.blocks[i].last().unwrap().payload, after);
        net.check_blocks_of(i, &after, &remaining);
        net.check_blocks_of(
            i,
            &remove,
            &keys.iter().map(SecretKey::peer_id).collect::<Vec<_>>(),
        );
    }
    // Dave's blocks, if any, are a prefix of the others' and stop at the Remove.
    let dave_sequence = net.sequence(3);
    assert_eq!(dave_sequence[..], net.sequence(0)[..dave_sequence.len()]);
    assert!(!net.payloads(3).contains(&after));
    if dave_decided {
        assert_eq!(dave_sequence.last().map(|d| &d.0), Some(&remove));
    }
    // A removed peer that has not decided its own removal yet still gossips; the others
    // ignore it without blaming it.
    net.assert_quiet();
}

// ---------------------------------------------------------------------------------------
// Sync edge cases with full runs.

/// Runs `n` genesis members voting `payloads` (every peer all of them) to agreement,
/// losing `loss_percent` of the messages.
fn agree(
    n: u8,
    mode: ConsensusMode,
    config_edit: impl Fn(&mut Config),
    loss_percent: u32,
    seed: u64,
) -> Net {
    agree_with(
        n,
        mode,
        config_edit,
        |net| net.loss_percent = loss_percent,
        &[opaque("p"), opaque("q")],
        seed,
    )
}

fn agree_with(
    n: u8,
    mode: ConsensusMode,
    config_edit: impl Fn(&mut Config),
    net_edit: impl Fn(&mut Net),
    payloads: &[Observation<String>],
    seed: u64,
) -> Net {
    let keys = keys(n);
    let mut config = Config::new(group(&keys), mode);
    config_edit(&mut config);
    let mut net = Net::new(&keys, &config, seed);
    net_edit(&mut net);
    for i in 0..n as usize {
        for p in payloads {
            net.vote(i, p.clone());
        }
    }
    let voters = n as usize;
    net.run_until(300 * voters, "every peer decides every payload", |net| {
        (0..voters).all(|i| payloads.iter().all(|p| net.has_decided_all(i, p, voters)))
    });
    let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
    for i in 0..voters {
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        for p in payloads {
            net.check_blocks_of(i, p, &ids);
        }
    }
    net.assert_quiet();
    net
}

#[test]
fn small_groups_agree() {
    for n in [2, 3] {
        for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
            for seed in 0..4 {
                println!("{n} peers, {mode:?}, seed {seed}");
                agree(n, mode, |_| {}, 0, seed);
            }
        }
    }
}

#[test]
fn chunked_syncs_agree() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in 0..3 {
            println!("{mode:?}, seed {seed}");
            let net = agree(
                4,
                mode,
                |config| config.wire_limits.max_events_per_message = 3,
                0,
                seed,
            );
            assert!(net.chunks > 0, "no sync was chunked");
        }
    }
}

#[test]
fn lost_messages_do_not_prevent_agreement() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in 0..4 {
            println!("{mode:?}, seed {seed}");
            let net = agree(4, mode, |_| {}, 25, seed);
            assert!(net.lost > 0);
        }
    }
}

#[test]
fn lost_chunks_do_not_prevent_agreement() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in 0..4 {
            println!("{mode:?}, seed {seed}");
            let net = agree(
                4,
                mode,
                |config| config.wire_limits.max_events_per_message = 3,
                25,
                seed,
            );
            assert!(net.lost > 0 && net.chunks > 0);
        }
    }
}

#[test]
fn stale_request_delivered_late_is_still_answered() {
    let (mut alice, mut bob) = pair();
    let (a, b) = (*alice.our_id(), *bob.our_id());
    let stale = only_message(alice.create_gossip(b).unwrap());
    let fresh = only_message(alice.create_gossip(b).unwrap());
    // The newer request arrives first and is answered.
    let response = only_message(bob.handle_message(a, fresh).unwrap());
    let step = alice.handle_message(b, response).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    // The older one arrives late: its events are known, but its Requesting was never
    // answered, so it gets its own Request and response.
    let len = bob.graph().len();
    let step = bob.handle_message(a, stale).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_eq!(bob.graph().len(), len + 1, "only Bob's new Request");
    let response = only_message(step);
    let step = alice.handle_message(b, response).unwrap();
    assert!(step.faults.is_empty(), "{:?}", step.faults);
    assert_still_works(alice, bob);
}

#[test]
fn removed_peer_cannot_be_gossiped_to() {
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut net = Net::new(&keys, &config, 3);
    let dave = keys[3].peer_id();
    let remove = Observation::Remove {
        peer_id: dave,
        related_info: vec![],
    };
    for i in 0..3 {
        net.vote(i, remove.clone());
    }
    net.run_until(600, "peer 0 decides the Remove", |net| {
        net.has_decided(0, &remove)
    });
    let len = net.peers[0].graph().len();
    assert!(matches!(
        net.peers[0].create_gossip(dave),
        Err(Error::NotPermitted(_))
    ));
    assert_eq!(net.peers[0].graph().len(), len);
    assert_eq!(
        net.peers[0].peer_state(&dave).map(|s| s.flags()),
        Some(PeerFlags::NONE)
    );
}

#[test]
fn late_vote_for_a_decided_payload_is_not_decided_again() {
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut net = Net::new(&keys, &config, 21);
    let x = opaque("x");
    for i in 0..3 {
        net.vote(i, x.clone());
    }
    net.run_until(400, "every peer decides x", |net| {
        (0..4).all(|i| net.has_decided(i, &x))
    });
    // Peer 3 votes x only now, then everyone votes y.
    net.vote(3, x.clone());
    assert!(net.peers[3].have_voted_for(&x));
    assert_eq!(
        net.peers[3].our_unpolled_observations().count(),
        0,
        "a vote for a decided key is not pending"
    );
    let y = opaque("y");
    for i in 0..4 {
        net.vote(i, y.clone());
    }
    net.run_until(400, "every peer decides y", |net| {
        (0..4).all(|i| net.has_decided(i, &y))
    });
    for _ in 0..40 {
        net.random_sync();
    }
    for i in 0..4 {
        assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
        let count = net.blocks[i].iter().filter(|b| b.payload == x).count();
        assert_eq!(count, 1, "peer {i}: x decided {count} times");
    }
    net.assert_quiet();
}

#[test]
fn shrinking_to_a_sole_voter_still_decides() {
    let keys = keys(2);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut net = Net::new(&keys, &config, 4);
    let remove = Observation::Remove {
        peer_id: keys[1].peer_id(),
        related_info: vec![],
    };
    net.vote(0, remove.clone());
    net.vote(1, remove.clone());
    net.run_until(200, "peer 0 decides the Remove", |net| {
        net.has_decided(0, &remove)
    });
    assert_eq!(net.peers[0].voters(), [keys[0].peer_id()]);
    assert!(net.peers[0].gossip_recipients().is_empty());
    // Now alone, peer 0 decides each vote at once.
    for payload in ["after-1", "after-2"] {
        let step = net.peers[0].vote_for(opaque(payload)).unwrap();
        assert!(step.faults.is_empty());
        let decided: Vec<_> = step.blocks.iter().map(|b| b.payload.clone()).collect();
        assert_eq!(decided, vec![opaque(payload)], "decided at its own vote");
        assert!(step.blocks[0].verify(&[keys[0].peer_id()]));
    }
}

#[test]
fn syncs_over_the_wire_agree() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in 0..3 {
            agree_with(
                4,
                mode,
                |_| {},
                |net| net.over_the_wire = true,
                &[opaque("p"), opaque("q")],
                seed,
            );
        }
    }
}

#[test]
fn large_syncs_are_split_within_the_byte_limit() {
    let big: Vec<_> = (0..3)
        .map(|k| Observation::OpaquePayload(format!("{k}").repeat(1400)))
        .collect();
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in 0..3 {
            let net = agree_with(
                4,
                mode,
                |config| {
                    config.wire_limits.max_message_bytes = 4096;
                    config.event_limits.max_observation_bytes = 1500;
                    config.event_limits.max_coin_shares_per_event = 8;
                },
                |net| net.over_the_wire = true,
                &big,
                seed,
            );
            assert!(net.chunks > 0, "no sync was split");
        }
    }
}

/// A vote event adds its own overhead (creator, index, cause, self-parent, signatures,
/// coin shares, message header) to its observation: `Config::validate` must refuse limits
/// under which a valid vote could never be sent, and accept tight ones that fit.
#[test]
fn a_vote_of_the_largest_valid_observation_can_be_sent() {
    let keys = keys(2);
    let mut config = Config::new(group(&keys), ConsensusMode::Supermajority);
    config.wire_limits.max_message_bytes = 4096;
    config.event_limits.max_observation_bytes = 4000;
    assert!(
        config.validate().is_err(),
        "a 4000-byte vote cannot fit 4096 bytes"
    );
    config.event_limits.max_coin_shares_per_event = 0;
    assert!(config.validate().is_err(), "not even without coin shares");
    config.event_limits.max_observation_bytes = 4096 - parsec_core::testing::EVENT_OVERHEAD_BYTES;
    config.validate().unwrap();
    let limit = config.event_limits.max_observation_bytes;
    let mut engines = start(&keys, &config);
    // The largest observation the limits allow.
    let mut payload = "z".repeat(limit);
    while parsec_graph::wire::encoded_len(&Observation::OpaquePayload(payload.clone())).unwrap()
        > limit
    {
        payload.pop();
    }
    let step = engines[0]
        .vote_for(Observation::OpaquePayload(payload))
        .unwrap();
    assert!(step.faults.is_empty());
    let bob = *engines[1].our_id();
    let step = engines[0].create_gossip(bob).unwrap();
    for out in &step.send {
        let encoded = wire::encode(&out.message, &config.wire_limits);
        assert!(
            encoded.is_ok(),
            "a message of {} events cannot be encoded: {:?}",
            out.message.events().len(),
            encoded.err()
        );
    }
}

#[test]
fn our_own_unknown_event_is_lost_state() {
    // Alice sends a request, then restarts from genesis without her stored events; the
    // events of that request come back to her (spec §13.3, §14.3). Her Initial and Genesis
    // events are recreated identically; her Requesting is unknown to her.
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut engines = start(&keys[..2], &config);
    let b = *engines[1].our_id();
    let request = only_message(engines[0].create_gossip(b).unwrap());
    let requesting = request.events().last().unwrap().hash().unwrap();
    let (mut fresh, _) =
        Parsec::<String, _>::from_genesis(keys[0].clone(), config.clone(), ParityCoin).unwrap();
    let events = request.into_events();
    let result = fresh.handle_message(b, WireMessage::Events { events });
    assert!(
        matches!(result, Err(Error::LostState(hash)) if hash == requesting),
        "{result:?}"
    );
}

#[test]
fn future_buffer_overflow_is_a_fault() {
    let keys = keys(4);
    let mut config = Config::new(group(&keys), ConsensusMode::Supermajority);
    config.max_future_events_per_peer = 2;
    config.max_future_events_total = 2;
    let mut engines = start(&keys[..2], &config);
    let alice = *engines[0].our_id();
    let bob = &mut engines[1];
    // Three events by a stranger (not a member): held, and the oldest is dropped.
    let stranger = key(200);
    let limits = config.event_limits;
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
        let event = parsec_graph::EventContent::<String> {
            creator: stranger.peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(&stranger, &limits)
        .unwrap();
        parent = Some(*event.hash());
        events.push(event.into_packed());
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
    let keys = keys(4);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
    let mut engines = start(&keys[..2], &config);
    let alice = *engines[0].our_id();
    let bob = &mut engines[1];
    let stranger = key(200);
    let initial = parsec_graph::EventContent::<String> {
        creator: stranger.peer_id(),
        index: 0,
        cause: Cause::Initial,
        coin_shares: vec![],
    }
    .sign(&stranger, &config.event_limits)
    .unwrap();
    let step = bob
        .handle_message(
            alice,
            WireMessage::Request {
                events: vec![initial.into_packed()],
            },
        )
        .unwrap();
    assert_eq!(step, Step::default());
    assert_eq!(bob.held_events(), 1);
}

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Validly signed but arbitrarily structured events from members (forks, index gaps,
    /// wrong parents, odd votes, coin shares) are faults or accepted, never an `Err` or a
    /// panic, at the receiver and at the next peer they are gossiped to.
    #[test]
    fn signed_garbage_from_members_is_never_an_error(
        forgeries in proptest::collection::vec(forgery(), 1..8),
        as_request in any::<bool>(),
    ) {
        let keys = keys(4);
        let config = Config::new(group(&keys), ConsensusMode::Supermajority);
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
                1 => Cause::Requesting { self_parent, recipient: [a, b, keys[2].peer_id()][f.payload as usize % 3] },
                2 => Cause::Request { self_parent, other_parent },
                3 => Cause::Response { self_parent, other_parent },
                4 => Cause::Observation { self_parent, vote: Box::new(vote(opaque(&format!("forged-{}", f.payload)))) },
                _ => Cause::Observation {
                    self_parent,
                    vote: Box::new(vote(match f.payload % 3 {
                        0 => Observation::Genesis { group: group(&keys[..3]), related_info: vec![] },
                        1 => Observation::Genesis { group: group(&keys), related_info: vec![] },
                        _ => Observation::Remove { peer_id: a, related_info: vec![] },
                    })),
                },
            };
            let coin_shares = if f.shares && f.index > 0 {
                vec![parsec_graph::CoinShare { election: 0, candidate: a, round: 0, share: [f.payload; 96] }]
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
    }
}

// ---------------------------------------------------------------------------------------
// Vote runs (spec §2.2 check 9).

/// A peer may cast at most `max_vote_run` votes in a row; a sync resets the run. Our
/// Genesis vote counts: it directly follows the Initial event.
#[test]
fn our_vote_run_is_bounded_and_reset_by_gossip() {
    let keys = keys(2);
    let mut config = Config::new(group(&keys), ConsensusMode::Supermajority);
    config.max_vote_run = 3;
    let mut engines = start(&keys, &config);
    let _ = engines[0].vote_for(opaque("a")).unwrap();
    let _ = engines[0].vote_for(opaque("b")).unwrap();
    assert!(matches!(
        engines[0].vote_for(opaque("c")),
        Err(parsec_core::Error::VoteRunTooLong)
    ));
    assert!(!engines[0].have_voted_for(&opaque("c")));
    let bob = *engines[1].our_id();
    let _ = engines[0].create_gossip(bob).unwrap();
    let _ = engines[0].vote_for(opaque("c")).unwrap();
}

/// A received vote that extends a run past the limit is rejected with a fault, and the
/// handling of the message stops there.
#[test]
fn a_received_vote_run_past_the_limit_is_a_fault() {
    let keys = keys(2);
    let mut config = Config::new(group(&keys), ConsensusMode::Supermajority);
    config.max_vote_run = 2;
    let mut engines = start(&keys, &config);
    // Bob's chain: Initial, Genesis vote (run 1), "x" (run 2) — then a forged third vote.
    let _ = engines[1].vote_for(opaque("x")).unwrap();
    let bob = *engines[1].our_id();
    let tip = *engines[1].graph().iter().last().unwrap().hash();
    let third = parsec_graph::EventContent {
        creator: bob,
        index: 3,
        cause: parsec_graph::Cause::Observation {
            self_parent: tip,
            vote: Box::new(parsec_graph::Vote::new(opaque("y"), &keys[1]).unwrap()),
        },
        coin_shares: vec![],
    }
    .sign(&keys[1], &config.event_limits)
    .unwrap();
    let events: Vec<PackedEvent<String>> = engines[1]
        .graph()
        .iter()
        .map(|n| n.event().packed().clone())
        .chain(std::iter::once(third.into_packed()))
        .collect();
    let before = engines[0].graph().len();
    let step = engines[0]
        .handle_message(bob, WireMessage::Events { events })
        .unwrap();
    assert_eq!(kinds(&step), vec![FaultKind::VoteRunTooLong]);
    // Bob's Initial, Genesis and "x" were accepted; the forged vote was not.
    assert_eq!(engines[0].graph().len(), before + 3);
}

// ---------------------------------------------------------------------------------------
// The future buffer (spec §4.4, §5.3).

/// Events delivered one per message in reverse order are held until their parents come,
/// then all inserted in a topological order; nothing is left held.
#[test]
fn events_delivered_in_reverse_are_all_inserted() {
    let keys = keys(3);
    let config = Config::new(group(&keys), ConsensusMode::Supermajority);
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
        persisted += step.persist.len();
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

/// Signs an event of `key`'s at `index` with the given cause (tests forge what peers send).
fn forge(key: &SecretKey, index: u64, cause: parsec_graph::Cause<String>) -> PackedEvent<String> {
    parsec_graph::EventContent {
        creator: key.peer_id(),
        index,
        cause,
        coin_shares: vec![],
    }
    .sign(key, &parsec_graph::EventLimits::default())
    .unwrap()
    .into_packed()
}

/// A member's event built on an event by a made-up key arrives first and waits; when the
/// made-up key's event arrives it is held too, and rule (b) of spec §5.3 does not bring it
/// in: its creator never was a member. Nothing of the made-up key reaches the graph, and
/// the member's event waits for a parent that can never be inserted.
#[test]
fn an_event_by_a_key_that_never_was_a_member_never_enters_the_graph() {
    let (mut alice, bob) = pair();
    let b = *bob.our_id();
    let mallory = key(50);
    let m0 = forge(&mallory, 0, parsec_graph::Cause::Initial);
    let bob_tip = *bob.graph().iter().last().unwrap().hash();
    let bob_events: Vec<PackedEvent<String>> = bob
        .graph()
        .iter()
        .map(|n| n.event().packed().clone())
        .collect();
    let child = forge(
        &key(1),
        bob.graph().iter().last().unwrap().creator_index() + 1,
        parsec_graph::Cause::Request {
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
    assert!(step.persist.is_empty());
}

/// A member sending a long chain that hangs off a parent that never comes fills its share
/// of the buffer, is evicted oldest first with faults, and does not stop honest syncs.
#[test]
fn a_chain_off_a_missing_parent_stays_held_and_harms_nobody() {
    let keys = keys(3);
    let mut config = Config::new(group(&keys), ConsensusMode::Supermajority);
    config.max_future_events_per_peer = 64;
    config.max_future_events_total = 128;
    let mut engines = start(&keys, &config);
    let b = *engines[1].our_id();
    let c = *engines[2].our_id();
    // Bob's forged chain at indices 10.. hangs off a hash nobody has.
    let mut parent = EventHash::from_bytes([9; 32]);
    let mut chain = Vec::new();
    for index in 10..110 {
        let event = forge(
            &keys[1],
            index,
            parsec_graph::Cause::Requesting {
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
