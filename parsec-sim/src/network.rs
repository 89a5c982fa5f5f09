//! A minimal deterministic in-process network of honest engines.
//!
//! # How it works
//!
//! [`Network`] owns `N` genesis members, each a `Parsec<String, ParityCoin>` with a key
//! derived from its index ([`peer_key`]). Every random choice comes from one
//! [`ChaCha8Rng`] seeded with the network's `u64` seed, and the engines themselves are
//! deterministic, so a seed reproduces a run exactly.
//!
//! One [`Network::step`] is one sync: a random peer that may gossip picks a random
//! recipient among its [`Parsec::gossip_recipients`] that run in this network, calls
//! [`Parsec::create_gossip`], and the resulting messages are delivered at once, in order,
//! through [`Parsec::handle_message`]; the recipient's replies are delivered back the same
//! way until no message is left. Nothing is lost, duplicated, delayed or reordered: the
//! full simulator with schedules and adversaries builds on this later.
//!
//! The blocks and faults of *every* engine call (genesis, votes, gossip, message handling)
//! are collected per peer, so tests can compare block sequences and assert that an honest
//! run reports no fault.

use std::collections::{BTreeMap, VecDeque};

use parsec_coin::ParityCoin;
use parsec_core::{Block, Config, Fault, Parsec, Step};
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The engine type every peer of a [`Network`] runs.
pub type Engine = Parsec<String, ParityCoin>;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// An engine call returned an error (local misuse or an engine bug).
    #[error("peer {peer}: {source}")]
    Engine {
        /// The index of the peer whose engine failed.
        peer: usize,
        /// The engine's error.
        source: parsec_core::Error,
    },
    /// A peer index outside `0..len()`.
    #[error("no peer with index {0}")]
    NoSuchPeer(usize),
    /// No peer can gossip to any other peer of the network.
    #[error("no peer can gossip")]
    Stalled,
    /// [`Network::run_until`] reached its step bound before its condition held.
    #[error("condition not met after {steps} steps")]
    StepLimit {
        /// The steps taken.
        steps: u64,
    },
}

/// The deterministic key of the peer at `index` in every [`Network`].
pub fn peer_key(index: usize) -> SecretKey {
    SecretKey::from_seed(blake3::derive_key(
        "parsec-sim network peer key v1",
        &(index as u64).to_le_bytes(),
    ))
}

/// One engine with everything it output.
#[derive(Debug)]
struct Peer {
    engine: Engine,
    blocks: Vec<Block<String>>,
    faults: Vec<Fault>,
    persisted: usize,
}

impl Peer {
    fn record(&mut self, step: &mut Step<String>) {
        self.persisted += step.persist.len();
        self.blocks.append(&mut step.blocks);
        self.faults.append(&mut step.faults);
    }
}

/// A deterministic in-process network of honest genesis members (see the module docs).
#[derive(Debug)]
pub struct Network {
    peers: Vec<Peer>,
    index_of: BTreeMap<PeerId, usize>,
    rng: ChaCha8Rng,
    seed: u64,
    steps: u64,
}

impl Network {
    /// Starts `peer_count` genesis members (keys [`peer_key`]`(0..peer_count)`, genesis
    /// group = all of them) in consensus mode `mode`, with every random choice drawn from
    /// `seed`.
    pub fn new(peer_count: usize, mode: ConsensusMode, seed: u64) -> Result<Self, NetworkError> {
        let keys: Vec<SecretKey> = (0..peer_count).map(peer_key).collect();
        let config = Config::new(keys.iter().map(SecretKey::peer_id).collect(), mode);
        let mut peers = Vec::with_capacity(peer_count);
        let mut index_of = BTreeMap::new();
        let verified = parsec_graph::VerifiedEvents::new();
        for (index, key) in keys.into_iter().enumerate() {
            index_of.insert(key.peer_id(), index);
            let (mut engine, mut step) = Parsec::from_genesis(key, config.clone(), ParityCoin)
                .map_err(|source| NetworkError::Engine {
                    peer: index,
                    source,
                })?;
            engine.share_verified_events(verified.clone());
            let mut peer = Peer {
                engine,
                blocks: Vec::new(),
                faults: Vec::new(),
                persisted: 0,
            };
            peer.record(&mut step);
            peers.push(peer);
        }
        Ok(Network {
            peers,
            index_of,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            steps: 0,
        })
    }

