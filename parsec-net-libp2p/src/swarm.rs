//! The network task: one libp2p `Swarm` on tokio, driven by commands from the
//! [`Libp2pTransport`](crate::Libp2pTransport) handle, handing it what arrives.
//!
//! # How it works
//!
//! * A sync request is a request-response request; the engine's answer to it travels as
//!   its response when the request is still open (the handle pairs an answer with the
//!   request it answers by the request's last event, which the answer's last event names;
//!   the open ones are kept per peer, oldest
//!   first, and answered empty once they are three quarters of the request timeout old,
//!   which the requester reports as a timeout), or as a request of its own otherwise. A frame that does not end in a sync request is
//!   answered at once with an empty frame.
//! * Only members get through: the connection limits refuse any other key when its
//!   connection is established (and reported), and every frame's sender is checked again.
//! * Members are redialled with exponential back-off while they are not connected, at the
//!   addresses configured and those they announced through identify.
//! * What arrives goes to the handle through a bounded queue, each member within its own
//!   budget of bytes and slots; past it the messages are dropped and counted (the engine
//!   resends), so a slow driver never makes the swarm buffer without limit and one member
//!   never crowds out the others.
//! * Our requests to a member go through its outbox: a few in flight (a connection's
//!   stream slots are shared with the member's requests to us), the rest queued in order
//!   up to a bound (then the oldest is dropped and reported).
//! * Broadcasts are forwarded only after we checked a member signed them; refusals of
//!   outsiders are reported at most once per key every few seconds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, ValidationMode};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, Swarm, connection_limits, identify, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, warn};

use parsec_core::{PeerId, PeerSet, TransportError, TransportFault, TransportFaultKind};

use crate::Libp2pConfig;
use crate::frame::{Frame, FrameCodec, FrameTooLarge, SYNC_PROTOCOL};
use crate::identity::{from_libp2p, keypair, to_libp2p};
use crate::members::MemberGate;
use crate::outbox::{MAX_IN_FLIGHT, Outbox};
use crate::shared::Shared;

/// What the handle asks of the task.
pub(crate) enum Command {
    /// A frame that ends in a sync request (or carries no answer): a new request.
    Request { to: PeerId, frame: Frame },
    /// A frame that ends in a sync response: the answer to `to`'s open request `answers`
    /// (the one it answers, as the handle paired them), else to its oldest open request,
    /// else a new request.
    Respond {
        to: PeerId,
        frame: Frame,
        answers: Option<u64>,
    },
    /// Bytes for every member over gossipsub.
    Broadcast { data: Vec<u8> },
    /// A new member set.
    Members(PeerSet),
    /// Stop, then say so.
    Shutdown(oneshot::Sender<()>),
}

/// What the task hands the handle.
pub(crate) enum Event {
    /// An encoded message from a member; the last of a frame that asks for an answer
    /// carries the id of the open request an answer would go to.
    Message {
        from: PeerId,
        bytes: Vec<u8>,
        opens: Option<u64>,
    },
    Broadcast {
        from: PeerId,
        data: Vec<u8>,
    },
    Connected(PeerId),
    Disconnected(PeerId),
    Dropped(TransportFault),
}

/// Addresses kept per member, configured and announced (identify) together.
const ADDRESSES_PER_MEMBER: usize = 8;

/// How often one refused key is reported.
const REPORT_REFUSALS_EVERY: Duration = Duration::from_secs(10);

/// Refused keys remembered for throttling; past it, refusals go unreported until the
/// oldest age out.
const REFUSALS_REMEMBERED: usize = 256;

/// Handshakes in progress we accept at once (a bound on what a flood of outsiders costs;
/// members dial us too, so it is well above any group's size).
const PENDING_INCOMING: u32 = 256;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    limits: connection_limits::Behaviour,
    gate: MemberGate,
    sync: request_response::Behaviour<FrameCodec>,
    gossip: gossipsub::Behaviour,
    identify: identify::Behaviour,
}

/// A member's dialling state.
struct Dial {
    addresses: Vec<Multiaddr>,
    next: Instant,
    backoff: Duration,
}

