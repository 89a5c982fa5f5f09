//! `RocksStore` passes the store conformance suite of parsec-sim, damage checks included,
//! and what is specific to a database on disk: a directory held by another store, a
//! directory that is not a database, and a committed record gone missing.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use parsec_core::{Store, StoreError};
use parsec_sim::store_suite::{self, StoreHarness};
use parsec_store_rocksdb::{RocksStore, layout};
use rocksdb::{ColumnFamilyDescriptor, DB, Options};

struct Rocks {
    root: tempfile::TempDir,
    generation: u32,
}

impl Rocks {
    fn new() -> Self {
        Rocks {
            root: tempfile::tempdir().unwrap(),
            generation: 0,
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.path().join(format!("store-{}", self.generation))
    }
}

/// The database itself, opened behind the store's back (the store must be closed).
fn raw(path: &Path) -> DB {
    let families = layout::COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
    DB::open_cf_descriptors(&Options::default(), path, families).unwrap()
}

impl StoreHarness for Rocks {
    type Store = RocksStore<String>;

    fn reset(&mut self) {
        self.generation += 1;
    }

    fn open(&mut self) -> Result<Self::Store, StoreError> {
        RocksStore::open_blocking(self.dir())
    }

    fn write_event_record(&mut self, position: u64, bytes: &[u8]) -> bool {
        let db = raw(&self.dir());
        let events = db.cf_handle(layout::EVENTS).unwrap();
        db.put_cf(events, layout::position_key(position), bytes)
            .unwrap();
        true
    }

    fn write_format(&mut self, version: u32) -> bool {
        let db = raw(&self.dir());
        let meta = db.cf_handle(layout::META).unwrap();
        db.put_cf(meta, layout::FORMAT_KEY, version.to_le_bytes())
            .unwrap();
        true
    }

    fn format(&self) -> Option<u32> {
        Some(layout::FORMAT_VERSION)
    }
}

#[tokio::test]
async fn the_rocksdb_store_passes_the_store_suite() {
    let report = store_suite::run(&mut Rocks::new()).await.unwrap();
    println!("{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(report.passed.len(), 11);
}

#[tokio::test]
async fn a_store_behind_a_trait_object_works_and_its_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let store: Box<dyn Store<String>> = Box::new(RocksStore::open(dir.path()).await.unwrap());
    assert_eq!(store.load().await.unwrap(), None);
    // A second store on the same directory is refused while the first is open.
    match RocksStore::<String>::open(dir.path()).await {
        Err(StoreError::Backend(reason)) => assert!(reason.contains("lock"), "{reason}"),
        other => panic!("a second open: {other:?}"),
    }
    drop(store);
    RocksStore::<String>::open(dir.path()).await.unwrap();
}

#[tokio::test]
async fn a_directory_that_is_no_database_or_lost_a_record_is_refused() {
    // A file where the directory should be.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"hello").unwrap();
    assert!(matches!(
        RocksStore::<String>::open(&file).await,
        Err(StoreError::Backend(_))
    ));

    // A committed record deleted behind the store's back.
    let mut harness = Rocks::new();
    harness.reset();
    let path = harness.dir();
    let count = {
        let store = RocksStore::<String>::open(&path).await.unwrap();
        store.apply(small_log()).await.unwrap();
        store.load().await.unwrap().unwrap().events
    };
    assert!(count >= 4);
    {
        let db = raw(&path);
        let events = db.cf_handle(layout::EVENTS).unwrap();
        db.delete_cf(events, layout::position_key(2)).unwrap();
    }
    // The last record is checked at open; one in the middle when it is read.
    let store = RocksStore::<String>::open(&path).await.unwrap();
    match store.events(0, 10).await {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "events/2"),
        other => panic!("reading over a missing record: {other:?}"),
    }
    drop(store);
    {
        let db = raw(&path);
        let events = db.cf_handle(layout::EVENTS).unwrap();
        db.delete_cf(events, layout::position_key(count - 1))
            .unwrap();
    }
    match RocksStore::<String>::open(&path).await {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, format!("events/{}", count - 1)),
        other => panic!("opening without the last record: {other:?}"),
    }
}

/// The log of a real engine's first steps (four events or more).
fn small_log() -> Vec<parsec_core::StoreOp<String>> {
    use parsec_graph::ConsensusMode;
    let keys = parsec_sim::fixtures::peer_keys(1);
    let config = parsec_sim::fixtures::genesis_config(&keys, ConsensusMode::Single);
    let (mut engine, step) =
        parsec_core::Parsec::<String, _>::new(keys[0].clone(), config).unwrap();
    let mut ops = step.persist;
    for payload in ["a", "b"] {
        let step = engine
            .vote_for(parsec_sim::fixtures::opaque(payload))
            .unwrap();
        ops.extend(step.persist);
    }
    ops
}
