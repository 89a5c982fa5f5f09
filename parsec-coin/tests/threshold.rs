//! `ThresholdCoin` and its key material: dealing, share files and their errors, shares
//! carried in events, availability from `t + 1` holders in the ancestry, one value
//! whichever shares combine, and bad shares reported, never trusted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use parsec_coin::{
    CoinContext, CoinFaultKind, CoinId, CommonCoin, ElectionInfo, KeyEpoch, KeyError, SecretShare,
    ThresholdCoin, VerifiedShares, deal,
};
use parsec_graph::{
    Cause, CoinShare, EventContent, EventHash, EventIndex, EventLimits, Graph, PeerId, SecretKey,
};

fn keys(n: u8) -> Vec<SecretKey> {
    (1..=n).map(|i| SecretKey::from_seed([i; 32])).collect()
}

fn ids(keys: &[SecretKey]) -> Vec<PeerId> {
    let mut ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
    ids.sort();
    ids
}

#[test]
fn dealt_shares_round_trip_through_their_files() {
    let members = ids(&keys(4));
    let dealt = deal(&members, 0, [9; 32]).unwrap();
    assert_eq!(dealt.epoch.threshold(), 1);
    assert_eq!(dealt.epoch.holders, members);
    let epoch = KeyEpoch::from_bytes(&dealt.epoch.to_bytes().unwrap()).unwrap();
    assert_eq!(epoch, dealt.epoch);
    for share in &dealt.shares {
        let bytes = share.to_bytes().unwrap();
        let loaded = SecretShare::from_bytes(&bytes, &epoch, &share.holder).unwrap();
        assert_eq!(loaded.index, share.index);
        ThresholdCoin::new(epoch.clone(), Some(loaded)).unwrap();
    }
    // The same seed deals the same keys.
    assert_eq!(deal(&members, 0, [9; 32]).unwrap().epoch, dealt.epoch);
}

#[test]
fn the_agreement_digest_names_the_dealing_and_nothing_secret() {
    let members = ids(&keys(4));
    let dealt = deal(&members, 0, [9; 32]).unwrap();
    let coin = |share: Option<SecretShare>| ThresholdCoin::new(dealt.epoch.clone(), share).unwrap();
    // Every holder, and a member without a share, agree: the secret is not in it.
    let outsider = coin(None).agreement();
    for share in &dealt.shares {
        assert_eq!(coin(Some(share.clone())).agreement(), outsider);
    }
    // Another dealing with the same epoch number and holders, or the concrete coin, differ.
    let other = deal(&members, 0, [10; 32]).unwrap();
    let other = ThresholdCoin::new(other.epoch, None).unwrap().agreement();
    assert_ne!(other, outsider);
    assert_ne!(parsec_coin::ConcreteCoin::new().agreement(), outsider);
    let fewer = deal(&members[..3], 0, [9; 32]).unwrap();
    assert_ne!(
        ThresholdCoin::new(fewer.epoch, None).unwrap().agreement(),
        outsider
    );
}

#[test]
fn bad_share_files_are_clear_errors() {
    let members = ids(&keys(4));
    let dealt = deal(&members, 0, [9; 32]).unwrap();
    let bytes = dealt.shares[0].to_bytes().unwrap();
    let (ours, other) = (members[0], members[1]);
    let load = |bytes: &[u8], holder: &PeerId| SecretShare::from_bytes(bytes, &dealt.epoch, holder);
    assert!(matches!(
        load(&bytes, &other),
        Err(KeyError::WrongHolder { .. })
    ));
    assert_eq!(
        load(b"not a share", &ours).unwrap_err(),
        KeyError::NotAShareFile
    );
    for cut in [8, 12, 20, bytes.len() - 1] {
        assert!(
            matches!(load(&bytes[..cut], &ours), Err(KeyError::Malformed(_))),
            "truncated at {cut}"
        );
    }
    let mut newer = bytes.clone();
    newer[8] = 2;
    assert_eq!(
        load(&newer, &ours).unwrap_err(),
        KeyError::UnsupportedFormat(2)
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(load(&longer, &ours), Err(KeyError::Malformed(_))));
    // A share of another dealing for the same member does not match this key set.
    let elsewhere = deal(&members, 0, [8; 32]).unwrap();
    let foreign = elsewhere.shares[0].to_bytes().unwrap();
    assert_eq!(load(&foreign, &ours).unwrap_err(), KeyError::ShareMismatch);
    let later = deal(&members, 1, [9; 32]).unwrap();
    assert!(matches!(
        load(&later.shares[0].to_bytes().unwrap(), &ours),
        Err(KeyError::WrongEpoch {
            file: 1,
            expected: 0
        })
    ));
    // A stranger holds nothing; a coin refuses a share that is not of its epoch.
    let stranger = SecretKey::from_seed([77; 32]).peer_id();
    assert!(matches!(
        load(&bytes, &stranger),
        Err(KeyError::WrongHolder { .. })
    ));
    assert!(ThresholdCoin::new(elsewhere.epoch.clone(), Some(dealt.shares[0].clone())).is_err());
    assert!(KeyEpoch::from_bytes(&[1, 2, 3]).is_err());
}

