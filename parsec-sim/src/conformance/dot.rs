//! Parser for the original PARSEC's annotated Graphviz gossip graphs (`ALGORITHM.md` §16.2)
//! and the recorded insertion order (§16.5).
//!
//! The parser reads names only: an event is identified by its name (`"C_2,1"`), a peer by
//! its name (`"Carol"`). It is line based, as the recorder writes one statement per line.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::ParseError;

/// Consensus mode recorded in the header (`/// consensus_mode: …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// `Supermajority`: a payload is decided once a supermajority voted for it (the default).
    #[default]
    Supermajority,
    /// `Single`: a payload voted by a single peer can be decided, once per voter.
    Single,
}

/// One recorded gossip graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotGraph {
    /// The recording peer (`/// our_id: NAME`).
    pub our_id: String,
    /// The names of the `peer_list` header, in file order.
    pub peers: Vec<String>,
    /// The consensus mode (`Supermajority` if the header does not say).
    pub consensus_mode: Mode,
    /// The creators, one per `subgraph cluster_NAME`, in file order.
    pub creators: Vec<String>,
    /// Every event, grouped by creator in cluster order, each creator's events in the order
    /// they are first named inside its cluster.
    pub events: Vec<DotEvent>,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEvent {
    /// The event's name as written, e.g. `"C_2,1"`.
    pub name: String,
    /// The creator's name (from the cluster holding the event).
    pub creator: String,
    /// The event's index (from its name).
    pub index: u64,
    /// The recorder's fork id (from its name; 0 when the name has no `,FORK`).
    pub fork: u32,
    /// The self-parent's name; `None` exactly when `index == 0`.
    pub self_parent: Option<String>,
    /// The other-parent's name.
    pub other_parent: Option<String>,
    /// The recorded cause.
    pub cause: DotCause,
    /// The recorded `last_ancestors`: for each creator the highest index this event reaches,
    /// itself included.
    pub last_ancestors: BTreeMap<String, u64>,
}

/// The cause of an event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DotCause {
    /// The creator's first event.
    Initial,
    /// Created on receiving a sync request.
    Request,
    /// Created on receiving a sync response.
    Response,
    /// Created when sending a sync request to the named peer.
    Requesting(String),
    /// A vote for an observation.
    Observation(DotObservation),
}

/// The observation voted by an `Observation` event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DotObservation {
    /// `Genesis({A, B, …})`: the names as written (not re-sorted).
    Genesis(Vec<String>),
    /// `Add(NAME)` or `Add{peer_id: NAME, related_info: […]}`.
    Add(String),
    /// `Remove(NAME)` or `Remove{peer_id: NAME, related_info: […]}`.
    Remove(String),
    /// `OpaquePayload(TEXT)`: the text between the outer parentheses, verbatim.
    OpaquePayload(String),
    /// `Accusation { NAME, MALICE }` (or with `offender:` / `malice:` field names).
    Accusation {
        /// The accused peer's name.
        offender: String,
        /// The malice as written, e.g. `Fork(A_3)`.
        malice: String,
    },
}

/// Splits an event name `PREFIX_INDEX` or `PREFIX_INDEX,FORK` at its first `_` and returns
/// `(INDEX, FORK)` (`FORK` defaults to 0), or `None` if the name has another shape.
///
/// The prefix is only a label and may be longer than one letter (`PublicIdnamef_0`).
pub fn split_event_name(name: &str) -> Option<(u64, u32)> {
    let (prefix, rest) = name.split_once('_')?;
    if prefix.is_empty() {
        return None;
    }
    let (index, fork) = match rest.split_once(',') {
        Some((index, fork)) => (index, Some(fork)),
        None => (rest, None),
    };
    let index = parse_digits::<u64>(index)?;
    let fork = match fork {
        Some(fork) => parse_digits::<u32>(fork)?,
        None => 0,
    };
    Some((index, fork))
}

/// Parses a non-empty run of ASCII digits (no sign, no spaces).
fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

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
    consensus_mode: Option<Mode>,
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
                "Supermajority" => Mode::Supermajority,
                "Single" => Mode::Single,
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

