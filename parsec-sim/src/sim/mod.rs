//! The deterministic network simulator: honest engines, adversaries, a faulty network, and
//! the invariants of spec §15 checked on every run.
//!
//! # How it works
//!
//! A [`Schedule`] (usually drawn from [`ScheduleOptions`] and a seed) says what happens at
//! each step of the *active phase*. [`run`] builds a [`Network`]
//! of simulated peers, each with a role: one engine per honest peer (keys from
//! [`peer_key`], all genesis members, the coin the schedule names, [`ParityCoin`](parsec_coin::ParityCoin) unless a run says otherwise), one [`adversary`] per adversarial
//! peer (a puppet that writes its own events, or silence). It plays the schedule on a
//! single thread, the step number being the network's clock: votes go to the peers, a
//! gossip action has the peer start a sync and hands its messages, encoded as bytes, to
//! the network's links, which deliver them (after their delay, maybe lost, duplicated or
//! overtaken, never across a partition) to `handle_bytes`; replies travel back the same
//! way. With no delay a sync completes before the next action, as in the original's tests.
//!
//! The roles and the checks every honest output goes through are in `peer`: the network
//! lends each call the simulation's shared state (configuration, invariant checks,
//! statistics), so every block an honest engine outputs is checked at once for agreement,
//! order and validity, and every fault for quietness, before anything more is sent. After
//! each step every graph is checked for honest forks. Then the *liveness phase* starts:
//! network faults stop, partitions heal, adversaries stop attacking, and every running
//! peer gossips to a random peer each step until every honest running peer has decided
//! every payload it must (termination), or the step bound is hit. Finally the logs are
//! checked: a run without adversaries must log no warning.
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

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use parsec_coin::CoinKind;
use parsec_core::{Block, Config, Fault};
use parsec_graph::{ConsensusMode, Observation, PeerId, WireLimits};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod adversary;
mod durable;
pub mod harness;
pub mod invariants;
mod peer;
mod restarts;
pub mod scenario;
pub mod schedule;
pub mod stats;

pub use adversary::{Act, AdversaryKind, Oversize};
pub use durable::{OpenStore, StoreBackend};
pub use invariants::{BlockKey, Invariant, Violation};
pub use restarts::CrashPoint;
pub use scenario::{FaultMix, NetworkMix, Recipe, VoteMix};
pub use schedule::{
    Action, Crashes, Delay, NetworkConditions, PartitionSpec, Partitions, Schedule, ScheduleError,
    ScheduleOptions, VoteTiming,
};
pub use stats::{PeerStats, Stats, thread_cpu_time};

use invariants::agreement::Agreement;
use invariants::honest_fork;
use invariants::order::Order;
use invariants::quiet::{self, LogCapture};
use invariants::same_meta::SameMetaEvent;
use invariants::termination::Termination;
use invariants::validity::Validity;
use peer::{Role, Shared, SimPeer};

pub use crate::network::{Engine, LinkCounts, peer_key};
use crate::network::{Network, Traffic};

/// The largest message a simulated peer decodes: well above any honest message of a
/// simulation, small enough that an oversized message is cheap to make.
pub const SIM_MAX_MESSAGE_BYTES: usize = 2 << 20;

/// The bytes of held events a simulated peer keeps per sender (four times that in total).
pub const SIM_MAX_FUTURE_BYTES_PER_PEER: usize = 2 << 20;

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
    // The original's coin unless a run asks for another: the recorded behaviour.
    config.coin = CoinKind::Parity;
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
/// that replays it with `PARSEC_SEED` set, printed on failure. Peers keep [`MemStore`]s
/// if the schedule restarts any (else no store at all); see [`run_with_stores`].
///
/// [`MemStore`]: parsec_core::MemStore
pub fn run(schedule: &Schedule, rerun: &str) -> Outcome {
    let backend = if schedule.restarting.is_empty() {
        StoreBackend::None
    } else {
        StoreBackend::Memory
    };
    run_with_stores(schedule, rerun, backend)
}

/// [`run`] with the honest peers' logs in `stores`: every step is persisted before it is
/// sent, and restarting peers come back from what their store kept.
pub fn run_with_stores(schedule: &Schedule, rerun: &str, stores: StoreBackend) -> Outcome {
    let started = Instant::now();
    let cpu_started = stats::thread_cpu_time();
    let capture = LogCapture::new();
    let (mut sim, result) = capture.scope(|| {
        let mut sim = Simulation::new(schedule.clone(), stores);
        let result = sim.run();
        (sim, result)
    });
    let captured = capture.captured();
    sim.stats().warnings = captured.warnings;
    sim.stats().errors = captured.errors;
    let result = result.and_then(|()| quiet::check_logs(schedule.has_adversaries(), &captured));
    sim.finish_stats();
    sim.stats().wall_time = started.elapsed();
    sim.stats().cpu_time = match (cpu_started, stats::thread_cpu_time()) {
        (Some(start), Some(end)) => Some(end.saturating_sub(start)),
        _ => None,
    };
    let failure = result.err().map(|violation| Failure {
        seed: schedule.seed,
        step: sim.net.now(),
        violation,
        rerun: rerun.to_string(),
    });
    let peers = sim.net.nodes();
    Outcome {
        blocks: peers.iter().map(|p| p.blocks.clone()).collect(),
        faults: peers.iter().map(|p| p.faults.clone()).collect(),
        votes: peers.iter().map(|p| p.votes.clone()).collect(),
        ids: sim.net.ids().to_vec(),
        stats: std::mem::take(sim.stats()),
        failure,
    }
}

