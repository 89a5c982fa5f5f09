//! `ThresholdCoin`: the coin from threshold BLS signatures (spec §7.5).
//!
//! When an evaluated event needs coin `(e, p, r)` and election `e` uses the key epoch,
//! each holder signs the coin share message once and attaches its share to its next own
//! event. Shares travel in events (which authenticate them), are verified once, and only
//! for coins that some event needed; the coin is available at `E` when `anc(E)` holds
//! valid shares from `t + 1` distinct holders, and its value is bit 0 of the coin value
//! hash of the combined signature (the same whichever `t + 1` shares are combined).
//! While an election's voters are not exactly the epoch's holders, the election uses the
//! [`ConcreteCoin`] instead (spec §7.4).
//!
//! With at most `t` faulty holders, no one can compute a coin before an honest holder has
//! published its share, which it does only after some voter committed its aux value for
//! that round: a scheduler cannot see the coin before it has to commit.

mod keys;

use std::collections::{BTreeMap, BTreeSet};

use parsec_graph::{
    CoinShare, DigestMap, EventHash, EventIndex, PeerId, coin_share_message, coin_value_hash,
};
use threshold_crypto::SignatureShare;

pub use keys::{Dealt, KeyEpoch, KeyError, SecretShare, deal};

use crate::{
    CoinAgreement, CoinContext, CoinId, CommonCoin, ConcreteCoin, ElectionInfo, agreement_digest,
};

/// Most unverified shares kept per holder (a bound on what a faulty holder can make us
/// store with shares for coins nobody needs).
const MAX_UNVERIFIED_PER_HOLDER: usize = 4096;

/// Why a peer's coin data was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoinFaultKind {
    /// The event's creator holds no share of the epoch.
    NotAHolder,
    /// The share does not verify (malice `InvalidCoinShare`, spec §10).
    InvalidShare,
    /// The share's election does not use the threshold coin, or its candidate is not a
    /// voter of that election.
    NotThisCoin,
    /// A second, different share from the same holder for the same coin.
    ConflictingShare,
    /// The holder keeps sending shares for coins nobody needs.
    TooManyShares,
}

/// A peer's coin data that was ignored: in which event, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoinFault {
    /// The event that carried it.
    pub event: EventHash,
    /// Its creator.
    pub creator: PeerId,
    /// What was wrong.
    pub kind: CoinFaultKind,
}

/// One holder's share for one coin, as carried by an event.
#[derive(Clone, Debug)]
struct Carried {
    event: EventIndex,
    hash: EventHash,
    holder: PeerId,
    share: [u8; 96],
}

/// The coin from threshold signatures (spec §7.5), with the [`ConcreteCoin`] for the
/// elections whose voters are not the epoch's holders.
#[derive(Clone, Debug)]
pub struct ThresholdCoin {
    epoch: KeyEpoch,
    /// The digest of the epoch (kind and public key set), computed once.
    agreement: CoinAgreement,
    ours: Option<SecretShare>,
    concrete: ConcreteCoin,
    /// Shares we signed, to attach to our next own event.
    outgoing: Vec<CoinShare>,
    /// Coins we have signed a share for.
    signed: BTreeSet<CoinId>,
    /// Coins some evaluated event needed (their shares are verified on arrival).
    needed: BTreeSet<CoinId>,
    /// Shares carried by events and not verified yet, per coin.
    unverified: BTreeMap<CoinId, Vec<Carried>>,
    unverified_per_holder: DigestMap<PeerId, usize>,
    /// Per coin and holder index: the events carrying its valid share, and the share.
    valid: BTreeMap<CoinId, BTreeMap<usize, (Vec<EventIndex>, SignatureShare)>>,
    /// Coins whose combined value is known.
    values: BTreeMap<CoinId, bool>,
    faults: Vec<CoinFault>,
    /// The lowest election still of interest (earlier coins are dropped).
    floor: u64,
    /// Shares checked by coins of this process, if shared, and our key set's id in it.
    shared: Option<(VerifiedShares, KeySetId)>,
}