pub(crate) struct Task {
    swarm: Swarm<Behaviour>,
    config: Libp2pConfig,
    topic: IdentTopic,
    members: PeerSet,
    dials: BTreeMap<libp2p::PeerId, Dial>,
    open: BTreeMap<libp2p::PeerId, VecDeque<(u64, ResponseChannel<Frame>, Instant)>>,
    /// The id the next open request gets.
    next_open: u64,
    /// Our requests in flight: to whom, and whether we asked for an answer.
    pending: BTreeMap<OutboundRequestId, (PeerId, bool)>,
    outbox: Outbox,
    /// When each refused key was last reported (refusals are reported at most once per
    /// key per [`REPORT_REFUSALS_EVERY`], so that an outsider's reconnect loop cannot
    /// crowd the incoming queue).
    refusals: BTreeMap<libp2p::PeerId, Instant>,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
}

/// Builds the swarm and starts listening; returns the task and the addresses it listens on.
pub(crate) async fn start(
    config: Libp2pConfig,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
) -> Result<(Task, Vec<Multiaddr>), TransportError> {
    let keys = keypair(&config.key);
    let setup = |error: &dyn std::fmt::Display| TransportError::Setup(error.to_string());
    let frame_limit = config.frame_limit();
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .max_transmit_size(config.max_broadcast_bytes.saturating_add(1024))
        .heartbeat_interval(Duration::from_millis(500))
        // Forward a broadcast only once we checked that a member signed it.
        .validate_messages()
        // What we hold for a member that stops reading: a bounded number of broadcasts.
        .connection_handler_queue_len(256)
        .build()
        .map_err(|e| setup(&e))?;
    let request_timeout = config.request_timeout;
    let streams = config.open_requests_per_peer;
    let members = config.members.clone();
    // Two connections per peer (both dialled at once is normal), and a bound on
    // handshakes in progress, which is what a flood of outsiders costs us.
    let connection_limits = connection_limits::ConnectionLimits::default()
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(PENDING_INCOMING));
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keys)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_behaviour(|keys| {
            let sync = request_response::Behaviour::with_codec(
                FrameCodec { limit: frame_limit },
                [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(request_timeout)
                    .with_max_concurrent_streams(streams + MAX_IN_FLIGHT),
            );
            let gossip = gossipsub::Behaviour::new(
                MessageAuthenticity::Signed(keys.clone()),
                gossip_config,
            )?;
            let identify = identify::Behaviour::new(identify::Config::new(
                "/parsec/1.0.0".to_string(),
                keys.public(),
            ));
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(connection_limits),
                gate: MemberGate::new(&members),
                sync,
                gossip,
                identify,
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    let topic = IdentTopic::new(config.topic.clone());
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&topic)
        .map_err(|e| setup(&e))?;
    for address in &config.listen {
        swarm
            .listen_on(address.clone())
            .map_err(|e| TransportError::Setup(format!("cannot listen on {address}: {e}")))?;
    }
    let mut listening = Vec::new();
    while listening.len() < config.listen.len() {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => listening.push(address),
            SwarmEvent::ListenerError { error, .. } => return Err(setup(&error)),
            SwarmEvent::ListenerClosed {
                reason, addresses, ..
            } => {
                return Err(TransportError::Setup(format!(
                    "listener on {addresses:?} closed: {reason:?}"
                )));
            }
            _ => {}
        }
    }
    let mut task = Task {
        swarm,
        topic,
        members: PeerSet::default(),
        dials: BTreeMap::new(),
        open: BTreeMap::new(),
        next_open: 0,
        pending: BTreeMap::new(),
        outbox: Outbox::default(),
        refusals: BTreeMap::new(),
        events,
        shared,
        config,
    };
    task.set_members(task.config.members.clone());
    Ok((task, listening))
}

