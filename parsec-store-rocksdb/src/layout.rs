//! How a [`RocksStore`](crate::RocksStore) lays out its data, for tools that read a data
//! directory and for tests that damage one on purpose.

/// Events by insertion position: key [`position_key`], value the encoded `PackedEvent`.
pub const EVENTS: &str = "events";
/// Decided blocks by sequence number: key [`position_key`], value the encoded `Block`.
pub const BLOCKS: &str = "blocks";
/// Metadata: [`FORMAT_KEY`], [`HEADER_KEY`], [`EVENT_COUNT_KEY`], [`BLOCK_COUNT_KEY`].
pub const META: &str = "meta";
/// Event positions by hash: key the 32-byte event hash, value [`position_key`].
pub const HASHES: &str = "hashes";
/// Stubs (what re-admission needs besides the event) by position: key
/// [`position_key`], value the encoded `Stub`.
pub const STUBS: &str = "stubs";
/// Every column family, in the order they are opened.
pub const COLUMN_FAMILIES: [&str; 5] = [EVENTS, BLOCKS, META, HASHES, STUBS];

/// The format version, a little-endian `u32`.
pub const FORMAT_KEY: &[u8] = b"format";
/// The encoded `StoreHeader`, written by the first batch.
pub const HEADER_KEY: &[u8] = b"header";
/// Committed events, a little-endian `u64`.
pub const EVENT_COUNT_KEY: &[u8] = b"events";
/// Committed blocks, a little-endian `u64`.
pub const BLOCK_COUNT_KEY: &[u8] = b"blocks";

/// The format this build writes and the only one it reads (format 1 had no hash index).
pub const FORMAT_VERSION: u32 = 2;

/// The key of position (or sequence number) `n`: big-endian, so keys sort as numbers.
pub fn position_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// The position a key names, if it is one.
pub fn key_position(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}
