//! The voter set of one election.

use parsec_graph::{PeerId, PeerIndex};

/// The voters of one election with their local numbers, in `PeerId` order. A voter's
/// position in this order is its *slot*: candidates and lists are indexed by slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoterSet {
    pub(crate) ids: Vec<PeerId>,
    pub(crate) indices: Vec<PeerIndex>,
    slot_of: Vec<Option<u32>>,
}

impl VoterSet {
    /// The voter set of `(PeerId, PeerIndex)` pairs (any order; duplicates ignored).
    pub fn new(mut voters: Vec<(PeerId, PeerIndex)>) -> Self {
        voters.sort();
        voters.dedup();
        let mut slot_of = Vec::new();
        for (slot, (_, index)) in voters.iter().enumerate() {
            if slot_of.len() <= index.get() {
                slot_of.resize(index.get() + 1, None);
            }
            slot_of[index.get()] = Some(slot as u32);
        }
        VoterSet {
            ids: voters.iter().map(|(id, _)| *id).collect(),
            indices: voters.iter().map(|(_, index)| *index).collect(),
            slot_of,
        }
    }

    /// Number of voters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The voters' identities, ascending.
    pub fn ids(&self) -> &[PeerId] {
        &self.ids
    }

    /// The slot of a local peer number, if that peer votes.
    pub fn slot(&self, peer: PeerIndex) -> Option<usize> {
        self.slot_of
            .get(peer.get())
            .copied()
            .flatten()
            .map(|s| s as usize)
    }

    /// Whether `peer` votes.
    pub fn contains(&self, peer: PeerIndex) -> bool {
        self.slot(peer).is_some()
    }
}
