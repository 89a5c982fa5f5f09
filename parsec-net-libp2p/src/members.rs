//! The gate: a behaviour that refuses every connection whose authenticated key is not a
//! member, inbound or outbound, and says whom it refused.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::task::{Context, Poll, Waker};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

use parsec_core::PeerSet;

use crate::identity::to_libp2p;

/// A connection from (or to) a key outside the member set was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The key, as the connection's handshake authenticated it.
    pub peer: PeerId,
}

/// Why the gate refused a connection.
#[derive(Debug, Clone, Copy)]
pub struct NotMember(pub PeerId);

impl fmt::Display for NotMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a member", self.0)
    }
}

impl std::error::Error for NotMember {}

/// The behaviour (module docs).
pub struct MemberGate {
    members: BTreeSet<PeerId>,
    refused: VecDeque<Refused>,
    waker: Option<Waker>,
}

impl MemberGate {
    /// A gate letting `members` through.
    pub fn new(members: &PeerSet) -> Self {
        MemberGate {
            members: members.iter().filter_map(to_libp2p).collect(),
            refused: VecDeque::new(),
            waker: None,
        }
    }

    /// Replaces the members let through (connections already open are the task's to close).
    pub fn set(&mut self, members: BTreeSet<PeerId>) {
        self.members = members;
    }

    fn check(&mut self, peer: PeerId) -> Result<dummy::ConnectionHandler, ConnectionDenied> {
        if self.members.contains(&peer) {
            return Ok(dummy::ConnectionHandler);
        }
        // A flood of refusals is reported once per queued entry; the queue is bounded so
        // that an outsider's reconnect loop costs nothing but the handshakes.
        if self.refused.len() < 64 {
            self.refused.push_back(Refused { peer });
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        Err(ConnectionDenied::new(NotMember(peer)))
    }
}

impl NetworkBehaviour for MemberGate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Refused;

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)
    }

    fn on_swarm_event(&mut self, _event: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        // The dummy handler emits nothing.
        match event {}
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.refused.pop_front() {
            Some(refused) => Poll::Ready(ToSwarm::GenerateEvent(refused)),
            None => {
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
