//! The split scheduler: an adversary that owns message delivery and uses it to split the
//! honest peers' aux values, the classic attack on binary agreement with a predictable
//! coin (spec §7.2, §7.3).
//!
//! # How it works
//!
//! A [`SplitRun`] holds one honest engine per member and every message in flight. At each
//! *action* the scheduler either has a peer start a sync (the peer picks its recipient
//! from its own random stream, as a real peer would) or delivers one message in flight, in
//! any order it likes. It sees everything a real network adversary could: every message,
//! and the meta-vote lists at every peer's latest event (a function of the graph, so
//! anyone holding the messages can compute them). It also controls `faulty` voters: they
//! run the honest engine, but their messages, and the messages to them, may be held
//! forever, so their events arrive exactly when the attacker wants.
//!
//! The attacker ([`Scheduler::Split`]) plans by simulation: at each move it plays random
//! schedules on copies of the whole run, scores where each leads (`score`: a candidate
//! some peer decided is lost; a step entered by the peers with estimates that can no
//! longer split, or whose aux values can no longer split the next step, dooms the
//! candidate; each step kept split scores), and plays the start of the best ([`Search`]
//! sets how hard it looks). The copies are *blind*: they sign no coin share, so looking
//! ahead never shows a threshold coin before the real shares that make it computable
//! exist; the parity coin the attacker knows in advance, like everyone. It must still
//! deliver every message between honest peers: a message that waited `fairness` actions
//! is delivered next, and an honest peer that did not start a sync for `fairness` actions
//! starts one. [`Scheduler::Fair`] picks uniformly at random instead.
//!
//! What it achieves (`cargo run --release -p parsec-sim --bin split`) is in the crate's
//! README and the tests `tests/split.rs`: against the parity coin it forces genuine-flip
//! splits and coin rounds in most runs, but not the endless stall the textbook attack
//! promises (see [`SplitOutcome::longest_stall`]).
//!
//! Every engine's blocks are checked for agreement (each peer's blocks a prefix of the
//! longest) after the run, and each election reports the highest meta-election round any
//! peer reached in it and the coins its events needed.
//!
//! ```
//! use parsec_coin::CoinKind;
//! use parsec_sim::split::{Scheduler, SplitOptions};
//!
//! let mut options = SplitOptions::new(CoinKind::Concrete, Scheduler::Fair);
//! options.elections = 1;
//! let outcome = parsec_sim::split::run(&options, 5)?;
//! assert!(outcome.all_decided());
//! # Ok::<(), parsec_sim::split::SplitError>(())
//! ```

use std::collections::HashMap;

use parsec_coin::{Coin, CoinKind};
use parsec_core::testing::{BoolSet, MetaValue, RoundStep};
use parsec_core::{Block, Config, Fault, Parsec, Step};
use parsec_graph::{ConsensusMode, PeerId, WireMessage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fixtures::{opaque, peer_key};
use crate::network::Engine;
use crate::sim::sim_config;

mod score;

/// The longest schedule the attacker tries for an observer phase, in actions.
const OBSERVER_DEPTH: usize = 600;

use score::View;

/// Who orders the deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduler {
    /// Uniformly random among the possible actions.
    Fair,
    /// The attacker: the action whose outcome keeps the aux values most split.
    Split,
}

/// The knobs of a split-scheduler run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitOptions {
    /// Genesis members, all honest engines.
    pub peers: usize,
    /// The coin every member uses.
    pub coin: CoinKind,
    /// Who orders the deliveries.
    pub scheduler: Scheduler,
    /// Payloads every member votes (`Supermajority` mode): at least this many elections.
    pub elections: usize,
    /// The longest a message waits, and a peer goes without starting a sync, in actions.
    /// Messages from and to faulty voters may wait forever.
    pub fairness: u64,
    /// Faulty voters (the last peers): they run the honest engine, but the scheduler may
    /// hold their messages, and the messages to them, forever, so their events reach the
    /// honest peers exactly when the attacker wants. At most `(peers - 1) / 3`.
    pub faulty: usize,
    /// The run stops after this many actions, decided or not.
    pub max_actions: u64,
    /// How hard the attacker searches ([`Scheduler::Split`] only).
    pub search: Search,
}

/// How hard the attacker looks ahead at each move (see [`SplitRun::act`]): it costs about
/// `rollouts * depth / commit` engine steps per action played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Search {
    /// Random schedules tried per move.
    pub rollouts: u64,
    /// Actions per schedule (after the observers formed).
    pub depth: usize,
    /// Actions of the best schedule played before the next search.
    pub commit: usize,
    /// Schedules tried in all when every one so far ends doomed.
    pub escalate: u64,
}

