//! What the split scheduler wants: how far the honest peers' meta-votes are from agreeing.
//!
//! The attacker reads the meta-vote lists at every peer's latest event (what a real
//! attacker that sees the whole network can compute, since lists are a function of the
//! graph) and scores a state by its best candidate: a candidate some peer has decided is
//! lost; otherwise the score rewards peers that lean different ways at the (round, step)
//! they have reached, and a little progress, so that rounds go by without a decision.

use parsec_core::testing::{MetaValue, MetaVote, RoundStep};
use parsec_graph::PeerId;

/// The lists of one peer's latest event: one per candidate, in voter order.
pub(crate) type View = Option<Vec<(PeerId, Vec<MetaVote>)>>;

/// Far below any reachable score: a state where the candidate is decided.
const LOST: i64 = -1_000_000;

/// Where a meta-vote stands, as a number that grows with every step.
pub(crate) fn position(vote: &MetaVote) -> i64 {
    let step = match vote.step {
        RoundStep::ForcedTrue => 0,
        RoundStep::ForcedFalse => 1,
        RoundStep::GenuineFlip => 2,
    };
    3 * i64::from(vote.round) + step
}

/// Which way a meta-vote leans: its aux value once set, else its single estimate.
fn lean(vote: &MetaVote) -> Option<bool> {
    match vote.value {
        MetaValue::Decided(b) => Some(b),
        MetaValue::Undecided { est, aux, .. } => {
            aux.or_else(|| match (est.contains(true), est.contains(false)) {
                (true, false) => Some(true),
                (false, true) => Some(false),
                _ => None,
            })
        }
    }
}

/// The score of candidate `slot` in a state (higher is better for the attacker).
fn candidate(views: &[&View], slot: usize) -> i64 {
    let mut trues = 0i64;
    let mut falses = 0i64;
    let mut progress = 0i64;
    let mut waiting = 0i64;
    for view in views {
        let Some(lists) = view else { continue };
        let Some((_, list)) = lists.get(slot) else {
            continue;
        };
        let Some(last) = list.last() else { continue };
        if last.decision().is_some() {
            return LOST;
        }
        progress = progress.max(position(last));
        match lean(last) {
            Some(true) => trues += 1,
            Some(false) => falses += 1,
            None => waiting += 1,
        }
    }
    100 * trues.min(falses) - 30 * (trues - falses).abs() + 40 * waiting + progress
}

/// The score of a state: its best candidate's (the election stalls while one candidate
/// does not decide).
pub(crate) fn score(views: &[&View]) -> i64 {
    let candidates = views
        .iter()
        .filter_map(|v| v.as_ref().map(Vec::len))
        .max()
        .unwrap_or(0);
    if candidates == 0 {
        // Before the first observer: nothing to split yet.
        return 0;
    }
    (0..candidates)
        .map(|slot| candidate(views, slot))
        .max()
        .unwrap_or(0)
}

/// The highest round any undecided or decided entry of `view` reached.
pub(crate) fn max_round(view: &View) -> u32 {
    view.iter()
        .flatten()
        .flat_map(|(_, list)| list.iter())
        .map(|vote| vote.round)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use parsec_core::testing::BoolSet;

    use super::*;

    fn vote(round: u32, value: MetaValue) -> MetaVote {
        MetaVote {
            round,
            step: RoundStep::ForcedTrue,
            value,
        }
    }

    fn leaning(b: bool) -> MetaValue {
        MetaValue::Undecided {
            est: BoolSet::single(b),
            bin: BoolSet::EMPTY,
            aux: None,
        }
    }

    fn view(values: &[MetaValue]) -> View {
        let id = crate::fixtures::peer_key(0).peer_id();
        Some(values.iter().map(|&v| (id, vec![vote(1, v)])).collect())
    }

    #[test]
    fn a_split_candidate_outscores_a_unanimous_one_and_a_decided_one_is_lost() {
        let (a, b) = (view(&[leaning(true)]), view(&[leaning(false)]));
        let (c, d) = (view(&[leaning(true)]), view(&[leaning(true)]));
        assert!(score(&[&a, &b, &c]) > score(&[&a, &c, &d]));
        let decided = view(&[MetaValue::Decided(true)]);
        assert_eq!(score(&[&a, &b, &decided]), LOST);
        assert_eq!(max_round(&a), 1);
        assert_eq!(score(&[&None, &None]), 0);
    }
}
