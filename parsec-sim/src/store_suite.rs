//! The conformance suite every [`Store`] backend passes (spec §13): round trips, atomic
//! batches, reopening, records left by an interrupted batch, damaged records, large
//! batches and range reads.
//!
//! A backend's test implements [`StoreHarness`] (how to open its storage, and, for a
//! backend that keeps bytes, how to damage them while the store is closed) and awaits
//! [`run`] on any executor:
//!
//! ```
//! use parsec_core::{MemStore, StoreError};
//! use parsec_sim::store_suite::{self, StoreHarness};
//!
//! /// A `MemStore` "reopens" as a clone: the same memory, as a process that never died.
//! struct Mem(MemStore<String>);
//!
//! impl StoreHarness for Mem {
//!     type Store = MemStore<String>;
//!     fn reset(&mut self) {
//!         self.0 = MemStore::new();
//!     }
//!     fn open(&mut self) -> Result<Self::Store, StoreError> {
//!         Ok(self.0.clone())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let report = runtime.block_on(store_suite::run(&mut Mem(MemStore::new())))?;
//! assert!(report.passed.contains(&"round trip"));
//! # Ok(())
//! # }
//! ```

use parsec_core::{Block, Store, StoreError, StoreHeader, StoreOp};
use parsec_graph::{
    Cause, EventHash, Graph, Observation, PackedEvent, Proof, SecretKey, Stub, Vote,
};

use crate::fixtures;

/// How the suite reaches a backend's storage.
pub trait StoreHarness {
    /// The backend.
    type Store: Store<String>;

    /// Forgets everything: the next [`StoreHarness::open`] opens an empty store.
    fn reset(&mut self);

    /// Opens the current storage. Every store the suite opened is dropped before it
    /// opens another, so a backend that locks its files can reopen them.
    fn open(&mut self) -> Result<Self::Store, StoreError>;

    /// While the store is closed, replaces the bytes of the event record at `position`
    /// with `bytes` (a damaged or torn record, or a record past the committed end that a
    /// crashed batch left). Returns `false` if the backend keeps no bytes (the damage
    /// checks are then skipped and reported so).
    fn write_event_record(&mut self, position: u64, bytes: &[u8]) -> bool {
        let _ = (position, bytes);
        false
    }

    /// While the store is closed, records format version `version` as the store's format.
    /// Returns `false` if the backend has no format version.
    fn write_format(&mut self, version: u32) -> bool {
        let _ = version;
        false
    }

    /// The format version this build writes, if the backend has one.
    fn format(&self) -> Option<u32> {
        None
    }
}

/// What [`run`] checked.
#[derive(Clone, Debug, Default)]
pub struct SuiteReport {
    /// Checks that passed.
    pub passed: Vec<&'static str>,
    /// Checks the backend could not take part in (it keeps no bytes to damage).
    pub skipped: Vec<&'static str>,
}

/// A check of the suite that failed.
#[derive(Debug, thiserror::Error)]
#[error("store suite, {check}: {reason}")]
pub struct SuiteFailure {
    /// The check.
    pub check: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// Runs every check on `harness`, each on a fresh store.
pub async fn run<H: StoreHarness>(harness: &mut H) -> Result<SuiteReport, SuiteFailure> {
    let mut report = SuiteReport::default();
    let log = Log::new(600, 300);
    macro_rules! check {
        ($name:literal, $body:expr) => {{
            harness.reset();
            let outcome: Result<bool, String> = $body.await;
            match outcome {
                Ok(true) => report.passed.push($name),
                Ok(false) => report.skipped.push($name),
                Err(reason) => {
                    return Err(SuiteFailure {
                        check: $name,
                        reason,
                    });
                }
            }
        }};
    }
    check!("empty store", empty(harness));
    check!("round trip", round_trip(harness, &log));
    check!("reopen after drop", reopen(harness, &log));
    check!("atomic batches", atomic(harness, &log));
    check!("foreign header", foreign_header(harness, &log));
    check!("range reads", ranges(harness, &log));
    check!("large batch", large_batch(harness));
    check!("interrupted batch", interrupted(harness, &log));
    check!("corrupt record", corrupt(harness, &log));
    check!("newer format", newer_format(harness, &log));
    check!("find by hash", find(harness, &log));
    Ok(report)
}

/// A chain of signed events and a few blocks to store.
struct Log {
    header: StoreHeader,
    events: Vec<PackedEvent<String>>,
    blocks: Vec<Block<String>>,
}

impl Log {
    /// `count` events carrying `size`-byte votes and one block per 50 events.
    fn new(count: usize, size: usize) -> Self {
        let key = fixtures::peer_key(0);
        let header = StoreHeader {
            owner: key.peer_id(),
            genesis: *blake3::hash(b"store suite genesis").as_bytes(),
        };
        Log {
            header,
            events: chain(&key, count, size),
            blocks: (0..count as u64 / 50).map(|i| block(&key, i)).collect(),
        }
    }

