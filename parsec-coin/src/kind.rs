//! Choosing a coin by configuration: [`CoinKind`] names it, [`Coin`] is the coin it names.

use parsec_graph::CoinShare;

#[cfg(feature = "test-coin")]
use crate::ParityCoin;
use crate::{
    CoinAgreement, CoinContext, CoinFault, CoinId, CommonCoin, ConcreteCoin, KeyEpoch, KeyError,
    SecretShare, ThresholdCoin,
};

/// Which common coin the members use (part of the genesis configuration: every member
/// must name the same one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum CoinKind {
    /// [`ConcreteCoin`]: derived from the graph, no setup; live against a fair scheduler
    /// only (spec §7.3).
    #[default]
    Concrete,
    /// [`ThresholdCoin`]: threshold signatures from a dealt key set (spec §7.5); needs the
    /// key epoch and, on a holder, its secret share.
    Threshold,
    /// [`ParityCoin`]: the original's predictable coin, for conformance replays and tests.
    #[cfg(feature = "test-coin")]
    Parity,
}

impl CoinKind {
    /// The kind's name, as configuration files and command lines spell it.
    pub fn name(self) -> &'static str {
        match self {
            CoinKind::Concrete => "concrete",
            CoinKind::Threshold => "threshold",
            #[cfg(feature = "test-coin")]
            CoinKind::Parity => "parity",
        }
    }
}

impl std::fmt::Display for CoinKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a coin kind of this build.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown coin {name:?} (expected one of: {expected})")]
pub struct UnknownCoin {
    /// The name given.
    pub name: String,
    /// The names this build knows.
    pub expected: String,
}

impl std::str::FromStr for CoinKind {
    type Err = UnknownCoin;

    fn from_str(name: &str) -> Result<Self, UnknownCoin> {
        let kinds = [
            CoinKind::Concrete,
            CoinKind::Threshold,
            #[cfg(feature = "test-coin")]
            CoinKind::Parity,
        ];
        kinds
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| UnknownCoin {
                name: name.to_string(),
                expected: kinds.map(CoinKind::name).join(", "),
            })
    }
}

/// The coin a [`CoinKind`] names, ready for a meta-election.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Coin {
    /// See [`ConcreteCoin`].
    Concrete(ConcreteCoin),
    /// See [`ThresholdCoin`] (built from its key material, not from a [`CoinKind`]).
    Threshold(Box<ThresholdCoin>),
    /// See [`ParityCoin`].
    #[cfg(feature = "test-coin")]
    Parity(ParityCoin),
}

impl Coin {
    /// A fresh coin of `kind`; the threshold coin needs key material and is built by
    /// [`Coin::threshold`] instead (`None` here).
    pub fn new(kind: CoinKind) -> Option<Self> {
        match kind {
            CoinKind::Concrete => Some(Coin::Concrete(ConcreteCoin::new())),
            CoinKind::Threshold => None,
            #[cfg(feature = "test-coin")]
            CoinKind::Parity => Some(Coin::Parity(ParityCoin)),
        }
    }

    /// A threshold coin of `epoch`, with our secret share if we are a holder (see
    /// [`ThresholdCoin::new`]).
    pub fn threshold(epoch: KeyEpoch, ours: Option<SecretShare>) -> Result<Self, KeyError> {
        Ok(Coin::Threshold(Box::new(ThresholdCoin::new(epoch, ours)?)))
    }

    /// Its kind.
    pub fn kind(&self) -> CoinKind {
        match self {
            Coin::Concrete(_) => CoinKind::Concrete,
            Coin::Threshold(_) => CoinKind::Threshold,
            #[cfg(feature = "test-coin")]
            Coin::Parity(_) => CoinKind::Parity,
        }
    }
}

/// Forwards a call to the coin inside.
macro_rules! each {
    ($coin:expr, $c:ident => $call:expr) => {
        match $coin {
            Coin::Concrete($c) => $call,
            Coin::Threshold($c) => $call,
            #[cfg(feature = "test-coin")]
            Coin::Parity($c) => $call,
        }
    };
}

impl CommonCoin for Coin {
    fn agreement(&self) -> CoinAgreement {
        each!(self, c => c.agreement())
    }

    fn value<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) -> Option<bool> {
        each!(self, c => c.value(id, ctx))
    }

    fn on_needed<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) {
        each!(self, c => c.on_needed(id, ctx))
    }

    fn take_outgoing(&mut self) -> Vec<CoinShare> {
        each!(self, c => c.take_outgoing())
    }

    fn take_faults(&mut self) -> Vec<CoinFault> {
        each!(self, c => c.take_faults())
    }

    fn on_inserted<T>(&mut self, ctx: &CoinContext<'_, T>) {
        each!(self, c => c.on_inserted(ctx))
    }

    fn wants_evaluations(&self) -> bool {
        each!(self, c => c.wants_evaluations())
    }

    fn on_evaluated<T>(&mut self, past_flip: &[Option<u32>], ctx: &CoinContext<'_, T>) {
        each!(self, c => c.on_evaluated(past_flip, ctx))
    }

    fn oldest_event(&self) -> Option<parsec_graph::EventIndex> {
        each!(self, c => c.oldest_event())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for kind in [
            CoinKind::Concrete,
            #[cfg(feature = "test-coin")]
            CoinKind::Parity,
        ] {
            assert_eq!(kind.name().parse::<CoinKind>(), Ok(kind));
            assert_eq!(Coin::new(kind).map(|c| c.kind()), Some(kind));
        }
        let error = "dice".parse::<CoinKind>().unwrap_err();
        assert_eq!(error.name, "dice");
        assert!(error.expected.contains("concrete"), "{error}");
        assert_eq!("threshold".parse::<CoinKind>(), Ok(CoinKind::Threshold));
        assert!(
            Coin::new(CoinKind::Threshold).is_none(),
            "it needs its keys"
        );
    }
}
