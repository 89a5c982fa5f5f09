//! The engine with each real coin (spec §7): a network whose peers run the threshold coin
//! from a dealt key set agrees like one on the concrete coin, and coin data a peer's event
//! carries from a non-holder is a fault of its creator, not a reason to drop the event.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use parsec_core::{Coin, CoinFaultKind, CommonCoin, FaultKind, deal};
use parsec_graph::{
    Cause, CoinShare, ConsensusMode, EventContent, EventLimits, Observation, PeerId, SecretKey,
    Vote, WireMessage,
};
use parsec_sim::network::NetworkBuilder;

const FILE: &str = "coins";

#[test]
fn a_threshold_coin_network_agrees() {
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for seed in seeds_from_env(0, 3) {
            let _rerun = rerun(FILE, "a_threshold_coin_network_agrees", seed);
            let keys = peer_keys(4);
            let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
            let config = genesis_config(&keys, mode);
            let coins = threshold_coins(&keys, &ids, seed);
            let mut net = network_with(&keys, &config, seed, |b| b.coins(coins).loss(0.1));
            let payloads = [opaque("a"), opaque("b"), opaque("c")];
            for i in 0..keys.len() {
                for p in &payloads {
                    net.cast(i, p.clone());
                }
            }
            net.reach(2000, "every peer decides every payload", |net| {
                (0..4).all(|i| payloads.iter().all(|p| net.has_decided_all(i, p, 4)))
            });
            for i in 0..4 {
                assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
                assert!(matches!(net.engine(i).coin(), Coin::Threshold(_)));
            }
            net.assert_quiet();
        }
    }
}

#[test]
fn a_share_from_a_non_holder_is_its_creators_fault() {
    // The epoch's holders are Alice, Bob and Carol; Dave is a member without a share.
    let keys = peer_keys(4);
    let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
    let config = genesis_config(&keys, ConsensusMode::Supermajority);
    let mut coins = threshold_coins(&keys, &ids[..3], 1).into_iter();
    let (mut alice, _) = parsec_core::Parsec::<String, Coin>::from_genesis(
        keys[0].clone(),
        config,
        coins.next().unwrap(),
    )
    .unwrap();
    let coin = alice.coin().agreement();
    let dave = &keys[3];
    let initial = packed_event(dave, 0, Cause::Initial);
    let genesis = packed_event(
        dave,
        1,
        Cause::Observation {
            self_parent: initial.hash().unwrap(),
            vote: Box::new(Vote::new(fixtures_genesis(&ids, coin), dave).unwrap()),
        },
    );
    let carrying = EventContent {
        creator: dave.peer_id(),
        index: 2,
        cause: Cause::Requesting {
            self_parent: genesis.hash().unwrap(),
            recipient: ids[0],
        },
        coin_shares: vec![CoinShare {
            election: 0,
            candidate: ids[0],
            round: 0,
            share: [3; 96],
        }],
    }
    .sign(dave, &EventLimits::default())
    .unwrap()
    .into_packed();
    let hash = carrying.hash().unwrap();
    let step = alice
        .handle_message(
            dave.peer_id(),
            WireMessage::Request {
                events: vec![initial, genesis, carrying],
            },
        )
        .unwrap();
    assert!(
        step.faults.iter().any(|f| f.sender == dave.peer_id()
            && f.kind == FaultKind::CoinShare(CoinFaultKind::NotAHolder)),
        "{:?}",
        step.faults
    );
    // The event is kept and answered.
    assert!(alice.graph().contains(&hash));
    assert_eq!(step.send.len(), 1);
}

