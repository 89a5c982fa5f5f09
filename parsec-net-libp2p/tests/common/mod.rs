//! What the libp2p tests share: a harness that starts members on loopback, each
//! restarted on the address it first had.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use parsec_core::{PeerId, PeerSet, SecretKey, TransportError, WireLimits};
use parsec_net_libp2p::{Libp2pConfig, Libp2pTransport, Multiaddr};
use parsec_sim::transport_suite::TransportHarness;

/// Starts transports on 127.0.0.1 (port 0 the first time, the same port after), each
/// knowing the addresses of those started before it.
pub struct Loopback {
    pub addresses: BTreeMap<PeerId, Multiaddr>,
    pub limits: WireLimits,
    pub request_timeout: Duration,
}

impl Loopback {
    pub fn new() -> Self {
        Loopback {
            addresses: BTreeMap::new(),
            limits: WireLimits {
                max_message_bytes: 256 << 10,
                max_events_per_message: 4096,
            },
            request_timeout: Duration::from_secs(2),
        }
    }

    pub fn config(&self, key: &SecretKey, members: &PeerSet) -> Libp2pConfig {
        let us = key.peer_id();
        let mut config = Libp2pConfig::new(key.clone(), members.clone());
        config.limits = self.limits;
        config.request_timeout = self.request_timeout;
        // Members kept out for a while are redialled soon after they are let in again.
        config.redial_max = Duration::from_secs(1);
        if let Some(address) = self.addresses.get(&us) {
            config.listen = vec![address.clone()];
        }
        for (peer, address) in &self.addresses {
            if *peer != us {
                config.addresses.insert(*peer, vec![address.clone()]);
            }
        }
        config
    }

    pub async fn start_member(
        &mut self,
        key: &SecretKey,
        members: &PeerSet,
    ) -> Result<Libp2pTransport<String>, TransportError> {
        let transport = Libp2pTransport::start(self.config(key, members)).await?;
        if let Some(address) = transport.listen_addrs().first() {
            self.addresses.insert(key.peer_id(), address.clone());
        }
        Ok(transport)
    }
}

#[async_trait::async_trait]
impl TransportHarness for Loopback {
    type Transport = Libp2pTransport<String>;

    async fn start(
        &mut self,
        key: &SecretKey,
        members: &PeerSet,
    ) -> Result<Self::Transport, TransportError> {
        // A port just released can take a moment to bind again.
        let mut tries = 0;
        loop {
            match self.start_member(key, members).await {
                Err(TransportError::Setup(_)) if tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn stop(&mut self, transport: Self::Transport) {
        transport.shutdown().await;
    }

    async fn send_raw(
        &mut self,
        from: &mut Self::Transport,
        to: PeerId,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        from.send_raw(to, bytes).await
    }

    fn limits(&self) -> WireLimits {
        self.limits
    }

    fn request_timeout(&self) -> Option<Duration> {
        Some(self.request_timeout)
    }
}
