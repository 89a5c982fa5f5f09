//! The line-based reader of a recorded graph (`ALGORITHM.md` §16.2): header, clusters and
//! edges, then the details of each event, checked into a [`DotGraph`].

use std::collections::{BTreeMap, HashMap};

use parsec_graph::ConsensusMode;

use super::details::{parse_cause, parse_last_ancestors};
use super::model::{DotCause, DotEvent, DotGraph};
use super::syntax::{Statement, parse_quoted, parse_statement, split_event_name};
use crate::conformance::ParseError;

/// An event while the file is being read.
struct Pending {
    name: String,
    creator: usize,
    line: usize,
    index: u64,
    fork: u32,
    self_parent: Option<String>,
    other_parent: Option<String>,
    cause: Option<DotCause>,
    last_ancestors: Option<BTreeMap<String, u64>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Header,
    Body,
    Details,
}

#[derive(Default)]
struct Builder {
    our_id: Option<String>,
    peers: Vec<String>,
    in_peer_list: bool,
    seen_peer_list: bool,
    consensus_mode: Option<ConsensusMode>,
    creators: Vec<String>,
    events: Vec<Pending>,
    by_name: HashMap<String, usize>,
    /// Open `{` blocks of the body: `Some(creator)` for a cluster.
    blocks: Vec<Option<usize>>,
    /// Other-parent edges `(line, parent, child)`, resolved once every cluster is read.
    other_parent_edges: Vec<(usize, String, String)>,
    /// The event whose details are being read.
    current: Option<usize>,
}

/// Parses a recorded gossip graph (`graphs/NAME.dot`) following `ALGORITHM.md` §16.2.
///
/// Besides the syntax, it checks that every event named in a cluster has a `cause` and a
/// `last_ancestors` line, that every parent is an event of the graph, that no two events
/// of one creator share `(index, fork)`, and that each index agrees with the self-parent
/// (0 without one, the self-parent's index plus one otherwise).
///
/// One leniency beyond the spec: a `[constraint=false]` edge is read as an other-parent
/// edge even inside a cluster (the recorder only writes them outside).
pub fn parse_dot(text: &str) -> Result<DotGraph, ParseError> {
    let mut b = Builder::default();
    let mut section = Section::Header;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if section == Section::Header {
            if t.is_empty() {
                continue;
            }
            if let Some(content) = t.strip_prefix("///") {
                b.header_line(line, content.trim())?;
                continue;
            }
            if b.in_peer_list {
                return Err(ParseError::UnterminatedPeerList { line });
            }
            section = Section::Body;
        }
        if t.starts_with("///") && t.contains("===== meta-elections =====") {
            break;
        }
        if section == Section::Body {
            if t.starts_with("///") && t.contains("===== details of events =====") {
                section = Section::Details;
                continue;
            }
            b.body_line(line, t)?;
        } else {
            b.details_line(line, t)?;
        }
    }
    if b.in_peer_list {
        return Err(ParseError::UnterminatedPeerList {
            line: text.lines().count() + 1,
        });
    }
    b.finish()
}

impl Builder {
    fn header_line(&mut self, line: usize, content: &str) -> Result<(), ParseError> {
        let malformed = || ParseError::MalformedHeader {
            line,
            text: content.to_owned(),
        };
        if self.in_peer_list {
            if content == "}" {
                self.in_peer_list = false;
                return Ok(());
            }
            let (name, _state) = content.split_once(':').ok_or_else(malformed)?;
            let name = name.trim();
            if name.is_empty() {
                return Err(malformed());
            }
            if self.peers.iter().any(|p| p == name) {
                return Err(ParseError::DuplicatePeer {
                    line,
                    name: name.to_owned(),
                });
            }
            self.peers.push(name.to_owned());
        } else if let Some(value) = content.strip_prefix("our_id:") {
            let value = value.trim();
            if value.is_empty() {
                return Err(malformed());
            }
            if self.our_id.is_some() {
                return Err(ParseError::DuplicateHeaderField {
                    line,
                    field: "our_id",
                });
            }
            self.our_id = Some(value.to_owned());
        } else if let Some(value) = content.strip_prefix("peer_list:") {
            if self.seen_peer_list {
                return Err(ParseError::DuplicateHeaderField {
                    line,
                    field: "peer_list",
                });
            }
            self.seen_peer_list = true;
            match value.trim() {
                "{" => self.in_peer_list = true,
                "{}" => {}
                _ => return Err(malformed()),
            }
        } else if let Some(value) = content.strip_prefix("consensus_mode:") {
            if self.consensus_mode.is_some() {
                return Err(ParseError::DuplicateHeaderField {
                    line,
                    field: "consensus_mode",
                });
            }
            self.consensus_mode = Some(match value.trim() {
                "Supermajority" => ConsensusMode::Supermajority,
                "Single" => ConsensusMode::Single,
                other => {
                    return Err(ParseError::UnknownConsensusMode {
                        line,
                        mode: other.to_owned(),
                    });
                }
            });
        }
        // Any other header line is ignored (§16.2).
        Ok(())
    }

