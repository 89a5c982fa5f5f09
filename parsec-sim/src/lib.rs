//! Deterministic simulation and conformance replay for parsec-rs.
pub mod conformance;
pub mod network;
pub mod replay;
