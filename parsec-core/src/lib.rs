//! `parsec-core`: the sans-I/O PARSEC consensus engine.
//!
//! Sits on `parsec-graph`, `parsec-coin` and `parsec-meta-election`, below the adapters and
//! the node. [`Parsec`] takes inputs (votes, gossip messages) and returns a [`Step`]: events
//! to persist, messages to send, blocks decided, faults seen. It never performs I/O, spawns
//! a thread or reads a clock; a driver moves the bytes and makes `persist` durable before
//! sending anything.
//!
//! # The boundaries
//!
//! * **Inputs**: [`Parsec::vote_for`], [`Parsec::create_gossip`], [`Parsec::handle_message`]
//!   and [`Parsec::handle_bytes`]; each returns a [`Step`]. `Err` is local misuse only; a
//!   peer's bad data is a [`Fault`] in the step, never an error and never a panic.
//! * **Queries**: [`Parsec::status`] (the election, pending votes and their vote counts),
//!   [`Parsec::voters`], [`Parsec::peer_state`], [`Parsec::graph`].
//! * **Sync rules** in [`sync`], the one place that says what a request or response asks of
//!   us and how events are packed; the simulator's hand-driven peers use it too.
//! * **Types**: everything in the engine's signatures is re-exported here, so a user need
//!   not name `parsec-graph`; [`wire`] is the only codec (with size limits).
//! * **Durability** in [`store`]: a step's `persist` is a list of [`StoreOp`]s (the
//!   store's header, every inserted event at its insertion position, every block); a
//!   driver applies them with [`Store::apply`] before it sends the step's messages, and
//!   after a restart rebuilds the engine with [`Parsec::restore`], which replays the log
//!   through the normal insertion path and refuses (with [`RestoreError`]) a log that is
//!   not ours, damaged, or would make us fork our own chain. [`MemStore`] is the
//!   in-memory store; `parsec-store-rocksdb` the one on disk.
//! * **Networks** in [`transport`]: the [`Transport`] trait a network adapter implements
//!   (lossy, reordered, authenticated senders, members only, bounded queues), with the
//!   driver loop that sits between it, the engine and the store.
//! * **Memory** ([`Config::pruning_window`], opt-in; spec §12): the graph drops what no
//!   later computation reads, keeping each creator's latest events. An election reads
//!   nothing before its interest floor (a key is interesting only in the ancestry of a
//!   supermajority of its votes, of its one vote in `Single` mode), so an undecided vote
//!   pins only itself, kept as its vote alone; [`Config::pruning_removal_margin`] keeps
//!   what a few voter removals would make an election read again.
//!   [`Status::memory`] says what is held.
//!   Pruning never changes a decision, nor what is sent: a sync that needs pruned events
//!   becomes a [`CatchUp`] in [`Step::catch_up`], which the driver completes from its
//!   store, so that a peer back from an outage is served by any member. See
//!   [`catch_up`] for the driver's loop. A late event whose parent was pruned is held
//!   while the driver finds the parent in its store ([`Step::fetch`], [`Store::find`])
//!   and hands it back ([`Parsec::readmit`]); a restart replays such events the same way
//!   ([`Restore::run`]).
//! * **Test hooks** (`replay_event`, `replay_verified`, `share_verified_events`,
//!   `held_events`, the `testing` module) exist only with the `testing` feature.
//!
//! # Debug builds of a dependent crate
//!
//! Profile settings do not carry over to a crate that depends on this one: add
//! `[profile.dev.package.<name>] opt-level = 3` for `curve25519-dalek`, `ed25519-dalek`,
//! `sha2` and `blake3` to your workspace's `Cargo.toml`, or every signature check of a debug
//! build takes milliseconds (the README has the lines to copy).
//!
//! ```
//! use parsec_core::{CoinKind, Config, ConsensusMode, Observation, Parsec, SecretKey};
//!
//! // Four genesis members gossip until every one of them has decided two votes.
//! let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
//! let group = keys.iter().map(SecretKey::peer_id).collect();
//! let mut config = Config::new(group, ConsensusMode::Supermajority);
//! // The coin is part of the genesis configuration: every member names the same one.
//! config.coin = CoinKind::Concrete;
//! let mut peers = Vec::new();
//! let mut blocks = vec![Vec::new(); keys.len()];
//! for key in &keys {
//!     let (peer, step) = Parsec::<String, _>::new(key.clone(), config.clone())?;
//!     peers.push(peer);
//!     assert!(step.send.is_empty());
//! }
//! for peer in &mut peers {
//!     let step = peer.vote_for(Observation::OpaquePayload("tx".to_string()))?;
//!     assert!(step.blocks.is_empty());
//! }
//! // Round-robin syncs: each peer sends a request and handles the response.
//! for round in 0..40 {
//!     for i in 0..peers.len() {
//!         let j = (i + 1 + round % (peers.len() - 1)) % peers.len();
//!         let to = *peers[j].our_id();
//!         let from = *peers[i].our_id();
//!         let step = peers[i].create_gossip(to)?;
//!         blocks[i].extend(step.blocks);
//!         for out in step.send {
//!             let reply = peers[j].handle_message(from, out.message)?;
//!             blocks[j].extend(reply.blocks);
//!             for back in reply.send {
//!                 let step = peers[i].handle_message(to, back.message)?;
//!                 blocks[i].extend(step.blocks);
//!             }
//!         }
//!     }
//! }
//! // Genesis, then the payload, identically everywhere.
//! for peer_blocks in &blocks {
//!     let payloads: Vec<_> = peer_blocks.iter().map(|b| b.payload.clone()).collect();
//!     assert_eq!(payloads.len(), 2);
//!     assert_eq!(payloads[1], Observation::OpaquePayload("tx".to_string()));
//!     assert!(peer_blocks.iter().all(|b| b.verify(peers[0].voters())));
//! }
//! # Ok::<(), parsec_core::Error>(())
//! ```

