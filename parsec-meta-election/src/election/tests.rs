//! Unit tests of the boundary: pending keys, the membership rule, the restart inside.

#![allow(clippy::unwrap_used)]

use parsec_coin::ParityCoin;
use parsec_graph::{
    Cause, ConsensusMode, Event, EventContent, EventHash, EventLimits, Graph, Malice, Observation,
    PeerId, SecretKey, Vote,
};

use super::{ElectionError, ElectionStep, Elections, MembershipChange, PendingKey, VoterSet};

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed([i; 32])
}

/// A graph and the elections of one peer, fed by hand.
struct Peer {
    graph: Graph<String>,
    elections: Elections<ParityCoin>,
    /// Per creator seed: its latest event's hash and index.
    tips: std::collections::BTreeMap<u8, (EventHash, u64)>,
}

impl Peer {
    fn new(voters: &[u8]) -> Peer {
        let mut graph = Graph::new();
        let set = voters
            .iter()
            .map(|&i| {
                let id = key(i).peer_id();
                (id, graph.register_peer(id).unwrap())
            })
            .collect();
        let elections =
            Elections::new(VoterSet::new(set), ConsensusMode::Supermajority, ParityCoin).unwrap();
        Peer {
            graph,
            elections,
            tips: Default::default(),
        }
    }

    fn feed(&mut self, event: Event<String>) -> Result<ElectionStep<String>, ElectionError> {
        let at = self.graph.insert(event).unwrap().index();
        self.elections.on_insert(&mut self.graph, at)
    }

    fn add(
        &mut self,
        creator: u8,
        cause: impl FnOnce(EventHash) -> Cause<String>,
    ) -> ElectionStep<String> {
        self.try_add(creator, cause).unwrap()
    }

