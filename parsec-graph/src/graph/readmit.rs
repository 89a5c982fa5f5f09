//! Re-admission (spec §12.5 as settled): putting a pruned event back, from what its
//! insertion derived, so that a late event naming it as a parent can be inserted exactly
//! as the unpruned graph inserts it.
//!
//! # Why it is needed
//!
//! Asynchrony bounds no delay: a peer that crashed after persisting an event it had not
//! sent yet sends it when it is back, perhaps hours later, and its other-parent is by then
//! far below every pruning floor. Without the parent that event cannot be inserted, nor
//! anything its creator made after it: the creator would be cut off for good. The store
//! keeps every event, and with it (in [`Stub`]) what the graph derived at insertion: the
//! ancestry summary, which later merges read, and the chain links. The engine asks its
//! driver to look up a missing parent in the store and hands both back here.
//!
//! # Why answers do not change
//!
//! A re-admitted event takes back its old position, below the base, with the summary it
//! had: every query about it, and every merge of its summary into a child's, gives what
//! it gave before it was pruned. Its own pointers may name pruned events, as those of any
//! event held below the base may, and walks stop there as they do anywhere else (the
//! parent module). It is below its creator's floor, so the next prune drops it again.

use serde::{Deserialize, Serialize};

use super::summary::{CreatorFork, Summary};
use super::{EventIndex, EventNode, Graph};
use crate::event::Event;

/// What the graph derived for an event at insertion, apart from the event itself: what
/// re-admission needs to put it back once pruned ([`Graph::readmit`]). Opaque; meant for
/// the store, keyed by the event's position. Local numbers in it (positions, creators)
/// are those of the graph that made it, and of one rebuilt by inserting the same events
/// in the same order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stub {
    position: u32,
    fork_id: u32,
    self_parent: Option<u32>,
    other_parent: Option<u32>,
    self_sync_parent: Option<u32>,
    vote_run: u32,
    jump: u32,
    jump_depth: u64,
    /// `Summary::last`.
    last: Vec<u64>,
    /// `Summary::forks`: (creator, top, floor).
    forks: Option<Vec<(u32, u32, Option<u64>)>>,
}

impl Stub {
    /// The position of the event it belongs to.
    pub fn position(&self) -> EventIndex {
        EventIndex(self.position)
    }
}

/// Why [`Graph::readmit`] refused: the record does not fit this graph (a damaged store,
/// or another graph's). The graph is unchanged.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadmitError {
    /// The position is at or above the base: nothing there was pruned.
    #[error("position {0:?} was not pruned")]
    NotPruned(EventIndex),
    /// An event with this hash, or at this position, is held.
    #[error("the event at {0:?} is held already")]
    Held(EventIndex),
    /// The event's creator is unknown here, or the stub names a creator, a position or a
    /// fork id that cannot be this event's.
    #[error("the record for position {0:?} does not fit this graph")]
    Inconsistent(EventIndex),
}

impl<T> EventNode<T> {
    /// What re-admission needs of this node once it is pruned.
    pub fn stub(&self) -> Stub {
        Stub {
            position: self.index.0,
            fork_id: self.fork_id,
            self_parent: self.self_parent.map(|p| p.0),
            other_parent: self.other_parent.map(|p| p.0),
            self_sync_parent: self.self_sync_parent.map(|p| p.0),
            vote_run: self.vote_run,
            jump: self.jump.0,
            jump_depth: self.jump_depth,
            last: self.summary.last.iter().map(|&l| u64::from(l)).collect(),
            forks: self.summary.forks.as_ref().map(|forks| {
                forks
                    .iter()
                    .map(|f| (f.creator, f.top.0, f.floor))
                    .collect()
            }),
        }
    }
}

impl<T> Graph<T> {
    /// Puts the pruned `event` back at its old position, with what `stub` (made by
    /// [`EventNode::stub`] when it was inserted) records, so that events naming it as a
    /// parent can be inserted (module docs). The caller vouches that `event` is the one
    /// inserted there (the engine reads both from its own store and checks the hash and
    /// the signatures); the checks here catch a record that cannot be right. It stays
    /// until the next [`Graph::prune`].
    pub fn readmit(&mut self, event: Event<T>, stub: Stub) -> Result<EventIndex, ReadmitError> {
        let position = stub.position();
        if position.get() >= self.base {
            return Err(ReadmitError::NotPruned(position));
        }
        if self.below.contains_key(&position) || self.by_hash.contains_key(event.hash()) {
            return Err(ReadmitError::Held(position));
        }
        let bad = ReadmitError::Inconsistent(position);
        let creator = self.peer_index(event.creator()).ok_or(bad.clone())?;
        let earlier = |p: Option<u32>| p.is_none_or(|p| p < stub.position);
        let peers = self.peers.len();
        let entry = &self.peers[creator.get()];
        let fits = earlier(stub.self_parent)
            && earlier(stub.other_parent)
            && earlier(stub.self_sync_parent)
            && stub.jump <= stub.position
            && stub.jump_depth <= event.index()
            && stub.last.len() <= peers
            && stub.last.get(creator.get()).copied() == Some(event.index() + 1)
            // Below the floor the creator's chain is unique (it never passes the first
            // fork), and only pruned events come back.
            && stub.fork_id == 0
            && event.index() < entry.floor
            && stub.forks.iter().flatten().all(|&(c, top, _)| {
                (c as usize) < peers && top <= stub.position
            });
        if !fits {
            return Err(bad);
        }
        let mut last = stub
            .last
            .iter()
            .map(|&l| u32::try_from(l))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| bad)?;
        last.resize(peers, 0);
        let summary = Summary {
            last: last.into_boxed_slice(),
            forks: stub.forks.map(|forks| {
                forks
                    .into_iter()
                    .map(|(creator, top, floor)| CreatorFork {
                        creator,
                        top: EventIndex(top),
                        floor,
                    })
                    .collect()
            }),
        };
        self.by_hash.insert(*event.hash(), position);
        self.below.insert(
            position,
            Box::new(EventNode {
                kind: event.cause().kind(),
                event,
                index: position,
                creator,
                fork_id: stub.fork_id,
                self_parent: stub.self_parent.map(EventIndex),
                other_parent: stub.other_parent.map(EventIndex),
                self_sync_parent: stub.self_sync_parent.map(EventIndex),
                vote_run: stub.vote_run,
                jump: EventIndex(stub.jump),
                jump_depth: stub.jump_depth,
                summary,
            }),
        );
        Ok(position)
    }
}
