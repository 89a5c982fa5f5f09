//! What the split scheduler wants: how far the peers' meta-votes are from agreeing.
//!
//! The attacker reads the meta-vote lists at every peer's latest event (what a real
//! attacker that sees the whole network can compute, since lists are a function of the
//! graph) and scores a state by its best candidate. With four voters a step ends without
//! a decision and without agreement only in one pattern: the peers enter it two and two
//! on their estimates, and its aux values end three to one for the value that neither
//! decides nor agrees (false at forced-true, true at forced-false, against the coin at a
//! genuine flip). Each step is scored on how close it is to that pattern; a step that
//! can no longer reach it dooms the candidate, and a decided candidate is lost.

use std::collections::HashMap;

use parsec_core::testing::{BoolSet, MetaValue, MetaVote, RoundStep};
use parsec_graph::PeerId;

/// The lists of one peer's latest event: one per candidate, in voter order.
pub(crate) type View = Option<Vec<(PeerId, Vec<MetaVote>)>>;

/// Far below any reachable score: a state where the candidate is decided.
const LOST: i64 = -1_000_000;
/// A candidate that will decide whatever the attacker does (still above a decided one).
pub(crate) const DOOMED: i64 = -500_000;

/// What the attacker remembers of the run: the estimates each peer entered each step
/// with (an entry's estimates grow as it is updated, and the split that matters is the
/// one it started from), and its guess of the coin.
pub(crate) struct Memory<'a> {
    /// `(peer, candidate slot, round, step)` to the estimates first seen there.
    pub first_est: &'a HashMap<(usize, usize, u32, RoundStep), BoolSet>,
    /// The coin the attacker expects after round `r`'s genuine flip.
    pub coin_guess: fn(u32) -> bool,
}

/// The value whose aux values must be the supermajority at a step for the step to end
/// without a decision and without agreement: forced-true ends undecided only on `false`
/// aux values, forced-false on `true` ones, and a genuine flip must push some peers
/// against the coin.
fn wanted(round: u32, step: RoundStep, memory: &Memory) -> bool {
    match step {
        RoundStep::ForcedTrue => false,
        RoundStep::ForcedFalse => true,
        RoundStep::GenuineFlip => !(memory.coin_guess)(round),
    }
}

/// The score of candidate `slot` in a state (higher is better for the attacker).
///
/// With `n` voters, `sm` of them a supermajority and `third` more than a third, a step
/// stays split only if the peers enter it with at least `third` estimates of each value
/// (otherwise the minority value never spreads and everyone agrees), and its aux values
/// end `sm` to `n - sm` for the wanted value (all wanted: every peer leaves with the
/// same estimate; more unwanted: nobody sees a supermajority of the wanted value, so
/// again everyone agrees). Each step is scored on both, so a state that keeps more
/// steps split scores higher; a step that can no longer split dooms the candidate.
fn candidate(views: &[&View], slot: usize, memory: &Memory) -> i64 {
    let n = views.len() as i64;
    let sm = 2 * n / 3 + 1;
    let third = n / 3 + 1;
    let mut steps: Vec<(u32, RoundStep)> = Vec::new();
    for view in views {
        let Some((_, list)) = view.as_ref().and_then(|lists| lists.get(slot)) else {
            continue;
        };
        if list.last().is_some_and(|m| m.decision().is_some()) {
            return LOST;
        }
        for vote in list {
            if !steps.contains(&(vote.round, vote.step)) {
                steps.push((vote.round, vote.step));
            }
        }
    }
    let mut total = 0;
    for (round, step) in steps {
        let (mut est_true, mut est_false, mut entered) = (0, 0, 0);
        let (mut good, mut bad) = (0, 0);
        for (peer, view) in views.iter().enumerate() {
            let Some((_, list)) = view.as_ref().and_then(|lists| lists.get(slot)) else {
                continue;
            };
            let Some(vote) = list.iter().find(|m| m.round == round && m.step == step) else {
                continue;
            };
            let MetaValue::Undecided { est, aux, .. } = vote.value else {
                continue;
            };
            let first = memory
                .first_est
                .get(&(peer, slot, round, step))
                .copied()
                .filter(|e| !e.is_empty())
                .unwrap_or(est);
            // Waiting for the coin: not entered yet.
            if !first.is_empty() {
                entered += 1;
            }
            match (first.contains(true), first.contains(false)) {
                (true, false) => est_true += 1,
                (false, true) => est_false += 1,
                _ => {}
            }
            if let Some(aux) = aux {
                if aux == wanted(round, step, memory) {
                    good += 1;
                } else {
                    bad += 1;
                }
            }
        }
        if (entered == n && est_true.min(est_false) < third) || good == n || bad > n - sm {
            return DOOMED + total;
        }
        total += 100 * (est_true.min(third) + est_false.min(third))
            + 100 * (good.min(sm) + bad.min(n - sm));
    }
    total
}

/// The score of a state: its best candidate's (the election stalls while one candidate
/// does not decide).
pub(crate) fn score(views: &[&View], memory: &Memory) -> i64 {
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
        .map(|slot| candidate(views, slot, memory))
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
    use super::*;

    fn entry(step: RoundStep, est: Option<bool>, aux: Option<bool>) -> MetaVote {
        MetaVote {
            round: 0,
            step,
            value: MetaValue::Undecided {
                est: est.map_or(BoolSet::EMPTY, BoolSet::single),
                bin: BoolSet::EMPTY,
                aux,
            },
        }
    }

    fn view(list: Vec<MetaVote>) -> View {
        let id = crate::fixtures::peer_key(0).peer_id();
        Some(vec![(id, list)])
    }

    fn score_of(views: &[View]) -> i64 {
        let first_est = HashMap::new();
        let memory = Memory {
            first_est: &first_est,
            coin_guess: |_| true,
        };
        score(&views.iter().collect::<Vec<_>>(), &memory)
    }

    #[test]
    fn a_two_two_split_outscores_a_doomed_one_and_a_decided_one_is_lost() {
        let ft = RoundStep::ForcedTrue;
        let split: Vec<View> = [true, true, false, false]
            .iter()
            .map(|&b| view(vec![entry(ft, Some(b), None)]))
            .collect();
        // Three to one at forced-true: the lone false never spreads and true decides.
        let doomed: Vec<View> = [true, true, true, false]
            .iter()
            .map(|&b| view(vec![entry(ft, Some(b), None)]))
            .collect();
        assert!(score_of(&split) > 0);
        assert!(score_of(&doomed) <= DOOMED + 1_000);
        // Aux values three false to one true at forced-true: what the attacker wants.
        let wanted: Vec<View> = [(true, true), (true, false), (false, false), (false, false)]
            .iter()
            .map(|&(e, a)| view(vec![entry(ft, Some(e), Some(a))]))
            .collect();
        assert!(score_of(&wanted) > score_of(&split));
        let mut decided = split.clone();
        decided[0] = view(vec![MetaVote {
            round: 0,
            step: ft,
            value: MetaValue::Decided(true),
        }]);
        assert_eq!(score_of(&decided), LOST);
        assert_eq!(max_round(&split[0]), 0);
        assert_eq!(score_of(&[None, None]), 0);
    }
}
