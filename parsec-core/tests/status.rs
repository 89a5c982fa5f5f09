//! `Parsec::status`: why a vote is still pending.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::ConsensusMode;
use parsec_sim::network::Network;

/// Four genesis members on perfect links.
fn start_network(mode: ConsensusMode, seed: u64) -> Network {
    let keys = peer_keys(4);
    network(&keys, &genesis_config(&keys, mode), seed)
}

#[test]
fn a_payload_voted_by_too_few_voters_shows_as_pending_with_its_vote_count() {
    let mut net = start_network(ConsensusMode::Supermajority, 1);
    let lonely = opaque("only peer 0 votes this");
    net.cast(0, lonely.clone());
    // Until every peer knows the vote, and then as long again: it stays pending.
    net.reach(500, "the vote spreads", |net| {
        (0..net.len()).all(|i| net.engine(i).status().pending.len() == 1)
    });
    let spread = net.steps();
    net.reach(2 * spread + 20, "more gossip", |net| {
        net.steps() >= 2 * spread + 20
    });
    for i in 0..net.len() {
        let status = net.engine(i).status();
        assert_eq!(status.votes_needed, 3, "peer {i}");
        assert_eq!(status.voters.len(), 4);
        // Genesis was decided; the lonely payload is known everywhere and stays pending.
        assert!(status.election >= 1, "peer {i}: {status:?}");
        assert_eq!(status.blocks, 1, "peer {i}: only the genesis block");
        assert_eq!(status.pending.len(), 1, "peer {i}: {status:?}");
        let pending = status.pending[0];
        assert_eq!(pending.voters, 1, "peer {i}");
        assert_eq!(pending.ours, i == 0, "peer {i}");
        assert!(!pending.enough_votes(&status));
    }
    // Two more votes make it decidable, and gossip decides it.
    for i in 1..3 {
        net.cast(i, lonely.clone());
    }
    let status = net.engine(1).status();
    assert!(status.pending[0].voters >= 2);
    net.reach(1000, "the payload is decided", |net| {
        (0..net.len()).all(|i| net.engine(i).status().pending.is_empty())
    });
    for i in 0..net.len() {
        assert_eq!(net.engine(i).status().blocks, 2, "peer {i}");
        assert_eq!(net.payloads(i), net.payloads(0), "peer {i}");
    }
    net.assert_quiet();
}

#[test]
fn in_single_mode_one_vote_is_enough() {
    let mut net = start_network(ConsensusMode::Single, 2);
    net.cast(2, opaque("mine"));
    let status = net.engine(2).status();
    assert_eq!(status.votes_needed, 1);
    let ours: Vec<_> = status.pending.iter().filter(|p| p.ours).collect();
    assert!(ours.iter().any(|p| p.enough_votes(&status)), "{status:?}");
    net.reach(1000, "the payload is decided", |net| {
        (0..net.len()).all(|i| net.has_decided_all(i, &opaque("mine"), 1))
    });
    for i in 0..net.len() {
        let status = net.engine(i).status();
        assert!(status.pending.is_empty(), "peer {i}: {status:?}");
    }
}
