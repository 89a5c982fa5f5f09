//! Dropping what decided keys leave behind, so that memory follows the undecided votes
//! and not the length of the history (spec §12.3 items 2 and 3).
//!
//! Key ids and vote-record ids are dense numbers into vectors, and content unions are
//! bit sets over key ids: left alone, each decided key would cost its key, its records and
//! a bit in every later union forever. Once the dead outnumber the live (and there are
//! enough of them to be worth it), [`Elections::compact`] renumbers the live keys and
//! records in their old order and rewrites every reference. Decided keys are remembered
//! only in a [`KeySet`](crate::KeySet).
//!
//! Nothing observable changes: ids are local numbers that never enter a result, an
//! ordering or a digest except through the keys they name, and the renumbering keeps their
//! relative order (so registration order, which `pending` reports, is kept too). A decided
//! key in a union excluded nothing, so dropping it changes no content.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parsec_coin::CommonCoin;
use parsec_graph::DigestMap;

use super::{Elections, KeyId};
use crate::bits::Bits;

/// Compaction waits for at least this many dead keys or records.
const COMPACT_AT: usize = 8;

impl<C: CommonCoin> Elections<C> {
    /// Renumbers keys and records if enough of them are dead (module docs). Called between
    /// elections, when every reference to a decided key is already gone from the tallies
    /// and from the contents.
    pub(super) fn compact_if_due(&mut self) {
        let dead_keys = self.keys.len() - self.undecided.len();
        let dead_records = self.records.len() - self.undecided_records.len();
        if dead_keys >= COMPACT_AT.max(self.undecided.len())
            || dead_records >= COMPACT_AT.max(self.undecided_records.len())
        {
            self.compact();
        }
    }

    fn compact(&mut self) {
        // Keys: the undecided ones, in id order.
        let mut key_map: Vec<Option<KeyId>> = vec![None; self.keys.len()];
        let mut keys = Vec::with_capacity(self.undecided.len());
        let mut key_ids = DigestMap::default();
        for &old in &self.undecided {
            let new = keys.len() as KeyId;
            key_map[old as usize] = Some(new);
            let key = self.keys[old as usize];
            keys.push(key);
            key_ids.insert(key, new);
        }
        let map_key = |old: KeyId| key_map.get(old as usize).copied().flatten();

        // Records: the undecided ones, in id order.
        let mut record_map: Vec<Option<usize>> = vec![None; self.records.len()];
        let mut records = Vec::with_capacity(self.undecided_records.len());
        for &old in &self.undecided_records {
            let Some(key) = map_key(self.records[old].key) else {
                // An undecided record of a decided key cannot exist; skipping it keeps
                // every reference valid if it did.
                continue;
            };
            record_map[old] = Some(records.len());
            let mut record = self.records[old];
            record.key = key;
            records.push(record);
        }
        let map_record = |old: usize| record_map.get(old).copied().flatten();

        // Per creator: its live records, and how many live ones precede each old cursor.
        let mut live_before: Vec<Vec<usize>> = Vec::with_capacity(self.by_creator.len());
        for ids in &mut self.by_creator {
            let mut before = Vec::with_capacity(ids.len() + 1);
            let mut live = 0;
            before.push(0);
            for &id in ids.iter() {
                if map_record(id).is_some() {
                    live += 1;
                }
                before.push(live);
            }
            live_before.push(before);
            *ids = ids.iter().filter_map(|&id| map_record(id)).collect();
        }

        for tallies in &mut self.tallies {
            for tally in tallies {
                for (creator, cursor) in tally.cursors.iter_mut().enumerate() {
                    if let Some(before) = live_before.get(creator) {
                        *cursor = before[(*cursor).min(before.len() - 1)];
                    }
                }
                tally.deferred = tally
                    .deferred
                    .iter()
                    .filter_map(|&id| map_record(id))
                    .collect();
                tally.keys = std::mem::take(&mut tally.keys)
                    .into_iter()
                    .filter_map(|(key, t)| Some((map_key(key)?, t)))
                    .collect::<BTreeMap<_, _>>();
                tally.ready = tally.ready.iter().filter_map(|&k| map_key(k)).collect();
            }
        }

        // Unions are shared along chains: rewrite each shared set once. The old sets stay
        // alive in the map until the end, so no address is reused while it is a key.
        let mut unions: DigestMap<usize, (Arc<Bits>, Arc<Bits>)> = DigestMap::default();
        for meta in self.meta.range_mut(0, usize::MAX).flatten() {
            meta.content = meta.content.iter().filter_map(|&k| map_key(k)).collect();
            if let Some(union) = &meta.union {
                let address = Arc::as_ptr(union) as usize;
                let (_, rewritten) = unions.entry(address).or_insert_with(|| {
                    let mut bits = Bits::default();
                    for old in union.iter() {
                        if let Some(new) = map_key(old as KeyId) {
                            bits.insert(new as usize);
                        }
                    }
                    (Arc::clone(union), Arc::new(bits))
                });
                meta.union = Some(Arc::clone(rewritten));
            }
        }
        drop(unions);

        self.votes_of = self
            .undecided
            .iter()
            .map(|&old| {
                self.votes_of[old as usize]
                    .iter()
                    .filter_map(|&id| map_record(id))
                    .collect()
            })
            .collect();
        self.undecided = (0..keys.len() as KeyId).collect::<BTreeSet<_>>();
        self.undecided_records = (0..records.len()).collect();
        self.decided = vec![false; keys.len()];
        self.keys = keys;
        self.key_ids = key_ids;
        self.records = records;
    }
}
