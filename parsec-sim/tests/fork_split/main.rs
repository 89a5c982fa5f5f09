//! A fork whose second branch reaches one honest peer first, as bare events, must not split
//! the honest peers' block sequences (agreement, spec §15.1).
//!
//! Four genesis members: A, B and C run honest engines; M signs its own events. A syncs
//! with B, then with C, then sends M a `Requesting`; each honest peer votes R before a
//! random one of those three syncs. Right after its genesis vote, M answers A's
//! `Requesting` on two branches with one self-parent: branch 1 (a vote for Q, then a
//! `Request` on A's `Requesting`) goes to A as a proper `Response`; branch 2 (a `Request`
//! alone) goes to B alone, earlier, as a bare `Events` message, so B inserts it before
//! branch 1 and nothing on B's chain ever builds on it. From then on M gossips honestly on
//! branch 1 only, and a random schedule runs (seeded `ChaCha8Rng`, every message delivered
//! at once): a random member syncs with a random other member, M included, until every
//! honest peer has decided every expected payload (Genesis, R, and Q in `Single` mode: one
//! vote never makes a supermajority) with as many blocks as the others. Every honest peer
//! must then have output the same blocks: the same payloads, in the same order, in the same
//! groups (election and position, as the agreement invariant compares them).
//!
//! The bug this reproduces (reported as A deciding `Genesis, Q | R` while B and C decide
//! `Genesis | R, Q`): the honest peers split into those that inserted M's branch 2 before
//! branch 1 (B, and C when it first hears of M's fork from B) and those that inserted
//! branch 1 first, and the two sides decide different groups, e.g. `Genesis | R` against
//! `Genesis, R`, or `Genesis, R(A), Q(M) | R(B), R(C)` against `Genesis, R(A), R(B), R(C) |
//! Q(M)` in `Single` mode. The suspected cause: M's first interesting event (its candidate
//! in the election) is branch 2 on one side, which nobody ever sees, and branch 1 on the
//! other. Branch 2 only has interesting content, and the fork only matters, if A's
//! `Requesting` already carries a supermajority of votes: hence A's syncs with B and C
//! first (without them no seed diverges), and the R votes before the fork (with them after
//! it, [`Variant::VotesAfterFork`], fewer seeds diverge).
//!
//! The variants: each branch led by a different vote ([`Variant::VotesBothWays`]), the fork
//! at the genesis vote ([`Variant::BeforeGenesisVote`]), the fork in the election after
//! Genesis ([`Variant::LaterElection`]: A already knows everyone, so it asks M without
//! syncing with B and C first); the controls send branch 2 to B only after branch 1, or
//! never, and must not diverge.
//!
//! `PARSEC_SEEDS=<n>` sets how many seeds each test runs per consensus mode (default 200);
//! `PARSEC_SEED=<n>` runs that one seed. A failure prints how many seeds failed and the
//! first few, each with the command that replays it.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, VecDeque};