    fn try_add(
        &mut self,
        creator: u8,
        cause: impl FnOnce(EventHash) -> Cause<String>,
    ) -> Result<ElectionStep<String>, ElectionError> {
        let k = key(creator);
        let (index, cause) = match self.tips.get(&creator) {
            None => (0, Cause::Initial),
            Some(&(hash, index)) => (index + 1, cause(hash)),
        };
        let event = EventContent {
            creator: k.peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(&k, &EventLimits::default())
        .unwrap();
        self.tips.insert(creator, (*event.hash(), index));
        self.feed(event)
    }

    fn initial(&mut self, creator: u8) {
        let step = self.add(creator, |_| Cause::Initial);
        assert!(step.is_empty());
    }

    fn vote(&mut self, creator: u8, observation: Observation<String>) -> ElectionStep<String> {
        let vote = Vote::new(observation, &key(creator)).unwrap();
        self.add(creator, |self_parent| Cause::Observation {
            self_parent,
            vote: Box::new(vote),
        })
    }

    /// A sync event of `creator` (a request to itself: enough for a sole voter).
    fn sync(&mut self, creator: u8) -> Result<ElectionStep<String>, ElectionError> {
        let recipient = key(creator).peer_id();
        self.try_add(creator, |self_parent| Cause::Requesting {
            self_parent,
            recipient,
        })
    }
}

fn opaque(s: &str) -> Observation<String> {
    Observation::OpaquePayload(s.to_string())
}

fn add(peer: PeerId, info: u8) -> Observation<String> {
    Observation::Add {
        peer_id: peer,
        related_info: vec![info],
    }
}

fn remove(peer: PeerId, info: u8) -> Observation<String> {
    Observation::Remove {
        peer_id: peer,
        related_info: vec![info],
    }
}

fn key_of(observation: &Observation<String>, voter: u8) -> parsec_graph::ObservationKey {
    observation
        .key_by(key(voter).peer_id(), ConsensusMode::Supermajority)
        .unwrap()
}

#[test]
fn pending_counts_distinct_current_voters_in_registration_order() {
    let mut peer = Peer::new(&[1, 2, 3, 4]);
    for creator in [1, 2, 3, 4, 5] {
        peer.initial(creator);
    }
    let (p, q) = (opaque("P"), opaque("Q"));
    assert!(peer.vote(3, q.clone()).is_empty());
    assert!(peer.vote(1, p.clone()).is_empty());
    // A second vote of one voter, and a vote of a peer that is not a voter, add nothing.
    assert!(peer.vote(1, p.clone()).is_empty());
    assert!(peer.vote(5, p.clone()).is_empty());
    assert!(peer.vote(2, p.clone()).is_empty());
    assert_eq!(
        peer.elections.pending(),
        vec![
            PendingKey {
                key: key_of(&q, 3),
                voters: 1
            },
            PendingKey {
                key: key_of(&p, 1),
                voters: 2
            },
        ]
    );
    assert!(peer.elections.is_undecided(&key_of(&p, 1)));
}

#[test]
fn a_group_applies_its_membership_changes_in_order_and_restarts() {
    let mut peer = Peer::new(&[1]);
    let me = key(1).peer_id();
    let x = key(7).peer_id();
    let stranger = key(8).peer_id();
    peer.initial(1);
    let votes = [
        remove(stranger, 0), // never a member: nothing
        add(me, 0),          // already a voter: nothing
        add(x, 0),           // added
        remove(x, 0),        // removed again
        add(x, 1),           // removed for good: nothing
        opaque("P"),
    ];
    for observation in &votes {
        assert!(peer.vote(1, observation.clone()).is_empty());
    }
    let step = peer.sync(1).unwrap();
    assert!(step.coin_shares.is_empty());
    assert_eq!(step.decided.len(), 1);
    let group = &step.decided[0];
    assert_eq!((group.election, group.voters.clone()), (0, vec![me]));
    // A sole voter's content is in voting order.
    let keys: Vec<_> = group.entries.iter().map(|e| e.key).collect();
    let expected: Vec<_> = votes.iter().map(|o| key_of(o, 1)).collect();
    assert_eq!(keys, expected);
    let changes: Vec<_> = group.entries.iter().map(|e| e.membership).collect();
    assert_eq!(
        changes,
        [
            MembershipChange::None,
            MembershipChange::None,
            MembershipChange::Added(x),
            MembershipChange::Removed(x),
            MembershipChange::None,
            MembershipChange::None,
        ]
    );
    for (entry, observation) in group.entries.iter().zip(&votes) {
        assert_eq!(entry.payload.as_ref(), Some(observation));
        assert_eq!(entry.proofs.len(), 1);
        assert!(entry.proofs[0].verifies(observation));
    }
    // The next election runs with the voters the group left: only us, and X, added and
    // removed within the group, was never registered.
    assert_eq!(peer.elections.election(), 1);
    assert_eq!(peer.elections.voters().ids(), [me]);
    assert_eq!(peer.graph.peer_index(&x), None);
    assert!(peer.elections.pending().is_empty());
}

#[test]
fn an_added_voter_is_registered_and_votes_in_the_next_election() {
    let mut peer = Peer::new(&[1]);
    let (me, x) = (key(1).peer_id(), key(7).peer_id());
    peer.initial(1);
    assert!(peer.vote(1, add(x, 0)).is_empty());
    let step = peer.sync(1).unwrap();
    assert_eq!(step.decided.len(), 1);
    assert_eq!(
        step.decided[0].entries[0].membership,
        MembershipChange::Added(x)
    );
    let mut expected = vec![me, x];
    expected.sort();
    assert_eq!(peer.elections.voters().ids(), expected);
    assert!(peer.graph.peer_index(&x).is_some());
    // With two voters, one vote is pending but not interesting on its own.
    assert!(peer.vote(1, opaque("P")).is_empty());
    assert!(peer.sync(1).unwrap().decided.is_empty());
    assert_eq!(peer.elections.pending()[0].voters, 1);
}

#[test]
fn removing_every_voter_ends_the_elections() {
    let mut peer = Peer::new(&[1]);
    let me = key(1).peer_id();
    peer.initial(1);
    let accusation = Observation::Accusation {
        offender: me,
        malice: Malice::Fork(EventHash::from_bytes([3; 32])),
    };
    assert!(peer.vote(1, accusation).is_empty());
    let step = peer.sync(1).unwrap();
    assert_eq!(step.decided.len(), 1);
    assert_eq!(
        step.decided[0].entries[0].membership,
        MembershipChange::Removed(me)
    );
    // The group is handed back; nothing more can be decided.
    assert_eq!(peer.sync(1).unwrap_err(), ElectionError::NoVoters);
}

#[test]
fn coin_needs_are_counted_once_per_coin_and_election() {
    let mut needed = std::collections::BTreeSet::new();
    let mut stats = super::CoinStats::default();
    let mut need = |needed: &mut _, slot, round| {
        Elections::<ParityCoin>::note_coin_need(needed, &mut stats, slot, round)
    };
    need(&mut needed, 0, 1);
    need(&mut needed, 0, 1);
    need(&mut needed, 2, 1);
    need(&mut needed, 0, 2);
    // The next election starts with an empty set (restart clears it).
    needed.clear();
    need(&mut needed, 0, 1);
    assert_eq!(
        stats,
        super::CoinStats {
            coins_needed: 4,
            elections_needing_coin: 2
        }
    );
}
