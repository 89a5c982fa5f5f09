//! Restart (spec §13.3): an engine rebuilt from its store's event log.
//!
//! # How it works
//!
//! The engine is constructed as at its first start, without creating any event, and the
//! logged events are inserted again in logged order through the normal insertion path, so
//! that every rule (membership, decisions, coin needs) runs exactly as it did. Our own
//! events are inserted as we created them: each takes the coin shares queued at that
//! point (the queue is rebuilt by the same evaluations, so a logged event that carries
//! other shares is a divergence, an error), becomes our tip, and rebuilds what we voted and
//! which syncs we answered. Every logged event is verified again (signatures included): a
//! damaged record is an error, never a silently different graph. Nothing is sent and no
//! fault is reported; the blocks decided again are handed back with their sequence
//! numbers, for the application to skip those it already took. Blocks the log decides
//! but the store lacks (a crash between the events' write and the blocks', with a store
//! that is not atomic across steps) come back as [`Restored::persist`], for the driver to
//! write before anything else.

use parsec_coin::{Coin, CommonCoin};
use parsec_graph::{Cause, CodecError, EventError, EventHash, PackedEvent, Payload, PeerId};

/// Events [`Restore::run`] reads per call.
pub const REPLAY_CHUNK: usize = 1024;

use super::{Parsec, Placed, Step};
use crate::block::Block;
use crate::config::Config;
use crate::error::Error;
use crate::store::{Loaded, StoreError, StoreOp, Stored};
use crate::sync;
use parsec_graph::SecretKey;

/// Why a store's log cannot be restored. The store is damaged or is not this engine's:
/// the driver must not start a fresh engine in its place (that would fork our chain).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The store was written by another member.
    #[error("the store belongs to {stored}, not to us ({ours})")]
    WrongOwner {
        /// The owner it names.
        stored: PeerId,
        /// Our identity.
        ours: PeerId,
    },
    /// The store was written under another genesis configuration (group, related info,
    /// coin, consensus mode or event limits).
    #[error("the store was written under another genesis configuration")]
    WrongGenesis,
    /// A logged event cannot be encoded to be hashed.
    #[error("event at position {position} is unreadable: {error}")]
    Unreadable {
        /// Its position in the log.
        position: u64,
        /// The codec's reason.
        error: CodecError,
    },
    /// A logged event fails validation (a bad signature, a broken rule).
    #[error("event at position {position} is invalid: {error}")]
    Invalid {
        /// Its position in the log.
        position: u64,
        /// Why.
        error: EventError,
    },
    /// A logged event does not fit where the log puts it: a parent missing, a creator we
    /// did not accept events from, a duplicate, or a rule of insertion broken.
    #[error("event at position {position} does not fit the graph at that point")]
    Misplaced {
        /// Its position in the log.
        position: u64,
    },
    /// One of our logged events is not the event we would have created there: another
    /// index than our next one, or coin shares other than those queued.
    #[error("our event at position {position} is not the one we created there: {reason}")]
    Diverged {
        /// Its position in the log.
        position: u64,
        /// What differs.
        reason: &'static str,
    },
    /// The log lacks our `Initial` event or our `Genesis` vote, which the first step
    /// persists with the header.
    #[error("the log does not hold our first events")]
    MissingOwnEvents,
    /// Another number of events was replayed than the store holds.
    #[error("{replayed} events were replayed, but the store holds {stored}")]
    Incomplete {
        /// Events replayed.
        replayed: u64,
        /// Events the store holds.
        stored: u64,
    },
    /// The store holds more blocks than its events decide: the blocks were written
    /// without the events that decided them.
    #[error("the store holds {stored} blocks but its events decide only {decided}")]
    BlocksAhead {
        /// Blocks the store holds.
        stored: u64,
        /// Blocks the replayed events decide.
        decided: u64,
    },
}

/// An engine being rebuilt from its log: feed it the logged events in position order
/// ([`Restore::replay`]), then [`Restore::finish`]. See [`crate::store`] for an example.
#[derive(Debug)]
pub struct Restore<T: Payload, C: CommonCoin> {
    engine: Parsec<T, C>,
    blocks: Vec<Block<T>>,
    loaded: Loaded,
    /// Pruned parents the next logged event needs ([`Restore::wants`]), and its position.
    wants: Vec<EventHash>,
    wanted_at: Option<u64>,
}

/// A restored engine and the blocks it decided again, in order, with their sequence
/// numbers (the application skips those it already took).
#[derive(Debug)]
pub struct Restored<T: Payload, C: CommonCoin> {
    /// The engine, as it was after the last logged event.
    pub engine: Parsec<T, C>,
    /// Every block the log decides, from sequence number 0.
    pub blocks: Vec<Block<T>>,
    /// The blocks the log decides that the store lacks, as store ops: apply them before
    /// applying any later step's `persist` (they are usually none).
    pub persist: Vec<StoreOp<T>>,
}