/// A tiny graph: each member's `Initial`, then events added by hand.
struct Net {
    keys: Vec<SecretKey>,
    graph: Graph<String>,
    last: Vec<Option<EventHash>>,
    index: Vec<u64>,
}

impl Net {
    fn new(keys: Vec<SecretKey>) -> Self {
        let n = keys.len();
        let mut net = Net {
            keys,
            graph: Graph::new(),
            last: vec![None; n],
            index: vec![0; n],
        };
        for i in 0..n {
            net.add(i, None, Vec::new());
        }
        net
    }

    /// An event of member `c` with `other`'s latest event as other parent.
    fn add(&mut self, c: usize, other: Option<usize>, shares: Vec<CoinShare>) -> EventIndex {
        let cause = match (self.last[c], other) {
            (None, _) => Cause::Initial,
            (Some(self_parent), Some(o)) => Cause::Request {
                self_parent,
                other_parent: self.last[o].unwrap(),
            },
            (Some(self_parent), None) => Cause::Requesting {
                self_parent,
                recipient: self.keys[(c + 1) % self.keys.len()].peer_id(),
            },
        };
        let index = if self.last[c].is_some() {
            self.index[c] + 1
        } else {
            0
        };
        let event = EventContent {
            creator: self.keys[c].peer_id(),
            index,
            cause,
            coin_shares: shares,
        }
        .sign(&self.keys[c], &EventLimits::default())
        .unwrap();
        self.last[c] = Some(*event.hash());
        self.index[c] = index;
        self.graph.insert(event).unwrap().index()
    }
}

fn id_for(voters: &[PeerId]) -> CoinId {
    CoinId {
        election: 0,
        candidate: voters[2],
        round: 1,
    }
}

/// The share holder `holder` publishes for `id` once it needs it.
fn share_of(epoch: &KeyEpoch, secret: &SecretShare, net: &Net, id: &CoinId) -> CoinShare {
    let mut coin = ThresholdCoin::new(epoch.clone(), Some(secret.clone())).unwrap();
    let info = ElectionInfo {
        election: 0,
        voters: &epoch.holders,
        previous_group_hash: [0; 32],
    };
    let ctx = CoinContext {
        graph: &net.graph,
        at: EventIndex::from(0),
        info: &info,
    };
    coin.on_needed(id, &ctx);
    coin.on_needed(id, &ctx);
    let out = coin.take_outgoing();
    assert_eq!(
        out.len(),
        1,
        "one share per coin, however often it is needed"
    );
    out.into_iter().next().unwrap()
}

/// Feeds every event of `net` to `coin` in order; returns the value asked at the last one.
fn observe(coin: &mut ThresholdCoin, net: &Net, voters: &[PeerId], id: &CoinId) -> Option<bool> {
    let info = ElectionInfo {
        election: id.election,
        voters,
        previous_group_hash: [0; 32],
    };
    let mut value = None;
    for i in 0..net.graph.len() {
        let ctx = CoinContext {
            graph: &net.graph,
            at: EventIndex::from(i),
            info: &info,
        };
        coin.on_inserted(&ctx);
        coin.on_needed(id, &ctx);
        value = coin.value(id, &ctx);
    }
    value
}

/// Member `i`'s keys, in the sorted holder order of the epoch.
fn sorted_keys(n: u8) -> Vec<SecretKey> {
    let mut keys = keys(n);
    keys.sort_by_key(SecretKey::peer_id);
    keys
}