/// A record of coin shares whose verification succeeded, shared by the coins of one
/// process (a simulator's engines, or an attacker's copies of them), so that each share
/// is checked once however many engines meet it. Entries are keyed by the key set's
/// master public key (not the epoch number, which two dealings can share), coin, holder
/// and the share's exact bytes, so a share that differs in any bit is checked again. Share it only between coins that trust each other's checks. Bounded: past
/// its capacity it starts over.
#[derive(Clone, Debug, Default)]
pub struct VerifiedShares(std::sync::Arc<std::sync::Mutex<Checked>>);

#[derive(Debug, Default)]
struct Checked {
    /// Verified shares, parsed (decoding a share costs a curve point decompression).
    shares: BTreeMap<ShareKey, SignatureShare>,
    /// Combined coins: a coin's value is unique to its epoch and id, however combined.
    values: BTreeMap<(KeySetId, CoinId), bool>,
}

/// A key set's master public key, compressed.
type KeySetId = [u8; 48];
type ShareKey = (KeySetId, CoinId, usize, [u8; 96]);

impl VerifiedShares {
    /// Most shares remembered.
    pub const CAPACITY: usize = 1 << 16;

    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, key: &ShareKey) -> Option<SignatureShare> {
        self.0.lock().ok()?.shares.get(key).cloned()
    }

    fn insert(&self, key: ShareKey, share: &SignatureShare) {
        if let Ok(mut checked) = self.0.lock() {
            if checked.shares.len() >= Self::CAPACITY {
                checked.shares.clear();
            }
            checked.shares.insert(key, share.clone());
        }
    }

    fn value(&self, epoch: &KeySetId, id: &CoinId) -> Option<bool> {
        self.0.lock().ok()?.values.get(&(*epoch, *id)).copied()
    }

    fn set_value(&self, epoch: KeySetId, id: CoinId, value: bool) {
        if let Ok(mut checked) = self.0.lock() {
            if checked.values.len() >= Self::CAPACITY {
                checked.values.clear();
            }
            checked.values.insert((epoch, id), value);
        }
    }
}

impl ThresholdCoin {
    /// A coin of `epoch`; `ours` is our secret share if we are a holder (checked against
    /// the epoch by [`SecretShare::from_bytes`] or [`deal`]).
    pub fn new(epoch: KeyEpoch, ours: Option<SecretShare>) -> Result<Self, KeyError> {
        if let Some(share) = &ours {
            let index = epoch
                .holder_index(&share.holder)
                .ok_or(KeyError::NotAHolder(share.holder))?;
            if share.epoch != epoch.epoch {
                return Err(KeyError::WrongEpoch {
                    file: share.epoch,
                    expected: epoch.epoch,
                });
            }
            if index != share.index
                || share.key().public_key_share() != epoch.public_keys.public_key_share(index)
            {
                return Err(KeyError::ShareMismatch);
            }
        }
        let agreement = agreement_digest("threshold", &epoch.to_bytes()?);
        Ok(ThresholdCoin {
            epoch,
            agreement,
            ours,
            concrete: ConcreteCoin::new(),
            outgoing: Vec::new(),
            signed: BTreeSet::new(),
            needed: BTreeSet::new(),
            unverified: BTreeMap::new(),
            unverified_per_holder: DigestMap::default(),
            valid: BTreeMap::new(),
            values: BTreeMap::new(),
            faults: Vec::new(),
            floor: 0,
            shared: None,
        })
    }

    /// Consults and feeds `shared`, a record of shares checked by other coins of this
    /// process, from now on.
    pub fn share_verified_shares(&mut self, shared: VerifiedShares) {
        let id = self.epoch.public_keys.public_key().to_bytes();
        self.shared = Some((shared, id));
    }

    /// Drops our secret share and the shares not yet attached: from now on this coin
    /// signs nothing and knows only the shares others carried. This is what an outsider
    /// can predict of a holder (the simulator's attacker runs such copies of honest
    /// engines, so that looking ahead never reveals a coin before a real share does).
    pub fn forget_secret(&mut self) {
        self.ours = None;
        self.outgoing.clear();
    }

