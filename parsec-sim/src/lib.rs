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
//! * [`network`]: the first, minimal in-process network of honest engines (instant,
//!   lossless delivery), kept for its tests and its deterministic peer keys.
//! * [`conformance`]: the recorded graphs of `../shared/conformance` and their replay
//!   through the engine ([`conformance::replay`], shared by the `replay` binary and the
//!   conformance test).
pub mod conformance;
pub mod network;
pub mod sim;
