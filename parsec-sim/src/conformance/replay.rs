//! Replays the recorded conformance graphs through our engine (spec §16).
//!
//! # How it works
//!
//! Each recorded event is rebuilt as a real signed event: every peer name gets a key
//! derived from the name, parents become hashes of the rebuilt parents, votes are signed.
//! One engine, started as the recording peer from the genesis group of the first recorded
//! `Genesis` vote, is fed the events in the recorded order through the full insertion
//! path, and the blocks it decides are rendered the way the expected files spell them and
//! compared group by group as multisets. The test and the `replay` binary share this code.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use parsec_coin::{CommonCoin, ParityCoin};
use parsec_core::{Block, Config, FaultKind, MemStore, Parsec, Step};
use parsec_graph::{
    Cause, EventContent, EventHash, EventLimits, Observation, PackedEvent, PeerId, SecretKey, Vote,
};

use super::{
    DotCause, DotGraph, DotObservation, ParseError, parse_dot, parse_expected, recorded_order,
};

/// Why a replay could not run (not a mismatch: a broken input or engine error).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The graph or expected file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The graph or expected file could not be parsed.
    #[error("parsing: {0}")]
    Parse(#[from] ParseError),
    /// The graph uses something the replay cannot rebuild.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An event could not be rebuilt (a parser or graph bug).
    #[error("rebuilding {event}: {reason}")]
    Rebuild {
        /// The event's name.
        event: String,
        /// What went wrong.
        reason: String,
    },
    /// The engine returned an error.
    #[error("engine: {0}")]
    Engine(#[from] parsec_core::Error),
}

/// The key of a conformance peer name (spec §16.3).
pub fn conformance_key(name: &str) -> SecretKey {
    SecretKey::from_seed(blake3::derive_key(
        "parsec-rs conformance test key v1",
        name.as_bytes(),
    ))
}

/// The conformance keys of the names met so far, each derived once.
#[derive(Default)]
struct Keyring(BTreeMap<String, SecretKey>);

impl Keyring {
    /// The key of `name`.
    fn key(&mut self, name: &str) -> &SecretKey {
        self.0
            .entry(name.to_string())
            .or_insert_with(|| conformance_key(name))
    }
}

/// What one replay produced.
#[derive(Debug)]
pub struct Replayed {
    /// Decided groups, each rendered payload as the expected files spell it.
    pub groups: Vec<Vec<String>>,
    /// Number of blocks.
    pub blocks: usize,
    /// Number of events fed.
    pub events: usize,
    /// Time spent in the engine (insertion and consensus, signatures included).
    pub engine_time: Duration,
}

/// Rebuilt events in recorded order, plus what the replay needs to start the engine.
pub struct Rebuilt {
    /// The recording peer's name.
    pub our_id: String,
    /// Its key.
    pub our_key: SecretKey,
    /// The engine configuration.
    pub config: Config,
    /// Events in recorded order.
    pub events: Vec<PackedEvent<String>>,
    /// Their names, in the same order.
    pub names: Vec<String>,
    /// `PeerId` → name, for rendering.
    pub peer_names: BTreeMap<PeerId, String>,
    /// The recorded `last_ancestors` of each event, in the same order.
    pub last_ancestors: Vec<BTreeMap<String, u64>>,
}

fn observation(
    obs: &DotObservation,
    keys: &mut Keyring,
) -> Result<Observation<String>, ReplayError> {
    let mut id = |name: &str| keys.key(name).peer_id();
    Ok(match obs {
        DotObservation::Genesis(group) => Observation::Genesis {
            group: group.iter().map(|name| id(name)).collect(),
            related_info: Vec::new(),
            coin: ParityCoin.agreement(),
        },
        DotObservation::Add(name) => Observation::Add {
            peer_id: id(name),
            related_info: Vec::new(),
        },
        DotObservation::Remove(name) => Observation::Remove {
            peer_id: id(name),
            related_info: Vec::new(),
        },
        DotObservation::OpaquePayload(text) => Observation::OpaquePayload(text.clone()),
        DotObservation::Accusation { .. } => {
            return Err(ReplayError::Unsupported("accusation votes".to_string()));
        }
    })
}

/// Rebuilds the recorded graph as signed events (spec §16.4, §16.5).
pub fn rebuild(graph: &DotGraph) -> Result<Rebuilt, ReplayError> {
    let order = recorded_order(graph)?;
    let mut keys = Keyring::default();
    let mut hashes: BTreeMap<&str, EventHash> = BTreeMap::new();
    let mut events = Vec::with_capacity(order.len());
    let mut names = Vec::with_capacity(order.len());
    let mut last_ancestors = Vec::with_capacity(order.len());
    let mut genesis_group = None;
    let limits = EventLimits::default();
    for &i in &order {
        let dot = &graph.events[i];
        let creator = keys.key(&dot.creator).clone();
        let parent = |name: &Option<String>| -> Result<EventHash, ReplayError> {
            name.as_deref()
                .and_then(|n| hashes.get(n).copied())
                .ok_or_else(|| ReplayError::Rebuild {
                    event: dot.name.clone(),
                    reason: "parent not rebuilt first".to_string(),
                })
        };
        let cause = match &dot.cause {
            DotCause::Initial => Cause::Initial,
            DotCause::Requesting(recipient) => Cause::Requesting {
                self_parent: parent(&dot.self_parent)?,
                recipient: keys.key(recipient).peer_id(),
            },
            DotCause::Request => Cause::Request {
                self_parent: parent(&dot.self_parent)?,
                other_parent: parent(&dot.other_parent)?,
            },
            DotCause::Response => Cause::Response {
                self_parent: parent(&dot.self_parent)?,
                other_parent: parent(&dot.other_parent)?,
            },
            DotCause::Observation(obs) => {
                let obs = observation(obs, &mut keys)?;
                if genesis_group.is_none()
                    && let Observation::Genesis { group, .. } = &obs
                {
                    genesis_group = Some(group.clone());
                }
                let vote = Vote::new(obs, &creator).map_err(|e| ReplayError::Rebuild {
                    event: dot.name.clone(),
                    reason: e.to_string(),
                })?;
                Cause::Observation {
                    self_parent: parent(&dot.self_parent)?,
                    vote: Box::new(vote),
                }
            }
        };
        let content = EventContent {
            creator: creator.peer_id(),
            index: dot.index,
            cause,
            coin_shares: Vec::new(),
        };
        let event = content
            .sign(&creator, &limits)
            .map_err(|e| ReplayError::Rebuild {
                event: dot.name.clone(),
                reason: e.to_string(),
            })?;
        hashes.insert(dot.name.as_str(), *event.hash());
        events.push(event.into_packed());
        names.push(dot.name.clone());
        last_ancestors.push(dot.last_ancestors.clone());
    }
    let genesis_group = genesis_group
        .ok_or_else(|| ReplayError::Unsupported("no Genesis vote in the graph".to_string()))?;
    let our_key = keys.key(&graph.our_id).clone();
    let peer_names = keys
        .0
        .iter()
        .map(|(name, key)| (key.peer_id(), name.clone()))
        .collect();
    Ok(Rebuilt {
        our_id: graph.our_id.clone(),
        our_key,
        config: Config::new(genesis_group, graph.consensus_mode),
        events,
        names,
        peer_names,
        last_ancestors,
    })
}

impl Rebuilt {
    /// A fresh engine of the recording peer, started from the genesis (before any event is
    /// fed), with the step of its start.
    pub fn engine(&self) -> Result<(Parsec<String, ParityCoin>, Step<String>), parsec_core::Error> {
        Parsec::from_genesis(self.our_key.clone(), self.config.clone(), ParityCoin)
    }
}

/// A block's payload as the expected files spell it (spec §16.8).
pub fn render(block: &Block<String>, names: &BTreeMap<PeerId, String>) -> String {
    let name = |id: &PeerId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    match &block.payload {
        Observation::Genesis { group, .. } => {
            let mut members: Vec<String> = group.iter().map(name).collect();
            members.sort();
            format!("Genesis({{{}}})", members.join(", "))
        }
        Observation::Add { peer_id, .. } => format!("Add({})", name(peer_id)),
        Observation::Remove { peer_id, .. } => format!("Remove({})", name(peer_id)),
        Observation::OpaquePayload(text) => format!("OpaquePayload({text})"),
        other => format!("{other:?}"),
    }
}

/// Splits blocks into their decision groups.
pub fn groups(blocks: &[Block<String>], names: &BTreeMap<PeerId, String>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current = None;
    for block in blocks {
        if current != Some(block.election) {
            out.push(Vec::new());
            current = Some(block.election);
        }
        if let Some(group) = out.last_mut() {
            group.push(render(block, names));
        }
    }
    out
}

/// Feeds rebuilt events to a fresh engine of the recording peer and collects the groups.
pub fn run(rebuilt: &Rebuilt) -> Result<Replayed, ReplayError> {
    run_pruned(rebuilt, None)
}

/// As [`run`], with the engine pruning its memory to `window` events per creator (spec
/// §12): pruning must not change a single decision. A pruned graph no longer holds every
/// summary, so only an unpruned run checks them against the recorded ones.
pub fn run_pruned(rebuilt: &Rebuilt, window: Option<u64>) -> Result<Replayed, ReplayError> {
    let started = Instant::now();
    let (mut engine, first) = match window {
        None => rebuilt.engine()?,
        Some(_) => {
            let mut config = rebuilt.config.clone();
            config.pruning_window = window;
            Parsec::from_genesis(rebuilt.our_key.clone(), config, ParityCoin)?
        }
    };
    // A pruning engine asks for pruned parents of late events by `Step::fetch`: the
    // replay answers from a store that took every step's `persist`, as a driver does.
    let store = window.map(|_| MemStore::<String>::new());
    let mut blocks = Vec::new();
    let mut pending = vec![(first, String::new())];
    let mut events = rebuilt.events.iter().zip(&rebuilt.names);
    loop {
        let Some((step, name)) = pending.pop() else {
            let Some((packed, name)) = events.next() else {
                break;
            };
            pending.push((engine.replay_event(packed.clone())?, name.clone()));
            continue;
        };
        if let Some(fault) = step
            .faults
            .iter()
            .find(|f| !matches!(f.kind, FaultKind::Fork { .. }))
        {
            return Err(ReplayError::Rebuild {
                event: name,
                reason: format!("engine reported {fault:?}"),
            });
        }
        blocks.extend(step.blocks);
        let Some(store) = &store else { continue };
        let store_error = |e: parsec_core::StoreError| ReplayError::Rebuild {
            event: name.clone(),
            reason: format!("store: {e}"),
        };
        store.apply_now(step.persist).map_err(store_error)?;
        if !step.fetch.is_empty() {
            let mut answers = Vec::with_capacity(step.fetch.len());
            for hash in step.fetch {
                answers.push((hash, store.find_now(&hash).map_err(store_error)?));
            }
            pending.push((engine.readmit(answers)?, name));
        }
    }
    let engine_time = started.elapsed();
    if engine.held_events() != 0 || engine.graph().len() != rebuilt.events.len() {
        return Err(ReplayError::Rebuild {
            event: String::new(),
            reason: format!(
                "{} of {} events inserted, {} held",
                engine.graph().len(),
                rebuilt.events.len(),
                engine.held_events()
            ),
        });
    }
    if window.is_none() {
        check_summaries(rebuilt, engine.graph())?;
    }
    Ok(Replayed {
        groups: groups(&blocks, &rebuilt.peer_names),
        blocks: blocks.len(),
        events: rebuilt.events.len(),
        engine_time,
    })
}

/// Every event's ancestry summary, mapped to names, equals its recorded `last_ancestors`
/// (spec §16.4): a mismatch is a parser or graph bug.
fn check_summaries(
    rebuilt: &Rebuilt,
    graph: &parsec_graph::Graph<String>,
) -> Result<(), ReplayError> {
    for ((packed, name), recorded) in rebuilt
        .events
        .iter()
        .zip(&rebuilt.names)
        .zip(&rebuilt.last_ancestors)
    {
        let bug = |reason: String| ReplayError::Rebuild {
            event: name.clone(),
            reason,
        };
        let hash = packed.hash().map_err(|e| bug(e.to_string()))?;
        let at = graph
            .index_of(&hash)
            .ok_or_else(|| bug("not inserted".to_string()))?;
        let ours: BTreeMap<String, u64> = graph
            .last_ancestors(at)
            .map(|(peer, index)| {
                let id = graph.peer_id(peer);
                let name = rebuilt
                    .peer_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string());
                (name, index)
            })
            .collect();
        if &ours != recorded {
            return Err(bug(format!(
                "last_ancestors {ours:?}, recorded {recorded:?}"
            )));
        }
    }
    Ok(())
}

