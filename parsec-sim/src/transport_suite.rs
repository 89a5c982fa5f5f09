//! The conformance suite every [`Transport`] passes: delivery, request and response
//! (with the chunks of a large sync, in order), timeouts, a member's restart and
//! reconnection, refusal of keys that are not members, oversized and garbage messages,
//! broadcast, and no message ever attributed to the wrong member.
//!
//! A transport's test implements [`TransportHarness`] (how to start a member's transport,
//! stop it, and push raw bytes through it) and awaits [`run`] on a tokio runtime with time
//! enabled. Every wait is bounded ([`TransportHarness::patience`]), so a broken transport
//! fails the suite instead of hanging it.
//!
//! ```
//! use parsec_sim::mem_transport::{MemNet, MemTransport};
//! use parsec_sim::transport_suite::{self, TransportHarness};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! let report = runtime.block_on(transport_suite::run(&mut transport_suite::MemHarness::new()))?;
//! assert!(report.passed.contains(&"delivery"));
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use parsec_core::{
    Incoming, PeerId, PeerSet, SecretKey, Transport, TransportError, TransportFaultKind,
    WireLimits, WireMessage,
};
use parsec_graph::{Cause, Observation, PackedEvent, Vote};
use tokio::time::{Instant, timeout};

use crate::fixtures;
use crate::mem_transport::{MemNet, MemTransport};

/// How the suite reaches a transport.
#[async_trait::async_trait]
pub trait TransportHarness: Send {
    /// The transport.
    type Transport: Transport<String> + 'static;

    /// Starts `key`'s transport, accepting `members`. A key started before (and stopped)
    /// is started where the others can find it again (the same address).
    async fn start(
        &mut self,
        key: &SecretKey,
        members: &PeerSet,
    ) -> Result<Self::Transport, TransportError>;

    /// Stops a transport and waits until it is gone (its address free again).
    async fn stop(&mut self, transport: Self::Transport);

    /// Sends `bytes` from `from` to `to` as one message, unchecked (garbage, oversized).
    async fn send_raw(
        &mut self,
        from: &mut Self::Transport,
        to: PeerId,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError>;

    /// The wire limits the transports decode within.
    fn limits(&self) -> WireLimits;

    /// How long an unanswered request waits before the transport reports
    /// [`TransportFaultKind::Timeout`], if it has request timeouts.
    fn request_timeout(&self) -> Option<Duration>;

    /// The longest the suite waits for anything to arrive.
    fn patience(&self) -> Duration {
        Duration::from_secs(20)
    }
}

/// What [`run`] checked.
#[derive(Clone, Debug, Default)]
pub struct SuiteReport {
    /// Checks that passed.
    pub passed: Vec<&'static str>,
    /// Checks the transport could not take part in (no request timeouts).
    pub skipped: Vec<&'static str>,
}

/// A check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// The transport failed where it should not.
    #[error("{check}: transport error: {error}")]
    Transport {
        /// The check.
        check: &'static str,
        /// The error.
        error: TransportError,
    },
    /// The transport behaved against its contract.
    #[error("{check}: {what}")]
    Failed {
        /// The check.
        check: &'static str,
        /// What went wrong.
        what: String,
    },
}

fn failed(check: &'static str, what: impl Into<String>) -> SuiteError {
    SuiteError::Failed {
        check,
        what: what.into(),
    }
}

fn transport(check: &'static str) -> impl FnOnce(TransportError) -> SuiteError {
    move |error| SuiteError::Transport { check, error }
}

/// A message only `key` can have made: one event it signed, naming `tag`.
fn message_from(
    key: &SecretKey,
    tag: &str,
    kind: fn(Vec<PackedEvent<String>>) -> WireMessage<String>,
) -> WireMessage<String> {
    let vote = Vote::new(Observation::OpaquePayload(tag.to_string()), key);
    let event = match vote {
        Ok(vote) => fixtures::packed_event(
            key,
            1,
            Cause::Observation {
                self_parent: parsec_graph::EventHash::from_bytes([7; 32]),
                vote: Box::new(vote),
            },
        ),
        // The fixture key always signs; an initial event still names its creator.
        Err(_) => fixtures::packed_event(key, 0, Cause::Initial),
    };
    kind(vec![event])
}

