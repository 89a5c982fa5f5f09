//! Schedules: what happens at each step of a simulation.
//!
//! # How it works
//!
//! [`ScheduleOptions`] describes a scenario in a few knobs (peers, payloads, vote timing,
//! network conditions, partitions, crashes, adversaries). [`Schedule::generate`] turns the
//! options and a `u64` seed into a concrete [`Schedule`]: one list of [`Action`]s per step
//! of the *active phase* (who votes for what, who gossips to whom, when the network splits
//! and heals, who crashes, which adversary does what to whom). Every choice is drawn from a
//! [`ChaCha8Rng`] seeded with the seed, so a seed always gives the same schedule. Tests may
//! also write or edit a schedule by hand.
//!
//! After the active phase comes the *liveness phase*: network faults stop, partitions heal,
//! adversaries stop attacking (silent ones stay silent, crashed peers stay down), and every
//! running peer gossips to a random peer each step until every honest running peer has
//! decided every payload it must decide, or [`Schedule::liveness_steps`] steps have passed
//! (a termination failure).

use std::collections::{BTreeMap, BTreeSet};

use parsec_coin::CoinKind;
use parsec_graph::{ConsensusMode, Observation, WireLimits};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::adversary::{Act, AdversaryKind};

/// The random stream of schedule generation (the simulation uses others).
pub(crate) const STREAM_SCHEDULE: u64 = 1;

/// When peers cast their votes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VoteTiming {
    /// Every vote at step 0, before any gossip.
    BeforeGossip,
    /// Each peer casts its next vote at every step.
    EveryStep,
    /// At each step, each peer casts its next vote with this probability (the original
    /// example voted once every three rounds on average: `1/3`).
    Probability(f64),
}

/// How long a message takes to arrive, in steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delay {
    /// Delivered within the step it is sent, so a sync completes at once.
    None,
    /// Delivered this many steps later.
    Constant(u64),
    /// Delivered between `min` and `max` steps later (inclusive), uniformly.
    Uniform {
        /// The shortest delay.
        min: u64,
        /// The longest delay.
        max: u64,
    },
}

/// The network's behaviour during the active phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkConditions {
    /// Message delay.
    pub delay: Delay,
    /// Chance that a message is lost.
    pub drop: f64,
    /// Chance that a message is delivered twice (each copy with its own delay).
    pub duplicate: f64,
    /// Chance that a message is held back by up to `reorder_window` extra steps, so that
    /// later messages overtake it.
    pub reorder: f64,
    /// The longest extra delay of a reordered message.
    pub reorder_window: u64,
}

impl NetworkConditions {
    /// Instant, lossless, in-order delivery.
    pub const PERFECT: NetworkConditions = NetworkConditions {
        delay: Delay::None,
        drop: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_window: 0,
    };

    /// Lossy, reordering links: 5% of messages lost, 10% held back by up to 3 steps.
    pub const LOSSY: NetworkConditions = NetworkConditions {
        drop: 0.05,
        reorder: 0.1,
        reorder_window: 3,
        ..NetworkConditions::PERFECT
    };

    /// Whether any message may be lost, duplicated or reordered.
    pub fn is_faulty(&self) -> bool {
        self.drop > 0.0 || self.duplicate > 0.0 || self.reorder > 0.0
    }

    /// The same delays without loss, duplication or reordering (the liveness phase).
    pub fn without_faults(&self) -> NetworkConditions {
        NetworkConditions {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            ..*self
        }
    }
}

impl Default for NetworkConditions {
    fn default() -> Self {
        NetworkConditions::PERFECT
    }
}

/// One network partition: from `start` until `heal`, messages between groups are lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// The step at which the network splits.
    pub start: u64,
    /// The step at which it heals (after `start`).
    pub heal: u64,
    /// The groups, by peer number; a peer in no group is alone.
    pub groups: Vec<Vec<usize>>,
}