impl Search {
    /// 8 schedules of 40 actions, 8 played, up to 64 tried when all are doomed.
    pub const DEFAULT: Search = Search {
        rollouts: 8,
        depth: 40,
        commit: 8,
        escalate: 64,
    };
    /// About four times cheaper: 8 schedules of 30 actions, 10 played, up to 32 tried.
    pub const CHEAP: Search = Search {
        rollouts: 8,
        depth: 30,
        commit: 10,
        escalate: 32,
    };
}

impl SplitOptions {
    /// Four members, two elections, fairness 24 actions, at most 20,000 actions, the
    /// default search.
    pub fn new(coin: CoinKind, scheduler: Scheduler) -> Self {
        SplitOptions {
            peers: 4,
            coin,
            scheduler,
            elections: 2,
            fairness: 24,
            faulty: 1,
            max_actions: 20_000,
            search: Search::DEFAULT,
        }
    }
}

/// Why a run could not be played (never an outcome of the attack itself).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// An engine call failed (local misuse or an engine bug).
    #[error("peer {peer}: {source}")]
    Engine {
        /// The peer's number.
        peer: usize,
        /// The engine's error.
        source: parsec_core::Error,
    },
    /// The threshold coin's keys could not be dealt.
    #[error("dealing the coin keys: {0}")]
    Deal(#[from] parsec_coin::KeyError),
    /// More faulty voters than the bound allows.
    #[error("{faulty} faulty voters among {peers} peers: at most (peers - 1) / 3")]
    TooManyFaulty {
        /// Faulty voters asked for.
        faulty: usize,
        /// Peers.
        peers: usize,
    },
    /// A run needs at least two members.
    #[error("a split run needs at least 2 peers, got {0}")]
    TooFewPeers(usize),
}

/// One election as the run saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionReport {
    /// The election's index.
    pub election: u64,
    /// The highest meta-election round any peer's latest event reached in it.
    pub rounds: u32,
    /// The most coins (distinct candidate and round) one peer's events needed in it.
    pub coins_needed: u64,
    /// Whether every peer decided it.
    pub decided: bool,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct SplitOutcome {
    /// The run's seed.
    pub seed: u64,
    /// Every election some peer took part in, in order.
    pub elections: Vec<ElectionReport>,
    /// The actions played.
    pub actions: u64,
    /// The payloads every peer voted.
    pub payloads: usize,
    /// The honest peers (numbers `0..honest`).
    pub honest: usize,
    /// Each peer's blocks.
    pub blocks: Vec<Vec<Block<String>>>,
    /// Every fault an engine reported (none in an honest run).
    pub faults: Vec<(usize, Fault)>,
}

impl SplitOutcome {
    /// Whether every peer decided the elections the run asked for.
    pub fn all_decided(&self) -> bool {
        self.blocks[..self.honest]
            .iter()
            .all(|b| b.len() >= self.payloads)
    }

    /// The longest any election went undecided, in rounds.
    pub fn longest_stall(&self) -> u32 {
        self.elections.iter().map(|e| e.rounds).max().unwrap_or(0)
    }

