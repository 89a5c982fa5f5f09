//! Engine configuration (spec §5.2, §14.2).

use parsec_coin::{CoinKind, KeyEpoch, SecretShare};
use parsec_graph::{ConsensusMode, EventLimits, PeerSet, WireLimits};

use crate::error::ConfigError;

/// Encoded bytes of a vote event and its message beyond the observation itself: message tag
/// and event count, creator, index, cause tag, self-parent, vote signature, coin-share
/// count, event signature, with room to spare.
pub const EVENT_OVERHEAD_BYTES: usize = 256;

/// Encoded bytes of one coin share: election, candidate, round, share.
pub const COIN_SHARE_BYTES: usize = 8 + 32 + 4 + 96;

/// The genesis configuration plus local limits.
///
/// The genesis group, related info, consensus mode, coin and event limits are agreed out of
/// band and must be identical on every genesis member; the wire and buffer limits, and the
/// coin secret, are local.
///
/// Choosing the threshold coin: a trusted dealer deals a key epoch for the genesis group,
/// every member gets the public epoch and its own secret share (through its share file).
///
/// ```
/// use parsec_core::{CoinKind, Config, ConsensusMode, Parsec, SecretKey, SecretShare, deal};
///
/// let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
/// let members: Vec<_> = keys.iter().map(SecretKey::peer_id).collect();
/// // The dealer, once, with a secret seed it then forgets.
/// let dealt = deal(&members, 0, [42; 32])?;
/// let files: Vec<Vec<u8>> = dealt.shares.iter().map(SecretShare::to_bytes).collect::<Result<_, _>>()?;
///
/// let mut genesis = Config::new(members.iter().copied().collect(), ConsensusMode::Supermajority);
/// genesis.coin = CoinKind::Threshold;
/// genesis.coin_keys = Some(dealt.epoch.clone());
/// for key in &keys {
///     // Each member loads its own file, checked against the epoch and its identity.
///     let file = dealt.shares.iter().position(|s| s.holder == key.peer_id()).unwrap();
///     let mut config = genesis.clone();
///     config.coin_secret = Some(SecretShare::from_bytes(&files[file], &dealt.epoch, &key.peer_id())?);
///     let (engine, _step) = Parsec::<String, _>::new(key.clone(), config)?;
///     assert_eq!(engine.status().coin, CoinKind::Threshold);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// The genesis members.
    pub genesis_group: PeerSet,
    /// Application data every member votes with the genesis group.
    pub related_info: Vec<u8>,
    /// How application payloads are decided.
    pub consensus_mode: ConsensusMode,
    /// The common coin every member uses (consensus; [`CoinKind::Concrete`] by default).
    pub coin: CoinKind,
    /// For the threshold coin: the key epoch a trusted dealer made for the genesis group
    /// (consensus: the same on every member; its holders must be the genesis group).
    pub coin_keys: Option<KeyEpoch>,
    /// For the threshold coin: our secret share of `coin_keys` (local and secret; required
    /// on every holder).
    pub coin_secret: Option<SecretShare>,
    /// Limits that make an event invalid (consensus parameters).
    pub event_limits: EventLimits,
    /// Most consecutive vote events a creator may make without a sync event (consensus;
    /// spec §2.2 check 9): bounds vote spam deterministically.
    pub max_vote_run: u32,
    /// Limits on received messages (local).
    pub wire_limits: WireLimits,
    /// Events held per sender while their parents or creator are not ready (local).
    pub max_future_events_per_peer: usize,
    /// Events held in total (local).
    pub max_future_events_total: usize,
    /// Bytes of the events held per sender (local; encoded size plus a fixed overhead per
    /// event): with the event count, what one peer can make us hold.
    pub max_future_bytes_per_peer: usize,
    /// Bytes of the events held in total (local).
    pub max_future_bytes_total: usize,
    /// Memory pruning (spec §12; local, invisible to consensus): after each decision the
    /// graph drops what no later computation reads, keeping for each creator its
    /// `pruning_window` highest indices (full events, for syncs from memory). `None`, the
    /// default, keeps every event in memory.
    ///
    /// A pruning engine needs its driver's store in two ways, which is why it is off by
    /// default (a driver without a store, or one that ignores these, must leave it off):
    /// * events a peer lacks that were pruned are sent from the store
    ///   ([`Step::catch_up`](crate::Step::catch_up), [`crate::catch_up`]);
    /// * an event that reaches us late and names as parent an event we pruned meanwhile
    ///   (a persisted but unsent event of a peer that crashed, a sync delayed across a
    ///   partition) is held while the driver looks the parent up in the store
    ///   ([`Step::fetch`](crate::Step::fetch), [`Store::find`](crate::Store::find)) and
    ///   hands it back ([`Parsec::readmit`](crate::Parsec::readmit)); the event is then
    ///   inserted as an unpruned engine inserts it. Each inserted event's
    ///   [`StoreOp::Stub`](crate::StoreOp::Stub) is persisted for that.
    ///
    /// [`SUGGESTED_PRUNING_WINDOW`] suits live, connected peers.
    pub pruning_window: Option<u64>,
    /// How many voter removals a pruning engine absorbs while older votes stay undecided
    /// (local). A removal lowers the next election's thresholds, so it may re-evaluate
    /// events from where a pending key had fewer votes than it needed before; the engine
    /// keeps the events for the thresholds of this many removals beyond those already
    /// voted. If decisions remove more voters than that before such a vote is decided,
    /// the engine needs an event it pruned and stops with
    /// [`ElectionError::HistoryPruned`](crate::ElectionError::HistoryPruned) (it never
    /// decides on a pruned graph); restored from its store with pruning off, it goes on.
    /// `None`, the default, is a third of the voters; a network whose membership never
    /// shrinks can set `Some(0)` and hold the least.
    pub pruning_removal_margin: Option<usize>,
}