#[test]
fn the_coin_needs_t_plus_one_holders_in_the_ancestry_and_has_one_value() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters, 0, [5; 32]).unwrap();
    let id = id_for(&voters);
    let mut values = Vec::new();
    // Two disjoint pairs of holders publish: each pair makes the coin; both agree.
    for pair in [[0usize, 1], [2, 3], [1, 3]] {
        let mut net = Net::new(keys.clone());
        let a = share_of(&dealt.epoch, &dealt.shares[pair[0]], &net, &id);
        net.add(pair[0], Some(pair[1]), vec![a]);
        let mut observer = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
        assert_eq!(
            observe(&mut observer, &net, &voters, &id),
            None,
            "one share is not enough"
        );
        let b = share_of(&dealt.epoch, &dealt.shares[pair[1]], &net, &id);
        net.add(pair[1], Some(pair[0]), vec![b]);
        let mut observer = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
        let value = observe(&mut observer, &net, &voters, &id).expect("t + 1 shares");
        assert!(observer.take_faults().is_empty());
        values.push(value);
    }
    assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
}

#[test]
fn a_share_outside_the_ancestry_does_not_count() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters, 0, [5; 32]).unwrap();
    let id = id_for(&voters);
    let mut net = Net::new(keys.clone());
    let a = share_of(&dealt.epoch, &dealt.shares[0], &net, &id);
    let b = share_of(&dealt.epoch, &dealt.shares[1], &net, &id);
    net.add(0, None, vec![a]);
    net.add(1, None, vec![b]);
    // Member 3's event sees only member 0's share.
    let at = net.add(3, Some(0), Vec::new());
    let mut coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    let _ = observe(&mut coin, &net, &voters, &id);
    let info = ElectionInfo {
        election: 0,
        voters: &voters,
        previous_group_hash: [0; 32],
    };
    let ctx = CoinContext {
        graph: &net.graph,
        at,
        info: &info,
    };
    assert_eq!(coin.value(&id, &ctx), None);
    // Once it also descends from member 1's share, the coin is there.
    let at = net.add(3, Some(1), Vec::new());
    let ctx = CoinContext {
        graph: &net.graph,
        at,
        info: &info,
    };
    coin.on_inserted(&ctx);
    assert!(coin.value(&id, &ctx).is_some());
}

#[test]
fn bad_shares_are_faults_and_never_count() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters, 0, [5; 32]).unwrap();
    let id = id_for(&voters);
    let mut net = Net::new(keys.clone());
    let good = share_of(&dealt.epoch, &dealt.shares[0], &net, &id);
    // Holder 1 sends garbage; holder 2 sends a valid share for another round as if for
    // this one; a stranger's share is not a holder's.
    let garbage = CoinShare {
        share: [7; 96],
        ..good.clone()
    };
    let other_round = CoinId { round: 2, ..id };
    let misfiled = CoinShare {
        round: id.round,
        ..share_of(&dealt.epoch, &dealt.shares[2], &net, &other_round)
    };
    net.add(0, None, vec![good]);
    net.add(1, Some(0), vec![garbage]);
    net.add(2, Some(1), vec![misfiled]);
    let mut coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    assert_eq!(
        observe(&mut coin, &net, &voters, &id),
        None,
        "only one valid share"
    );
    let mut faults: Vec<_> = coin
        .take_faults()
        .into_iter()
        .map(|f| (f.creator, f.kind))
        .collect();
    faults.sort_by_key(|f| f.0);
    let mut expected = vec![
        (voters[1], CoinFaultKind::InvalidShare),
        (voters[2], CoinFaultKind::InvalidShare),
    ];
    expected.sort_by_key(|f| f.0);
    assert_eq!(faults, expected);

    // Four holders of a different dealing are not this election's voters: the concrete
    // coin decides instead, and a share for it is not this coin's.
    let mut five = keys.clone();
    five.push(SecretKey::from_seed([50; 32]));
    let stranger = five.len() - 1;
    let mut net = Net::new(five.clone());
    let fake = CoinShare {
        share: [1; 96],
        ..share_of(&dealt.epoch, &dealt.shares[0], &Net::new(keys.clone()), &id)
    };
    net.add(stranger, Some(0), vec![fake]);
    let mut coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    let _ = observe(&mut coin, &net, &voters, &id);
    let kinds: Vec<_> = coin.take_faults().into_iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![CoinFaultKind::NotAHolder]);
}

