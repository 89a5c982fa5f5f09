//! Moving the engine's messages between members: the [`Transport`] a network adapter
//! implements (`parsec-net-libp2p`'s `Libp2pTransport`, the simulator's in-memory
//! `MemTransport`, or your own).
//!
//! # The contract
//!
//! * **Lossy, duplicated, reordered.** A message sent may never arrive, arrive twice, or
//!   arrive after a later one. The engine tolerates all three (a sync is resent when its
//!   answer does not come, a duplicate event is ignored, an event whose parents have not
//!   arrived waits for them), so a transport need not retry or order anything; it should
//!   merely not *prefer* loss.
//! * **Authenticated senders.** [`Incoming::Message::from`] is the member whose key the
//!   transport authenticated the message with (a connection's handshake, a signed
//!   envelope), never a claim inside the bytes. A transport must never attribute one
//!   member's bytes to another: the engine checks every event's signature, but it trusts
//!   `from` to know whom a response answers.
//! * **Members only.** A transport delivers nothing from a key outside the member set it
//!   was last given ([`Transport::set_members`]); it reports what it refused as an
//!   [`Incoming::Dropped`] instead.
//! * **Bounded.** Every queue between the network and the driver is bounded in messages
//!   and every message in bytes (the [`wire`] limits). `send` waits while
//!   the outgoing queue is full (back-pressure on the driver); what cannot go out (a
//!   member that does not keep up) and what arrives while the incoming queue, or the
//!   sender's share of it, is full are dropped and reported, never buffered without
//!   limit, so that one member cannot fill our memory nor crowd the others out.
//! * **Request and response.** A [`WireMessage::Response`] sent to a member that has a
//!   [`WireMessage::Request`] of ours outstanding may travel as the answer to it (a
//!   transport with request-response streams pairs them); either way the engine matches
//!   a response by its events, not by the transport's pairing.
//! * **Cancel safety.** [`Transport::next_incoming`] is cancel safe: a driver may race
//!   it against a timer in `tokio::select!` and lose nothing when the timer wins.
//!
//! A driver's loop, whatever the transport (persist before send, spec §13.1):
//!
//! ```no_run
//! use parsec_core::{Coin, Incoming, MemStore, Parsec, Store, Transport};
//!
//! # async fn drive(
//! #     mut engine: Parsec<String, Coin>,
//! #     transport: &mut dyn Transport<String>,
//! #     store: &MemStore<String>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! loop {
//!     let step = match transport.next_incoming().await? {
//!         Incoming::Message { from, message } => engine.handle_message(from, message)?,
//!         Incoming::Dropped(fault) => {
//!             eprintln!("transport dropped: {fault}");
//!             continue;
//!         }
//!         _ => continue,
//!     };
//!     store.apply(step.persist).await?; // durable first
//!     for out in step.send {
//!         transport.send(out.to, out.message).await?;
//!     }
//! }
//! # }
//! ```

use std::fmt;

use parsec_graph::{Payload, PeerId, PeerSet, WireError, WireLimits, WireMessage, wire};

/// What a transport hands the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming<T> {
    /// A message from a member, decoded within the wire limits.
    Message {
        /// The member the transport authenticated it as coming from.
        from: PeerId,
        /// The message: hand it to [`Parsec::handle_message`](crate::Parsec::handle_message).
        message: WireMessage<T>,
    },
    /// Bytes a member broadcast to every member ([`Transport::broadcast`]): client
    /// transactions, say. Opaque to the transport and to the engine.
    Broadcast {
        /// The member that broadcast them (authenticated, as for messages).
        from: PeerId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A member is now connected.
    Connected(PeerId),
    /// A member is no longer connected.
    Disconnected(PeerId),
    /// Something the transport refused or lost: report it, and go on.
    Dropped(TransportFault),
}

/// Something a transport refused or lost, and who it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportFault {
    /// The key at the other end, if the transport learned one (a connection from a key
    /// that is not a member names it here; garbage from a member names the member).
    pub peer: Option<PeerId>,
    /// What happened.
    pub kind: TransportFaultKind,
}

