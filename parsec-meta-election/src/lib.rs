//! `parsec-meta-election`: binary Byzantine agreement over the gossip graph.
//!
//! Sits between `parsec-coin` and `parsec-core`. Given one peer's [`Graph`] and the events
//! in insertion order, [`Elections`] runs the meta-elections of spec §6 and §8: it finds
//! each voter's interesting events and observer, advances the meta-vote lists, and decides
//! a group of keys at the event where every candidate's binary agreement is decided.
//! Everything is deterministic and a pure function of the graph and earlier decisions; no
//! hash-map iteration reaches a result.
//!
//! # The boundary
//!
//! * **It returns its own step.** [`Elections::on_insert`] hands back an [`ElectionStep`]:
//!   every [`DecidedGroup`] the event led to, in consensus order, each key with its
//!   payload, its vote proofs and its effective [`MembershipChange`]; and the coin shares
//!   to publish with the caller's next own event. The caller numbers and emits blocks; it
//!   never reads the graph for votes.
//! * **The restart is inside.** After a decision the elections apply the group's
//!   membership changes, start the next election and re-evaluate the graph, which may
//!   decide again (a cascade); each further group is appended to the same step. Nothing
//!   has to be called in between, so nothing can be forgotten.
//! * **The membership rule** (spec §5.4), read from the first registered vote for each
//!   decided key, whoever cast it: an `Add` takes effect iff its peer is not a voter and was
//!   never removed, a `Remove` or an `Accusation` iff its peer is a voter. Changes apply in
//!   decided order. A voter set left empty ends the elections
//!   ([`ElectionError::NoVoters`]).
//!
//! The graph is borrowed mutably only to register a voter a decision adds
//! ([`Graph::register_peer`]); nothing else in it changes.
//!
//! ```
//! use parsec_coin::ParityCoin;
//! use parsec_graph::{Cause, ConsensusMode, EventContent, EventLimits, Graph, Observation, SecretKey, Vote};
//! use parsec_meta_election::{Elections, MembershipChange, VoterSet};
//!
//! // A sole voter decides its own vote as soon as a sync event of its carries it.
//! let key = SecretKey::from_seed([9; 32]);
//! let me = key.peer_id();
//! let limits = EventLimits::default();
//! let mut graph = Graph::<String>::new();
//! let voters = VoterSet::new(vec![(me, graph.register_peer(me)?)]);
//! let mut elections = Elections::new(voters, ConsensusMode::Supermajority, ParityCoin)?;
//!
//! let initial = EventContent { creator: me, index: 0, cause: Cause::Initial, coin_shares: vec![] };
//! let e0 = initial.sign(&key, &limits)?;
//! let hello = Observation::OpaquePayload("hello".to_string());
//! let e1 = EventContent {
//!     creator: me, index: 1, coin_shares: vec![],
//!     cause: Cause::Observation { self_parent: *e0.hash(), vote: Box::new(Vote::new(hello.clone(), &key)?) },
//! }.sign(&key, &limits)?;
//! let e2 = EventContent {
//!     creator: me, index: 2, coin_shares: vec![],
//!     cause: Cause::Requesting { self_parent: *e1.hash(), recipient: me },
//! }.sign(&key, &limits)?;
//!
//! let mut groups = Vec::new();
//! for event in [e0, e1, e2] {
//!     let at = graph.insert(event)?.index();
//!     let step = elections.on_insert(&mut graph, at)?;
//!     assert!(step.coin_shares.is_empty()); // the parity coin publishes nothing
//!     groups.extend(step.decided);
//! }
//! assert_eq!(groups.len(), 1);
//! let decided = &groups[0].entries[0];
//! assert_eq!(decided.payload, Some(hello));
//! assert_eq!(decided.proofs.len(), 1);
//! assert_eq!(decided.membership, MembershipChange::None);
//! // The next election has already started.
//! assert_eq!(elections.election(), 1);
//! assert!(elections.pending().is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod bits;
mod election;
mod key_set;
pub mod metavote;
mod voters;

pub use election::{
    CoinStats, DecidedGroup, DecidedKey, ElectionError, ElectionStep, Elections, MembershipChange,
    MetaDigest, PendingKey,
};
pub use key_set::KeySet;
pub use metavote::{BoolSet, MetaValue, MetaVote, RoundStep, Thresholds};
pub use parsec_graph::Graph;
pub use voters::VoterSet;
