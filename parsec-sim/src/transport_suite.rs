//! The conformance suite every [`Transport`] passes: delivery, request and response
//! (with the chunks of a large sync, in order), timeouts, a member's restart and
//! reconnection, refusal of keys that are not members, changes of the member set,
//! oversized and garbage messages, broadcast, and no message ever attributed to the
//! wrong member (every message names its sender in its payload and carries events
//! another key signed, and every wait checks the sender named against the sender
//! delivered).
//!
//! A transport's test implements [`TransportHarness`] (how to start a member's transport,
//! stop it, and push raw bytes through it) and awaits [`run`] on a tokio runtime with time
//! enabled. Every wait is bounded ([`TransportHarness::patience`]), so a broken transport
//! fails the suite instead of hanging it.
//!
//! ```
//! use parsec_sim::mem_transport::MemHarness;
//! use parsec_sim::transport_suite;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! let report = runtime.block_on(transport_suite::run(&mut MemHarness::new()))?;
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

/// A message `sender` sends, naming it and `tag` in its one event's payload. The event
/// is signed by `signer`, another key: syncs forward other members' events, so whom a
/// message comes from is never whom its events name.
fn message_from(
    sender: PeerId,
    signer: &SecretKey,
    tag: &str,
    kind: fn(Vec<PackedEvent<String>>) -> WireMessage<String>,
) -> WireMessage<String> {
    let payload = format!("{sender:#}|{tag}");
    let event = match Vote::new(Observation::OpaquePayload(payload), signer) {
        Ok(vote) => fixtures::packed_event(
            signer,
            1,
            Cause::Observation {
                self_parent: parsec_graph::EventHash::from_bytes([7; 32]),
                vote: Box::new(vote),
            },
        ),
        // The fixture key always signs a vote; an initial event would name no sender.
        Err(_) => fixtures::packed_event(signer, 0, Cause::Initial),
    };
    kind(vec![event])
}