impl Task {
    /// Runs until shut down or until the handle is dropped.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick =
            tokio::time::interval(self.config.redial_min.min(Duration::from_millis(250)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown(done)) => {
                        drop(self.swarm);
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.command(command),
                },
                event = self.swarm.select_next_some() => self.swarm_event(event),
                _ = tick.tick() => self.tick(),
            }
        }
    }

    fn set_members(&mut self, members: PeerSet) {
        let us = self.config.key.peer_id();
        let mut ids = BTreeSet::new();
        for member in members.iter().filter(|m| **m != us) {
            let Some(id) = to_libp2p(member) else {
                warn!(
                    ?member,
                    "a member's key is not an ed25519 point: it cannot connect"
                );
                continue;
            };
            ids.insert(id);
            let addresses = self
                .config
                .addresses
                .get(member)
                .cloned()
                .unwrap_or_default();
            for address in &addresses {
                self.swarm.add_peer_address(id, address.clone());
            }
            self.dials.entry(id).or_insert(Dial {
                addresses,
                next: Instant::now(),
                backoff: self.config.redial_min,
            });
        }
        self.dials.retain(|id, _| ids.contains(id));
        self.outbox.retain(|peer| members.contains(peer));
        let gone: Vec<PeerId> = self
            .shared
            .connected()
            .iter()
            .filter(|peer| !members.contains(peer))
            .copied()
            .collect();
        for peer in gone {
            self.shared.connected().remove(&peer);
            self.emit(Event::Disconnected(peer));
        }
        self.swarm.behaviour_mut().gate.set(ids.clone());
        let leaving: Vec<libp2p::PeerId> = self
            .swarm
            .connected_peers()
            .filter(|peer| !ids.contains(peer))
            .copied()
            .collect();
        for peer in leaving {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        self.members = members;
    }

    fn member(&self, peer: &libp2p::PeerId) -> Option<PeerId> {
        from_libp2p(peer).filter(|id| self.members.contains(id) && *id != self.config.key.peer_id())
    }

    fn emit(&self, event: Event) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.overloaded.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn fault(&self, peer: Option<PeerId>, kind: TransportFaultKind) {
        debug!(?peer, %kind, "transport fault");
        self.emit(Event::Dropped(TransportFault { peer, kind }));
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Request { to, frame } => self.request(to, frame),
            Command::Respond { to, frame, answers } => {
                let Some(id) = to_libp2p(&to) else { return };
                let open = self.open.get_mut(&id).and_then(|queue| {
                    let at = answers
                        .and_then(|wanted| queue.iter().position(|(open, _, _)| *open == wanted))
                        .unwrap_or(0);
                    queue.remove(at)
                });
                match open {
                    Some((_, channel, _)) => {
                        if let Err(frame) = self
                            .swarm
                            .behaviour_mut()
                            .sync
                            .send_response(channel, frame)
                        {
                            // The request's stream closed meanwhile: send it as a request.
                            self.request(to, frame);
                        }
                    }
                    None => self.request(to, frame),
                }
            }
            Command::Broadcast { data } => {
                let topic = self.topic.clone();
                if let Err(error) = self.swarm.behaviour_mut().gossip.publish(topic, data) {
                    // No member subscribed yet, or a duplicate: a broadcast is best effort.
                    debug!(%error, "broadcast not published");
                }
            }
            Command::Members(members) => self.set_members(members),
            Command::Shutdown(_) => {}
        }
    }

    fn request(&mut self, to: PeerId, frame: Frame) {
        let Some(id) = to_libp2p(&to) else {
            self.fault(
                Some(to),
                TransportFaultKind::Undelivered {
                    reason: "not an ed25519 key".to_string(),
                },
            );
            return;
        };
        if self.outbox.push(to, frame).is_some() {
            self.fault(
                Some(to),
                TransportFaultKind::Undelivered {
                    reason: "too many requests queued for the member".to_string(),
                },
            );
        }
        self.pump(to, id);
    }

    /// Sends what the outbox lets go to `to`.
    fn pump(&mut self, to: PeerId, id: libp2p::PeerId) {
        for frame in self.outbox.ready(&to) {
            let asks = frame.asks;
            let request = self.swarm.behaviour_mut().sync.send_request(&id, frame);
            self.pending.insert(request, (to, asks));
        }
    }

    /// One of our requests to `to` ended: the next may go.
    fn request_done(&mut self, to: PeerId) {
        self.outbox.done(&to);
        if let Some(id) = to_libp2p(&to) {
            self.pump(to, id);
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        // Open requests the engine never answered: answer them empty before the
        // requester's own timeout, so that it learns at once and the stream is released.
        let timeout = self.config.request_timeout * 3 / 4;
        let mut expired = Vec::new();
        for queue in self.open.values_mut() {
            while queue
                .front()
                .is_some_and(|(_, _, at)| now.duration_since(*at) >= timeout)
            {
                if let Some((_, channel, _)) = queue.pop_front() {
                    expired.push(channel);
                }
            }
        }
        self.open.retain(|_, queue| !queue.is_empty());
        for channel in expired {
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, Frame::default());
        }
        let connected: Vec<libp2p::PeerId> = self.swarm.connected_peers().copied().collect();
        let max = self.config.redial_max;
        for (id, dial) in &mut self.dials {
            if connected.contains(id) || dial.addresses.is_empty() || dial.next > now {
                continue;
            }
            let opts = DialOpts::peer_id(*id)
                .addresses(dial.addresses.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(opts) {
                debug!(peer = %id, %error, "dial refused");
            }
            dial.next = now.checked_add(dial.backoff).unwrap_or(now);
            dial.backoff = dial.backoff.saturating_mul(2).min(max);
        }
    }

    fn frame_in(&mut self, from: PeerId, frame: Frame, opens: Option<u64>) {
        let last = frame.messages.len().saturating_sub(1);
        for (i, bytes) in frame.messages.into_iter().enumerate() {
            let opens = opens.filter(|_| i == last);
            self.emit_from(from, bytes.len(), Event::Message { from, bytes, opens });
        }
    }

    /// Queues what `from` sent within its byte budget; past it, drops and counts it.
    fn emit_from(&self, from: PeerId, bytes: usize, event: Event) {
        // Each member may fill its share of the queue's slots, never all of them.
        let others = self.members.len().saturating_sub(1).max(1);
        let items = (self.config.queue / others).max(8);
        if !self
            .shared
            .reserve(&from, bytes, self.config.incoming_bytes_per_peer, items)
        {
            self.shared.overloaded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Err(error) = self.events.try_send(event) {
            self.shared.taken(&from, bytes);
            if matches!(error, mpsc::error::TrySendError::Full(_)) {
                self.shared.overloaded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let source = message.source;
                let member = source.as_ref().and_then(|s| self.member(s));
                let verdict = match member {
                    Some(_) => MessageAcceptance::Accept,
                    None => MessageAcceptance::Reject,
                };
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
                match member {
                    Some(from) => {
                        let bytes = message.data.len();
                        self.emit_from(
                            from,
                            bytes,
                            Event::Broadcast {
                                from,
                                data: message.data,
                            },
                        );
                    }
                    None => self.fault(
                        source.as_ref().and_then(from_libp2p),
                        TransportFaultKind::NotMember,
                    ),
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                if let Some(member) = self.member(&peer_id)
                    && let Some(dial) = self.dials.get_mut(&peer_id)
                {
                    // The configured addresses first, then what it announces now (a
                    // member that moved is found at its new address); a member
                    // announcing many addresses makes us dial only a few.
                    let mut addresses = self
                        .config
                        .addresses
                        .get(&member)
                        .cloned()
                        .unwrap_or_default();
                    for address in info.listen_addrs {
                        if !addresses.contains(&address) {
                            addresses.push(address);
                        }
                    }
                    addresses.truncate(ADDRESSES_PER_MEMBER);
                    for address in &addresses {
                        self.swarm.add_peer_address(peer_id, address.clone());
                    }
                    dial.addresses = addresses;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gate(refused)) => self.refused(refused.peer),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if let Some(dial) = self.dials.get_mut(&peer_id) {
                    dial.backoff = self.config.redial_min;
                }
                if let Some(member) = self.member(&peer_id)
                    && num_established.get() == 1
                {
                    self.set_connected(member, true);
                    self.emit(Event::Connected(member));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if let Some(member) = from_libp2p(&peer_id)
                    && num_established == 0
                    && self.shared.connected().contains(&member)
                {
                    self.open.remove(&peer_id);
                    self.set_connected(member, false);
                    self.emit(Event::Disconnected(member));
                }
            }
            _ => {}
        }
    }

    /// Reports a refused key, at most once per key per [`REPORT_REFUSALS_EVERY`].
    fn refused(&mut self, peer: libp2p::PeerId) {
        let now = Instant::now();
        if self.refusals.len() >= REFUSALS_REMEMBERED {
            self.refusals
                .retain(|_, at| now.duration_since(*at) < REPORT_REFUSALS_EVERY);
        }
        let due = match self.refusals.get(&peer) {
            Some(at) => now.duration_since(*at) >= REPORT_REFUSALS_EVERY,
            None => self.refusals.len() < REFUSALS_REMEMBERED,
        };
        if due {
            self.refusals.insert(peer, now);
            self.fault(from_libp2p(&peer), TransportFaultKind::NotMember);
        }
    }

    fn set_connected(&self, member: PeerId, up: bool) {
        let mut connected = self.shared.connected();
        if up {
            connected.insert(member);
        } else {
            connected.remove(&member);
        }
    }

    fn sync_event(&mut self, event: request_response::Event<Frame, Frame>) {
        use request_response::{Event as E, InboundFailure, Message, OutboundFailure};
        match event {
            E::Message { peer, message, .. } => {
                let Some(from) = self.member(&peer) else {
                    self.fault(from_libp2p(&peer), TransportFaultKind::NotMember);
                    return;
                };
                match message {
                    Message::Request {
                        request, channel, ..
                    } => {
                        let opens = request.asks.then(|| {
                            self.next_open += 1;
                            self.next_open
                        });
                        self.frame_in(from, request, opens);
                        if let Some(open) = opens {
                            let queue = self.open.entry(peer).or_default();
                            queue.push_back((open, channel, Instant::now()));
                            // A peer that keeps asking without waiting: answer the oldest
                            // empty rather than hold its streams.
                            while queue.len() > self.config.open_requests_per_peer {
                                if let Some((_, channel, _)) = queue.pop_front() {
                                    let _ = self
                                        .swarm
                                        .behaviour_mut()
                                        .sync
                                        .send_response(channel, Frame::default());
                                }
                            }
                        } else {
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .sync
                                .send_response(channel, Frame::default());
                        }
                    }
                    Message::Response {
                        request_id,
                        response,
                    } => {
                        let ended = self.pending.remove(&request_id);
                        if let Some((to, _)) = ended {
                            self.request_done(to);
                        }
                        let asked = ended.is_some_and(|(_, asks)| asks);
                        if asked && response.is_empty() {
                            // Answered empty: the engine there gave no answer in time.
                            self.fault(Some(from), TransportFaultKind::Timeout);
                        }
                        self.frame_in(from, response, None);
                    }
                }
            }
            E::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let ended = self.pending.remove(&request_id).map(|(to, _)| to);
                if let Some(to) = ended {
                    self.request_done(to);
                }
                let to = ended.or_else(|| from_libp2p(&peer));
                let kind = match error {
                    OutboundFailure::Timeout => TransportFaultKind::Timeout,
                    OutboundFailure::Io(error) => io_fault(&error),
                    other => TransportFaultKind::Undelivered {
                        reason: other.to_string(),
                    },
                };
                self.fault(to, kind);
            }
            E::InboundFailure { peer, error, .. } => {
                let kind = match error {
                    InboundFailure::Io(error) => io_fault(&error),
                    // The stream closed or timed out before we answered: nothing lost
                    // that the engine does not resend.
                    _ => return,
                };
                self.fault(from_libp2p(&peer), kind);
            }
            E::ResponseSent { .. } => {}
        }
    }
}

/// The fault an I/O error on a stream stands for: a frame over the limit, bytes that are
/// no frame, or a broken stream.
fn io_fault(error: &std::io::Error) -> TransportFaultKind {
    let inner = error.get_ref();
    if let Some(large) = inner.and_then(|e| e.downcast_ref::<FrameTooLarge>()) {
        return TransportFaultKind::Oversized {
            size: large.limit + 1,
            limit: large.limit,
        };
    }
    if error.kind() == std::io::ErrorKind::InvalidData {
        return TransportFaultKind::Undecodable {
            reason: error.to_string(),
        };
    }
    TransportFaultKind::Undelivered {
        reason: error.to_string(),
    }
}