    /// The key epoch.
    pub fn epoch(&self) -> &KeyEpoch {
        &self.epoch
    }

    /// Whether election `info` uses the threshold coin: its voters are exactly the
    /// epoch's holders (spec §7.4).
    pub fn applies_to(&self, info: &ElectionInfo<'_>) -> bool {
        info.voters == self.epoch.holders.as_slice()
    }

    /// Forgets the coins of elections before `election`.
    fn advance(&mut self, election: u64) {
        if election <= self.floor {
            return;
        }
        self.floor = election;
        let keep = CoinId {
            election,
            candidate: PeerId::from_bytes([0; 32]),
            round: 0,
        };
        self.signed = self.signed.split_off(&keep);
        self.needed = self.needed.split_off(&keep);
        self.valid = self.valid.split_off(&keep);
        self.values = self.values.split_off(&keep);
        let dropped = std::mem::take(&mut self.unverified);
        let (old, kept): (BTreeMap<_, _>, BTreeMap<_, _>) = dropped
            .into_iter()
            .partition(|(id, _)| id.election < election);
        for carried in old.values().flatten() {
            if let Some(count) = self.unverified_per_holder.get_mut(&carried.holder) {
                *count = count.saturating_sub(1);
            }
        }
        self.unverified = kept;
    }

    /// Verifies the carried shares of `id` (once each), now that some event needs it.
    fn verify_pending(&mut self, id: &CoinId, info: &ElectionInfo<'_>) {
        let Some(carried) = self.unverified.remove(id) else {
            return;
        };
        let applies = self.applies_to(info) && info.voters.contains(&id.candidate);
        let message = coin_share_message(self.epoch.epoch, id.election, &id.candidate, id.round);
        for c in carried {
            if let Some(count) = self.unverified_per_holder.get_mut(&c.holder) {
                *count = count.saturating_sub(1);
            }
            let fault = |kind| CoinFault {
                event: c.hash,
                creator: c.holder,
                kind,
            };
            if !applies {
                self.faults.push(fault(CoinFaultKind::NotThisCoin));
                continue;
            }
            let Some(index) = self.epoch.holder_index(&c.holder) else {
                self.faults.push(fault(CoinFaultKind::NotAHolder));
                continue;
            };
            let entry = self.valid.entry(*id).or_default();
            if let Some((events, known)) = entry.get_mut(&index) {
                // Its share again (a later event of a holder that forked, or a copy):
                // the same bytes need no second check.
                if known.to_bytes() == c.share {
                    events.push(c.event);
                } else {
                    self.faults.push(fault(CoinFaultKind::ConflictingShare));
                }
                continue;
            }
            let key = |set: &KeySetId| (*set, *id, index, c.share);
            if let Some(share) = self.shared.as_ref().and_then(|(s, set)| s.get(&key(set))) {
                entry.insert(index, (vec![c.event], share));
                continue;
            }
            let share = match SignatureShare::from_bytes(c.share) {
                Ok(share)
                    if self
                        .epoch
                        .public_keys
                        .public_key_share(index)
                        .verify(&share, &message) =>
                {
                    if let Some((shared, set)) = &self.shared {
                        shared.insert(key(set), &share);
                    }
                    share
                }
                _ => {
                    self.faults.push(fault(CoinFaultKind::InvalidShare));
                    continue;
                }
            };
            entry.insert(index, (vec![c.event], share));
        }
    }

    fn threshold_value<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) -> Option<bool> {
        self.verify_pending(id, ctx.info);
        let valid = self.valid.get(id)?;
        let present: Vec<(usize, &SignatureShare)> = valid
            .iter()
            .filter(|(_, (events, _))| {
                events
                    .iter()
                    .any(|&e| ctx.graph.is_descendant_of(ctx.at, e))
            })
            .map(|(&index, (_, share))| (index, share))
            .collect();
        if present.len() <= self.epoch.threshold() {
            return None;
        }
        if let Some(&value) = self.values.get(id) {
            return Some(value);
        }
        if let Some(value) = self.shared.as_ref().and_then(|(s, set)| s.value(set, id)) {
            self.values.insert(*id, value);
            return Some(value);
        }
        let signature = self
            .epoch
            .public_keys
            .combine_signatures(present.into_iter().take(self.epoch.threshold() + 1))
            .ok()?;
        let value = coin_value_hash(&signature.to_bytes())[0] & 1 == 1;
        self.values.insert(*id, value);
        if let Some((shared, set)) = &self.shared {
            shared.set_value(*set, *id, value);
        }
        Some(value)
    }
}