/// A [`Config::pruning_window`] well above the lag of live peers.
pub const SUGGESTED_PRUNING_WINDOW: u64 = 256;

impl Config {
    /// A configuration with default limits for `genesis_group`.
    pub fn new(genesis_group: PeerSet, consensus_mode: ConsensusMode) -> Self {
        Config {
            genesis_group,
            related_info: Vec::new(),
            consensus_mode,
            coin: CoinKind::default(),
            coin_keys: None,
            coin_secret: None,
            event_limits: EventLimits::default(),
            max_vote_run: 1024,
            wire_limits: WireLimits::default(),
            max_future_events_per_peer: 16_384,
            max_future_events_total: 65_536,
            max_future_bytes_per_peer: 4 << 20,
            max_future_bytes_total: 16 << 20,
            pruning_window: None,
            pruning_removal_margin: None,
        }
    }

    /// Checks that the configuration is usable; the error names the setting at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.genesis_group.is_empty() {
            return Err(ConfigError::EmptyGenesisGroup);
        }
        if self.wire_limits.validate().is_err() {
            return Err(ConfigError::WireLimits {
                max_message_bytes: self.wire_limits.max_message_bytes,
                max_events_per_message: self.wire_limits.max_events_per_message,
            });
        }
        if self.event_limits.max_observation_bytes == 0 {
            return Err(ConfigError::ZeroObservationBytes);
        }
        // A vote event with the largest observation and the most coin shares must fit in a
        // message on its own, or it could never be sent.
        let largest_event = self
            .event_limits
            .max_observation_bytes
            .saturating_add(EVENT_OVERHEAD_BYTES)
            .saturating_add(
                self.event_limits
                    .max_coin_shares_per_event
                    .saturating_mul(COIN_SHARE_BYTES),
            );
        if largest_event > self.wire_limits.max_message_bytes {
            return Err(ConfigError::MessageTooSmall {
                max_message_bytes: self.wire_limits.max_message_bytes,
                largest_event,
            });
        }
        if self.max_vote_run == 0 {
            return Err(ConfigError::ZeroVoteRun);
        }
        if self.pruning_window == Some(0) {
            return Err(ConfigError::ZeroPruningWindow);
        }
        if self.max_future_events_per_peer == 0
            || self.max_future_events_total < self.max_future_events_per_peer
        {
            return Err(ConfigError::FutureEvents {
                per_peer: self.max_future_events_per_peer,
                total: self.max_future_events_total,
            });
        }
        // One held vote of the largest size must fit, or a valid vote that arrives before
        // its parent could never be inserted.
        if self.max_future_bytes_per_peer < largest_event
            || self.max_future_bytes_total < self.max_future_bytes_per_peer
        {
            return Err(ConfigError::FutureBytes {
                per_peer: self.max_future_bytes_per_peer,
                total: self.max_future_bytes_total,
                largest_event,
            });
        }
        self.validate_coin()
    }

    fn validate_coin(&self) -> Result<(), ConfigError> {
        if self.coin != CoinKind::Threshold {
            if self.coin_keys.is_some() || self.coin_secret.is_some() {
                return Err(ConfigError::UnusedCoinKeys { coin: self.coin });
            }
            return Ok(());
        }
        let keys = self
            .coin_keys
            .as_ref()
            .ok_or(ConfigError::MissingCoinKeys)?;
        if !keys.holders.iter().eq(self.genesis_group.iter()) {
            return Err(ConfigError::CoinHoldersNotGenesisGroup);
        }
        Ok(())
    }
}
