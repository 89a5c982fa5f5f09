//! Random scenarios for the soak runner and the property test.
//!
//! # How it works
//!
//! A [`Recipe`] names a scenario in a handful of coarse choices: peer count, consensus
//! mode, payload count, a [`FaultMix`], a [`NetworkMix`], a [`VoteMix`], and a seed.
//! [`Recipe::options`] turns it into [`ScheduleOptions`] (the seed also picks how many
//! peers are faulty and, for mixed faults, which kind each one is), and the seed then draws
//! the schedule. [`Recipe::random`] draws a whole recipe from one `u64`, which is how the
//! soak runner names its runs. A recipe prints as one line of `key=value` words and parses
//! back from it, so any run can be replayed from its printed form.

use std::fmt;
use std::str::FromStr;

use parsec_graph::ConsensusMode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::adversary::AdversaryKind;
use super::schedule::{Crashes, Delay, NetworkConditions, Partitions, ScheduleOptions, VoteTiming};

const STREAM_RECIPE: u64 = 7;
const STREAM_FAULTS: u64 = 8;

/// Which faults a scenario has (at most `(peers - 1) / 3` faulty peers, at least one when
/// that is at least one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultMix {
    /// Every peer honest.
    None,
    /// Peers crash at random steps.
    Crash,
    /// Peers that never gossip.
    NeverGossip,
    /// Peers that fork.
    Fork,
    /// Peers that fork and show each branch to different peers, as bare events.
    SplitFork,
    /// Peers that send made-up creators, flood the buffer or fork many times (one kind
    /// each).
    Flood,
    /// Peers that vote twice.
    DoubleVote,
    /// Peers that replay messages and send bad signatures, unknown parents, oversized
    /// messages (one kind each).
    Garbage,
    /// Each faulty peer of a random kind, crashes included.
    Mixed,
}

/// How the network behaves during the active phase. The lossy mixes also cap messages at
/// 64 events, so that syncs are split into chunks that can be lost or overtaken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetworkMix {
    /// Instant, lossless, in order.
    Perfect,
    /// Random delays of 0 to 3 steps.
    Delayed,
    /// Delays, 10% loss, 10% duplicates, 20% reordered, at most 64 events a message.
    Lossy,
    /// Instant, but split in two twice for up to 15 steps.
    Partitioned,
    /// Lossy and partitioned.
    Hostile,
}

/// When votes are cast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteMix {
    /// All before any gossip.
    BeforeGossip,
    /// One per peer every step.
    EveryStep,
    /// One per peer every three steps on average.
    OneInThree,
    /// One in three, with repeated votes the engine must refuse and two payloads voted by
    /// random subsets only.
    Messy,
}

/// A random scenario in a few coarse choices (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// Genesis members.
    pub peers: usize,
    /// Consensus mode.
    pub mode: ConsensusMode,
    /// Payloads every peer votes.
    pub payloads: usize,
    /// Faults.
    pub faults: FaultMix,
    /// Network.
    pub network: NetworkMix,
    /// Votes.
    pub votes: VoteMix,
    /// The seed of the schedule and the run.
    pub seed: u64,
}

macro_rules! names {
    ($ty:ty { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            /// Its name in a recipe line.
            pub fn name(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }

            fn parse(name: &str) -> Option<$ty> {
                match name { $($name => Some(<$ty>::$variant),)+ _ => None }
            }
        }
    };
}

names!(FaultMix {
    None = "none",
    Crash = "crash",
    NeverGossip = "never-gossip",
    Fork = "fork",
    SplitFork = "split-fork",
    Flood = "flood",
    DoubleVote = "double-vote",
    Garbage = "garbage",
    Mixed = "mixed",
});

names!(NetworkMix {
    Perfect = "perfect",
    Delayed = "delayed",
    Lossy = "lossy",
    Partitioned = "partitioned",
    Hostile = "hostile",
});

names!(VoteMix {
    BeforeGossip = "before-gossip",
    EveryStep = "every-step",
    OneInThree = "one-in-three",
    Messy = "messy",
});

/// Events per message on lossy networks.
const SMALL_MESSAGES: usize = 64;

const LOSSY: NetworkConditions = NetworkConditions {
    delay: Delay::Uniform { min: 0, max: 2 },
    drop: 0.1,
    duplicate: 0.1,
    reorder: 0.2,
    reorder_window: 3,
};

impl Recipe {
    /// A recipe drawn from `seed` alone: 1 to `max_peers` peers (at most 16), either mode,
    /// 1 to 8 payloads, any mixes; the recipe's own seed is `seed`.
    pub fn random(seed: u64, max_peers: usize) -> Recipe {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(STREAM_RECIPE);
        let pick = |rng: &mut ChaCha8Rng, len: usize| rng.random_range(0..len);
        Recipe {
            peers: rng.random_range(1..=max_peers.clamp(1, 16)),
            mode: if rng.random_bool(0.5) {
                ConsensusMode::Supermajority
            } else {
                ConsensusMode::Single
            },
            payloads: rng.random_range(1..=8),
            faults: FaultMix::ALL[pick(&mut rng, FaultMix::ALL.len())],
            network: NetworkMix::ALL[pick(&mut rng, NetworkMix::ALL.len())],
            votes: VoteMix::ALL[pick(&mut rng, VoteMix::ALL.len())],
            seed,
        }
    }

