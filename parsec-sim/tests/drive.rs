//! The driver written against `Transport` and `Store`, over the in-memory transport: four
//! engines, each on its own task, reach identical blocks in identical order with each coin
//! and in each mode (the libp2p adapter runs the same group over TCP).

use std::time::Duration;

use parsec_core::{CoinKind, ConsensusMode, Transport};
use parsec_sim::drive::{self, GroupRun};
use parsec_sim::fixtures::{self, Rerun};
use parsec_sim::mem_transport::MemNet;

fn group(mode: ConsensusMode, coin: CoinKind, seed: u64) -> Result<(), Box<dyn std::error::Error>> {
    let failure = Rerun::new(
        seed,
        fixtures::test_command(
            "parsec-sim",
            "drive",
            "four_engines_over_the_memory_transport_agree",
        ),
    );
    let keys = fixtures::peer_keys(4);
    let net = MemNet::new();
    let transports: Vec<Box<dyn Transport<String>>> = keys
        .iter()
        .map(|key| {
            Box::new(net.join::<String>(key, fixtures::group(&keys))) as Box<dyn Transport<String>>
        })
        .collect();
    let run = GroupRun {
        mode,
        coin,
        payloads: 3,
        seed,
        deadline: Duration::from_secs(120),
        gossip_every: Duration::from_millis(2),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcomes = runtime
        .block_on(drive::run_group(&keys, transports, &run))
        .map_err(|error| format!("{mode:?} {coin}: {error}\n{}", failure.replay_line()))?;
    // Genesis and every payload: each member's own in Single mode, the shared ones else.
    let expected = 1 + match mode {
        ConsensusMode::Supermajority => run.payloads,
        ConsensusMode::Single => run.payloads * keys.len(),
    };
    let first = fixtures::agreed_sequence(&outcomes[0].blocks, mode);
    for (i, outcome) in outcomes.iter().enumerate() {
        let sequence = fixtures::agreed_sequence(&outcome.blocks, mode);
        assert!(
            sequence.len() >= expected && first.len() >= expected,
            "member {i} decided {} of {expected}\n{}",
            sequence.len(),
            failure.replay_line()
        );
        assert_eq!(
            sequence[..expected],
            first[..expected],
            "member {i} {mode:?} {coin}\n{}",
            failure.replay_line()
        );
        assert!(
            outcome.faults.is_empty(),
            "member {i}: {:?}",
            outcome.faults
        );
        assert!(
            outcome.dropped.is_empty(),
            "member {i}: {:?}",
            outcome.dropped
        );
    }
    println!("{mode:?} {coin}: {} blocks each", outcomes[0].blocks.len());
    Ok(())
}

#[test]
fn four_engines_over_the_memory_transport_agree() -> Result<(), Box<dyn std::error::Error>> {
    let seed = fixtures::seed_from_env(7);
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        for coin in [CoinKind::Concrete, CoinKind::Threshold] {
            group(mode, coin, seed)?;
        }
    }
    Ok(())
}
