//! Resource-exhaustion measurements: what one misbehaving member makes three honest engines
//! hold, compute and send.
//!
//! ```text
//! cargo run --release -p parsec-sim --bin attack -- --kind made-up --size 16000
//! cargo run --release -p parsec-sim --bin attack -- --kind none --steps 500
//! ```
//!
//! One process runs four genesis members with the default [`Config`] (Supermajority mode,
//! [`ParityCoin`]): three honest engines A, B and C, and an attacker M that signs its own
//! events by hand. M keeps an engine of its own, fed with `replay_event` for every event it
//! creates or receives, so it knows what each peer lacks; events that engine refuses (a
//! chain built on made-up creators, say) are still sent, once to each honest peer.
//! Delivery is synchronous: a message is handled as soon as it is sent, and every reply
//! is delivered before the next gossip.
//!
//! Each step, the four members in a random order (`ChaCha8Rng` from `--seed`) take a turn:
//! an honest peer calls `create_gossip` to a random other member; M does what `--kind`
//! says. Every tenth step each honest peer votes the same fresh payload, so consensus
//! runs. M answers requests as an honest peer would (a `Request` on the requester's
//! `Requesting`, carrying what the requester lacks; a `Response` to the answer of its own
//! request) unless the attack says otherwise.
//!
//! * `none`: M is honest (the baseline of the same length).
//! * `made-up`: each step M makes `size / steps` (at least 1) keys that never were members,
//!   each signing an `Initial` event; made-up key `j`'s index-1 `Request` has as other
//!   parent key `j - 1`'s last event, and M's own next event is a `Request` on the last of
//!   them, followed by its normal sync (`--size` keys in all, default 16,000).
//! * `silent`: M never sends anything and drops everything it receives.
//! * `flood`: M gossips normally and, each step, sends each honest peer 10 votes of
//!   `--size` payload bytes (default 1,040,000, under the default 1 MiB observation limit)
//!   as one `Events` message, each on a self-parent nobody has, far ahead of its chain:
//!   every one is held in the future buffer.
//! * `forks`: each step M puts `size / steps` (at least 1) extra events in its next slot,
//!   all on the same self-parent: `Requesting` events, one to each honest peer as its
//!   normal sync request, then `Request` events on other peers' events sent as bare
//!   `Events`; M continues on the first (`--size` forks in all, default 2,000).
//!
//! Every 100 steps and at the end it prints: the events, creators (`peer_count`) and held
//! events of A's graph, A's blocks and reported faults, the process's RSS now and at peak
//! (`VmRSS`, `VmHWM`: all four engines, M's included), the wall and honest-engine time per
//! step, the bytes honest peers send per honest sync, the bytes they send to M per sync
//! they start with M, and the bytes A receives per step (all means over the last 100
//! steps); then one `SUMMARY` line, with the graph figures of every honest engine and of
//! M's engine (which is in the RSS too: in the old code, with made-up creators, its graph is
//! as large as an honest one; in the new code it holds what it cannot insert). An honest
//! engine returning an error is counted and its first errors printed; a panic is caught and
//! reported with the figures so far.
//! `--max-rss-mib` (default 12,288) and `--max-seconds` (default none) stop a run early;
//! the summary then says where and why. Options: `--kind K`, `--size N`, `--steps S`
//! (default 500, 200 for `flood`), `--seed X` (default 1).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parsec_coin::ParityCoin;
use parsec_core::{Config, Parsec, Step};
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey, WireLimits, wire};
use parsec_sim::sim::peer_key;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod attacker;

use attacker::{Attacker, Sends};

type Engine = Parsec<String, ParityCoin>;

