//! Honest peers' stores in the simulator: persist before send, crash points, and the
//! restart of a crashed peer from what its store kept (spec §13).
//!
//! # How it works
//!
//! When the run has stores ([`StoreBackend`]), every honest step's `persist` is applied
//! to the peer's store before its blocks are checked and its messages sent. A pending
//! [`CrashPoint`] may cut the step short: after the apply (nothing sent), or in the middle
//! of it (a prefix of the ops applied, as a non-atomic writer would leave it), or right
//! after a step that decided. A crash drops the store handle, and the restart opens the
//! store again, so a backend on disk is read back from its files. The restored engine
//! must decide again exactly the blocks the application already took, in order (else
//! [`Invariant::Durability`]); blocks it decides beyond them are new and go through every
//! invariant; votes whose events never reached the store are voted again, as an
//! application resubmits what was not decided.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use parsec_core::{CatchUp, MemStore, Parsec, Step, Store, StoreError, StoreOp};
use parsec_graph::wire;
use parsec_graph::{EventHash, Observation};

use super::invariants::{Invariant, Violation};
use super::peer::{Role, Shared, SimPeer, engine_error};
use super::restarts::CrashPoint;
use crate::network::{Context, Packet, peer_key};

/// Opens the store of the peer with this number; called again after each crash, and must
/// then open what the previous store left.
pub type OpenStore = Arc<dyn Fn(usize) -> Result<Box<dyn Store<String>>, StoreError> + Send + Sync>;

/// Where honest peers keep their logs in a run.
#[derive(Clone, Default)]
pub enum StoreBackend {
    /// No store: nothing is persisted, and restarts are refused. The default for runs
    /// without restarts (it keeps the soak's memory and time as they were).
    #[default]
    None,
    /// A [`MemStore`] per peer, kept across its crashes.
    Memory,
    /// Stores of the caller's backend (a RocksDB directory per peer, say).
    Custom(OpenStore),
}

impl fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreBackend::None => "None",
            StoreBackend::Memory => "Memory",
            StoreBackend::Custom(_) => "Custom",
        })
    }
}

/// The stores of a run and the executor their futures run on.
pub(crate) struct Stores {
    open: OpenStore,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// The stores of `backend`, if it has any.
    pub(crate) fn new(backend: StoreBackend) -> Result<Option<Self>, String> {
        let open = match backend {
            StoreBackend::None => return Ok(None),
            StoreBackend::Custom(open) => open,
            StoreBackend::Memory => {
                let stores: Mutex<BTreeMap<usize, MemStore<String>>> = Mutex::default();
                Arc::new(move |peer| {
                    let mut stores = stores
                        .lock()
                        .map_err(|_| StoreError::Backend("poisoned".into()))?;
                    Ok(Box::new(stores.entry(peer).or_default().clone()) as Box<dyn Store<String>>)
                })
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| format!("cannot build the stores' executor: {e}"))?;
        Ok(Some(Stores { open, runtime }))
    }

    pub(crate) fn open(&self, peer: usize) -> Result<PeerStore, Violation> {
        (self.open)(peer)
            .map(PeerStore)
            .map_err(|e| store_error(peer, "open", e))
    }
}

/// A peer's open store.
pub(crate) struct PeerStore(Box<dyn Store<String>>);

impl fmt::Debug for PeerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerStore")
    }
}

fn store_error(peer: usize, what: &str, error: StoreError) -> Violation {
    Violation::new(
        Invariant::Durability,
        Some(peer),
        format!("store {what}: {error}"),
    )
}

type Ctx<'a, 'b> = Context<'a, Shared>;

