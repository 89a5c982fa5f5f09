//! Identities, keys, signatures and hashes.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Serde support for fixed-size byte arrays written raw, as tuples without a length.
///
/// The canonical layout (spec §1.2) writes keys, hashes and signatures as their raw bytes;
/// serde's own array support stops at 32 elements and the dalek serde support adds a length.
pub(crate) mod raw_bytes {
    use std::fmt;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(N)?;
        for byte in bytes {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }

    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "{N} raw bytes")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

fn write_short_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for byte in bytes.iter().take(4) {
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

fn write_full_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for byte in bytes {
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

/// A peer's identity: its ed25519 public key (32 raw bytes).
///
/// Ordered by its bytes; every "ordered by peer" rule of the protocol uses this order.
/// `Display` prints a short hex prefix for logs, `{:#}` the whole key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerId(#[serde(with = "raw_bytes")] [u8; 32]);

impl PeerId {
    /// Wraps raw public-key bytes. Whether they form a valid key is only checked when a
    /// signature is verified against them (an invalid key verifies nothing).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        PeerId(bytes)
    }

    /// The raw public-key bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Strict ed25519 verification of `signature` over `message` with this key.
    ///
    /// Rejects non-canonical signatures and small-order keys (spec §1.1).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        match VerifyingKey::from_bytes(&self.0) {
            Ok(key) => key
                .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
                .is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write_full_hex(f, &self.0)
        } else {
            write_short_hex(f, &self.0)
        }
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerId(")?;
        write_short_hex(f, &self.0)?;
        f.write_str("..)")
    }
}

/// Decompressed public keys, so that checking many signatures of one peer decompresses its
/// key once (decompression is about a sixth of a strict verification).
///
/// Bounded: past [`KeyCache::CAPACITY`] peers it starts over, so a flood of made-up
/// identities cannot grow it.
#[derive(Clone, Default)]
pub struct KeyCache {
    keys: crate::hashing::DigestMap<PeerId, Option<VerifyingKey>>,
    shared: Option<VerifiedEvents>,
}

impl KeyCache {
    /// Most keys kept.
    pub const CAPACITY: usize = 4096;

    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that also consults and feeds `shared`, a record of events whose
    /// signatures were checked by engines of this same process.
    pub fn with_shared(shared: VerifiedEvents) -> Self {
        KeyCache {
            keys: Default::default(),
            shared: Some(shared),
        }
    }

    /// Whether an engine of this process already checked the signatures of the event
    /// with this hash and signature.
    pub(crate) fn already_verified(&self, hash: &EventHash, signature: &Signature) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| shared.contains(hash, signature))
    }

    /// Records that this event's signatures verified.
    pub(crate) fn record_verified(&self, hash: &EventHash, signature: &Signature) {
        if let Some(shared) = &self.shared {
            shared.insert(hash, signature);
        }
    }

    /// Strict verification of `signature` over `message` by `peer`, as [`PeerId::verify`].
    pub fn verify(&mut self, peer: &PeerId, message: &[u8], signature: &Signature) -> bool {
        if !self.keys.contains_key(peer) && self.keys.len() >= Self::CAPACITY {
            self.keys.clear();
        }
        let key = self
            .keys
            .entry(*peer)
            .or_insert_with(|| VerifyingKey::from_bytes(&peer.0).ok());
        match key {
            Some(key) => key
                .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
                .is_ok(),
            None => false,
        }
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyCache({} keys)", self.keys.len())
    }
}

/// Events whose signatures verified, shared by the engines of one process.
///
/// A simulation runs many engines side by side; each would otherwise verify every event
/// once per receiving engine. Engines given the same `VerifiedEvents` check each event's
/// signatures once. Only events that verified are recorded, keyed by hash and signature
/// (the hash covers the content and the vote signature, not the event signature), so a
/// forgery never matches. Share it only between engines that trust each other's checks,
/// i.e. within one process.
///
/// Bounded: it remembers the last [`VerifiedEvents::CAPACITY`] to
/// `2 · CAPACITY` events recorded, in two generations (a full one becomes the old one and
/// the one before is dropped). The engines of one process receive an event within a few
/// syncs of each other, so recent events are what they ask about.
#[derive(Clone, Default)]
pub struct VerifiedEvents(std::sync::Arc<std::sync::Mutex<VerifiedSet>>);