    /// The seed this network was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the network has no peers.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The number of [`Network::step`]s that ran a sync so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The identity of the peer at `peer`.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn peer_id(&self, peer: usize) -> PeerId {
        *self.peers[peer].engine.our_id()
    }

    /// The index of the peer with identity `id`, if it runs in this network.
    pub fn index_of(&self, id: &PeerId) -> Option<usize> {
        self.index_of.get(id).copied()
    }

    /// The engine of the peer at `peer`.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn engine(&self, peer: usize) -> &Engine {
        &self.peers[peer].engine
    }

    /// Every block the peer at `peer` output so far, in output order.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn blocks(&self, peer: usize) -> &[Block<String>] {
        &self.peers[peer].blocks
    }

    /// Every fault the peer at `peer` reported so far, in order.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn faults(&self, peer: usize) -> &[Fault] {
        &self.peers[peer].faults
    }

    /// How many events the peer at `peer` was asked to persist so far (every event it
    /// inserted, its own and received ones, should be persisted exactly once).
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn persisted(&self, peer: usize) -> usize {
        self.peers[peer].persisted
    }

    /// Every fault reported by any peer, with the index of the reporting peer.
    pub fn all_faults(&self) -> Vec<(usize, &Fault)> {
        self.peers
            .iter()
            .enumerate()
            .flat_map(|(i, peer)| peer.faults.iter().map(move |fault| (i, fault)))
            .collect()
    }

    /// Has the peer at `peer` vote for `observation` (an application payload is
    /// `Observation::OpaquePayload(..)`).
    pub fn vote(
        &mut self,
        peer: usize,
        observation: Observation<String>,
    ) -> Result<(), NetworkError> {
        let slot = self
            .peers
            .get_mut(peer)
            .ok_or(NetworkError::NoSuchPeer(peer))?;
        let mut step = slot
            .engine
            .vote_for(observation)
            .map_err(|source| NetworkError::Engine { peer, source })?;
        slot.record(&mut step);
        Ok(())
    }

    /// Runs one sync between a random peer and a random recipient, delivering every
    /// message it causes. Returns `false` (and changes nothing) if no peer can gossip.
    pub fn step(&mut self) -> Result<bool, NetworkError> {
        let senders: Vec<(usize, Vec<usize>)> = self
            .peers
            .iter()
            .enumerate()
            .filter_map(|(i, peer)| {
                let recipients: Vec<usize> = peer
                    .engine
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
        let (from, recipients) = &senders[self.rng.random_range(0..senders.len())];
        let to = recipients[self.rng.random_range(0..recipients.len())];
        self.sync(*from, to)?;
        self.steps += 1;
        Ok(true)
    }

    /// Runs one sync from the peer at `from` to the peer at `to` (which must be one of its
    /// gossip recipients), delivering every message it causes.
    pub fn sync(&mut self, from: usize, to: usize) -> Result<(), NetworkError> {
        let to_id = self
            .peers
            .get(to)
            .map(|peer| *peer.engine.our_id())
            .ok_or(NetworkError::NoSuchPeer(to))?;
        let sender = self
            .peers
            .get_mut(from)
            .ok_or(NetworkError::NoSuchPeer(from))?;
        let mut step = sender
            .engine
            .create_gossip(to_id)
            .map_err(|source| NetworkError::Engine { peer: from, source })?;
        let from_id = *sender.engine.our_id();
        let mut queue: VecDeque<_> = step.send.drain(..).map(|out| (from_id, out)).collect();
        sender.record(&mut step);
        while let Some((source_id, out)) = queue.pop_front() {
            // Messages to peers that do not run here are lost.
            let Some(target) = self.index_of(&out.to) else {
                continue;
            };
            let peer = &mut self.peers[target];
            let mut step =
                peer.engine
                    .handle_message(source_id, out.message)
                    .map_err(|source| NetworkError::Engine {
                        peer: target,
                        source,
                    })?;
            let target_id = *peer.engine.our_id();
            queue.extend(step.send.drain(..).map(|out| (target_id, out)));
            peer.record(&mut step);
        }
        Ok(())
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