#![forbid(unsafe_code)]

mod block;
pub mod catch_up;
mod config;
mod engine;
mod error;
mod future;
mod peers;
mod status;
pub mod store;
pub mod sync;
pub mod transport;

pub use block::Block;
pub use config::{Config, SUGGESTED_PRUNING_WINDOW};
pub use engine::{Outgoing, Parsec, Restore, RestoreError, Restored, Step};
pub use error::{ConfigError, Error, Fault, FaultKind, NotPermitted};
pub use parsec_coin::{
    Coin, CoinFaultKind, CoinKind, CommonCoin, ConcreteCoin, Dealt, KeyEpoch, KeyError,
    SecretShare, ThresholdCoin, deal,
};
// The types of the engine's signatures, so that a user need not name `parsec-graph`.
pub use catch_up::CatchUp;
/// The wire codec (defined in `parsec-graph`, the one place bytes become messages).
pub use parsec_graph::wire;
pub use parsec_graph::{
    ConsensusMode, EventError, EventHash, EventLimits, Graph, InsertError, Observation,
    ObservationKey, PackedEvent, Payload, PeerId, PeerSet, Proof, SecretKey, WireError, WireLimits,
    WireMessage,
};
pub use parsec_meta_election::{CoinStats, ElectionError, MetaDigest};
pub use peers::{PeerFlags, PeerState};
pub use status::{Memory, PendingVote, Status};
pub use store::{Loaded, MemStore, Store, StoreError, StoreHeader, StoreOp, Stored};
pub use transport::{Incoming, Transport, TransportError, TransportFault, TransportFaultKind};

/// Hooks for simulations, replays and tests (feature `testing`): not for production use.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::config::{COIN_SHARE_BYTES, EVENT_OVERHEAD_BYTES};
    /// Signature checks shared between the engines of one process
    /// (`Parsec::share_verified_events`).
    pub use parsec_graph::VerifiedEvents;
    /// What [`Parsec::meta_votes`](crate::Parsec::meta_votes) returns.
    pub use parsec_meta_election::{BoolSet, MetaValue, MetaVote, RoundStep};
}