struct Simulation {
    schedule: Schedule,
    /// The peers, their links and the clock; the invariant checks and statistics are its
    /// shared state.
    net: Network<SimPeer>,
    honest_ids: BTreeMap<PeerId, usize>,
    liveness_rng: ChaCha8Rng,
    same_meta: SameMetaEvent,
    liveness: bool,
    /// Why the run's stores could not be set up, if they could not.
    setup_error: Option<String>,
}

impl Simulation {
    fn new(schedule: Schedule, stores: StoreBackend) -> Self {
        let n = schedule.peers;
        let ids: Vec<PeerId> = (0..n).map(|i| peer_key(i).peer_id()).collect();
        let adversary_ids = schedule.adversaries.keys().map(|&p| ids[p]).collect();
        let honest_ids = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| !schedule.adversaries.contains_key(i))
            .map(|(i, id)| (*id, i))
            .collect();
        let mut liveness_rng = ChaCha8Rng::seed_from_u64(schedule.seed);
        liveness_rng.set_stream(STREAM_LIVENESS);
        let mode = schedule.mode;
        let peers = (0..n)
            .map(|i| SimPeer::new(ids[i], schedule.adversaries.get(&i).copied()))
            .collect();
        // The threshold coin's keys, dealt for the run from its seed (a trusted dealer).
        let dealt = if schedule.coin == CoinKind::Threshold {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&schedule.seed.to_le_bytes());
            seed[8..16].copy_from_slice(b"coinkeys");
            // Dealing fails only for an empty group; the engines then report the missing keys.
            parsec_coin::deal(&ids, 0, seed).ok()
        } else {
            None
        };
        let shared = Shared {
            config: Config {
                coin: schedule.coin,
                coin_keys: dealt.as_ref().map(|d| d.epoch.clone()),
                pruning_window: schedule.pruning_window,
                ..sim_config(&ids, mode, schedule.max_events_per_message)
            },
            coin_secrets: dealt.map(|d| d.shares).unwrap_or_default(),
            verified: parsec_graph::VerifiedEvents::new(),
            adversary_ids,
            agreement: Agreement::new(mode),
            order: Order::new(
                mode,
                n,
                mode == ConsensusMode::Supermajority || schedule.adversaries.is_empty(),
            ),
            validity: Validity::new(mode, &ids),
            termination: Termination::new(mode, n),
            stats: Stats {
                seed: schedule.seed,
                peers: vec![PeerStats::default(); n],
                ..Stats::default()
            },
            ids,
            stores: None,
        };
        let mut shared = shared;
        let mut setup_error = None;
        match durable::Stores::new(stores) {
            Ok(stores) => shared.stores = stores,
            Err(reason) => setup_error = Some(reason),
        }
        // The links draw from stream 2 of the seed, as the simulator's messages always did.
        let net = Network::from_nodes(peers, shared, schedule.seed, schedule.network);
        Simulation {
            schedule,
            net,
            honest_ids,
            liveness_rng,
            same_meta: SameMetaEvent::new(),
            liveness: false,
            setup_error,
        }
    }

    fn stats(&mut self) -> &mut Stats {
        &mut self.net.shared_mut().stats
    }

    /// Starts every peer.
    fn start(&mut self) -> Result<(), Violation> {
        if let Some(reason) = self.setup_error.take() {
            return Err(Violation::new(Invariant::Durability, None, reason));
        }
        for i in 0..self.net.len() {
            if let Some(result) = self.net.call(i, |peer, ctx| peer.start(ctx)) {
                result?;
            }
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), Violation> {
        self.start()?;
        let active = self.schedule.steps.len() as u64;
        for step in 0..active {
            self.net.set_now(step);
            let actions = std::mem::take(&mut self.schedule.steps[step as usize]);
            for action in &actions {
                self.apply(action)?;
            }
            self.schedule.steps[step as usize] = actions;
            self.end_step()?;
        }
        self.stats().active_steps = active;

        // Liveness: faults stop, and the run must finish.
        self.liveness = true;
        let calm = self.schedule.network.without_faults();
        self.net.links_mut().set_conditions(calm);
        self.net.heal();
        let (peers, shared) = self.net.parts_mut();
        let honest_running: Vec<usize> = (0..peers.len())
            .filter(|&p| peers[p].honest() && peers[p].running())
            .collect();
        shared.termination.expect(
            honest_running
                .iter()
                .map(|&p| (p, shared.ids[p], peers[p].votes.as_slice())),
        );
        let mut used = 0;
        while !self.net.shared().termination.is_done(&honest_running) {
            if used >= self.schedule.liveness_steps {
                return Err(self
                    .net
                    .shared()
                    .termination
                    .violation(&honest_running, used));
            }
            self.net.set_now(active + used);
            self.liveness_round()?;
            self.end_step()?;
            used += 1;
        }
        self.stats().liveness_steps = used;
        Ok(())
    }

    /// One step of fair random gossip among the running peers.
    fn liveness_round(&mut self) -> Result<(), Violation> {
        let n = self.net.len();
        let peers = self.net.nodes();
        let mut order: Vec<usize> = (0..n).filter(|&p| peers[p].running()).collect();
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
        self.net.deliver_due()?;
        let (peers, shared) = self.net.parts_mut();
        shared.stats.steps += 1;
        for (i, peer) in peers.iter_mut().enumerate() {
            if let Role::Honest(engine) = &mut peer.role {
                self.same_meta.observe(i, engine.take_meta_digests())?;
                let held = &mut shared.stats.peers[i].max_held_bytes;
                *held = (*held).max(engine.held_bytes());
            }
        }
        shared.stats.meta_events_compared = self.same_meta.compared;
        let graphs = peers.iter().enumerate().filter_map(|(i, p)| match &p.role {
            Role::Honest(engine) => Some((i, engine.graph())),
            Role::Puppet(puppet) => Some((i, puppet.engine().graph())),
            Role::Silent | Role::Absent => None,
        });
        honest_fork::check(graphs, &self.honest_ids)
    }

    fn apply(&mut self, action: &Action) -> Result<(), Violation> {
        match action {
            Action::Vote { peer, observation } => self
                .net
                .call(*peer, |p, ctx| p.vote(observation, ctx))
                .unwrap_or(Ok(())),
            Action::Gossip { from, to } => self.gossip(*from, *to),
            Action::Partition { groups } => {
                self.net.partition(groups);
                Ok(())
            }
            Action::Heal => {
                self.net.heal();
                Ok(())
            }
            Action::Crash { peer } => {
                if *peer < self.net.len() {
                    self.net.node_mut(*peer).crashed = true;
                }
                Ok(())
            }
            Action::CrashAt { peer, point } => {
                self.net.call(*peer, |p, ctx| p.crash_at(*point, ctx));
                Ok(())
            }
            Action::Restart { peer } => self
                .net
                .call(*peer, |p, ctx| p.restart(ctx))
                .unwrap_or(Ok(())),
            Action::Misbehave { peer, act } => self.misbehave(*peer, act),
        }
    }

    /// A sync from `from` to `to`; nothing if either is not a peer or they are the same.
    fn gossip(&mut self, from: usize, to: usize) -> Result<(), Violation> {
        if from == to {
            return Ok(());
        }
        self.net.gossip(from, to).map(drop)
    }

    fn misbehave(&mut self, peer: usize, act: &Act) -> Result<(), Violation> {
        if self.liveness {
            return Ok(());
        }
        match self.net.call(peer, |p, ctx| p.misbehave(act, ctx)) {
            Some(true) => self.net.deliver_due(),
            Some(false) | None => Ok(()),
        }
    }

    fn finish_stats(&mut self) {
        let links = self.net.links().counts();
        let undeliverable = self.net.undeliverable();
        let traffic: Vec<Traffic> = (0..self.net.len()).map(|i| self.net.traffic(i)).collect();
        let (peers, shared) = self.net.parts_mut();
        let stats = &mut shared.stats;
        stats.links = links;
        stats.undeliverable = undeliverable;
        for (i, peer) in peers.iter().enumerate() {
            let counted = &mut stats.peers[i];
            counted.messages_sent = traffic[i].messages_sent;
            counted.bytes_sent = traffic[i].bytes_sent;
            counted.messages_received = traffic[i].messages_received;
            if let Role::Honest(engine) = &peer.role {
                counted.graph_creators = engine.graph().peer_count();
            }
        }
        let honest_running = peers
            .iter()
            .filter(|p| p.honest() && p.running())
            .map(|p| p.blocks.iter().filter(|b| b.payload.is_opaque()).count() as u64);
        stats.stable_blocks = honest_running.min().unwrap_or(0);
        stats.largest_graph = peers
            .iter()
            .filter_map(|p| match &p.role {
                Role::Honest(engine) => Some(engine.graph().len()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let statuses = peers.iter().filter_map(|p| match &p.role {
            Role::Honest(engine) => Some(engine.status()),
            _ => None,
        });
        for status in statuses {
            stats.pruned_events += status.memory.events_inserted - status.memory.events_held;
            stats.elections = stats.elections.max(status.election);
            let coin = status.coin_stats;
            stats.coins_needed = stats.coins_needed.max(coin.coins_needed);
            stats.elections_needing_coin = stats
                .elections_needing_coin
                .max(coin.elections_needing_coin);
        }
    }
}
