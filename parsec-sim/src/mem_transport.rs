//! An in-memory [`Transport`]: every member of one process reaches the others through a
//! [`MemNet`], with the same contract as a real network (authenticated senders, members
//! only, bounded queues, bytes through the wire codec and its limits), so that a driver
//! written against `Transport` runs unchanged in tests.
//!
//! ```
//! use parsec_core::{Incoming, Transport, WireMessage};
//! use parsec_sim::{fixtures, mem_transport::MemNet};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! # runtime.block_on(async {
//! let keys = fixtures::peer_keys(2);
//! let members = fixtures::group(&keys);
//! let net = MemNet::new();
//! let mut alice = net.join(&keys[0], members.clone());
//! let mut bob = net.join(&keys[1], members);
//! let message = WireMessage::<String>::Request { events: Vec::new() };
//! alice.send(keys[1].peer_id(), message.clone()).await?;
//! loop {
//!     if let Incoming::Message { from, message: got } = bob.next_incoming().await? {
//!         assert_eq!(from, keys[0].peer_id());
//!         assert_eq!(got, message);
//!         break;
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use parsec_core::{
    Incoming, Payload, PeerId, PeerSet, SecretKey, Transport, TransportError, TransportFault,
    TransportFaultKind, WireError, WireLimits, WireMessage, wire,
};
use tokio::sync::mpsc;

use crate::transport_suite::TransportHarness;

/// Messages queued for one member before what arrives is dropped.
pub const QUEUE: usize = 1024;

/// What travels between two endpoints: bytes, as a real network carries them.
enum Frame {
    Message(Vec<u8>),
    Broadcast(Vec<u8>),
    Connected(PeerId),
    Disconnected(PeerId),
    Dropped(TransportFault),
}

struct Endpoint {
    /// Distinguishes this endpoint from a later one of the same key (a restart).
    id: u64,
    members: PeerSet,
    queue: mpsc::Sender<(PeerId, Frame)>,
    overloaded: Arc<AtomicU64>,
}

#[derive(Default)]
struct Hub {
    next_id: u64,
    endpoints: BTreeMap<PeerId, Endpoint>,
}

/// The shared medium of one process's [`MemTransport`]s. Cloning shares it.
#[derive(Clone, Default)]
pub struct MemNet {
    hub: Arc<Mutex<Hub>>,
    limits: WireLimits,
}

impl MemNet {
    /// A medium with the default wire limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A medium whose members decode within `limits` (tests shrink them).
    pub fn with_limits(limits: WireLimits) -> Self {
        MemNet {
            hub: Arc::default(),
            limits,
        }
    }

    /// Connects `key` to the medium, accepting messages from `members`; replaces an
    /// endpoint of the same key still connected (a restarted process).
    pub fn join<T: Payload + Send + Sync>(
        &self,
        key: &SecretKey,
        members: PeerSet,
    ) -> MemTransport<T> {
        let us = key.peer_id();
        let (queue, incoming) = mpsc::channel(QUEUE);
        let overloaded = Arc::new(AtomicU64::new(0));
        let mut hub = lock(&self.hub);
        let id = hub.next_id;
        hub.next_id += 1;
        if hub.endpoints.contains_key(&us) {
            announce(&hub, us, None, Frame::Disconnected);
        }
        announce(&hub, us, Some(&members), Frame::Connected);
        for (peer, other) in &hub.endpoints {
            if *peer != us && members.contains(peer) && other.members.contains(&us) {
                let _ = queue.try_send((*peer, Frame::Connected(*peer)));
            }
        }
        hub.endpoints.insert(
            us,
            Endpoint {
                id,
                members: members.clone(),
                queue,
                overloaded: overloaded.clone(),
            },
        );
        MemTransport {
            net: self.clone(),
            us,
            id,
            members,
            incoming,
            overloaded,
            _payload: std::marker::PhantomData,
        }
    }
}

/// Tells every endpoint that counts `us` as a member that `us` came or went (that came,
/// only those we count as members too, as [`Transport::connected`] lists them).
fn announce(hub: &Hub, us: PeerId, ours: Option<&PeerSet>, frame: fn(PeerId) -> Frame) {
    for (peer, other) in &hub.endpoints {
        let mutual = ours.is_none_or(|ours| ours.contains(peer));
        if *peer != us && other.members.contains(&us) && mutual {
            let _ = other.queue.try_send((us, frame(us)));
        }
    }
}

fn lock(hub: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    // A panic while holding the lock leaves the map whole (every update is one insert
    // or remove), so a poisoned lock is still usable.
    hub.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One member's end of a [`MemNet`] (module docs). Dropping it disconnects the member.
pub struct MemTransport<T> {
    net: MemNet,
    us: PeerId,
    id: u64,
    members: PeerSet,
    incoming: mpsc::Receiver<(PeerId, Frame)>,
    overloaded: Arc<AtomicU64>,
    _payload: std::marker::PhantomData<fn() -> T>,
}

impl<T> MemTransport<T> {
    /// Our key.
    pub fn our_id(&self) -> &PeerId {
        &self.us
    }

    /// Sends `bytes` to `to` as one message, unchecked: how tests send garbage. The
    /// recipient decodes (or refuses) them as it would any message.
    pub fn send_raw(&mut self, to: PeerId, bytes: Vec<u8>) {
        self.deliver(to, Frame::Message(bytes));
    }

    fn deliver(&mut self, to: PeerId, frame: Frame) {
        let hub = lock(&self.net.hub);
        let Some(endpoint) = hub.endpoints.get(&to) else {
            drop(hub);
            self.lost(to, "no such member connected");
            return;
        };
        match endpoint.queue.try_send((self.us, frame)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                endpoint.overloaded.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                drop(hub);
                self.lost(to, "the member's transport is closed");
            }
        }
    }

    /// Reports a message we could not deliver to our own driver.
    fn lost(&self, to: PeerId, reason: &str) {
        let hub = lock(&self.net.hub);
        if let Some(us) = hub.endpoints.get(&self.us).filter(|us| us.id == self.id) {
            let fault = TransportFault {
                peer: Some(to),
                kind: TransportFaultKind::Undelivered {
                    reason: reason.to_string(),
                },
            };
            let _ = us.queue.try_send((self.us, Frame::Dropped(fault)));
        }
    }
}