#[test]
fn a_holders_second_different_share_conflicts_and_its_valid_one_counts() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters, 0, [5; 32]).unwrap();
    let id = id_for(&voters);
    let mut net = Net::new(keys.clone());
    let a = share_of(&dealt.epoch, &dealt.shares[0], &net, &id);
    let b = share_of(&dealt.epoch, &dealt.shares[1], &net, &id);
    let garbage = |share: &CoinShare| CoinShare {
        share: [9; 96],
        ..share.clone()
    };
    // Holder 0: its valid share, then another for the same coin. Holder 1: garbage first,
    // then its valid share. A share for a candidate who is not a voter is not this coin's.
    net.add(0, None, vec![a.clone()]);
    net.add(0, None, vec![garbage(&a)]);
    net.add(1, Some(0), vec![garbage(&b)]);
    let stranger = SecretKey::from_seed([60; 32]).peer_id();
    let not_a_voter = CoinShare {
        candidate: stranger,
        ..b.clone()
    };
    net.add(1, None, vec![b.clone(), not_a_voter]);
    let mut coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    let value = observe(&mut coin, &net, &voters, &id).expect("holders 0 and 1 are valid");
    let faults: Vec<_> = coin
        .take_faults()
        .into_iter()
        .map(|f| (f.creator, f.kind))
        .collect();
    assert_eq!(
        faults,
        vec![
            (voters[0], CoinFaultKind::ConflictingShare),
            (voters[1], CoinFaultKind::InvalidShare),
        ],
        "the stranger's coin is never needed, so its share is never checked"
    );
    // The same value as from the two valid shares alone.
    let mut clean = Net::new(keys.clone());
    clean.add(0, None, vec![a]);
    clean.add(1, Some(0), vec![b]);
    let mut fresh = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    assert_eq!(observe(&mut fresh, &clean, &voters, &id), Some(value));
    let asked = CoinId {
        candidate: stranger,
        ..id
    };
    let _ = observe(&mut coin, &net, &voters, &asked);
    let kinds: Vec<_> = coin.take_faults().into_iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&CoinFaultKind::NotThisCoin), "{kinds:?}");
}

#[test]
fn shares_for_a_later_election_wait_for_it_and_earlier_ones_are_dropped() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters, 0, [5; 32]).unwrap();
    let now = id_for(&voters);
    let later = CoinId { election: 3, ..now };
    let mut net = Net::new(keys.clone());
    // Holders 0 and 1 carry shares of election 3's coin while election 0 runs.
    let a = share_of(&dealt.epoch, &dealt.shares[0], &net, &later);
    let b = share_of(&dealt.epoch, &dealt.shares[1], &net, &later);
    net.add(0, None, vec![a]);
    net.add(1, Some(0), vec![b]);
    let mut coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    assert_eq!(observe(&mut coin, &net, &voters, &now), None);
    assert!(coin.take_faults().is_empty());
    // When election 3 asks, they are verified and make its coin.
    let info = ElectionInfo {
        election: 3,
        voters: &voters,
        previous_group_hash: [0; 32],
    };
    let ctx = CoinContext {
        graph: &net.graph,
        at: EventIndex::from(net.graph.len() - 1),
        info: &info,
    };
    let value = coin
        .value(&later, &ctx)
        .expect("two valid shares of election 3");
    assert!(coin.take_faults().is_empty());
    let mut fresh = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    assert_eq!(observe(&mut fresh, &net, &voters, &later), Some(value));
    // Once election 4 runs, election 3's coin is forgotten (the engine never asks it
    // again), and a later event carrying one of its shares is neither checked nor kept.
    let next = CoinId { election: 4, ..now };
    let info4 = ElectionInfo {
        election: 4,
        ..info
    };
    let c = share_of(&dealt.epoch, &dealt.shares[2], &net, &later);
    let at = net.add(2, Some(1), vec![c]);
    let ctx4 = CoinContext {
        graph: &net.graph,
        at,
        info: &info4,
    };
    assert_eq!(coin.value(&next, &ctx4), None);
    coin.on_inserted(&ctx4);
    let ctx3 = CoinContext {
        info: &info,
        ..ctx4
    };
    assert_eq!(coin.value(&later, &ctx3), None, "election 3 was dropped");
    assert!(coin.take_faults().is_empty());
}

