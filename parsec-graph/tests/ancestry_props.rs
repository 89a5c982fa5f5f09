//! Ancestry answers from the summaries agree with a brute-force walk of the graph, on
//! random DAGs with random forks (4-16 creators, up to 300 events).

#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

use parsec_graph::{Cause, Event, EventContent, EventIndex, Graph, SecretKey};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Random {
    graph: Graph<String>,
    /// Per event: creator number, index, parents.
    meta: Vec<(usize, u64, Vec<usize>)>,
    creators: usize,
}

fn build(seed: u64, creators: usize, events: usize, fork_percent: u32) -> Random {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys: Vec<SecretKey> = (0..creators)
        .map(|c| SecretKey::from_seed(*blake3::hash(&(c as u64).to_le_bytes()).as_bytes()))
        .collect();
    let mut graph = Graph::new();
    let mut meta: Vec<(usize, u64, Vec<usize>)> = Vec::new();
    let mut own: Vec<Vec<usize>> = vec![Vec::new(); creators];
    let mut made: Vec<Event<String>> = Vec::new();
    while meta.len() < events {
        let c = rng.random_range(0..creators);
        let key = &keys[c];
        let (index, cause, parents) = if own[c].is_empty() {
            (0, Cause::Initial, vec![])
        } else {
            let sp = if rng.random_ratio(fork_percent, 100) {
                own[c][rng.random_range(0..own[c].len())]
            } else {
                *own[c].last().unwrap()
            };
            let sp_hash = *made[sp].hash();
            let index = meta[sp].1 + 1;
            let others: Vec<usize> = (0..meta.len()).filter(|&e| meta[e].0 != c).collect();
            if !others.is_empty() && rng.random_ratio(7, 10) {
                // Prefer recent events, as gossip does, but reach back sometimes.
                let pick = if rng.random_ratio(3, 4) {
                    others[others.len() - 1 - rng.random_range(0..others.len().min(8))]
                } else {
                    others[rng.random_range(0..others.len())]
                };
                let cause = Cause::Request {
                    self_parent: sp_hash,
                    other_parent: *made[pick].hash(),
                };
                (index, cause, vec![sp, pick])
            } else {
                let recipient = keys[rng.random_range(0..creators)].peer_id();
                let cause = Cause::Requesting {
                    self_parent: sp_hash,
                    recipient,
                };
                (index, cause, vec![sp])
            }
        };
        let event = EventContent {
            creator: key.peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(key, &Default::default())
        .unwrap();
        let inserted = graph.insert(event.clone()).unwrap();
        if matches!(inserted, parsec_graph::Inserted::Known(_)) {
            // A fork that repeated an existing event exactly is the same event.
            continue;
        }
        assert_eq!(inserted.index().get(), meta.len());
        own[c].push(meta.len());
        meta.push((c, index, parents));
        made.push(event);
    }
    Random {
        graph,
        meta,
        creators,
    }
}

/// Brute force: ancestor sets by walking parents.
fn ancestors(meta: &[(usize, u64, Vec<usize>)]) -> Vec<Vec<bool>> {
    let mut anc: Vec<Vec<bool>> = Vec::with_capacity(meta.len());
    for (e, (_, _, parents)) in meta.iter().enumerate() {
        let mut set = vec![false; meta.len()];
        let mut stack = vec![e];
        while let Some(x) = stack.pop() {
            if set[x] {
                continue;
            }
            set[x] = true;
            stack.extend(meta[x].2.iter().copied());
        }
        // Parents precede children, so the walk never leaves the prefix.
        debug_assert!(parents.iter().all(|&p| p < e));
        anc.push(set);
    }
    anc
}

fn check(r: &Random, voters: usize, rng: &mut ChaCha8Rng) -> Result<(), TestCaseError> {
    let n = r.meta.len();
    let anc = ancestors(&r.meta);
    let g = &r.graph;
    let pi = |c: usize| {
        g.peer_index(
            &SecretKey::from_seed(*blake3::hash(&(c as u64).to_le_bytes()).as_bytes()).peer_id(),
        )
    };
    let voter_set: Vec<_> = (0..voters).filter_map(pi).collect();
    // Per event: which creators are forked in its ancestry, and each creator's latest event.
    for x in 0..n {
        let mut forked = vec![false; r.creators];
        // Per creator: the lowest index at which anc(x) holds two of its events.
        let mut floor: Vec<Option<u64>> = vec![None; r.creators];
        let mut latest: Vec<Option<usize>> = vec![None; r.creators];
        let mut seen_slot = std::collections::BTreeSet::new();
        for y in 0..n {
            if !anc[x][y] {
                continue;
            }
            let (c, i, _) = &r.meta[y];
            if !seen_slot.insert((*c, *i)) {
                forked[*c] = true;
                floor[*c] = Some(floor[*c].map_or(*i, |f: u64| f.min(*i)));
            }
            if latest[*c].is_none_or(|l| r.meta[l].1 < *i) {
                latest[*c] = Some(y);
            }
        }
        let xi = EventIndex::from(x);
        for c in 0..r.creators {
            let Some(p) = pi(c) else { continue };
            prop_assert_eq!(
                g.descends_from_fork_of(xi, p),
                forked[c],
                "fork of {} at {}",
                c,
                x
            );
            prop_assert_eq!(g.fork_floor(xi, p), floor[c], "floor of {} at {}", c, x);
            prop_assert_eq!(
                g.last_ancestor(xi, p),
                latest[c].map(|l| r.meta[l].1),
                "last of {} at {}",
                c,
                x
            );
        }
        let sees = |a: usize, b: usize, forked_a: &dyn Fn(usize) -> bool| {
            anc[a][b] && !forked_a(r.meta[b].0)
        };
        let targets: Vec<usize> = if n <= 80 {
            (0..n).collect()
        } else {
            (0..24).map(|_| rng.random_range(0..n)).collect()
        };
        for y in targets {
            let yi = EventIndex::from(y);
            // Above its creator's floor in anc(x), an event is not tracked (compaction).
            let (yc, yindex) = (r.meta[y].0, r.meta[y].1);
            let tracked = x == y || floor[yc].is_none_or(|f| yindex < f);
            prop_assert_eq!(
                g.is_descendant_of(xi, yi),
                anc[x][y] && tracked,
                "{} ⪰ {}",
                x,
                y
            );
            let brute_sees = sees(x, y, &|c| forked[c]);
            prop_assert_eq!(g.sees(xi, yi), brute_sees, "{} sees {}", x, y);
            // Strongly sees: voters (the first `voters` creators) whose latest event in
            // anc(x) sees y; other creators never count.
            let mut count = 0;
            for c in 0..voters {
                if forked[c] {
                    continue;
                }
                let Some(l) = latest[c] else { continue };
                let l_forked = |d: usize| {
                    let mut slots = std::collections::BTreeSet::new();
                    (0..n).any(|z| anc[l][z] && r.meta[z].0 == d && !slots.insert(r.meta[z].1))
                };
                if sees(l, y, &l_forked) {
                    count += 1;
                }
            }
            prop_assert_eq!(
                g.strongly_seeing_count(xi, yi, &voter_set),
                count,
                "{} strongly sees {}",
                x,
                y
            );
            prop_assert_eq!(
                g.strongly_sees(xi, yi, &voter_set),
                3 * count > 2 * voter_set.len()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// The seed fully determines the graph; proptest prints it on failure.
    #[test]
    fn summaries_agree_with_graph_walk(
        seed in any::<u64>(),
        creators in 4usize..=16,
        events in 1usize..=300,
        fork_percent in prop_oneof![Just(0u32), 1u32..=10],
    ) {
        let r = build(seed, creators, events, fork_percent);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let voters = rng.random_range(1..=creators);
        check(&r, voters, &mut rng)?;
    }
}