    /// The schedule options of this recipe.
    pub fn options(&self) -> ScheduleOptions {
        let mut options = ScheduleOptions::new(self.peers, self.mode);
        options.payloads = self.payloads;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(STREAM_FAULTS);
        let max = options.max_faulty();
        let faulty = if max == 0 || self.faults == FaultMix::None {
            0
        } else {
            rng.random_range(1..=max)
        };
        let garbage = [
            AdversaryKind::Replay,
            AdversaryKind::BadSignature,
            AdversaryKind::UnknownParents,
            AdversaryKind::Oversized,
        ];
        let floods = [
            AdversaryKind::MadeUpCreators,
            AdversaryKind::Flood,
            AdversaryKind::ManyForks,
        ];
        let mut crashes = 0;
        for _ in 0..faulty {
            let kind = match self.faults {
                FaultMix::None => continue,
                FaultMix::Crash => None,
                FaultMix::NeverGossip => Some(AdversaryKind::NeverGossip),
                FaultMix::Fork => Some(AdversaryKind::Fork),
                FaultMix::SplitFork => Some(AdversaryKind::SplitFork),
                FaultMix::Flood => Some(floods[rng.random_range(0..floods.len())]),
                FaultMix::DoubleVote => Some(AdversaryKind::DoubleVote),
                FaultMix::Garbage => Some(garbage[rng.random_range(0..garbage.len())]),
                FaultMix::Mixed => {
                    let k = rng.random_range(0..=AdversaryKind::ALL.len());
                    AdversaryKind::ALL.get(k).copied()
                }
            };
            match kind {
                Some(kind) => options.adversaries.push(kind),
                None => crashes += 1,
            }
        }
        if crashes > 0 {
            options.crashes = Crashes::Random { count: crashes };
        }
        options.attack_probability = 0.3;
        match self.network {
            NetworkMix::Perfect => {}
            NetworkMix::Delayed => {
                options.network.delay = Delay::Uniform { min: 0, max: 3 };
            }
            NetworkMix::Lossy => {
                options.network = LOSSY;
                options.max_events_per_message = SMALL_MESSAGES;
            }
            NetworkMix::Partitioned => {
                options.partitions = Partitions::Random {
                    count: 2,
                    max_length: 15,
                };
            }
            NetworkMix::Hostile => {
                options.network = LOSSY;
                options.max_events_per_message = SMALL_MESSAGES;
                options.partitions = Partitions::Random {
                    count: 2,
                    max_length: 15,
                };
            }
        }
        match self.votes {
            VoteMix::BeforeGossip => options.votes = VoteTiming::BeforeGossip,
            VoteMix::EveryStep => options.votes = VoteTiming::EveryStep,
            VoteMix::OneInThree => options.votes = VoteTiming::Probability(1.0 / 3.0),
            VoteMix::Messy => {
                options.votes = VoteTiming::Probability(1.0 / 3.0);
                options.duplicate_votes = 0.3;
                options.partial_payloads = 2;
            }
        }
        options
    }
}

impl fmt::Display for Recipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            ConsensusMode::Supermajority => "supermajority",
            ConsensusMode::Single => "single",
        };
        write!(
            f,
            "peers={} mode={mode} payloads={} faults={} network={} votes={} seed={}",
            self.peers,
            self.payloads,
            self.faults.name(),
            self.network.name(),
            self.votes.name(),
            self.seed
        )
    }
}

/// Why a recipe line does not parse.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error(
    "bad recipe word {word:?}: expected peers=N mode=supermajority|single payloads=N faults=.. network=.. votes=.. seed=N"
)]
pub struct RecipeError {
    /// The offending word (or the missing key).
    pub word: String,
}

impl FromStr for Recipe {
    type Err = RecipeError;

    fn from_str(line: &str) -> Result<Recipe, RecipeError> {
        let bad = |word: &str| RecipeError {
            word: word.to_string(),
        };
        let (mut peers, mut mode, mut payloads, mut faults, mut network, mut votes, mut seed) =
            (None, None, None, None, None, None, None);
        for word in line.split_whitespace() {
            let (key, value) = word.split_once('=').ok_or_else(|| bad(word))?;
            match key {
                "peers" => peers = value.parse().ok(),
                "mode" => {
                    mode = match value {
                        "supermajority" => Some(ConsensusMode::Supermajority),
                        "single" => Some(ConsensusMode::Single),
                        _ => None,
                    }
                }
                "payloads" => payloads = value.parse().ok(),
                "faults" => faults = FaultMix::parse(value),
                "network" => network = NetworkMix::parse(value),
                "votes" => votes = VoteMix::parse(value),
                "seed" => seed = value.parse().ok(),
                _ => return Err(bad(word)),
            }
        }
        Ok(Recipe {
            peers: peers.ok_or_else(|| bad("peers"))?,
            mode: mode.ok_or_else(|| bad("mode"))?,
            payloads: payloads.ok_or_else(|| bad("payloads"))?,
            faults: faults.ok_or_else(|| bad("faults"))?,
            network: network.ok_or_else(|| bad("network"))?,
            votes: votes.ok_or_else(|| bad("votes"))?,
            seed: seed.ok_or_else(|| bad("seed"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_print_and_parse_back() {
        for seed in 0..50 {
            let recipe = Recipe::random(seed, 16);
            assert_eq!(recipe.to_string().parse::<Recipe>(), Ok(recipe));
            let options = recipe.options();
            assert!(options.faulty() <= options.max_faulty());
        }
        assert!("peers=3".parse::<Recipe>().is_err());
        assert!("peers=3 colour=blue".parse::<Recipe>().is_err());
    }
}
