//! Durability (spec §13): the changes the engine asks a driver to make durable
//! ([`StoreOp`], in [`Step::persist`](crate::Step::persist)), the [`Store`] a backend
//! implements, and [`MemStore`], the in-memory one.
//!
//! # The contract
//!
//! Every input returns a [`Step`](crate::Step); the driver calls [`Store::apply`] with its
//! `persist` and only after `Ok` sends the step's messages. If `apply` fails, the driver
//! sends nothing and stops the engine: a message that carries an event the store does not
//! hold could, after a crash, let the engine create another event at the same index, a
//! fork of its own chain. After a restart the driver reads the store with [`Store::load`]
//! and [`Store::events`] and rebuilds the engine with
//! [`Parsec::restore`](crate::Parsec::restore).
//!
//! Events are stored by *position*: the order in which this engine inserted them (0, 1,
//! 2, ... with no gap). Parents always come before children, so a range read in position
//! order is a topological order, which is what both a restart and a lagging peer need.
//!
//! ```
//! use parsec_core::{Config, ConsensusMode, MemStore, Parsec, SecretKey, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! # runtime.block_on(async {
//! let key = SecretKey::from_seed([1; 32]);
//! let config = Config::new([key.peer_id()].into_iter().collect(), ConsensusMode::Single);
//! let store = MemStore::<String>::new();
//! let (engine, step) = Parsec::<String, _>::new(key.clone(), config.clone())?;
//! store.apply(step.persist).await?; // only then send `step.send`
//!
//! // After a restart: the same engine, from what the store holds.
//! let loaded = store.load().await?.ok_or("the store was written above")?;
//! let mut restore = Parsec::<String, _>::restore(key, config, &loaded)?;
//! loop {
//!     // Pruned parents a logged event needs first (engines that prune; spec §12.5).
//!     let mut answers = Vec::new();
//!     for hash in restore.wants() {
//!         answers.push((*hash, store.find(hash).await?));
//!     }
//!     if !answers.is_empty() {
//!         restore.readmit(answers)?;
//!         continue;
//!     }
//!     let events = store.events(restore.next_position(), 1024).await?;
//!     if events.is_empty() {
//!         break;
//!     }
//!     restore.replay(events)?;
//! }
//! // A synchronous driver: `restore.run(|from, limit| .., |hash| ..)` does the same.
//! let restored = restore.finish()?;
//! store.apply(restored.persist).await?; // blocks the store missed, if any
//! assert_eq!(restored.engine.graph().len(), engine.graph().len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;

use parsec_graph::{DigestMap, EventHash, PackedEvent, Payload, PeerId, Stub};
use serde::{Deserialize, Serialize};

use crate::block::Block;

/// One change to durable state. A step's ops are applied together and in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: Serialize",
    deserialize = "T: serde::de::DeserializeOwned"
))]
#[non_exhaustive]
pub enum StoreOp<T> {
    /// Who owns the store and which genesis it runs: the first op a new engine asks for.
    /// A store that already holds a different header refuses it
    /// ([`StoreError::WrongHeader`]); the same header again is a no-op.
    Init(StoreHeader),
    /// An event this engine inserted, own or received, at its insertion position.
    Event {
        /// The insertion position: one more than the previous event's.
        position: u64,
        /// The event as it travels on the wire.
        event: PackedEvent<T>,
    },
    /// A decided block, keyed by its sequence number (one more than the previous block's).
    Block(Block<T>),
    /// What the graph derived for an event already stored (at [`Stub::position`]), which
    /// puts it back in memory once pruned ([`Store::find`], [`Parsec::readmit`]). Written
    /// right after its event, by engines that prune; the same position again replaces it.
    ///
    /// [`Parsec::readmit`]: crate::Parsec::readmit
    Stub(Stub),
}

/// An event found by hash ([`Store::find`]): where it is stored, and its stub if one was
/// written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored<T> {
    /// Its position.
    pub position: u64,
    /// The event.
    pub event: PackedEvent<T>,
    /// What re-admission needs besides the event ([`StoreOp::Stub`]).
    pub stub: Option<Stub>,
}

/// What a store belongs to: written once, checked on every restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreHeader {
    /// The member whose engine writes the store.
    pub owner: PeerId,
    /// The digest of the genesis configuration the engine runs
    /// (see [`Parsec::store_header`](crate::Parsec::store_header)).
    pub genesis: [u8; 32],
}