#[derive(Default)]
struct VerifiedSet {
    current: crate::hashing::DigestMap<(EventHash, Signature), ()>,
    previous: crate::hashing::DigestMap<(EventHash, Signature), ()>,
}

impl VerifiedEvents {
    /// Events per generation.
    pub const CAPACITY: usize = 1 << 12;

    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    fn contains(&self, hash: &EventHash, signature: &Signature) -> bool {
        let key = (*hash, *signature);
        self.0.lock().is_ok_and(|guard| {
            guard.current.contains_key(&key) || guard.previous.contains_key(&key)
        })
    }

    fn insert(&self, hash: &EventHash, signature: &Signature) {
        if let Ok(mut guard) = self.0.lock() {
            if guard.current.len() >= Self::CAPACITY {
                let full = std::mem::take(&mut guard.current);
                guard.previous = full;
            }
            guard.current.insert((*hash, *signature), ());
        }
    }

    /// Number of events remembered.
    pub fn len(&self) -> usize {
        self.0
            .lock()
            .map_or(0, |guard| guard.current.len() + guard.previous.len())
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for VerifiedEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifiedEvents({} events)", self.len())
    }
}

/// A peer's ed25519 signing key. `Debug` never prints the secret.
#[derive(Clone)]
pub struct SecretKey {
    key: SigningKey,
    public: PeerId,
}

impl SecretKey {
    /// The key whose 32-byte seed is `seed` (the ed25519 "secret key" bytes).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let public = PeerId(key.verifying_key().to_bytes());
        SecretKey { key, public }
    }

    /// The seed this key was made from; handle with care.
    pub fn to_seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The matching public identity.
    pub fn peer_id(&self) -> PeerId {
        self.public
    }

    /// Signs `message` (deterministic, as ed25519 is).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.key.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretKey {{ peer: {:?}, secret: <redacted> }}",
            self.public
        )
    }
}

/// An ed25519 signature (64 raw bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "raw_bytes")] [u8; 64]);

impl Signature {
    /// Wraps raw signature bytes.
    pub const fn from_bytes(bytes: [u8; 64]) -> Self {
        Signature(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature(")?;
        write_short_hex(f, &self.0)?;
        f.write_str("..)")
    }
}

macro_rules! hash_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(#[serde(with = "raw_bytes")] [u8; 32]);

        impl $name {
            /// Wraps raw hash bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if f.alternate() {
                    write_full_hex(f, &self.0)
                } else {
                    write_short_hex(f, &self.0)
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                write_short_hex(f, &self.0)?;
                f.write_str("..)")
            }
        }
    };
}

hash_type!(
    /// BLAKE3 hash of an event's signing bytes (spec §1.3); identifies the event.
    EventHash
);
hash_type!(
    /// BLAKE3 hash of an observation (spec §1.3); part of every observation key.
    ObservationHash
);

/// A dense local number for a `PeerId`, given by one graph in order of first sight.
///
/// A memory optimisation only: it never appears on the wire, in hashes, or in any
/// ordering that affects results.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PeerIndex(pub(crate) u32);

impl From<usize> for PeerIndex {
    /// The `n`-th peer a graph registered (0-based); saturates beyond `u32::MAX`.
    fn from(n: usize) -> Self {
        PeerIndex(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

impl PeerIndex {
    /// The number as a vector index.
    pub const fn get(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PeerIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> (EventHash, Signature) {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
        (EventHash::from_bytes(bytes), Signature::from_bytes([7; 64]))
    }

    #[test]
    fn verified_events_keep_the_recent_generations_only() {
        let set = VerifiedEvents::new();
        let total = 2 * VerifiedEvents::CAPACITY + 1;
        for n in 0..total {
            let (hash, signature) = entry(n);
            set.insert(&hash, &signature);
        }
        assert!(set.len() <= 2 * VerifiedEvents::CAPACITY);
        let (hash, signature) = entry(0);
        assert!(!set.contains(&hash, &signature), "the oldest is forgotten");
        for n in total - VerifiedEvents::CAPACITY..total {
            let (hash, signature) = entry(n);
            assert!(
                set.contains(&hash, &signature),
                "recent event {n} forgotten"
            );
        }
    }
}
