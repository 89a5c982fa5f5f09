//! The network of honest engines: [`HonestPeer`], its [`NetworkBuilder`], and the syncs,
//! random steps and records of `Network<HonestPeer>`.
//!
//! # How it works
//!
//! Each peer is a `Parsec<String, Coin>` genesis member (or a member that never
//! starts: messages to it are undeliverable). Every engine call (genesis, votes, gossip,
//! message handling) goes through [`Network::call`], and the peer records what the step
//! produced: blocks and faults in order, the number of events to persist, the events and
//! `Events` chunks it sent; its messages go to the outbox as values, or encoded with the
//! sender's wire limits when the network runs over the wire (the recipient then decodes
//! them with `handle_bytes`, as a real driver would).
//!
//! [`Network::sync`] is one sync between two chosen peers; [`Network::step`] picks a
//! random running peer that may gossip and a random recipient among its
//! [`Parsec::gossip_recipients`] that are in the network, from the network's own random
//! stream (stream 0 of the seed, separate from the links' stream), then moves the clock
//! on. [`Network::run_until`] steps until a condition holds.

use std::collections::BTreeSet;

use parsec_coin::Coin;
use parsec_core::{Block, Config, Fault, MemStore, Parsec, Step};
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey, WireError, WireMessage, wire};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::restart::Restart;
use super::{Context, Network, NetworkConditions, Node, Packet};
use crate::fixtures;

/// The engine every honest peer runs.
pub type Engine = Parsec<String, Coin>;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// An engine call returned an error (local misuse or an engine bug).
    #[error("peer {peer}: {source}")]
    Engine {
        /// The number of the peer whose engine failed.
        peer: usize,
        /// The engine's error.
        source: parsec_core::Error,
    },
    /// A peer's own message could not be encoded for the wire.
    #[error("peer {peer} sent a message it cannot encode: {source}")]
    Encode {
        /// The sender's number.
        peer: usize,
        /// The codec's error.
        source: WireError,
    },
    /// A peer's store refused its engine's ops (the peer is stopped).
    #[error("peer {peer}: {source}")]
    Store {
        /// The peer's number.
        peer: usize,
        /// The store's error.
        source: parsec_core::StoreError,
    },
    /// [`Network::restart`] of a peer that is running or never started.
    #[error("peer {0} cannot restart: it is running or never started")]
    CannotRestart(usize),
    /// A restarted engine decided other blocks from its log than the peer had output.
    #[error("peer {peer} restored {restored} blocks unlike the {output} it output")]
    RestoredOtherBlocks {
        /// The peer's number.
        peer: usize,
        /// Blocks the log decided.
        restored: usize,
        /// Blocks the peer had output.
        output: usize,
    },
    /// A peer number outside `0..len()`.
    #[error("no peer with number {0}")]
    NoSuchPeer(usize),
    /// The peer never started or has crashed.
    #[error("peer {0} is not running")]
    NotRunning(usize),
    /// No running peer can gossip to any peer of the network.
    #[error("no peer can gossip")]
    Stalled,
    /// [`NetworkBuilder::coins`] named a number of coins other than one per peer.
    #[error("{coins} coins for {peers} peers")]
    CoinCount {
        /// Coins given.
        coins: usize,
        /// Peers.
        peers: usize,
    },
    /// [`Network::run_until`] reached its step bound before its condition held.
    #[error("condition not met after {steps} steps")]
    StepLimit {
        /// The steps taken.
        steps: u64,
    },
}

/// An honest engine and everything it output (see the module docs).
#[derive(Debug)]
pub struct HonestPeer {
    id: PeerId,
    /// `None` for a peer that never started.
    pub(super) engine: Option<Engine>,
    pub(super) running: bool,
    blocks: Vec<Block<String>>,
    /// Blocks handed out by [`Network::take_blocks`], which `blocks` no longer holds.
    blocks_taken: usize,
    faults: Vec<Fault>,
    persisted: usize,
    events_sent: u64,
    chunks_sent: u64,
    /// What the engine persisted, applied before its messages are sent.
    pub(super) store: MemStore<String>,
    /// Whether `store` is written (without it the peer cannot restart).
    durable: bool,
    catch_up_events: u64,
    readmitted: u64,
    /// How to start the engine again from its store (`None` if it never started).
    pub(super) restart: Option<Restart>,
}

