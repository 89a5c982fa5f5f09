//! The one step-by-step in-process network of parsec-rs: nodes, the [`Links`] between
//! them, and the loop that delivers messages.
//!
//! The simulator ([`crate::sim`]), the examples and `parsec-core`'s integration tests all
//! move their messages through it.
//!
//! # How it works
//!
//! A [`Network<N>`] owns its nodes (any [`Node`]: the honest [`HonestPeer`] here, the
//! simulator's peers with roles in [`crate::sim`]), numbered `0..len()` by the order they
//! were given, the [`Links`] carrying [`Packet`]s between them, a clock, and the
//! [`Node::Shared`] state of all its nodes (settings, the simulator's invariant checks).
//!
//! * Every input to a node goes through [`Network::call`]: the node gets a [`Context`]
//!   (its number, the clock, the shared state, an outbox), and when it returns, everything
//!   it put in the outbox is sent, in order: a message to an identity that is not in the
//!   network is dropped without trace, any other is counted in the sender's [`Traffic`]
//!   and handed to the links, which decide its delay, loss or duplication.
//! * [`Network::deliver_due`] is the delivery loop: it takes every message the links have
//!   due by now, in order, and hands it to its recipient's [`Node::receive`] (or counts it
//!   undeliverable if the recipient does not receive: crashed, silent, not started); the
//!   replies go back into the links, and if they are due too they are delivered in the
//!   same loop. Under [`NetworkConditions::PERFECT`] every message is due at once, so a
//!   sync completes, in sending order, within one call.
//! * [`Network::gossip`] starts a sync at a node and delivers what is due; the clock moves
//!   only when the driver says so ([`Network::set_now`], [`Network::advance`]), so delays
//!   are counted in the driver's steps.
//!
//! Two drivers sit on top. [`Network<HonestPeer>`](HonestPeer) is the network of honest
//! engines for tests and examples (see [`NetworkBuilder`]): `sync(i, j)`, a random
//! [`Network::step`], [`Network::run_until`], blocks, faults and persisted counts per peer,
//! optional loss or any other [`NetworkConditions`], messages as values or as bytes over
//! the wire, peers that never start or crash. The simulator's `Simulation` owns a
//! `Network` of its own peer type and adds roles, schedules and invariants.
//!
//! Every random choice comes from streams of the network's one `u64` seed (the links'
//! stream, and the honest driver's stream for its random steps), the engines are
//! deterministic and no hash map is iterated, so a seed reproduces a run exactly.
//!
//! ```
//! use parsec_graph::ConsensusMode;
//! use parsec_sim::fixtures::opaque;
//! use parsec_sim::network::Network;
//!
//! let mut net = Network::new(4, ConsensusMode::Supermajority, 1)?;
//! for peer in 0..4 {
//!     net.vote(peer, opaque("tx"))?;
//! }
//! net.run_until(400, |net| (0..4).all(|i| net.blocks(i).len() == 2))?;
//! assert!(net.all_faults().is_empty());
//! # Ok::<(), parsec_sim::network::NetworkError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use parsec_graph::{PeerId, WireMessage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod honest;
mod links;
mod restart;

pub use honest::{Engine, HonestPeer, HonestShared, NetworkBuilder, NetworkError};
pub use links::{Envelope, LinkCounts, Links};

pub use crate::fixtures::peer_key;
pub use crate::sim::{Delay, NetworkConditions};

/// The stream of the network's seed that the links draw from (the simulator has always
/// used stream 2 of its seed for its message delays, losses and duplicates).
pub const LINKS_STREAM: u64 = 2;

/// A message on a link: the message itself, or its encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// The message as a value (no encoding on the way).
    Message(WireMessage<String>),
    /// The encoded message (`wire::encode`), as a real transport would carry it; it may
    /// also be any bytes at all (adversaries).
    Bytes(Vec<u8>),
}

impl Packet {
    /// Its size on the wire: the length of the bytes, 0 for a message sent as a value.
    pub fn byte_len(&self) -> usize {
        match self {
            Packet::Message(_) => 0,
            Packet::Bytes(bytes) => bytes.len(),
        }
    }
}

