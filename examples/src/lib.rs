//! `parsec-examples`: the simulation shared by the runnable examples of parsec-rs.
//!
//! Sits on top of `parsec-core` and `parsec-sim` (whose in-process
//! [`Network`] carries the messages, and whose simulator tests the engine far more
//! thoroughly): [`run`] plays the scenario of the original PARSEC release's `basic`
//! example with our engine, so that `examples/basic.rs` (one run, printed round by round)
//! and `examples/scaling.rs` (a grid of runs, printed as a table) share one definition.
//!
//! # How it works
//!
//! `peers` genesis members named like people (Alice, Bob, Carol, ...) start from the same
//! genesis group, and `events` random payloads are drawn (shown as `ev00`, `ev01`, ...).
//! Each round shuffles the peers into a ring; in ring order every peer syncs with its
//! successor ([`Network::sync`]: the sender's [`Parsec::create_gossip`] request is
//! delivered at once, the successor answers, the sender handles the answer), and then,
//! with probability [`Params::vote_probability`], the sender votes one payload it has not
//! voted yet, chosen at random. A crashed peer (see [`Params::faulty`]) never starts: it
//! never gossips and never answers, and the network drops every request to it. After
//! every sync and vote, every block a peer output must agree with the others' at the same
//! position, and no peer may report a fault; the run ends when every honest peer holds the
//! genesis block and every expected payload block, or fails after [`Params::max_rounds`].
//!
//! Every random choice of the scenario comes from one `ChaCha8Rng` seeded with
//! [`Params::seed`] (the network, on perfect links, draws nothing); keys are
//! derived from the seed and the peer's position with `ChaCha20Rng` (key material, as the
//! design asks). The engines are deterministic, so a seed reproduces a run exactly, except
//! for its timings.
//!
//! ```
//! use parsec_examples::{Params, run};
//!
//! let params = Params { peers: 4, events: 2, vote_probability: 1.0, ..Params::default() };
//! let summary = run(&params)?;
//! // Genesis plus the two payloads, on every peer.
//! assert_eq!(summary.blocks, 3);
//! assert!(summary.rounds_per_block() > 0.0);
//! # Ok::<(), anyhow::Error>(())
//! ```

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
#[cfg(doc)]
use parsec_core::Parsec;
use parsec_core::{Block, Config};
use parsec_graph::dot::{DotOptions, to_dot};
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey};
use parsec_sim::network::{Network, NetworkBuilder};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::{ChaCha8Rng, ChaCha20Rng};

/// The engine every simulated peer runs: `String` payloads and the coin its configuration
/// names (the concrete coin by default).
pub use parsec_sim::network::Engine;

/// First names of the peers; beyond 26 peers a number is appended (`Alice2`, ...).
const NAMES: [&str; 26] = [
    "Alice", "Bob", "Carol", "Dave", "Eric", "Fred", "Gina", "Hank", "Iris", "Judy", "Kent",
    "Lucy", "Mike", "Nina", "Oran", "Paul", "Quin", "Rose", "Stan", "Tina", "Ulf", "Vera", "Will",
    "Xavi", "Yoko", "Zoe",
];

/// The display name of the peer at `index`: a first name, unique, without `_` or `"`
/// (so it can name nodes of a dot graph).
pub fn peer_name(index: usize) -> String {
    let name = NAMES[index % NAMES.len()];
    match index / NAMES.len() {
        0 => name.to_string(),
        round => format!("{name}{}", round + 1),
    }
}

