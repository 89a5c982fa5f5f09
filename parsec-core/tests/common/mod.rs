//! What the engine's integration tests share: engines started by hand, the single message
//! of a step, runs of a whole network ([`parsec_sim::network::Network`], through
//! [`NetExt`]), and seeds that print how to replay a failure. Keys, payloads and signed
//! events come from [`parsec_sim::fixtures`].

// Each test file uses a part of this module.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use parsec_core::{Coin, Config, FaultKind, Parsec, Step, ThresholdCoin, deal};
use parsec_graph::{ConsensusMode, Observation, PeerId, SecretKey, WireMessage};
use parsec_sim::fixtures::{self, Agreed, Rerun};
use parsec_sim::network::{Network, NetworkBuilder};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config as ProptestConfig, RngSeed, TestCaseError, TestRunner};

pub use parsec_sim::fixtures::{
    genesis_config, group, opaque, packed_event, peer_key, peer_keys, seed_from_env,
    seeds_from_env, tamper_signature,
};
pub use parsec_sim::network::Engine;

/// One threshold coin per key, from an epoch dealt for `holders` with `seed`.
pub fn threshold_coins(keys: &[SecretKey], holders: &[PeerId], seed: u64) -> Vec<Coin> {
    let mut dealer_seed = [0u8; 32];
    dealer_seed[..8].copy_from_slice(&seed.to_le_bytes());
    let dealt = deal(holders, 0, dealer_seed).unwrap();
    keys.iter()
        .map(|key| {
            let ours = dealt
                .shares
                .iter()
                .find(|s| s.holder == key.peer_id())
                .cloned();
            Coin::Threshold(Box::new(
                ThresholdCoin::new(dealt.epoch.clone(), ours).unwrap(),
            ))
        })
        .collect()
}

/// The guard that prints how to replay test `test` of file `file` with `seed`.
pub fn rerun(file: &str, test: &str, seed: u64) -> Rerun {
    Rerun::new(seed, fixtures::test_command("parsec-core", file, test))
}

/// Starts every key as a genesis member; the genesis steps decide and report nothing.
pub fn start(keys: &[SecretKey], config: &Config) -> Vec<Engine> {
    keys.iter()
        .map(|k| {
            let (engine, step) = Parsec::new(k.clone(), config.clone()).unwrap();
            assert!(step.send.is_empty());
            assert!(step.faults.is_empty());
            assert!(
                step.blocks.is_empty(),
                "nothing is decided without a sync event"
            );
            assert_eq!(step.inserted().count(), 2, "Initial and the Genesis vote");
            engine
        })
        .collect()
}

/// Alice and Bob, two of four genesis members.
pub fn pair() -> (Engine, Engine) {
    let keys = peer_keys(4);
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut engines = start(&keys[..2], &config).into_iter();
    (engines.next().unwrap(), engines.next().unwrap())
}

/// The single message of a step.
pub fn only_message(step: Step<String>) -> WireMessage<String> {
    assert_eq!(step.send.len(), 1, "expected one message: {:?}", step.send);
    step.send.into_iter().next().unwrap().message
}

/// The kinds of a step's faults.
pub fn kinds(step: &Step<String>) -> Vec<FaultKind> {
    step.faults.iter().map(|f| f.kind.clone()).collect()
}

/// After a bad input, the engines still complete syncs without a fault.
pub fn assert_still_works(mut alice: Engine, mut bob: Engine) {
    let alice_id = *alice.our_id();
    let bob_id = *bob.our_id();
    for _ in 0..3 {
        let request = only_message(alice.create_gossip(bob_id).unwrap());
        let step = bob.handle_message(alice_id, request).unwrap();
        assert!(step.faults.is_empty(), "{:?}", step.faults);
        let response = only_message(step);
        let step = alice.handle_message(bob_id, response).unwrap();
        assert!(step.faults.is_empty(), "{:?}", step.faults);
    }
}

/// The network of `keys` (genesis members of `config`, which may name more) with `seed`,
/// shaped further by `edit`. The genesis steps decide, report and send nothing.
pub fn network_with(
    keys: &[SecretKey],
    config: &Config,
    seed: u64,
    edit: impl FnOnce(NetworkBuilder) -> NetworkBuilder,
) -> Network {
    let builder = NetworkBuilder::with_keys(keys.to_vec())
        .config(config.clone())
        .seed(seed);
    let net = edit(builder).build().unwrap();
    for i in 0..net.len() {
        assert!(net.blocks(i).is_empty(), "nothing is decided at genesis");
        assert!(net.faults(i).is_empty());
        assert_eq!(net.persisted(i), 2, "Initial and the Genesis vote");
        assert_eq!(net.traffic(i).messages_sent, 0);
    }
    net
}

