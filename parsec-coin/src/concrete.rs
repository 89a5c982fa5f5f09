//! `ConcreteCoin`: the coin derived from the graph, with no setup (spec §7.3).
//!
//! For coin `(e, p, r)` the voters are ranked by `rank_key(v) XOR RH(e, p, r)`. An event of
//! a voter *qualifies* once its creator has committed its genuine-flip aux value for round
//! `r` of candidate `p` there (the meta-election reports this through
//! [`CommonCoin::on_evaluated`]). At event `E` the coin looks at the leaders of the allowed
//! ranks, best first: rank 1 at once, one more rank per `R = max(1, ⌈log2 N⌉)` sync events
//! of `E`'s creator after its first event that needed the coin. The value is bit 0 of the
//! hash of the earliest qualifying event, in `anc(E)`, of the best allowed leader that has
//! one and that `E` does not see forking.
//!
//! What it does not guarantee: the round hash is predictable, so an adversary knows every
//! round's leaders in advance; a faulty leader can withhold its event (forcing the
//! fallback) or pick among event contents to bias its bit; and different voters may use
//! different leaders in one round. The coin is therefore common only with some probability
//! per round, and agreement terminates with probability 1 against a fair scheduler, not
//! against one that controls message delivery. Safety never depends on the coin.

use parsec_graph::{DigestMap, EventIndex, Graph, PeerId, PeerIndex, rank_key, round_hash};

use crate::{CoinAgreement, CoinContext, CoinId, CommonCoin, agreement_digest};

/// The coin derived from the graph (spec §7.3). Its state is what it was told about the
/// events of the current election; every answer reads only the asking event's ancestry.
#[derive(Clone, Debug, Default)]
pub struct ConcreteCoin {
    /// The election the state below belongs to.
    election: Option<u64>,
    /// Per evaluated event: per candidate slot, the highest round whose genuine flip its
    /// creator had committed there.
    past_flip: DigestMap<EventIndex, Box<[Option<u32>]>>,
    /// Per (creator, candidate slot): the events at which that round rose above the
    /// self-parent's, in insertion order (so in index order along any one chain).
    rises: DigestMap<(PeerIndex, usize), Vec<(EventIndex, u32)>>,
    /// Per (coin, creator): the creator's events that needed the coin, in insertion order.
    needed: DigestMap<(CoinId, PeerIndex), Vec<EventIndex>>,
    /// Per coin: the voters, best rank first.
    rankings: DigestMap<CoinId, Vec<PeerId>>,
}

impl ConcreteCoin {
    /// A coin with no state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops what belongs to an earlier election.
    fn enter(&mut self, election: u64) {
        if self.election != Some(election) {
            *self = Self {
                election: Some(election),
                ..Self::default()
            };
        }
    }

    fn ranking<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) -> &[PeerId] {
        self.rankings.entry(*id).or_insert_with(|| {
            let hash = round_hash(
                id.election,
                &ctx.info.previous_group_hash,
                &id.candidate,
                id.round,
            );
            let mut ranked: Vec<([u8; 32], PeerId)> = ctx
                .info
                .voters
                .iter()
                .map(|v| {
                    let mut key = rank_key(v);
                    for (k, h) in key.iter_mut().zip(hash.iter()) {
                        *k ^= h;
                    }
                    (key, *v)
                })
                .collect();
            // Big-endian byte order is the lexicographic order of the arrays.
            ranked.sort_unstable();
            ranked.into_iter().map(|(_, v)| v).collect()
        })
    }

    /// How many ranks `at` may use: `min(N, 1 + ⌊w / R⌋)` with `w` the sync events of its
    /// creator after its first event on `at`'s self-chain that needed `id` (spec §7.3 step 4).
    fn allowed_ranks<T>(&self, id: &CoinId, ctx: &CoinContext<'_, T>) -> usize {
        let graph = ctx.graph;
        let voters = ctx.info.voters.len();
        let responsiveness = responsiveness(voters);
        let creator = graph.node(ctx.at).creator();
        let first = self
            .needed
            .get(&(*id, creator))
            .and_then(|events| {
                events
                    .iter()
                    .copied()
                    .find(|&n| graph.is_descendant_of(ctx.at, n))
            })
            .unwrap_or(ctx.at);
        // Enough sync events allow every rank: the walk stops there.
        let enough = responsiveness.saturating_mul(voters.saturating_sub(1));
        let first_index = graph.node(first).creator_index();
        let mut syncs = 0;
        let mut cursor = Some(ctx.at);
        while let Some(event) = cursor {
            let node = graph.node(event);
            if node.creator_index() <= first_index || syncs >= enough {
                break;
            }
            if node.is_sync() {
                syncs += 1;
            }
            cursor = node.self_parent();
        }
        voters.min(1 + syncs / responsiveness)
    }
}

/// `R = max(1, ⌈log2 N⌉)`.
fn responsiveness(voters: usize) -> usize {
    let mut bits = 0;
    while (1usize << bits) < voters {
        bits += 1;
    }
    bits.max(1)
}

impl CommonCoin for ConcreteCoin {
    fn agreement(&self) -> CoinAgreement {
        agreement_digest("concrete", &[])
    }

    /// Its state belongs to one election and names only events that election evaluated,
    /// none below its restart point; it is reset before a later election reads it.
    fn oldest_event(&self) -> Option<EventIndex> {
        None
    }

    fn value<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) -> Option<bool> {
        self.enter(id.election);
        let slot = ctx.info.voters.iter().position(|v| *v == id.candidate)?;
        let allowed = self.allowed_ranks(id, ctx);
        let graph: &Graph<T> = ctx.graph;
        let ranking = self.ranking(id, ctx).to_vec();
        for leader in ranking.iter().take(allowed) {
            let Some(leader) = graph.peer_index(leader) else {
                continue;
            };
            if graph.descends_from_fork_of(ctx.at, leader) {
                continue;
            }
            let qualifying = self.rises.get(&(leader, slot)).and_then(|rises| {
                rises.iter().find(|&&(event, round)| {
                    round >= id.round && graph.is_descendant_of(ctx.at, event)
                })
            });
            if let Some(&(event, _)) = qualifying {
                return Some(graph.node(event).hash().as_bytes()[0] & 1 == 1);
            }
        }
        None
    }

    fn on_needed<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) {
        self.enter(id.election);
        let creator = ctx.graph.node(ctx.at).creator();
        let events = self.needed.entry((*id, creator)).or_default();
        if events.last() != Some(&ctx.at) {
            events.push(ctx.at);
        }
    }

    fn wants_evaluations(&self) -> bool {
        true
    }

    fn on_evaluated<T>(&mut self, past_flip: &[Option<u32>], ctx: &CoinContext<'_, T>) {
        self.enter(ctx.info.election);
        let node = ctx.graph.node(ctx.at);
        let parent = node.self_parent().and_then(|p| self.past_flip.get(&p));
        for (slot, &round) in past_flip.iter().enumerate() {
            let before = parent.and_then(|p| p.get(slot).copied().flatten());
            if let Some(round) = round
                && before.is_none_or(|b| round > b)
            {
                self.rises
                    .entry((node.creator(), slot))
                    .or_default()
                    .push((ctx.at, round));
            }
        }
        self.past_flip.insert(ctx.at, past_flip.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responsiveness_is_the_ceiling_of_log2() {
        let expected = [
            (1, 1),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (8, 3),
            (9, 4),
            (16, 4),
            (17, 5),
        ];
        for (voters, r) in expected {
            assert_eq!(responsiveness(voters), r, "{voters} voters");
        }
    }
}
