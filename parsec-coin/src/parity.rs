//! `ParityCoin`: the original implementation's predictable coin (spec §7.2).

use crate::{CoinAgreement, CoinContext, CoinId, CommonCoin, agreement_digest};

/// The original implementation's predictable coin: `true` iff the round is even.
///
/// Always available and ignores everything but the round; an adversarial scheduler can
/// exploit it, so it exists for conformance replays and tests only (spec §7.2).
#[derive(Clone, Copy, Debug, Default)]
pub struct ParityCoin;

impl CommonCoin for ParityCoin {
    fn agreement(&self) -> CoinAgreement {
        agreement_digest("parity", &[])
    }

    fn value<T>(&mut self, id: &CoinId, _ctx: &CoinContext<'_, T>) -> Option<bool> {
        Some(id.round.is_multiple_of(2))
    }

    fn oldest_event(&self) -> Option<parsec_graph::EventIndex> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ElectionInfo;
    use parsec_graph::{EventIndex, Graph, PeerId};

    #[test]
    fn parity_coin_follows_round_parity_only() {
        let graph = Graph::<u8>::new();
        let voters = [PeerId::from_bytes([1; 32]), PeerId::from_bytes([2; 32])];
        let mut coin = ParityCoin;
        for election in [0, 7] {
            for candidate in voters {
                let info = ElectionInfo {
                    election,
                    voters: &voters,
                    previous_group_hash: [election as u8; 32],
                };
                let ctx = CoinContext {
                    graph: &graph,
                    at: EventIndex::from(0),
                    info: &info,
                };
                for round in 0..6 {
                    let id = CoinId {
                        election,
                        candidate,
                        round,
                    };
                    assert_eq!(coin.value(&id, &ctx), Some(round % 2 == 0), "round {round}");
                }
            }
        }
        assert!(coin.take_outgoing().is_empty());
    }
}
