//! The deterministic network simulator: honest engines, adversaries, a faulty network, and
//! the invariants of spec §15 checked on every run.
//!
//! # How it works
//!
//! A [`Schedule`] (usually drawn from [`ScheduleOptions`] and a seed) says what happens at
//! each step of the *active phase*. [`run`] starts one engine per honest peer (keys from
//! [`peer_key`], all genesis members, [`ParityCoin`]), one [`adversary`] per adversarial
//! peer, and plays the schedule on a single thread: votes go to the engines, a gossip action
//! calls `create_gossip` and hands the messages, encoded as bytes, to the simulated
//! transport, which delivers them (after their delay, maybe lost, duplicated or overtaken,
//! never across a partition) to `handle_bytes`; replies travel back the same way. With no
//! delay a sync completes before the next action, as in the original's tests.
//!
//! Every block an honest engine outputs is checked at once for agreement, order and
//! validity; every fault for quietness; after each step every graph is checked for honest
//! forks. Then the *liveness phase* starts: network faults stop, partitions heal,
//! adversaries stop attacking, and every running peer gossips to a random peer each step
//! until every honest running peer has decided every payload it must (termination), or the
//! step bound is hit. Finally the logs are checked: a run without adversaries must log no
//! warning.
//!
//! Everything random (schedule, delays, losses, liveness gossip) comes from `ChaCha8Rng`
//! streams of the one seed, engines are deterministic, and no hash map is iterated, so a
//! seed replays a run exactly. A [`Failure`] prints `PARSEC_SEED=<n>` and the command that
//! replays it.
//!
//! ```
//! use parsec_graph::ConsensusMode;
//! use parsec_sim::sim::{self, ScheduleOptions};
//!
//! let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
//! options.payloads = 2;
//! let outcome = sim::run_options(&options, 7, "cargo test --doc -p parsec-sim")?;
//! let stats = outcome.into_result().expect("every invariant holds");
//! assert_eq!(stats.stable_blocks, 2);
//! # Ok::<(), parsec_sim::sim::ScheduleError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Instant;

use parsec_coin::ParityCoin;
use parsec_core::{Block, Config, Fault, Parsec, Step};
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey, WireLimits, wire};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod adversary;
pub mod harness;
pub mod invariants;
pub mod scenario;
pub mod schedule;
pub mod stats;
mod transport;

pub use adversary::{Act, AdversaryKind, Oversize};
pub use invariants::{BlockKey, Invariant, Violation};
pub use scenario::{FaultMix, NetworkMix, Recipe, VoteMix};
pub use schedule::{
    Action, Crashes, Delay, NetworkConditions, PartitionSpec, Partitions, Schedule, ScheduleError,
    ScheduleOptions, VoteTiming,
};
pub use stats::{PeerStats, Stats, thread_cpu_time};
pub use transport::TransportCounts;

use adversary::{Puppet, Sends};
use invariants::agreement::Agreement;
use invariants::honest_fork;
use invariants::order::Order;
use invariants::quiet::{self, LogCapture};
use invariants::same_meta::SameMetaEvent;
use invariants::termination::Termination;
use invariants::validity::Validity;

pub use crate::network::{Engine, peer_key};

/// The largest message a simulated peer decodes: well above any honest message of a
/// simulation, small enough that an oversized message is cheap to make.
pub const SIM_MAX_MESSAGE_BYTES: usize = 2 << 20;

/// The bytes of held events a simulated peer keeps per sender (four times that in total).
pub const SIM_MAX_FUTURE_BYTES_PER_PEER: usize = 2 << 20;

const STREAM_TRANSPORT: u64 = 2;
const STREAM_LIVENESS: u64 = 3;

