//! The conformance corpus and its replay (spec §16): the gossip graphs recorded by the
//! original PARSEC (`graphs/NAME.dot`), the block groups they must produce
//! (`expected/NAME.txt`), and the replay of each graph through our engine.
//!
//! The corpus lives outside the workspace (`../shared/conformance/`, see
//! `ALGORITHM.md` §16) and is only read at test time; nothing here copies it.
//!
//! * The corpus: [`corpus_location`] is where it is looked for (`$PARSEC_CONFORMANCE_DIR`,
//!   else `../shared/conformance` beside the checkout), [`corpus_dir`] and
//!   [`require_corpus`] find it, [`corpus_graphs`] lists its graphs with their expected
//!   files. The corpus tests are built ignored when it is absent (the build script sets
//!   `cfg(no_conformance_corpus)`), except under CI ([`CI_ENV`] set), where they run and
//!   fail.
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
mod location;
pub mod replay;

pub use corpus::{
    CorpusMissing, corpus_dir, corpus_graphs, corpus_location, expected_file, graph_file,
    require_corpus,
};
pub use dot::{
    DotCause, DotEvent, DotGraph, DotObservation, parse_dot, recorded_order, split_event_name,
};
pub use error::ParseError;
pub use expected::parse_expected;
pub use location::{CI_ENV, CORPUS_DIR_ENV};
