//! `Parsec::status`: why a vote is still pending.

#![allow(clippy::unwrap_used)]

use parsec_coin::ParityCoin;
use parsec_core::{Config, ConsensusMode, Observation, Parsec, SecretKey};

type Engine = Parsec<String, ParityCoin>;

fn start(n: u8, mode: ConsensusMode) -> Vec<Engine> {
    let keys: Vec<SecretKey> = (1..=n).map(|i| SecretKey::from_seed([i; 32])).collect();
    let config = Config::new(keys.iter().map(SecretKey::peer_id).collect(), mode);
    keys.into_iter()
        .map(|key| {
            Parsec::from_genesis(key, config.clone(), ParityCoin)
                .unwrap()
                .0
        })
        .collect()
}

/// Round-robin full syncs, every message delivered at once.
fn gossip(peers: &mut [Engine], rounds: usize) {
    for round in 0..rounds {
        for i in 0..peers.len() {
            let j = (i + 1 + round % (peers.len() - 1)) % peers.len();
            let (from, to) = (*peers[i].our_id(), *peers[j].our_id());
            let step = peers[i].create_gossip(to).unwrap();
            for out in step.send {
                let reply = peers[j].handle_message(from, out.message).unwrap();
                for back in reply.send {
                    let _ = peers[i].handle_message(to, back.message).unwrap();
                }
            }
        }
    }
}

#[test]
fn a_payload_voted_by_too_few_voters_shows_as_pending_with_its_vote_count() {
    let mut peers = start(4, ConsensusMode::Supermajority);
    let lonely = Observation::OpaquePayload("only peer 0 votes this".to_string());
    let _ = peers[0].vote_for(lonely).unwrap();
    gossip(&mut peers, 30);
    for (i, peer) in peers.iter().enumerate() {
        let status = peer.status();
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
    for peer in &mut peers[1..3] {
        let _ = peer
            .vote_for(Observation::OpaquePayload(
                "only peer 0 votes this".to_string(),
            ))
            .unwrap();
    }
    let status = peers[1].status();
    assert!(status.pending[0].voters >= 2);
    gossip(&mut peers, 30);
    for (i, peer) in peers.iter().enumerate() {
        let status = peer.status();
        assert!(status.pending.is_empty(), "peer {i}: {status:?}");
        assert_eq!(status.blocks, 2, "peer {i}");
    }
}

#[test]
fn in_single_mode_one_vote_is_enough() {
    let mut peers = start(4, ConsensusMode::Single);
    let _ = peers[2]
        .vote_for(Observation::OpaquePayload("mine".to_string()))
        .unwrap();
    let status = peers[2].status();
    assert_eq!(status.votes_needed, 1);
    let ours: Vec<_> = status.pending.iter().filter(|p| p.ours).collect();
    assert!(ours.iter().any(|p| p.enough_votes(&status)), "{status:?}");
    gossip(&mut peers, 30);
    for (i, peer) in peers.iter().enumerate() {
        assert!(
            peer.status().pending.is_empty(),
            "peer {i}: {:?}",
            peer.status()
        );
    }
}