impl<T: Payload> Parsec<T, Coin> {
    /// Starts rebuilding a genesis member from its store, with the coin `config.coin`
    /// names (see [`Parsec::restore_with`]).
    pub fn restore(
        key: SecretKey,
        config: Config,
        loaded: &Loaded,
    ) -> Result<Restore<T, Coin>, Error> {
        let coin = Self::configured_coin(&key, &config)?;
        Self::restore_with(key, config, coin, loaded)
    }
}

impl<T: Payload, C: CommonCoin> Parsec<T, C> {
    /// Starts rebuilding a genesis member from its store (spec §13.3): `loaded` is what
    /// [`Store::load`](crate::Store::load) returned; its header is checked against our
    /// identity and configuration, its counts when the replay finishes. The logged events
    /// follow through [`Restore::replay`].
    pub fn restore_with(
        key: SecretKey,
        config: Config,
        coin: C,
        loaded: &Loaded,
    ) -> Result<Restore<T, C>, Error> {
        let header = &loaded.header;
        let engine = Self::genesis_state(key, config, coin)?;
        let ours = engine.store_header();
        if header.owner != ours.owner {
            return Err(RestoreError::WrongOwner {
                stored: header.owner,
                ours: ours.owner,
            }
            .into());
        }
        if header.genesis != ours.genesis {
            return Err(RestoreError::WrongGenesis.into());
        }
        Ok(Restore {
            engine,
            blocks: Vec::new(),
            loaded: *loaded,
            wants: Vec::new(),
            wanted_at: None,
        })
    }
}

impl<T: Payload, C: CommonCoin> Restore<T, C> {
    /// The position of the next event to replay (the number replayed so far).
    pub fn next_position(&self) -> u64 {
        self.engine.graph.len() as u64
    }

    /// Inserts the next logged events, in position order. It stops early, before an
    /// event whose parent the replay pruned from memory meanwhile (a late event that was
    /// inserted after its parent was re-admitted): [`Restore::wants`] then names what to
    /// look up in the store for [`Restore::readmit`], and the replay goes on from
    /// [`Restore::next_position`]. [`Restore::run`] does all of that.
    pub fn replay(&mut self, events: Vec<PackedEvent<T>>) -> Result<(), Error> {
        for packed in events {
            let position = self.next_position();
            if !self.replay_one(position, packed)? {
                break;
            }
        }
        Ok(())
    }

    /// The pruned parents the next logged event needs, to look up with
    /// [`Store::find`](crate::Store::find) (empty while the replay can go on).
    pub fn wants(&self) -> &[EventHash] {
        &self.wants
    }

    /// Hands in what the store returned for [`Restore::wants`] (see [`Parsec::readmit`]).
    pub fn readmit(&mut self, answers: Vec<(EventHash, Option<Stored<T>>)>) -> Result<(), Error> {
        self.wants.clear();
        for (hash, stored) in answers {
            if let Some(stored) = stored.filter(|s| s.stub.is_some())
                && !self.engine.graph.contains(&hash)
            {
                self.engine.readmit_stored(&hash, stored)?;
            }
        }
        Ok(())
    }

    /// Replays the whole log: `read(from, limit)` reads events as
    /// [`Store::events`](crate::Store::events) does, `find(hash)` as
    /// [`Store::find`](crate::Store::find) does (a synchronous driver passes its store's
    /// calls, an async one `block_on` them or drives [`Restore::replay`] itself).
    pub fn run(
        &mut self,
        mut read: impl FnMut(u64, usize) -> Result<Vec<PackedEvent<T>>, StoreError>,
        mut find: impl FnMut(&EventHash) -> Result<Option<Stored<T>>, StoreError>,
    ) -> Result<(), Error> {
        loop {
            if !self.wants.is_empty() {
                let answers = self
                    .wants
                    .iter()
                    .map(|hash| Ok((*hash, find(hash)?)))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                self.readmit(answers)?;
                continue;
            }
            let events = read(self.next_position(), REPLAY_CHUNK)?;
            if events.is_empty() {
                return Ok(());
            }
            self.replay(events)?;
        }
    }