/// What one peer sent and received, counted by the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages it sent to peers of the network (lost ones included).
    pub messages_sent: u64,
    /// Bytes of those messages ([`Packet::byte_len`]).
    pub bytes_sent: u64,
    /// Messages delivered to it.
    pub messages_received: u64,
}

/// What a node gets with every call: who it is, when it is, the shared state, and an
/// outbox for the messages it sends.
#[derive(Debug)]
pub struct Context<'a, S> {
    /// The node's number in the network.
    pub peer: usize,
    /// The network's clock.
    pub now: u64,
    /// The state the network keeps for all its nodes.
    pub shared: &'a mut S,
    outbox: &'a mut Vec<(PeerId, Packet)>,
}

impl<S> Context<'_, S> {
    /// Sends `packet` to `to` once the call returns.
    pub fn send(&mut self, to: PeerId, packet: Packet) {
        self.outbox.push((to, packet));
    }
}

/// A participant of a [`Network`].
pub trait Node {
    /// State the network keeps once for all its nodes and lends to every call: settings,
    /// checks across peers, counters.
    type Shared;
    /// Why a call failed. It stops the network operation that made the call (what the node
    /// had put in its outbox is still sent).
    type Error;

    /// The node's identity: messages are addressed to it.
    fn id(&self) -> PeerId;

    /// Whether messages to it are delivered. A message to a node that does not receive
    /// (crashed, silent, not started) is counted undeliverable and dropped.
    fn receives(&self) -> bool;

    /// Starts a sync with `to`. Returns whether the node did anything, in which case the
    /// network then delivers what is due.
    fn gossip(
        &mut self,
        to: PeerId,
        ctx: &mut Context<'_, Self::Shared>,
    ) -> Result<bool, Self::Error>;

    /// Handles `packet` from `from`.
    fn receive(
        &mut self,
        from: PeerId,
        packet: Packet,
        ctx: &mut Context<'_, Self::Shared>,
    ) -> Result<(), Self::Error>;
}

/// Nodes, links and a clock (see the module docs). The default node type is the honest
/// [`HonestPeer`].
pub struct Network<N: Node = HonestPeer> {
    nodes: Vec<N>,
    ids: Vec<PeerId>,
    index_of: BTreeMap<PeerId, usize>,
    links: Links<Packet>,
    shared: N::Shared,
    traffic: Vec<Traffic>,
    undeliverable: u64,
    now: u64,
    seed: u64,
    /// Kept between calls so that its capacity is reused.
    outbox: Vec<(PeerId, Packet)>,
}

impl<N: Node> fmt::Debug for Network<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("peers", &self.nodes.len())
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("in_flight", &self.links.in_flight())
            .field("links", &self.links.counts())
            .field("undeliverable", &self.undeliverable)
            .finish_non_exhaustive()
    }
}

impl<N: Node> Network<N> {
    /// A network of `nodes` (numbered in order) sharing `shared`, whose links behave as
    /// `conditions` and draw from stream [`LINKS_STREAM`] of `seed`. The clock starts at
    /// 0; nothing is in flight.
    pub fn from_nodes(
        nodes: Vec<N>,
        shared: N::Shared,
        seed: u64,
        conditions: NetworkConditions,
    ) -> Self {
        let ids: Vec<PeerId> = nodes.iter().map(Node::id).collect();
        let index_of = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(LINKS_STREAM);
        Network {
            traffic: vec![Traffic::default(); nodes.len()],
            nodes,
            ids,
            index_of,
            links: Links::new(conditions, rng),
            shared,
            undeliverable: 0,
            now: 0,
            seed,
            outbox: Vec::new(),
        }
    }

    /// The seed this network was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The number of peers.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the network has no peers.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The identity of every peer, by number.
    pub fn ids(&self) -> &[PeerId] {
        &self.ids
    }

