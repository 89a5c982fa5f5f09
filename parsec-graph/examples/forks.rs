//! Builds a four-peer gossip graph in which Carol forks, then prints, for every pair of
//! events, whether one sees and strongly sees the other.
//!
//! Run with `cargo run -p parsec-graph --example forks`.

use std::collections::BTreeMap;

use parsec_graph::{Cause, EventContent, EventHash, EventIndex, EventLimits, Graph, SecretKey};

struct Peers {
    keys: BTreeMap<&'static str, SecretKey>,
    graph: Graph<String>,
    names: BTreeMap<&'static str, (EventIndex, EventHash, u64)>,
    order: Vec<&'static str>,
}

impl Peers {
    fn add(&mut self, name: &'static str, creator: &'static str, cause: Cause<String>, index: u64) {
        let key = &self.keys[creator];
        let event = EventContent {
            creator: key.peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(key, &EventLimits::default())
        .expect("well-formed event");
        let hash = *event.hash();
        let inserted = self.graph.insert(event).expect("parents inserted first");
        if let parsec_graph::Inserted::New {
            fork: Some(fork), ..
        } = inserted
        {
            println!("fork detected: {} at index {}", creator, fork.index);
        }
        self.names.insert(name, (inserted.index(), hash, index));
        self.order.push(name);
    }

    fn initial(&mut self, name: &'static str, creator: &'static str) {
        self.add(name, creator, Cause::Initial, 0);
    }

    fn request(&mut self, name: &'static str, creator: &'static str, sp: &str, op: &str) {
        let (_, self_parent, index) = self.names[sp];
        let (_, other_parent, _) = self.names[op];
        let cause = Cause::Request {
            self_parent,
            other_parent,
        };
        self.add(name, creator, cause, index + 1);
    }

    fn requesting(&mut self, name: &'static str, creator: &'static str, sp: &str, to: &str) {
        let (_, self_parent, index) = self.names[sp];
        let recipient = self.keys[to].peer_id();
        let cause = Cause::Requesting {
            self_parent,
            recipient,
        };
        self.add(name, creator, cause, index + 1);
    }
}

fn main() {
    let keys = ["Alice", "Bob", "Carol", "Dave"]
        .into_iter()
        .map(|name| {
            let seed = *blake3::hash(name.as_bytes()).as_bytes();
            (name, SecretKey::from_seed(seed))
        })
        .collect();
    let mut p = Peers {
        keys,
        graph: Graph::new(),
        names: BTreeMap::new(),
        order: Vec::new(),
    };
    for (event, peer) in [
        ("A0", "Alice"),
        ("B0", "Bob"),
        ("C0", "Carol"),
        ("D0", "Dave"),
    ] {
        p.initial(event, peer);
    }
    p.requesting("C1", "Carol", "C0", "Alice");
    // Carol forks: two events on the same self-parent, shown to different peers.
    p.requesting("C2a", "Carol", "C1", "Alice");
    p.requesting("C2b", "Carol", "C1", "Bob");
    p.request("A1", "Alice", "A0", "C2a");
    p.request("B1", "Bob", "B0", "C2b");
    p.request("D1", "Dave", "D0", "A1");
    p.request("A2", "Alice", "A1", "B1");
    p.request("D2", "Dave", "D1", "A2");

    let voters: Vec<_> = p.graph.peers().map(|(index, _)| index).collect();
    println!(
        "\n{} voters; strongly seeing needs more than 2/3 of them.\n",
        voters.len()
    );
    println!(
        "{:<5} {:<5} {:<8} {:<5} strongly",
        "X", "Y", "X ⪰ Y", "sees"
    );
    for x in &p.order {
        for y in &p.order {
            let (xi, yi) = (p.names[x].0, p.names[y].0);
            if x == y || !p.graph.is_descendant_of(xi, yi) {
                continue;
            }
            println!(
                "{:<5} {:<5} {:<8} {:<5} {} ({} creators)",
                x,
                y,
                "yes",
                p.graph.sees(xi, yi),
                p.graph.strongly_sees(xi, yi, &voters),
                p.graph.strongly_seeing_count(xi, yi, &voters),
            );
        }
    }
    let carol = p
        .graph
        .peer_index(&p.keys["Carol"].peer_id())
        .expect("Carol is known");
    for x in ["A1", "B1", "A2", "D2"] {
        println!(
            "{x} descends from Carol's fork: {}",
            p.graph.descends_from_fork_of(p.names[x].0, carol)
        );
    }
}
