//! The simulator's peers: a [`Node`] of the [`Network`](crate::network::Network) with a
//! role (honest engine, adversary's puppet, silent, not started), and the checks every
//! honest output goes through.
//!
//! # How it works
//!
//! The network lends every call the simulation's [`Shared`] state: the configuration, the
//! invariant checks that look across peers (agreement, order, validity, termination,
//! quietness) and the statistics. An honest peer's every engine call is timed, and its
//! step is *absorbed* at once: each block is checked by every invariant before it is
//! recorded, each fault must name an adversary, and each message is encoded and put in
//! the outbox, so a violation stops the run before anything more is sent. An adversary's
//! puppet produces bytes of its own; when its engine fails it stops (counted, not a
//! violation). Messages are always bytes here: honest peers decode what they receive with
//! `handle_bytes`, as a real driver would.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Instant;

use parsec_core::{Block, Config, Fault, Parsec, Step};
use parsec_graph::{Observation, PeerId, wire};

use super::adversary::{Act, AdversaryKind, Puppet, Sends};
use super::durable::{PeerStore, Stores};
use super::invariants::agreement::Agreement;
use super::invariants::order::Order;
use super::invariants::quiet;
use super::invariants::termination::Termination;
use super::invariants::validity::Validity;
use super::invariants::{Invariant, Violation};
use super::restarts::CrashPoint;
use super::stats::Stats;
use crate::network::{Context, Engine, Node, Packet, peer_key};

/// What a simulated peer is.
#[derive(Debug)]
pub(crate) enum Role {
    Honest(Box<Engine>),
    Puppet(Box<Puppet>),
    Silent,
    /// Not started yet.
    Absent,
}

/// One simulated peer (see the module docs).
#[derive(Debug)]
pub(crate) struct SimPeer {
    pub(crate) id: PeerId,
    pub(crate) role: Role,
    pub(crate) crashed: bool,
    pub(crate) adversary: Option<AdversaryKind>,
    pub(crate) blocks: Vec<Block<String>>,
    pub(crate) faults: Vec<Fault>,
    /// Votes the engine accepted (or the adversary made), genesis included.
    pub(crate) votes: Vec<Observation<String>>,
    /// An honest peer's store, when the run has stores (closed while it is down).
    pub(crate) store: Option<PeerStore>,
    /// Where it will die, once its next step gets there.
    pub(crate) pending_crash: Option<CrashPoint>,
    /// Whether the step being absorbed is a vote (crash points wait for a sync step).
    pub(crate) voting: bool,
}

/// What the simulation keeps for all its peers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// With the threshold coin: every member's secret share, dealt for the run.
    pub(crate) coin_secrets: Vec<parsec_coin::SecretShare>,
    /// Signature checks shared by the honest engines (one process, one check per event).
    pub(crate) verified: parsec_graph::VerifiedEvents,
    /// The identity of each peer, by number (adversaries aim at peers by number).
    pub(crate) ids: Vec<PeerId>,
    pub(crate) adversary_ids: BTreeSet<PeerId>,
    pub(crate) agreement: Agreement,
    pub(crate) order: Order,
    pub(crate) validity: Validity,
    pub(crate) termination: Termination,
    pub(crate) stats: Stats,
    /// The honest peers' stores, if the run has them.
    pub(crate) stores: Option<Stores>,
}

type Ctx<'a, 'b> = Context<'a, Shared>;

pub(crate) fn engine_error(peer: usize, what: &str, error: impl fmt::Display) -> Violation {
    Violation::new(Invariant::Engine, Some(peer), format!("{what}: {error}"))
}

impl SimPeer {
    /// A peer that has not started yet.
    pub(crate) fn new(id: PeerId, adversary: Option<AdversaryKind>) -> Self {
        SimPeer {
            id,
            role: Role::Absent,
            crashed: false,
            adversary,
            blocks: Vec::new(),
            faults: Vec::new(),
            votes: Vec::new(),
            store: None,
            pending_crash: None,
            voting: false,
        }
    }

    pub(crate) fn running(&self) -> bool {
        !self.crashed && !matches!(self.role, Role::Silent | Role::Absent)
    }

    /// The configuration of peer `id`: the shared one, with its secret coin share.
    pub(crate) fn config_of(shared: &Shared, id: &PeerId) -> Config {
        let mut config = shared.config.clone();
        config.coin_secret = shared
            .coin_secrets
            .iter()
            .find(|s| s.holder == *id)
            .cloned();
        config
    }

    pub(crate) fn honest(&self) -> bool {
        self.adversary.is_none()
    }

