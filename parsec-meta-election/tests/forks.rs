//! Interesting content of a forking voter counts only the votes in each event's own
//! ancestry (spec §6.3), whatever order the two sides of the fork arrive in.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use parsec_coin::ParityCoin;
use parsec_graph::{
    Cause, ConsensusMode, EventContent, EventHash, EventIndex, EventLimits, Graph, Observation,
    SecretKey, Vote,
};
use parsec_meta_election::{Elections, VoterSet};

fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(*blake3::hash(name.as_bytes()).as_bytes())
}

struct Net {
    graph: Graph<String>,
    elections: Elections<ParityCoin>,
    names: BTreeMap<&'static str, (EventIndex, EventHash, u64)>,
}

impl Net {
    fn new() -> Net {
        let mut graph = Graph::new();
        let voters = ["A", "B", "C", "D"]
            .iter()
            .map(|n| {
                let id = key(n).peer_id();
                (id, graph.register_peer(id).unwrap())
            })
            .collect();
        let elections = Elections::new(
            VoterSet::new(voters),
            ConsensusMode::Supermajority,
            ParityCoin,
        )
        .unwrap();
        Net {
            graph,
            elections,
            names: BTreeMap::new(),
        }
    }

    fn add(&mut self, name: &'static str, creator: &str, cause: Cause<String>, index: u64) {
        let k = key(creator);
        let event = EventContent {
            creator: k.peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(&k, &EventLimits::default())
        .unwrap();
        let hash = *event.hash();
        let at = self.graph.insert(event).unwrap().index();
        let step = self.elections.on_insert(&mut self.graph, at).unwrap();
        assert!(step.decided.is_empty());
        self.names.insert(name, (at, hash, index));
    }

    fn initial(&mut self, name: &'static str, creator: &str) {
        self.add(name, creator, Cause::Initial, 0);
    }

    fn vote(&mut self, name: &'static str, creator: &str, sp: &str) {
        let (_, self_parent, index) = self.names[sp];
        let vote = Vote::new(Observation::OpaquePayload("P".to_string()), &key(creator)).unwrap();
        self.add(
            name,
            creator,
            Cause::Observation {
                self_parent,
                vote: Box::new(vote),
            },
            index + 1,
        );
    }

    fn request(&mut self, name: &'static str, creator: &str, sp: &str, op: &str) {
        let (_, self_parent, index) = self.names[sp];
        let (_, other_parent, _) = self.names[op];
        self.add(
            name,
            creator,
            Cause::Request {
                self_parent,
                other_parent,
            },
            index + 1,
        );
    }

    fn content(&self, name: &str) -> usize {
        self.elections.content_of(self.names[name].0).unwrap().len()
    }
}

/// Four voters; A, B and C vote P, and B's request brings A's vote to B.
fn votes_of_a_b_and_c() -> Net {
    let mut net = Net::new();
    for (event, peer) in [("A0", "A"), ("B0", "B"), ("C0", "C"), ("D0", "D")] {
        net.initial(event, peer);
    }
    net.vote("A1", "A", "A0");
    net.vote("B1", "B", "B0");
    net.vote("C1", "C", "C0");
    net.request("B2", "B", "B1", "A1");
    net
}

fn run(a_side_first: bool) -> (usize, usize) {
    let mut net = votes_of_a_b_and_c();
    // D forks: one side sees A's and B's votes, the other only C's. Neither side sees
    // the three votes a supermajority of four voters needs.
    if a_side_first {
        net.request("Da", "D", "D0", "B2");
        net.request("Db", "D", "D0", "C1");
    } else {
        net.request("Db", "D", "D0", "C1");
        net.request("Da", "D", "D0", "B2");
    }
    (net.content("Da"), net.content("Db"))
}

#[test]
fn a_fork_sibling_does_not_inherit_the_other_sides_votes() {
    assert_eq!(run(true), (0, 0));
    assert_eq!(run(false), (0, 0));
}

/// Without the fork, the same votes do make D's later event interesting.
#[test]
fn the_same_votes_on_one_chain_are_interesting() {
    let mut net = votes_of_a_b_and_c();
    net.request("Da", "D", "D0", "B2");
    net.request("D2", "D", "Da", "C1");
    assert_eq!((net.content("Da"), net.content("D2")), (0, 1));
}