impl HonestPeer {
    fn new(id: PeerId, engine: Option<Engine>, restart: Option<Restart>) -> Self {
        HonestPeer {
            id,
            running: engine.is_some(),
            engine,
            blocks: Vec::new(),
            blocks_taken: 0,
            faults: Vec::new(),
            persisted: 0,
            events_sent: 0,
            chunks_sent: 0,
            store: MemStore::new(),
            durable: true,
            catch_up_events: 0,
            readmitted: 0,
            restart,
        }
    }

    /// Its store: every op its engine asked to persist, applied before the step's
    /// messages were sent.
    pub fn store(&self) -> &MemStore<String> {
        &self.store
    }

    /// Its engine, unless it never started.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Whether it runs (started and not crashed).
    pub fn is_running(&self) -> bool {
        self.running && self.engine.is_some()
    }

    /// Every block it output, in output order, except those taken with
    /// [`Network::take_blocks`].
    pub fn blocks(&self) -> &[Block<String>] {
        &self.blocks
    }

    /// How many of its blocks were taken with [`Network::take_blocks`] (the first ones).
    pub fn blocks_taken(&self) -> usize {
        self.blocks_taken
    }

    /// Every fault it reported, in order.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Events it was asked to persist (every event it inserted, once).
    pub fn persisted(&self) -> usize {
        self.persisted
    }

    /// Events carried by the messages it sent.
    pub fn events_sent(&self) -> u64 {
        self.events_sent
    }

    /// Events it sent from its store to peers that lacked pruned history (catch-up).
    pub fn catch_up_events(&self) -> u64 {
        self.catch_up_events
    }

    /// The syncs `catch_ups` stand for, with their events from the store (without a
    /// store, what memory holds: another member must serve the rest).
    fn catch_up_messages(
        &mut self,
        catch_ups: Vec<parsec_core::CatchUp<String>>,
        peer: usize,
    ) -> Result<Vec<parsec_core::Outgoing<String>>, NetworkError> {
        let mut out = Vec::new();
        for catch_up in catch_ups {
            let stored = if self.durable {
                catch_up
                    .collect(|position, limit| self.store.events_now(position, limit))
                    .map_err(|source| NetworkError::Store { peer, source })?
            } else {
                Vec::new()
            };
            self.catch_up_events += stored.len() as u64;
            out.extend(catch_up.messages(stored));
        }
        Ok(out)
    }

    /// Leading `Events` chunks of large syncs it sent.
    pub fn chunks_sent(&self) -> u64 {
        self.chunks_sent
    }

    /// The running engine, or why there is none.
    fn running_engine(&mut self, peer: usize) -> Result<&mut Engine, NetworkError> {
        match &mut self.engine {
            Some(engine) if self.running => Ok(engine),
            _ => Err(NetworkError::NotRunning(peer)),
        }
    }

    /// Records `step`: applies its `persist` to the store, then (only if that worked)
    /// takes its blocks and faults and puts its messages in the outbox. A failed apply
    /// stops the peer, as a real driver must.
    pub(super) fn record(
        &mut self,
        step: Step<String>,
        ctx: &mut Context<'_, HonestShared>,
    ) -> Result<(), NetworkError> {
        let Step {
            persist,
            send,
            mut blocks,
            mut faults,
            catch_up,
            fetch,
        } = step;
        let events = persist
            .iter()
            .filter(|op| matches!(op, parsec_core::StoreOp::Event { .. }))
            .count();
        if self.durable
            && let Err(source) = self.store.apply_now(persist)
        {
            self.running = false;
            return Err(NetworkError::Store {
                peer: ctx.peer,
                source,
            });
        }
        self.persisted += events;
        self.blocks.append(&mut blocks);
        self.faults.append(&mut faults);
        let limits = self.engine.as_ref().map(|e| e.config().wire_limits);
        let mut send = send;
        send.extend(self.catch_up_messages(catch_up, ctx.peer)?);
        for out in send {
            self.events_sent += out.message.events().len() as u64;
            if matches!(out.message, WireMessage::Events { .. }) {
                self.chunks_sent += 1;
            }
            let packet = match limits {
                Some(limits) if ctx.shared.over_the_wire => {
                    Packet::Bytes(wire::encode(&out.message, &limits).map_err(|source| {
                        NetworkError::Encode {
                            peer: ctx.peer,
                            source,
                        }
                    })?)
                }
                _ => Packet::Message(out.message),
            };
            ctx.send(out.to, packet);
        }
        if let Some(step) = self.readmit(fetch, ctx.peer)? {
            self.record(step, ctx)?;
        }
        Ok(())
    }