/// The network of `keys` with `seed` on perfect links (see [`network_with`]).
pub fn network(keys: &[SecretKey], config: &Config, seed: u64) -> Network {
    network_with(keys, config, seed, |builder| builder)
}

/// What the tests ask of a whole network.
pub trait NetExt {
    /// Has peer `i` vote `observation`, which must succeed and send nothing.
    fn cast(&mut self, i: usize, observation: Observation<String>);
    /// Random syncs until `done` holds; panics naming `what` after `max_steps`.
    fn reach(&mut self, max_steps: u64, what: &str, done: impl FnMut(&Network) -> bool);
    /// The payloads peer `i` decided, in order.
    fn payloads(&self, i: usize) -> Vec<Observation<String>>;
    /// What peers must agree on about peer `i`'s blocks.
    fn sequence(&self, i: usize) -> Vec<Agreed>;
    /// Whether peer `i` decided every vote of `observation` by `voters` peers: once in
    /// `Supermajority` mode (or for a non-opaque observation), once per voter in `Single`.
    fn has_decided_all(&self, i: usize, observation: &Observation<String>, voters: usize) -> bool;
    /// Checks peer `i`'s blocks of `observation` against the voter set `voters`.
    fn check_blocks_of(&self, i: usize, observation: &Observation<String>, voters: &[PeerId]);
    /// No peer reported a fault.
    fn assert_quiet(&self);
    /// `Events` chunks the peers sent.
    fn chunks(&self) -> u64;
    /// Messages the links lost.
    fn lost(&self) -> u64;
}

fn single(net: &Network, i: usize) -> bool {
    net.engine(i).config().consensus_mode == ConsensusMode::Single
}

impl NetExt for Network {
    fn cast(&mut self, i: usize, observation: Observation<String>) {
        let sent = self.traffic(i).messages_sent;
        self.vote(i, observation).unwrap();
        assert_eq!(self.traffic(i).messages_sent, sent, "a vote sent messages");
    }

    fn reach(&mut self, max_steps: u64, what: &str, done: impl FnMut(&Network) -> bool) {
        if let Err(error) = self.run_until(max_steps, done) {
            panic!("{what}: {error} (PARSEC_SEED={})", self.seed());
        }
    }

    fn payloads(&self, i: usize) -> Vec<Observation<String>> {
        self.blocks(i).iter().map(|b| b.payload.clone()).collect()
    }

    fn sequence(&self, i: usize) -> Vec<Agreed> {
        fixtures::agreed_sequence(self.blocks(i), self.engine(i).config().consensus_mode)
    }

    fn has_decided_all(&self, i: usize, observation: &Observation<String>, voters: usize) -> bool {
        let count = self
            .blocks(i)
            .iter()
            .filter(|b| b.payload == *observation)
            .count();
        if single(self, i) && observation.is_opaque() {
            count == voters
        } else {
            count == 1
        }
    }

    fn check_blocks_of(&self, i: usize, observation: &Observation<String>, voters: &[PeerId]) {
        let single = single(self, i) && observation.is_opaque();
        for block in self.blocks(i).iter().filter(|b| b.payload == *observation) {
            assert!(block.verify(voters), "peer {i}: {block:?}");
            if single {
                assert_eq!(block.proofs.len(), 1, "peer {i}: {block:?}");
            } else {
                assert!(
                    3 * block.proofs.len() > 2 * voters.len(),
                    "peer {i}: {} proofs of {} voters",
                    block.proofs.len(),
                    voters.len()
                );
            }
        }
    }

    fn assert_quiet(&self) {
        for i in 0..self.len() {
            let faults = self.faults(i);
            assert!(faults.is_empty(), "peer {i} reported {faults:?}");
        }
    }

    fn chunks(&self) -> u64 {
        self.nodes().iter().map(|p| p.chunks_sent()).sum()
    }

    fn lost(&self) -> u64 {
        self.links().counts().dropped
    }
}

/// Checks `property` on `cases` values of `strategy`, drawn from `PARSEC_SEED` (else
/// `default_seed`); a failure panics with the smallest failing value found, and prints
/// how to replay the seed.
pub fn check_property<S: Strategy>(
    file: &str,
    test: &str,
    cases: u32,
    default_seed: u64,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let seed = seed_from_env(default_seed);
    let _rerun = rerun(file, test, seed);
    let config = ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(error) = runner.run(&strategy, property) {
        panic!("{test}: {error}");
    }
}
