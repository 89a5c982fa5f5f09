//! `MemStore` passes the store conformance suite (the RocksDB backend runs the same suite
//! in its own crate).

use parsec_core::{MemStore, StoreError};
use parsec_sim::store_suite::{self, StoreHarness};

/// A `MemStore` reopens as a clone of itself: the same memory, as in a process that lives
/// on. It keeps no bytes, so the damage checks do not apply to it.
struct Mem(MemStore<String>);

impl StoreHarness for Mem {
    type Store = MemStore<String>;

    fn reset(&mut self) {
        self.0 = MemStore::new();
    }

    fn open(&mut self) -> Result<Self::Store, StoreError> {
        Ok(self.0.clone())
    }
}

#[test]
fn the_memory_store_passes_the_store_suite() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let report = runtime.block_on(store_suite::run(&mut Mem(MemStore::new())))?;
    println!("{report:?}");
    assert_eq!(report.passed.len(), 8, "{report:?}");
    assert_eq!(
        report.skipped,
        ["interrupted batch", "corrupt record", "newer format"]
    );
    Ok(())
}
