//! Differential purity fuzzing of the meta-elections (written by an attacking review).
//!
//! A random gossip DAG is generated in which some voters fork at will (from any of their
//! own events, voting different payloads on different branches). Several "peers" then
//! insert the same events (or an ancestry-closed subset: one forker branch withheld) in
//! different random topological orders, with the peers registered in different local
//! orders, and run `Elections` with digest recording. The module docs claim that every
//! meta-event is a pure function of the evaluated event's ancestry and the agreed election
//! state, so:
//!
//! * the digests of the same (election, event) must agree on every peer (invariant 7);
//! * the decided groups must agree (one is a prefix of the other), with their membership
//!   changes: with churn, some votes add a joining peer or remove voters (and some try to
//!   re-add a removed voter or remove a stranger, which must change nothing), and the
//!   elections apply the decided changes themselves.
//!
//! `PARSEC_SEEDS=<n>` runs more seeds; a failure prints its seed, and `PARSEC_SEED=<n>`
//! replays it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use parsec_coin::{CoinContext, CoinId, CommonCoin, ConcreteCoin, ParityCoin};
use parsec_graph::{
    Cause, ConsensusMode, Event, EventContent, EventHash, EventLimits, Graph, Malice, Observation,
    ObservationKey, PeerId, SecretKey, Vote,
};
use parsec_meta_election::{Elections, MembershipChange, VoterSet};

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
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn key(seed: u64, i: usize) -> SecretKey {
    SecretKey::from_seed(*blake3::hash(format!("attack-review-{seed}-{i}").as_bytes()).as_bytes())
}

#[derive(Clone, Copy, Debug)]
struct Params {
    voters: usize,
    forkers: usize,
    events: usize,
    fork_percent: u64,
    vote_percent: u64,
    payloads: usize,
    peers: usize,
    mode: ConsensusMode,
    /// Also vote membership changes, and let one peer that is not a voter at first take
    /// part in the gossip (it can be added).
    churn: bool,
    coin: CoinKind,
}

#[derive(Clone, Copy, Debug)]
enum CoinKind {
    Parity,
    Concrete,
}

/// A coin that counts the values it gave (to show that a sweep consulted the coin at all).
struct Counted<C> {
    inner: C,
    values: usize,
}

impl<C: CommonCoin> CommonCoin for Counted<C> {
    fn agreement(&self) -> parsec_coin::CoinAgreement {
        self.inner.agreement()
    }
    fn value<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) -> Option<bool> {
        let value = self.inner.value(id, ctx);
        self.values += usize::from(value.is_some());
        value
    }
    fn on_needed<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) {
        self.inner.on_needed(id, ctx);
    }
    fn wants_evaluations(&self) -> bool {
        self.inner.wants_evaluations()
    }
    fn on_evaluated<T>(&mut self, past_flip: &[Option<u32>], ctx: &CoinContext<'_, T>) {
        self.inner.on_evaluated(past_flip, ctx);
    }
    fn oldest_event(&self) -> Option<parsec_graph::EventIndex> {
        self.inner.oldest_event()
    }
}

impl Params {
    /// Everyone who creates events: the voters of election 0, then the joiner if any.
    fn creators(&self) -> usize {
        self.voters + usize::from(self.churn)
    }
}

struct Dag {
    keys: Vec<SecretKey>,
    events: Vec<Event<String>>,
    parents: Vec<Vec<usize>>,
    creator: Vec<usize>,
}

/// The membership observations voted with churn (after the payloads): remove the two
/// highest voters (never forkers: those are the lowest), add the joiner, and two that must
/// change nothing when decided after the removes: re-adding a removed voter, removing a
/// peer that never was a member. One removal is an accusation.
fn membership_votes(keys: &[SecretKey], p: Params) -> Vec<Observation<String>> {
    if !p.churn {
        return Vec::new();
    }
    let id = |i: usize| keys[i].peer_id();
    vec![
        Observation::Remove {
            peer_id: id(p.voters - 1),
            related_info: vec![],
        },
        Observation::Add {
            peer_id: id(p.voters),
            related_info: vec![],
        },
        Observation::Accusation {
            offender: id(p.voters - 2),
            malice: Malice::Fork(EventHash::from_bytes([7; 32])),
        },
        Observation::Add {
            peer_id: id(p.voters - 1),
            related_info: vec![],
        },
        Observation::Remove {
            peer_id: PeerId::from_bytes([9; 32]),
            related_info: vec![],
        },
    ]
}

