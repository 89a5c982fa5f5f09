//! Statistics of one simulation run.
//!
//! Counters are exact and reproducible from the seed; the durations vary from run to run.
//! Engine time is measured with a monotonic clock around every honest engine call (genesis,
//! votes, gossip, message handling); CPU time is what the operating system charged the
//! simulation's thread for the whole run (adversaries' engines and the checks included),
//! where it says (Linux); wall time is the whole run by the clock.

use std::fmt;
use std::time::Duration;

use crate::network::LinkCounts;

/// What one peer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Syncs it started.
    pub syncs: u64,
    /// Messages it sent.
    pub messages_sent: u64,
    /// Bytes it sent.
    pub bytes_sent: u64,
    /// Messages delivered to it.
    pub messages_received: u64,
    /// Events it created (its own chain, forks included).
    pub events_created: u64,
    /// Blocks it output (honest peers only).
    pub blocks: u64,
    /// Creators known to its graph at the end (honest peers only).
    pub graph_creators: usize,
    /// Most encoded bytes its future buffer held after any step (honest peers only).
    pub max_held_bytes: usize,
}

/// What a whole run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// The seed.
    pub seed: u64,
    /// Steps run (gossip rounds), both phases.
    pub steps: u64,
    /// Steps of the active phase.
    pub active_steps: u64,
    /// Steps of the liveness phase until termination.
    pub liveness_steps: u64,
    /// Per peer, by peer number.
    pub peers: Vec<PeerStats>,
    /// Restarts of crashed peers from their stores.
    pub restarts: u64,
    /// Crashes of peers that restart (at a crash point or forced by the restart).
    pub crash_points: u64,
    /// Votes an application cast again because its peer's log lost them.
    pub revotes: u64,
    /// What the network's links lost, duplicated and reordered.
    pub links: LinkCounts,
    /// Messages addressed to a crashed, never-gossiping or not yet started peer.
    pub undeliverable: u64,
    /// Opaque blocks output by every honest running peer.
    pub stable_blocks: u64,
    /// Faults reported by honest peers.
    pub faults: u64,
    /// `warn!` events logged.
    pub warnings: u64,
    /// `error!` events logged.
    pub errors: u64,
    /// Application votes the engine refused as duplicates (as it must).
    pub duplicate_votes_refused: u64,
    /// Attacks carried out by adversaries.
    pub attacks: u64,
    /// Adversaries whose own engine failed (they stop; not an invariant violation).
    pub adversary_failures: Vec<String>,
    /// Events in the largest honest graph at the end.
    pub largest_graph: usize,
    /// Events the honest engines had dropped from memory at the end, summed (pruning).
    pub pruned_events: u64,
    /// Syncs that carried events from the sender's store (catch-up), and how many.
    pub catch_ups: u64,
    /// Events sent from stores by catch-ups.
    pub catch_up_events: u64,
    /// Catch-ups an honest peer could not serve (a run without stores).
    pub catch_ups_unserved: u64,
    /// Pruned parents of late events found in a store and re-admitted (spec §12.5).
    pub readmitted: u64,
    /// Distinct coins some honest engine's elections needed (the most over the engines).
    pub coins_needed: u64,
    /// Elections of an honest engine that needed a coin (the most over the engines).
    pub elections_needing_coin: u64,
    /// Elections an honest engine reached (the most over the engines).
    pub elections: u64,
    /// Meta-events one honest peer evaluated that another had evaluated too, and that were
    /// compared (invariant 7).
    pub meta_events_compared: u64,
    /// Time inside honest engine calls.
    pub engine_time: Duration,
    /// CPU time of the run's thread, where the operating system reports it.
    pub cpu_time: Option<Duration>,
    /// Time of the whole run, checks included.
    pub wall_time: Duration,
}

impl Stats {
    /// Messages sent by all peers.
    pub fn messages(&self) -> u64 {
        self.peers.iter().map(|p| p.messages_sent).sum()
    }

    /// Bytes sent by all peers.
    pub fn bytes(&self) -> u64 {
        self.peers.iter().map(|p| p.bytes_sent).sum()
    }

    /// Syncs started by all peers.
    pub fn syncs(&self) -> u64 {
        self.peers.iter().map(|p| p.syncs).sum()
    }

    /// Events created by all peers.
    pub fn events_created(&self) -> u64 {
        self.peers.iter().map(|p| p.events_created).sum()
    }

    /// Gossip rounds per stable block (`None` without stable blocks).
    pub fn rounds_per_stable_block(&self) -> Option<f64> {
        (self.stable_blocks > 0).then(|| self.steps as f64 / self.stable_blocks as f64)
    }

    /// Engine time per stable block (`None` without stable blocks).
    pub fn engine_time_per_stable_block(&self) -> Option<Duration> {
        self.per_stable_block(self.engine_time)
    }

    /// CPU time per stable block (`None` without stable blocks or CPU time).
    pub fn cpu_time_per_stable_block(&self) -> Option<Duration> {
        self.per_stable_block(self.cpu_time?)
    }

    fn per_stable_block(&self, time: Duration) -> Option<Duration> {
        (self.stable_blocks > 0)
            .then(|| Duration::from_secs_f64(time.as_secs_f64() / self.stable_blocks as f64))
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.peers.len().max(1) as u64;
        write!(
            f,
            "{} steps ({} active + {} liveness), {} stable blocks",
            self.steps, self.active_steps, self.liveness_steps, self.stable_blocks
        )?;
        if let Some(r) = self.rounds_per_stable_block() {
            write!(f, " ({r:.2} rounds per block")?;
            if let Some(t) = self.engine_time_per_stable_block() {
                write!(f, ", {:.2} ms engine time", t.as_secs_f64() * 1e3)?;
            }
            if let Some(t) = self.cpu_time_per_stable_block() {
                write!(f, ", {:.2} ms CPU time per block", t.as_secs_f64() * 1e3)?;
            }
            write!(f, ")")?;
        }
        write!(
            f,
            "; {} syncs, {} messages ({} per peer), {} KiB ({} KiB per peer), {} events created",
            self.syncs(),
            self.messages(),
            self.messages() / n,
            self.bytes() / 1024,
            self.bytes() / 1024 / n,
            self.events_created()
        )?;
        write!(
            f,
            "; {} dropped, {} duplicated, {} reordered, {} partitioned, {} undeliverable",
            self.links.dropped,
            self.links.duplicated,
            self.links.reordered,
            self.links.partitioned,
            self.undeliverable
        )?;
        write!(
            f,
            "; {} faults, {} warnings, {} errors, {} attacks, {} duplicate votes refused",
            self.faults, self.warnings, self.errors, self.attacks, self.duplicate_votes_refused
        )?;
        write!(
            f,
            "; largest graph {} events; {} coins needed in {} of {} elections; engine {:.3} s, \
             CPU {}, wall {:.3} s",
            self.largest_graph,
            self.coins_needed,
            self.elections_needing_coin,
            self.elections,
            self.engine_time.as_secs_f64(),
            self.cpu_time
                .map_or("n/a".to_string(), |t| format!("{:.3} s", t.as_secs_f64())),
            self.wall_time.as_secs_f64()
        )
    }
}

/// The CPU time the operating system has charged the calling thread, where it says (Linux:
/// `/proc/thread-self/schedstat`); `None` elsewhere.
pub fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}
