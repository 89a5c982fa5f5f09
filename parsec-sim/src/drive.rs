//! A driver written against [`Transport`] and [`Store`] alone: one engine, gossiping on a
//! timer, persisting every step before it sends, answering what arrives, serving
//! catch-up from its store. The same driver runs over the in-memory transport and over
//! libp2p, which is how the adapters' end-to-end tests are the simulator's tests.
//!
//! Randomness (whom to gossip with) comes from the seed; timing comes from the runtime,
//! so runs over a real network are not replayable event by event, but every outcome is
//! checked with the simulator's invariants (identical blocks, identical order).

use std::time::Duration;

use parsec_core::{
    Block, CommonCoin, Error, Fault, Incoming, Observation, Parsec, Payload, Step, Store,
    StoreError, Transport, TransportError, TransportFault, catch_up::READ_CHUNK,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, watch};

/// How [`drive`] runs.
#[derive(Clone, Debug)]
pub struct DriveConfig {
    /// Time between two syncs we start.
    pub gossip_every: Duration,
    /// Chooses whom we gossip with.
    pub seed: u64,
    /// Return as soon as a step leaves at least this many blocks decided (a crash right
    /// after a decision, for restart tests). Default: run until stopped.
    pub stop_after_blocks: Option<usize>,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            gossip_every: Duration::from_millis(5),
            seed: 0,
            stop_after_blocks: None,
        }
    }
}

/// Faults and drops kept of a run (the rest are counted): a peer that keeps sending
/// garbage costs the driver a bounded amount.
pub const KEPT_FAULTS: usize = 1024;

/// What a driven engine did.
#[derive(Debug)]
pub struct Driven<T> {
    /// Blocks decided, in order.
    pub blocks: Vec<Block<T>>,
    /// The first [`KEPT_FAULTS`] faults the engine found in what peers sent.
    pub faults: Vec<Fault>,
    /// The first [`KEPT_FAULTS`] things the transport refused or lost.
    pub dropped: Vec<TransportFault>,
    /// Faults and drops in all, kept or not.
    pub fault_count: u64,
}

impl<T> Driven<T> {
    fn fault(&mut self, fault: Fault) {
        self.fault_count += 1;
        if self.faults.len() < KEPT_FAULTS {
            self.faults.push(fault);
        }
    }

    fn dropped(&mut self, dropped: TransportFault) {
        self.fault_count += 1;
        if self.dropped.len() < KEPT_FAULTS {
            self.dropped.push(dropped);
        }
    }
}

/// The driver stopped short.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// The engine refused an input (local misuse: a bug of the driver or the engine).
    #[error("engine: {0}")]
    Engine(#[from] Error),
    /// The store failed: nothing of that step was sent, and the engine is stopped.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The transport closed.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
}