/// The parameters of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Genesis members, crashed ones included (at least 1).
    pub peers: usize,
    /// Payloads every honest peer votes.
    pub events: usize,
    /// Seed of every random choice and of the keys.
    pub seed: u64,
    /// Chance that a peer votes one more payload after its gossip in a round, in `(0, 1]`.
    pub vote_probability: f64,
    /// How payloads are decided: once per payload (`Supermajority`) or once per payload
    /// and voter (`Single`).
    pub consensus_mode: ConsensusMode,
    /// Peers (the last ones in naming order) that crash at the start: at most
    /// `(peers - 1) / 3`.
    pub faulty: usize,
    /// Rounds after which the run fails if not every block is decided everywhere.
    pub max_rounds: usize,
    /// Every engine's [`Config::pruning_window`] (`None`: keep every event in memory).
    pub pruning_window: Option<u64>,
    /// Every engine's [`Config::pruning_removal_margin`] (`None`: the engine's default).
    pub pruning_removal_margin: Option<usize>,
    /// Whether each peer keeps a store (the simulated disk, in this process's memory:
    /// it holds every event). Off by default, so that memory figures are the engines'.
    pub keep_stores: bool,
}

impl Default for Params {
    /// 5 peers, 10 events, seed 1, one vote every three rounds, `Supermajority`, no crash,
    /// at most 1000 rounds.
    fn default() -> Self {
        Params {
            peers: 5,
            events: 10,
            seed: 1,
            vote_probability: 1.0 / 3.0,
            consensus_mode: ConsensusMode::Supermajority,
            faulty: 0,
            max_rounds: 1000,
            pruning_window: None,
            pruning_removal_margin: None,
            keep_stores: false,
        }
    }
}

impl Params {
    /// Checks that the parameters describe a run that can succeed.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.peers >= 1, "--peers must be at least 1");
        ensure!(
            self.vote_probability > 0.0 && self.vote_probability <= 1.0,
            "--vote-probability must be in (0, 1], got {}",
            self.vote_probability
        );
        let most = (self.peers - 1) / 3;
        ensure!(
            self.faulty <= most,
            "--faulty {} is too many for {} peers: at most (peers - 1) / 3 = {most} may crash",
            self.faulty,
            self.peers
        );
        ensure!(self.max_rounds >= 1, "--max-rounds must be at least 1");
        Ok(())
    }

    /// Peers that run: all but the crashed ones.
    pub fn honest(&self) -> usize {
        self.peers - self.faulty
    }

    /// Payload blocks every honest peer must output: one per payload, or one per payload
    /// and honest voter in `Single` mode.
    pub fn expected_payload_blocks(&self) -> usize {
        match self.consensus_mode {
            ConsensusMode::Supermajority => self.events,
            ConsensusMode::Single => self.events * self.honest(),
        }
    }
}

/// A block as the examples show it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decided {
    /// The genesis group.
    Genesis,
    /// Payload number `payload`; `voter` is the peer whose vote it is in `Single` mode.
    Payload {
        /// Index into the run's payloads.
        payload: usize,
        /// The voter (its peer index), in `Single` mode only.
        voter: Option<usize>,
    },
    /// Any other observation (not expected in these runs), by its variant name.
    Other(&'static str),
}

/// The outcome of a successful run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Rounds played.
    pub rounds: usize,
    /// Blocks output by every honest peer, genesis included.
    pub blocks: usize,
    /// Messages sent (requests, responses and leading event chunks), dropped ones included.
    pub messages: u64,
    /// Of those, messages to crashed peers, which were dropped.
    pub dropped: u64,
    /// Events carried by those messages.
    pub events_sent: u64,
    /// Events created, summed over the honest peers' own chains.
    pub events_created: u64,
    /// The largest gossip graph of a peer at the end, in events inserted.
    pub largest_graph: usize,
    /// The most events any peer held in memory after any round (pruning drops the rest).
    pub most_held: usize,
    /// Wall time of the run (set-up included).
    pub elapsed: Duration,
    /// BLAKE3 of the agreed block sequence (each block's payload number and voter, in
    /// order), in hex: two runs of one scenario decided the same blocks in the same order
    /// iff it is the same (with pruning on and off, say).
    pub blocks_digest: String,
}

impl Summary {
    /// Rounds per stable block: rounds divided by the blocks after genesis (`NaN` if none).
    pub fn rounds_per_block(&self) -> f64 {
        if self.blocks <= 1 {
            f64::NAN
        } else {
            self.rounds as f64 / (self.blocks - 1) as f64
        }
    }
}

