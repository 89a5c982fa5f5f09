//! Shared test fixtures: deterministic keys, genesis configurations, signed (and
//! tampered) events, the part of a block every peer must agree on, and seeds from the
//! environment with the command that replays a failure.
//!
//! Integration tests of `parsec-core`, `parsec-sim` and the examples use these instead of
//! keeping their own copies. (`parsec-graph`'s tests keep `tests/support`: depending on
//! this crate would pull the whole stack into the bottom layer's tests.)
//!
//! # How it works
//!
//! * Keys are pure functions of an index ([`peer_key`], the keys of every simulation and
//!   of a default [`Network`](crate::network::Network)) or of a name ([`named_key`]), so a
//!   test and the network it builds agree on identities without passing keys around.
//! * Events are signed with the default [`EventLimits`]; helpers that cannot fail on a
//!   test's own well-formed input panic with the reason instead of returning an error
//!   (they are fixtures, not peer-facing code).
//! * A randomized test takes its seed from `PARSEC_SEED` ([`seed_from_env`]), or loops
//!   over `PARSEC_SEEDS` seeds ([`seeds_from_env`]), and keeps a [`Rerun`] guard alive
//!   while it runs: if the test panics, the guard prints `PARSEC_SEED=<n>` and the command
//!   that replays exactly that seed.
//!
//! ```
//! use parsec_graph::ConsensusMode;
//! use parsec_sim::fixtures::{self, Rerun};
//!
//! let seed = fixtures::seed_from_env(7);
//! let _rerun = Rerun::new(seed, fixtures::test_command("parsec-sim", "network", "my_test"));
//! let keys = fixtures::peer_keys(4);
//! let config = fixtures::genesis_config(&keys, ConsensusMode::Supermajority);
//! assert_eq!(config.genesis_group.len(), 4);
//! assert_eq!(keys[2].peer_id(), fixtures::peer_key(2).peer_id());
//! ```

use parsec_core::{Block, Config};
use parsec_graph::{
    Cause, ConsensusMode, Event, EventContent, EventLimits, Observation, PackedEvent, PeerId,
    PeerSet, SecretKey, Signature,
};

use crate::sim::BlockKey;

/// The environment variable that picks one seed.
pub const SEED_VAR: &str = "PARSEC_SEED";

/// The environment variable that sets how many seeds a seed loop runs.
pub const SEEDS_VAR: &str = "PARSEC_SEEDS";

// ---------------------------------------------------------------------------------------
// Keys and identities.

/// The deterministic key of the peer at `index` in every simulation and every default
/// [`Network`](crate::network::Network).
pub fn peer_key(index: usize) -> SecretKey {
    SecretKey::from_seed(blake3::derive_key(
        "parsec-sim network peer key v1",
        &(index as u64).to_le_bytes(),
    ))
}

/// The keys of peers `0..n` ([`peer_key`]).
pub fn peer_keys(n: usize) -> Vec<SecretKey> {
    (0..n).map(peer_key).collect()
}

/// The deterministic key of a peer named `name` (the blake3 hash of the name, as in
/// `parsec-graph`'s own test support).
pub fn named_key(name: &str) -> SecretKey {
    SecretKey::from_seed(*blake3::hash(name.as_bytes()).as_bytes())
}

/// The identities of `keys`, in order.
pub fn peer_ids(keys: &[SecretKey]) -> Vec<PeerId> {
    keys.iter().map(SecretKey::peer_id).collect()
}

/// The set of the identities of `keys`.
pub fn group(keys: &[SecretKey]) -> PeerSet {
    keys.iter().map(SecretKey::peer_id).collect()
}

/// The default configuration of a genesis group of `keys` in `mode`.
pub fn genesis_config(keys: &[SecretKey], mode: ConsensusMode) -> Config {
    Config::new(group(keys), mode)
}

// ---------------------------------------------------------------------------------------
// Observations and events.

/// An application payload.
pub fn opaque(payload: &str) -> Observation<String> {
    Observation::OpaquePayload(payload.to_string())
}

/// The `Genesis` observation of `ids` for a coin with agreement digest `coin`
/// (`CommonCoin::agreement`), without related information.
pub fn genesis(ids: &[PeerId], coin: [u8; 32]) -> Observation<String> {
    Observation::Genesis {
        group: ids.iter().copied().collect(),
        related_info: Vec::new(),
        coin,
    }
}

/// The event `key` signs at `index` with `cause` and no coin shares, within the default
/// [`EventLimits`] (tests forge what peers send with it).
///
/// # Panics
/// If the signer refuses the content (an index or cause it never signs, such as `Initial`
/// at an index other than 0): sign such contents by hand.
pub fn event(key: &SecretKey, index: u64, cause: Cause<String>) -> Event<String> {
    EventContent {
        creator: key.peer_id(),
        index,
        cause,
        coin_shares: Vec::new(),
    }
    .sign(key, &EventLimits::default())
    .unwrap_or_else(|error| panic!("the fixture cannot sign event {index}: {error}"))
}

