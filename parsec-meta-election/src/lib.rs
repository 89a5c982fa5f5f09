//! `parsec-meta-election`: binary Byzantine agreement over the gossip graph.
//!
//! Sits between `parsec-coin` and `parsec-core`. Given one peer's [`Graph`] and the events
//! in insertion order, [`Elections`] runs the meta-elections of spec §6 and §8: it finds
//! each voter's interesting events and observer, advances the meta-vote lists, and reports
//! a [`Decision`] (the ordered keys of one block group) at the event where every
//! candidate's binary agreement is decided. The engine then applies the decision
//! (membership) and starts the next election. Everything is deterministic and a pure
//! function of the graph and earlier decisions; no hash-map iteration reaches a result.
//!
//! ```
//! use parsec_coin::ParityCoin;
//! use parsec_graph::{Cause, ConsensusMode, EventContent, EventLimits, Graph, Observation, SecretKey, Vote};
//! use parsec_meta_election::{Elections, VoterSet};
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
//! let vote = Vote::new(Observation::OpaquePayload("hello".to_string()), &key)?;
//! let e1 = EventContent {
//!     creator: me, index: 1, coin_shares: vec![],
//!     cause: Cause::Observation { self_parent: *e0.hash(), vote: Box::new(vote) },
//! }.sign(&key, &limits)?;
//! let e2 = EventContent {
//!     creator: me, index: 2, coin_shares: vec![],
//!     cause: Cause::Requesting { self_parent: *e1.hash(), recipient: me },
//! }.sign(&key, &limits)?;
//!
//! let mut decisions = Vec::new();
//! for event in [e0, e1, e2] {
//!     let at = graph.insert(event)?.index();
//!     if let Some(decision) = elections.on_insert(&graph, at)? {
//!         decisions.push(decision);
//!     }
//! }
//! assert_eq!(decisions.len(), 1);
//! assert_eq!(decisions[0].keys.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod election;
pub mod metavote;
mod voters;

pub use election::{Decision, ElectionError, Elections, MetaDigest};
pub use metavote::{BoolSet, MetaValue, MetaVote, RoundStep, Thresholds};
pub use parsec_graph::Graph;
pub use voters::VoterSet;