    /// The engine, once every logged event was replayed.
    pub fn finish(self) -> Result<Restored<T, C>, Error> {
        let (replayed, stored) = (self.next_position(), self.loaded.events);
        if replayed != stored {
            return Err(RestoreError::Incomplete { replayed, stored }.into());
        }
        let decided = self.blocks.len() as u64;
        let stored = self.loaded.blocks;
        if stored > decided {
            return Err(RestoreError::BlocksAhead { stored, decided }.into());
        }
        let own_events = self
            .engine
            .our_last
            .map_or(0, |last| self.engine.graph.node(last).creator_index() + 1);
        if own_events < 2 {
            return Err(RestoreError::MissingOwnEvents.into());
        }
        let persist = self.blocks[stored as usize..]
            .iter()
            .cloned()
            .map(StoreOp::Block)
            .collect();
        Ok(Restored {
            engine: self.engine,
            blocks: self.blocks,
            persist,
        })
    }

    /// Replays one logged event; false (nothing done) if it needs pruned parents first.
    fn replay_one(&mut self, position: u64, packed: PackedEvent<T>) -> Result<bool, Error> {
        let engine = &mut self.engine;
        let prepared = packed
            .prepare()
            .map_err(|error| RestoreError::Unreadable { position, error })?;
        let event = prepared
            .verify_with(&engine.config.event_limits, &mut engine.keys)
            .map_err(|error| RestoreError::Invalid { position, error })?;
        let hash = *event.hash();
        let missing = engine.missing_parents(&event);
        if !missing.is_empty() && engine.graph.base().get() > 0 {
            if self.wanted_at == Some(position) {
                // Asked for once already: the store does not hold them.
                return Err(RestoreError::Misplaced { position }.into());
            }
            self.wanted_at = Some(position);
            self.wants = missing;
            return Ok(false);
        }
        let creator = *event.creator();
        let mut step = Step::default();
        if creator == engine.our_id {
            let expected = engine
                .our_last
                .map_or(0, |last| engine.graph.node(last).creator_index() + 1);
            if event.index() != expected {
                return Err(diverged(position, "not our next index"));
            }
            // The shares this event took when we created it are the front of the queue.
            let carried = event.coin_shares().len();
            if carried > engine.coin_shares.len()
                || engine.coin_shares[..carried] != *event.coin_shares()
            {
                return Err(diverged(position, "other coin shares than were queued"));
            }
            engine.coin_shares.drain(..carried);
            let vote = match event.cause() {
                Cause::Observation { vote, .. } => Some(vote.observation.clone()),
                _ => None,
            };
            let answered = match event.cause() {
                Cause::Request { other_parent, .. } => Some((true, *other_parent)),
                Cause::Response { other_parent, .. } => Some((false, *other_parent)),
                _ => None,
            };
            if !matches!(
                engine.insert_now(&mut step, creator, event)?,
                Placed::Inserted
            ) {
                return Err(RestoreError::Misplaced { position }.into());
            }
            let at = engine
                .graph
                .index_of(&hash)
                .ok_or(RestoreError::Misplaced { position })?;
            engine.our_last = Some(at);
            if let Some(observation) = vote {
                let key = engine.key_of(&observation)?;
                engine.note_our_vote(key, observation);
            }
            if let Some((request, other_parent)) = answered {
                let our_id = engine.our_id;
                engine
                    .answered
                    .replay_own(&engine.graph, request, &other_parent, &our_id);
            }
        } else {
            if engine.graph.contains(&hash) {
                return Err(RestoreError::Misplaced { position }.into());
            }
            if !matches!(engine.place(&mut step, creator, event)?, Placed::Inserted) {
                return Err(RestoreError::Misplaced { position }.into());
            }
        }
        if engine.graph.index_of(&hash).map(|i| i.get() as u64) != Some(position) {
            return Err(RestoreError::Misplaced { position }.into());
        }
        // Between two logged events, as between two inputs: memory stays bounded while a
        // long log is replayed.
        engine.prune_if_due();
        self.blocks.extend(step.blocks);
        Ok(true)
    }
}

fn diverged(position: u64, reason: &'static str) -> Error {
    RestoreError::Diverged { position, reason }.into()
}

impl sync::Answered {
    /// Records what one of our logged sync events answered: a `Request` of ours answered
    /// the `Requesting` `other_parent`; a `Response` of ours recorded the response whose
    /// last event is `other_parent`.
    pub(crate) fn replay_own<T>(
        &mut self,
        graph: &parsec_graph::Graph<T>,
        request: bool,
        other_parent: &parsec_graph::EventHash,
        us: &PeerId,
    ) {
        let Some(last) = graph.index_of(other_parent) else {
            return;
        };
        let sender = *graph.peer_id(graph.node(last).creator());
        // Replaying `reply` on the same graph records exactly what the live call did.
        let kind = if request {
            sync::SyncKind::Request
        } else {
            sync::SyncKind::Response
        };
        let _ = self.reply(graph, kind, last, &sender, us);
    }
}
