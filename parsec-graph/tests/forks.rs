//! The two fork examples of spec §3.6, every pair the spec lists. Where an event descends
//! from a fork, `is_descendant_of` tracks the forked creator's events only below its
//! floor (the graph's compaction; the spec's "⪰" column counts them all): the tests say so.

#![allow(clippy::unwrap_used)]

mod support;

use support::Builder;

fn chain(b: &mut Builder, creator: &str, prefix: &str, len: u64) {
    b.initial(&format!("{prefix}0"), creator);
    for i in 1..len {
        b.requesting(
            &format!("{prefix}{i}"),
            creator,
            &format!("{prefix}{}", i - 1),
            "Dave",
        );
    }
}

fn simple_fork() -> Builder {
    let mut b = Builder::new();
    chain(&mut b, "Carol", "C", 2);
    b.requesting("C2a", "Carol", "C1", "Alice");
    b.requesting("C2b", "Carol", "C1", "Bob");
    chain(&mut b, "Alice", "A", 2);
    chain(&mut b, "Bob", "B", 2);
    b.sync("A2", "Alice", "A1", "C2a");
    b.sync("B2", "Bob", "B1", "C2b");
    b.requesting("B3", "Bob", "B2", "Alice");
    b.sync("A3", "Alice", "A2", "B3");
    b
}

#[test]
fn simple_fork_sees_table() {
    let b = simple_fork();
    let g = &b.graph;
    let check = |x: &str, y: &str, descends: bool, sees: bool| {
        assert_eq!(
            g.is_descendant_of(b.idx(x), b.idx(y)),
            descends,
            "{x} ⪰ {y}"
        );
        assert_eq!(g.sees(b.idx(x), b.idx(y)), sees, "{x} sees {y}");
    };
    check("A2", "C1", true, true);
    check("A2", "C2a", true, true);
    check("A2", "C2b", false, false);
    check("B2", "C1", true, true);
    check("B2", "C2a", false, false);
    check("B2", "C2b", true, true);
    // C1 lies below Carol's floor (index 2) in anc(A3); C2a and C2b are at it.
    check("A3", "C1", true, false);
    for y in ["C2a", "C2b"] {
        check("A3", y, false, false);
    }
    assert_eq!(
        g.fork_floor(b.idx("A3"), g.peer_index(&b.peer("Carol")).unwrap()),
        Some(2)
    );
    let carol = g.peer_index(&b.peer("Carol")).unwrap();
    assert!(g.descends_from_fork_of(b.idx("A3"), carol));
    assert!(!g.descends_from_fork_of(b.idx("A2"), carol));
    assert_eq!(g.slot(carol, 2), vec![b.idx("C2a"), b.idx("C2b")]);
    // A3 still sees the non-forking creators' events.
    check("A3", "B3", true, true);
    check("A3", "A2", true, true);
}

#[test]
fn fork_is_reported_with_creator_and_slot() {
    let mut b = Builder::new();
    chain(&mut b, "Carol", "C", 2);
    b.requesting("C2a", "Carol", "C1", "Alice");
    let key = support::key("Carol");
    let (_, parent, _, _) = b.events["C1"];
    let fork = parsec_graph::EventContent::<String> {
        creator: key.peer_id(),
        index: 2,
        cause: parsec_graph::Cause::Requesting {
            self_parent: parent,
            recipient: support::key("Bob").peer_id(),
        },
        coin_shares: vec![],
    }
    .sign(&key, &Default::default())
    .unwrap();
    match b.graph.insert(fork).unwrap() {
        parsec_graph::Inserted::New {
            fork: Some(f),
            index,
        } => {
            assert_eq!(f.creator, key.peer_id());
            assert_eq!(f.index, 2);
            assert_eq!(f.first, b.idx("C2a"));
            assert_eq!(f.second, index);
            assert_eq!(b.graph.node(index).fork_id(), 1);
        }
        other => panic!("fork not reported: {other:?}"),
    }
}

#[test]
fn transitive_fork_sees_table() {
    let mut b = Builder::new();
    chain(&mut b, "Carol", "C", 3);
    chain(&mut b, "Bob", "B", 2);
    b.sync("B2", "Bob", "B1", "C2");
    b.requesting("B3a", "Bob", "B2", "Alice");
    b.requesting("B3b", "Bob", "B2", "Dave");
    chain(&mut b, "Alice", "A", 2);
    b.sync("A2", "Alice", "A1", "B3a");
    b.initial("D0", "Dave");
    b.sync("D1", "Dave", "D0", "B3b");
    b.requesting("D2", "Dave", "D1", "Alice");
    b.sync("A3", "Alice", "A2", "D2");
    let g = &b.graph;
    let bob = g.peer_index(&b.peer("Bob")).unwrap();
    assert!(g.descends_from_fork_of(b.idx("A3"), bob));
    for y in ["B0", "B1", "B2", "B3a", "B3b"] {
        // Bob's floor in anc(A3) is 3: only B3a and B3b are at or above it.
        let tracked = !y.starts_with("B3");
        assert_eq!(
            g.is_descendant_of(b.idx("A3"), b.idx(y)),
            tracked,
            "A3 ⪰ {y}"
        );
        assert!(!g.sees(b.idx("A3"), b.idx(y)), "A3 must not see {y}");
    }
    // Carol did not fork: A3 sees C2 although every path runs through Bob's fork.
    assert!(g.sees(b.idx("A3"), b.idx("C2")));
    // Each side alone sees its own branch.
    assert!(g.sees(b.idx("A2"), b.idx("B3a")));
    assert!(!g.is_descendant_of(b.idx("A2"), b.idx("B3b")));
    assert!(g.sees(b.idx("D2"), b.idx("B3b")));
    assert!(!g.sees(b.idx("D2"), b.idx("B3a")));
}
