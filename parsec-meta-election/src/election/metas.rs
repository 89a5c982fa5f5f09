//! Meta-events by position, dropping those below the pruning point (spec §12.3): nothing
//! below the current restart point is ever read, so they cost no memory.

use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

use super::MetaEvent;

/// Per inserted position: its meta-event in the current election, if any.
#[derive(Clone, Debug, Default)]
pub(super) struct Metas {
    /// Positions below this are dropped and read as `None`.
    base: usize,
    slots: VecDeque<Option<Box<MetaEvent>>>,
    none: Option<Box<MetaEvent>>,
}

impl Metas {
    /// One past the last position.
    /// The lowest position still held: every slot below was dropped (and reads as none).
    pub(super) fn base(&self) -> usize {
        self.base
    }

    pub(super) fn len(&self) -> usize {
        self.base + self.slots.len()
    }

    pub(super) fn push(&mut self, meta: Option<Box<MetaEvent>>) {
        self.slots.push_back(meta);
    }

    /// The entry at `position`, `None` past the end; dropped ones read as no meta-event.
    pub(super) fn get(&self, position: usize) -> Option<&Option<Box<MetaEvent>>> {
        match position.checked_sub(self.base) {
            Some(offset) => self.slots.get(offset),
            None => Some(&self.none),
        }
    }

    /// The entry at `position`, if kept (not dropped, not past the end).
    pub(super) fn get_mut(&mut self, position: usize) -> Option<&mut Option<Box<MetaEvent>>> {
        let offset = position.checked_sub(self.base)?;
        self.slots.get_mut(offset)
    }

    /// The entries at positions `start..end` still kept (`end` clamped to the length).
    pub(super) fn range_mut(
        &mut self,
        start: usize,
        end: usize,
    ) -> impl Iterator<Item = &mut Option<Box<MetaEvent>>> {
        let from = start.saturating_sub(self.base);
        let to = end.min(self.len()).saturating_sub(self.base);
        self.slots.range_mut(from.min(to)..to)
    }

    /// Drops the entries below `position`, which must all be `None` or never read again.
    pub(super) fn drop_below(&mut self, position: usize) {
        let position = position.min(self.len());
        while self.base < position {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// Entries kept in memory.
    pub(super) fn held(&self) -> usize {
        self.slots.len()
    }
}

impl Index<usize> for Metas {
    type Output = Option<Box<MetaEvent>>;

    fn index(&self, position: usize) -> &Option<Box<MetaEvent>> {
        match self.get(position) {
            Some(meta) => meta,
            None => panic!("no meta-event slot at {position} yet"),
        }
    }
}

impl IndexMut<usize> for Metas {
    /// # Panics
    /// Below the dropped range or past the end: writing there is a bug of the caller.
    fn index_mut(&mut self, position: usize) -> &mut Option<Box<MetaEvent>> {
        let offset = position
            .checked_sub(self.base)
            .filter(|&o| o < self.slots.len());
        match offset {
            Some(offset) => &mut self.slots[offset],
            None => panic!("meta-event slot {position} was dropped or does not exist"),
        }
    }
}
