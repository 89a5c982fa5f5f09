//! The links between peers: messages in flight, delays, losses, duplicates, reordering and
//! partitions.
//!
//! # How it works
//!
//! A sent message gets a delivery step (now plus its delay, plus an extra delay if it is
//! reordered) and a sequence number, and waits in an ordered map keyed by both; messages are
//! delivered in that order, so messages due at the same step keep their sending order.
//! Under [`NetworkConditions::PERFECT`] every message is due at once, so the links are a
//! first-in first-out queue and draw nothing from their random stream.
//! Loss and duplication are decided when a message is sent; a partition is checked when it
//! is delivered (a message sent before a split but delivered during it is lost). All random
//! choices come from the links' own seeded stream, in a fixed order per message (loss,
//! duplication, then each copy's delay and reordering), so a seed replays them exactly.
//!
//! (The name `Transport` is kept for the network-adapter trait of `parsec-core`.)

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::sim::{Delay, NetworkConditions};

/// A message in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<M> {
    /// The sender's peer number.
    pub from: usize,
    /// The recipient's peer number.
    pub to: usize,
    /// The message.
    pub message: M,
}

/// What the links did with messages, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounts {
    /// Messages lost at random.
    pub dropped: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Messages held back so that later ones overtake them.
    pub reordered: u64,
    /// Messages lost to a partition.
    pub partitioned: u64,
}

/// The messages in flight between the peers of a network, numbered `0..peers` (see the
/// module docs).
#[derive(Debug)]
pub struct Links<M> {
    queue: BTreeMap<(u64, u64), Envelope<M>>,
    sequence: u64,
    conditions: NetworkConditions,
    /// The group of each peer while the network is split.
    groups: Option<Vec<usize>>,
    rng: ChaCha8Rng,
    counts: LinkCounts,
}

impl<M: Clone> Links<M> {
    /// Empty links behaving as `conditions`, drawing every random choice from `rng`.
    pub fn new(conditions: NetworkConditions, rng: ChaCha8Rng) -> Self {
        Links {
            queue: BTreeMap::new(),
            sequence: 0,
            conditions,
            groups: None,
            rng,
            counts: LinkCounts::default(),
        }
    }

    /// How the links behave now.
    pub fn conditions(&self) -> NetworkConditions {
        self.conditions
    }

    /// Changes the links' behaviour from now on (messages in flight keep their delay).
    pub fn set_conditions(&mut self, conditions: NetworkConditions) {
        self.conditions = conditions;
    }

    /// What the links did so far.
    pub fn counts(&self) -> LinkCounts {
        self.counts
    }

