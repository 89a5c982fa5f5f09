//! Meta-votes: one candidate's binary agreement as seen at one event (spec §6.5).
//!
//! # How it works
//!
//! A list of meta-votes records, oldest first, every (round, step) the agreement reached.
//! Each step forces a value (forced-true, forced-false) or waits for the coin
//! (genuine-flip). At each new event the list is re-advanced against the lists of the
//! latest events of the other voters in the event's ancestry: every undecided entry is
//! updated from the counts at its own (round, step), and new entries are appended while a
//! supermajority of aux values allows leaving the last one. The list is cut after its first
//! decided entry.

/// A step within a round, in order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RoundStep {
    /// Decides `true` on a supermajority of `true` aux values.
    ForcedTrue,
    /// Decides `false` on a supermajority of `false` aux values.
    ForcedFalse,
    /// Decides only by adopting a decision; a split hands the next estimate to the coin.
    GenuineFlip,
}

/// A subset of `{true, false}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BoolSet(u8);

impl BoolSet {
    /// `{}`.
    pub const EMPTY: BoolSet = BoolSet(0);

    const fn bit(value: bool) -> u8 {
        if value { 1 } else { 2 }
    }

    /// `{value}`.
    pub const fn single(value: bool) -> BoolSet {
        BoolSet(Self::bit(value))
    }

    /// Whether `value` is in the set.
    pub const fn contains(self, value: bool) -> bool {
        self.0 & Self::bit(value) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Adds `value`; true if it was not there.
    pub fn insert(&mut self, value: bool) -> bool {
        let new = !self.contains(value);
        self.0 |= Self::bit(value);
        new
    }
}

impl std::fmt::Debug for BoolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.contains(true), self.contains(false)) {
            (true, true) => f.write_str("{t,f}"),
            (true, false) => f.write_str("{t}"),
            (false, true) => f.write_str("{f}"),
            (false, false) => f.write_str("{}"),
        }
    }
}

/// The value of a meta-vote.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MetaValue {
    /// The agreement decided.
    Decided(bool),
    /// Still running.
    Undecided {
        /// Estimates.
        est: BoolSet,
        /// Binary values.
        bin: BoolSet,
        /// The aux value, once committed.
        aux: Option<bool>,
    },
}

/// One entry of a candidate's list: a (round, step) and its value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MetaVote {
    /// The round, from 0.
    pub round: u32,
    /// The step within the round.
    pub step: RoundStep,
    /// The value.
    pub value: MetaValue,
}

impl MetaVote {
    /// The entry an observer starts each candidate with: round 0, forced-true, estimate
    /// `{observee}`.
    pub fn initial(observee: bool) -> MetaVote {
        MetaVote {
            round: 0,
            step: RoundStep::ForcedTrue,
            value: MetaValue::Undecided {
                est: BoolSet::single(observee),
                bin: BoolSet::EMPTY,
                aux: None,
            },
        }
    }

    /// The decision, if decided.
    pub fn decision(&self) -> Option<bool> {
        match self.value {
            MetaValue::Decided(value) => Some(value),
            MetaValue::Undecided { .. } => None,
        }
    }

    /// Whether this entry is a forced-true step still waiting for an estimate (the coin).
    pub fn awaits_coin(&self) -> bool {
        matches!(
            (self.step, self.value),
            (RoundStep::ForcedTrue, MetaValue::Undecided { est, .. }) if est.is_empty()
        )
    }

    /// Whether this entry's creator has committed its genuine-flip aux value for `round`:
    /// it is at `(round, GF)` and decided or with aux set, or past that step.
    pub fn is_past_flip(&self, round: u32) -> bool {
        match (self.round.cmp(&round), self.step) {
            (std::cmp::Ordering::Greater, _) => true,
            (std::cmp::Ordering::Equal, RoundStep::GenuineFlip) => match self.value {
                MetaValue::Decided(_) => true,
                MetaValue::Undecided { aux, .. } => aux.is_some(),
            },
            _ => false,
        }
    }
}

/// Supermajority and one-third tests for `n` voters.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    n: usize,
}

impl Thresholds {
    /// The number of voters.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Thresholds for `n` voters.
    pub fn new(n: usize) -> Self {
        Thresholds { n }
    }

    /// `3x > 2n`.
    pub fn supermajority(&self, x: usize) -> bool {
        3 * x > 2 * self.n
    }

    /// `3x ≥ n`.
    pub fn third(&self, x: usize) -> bool {
        3 * x >= self.n
    }
}

const T: usize = 0;
const F: usize = 1;

fn at(value: bool) -> usize {
    if value { T } else { F }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    est: [usize; 2],
    bin: [usize; 2],
    aux: [usize; 2],
    decision: Option<bool>,
}