    fn body_line(&mut self, line: usize, t: &str) -> Result<(), ParseError> {
        if t.is_empty() || t.starts_with("//") {
            return Ok(());
        }
        if t.starts_with('"') {
            let malformed = || ParseError::MalformedStatement {
                line,
                text: t.to_owned(),
            };
            let stmt = parse_statement(t).ok_or_else(malformed)?;
            if stmt.ids.len() < 2 {
                // A node statement: layout only.
                return Ok(());
            }
            return self.edge(line, stmt).ok_or_else(malformed)?;
        }
        if t == "}" {
            if self.blocks.pop().is_none() {
                return Err(ParseError::UnbalancedBrace { line });
            }
            return Ok(());
        }
        if let Some(head) = t.strip_suffix('{') {
            let head = head.trim();
            let block = match head.strip_prefix("subgraph") {
                Some(id) if id.is_empty() || id.starts_with(char::is_whitespace) => {
                    let id = id.trim();
                    let id = match parse_quoted(id) {
                        Some((id, rest)) if rest.trim().is_empty() => id,
                        Some(_) => {
                            return Err(ParseError::MalformedSubgraph {
                                line,
                                text: t.to_owned(),
                            });
                        }
                        None => id.to_owned(),
                    };
                    match id.strip_prefix("cluster_") {
                        Some(creator) => Some(self.add_creator(line, creator)?),
                        None => None,
                    }
                }
                _ => None,
            };
            self.blocks.push(block);
        }
        // Anything else (`splines=false`, `label="Alice"`, `rank=same`, …) is layout.
        Ok(())
    }

    fn add_creator(&mut self, line: usize, creator: &str) -> Result<usize, ParseError> {
        if creator.is_empty() {
            return Err(ParseError::MalformedSubgraph {
                line,
                text: format!("subgraph cluster_{creator}"),
            });
        }
        if self.creators.iter().any(|c| c == creator) {
            return Err(ParseError::DuplicateCreator {
                line,
                creator: creator.to_owned(),
            });
        }
        self.creators.push(creator.to_owned());
        Ok(self.creators.len() - 1)
    }