    /// Whether every peer's blocks are a prefix of the longest peer's, in order.
    pub fn agreement(&self) -> Result<(), String> {
        let longest = self
            .blocks
            .iter()
            .max_by_key(|b| b.len())
            .cloned()
            .unwrap_or_default();
        for (peer, blocks) in self.blocks.iter().enumerate() {
            for (a, b) in blocks.iter().zip(&longest) {
                if a.payload != b.payload || a.election != b.election {
                    return Err(format!(
                        "seed {}: peer {peer}'s block {} is {:?} in election {}, another \
                         peer's is {:?} in election {}",
                        self.seed, a.sequence, a.payload, a.election, b.payload, b.election
                    ));
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone)]
struct InFlight {
    from: usize,
    to: usize,
    message: WireMessage<String>,
    sent: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Gossip(usize),
    Deliver(usize),
}

/// Per peer: the election it is in and the coins it had needed when it entered it.
#[derive(Clone, Copy)]
struct Progress {
    election: u64,
    coins_at_entry: u64,
}

/// A run in progress (see the module docs).
#[derive(Clone)]
pub struct SplitRun {
    options: SplitOptions,
    seed: u64,
    ids: Vec<PeerId>,
    engines: Vec<Engine>,
    views: Vec<View>,
    /// What the attacker remembers: the estimates each peer entered each step with.
    first_est: HashMap<(usize, usize, u32, RoundStep), BoolSet>,
    progress: Vec<Progress>,
    in_flight: Vec<InFlight>,
    /// Per peer: its own stream, for its choice of recipients.
    peer_rngs: Vec<ChaCha8Rng>,
    scheduler_rng: ChaCha8Rng,
    last_gossip: Vec<u64>,
    now: u64,
    elections: Vec<ElectionReport>,
    blocks: Vec<Vec<Block<String>>>,
    faults: Vec<(usize, Fault)>,
}

/// Plays one run from `seed`.
pub fn run(options: &SplitOptions, seed: u64) -> Result<SplitOutcome, SplitError> {
    let mut run = SplitRun::new(options.clone(), seed)?;
    while run.now < options.max_actions && !run.done() {
        run.act()?;
    }
    Ok(run.finish())
}

impl SplitRun {
    /// Starts every engine and casts every vote.
    pub fn new(options: SplitOptions, seed: u64) -> Result<Self, SplitError> {
        let n = options.peers;
        if n < 2 {
            return Err(SplitError::TooFewPeers(n));
        }
        if options.faulty > (n - 1) / 3 {
            return Err(SplitError::TooManyFaulty {
                faulty: options.faulty,
                peers: n,
            });
        }
        let keys: Vec<_> = (0..n).map(peer_key).collect();
        let ids: Vec<PeerId> = keys.iter().map(|k| k.peer_id()).collect();
        let mut config: Config = sim_config(&ids, ConsensusMode::Supermajority, 1024);
        config.coin = options.coin;
        let mut secrets = Vec::new();
        if options.coin == CoinKind::Threshold {
            let mut key_seed = [0u8; 32];
            key_seed[..8].copy_from_slice(&seed.to_le_bytes());
            key_seed[8..13].copy_from_slice(b"split");
            let dealt = parsec_coin::deal(&ids, 0, key_seed)?;
            config.coin_keys = Some(dealt.epoch);
            secrets = dealt.shares;
        }
        let mut run = SplitRun {
            seed,
            ids: ids.clone(),
            engines: Vec::with_capacity(n),
            views: vec![None; n],
            first_est: HashMap::new(),
            progress: vec![
                Progress {
                    election: 0,
                    coins_at_entry: 0
                };
                n
            ],
            in_flight: Vec::new(),
            peer_rngs: (0..n)
                .map(|i| ChaCha8Rng::seed_from_u64(seed ^ (0x5eed_0000 + i as u64)))
                .collect(),
            scheduler_rng: ChaCha8Rng::seed_from_u64(seed),
            last_gossip: vec![0; n],
            now: 0,
            elections: Vec::new(),
            blocks: vec![Vec::new(); n],
            faults: Vec::new(),
            options,
        };
        let verified = parsec_graph::VerifiedEvents::new();
        let shares = parsec_coin::VerifiedShares::new();
        for (i, key) in keys.into_iter().enumerate() {
            let mut config = config.clone();
            config.coin_secret = secrets.iter().find(|s| s.holder == ids[i]).cloned();
            let (mut engine, step) = Parsec::new(key, config)
                .map_err(|source| SplitError::Engine { peer: i, source })?;
            // The attacker's copies meet the same events again and again: one check each.
            engine.share_verified_events(verified.clone());
            if let Coin::Threshold(coin) = engine.coin_mut() {
                coin.share_verified_shares(shares.clone());
            }
            run.engines.push(engine);
            run.apply(i, step);
        }
        for i in 0..n {
            let mut order: Vec<usize> = (0..run.options.elections).collect();
            order.shuffle(&mut run.peer_rngs[i]);
            for p in order {
                let step = run.engines[i]
                    .vote_for(opaque(&format!("p{p}")))
                    .map_err(|source| SplitError::Engine { peer: i, source })?;
                run.apply(i, step);
            }
        }
        Ok(run)
    }

    fn honest(&self) -> usize {
        self.options.peers - self.options.faulty
    }

    fn done(&self) -> bool {
        self.blocks[..self.honest()]
            .iter()
            .all(|b| b.len() >= self.options.elections)
    }

    /// Plays one move: one action under [`Scheduler::Fair`], the start of the best
    /// schedule the attacker found under [`Scheduler::Split`].
    pub fn act(&mut self) -> Result<(), SplitError> {
        match self.options.scheduler {
            Scheduler::Split => self.plan(),
            Scheduler::Fair => {
                let action = self.choose()?;
                self.play_action(action)
            }
        }
    }

    fn play_action(&mut self, action: Action) -> Result<(), SplitError> {
        self.now += 1;
        let peer = match action {
            Action::Gossip(i) => i,
            Action::Deliver(k) => self.in_flight[k].to,
        };
        let step = Self::play(
            &mut self.engines[peer],
            &self.ids,
            &mut self.peer_rngs,
            &mut self.in_flight,
            action,
        )
        .map_err(|source| SplitError::Engine { peer, source })?;
        if let Action::Gossip(i) = action {
            self.last_gossip[i] = self.now;
        }
        self.apply(peer, step);
        Ok(())
    }

    /// Applies `action` to `engine` (the real one or a copy).
    fn play(
        engine: &mut Engine,
        ids: &[PeerId],
        peer_rngs: &mut [ChaCha8Rng],
        in_flight: &mut Vec<InFlight>,
        action: Action,
    ) -> Result<Step<String>, parsec_core::Error> {
        match action {
            Action::Gossip(i) => {
                let others: Vec<PeerId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
                let to = others[peer_rngs[i].random_range(0..others.len())];
                engine.create_gossip(to)
            }
            Action::Deliver(k) => {
                let packet = in_flight.remove(k);
                engine.handle_message(ids[packet.from], packet.message)
            }
        }
    }

    /// Makes this run an attacker's model of itself: the honest engines forget their coin
    /// secrets (see [`blind`]).
    fn blind(&mut self) {
        let honest = self.honest();
        for engine in &mut self.engines[..honest] {
            blind(engine);
        }
    }

    /// Whether some honest peer has no lists yet in the election it is in: the observers
    /// are still forming, and with them the round-0 estimates.
    fn planning(&self) -> bool {
        self.views[..self.honest()].iter().any(Option::is_none)
    }

    /// The attacker's move: it rolls the run forward on copies under random schedules,
    /// scores where each schedule leads ([`score`]: a decided candidate is lost, a step
    /// that can no longer split is doomed, every step kept split scores), and plays the
    /// start of the best one. While the observers form (round 0's estimates are being
    /// fixed) a schedule runs until every honest peer is an observer and is played whole;
    /// afterwards it runs `depth` actions and its first `commit` are played. If every
    /// schedule tried ends doomed it tries more, up to `escalate` in all.
    ///
    /// The copies are blind ([`SplitRun::blind`]): the honest engines are deterministic
    /// given what they receive, so a copy predicts them exactly, except that it signs no
    /// coin share and so knows a threshold coin only from shares that exist.
    fn plan(&mut self) -> Result<(), SplitError> {
        let search = self.options.search;
        let observers = self.planning();
        let (depth, commit) = if observers {
            (OBSERVER_DEPTH, usize::MAX)
        } else {
            (search.depth, search.commit)
        };
        let honest = self.honest();
        let election = self.progress[0].election;
        let mut best: Option<(i64, Vec<Action>)> = None;
        for attempt in 0..search.escalate.max(search.rollouts) {
            let good_enough = best.as_ref().is_some_and(|(s, _)| *s > score::DOOMED / 2);
            if attempt >= search.rollouts && good_enough {
                break;
            }
            let mut copy = self.clone();
            copy.blind();
            copy.options.scheduler = Scheduler::Fair;
            copy.scheduler_rng = ChaCha8Rng::seed_from_u64(self.scheduler_rng.random::<u64>());
            let mut actions = Vec::new();
            while copy.planning() == observers
                && actions.len() < depth
                && copy.now < copy.options.max_actions
                && copy.progress[..honest]
                    .iter()
                    .all(|p| p.election == election)
            {
                let action = copy.choose()?;
                copy.play_action(action)?;
                actions.push(action);
            }
            let score = if copy.progress[..honest]
                .iter()
                .any(|p| p.election != election)
            {
                // Somebody decided: the worst outcome.
                i64::MIN / 2
            } else if observers && copy.planning() {
                i64::MIN / 4
            } else {
                let views: Vec<&View> = copy.views.iter().collect();
                score::score(&views, &copy.memory())
            };
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, actions));
            }
        }
        let actions = best.map(|(_, a)| a).unwrap_or_default();
        if actions.is_empty() {
            let action = self.choose()?;
            return self.play_action(action);
        }
        for action in actions.into_iter().take(commit) {
            self.play_action(action)?;
        }
        Ok(())
    }

