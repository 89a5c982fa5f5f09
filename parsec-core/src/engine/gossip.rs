//! Sending a sync (spec §4.2, §4.3): our new sync event, then the events the peer may
//! lack, from memory and, for what pruning dropped, from the store ([`crate::catch_up`]).

use parsec_coin::CommonCoin;
use parsec_graph::{Cause, EventHash, EventIndex, Payload, PeerId};

use super::{Parsec, Step};
use crate::catch_up::CatchUp;
use crate::error::Error;
use crate::sync::{self, SyncKind};

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// Creates our sync event, then the request or response carrying every event `peer`
    /// may lack (the new sync event last). When some of them were pruned, the messages
    /// are left to the driver as a [`CatchUp`], which makes exactly the messages an
    /// unpruned engine would send once the store's part is merged in.
    pub(super) fn sync_and_send(
        &mut self,
        step: &mut Step<T>,
        peer: PeerId,
        kind: SyncKind,
        cause: impl FnOnce(EventHash) -> Cause<T>,
    ) -> Result<(), Error> {
        let at = self.create_own(step, cause)?;
        if kind == SyncKind::Request {
            let hash = *self.graph.node(at).hash();
            self.answered.requested(hash);
        }
        let (events, delta_from) = self.sent.select(&self.graph, &self.our_id, peer);
        let base = self.graph.base().get();
        let stored = match delta_from {
            None => self
                .graph
                .catch_up_from(&peer)
                .map(|from| (from.get(), false)),
            // A delta carries our own new events only; some may be pruned already.
            Some(up_to) => (up_to < base).then_some((up_to, true)),
        };
        let limits = self.config.wire_limits;
        match stored {
            None => step
                .send
                .extend(sync::messages(&self.graph, peer, &events, kind, limits)?),
            Some((from, ours_only)) => {
                let catch_up = self.catch_up(peer, from, ours_only, &events, kind);
                tracing::debug!(%peer, from, until = base, "sync needs the store");
                step.catch_up.push(catch_up);
            }
        }
        Ok(())
    }

    /// The catch-up of a sync to `peer` that sends `events` from memory, reading the
    /// store from position `from` to our base.
    fn catch_up(
        &self,
        peer: PeerId,
        from: usize,
        ours_only: bool,
        events: &[EventIndex],
        kind: SyncKind,
    ) -> CatchUp<T> {
        let graph = &self.graph;
        let tip = graph.peer_index(&peer).and_then(|p| graph.tip(p));
        let known = tip
            .into_iter()
            .flat_map(|tip| graph.last_ancestors(tip))
            .map(|(p, last)| (*graph.peer_id(p), last))
            .collect();
        let floors = graph
            .peers()
            .filter(|(_, id)| !ours_only || **id == self.our_id)
            .map(|(p, id)| (*id, graph.pruning_floor(p)))
            .filter(|(_, floor)| *floor > 0)
            .collect();
        let held = events
            .iter()
            .map(|&at| (at.get() as u64, graph.node(at).event().packed().clone()))
            .collect();
        CatchUp::new(
            peer,
            (from as u64, graph.base().get() as u64),
            known,
            floors,
            held,
            kind.into(),
            self.config.wire_limits,
        )
    }
}