use parsec_coin::ParityCoin;
use parsec_core::{Block, Parsec, Step};
use parsec_graph::{
    ConsensusMode, EventHash, Observation, PeerId, SecretKey, VerifiedEvents, WireMessage,
};
use parsec_sim::sim::harness::rerun_command;
use parsec_sim::sim::{BlockKey, peer_key, sim_config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod mallory;

use mallory::Mallory;

const FILE: &str = "fork_split";

type Engine = Parsec<String, ParityCoin>;
type Msg = WireMessage<String>;

/// Peer numbers: three honest engines, then M.
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const M: usize = 3;
const NAMES: [&str; 4] = ["A", "B", "C", "M"];
const HONEST: usize = 3;

/// Most random syncs after the fork (and before it, in `LaterElection`) before a run gives
/// up and fails.
const MAX_STEPS: usize = 2000;
/// The step of A's `Requesting` to M, in the timeline of a run: A's syncs with B and C
/// (steps 0 and 1; none in `LaterElection`), the fork, then random syncs.
const FORK_STEP: usize = 2;
/// With [`Variant::VotesAfterFork`], each honest peer votes R before one of this many
/// random syncs after the fork.
const LATE_VOTE_WINDOW: usize = 20;

/// How M forks, and when B gets branch 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// (a) Right after its genesis vote: branch 1 is a vote for Q and a `Request`, branch 2
    /// a `Request` alone.
    Base,
    /// (b) As `Base`, but branch 2 starts with a vote for Q2.
    VotesBothWays,
    /// (c) Before the genesis vote: branch 1 is the genesis vote and a `Request`, branch 2
    /// a `Request` on the `Initial` event.
    BeforeGenesisVote,
    /// (d) As `Base`, but everyone gossips honestly until A has decided Genesis; Q is then
    /// a fresh payload of the next election.
    LaterElection,
    /// As `Base`, but the honest peers vote R after the fork, during the random syncs.
    VotesAfterFork,
    /// Control: as `Base`, but branch 2 reaches B only once B holds branch 1.
    ControlLate,
    /// Control: as `Base`, but branch 2 is never sent.
    ControlNever,
}

/// When B gets branch 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    First,
    Late,
    Never,
}

impl Variant {
    fn delivery(self) -> Delivery {
        match self {
            Variant::ControlLate => Delivery::Late,
            Variant::ControlNever => Delivery::Never,
            _ => Delivery::First,
        }
    }

    /// Whether branch 1 votes Q.
    fn votes_q(self) -> bool {
        self != Variant::BeforeGenesisVote
    }

    /// The steps of the timeline before a random one of which each honest peer votes R:
    /// one of the three before the fork (so that the fork meets undecided votes), except in
    /// `VotesAfterFork`.
    fn vote_steps(self) -> std::ops::Range<usize> {
        if self == Variant::VotesAfterFork {
            FORK_STEP + 1..FORK_STEP + 1 + LATE_VOTE_WINDOW
        } else {
            0..FORK_STEP + 1
        }
    }
}

fn payload(name: &str) -> Observation<String> {
    Observation::OpaquePayload(name.to_string())
}

fn engine_error(who: &str, error: impl std::fmt::Display) -> String {
    format!("{who}'s engine failed: {error}")
}

/// The four members and the messages in flight, delivered synchronously.
struct Net {
    mode: ConsensusMode,
    ids: [PeerId; 4],
    honest: Vec<Engine>,
    blocks: Vec<Vec<Block<String>>>,
    m: Mallory,
    queue: VecDeque<(usize, usize, Msg)>,
}

impl Net {
    fn new(mode: ConsensusMode) -> Result<Self, String> {
        let keys: Vec<SecretKey> = (0..4).map(peer_key).collect();
        let ids: [PeerId; 4] = std::array::from_fn(|i| keys[i].peer_id());
        let config = sim_config(&ids, mode, 4096);
        let verified = VerifiedEvents::new();
        let mut honest = Vec::new();
        let mut blocks = Vec::new();
        for (i, key) in keys.iter().enumerate().take(HONEST) {
            let (mut engine, step) = Parsec::from_genesis(key.clone(), config.clone(), ParityCoin)
                .map_err(|e| engine_error(NAMES[i], e))?;
            engine.share_verified_events(verified.clone());
            honest.push(engine);
            blocks.push(step.blocks);
        }
        let m = Mallory::new(keys[M].clone(), config, verified)?;
        Ok(Net {
            mode,
            ids,
            honest,
            blocks,
            m,
            queue: VecDeque::new(),
        })
    }

    fn number(&self, id: &PeerId) -> usize {
        self.ids.iter().position(|i| i == id).unwrap()
    }

    fn absorb(
        &mut self,
        peer: usize,
        step: Result<Step<String>, parsec_core::Error>,
    ) -> Result<(), String> {
        let step = step.map_err(|e| engine_error(NAMES[peer], e))?;
        self.blocks[peer].extend(step.blocks);
        for out in step.send {
            let to = self.number(&out.to);
            self.queue.push_back((peer, to, out.message));
        }
        Ok(())
    }

