//! `parsec-node`: the runnable parsec-rs node. It will assemble the engine
//! (`parsec-core`), `parsec-net-libp2p` and `parsec-store-rocksdb` into a process an
//! operator runs; so far it holds a member's key files ([`keys`]) and the `keygen`
//! command of the `parsec-node` binary.
//!
//! ```
//! use parsec_node::keys;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("parsec-node-doc-{}", std::process::id()));
//! let (key, path) = keys::generate(&dir)?; // dir/node.key, mode 0600
//! assert_eq!(keys::load(&path)?.peer_id(), key.peer_id());
//! println!("member id: {}", keys::id_text(&key.peer_id()));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod keys;