/// Which partitions happen during the active phase.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Partitions {
    /// None.
    #[default]
    None,
    /// Exactly these (they must not overlap in time).
    At(Vec<PartitionSpec>),
    /// `count` random splits into two groups, one after the other, each lasting up to
    /// `max_length` steps.
    Random {
        /// How many.
        count: usize,
        /// The longest split, in steps.
        max_length: u64,
    },
}

/// Which peers crash (stop forever), and when.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Crashes {
    /// Nobody crashes.
    #[default]
    None,
    /// These peers crash at these steps.
    At(Vec<(usize, u64)>),
    /// `count` random peers crash together at `step` (the middle of the active phase if
    /// `None`).
    Together {
        /// How many.
        count: usize,
        /// When.
        step: Option<u64>,
    },
    /// `count` random peers crash, each at a random step of the active phase.
    Random {
        /// How many.
        count: usize,
    },
}

impl Crashes {
    fn count(&self) -> usize {
        match self {
            Crashes::None => 0,
            Crashes::At(list) => list.len(),
            Crashes::Together { count, .. } | Crashes::Random { count } => *count,
        }
    }
}

/// The knobs a schedule is generated from.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleOptions {
    /// Number of genesis members.
    pub peers: usize,
    /// How payloads are decided.
    pub mode: ConsensusMode,
    /// Payloads `p0, p1, ...` that every peer votes, each peer in its own random order.
    pub payloads: usize,
    /// Payloads `q0, q1, ...` that only a random subset of the peers votes.
    pub partial_payloads: usize,
    /// When votes are cast.
    pub votes: VoteTiming,
    /// Chance that, after a vote, the application later votes the same payload again (the
    /// engine must refuse it with `DuplicateVote`).
    pub duplicate_votes: f64,
    /// Chance that a running peer starts a sync in a step (active and liveness phases).
    pub gossip_probability: f64,
    /// Network behaviour during the active phase.
    pub network: NetworkConditions,
    /// Partitions during the active phase.
    pub partitions: Partitions,
    /// Crashes of otherwise honest peers.
    pub crashes: Crashes,
    /// One adversary peer per entry (distinct from the crashing peers).
    pub adversaries: Vec<AdversaryKind>,
    /// Honest peers (neither adversaries nor crashing for good) that crash once, at a
    /// random step and [`CrashPoint`](super::CrashPoint), and restart from their store
    /// later in the active phase.
    pub restarts: usize,
    /// Chance that an active adversary misbehaves in a step of the active phase.
    pub attack_probability: f64,
    /// Steps of gossip after the last vote before the liveness phase starts.
    pub settle_steps: u64,
    /// Longest liveness phase before termination is declared violated.
    pub liveness_steps: u64,
    /// Most events in one message (a local wire limit): larger syncs are split into
    /// `Events` chunks ahead of the request or response (spec §4.2), which the network may
    /// then lose or reorder.
    pub max_events_per_message: usize,
    /// The common coin of every engine (the parity coin unless a test or run says otherwise).
    pub coin: CoinKind,
    /// Every honest engine's `Config::pruning_window` (`None`, the engine's default,
    /// keeps every event in memory).
    pub pruning_window: Option<u64>,
}

impl ScheduleOptions {
    /// `peers` honest genesis members voting one payload once every three steps on a
    /// perfect network, with no fault.
    pub fn new(peers: usize, mode: ConsensusMode) -> Self {
        ScheduleOptions {
            peers,
            mode,
            payloads: 1,
            partial_payloads: 0,
            votes: VoteTiming::Probability(1.0 / 3.0),
            duplicate_votes: 0.0,
            gossip_probability: 1.0,
            network: NetworkConditions::PERFECT,
            partitions: Partitions::None,
            crashes: Crashes::None,
            adversaries: Vec::new(),
            restarts: 0,
            attack_probability: 0.2,
            settle_steps: 0,
            liveness_steps: 400 + 20 * peers as u64,
            max_events_per_message: WireLimits::default().max_events_per_message,
            coin: CoinKind::Parity,
            pruning_window: None,
        }
    }

    /// The most peers that may be faulty (crashed or adversarial): `(peers - 1) / 3`.
    pub fn max_faulty(&self) -> usize {
        self.peers.saturating_sub(1) / 3
    }