    fn send_from_m(&mut self, sends: Vec<(PeerId, Msg)>) {
        for (to, message) in sends {
            let to = self.number(&to);
            self.queue.push_back((M, to, message));
        }
    }

    /// Delivers every message in flight, and their replies, in order.
    fn deliver(&mut self) -> Result<(), String> {
        while let Some((from, to, message)) = self.queue.pop_front() {
            let sender = self.ids[from];
            if to == M {
                let sends = self.m.receive(sender, message)?;
                self.send_from_m(sends);
            } else {
                let step = self.honest[to].handle_message(sender, message);
                self.absorb(to, step)?;
            }
        }
        Ok(())
    }

    /// One sync: a random member gossips to a random other member.
    fn random_sync(&mut self, rng: &mut ChaCha8Rng) -> Result<(), String> {
        let from = rng.random_range(0..4);
        let mut to = rng.random_range(0..3);
        if to >= from {
            to += 1;
        }
        if from == M {
            let sends = self.m.gossip(self.ids[to])?;
            self.send_from_m(sends);
        } else {
            let step = self.honest[from].create_gossip(self.ids[to]);
            self.absorb(from, step)?;
        }
        self.deliver()
    }

    fn holds(&self, peer: usize, hash: &EventHash) -> bool {
        self.honest[peer].graph().contains(hash)
    }

    /// A short name for a block: its payload, and its voter for a `Single` opaque block.
    fn label(&self, block: &Block<String>) -> String {
        let key = BlockKey::of(block, self.mode);
        let name = match &key.payload {
            Observation::Genesis { .. } => "Genesis".to_string(),
            Observation::OpaquePayload(p) => p.clone(),
            other => format!("{other:?}"),
        };
        match key.signer {
            Some(signer) => format!("{name}({})", NAMES[self.number(&signer)]),
            None => name,
        }
    }

    /// What agreement compares: label, election, position.
    fn entries(&self, peer: usize) -> Vec<(String, u64, u32)> {
        self.blocks[peer]
            .iter()
            .map(|b| (self.label(b), b.election, b.position))
            .collect()
    }

    /// A peer's blocks, groups separated by `|`: `Genesis, Q(M) | R(A)`.
    fn render(&self, peer: usize) -> String {
        let mut out = String::new();
        let mut election = None;
        for block in &self.blocks[peer] {
            if election.is_some() {
                out.push_str(if election == Some(block.election) {
                    ", "
                } else {
                    " | "
                });
            }
            election = Some(block.election);
            out.push_str(&self.label(block));
        }
        if out.is_empty() {
            out.push_str("(none)");
        }
        out
    }

    /// The labels every honest peer must decide.
    fn expected(&self, variant: Variant) -> Vec<String> {
        let mut labels = vec!["Genesis".to_string()];
        match self.mode {
            ConsensusMode::Single => {
                if variant.votes_q() {
                    labels.push("Q(M)".into());
                }
                labels.extend(NAMES[..HONEST].iter().map(|n| format!("R({n})")));
            }
            // Only M votes Q: a supermajority never does.
            ConsensusMode::Supermajority => labels.push("R".into()),
        }
        labels
    }

    fn lacking(&self, peer: usize, expected: &[String]) -> Vec<String> {
        let have: BTreeSet<String> = self.blocks[peer].iter().map(|b| self.label(b)).collect();
        expected
            .iter()
            .filter(|l| !have.contains(*l))
            .cloned()
            .collect()
    }

    fn done(&self, expected: &[String]) -> bool {
        let count = self.blocks[A].len();
        (0..HONEST).all(|p| self.blocks[p].len() == count && self.lacking(p, expected).is_empty())
    }

