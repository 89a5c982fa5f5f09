//! `parsec-net-libp2p`: the libp2p network adapter of parsec-rs, a
//! [`Transport`] over TCP with noise and yamux.
//!
//! Sits beside `parsec-store-rocksdb`, above `parsec-core`; `parsec-node` drives it.
//!
//! * **Sync** over libp2p request-response (`/parsec/sync/1`): a sync request is a
//!   request, the engine's response to it its response (matched by the request's id while
//!   it is open, with a timeout), and the chunks of a large sync travel in the same frame
//!   as the message that ends it.
//! * **Broadcast** over gossipsub (one topic, signed messages, strict validation): what
//!   every member should receive, such as client transactions in `Supermajority` mode.
//! * **One identity**: the member's ed25519 consensus key is its libp2p key, so a
//!   connection's authenticated libp2p id *is* the consensus id; a key outside the member
//!   set is refused when its connection is established, and reported.
//! * **Bounded**: a bounded command queue (sending waits when it is full), a bounded
//!   outbox per member (a few requests in flight, the oldest dropped past the bound), a
//!   bounded incoming queue with a budget of bytes and slots per member (what passes it
//!   is dropped and reported), at most two connections per member and a few streams per
//!   connection; frames are read within the wire limits without a second copy, and
//!   whatever fails to decode is a reported [`TransportFault`],
//!   never a panic.
//! * **Reconnection**: members are redialled with exponential back-off while not
//!   connected, at the addresses configured and those they announce through identify.
//!
//! Two members on loopback exchanging a sync message:
//!
//! ```
//! use parsec_core::{Incoming, PeerSet, SecretKey, Transport, WireMessage};
//! use parsec_net_libp2p::{Libp2pConfig, Libp2pTransport};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
//! # runtime.block_on(async {
//! let alice = SecretKey::from_seed([1; 32]);
//! let bob = SecretKey::from_seed([2; 32]);
//! let members: PeerSet = [alice.peer_id(), bob.peer_id()].into_iter().collect();
//! let mut a = Libp2pTransport::<String>::start(Libp2pConfig::new(alice.clone(), members.clone())).await?;
//! // Bob knows where Alice listens (port 0 chose a free port); she learns his address
//! // when he connects.
//! let mut config = Libp2pConfig::new(bob.clone(), members);
//! config.addresses.insert(alice.peer_id(), a.listen_addrs().to_vec());
//! let mut b = Libp2pTransport::<String>::start(config).await?;
//! b.send(alice.peer_id(), WireMessage::Request { events: Vec::new() }).await?;
//! loop {
//!     if let Incoming::Message { from, message } = a.next_incoming().await? {
//!         assert_eq!(from, bob.peer_id());
//!         assert_eq!(message, WireMessage::Request { events: Vec::new() });
//!         break;
//!     }
//! }
//! a.shutdown().await;
//! b.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! Plugged into an engine: a driver holds it as a `Box<dyn Transport<T>>` (the trait is
//! object safe; your own transport fits the same place) and runs the loop of
//! [`parsec_core::transport`]: gossip on a timer, persist each step, then send.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use parsec_core::{Config, ConsensusMode, Incoming, MemStore, Parsec, SecretKey, Store, Transport};
//! use parsec_net_libp2p::{Libp2pConfig, Libp2pTransport};
//!
//! # async fn run(key: SecretKey, members: parsec_core::PeerSet) -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new(members.clone(), ConsensusMode::Supermajority);
//! let (mut engine, first) = Parsec::<String, _>::new(key.clone(), config)?;
//! let store = MemStore::new(); // or parsec-store-rocksdb's RocksStore
//! store.apply(first.persist).await?;
//! let mut transport: Box<dyn Transport<String>> =
//!     Box::new(Libp2pTransport::start(Libp2pConfig::new(key, members)).await?);
//! let mut gossip = tokio::time::interval(Duration::from_millis(20));
//! let mut turn = 0;
//! loop {
//!     let step = tokio::select! {
//!         incoming = transport.next_incoming() => match incoming? {
//!             Incoming::Message { from, message } => engine.handle_message(from, message)?,
//!             _ => continue,
//!         },
//!         _ = gossip.tick() => {
//!             let peers = engine.gossip_recipients();
//!             if peers.is_empty() { continue; }
//!             turn += 1;
//!             engine.create_gossip(peers[turn % peers.len()])?
//!         }
//!     };
//!     store.apply(step.persist).await?; // durable before anything is sent
//!     for out in step.send {
//!         transport.send(out.to, out.message).await?;
//!     }
//!     for block in step.blocks {
//!         println!("block {}: {:?}", block.sequence, block.payload);
//!     }
//! }
//! # }
//! ```
//!
//! (`parsec_sim::drive` is the complete loop: catch-up from the store, readmitted parents,
//! member changes.)