fn request(events: Vec<PackedEvent<String>>) -> WireMessage<String> {
    WireMessage::Request { events }
}

fn response(events: Vec<PackedEvent<String>>) -> WireMessage<String> {
    WireMessage::Response { events }
}

fn chunk(events: Vec<PackedEvent<String>>) -> WireMessage<String> {
    WireMessage::Events { events }
}

/// The creator of a message's first event: who signed it.
fn signer(message: &WireMessage<String>) -> Option<PeerId> {
    message.events().first().map(|event| event.content.creator)
}

/// Waits for the first incoming item `pick` accepts, failing on any message whose sender
/// is not the signer of its events (the attribution check runs on every wait).
async fn wait_for<X, R>(
    check: &'static str,
    patience: Duration,
    at: &mut X,
    mut pick: impl FnMut(&Incoming<String>) -> Option<R> + Send,
) -> Result<R, SuiteError>
where
    X: Transport<String> + ?Sized,
{
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let incoming = match timeout(left, at.next_incoming()).await {
            Err(_) => {
                return Err(failed(
                    check,
                    format!("nothing expected arrived in {patience:?}"),
                ));
            }
            Ok(result) => result.map_err(transport(check))?,
        };
        if let Incoming::Message { from, message } = &incoming
            && let Some(signer) = signer(message)
            && signer != *from
        {
            return Err(failed(
                check,
                format!("a message signed by {signer:?} was attributed to {from:?}"),
            ));
        }
        if let Some(found) = pick(&incoming) {
            return Ok(found);
        }
    }
}

/// Sends `message` every `every` until `at` receives it from `from`'s key (a transport
/// that connects on demand may lose the first), within the harness's patience.
async fn send_until_received<X: Transport<String> + ?Sized, Y: Transport<String> + ?Sized>(
    check: &'static str,
    patience: Duration,
    from: &mut X,
    from_id: PeerId,
    at: &mut Y,
    at_id: PeerId,
    message: WireMessage<String>,
) -> Result<(), SuiteError> {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        from.send(at_id, message.clone())
            .await
            .map_err(transport(check))?;
        let wanted = message.clone();
        let got = wait_for(
            check,
            Duration::from_millis(300),
            at,
            |incoming| match incoming {
                Incoming::Message { from, message } if *from == from_id && *message == wanted => {
                    Some(())
                }
                _ => None,
            },
        )
        .await;
        if got.is_ok() {
            return Ok(());
        }
    }
    Err(failed(
        check,
        format!("no message from {from_id:?} arrived in {patience:?}"),
    ))
}