    /// Looks `fetch` up in the store and hands the answers to the engine (spec §12.5):
    /// the step that made, if anything was asked for and the peer keeps a store.
    fn readmit(
        &mut self,
        fetch: Vec<parsec_graph::EventHash>,
        peer: usize,
    ) -> Result<Option<Step<String>>, NetworkError> {
        if fetch.is_empty() || !self.durable || !self.running {
            return Ok(None);
        }
        let mut answers = Vec::with_capacity(fetch.len());
        for hash in fetch {
            let found = self
                .store
                .find_now(&hash)
                .map_err(|source| NetworkError::Store { peer, source })?;
            self.readmitted += u64::from(found.is_some());
            answers.push((hash, found));
        }
        let Some(engine) = self.engine.as_mut() else {
            return Ok(None);
        };
        let step = engine
            .readmit(answers)
            .map_err(|source| NetworkError::Engine { peer, source })?;
        Ok(Some(step))
    }

    /// Pruned parents of late events it found in its store and re-admitted.
    pub fn readmitted(&self) -> u64 {
        self.readmitted
    }

    fn vote(
        &mut self,
        observation: Observation<String>,
        ctx: &mut Context<'_, HonestShared>,
    ) -> Result<(), NetworkError> {
        let peer = ctx.peer;
        let step = self
            .running_engine(peer)?
            .vote_for(observation)
            .map_err(|source| NetworkError::Engine { peer, source })?;
        self.record(step, ctx)
    }
}

impl Node for HonestPeer {
    type Shared = HonestShared;
    type Error = NetworkError;

    fn id(&self) -> PeerId {
        self.id
    }

    fn receives(&self) -> bool {
        self.is_running()
    }

    fn gossip(
        &mut self,
        to: PeerId,
        ctx: &mut Context<'_, HonestShared>,
    ) -> Result<bool, NetworkError> {
        let peer = ctx.peer;
        let step = self
            .running_engine(peer)?
            .create_gossip(to)
            .map_err(|source| NetworkError::Engine { peer, source })?;
        self.record(step, ctx)?;
        Ok(true)
    }

    fn receive(
        &mut self,
        from: PeerId,
        packet: Packet,
        ctx: &mut Context<'_, HonestShared>,
    ) -> Result<(), NetworkError> {
        let peer = ctx.peer;
        let engine = self.running_engine(peer)?;
        let step = match packet {
            Packet::Message(message) => engine.handle_message(from, message),
            Packet::Bytes(bytes) => engine.handle_bytes(from, &bytes),
        }
        .map_err(|source| NetworkError::Engine { peer, source })?;
        self.record(step, ctx)
    }
}

/// What a network of honest peers keeps for all of them.
#[derive(Debug)]
pub struct HonestShared {
    /// The random choices of [`Network::step`].
    rng: ChaCha8Rng,
    /// Steps that ran a sync.
    steps: u64,
    /// Whether messages travel as bytes.
    over_the_wire: bool,
}