impl CommonCoin for ThresholdCoin {
    fn agreement(&self) -> CoinAgreement {
        self.agreement
    }

    fn value<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) -> Option<bool> {
        self.advance(ctx.info.election);
        if self.applies_to(ctx.info) {
            self.threshold_value(id, ctx)
        } else {
            self.concrete.value(id, ctx)
        }
    }

    fn on_needed<T>(&mut self, id: &CoinId, ctx: &CoinContext<'_, T>) {
        self.advance(ctx.info.election);
        if !self.applies_to(ctx.info) {
            self.concrete.on_needed(id, ctx);
            return;
        }
        self.needed.insert(*id);
        self.verify_pending(id, ctx.info);
        if let Some(ours) = &self.ours
            && self.signed.insert(*id)
        {
            let message =
                coin_share_message(self.epoch.epoch, id.election, &id.candidate, id.round);
            self.outgoing.push(CoinShare {
                election: id.election,
                candidate: id.candidate,
                round: id.round,
                share: ours.key().sign(&message).to_bytes(),
            });
        }
    }

    fn take_outgoing(&mut self) -> Vec<CoinShare> {
        std::mem::take(&mut self.outgoing)
    }

    fn take_faults(&mut self) -> Vec<CoinFault> {
        std::mem::take(&mut self.faults)
    }

    fn wants_evaluations(&self) -> bool {
        // The fallback coin needs them whenever an election does not use the epoch.
        true
    }

    fn on_evaluated<T>(&mut self, past_flip: &[Option<u32>], ctx: &CoinContext<'_, T>) {
        if !self.applies_to(ctx.info) {
            self.concrete.on_evaluated(past_flip, ctx);
        }
    }

    /// Shares of coins still of interest (this election's or a later one's) may be
    /// carried by events older than the election's restart point.
    fn oldest_event(&self) -> Option<EventIndex> {
        let unverified = self.unverified.values().flatten().map(|c| c.event);
        let valid = self
            .valid
            .values()
            .flat_map(|holders| holders.values())
            .flat_map(|(events, _)| events.iter().copied());
        unverified.chain(valid).min()
    }

    fn on_inserted<T>(&mut self, ctx: &CoinContext<'_, T>) {
        let node = ctx.graph.node(ctx.at);
        let event = node.event();
        let holder = *event.creator();
        for share in event.coin_shares() {
            if share.election < self.floor {
                continue;
            }
            let fault = |kind| CoinFault {
                event: *event.hash(),
                creator: holder,
                kind,
            };
            if self.epoch.holder_index(&holder).is_none() {
                self.faults.push(fault(CoinFaultKind::NotAHolder));
                return;
            }
            let count = self.unverified_per_holder.entry(holder).or_default();
            if *count >= MAX_UNVERIFIED_PER_HOLDER {
                self.faults.push(fault(CoinFaultKind::TooManyShares));
                return;
            }
            *count += 1;
            let id = CoinId {
                election: share.election,
                candidate: share.candidate,
                round: share.round,
            };
            self.unverified.entry(id).or_default().push(Carried {
                event: ctx.at,
                hash: *event.hash(),
                holder,
                share: share.share,
            });
        }
        // A coin some event already needed is verified at once.
        let needed: Vec<CoinId> = event
            .coin_shares()
            .iter()
            .map(|s| CoinId {
                election: s.election,
                candidate: s.candidate,
                round: s.round,
            })
            .filter(|id| self.needed.contains(id))
            .collect();
        for id in needed {
            if id.election == ctx.info.election {
                self.verify_pending(&id, ctx.info);
            }
        }
    }
}