/// Members: three honest (0, 1, 2 = A, B, C) and the attacker.
const PEERS: usize = 4;
const HONEST: usize = 3;
/// The attacker's peer number.
const M: usize = 3;
/// Peer A, whose graph is reported.
const A: usize = 0;
/// Steps each mean is taken over, and between reports.
const WINDOW: usize = 100;
/// Most events the attacker puts in one message.
const CHUNK: usize = 1024;
/// Steps between the honest peers' votes.
const VOTE_EVERY: u64 = 10;
/// Held votes the flooding attacker sends each honest peer per step.
const FLOOD_PER_STEP: usize = 10;
/// Errors printed in full.
const ERRORS_SHOWN: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    None,
    MadeUp,
    Silent,
    Flood,
    Forks,
}

impl Kind {
    fn parse(word: &str) -> anyhow::Result<Kind> {
        Ok(match word {
            "none" => Kind::None,
            "made-up" => Kind::MadeUp,
            "silent" => Kind::Silent,
            "flood" => Kind::Flood,
            "forks" => Kind::Forks,
            other => bail!("unknown kind {other:?}: none, made-up, silent, flood or forks"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::None => "none",
            Kind::MadeUp => "made-up",
            Kind::Silent => "silent",
            Kind::Flood => "flood",
            Kind::Forks => "forks",
        }
    }

    fn default_size(self) -> usize {
        match self {
            Kind::None | Kind::Silent => 0,
            Kind::MadeUp => 16_000,
            Kind::Flood => 1_040_000,
            Kind::Forks => 2_000,
        }
    }

    fn default_steps(self) -> u64 {
        match self {
            Kind::Flood => 200,
            _ => 500,
        }
    }
}

struct Args {
    kind: Kind,
    size: usize,
    steps: u64,
    seed: u64,
    max_rss_mib: f64,
    max_seconds: Option<f64>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut kind = Kind::None;
    let mut size = None;
    let mut steps = None;
    let mut seed = 1;
    let mut max_rss_mib = 12_288.0;
    let mut max_seconds = None;
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .with_context(|| format!("{name} needs a value"))
        };
        match word.as_str() {
            "--kind" => kind = Kind::parse(&value("--kind")?)?,
            "--size" => size = Some(value("--size")?.parse().context("--size")?),
            "--steps" => steps = Some(value("--steps")?.parse().context("--steps")?),
            "--seed" => seed = value("--seed")?.parse().context("--seed")?,
            "--max-rss-mib" => {
                max_rss_mib = value("--max-rss-mib")?.parse().context("--max-rss-mib")?;
            }
            "--max-seconds" => {
                max_seconds = Some(value("--max-seconds")?.parse().context("--max-seconds")?);
            }
            "--help" | "-h" => {
                println!(
                    "usage: attack --kind <none|made-up|silent|flood|forks> [--size N] \
                     [--steps S] [--seed X] [--max-rss-mib M] [--max-seconds T]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(Args {
        kind,
        size: size.unwrap_or(kind.default_size()),
        steps: steps.unwrap_or(kind.default_steps()),
        seed,
        max_rss_mib,
        max_seconds,
    })
}

/// `VmRSS` and `VmHWM` of this process, in MiB (0 where unknown).
fn memory_mib() -> (f64, f64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0.0, 0.0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Counters of one step (or a sum of steps).
#[derive(Clone, Copy, Default)]
struct Counters {
    steps: u64,
    wall: Duration,
    /// Time inside honest engine calls.
    engine: Duration,
    honest_bytes: u64,
    honest_syncs: u64,
    bytes_to_m: u64,
    syncs_to_m: u64,
    a_received: u64,
    m_bytes: u64,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.steps += other.steps;
        self.wall += other.wall;
        self.engine += other.engine;
        self.honest_bytes += other.honest_bytes;
        self.honest_syncs += other.honest_syncs;
        self.bytes_to_m += other.bytes_to_m;
        self.syncs_to_m += other.syncs_to_m;
        self.a_received += other.a_received;
        self.m_bytes += other.m_bytes;
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn ms_per(d: Duration, steps: u64) -> f64 {
    if steps == 0 {
        0.0
    } else {
        d.as_secs_f64() * 1e3 / steps as f64
    }
}

struct Sim {
    args: Args,
    ids: Vec<PeerId>,
    limits: WireLimits,
    honest: Vec<Engine>,
    attacker: Attacker,
    rng: ChaCha8Rng,
    queue: VecDeque<(usize, usize, Vec<u8>)>,
    current: Counters,
    window: VecDeque<Counters>,
    totals: Counters,
    blocks: Vec<Vec<Observation<String>>>,
    faults: Vec<u64>,
    errors: Vec<String>,
    error_count: u64,
    step: u64,
    payloads: u64,
    started: Instant,
    stopped: Option<String>,
}

impl Sim {
    fn new(args: Args) -> anyhow::Result<Sim> {
        let keys: Vec<SecretKey> = (0..PEERS).map(peer_key).collect();
        let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
        let config = Config::new(ids.iter().copied().collect(), ConsensusMode::Supermajority);
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(args.seed),
            args,
            limits: config.wire_limits,
            attacker: Attacker::new(&ids, config.clone())?,
            ids,
            honest: Vec::new(),
            queue: VecDeque::new(),
            current: Counters::default(),
            window: VecDeque::new(),
            totals: Counters::default(),
            blocks: vec![Vec::new(); HONEST],
            faults: vec![0; HONEST],
            errors: Vec::new(),
            error_count: 0,
            step: 0,
            payloads: 0,
            started: Instant::now(),
            stopped: None,
        };
        let mut genesis = Vec::new();
        for key in keys.into_iter().take(HONEST) {
            let (engine, step) = Engine::from_genesis(key, config.clone(), ParityCoin)
                .context("an honest engine's genesis")?;
            sim.honest.push(engine);
            genesis.push(step);
        }
        for (peer, step) in genesis.into_iter().enumerate() {
            sim.absorb(peer, step)?;
        }
        sim.deliver()?;
        Ok(sim)
    }

    /// Runs `call` on honest engine `peer`, timing it and recording an error.
    fn call(
        &mut self,
        peer: usize,
        what: &str,
        call: impl FnOnce(&mut Engine) -> Result<Step<String>, parsec_core::Error>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let result = call(&mut self.honest[peer]);
        self.current.engine += started.elapsed();
        match result {
            Ok(step) => self.absorb(peer, step),
            Err(error) => {
                self.error_count += 1;
                if self.errors.len() < ERRORS_SHOWN {
                    let message = format!("step {}: peer {peer} {what}: {error}", self.step);
                    eprintln!("ENGINE ERROR {message}");
                    self.errors.push(message);
                }
                Ok(())
            }
        }
    }

    /// Records what an honest engine call produced and queues its messages.
    fn absorb(&mut self, peer: usize, step: Step<String>) -> anyhow::Result<()> {
        self.blocks[peer].extend(step.blocks.into_iter().map(|b| b.payload));
        self.faults[peer] += step.faults.len() as u64;
        for out in step.send {
            let bytes = wire::encode(&out.message, &self.limits)
                .context("an honest engine's message does not encode")?;
            let to = self
                .ids
                .iter()
                .position(|id| *id == out.to)
                .context("an honest engine sent to a stranger")?;
            self.current.honest_bytes += bytes.len() as u64;
            if to == M {
                self.current.bytes_to_m += bytes.len() as u64;
            }
            self.queue.push_back((peer, to, bytes));
        }
        Ok(())
    }

    fn send_from_m(&mut self, sends: Sends) {
        for (to, bytes) in sends {
            self.current.m_bytes += bytes.len() as u64;
            self.queue.push_back((M, to, bytes));
        }
    }

    /// Delivers every queued message and the replies they cause.
    fn deliver(&mut self) -> anyhow::Result<()> {
        while let Some((from, to, bytes)) = self.queue.pop_front() {
            if to == A {
                self.current.a_received += bytes.len() as u64;
            }
            if to == M {
                if self.args.kind != Kind::Silent {
                    let sends = self.attacker.receive(from, &bytes)?;
                    self.send_from_m(sends);
                }
                continue;
            }
            let sender = self.ids[from];
            self.call(to, "handle_bytes", |engine| {
                engine.handle_bytes(sender, &bytes)
            })?;
        }
        Ok(())
    }

    fn random_other(&mut self, peer: usize, among: usize) -> usize {
        let mut to = self.rng.random_range(0..among - 1);
        if to >= peer {
            to += 1;
        }
        to
    }

    /// Per-step share of `total` spread over the run's steps (at least 1).
    fn per_step(&self, total: usize, done: u64) -> usize {
        let steps = self.args.steps.max(1) as usize;
        let share = total.div_ceil(steps).max(1);
        share.min(total.saturating_sub(done as usize))
    }

    fn attacker_turn(&mut self) -> anyhow::Result<()> {
        let to = self.random_other(M, HONEST + 1);
        let sends = match self.args.kind {
            Kind::Silent => return Ok(()),
            Kind::None => self.attacker.gossip(to)?,
            Kind::MadeUp => {
                let count = self.per_step(self.args.size, self.attacker.made_up);
                if count == 0 {
                    self.attacker.gossip(to)?
                } else {
                    self.attacker.made_up_creators(count, to)?
                }
            }
            Kind::Flood => self.attacker.flood(to, self.args.size)?,
            Kind::Forks => {
                let extra = self.per_step(self.args.size, self.attacker.forks);
                if extra == 0 {
                    self.attacker.gossip(to)?
                } else {
                    let mut order: Vec<usize> = (0..HONEST).collect();
                    order.shuffle(&mut self.rng);
                    self.attacker.fork(extra, &order)?
                }
            }
        };
        self.send_from_m(sends);
        Ok(())
    }

    fn one_step(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        self.current = Counters {
            steps: 1,
            ..Counters::default()
        };
        if (self.step - 1).is_multiple_of(VOTE_EVERY) {
            self.payloads += 1;
            let observation = Observation::OpaquePayload(format!("payload-{}", self.payloads));
            for peer in 0..HONEST {
                let observation = observation.clone();
                self.call(peer, "vote_for", |engine| engine.vote_for(observation))?;
            }
            self.deliver()?;
        }
        let mut order: Vec<usize> = (0..PEERS).collect();
        order.shuffle(&mut self.rng);
        for peer in order {
            if peer == M {
                self.attacker_turn()?;
            } else {
                let to = self.random_other(peer, PEERS);
                self.current.honest_syncs += 1;
                if to == M {
                    self.current.syncs_to_m += 1;
                }
                let recipient = self.ids[to];
                self.call(peer, "create_gossip", |engine| {
                    engine.create_gossip(recipient)
                })?;
            }
            self.deliver()?;
        }
        self.current.wall = started.elapsed();
        self.totals.add(&self.current);
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(self.current);
        Ok(())
    }

    fn run(&mut self) -> anyhow::Result<()> {
        while self.step < self.args.steps {
            self.step += 1;
            self.one_step()?;
            let (rss, _) = memory_mib();
            if rss > self.args.max_rss_mib {
                self.stopped = Some(format!("rss {rss:.0} MiB over --max-rss-mib"));
            }
            if let Some(limit) = self.args.max_seconds
                && self.started.elapsed().as_secs_f64() > limit
            {
                self.stopped = Some(format!("{limit} s over --max-seconds"));
            }
            if self.step.is_multiple_of(WINDOW as u64) || self.stopped.is_some() {
                println!("{}", self.report());
            }
            if self.stopped.is_some() {
                break;
            }
        }
        Ok(())
    }

    fn report(&self) -> String {
        let mut w = Counters::default();
        for c in &self.window {
            w.add(c);
        }
        let graph = self.honest[A].graph();
        let (rss, peak) = memory_mib();
        format!(
            "step={} events={} creators={} held={} blocks={} faults={} rss_mib={rss:.1} \
             peak_mib={peak:.1} ms_step={:.2} engine_ms_step={:.2} bytes_per_sync={:.0} \
             bytes_to_m_per_sync={:.0} a_rx_per_step={:.0} m_tx_per_step={:.0}",
            self.step,
            graph.len(),
            graph.peer_count(),
            self.honest[A].held_events(),
            self.blocks[A].len(),
            self.faults[A],
            ms_per(w.wall, w.steps),
            ms_per(w.engine, w.steps),
            ratio(w.honest_bytes, w.honest_syncs),
            ratio(w.bytes_to_m, w.syncs_to_m),
            ratio(w.a_received, w.steps),
            ratio(w.m_bytes, w.steps),
        )
    }

    /// Whether every honest peer's blocks are a prefix of the longest output.
    fn agreement(&self) -> bool {
        let longest = self.blocks.iter().max_by_key(|b| b.len());
        longest.is_none_or(|longest| self.blocks.iter().all(|blocks| longest.starts_with(blocks)))
    }

    fn summary(&self, outcome: &str) -> String {
        let t = &self.totals;
        let (_, peak) = memory_mib();
        let graphs: Vec<String> = self
            .honest
            .iter()
            .map(|e| {
                format!(
                    "{}/{}/{}/{}",
                    e.graph().len(),
                    e.graph().peer_count(),
                    e.held_events(),
                    e.held_bytes() >> 10
                )
            })
            .collect();
        let blocks: Vec<String> = self.blocks.iter().map(|b| b.len().to_string()).collect();
        format!(
            "SUMMARY kind={} size={} steps={}/{} seed={} outcome={outcome} wall_s={:.1} \
             peak_mib={peak:.1} graphs(events/creators/held/held_kib)={} blocks={} agreement={} \
             faults_a={} engine_errors={} {} total_honest_bytes={} honest_bytes_per_sync={:.0} \
             total_bytes_to_m={} bytes_to_m_per_sync={:.0} total_a_rx={} total_m_tx={} \
             attacker(made_up={} forks={} engine_errors={} graph(events/creators/held)={}/{}/{})",
            self.args.kind.name(),
            self.args.size,
            self.step,
            self.args.steps,
            self.args.seed,
            self.started.elapsed().as_secs_f64(),
            graphs.join(","),
            blocks.join(","),
            self.agreement(),
            self.faults[A],
            self.error_count,
            self.report(),
            t.honest_bytes,
            ratio(t.honest_bytes, t.honest_syncs),
            t.bytes_to_m,
            ratio(t.bytes_to_m, t.syncs_to_m),
            t.a_received,
            t.m_bytes,
            self.attacker.made_up,
            self.attacker.forks,
            self.attacker.engine_errors,
            self.attacker.engine.graph().len(),
            self.attacker.engine.graph().peer_count(),
            self.attacker.engine.held_events(),
        )
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("attack: {error:#}");
            return ExitCode::from(2);
        }
    };
    let mut sim = match Sim::new(args) {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("attack: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = catch_unwind(AssertUnwindSafe(|| sim.run()));
    let outcome = match &result {
        Ok(Ok(())) => match &sim.stopped {
            Some(why) => format!("stopped({why})").replace(' ', "_"),
            None if sim.error_count > 0 => "engine-errors".to_string(),
            None => "ok".to_string(),
        },
        Ok(Err(error)) => format!("failed({error:#})").replace(' ', "_"),
        Err(_) => format!("PANIC(step_{})", sim.step),
    };
    println!("{}", sim.summary(&outcome));
    for error in &sim.errors {
        println!("error: {error}");
    }
    match result {
        Ok(Ok(())) if sim.error_count == 0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