#[test]
fn a_member_configured_with_another_coin_is_refused_at_genesis() {
    // Dave runs the threshold coin while the others run the concrete coin: were his votes
    // counted, the members would evaluate elections with different coins. His `Genesis`
    // vote names another coin, so nobody inserts it (nor anything built on it), and he
    // refuses theirs; the other three, a supermajority, still decide.
    for seed in seeds_from_env(0, 3) {
        let _rerun = rerun(
            FILE,
            "a_member_configured_with_another_coin_is_refused_at_genesis",
            seed,
        );
        let keys = peer_keys(4);
        let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
        let config = genesis_config(&keys, ConsensusMode::Supermajority);
        let mut coins: Vec<Coin> = (0..3)
            .map(|_| Coin::new(parsec_core::CoinKind::Concrete).unwrap())
            .collect();
        coins.push(threshold_coins(&keys[3..], &ids, seed).remove(0));
        assert_ne!(coins[0].agreement(), coins[3].agreement());
        let mut net = NetworkBuilder::with_keys(keys.clone())
            .config(config)
            .seed(seed)
            .coins(coins)
            .build()
            .unwrap();
        let payloads = [opaque("a"), opaque("b")];
        for i in 0..4 {
            for p in &payloads {
                net.cast(i, p.clone());
            }
        }
        net.reach(3000, "the three members that agree decide", |net| {
            (0..3).all(|i| payloads.iter().all(|p| net.has_decided_all(i, p, 4)))
        });
        for i in 0..3 {
            assert_eq!(net.sequence(i), net.sequence(0), "peer {i}");
            let graph = net.engine(i).graph();
            assert!(
                graph
                    .peer_index(&ids[3])
                    .is_none_or(|dave| graph.slot(dave, 1).is_empty()),
                "peer {i} inserted Dave's Genesis vote"
            );
            let faults = net.faults(i);
            assert!(
                faults.iter().all(|f| f.sender == ids[3]),
                "peer {i}: {faults:?}"
            );
            assert!(
                faults.iter().any(|f| f.kind == FaultKind::IncorrectGenesis),
                "peer {i}: {faults:?}"
            );
        }
        assert!(net.blocks(3).is_empty(), "Dave decided {:?}", net.blocks(3));
        assert!(
            net.faults(3)
                .iter()
                .all(|f| f.kind == FaultKind::IncorrectGenesis),
            "{:?}",
            net.faults(3)
        );
        assert!(!net.faults(3).is_empty());
    }
}

fn fixtures_genesis(ids: &[PeerId], coin: [u8; 32]) -> Observation<String> {
    parsec_sim::fixtures::genesis(ids, coin)
}

#[test]
fn threshold_configurations_that_cannot_work_are_refused() {
    use parsec_core::{CoinKind, ConfigError, Error, Parsec};
    let keys = peer_keys(4);
    let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
    let dealt = deal(&ids, 0, [4; 32]).unwrap();
    let mut config = genesis_config(&keys, ConsensusMode::Supermajority);
    config.coin = CoinKind::Threshold;
    let start = |config: &parsec_core::Config, key: &SecretKey| {
        Parsec::<String, Coin>::new(key.clone(), config.clone()).map(|_| ())
    };
    let config_error = |result: Result<(), Error>| match result {
        Err(Error::Config(error)) => error,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    assert_eq!(
        config_error(start(&config, &keys[0])),
        ConfigError::MissingCoinKeys
    );
    config.coin_keys = Some(dealt.epoch.clone());
    assert_eq!(
        config_error(start(&config, &keys[0])),
        ConfigError::MissingCoinSecret
    );
    // Another member's share.
    config.coin_secret = Some(dealt.shares[1].clone());
    let wrong = if dealt.shares[1].holder == ids[0] {
        &keys[1]
    } else {
        &keys[0]
    };
    assert!(matches!(
        config_error(start(&config, wrong)),
        ConfigError::CoinSecret(_)
    ));
    // Holders that are not the genesis group.
    let fewer = deal(&ids[..3], 0, [4; 32]).unwrap();
    let mut other = config.clone();
    other.coin_keys = Some(fewer.epoch);
    other.coin_secret = None;
    assert_eq!(
        config_error(start(&other, &keys[3])),
        ConfigError::CoinHoldersNotGenesisGroup
    );
    // Keys for a coin that does not use them.
    let mut concrete = config.clone();
    concrete.coin = CoinKind::Concrete;
    assert!(matches!(
        config_error(start(&concrete, &keys[0])),
        ConfigError::UnusedCoinKeys { .. }
    ));
    // And each member with its own share starts.
    for key in &keys {
        let mut ok = config.clone();
        ok.coin_secret = dealt
            .shares
            .iter()
            .find(|s| s.holder == key.peer_id())
            .cloned();
        start(&ok, key).unwrap();
    }
}