    /// The actions possible now, the forced one first if fairness forces one.
    fn choose(&mut self) -> Result<Action, SplitError> {
        let fairness = self.options.fairness;
        let honest = self.honest();
        if let Some(k) = self
            .in_flight
            .iter()
            .position(|m| m.from < honest && m.to < honest && self.now - m.sent >= fairness)
        {
            return Ok(Action::Deliver(k));
        }
        let can_gossip: Vec<usize> = (0..self.engines.len())
            // A message held at a faulty voter does not stop its sender gossiping on.
            .filter(|&i| !self.in_flight.iter().any(|m| m.from == i && m.to < honest))
            .collect();
        if let Some(&i) = can_gossip
            .iter()
            .find(|&&i| i < honest && self.now - self.last_gossip[i] >= fairness)
        {
            return Ok(Action::Gossip(i));
        }
        let mut actions: Vec<Action> = (0..self.in_flight.len()).map(Action::Deliver).collect();
        actions.extend(can_gossip.into_iter().map(Action::Gossip));
        // A peer with nothing in flight can always gossip, so `actions` is never empty.
        Ok(actions[self.scheduler_rng.random_range(0..actions.len())])
    }

    /// Records what `peer`'s engine did and puts its messages in flight.
    fn apply(&mut self, peer: usize, step: Step<String>) {
        for out in step.send {
            if let Some(to) = self.ids.iter().position(|id| *id == out.to) {
                self.in_flight.push(InFlight {
                    from: peer,
                    to,
                    message: out.message,
                    sent: self.now,
                });
            }
        }
        self.faults
            .extend(step.faults.into_iter().map(|fault| (peer, fault)));
        self.blocks[peer].extend(step.blocks);
        self.observe(peer);
    }