#[test]
fn an_election_whose_voters_are_not_the_holders_uses_the_concrete_coin() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters[..3], 0, [5; 32]).unwrap();
    let coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    let info = ElectionInfo {
        election: 0,
        voters: &voters,
        previous_group_hash: [0; 32],
    };
    assert!(!coin.applies_to(&info));
    let held = ElectionInfo {
        voters: &dealt.epoch.holders,
        ..info
    };
    assert!(coin.applies_to(&held));
}

#[test]
fn shares_for_coins_nobody_needs_are_bounded_per_holder() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters, 0, [5; 32]).unwrap();
    let mut net = Net::new(keys.clone());
    // Holder 0 floods shares for rounds no event needs: 64 per event (the event limit).
    for event in 0..70u32 {
        let shares = (0..64u32)
            .map(|i| CoinShare {
                election: 0,
                candidate: voters[1],
                round: 1000 + event * 64 + i,
                share: [9; 96],
            })
            .collect();
        net.add(0, None, shares);
    }
    let mut coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    let info = ElectionInfo {
        election: 0,
        voters: &voters,
        previous_group_hash: [0; 32],
    };
    for i in 0..net.graph.len() {
        let ctx = CoinContext {
            graph: &net.graph,
            at: EventIndex::from(i),
            info: &info,
        };
        coin.on_inserted(&ctx);
    }
    let faults = coin.take_faults();
    assert!(!faults.is_empty());
    assert!(
        faults
            .iter()
            .all(|f| f.creator == voters[0] && f.kind == CoinFaultKind::TooManyShares),
        "{faults:?}"
    );
    // 70 events of 64 shares, 4,096 kept: the events past the bound are each one fault.
    assert_eq!(faults.len(), 70 - 4096 / 64);
}

#[test]
fn shared_share_checks_never_accept_a_forgery_and_a_blind_coin_signs_nothing() {
    let keys = sorted_keys(4);
    let voters = ids(&keys);
    let dealt = deal(&voters, 0, [5; 32]).unwrap();
    let id = id_for(&voters);
    let net = Net::new(keys.clone());
    let good = share_of(&dealt.epoch, &dealt.shares[0], &net, &id);
    let second = share_of(&dealt.epoch, &dealt.shares[1], &net, &id);
    let shared = VerifiedShares::new();

    // One coin checks two real shares and learns the value.
    let mut real = Net::new(keys.clone());
    real.add(0, None, vec![good.clone()]);
    real.add(1, Some(0), vec![second.clone()]);
    let mut first = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    first.share_verified_shares(shared.clone());
    let value = observe(&mut first, &real, &voters, &id);
    assert!(value.is_some());
    assert!(first.take_faults().is_empty());

    // Another coin of the same record meets the same real share and one forged in a
    // single bit under the second holder's name: the record vouches only for exact bytes.
    let mut forged = second.clone();
    forged.share[40] ^= 1;
    let mut other = Net::new(keys.clone());
    other.add(0, None, vec![good]);
    other.add(1, Some(0), vec![forged]);
    let mut coin = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    coin.share_verified_shares(shared.clone());
    assert_eq!(observe(&mut coin, &other, &voters, &id), None);
    let kinds: Vec<_> = coin.take_faults().into_iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![CoinFaultKind::InvalidShare]);
    // The same two real shares give the same value through the record.
    let mut again = ThresholdCoin::new(dealt.epoch.clone(), None).unwrap();
    again.share_verified_shares(shared.clone());
    assert_eq!(observe(&mut again, &real, &voters, &id), value);

    // Another dealing for the same holders, with the same epoch number, shares the
    // record: the first dealing's shares are not its shares, and its value is its own.
    let elsewhere = deal(&voters, 0, [6; 32]).unwrap();
    let mut stranger = ThresholdCoin::new(elsewhere.epoch.clone(), None).unwrap();
    stranger.share_verified_shares(shared.clone());
    assert_eq!(observe(&mut stranger, &real, &voters, &id), None);
    let kinds: Vec<_> = stranger.take_faults().into_iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![CoinFaultKind::InvalidShare; 2]);

    // A holder's coin that forgot its secret publishes no share when a coin is needed.
    let mut blind = ThresholdCoin::new(dealt.epoch.clone(), Some(dealt.shares[0].clone())).unwrap();
    blind.forget_secret();
    let _ = observe(&mut blind, &net, &voters, &id);
    assert!(blind.take_outgoing().is_empty());
}