/// Runs every check on transports from `harness`.
pub async fn run<H: TransportHarness>(harness: &mut H) -> Result<SuiteReport, SuiteError> {
    let mut report = SuiteReport::default();
    let patience = harness.patience();
    let keys = fixtures::peer_keys(4);
    let ids = fixtures::peer_ids(&keys);
    let members = fixtures::group(&keys);
    let mut nets = Vec::new();
    for key in &keys {
        nets.push(
            harness
                .start(key, &members)
                .await
                .map_err(transport("start"))?,
        );
    }

    // Delivery: from every member to every other, attributed to its signer.
    let check = "delivery";
    for i in 0..keys.len() {
        for j in 0..keys.len() {
            if i == j {
                continue;
            }
            let message = message_from(&keys[i], &format!("{i} to {j}"), request);
            let (a, b) = pair(&mut nets, i, j);
            send_until_received(check, patience, a, ids[i], b, ids[j], message).await?;
        }
    }
    report.passed.push(check);

    // Request and response: a response with leading chunks arrives whole and in order.
    let check = "request and response";
    {
        let (a, b) = pair(&mut nets, 0, 1);
        let asked = message_from(&keys[0], "sync", request);
        send_until_received(check, patience, a, ids[0], b, ids[1], asked).await?;
        let answer = [
            message_from(&keys[1], "chunk 1", chunk),
            message_from(&keys[1], "chunk 2", chunk),
            message_from(&keys[1], "answer", response),
        ];
        for message in &answer {
            b.send(ids[0], message.clone())
                .await
                .map_err(transport(check))?;
        }
        let mut got = Vec::new();
        while got.len() < answer.len() {
            let message = wait_for(check, patience, a, |incoming| match incoming {
                Incoming::Message { from, message } if *from == ids[1] => Some(message.clone()),
                _ => None,
            })
            .await?;
            got.push(message);
        }
        if got != answer {
            return Err(failed(
                check,
                "the response's chunks arrived out of order or changed",
            ));
        }
    }
    report.passed.push(check);

    // Timeouts: a request nobody answers is reported, and the link still works after.
    let check = "timeouts";
    match harness.request_timeout() {
        None => report.skipped.push(check),
        Some(limit) => {
            let (a, b) = pair(&mut nets, 0, 2);
            a.send(ids[2], message_from(&keys[0], "unanswered", request))
                .await
                .map_err(transport(check))?;
            wait_for(check, limit * 3 + patience, a, |incoming| match incoming {
                Incoming::Dropped(fault)
                    if fault.kind == TransportFaultKind::Timeout && fault.peer == Some(ids[2]) =>
                {
                    Some(())
                }
                _ => None,
            })
            .await?;
            let again = message_from(&keys[0], "after the timeout", request);
            send_until_received(check, patience, a, ids[0], b, ids[2], again).await?;
            report.passed.push(check);
        }
    }

    // Restart: a member stopped and started again (same key, same address) is reached.
    let check = "restart and reconnect";
    let stopped = nets.remove(3);
    harness.stop(stopped).await;
    nets.insert(
        3,
        harness
            .start(&keys[3], &members)
            .await
            .map_err(transport(check))?,
    );
    for i in 0..3 {
        let message = message_from(&keys[i], &format!("{i} after the restart"), request);
        let (a, b) = pair(&mut nets, i, 3);
        send_until_received(check, patience, a, ids[i], b, ids[3], message.clone()).await?;
        let back = message_from(&keys[3], &format!("back to {i}"), request);
        let (b, a) = pair(&mut nets, 3, i);
        send_until_received(check, patience, b, ids[3], a, ids[i], back).await?;
    }
    report.passed.push(check);

    // Keys that are not members: nothing of theirs delivered, and the refusal reported.
    let check = "refusal of non-members";
    {
        let outsider = fixtures::named_key("outsider");
        let mut theirs = members.iter().copied().collect::<Vec<_>>();
        theirs.push(outsider.peer_id());
        let their_members: PeerSet = theirs.into_iter().collect();
        let mut intruder = harness
            .start(&outsider, &their_members)
            .await
            .map_err(transport(check))?;
        let deadline = Instant::now() + patience;
        let mut refused = false;
        while Instant::now() < deadline && !refused {
            let message = message_from(&outsider, "let me in", request);
            // The transport may refuse to send at once, or send and be refused.
            let _ = intruder.send(ids[0], message).await;
            let outcome = wait_for(
                check,
                Duration::from_millis(300),
                &mut nets[0],
                |incoming| match incoming {
                    Incoming::Message { from, .. } if *from == outsider.peer_id() => Some(false),
                    Incoming::Dropped(fault)
                        if fault.kind == TransportFaultKind::NotMember
                            && fault.peer == Some(outsider.peer_id()) =>
                    {
                        Some(true)
                    }
                    _ => None,
                },
            )
            .await;
            match outcome {
                Ok(false) => {
                    return Err(failed(check, "a message from a non-member was delivered"));
                }
                Ok(true) => refused = true,
                Err(_) => {}
            }
        }
        harness.stop(intruder).await;
        if !refused {
            return Err(failed(
                check,
                "the refusal of a non-member was never reported",
            ));
        }
        match nets[0].send(outsider.peer_id(), request(Vec::new())).await {
            Err(TransportError::NotMember(peer)) if peer == outsider.peer_id() => {}
            other => {
                return Err(failed(
                    check,
                    format!("sending to a non-member gave {other:?}"),
                ));
            }
        }
    }
    report.passed.push(check);

    // Oversized and garbage bytes from a member: dropped and reported, never delivered,
    // and the member's next real message still arrives.
    let check = "oversized and garbage";
    let limit = harness.limits().max_message_bytes;
    let cases: [(Vec<u8>, FaultCheck); 2] = [
        (vec![0xAB; limit + 1], |kind| {
            matches!(kind, TransportFaultKind::Oversized { .. })
        }),
        (b"\xff\xff\xff\xffnot a message at all".to_vec(), |kind| {
            matches!(kind, TransportFaultKind::Undecodable { .. })
        }),
    ];
    for (bytes, expected) in cases {
        let (a, b) = pair(&mut nets, 1, 2);
        harness
            .send_raw(a, ids[2], bytes)
            .await
            .map_err(transport(check))?;
        let got = wait_for(check, patience, b, |incoming| match incoming {
            Incoming::Message { from, .. } if *from == ids[1] => Some(None),
            Incoming::Dropped(fault) if fault.peer == Some(ids[1]) => {
                Some(Some(fault.kind.clone()))
            }
            _ => None,
        })
        .await?;
        match got {
            Some(kind) if expected(&kind) => {}
            other => return Err(failed(check, format!("bad bytes gave {other:?}"))),
        }
        let (a, b) = pair(&mut nets, 1, 2);
        let after = message_from(&keys[1], "after the garbage", request);
        send_until_received(check, patience, a, ids[1], b, ids[2], after).await?;
    }
    report.passed.push(check);

    // Broadcast: every other member hears it, from its sender.
    let check = "broadcast";
    {
        let deadline = Instant::now() + patience;
        let mut heard = vec![false; keys.len()];
        heard[0] = true;
        let data = b"a client transaction".to_vec();
        while heard.iter().any(|h| !h) {
            if Instant::now() >= deadline {
                return Err(failed(check, format!("heard by {heard:?} only")));
            }
            nets[0]
                .broadcast(data.clone())
                .await
                .map_err(transport(check))?;
            for (j, net) in nets.iter_mut().enumerate().skip(1) {
                if heard[j] {
                    continue;
                }
                let got = wait_for(
                    check,
                    Duration::from_millis(300),
                    net,
                    |incoming| match incoming {
                        Incoming::Broadcast { from, data: got }
                            if *from == ids[0] && *got == data =>
                        {
                            Some(())
                        }
                        _ => None,
                    },
                )
                .await;
                heard[j] = got.is_ok();
            }
        }
    }
    report.passed.push(check);

    // Connected: every member is listed by every other once links are up.
    let check = "connected";
    {
        let deadline = Instant::now() + patience;
        loop {
            let complete = nets.iter().enumerate().all(|(i, net)| {
                let connected = net.connected();
                ids.iter()
                    .enumerate()
                    .all(|(j, id)| i == j || connected.contains(id))
            });
            if complete {
                break;
            }
            if Instant::now() >= deadline {
                let seen: Vec<_> = nets.iter().map(|net| net.connected().len()).collect();
                return Err(failed(check, format!("members connected: {seen:?}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Keep the transports' queues moving while links come up.
            for net in &mut nets {
                let _ = timeout(Duration::from_millis(1), net.next_incoming()).await;
            }
        }
    }
    report.passed.push(check);

    for net in nets {
        harness.stop(net).await;
    }
    Ok(report)
}

/// Whether a fault is the one a case expects.
type FaultCheck = fn(&TransportFaultKind) -> bool;

/// Two distinct transports of `nets`, mutably.
fn pair<X>(nets: &mut [X], i: usize, j: usize) -> (&mut X, &mut X) {
    assert_ne!(i, j, "a pair of two transports");
    if i < j {
        let (low, high) = nets.split_at_mut(j);
        (&mut low[i], &mut high[0])
    } else {
        let (low, high) = nets.split_at_mut(i);
        (&mut high[0], &mut low[j])
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