/// The configuration of every simulated peer: the genesis `group` in `mode`, messages of
/// at most [`SIM_MAX_MESSAGE_BYTES`] and `max_events_per_message` events, held events of
/// at most [`SIM_MAX_FUTURE_BYTES_PER_PEER`] bytes per sender.
pub fn sim_config(group: &[PeerId], mode: ConsensusMode, max_events_per_message: usize) -> Config {
    let mut config = Config::new(group.iter().copied().collect(), mode);
    config.wire_limits = WireLimits {
        max_message_bytes: SIM_MAX_MESSAGE_BYTES,
        max_events_per_message,
    };
    // Small enough that a flooding adversary reaches them within a run.
    config.max_future_bytes_per_peer = SIM_MAX_FUTURE_BYTES_PER_PEER;
    config.max_future_bytes_total = 4 * SIM_MAX_FUTURE_BYTES_PER_PEER;
    config
}

/// A failed run: the violation, where, and how to replay it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The run's seed.
    pub seed: u64,
    /// The step at which the violation was seen.
    pub step: u64,
    /// What broke.
    pub violation: Violation,
    /// The command that replays the run when `PARSEC_SEED` is set.
    pub rerun: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (step {})\nreplay: PARSEC_SEED={} {}",
            self.violation, self.step, self.seed, self.rerun
        )
    }
}

impl std::error::Error for Failure {}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The run's statistics.
    pub stats: Stats,
    /// The blocks each honest peer output, by peer number (empty for adversaries).
    pub blocks: Vec<Vec<Block<String>>>,
    /// The faults each honest peer reported, by peer number.
    pub faults: Vec<Vec<Fault>>,
    /// The votes each peer cast, by peer number, genesis included: for honest peers the
    /// ones the engine accepted, for adversaries every vote event they made.
    pub votes: Vec<Vec<Observation<String>>>,
    /// The identity of each peer, by peer number.
    pub ids: Vec<PeerId>,
    /// The first violation, if any.
    pub failure: Option<Failure>,
}

impl Outcome {
    /// The statistics if every invariant held, else the failure.
    pub fn into_result(self) -> Result<Stats, Box<Failure>> {
        match self.failure {
            None => Ok(self.stats),
            Some(failure) => Err(Box::new(failure)),
        }
    }
}

/// Generates the schedule of `options` and `seed` and runs it.
pub fn run_options(
    options: &ScheduleOptions,
    seed: u64,
    rerun: &str,
) -> Result<Outcome, ScheduleError> {
    Ok(run(&Schedule::generate(options, seed)?, rerun))
}

/// Runs `schedule` and checks every invariant (see the module docs). `rerun` is the command
/// that replays it with `PARSEC_SEED` set, printed on failure.
pub fn run(schedule: &Schedule, rerun: &str) -> Outcome {
    let started = Instant::now();
    let cpu_started = stats::thread_cpu_time();
    let capture = LogCapture::new();
    let (mut sim, result) = capture.scope(|| {
        let mut sim = Simulation::new(schedule.clone());
        let result = sim.run();
        (sim, result)
    });
    let captured = capture.captured();
    sim.stats.warnings = captured.warnings;
    sim.stats.errors = captured.errors;
    let result = result.and_then(|()| quiet::check_logs(schedule.has_adversaries(), &captured));
    sim.finish_stats();
    sim.stats.wall_time = started.elapsed();
    sim.stats.cpu_time = match (cpu_started, stats::thread_cpu_time()) {
        (Some(start), Some(end)) => Some(end.saturating_sub(start)),
        _ => None,
    };
    let failure = result.err().map(|violation| Failure {
        seed: schedule.seed,
        step: sim.now,
        violation,
        rerun: rerun.to_string(),
    });
    Outcome {
        stats: sim.stats,
        blocks: sim.peers.iter().map(|p| p.blocks.clone()).collect(),
        faults: sim.peers.iter().map(|p| p.faults.clone()).collect(),
        votes: sim.peers.iter().map(|p| p.votes.clone()).collect(),
        ids: sim.ids,
        failure,
    }
}