impl SimPeer {
    /// Applies a step's `persist` (see the module docs). Returns `false` if the peer
    /// crashed before sending anything of the step.
    pub(crate) fn persist(
        &mut self,
        mut ops: Vec<StoreOp<String>>,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<bool, Violation> {
        let peer = ctx.peer;
        let (Some(stores), Some(store)) = (&ctx.shared.stores, &self.store) else {
            return Ok(true);
        };
        if ops.is_empty() {
            return Ok(true);
        }
        // A vote step is left alone: the application votes a lost vote again, and the
        // engine then signs the very same event, so a crash there tests nothing.
        let point = self.pending_crash.filter(|_| !self.voting);
        if point == Some(CrashPoint::MidBatch) {
            // A strict prefix, varied from step to step.
            ops.truncate((ctx.now as usize + peer) % ops.len());
        }
        stores
            .runtime
            .block_on(store.0.apply(ops))
            .map_err(|e| store_error(peer, "apply", e))?;
        if matches!(point, Some(CrashPoint::MidBatch | CrashPoint::BeforeSend)) {
            self.crash_now(ctx);
            return Ok(false);
        }
        Ok(true)
    }

    /// Sends the sync `catch_up` stands for, with its events from the store (spec §12.6).
    /// Without a store it is counted as unserved and sends what memory holds.
    pub(crate) fn serve_catch_up(
        &mut self,
        catch_up: CatchUp<String>,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<(), Violation> {
        let peer = ctx.peer;
        let stored = match (&ctx.shared.stores, &self.store) {
            (Some(stores), Some(store)) => {
                let stored = catch_up
                    .collect(|position, limit| {
                        stores.runtime.block_on(store.0.events(position, limit))
                    })
                    .map_err(|e| store_error(peer, "catch-up read", e))?;
                ctx.shared.stats.catch_ups += 1;
                ctx.shared.stats.catch_up_events += stored.len() as u64;
                stored
            }
            _ => {
                ctx.shared.stats.catch_ups_unserved += 1;
                Vec::new()
            }
        };
        let limits = ctx.shared.config.wire_limits;
        for out in catch_up.messages(stored) {
            let bytes = wire::encode(&out.message, &limits)
                .map_err(|e| engine_error(peer, "encoding its own message", e))?;
            ctx.send(out.to, Packet::Bytes(bytes));
        }
        Ok(())
    }

    /// Looks `fetch` up in the store and hands the answers to the engine (spec §12.5):
    /// the step that made, if anything was asked for and the peer has a store.
    pub(crate) fn readmit(
        &mut self,
        fetch: Vec<EventHash>,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<Option<Step<String>>, Violation> {
        let peer = ctx.peer;
        let (Some(stores), Some(store), Role::Honest(engine)) =
            (&ctx.shared.stores, &self.store, &mut self.role)
        else {
            return Ok(None);
        };
        if fetch.is_empty() || self.crashed {
            return Ok(None);
        }
        let mut answers = Vec::with_capacity(fetch.len());
        for hash in fetch {
            let found = stores
                .runtime
                .block_on(store.0.find(&hash))
                .map_err(|e| store_error(peer, "find", e))?;
            ctx.shared.stats.readmitted += u64::from(found.is_some());
            answers.push((hash, found));
        }
        let step = engine
            .readmit(answers)
            .map_err(|e| engine_error(peer, "readmit", e))?;
        Ok(Some(step))
    }

    /// Dies now: the engine is gone (kept for inspection), the store handle closed.
    pub(crate) fn crash_now(&mut self, ctx: &mut Ctx<'_, '_>) {
        self.crashed = true;
        self.pending_crash = None;
        self.store = None;
        ctx.shared.stats.crash_points += 1;
    }

    /// Carries out [`Action::CrashAt`](super::Action::CrashAt).
    pub(crate) fn crash_at(&mut self, point: CrashPoint, ctx: &mut Ctx<'_, '_>) {
        if self.crashed || !matches!(self.role, Role::Honest(_)) {
            return;
        }
        match point {
            CrashPoint::BetweenSteps => self.crash_now(ctx),
            _ => self.pending_crash = Some(point),
        }
    }

    /// Carries out [`Action::Restart`](super::Action::Restart) (see the module docs).
    pub(crate) fn restart(&mut self, ctx: &mut Ctx<'_, '_>) -> Result<(), Violation> {
        if !matches!(self.role, Role::Honest(_)) || ctx.shared.stores.is_none() {
            return Ok(());
        }
        if !self.crashed {
            self.crash_now(ctx);
        }
        let peer = ctx.peer;
        let durability = |what: String| Violation::new(Invariant::Durability, Some(peer), what);
        let Some(stores) = &ctx.shared.stores else {
            return Ok(());
        };
        let store = stores.open(peer)?;
        let loaded = stores
            .runtime
            .block_on(store.0.load())
            .map_err(|e| store_error(peer, "load", e))?
            .ok_or_else(|| durability("the store holds nothing after a start".into()))?;
        let config = SimPeer::config_of(ctx.shared, &self.id);
        let mut restore = Parsec::restore(peer_key(peer), config, &loaded)
            .map_err(|e| engine_error(peer, "restore", e))?;
        let runtime = &stores.runtime;
        restore
            .run(
                |from, limit| runtime.block_on(store.0.events(from, limit)),
                |hash| runtime.block_on(store.0.find(hash)),
            )
            .map_err(|e| engine_error(peer, "restore replay", e))?;
        let mut restored = restore
            .finish()
            .map_err(|e| engine_error(peer, "restore finish", e))?;
        // Blocks the log decides that a torn batch kept out of the store.
        stores
            .runtime
            .block_on(store.0.apply(std::mem::take(&mut restored.persist)))
            .map_err(|e| store_error(peer, "apply", e))?;
        let taken = self.blocks.len();
        if restored.blocks.len() < taken || restored.blocks[..taken] != self.blocks[..] {
            return Err(durability(format!(
                "the restored log decides {} blocks unlike the {taken} the application took",
                restored.blocks.len()
            )));
        }
        let mut engine = restored.engine;
        engine.share_verified_events(ctx.shared.verified.clone());
        engine.record_meta_digests(true);
        // What it voted that its log lost: the application votes it again.
        let lost: Vec<Observation<String>> = self
            .votes
            .iter()
            .filter(|v| !engine.have_voted_for(v))
            .cloned()
            .collect();
        self.role = Role::Honest(Box::new(engine));
        self.crashed = false;
        self.store = Some(store);
        ctx.shared.stats.restarts += 1;
        let new_blocks = restored.blocks.split_off(taken);
        self.observe_blocks(new_blocks, ctx)?;
        for observation in lost {
            self.revote(observation, ctx)?;
        }
        Ok(())
    }
}