    /// Starts the peer in its role: a genesis engine, a puppet, or silence.
    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_, '_>) -> Result<(), Violation> {
        let i = ctx.peer;
        let key = peer_key(i);
        match self.adversary {
            Some(kind) if kind.is_silent() => self.role = Role::Silent,
            // An adversary keeps every event: it has no store to serve catch-up from, and
            // what it sends must not depend on the honest peers' pruning window.
            Some(_) => match Puppet::new(
                key,
                Config {
                    pruning_window: None,
                    ..Self::config_of(ctx.shared, &self.id)
                },
            ) {
                Ok((puppet, votes)) => {
                    for vote in &votes {
                        ctx.shared.validity.record_vote(self.id, vote);
                    }
                    ctx.shared.stats.peers[i].events_created = puppet.created;
                    self.votes = votes;
                    self.role = Role::Puppet(Box::new(puppet));
                }
                Err(error) => self.adversary_failed(&error, ctx),
            },
            None => {
                let started = Instant::now();
                let result = Parsec::new(key, Self::config_of(ctx.shared, &self.id));
                ctx.shared.stats.engine_time += started.elapsed();
                let (mut engine, step) = result.map_err(|e| engine_error(i, "from_genesis", e))?;
                engine.share_verified_events(ctx.shared.verified.clone());
                engine.record_meta_digests(true);
                if let Some(stores) = &ctx.shared.stores {
                    self.store = Some(stores.open(i)?);
                }
                for packed in step.inserted() {
                    if let Some(vote) = packed.content.cause.vote() {
                        ctx.shared.validity.record_vote(self.id, &vote.observation);
                        self.votes.push(vote.observation.clone());
                    }
                }
                self.role = Role::Honest(Box::new(engine));
                self.absorb(step, ctx)?;
            }
        }
        Ok(())
    }

    /// An adversary whose own engine failed stops.
    fn adversary_failed(&mut self, error: &dyn fmt::Display, ctx: &mut Ctx<'_, '_>) {
        ctx.shared.stats.adversary_failures.push(format!(
            "adversary {} at step {}: {error}",
            ctx.peer, ctx.now
        ));
        self.crashed = true;
    }

    /// Votes `observation`, if the peer runs and votes at all.
    pub(crate) fn vote(
        &mut self,
        observation: &Observation<String>,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<(), Violation> {
        if self.crashed {
            return Ok(());
        }
        let peer = ctx.peer;
        match &mut self.role {
            Role::Honest(engine) => {
                let started = Instant::now();
                let result = engine.vote_for(observation.clone());
                ctx.shared.stats.engine_time += started.elapsed();
                match result {
                    Ok(step) => {
                        self.votes.push(observation.clone());
                        ctx.shared.validity.record_vote(self.id, observation);
                        self.voting = true;
                        let absorbed = self.absorb(step, ctx);
                        self.voting = false;
                        absorbed
                    }
                    Err(parsec_core::Error::DuplicateVote) if self.votes.contains(observation) => {
                        ctx.shared.stats.duplicate_votes_refused += 1;
                        Ok(())
                    }
                    Err(error) => Err(engine_error(peer, "vote_for", error)),
                }
            }
            Role::Puppet(puppet) => {
                match puppet.vote(observation.clone()) {
                    Ok(voted) => {
                        ctx.shared.validity.record_vote(self.id, &voted);
                        self.votes.push(voted);
                        ctx.shared.stats.peers[peer].events_created = puppet.created;
                    }
                    Err(error) => self.adversary_failed(&error, ctx),
                }
                Ok(())
            }
            Role::Silent | Role::Absent => Ok(()),
        }
    }

    /// Carries out an adversary's `act`. Returns whether it did anything (then the
    /// network delivers what is due).
    pub(crate) fn misbehave(&mut self, act: &Act, ctx: &mut Ctx<'_, '_>) -> bool {
        if self.crashed {
            return false;
        }
        let Role::Puppet(puppet) = &mut self.role else {
            return false;
        };
        let result = puppet.act(act, &ctx.shared.ids);
        ctx.shared.stats.peers[ctx.peer].events_created = puppet.created;
        match result {
            Ok((sends, voted)) => {
                for observation in voted {
                    ctx.shared.validity.record_vote(self.id, &observation);
                    self.votes.push(observation);
                }
                ctx.shared.stats.attacks += 1;
                route(sends, ctx);
            }
            Err(error) => self.adversary_failed(&error, ctx),
        }
        true
    }

    /// Records what an honest engine call produced and sends its messages, after its
    /// store made the step durable (a crash point may end the step there).
    fn absorb(&mut self, step: Step<String>, ctx: &mut Ctx<'_, '_>) -> Result<(), Violation> {
        let peer = ctx.peer;
        let id = self.id;
        ctx.shared.stats.peers[peer].events_created +=
            step.inserted().filter(|e| e.content.creator == id).count() as u64;
        let Step {
            persist,
            send,
            blocks,
            faults,
            catch_up,
            fetch,
        } = step;
        if !self.persist(persist, ctx)? {
            return Ok(());
        }

        let decided = !blocks.is_empty();
        self.observe_blocks(blocks, ctx)?;
        let shared = &mut *ctx.shared;
        for fault in faults {
            shared.stats.faults += 1;
            quiet::check_fault(peer, &fault, &shared.adversary_ids)?;
            self.faults.push(fault);
        }
        let limits = shared.config.wire_limits;
        for out in send {
            let bytes = wire::encode(&out.message, &limits)
                .map_err(|e| engine_error(peer, "encoding its own message", e))?;
            ctx.send(out.to, Packet::Bytes(bytes));
        }
        for catch_up in catch_up {
            self.serve_catch_up(catch_up, ctx)?;
        }
        if decided && self.pending_crash == Some(CrashPoint::AfterDecision) {
            self.crash_now(ctx);
            return Ok(());
        }
        if let Some(step) = self.readmit(fetch, ctx)? {
            self.absorb(step, ctx)?;
        }
        Ok(())
    }

    /// Hands blocks to the application, each checked by every invariant first.
    pub(crate) fn observe_blocks(
        &mut self,
        blocks: Vec<Block<String>>,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<(), Violation> {
        let peer = ctx.peer;
        let shared = &mut *ctx.shared;
        for block in blocks {
            let index = self.blocks.len();
            shared.agreement.observe(peer, index, &block)?;
            shared.order.observe(peer, &block)?;
            shared.validity.observe(peer, &block)?;
            shared.termination.observe(peer, &block);
            shared.stats.peers[peer].blocks += 1;
            self.blocks.push(block);
        }
        Ok(())
    }

    /// Votes again, after a restart, what the application voted but the log lost.
    pub(crate) fn revote(
        &mut self,
        observation: Observation<String>,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<(), Violation> {
        let Role::Honest(engine) = &mut self.role else {
            return Ok(());
        };
        let step = engine
            .vote_for(observation)
            .map_err(|e| engine_error(ctx.peer, "vote_for after a restart", e))?;
        ctx.shared.stats.revotes += 1;
        self.voting = true;
        let absorbed = self.absorb(step, ctx);
        self.voting = false;
        absorbed
    }
}

/// Sends an adversary's messages.
fn route(sends: Sends, ctx: &mut Ctx<'_, '_>) {
    for (to, bytes) in sends {
        ctx.send(to, Packet::Bytes(bytes));
    }
}

impl Node for SimPeer {
    type Shared = Shared;
    type Error = Violation;

    fn id(&self) -> PeerId {
        self.id
    }

    fn receives(&self) -> bool {
        self.running()
    }

    fn gossip(&mut self, to: PeerId, ctx: &mut Ctx<'_, '_>) -> Result<bool, Violation> {
        if self.crashed {
            return Ok(false);
        }
        let from = ctx.peer;
        match &mut self.role {
            Role::Honest(engine) => {
                let started = Instant::now();
                let result = engine.create_gossip(to);
                ctx.shared.stats.engine_time += started.elapsed();
                let step = result.map_err(|e| engine_error(from, "create_gossip", e))?;
                ctx.shared.stats.peers[from].syncs += 1;
                self.absorb(step, ctx)?;
            }
            Role::Puppet(puppet) => {
                let result = puppet.gossip(to);
                ctx.shared.stats.peers[from].events_created = puppet.created;
                match result {
                    Ok(sends) => {
                        ctx.shared.stats.peers[from].syncs += 1;
                        route(sends, ctx);
                    }
                    Err(error) => self.adversary_failed(&error, ctx),
                }
            }
            Role::Silent | Role::Absent => return Ok(false),
        }
        Ok(true)
    }

    fn receive(
        &mut self,
        from: PeerId,
        packet: Packet,
        ctx: &mut Ctx<'_, '_>,
    ) -> Result<(), Violation> {
        let to = ctx.peer;
        // Every simulated sender encodes; a message value would come from a future sender
        // that does not, and is encoded here so that both roles see what a wire carries.
        let bytes = match packet {
            Packet::Bytes(bytes) => bytes,
            Packet::Message(message) => wire::encode(&message, &ctx.shared.config.wire_limits)
                .map_err(|e| engine_error(to, "encoding a message value", e))?,
        };
        match &mut self.role {
            Role::Honest(engine) => {
                let started = Instant::now();
                let result = engine.handle_bytes(from, &bytes);
                ctx.shared.stats.engine_time += started.elapsed();
                let step = result.map_err(|e| engine_error(to, "handle_bytes", e))?;
                self.absorb(step, ctx)?;
            }
            Role::Puppet(puppet) => {
                let result = puppet.receive(from, &bytes);
                ctx.shared.stats.peers[to].events_created = puppet.created;
                match result {
                    Ok(sends) => route(sends, ctx),
                    Err(error) => self.adversary_failed(&error, ctx),
                }
            }
            Role::Silent | Role::Absent => {}
        }
        Ok(())
    }
}