fn generate(seed: u64, p: Params) -> Dag {
    let mut rng = Rng(seed);
    let limits = EventLimits::default();
    let keys: Vec<SecretKey> = (0..p.creators()).map(|i| key(seed, i)).collect();
    let membership = membership_votes(&keys, p);
    let mut dag = Dag {
        keys: keys.clone(),
        events: Vec::new(),
        parents: Vec::new(),
        creator: Vec::new(),
    };
    let creators = p.creators();
    let mut own: Vec<Vec<usize>> = vec![Vec::new(); creators];
    let mut heads: Vec<Vec<usize>> = vec![Vec::new(); creators];
    let mut voted: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); creators];
    let mut index_of: Vec<u64> = Vec::new();
    let push = |dag: &mut Dag,
                index_of: &mut Vec<u64>,
                c: usize,
                index: u64,
                cause: Cause<String>,
                parents: Vec<usize>| {
        let event = EventContent {
            creator: keys[c].peer_id(),
            index,
            cause,
            coin_shares: vec![],
        }
        .sign(&keys[c], &limits)
        .unwrap();
        if let Some(known) = dag.events.iter().position(|e| e.hash() == event.hash()) {
            return known;
        }
        dag.events.push(event);
        dag.parents.push(parents);
        dag.creator.push(c);
        index_of.push(index);
        dag.events.len() - 1
    };
    for c in 0..creators {
        let e = push(&mut dag, &mut index_of, c, 0, Cause::Initial, vec![]);
        own[c].push(e);
        heads[c].push(e);
    }
    while dag.events.len() < p.events {
        let c = rng.below(creators);
        let forker = c < p.forkers;
        let (self_parent, head_slot) = if forker && rng.chance(p.fork_percent) {
            (own[c][rng.below(own[c].len())], None)
        } else {
            let h = rng.below(heads[c].len());
            (heads[c][h], Some(h))
        };
        let sp_hash = *dag.events[self_parent].hash();
        let index = index_of[self_parent] + 1;
        let want_vote = rng.chance(p.vote_percent);
        // With churn, half the votes are membership changes: enough of them get decided.
        let payload = if !membership.is_empty() && rng.chance(50) {
            p.payloads + rng.below(membership.len())
        } else {
            rng.below(p.payloads)
        };
        let e = if want_vote && (forker || !voted[c].contains(&payload)) {
            voted[c].insert(payload);
            let observation = match payload.checked_sub(p.payloads) {
                None => Observation::OpaquePayload(format!("P{payload}")),
                Some(m) => membership[m].clone(),
            };
            let vote = Vote::new(observation, &dag.keys[c]).unwrap();
            push(
                &mut dag,
                &mut index_of,
                c,
                index,
                Cause::Observation {
                    self_parent: sp_hash,
                    vote: Box::new(vote),
                },
                vec![self_parent],
            )
        } else {
            let mut o = rng.below(creators - 1);
            if o >= c {
                o += 1;
            }
            let other = if rng.chance(85) {
                heads[o][rng.below(heads[o].len())]
            } else {
                own[o][rng.below(own[o].len())]
            };
            let op_hash = *dag.events[other].hash();
            let cause = if rng.chance(50) {
                Cause::Request {
                    self_parent: sp_hash,
                    other_parent: op_hash,
                }
            } else {
                Cause::Response {
                    self_parent: sp_hash,
                    other_parent: op_hash,
                }
            };
            push(
                &mut dag,
                &mut index_of,
                c,
                index,
                cause,
                vec![self_parent, other],
            )
        };
        if own[c].contains(&e) {
            continue;
        }
        own[c].push(e);
        match head_slot {
            Some(h) => heads[c][h] = e,
            None => heads[c].push(e),
        }
    }
    dag
}