/// As [`event`], packed for the wire.
///
/// # Panics
/// As [`event`].
pub fn packed_event(key: &SecretKey, index: u64, cause: Cause<String>) -> PackedEvent<String> {
    event(key, index, cause).into_packed()
}

/// Breaks `event`'s signature (one flipped bit), leaving its content as it was.
pub fn tamper_signature(event: &mut PackedEvent<String>) {
    let mut bytes = *event.signature.as_bytes();
    bytes[0] ^= 0x01;
    event.signature = Signature::from_bytes(bytes);
}

// ---------------------------------------------------------------------------------------
// Blocks.

/// What every peer must agree on about one block: what was decided (with the voter of a
/// `Single`-mode opaque block) and where, in which group (election) and position.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Agreed {
    /// The payload and, for a `Single`-mode opaque block, its voter.
    pub key: BlockKey,
    /// The election that decided it.
    pub election: u64,
    /// Its position among the blocks of that election.
    pub position: u32,
}

impl Agreed {
    /// The agreed part of `block`, decided in `mode`.
    pub fn of(block: &Block<String>, mode: ConsensusMode) -> Agreed {
        Agreed {
            key: BlockKey::of(block, mode),
            election: block.election,
            position: block.position,
        }
    }
}

/// The agreed part of every block of `blocks`, in order.
pub fn agreed_sequence(blocks: &[Block<String>], mode: ConsensusMode) -> Vec<Agreed> {
    blocks.iter().map(|block| Agreed::of(block, mode)).collect()
}

// ---------------------------------------------------------------------------------------
// Seeds.

/// The seed of a test: `PARSEC_SEED` if set, else `default`.
///
/// # Panics
/// If `PARSEC_SEED` is set but is not a `u64`.
pub fn seed_from_env(default: u64) -> u64 {
    match std::env::var(SEED_VAR) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR}={value:?} is not a u64")),
        Err(_) => default,
    }
}

/// The seeds of a seed loop: `PARSEC_SEED` alone if set, else `PARSEC_SEEDS` seeds
/// (`default_count` if unset) from `first` on.
///
/// # Panics
/// If either variable is set but is not a `u64`.
pub fn seeds_from_env(first: u64, default_count: u64) -> Vec<u64> {
    if std::env::var_os(SEED_VAR).is_some() {
        return vec![seed_from_env(first)];
    }
    let count = match std::env::var(SEEDS_VAR) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEEDS_VAR}={value:?} is not a u64")),
        Err(_) => default_count,
    };
    (first..first.saturating_add(count)).collect()
}

/// The command that runs test `test` of integration-test file `file` of `package`
/// (prefix it with `PARSEC_SEED=<n>` to replay one seed).
pub fn test_command(package: &str, file: &str, test: &str) -> String {
    format!("cargo test -p {package} --test {file} -- --exact {test}")
}

/// Prints `replay: PARSEC_SEED=<seed> <command>` if the thread panics while it is alive.
///
/// Keep one alive for as long as a seeded test (or one seed of a seed loop) runs: an
/// invariant's panic and a test's own failed assertion then both say how to replay it.
#[derive(Debug)]
pub struct Rerun {
    seed: u64,
    command: String,
}

impl Rerun {
    /// A guard for `seed`, replayed by `command` (see [`test_command`]).
    pub fn new(seed: u64, command: impl Into<String>) -> Self {
        Rerun {
            seed,
            command: command.into(),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The command that replays the test when `PARSEC_SEED` is set.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// What the guard prints on a panic.
    pub fn replay_line(&self) -> String {
        format!("replay: {SEED_VAR}={} {}", self.seed, self.command)
    }
}

impl Drop for Rerun {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.replay_line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_distinct() {
        assert_eq!(peer_key(3).peer_id(), peer_keys(4)[3].peer_id());
        assert_ne!(peer_key(0).peer_id(), peer_key(1).peer_id());
        assert_eq!(named_key("Alice").peer_id(), named_key("Alice").peer_id());
        assert_ne!(named_key("Alice").peer_id(), named_key("Bob").peer_id());
        let keys = peer_keys(3);
        assert_eq!(group(&keys).len(), 3);
        assert_eq!(peer_ids(&keys)[1], keys[1].peer_id());
    }

    #[test]
    fn tampered_events_no_longer_verify() {
        let key = peer_key(0);
        let mut packed = packed_event(&key, 0, Cause::Initial);
        assert!(packed.clone().verify(&EventLimits::default()).is_ok());
        tamper_signature(&mut packed);
        assert!(packed.verify(&EventLimits::default()).is_err());
    }

    #[test]
    fn replay_line_names_seed_and_command() {
        let rerun = Rerun::new(9, test_command("parsec-core", "voting", "t"));
        assert_eq!(
            rerun.replay_line(),
            "replay: PARSEC_SEED=9 cargo test -p parsec-core --test voting -- --exact t"
        );
    }
}