/// The sender (full hex) and tag a [`message_from`] message names.
fn named(message: &WireMessage<String>) -> Option<(&str, &str)> {
    let event = message.events().first()?;
    match &event.content.cause {
        Cause::Observation { vote, .. } => match &vote.observation {
            Observation::OpaquePayload(payload) => payload.split_once('|'),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `message` is the one `sender` sent with `tag`.
fn is_tagged(message: &WireMessage<String>, sender: &PeerId, tag: &str) -> bool {
    named(message).is_some_and(|(who, what)| who == format!("{sender:#}") && what == tag)
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

/// Waits up to `patience` for the first incoming item `pick` accepts (`None` if none
/// came). Every message seen on the way is checked against the sender it names: a
/// message attributed to another member fails the suite at once.
async fn wait_for<X, R>(
    check: &'static str,
    patience: Duration,
    at: &mut X,
    mut pick: impl FnMut(&Incoming<String>) -> Option<R> + Send,
) -> Result<Option<R>, SuiteError>
where
    X: Transport<String> + ?Sized,
{
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let incoming = match timeout(left, at.next_incoming()).await {
            Err(_) => return Ok(None),
            Ok(result) => result.map_err(transport(check))?,
        };
        if let Incoming::Message { from, message } = &incoming
            && let Some((sender, _)) = named(message)
            && sender != format!("{from:#}")
        {
            return Err(failed(
                check,
                format!("a message {sender} sent was attributed to {from:#}"),
            ));
        }
        if let Some(found) = pick(&incoming) {
            return Ok(Some(found));
        }
    }
}

/// As [`wait_for`], failing if nothing came.
async fn expect<X, R>(
    check: &'static str,
    patience: Duration,
    at: &mut X,
    pick: impl FnMut(&Incoming<String>) -> Option<R> + Send,
) -> Result<R, SuiteError>
where
    X: Transport<String> + ?Sized,
{
    wait_for(check, patience, at, pick)
        .await?
        .ok_or_else(|| failed(check, format!("nothing expected arrived in {patience:?}")))
}

/// Reads everything `at` has for `quiet` (checking attribution): leftovers of one check
/// must not answer the next.
async fn drain<X: Transport<String> + ?Sized>(
    check: &'static str,
    quiet: Duration,
    at: &mut X,
) -> Result<(), SuiteError> {
    wait_for(check, quiet, at, |_| None::<()>).await.map(|_| ())
}

/// Sends `message` every 300 ms until `at` receives it from `from_id` (a transport that
/// connects on demand may lose the first), within `patience`.
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
        .await?;
        if got.is_some() {
            return Ok(());
        }
    }
    Err(failed(
        check,
        format!("no message from {from_id:?} arrived in {patience:?}"),
    ))
}

/// Sends from `i` to `j` until it arrives: a message `i` sends, with events `j + 1`
/// (another key) signed.
async fn reach<X: Transport<String>>(
    check: &'static str,
    patience: Duration,
    nets: &mut [X],
    keys: &[SecretKey],
    (i, j): (usize, usize),
    tag: &str,
) -> Result<(), SuiteError> {
    let ids: Vec<PeerId> = keys.iter().map(SecretKey::peer_id).collect();
    let signer = &keys[(j + 1) % keys.len()];
    let message = message_from(ids[i], signer, tag, request);
    let (a, b) = pair(nets, i, j);
    send_until_received(check, patience, a, ids[i], b, ids[j], message).await
}

/// Watches `at` for `watch`: a message or broadcast from `peer` fails `check`.
async fn nothing_from<X: Transport<String> + ?Sized>(
    check: &'static str,
    watch: Duration,
    at: &mut X,
    peer: PeerId,
) -> Result<(), SuiteError> {
    let leaked = wait_for(check, watch, at, |incoming| match incoming {
        Incoming::Message { from, .. } | Incoming::Broadcast { from, .. } if *from == peer => {
            Some(())
        }
        _ => None,
    })
    .await?;
    match leaked {
        Some(()) => Err(failed(check, format!("{peer:?}'s message was delivered"))),
        None => Ok(()),
    }
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

    // Delivery: from every member to every other, attributed to its sender whatever
    // keys signed the events it carries.
    let check = "delivery";
    for i in 0..keys.len() {
        for j in (0..keys.len()).filter(|j| *j != i) {
            reach(
                check,
                patience,
                &mut nets,
                &keys,
                (i, j),
                &format!("{i} to {j}"),
            )
            .await?;
        }
    }
    report.passed.push(check);

    // Request and response: a response with leading chunks arrives whole and in order.
    let check = "request and response";
    {
        reach(check, patience, &mut nets, &keys, (0, 1), "sync").await?;
        let tags = ["chunk 1", "chunk 2", "answer"];
        let kinds = [chunk, chunk, response];
        let (a, b) = pair(&mut nets, 0, 1);
        for (tag, kind) in tags.iter().zip(kinds) {
            let message = message_from(ids[1], &keys[2], tag, kind);
            b.send(ids[0], message).await.map_err(transport(check))?;
        }
        let mut got = Vec::new();
        while got.len() < tags.len() {
            let tag = expect(check, patience, a, |incoming| match incoming {
                Incoming::Message { from, message } if *from == ids[1] => tags
                    .iter()
                    .find(|tag| is_tagged(message, &ids[1], tag))
                    .map(|tag| tag.to_string()),
                _ => None,
            })
            .await?;
            got.push(tag);
        }
        if got != tags {
            return Err(failed(check, format!("the response arrived as {got:?}")));
        }
    }
    report.passed.push(check);

    // Timeouts: a request nobody answers is reported (not before half the timeout), and
    // the link still works after.
    let check = "timeouts";
    match harness.request_timeout() {
        None => report.skipped.push(check),
        Some(limit) => {
            // Earlier requests to member 2 went unanswered too: let their reports pass.
            drain(check, limit + Duration::from_millis(500), &mut nets[0]).await?;
            let sent = Instant::now();
            let message = message_from(ids[0], &keys[3], "unanswered", request);
            nets[0]
                .send(ids[2], message)
                .await
                .map_err(transport(check))?;
            expect(
                check,
                limit * 3 + patience,
                &mut nets[0],
                |incoming| match incoming {
                    Incoming::Dropped(fault)
                        if fault.kind == TransportFaultKind::Timeout
                            && fault.peer == Some(ids[2]) =>
                    {
                        Some(())
                    }
                    _ => None,
                },
            )
            .await?;
            if sent.elapsed() < limit / 2 {
                return Err(failed(
                    check,
                    format!("timed out after {:?}", sent.elapsed()),
                ));
            }
            reach(
                check,
                patience,
                &mut nets,
                &keys,
                (0, 2),
                "after the timeout",
            )
            .await?;
            report.passed.push(check);
        }
    }

    // Restart: a member stopped is reported gone; started again (same key, same
    // address) it is reached, and reaches the others.
    let check = "restart and reconnect";
    let stopped = nets.remove(3);
    harness.stop(stopped).await;
    expect(check, patience, &mut nets[0], |incoming| {
        (*incoming == Incoming::Disconnected(ids[3])).then_some(())
    })
    .await?;
    if nets[0].connected().contains(&ids[3]) {
        return Err(failed(
            check,
            "a stopped member is still listed as connected",
        ));
    }
    nets.insert(
        3,
        harness
            .start(&keys[3], &members)
            .await
            .map_err(transport(check))?,
    );
    for i in 0..3 {
        reach(
            check,
            patience,
            &mut nets,
            &keys,
            (i, 3),
            &format!("{i} after the restart"),
        )
        .await?;
        reach(
            check,
            patience,
            &mut nets,
            &keys,
            (3, i),
            &format!("back to {i}"),
        )
        .await?;
    }
    report.passed.push(check);

    // Keys that are not members: nothing of theirs delivered (messages or broadcasts),
    // the refusal reported, and nothing sent to them.
    let check = "refusal of non-members";
    {
        let outsider = fixtures::named_key("outsider");
        let them = outsider.peer_id();
        let mut theirs = members.iter().copied().collect::<Vec<_>>();
        theirs.push(them);
        let their_members: PeerSet = theirs.into_iter().collect();
        let mut intruder = harness
            .start(&outsider, &their_members)
            .await
            .map_err(transport(check))?;
        let deadline = Instant::now() + patience;
        let mut refused = false;
        while Instant::now() < deadline && !refused {
            // The transport may refuse to send at once, or send and be refused.
            let _ = intruder
                .send(ids[0], message_from(them, &outsider, "let me in", request))
                .await;
            let _ = intruder.broadcast(b"from outside".to_vec()).await;
            let outcome = wait_for(
                check,
                Duration::from_millis(300),
                &mut nets[0],
                |incoming| match incoming {
                    Incoming::Message { from, .. } | Incoming::Broadcast { from, .. }
                        if *from == them =>
                    {
                        Some(false)
                    }
                    Incoming::Dropped(fault)
                        if fault.kind == TransportFaultKind::NotMember
                            && fault.peer == Some(them) =>
                    {
                        Some(true)
                    }
                    _ => None,
                },
            )
            .await?;
            match outcome {
                Some(false) => {
                    return Err(failed(check, "a message from a non-member was delivered"));
                }
                Some(true) => refused = true,
                None => {}
            }
        }
        if !refused {
            return Err(failed(
                check,
                "the refusal of a non-member was never reported",
            ));
        }
        // Reported once is not enough: it must go on being kept out.
        for _ in 0..3 {
            let _ = intruder
                .send(ids[0], message_from(them, &outsider, "again", request))
                .await;
            let _ = intruder.broadcast(b"from outside".to_vec()).await;
            nothing_from(check, Duration::from_millis(200), &mut nets[0], them).await?;
        }
        harness.stop(intruder).await;
        match nets[0].send(them, request(Vec::new())).await {
            Err(TransportError::NotMember(peer)) if peer == them => {}
            other => {
                return Err(failed(
                    check,
                    format!("sending to a non-member gave {other:?}"),
                ));
            }
        }
    }
    report.passed.push(check);

    // A member removed (set_members) is kept out from then on, and let in again when
    // it is a member again.
    let check = "member set changes";
    {
        let without: PeerSet = ids[..3].iter().copied().collect();
        nets[0]
            .set_members(without)
            .await
            .map_err(transport(check))?;
        let deadline = Instant::now() + patience;
        while nets[0].connected().contains(&ids[3]) {
            if Instant::now() >= deadline {
                return Err(failed(
                    check,
                    "a removed member is still listed as connected",
                ));
            }
            drain(check, Duration::from_millis(50), &mut nets[0]).await?;
        }
        for _ in 0..3 {
            let message = message_from(ids[3], &keys[1], "removed", request);
            let _ = nets[3].send(ids[0], message).await;
            nothing_from(check, Duration::from_millis(200), &mut nets[0], ids[3]).await?;
        }
        nets[0]
            .set_members(members.clone())
            .await
            .map_err(transport(check))?;
        reach(check, patience, &mut nets, &keys, (3, 0), "readmitted").await?;
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
        let (a, _) = pair(&mut nets, 1, 2);
        harness
            .send_raw(a, ids[2], bytes)
            .await
            .map_err(transport(check))?;
        let got = expect(check, patience, &mut nets[2], |incoming| match incoming {
            Incoming::Dropped(fault)
                if fault.peer == Some(ids[1])
                    && matches!(
                        fault.kind,
                        TransportFaultKind::Oversized { .. }
                            | TransportFaultKind::Undecodable { .. }
                    ) =>
            {
                Some(fault.kind.clone())
            }
            _ => None,
        })
        .await?;
        if !expected(&got) {
            return Err(failed(check, format!("bad bytes were reported as {got:?}")));
        }
        reach(
            check,
            patience,
            &mut nets,
            &keys,
            (1, 2),
            "after the garbage",
        )
        .await?;
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
                .await?;
                heard[j] = got.is_some();
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
            // Keep the transports' queues moving while links come up.
            for net in &mut nets {
                drain(check, Duration::from_millis(10), net).await?;
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