    /// The identity of the peer at `peer`.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn peer_id(&self, peer: usize) -> PeerId {
        self.ids[peer]
    }

    /// The number of the peer with identity `id`, if it is in this network.
    pub fn index_of(&self, id: &PeerId) -> Option<usize> {
        self.index_of.get(id).copied()
    }

    /// The node at `peer`.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn node(&self, peer: usize) -> &N {
        &self.nodes[peer]
    }

    /// The node at `peer`, mutably (what it sends from here on its own is not seen by the
    /// network: use [`Network::call`] for inputs).
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn node_mut(&mut self, peer: usize) -> &mut N {
        &mut self.nodes[peer]
    }

    /// Every node, by number.
    pub fn nodes(&self) -> &[N] {
        &self.nodes
    }

    /// The shared state.
    pub fn shared(&self) -> &N::Shared {
        &self.shared
    }

    /// The shared state, mutably.
    pub fn shared_mut(&mut self) -> &mut N::Shared {
        &mut self.shared
    }

    /// Every node and the shared state at once, mutably.
    pub fn parts_mut(&mut self) -> (&mut [N], &mut N::Shared) {
        (&mut self.nodes, &mut self.shared)
    }

    /// What the peer at `peer` sent and received.
    ///
    /// # Panics
    /// If `peer >= len()`.
    pub fn traffic(&self, peer: usize) -> Traffic {
        self.traffic[peer]
    }

    /// Messages sent to a peer that does not receive.
    pub fn undeliverable(&self) -> u64 {
        self.undeliverable
    }

    /// The links.
    pub fn links(&self) -> &Links<Packet> {
        &self.links
    }

    /// The links, mutably (conditions, partitions).
    pub fn links_mut(&mut self) -> &mut Links<Packet> {
        &mut self.links
    }

    /// Splits the network: `groups` by peer number, every other peer alone.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.links.partition(self.nodes.len(), groups);
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        self.links.heal();
    }

    /// The clock.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Sets the clock (the driver's step number); nothing is delivered.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Moves the clock on by one step and delivers what became due.
    pub fn advance(&mut self) -> Result<(), N::Error> {
        self.now += 1;
        self.deliver_due()
    }

    /// Calls `input` on the node at `peer` and then sends what it put in its outbox
    /// (see the module docs). Delivers nothing. `None` if there is no such peer.
    pub fn call<R>(
        &mut self,
        peer: usize,
        input: impl FnOnce(&mut N, &mut Context<'_, N::Shared>) -> R,
    ) -> Option<R> {
        let node = self.nodes.get_mut(peer)?;
        let mut outbox = std::mem::take(&mut self.outbox);
        let result = input(
            node,
            &mut Context {
                peer,
                now: self.now,
                shared: &mut self.shared,
                outbox: &mut outbox,
            },
        );
        self.send_all(peer, &mut outbox);
        self.outbox = outbox;
        Some(result)
    }

    /// Has the peer at `from` start a sync with the peer at `to` ([`Node::gossip`]) and,
    /// if it did, delivers what is due. Returns whether it did; `Ok(false)` if either peer
    /// does not exist.
    pub fn gossip(&mut self, from: usize, to: usize) -> Result<bool, N::Error> {
        let Some(&to_id) = self.ids.get(to) else {
            return Ok(false);
        };
        match self.call(from, |node, ctx| node.gossip(to_id, ctx)) {
            Some(Ok(true)) => self.deliver_due().map(|()| true),
            Some(result) => result,
            None => Ok(false),
        }
    }

    /// Delivers every message due by now, the replies they cause included, in order (see
    /// the module docs).
    pub fn deliver_due(&mut self) -> Result<(), N::Error> {
        while let Some(envelope) = self.links.next_due(self.now) {
            let (from, to) = (envelope.from, envelope.to);
            let from_id = self.ids[from];
            let Some(node) = self.nodes.get(to) else {
                continue;
            };
            if !node.receives() {
                self.undeliverable += 1;
                continue;
            }
            self.traffic[to].messages_received += 1;
            let packet = envelope.message;
            if let Some(result) = self.call(to, |node, ctx| node.receive(from_id, packet, ctx)) {
                result?;
            }
        }
        Ok(())
    }

    /// Sends `outbox` from `from`, emptying it.
    fn send_all(&mut self, from: usize, outbox: &mut Vec<(PeerId, Packet)>) {
        for (to, packet) in outbox.drain(..) {
            let Some(&to) = self.index_of.get(&to) else {
                continue;
            };
            let traffic = &mut self.traffic[from];
            traffic.messages_sent += 1;
            traffic.bytes_sent += packet.byte_len() as u64;
            self.links.send(self.now, from, to, packet);
        }
    }
}