impl Counts {
    fn add(&mut self, vote: &MetaVote) {
        match vote.value {
            MetaValue::Decided(b) => {
                self.est[at(b)] += 1;
                self.bin[at(b)] += 1;
                self.aux[at(b)] += 1;
                // The first decision in voter order wins (a correct run has only one).
                self.decision.get_or_insert(b);
            }
            MetaValue::Undecided { est, bin, aux } => {
                for b in [true, false] {
                    self.est[at(b)] += usize::from(est.contains(b));
                    self.bin[at(b)] += usize::from(bin.contains(b));
                }
                if let Some(b) = aux {
                    self.aux[at(b)] += 1;
                }
            }
        }
    }
}

/// Where a list holds its entry for `(round, step)`: every list starts at `(0, FT)` and
/// gains one entry per step, so the entry for a step sits at a fixed position.
fn slot(round: u32, step: RoundStep) -> usize {
    3 * round as usize + step as usize
}

/// The others' contributions per (round, step), computed once per `advance`: the others do
/// not change while one list advances, only the list's own entries do.
struct OthersCounts<'a> {
    others: &'a [&'a [MetaVote]],
    /// (position, counts) pairs; an advance touches only a handful of steps.
    cache: [(usize, Counts); CACHED_STEPS],
    cached: usize,
    written: usize,
}

const CACHED_STEPS: usize = 8;

impl<'a> OthersCounts<'a> {
    fn new(others: &'a [&'a [MetaVote]]) -> Self {
        OthersCounts {
            others,
            cache: [(usize::MAX, Counts::default()); CACHED_STEPS],
            cached: 0,
            written: 0,
        }
    }

    fn at(&mut self, round: u32, step: RoundStep) -> Counts {
        let position = slot(round, step);
        if let Some((_, counts)) = self.cache[..self.cached]
            .iter()
            .find(|(p, _)| *p == position)
        {
            return *counts;
        }
        let mut counts = Counts::default();
        for list in self.others {
            let entry = match list.get(position) {
                Some(e) if e.round == round && e.step == step => Some(e),
                // Not at its usual place (never expected): search the list.
                _ => list
                    .iter()
                    .rev()
                    .find(|e| e.round == round && e.step == step),
            };
            if let Some(entry) = entry {
                counts.add(entry);
            }
        }
        // Past the cache's size, overwrite in turn (an advance rarely touches that many).
        let at = self.written % CACHED_STEPS;
        self.cache[at] = (position, counts);
        self.written += 1;
        self.cached = self.written.min(CACHED_STEPS);
        counts
    }

    /// `Count(m, others)`: the others' entries at `m`'s (round, step), in voter order,
    /// then `m` itself.
    fn count(&mut self, m: &MetaVote) -> Counts {
        let mut counts = self.at(m.round, m.step);
        counts.add(m);
        counts
    }
}

/// `Update(m, c)` of spec §6.5.4; values added to `m` are added to `c` as they are made.
fn update(m: &mut MetaVote, c: &mut Counts, th: Thresholds) {
    let step = m.step;
    let MetaValue::Undecided { est, bin, aux } = &mut m.value else {
        return;
    };
    if !est.is_empty() {
        for b in [true, false] {
            if th.third(c.est[at(b)]) && est.insert(b) {
                c.est[at(b)] += 1;
            }
        }
    }
    let bin_was_empty = bin.is_empty();
    for b in [true, false] {
        if th.supermajority(c.est[at(b)]) && bin.insert(b) {
            c.bin[at(b)] += 1;
        }
    }
    if aux.is_none() && bin_was_empty && !bin.is_empty() {
        let value = bin.contains(true);
        *aux = Some(value);
        c.aux[at(value)] += 1;
    }
    let forced = match step {
        RoundStep::ForcedTrue => Some(true),
        RoundStep::ForcedFalse => Some(false),
        RoundStep::GenuineFlip => None,
    };
    let decided = match forced {
        Some(b) if bin.contains(b) && th.supermajority(c.aux[at(b)]) => Some(b),
        _ => c.decision,
    };
    if let Some(b) = decided {
        m.value = MetaValue::Decided(b);
    }
}

/// `Next(m, c)` of spec §6.5.5.
fn next(m: &MetaVote, c: &Counts, th: Thresholds) -> MetaVote {
    let (round, step, est) = match m.step {
        RoundStep::ForcedTrue => (
            m.round,
            RoundStep::ForcedFalse,
            BoolSet::single(!th.supermajority(c.aux[F])),
        ),
        RoundStep::ForcedFalse => (
            m.round,
            RoundStep::GenuineFlip,
            BoolSet::single(th.supermajority(c.aux[T])),
        ),
        RoundStep::GenuineFlip => {
            let est = if th.supermajority(c.aux[T]) {
                BoolSet::single(true)
            } else if th.supermajority(c.aux[F]) {
                BoolSet::single(false)
            } else {
                BoolSet::EMPTY
            };
            (m.round + 1, RoundStep::ForcedTrue, est)
        }
    };
    MetaVote {
        round,
        step,
        value: MetaValue::Undecided {
            est,
            bin: BoolSet::EMPTY,
            aux: None,
        },
    }
}