/// The first difference between decided and expected groups, if any (multisets per group).
pub fn first_difference(got: &[Vec<String>], expected: &[Vec<String>]) -> Option<String> {
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let mut g = g.clone();
        let mut e = e.clone();
        g.sort();
        e.sort();
        if g != e {
            let missing: Vec<&String> = e.iter().filter(|x| !g.contains(x)).take(3).collect();
            let extra: Vec<&String> = g.iter().filter(|x| !e.contains(x)).take(3).collect();
            return Some(format!(
                "group {}: {} payloads, expected {}; missing {:?}, unexpected {:?}",
                i + 1,
                g.len(),
                e.len(),
                missing,
                extra
            ));
        }
    }
    if got.len() != expected.len() {
        return Some(format!("{} groups, expected {}", got.len(), expected.len()));
    }
    None
}

/// One graph's replay outcome, as the `replay` command prints it.
#[derive(Debug)]
pub struct GraphReport {
    /// The graph's name.
    pub name: String,
    /// Blocks decided.
    pub blocks: usize,
    /// Groups decided.
    pub groups: usize,
    /// `None` on a match, else the first difference or the error.
    pub failure: Option<String>,
    /// Replay time (engine only).
    pub time: Duration,
}

impl std::fmt::Display for GraphReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<80} blocks {:>5} groups {:>4} {:>9.2} ms  {}",
            self.name,
            self.blocks,
            self.groups,
            self.time.as_secs_f64() * 1000.0,
            self.failure.as_deref().unwrap_or("match")
        )
    }
}