/// Runs `engine` over `transport` and `store` until `stop` turns true, casting what
/// arrives on `votes` as it arrives (a closed channel is simply done). `progress` is sent
/// the number of blocks decided after each change.
pub async fn drive<T, C, S>(
    mut engine: Parsec<T, C>,
    transport: &mut dyn Transport<T>,
    store: &S,
    mut votes: mpsc::Receiver<Observation<T>>,
    config: DriveConfig,
    mut stop: watch::Receiver<bool>,
    progress: watch::Sender<usize>,
) -> Result<(Parsec<T, C>, Driven<T>), DriveError>
where
    T: Payload + Send + Sync,
    C: CommonCoin,
    S: Store<T> + ?Sized,
{
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut driven = Driven {
        blocks: Vec::new(),
        faults: Vec::new(),
        dropped: Vec::new(),
        fault_count: 0,
    };
    let mut members: Vec<_> = engine.voters().to_vec();
    let mut voting = true;
    let mut gossip = tokio::time::interval(config.gossip_every);
    gossip.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        let step = tokio::select! {
            incoming = transport.next_incoming() => match incoming? {
                Incoming::Message { from, message } => engine.handle_message(from, message)?,
                Incoming::Dropped(fault) => {
                    driven.dropped(fault);
                    continue;
                }
                _ => continue,
            },
            _ = gossip.tick() => {
                let recipients = engine.gossip_recipients();
                if recipients.is_empty() {
                    continue;
                }
                let to = recipients[rng.random_range(0..recipients.len())];
                engine.create_gossip(to)?
            }
            vote = votes.recv(), if voting => match vote {
                Some(vote) => engine.vote_for(vote)?,
                None => {
                    voting = false;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        settle(&mut engine, transport, store, step, &mut driven, &progress).await?;
        // A decided addition or removal: the transport lets through whom the engine does.
        if engine.voters() != members.as_slice() {
            members = engine.voters().to_vec();
            transport
                .set_members(members.iter().copied().collect())
                .await?;
        }
        if config
            .stop_after_blocks
            .is_some_and(|n| driven.blocks.len() >= n)
        {
            break;
        }
    }
    Ok((engine, driven))
}

/// Persists `step`, then sends it (catch-up from the store first), then readmits what it
/// asked the store for, and so on until nothing is left.
async fn settle<T, C, S>(
    engine: &mut Parsec<T, C>,
    transport: &mut dyn Transport<T>,
    store: &S,
    step: Step<T>,
    driven: &mut Driven<T>,
    progress: &watch::Sender<usize>,
) -> Result<(), DriveError>
where
    T: Payload + Send + Sync,
    C: CommonCoin,
    S: Store<T> + ?Sized,
{
    let mut next = Some(step);
    while let Some(step) = next.take() {
        store.apply(step.persist).await?;
        for catch_up in step.catch_up {
            let mut stored = Vec::new();
            let mut position = catch_up.from;
            while position < catch_up.until {
                let limit = READ_CHUNK.min((catch_up.until - position) as usize);
                let events = store.events(position, limit).await?;
                if events.is_empty() {
                    break;
                }
                for event in events {
                    if catch_up.wants(&event) {
                        stored.push((position, event));
                    }
                    position += 1;
                }
            }
            for out in catch_up.messages(stored) {
                send(transport, out.to, out.message).await?;
            }
        }
        for out in step.send {
            send(transport, out.to, out.message).await?;
        }
        if !step.blocks.is_empty() {
            driven.blocks.extend(step.blocks);
            progress.send_replace(driven.blocks.len());
        }
        for fault in step.faults {
            driven.fault(fault);
        }
        if !step.fetch.is_empty() {
            let mut answers = Vec::new();
            for hash in step.fetch {
                let found = store.find(&hash).await?;
                answers.push((hash, found));
            }
            next = Some(engine.readmit(answers)?);
        }
    }
    Ok(())
}

/// Sends, treating a recipient the transport does not know as lost (the engine may name
/// a member the transport was not told of yet).
async fn send<T: Payload + Send + Sync>(
    transport: &mut dyn Transport<T>,
    to: parsec_core::PeerId,
    message: parsec_core::WireMessage<T>,
) -> Result<(), DriveError> {
    match transport.send(to, message).await {
        Ok(()) | Err(TransportError::NotMember(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A genesis group driven over real transports (see [`run_group`]).
#[derive(Clone, Debug)]
pub struct GroupRun {
    /// The consensus mode.
    pub mode: parsec_core::ConsensusMode,
    /// The coin every member names.
    pub coin: parsec_core::CoinKind,
    /// Payloads each member votes (`Supermajority`: every member votes the same ones).
    pub payloads: usize,
    /// Seeds the gossip choices (member `i` uses `seed + i`) and the coin's dealt keys.
    pub seed: u64,
    /// How long the group may take to decide everything.
    pub deadline: Duration,
    /// Time between two syncs a member starts.
    pub gossip_every: Duration,
}

/// The group did not decide in time, or a member's driver failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// Not every member decided every block before the deadline.
    #[error("after {deadline:?}, members decided {decided:?} of {expected} blocks")]
    Deadline {
        /// The deadline.
        deadline: Duration,
        /// Blocks each member decided.
        decided: Vec<usize>,
        /// Blocks expected.
        expected: usize,
    },
    /// A member's driver stopped with an error.
    #[error("member {member}: {error}")]
    Driver {
        /// The member's index.
        member: usize,
        /// Why it stopped.
        error: DriveError,
    },
    /// The group could not be set up (engine configuration, coin dealing).
    #[error("setup: {0}")]
    Setup(String),
    /// A driver task panicked or was cancelled.
    #[error("member {0}'s task failed")]
    Task(usize),
}

/// Runs one engine per key over its transport (`transports[i]` is `keys[i]`'s), each
/// voting its payloads, until every member decided genesis and every payload or the
/// deadline passes; returns each member's driven outcome. The caller checks agreement.
pub async fn run_group(
    keys: &[parsec_core::SecretKey],
    transports: Vec<Box<dyn Transport<String>>>,
    run: &GroupRun,
) -> Result<Vec<Driven<String>>, GroupError> {
    use parsec_core::{ConsensusMode, MemStore};
    let ids: Vec<_> = keys.iter().map(|k| k.peer_id()).collect();
    let mut config = crate::fixtures::genesis_config(keys, run.mode);
    config.coin = run.coin;
    let dealt = if run.coin == parsec_core::CoinKind::Threshold {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&run.seed.to_le_bytes());
        Some(parsec_core::deal(&ids, 0, seed).map_err(|e| GroupError::Setup(e.to_string()))?)
    } else {
        None
    };
    config.coin_keys = dealt.as_ref().map(|d| d.epoch.clone());
    let expected = 1 + match run.mode {
        ConsensusMode::Supermajority => run.payloads,
        ConsensusMode::Single => run.payloads * keys.len(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut progress = Vec::new();
    let mut tasks = Vec::new();
    for (i, (key, mut transport)) in keys.iter().zip(transports).enumerate() {
        let mut config = config.clone();
        config.coin_secret = dealt
            .as_ref()
            .and_then(|d| d.shares.iter().find(|s| s.holder == ids[i]).cloned());
        let (engine, first) = Parsec::<String, _>::new(key.clone(), config)
            .map_err(|e| GroupError::Setup(e.to_string()))?;
        let (vote_tx, votes) = mpsc::channel(run.payloads.max(1));
        for p in 0..run.payloads {
            let vote = match run.mode {
                ConsensusMode::Supermajority => crate::fixtures::opaque(&format!("payload {p}")),
                ConsensusMode::Single => {
                    crate::fixtures::opaque(&format!("member {i} payload {p}"))
                }
            };
            // The channel holds every payload: it never fills.
            let _ = vote_tx.try_send(vote);
        }
        drop(vote_tx);
        let (progress_tx, progress_rx) = watch::channel(0);
        progress.push(progress_rx);
        let stop = stop_rx.clone();
        let drive_config = DriveConfig {
            gossip_every: run.gossip_every,
            seed: run.seed.wrapping_add(i as u64),
            stop_after_blocks: None,
        };
        tasks.push(tokio::spawn(async move {
            let store = MemStore::<String>::new();
            store.apply(first.persist).await?;
            let (_, driven) = drive(
                engine,
                transport.as_mut(),
                &store,
                votes,
                drive_config,
                stop,
                progress_tx,
            )
            .await?;
            Ok::<_, DriveError>(driven)
        }));
    }
    let deadline = tokio::time::Instant::now() + run.deadline;
    let mut late = false;
    for watcher in &mut progress {
        let done = tokio::time::timeout_at(deadline, watcher.wait_for(|n| *n >= expected)).await;
        if !matches!(done, Ok(Ok(_))) {
            late = true;
            break;
        }
    }
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::new();
    for (member, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(driven)) => outcomes.push(driven),
            Ok(Err(error)) => return Err(GroupError::Driver { member, error }),
            Err(_) => return Err(GroupError::Task(member)),
        }
    }
    if late {
        return Err(GroupError::Deadline {
            deadline: run.deadline,
            decided: outcomes.iter().map(|d| d.blocks.len()).collect(),
            expected,
        });
    }
    Ok(outcomes)
}
