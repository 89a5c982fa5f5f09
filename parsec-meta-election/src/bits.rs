//! A small growable bitset, for sets of voter slots and of key ids.

use smallvec::SmallVec;

/// A set of small numbers (voter slots, key ids), one bit each.
///
/// The first 64 numbers are stored inline: voter sets rarely exceed that, so most sets
/// never allocate. The set grows to the highest number inserted; numbers beyond its words
/// read as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits(SmallVec<[u64; 1]>);

impl Bits {
    /// Whether `n` is in the set.
    pub(crate) fn contains(&self, n: usize) -> bool {
        self.0
            .get(n / 64)
            .is_some_and(|word| word & (1 << (n % 64)) != 0)
    }

    /// Adds `n`; true if it was not there.
    pub(crate) fn insert(&mut self, n: usize) -> bool {
        let word = n / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        let bit = 1 << (n % 64);
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }

    /// The members, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| w * 64 + bit)
        })
    }

    /// Empties the set (keeping its storage).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_grow_and_report_new_members() {
        let mut bits = Bits::default();
        assert!(!bits.contains(0) && !bits.contains(500));
        assert!(bits.insert(3));
        assert!(!bits.insert(3));
        assert!(bits.insert(130));
        assert!(bits.contains(3) && bits.contains(130));
        assert!(!bits.contains(4) && !bits.contains(129) && !bits.contains(1000));
        bits.clear();
        assert!(!bits.contains(3) && !bits.contains(130));
    }
}
