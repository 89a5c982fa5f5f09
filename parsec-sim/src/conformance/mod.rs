//! The conformance corpus and its replay (spec §16): the gossip graphs recorded by the
//! original PARSEC (`graphs/NAME.dot`), the block groups they must produce
//! (`expected/NAME.txt`), and the replay of each graph through our engine.
//!
//! The corpus lives outside the workspace (`../shared/conformance/`, see
//! `ALGORITHM.md` §16) and is only read at test time; nothing here copies it.
//!
//! * The corpus: [`corpus_dir`] finds it, [`corpus_graphs`] lists its graphs with their
//!   expected files.
//! * The readers work on names (strings) only: [`parse_dot`] reads a recorded graph into a
//!   [`DotGraph`] (line based, as the recorder writes one statement per line),
//!   [`recorded_order`] gives the order in which its events are inserted (§16.5), and
//!   [`parse_expected`] reads an expected-blocks file. They fail with a [`ParseError`].
//! * [`replay`] turns the names into keys and signed events, feeds them to an engine and
//!   compares the decided groups (the `replay` binary and the conformance test share it).

mod corpus;
mod dot;
mod error;
mod expected;
pub mod replay;

pub use corpus::{CORPUS_DIR_ENV, corpus_dir, corpus_graphs};
pub use dot::{
    DotCause, DotEvent, DotGraph, DotObservation, parse_dot, recorded_order, split_event_name,
};
pub use error::ParseError;
pub use expected::parse_expected;