/// A node or edge statement: `"A" [attrs]` or `"A" -> "B" -> … [attrs]`.
struct Statement {
    ids: Vec<String>,
    attrs: Vec<(String, String)>,
}

/// Parses a one-line statement made of quoted ids. For a node statement (one id) the
/// attributes are not parsed.
fn parse_statement(t: &str) -> Option<Statement> {
    let (first, mut rest) = parse_quoted(t)?;
    let mut ids = vec![first];
    loop {
        let trimmed = rest.trim_start();
        let Some(after) = trimmed.strip_prefix("->") else {
            rest = trimmed;
            break;
        };
        let (id, r) = parse_quoted(after.trim_start())?;
        ids.push(id);
        rest = r;
    }
    if ids.len() == 1 {
        return Some(Statement {
            ids,
            attrs: Vec::new(),
        });
    }
    let rest = rest.trim_end().trim_end_matches(';').trim_end();
    let attrs = if rest.is_empty() {
        Vec::new()
    } else {
        let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
        let mut attrs = Vec::new();
        for part in split_top_level(inner) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (key, value) = part.split_once('=')?;
            let value = value.trim();
            let value = match parse_quoted(value) {
                Some((v, r)) if r.trim().is_empty() => v,
                Some(_) => return None,
                None => value.to_owned(),
            };
            attrs.push((key.trim().to_owned(), value));
        }
        attrs
    };
    Some(Statement { ids, attrs })
}

/// Parses a double-quoted string at the start of `s` (after optional whitespace);
/// returns its unescaped contents and the rest of `s`.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            _ => out.push(c),
        }
    }
    None
}

/// Splits `s` at the commas that are outside brackets, braces, parentheses and quotes.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if in_quotes {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `HEAD(INNER)` → `INNER` (the text between the first `(` and the last `)`).
fn strip_call<'a>(s: &'a str, head: &str) -> Option<&'a str> {
    s.strip_prefix(head)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

/// `HEAD { FIELDS }` → `FIELDS`.
fn strip_struct<'a>(s: &'a str, head: &str) -> Option<&'a str> {
    s.strip_prefix(head)?
        .trim_start()
        .strip_prefix('{')?
        .strip_suffix('}')
}

/// The value of the field `key` in `key: value, …`.
fn struct_field<'a>(fields: &'a str, key: &str) -> Option<&'a str> {
    split_top_level(fields).into_iter().find_map(|part| {
        let (k, v) = part.split_once(':')?;
        (k.trim() == key).then_some(v.trim())
    })
}

/// A non-empty name without surrounding whitespace.
fn name(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn parse_cause(s: &str) -> Option<DotCause> {
    match s {
        "Initial" => return Some(DotCause::Initial),
        "Request" => return Some(DotCause::Request),
        "Response" => return Some(DotCause::Response),
        _ => {}
    }
    if let Some(peer) = strip_call(s, "Requesting") {
        return name(peer).map(DotCause::Requesting);
    }
    let obs = strip_call(s, "Observation")?.trim();
    parse_observation(obs).map(DotCause::Observation)
}

fn parse_observation(s: &str) -> Option<DotObservation> {
    if let Some(text) = strip_call(s, "OpaquePayload") {
        return Some(DotObservation::OpaquePayload(text.to_owned()));
    }
    if let Some(group) = strip_call(s, "Genesis") {
        return parse_name_set(group).map(DotObservation::Genesis);
    }
    if let Some(fields) = strip_struct(s, "Genesis") {
        return parse_name_set(struct_field(fields, "group")?).map(DotObservation::Genesis);
    }
    for (head, make) in [
        ("Add", DotObservation::Add as fn(String) -> DotObservation),
        ("Remove", DotObservation::Remove),
    ] {
        if let Some(peer) = strip_call(s, head) {
            return name(peer).map(make);
        }
        if let Some(fields) = strip_struct(s, head) {
            return name(struct_field(fields, "peer_id")?).map(make);
        }
    }
    if let Some(fields) = strip_struct(s, "Accusation") {
        let parts = split_top_level(fields);
        let [offender, malice] = <[&str; 2]>::try_from(parts).ok()?;
        let offender = offender.trim();
        let offender = offender.strip_prefix("offender:").unwrap_or(offender);
        let malice = malice.trim();
        let malice = malice.strip_prefix("malice:").unwrap_or(malice);
        return Some(DotObservation::Accusation {
            offender: name(offender)?,
            malice: name(malice)?,
        });
    }
    None
}

/// `{A, B, …}` → the names as written; `{}` → no names.
fn parse_name_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    split_top_level(inner).into_iter().map(name).collect()
}

