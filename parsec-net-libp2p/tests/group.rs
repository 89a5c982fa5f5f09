//! Engines over `Libp2pTransport` on 127.0.0.1: four members reach identical blocks in
//! identical order with each coin; a member stopped and restarted on the same port
//! reconnects, is restored from its store and catches up; a member that sends another
//! member's forged events is caught by the engine.

mod common;

use std::time::Duration;

use parsec_core::{
    Block, CoinKind, ConsensusMode, FaultKind, Incoming, MemStore, Parsec, Store, Transport,
    WireMessage,
};
use parsec_graph::Cause;
use parsec_sim::drive::{self, DriveConfig, GroupRun};
use parsec_sim::fixtures::{self, Rerun};
use tokio::sync::{mpsc, watch};

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

fn assert_agree(
    blocks: &[Vec<Block<String>>],
    mode: ConsensusMode,
    expected: usize,
    rerun: &Rerun,
) {
    let first = fixtures::agreed_sequence(&blocks[0], mode);
    for (i, member) in blocks.iter().enumerate() {
        let sequence = fixtures::agreed_sequence(member, mode);
        assert!(
            sequence.len() >= expected,
            "member {i} decided {} of {expected}\n{}",
            sequence.len(),
            rerun.replay_line()
        );
        assert_eq!(
            sequence[..expected],
            first[..expected],
            "member {i}\n{}",
            rerun.replay_line()
        );
        for (n, block) in member.iter().enumerate() {
            assert_eq!(
                block.sequence, n as u64,
                "member {i}: blocks numbered in order"
            );
        }
    }
}

#[test]
fn four_engines_over_libp2p_agree_in_each_mode_with_each_coin()
-> Result<(), Box<dyn std::error::Error>> {
    let seed = fixtures::seed_from_env(3);
    let rerun = Rerun::new(
        seed,
        fixtures::test_command(
            "parsec-net-libp2p",
            "group",
            "four_engines_over_libp2p_agree_in_each_mode_with_each_coin",
        ),
    );
    let runtime = runtime()?;
    let runs = [ConsensusMode::Supermajority, ConsensusMode::Single]
        .into_iter()
        .flat_map(|mode| [CoinKind::Concrete, CoinKind::Threshold].map(|coin| (mode, coin)));
    for (mode, coin) in runs {
        let keys = fixtures::peer_keys(4);
        let members = fixtures::group(&keys);
        let run = GroupRun {
            mode,
            coin,
            payloads: 5,
            seed,
            deadline: Duration::from_secs(120),
            gossip_every: Duration::from_millis(5),
        };
        let outcomes = runtime.block_on(async {
            let mut loopback = common::Loopback::new();
            let mut transports: Vec<Box<dyn Transport<String>>> = Vec::new();
            for key in &keys {
                transports.push(Box::new(loopback.start_member(key, &members).await?));
            }
            drive::run_group(&keys, transports, &run)
                .await
                .map_err(|e| format!("{coin}: {e}").into())
        });
        let outcomes: Vec<_> = match outcomes {
            Ok(outcomes) => outcomes,
            Err::<_, Box<dyn std::error::Error>>(error) => {
                panic!("{error}\n{}", rerun.replay_line())
            }
        };
        let blocks: Vec<_> = outcomes.iter().map(|o| o.blocks.clone()).collect();
        let expected = 1 + match mode {
            ConsensusMode::Supermajority => run.payloads,
            ConsensusMode::Single => run.payloads * keys.len(),
        };
        assert_agree(&blocks, run.mode, expected, &rerun);
        for outcome in &outcomes {
            assert!(outcome.faults.is_empty(), "{coin}: {:?}", outcome.faults);
        }
        println!("{mode:?}, {coin} coin: {} blocks each", blocks[0].len());
    }
    Ok(())
}

/// What a stopped driver leaves: its transport and what it did.
type Stopped = (Box<dyn Transport<String>>, drive::Driven<String>);

