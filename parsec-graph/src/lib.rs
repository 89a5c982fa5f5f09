//! `parsec-graph`: the signed, fork-aware gossip DAG of parsec-rs.
//!
//! The bottom layer of the workspace (see `DESIGN.md`): identities and signatures
//! (ed25519), hashing (BLAKE3 over a canonical bincode layout), events and their wire form,
//! and the [`Graph`] with its ancestry queries. It is usable on its own by anyone who needs
//! a verified gossip DAG; it does no I/O, spawns no threads and reads no clock.
//!
//! An event enters a graph only as an [`Event`], which is obtained by verifying a
//! [`PackedEvent`] received from a peer, or by signing one's own [`EventContent`].
//!
//! ```
//! use parsec_graph::{Cause, EventContent, EventLimits, Graph, SecretKey};
//!
//! let alice = SecretKey::from_seed([1; 32]);
//! let bob = SecretKey::from_seed([2; 32]);
//! let limits = EventLimits::default();
//! let mut graph = Graph::<String>::new();
//!
//! // Each peer starts with an Initial event.
//! let initial = |key: &SecretKey| EventContent::<String> {
//!     creator: key.peer_id(),
//!     index: 0,
//!     cause: Cause::Initial,
//!     coin_shares: vec![],
//! };
//! let a0 = initial(&alice).sign(&alice, &limits)?;
//! let b0 = initial(&bob).sign(&bob, &limits)?;
//! // Alice asks Bob for gossip; Bob records the request with Alice's event as other-parent.
//! let a1 = EventContent::<String> {
//!     creator: alice.peer_id(),
//!     index: 1,
//!     cause: Cause::Requesting { self_parent: *a0.hash(), recipient: bob.peer_id() },
//!     coin_shares: vec![],
//! }
//! .sign(&alice, &limits)?;
//! let b1 = EventContent::<String> {
//!     creator: bob.peer_id(),
//!     index: 1,
//!     cause: Cause::Request { self_parent: *b0.hash(), other_parent: *a1.hash() },
//!     coin_shares: vec![],
//! }
//! .sign(&bob, &limits)?;
//!
//! // A received event is verified first; the packed form is what travels.
//! let b1 = b1.into_packed().verify(&limits)?;
//! let a0 = graph.insert(a0)?.index();
//! let _b0 = graph.insert(b0)?.index();
//! let a1 = graph.insert(a1)?.index();
//! let b1 = graph.insert(b1)?.index();
//! assert!(graph.is_descendant_of(b1, a0));
//! assert!(graph.sees(b1, a1));
//! assert!(!graph.sees(a1, b1));
//! // Of the voters Alice and Bob, both see A0 through B1: a supermajority of two.
//! let index = |key: &SecretKey| graph.peer_index(&key.peer_id()).ok_or("unknown peer");
//! let voters = [index(&alice)?, index(&bob)?];
//! assert!(graph.strongly_sees(b1, a0, &voters));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod coin_hashes;
#[cfg(feature = "dump-graphs")]
pub mod dot;
mod encoding;
mod event;
mod graph;
mod hashing;
mod id;
mod observation;
pub mod wire;

pub use coin_hashes::{coin_share_message, coin_value_hash, rank_key, round_hash};
pub use encoding::CodecError;
pub use event::{
    Cause, CauseKind, CoinShare, Event, EventContent, EventError, EventLimits, MAX_EVENT_INDEX,
    PackedEvent, PreparedEvent, UnverifiedEvent,
};
pub use graph::{
    EventIndex, EventNode, ForkDetected, Graph, InsertError, Inserted, Pruned, ReadmitError, Stub,
};
pub use hashing::DigestMap;
pub use id::{
    EventHash, KeyCache, ObservationHash, PeerId, PeerIndex, SecretKey, Signature, VerifiedEvents,
};
pub use observation::{
    AccompliceMalice, ConsensusMode, DkgMessage, EncodedEvent, Malice, Observation, ObservationKey,
    Payload, PeerSet, Proof, Unnestable, UnsortedPeerSet, Vote, group_hash,
};
pub use wire::{WireError, WireLimits, WireMessage};