/// How to build a network of honest peers.
///
/// ```
/// use parsec_graph::ConsensusMode;
/// use parsec_sim::fixtures;
/// use parsec_sim::network::NetworkBuilder;
///
/// // Three of four genesis members run; a quarter of the messages are lost, and every
/// // message is encoded and decoded on the way.
/// let keys = fixtures::peer_keys(4);
/// let mut config = fixtures::genesis_config(&keys, ConsensusMode::Single);
/// config.wire_limits.max_events_per_message = 8;
/// let net = NetworkBuilder::with_keys(keys[..3].to_vec())
///     .config(config)
///     .seed(5)
///     .loss(0.25)
///     .over_the_wire(true)
///     .build()?;
/// assert_eq!(net.len(), 3);
/// # Ok::<(), parsec_sim::network::NetworkError>(())
/// ```
#[derive(Clone, Debug)]
pub struct NetworkBuilder {
    keys: Vec<SecretKey>,
    mode: ConsensusMode,
    config: Option<Config>,
    seed: u64,
    conditions: NetworkConditions,
    over_the_wire: bool,
    not_started: BTreeSet<usize>,
    share_signature_checks: bool,
    coins: Option<Vec<Coin>>,
    stores: bool,
}

impl NetworkBuilder {
    /// `peers` genesis members with keys [`fixtures::peer_key`]`(0..peers)`.
    pub fn new(peers: usize) -> Self {
        Self::with_keys(fixtures::peer_keys(peers))
    }

    /// One peer per key, numbered in order. Defaults: the genesis group is every key,
    /// `Supermajority`, seed 0, perfect links, messages as values, every peer starts, and
    /// the engines share their signature checks.
    pub fn with_keys(keys: Vec<SecretKey>) -> Self {
        NetworkBuilder {
            keys,
            mode: ConsensusMode::Supermajority,
            config: None,
            seed: 0,
            conditions: NetworkConditions::PERFECT,
            over_the_wire: false,
            not_started: BTreeSet::new(),
            share_signature_checks: true,
            coins: None,
            stores: true,
        }
    }

    /// Whether each peer keeps its store (a `MemStore`: the simulated disk, in this
    /// process's memory). Without stores nothing can restart; they are left out to measure
    /// what the engines alone hold in memory. On by default.
    pub fn stores(mut self, on: bool) -> Self {
        self.stores = on;
        self
    }

    /// The consensus mode of the default configuration.
    pub fn mode(mut self, mode: ConsensusMode) -> Self {
        self.mode = mode;
        self
    }

    /// Every engine's configuration, genesis group included (it may name members without
    /// a key here: they never run, and messages to them are dropped).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The seed of every random choice.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How the links behave.
    pub fn conditions(mut self, conditions: NetworkConditions) -> Self {
        self.conditions = conditions;
        self
    }

    /// Loses each message with probability `probability`, on otherwise perfect links.
    pub fn loss(mut self, probability: f64) -> Self {
        self.conditions.drop = probability;
        self
    }

    /// Whether messages are encoded by the sender and decoded by the recipient.
    pub fn over_the_wire(mut self, on: bool) -> Self {
        self.over_the_wire = on;
        self
    }

    /// Peers (by number) that never start: members of the genesis group that never gossip
    /// and never answer.
    pub fn not_started(mut self, peers: impl IntoIterator<Item = usize>) -> Self {
        self.not_started.extend(peers);
        self
    }

    /// Whether the engines share their signature checks (one check per event per process
    /// instead of one per engine: only for engines that trust each other, as here).
    pub fn share_signature_checks(mut self, on: bool) -> Self {
        self.share_signature_checks = on;
        self
    }

    /// Gives peer `i` the coin `coins[i]` (one per key; a threshold coin with that peer's
    /// secret share, say) instead of the coin the configuration names.
    pub fn coins(mut self, coins: Vec<Coin>) -> Self {
        self.coins = Some(coins);
        self
    }

