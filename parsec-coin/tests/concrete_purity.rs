//! `ConcreteCoin`'s answer at an event is a pure function of the event's ancestry and the
//! election (spec §7.1): peers that insert the same events in different topological orders
//! (and register the creators in different local orders) get the same answer at every
//! event, forks included.
//!
//! Random gossip rarely splits aux values, so a real meta-election almost never asks the
//! coin. The meta-election's reports are therefore synthesised here, as pure functions of
//! each event's ancestry (a hash of the event and its self-parent's report), so that the
//! coin is asked often, answers with every rank, and sometimes cannot answer.
//! `PARSEC_SEED=<n>` replays one seed; `PARSEC_SEEDS=<n>` runs more.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use parsec_coin::{CoinContext, CoinId, CommonCoin, ConcreteCoin, ElectionInfo};
use parsec_graph::{Cause, Event, EventContent, EventHash, EventLimits, Graph, PeerId, SecretKey};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Dag {
    keys: Vec<SecretKey>,
    events: Vec<Event<String>>,
    parents: Vec<Vec<usize>>,
    self_parent: Vec<Option<usize>>,
}

/// `voters` creators gossiping; creator 0 forks from an older own event now and then.
fn generate(seed: u64, voters: usize, events: usize) -> Dag {
    let mut rng = Rng(seed);
    let keys: Vec<SecretKey> = (0..voters)
        .map(|i| {
            SecretKey::from_seed(*blake3::hash(format!("coin-{seed}-{i}").as_bytes()).as_bytes())
        })
        .collect();
    let limits = EventLimits::default();
    let mut dag = Dag {
        keys: keys.clone(),
        events: Vec::new(),
        parents: Vec::new(),
        self_parent: Vec::new(),
    };
    let mut own: Vec<Vec<usize>> = vec![Vec::new(); voters];
    let mut index: Vec<u64> = Vec::new();
    for (c, key) in keys.iter().enumerate() {
        let event = EventContent {
            creator: key.peer_id(),
            index: 0,
            cause: Cause::Initial,
            coin_shares: vec![],
        }
        .sign(key, &limits)
        .unwrap();
        dag.events.push(event);
        dag.parents.push(vec![]);
        dag.self_parent.push(None);
        index.push(0);
        own[c].push(dag.events.len() - 1);
    }
    while dag.events.len() < events {
        let c = rng.below(voters);
        let sp = if c == 0 && rng.below(100) < 8 {
            own[c][rng.below(own[c].len())]
        } else {
            *own[c].last().unwrap()
        };
        let mut o = rng.below(voters - 1);
        if o >= c {
            o += 1;
        }
        let op = *own[o].last().unwrap();
        let cause = Cause::Request {
            self_parent: *dag.events[sp].hash(),
            other_parent: *dag.events[op].hash(),
        };
        let event = EventContent {
            creator: keys[c].peer_id(),
            index: index[sp] + 1,
            cause,
            coin_shares: vec![],
        }
        .sign(&keys[c], &limits)
        .unwrap();
        if dag.events.iter().any(|e| e.hash() == event.hash()) {
            continue;
        }
        dag.events.push(event);
        dag.parents.push(vec![sp, op]);
        dag.self_parent.push(Some(sp));
        index.push(index[sp] + 1);
        own[c].push(dag.events.len() - 1);
    }
    dag
}

/// A random topological order of the whole DAG.
fn order(rng: &mut Rng, dag: &Dag) -> Vec<usize> {
    let n = dag.events.len();
    let mut placed = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let ready: Vec<usize> = (0..n)
            .filter(|&e| !placed[e] && dag.parents[e].iter().all(|&p| placed[p]))
            .collect();
        let e = ready[rng.below(ready.len())];
        placed[e] = true;
        out.push(e);
    }
    out
}

