//! Quiet honest runs (spec §15.10): without adversaries, no peer reports a fault and nothing
//! is logged at `warn` or `error`; with adversaries, every fault blames an adversary.
//!
//! # How it works
//!
//! [`LogCapture`] is a `tracing` subscriber that only listens to `warn!` and `error!` and
//! counts them (keeping the first few messages). The simulation installs it as the thread's
//! default subscriber for the whole run, so whatever the engines log in that run is seen
//! here, even when tests run in parallel on other threads. Faults are checked one by one as
//! the engines report them with [`check_fault`].

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use parsec_core::Fault;
use parsec_graph::PeerId;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use super::{Invariant, Violation};

/// How many logged messages are kept for reports.
const SAMPLES: usize = 8;

/// What a [`LogCapture`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// `warn!` events.
    pub warnings: u64,
    /// `error!` events.
    pub errors: u64,
    /// The first few, formatted.
    pub samples: Vec<String>,
}

/// A `tracing` subscriber that records `warn!` and `error!` events (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct LogCapture {
    seen: Arc<Mutex<Captured>>,
}

impl LogCapture {
    /// A capture that has seen nothing.
    pub fn new() -> Self {
        LogCapture::default()
    }

    /// What was seen so far.
    pub fn captured(&self) -> Captured {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` with this capture as the thread's subscriber.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::subscriber::with_default(self.clone(), f)
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={value:?}", field.name());
    }
}

fn wanted(metadata: &Metadata<'_>) -> bool {
    *metadata.level() <= Level::WARN
}

impl Subscriber for LogCapture {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if wanted(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        wanted(metadata)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::WARN)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if !wanted(metadata) {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *metadata.level() == Level::ERROR {
            seen.errors += 1;
        } else {
            seen.warnings += 1;
        }
        if seen.samples.len() < SAMPLES {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            seen.samples.push(format!(
                "{} {}: {}",
                metadata.level(),
                metadata.target(),
                fields.0
            ));
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Checks one fault reported by honest peer `peer`: none is allowed without adversaries;
/// with adversaries, the sender or the creator of the offending event must be one.
pub fn check_fault(
    peer: usize,
    fault: &Fault,
    adversaries: &BTreeSet<PeerId>,
) -> Result<(), Violation> {
    if adversaries.is_empty() {
        return Err(Violation::new(
            Invariant::Quiet,
            Some(peer),
            format!("fault reported in a run without adversaries: {fault:?}"),
        ));
    }
    let blames_adversary = adversaries.contains(&fault.sender)
        || fault.creator.is_some_and(|c| adversaries.contains(&c));
    if !blames_adversary {
        return Err(Violation::new(
            Invariant::Quiet,
            Some(peer),
            format!("fault blames only honest peers: {fault:?}"),
        ));
    }
    Ok(())
}

/// Checks what was logged in a run: no error ever, and nothing at `warn` or above without
/// adversaries.
pub fn check_logs(adversarial: bool, captured: &Captured) -> Result<(), Violation> {
    // Errors mark internal inconsistencies, which no adversary within the fault bound may
    // cause; warnings (peer faults) are expected with adversaries.
    if captured.errors > 0 || (!adversarial && captured.warnings > 0) {
        return Err(Violation::new(
            Invariant::Quiet,
            None,
            format!(
                "{} warnings and {} errors logged ({}): {}",
                captured.warnings,
                captured.errors,
                if adversarial {
                    "errors are never expected"
                } else {
                    "a run without adversaries"
                },
                captured.samples.join(" | ")
            ),
        ));
    }
    Ok(())
}