    /// How many peers are faulty (crash or adversary).
    pub fn faulty(&self) -> usize {
        self.crashes.count() + self.adversaries.len()
    }
}

/// Why a schedule cannot be generated.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScheduleError {
    /// No peers.
    #[error("a simulation needs at least one peer")]
    NoPeers,
    /// More faulty peers than `(peers - 1) / 3`.
    #[error("{faulty} faulty peers of {peers}: at most {max} may be faulty")]
    TooManyFaulty {
        /// Faulty peers asked for.
        faulty: usize,
        /// Peers.
        peers: usize,
        /// The limit.
        max: usize,
    },
    /// A probability outside `[0, 1]`.
    #[error("probability {name} = {value} is not in [0, 1]")]
    BadProbability {
        /// Which knob.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A peer number outside `0..peers`, or a peer named twice.
    #[error("peer {0} does not exist or is named twice")]
    BadPeer(usize),
    /// A partition heals before it starts, or overlaps another.
    #[error("partition at step {0} is empty, heals before it starts, or overlaps another")]
    BadPartition(u64),
    /// A delay range with `min > max`.
    #[error("delay range is empty")]
    BadDelay,
    /// More restarts than peers that are neither adversaries nor crashing for good.
    #[error("{restarts} restarts, but only {candidates} peers may restart")]
    TooManyRestarts {
        /// Restarts asked for.
        restarts: usize,
        /// Honest peers that do not crash for good.
        candidates: usize,
    },
    /// `max_events_per_message` is zero or above the default.
    #[error("max_events_per_message = {0} is zero or above the default limit")]
    BadMessageLimit(usize),
}

/// One thing that happens in a step.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The peer's application votes for the observation.
    Vote {
        /// Who votes.
        peer: usize,
        /// What.
        observation: Observation<String>,
    },
    /// `from` starts a sync with `to`.
    Gossip {
        /// The requester.
        from: usize,
        /// The peer asked.
        to: usize,
    },
    /// The network splits into these groups (a peer in no group is alone).
    Partition {
        /// The groups, by peer number.
        groups: Vec<Vec<usize>>,
    },
    /// Every partition heals.
    Heal,
    /// The peer stops forever.
    Crash {
        /// Who.
        peer: usize,
    },
    /// The honest peer dies at `point` (now, or within its next step that gets there).
    CrashAt {
        /// Who.
        peer: usize,
        /// Where.
        point: super::CrashPoint,
    },
    /// The crashed peer restarts from its store (it crashes first if it has not yet).
    Restart {
        /// Who.
        peer: usize,
    },
    /// An adversary misbehaves.
    Misbehave {
        /// The adversary.
        peer: usize,
        /// What it does.
        act: Act,
    },
}

/// A concrete scenario: peers, roles, and the actions of every step of the active phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The seed everything was drawn from; the simulation draws its own choices (delays,
    /// losses, liveness gossip) from it too.
    pub seed: u64,
    /// Number of genesis members.
    pub peers: usize,
    /// How payloads are decided.
    pub mode: ConsensusMode,
    /// Network behaviour during the active phase.
    pub network: NetworkConditions,
    /// The adversaries, by peer number.
    pub adversaries: BTreeMap<usize, AdversaryKind>,
    /// The honest peers that crash during the active phase.
    pub crashing: BTreeSet<usize>,
    /// The honest peers that crash and restart from their store.
    pub restarting: BTreeSet<usize>,
    /// The actions of each step of the active phase, in order.
    pub steps: Vec<Vec<Action>>,
    /// Chance that a running peer starts a sync in a liveness step.
    pub gossip_probability: f64,
    /// Longest liveness phase.
    pub liveness_steps: u64,
    /// Most events in one message.
    pub max_events_per_message: usize,
    /// The common coin of every engine.
    pub coin: CoinKind,
    /// Every honest engine's pruning window.
    pub pruning_window: Option<u64>,
}