    /// Handles an edge statement. The outer `None` means a malformed edge.
    fn edge(&mut self, line: usize, stmt: Statement) -> Option<Result<(), ParseError>> {
        let attr = |key: &str| {
            stmt.attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        if attr("constraint") == Some("false") {
            // Other-parent edge; the spec puts them outside the clusters, we accept them
            // anywhere.
            let [parent, child] = <[String; 2]>::try_from(stmt.ids).ok()?;
            self.other_parent_edges.push((line, parent, child));
            return Some(Ok(()));
        }
        let Some(creator) = self.blocks.iter().rev().find_map(|b| *b) else {
            // Outside the clusters everything else is layout (the chain of peer names).
            return Some(Ok(()));
        };
        if attr("minlen").is_some() {
            let [parent, child] = <[String; 2]>::try_from(stmt.ids).ok()?;
            return Some(self.self_parent_edge(line, creator, parent, child));
        }
        if attr("style") == Some("invis")
            && stmt.ids.len() == 2
            && stmt.ids[0] == self.creators[creator]
        {
            return Some(self.declare(line, creator, &stmt.ids[1]).map(|_| ()));
        }
        Some(Ok(()))
    }

    fn self_parent_edge(
        &mut self,
        line: usize,
        creator: usize,
        parent: String,
        child: String,
    ) -> Result<(), ParseError> {
        self.declare(line, creator, &parent)?;
        let c = self.declare(line, creator, &child)?;
        let event = &mut self.events[c];
        if event.self_parent.is_some() {
            return Err(ParseError::MultipleSelfParents {
                line,
                name: child,
                parent,
            });
        }
        event.self_parent = Some(parent);
        Ok(())
    }

    /// Records that the event `name` belongs to `creator`; returns its position.
    fn declare(&mut self, line: usize, creator: usize, name: &str) -> Result<usize, ParseError> {
        if let Some(&i) = self.by_name.get(name) {
            let first = self.events[i].creator;
            if first != creator {
                return Err(ParseError::EventInTwoClusters {
                    line,
                    name: name.to_owned(),
                    first: self.creators[first].clone(),
                    second: self.creators[creator].clone(),
                });
            }
            return Ok(i);
        }
        let (index, fork) = split_event_name(name).ok_or_else(|| ParseError::BadEventName {
            line,
            name: name.to_owned(),
        })?;
        self.events.push(Pending {
            name: name.to_owned(),
            creator,
            line,
            index,
            fork,
            self_parent: None,
            other_parent: None,
            cause: None,
            last_ancestors: None,
        });
        self.by_name.insert(name.to_owned(), self.events.len() - 1);
        Ok(self.events.len() - 1)
    }

    fn details_line(&mut self, line: usize, t: &str) -> Result<(), ParseError> {
        if t.starts_with('"') {
            // `"NAME" [ …`: the node statement starting an event's details; its label may
            // span several lines, which are skipped below.
            let malformed = || ParseError::MalformedStatement {
                line,
                text: t.to_owned(),
            };
            let (name, rest) = parse_quoted(t).ok_or_else(malformed)?;
            if !rest.trim_start().starts_with('[') {
                return Err(malformed());
            }
            let &i = self
                .by_name
                .get(&name)
                .ok_or(ParseError::UnknownEvent { line, name })?;
            self.current = Some(i);
            return Ok(());
        }
        let Some(comment) = t.strip_prefix("///") else {
            // Label lines, blank lines and the closing `}` of the graph.
            return Ok(());
        };
        let comment = comment.trim_start();
        if let Some(cause) = comment.strip_prefix("cause:") {
            let event = self.current_event(line, "cause")?;
            let cause = cause.trim();
            event.cause = Some(
                parse_cause(cause).ok_or_else(|| ParseError::MalformedCause {
                    line,
                    text: cause.to_owned(),
                })?,
            );
        } else if let Some(map) = comment.strip_prefix("last_ancestors:") {
            let event = self.current_event(line, "last_ancestors")?;
            let map = map.trim();
            event.last_ancestors = Some(parse_last_ancestors(map).ok_or_else(|| {
                ParseError::MalformedLastAncestors {
                    line,
                    text: map.to_owned(),
                }
            })?);
        }
        Ok(())
    }

    /// The event whose details are being read, checking that `field` is not set yet.
    fn current_event(
        &mut self,
        line: usize,
        field: &'static str,
    ) -> Result<&mut Pending, ParseError> {
        let i = self
            .current
            .ok_or(ParseError::DetailOutsideEvent { line })?;
        let event = &mut self.events[i];
        let set = match field {
            "cause" => event.cause.is_some(),
            _ => event.last_ancestors.is_some(),
        };
        if set {
            return Err(ParseError::DuplicateDetail {
                line,
                name: event.name.clone(),
                field,
            });
        }
        Ok(event)
    }

    fn finish(mut self) -> Result<DotGraph, ParseError> {
        let our_id = self.our_id.take().ok_or(ParseError::MissingOurId)?;

        for (line, parent, child) in std::mem::take(&mut self.other_parent_edges) {
            for name in [&parent, &child] {
                if !self.by_name.contains_key(name) {
                    return Err(ParseError::UnknownEvent {
                        line,
                        name: name.clone(),
                    });
                }
            }
            let event = &mut self.events[self.by_name[&child]];
            if event.other_parent.is_some() {
                return Err(ParseError::MultipleOtherParents {
                    line,
                    name: child,
                    parent,
                });
            }
            event.other_parent = Some(parent);
        }

        let mut slots: HashMap<(usize, u64, u32), usize> = HashMap::new();
        for (i, event) in self.events.iter().enumerate() {
            if let Some(&other) = slots.get(&(event.creator, event.index, event.fork)) {
                return Err(ParseError::DuplicateSlot {
                    line: event.line,
                    creator: self.creators[event.creator].clone(),
                    name: event.name.clone(),
                    other: self.events[other].name.clone(),
                });
            }
            slots.insert((event.creator, event.index, event.fork), i);

            let expected = match &event.self_parent {
                None => Some(0),
                Some(sp) => self.events[self.by_name[sp]].index.checked_add(1),
            };
            if expected != Some(event.index) {
                return Err(ParseError::BadIndex {
                    line: event.line,
                    name: event.name.clone(),
                    index: event.index,
                    self_parent: event.self_parent.clone(),
                    expected,
                });
            }
        }

        // Group the events by creator, keeping each creator's first-mention order.
        self.events.sort_by_key(|e| e.creator);
        let mut events = Vec::with_capacity(self.events.len());
        for p in self.events {
            let missing = |field| ParseError::MissingDetail {
                line: p.line,
                name: p.name.clone(),
                field,
            };
            let (cause, last_ancestors) = match (p.cause, p.last_ancestors) {
                (Some(cause), Some(last_ancestors)) => (cause, last_ancestors),
                (None, _) => return Err(missing("cause")),
                (_, None) => return Err(missing("last_ancestors")),
            };
            events.push(DotEvent {
                name: p.name,
                creator: self.creators[p.creator].clone(),
                index: p.index,
                fork: p.fork,
                self_parent: p.self_parent,
                other_parent: p.other_parent,
                cause,
                last_ancestors,
            });
        }

        Ok(DotGraph {
            our_id,
            peers: self.peers,
            consensus_mode: self.consensus_mode.unwrap_or_default(),
            creators: self.creators,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::dot::{DotObservation, SMALL, recorded_order};

    #[test]
    fn small_graph() {
        let g = parse_dot(SMALL).unwrap();
        assert_eq!(g.our_id, "Alice");
        assert_eq!(g.peers, ["Alice", "Carol", "Bob", "Dave"]);
        assert_eq!(g.consensus_mode, ConsensusMode::Single);
        assert_eq!(g.creators, ["Alice", "Bob", "Carol"]);
        let names: Vec<&str> = g.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["A_0", "A_1", "A_2", "B_0"]);
        let a2 = &g.events[2];
        assert_eq!(a2.creator, "Alice");
        assert_eq!((a2.index, a2.fork), (2, 0));
        assert_eq!(a2.self_parent.as_deref(), Some("A_1"));
        assert_eq!(a2.other_parent.as_deref(), Some("B_0"));
        assert_eq!(
            a2.cause,
            DotCause::Observation(DotObservation::OpaquePayload("hello (world)".into()))
        );
        assert_eq!(
            a2.last_ancestors,
            BTreeMap::from([("Alice".to_owned(), 2), ("Bob".to_owned(), 0)])
        );
        assert_eq!(
            g.events[1].cause,
            DotCause::Observation(DotObservation::Add("Dave".into()))
        );
        assert_eq!(g.events[3].creator, "Bob");
        assert_eq!(g.events[3].self_parent, None);

        // Alice first (our_id), then Bob, Carol, Dave: A_0, A_1 are ready at once, A_2
        // waits for B_0.
        let order = recorded_order(&g).unwrap();
        assert_eq!(order, [0, 1, 3, 2]);
    }

    #[test]
    fn default_mode_is_supermajority() {
        let text = SMALL.replace("/// consensus_mode: Single\n", "");
        assert_eq!(
            parse_dot(&text).unwrap().consensus_mode,
            ConsensusMode::Supermajority
        );
    }

    fn err(text: &str) -> ParseError {
        match parse_dot(text) {
            Ok(g) => panic!("expected an error, parsed {g:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(err(""), ParseError::MissingOurId);
        assert_eq!(err("hello world\n{{{{ }"), ParseError::MissingOurId);
        assert!(matches!(err("}"), ParseError::UnbalancedBrace { line: 1 }));
        assert!(matches!(
            err("/// peer_list: {\n///   Alice: PeerState()\ndigraph {"),
            ParseError::UnterminatedPeerList { line: 3 }
        ));
        assert!(matches!(
            err("/// consensus_mode: Majority"),
            ParseError::UnknownConsensusMode { line: 1, .. }
        ));
        assert!(matches!(
            err("/// our_id: A\ndigraph G {\n  \"A_0\" -> \"A_1"),
            ParseError::MalformedStatement { line: 3, .. }
        ));
        // Arbitrary bytes and every prefix of a valid file: errors or graphs, never panics.
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let _ = parse_dot(&String::from_utf8_lossy(&bytes));
        for end in (0..SMALL.len()).filter(|&i| SMALL.is_char_boundary(i)) {
            if let Ok(g) = parse_dot(&SMALL[..end]) {
                let _ = recorded_order(&g);
            }
        }
    }

    #[test]
    fn validation_errors() {
        // An event without details.
        let text = SMALL.replace(
            "/// cause: Initial\n/// last_ancestors: {Bob: 0}\n",
            "/// cause: Initial\n",
        );
        assert!(matches!(
            err(&text),
            ParseError::MissingDetail { name, field: "last_ancestors", line: 27 } if name == "B_0"
        ));
        // A parent that is not an event.
        let text = SMALL.replace("\"B_0\" -> \"A_2\"", "\"B_9\" -> \"A_2\"");
        assert!(matches!(err(&text), ParseError::UnknownEvent { name, .. } if name == "B_9"));
        // Index inconsistent with the self-parent.
        let text = SMALL.replace("\"A_1\" -> \"A_2\"", "\"A_1\" -> \"A_3\"");
        assert!(matches!(err(&text), ParseError::UnknownEvent { name, .. } if name == "A_2"));
        let text = SMALL
            .replace("\"A_1\" -> \"A_2\"", "\"A_1\" -> \"A_3\"")
            .replace("\"A_2\"", "\"A_3\"");
        assert!(matches!(
            err(&text),
            ParseError::BadIndex { name, index: 3, expected: Some(2), .. } if name == "A_3"
        ));
        let text = SMALL
            .replace("\"Bob\" -> \"B_0\"", "\"Bob\" -> \"B_1\"")
            .replace("\"B_0\"", "\"B_1\"");
        assert!(matches!(
            err(&text),
            ParseError::BadIndex { name, expected: Some(0), .. } if name == "B_1"
        ));
        // An event in two clusters.
        let text = SMALL.replace("\"Bob\" -> \"B_0\"", "\"Bob\" -> \"A_0\"");
        assert!(matches!(err(&text), ParseError::EventInTwoClusters { .. }));
        // Details for an event no cluster names.
        let text = SMALL.replace("  \"B_0\" [fillcolor", "  \"B_7\" [fillcolor");
        assert!(matches!(err(&text), ParseError::UnknownEvent { name, .. } if name == "B_7"));
        // Two other-parents.
        let text = SMALL.replace(
            "  \"B_0\" -> \"A_2\" [constraint=false]\n",
            "  \"B_0\" -> \"A_2\" [constraint=false]\n  \"A_0\" -> \"A_2\" [constraint=false]\n",
        );
        assert!(matches!(
            err(&text),
            ParseError::MultipleOtherParents { .. }
        ));
        // A malformed cause.
        let text = SMALL.replace("Observation(Add{peer_id", "Observation(Add{peer");
        assert!(matches!(
            err(&text),
            ParseError::MalformedCause { line: 54, .. }
        ));
    }
}