impl fmt::Display for TransportFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.peer {
            Some(peer) => write!(f, "{} (peer {peer:?})", self.kind),
            None => write!(f, "{} (peer unknown)", self.kind),
        }
    }
}

impl<T: Payload> Incoming<T> {
    /// What `bytes` from member `from` are: the message they encode within `limits`, or
    /// the fault that they are not one (every transport decodes through here, so bytes
    /// are refused the same way whatever carried them).
    pub fn decode(from: PeerId, bytes: &[u8], limits: &WireLimits) -> Self {
        match wire::decode(bytes, limits) {
            Ok(message) => Incoming::Message { from, message },
            Err(error) => {
                let kind = match error {
                    WireError::TooLarge { size, limit } => {
                        TransportFaultKind::Oversized { size, limit }
                    }
                    other => TransportFaultKind::Undecodable {
                        reason: other.to_string(),
                    },
                };
                Incoming::Dropped(TransportFault {
                    peer: Some(from),
                    kind,
                })
            }
        }
    }
}

/// The kinds of [`TransportFault`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportFaultKind {
    /// A key outside the member set tried to connect or send: refused.
    #[error("a key that is not a member was refused")]
    NotMember,
    /// A message larger than the limit: dropped unread.
    #[error("a message of {size} bytes exceeded the limit of {limit}")]
    Oversized {
        /// Its size, or the bytes read before the limit was passed.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Bytes that are not a message within the limits: dropped.
    #[error("undecodable message: {reason}")]
    Undecodable {
        /// Why decoding failed.
        reason: String,
    },
    /// A request got no answer in time (the engine resends syncs on its own).
    #[error("a request timed out")]
    Timeout,
    /// A message could not be delivered (no connection, the peer went away).
    #[error("a message could not be delivered: {reason}")]
    Undelivered {
        /// What the network said.
        reason: String,
    },
    /// The incoming queue was full: what arrived was dropped.
    #[error("incoming queue full: a message was dropped")]
    Overloaded,
}

/// A transport cannot go on, or was asked something it cannot do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The transport was shut down (or its network task ended).
    #[error("the transport is closed")]
    Closed,
    /// The recipient is not a member this transport knows.
    #[error("{0:?} is not a member")]
    NotMember(PeerId),
    /// The message breaks the wire limits (the recipient would drop it).
    #[error("message not sent: {0}")]
    Encode(#[from] parsec_graph::WireError),
    /// The network could not be set up (an address in use, a bad address, ...).
    #[error("network setup failed: {0}")]
    Setup(String),
}

/// A network between members (module docs for the contract). Object safe: a driver can
/// hold a `Box<dyn Transport<T>>` chosen at run time.
#[async_trait::async_trait]
pub trait Transport<T: Payload + Send + Sync>: Send {
    /// Queues `message` for member `to`. Returns once it is queued, waiting while the
    /// outgoing queue is full; delivery is not confirmed (it may be lost). `Err` only
    /// when the transport is closed, `to` is not a member, or the message breaks the wire
    /// limits.
    async fn send(&mut self, to: PeerId, message: WireMessage<T>) -> Result<(), TransportError>;

    /// Queues `data` for every member but us, best effort (lost where a member is not
    /// reachable). `Err` only when the transport is closed or `data` breaks the limit of
    /// one message.
    async fn broadcast(&mut self, data: Vec<u8>) -> Result<(), TransportError>;

    /// The next thing that arrived; waits until there is one. Cancel safe. `Err(Closed)`
    /// once the transport is shut down.
    async fn next_incoming(&mut self) -> Result<Incoming<T>, TransportError>;

    /// The members connected now (ascending). A member not listed may still receive
    /// what is sent (a transport may connect on demand).
    fn connected(&self) -> Vec<PeerId>;

    /// Replaces the member set (after the engine decided an addition or a removal): from
    /// now on nothing is delivered from a key outside it, and connections to removed
    /// members may be closed.
    async fn set_members(&mut self, members: PeerSet) -> Result<(), TransportError>;
}
