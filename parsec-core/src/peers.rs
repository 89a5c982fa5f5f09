//! Peer states and membership (spec §5.1).

use std::fmt;
use std::ops::BitOr;

/// What a peer may do, as a set of flags. Flags are only ever added, except by removal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PeerFlags(u8);

impl PeerFlags {
    /// No flags.
    pub const NONE: PeerFlags = PeerFlags(0);
    /// Takes part in DKG and may be gossiped to.
    pub const DKG: PeerFlags = PeerFlags(0b1000);
    /// A voter (includes `DKG`).
    pub const VOTE: PeerFlags = PeerFlags(0b1001);
    /// We accept its events and messages (for ourselves: we may send gossip).
    pub const SEND: PeerFlags = PeerFlags(0b0010);
    /// We may gossip to it (for ourselves: we may receive gossip).
    pub const RECV: PeerFlags = PeerFlags(0b0100);

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: PeerFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for PeerFlags {
    type Output = PeerFlags;

    fn bitor(self, other: PeerFlags) -> PeerFlags {
        PeerFlags(self.0 | other.0)
    }
}

impl fmt::Debug for PeerFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        if self.contains(PeerFlags::VOTE) {
            names.push("VOTE");
        } else if self.contains(PeerFlags::DKG) {
            names.push("DKG");
        }
        if self.contains(PeerFlags::SEND) {
            names.push("SEND");
        }
        if self.contains(PeerFlags::RECV) {
            names.push("RECV");
        }
        write!(f, "PeerFlags({})", names.join("|"))
    }
}

/// A peer's entry: present with flags, or removed by a decision.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PeerState {
    /// A member (or known peer) with these flags.
    Present(PeerFlags),
    /// Removed for good by a group decided in this election; reads as having no flags.
    Removed {
        /// The meta-election that decided the removal (agreed by every peer, unlike a
        /// local event position).
        election: u64,
    },
}

impl PeerState {
    /// The flags (none once removed).
    pub fn flags(&self) -> PeerFlags {
        match self {
            PeerState::Present(flags) => *flags,
            PeerState::Removed { .. } => PeerFlags::NONE,
        }
    }

    /// Whether the peer has every flag of `flags`.
    pub fn has(&self, flags: PeerFlags) -> bool {
        self.flags().contains(flags)
    }
}