    /// Ops writing events `range` (and the blocks among them), after `Init` if the range
    /// starts at 0.
    fn ops(&self, range: std::ops::Range<usize>) -> Vec<StoreOp<String>> {
        let mut ops = Vec::new();
        if range.start == 0 {
            ops.push(StoreOp::Init(self.header));
        }
        for position in range {
            ops.push(StoreOp::Event {
                position: position as u64,
                event: self.events[position].clone(),
            });
            if position % 50 == 49
                && let Some(block) = self.blocks.get(position / 50)
            {
                ops.push(StoreOp::Block(block.clone()));
            }
        }
        ops
    }

    fn blocks_for(&self, events: usize) -> &[Block<String>] {
        &self.blocks[..(events / 50).min(self.blocks.len())]
    }
}

/// `count` events of `key`'s chain, each an opaque vote of `size` bytes.
fn chain(key: &SecretKey, count: usize, size: usize) -> Vec<PackedEvent<String>> {
    let mut events = Vec::with_capacity(count);
    let mut parent = EventHash::from_bytes([7; 32]);
    for index in 0..count as u64 {
        let payload = format!("{index:0>size$}");
        let Ok(vote) = Vote::new(Observation::OpaquePayload(payload), key) else {
            continue;
        };
        let event = fixtures::event(
            key,
            index + 1,
            Cause::Observation {
                self_parent: parent,
                vote: Box::new(vote),
            },
        );
        parent = *event.hash();
        events.push(event.into_packed());
    }
    events
}

/// A chain of `count` events of `key` from its `Initial` event, inserted into a graph,
/// with each one's stub.
fn stubbed_chain(key: &SecretKey, count: usize) -> Vec<(PackedEvent<String>, Stub)> {
    let mut graph = Graph::new();
    let mut out = Vec::with_capacity(count);
    let mut parent: Option<EventHash> = None;
    for index in 0..count as u64 {
        let cause = match parent {
            None => Cause::Initial,
            Some(self_parent) => Cause::Requesting {
                self_parent,
                recipient: key.peer_id(),
            },
        };
        let event = fixtures::event(key, index, cause);
        parent = Some(*event.hash());
        let packed = event.packed().clone();
        let Ok(inserted) = graph.insert(event) else {
            break;
        };
        out.push((packed, graph.node(inserted.index()).stub()));
    }
    out
}

fn block(key: &SecretKey, sequence: u64) -> Block<String> {
    let payload = Observation::OpaquePayload(format!("block {sequence}"));
    let proofs: Vec<Proof> = Vote::new(payload.clone(), key)
        .map(|vote| vec![vote.proof(key.peer_id())])
        .unwrap_or_default();
    Block {
        payload,
        proofs,
        sequence,
        election: sequence,
        position: 0,
    }
}

fn fail<T>(what: impl Into<String>) -> Result<T, String> {
    Err(what.into())
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what()) }
}

fn open<H: StoreHarness>(harness: &mut H) -> Result<H::Store, String> {
    harness.open().map_err(|e| format!("open: {e}"))
}

