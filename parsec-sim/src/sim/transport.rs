//! The simulated network: messages in flight, delays, losses, duplicates, reordering and
//! partitions.
//!
//! # How it works
//!
//! A sent message gets a delivery step (now plus its delay, plus an extra delay if it is
//! reordered) and a sequence number, and waits in an ordered map keyed by both; messages are
//! delivered in that order, so messages due at the same step keep their sending order.
//! Loss and duplication are decided when a message is sent; a partition is checked when it
//! is delivered (a message sent before a split but delivered during it is lost). All random
//! choices come from the transport's own seeded stream.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::schedule::{Delay, NetworkConditions};

/// A message in flight.
#[derive(Debug)]
pub(crate) struct Envelope {
    /// The sender's peer number.
    pub(crate) from: usize,
    /// The recipient's peer number.
    pub(crate) to: usize,
    /// The encoded message.
    pub(crate) bytes: Vec<u8>,
}

/// What the transport did with messages, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportCounts {
    /// Messages lost at random.
    pub dropped: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Messages held back so that later ones overtake them.
    pub reordered: u64,
    /// Messages lost to a partition.
    pub partitioned: u64,
}

#[derive(Debug)]
pub(crate) struct Transport {
    queue: BTreeMap<(u64, u64), Envelope>,
    sequence: u64,
    conditions: NetworkConditions,
    /// The group of each peer while the network is split.
    groups: Option<Vec<usize>>,
    rng: ChaCha8Rng,
    pub(crate) counts: TransportCounts,
}

impl Transport {
    pub(crate) fn new(conditions: NetworkConditions, rng: ChaCha8Rng) -> Self {
        Transport {
            queue: BTreeMap::new(),
            sequence: 0,
            conditions,
            groups: None,
            rng,
            counts: TransportCounts::default(),
        }
    }

    /// Changes the network's behaviour from now on (messages in flight keep their delay).
    pub(crate) fn set_conditions(&mut self, conditions: NetworkConditions) {
        self.conditions = conditions;
    }

    /// Splits the network: `groups` by peer number, every other peer alone.
    pub(crate) fn partition(&mut self, peers: usize, groups: &[Vec<usize>]) {
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
    pub(crate) fn heal(&mut self) {
        self.groups = None;
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

    fn enqueue(&mut self, now: u64, envelope: Envelope) {
        let at = now + self.delay();
        self.queue.insert((at, self.sequence), envelope);
        self.sequence += 1;
    }

    /// Sends `bytes` from `from` to `to` at step `now`.
    pub(crate) fn send(&mut self, now: u64, from: usize, to: usize, bytes: Vec<u8>) {
        if self.conditions.drop > 0.0 && self.rng.random_bool(self.conditions.drop) {
            self.counts.dropped += 1;
            return;
        }
        if self.conditions.duplicate > 0.0 && self.rng.random_bool(self.conditions.duplicate) {
            self.counts.duplicated += 1;
            let copy = Envelope {
                from,
                to,
                bytes: bytes.clone(),
            };
            self.enqueue(now, copy);
        }
        self.enqueue(now, Envelope { from, to, bytes });
    }

    /// The next message due at or before `now` that crosses no partition; the ones that
    /// cross one are lost on the way.
    pub(crate) fn next_due(&mut self, now: u64) -> Option<Envelope> {
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

    fn transport(conditions: NetworkConditions) -> Transport {
        Transport::new(conditions, ChaCha8Rng::seed_from_u64(1))
    }

    fn drain(t: &mut Transport, now: u64) -> Vec<(usize, usize, Vec<u8>)> {
        std::iter::from_fn(|| t.next_due(now))
            .map(|e| (e.from, e.to, e.bytes))
            .collect()
    }

    #[test]
    fn due_messages_arrive_in_sending_order() {
        let mut t = transport(NetworkConditions {
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
        let mut t = transport(NetworkConditions::PERFECT);
        t.partition(4, &[vec![0, 1], vec![2]]);
        t.send(0, 0, 1, vec![1]);
        t.send(0, 0, 2, vec![2]);
        // Peer 3 is in no group: alone.
        t.send(0, 3, 0, vec![3]);
        assert_eq!(drain(&mut t, 0), vec![(0, 1, vec![1])]);
        assert_eq!(t.counts.partitioned, 2);
        t.heal();
        t.send(0, 0, 2, vec![4]);
        assert_eq!(drain(&mut t, 0), vec![(0, 2, vec![4])]);
    }

    #[test]
    fn losses_duplicates_and_reordering_are_counted() {
        let mut t = transport(NetworkConditions {
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
        let c = t.counts;
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