    /// Messages in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// The step at which the next message in flight is due, if any.
    pub fn next_due_at(&self) -> Option<u64> {
        self.queue.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Splits the network of `peers` peers: `groups` by peer number, every other peer
    /// alone.
    pub fn partition(&mut self, peers: usize, groups: &[Vec<usize>]) {
        let mut of: Vec<usize> = (0..peers).map(|p| groups.len() + p).collect();
        for (g, members) in groups.iter().enumerate() {
            for &peer in members {
                if let Some(slot) = of.get_mut(peer) {
                    *slot = g;
                }
            }
        }
        self.groups = Some(of);
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Whether the network is split.
    pub fn is_split(&self) -> bool {
        self.groups.is_some()
    }

    fn delay(&mut self) -> u64 {
        let base = match self.conditions.delay {
            Delay::None => 0,
            Delay::Constant(d) => d,
            Delay::Uniform { min, max } => self.rng.random_range(min..=max),
        };
        if self.conditions.reorder > 0.0
            && self.conditions.reorder_window > 0
            && self.rng.random_bool(self.conditions.reorder)
        {
            self.counts.reordered += 1;
            base + self.rng.random_range(1..=self.conditions.reorder_window)
        } else {
            base
        }
    }

    fn enqueue(&mut self, now: u64, envelope: Envelope<M>) {
        let at = now + self.delay();
        self.queue.insert((at, self.sequence), envelope);
        self.sequence += 1;
    }

    /// Sends `message` from `from` to `to` at step `now`.
    pub fn send(&mut self, now: u64, from: usize, to: usize, message: M) {
        if self.conditions.drop > 0.0 && self.rng.random_bool(self.conditions.drop) {
            self.counts.dropped += 1;
            return;
        }
        if self.conditions.duplicate > 0.0 && self.rng.random_bool(self.conditions.duplicate) {
            self.counts.duplicated += 1;
            let copy = Envelope {
                from,
                to,
                message: message.clone(),
            };
            self.enqueue(now, copy);
        }
        self.enqueue(now, Envelope { from, to, message });
    }

    /// The next message due at or before `now` that crosses no partition; the ones that
    /// cross one are lost on the way.
    pub fn next_due(&mut self, now: u64) -> Option<Envelope<M>> {
        loop {
            let entry = self.queue.first_entry()?;
            if entry.key().0 > now {
                return None;
            }
            let envelope = entry.remove();
            let split = self
                .groups
                .as_ref()
                .is_some_and(|of| of.get(envelope.from) != of.get(envelope.to));
            if split {
                self.counts.partitioned += 1;
                continue;
            }
            return Some(envelope);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn links(conditions: NetworkConditions) -> Links<Vec<u8>> {
        Links::new(conditions, ChaCha8Rng::seed_from_u64(1))
    }

    fn drain(t: &mut Links<Vec<u8>>, now: u64) -> Vec<(usize, usize, Vec<u8>)> {
        std::iter::from_fn(|| t.next_due(now))
            .map(|e| (e.from, e.to, e.message))
            .collect()
    }

    #[test]
    fn due_messages_arrive_in_sending_order() {
        let mut t = links(NetworkConditions {
            delay: Delay::Constant(2),
            ..NetworkConditions::PERFECT
        });
        t.send(0, 0, 1, vec![1]);
        t.send(0, 1, 0, vec![2]);
        t.send(1, 0, 1, vec![3]);
        assert!(drain(&mut t, 1).is_empty());
        assert_eq!(drain(&mut t, 2), vec![(0, 1, vec![1]), (1, 0, vec![2])]);
        assert_eq!(drain(&mut t, 3), vec![(0, 1, vec![3])]);
    }

    #[test]
    fn partitions_lose_crossing_messages_until_healed() {
        let mut t = links(NetworkConditions::PERFECT);
        t.partition(4, &[vec![0, 1], vec![2]]);
        t.send(0, 0, 1, vec![1]);
        t.send(0, 0, 2, vec![2]);
        // Peer 3 is in no group: alone.
        t.send(0, 3, 0, vec![3]);
        assert_eq!(drain(&mut t, 0), vec![(0, 1, vec![1])]);
        assert_eq!(t.counts().partitioned, 2);
        t.heal();
        t.send(0, 0, 2, vec![4]);
        assert_eq!(drain(&mut t, 0), vec![(0, 2, vec![4])]);
    }

    #[test]
    fn losses_duplicates_and_reordering_are_counted() {
        let mut t = links(NetworkConditions {
            delay: Delay::Uniform { min: 0, max: 1 },
            drop: 0.2,
            duplicate: 0.2,
            reorder: 0.2,
            reorder_window: 3,
        });
        for i in 0..200u8 {
            t.send(0, 0, 1, vec![i]);
        }
        let delivered = drain(&mut t, 10);
        let c = t.counts();
        assert!(
            c.dropped > 0 && c.duplicated > 0 && c.reordered > 0,
            "{c:?}"
        );
        assert_eq!(delivered.len() as u64, 200 - c.dropped + c.duplicated);
        let order: Vec<u8> = delivered.iter().map(|d| d.2[0]).collect();
        assert!(
            order.windows(2).any(|w| w[0] > w[1]),
            "something was overtaken"
        );
    }
}