/// Checks that `store` holds exactly the first `events` events of `log` and their blocks.
async fn holds<S: Store<String>>(store: &S, log: &Log, events: usize) -> Result<(), String> {
    let loaded = store.load().await.map_err(|e| format!("load: {e}"))?;
    let blocks = log.blocks_for(events);
    match loaded {
        Some(loaded) => {
            ensure(loaded.header == log.header, || "another header".into())?;
            ensure(loaded.events == events as u64, || {
                format!("{} events, expected {events}", loaded.events)
            })?;
            ensure(loaded.blocks == blocks.len() as u64, || {
                format!("{} blocks, expected {}", loaded.blocks, blocks.len())
            })?;
        }
        None if events == 0 => return Ok(()),
        None => return fail("load: nothing stored"),
    }
    let read = store
        .events(0, usize::MAX)
        .await
        .map_err(|e| format!("events: {e}"))?;
    ensure(read == log.events[..events], || {
        format!("read {} events unlike the {events} written", read.len())
    })?;
    let read = store
        .blocks(0, usize::MAX)
        .await
        .map_err(|e| format!("blocks: {e}"))?;
    ensure(read == blocks, || "other blocks than written".into())
}

async fn apply<S: Store<String>>(store: &S, ops: Vec<StoreOp<String>>) -> Result<(), String> {
    store.apply(ops).await.map_err(|e| format!("apply: {e}"))
}

async fn empty<H: StoreHarness>(harness: &mut H) -> Result<bool, String> {
    let store = open(harness)?;
    let loaded = store.load().await.map_err(|e| e.to_string())?;
    ensure(loaded.is_none(), || format!("a new store loads {loaded:?}"))?;
    let events = store.events(0, 10).await.map_err(|e| e.to_string())?;
    let blocks = store.blocks(0, 10).await.map_err(|e| e.to_string())?;
    ensure(events.is_empty() && blocks.is_empty(), || {
        "a new store holds records".into()
    })?;
    Ok(true)
}

async fn round_trip<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let store = open(harness)?;
    apply(&store, log.ops(0..1)).await?;
    holds(&store, log, 1).await?;
    // Batches of several sizes, each continuing the last; `Init` again is a no-op.
    let mut at = 1;
    for size in [1, 2, 16, 47, 100] {
        let mut ops = vec![StoreOp::Init(log.header)];
        ops.extend(log.ops(at..at + size));
        apply(&store, ops).await?;
        at += size;
        holds(&store, log, at).await?;
    }
    apply(&store, Vec::new()).await?;
    holds(&store, log, at).await?;
    Ok(true)
}

async fn reopen<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let store = open(harness)?;
    apply(&store, log.ops(0..120)).await?;
    drop(store);
    let store = open(harness)?;
    holds(&store, log, 120).await?;
    // It goes on where it stopped, and keeps it across another reopen.
    apply(&store, log.ops(120..230)).await?;
    drop(store);
    let store = open(harness)?;
    holds(&store, log, 230).await?;
    Ok(true)
}

async fn atomic<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let store = open(harness)?;
    apply(&store, log.ops(0..60)).await?;
    // Batches that break off in the middle: a gap, a repeat, a block out of sequence,
    // ops before any header. Each is refused whole.
    let mut gap = log.ops(60..70);
    gap.extend(log.ops(71..72));
    let mut repeat = log.ops(60..70);
    repeat.extend(log.ops(65..66));
    let mut block = log.ops(60..70);
    block.push(StoreOp::Block(log.blocks[5].clone()));
    for (what, ops) in [("a gap", gap), ("a repeat", repeat), ("a block", block)] {
        match store.apply(ops).await {
            Err(StoreError::OutOfOrder(_)) => {}
            other => return fail(format!("a batch with {what}: {other:?}")),
        }
        holds(&store, log, 60).await?;
    }
    drop(store);
    let store = open(harness)?;
    holds(&store, log, 60).await?;
    apply(&store, log.ops(60..70)).await?;
    holds(&store, log, 70).await?;
    Ok(true)
}