    /// Every honest sequence, for messages.
    fn all_sequences(&self) -> String {
        (0..HONEST)
            .map(|p| format!("{}: {}", NAMES[p], self.render(p)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// An error if two honest sequences differ within their common length.
    fn check_prefixes(&self) -> Result<(), String> {
        let reference = self.entries(A);
        for (peer, name) in NAMES.iter().enumerate().take(HONEST).skip(1) {
            let other = self.entries(peer);
            if let Some(k) =
                (0..reference.len().min(other.len())).find(|&k| reference[k] != other[k])
            {
                return Err(format!(
                    "honest peers diverge at block {k}: A has {:?}, {} has {:?} (label, \
                     election, position); {}",
                    reference[k],
                    name,
                    other[k],
                    self.all_sequences()
                ));
            }
        }
        Ok(())
    }
}

/// Runs one seed of `variant` in `mode`: Ok if every honest peer decided every expected
/// payload and all of them output the same blocks.
fn run_split(seed: u64, mode: ConsensusMode, variant: Variant) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = Net::new(mode)?;
    if variant == Variant::LaterElection {
        let genesis = |net: &Net| {
            net.blocks[A]
                .iter()
                .any(|b| matches!(b.payload, Observation::Genesis { .. }))
        };
        let mut steps = 0;
        while !genesis(&net) {
            if steps == MAX_STEPS {
                return Err(format!("A decided no Genesis in {MAX_STEPS} honest syncs"));
            }
            net.random_sync(&mut rng)?;
            steps += 1;
        }
    }

    // Each honest peer votes R before a random step of the timeline (see `FORK_STEP`).
    let vote_steps = variant.vote_steps();
    let vote_at: Vec<usize> = (0..HONEST)
        .map(|_| rng.random_range(vote_steps.clone()))
        .collect();
    let vote = |net: &mut Net, step: usize| -> Result<(), String> {
        for (peer, &at) in vote_at.iter().enumerate() {
            if at == step {
                let voted = net.honest[peer].vote_for(payload("R"));
                net.absorb(peer, voted)?;
            }
        }
        Ok(())
    };
    // A syncs with B and C first, so that its `Requesting`, and with it each branch,
    // carries a supermajority of votes: then branch 2 has interesting content. (In
    // `LaterElection` it already does: these two steps are votes only.)
    for (step, to) in [B, C].into_iter().enumerate() {
        vote(&mut net, step)?;
        if variant != Variant::LaterElection {
            let gossip = net.honest[A].create_gossip(net.ids[to]);
            net.absorb(A, gossip)?;
            net.deliver()?;
        }
    }
    vote(&mut net, FORK_STEP)?;
    // A asks M; M answers on two branches.
    net.m.armed = Some((variant, net.ids[B]));
    let step = net.honest[A].create_gossip(net.ids[M]);
    net.absorb(A, step)?;
    net.deliver()?;
    let Some(branch1) = net.m.branch1 else {
        return Err("setup: M did not fork".into());
    };
    let branch2: Vec<EventHash> = net.m.hidden.iter().copied().collect();
    let b_has_branch2 = branch2.iter().all(|h| net.holds(B, h));
    if !net.holds(A, &branch1) || net.holds(B, &branch1) || branch2.iter().any(|h| net.holds(A, h))
    {
        return Err("setup: branch 1 must be at A only".into());
    }
    if b_has_branch2 != (variant.delivery() == Delivery::First) {
        return Err(format!("setup: B holds branch 2: {b_has_branch2}"));
    }

    let expected = net.expected(variant);
    for step in FORK_STEP + 1..FORK_STEP + 1 + MAX_STEPS {
        vote(&mut net, step)?;
        if step >= vote_steps.end && net.done(&expected) {
            break;
        }
        net.random_sync(&mut rng)?;
        if net.m.late.is_some() && net.holds(B, &branch1) {
            let events = net.m.late.take().unwrap_or_default();
            net.queue.push_back((M, B, WireMessage::Events { events }));
            net.deliver()?;
        }
    }
    if net.m.late.is_some() {
        return Err("setup: branch 1 never reached B, so neither did branch 2".into());
    }
    // Nothing honest may build on branch 2 (it only ever arrives as bare events).
    for (peer, engine) in net.honest.iter().enumerate() {
        let graph = engine.graph();
        for hash in &branch2 {
            let Some(x) = graph.index_of(hash) else {
                continue;
            };
            for (id, name) in net.ids.iter().zip(NAMES).take(HONEST) {
                let tip = graph.peer_index(id).and_then(|i| graph.tip(i));
                if tip.is_some_and(|t| graph.is_descendant_of(t, x)) {
                    return Err(format!(
                        "setup: {name}'s chain builds on branch 2 in {}'s graph",
                        NAMES[peer]
                    ));
                }
            }
        }
    }
    net.check_prefixes()?;
    if !net.done(&expected) {
        let lacking: Vec<String> = (0..HONEST)
            .filter_map(|p| {
                let lacking = net.lacking(p, &expected);
                (!lacking.is_empty()).then(|| format!("{} lacks {}", NAMES[p], lacking.join(", ")))
            })
            .collect();
        return Err(format!(
            "not finished after {MAX_STEPS} syncs: {}; {}",
            if lacking.is_empty() {
                "block counts differ".to_string()
            } else {
                lacking.join("; ")
            },
            net.all_sequences()
        ));
    }
    Ok(())
}

/// Runs `variant` for every seed in both modes; panics with a summary if any seed failed.
fn check(test: &str, variant: Variant) {
    // `PARSEC_SEED` alone, else `0..PARSEC_SEEDS` (default 200).
    let seeds = parsec_sim::fixtures::seeds_from_env(0, 200);
    let mut summary = Vec::new();
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let failures: Vec<(u64, String)> = seeds
            .iter()
            .filter_map(|&seed| run_split(seed, mode, variant).err().map(|e| (seed, e)))
            .collect();
        println!(
            "{variant:?} {mode:?}: {} of {} seeds failed",
            failures.len(),
            seeds.len()
        );
        if failures.is_empty() {
            continue;
        }
        let mut lines = vec![format!(
            "{variant:?}, {mode:?}: {} of {} seeds failed",
            failures.len(),
            seeds.len()
        )];
        for (seed, error) in failures.iter().take(3) {
            lines.push(format!(
                "  PARSEC_SEED={seed}: {error}\n    replay: PARSEC_SEED={seed} {}",
                rerun_command(FILE, test)
            ));
        }
        summary.push(lines.join("\n"));
    }
    assert!(summary.is_empty(), "{}", summary.join("\n"));
}

/// (a) The fork right after M's genesis vote: Q and a `Request` to A, a `Request` alone to
/// B first.
#[test]
fn split_after_genesis_vote() {
    check("split_after_genesis_vote", Variant::Base);
}

/// (b) As (a), but branch 2 opens with a vote for Q2.
#[test]
fn split_votes_both_ways() {
    check("split_votes_both_ways", Variant::VotesBothWays);
}

/// (c) The fork at index 1: the genesis vote and a `Request` to A, a `Request` alone to B
/// first.
#[test]
fn split_before_genesis_vote() {
    check("split_before_genesis_vote", Variant::BeforeGenesisVote);
}

/// (d) As (a), in the election after Genesis was decided on A.
#[test]
fn split_in_later_election() {
    check("split_in_later_election", Variant::LaterElection);
}

/// As (a), with the R votes after the fork: the fork meets no undecided vote but Genesis.
#[test]
fn split_votes_after_fork() {
    check("split_votes_after_fork", Variant::VotesAfterFork);
}

/// Control: B gets branch 2 only after branch 1.
#[test]
fn control_branch_two_after_branch_one() {
    check("control_branch_two_after_branch_one", Variant::ControlLate);
}

/// Control: branch 2 is never sent.
#[test]
fn control_branch_two_never_sent() {
    check("control_branch_two_never_sent", Variant::ControlNever);
}