/// What [`Store::load`] returns: the header and how much the store holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The header written by the engine's first step.
    pub header: StoreHeader,
    /// Events stored (the next position).
    pub events: u64,
    /// Blocks stored (the next sequence number).
    pub blocks: u64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (I/O, the database): nothing of the failed `apply` is applied.
    #[error("store backend: {0}")]
    Backend(String),
    /// A record could not be read back: the store is damaged.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The record's key, as the backend names it.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The store was written by a newer format than this build reads.
    #[error("store format {found} is newer than this build's {supported}")]
    UnsupportedFormat {
        /// The format found.
        found: u32,
        /// The newest format this build reads.
        supported: u32,
    },
    /// The store was written by an older format than this build reads.
    #[error("store format {found} is older than this build's {supported}")]
    ObsoleteFormat {
        /// The format found.
        found: u32,
        /// The format this build reads.
        supported: u32,
    },
    /// `Init` with a header other than the one stored: another node's or another
    /// genesis's store.
    #[error("the store belongs to {stored:?}, not {given:?}")]
    WrongHeader {
        /// The header in the store.
        stored: Box<StoreHeader>,
        /// The header given.
        given: Box<StoreHeader>,
    },
    /// An op that does not continue the store: an event or block whose position or
    /// sequence is not the next one, or ops before `Init`.
    #[error("op out of order: {0}")]
    OutOfOrder(String),
}

/// Durable storage for one engine (spec §13). Implementations must be safe to share
/// between tasks; every method may be called concurrently with reads, but the driver
/// calls [`Store::apply`] from one task at a time.
#[async_trait::async_trait]
pub trait Store<T: Payload + Send + Sync>: Send + Sync {
    /// Applies `ops` in order, atomically and durably: after `Ok`, every op survives a
    /// crash or power loss; after `Err`, or a crash during the call, either all of them
    /// or none is applied when the store is read again, never a part. An op that does not
    /// continue the store ([`StoreError::OutOfOrder`], [`StoreError::WrongHeader`]) fails
    /// the whole call and changes nothing.
    async fn apply(&self, ops: Vec<StoreOp<T>>) -> Result<(), StoreError>;

    /// The header and the counts, or `None` for a store never written (a first start).
    async fn load(&self) -> Result<Option<Loaded>, StoreError>;

    /// Up to `limit` events from position `from` on, in position order (empty at or past
    /// the end). A record that cannot be decoded is [`StoreError::Corrupt`].
    async fn events(&self, from: u64, limit: usize) -> Result<Vec<PackedEvent<T>>, StoreError>;

    /// Up to `limit` blocks from sequence number `from` on, in order.
    async fn blocks(&self, from: u64, limit: usize) -> Result<Vec<Block<T>>, StoreError>;

    /// The stored event with this hash, with its stub, or `None` if none is stored.
    /// Serves [`Step::fetch`](crate::Step::fetch): a late event's parent the engine
    /// pruned from memory.
    async fn find(&self, hash: &EventHash) -> Result<Option<Stored<T>>, StoreError>;
}

/// Checks that `ops` continue a store at `events` events and `blocks` blocks with header
/// `header`; returns the header after them. Backends share these rules.
pub fn check_ops<T>(
    header: Option<StoreHeader>,
    mut events: u64,
    mut blocks: u64,
    ops: &[StoreOp<T>],
) -> Result<Option<StoreHeader>, StoreError> {
    let mut header = header;
    for op in ops {
        match op {
            StoreOp::Init(given) => match header {
                Some(stored) if stored != *given => {
                    return Err(StoreError::WrongHeader {
                        stored: Box::new(stored),
                        given: Box::new(*given),
                    });
                }
                _ => header = Some(*given),
            },
            _ if header.is_none() => {
                return Err(StoreError::OutOfOrder("an op before Init".into()));
            }
            StoreOp::Event { position, .. } => {
                if *position != events {
                    return Err(StoreError::OutOfOrder(format!(
                        "event at position {position}, expected {events}"
                    )));
                }
                events += 1;
            }
            StoreOp::Stub(stub) => {
                let position = stub.position().get() as u64;
                if position >= events {
                    return Err(StoreError::OutOfOrder(format!(
                        "stub at position {position}, but {events} events are stored"
                    )));
                }
            }
            StoreOp::Block(block) => {
                if block.sequence != blocks {
                    return Err(StoreError::OutOfOrder(format!(
                        "block {}, expected {blocks}",
                        block.sequence
                    )));
                }
                blocks += 1;
            }
        }
    }
    Ok(header)
}