async fn foreign_header<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let store = open(harness)?;
    let mut ops = log.ops(1..3);
    match store.apply(ops.clone()).await {
        Err(StoreError::OutOfOrder(_)) => {}
        other => return fail(format!("events before a header: {other:?}")),
    }
    holds(&store, log, 0).await?;
    apply(&store, log.ops(0..1)).await?;
    let mut other = log.header;
    other.owner = fixtures::peer_key(1).peer_id();
    ops.insert(0, StoreOp::Init(other));
    match store.apply(ops).await {
        Err(StoreError::WrongHeader { stored, given }) if *stored == log.header => {
            ensure(*given == other, || "the error names another header".into())?;
        }
        other => return fail(format!("another owner's header: {other:?}")),
    }
    holds(&store, log, 1).await?;
    Ok(true)
}

async fn ranges<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let store = open(harness)?;
    apply(&store, log.ops(0..300)).await?;
    for (from, limit) in [(0, 1), (0, 300), (17, 40), (255, 300), (299, 5), (150, 0)] {
        let read = store.events(from, limit).await.map_err(|e| e.to_string())?;
        let start = (from as usize).min(300);
        let end = start.saturating_add(limit).min(300);
        ensure(read == log.events[start..end], || {
            format!("events({from}, {limit}) read {} events", read.len())
        })?;
    }
    for from in [300, 301, u64::MAX] {
        let read = store.events(from, 10).await.map_err(|e| e.to_string())?;
        ensure(read.is_empty(), || {
            format!("events({from}, 10) is not empty")
        })?;
    }
    let read = store.blocks(2, 2).await.map_err(|e| e.to_string())?;
    ensure(read == log.blocks[2..4], || "blocks(2, 2)".into())?;
    let read = store.blocks(u64::MAX, 2).await.map_err(|e| e.to_string())?;
    ensure(read.is_empty(), || "blocks past the end".into())?;
    Ok(true)
}

async fn large_batch<H: StoreHarness>(harness: &mut H) -> Result<bool, String> {
    // One batch of 5,000 events of 1 KiB: about 5 MB applied at once.
    let log = Log::new(5_000, 1_024);
    let store = open(harness)?;
    apply(&store, log.ops(0..5_000)).await?;
    drop(store);
    let store = open(harness)?;
    let loaded = store.load().await.map_err(|e| e.to_string())?;
    ensure(loaded.is_some_and(|l| l.events == 5_000), || {
        format!("after one large batch: {loaded:?}")
    })?;
    let mut from = 0;
    while from < 5_000 {
        let read = store.events(from, 1_000).await.map_err(|e| e.to_string())?;
        let at = from as usize;
        ensure(read == log.events[at..at + 1_000], || {
            format!("chunk at {from} differs")
        })?;
        from += 1_000;
    }
    Ok(true)
}

async fn interrupted<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    // A crash in the middle of a batch may leave records past the end the store committed
    // (in a backend whose batches are not atomic on disk): they are not part of the store,
    // and the next batch writes over them.
    let store = open(harness)?;
    apply(&store, log.ops(0..40)).await?;
    drop(store);
    let torn = b"\x01\x02 half of a record";
    if !harness.write_event_record(40, torn) || !harness.write_event_record(41, torn) {
        return Ok(false);
    }
    let store = open(harness)?;
    holds(&store, log, 40).await?;
    let read = store.events(38, 10).await.map_err(|e| e.to_string())?;
    ensure(read == log.events[38..40], || {
        "records past the committed end were read".into()
    })?;
    apply(&store, log.ops(40..45)).await?;
    holds(&store, log, 45).await?;
    Ok(true)
}