#[derive(Debug)]
enum Role {
    Honest(Box<Engine>),
    Puppet(Box<Puppet>),
    Silent,
    /// Not started yet.
    Absent,
}

#[derive(Debug)]
struct Peer {
    role: Role,
    crashed: bool,
    adversary: Option<AdversaryKind>,
    blocks: Vec<Block<String>>,
    faults: Vec<Fault>,
    /// Votes the engine accepted (or the adversary made), genesis included.
    votes: Vec<Observation<String>>,
}

impl Peer {
    fn running(&self) -> bool {
        !self.crashed && !matches!(self.role, Role::Silent | Role::Absent)
    }

    fn honest(&self) -> bool {
        self.adversary.is_none()
    }
}

struct Simulation {
    schedule: Schedule,
    peers: Vec<Peer>,
    ids: Vec<PeerId>,
    index_of: BTreeMap<PeerId, usize>,
    honest_ids: BTreeMap<PeerId, usize>,
    adversary_ids: BTreeSet<PeerId>,
    config: Config,
    /// Signature checks shared by the honest engines (one process, one check per event).
    verified: parsec_graph::VerifiedEvents,
    transport: transport::Transport,
    liveness_rng: ChaCha8Rng,
    agreement: Agreement,
    order: Order,
    validity: Validity,
    termination: Termination,
    same_meta: SameMetaEvent,
    stats: Stats,
    now: u64,
    liveness: bool,
}