/// What the scenario keeps about one peer (its engine and records are in the network).
struct Peer {
    name: String,
    /// Payload indices voted, in voting order.
    votes: Vec<usize>,
    /// Payload indices not voted yet.
    unvoted: Vec<usize>,
    /// Blocks output: its blocks are the first `blocks` agreed ones (`absorb` checks
    /// each), so they are not kept per peer.
    blocks: usize,
    /// Blocks held at the start of the current round.
    blocks_before: usize,
    /// Expected payload blocks output so far.
    expected_blocks: usize,
}

/// What one peer looks like at the end of a round.
#[derive(Clone, Copy)]
pub struct PeerView<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its engine, or `None` if it crashed.
    pub engine: Option<&'a Engine>,
    /// The payloads it voted (indices), in voting order.
    pub votes: &'a [usize],
    /// Its blocks, in consensus order.
    pub blocks: &'a [Decided],
    /// How many of `blocks` were output during this round.
    pub new_blocks: usize,
}

impl fmt::Debug for PeerView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerView")
            .field("name", &self.name)
            .field("crashed", &self.engine.is_none())
            .field("votes", &self.votes)
            .field("blocks", &self.blocks)
            .field("new_blocks", &self.new_blocks)
            .finish()
    }
}

/// The state of a run after one round, handed to an [`OnRound`].
pub struct Round<'a> {
    /// The round just played, from 1.
    pub number: usize,
    /// The run's parameters.
    pub params: &'a Params,
    peers: &'a [Peer],
    agreed: &'a [Decided],
    net: &'a Network,
    payload_names: &'a [String],
}

impl fmt::Debug for Round<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Round")
            .field("number", &self.number)
            .field("peers", &self.peers().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> Round<'a> {
    /// Every peer, in naming order.
    pub fn peers(&self) -> impl ExactSizeIterator<Item = PeerView<'a>> + 'a {
        let net = self.net;
        let agreed = self.agreed;
        self.peers
            .iter()
            .enumerate()
            .map(move |(i, peer)| PeerView {
                name: &peer.name,
                engine: net.try_engine(i),
                votes: &peer.votes,
                blocks: &agreed[..peer.blocks],
                new_blocks: peer.blocks - peer.blocks_before,
            })
    }

    /// The short name of payload `index` (`ev07`).
    pub fn payload_name(&self, index: usize) -> &'a str {
        self.payload_names.get(index).map_or("ev??", String::as_str)
    }

    /// The short name of a block: `Genesis`, `ev07`, or `ev07/Bob` in `Single` mode.
    pub fn block_name(&self, block: &Decided) -> String {
        match block {
            Decided::Genesis => "Genesis".to_string(),
            Decided::Payload {
                payload,
                voter: None,
            } => self.payload_name(*payload).to_string(),
            Decided::Payload {
                payload,
                voter: Some(voter),
            } => format!(
                "{}/{}",
                self.payload_name(*payload),
                self.peers.get(*voter).map_or("?", |p| p.name.as_str())
            ),
            Decided::Other(kind) => (*kind).to_string(),
        }
    }

    /// The display name of `id` (`?` if it is not one of the run's peers).
    pub fn name_of(&self, id: &PeerId) -> &'a str {
        self.net
            .index_of(id)
            .and_then(|i| self.peers.get(i))
            .map_or("?", |peer| peer.name.as_str())
    }
}

