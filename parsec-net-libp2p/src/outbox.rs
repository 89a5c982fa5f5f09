//! Our requests to each member: at most a few in flight (a connection has few stream
//! slots, shared with the member's requests to us), the rest queued in order up to a
//! bound, past which the oldest is dropped (delivery is lossy; the engine resends).

use std::collections::{BTreeMap, VecDeque};

use parsec_core::PeerId;

use crate::frame::Frame;

/// Requests in flight to one member at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// Requests queued for one member beyond those in flight.
pub const MAX_QUEUED: usize = 64;

/// The outbox (module docs).
#[derive(Default)]
pub(crate) struct Outbox {
    queued: BTreeMap<PeerId, VecDeque<Frame>>,
    in_flight: BTreeMap<PeerId, usize>,
}

impl Outbox {
    /// Queues `frame` for `to`; returns the frame dropped to make room, if any.
    pub(crate) fn push(&mut self, to: PeerId, frame: Frame) -> Option<Frame> {
        let queue = self.queued.entry(to).or_default();
        let dropped = if queue.len() >= MAX_QUEUED {
            queue.pop_front()
        } else {
            None
        };
        queue.push_back(frame);
        dropped
    }

    /// The frames for `to` that may go now (counted in flight from here on).
    pub(crate) fn ready(&mut self, to: &PeerId) -> Vec<Frame> {
        let Some(queue) = self.queued.get_mut(to) else {
            return Vec::new();
        };
        let flying = self.in_flight.entry(*to).or_default();
        let mut ready = Vec::new();
        while *flying < MAX_IN_FLIGHT {
            let Some(frame) = queue.pop_front() else {
                break;
            };
            *flying += 1;
            ready.push(frame);
        }
        if queue.is_empty() {
            self.queued.remove(to);
        }
        if *flying == 0 {
            self.in_flight.remove(to);
        }
        ready
    }

    /// A request to `to` ended (answered or failed).
    pub(crate) fn done(&mut self, to: &PeerId) {
        if let Some(flying) = self.in_flight.get_mut(to) {
            *flying = flying.saturating_sub(1);
            if *flying == 0 {
                self.in_flight.remove(to);
            }
        }
    }

    /// Forgets everything for members no longer in `keep`.
    pub(crate) fn retain(&mut self, keep: impl Fn(&PeerId) -> bool) {
        self.queued.retain(|peer, _| keep(peer));
        self.in_flight.retain(|peer, _| keep(peer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_in_flight_the_rest_in_order_and_bounded() {
        let peer = PeerId::from_bytes([1; 32]);
        let frame = |n: u8| Frame {
            asks: false,
            messages: vec![vec![n]],
        };
        let mut outbox = Outbox::default();
        for n in 0..10 {
            assert!(outbox.push(peer, frame(n)).is_none());
        }
        let first = outbox.ready(&peer);
        assert_eq!(
            first,
            (0..MAX_IN_FLIGHT as u8).map(frame).collect::<Vec<_>>()
        );
        assert!(outbox.ready(&peer).is_empty(), "all slots taken");
        outbox.done(&peer);
        assert_eq!(outbox.ready(&peer), vec![frame(MAX_IN_FLIGHT as u8)]);
        for n in 0..MAX_QUEUED as u8 {
            outbox.push(peer, frame(100 + n));
        }
        assert!(
            outbox.push(peer, frame(255)).is_some(),
            "the oldest is dropped"
        );
    }
}