/// `{Alice: 2, Carol: 2}` → the map; `{}` → empty.
fn parse_last_ancestors(s: &str) -> Option<BTreeMap<String, u64>> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    let mut map = BTreeMap::new();
    if inner.trim().is_empty() {
        return Some(map);
    }
    for part in inner.split(',') {
        let (peer, index) = part.rsplit_once(':')?;
        let index = parse_digits::<u64>(index.trim())?;
        if map.insert(name(peer)?, index).is_some() {
            return None;
        }
    }
    Some(map)
}

/// The order in which the replay inserts the events (`ALGORITHM.md` §16.5), as indices
/// into `graph.events`.
///
/// Peer order: every creator missing from the `peer_list` header (sorted byte-wise), then
/// `our_id`, then the other header names sorted byte-wise. Each peer's events are taken in
/// `(index, fork)` order. Repeatedly, the first peer (in peer order) whose next event has
/// all its parents placed places that event. Runs in `O(E log P)`.
///
/// Fails if two events share a name, a parent is not an event of the graph, or the events
/// cannot all be placed (a cycle).
pub fn recorded_order(graph: &DotGraph) -> Result<Vec<usize>, ParseError> {
    let n = graph.events.len();
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (i, event) in graph.events.iter().enumerate() {
        if by_name.insert(event.name.as_str(), i).is_some() {
            return Err(ParseError::DuplicateEventName {
                name: event.name.clone(),
            });
        }
    }

    // Peer order.
    let header: BTreeSet<&str> = graph.peers.iter().map(String::as_str).collect();
    let missing: BTreeSet<&str> = graph
        .creators
        .iter()
        .map(String::as_str)
        .chain(graph.events.iter().map(|e| e.creator.as_str()))
        .filter(|c| !header.contains(c) && *c != graph.our_id)
        .collect();
    let peer_order: Vec<&str> = missing
        .into_iter()
        .chain(std::iter::once(graph.our_id.as_str()))
        .chain(header.into_iter().filter(|p| *p != graph.our_id))
        .collect();
    let peer_pos: HashMap<&str, usize> = peer_order
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i))
        .collect();

    // Each peer's events in (index, fork) order.
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); peer_order.len()];
    let mut peer_of = vec![0; n];
    for (i, event) in graph.events.iter().enumerate() {
        // Every creator is in `peer_order` by construction.
        let p = peer_pos.get(event.creator.as_str()).copied().unwrap_or(0);
        queues[p].push(i);
        peer_of[i] = p;
    }
    for queue in &mut queues {
        queue.sort_by_key(|&i| (graph.events[i].index, graph.events[i].fork));
    }

    // Unplaced-parent counts and the reverse edges.
    let mut unplaced_parents = vec![0usize; n];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, event) in graph.events.iter().enumerate() {
        for parent in [&event.self_parent, &event.other_parent]
            .into_iter()
            .flatten()
        {
            let &p = by_name
                .get(parent.as_str())
                .ok_or_else(|| ParseError::UnknownParent {
                    child: event.name.clone(),
                    parent: parent.clone(),
                })?;
            unplaced_parents[i] += 1;
            children[p].push(i);
        }
    }

    // `ready` holds exactly the peers whose next event has all its parents placed; the
    // naive scan always picks its smallest member.
    let mut next = vec![0usize; queues.len()];
    let mut ready: BTreeSet<usize> = queues
        .iter()
        .enumerate()
        .filter(|(_, q)| q.first().is_some_and(|&e| unplaced_parents[e] == 0))
        .map(|(p, _)| p)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(p) = ready.pop_first() {
        let e = queues[p][next[p]];
        order.push(e);
        next[p] += 1;
        for &c in &children[e] {
            unplaced_parents[c] -= 1;
            let q = peer_of[c];
            if unplaced_parents[c] == 0 && queues[q].get(next[q]) == Some(&c) {
                ready.insert(q);
            }
        }
        if let Some(&e) = queues[p].get(next[p])
            && unplaced_parents[e] == 0
        {
            ready.insert(p);
        }
    }

    if order.len() < n {
        let blocked = queues
            .iter()
            .zip(&next)
            .filter_map(|(q, &i)| q.get(i))
            .map(|&e| graph.events[e].name.clone())
            .collect();
        return Err(ParseError::OrderStuck {
            placed: order.len(),
            total: n,
            blocked,
        });
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small graph in the recorder's format: Alice (our_id) has three events, Bob one
    /// (named only by the invisible first-event edge), Carol none; `Dave` is a header peer
    /// without a cluster.
    const SMALL: &str = r#"/// our_id: Alice
/// peer_list: {
///   Alice: PeerState(VOTE|SEND|RECV)
///   Carol: PeerState()
///   Bob: PeerState(VOTE|SEND|RECV)
///   Dave: PeerState(VOTE|SEND|RECV)
/// }
/// consensus_mode: Single
digraph GossipGraph {
  splines=false
  rankdir=BT

  style=invis
  subgraph cluster_Alice {
    label="Alice"
    "Alice" [style=invis]
    "Alice" -> "A_0" [style=invis]
    "A_0" -> "A_1" [minlen=1]
    "A_1" -> "A_2" [minlen=2]
  }
  "B_0" -> "A_2" [constraint=false]

  style=invis
  subgraph cluster_Bob {
    label="Bob"
    "Bob" [style=invis]
    "Bob" -> "B_0" [style=invis]
  }

  style=invis
  subgraph cluster_Carol {
    label="Carol"
    "Carol" [style=invis]
  }

  {
    rank=same
    "Alice" [style=filled, color=white]
    "Bob" [style=filled, color=white]
    "Carol" [style=filled, color=white]
  }
  "Alice" -> "Bob" -> "Carol" [style=invis]

/// ===== details of events =====
  "A_0" [fillcolor=white, label=<<table border="0">
<tr><td colspan="6">A_0</td></tr>
</table>>]
/// cause: Initial
/// last_ancestors: {Alice: 0}

  "A_1" [style=filled, label=<<table border="0">
<tr><td colspan="6">A_1</td></tr>
</table>>]
/// cause: Observation(Add{peer_id: Dave, related_info: [1, 2]})
/// last_ancestors: {Alice: 1}

  "A_2" [fillcolor=white, label=<<table>
</table>>]
/// cause: Observation(OpaquePayload(hello (world)))
/// last_ancestors: {Alice: 2, Bob: 0}

  "B_0" [fillcolor=white, label=<<table>
</table>>]
/// cause: Initial
/// last_ancestors: {Bob: 0}

}

/// ===== meta-elections =====
/// consensus_history:
  "garbage after the end" [
"#;

    #[test]
    fn split_names() {
        assert_eq!(split_event_name("PublicIdnamef_0"), Some((0, 0)));
        assert_eq!(split_event_name("C_2,1"), Some((2, 1)));
        assert_eq!(split_event_name("A_17"), Some((17, 0)));
        assert_eq!(split_event_name("B_3,0"), Some((3, 0)));
        for bad in [
            "A", "A_", "_3", "A_x", "A_1,", "A_1,x", "A_+1", "A_1_2", "A_ 1", "A_1,-1",
        ] {
            assert_eq!(split_event_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn small_graph() {
        let g = parse_dot(SMALL).unwrap();
        assert_eq!(g.our_id, "Alice");
        assert_eq!(g.peers, ["Alice", "Carol", "Bob", "Dave"]);
        assert_eq!(g.consensus_mode, Mode::Single);
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
            Mode::Supermajority
        );
    }

    #[test]
    fn causes() {
        use DotObservation::*;
        let obs = |s: &str| match parse_cause(s) {
            Some(DotCause::Observation(o)) => Some(o),
            _ => None,
        };
        assert_eq!(parse_cause("Initial"), Some(DotCause::Initial));
        assert_eq!(parse_cause("Request"), Some(DotCause::Request));
        assert_eq!(parse_cause("Response"), Some(DotCause::Response));
        assert_eq!(
            parse_cause("Requesting(Bob)"),
            Some(DotCause::Requesting("Bob".into()))
        );
        assert_eq!(
            obs("Observation(Genesis({Alice, Bob, 10}))"),
            Some(Genesis(vec!["Alice".into(), "Bob".into(), "10".into()]))
        );
        assert_eq!(obs("Observation(Genesis({}))"), Some(Genesis(vec![])));
        assert_eq!(
            obs("Observation(Genesis{group: {B, A}, related_info: []})"),
            Some(Genesis(vec!["B".into(), "A".into()]))
        );
        assert_eq!(obs("Observation(Add(Dave))"), Some(Add("Dave".into())));
        assert_eq!(
            obs("Observation(Remove(Eric))"),
            Some(Remove("Eric".into()))
        );
        assert_eq!(
            obs("Observation(Add{peer_id: Fred, related_info: []})"),
            Some(Add("Fred".into()))
        );
        assert_eq!(
            obs("Observation(Add { peer_id: Fred, related_info: [1, 2] })"),
            Some(Add("Fred".into()))
        );
        assert_eq!(
            obs("Observation(Remove{related_info: [], peer_id: Eric})"),
            Some(Remove("Eric".into()))
        );
        assert_eq!(
            obs("Observation(OpaquePayload(12))"),
            Some(OpaquePayload("12".into()))
        );
        assert_eq!(
            obs("Observation(Accusation { Bob, Fork(B_3) })"),
            Some(Accusation {
                offender: "Bob".into(),
                malice: "Fork(B_3)".into()
            })
        );
        assert_eq!(
            obs("Observation(Accusation { offender: Bob, malice: InvalidAccusation(B_3) })"),
            Some(Accusation {
                offender: "Bob".into(),
                malice: "InvalidAccusation(B_3)".into()
            })
        );
        for bad in [
            "",
            "Initial(",
            "Requesting()",
            "Requesting(Bob",
            "Observation(Add())",
            "Observation(Add{related_info: []})",
            "Observation(Genesis({A, , B}))",
            "Observation(Genesis(A, B))",
            "Observation(Frobnicate(1))",
            "Observation(Accusation { Bob })",
            "Observation",
        ] {
            assert_eq!(parse_cause(bad), None, "{bad}");
        }
    }

    #[test]
    fn last_ancestors_maps() {
        assert_eq!(parse_last_ancestors("{}"), Some(BTreeMap::new()));
        assert_eq!(
            parse_last_ancestors("{0: 3, Bob: 12}"),
            Some(BTreeMap::from([
                ("0".to_owned(), 3),
                ("Bob".to_owned(), 12)
            ]))
        );
        for bad in [
            "",
            "{",
            "{Bob}",
            "{Bob: x}",
            "{Bob: 1, Bob: 2}",
            "{: 1}",
            "Bob: 1",
        ] {
            assert_eq!(parse_last_ancestors(bad), None, "{bad}");
        }
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

    #[test]
    fn recorded_order_errors() {
        let mut g = parse_dot(SMALL).unwrap();
        g.events[0].other_parent = Some("A_2".into());
        assert!(matches!(
            recorded_order(&g),
            Err(ParseError::OrderStuck {
                placed: 1,
                total: 4,
                ..
            })
        ));
        g.events[0].other_parent = Some("Z_0".into());
        assert!(matches!(
            recorded_order(&g),
            Err(ParseError::UnknownParent { .. })
        ));
    }

    #[test]
    fn creators_missing_from_header_come_first() {
        let mut g = parse_dot(SMALL).unwrap();
        g.peers.retain(|p| p != "Bob");
        // Bob is now missing from the header, so B_0 is placed first.
        assert_eq!(recorded_order(&g).unwrap(), [3, 0, 1, 2]);
    }
}
