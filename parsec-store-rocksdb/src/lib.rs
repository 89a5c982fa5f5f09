//! [`RocksStore`]: the RocksDB backend of parsec-core's [`Store`] (spec §13), the durable
//! event log a node restarts from and serves lagging peers from.
//!
//! # Layout
//!
//! Three column families ([`layout`]): `events`, keyed by insertion position (big-endian,
//! so a range read is a topological order), `blocks`, keyed by sequence number, and
//! `meta`: the format version, the [`StoreHeader`](parsec_core::StoreHeader) and the committed counts of events and
//! blocks. Keys and values go through the project's one codec (`parsec_graph::wire`).
//! Every [`Store::apply`] is one RocksDB write batch, written with a synced WAL, that
//! also updates the counts: after a crash either the whole batch and its counts are
//! there or none of it is, and records past the committed counts (which a non-atomic
//! writer could leave) are never read.
//!
//! # Threads
//!
//! The database lives on a worker thread of its own; the async methods send it a job and
//! await the answer, so no RocksDB call blocks an async executor, whichever executor it
//! is. Dropping the store finishes the queued jobs, closes the database and joins the
//! worker, so the same directory can be opened again at once.
//!
//! # Errors
//!
//! A record that does not decode, or a committed record that is missing, is
//! [`StoreError::Corrupt`] naming its key (`events/12`, `meta/header`); a store written by
//! a newer format is [`StoreError::UnsupportedFormat`]; RocksDB's own errors are
//! [`StoreError::Backend`]. None of them panics.
//!
//! ```
//! use parsec_core::{Config, ConsensusMode, Parsec, SecretKey, Store};
//! use parsec_store_rocksdb::RocksStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! # runtime.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let key = SecretKey::from_seed([1; 32]);
//! let config = Config::new([key.peer_id()].into_iter().collect(), ConsensusMode::Single);
//! let (mut engine, step) = Parsec::<String, _>::new(key.clone(), config.clone())?;
//! let store = RocksStore::<String>::open(dir.path()).await?;
//! store.apply(step.persist).await?;
//! let step = engine.vote_for(parsec_graph::Observation::OpaquePayload("tx".into()))?;
//! store.apply(step.persist).await?; // durable: now `step.send` may leave
//! drop(store);
//!
//! // After a restart.
//! let store = RocksStore::<String>::open(dir.path()).await?;
//! let loaded = store.load().await?.ok_or("the store was written")?;
//! assert_eq!(loaded.events, engine.graph().len() as u64);
//! let mut restore = Parsec::<String, _>::restore(key, config, &loaded)?;
//! restore.replay(store.events(0, 1024).await?)?;
//! let restored = restore.finish()?;
//! store.apply(restored.persist).await?; // blocks the store missed, if any
//! assert_eq!(restored.engine.graph().len(), engine.graph().len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use parsec_core::{Block, Loaded, Store, StoreError, StoreOp, Stored};
use parsec_graph::{EventHash, PackedEvent, Payload};
use tokio::sync::oneshot;

pub mod layout;
mod worker;

use worker::{Job, Worker};

/// A [`Store`] in a RocksDB directory (see the crate docs).
pub struct RocksStore<T> {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    _payload: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for RocksStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<T: Payload + Send + Sync> RocksStore<T> {
    /// Opens (or creates) the store in directory `path`: checks its format version and
    /// reads its header and counts. Fails with [`StoreError::UnsupportedFormat`] for a
    /// store of a newer format, [`StoreError::Corrupt`] for damaged metadata or a missing
    /// committed record, and [`StoreError::Backend`] if RocksDB cannot open it (another
    /// process holds it, or the directory is not a database).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let (opened, receive) = oneshot::channel();
        let store = Self::start(path.as_ref(), move |result| {
            let _ = opened.send(result);
        })?;
        let outcome = receive.await.ok();
        store.opened(outcome)
    }

    /// [`RocksStore::open`] for a caller outside any async executor (it blocks until the
    /// database is open).
    pub fn open_blocking(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let (opened, receive) = mpsc::sync_channel(1);
        let store = Self::start(path.as_ref(), move |result| {
            let _ = opened.send(result);
        })?;
        let outcome = receive.recv().ok();
        store.opened(outcome)
    }

    /// The store once its worker reported how the open went (`None`: it died first).
    fn opened(mut self, outcome: Option<Result<(), StoreError>>) -> Result<Self, StoreError> {
        match outcome {
            Some(Ok(())) => Ok(self),
            Some(Err(error)) => {
                self.stop();
                Err(error)
            }
            None => {
                self.stop();
                Err(worker_gone())
            }
        }
    }

    /// The directory it was opened in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn start(
        path: &Path,
        opened: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let dir = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("parsec-rocksdb".into())
            .spawn(move || match Worker::open(&dir) {
                Ok(mut worker) => {
                    opened(Ok(()));
                    for job in queue {
                        job(&mut worker);
                    }
                }
                Err(error) => opened(Err(error)),
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the store's thread: {e}")))?;
        Ok(RocksStore {
            jobs: Some(jobs),
            thread: Some(thread),
            path: path.to_path_buf(),
            _payload: PhantomData,
        })
    }

    /// Runs `job` on the worker and awaits its answer.
    async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Worker) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (answer, receive) = oneshot::channel();
        let jobs = self.jobs.as_ref().ok_or_else(worker_gone)?;
        jobs.send(Box::new(move |worker: &mut Worker| {
            let _ = answer.send(job(worker));
        }))
        .map_err(|_| worker_gone())?;
        receive.await.map_err(|_| worker_gone())?
    }
}

impl<T> RocksStore<T> {
    /// Lets the worker finish its queue, close the database and exit.
    fn stop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "the store's thread panicked");
        }
    }
}

impl<T> Drop for RocksStore<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker_gone() -> StoreError {
    StoreError::Backend("the store's thread has stopped".into())
}

#[async_trait::async_trait]
impl<T: Payload + Send + Sync + 'static> Store<T> for RocksStore<T> {
    async fn apply(&self, ops: Vec<StoreOp<T>>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.run(move |worker| worker.apply(&ops)).await
    }

    async fn load(&self) -> Result<Option<Loaded>, StoreError> {
        self.run(|worker| Ok(worker.loaded())).await
    }

    async fn events(&self, from: u64, limit: usize) -> Result<Vec<PackedEvent<T>>, StoreError> {
        self.run(move |worker| worker.events(from, limit)).await
    }

    async fn blocks(&self, from: u64, limit: usize) -> Result<Vec<Block<T>>, StoreError> {
        self.run(move |worker| worker.blocks(from, limit)).await
    }

    async fn find(&self, hash: &EventHash) -> Result<Option<Stored<T>>, StoreError> {
        let hash = *hash;
        self.run(move |worker| worker.find(&hash)).await
    }
}