/// A random topological order of `included`.
fn order(rng: &mut Rng, dag: &Dag, included: &[bool]) -> Vec<usize> {
    let n = dag.events.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut missing: Vec<usize> = vec![0; n];
    for e in 0..n {
        if !included[e] {
            continue;
        }
        for &q in &dag.parents[e] {
            children[q].push(e);
            missing[e] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&e| included[e] && missing[e] == 0).collect();
    let mut out = Vec::new();
    while !ready.is_empty() {
        let e = ready.swap_remove(rng.below(ready.len()));
        out.push(e);
        for &ch in &children[e] {
            missing[ch] -= 1;
            if missing[ch] == 0 {
                ready.push(ch);
            }
        }
    }
    out
}

/// One decided group as every peer must see it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Group {
    election: u64,
    voters: Vec<PeerId>,
    keys: Vec<ObservationKey>,
    membership: Vec<MembershipChange>,
}

#[derive(Default, Debug)]
struct Outcome {
    decisions: Vec<Group>,
    digests: BTreeMap<(u64, EventHash), [u8; 32]>,
    self_conflicts: usize,
    /// Membership changes that took effect.
    changes: usize,
    /// Values the coin gave.
    coin_values: usize,
}

fn run_peer<C: CommonCoin>(
    rng: &mut Rng,
    dag: &Dag,
    events: &[usize],
    p: Params,
    coin: C,
) -> Outcome {
    let mut graph = Graph::<String>::new();
    let mut ids: Vec<PeerId> = dag.keys[..p.voters]
        .iter()
        .map(SecretKey::peer_id)
        .collect();
    // Register in a random local order (the joiner, when its first event arrives or when
    // a decision adds it).
    for i in (1..ids.len()).rev() {
        let j = rng.below(i + 1);
        ids.swap(i, j);
    }
    let voters: Vec<_> = ids
        .iter()
        .map(|&id| (id, graph.register_peer(id).unwrap()))
        .collect();
    let coin = Counted {
        inner: coin,
        values: 0,
    };
    let mut elections = Elections::new(VoterSet::new(voters), p.mode, coin).unwrap();
    elections.record_digests(true);
    let mut out = Outcome::default();
    let mut removed = BTreeSet::new();
    for &e in events {
        let at = graph.insert(dag.events[e].clone()).unwrap().index();
        let step = elections.on_insert(&mut graph, at).unwrap();
        assert!(step.coin_shares.is_empty(), "these coins publish nothing");
        for d in elections.take_digests() {
            match out.digests.insert((d.election, d.event), d.digest) {
                Some(old) if old != d.digest => out.self_conflicts += 1,
                _ => {}
            }
        }
        let mut next: Option<BTreeSet<PeerId>> = None;
        for group in step.decided {
            // Each group's voters are the ones the group before it left.
            let voters: BTreeSet<PeerId> = group.voters.iter().copied().collect();
            if let Some(next) = &next {
                assert_eq!(&voters, next, "election {}", group.election);
            }
            let mut after = voters;
            for entry in &group.entries {
                match entry.membership {
                    MembershipChange::Added(peer) => {
                        assert!(!removed.contains(&peer), "a removed peer came back");
                        assert!(after.insert(peer), "added a voter");
                    }
                    MembershipChange::Removed(peer) => {
                        assert!(after.remove(&peer), "removed a non-voter");
                        removed.insert(peer);
                    }
                    MembershipChange::None => {}
                }
            }
            out.changes += group
                .entries
                .iter()
                .filter(|e| e.membership != MembershipChange::None)
                .count();
            out.decisions.push(Group {
                election: group.election,
                voters: group.voters,
                keys: group.entries.iter().map(|e| e.key).collect(),
                membership: group.entries.iter().map(|e| e.membership).collect(),
            });
            next = Some(after);
        }
        if let Some(next) = next {
            // The elections restarted with the voters the last group left.
            let now: BTreeSet<PeerId> = elections.voters().ids().iter().copied().collect();
            assert_eq!(now, next);
        }
    }
    out.coin_values = elections.coin().values;
    out
}