async fn corrupt<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let store = open(harness)?;
    apply(&store, log.ops(0..30)).await?;
    drop(store);
    // A valid record cut short, then bytes that are no record at all.
    let mut record =
        parsec_graph::wire::encode_value(&log.events[12]).map_err(|e| e.to_string())?;
    record.truncate(record.len() / 2);
    let garbage = [0xff; 24];
    for (position, bytes) in [(12, &record[..]), (20, &garbage[..])] {
        if !harness.write_event_record(position, bytes) {
            return Ok(false);
        }
    }
    let store = open(harness)?;
    for (from, position) in [(0, 12), (13, 20), (20, 20)] {
        match store.events(from, 30).await {
            Err(StoreError::Corrupt { key, .. }) => {
                ensure(key.contains(&position.to_string()), || {
                    format!("the corrupt key {key} does not name position {position}")
                })?;
            }
            other => {
                return fail(format!(
                    "reading from {from} over a damaged record at {position}: {:?}",
                    other.map(|events| events.len())
                ));
            }
        }
    }
    // The intact records around them still read.
    let read = store.events(0, 12).await.map_err(|e| e.to_string())?;
    ensure(read == log.events[..12], || {
        "records before the damage".into()
    })?;
    let read = store.events(21, 9).await.map_err(|e| e.to_string())?;
    ensure(read == log.events[21..30], || {
        "records after the damage".into()
    })?;
    Ok(true)
}

async fn newer_format<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let Some(format) = harness.format() else {
        return Ok(false);
    };
    let store = open(harness)?;
    apply(&store, log.ops(0..5)).await?;
    drop(store);
    if !harness.write_format(format + 1) {
        return Ok(false);
    }
    match harness.open() {
        Err(StoreError::UnsupportedFormat { found, supported })
            if found == format + 1 && supported == format => {}
        Err(other) => return fail(format!("a newer format: {other}")),
        Ok(_) => return fail("a store of a newer format opened"),
    }
    // Written back, it opens and holds what it held.
    if !harness.write_format(format) {
        return fail("the format could not be written back");
    }
    let store = open(harness)?;
    holds(&store, log, 5).await?;
    Ok(true)
}

/// Events are found by hash, with the stub written for them (or none); a stub for an
/// event not stored fails its whole batch; a stub written again replaces the first.
async fn find<H: StoreHarness>(harness: &mut H, log: &Log) -> Result<bool, String> {
    let chain = stubbed_chain(&SecretKey::from_seed([3; 32]), 120);
    let store = open(harness)?;
    let mut ops = vec![StoreOp::Init(log.header)];
    for (position, (event, stub)) in chain.iter().enumerate() {
        ops.push(StoreOp::Event {
            position: position as u64,
            event: event.clone(),
        });
        if position % 3 == 0 {
            ops.push(StoreOp::Stub(stub.clone()));
        }
    }
    apply(&store, ops).await?;
    let beyond = chain[1].1.clone();
    let refused = store.apply(vec![
        StoreOp::Stub(chain[2].1.clone()),
        StoreOp::Stub(beyond),
    ]);
    // Position 1 is stored: that batch is fine; one naming a position past the end is not.
    refused
        .await
        .map_err(|e| format!("stubs of stored events: {e}"))?;
    let mut other = stubbed_chain(&SecretKey::from_seed([4; 32]), 200);
    let (_, past_end) = other.swap_remove(150);
    match store
        .apply(vec![
            StoreOp::Stub(chain[4].1.clone()),
            StoreOp::Stub(past_end),
        ])
        .await
    {
        Err(StoreError::OutOfOrder(_)) => {}
        other => return fail(format!("a stub past the end: {other:?}")),
    }
    drop(store);
    let store = open(harness)?;
    for (position, (event, stub)) in chain.iter().enumerate() {
        let hash = event.hash().map_err(|e| e.to_string())?;
        let found = store
            .find(&hash)
            .await
            .map_err(|e| format!("find {position}: {e}"))?
            .ok_or_else(|| format!("event {position} not found by hash"))?;
        ensure(found.position == position as u64, || {
            format!("event {position} found at {}", found.position)
        })?;
        ensure(found.event == *event, || {
            format!("event {position} differs")
        })?;
        // Stubs of every third event, of 1 and 2 written later; 4's batch failed.
        let stubbed = position % 3 == 0 || position == 1 || position == 2;
        ensure(found.stub.as_ref() == stubbed.then_some(stub), || {
            format!("event {position}: stub {:?}", found.stub.is_some())
        })?;
    }
    let unknown = store
        .find(&EventHash::from_bytes([9; 32]))
        .await
        .map_err(|e| format!("find unknown: {e}"))?;
    ensure(unknown.is_none(), || "an unknown hash was found".into())?;
    Ok(true)
}