/// `Advance(prev, others)` of spec §6.5.6. `others` must be in voter (`PeerId`) order.
pub fn advance(prev: &[MetaVote], others: &[&[MetaVote]], th: Thresholds) -> Vec<MetaVote> {
    let mut out = Vec::with_capacity(prev.len() + 1);
    advance_into(prev, others, th, &mut out);
    out
}

/// [`advance`] into a reused buffer (cleared first).
pub fn advance_into(
    prev: &[MetaVote],
    others: &[&[MetaVote]],
    th: Thresholds,
    out: &mut Vec<MetaVote>,
) {
    out.clear();
    let mut others = OthersCounts::new(others);
    for m in prev {
        let mut updated = *m;
        if m.decision().is_none() {
            let mut c = others.count(m);
            update(&mut updated, &mut c, th);
        }
        out.push(updated);
        if m.decision().is_some() {
            break;
        }
    }
    while let Some(last) = out.last() {
        if last.decision().is_some() {
            break;
        }
        let c = others.count(last);
        if !th.supermajority(c.aux[T] + c.aux[F]) {
            break;
        }
        let mut n = next(last, &c, th);
        let mut cn = others.count(&n);
        update(&mut n, &mut cn, th);
        out.push(n);
    }
    if let Some(first_decided) = out.iter().position(|m| m.decision().is_some()) {
        out.truncate(first_decided + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undecided(
        round: u32,
        step: RoundStep,
        est: BoolSet,
        bin: BoolSet,
        aux: Option<bool>,
    ) -> MetaVote {
        MetaVote {
            round,
            step,
            value: MetaValue::Undecided { est, bin, aux },
        }
    }

    const TF: BoolSet = BoolSet(3);
    const TT: BoolSet = BoolSet(1);
    const FF: BoolSet = BoolSet(2);

    /// Appendix A.3, row `C_14`: others A_8 {f}, B_10 {t}, D_16 {f}, own {t}.
    #[test]
    fn appendix_c14() {
        let th = Thresholds::new(4);
        let a8 = [MetaVote::initial(false)];
        let b10 = [MetaVote::initial(true)];
        let d16 = [MetaVote::initial(false)];
        let own = [MetaVote::initial(true)];
        let out = advance(&own, &[&a8, &b10, &d16], th);
        assert_eq!(
            out,
            vec![undecided(0, RoundStep::ForcedTrue, TF, FF, Some(false))]
        );
    }

    /// Appendix A.3, row `A_10`: both bin values at once, aux true, then FF with est {t}.
    #[test]
    fn appendix_a10() {
        let th = Thresholds::new(4);
        let b15 = [undecided(0, RoundStep::ForcedTrue, TF, FF, Some(false))];
        let c15 = [undecided(0, RoundStep::ForcedTrue, TF, FF, Some(false))];
        let d17 = [MetaVote::initial(false)];
        let own = [MetaVote::initial(false)];
        let out = advance(&own, &[&b15, &c15, &d17], th);
        assert_eq!(
            out,
            vec![
                undecided(0, RoundStep::ForcedTrue, TF, TF, Some(true)),
                undecided(0, RoundStep::ForcedFalse, TT, BoolSet::EMPTY, None),
            ]
        );
    }

    /// Appendix A.3, row `A_18`: a supermajority of true aux at (1, FT) decides true.
    #[test]
    fn appendix_a18_decides() {
        let th = Thresholds::new(4);
        let at1 = |est, bin, aux| undecided(1, RoundStep::ForcedTrue, est, bin, aux);
        let c30 = [at1(TT, TT, Some(true))];
        let d29 = [at1(TT, TT, Some(true))];
        let b29 = [at1(TT, BoolSet::EMPTY, None)];
        let own = [at1(TT, TT, Some(true))];
        let out = advance(&own, &[&b29, &c30, &d29], th);
        assert_eq!(out.last().and_then(MetaVote::decision), Some(true));
    }

    #[test]
    fn decisions_spread_and_cut() {
        let th = Thresholds::new(4);
        // Someone decided at (0, FT): our older undecided entry adopts it and the later
        // entries are cut.
        let decided = [MetaVote {
            round: 0,
            step: RoundStep::ForcedTrue,
            value: MetaValue::Decided(false),
        }];
        let own = [
            undecided(0, RoundStep::ForcedTrue, TF, TF, Some(true)),
            undecided(0, RoundStep::ForcedFalse, TT, BoolSet::EMPTY, None),
        ];
        let out = advance(&own, &[&decided], th);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].decision(), Some(false));
    }

    #[test]
    fn split_genuine_flip_waits_for_the_coin() {
        let th = Thresholds::new(4);
        let gf = |aux| undecided(0, RoundStep::GenuineFlip, TF, TF, Some(aux));
        let out = advance(&[gf(true)], &[&[gf(true)], &[gf(false)], &[gf(false)]], th);
        let last = out.last().unwrap();
        assert_eq!((last.round, last.step), (1, RoundStep::ForcedTrue));
        assert!(last.awaits_coin());
    }
}