fn check_probability(name: &'static str, value: f64) -> Result<(), ScheduleError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ScheduleError::BadProbability { name, value })
    }
}

fn validate(options: &ScheduleOptions) -> Result<(), ScheduleError> {
    if options.peers == 0 {
        return Err(ScheduleError::NoPeers);
    }
    if options.faulty() > options.max_faulty() {
        return Err(ScheduleError::TooManyFaulty {
            faulty: options.faulty(),
            peers: options.peers,
            max: options.max_faulty(),
        });
    }
    check_probability("duplicate_votes", options.duplicate_votes)?;
    check_probability("gossip_probability", options.gossip_probability)?;
    check_probability("attack_probability", options.attack_probability)?;
    check_probability("network.drop", options.network.drop)?;
    check_probability("network.duplicate", options.network.duplicate)?;
    check_probability("network.reorder", options.network.reorder)?;
    if let VoteTiming::Probability(p) = options.votes {
        check_probability("votes", p)?;
        if p == 0.0 && options.payloads + options.partial_payloads > 0 {
            return Err(ScheduleError::BadProbability {
                name: "votes",
                value: p,
            });
        }
    }
    if options.max_events_per_message == 0
        || options.max_events_per_message > WireLimits::default().max_events_per_message
    {
        return Err(ScheduleError::BadMessageLimit(
            options.max_events_per_message,
        ));
    }
    if let Delay::Uniform { min, max } = options.network.delay
        && min > max
    {
        return Err(ScheduleError::BadDelay);
    }
    if let Crashes::At(list) = &options.crashes {
        let mut seen = BTreeSet::new();
        for &(peer, _) in list {
            if peer >= options.peers || !seen.insert(peer) {
                return Err(ScheduleError::BadPeer(peer));
            }
        }
    }
    if let Partitions::At(list) = &options.partitions {
        let mut previous_heal = 0;
        for spec in list {
            if spec.heal <= spec.start || spec.start < previous_heal {
                return Err(ScheduleError::BadPartition(spec.start));
            }
            previous_heal = spec.heal;
            for &peer in spec.groups.iter().flatten() {
                if peer >= options.peers {
                    return Err(ScheduleError::BadPeer(peer));
                }
            }
        }
    }
    Ok(())
}

/// Each peer's votes in order, before timing.
fn vote_lists(
    options: &ScheduleOptions,
    voters: &[usize],
    rng: &mut ChaCha8Rng,
) -> BTreeMap<usize, Vec<Observation<String>>> {
    let mut lists: BTreeMap<usize, Vec<Observation<String>>> = BTreeMap::new();
    for &peer in voters {
        let mut list: Vec<Observation<String>> = (0..options.payloads)
            .map(|k| Observation::OpaquePayload(format!("p{k}")))
            .collect();
        list.shuffle(rng);
        lists.insert(peer, list);
    }
    for k in 0..options.partial_payloads {
        let mut subset: Vec<usize> = voters
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.5))
            .collect();
        if subset.is_empty()
            && let Some(&any) = voters.get(rng.random_range(0..voters.len().max(1)))
        {
            subset.push(any);
        }
        for peer in subset {
            if let Some(list) = lists.get_mut(&peer) {
                let at = rng.random_range(0..=list.len());
                list.insert(at, Observation::OpaquePayload(format!("q{k}")));
            }
        }
    }
    if options.duplicate_votes > 0.0 {
        for list in lists.values_mut() {
            let mut i = 0;
            while i < list.len() {
                if rng.random_bool(options.duplicate_votes) {
                    let at = rng.random_range(i + 1..=list.len());
                    let copy = list[i].clone();
                    list.insert(at, copy);
                    i += 1;
                }
                i += 1;
            }
        }
    }
    lists
}

/// Splits `peers` at random into two non-empty groups (or one group for a single peer).
fn random_split(peers: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..peers).collect();
    order.shuffle(rng);
    if peers < 2 {
        return vec![order];
    }
    let cut = rng.random_range(1..peers);
    let (a, b) = order.split_at(cut);
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    vec![a, b]
}