#![forbid(unsafe_code)]

mod frame;
mod identity;
mod members;
mod outbox;
mod shared;
mod swarm;

use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use libp2p::Multiaddr;
use parsec_core::{
    EventHash, Incoming, Payload, PeerId, PeerSet, SecretKey, Transport, TransportError,
    TransportFault, TransportFaultKind, WireError, WireLimits, WireMessage, wire,
};
use parsec_graph::Cause;
use tokio::sync::{mpsc, oneshot};

/// Requests remembered for pairing the engine's answers with them (the task holds at
/// most `open_requests_per_peer` per member open; older ones are answered empty anyway).
const ASKED_REMEMBERED: usize = 1024;

pub use frame::{Frame, SYNC_PROTOCOL};
pub use identity::{from_libp2p, keypair, to_libp2p};

use shared::Shared;
use swarm::{Command, Event};

/// How a [`Libp2pTransport`] runs. Every field has a working default but the key and the
/// members ([`Libp2pConfig::new`]).
#[derive(Clone, Debug)]
pub struct Libp2pConfig {
    /// Our consensus key, which is also our libp2p identity.
    pub key: SecretKey,
    /// The members: the only keys let through.
    pub members: PeerSet,
    /// Where members can be dialled (bootstrap addresses); more are learnt through
    /// identify. Default: none (we wait to be dialled).
    pub addresses: BTreeMap<PeerId, Vec<Multiaddr>>,
    /// Where we listen. Default: `/ip4/127.0.0.1/tcp/0` (loopback, a free port).
    pub listen: Vec<Multiaddr>,
    /// What received messages are decoded within. Default: [`WireLimits::default`].
    pub limits: WireLimits,
    /// How long a request waits for its response (and an open request for the engine's
    /// answer). Default: 10 s.
    pub request_timeout: Duration,
    /// Bound of the command queue and of the incoming queue, in items. Default: 1024.
    pub queue: usize,
    /// Bytes of one member's messages waiting in the incoming queue before more of its
    /// messages are dropped (so that one member cannot fill our memory, nor crowd the
    /// others out). Default: 64 MiB.
    pub incoming_bytes_per_peer: usize,
    /// The largest broadcast sent or accepted (gossipsub keeps recent ones for a few
    /// heartbeats). Default: 1 MiB.
    pub max_broadcast_bytes: usize,
    /// Open requests held per peer awaiting the engine's answer, and the streams a
    /// connection may have open at once: with two connections per peer, a member can
    /// make us hold at most `4 * open_requests_per_peer` frames being read or answered.
    /// Default: 8.
    pub open_requests_per_peer: usize,
    /// The first redial delay after a failed dial or a lost connection. Default: 100 ms.
    pub redial_min: Duration,
    /// The longest redial delay. Default: 10 s.
    pub redial_max: Duration,
    /// The gossipsub topic of broadcasts (name the network in it, so that two groups
    /// never mix). Default: `parsec/broadcast`.
    pub topic: String,
}

impl Libp2pConfig {
    /// The defaults, for `key` among `members`.
    pub fn new(key: SecretKey, members: PeerSet) -> Self {
        Libp2pConfig {
            key,
            members,
            addresses: BTreeMap::new(),
            listen: vec![loopback()],
            limits: WireLimits::default(),
            request_timeout: Duration::from_secs(10),
            queue: 1024,
            incoming_bytes_per_peer: 64 << 20,
            max_broadcast_bytes: 1 << 20,
            open_requests_per_peer: 8,
            redial_min: Duration::from_millis(100),
            redial_max: Duration::from_secs(10),
            topic: "parsec/broadcast".to_string(),
        }
    }

    /// The longest frame: one message at the limit, with room for its length and flag.
    pub fn frame_limit(&self) -> usize {
        self.limits.max_message_bytes.saturating_add(64)
    }

