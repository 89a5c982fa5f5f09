//! An unreliable network: partitions and heals, delays, reordering, duplicates and losses.
//! Honest peers stay quiet (none of this is a peer's fault), agree throughout, and decide
//! everything once the network behaves (spec §15).
//!
//! Each test takes its seed from `PARSEC_SEED` if set; a failure prints the seed and the
//! command that replays it.

use parsec_graph::ConsensusMode;
use parsec_sim::sim::harness::TestRun;
use parsec_sim::sim::{Delay, NetworkConditions, PartitionSpec, Partitions, ScheduleOptions};

const FILE: &str = "network_faults";

/// The network splits into a minority and a majority without a supermajority (3 + 4 of
/// 7), heals, then splits along another cut (4 + 3), and heals again: neither side can
/// decide alone, and once healed every payload is decided.
#[test]
fn partition_then_heal() {
    let test = TestRun::new(FILE, "partition_then_heal", 31);
    let mut options = ScheduleOptions::new(7, ConsensusMode::Supermajority);
    options.payloads = 5;
    options.partitions = Partitions::At(vec![
        PartitionSpec {
            start: 2,
            heal: 30,
            groups: vec![vec![0, 1, 2], vec![3, 4, 5, 6]],
        },
        PartitionSpec {
            start: 35,
            heal: 60,
            groups: vec![vec![0, 2, 4, 6], vec![1, 3, 5]],
        },
    ]);
    let outcome = test.check(&options);
    assert!(outcome.stats.links.partitioned > 0);
    assert_eq!(outcome.stats.stable_blocks, 5);
}

/// Messages are delayed, overtaken, delivered twice and lost; syncs are split into
/// chunks of at most 32 events, so requests and responses can also overtake their chunks
/// or lose them.
#[test]
fn reordered_duplicated_and_dropped_messages() {
    let test = TestRun::new(FILE, "reordered_duplicated_and_dropped_messages", 32);
    for mode in [ConsensusMode::Supermajority, ConsensusMode::Single] {
        let mut options = ScheduleOptions::new(7, mode);
        options.payloads = 6;
        options.network = NetworkConditions {
            delay: Delay::Uniform { min: 0, max: 3 },
            drop: 0.15,
            duplicate: 0.15,
            reorder: 0.3,
            reorder_window: 4,
        };
        options.max_events_per_message = 32;
        let outcome = test.check(&options);
        let t = outcome.stats.links;
        assert!(
            t.dropped > 0 && t.duplicated > 0 && t.reordered > 0,
            "{t:?}"
        );
    }
}