    fn memory(&self) -> score::Memory<'_> {
        score::Memory {
            first_est: &self.first_est,
            coin_guess: match self.options.coin {
                // Known to all: true after even rounds (spec §7.2).
                CoinKind::Parity => |round| round % 2 == 0,
                // Unknown before it is computable: a guess is all the attacker has.
                _ => |_| true,
            },
        }
    }

    /// Updates `peer`'s view and the reports of the elections it is in or has left.
    fn observe(&mut self, peer: usize) {
        let engine = &self.engines[peer];
        let status = engine.status();
        let coins = status.coin_stats.coins_needed;
        let progress = self.progress[peer];
        if status.election != progress.election {
            let report = self.report(progress.election);
            report.coins_needed = report.coins_needed.max(coins - progress.coins_at_entry);
            self.progress[peer] = Progress {
                election: status.election,
                coins_at_entry: coins,
            };
        }
        self.views[peer] = tip_view(&self.engines[peer]);
        if let Some(lists) = &self.views[peer] {
            for (slot, (_, list)) in lists.iter().enumerate() {
                for vote in list {
                    if let MetaValue::Undecided { est, .. } = vote.value {
                        let first = self
                            .first_est
                            .entry((peer, slot, vote.round, vote.step))
                            .or_insert(est);
                        if first.is_empty() {
                            // Waiting for the coin: the step is entered with the coin.
                            *first = est;
                        }
                    }
                }
            }
        }
        let rounds = score::max_round(&self.views[peer]);
        let progress = self.progress[peer];
        let report = self.report(status.election);
        report.rounds = report.rounds.max(rounds);
        report.coins_needed = report.coins_needed.max(coins - progress.coins_at_entry);
    }

    fn report(&mut self, election: u64) -> &mut ElectionReport {
        let at = match self.elections.iter().position(|e| e.election == election) {
            Some(at) => at,
            None => {
                self.elections.push(ElectionReport {
                    election,
                    rounds: 0,
                    coins_needed: 0,
                    decided: false,
                });
                self.elections.len() - 1
            }
        };
        &mut self.elections[at]
    }

    /// The outcome so far.
    pub fn finish(mut self) -> SplitOutcome {
        let honest = self.honest();
        let lowest = self.progress[..honest]
            .iter()
            .map(|p| p.election)
            .min()
            .unwrap_or(0);
        for report in &mut self.elections {
            report.decided = report.election < lowest;
        }
        self.elections.sort_by_key(|e| e.election);
        SplitOutcome {
            seed: self.seed,
            elections: self.elections,
            actions: self.now,
            payloads: self.options.elections,
            honest,
            blocks: self.blocks,
            faults: self.faults,
        }
    }
}

/// Turns a copy of an honest engine into what the attacker can predict of it: it signs
/// no coin shares, so the copy knows a threshold coin only from shares that exist.
fn blind(engine: &mut Engine) {
    if let Coin::Threshold(coin) = engine.coin_mut() {
        coin.forget_secret();
    }
}

/// The lists at `engine`'s latest own event.
fn tip_view(engine: &Engine) -> View {
    let graph = engine.graph();
    let tip = graph.tip(graph.peer_index(engine.our_id())?)?;
    engine.meta_votes(graph.node(tip).hash())
}