impl<T> Drop for MemTransport<T> {
    fn drop(&mut self) {
        let mut hub = lock(&self.net.hub);
        if hub.endpoints.get(&self.us).is_some_and(|e| e.id == self.id) {
            hub.endpoints.remove(&self.us);
            announce(&hub, self.us, None, Frame::Disconnected);
        }
    }
}

#[async_trait::async_trait]
impl<T: Payload + Send + Sync> Transport<T> for MemTransport<T> {
    async fn send(&mut self, to: PeerId, message: WireMessage<T>) -> Result<(), TransportError> {
        if !self.members.contains(&to) || to == self.us {
            return Err(TransportError::NotMember(to));
        }
        let bytes = wire::encode(&message, &self.net.limits)?;
        self.deliver(to, Frame::Message(bytes));
        Ok(())
    }

    async fn broadcast(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        if data.len() > self.net.limits.max_message_bytes {
            return Err(TransportError::Encode(WireError::TooLarge {
                size: data.len(),
                limit: self.net.limits.max_message_bytes,
            }));
        }
        let us = self.us;
        let members: Vec<PeerId> = self
            .members
            .iter()
            .copied()
            .filter(|to| *to != us)
            .collect();
        for to in members {
            self.deliver(to, Frame::Broadcast(data.clone()));
        }
        Ok(())
    }

    async fn next_incoming(&mut self) -> Result<Incoming<T>, TransportError> {
        loop {
            let dropped = self.overloaded.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                return Ok(Incoming::Dropped(TransportFault {
                    peer: None,
                    kind: TransportFaultKind::Overloaded,
                }));
            }
            let Some((from, frame)) = self.incoming.recv().await else {
                return Err(TransportError::Closed);
            };
            let member = self.members.contains(&from);
            let refused = || {
                Incoming::Dropped(TransportFault {
                    peer: Some(from),
                    kind: TransportFaultKind::NotMember,
                })
            };
            return Ok(match frame {
                Frame::Message(_) | Frame::Broadcast(_) if !member => refused(),
                Frame::Message(bytes) => Incoming::decode(from, &bytes, &self.net.limits),
                Frame::Broadcast(data) => Incoming::Broadcast { from, data },
                Frame::Connected(peer) if self.members.contains(&peer) => Incoming::Connected(peer),
                Frame::Disconnected(peer) if self.members.contains(&peer) => {
                    Incoming::Disconnected(peer)
                }
                Frame::Connected(_) | Frame::Disconnected(_) => continue,
                Frame::Dropped(fault) => Incoming::Dropped(fault),
            });
        }
    }

    fn connected(&self) -> Vec<PeerId> {
        let hub = lock(&self.net.hub);
        hub.endpoints
            .iter()
            .filter(|(peer, other)| {
                **peer != self.us && self.members.contains(peer) && other.members.contains(&self.us)
            })
            .map(|(peer, _)| *peer)
            .collect()
    }

    async fn set_members(&mut self, members: PeerSet) -> Result<(), TransportError> {
        let mut hub = lock(&self.net.hub);
        if let Some(us) = hub
            .endpoints
            .get_mut(&self.us)
            .filter(|us| us.id == self.id)
        {
            us.members = members.clone();
        }
        self.members = members;
        Ok(())
    }
}

/// The [`MemTransport`]'s harness: every transport on one [`MemNet`].
pub struct MemHarness {
    net: MemNet,
    limits: WireLimits,
}

impl MemHarness {
    /// A medium with small limits (so that the oversized check sends little).
    pub fn new() -> Self {
        let limits = WireLimits {
            max_message_bytes: 64 << 10,
            max_events_per_message: 64,
        };
        MemHarness {
            net: MemNet::with_limits(limits),
            limits,
        }
    }
}

impl Default for MemHarness {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl TransportHarness for MemHarness {
    type Transport = MemTransport<String>;

    async fn start(
        &mut self,
        key: &SecretKey,
        members: &PeerSet,
    ) -> Result<Self::Transport, TransportError> {
        Ok(self.net.join(key, members.clone()))
    }

    async fn stop(&mut self, transport: Self::Transport) {
        drop(transport);
    }

    async fn send_raw(
        &mut self,
        from: &mut Self::Transport,
        to: PeerId,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        from.send_raw(to, bytes);
        Ok(())
    }

    fn limits(&self) -> WireLimits {
        self.limits
    }

    fn request_timeout(&self) -> Option<Duration> {
        None
    }
}
