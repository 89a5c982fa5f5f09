//! Crash and restart from the store: a crashed honest peer is rebuilt with
//! [`Parsec::restore`](parsec_core::Parsec::restore) from what its [`MemStore`] holds, as a
//! real node restarts from its disk.
//!
//! The store is written before a step's messages leave (see `HonestPeer::record`), so
//! whatever the peer sent is in its log, and the restored engine continues its chain
//! without creating a second event at any index it used.

use parsec_coin::Coin;
use parsec_core::{Config, Parsec};
use parsec_graph::{SecretKey, VerifiedEvents};

use super::{HonestPeer, Network, NetworkError};

/// What a peer needs to start again: its key, the genesis configuration, the coin as it
/// was before the first event (a fresh copy; the running coin holds state the log
/// rebuilds), and the network's shared signature checks.
#[derive(Clone, Debug)]
pub(crate) struct Restart {
    pub(crate) key: SecretKey,
    pub(crate) config: Config,
    pub(crate) coin: Option<Coin>,
    pub(crate) shared_checks: Option<VerifiedEvents>,
}

impl Network<HonestPeer> {
    /// Restarts the crashed peer at `peer` from its store: its engine is replaced by one
    /// restored from the log, which must decide exactly the blocks the peer output; then
    /// the peer runs again. Returns the number of events replayed.
    pub fn restart(&mut self, peer: usize) -> Result<u64, NetworkError> {
        if peer >= self.len() {
            return Err(NetworkError::NoSuchPeer(peer));
        }
        let node = self.node_mut(peer);
        let restart = match (&node.restart, node.running) {
            (Some(restart), false) => restart.clone(),
            _ => return Err(NetworkError::CannotRestart(peer)),
        };
        let engine_error = |source| NetworkError::Engine { peer, source };
        let store_error = |source| NetworkError::Store { peer, source };
        let loaded = node
            .store
            .load_now()
            .map_err(store_error)?
            .ok_or(NetworkError::CannotRestart(peer))?;
        let mut restore = match restart.coin {
            Some(coin) => Parsec::restore_with(restart.key, restart.config, coin, &loaded),
            None => Parsec::restore(restart.key, restart.config, &loaded),
        }
        .map_err(engine_error)?;
        let store = &node.store;
        restore
            .run(
                |from, limit| store.events_now(from, limit),
                |hash| store.find_now(hash),
            )
            .map_err(engine_error)?;
        let replayed = restore.next_position();
        let mut restored = restore.finish().map_err(engine_error)?;
        let taken = node.blocks_taken();
        if restored.blocks.len() != taken + node.blocks().len()
            || restored.blocks[taken.min(restored.blocks.len())..] != *node.blocks()
        {
            return Err(NetworkError::RestoredOtherBlocks {
                peer,
                restored: restored.blocks.len(),
                output: taken + node.blocks().len(),
            });
        }
        node.store
            .apply_now(std::mem::take(&mut restored.persist))
            .map_err(store_error)?;
        if let Some(checks) = restart.shared_checks {
            restored.engine.share_verified_events(checks);
        }
        node.engine = Some(restored.engine);
        node.running = true;
        Ok(replayed)
    }
}
