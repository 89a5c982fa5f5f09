//! Feeding events (spec §6.2): each inserted event registers its vote, if any, and is
//! evaluated once in the current election; a decision restarts inside the same call.

use parsec_coin::{CoinContext, CommonCoin, ElectionInfo};
use parsec_graph::{EventIndex, Graph, Observation, Payload};

use super::{DecidedGroup, ElectionError, ElectionStep, Elections, KeyId, VoteRecord};

impl<C: CommonCoin> Elections<C> {
    /// Registers the newly inserted `event`, evaluates it (spec §6.2) and runs the decision
    /// cascade it starts: after a decision the membership changes are applied, the next
    /// election starts and the graph is re-evaluated from the restart point, which may
    /// decide again (spec §8.5 to §8.7). Events must be fed in insertion order, each
    /// exactly once.
    ///
    /// The graph is mutable for one reason only: a voter added by a decision is registered
    /// with [`Graph::register_peer`] to get its local number. Nothing else in it changes.
    pub fn on_insert<T: Payload>(
        &mut self,
        graph: &mut Graph<T>,
        event: EventIndex,
    ) -> Result<ElectionStep<T>, ElectionError> {
        let mut step = ElectionStep::default();
        if self.next_voters.is_some() {
            // A restart is still owed: the last group removed every voter, or the graph
            // could not take an added voter. Retried here, it fails again in practice.
            self.restart_cascade(graph, &mut step)?;
        }
        if event.get() != self.evaluated {
            return Err(ElectionError::OutOfOrder {
                expected: self.evaluated,
                got: event.get(),
            });
        }
        self.register(graph, event);
        {
            let info = ElectionInfo {
                election: self.election,
                voters: &self.voters.ids,
                previous_group_hash: self.previous_group_hash,
            };
            let ctx = CoinContext {
                graph,
                at: event,
                info: &info,
            };
            self.coin.on_inserted(&ctx);
        }
        self.meta.push(None);
        self.evaluated += 1;
        if let Some(group) = self.evaluate(graph, event, None) {
            step.decided.push(group);
            match self.restart_cascade(graph, &mut step) {
                // The last group removed every voter: the groups are handed back, and the
                // next call reports that nothing more can be decided.
                Err(ElectionError::NoVoters) => {}
                result => result?,
            }
        }
        step.coin_shares = self.coin.take_outgoing();
        step.coin_faults = self.coin.take_faults();
        Ok(step)
    }

    /// Registers `event`'s vote, unless its key was decided already.
    fn register<T: Payload>(&mut self, graph: &Graph<T>, event: EventIndex) {
        let node = graph.node(event);
        let Some(key) = node.event().vote_key(self.mode) else {
            return;
        };
        if self.decided_keys.contains(&key) {
            return;
        }
        let key = self.intern(key);
        let id = self.records.len();
        self.records.push(VoteRecord {
            event,
            creator: node.creator(),
            index: node.creator_index(),
            key,
            decided: false,
            since: self.election,
            removes: matches!(
                node.event().vote().map(|vote| &vote.observation),
                Some(Observation::Remove { .. } | Observation::Accusation { .. })
            ),
        });
        let creator = node.creator().get();
        if self.by_creator.len() <= creator {
            self.by_creator.resize(creator + 1, Vec::new());
        }
        self.by_creator[creator].push(id);
        self.votes_of[key as usize].push(id);
        self.undecided.insert(key);
        self.undecided_records.insert(id);
    }

    fn intern(&mut self, key: parsec_graph::ObservationKey) -> KeyId {
        if let Some(&id) = self.key_ids.get(&key) {
            return id;
        }
        let id = self.keys.len() as KeyId;
        self.keys.push(key);
        self.key_ids.insert(key, id);
        self.decided.push(false);
        self.votes_of.push(Vec::new());
        id
    }

    /// Evaluates one event in the current election; `kept` is the content it keeps from an
    /// earlier election (already stripped of decided keys).
    pub(super) fn evaluate<T: Payload>(
        &mut self,
        graph: &Graph<T>,
        event: EventIndex,
        kept: Option<Vec<KeyId>>,
    ) -> Option<DecidedGroup<T>> {
        let node = graph.node(event);
        if node.is_sync()
            && let Some(slot) = self.voters.slot(node.creator())
        {
            self.build_meta(graph, event, slot, kept);
        }
        self.decide_at(graph, event)
    }
}