    /// Starts the network: every peer that starts runs `from_genesis`, and what that step
    /// produced is recorded (and sent, if anything).
    pub fn build(self) -> Result<Network, NetworkError> {
        let config = self
            .config
            .unwrap_or_else(|| fixtures::genesis_config(&self.keys, self.mode));
        if let Some(coins) = &self.coins
            && coins.len() != self.keys.len()
        {
            return Err(NetworkError::CoinCount {
                coins: coins.len(),
                peers: self.keys.len(),
            });
        }
        let mut coins = self.coins.map(Vec::into_iter);
        let verified = parsec_graph::VerifiedEvents::new();
        let mut nodes = Vec::with_capacity(self.keys.len());
        let mut genesis = Vec::with_capacity(self.keys.len());
        for (peer, key) in self.keys.into_iter().enumerate() {
            let id = key.peer_id();
            let coin = coins.as_mut().and_then(Iterator::next);
            if self.not_started.contains(&peer) {
                nodes.push(HonestPeer::new(id, None, None));
                continue;
            }
            let restart = Restart {
                key: key.clone(),
                config: config.clone(),
                coin: coin.clone(),
                shared_checks: self.share_signature_checks.then(|| verified.clone()),
            };
            let started = match coin {
                Some(coin) => Parsec::from_genesis(key, config.clone(), coin),
                None => Parsec::new(key, config.clone()),
            };
            let (mut engine, step) =
                started.map_err(|source| NetworkError::Engine { peer, source })?;
            if self.share_signature_checks {
                engine.share_verified_events(verified.clone());
            }
            let mut node = HonestPeer::new(id, Some(engine), Some(restart));
            node.durable = self.stores;
            nodes.push(node);
            genesis.push((peer, step));
        }
        let shared = HonestShared {
            rng: ChaCha8Rng::seed_from_u64(self.seed),
            steps: 0,
            over_the_wire: self.over_the_wire,
        };
        let mut net = Network::from_nodes(nodes, shared, self.seed, self.conditions);
        for (peer, step) in genesis {
            net.call(peer, |node, ctx| node.record(step, ctx))
                .unwrap_or(Err(NetworkError::NoSuchPeer(peer)))?;
        }
        Ok(net)
    }
}

impl Network<HonestPeer> {
    /// Starts `peer_count` genesis members (keys [`fixtures::peer_key`]`(0..peer_count)`,
    /// genesis group = all of them) in consensus mode `mode`, with every random choice
    /// drawn from `seed`, on perfect links.
    pub fn new(peer_count: usize, mode: ConsensusMode, seed: u64) -> Result<Self, NetworkError> {
        NetworkBuilder::new(peer_count)
            .mode(mode)
            .seed(seed)
            .build()
    }

    /// A builder of `peer_count` genesis members (see [`NetworkBuilder`]).
    pub fn builder(peer_count: usize) -> NetworkBuilder {
        NetworkBuilder::new(peer_count)
    }

    /// The number of [`Network::step`]s that ran a sync so far.
    pub fn steps(&self) -> u64 {
        self.shared().steps
    }

    /// The engine of the peer at `peer`.
    ///
    /// # Panics
    /// If `peer >= len()` or the peer never started.
    pub fn engine(&self, peer: usize) -> &Engine {
        match self.node(peer).engine() {
            Some(engine) => engine,
            None => panic!("peer {peer} never started"),
        }
    }

    /// The engine of the peer at `peer`, if it started.
    pub fn try_engine(&self, peer: usize) -> Option<&Engine> {
        self.nodes().get(peer).and_then(HonestPeer::engine)
    }

    /// The engine of the peer at `peer`, mutably: inputs given to it directly are neither
    /// recorded nor sent (tests hand-craft messages this way).
    ///
    /// # Panics
    /// If `peer >= len()` or the peer never started.
    pub fn engine_mut(&mut self, peer: usize) -> &mut Engine {
        match self.node_mut(peer).engine.as_mut() {
            Some(engine) => engine,
            None => panic!("peer {peer} never started"),
        }
    }

    /// Whether the peer at `peer` runs (started and not crashed).
    pub fn is_running(&self, peer: usize) -> bool {
        self.nodes().get(peer).is_some_and(HonestPeer::is_running)
    }

    /// Crashes the peer at `peer`: it keeps its engine (for inspection) but never gossips,
    /// votes or answers again; messages to it are undeliverable.
    pub fn crash(&mut self, peer: usize) -> Result<(), NetworkError> {
        if peer >= self.len() {
            return Err(NetworkError::NoSuchPeer(peer));
        }
        self.node_mut(peer).running = false;
        Ok(())
    }

    /// Every block the peer at `peer` output so far, in output order, except those
    /// taken with [`Network::take_blocks`].
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn blocks(&self, peer: usize) -> &[Block<String>] {
        self.node(peer).blocks()
    }

