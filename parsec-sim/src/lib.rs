//! Deterministic simulation and conformance replay for parsec-rs.
//!
//! The top of the workspace's test pyramid: it depends on `parsec-core` (and below) and
//! nothing depends on it. Everything here runs on one thread from one `u64` seed.
//!
//! * [`sim`]: the network simulator: schedules of votes, gossip, delays, losses,
//!   duplicates, reordering, partitions and crashes, adversarial peers, the invariants of
//!   spec §15 checked on every run, and run statistics. The integration tests and the
//!   `soak` binary (`cargo run --release -p parsec-sim --bin soak -- --runs N --seed S`)
//!   are built on it.
//! * [`network`]: the one step-by-step in-process network (nodes, the links between them
//!   and the delivery loop) that the simulator, the examples and `parsec-core`'s
//!   integration tests move their messages through, with its network of honest engines.
//! * [`fixtures`]: what tests share: deterministic keys, signed and tampered events,
//!   seeds from `PARSEC_SEED` and the command that replays a failure.
//! * [`conformance`]: the recorded graphs of `../shared/conformance` and their replay
//!   through the engine ([`conformance::replay`], shared by the `replay` binary and the
//!   conformance test).
//! * [`store_suite`]: the conformance suite every `Store` backend passes.
//! * [`drive`]: a driver written against `Transport` and `Store` alone (gossip timer,
//!   persist before send, catch-up from the store), and a genesis group run over any
//!   transports, which the adapters' end-to-end tests share.
//! * [`mem_transport`]: the in-memory `Transport`, and [`transport_suite`], the
//!   conformance suite every `Transport` passes.
pub mod conformance;
pub mod drive;
pub mod fixtures;
pub mod mem_transport;
pub mod network;
pub mod sim;
pub mod split;
pub mod store_suite;
pub mod transport_suite;