/// Sees the run after every round (printing, dumping graphs). An error stops the run.
pub trait OnRound {
    /// Called after round `round.number`.
    fn on_round(&mut self, round: &Round<'_>) -> Result<()>;
}

impl<F: FnMut(&Round<'_>) -> Result<()>> OnRound for F {
    fn on_round(&mut self, round: &Round<'_>) -> Result<()> {
        self(round)
    }
}

/// Runs the scenario without watching it.
pub fn run(params: &Params) -> Result<Summary> {
    run_with(params, &mut |_: &Round<'_>| Ok(()))
}

/// Runs the scenario, calling `on_round` after every round.
///
/// Fails if the parameters are invalid, an engine call fails or reports a peer fault, two
/// peers' blocks disagree, or `max_rounds` pass before every block is decided everywhere.
pub fn run_with(params: &Params, on_round: &mut dyn OnRound) -> Result<Summary> {
    params.validate()?;
    let start = Instant::now();
    let mut sim = Simulation::new(params)?;
    let mut rounds = 0;
    let mut most_held = 0;
    while !sim.done() {
        if rounds == params.max_rounds {
            bail!(
                "no agreement after {rounds} rounds (--max-rounds): {}",
                sim.progress()
            );
        }
        rounds += 1;
        sim.play_round()?;
        let net = &sim.net;
        let held = (0..net.len())
            .filter(|&i| net.is_running(i))
            .map(|i| net.engine(i).graph().held_len())
            .max();
        most_held = most_held.max(held.unwrap_or(0));
        on_round.on_round(&Round {
            number: rounds,
            params,
            peers: &sim.peers,
            agreed: &sim.agreed,
            net: &sim.net,
            payload_names: &sim.payload_names,
        })?;
    }
    let net = &sim.net;
    let running: Vec<usize> = (0..net.len()).filter(|&i| net.is_running(i)).collect();
    let honest = || running.iter().map(|&i| net.engine(i));
    let events_created = honest()
        .map(|engine| {
            let graph = engine.graph();
            graph
                .peer_index(engine.our_id())
                .and_then(|us| graph.tip(us))
                .map_or(0, |tip| graph.node(tip).creator_index() + 1)
        })
        .sum();
    let largest_graph = honest().map(|e| e.graph().len()).max().unwrap_or(0);
    let blocks = running
        .iter()
        .map(|&i| sim.peers[i].blocks)
        .max()
        .unwrap_or(0);
    Ok(Summary {
        rounds,
        blocks,
        messages: (0..net.len()).map(|i| net.traffic(i).messages_sent).sum(),
        dropped: net.undeliverable(),
        events_sent: net.nodes().iter().map(|p| p.events_sent()).sum(),
        events_created,
        largest_graph,
        most_held,
        elapsed: start.elapsed(),
        blocks_digest: blocks_digest(&sim.agreed),
    })
}

/// See [`Summary::blocks_digest`].
fn blocks_digest(agreed: &[Decided]) -> String {
    let mut hasher = blake3::Hasher::new();
    for decided in agreed {
        hasher.update(format!("{decided:?};").as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// The key of the peer at `index` in a run with `seed`.
pub fn peer_key(seed: u64, index: usize) -> SecretKey {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(index as u64 + 1);
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    SecretKey::from_seed(bytes)
}

/// The scenario on top of the network: who syncs with whom and votes what, and what every
/// peer decided so far.
struct Simulation<'p> {
    params: &'p Params,
    rng: ChaCha8Rng,
    net: Network,
    peers: Vec<Peer>,
    payloads: Vec<String>,
    payload_names: Vec<String>,
    payload_index: BTreeMap<String, usize>,
    /// The longest block sequence output by any peer: every peer's must be a prefix.
    agreed: Vec<Decided>,
}

impl<'p> Simulation<'p> {
    fn new(params: &'p Params) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let keys: Vec<SecretKey> = (0..params.peers)
            .map(|i| peer_key(params.seed, i))
            .collect();
        let group = keys.iter().map(SecretKey::peer_id).collect();
        let mut config = Config::new(group, params.consensus_mode);
        config.pruning_window = params.pruning_window;
        config.pruning_removal_margin = params.pruning_removal_margin;
        let width = params.events.saturating_sub(1).to_string().len().max(2);
        let payload_names: Vec<String> = (0..params.events)
            .map(|i| format!("ev{i:0width$}"))
            .collect();
        let payloads: Vec<String> = payload_names
            .iter()
            .map(|name| format!("{name}-{:08x}", rng.random::<u32>()))
            .collect();
        let payload_index = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        let honest = params.honest();
        // The crashed peers are genesis members that never start.
        let net = NetworkBuilder::with_keys(keys)
            .config(config)
            .seed(params.seed)
            .not_started(honest..params.peers)
            .stores(params.keep_stores)
            .build()
            .context("starting the peers")?;
        let peers = (0..params.peers)
            .map(|i| Peer {
                name: peer_name(i),
                votes: Vec::new(),
                unvoted: if i < honest {
                    (0..params.events).collect()
                } else {
                    Vec::new()
                },
                blocks: 0,
                blocks_before: 0,
                expected_blocks: 0,
            })
            .collect();
        let mut sim = Simulation {
            params,
            rng,
            net,
            peers,
            payloads,
            payload_names,
            payload_index,
            agreed: Vec::new(),
        };
        sim.absorb()?;
        Ok(sim)
    }

    /// Whether every honest peer output genesis and every expected payload block.
    fn done(&self) -> bool {
        let expected = self.params.expected_payload_blocks();
        self.running().all(|p| {
            p.blocks > 0
                && self.agreed.first() == Some(&Decided::Genesis)
                && p.expected_blocks >= expected
        })
    }

    /// The peers that run.
    fn running(&self) -> impl Iterator<Item = &Peer> {
        self.peers
            .iter()
            .enumerate()
            .filter(|(i, _)| self.net.is_running(*i))
            .map(|(_, p)| p)
    }

    fn progress(&self) -> String {
        let expected = self.params.expected_payload_blocks();
        let lagging: Vec<String> = self
            .running()
            .map(|p| {
                format!(
                    "{} has {}/{} payload blocks, voted {}/{}",
                    p.name,
                    p.expected_blocks,
                    expected,
                    p.votes.len(),
                    self.params.events
                )
            })
            .collect();
        lagging.join("; ")
    }

    fn play_round(&mut self) -> Result<()> {
        for peer in &mut self.peers {
            peer.blocks_before = peer.blocks;
        }
        let n = self.peers.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut self.rng);
        for position in 0..n {
            let from = order[position];
            let to = order[(position + 1) % n];
            if !self.net.is_running(from) {
                continue;
            }
            if to != from {
                // A request to a crashed peer is dropped by the network.
                self.net.sync(from, to).with_context(|| {
                    format!("{} syncing with {}", peer_name(from), peer_name(to))
                })?;
                self.absorb()?;
            }
            self.maybe_vote(from)?;
        }
        Ok(())
    }

    fn maybe_vote(&mut self, peer: usize) -> Result<()> {
        if self.peers[peer].unvoted.is_empty()
            || !self.rng.random_bool(self.params.vote_probability)
        {
            return Ok(());
        }
        let pick = self.rng.random_range(0..self.peers[peer].unvoted.len());
        let payload = self.peers[peer].unvoted.swap_remove(pick);
        self.peers[peer].votes.push(payload);
        let observation = Observation::OpaquePayload(self.payloads[payload].clone());
        let sent = self.net.traffic(peer).messages_sent;
        self.net
            .vote(peer, observation)
            .with_context(|| format!("{} voting", peer_name(peer)))?;
        ensure!(
            self.net.traffic(peer).messages_sent == sent,
            "a vote produced messages"
        );
        self.absorb()
    }

    /// Checks what the peers output since the last call: no fault, and every new block
    /// agreeing with every other peer's block at its position.
    fn absorb(&mut self) -> Result<()> {
        for peer in 0..self.peers.len() {
            if let Some(fault) = self.net.faults(peer).first() {
                bail!(
                    "{} reported a fault in an honest run: {:?} from {}",
                    peer_name(peer),
                    fault.kind,
                    self.net
                        .index_of(&fault.sender)
                        .map_or("?".to_string(), peer_name)
                );
            }
            // Taken, as an application takes them: a long run keeps only `Decided`s.
            for block in self.net.take_blocks(peer) {
                let decided = decided(&self.net, &self.payload_index, self.params, &block);
                let position = self.peers[peer].blocks;
                match self.agreed.get(position) {
                    Some(agreed) if *agreed != decided => bail!(
                        "agreement broken: block {position} of {} differs from another peer's",
                        peer_name(peer)
                    ),
                    Some(_) => {}
                    None => self.agreed.push(decided.clone()),
                }
                let expected = match decided {
                    Decided::Payload { voter: None, .. } => true,
                    Decided::Payload {
                        voter: Some(voter), ..
                    } => self.net.is_running(voter),
                    Decided::Genesis | Decided::Other(_) => false,
                };
                let record = &mut self.peers[peer];
                if expected {
                    record.expected_blocks += 1;
                }
                record.blocks += 1;
            }
        }
        Ok(())
    }
}

/// How the examples show `block`.
fn decided(
    net: &Network,
    payload_index: &BTreeMap<String, usize>,
    params: &Params,
    block: &Block<String>,
) -> Decided {
    match &block.payload {
        Observation::Genesis { .. } => Decided::Genesis,
        Observation::OpaquePayload(payload) => match payload_index.get(payload) {
            Some(&index) => Decided::Payload {
                payload: index,
                voter: match params.consensus_mode {
                    ConsensusMode::Supermajority => None,
                    ConsensusMode::Single => block
                        .proofs
                        .first()
                        .and_then(|proof| net.index_of(&proof.signer)),
                },
            },
            None => Decided::Other("UnknownPayload"),
        },
        Observation::Add { .. } => Decided::Other("Add"),
        Observation::Remove { .. } => Decided::Other("Remove"),
        Observation::Accusation { .. } => Decided::Other("Accusation"),
        Observation::StartDkg { .. } => Decided::Other("StartDkg"),
        Observation::DkgMessage(_) => Decided::Other("DkgMessage"),
        Observation::DkgResult { .. } => Decided::Other("DkgResult"),
    }
}

/// An [`OnRound`] that writes `DIR/<peer>-<blocks>.dot` for every peer whose block count
/// grew in a round, and the matching `.svg` when Graphviz `dot` is on the `PATH`.
#[derive(Debug)]
pub struct DotDumper {
    dir: PathBuf,
    svg: bool,
    /// Files written.
    pub written: usize,
}

impl DotDumper {
    /// Creates `dir` (and its parents) and looks for Graphviz `dot` on the `PATH`.
    pub fn new(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(DotDumper {
            dir: dir.to_path_buf(),
            svg: graphviz_available(),
            written: 0,
        })
    }

    /// Whether SVG files are rendered too.
    pub fn renders_svg(&self) -> bool {
        self.svg
    }
}

fn graphviz_available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("dot").is_file()))
}

impl OnRound for DotDumper {
    fn on_round(&mut self, round: &Round<'_>) -> Result<()> {
        for peer in round.peers() {
            let Some(engine) = peer.engine else {
                continue;
            };
            if peer.new_blocks == 0 {
                continue;
            }
            let name = |id: &PeerId| round.name_of(id).to_string();
            let options = DotOptions {
                our_id: Some(*engine.our_id()),
                consensus_mode: engine.config().consensus_mode,
                name: &name,
            };
            let path = self
                .dir
                .join(format!("{}-{}.dot", peer.name, peer.blocks.len()));
            fs::write(&path, to_dot(engine.graph(), &options))
                .with_context(|| format!("writing {}", path.display()))?;
            self.written += 1;
            if self.svg {
                let svg = path.with_extension("svg");
                let status = Command::new("dot")
                    .arg("-Tsvg")
                    .arg(&path)
                    .arg("-o")
                    .arg(&svg)
                    .status()
                    .context("running Graphviz dot")?;
                ensure!(
                    status.success(),
                    "dot failed on {}: {status}",
                    path.display()
                );
                self.written += 1;
            }
        }
        Ok(())
    }
}