    /// Hands over the blocks the peer at `peer` output since the last call, as an
    /// application takes them, so that a long run does not keep every block of every
    /// peer. A restart then checks the restored blocks after the taken ones only.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn take_blocks(&mut self, peer: usize) -> Vec<Block<String>> {
        let node = self.node_mut(peer);
        node.blocks_taken += node.blocks.len();
        std::mem::take(&mut node.blocks)
    }

    /// Every fault the peer at `peer` reported so far, in order.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn faults(&self, peer: usize) -> &[Fault] {
        self.node(peer).faults()
    }

    /// How many events the peer at `peer` was asked to persist so far (every event it
    /// inserted, its own and received ones, should be persisted exactly once).
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn persisted(&self, peer: usize) -> usize {
        self.node(peer).persisted()
    }

    /// Every fault reported by any peer, with the number of the reporting peer.
    pub fn all_faults(&self) -> Vec<(usize, &Fault)> {
        self.nodes()
            .iter()
            .enumerate()
            .flat_map(|(i, peer)| peer.faults.iter().map(move |fault| (i, fault)))
            .collect()
    }

    /// Whether the peer at `peer` decided `observation` at least once.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn has_decided(&self, peer: usize, observation: &Observation<String>) -> bool {
        self.blocks(peer).iter().any(|b| b.payload == *observation)
    }

    /// Has the peer at `peer` vote for `observation` (an application payload is
    /// `Observation::OpaquePayload(..)`).
    pub fn vote(
        &mut self,
        peer: usize,
        observation: Observation<String>,
    ) -> Result<(), NetworkError> {
        self.call(peer, |node, ctx| node.vote(observation, ctx))
            .unwrap_or(Err(NetworkError::NoSuchPeer(peer)))
    }

    /// Runs one sync from the peer at `from` to the peer at `to` (which must be one of its
    /// gossip recipients), delivering every message it causes that is due.
    pub fn sync(&mut self, from: usize, to: usize) -> Result<(), NetworkError> {
        for peer in [from, to] {
            if peer >= self.len() {
                return Err(NetworkError::NoSuchPeer(peer));
            }
        }
        self.gossip(from, to).map(drop)
    }

    /// Runs one sync between a random running peer and a random recipient, delivering
    /// every message it causes, then moves the clock on one step. Returns `false` (and
    /// changes nothing) if no peer can gossip.
    pub fn step(&mut self) -> Result<bool, NetworkError> {
        let senders: Vec<(usize, Vec<usize>)> = self
            .nodes()
            .iter()
            .enumerate()
            .filter_map(|(i, peer)| {
                let engine = peer.engine().filter(|_| peer.is_running())?;
                let recipients: Vec<usize> = engine
                    .gossip_recipients()
                    .iter()
                    .filter_map(|id| self.index_of(id))
                    .collect();
                (!recipients.is_empty()).then_some((i, recipients))
            })
            .collect();
        if senders.is_empty() {
            return Ok(false);
        }
        let rng = &mut self.shared_mut().rng;
        let (from, recipients) = &senders[rng.random_range(0..senders.len())];
        let to = recipients[rng.random_range(0..recipients.len())];
        self.sync(*from, to)?;
        self.shared_mut().steps += 1;
        self.advance()?;
        Ok(true)
    }

    /// Runs [`Network::step`] until `done(self)` holds, checked before every step, and
    /// returns the number of steps taken. Fails with [`NetworkError::StepLimit`] after
    /// `max_steps` steps, or [`NetworkError::Stalled`] if no peer can gossip.
    pub fn run_until(
        &mut self,
        max_steps: u64,
        mut done: impl FnMut(&Network) -> bool,
    ) -> Result<u64, NetworkError> {
        let mut taken = 0;
        loop {
            if done(self) {
                return Ok(taken);
            }
            if taken >= max_steps {
                return Err(NetworkError::StepLimit { steps: taken });
            }
            if !self.step()? {
                return Err(NetworkError::Stalled);
            }
            taken += 1;
        }
    }
}