impl Schedule {
    /// Draws a concrete schedule from `options` and `seed` (see the module docs).
    pub fn generate(options: &ScheduleOptions, seed: u64) -> Result<Schedule, ScheduleError> {
        validate(options)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM_SCHEDULE);
        let n = options.peers;

        // Roles: adversaries and crashing peers are drawn from a shuffled order, skipping
        // peers whose crash is given explicitly.
        let explicit: BTreeSet<usize> = match &options.crashes {
            Crashes::At(list) => list.iter().map(|(p, _)| *p).collect(),
            _ => BTreeSet::new(),
        };
        let mut order: Vec<usize> = (0..n).filter(|p| !explicit.contains(p)).collect();
        order.shuffle(&mut rng);
        let mut order = order.into_iter();
        let mut adversaries = BTreeMap::new();
        for kind in &options.adversaries {
            let peer = order.next().ok_or(ScheduleError::TooManyFaulty {
                faulty: options.faulty(),
                peers: n,
                max: options.max_faulty(),
            })?;
            adversaries.insert(peer, *kind);
        }
        let random_crashers: Vec<usize> = order.take(options.crashes.count()).collect();
        let silent = |p: &usize| adversaries.get(p).is_some_and(|k| k.is_silent());
        let voters: Vec<usize> = (0..n).filter(|p| !silent(p)).collect();

        // Votes, then the length of the active phase.
        let lists = vote_lists(options, &voters, &mut rng);
        let mut vote_steps: Vec<Vec<Action>> = Vec::new();
        let mut cursor: BTreeMap<usize, usize> = lists.keys().map(|&p| (p, 0)).collect();
        let mut step = 0usize;
        while cursor.iter().any(|(p, &c)| c < lists[p].len()) {
            let mut actions = Vec::new();
            for (&peer, next) in cursor.iter_mut() {
                let list = &lists[&peer];
                let take = match options.votes {
                    VoteTiming::BeforeGossip => list.len() - *next,
                    VoteTiming::EveryStep => usize::from(*next < list.len()),
                    VoteTiming::Probability(p) => {
                        usize::from(*next < list.len() && rng.random_bool(p))
                    }
                };
                for observation in &list[*next..*next + take] {
                    actions.push(Action::Vote {
                        peer,
                        observation: observation.clone(),
                    });
                }
                *next += take;
            }
            vote_steps.push(actions);
            step += 1;
        }
        let mut active = (step as u64 + options.settle_steps).max(1);

        // Crashes.
        let mut crash_at: Vec<(usize, u64)> = match &options.crashes {
            Crashes::None => Vec::new(),
            Crashes::At(list) => list.clone(),
            Crashes::Together { step, .. } => {
                let at = step.unwrap_or(active / 2);
                random_crashers.iter().map(|&p| (p, at)).collect()
            }
            Crashes::Random { .. } => random_crashers
                .iter()
                .map(|&p| (p, rng.random_range(0..active)))
                .collect(),
        };
        crash_at.sort_unstable_by_key(|&(p, at)| (at, p));
        if let Some(&(_, last)) = crash_at.last() {
            active = active.max(last + 1);
        }

        // Partitions.
        let partitions: Vec<PartitionSpec> = match &options.partitions {
            Partitions::None => Vec::new(),
            Partitions::At(list) => list.clone(),
            Partitions::Random { count, max_length } => {
                let mut list = Vec::new();
                let mut from = 0;
                for _ in 0..*count {
                    let start = from + rng.random_range(0..active.max(1));
                    let heal = start + rng.random_range(1..=(*max_length).max(1));
                    list.push(PartitionSpec {
                        start,
                        heal,
                        groups: random_split(n, &mut rng),
                    });
                    from = heal;
                }
                list
            }
        };
        if let Some(last) = partitions.last() {
            active = active.max(last.heal + 1);
        }

