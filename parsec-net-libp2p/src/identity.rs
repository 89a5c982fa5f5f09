//! The one identity: a member's ed25519 consensus key is its libp2p key, so that the
//! libp2p `PeerId` a connection authenticated maps one to one to the consensus `PeerId`.

use libp2p::identity::{self, Keypair};

use parsec_core::{PeerId, SecretKey};

/// The libp2p keypair of a consensus key (the same ed25519 secret).
pub fn keypair(key: &SecretKey) -> Keypair {
    let mut seed = key.to_seed();
    // Never fails for 32 bytes; the fallback only keeps the signature total.
    identity::Keypair::ed25519_from_bytes(&mut seed).unwrap_or_else(|_| Keypair::generate_ed25519())
}

/// The libp2p id of a consensus id, or `None` if its bytes are not an ed25519 point.
pub fn to_libp2p(peer: &PeerId) -> Option<libp2p::PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(peer.as_bytes()).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// The consensus id of a libp2p id, if it carries an ed25519 key (libp2p inlines ed25519
/// keys in the id, so no lookup is needed).
pub fn from_libp2p(peer: &libp2p::PeerId) -> Option<PeerId> {
    let public = identity::PublicKey::try_decode_protobuf(multihash_digest(peer)?).ok()?;
    let ed25519 = public.try_into_ed25519().ok()?;
    Some(PeerId::from_bytes(ed25519.to_bytes()))
}

/// The identity multihash's digest: the protobuf-encoded public key.
fn multihash_digest(peer: &libp2p::PeerId) -> Option<&[u8]> {
    let multihash = peer.as_ref();
    // Code 0 is the identity hash: the key itself is the digest.
    (multihash.code() == 0).then(|| multihash.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_ids_map_one_to_one() {
        for i in 0..8u8 {
            let key = SecretKey::from_seed([i; 32]);
            let ours = key.peer_id();
            let theirs = keypair(&key).public().to_peer_id();
            assert_eq!(to_libp2p(&ours), Some(theirs));
            assert_eq!(from_libp2p(&theirs), Some(ours));
        }
        assert_eq!(
            from_libp2p(&libp2p::PeerId::random()),
            None,
            "not an ed25519 id"
        );
    }
}
