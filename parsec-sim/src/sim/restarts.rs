//! Crash and restart of honest peers (spec §13): where in a step a peer dies, and the
//! plan of when each restarting peer goes down and comes back from its store.
//!
//! The plan draws from a random stream of its own, so schedules without restarts are
//! exactly what they were before restarts existed.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::schedule::Action;

/// The random stream of the restart plan.
const STREAM_RESTARTS: u64 = 9;

/// Where a peer dies: the points where a driver's crash matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// Between two engine calls: everything it did is durable and sent.
    BetweenSteps,
    /// In its next step that persists something: after the store applied the step's ops,
    /// before any of its messages left and before its blocks reached the application.
    BeforeSend,
    /// In its next step that persists something, in the middle of the store's batch:
    /// only a prefix of the ops reached the disk (none, for an atomic backend that lost
    /// the batch), nothing was sent.
    MidBatch,
    /// Right after its next step that decides a block: persisted, sent and handed over.
    AfterDecision,
}

impl CrashPoint {
    /// Every point, in a fixed order.
    pub const ALL: [CrashPoint; 4] = [
        CrashPoint::BetweenSteps,
        CrashPoint::BeforeSend,
        CrashPoint::MidBatch,
        CrashPoint::AfterDecision,
    ];
}

/// Adds the crash and restart actions of `count` restarts to `steps` (the active phase):
/// distinct peers drawn from `candidates`, each crashing at a random step and point and
/// restarting after a random downtime, before the active phase ends (it is lengthened if
/// it is too short for that).
pub(crate) fn plan(count: usize, candidates: &[usize], seed: u64, steps: &mut Vec<Vec<Action>>) {
    if count == 0 {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM_RESTARTS);
    let mut peers = candidates.to_vec();
    peers.shuffle(&mut rng);
    while steps.len() < 4 {
        steps.push(Vec::new());
    }
    let active = steps.len();
    for peer in peers.into_iter().take(count) {
        let crash = rng.random_range(0..active - 1);
        let downtime = rng.random_range(1..=(active / 2).max(1));
        let restart = (crash + downtime).min(active - 1);
        let point = CrashPoint::ALL[rng.random_range(0..CrashPoint::ALL.len())];
        steps[crash].insert(0, Action::CrashAt { peer, point });
        steps[restart].insert(0, Action::Restart { peer });
    }
}