        // Steps.
        let mut steps: Vec<Vec<Action>> = Vec::with_capacity(active as usize);
        let gossipers: Vec<usize> = voters.clone();
        for s in 0..active {
            let mut actions = Vec::new();
            for spec in &partitions {
                if spec.heal == s {
                    actions.push(Action::Heal);
                }
            }
            for spec in &partitions {
                if spec.start == s {
                    actions.push(Action::Partition {
                        groups: spec.groups.clone(),
                    });
                }
            }
            for &(peer, at) in &crash_at {
                if at == s {
                    actions.push(Action::Crash { peer });
                }
            }
            if let Some(votes) = vote_steps.get_mut(s as usize) {
                actions.append(votes);
            }
            for (&peer, kind) in &adversaries {
                if !kind.is_silent() && rng.random_bool(options.attack_probability) {
                    actions.push(Action::Misbehave {
                        peer,
                        act: Act::random(*kind, peer, n, &mut rng),
                    });
                }
            }
            let mut order = gossipers.clone();
            order.shuffle(&mut rng);
            for from in order {
                if n > 1 && rng.random_bool(options.gossip_probability) {
                    let mut to = rng.random_range(0..n - 1);
                    if to >= from {
                        to += 1;
                    }
                    actions.push(Action::Gossip { from, to });
                }
            }
            steps.push(actions);
        }

        let candidates: Vec<usize> = (0..n)
            .filter(|p| !adversaries.contains_key(p) && !crash_at.iter().any(|(c, _)| c == p))
            .collect();
        if options.restarts > candidates.len() {
            return Err(ScheduleError::TooManyRestarts {
                restarts: options.restarts,
                candidates: candidates.len(),
            });
        }
        super::restarts::plan(options.restarts, &candidates, seed, &mut steps);
        let restarting = steps
            .iter()
            .flatten()
            .filter_map(|a| match a {
                Action::Restart { peer } => Some(*peer),
                _ => None,
            })
            .collect();

        Ok(Schedule {
            restarting,
            seed,
            peers: n,
            mode: options.mode,
            network: options.network,
            crashing: crash_at.iter().map(|(p, _)| *p).collect(),
            adversaries,
            steps,
            gossip_probability: options.gossip_probability,
            liveness_steps: options.liveness_steps,
            max_events_per_message: options.max_events_per_message,
            coin: options.coin,
            pruning_window: options.pruning_window,
        })
    }

    /// The peers that misbehave or crash.
    pub fn faulty(&self) -> BTreeSet<usize> {
        self.adversaries
            .keys()
            .copied()
            .chain(self.crashing.iter().copied())
            .collect()
    }

    /// Whether the schedule has adversaries.
    pub fn has_adversaries(&self) -> bool {
        !self.adversaries.is_empty()
    }

    /// Every vote in the schedule, in step order.
    pub fn votes(&self) -> impl Iterator<Item = (usize, &Observation<String>)> {
        self.steps
            .iter()
            .flatten()
            .filter_map(|action| match action {
                Action::Vote { peer, observation } => Some((*peer, observation)),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule_and_faulty_budget() {
        let mut options = ScheduleOptions::new(7, ConsensusMode::Supermajority);
        options.payloads = 5;
        options.crashes = Crashes::Random { count: 1 };
        options.adversaries = vec![AdversaryKind::Fork];
        let a = Schedule::generate(&options, 9).unwrap();
        let b = Schedule::generate(&options, 9).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.faulty().len(), 2);
        options.adversaries.push(AdversaryKind::NeverGossip);
        assert!(matches!(
            Schedule::generate(&options, 9),
            Err(ScheduleError::TooManyFaulty { .. })
        ));
    }

    #[test]
    fn every_peer_votes_every_payload() {
        let mut options = ScheduleOptions::new(4, ConsensusMode::Supermajority);
        options.payloads = 3;
        options.votes = VoteTiming::EveryStep;
        let schedule = Schedule::generate(&options, 1).unwrap();
        for peer in 0..4 {
            let mut mine: Vec<_> = schedule
                .votes()
                .filter(|(p, _)| *p == peer)
                .map(|(_, o)| o.clone())
                .collect();
            mine.sort();
            assert_eq!(mine.len(), 3);
        }
    }
}