/// The synthetic report of an event: per candidate slot, the past-flip round, rising
/// along the self-chain at random (a pure function of the event and its self-parent's).
fn report(hash: &EventHash, parent: Option<&Vec<Option<u32>>>, voters: usize) -> Vec<Option<u32>> {
    let bytes = hash.as_bytes();
    (0..voters)
        .map(|p| {
            let before = parent.and_then(|r| r[p]);
            // Bytes 8 onwards: byte 0 gives the coin its value, and must stay independent.
            match (before, bytes[8 + p] % 8) {
                (None, 0..=2) => Some(0),
                (None, _) => None,
                (Some(r), 0) => Some(r + 1),
                // A cut-back (spec §6.5.6 can shorten a list).
                (Some(r), 1) if r > 0 => Some(r - 1),
                (Some(r), _) => Some(r),
            }
        })
        .collect()
}

/// Whether the event needs coin (3, candidate 0, round 1): once a chain needs it, it keeps
/// needing it (the estimate stays empty until the coin fills it).
fn needs(hash: &EventHash, parent: Option<bool>) -> bool {
    parent == Some(true) || hash.as_bytes()[20] < 48
}

/// One peer: the coin's answer at every event that needed it, by event hash.
fn run(dag: &Dag, events: &[usize], rng: &mut Rng) -> BTreeMap<EventHash, Option<bool>> {
    let voters = dag.keys.len();
    let mut ids: Vec<PeerId> = dag.keys.iter().map(SecretKey::peer_id).collect();
    let mut graph = Graph::<String>::new();
    let mut local = ids.clone();
    for i in (1..local.len()).rev() {
        local.swap(i, rng.below(i + 1));
    }
    for id in &local {
        graph.register_peer(*id).unwrap();
    }
    ids.sort();
    let info = ElectionInfo {
        election: 3,
        voters: &ids,
        previous_group_hash: [7; 32],
    };
    let id = CoinId {
        election: 3,
        candidate: ids[0],
        round: 1,
    };
    let mut coin = ConcreteCoin::new();
    let mut reports: BTreeMap<usize, Vec<Option<u32>>> = BTreeMap::new();
    let mut needing: BTreeMap<usize, bool> = BTreeMap::new();
    let mut answers = BTreeMap::new();
    for &e in events {
        let at = graph.insert(dag.events[e].clone()).unwrap().index();
        let hash = *dag.events[e].hash();
        let parent = dag.self_parent[e];
        let report = report(&hash, parent.and_then(|p| reports.get(&p)), voters);
        let ctx = CoinContext {
            graph: &graph,
            at,
            info: &info,
        };
        coin.on_evaluated(&report, &ctx);
        reports.insert(e, report);
        let need = needs(&hash, parent.and_then(|p| needing.get(&p).copied()));
        needing.insert(e, need);
        if need {
            coin.on_needed(&id, &ctx);
            answers.insert(hash, coin.value(&id, &ctx));
        }
    }
    answers
}

fn seeds() -> std::ops::Range<u64> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    if let Some(seed) = var("PARSEC_SEED") {
        return seed..seed + 1;
    }
    0..var("PARSEC_SEEDS").unwrap_or(12)
}

#[test]
fn answers_do_not_depend_on_insertion_order() {
    let (mut answered, mut unavailable, mut trues) = (0, 0, 0);
    for seed in seeds() {
        for voters in [4, 7] {
            let dag = generate(seed, voters, 60 * voters);
            let mut rng = Rng(seed ^ 0x5eed);
            let first = run(&dag, &order(&mut rng, &dag), &mut rng);
            for peer in 1..4 {
                let other = run(&dag, &order(&mut rng, &dag), &mut rng);
                assert_eq!(
                    first, other,
                    "PARSEC_SEED={seed}: peer {peer} of {voters} voters answers differently"
                );
            }
            answered += first.values().filter(|v| v.is_some()).count();
            unavailable += first.values().filter(|v| v.is_none()).count();
            trues += first.values().filter(|v| **v == Some(true)).count();
        }
    }
    eprintln!("answers: {answered} (true: {trues}), not available: {unavailable}");
    // The sweep must exercise both outcomes and both values, or it shows nothing.
    assert!(
        answered > 0 && unavailable > 0,
        "{answered} answered, {unavailable} not"
    );
    assert!(trues > 0 && trues < answered, "{trues} of {answered} true");
}