/// Runs one seed; returns a description of the first discrepancy, if any.
/// On success: the digests compared, the groups decided and the membership changes made
/// (each the least over the peers).
fn check(seed: u64, p: Params) -> Result<(usize, usize, usize, usize), String> {
    let dag = generate(seed, p);
    let mut rng = Rng(seed ^ 0xdead_beef);
    let n = dag.events.len();
    let mut outcomes = Vec::new();
    for peer in 0..p.peers {
        let mut included = vec![true; n];
        // Odd peers miss one forker event and everything above it (a branch nothing
        // they hold builds on... or that they simply never got).
        if peer % 2 == 1 && p.forkers > 0 {
            let forker_events: Vec<usize> = (0..n)
                .filter(|&e| dag.creator[e] < p.forkers && !dag.parents[e].is_empty())
                .collect();
            if !forker_events.is_empty() {
                let cut = forker_events[rng.below(forker_events.len())];
                included[cut] = false;
                for e in cut + 1..n {
                    if dag.parents[e].iter().any(|&q| !included[q]) {
                        included[e] = false;
                    }
                }
            }
        }
        let events = order(&mut rng, &dag, &included);
        let outcome = match p.coin {
            CoinKind::Parity => run_peer(&mut rng, &dag, &events, p, ParityCoin),
            CoinKind::Concrete => run_peer(&mut rng, &dag, &events, p, ConcreteCoin::new()),
        };
        outcomes.push(outcome);
    }
    let mut compared = 0;
    for (i, a) in outcomes.iter().enumerate() {
        if a.self_conflicts > 0 {
            return Err(format!("peer {i}: {} self conflicts", a.self_conflicts));
        }
        for (j, b) in outcomes.iter().enumerate().skip(i + 1) {
            for (k, da) in &a.digests {
                if let Some(db) = b.digests.get(k) {
                    compared += 1;
                    if da != db {
                        let creator = dag
                            .events
                            .iter()
                            .position(|e| e.hash() == &k.1)
                            .map(|e| dag.creator[e]);
                        return Err(format!(
                            "seed {seed}: peers {i} and {j} disagree on the meta-event of \
                             {:?} (creator {creator:?}) in election {}",
                            k.1, k.0
                        ));
                    }
                }
            }
            let m = a.decisions.len().min(b.decisions.len());
            if a.decisions[..m] != b.decisions[..m] {
                return Err(format!(
                    "seed {seed}: peers {i} and {j} decided differently: {:?} vs {:?}",
                    a.decisions, b.decisions
                ));
            }
        }
    }
    let decided = outcomes
        .iter()
        .map(|o| o.decisions.len())
        .min()
        .unwrap_or(0);
    let changes = outcomes.iter().map(|o| o.changes).min().unwrap_or(0);
    let coin_values = outcomes.iter().map(|o| o.coin_values).max().unwrap_or(0);
    Ok((compared, decided, changes, coin_values))
}

fn sweep(p: Params, seeds: std::ops::Range<u64>) {
    let mut failures = Vec::new();
    let mut total_decided = 0;
    let mut total_changes = 0;
    let mut total_coin_values = 0;
    for seed in seeds {
        match std::panic::catch_unwind(|| check(seed, p)) {
            Ok(Ok((_, decided, changes, coin_values))) => {
                total_decided += decided;
                total_changes += changes;
                total_coin_values += coin_values;
            }
            Ok(Err(e)) => failures.push(format!("PARSEC_SEED={seed}: {e}")),
            Err(_) => failures.push(format!("PARSEC_SEED={seed}: panicked")),
        }
    }
    eprintln!(
        "{p:?}: decided groups (min over peers) summed: {total_decided}, \
         membership changes: {total_changes}, coin values given (max over peers) \
         summed: {total_coin_values}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if p.churn {
        assert!(total_changes > 0, "no membership change was ever decided");
    }
}