fn read(path: &Path) -> Result<String, ReplayError> {
    std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads and parses the recorded graph in `path`.
pub fn load_graph(path: &Path) -> Result<DotGraph, ReplayError> {
    Ok(parse_dot(&read(path)?)?)
}

/// Replays one graph file and compares with an expected file when given.
pub fn replay_file(name: &str, graph: &Path, expected: Option<&Path>) -> GraphReport {
    type Groups = Vec<Vec<String>>;
    let outcome = (|| -> Result<(Replayed, Option<Groups>), ReplayError> {
        let dot = load_graph(graph)?;
        let rebuilt = rebuild(&dot)?;
        let replayed = run(&rebuilt)?;
        let expected = match expected {
            Some(path) => Some(parse_expected(&read(path)?)?),
            None => None,
        };
        Ok((replayed, expected))
    })();
    match outcome {
        Ok((replayed, expected)) => GraphReport {
            name: name.to_string(),
            blocks: replayed.blocks,
            groups: replayed.groups.len(),
            failure: expected.and_then(|e| first_difference(&replayed.groups, &e)),
            time: replayed.engine_time,
        },
        Err(error) => GraphReport {
            name: name.to_string(),
            blocks: 0,
            groups: 0,
            failure: Some(format!("error: {error}")),
            time: Duration::ZERO,
        },
    }
}