impl Simulation {
    fn new(schedule: Schedule) -> Self {
        let n = schedule.peers;
        let keys: Vec<SecretKey> = (0..n).map(peer_key).collect();
        let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
        let index_of = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let adversary_ids = schedule.adversaries.keys().map(|&p| ids[p]).collect();
        let honest_ids = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| !schedule.adversaries.contains_key(i))
            .map(|(i, id)| (*id, i))
            .collect();
        let mut transport_rng = ChaCha8Rng::seed_from_u64(schedule.seed);
        transport_rng.set_stream(STREAM_TRANSPORT);
        let mut liveness_rng = ChaCha8Rng::seed_from_u64(schedule.seed);
        liveness_rng.set_stream(STREAM_LIVENESS);
        let mode = schedule.mode;
        let peers = (0..n)
            .map(|i| Peer {
                role: Role::Absent,
                crashed: false,
                adversary: schedule.adversaries.get(&i).copied(),
                blocks: Vec::new(),
                faults: Vec::new(),
                votes: Vec::new(),
            })
            .collect();
        Simulation {
            config: sim_config(&ids, mode, schedule.max_events_per_message),
            verified: parsec_graph::VerifiedEvents::new(),
            transport: transport::Transport::new(schedule.network, transport_rng),
            liveness_rng,
            agreement: Agreement::new(mode),
            order: Order::new(
                mode,
                n,
                mode == ConsensusMode::Supermajority || schedule.adversaries.is_empty(),
            ),
            validity: Validity::new(mode, &ids),
            termination: Termination::new(mode, n),
            same_meta: SameMetaEvent::new(),
            stats: Stats {
                seed: schedule.seed,
                peers: vec![PeerStats::default(); n],
                ..Stats::default()
            },
            schedule,
            peers,
            ids,
            index_of,
            honest_ids,
            adversary_ids,
            now: 0,
            liveness: false,
        }
    }

    fn engine_error(&self, peer: usize, what: &str, error: impl fmt::Display) -> Violation {
        Violation::new(Invariant::Engine, Some(peer), format!("{what}: {error}"))
    }

    /// Starts every peer.
    fn start(&mut self) -> Result<(), Violation> {
        for i in 0..self.peers.len() {
            let key = peer_key(i);
            match self.peers[i].adversary {
                Some(kind) if kind.is_silent() => self.peers[i].role = Role::Silent,
                Some(_) => match Puppet::new(key, self.config.clone()) {
                    Ok((puppet, votes)) => {
                        for vote in &votes {
                            self.validity.record_vote(self.ids[i], vote);
                        }
                        self.stats.peers[i].events_created = puppet.created;
                        self.peers[i].votes = votes;
                        self.peers[i].role = Role::Puppet(Box::new(puppet));
                    }
                    Err(error) => {
                        self.adversary_failed(i, &error);
                    }
                },
                None => {
                    let started = Instant::now();
                    let result = Parsec::from_genesis(key, self.config.clone(), ParityCoin);
                    self.stats.engine_time += started.elapsed();
                    let (mut engine, step) =
                        result.map_err(|e| self.engine_error(i, "from_genesis", e))?;
                    engine.share_verified_events(self.verified.clone());
                    engine.record_meta_digests(true);
                    for packed in &step.persist {
                        if let Some(vote) = packed.content.cause.vote() {
                            self.validity.record_vote(self.ids[i], &vote.observation);
                            self.peers[i].votes.push(vote.observation.clone());
                        }
                    }
                    self.peers[i].role = Role::Honest(Box::new(engine));
                    self.absorb(i, step)?;
                }
            }
        }
        Ok(())
    }

    fn adversary_failed(&mut self, peer: usize, error: &dyn fmt::Display) {
        self.stats
            .adversary_failures
            .push(format!("adversary {peer} at step {}: {error}", self.now));
        self.peers[peer].crashed = true;
    }

    fn run(&mut self) -> Result<(), Violation> {
        self.start()?;
        let active = self.schedule.steps.len() as u64;
        for step in 0..active {
            self.now = step;
            let actions = std::mem::take(&mut self.schedule.steps[step as usize]);
            for action in &actions {
                self.apply(action)?;
            }
            self.schedule.steps[step as usize] = actions;
            self.end_step()?;
        }
        self.stats.active_steps = active;

        // Liveness: faults stop, and the run must finish.
        self.liveness = true;
        self.transport
            .set_conditions(self.schedule.network.without_faults());
        self.transport.heal();
        let honest_running: Vec<usize> = (0..self.peers.len())
            .filter(|&p| self.peers[p].honest() && self.peers[p].running())
            .collect();
        self.termination.expect(
            honest_running
                .iter()
                .map(|&p| (p, self.ids[p], self.peers[p].votes.as_slice())),
        );
        let mut used = 0;
        while !self.termination.is_done(&honest_running) {
            if used >= self.schedule.liveness_steps {
                return Err(self.termination.violation(&honest_running, used));
            }
            self.now = active + used;
            self.liveness_round()?;
            self.end_step()?;
            used += 1;
        }
        self.stats.liveness_steps = used;
        Ok(())
    }

    /// One step of fair random gossip among the running peers.
    fn liveness_round(&mut self) -> Result<(), Violation> {
        let n = self.peers.len();
        let mut order: Vec<usize> = (0..n).filter(|&p| self.peers[p].running()).collect();
        order.shuffle(&mut self.liveness_rng);
        for from in order {
            if n < 2
                || !self
                    .liveness_rng
                    .random_bool(self.schedule.gossip_probability)
            {
                continue;
            }
            let mut to = self.liveness_rng.random_range(0..n - 1);
            if to >= from {
                to += 1;
            }
            self.gossip(from, to)?;
        }
        Ok(())
    }

    fn end_step(&mut self) -> Result<(), Violation> {
        self.deliver_due()?;
        self.stats.steps += 1;
        for (i, peer) in self.peers.iter_mut().enumerate() {
            if let Role::Honest(engine) = &mut peer.role {
                self.same_meta.observe(i, engine.take_meta_digests())?;
                let held = &mut self.stats.peers[i].max_held_bytes;
                *held = (*held).max(engine.held_bytes());
            }
        }
        self.stats.meta_events_compared = self.same_meta.compared;
        let graphs = self
            .peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.role {
                Role::Honest(engine) => Some((i, engine.graph())),
                Role::Puppet(puppet) => Some((i, puppet.engine().graph())),
                Role::Silent | Role::Absent => None,
            });
        honest_fork::check(graphs, &self.honest_ids)
    }

    fn apply(&mut self, action: &Action) -> Result<(), Violation> {
        match action {
            Action::Vote { peer, observation } => self.vote(*peer, observation),
            Action::Gossip { from, to } => self.gossip(*from, *to),
            Action::Partition { groups } => {
                self.transport.partition(self.peers.len(), groups);
                Ok(())
            }
            Action::Heal => {
                self.transport.heal();
                Ok(())
            }
            Action::Crash { peer } => {
                if let Some(p) = self.peers.get_mut(*peer) {
                    p.crashed = true;
                }
                Ok(())
            }
            Action::Misbehave { peer, act } => self.misbehave(*peer, act),
        }
    }

    fn vote(&mut self, peer: usize, observation: &Observation<String>) -> Result<(), Violation> {
        let Some(p) = self.peers.get_mut(peer) else {
            return Ok(());
        };
        if p.crashed {
            return Ok(());
        }
        match &mut p.role {
            Role::Honest(engine) => {
                let started = Instant::now();
                let result = engine.vote_for(observation.clone());
                self.stats.engine_time += started.elapsed();
                match result {
                    Ok(step) => {
                        p.votes.push(observation.clone());
                        self.validity.record_vote(self.ids[peer], observation);
                        self.absorb(peer, step)
                    }
                    Err(parsec_core::Error::DuplicateVote) if p.votes.contains(observation) => {
                        self.stats.duplicate_votes_refused += 1;
                        Ok(())
                    }
                    Err(error) => Err(self.engine_error(peer, "vote_for", error)),
                }
            }
            Role::Puppet(puppet) => {
                match puppet.vote(observation.clone()) {
                    Ok(voted) => {
                        self.validity.record_vote(self.ids[peer], &voted);
                        p.votes.push(voted);
                        self.stats.peers[peer].events_created = puppet.created;
                    }
                    Err(error) => self.adversary_failed(peer, &error),
                }
                Ok(())
            }
            Role::Silent | Role::Absent => Ok(()),
        }
    }

    fn gossip(&mut self, from: usize, to: usize) -> Result<(), Violation> {
        let (Some(p), Some(&to_id)) = (self.peers.get_mut(from), self.ids.get(to)) else {
            return Ok(());
        };
        if p.crashed || from == to {
            return Ok(());
        }
        match &mut p.role {
            Role::Honest(engine) => {
                let started = Instant::now();
                let result = engine.create_gossip(to_id);
                self.stats.engine_time += started.elapsed();
                let step = result.map_err(|e| self.engine_error(from, "create_gossip", e))?;
                self.stats.peers[from].syncs += 1;
                self.absorb(from, step)?;
            }
            Role::Puppet(puppet) => {
                let result = puppet.gossip(to_id);
                self.stats.peers[from].events_created = puppet.created;
                match result {
                    Ok(sends) => {
                        self.stats.peers[from].syncs += 1;
                        self.route(from, sends);
                    }
                    Err(error) => self.adversary_failed(from, &error),
                }
            }
            Role::Silent | Role::Absent => return Ok(()),
        }
        self.deliver_due()
    }

    fn misbehave(&mut self, peer: usize, act: &Act) -> Result<(), Violation> {
        if self.liveness {
            return Ok(());
        }
        let Some(p) = self.peers.get_mut(peer) else {
            return Ok(());
        };
        if p.crashed {
            return Ok(());
        }
        let Role::Puppet(puppet) = &mut p.role else {
            return Ok(());
        };
        let result = puppet.act(act, &self.ids);
        self.stats.peers[peer].events_created = puppet.created;
        match result {
            Ok((sends, voted)) => {
                for observation in voted {
                    self.validity.record_vote(self.ids[peer], &observation);
                    p.votes.push(observation);
                }
                self.stats.attacks += 1;
                self.route(peer, sends);
            }
            Err(error) => self.adversary_failed(peer, &error),
        }
        self.deliver_due()
    }

    /// Sends an adversary's messages.
    fn route(&mut self, from: usize, sends: Sends) {
        for (to, bytes) in sends {
            if let Some(&to) = self.index_of.get(&to) {
                self.send(from, to, bytes);
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let stats = &mut self.stats.peers[from];
        stats.messages_sent += 1;
        stats.bytes_sent += bytes.len() as u64;
        self.transport.send(self.now, from, to, bytes);
    }

    /// Records what an honest engine call produced and sends its messages.
    fn absorb(&mut self, peer: usize, step: Step<String>) -> Result<(), Violation> {
        let id = self.ids[peer];
        self.stats.peers[peer].events_created += step
            .persist
            .iter()
            .filter(|e| e.content.creator == id)
            .count() as u64;
        for block in step.blocks {
            let index = self.peers[peer].blocks.len();
            self.agreement.observe(peer, index, &block)?;
            self.order.observe(peer, &block)?;
            self.validity.observe(peer, &block)?;
            self.termination.observe(peer, &block);
            self.stats.peers[peer].blocks += 1;
            self.peers[peer].blocks.push(block);
        }
        for fault in step.faults {
            self.stats.faults += 1;
            quiet::check_fault(peer, &fault, &self.adversary_ids)?;
            self.peers[peer].faults.push(fault);
        }
        for out in step.send {
            let bytes = wire::encode(&out.message, &self.config.wire_limits)
                .map_err(|e| self.engine_error(peer, "encoding its own message", e))?;
            if let Some(&to) = self.index_of.get(&out.to) {
                self.send(peer, to, bytes);
            }
        }
        Ok(())
    }

    /// Delivers every message due now, including the replies they cause.
    fn deliver_due(&mut self) -> Result<(), Violation> {
        while let Some(envelope) = self.transport.next_due(self.now) {
            let (from, to) = (envelope.from, envelope.to);
            let from_id = self.ids[from];
            let Some(p) = self.peers.get_mut(to) else {
                continue;
            };
            if p.crashed || matches!(p.role, Role::Silent | Role::Absent) {
                self.stats.undeliverable += 1;
                continue;
            }
            self.stats.peers[to].messages_received += 1;
            match &mut p.role {
                Role::Honest(engine) => {
                    let started = Instant::now();
                    let result = engine.handle_bytes(from_id, &envelope.bytes);
                    self.stats.engine_time += started.elapsed();
                    let step = result.map_err(|e| self.engine_error(to, "handle_bytes", e))?;
                    self.absorb(to, step)?;
                }
                Role::Puppet(puppet) => {
                    let result = puppet.receive(from_id, &envelope.bytes);
                    self.stats.peers[to].events_created = puppet.created;
                    match result {
                        Ok(sends) => self.route(to, sends),
                        Err(error) => self.adversary_failed(to, &error),
                    }
                }
                Role::Silent | Role::Absent => {}
            }
        }
        Ok(())
    }

    fn finish_stats(&mut self) {
        self.stats.transport = self.transport.counts;
        for (i, peer) in self.peers.iter().enumerate() {
            if let Role::Honest(engine) = &peer.role {
                self.stats.peers[i].graph_creators = engine.graph().peer_count();
            }
        }
        let honest_running = self
            .peers
            .iter()
            .filter(|p| p.honest() && p.running())
            .map(|p| p.blocks.iter().filter(|b| b.payload.is_opaque()).count() as u64);
        self.stats.stable_blocks = honest_running.min().unwrap_or(0);
        self.stats.largest_graph = self
            .peers
            .iter()
            .filter_map(|p| match &p.role {
                Role::Honest(engine) => Some(engine.graph().len()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
    }
}
