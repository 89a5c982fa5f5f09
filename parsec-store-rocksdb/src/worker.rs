//! The thread that owns the database: every RocksDB call of a store runs here.

use std::path::Path;

use parsec_core::store::check_ops;
use parsec_core::{Block, Loaded, StoreError, StoreHeader, StoreOp, Stored};
use parsec_graph::{EventHash, Payload, wire};
use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use serde::de::DeserializeOwned;

use crate::layout::{self, BLOCKS, EVENTS, HASHES, META, STUBS};

/// A job for the worker: it answers through a channel of its own.
pub(crate) type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The open database and what it committed (the worker is the only writer, so these
/// stay equal to what the `meta` family says).
pub(crate) struct Worker {
    db: DB,
    header: Option<StoreHeader>,
    events: u64,
    blocks: u64,
}

fn backend(error: rocksdb::Error) -> StoreError {
    StoreError::Backend(error.into_string())
}

fn corrupt(key: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: key.into(),
        reason: reason.into(),
    }
}

fn meta_name(key: &[u8]) -> String {
    format!("{META}/{}", String::from_utf8_lossy(key))
}

impl Worker {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let families = layout::COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&options, path, families).map_err(backend)?;
        let mut worker = Worker {
            db,
            header: None,
            events: 0,
            blocks: 0,
        };
        worker.read_meta()?;
        Ok(worker)
    }

    fn family(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Backend(format!("column family {name} is missing")))
    }

    fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.family(META)?, key).map_err(backend)
    }

    fn meta_u64(&self, key: &[u8]) -> Result<u64, StoreError> {
        match self.meta(key)? {
            None => Ok(0),
            Some(bytes) => Ok(u64::from_le_bytes(bytes.as_slice().try_into().map_err(
                |_| corrupt(meta_name(key), format!("{} bytes, not a u64", bytes.len())),
            )?)),
        }
    }

    /// Checks the format and reads the header and the counts; a new store gets the
    /// current format written.
    fn read_meta(&mut self) -> Result<(), StoreError> {
        let format = match self.meta(layout::FORMAT_KEY)? {
            Some(bytes) => u32::from_le_bytes(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt(meta_name(layout::FORMAT_KEY), "not a format version"))?,
            ),
            None => {
                if self.meta(layout::HEADER_KEY)?.is_some() {
                    return Err(corrupt(meta_name(layout::FORMAT_KEY), "missing"));
                }
                self.write_format()?;
                layout::FORMAT_VERSION
            }
        };
        if format > layout::FORMAT_VERSION {
            return Err(StoreError::UnsupportedFormat {
                found: format,
                supported: layout::FORMAT_VERSION,
            });
        }
        if format < layout::FORMAT_VERSION {
            return Err(StoreError::ObsoleteFormat {
                found: format,
                supported: layout::FORMAT_VERSION,
            });
        }
        self.header = match self.meta(layout::HEADER_KEY)? {
            Some(bytes) => Some(
                wire::decode_value(&bytes)
                    .map_err(|e| corrupt(meta_name(layout::HEADER_KEY), e.to_string()))?,
            ),
            None => None,
        };
        self.events = self.meta_u64(layout::EVENT_COUNT_KEY)?;
        self.blocks = self.meta_u64(layout::BLOCK_COUNT_KEY)?;
        if self.header.is_none() && (self.events > 0 || self.blocks > 0) {
            return Err(corrupt(
                meta_name(layout::HEADER_KEY),
                "missing, yet records are counted",
            ));
        }
        // A committed last record that is gone means the files lost data.
        for (family, count) in [(EVENTS, self.events), (BLOCKS, self.blocks)] {
            if let Some(last) = count.checked_sub(1) {
                let present = self
                    .db
                    .get_pinned_cf(self.family(family)?, layout::position_key(last))
                    .map_err(backend)?
                    .is_some();
                if !present {
                    return Err(corrupt(
                        format!("{family}/{last}"),
                        format!("missing: the store counts {count} records"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn write_format(&self) -> Result<(), StoreError> {
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        let meta = self.family(META)?;
        self.db
            .put_cf_opt(
                meta,
                layout::FORMAT_KEY,
                layout::FORMAT_VERSION.to_le_bytes(),
                &sync,
            )
            .map_err(backend)
    }

    pub(crate) fn loaded(&self) -> Option<Loaded> {
        self.header.map(|header| Loaded {
            header,
            events: self.events,
            blocks: self.blocks,
        })
    }

    pub(crate) fn apply<T: Payload>(&mut self, ops: &[StoreOp<T>]) -> Result<(), StoreError> {
        let header = check_ops(self.header, self.events, self.blocks, ops)?;
        let mut batch = WriteBatch::default();
        let (events_cf, blocks_cf, meta_cf) = (
            self.family(EVENTS)?,
            self.family(BLOCKS)?,
            self.family(META)?,
        );
        let (hashes_cf, stubs_cf) = (self.family(HASHES)?, self.family(STUBS)?);
        let (mut events, mut blocks) = (self.events, self.blocks);
        for op in ops {
            match op {
                // A repeated Init was checked equal to the stored header: nothing to write.
                StoreOp::Init(given) if self.header.is_none() => {
                    batch.put_cf(
                        meta_cf,
                        layout::HEADER_KEY,
                        encode(meta_name(layout::HEADER_KEY), given)?,
                    );
                }
                StoreOp::Init(_) => {}
                StoreOp::Event { position, event } => {
                    let key = format!("{EVENTS}/{position}");
                    let value = encode(key.clone(), event)?;
                    let hash = event
                        .hash()
                        .map_err(|e| StoreError::Backend(format!("cannot hash {key}: {e}")))?;
                    batch.put_cf(events_cf, layout::position_key(*position), value);
                    batch.put_cf(hashes_cf, hash.as_bytes(), layout::position_key(*position));
                    events = position + 1;
                }
                StoreOp::Stub(stub) => {
                    let position = stub.position().get() as u64;
                    let value = encode(format!("{STUBS}/{position}"), stub)?;
                    batch.put_cf(stubs_cf, layout::position_key(position), value);
                }
                StoreOp::Block(block) => {
                    let value = encode(format!("{BLOCKS}/{}", block.sequence), block)?;
                    batch.put_cf(blocks_cf, layout::position_key(block.sequence), value);
                    blocks = block.sequence + 1;
                }
                // An op this build does not know would be lost on restart: refuse the
                // whole batch rather than acknowledge it.
                _ => {
                    return Err(StoreError::Backend(
                        "unsupported store op (written by a newer parsec-core?)".into(),
                    ));
                }
            }
        }
        batch.put_cf(meta_cf, layout::EVENT_COUNT_KEY, events.to_le_bytes());
        batch.put_cf(meta_cf, layout::BLOCK_COUNT_KEY, blocks.to_le_bytes());
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db.write_opt(batch, &sync).map_err(backend)?;
        self.header = header;
        self.events = events;
        self.blocks = blocks;
        Ok(())
    }

    pub(crate) fn events<T: DeserializeOwned>(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<parsec_graph::PackedEvent<T>>, StoreError> {
        self.range(EVENTS, from, limit, self.events)
    }

    /// The event with this hash, with its stub (see [`parsec_core::Store::find`]).
    pub(crate) fn find<T: DeserializeOwned>(
        &self,
        hash: &EventHash,
    ) -> Result<Option<Stored<T>>, StoreError> {
        let name = || format!("{HASHES}/{hash}");
        let Some(value) = self
            .db
            .get_pinned_cf(self.family(HASHES)?, hash.as_bytes())
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let position = layout::key_position(&value)
            .filter(|&p| p < self.events)
            .ok_or_else(|| corrupt(name(), "not the position of a stored event"))?;
        let key = layout::position_key(position);
        let event = self
            .db
            .get_pinned_cf(self.family(EVENTS)?, key)
            .map_err(backend)?
            .ok_or_else(|| corrupt(format!("{EVENTS}/{position}"), "missing"))?;
        let event = wire::decode_value(&event)
            .map_err(|e| corrupt(format!("{EVENTS}/{position}"), e.to_string()))?;
        let stub = match self
            .db
            .get_pinned_cf(self.family(STUBS)?, key)
            .map_err(backend)?
        {
            Some(bytes) => Some(
                wire::decode_value(&bytes)
                    .map_err(|e| corrupt(format!("{STUBS}/{position}"), e.to_string()))?,
            ),
            None => None,
        };
        Ok(Some(Stored {
            position,
            event,
            stub,
        }))
    }

    pub(crate) fn blocks<T: DeserializeOwned>(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<Block<T>>, StoreError> {
        self.range(BLOCKS, from, limit, self.blocks)
    }

    /// Up to `limit` records of `family` from `from` on, below the committed `count`;
    /// a gap or an undecodable record is `Corrupt`.
    fn range<V: DeserializeOwned>(
        &self,
        family: &'static str,
        from: u64,
        limit: usize,
        count: u64,
    ) -> Result<Vec<V>, StoreError> {
        let end = count.min(from.saturating_add(limit as u64));
        if from >= end {
            return Ok(Vec::new());
        }
        let start = layout::position_key(from);
        let iter = self.db.iterator_cf(
            self.family(family)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::with_capacity((end - from) as usize);
        let mut expected = from;
        for item in iter {
            if expected >= end {
                break;
            }
            let (key, value) = item.map_err(backend)?;
            let position = layout::key_position(&key)
                .ok_or_else(|| corrupt(format!("{family}/{key:02x?}"), "not a position key"))?;
            if position != expected {
                return Err(corrupt(
                    format!("{family}/{expected}"),
                    format!("missing: the store counts {count} records"),
                ));
            }
            let record = wire::decode_value(&value)
                .map_err(|e| corrupt(format!("{family}/{position}"), e.to_string()))?;
            out.push(record);
            expected += 1;
        }
        if expected < end {
            return Err(corrupt(
                format!("{family}/{expected}"),
                format!("missing: the store counts {count} records"),
            ));
        }
        Ok(out)
    }
}

/// The stored bytes of `value`, the record at `key`.
fn encode<V: serde::Serialize>(key: String, value: &V) -> Result<Vec<u8>, StoreError> {
    wire::encode_value(value).map_err(|e| StoreError::Backend(format!("cannot encode {key}: {e}")))
}