    fn validate(&self) -> Result<(), TransportError> {
        self.limits.validate()?;
        if self.queue == 0
            || self.open_requests_per_peer == 0
            || self.incoming_bytes_per_peer < self.frame_limit()
            || self.max_broadcast_bytes == 0
        {
            return Err(TransportError::Setup(
                "queue, open_requests_per_peer and max_broadcast_bytes must be at least 1, \
                 incoming_bytes_per_peer at least one frame"
                    .to_string(),
            ));
        }
        if self.listen.is_empty() {
            return Err(TransportError::Setup("no listen address".to_string()));
        }
        let day = Duration::from_secs(86_400);
        if self.request_timeout.is_zero()
            || self.request_timeout > day
            || self.redial_min.is_zero()
            || self.redial_max < self.redial_min
            || self.redial_max > day
        {
            return Err(TransportError::Setup(
                "request_timeout and redial_min must be positive, redial_max at least \
                 redial_min, and none over a day"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

/// `/ip4/127.0.0.1/tcp/0`.
fn loopback() -> Multiaddr {
    Multiaddr::from(std::net::Ipv4Addr::LOCALHOST).with(libp2p::multiaddr::Protocol::Tcp(0))
}

/// The libp2p [`Transport`] (crate docs). Its network task runs on the tokio runtime it
/// was started on until [`Libp2pTransport::shutdown`] or until it is dropped.
pub struct Libp2pTransport<T> {
    us: PeerId,
    members: PeerSet,
    limits: WireLimits,
    frame_limit: usize,
    max_broadcast_bytes: usize,
    listening: Vec<Multiaddr>,
    commands: mpsc::Sender<Command>,
    incoming: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    /// Chunks of a sync waiting for the message that ends it, and their recipient.
    chunks: Option<(PeerId, Frame)>,
    /// Requests delivered that wait for the engine's answer: who asked, the request's
    /// last event (the answer's last event names it), and the open request's id.
    asked: VecDeque<(PeerId, EventHash, u64)>,
    task: Option<tokio::task::JoinHandle<()>>,
    _payload: PhantomData<fn() -> T>,
}

impl<T> Libp2pTransport<T> {
    /// Builds the swarm, listens, and starts the network task on the current tokio
    /// runtime. Returns once it listens on every address (see
    /// [`Libp2pTransport::listen_addrs`]); an address in use is a
    /// [`TransportError::Setup`].
    pub async fn start(config: Libp2pConfig) -> Result<Self, TransportError> {
        config.validate()?;
        let (commands, command_rx) = mpsc::channel(config.queue);
        let (events, incoming) = mpsc::channel(config.queue);
        let shared = Arc::new(Shared::default());
        let us = config.key.peer_id();
        let members = config.members.clone();
        let limits = config.limits;
        let frame_limit = config.frame_limit();
        let max_broadcast_bytes = config.max_broadcast_bytes;
        let (task, listening) = swarm::start(config, events, shared.clone()).await?;
        let task = tokio::spawn(task.run(command_rx));
        Ok(Libp2pTransport {
            us,
            members,
            limits,
            frame_limit,
            max_broadcast_bytes,
            listening,
            commands,
            incoming,
            shared,
            chunks: None,
            asked: VecDeque::new(),
            task: Some(task),
            _payload: PhantomData,
        })
    }

    /// The addresses we listen on (with the ports chosen for port 0).
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listening
    }

    /// Our consensus id.
    pub fn our_id(&self) -> &PeerId {
        &self.us
    }

    /// Stops the network task and waits until its connections and listeners are closed
    /// (the port is free again).
    pub async fn shutdown(mut self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Sends `bytes` to `to` as one message, unchecked: how tests send garbage. The
    /// recipient decodes (or refuses) them as it would any message.
    pub async fn send_raw(&mut self, to: PeerId, bytes: Vec<u8>) -> Result<(), TransportError> {
        self.flush_chunks().await?;
        let frame = Frame {
            asks: false,
            messages: vec![bytes],
        };
        self.command(Command::Request { to, frame }).await
    }

    async fn command(&self, command: Command) -> Result<(), TransportError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| TransportError::Closed)
    }

    /// Sends chunks still waiting on their own.
    async fn flush_chunks(&mut self) -> Result<(), TransportError> {
        if let Some((to, frame)) = self.chunks.take() {
            self.command(Command::Request { to, frame }).await?;
        }
        Ok(())
    }
}

impl<T> Drop for Libp2pTransport<T> {
    fn drop(&mut self) {
        // Dropping the command queue ends the task; abort in case it is blocked.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[async_trait::async_trait]
impl<T: Payload + Send + Sync> Transport<T> for Libp2pTransport<T> {
    async fn send(&mut self, to: PeerId, message: WireMessage<T>) -> Result<(), TransportError> {
        if !self.members.contains(&to) || to == self.us {
            return Err(TransportError::NotMember(to));
        }
        let bytes = wire::encode(&message, &self.limits)?;
        if self.chunks.as_ref().is_some_and(|(chunk_to, frame)| {
            *chunk_to != to
                || frame.messages.len() == frame::MAX_FRAME_MESSAGES
                || frame.len() + frame::LENGTH_BYTES + bytes.len() > self.frame_limit
        }) {
            self.flush_chunks().await?;
        }
        let (_, frame) = self.chunks.get_or_insert_with(|| (to, Frame::default()));
        frame.messages.push(bytes);
        match message {
            WireMessage::Events { .. } => Ok(()),
            WireMessage::Request { .. } => {
                let Some((to, mut frame)) = self.chunks.take() else {
                    return Ok(());
                };
                frame.asks = true;
                self.command(Command::Request { to, frame }).await
            }
            WireMessage::Response { events } => {
                let Some((to, frame)) = self.chunks.take() else {
                    return Ok(());
                };
                // The answer's last event records the request it answers (its other
                // parent is the request's last event): the open request it goes to.
                let answers = match events.last().map(|event| &event.content.cause) {
                    Some(Cause::Request { other_parent, .. }) => self
                        .asked
                        .iter()
                        .position(|(peer, hash, _)| *peer == to && hash == other_parent)
                        .and_then(|at| self.asked.remove(at))
                        .map(|(_, _, open)| open),
                    _ => None,
                };
                self.command(Command::Respond { to, frame, answers }).await
            }
        }
    }

    async fn broadcast(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        if data.len() > self.max_broadcast_bytes {
            return Err(TransportError::Encode(WireError::TooLarge {
                size: data.len(),
                limit: self.max_broadcast_bytes,
            }));
        }
        self.command(Command::Broadcast { data }).await
    }

    async fn next_incoming(&mut self) -> Result<Incoming<T>, TransportError> {
        // Chunks whose closing message never came go on their own (without waiting, so
        // that this stays cancel safe: a full queue keeps them for the next call).
        if let Some((to, frame)) = self.chunks.take()
            && let Err(error) = self.commands.try_send(Command::Request { to, frame })
        {
            match error {
                mpsc::error::TrySendError::Full(Command::Request { to, frame }) => {
                    self.chunks = Some((to, frame));
                }
                _ => return Err(TransportError::Closed),
            }
        }
        if self.shared.overloaded.swap(0, Ordering::Relaxed) > 0 {
            return Ok(Incoming::Dropped(TransportFault {
                peer: None,
                kind: TransportFaultKind::Overloaded,
            }));
        }
        let Some(event) = self.incoming.recv().await else {
            return Err(TransportError::Closed);
        };
        let refused = |from: PeerId| {
            Incoming::Dropped(TransportFault {
                peer: Some(from),
                kind: TransportFaultKind::NotMember,
            })
        };
        Ok(match event {
            Event::Message { from, bytes, opens } => {
                self.shared.taken(&from, bytes.len());
                if !self.members.contains(&from) {
                    // Queued before the member set changed.
                    return Ok(refused(from));
                }
                let incoming = Incoming::decode(from, &bytes, &self.limits);
                if let (Some(open), Incoming::Message { message, .. }) = (opens, &incoming)
                    && let WireMessage::Request { events } = message
                    && let Some(Ok(last)) = events.last().map(|event| event.hash())
                {
                    if self.asked.len() == ASKED_REMEMBERED {
                        self.asked.pop_front();
                    }
                    self.asked.push_back((from, last, open));
                }
                incoming
            }
            Event::Broadcast { from, data } => {
                self.shared.taken(&from, data.len());
                if !self.members.contains(&from) {
                    return Ok(refused(from));
                }
                Incoming::Broadcast { from, data }
            }
            Event::Connected(peer) => Incoming::Connected(peer),
            Event::Disconnected(peer) => Incoming::Disconnected(peer),
            Event::Dropped(fault) => Incoming::Dropped(fault),
        })
    }

    fn connected(&self) -> Vec<PeerId> {
        self.shared.connected().iter().copied().collect()
    }

    async fn set_members(&mut self, members: PeerSet) -> Result<(), TransportError> {
        self.members = members.clone();
        self.command(Command::Members(members)).await
    }
}