/// A [`Store`] in memory: durable only as long as the process (tests, simulations, and
/// engines that need no restart). Clones share one store, so a test can drop an engine
/// and restore it from a clone.
#[derive(Debug)]
pub struct MemStore<T> {
    inner: std::sync::Arc<Mutex<MemInner<T>>>,
}

impl<T> Clone for MemStore<T> {
    fn clone(&self) -> Self {
        MemStore {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for MemStore<T> {
    fn default() -> Self {
        MemStore {
            inner: std::sync::Arc::new(Mutex::new(MemInner {
                header: None,
                events: Vec::new(),
                by_hash: DigestMap::default(),
                stubs: BTreeMap::new(),
                blocks: BTreeMap::new(),
            })),
        }
    }
}

#[derive(Debug)]
struct MemInner<T> {
    header: Option<StoreHeader>,
    events: Vec<PackedEvent<T>>,
    /// Position by hash, for `find`; filled by `apply` (an event that cannot be hashed
    /// is not in it).
    by_hash: DigestMap<EventHash, u64>,
    stubs: BTreeMap<u64, Stub>,
    blocks: BTreeMap<u64, Block<T>>,
}

impl<T> MemStore<T> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemInner<T>>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("a writer panicked while holding the store".into()))
    }
}

impl<T: Payload> MemStore<T> {
    /// [`Store::apply`] without a future: a `MemStore` never waits, so synchronous
    /// drivers (the simulator) call this directly.
    pub fn apply_now(&self, ops: Vec<StoreOp<T>>) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let blocks = inner.blocks.len() as u64;
        inner.header = check_ops(inner.header, inner.events.len() as u64, blocks, &ops)?;
        for op in ops {
            match op {
                StoreOp::Init(_) => {}
                StoreOp::Event { position, event } => {
                    if let Ok(hash) = event.hash() {
                        inner.by_hash.insert(hash, position);
                    }
                    inner.events.push(event);
                }
                StoreOp::Stub(stub) => {
                    inner.stubs.insert(stub.position().get() as u64, stub);
                }
                StoreOp::Block(block) => {
                    inner.blocks.insert(block.sequence, block);
                }
            }
        }
        Ok(())
    }

    /// [`Store::load`] without a future.
    pub fn load_now(&self) -> Result<Option<Loaded>, StoreError> {
        let inner = self.lock()?;
        Ok(inner.header.map(|header| Loaded {
            header,
            events: inner.events.len() as u64,
            blocks: inner.blocks.len() as u64,
        }))
    }

    /// [`Store::events`] without a future.
    pub fn events_now(&self, from: u64, limit: usize) -> Result<Vec<PackedEvent<T>>, StoreError> {
        let inner = self.lock()?;
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let tail = inner.events.get(from..).unwrap_or_default();
        Ok(tail.iter().take(limit).cloned().collect())
    }

    /// [`Store::find`] without a future.
    pub fn find_now(&self, hash: &EventHash) -> Result<Option<Stored<T>>, StoreError> {
        let inner = self.lock()?;
        let Some(&position) = inner.by_hash.get(hash) else {
            return Ok(None);
        };
        let event = usize::try_from(position)
            .ok()
            .and_then(|at| inner.events.get(at))
            .cloned()
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("hash {hash}"),
                reason: format!("names position {position}, which holds no event"),
            })?;
        Ok(Some(Stored {
            position,
            event,
            stub: inner.stubs.get(&position).cloned(),
        }))
    }

    /// [`Store::blocks`] without a future.
    pub fn blocks_now(&self, from: u64, limit: usize) -> Result<Vec<Block<T>>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .blocks
            .range(from..)
            .take(limit)
            .map(|(_, b)| b.clone())
            .collect())
    }
}

#[async_trait::async_trait]
impl<T: Payload + Send + Sync> Store<T> for MemStore<T> {
    async fn apply(&self, ops: Vec<StoreOp<T>>) -> Result<(), StoreError> {
        self.apply_now(ops)
    }

    async fn load(&self) -> Result<Option<Loaded>, StoreError> {
        self.load_now()
    }

    async fn events(&self, from: u64, limit: usize) -> Result<Vec<PackedEvent<T>>, StoreError> {
        self.events_now(from, limit)
    }

    async fn blocks(&self, from: u64, limit: usize) -> Result<Vec<Block<T>>, StoreError> {
        self.blocks_now(from, limit)
    }

    async fn find(&self, hash: &EventHash) -> Result<Option<Stored<T>>, StoreError> {
        self.find_now(hash)
    }
}