/// One member's driver on its own task, with its own stop switch.
struct Running {
    stop: watch::Sender<bool>,
    progress: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<Result<Stopped, drive::DriveError>>,
}

fn spawn(
    engine: Parsec<String, parsec_core::Coin>,
    mut transport: Box<dyn Transport<String>>,
    store: MemStore<String>,
    votes: mpsc::Receiver<parsec_core::Observation<String>>,
    seed: u64,
    stop_after_blocks: Option<usize>,
) -> Running {
    let (stop, stop_rx) = watch::channel(false);
    let (progress_tx, progress) = watch::channel(0);
    let task = tokio::spawn(async move {
        let config = DriveConfig {
            gossip_every: Duration::from_millis(5),
            seed,
            stop_after_blocks,
        };
        let (_, driven) = drive::drive(
            engine,
            transport.as_mut(),
            &store,
            votes,
            config,
            stop_rx,
            progress_tx,
        )
        .await?;
        Ok((transport, driven))
    });
    Running {
        stop,
        progress,
        task,
    }
}

#[test]
fn a_member_restarted_on_the_same_port_reconnects_and_catches_up()
-> Result<(), Box<dyn std::error::Error>> {
    let seed = fixtures::seed_from_env(5);
    let rerun = Rerun::new(
        seed,
        fixtures::test_command(
            "parsec-net-libp2p",
            "group",
            "a_member_restarted_on_the_same_port_reconnects_and_catches_up",
        ),
    );
    let runtime = runtime()?;
    let keys = fixtures::peer_keys(4);
    let members = fixtures::group(&keys);
    let config = fixtures::genesis_config(&keys, ConsensusMode::Supermajority);
    let payloads = 12;
    let votes: Vec<_> = (0..payloads)
        .map(|p| fixtures::opaque(&format!("payload {p}")))
        .collect();
    let expected = 1 + payloads;
    let blocks = runtime.block_on(async {
        let mut loopback = common::Loopback::new();
        let mut running = Vec::new();
        let mut stores = Vec::new();
        let mut voters = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let (vote_tx, votes) = mpsc::channel(payloads);
            voters.push(vote_tx);
            let transport = loopback.start_member(key, &members).await?;
            let (engine, first) = Parsec::<String, _>::new(key.clone(), config.clone())?;
            let store = MemStore::new();
            store.apply(first.persist).await?;
            stores.push(store.clone());
            // Member 3 crashes right after its first decision (genesis).
            let crash = (i == 3).then_some(1);
            running.push(spawn(
                engine,
                Box::new(transport),
                store,
                votes,
                seed + i as u64,
                crash,
            ));
        }
        // Member 3 goes down once it decided genesis; the others then vote and decide
        // every payload without it (three of four are a supermajority).
        let deadline = Duration::from_secs(120);
        let down = running.pop().ok_or("four members")?;
        let (transport, before) = tokio::time::timeout(deadline, down.task).await???;
        drop(transport); // the network task ends, the port is released
        for voter in &voters[..3] {
            for vote in &votes {
                voter.send(vote.clone()).await?;
            }
        }
        // The others decide everything while it is away.
        for (i, member) in running.iter_mut().enumerate() {
            tokio::time::timeout(deadline, member.progress.wait_for(|n| *n >= expected))
                .await
                .map_err(|_| {
                    format!("member {i} did not decide {expected} blocks without member 3")
                })??;
        }
        // Back on the same port, from its store.
        let loaded = stores[3]
            .load()
            .await?
            .ok_or("member 3 logged its genesis")?;
        let mut restore = Parsec::<String, _>::restore(keys[3].clone(), config.clone(), &loaded)?;
        restore.run(
            |from, limit| stores[3].events_now(from, limit),
            |hash| stores[3].find_now(hash),
        )?;
        let restored = restore.finish()?;
        stores[3].apply(restored.persist).await?;
        assert!(
            restored.blocks.len() >= before.blocks.len(),
            "no decided block lost"
        );
        assert_eq!(
            restored.blocks[..before.blocks.len()],
            before.blocks[..],
            "the same blocks, numbered"
        );
        let mut transport = None;
        for _ in 0..50 {
            match loopback.start_member(&keys[3], &members).await {
                Ok(t) => {
                    transport = Some(t);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let transport = transport.ok_or("port 3 could not be bound again")?;
        let already = restored.blocks.clone();
        assert!(
            already.len() < expected,
            "member 3 went down after deciding everything: {} blocks when stopped, {} restored",
            before.blocks.len(),
            already.len()
        );
        println!(
            "member 3 decided {} blocks before going down, restored {}, {} to catch up",
            before.blocks.len(),
            already.len(),
            expected - already.len()
        );
        let (_, no_votes) = mpsc::channel(1);
        running.push(spawn(
            restored.engine,
            Box::new(transport),
            stores[3].clone(),
            no_votes,
            seed + 3,
            None,
        ));
        for (i, member) in running.iter_mut().enumerate() {
            let target = if i == 3 {
                expected - already.len()
            } else {
                expected
            };
            tokio::time::timeout(deadline, member.progress.wait_for(|n| *n >= target))
                .await
                .map_err(|_| format!("member {i} did not decide {target} blocks"))??;
        }
        let mut blocks = Vec::new();
        for (i, member) in running.into_iter().enumerate() {
            let _ = member.stop.send(true);
            let (_, driven) = member.task.await??;
            assert!(
                driven
                    .faults
                    .iter()
                    .all(|f| !matches!(f.kind, FaultKind::Fork { .. })),
                "member {i}: no fork (least of all member 3's own): {:?}",
                driven.faults
            );
            let mut all = if i == 3 { already.clone() } else { Vec::new() };
            all.extend(driven.blocks);
            blocks.push(all);
        }
        Ok::<_, Box<dyn std::error::Error>>(blocks)
    });
    let blocks = match blocks {
        Ok(blocks) => blocks,
        Err(error) => panic!("{error}\n{}", rerun.replay_line()),
    };
    assert_agree(&blocks, ConsensusMode::Supermajority, expected, &rerun);
    Ok(())
}

#[test]
fn a_member_forwarding_forged_events_is_caught_by_the_engine()
-> Result<(), Box<dyn std::error::Error>> {
    let runtime = runtime()?;
    let keys = fixtures::peer_keys(4);
    let members = fixtures::group(&keys);
    let config = fixtures::genesis_config(&keys, ConsensusMode::Supermajority);
    runtime.block_on(async {
        let mut loopback = common::Loopback::new();
        let mut alice = loopback.start_member(&keys[0], &members).await?;
        let mut bob = loopback.start_member(&keys[1], &members).await?;
        let (mut engine, _) = Parsec::<String, _>::new(keys[1].clone(), config)?;
        // Alice sends an event in Carol's name with a broken signature.
        let mut forged = fixtures::packed_event(&keys[2], 0, Cause::Initial);
        fixtures::tamper_signature(&mut forged);
        let message = WireMessage::Request {
            events: vec![forged],
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            alice.send(keys[1].peer_id(), message.clone()).await?;
            let got = tokio::time::timeout(Duration::from_millis(300), bob.next_incoming()).await;
            if let Ok(Ok(Incoming::Message { from, message })) = got {
                assert_eq!(
                    from,
                    keys[0].peer_id(),
                    "attributed to the member who sent it"
                );
                let step = engine.handle_message(from, message)?;
                assert!(
                    step.faults.iter().any(|f| f.sender == keys[0].peer_id()
                        && f.creator == Some(keys[2].peer_id())
                        && f.kind == FaultKind::BadSignature),
                    "the sender is reported, with the creator it forged: {:?}",
                    step.faults
                );
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "nothing arrived");
        }
        alice.shutdown().await;
        bob.shutdown().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