/// `PARSEC_SEED` alone if set; else `PARSEC_SEEDS` seeds (default 20) from 0. A failure
/// names its seed: `PARSEC_SEED=<n> cargo test -p parsec-meta-election --test purity`.
fn seeds() -> std::ops::Range<u64> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    if let Some(seed) = var("PARSEC_SEED") {
        return seed..seed + 1;
    }
    0..var("PARSEC_SEEDS").unwrap_or(20)
}

#[test]
fn purity_four_voters_one_forker() {
    sweep(
        Params {
            voters: 4,
            forkers: 1,
            events: 500,
            fork_percent: 25,
            vote_percent: 15,
            payloads: 6,
            peers: 4,
            mode: ConsensusMode::Supermajority,
            churn: false,
            coin: CoinKind::Parity,
        },
        seeds(),
    );
}

#[test]
fn purity_seven_voters_two_forkers() {
    sweep(
        Params {
            voters: 7,
            forkers: 2,
            events: 1400,
            fork_percent: 20,
            vote_percent: 12,
            payloads: 6,
            peers: 4,
            mode: ConsensusMode::Supermajority,
            churn: false,
            coin: CoinKind::Parity,
        },
        seeds(),
    );
}

#[test]
fn purity_single_mode() {
    sweep(
        Params {
            voters: 4,
            forkers: 1,
            events: 500,
            fork_percent: 25,
            vote_percent: 15,
            payloads: 4,
            peers: 4,
            mode: ConsensusMode::Single,
            churn: false,
            coin: CoinKind::Parity,
        },
        seeds(),
    );
}

#[test]
fn purity_no_forks_baseline() {
    sweep(
        Params {
            voters: 4,
            forkers: 0,
            events: 500,
            fork_percent: 0,
            vote_percent: 15,
            payloads: 6,
            peers: 3,
            mode: ConsensusMode::Supermajority,
            churn: false,
            coin: CoinKind::Parity,
        },
        seeds(),
    );
}

#[test]
fn purity_rare_forks_long() {
    for (fork_percent, mode) in [
        (3, ConsensusMode::Supermajority),
        (8, ConsensusMode::Supermajority),
        (5, ConsensusMode::Single),
    ] {
        sweep(
            Params {
                voters: 4,
                forkers: 1,
                events: 1000,
                fork_percent,
                vote_percent: 15,
                payloads: 10,
                peers: 5,
                mode,
                churn: false,
                coin: CoinKind::Parity,
            },
            seeds(),
        );
    }
}

#[test]
fn purity_five_voters_one_forker() {
    sweep(
        Params {
            voters: 5,
            forkers: 1,
            events: 1000,
            fork_percent: 6,
            vote_percent: 15,
            payloads: 10,
            peers: 5,
            mode: ConsensusMode::Supermajority,
            churn: false,
            coin: CoinKind::Parity,
        },
        seeds(),
    );
}

#[test]
fn purity_voter_churn() {
    for (voters, fork_percent, mode) in [
        (5, 5, ConsensusMode::Supermajority),
        (6, 10, ConsensusMode::Supermajority),
        (5, 5, ConsensusMode::Single),
    ] {
        sweep(
            Params {
                voters,
                forkers: 1,
                events: 1000,
                fork_percent,
                vote_percent: 15,
                payloads: 10,
                peers: 5,
                mode,
                churn: true,
                coin: CoinKind::Parity,
            },
            seeds(),
        );
    }
}

/// The concrete coin reads the graph and what the meta-election reports of each event: its
/// answers, and so every meta-event, must not depend on insertion order either (spec §7.1).
#[test]
fn purity_concrete_coin() {
    for (voters, forkers, fork_percent, mode, churn) in [
        (4, 1, 25, ConsensusMode::Supermajority, false),
        (7, 2, 20, ConsensusMode::Supermajority, false),
        (4, 1, 25, ConsensusMode::Single, false),
        (5, 1, 5, ConsensusMode::Supermajority, true),
    ] {
        sweep(
            Params {
                voters,
                forkers,
                events: 200 * voters,
                fork_percent,
                vote_percent: 15,
                payloads: 6,
                peers: 4,
                mode,
                churn,
                coin: CoinKind::Concrete,
            },
            seeds(),
        );
    }
}
