//! Pruning changes no answer (spec §12.1): a graph pruned as it grows and one never pruned
//! take the same random events (forks, lagging creators, other-parents reaching back into
//! each creator's window) and give the same answer to every ancestry query about events
//! the pruned graph still holds at or above its base.
//!
//! `PARSEC_SEEDS=N` runs N seeds (default 120); a failure names its seed.

#![allow(clippy::unwrap_used)]

use parsec_graph::{Cause, Event, EventContent, EventIndex, Graph, Inserted, PeerIndex, SecretKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn seeds() -> u64 {
    std::env::var("PARSEC_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120)
}

struct Run {
    full: Graph<String>,
    pruned: Graph<String>,
    keys: Vec<SecretKey>,
    /// Per creator: its events (positions), and the one its chain continues from.
    own: Vec<Vec<usize>>,
    made: Vec<Event<String>>,
    creator_of: Vec<usize>,
    index_of: Vec<u64>,
    /// How often (percent) a parent is picked from pruned history too, and re-admitted
    /// into the pruned graph from the unpruned one's stubs before insertion.
    late_percent: u32,
    readmitted: usize,
    /// Positions kept however old (as the engine keeps undecided votes), ascending.
    pinned: Vec<EventIndex>,
}

impl Run {
    fn new(creators: usize) -> Self {
        Run {
            full: Graph::new(),
            pruned: Graph::new(),
            keys: (0..creators)
                .map(|c| SecretKey::from_seed(*blake3::hash(&[c as u8, 7]).as_bytes()))
                .collect(),
            own: vec![Vec::new(); creators],
            made: Vec::new(),
            creator_of: Vec::new(),
            index_of: Vec::new(),
            late_percent: 0,
            readmitted: 0,
            pinned: Vec::new(),
        }
    }

    /// One random event whose parents the pruned graph holds, inserted into both.
    fn step(&mut self, rng: &mut ChaCha8Rng, fork_percent: u32, laggard: usize) {
        let creators = self.keys.len();
        let c = rng.random_range(0..creators);
        let held = |g: &Graph<String>, e: usize| g.holds(EventIndex::from(e));
        let (index, cause) = if self.own[c].is_empty() {
            (0, Cause::Initial)
        } else {
            let floor = self
                .pruned
                .pruning_floor(self.pruned.peer_index(&self.keys[c].peer_id()).unwrap());
            let base = self.pruned.base().get();
            // Held, and not just re-admitted (those lie below the floor and the base).
            let chain: Vec<usize> = self.own[c]
                .iter()
                .copied()
                .filter(|&e| held(&self.pruned, e) && (e >= base || self.index_of[e] >= floor))
                .collect();
            let Some(&last) = chain.last() else { return };
            let late = rng.random_ratio(self.late_percent, 100);
            let sp = if late && floor > 0 && rng.random_ratio(fork_percent, 100) {
                // A fork at the floor, on a pruned self-parent.
                *self.own[c]
                    .iter()
                    .find(|&&e| self.index_of[e] == floor - 1)
                    .unwrap()
            } else if rng.random_ratio(fork_percent, 100) {
                chain[rng.random_range(0..chain.len())]
            } else {
                last
            };
            let others: Vec<usize> = (0..self.made.len())
                .filter(|&e| self.creator_of[e] != c && (late || held(&self.pruned, e)))
                .collect();
            let self_parent = *self.made[sp].hash();
            // The laggard syncs rarely, and with old events when it does.
            let syncs = if c == laggard { 1 } else { 7 };
            let cause = if !others.is_empty() && rng.random_ratio(syncs, 10) {
                let pick = if c != laggard && rng.random_ratio(3, 4) {
                    others[others.len() - 1 - rng.random_range(0..others.len().min(8))]
                } else {
                    others[rng.random_range(0..others.len())]
                };
                Cause::Request {
                    self_parent,
                    other_parent: *self.made[pick].hash(),
                }
            } else {
                Cause::Requesting {
                    self_parent,
                    recipient: self.keys[rng.random_range(0..creators)].peer_id(),
                }
            };
            (self.index_of[sp] + 1, cause)
        };
        let event = EventContent {
            creator: self.keys[c].peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(&self.keys[c], &Default::default())
        .unwrap();
        for parent in [event.cause().self_parent(), event.cause().other_parent()]
            .into_iter()
            .flatten()
        {
            if !self.pruned.contains(parent) {
                let at = self.full.index_of(parent).unwrap();
                let stub = self.full.node(at).stub();
                let back = self
                    .pruned
                    .readmit(self.made[at.get()].clone(), stub)
                    .unwrap();
                assert_eq!(back, at);
                self.readmitted += 1;
            }
        }
        let a = self.full.insert(event.clone()).unwrap();
        let b = self.pruned.insert(event.clone()).unwrap();
        assert_eq!(a, b, "insertion differs");
        if let Inserted::New { index: at, .. } = a {
            assert_eq!(at.get(), self.made.len());
            if rng.random_ratio(1, 12) {
                self.pinned.push(at);
            }
            self.own[c].push(at.get());
            self.made.push(event);
            self.creator_of.push(c);
            self.index_of.push(index);
        }
    }

    /// Every query about `x` (the newest event) and held targets at or above the base.
    fn compare(&self, rng: &mut ChaCha8Rng, seed: u64) {
        let (a, b) = (&self.full, &self.pruned);
        let x = EventIndex::from(a.len() - 1);
        let peers: Vec<PeerIndex> = a.peers().map(|(p, _)| p).collect();
        let voters: Vec<PeerIndex> = peers.iter().copied().take(peers.len() * 3 / 4).collect();
        for &p in &peers {
            assert_eq!(a.last_ancestor(x, p), b.last_ancestor(x, p), "seed {seed}");
            assert_eq!(a.fork_floor(x, p), b.fork_floor(x, p), "seed {seed}");
            assert_eq!(a.has_forked(p), b.has_forked(p), "seed {seed}");
            let (la, lb) = (a.latest_ancestor(x, p), b.latest_ancestor(x, p));
            match (la, lb) {
                // Re-admitted events are held but not in their creator's slots: below
                // the base and the floor, an answer no election reads (spec §12.5).
                (Some(l), None) => assert!(
                    l < b.base()
                        && (!b.holds(l)
                            || a.node(l).creator_index() < b.pruning_floor(a.node(l).creator())),
                    "seed {seed}: latest ancestor {l:?} of {p:?} lost but held"
                ),
                _ => assert_eq!(la, lb, "seed {seed}: latest ancestor of {p:?}"),
            }
        }
        // Pinned events below the base, where their creator's chain is unique (below
        // its first fork: the engine never inserts a fork below a floor): queries by
        // creator and index answer as the unpruned graph does, held or not.
        for &y in &self.pinned {
            let creator = a.node(y).creator();
            let yi = a.node(y).creator_index();
            if y >= b.base() || b.first_fork(creator).is_some_and(|f| yi >= f) {
                continue;
            }
            assert_eq!(
                a.is_descendant_of(x, y),
                b.is_descendant_of_at(x, y, creator, yi),
                "seed {seed}: {x:?} ⪰ pinned {y:?}"
            );
        }
        let base = b.base().get();
        if base >= a.len() {
            return;
        }
        for _ in 0..16 {
            let y = EventIndex::from(rng.random_range(base..a.len()));
            assert_eq!(
                a.is_descendant_of(x, y),
                b.is_descendant_of(x, y),
                "seed {seed}: {x:?} ⪰ {y:?}"
            );
            assert_eq!(a.sees(x, y), b.sees(x, y), "seed {seed}: {x:?} sees {y:?}");
            assert_eq!(
                a.strongly_seeing_count(x, y, &voters),
                b.strongly_seeing_count(x, y, &voters),
                "seed {seed}: {x:?} strongly sees {y:?}"
            );
            let yi = a.node(y).creator_index();
            let floor = b.pruning_floor(a.node(y).creator());
            if yi >= floor {
                assert_eq!(
                    a.self_ancestor_at(y, floor),
                    b.self_ancestor_at(y, floor),
                    "seed {seed}: self-ancestor of {y:?} at the floor"
                );
            }
        }
    }
}

#[test]
fn pruned_and_unpruned_graphs_answer_alike() {
    let (dropped, _) = run_seeds(0);
    assert!(dropped > 0, "nothing was ever pruned");
}

#[test]
fn readmitted_parents_make_late_events_insert_alike() {
    let (dropped, readmitted) = run_seeds(10);
    assert!(dropped > 0, "nothing was ever pruned");
    assert!(readmitted > 100, "only {readmitted} events were readmitted");
}

/// Runs every seed with parents picked from pruned history `late_percent` percent of the
/// time; returns the events dropped and readmitted.
fn run_seeds(late_percent: u32) -> (usize, usize) {
    let (mut dropped, mut readmitted) = (0, 0);
    for seed in 0..seeds() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let creators = rng.random_range(4..=9);
        let fork_percent = [0, 2, 6][seed as usize % 3];
        let window = rng.random_range(1..=12);
        let laggard = rng.random_range(0..creators);
        let mut run = Run::new(creators);
        run.late_percent = late_percent;
        for step in 0..500 {
            run.step(&mut rng, fork_percent, laggard);
            if !run.made.is_empty() {
                run.compare(&mut rng, seed);
            }
            if step % 7 == 6 {
                let lag = rng.random_range(0..60);
                let keep_from = EventIndex::from(run.full.len().saturating_sub(lag));
                // Now and then a pinned event is let go, as a decided vote is.
                if !run.pinned.is_empty() && rng.random_ratio(1, 3) {
                    let at = rng.random_range(0..run.pinned.len());
                    run.pinned.remove(at);
                }
                let pinned = run.pinned.clone();
                dropped += run.pruned.prune_keeping(keep_from, window, &pinned).dropped;
            }
        }
        assert_eq!(run.full.len(), run.pruned.len(), "seed {seed}");
        readmitted += run.readmitted;
    }
    (dropped, readmitted)
}

#[test]
fn pruning_bounds_what_is_held_and_skips_below_the_floor() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut run = Run::new(4);
    for _ in 0..2_000 {
        run.step(&mut rng, 0, usize::MAX);
        let keep_from = EventIndex::from(run.pruned.len().saturating_sub(20));
        let pruned = run.pruned.prune(keep_from, 8);
        assert_eq!(pruned.held, run.pruned.held_len());
    }
    // 20 recent positions plus at most 8 of each creator's below them.
    assert!(
        run.pruned.held_len() <= 20 + 4 * 8,
        "held {}",
        run.pruned.held_len()
    );
    assert_eq!(run.full.held_len(), 2_000);
    for (p, _) in run.pruned.peers() {
        assert!(run.pruned.pruning_floor(p) > 0);
    }
    // A pruned event is no longer known by hash.
    let first = run.made[0].hash();
    assert!(run.full.contains(first) && !run.pruned.contains(first));
}
