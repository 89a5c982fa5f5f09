//! Key material of the threshold coin (spec §7.5): a key epoch (the public key set and its
//! holders), a trusted dealer for the genesis group, and the secret share of one holder
//! with its file format.

use parsec_graph::PeerId;
use rand_chacha02::ChaCha20Rng;
use rand07::SeedableRng;
use threshold_crypto::serde_impl::SerdeSecret;
use threshold_crypto::{PublicKeySet, SecretKeySet, SecretKeyShare};

/// The version written at the head of a secret share file.
const SHARE_FORMAT: u32 = 1;
/// The magic bytes a secret share file starts with.
const SHARE_MAGIC: &[u8; 8] = b"PRSCSHR\0";

/// One key epoch: a threshold public key set and its holders (spec §7.5). Holder
/// `holders[i]` owns secret key share `i`; any `threshold + 1` shares make a signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyEpoch {
    /// The epoch's number (0: dealt at genesis).
    pub epoch: u64,
    /// The holders, ascending.
    pub holders: Vec<PeerId>,
    /// The public key set.
    pub public_keys: PublicKeySet,
}

impl KeyEpoch {
    /// The threshold `t`: `t + 1` shares are needed.
    pub fn threshold(&self) -> usize {
        self.public_keys.threshold()
    }

    /// The index of `peer` among the holders.
    pub fn holder_index(&self, peer: &PeerId) -> Option<usize> {
        self.holders.binary_search(peer).ok()
    }

    /// The epoch as bytes (for a genesis file; the format is bincode's, version-tagged by
    /// the caller's file).
    pub fn to_bytes(&self) -> Result<Vec<u8>, KeyError> {
        bincode::serde::encode_to_vec(self, codec()).map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Reads an epoch written by [`KeyEpoch::to_bytes`]; holders must be ascending and
    /// distinct, and as many as the key set allows (more than the threshold).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let (epoch, used): (KeyEpoch, usize) = bincode::serde::decode_from_slice(bytes, codec())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        if used != bytes.len() {
            return Err(KeyError::Malformed("trailing bytes".into()));
        }
        epoch.check()?;
        Ok(epoch)
    }

    fn check(&self) -> Result<(), KeyError> {
        if !self.holders.windows(2).all(|w| w[0] < w[1]) {
            return Err(KeyError::UnsortedHolders);
        }
        if self.holders.len() <= self.threshold() {
            return Err(KeyError::TooFewHolders {
                holders: self.holders.len(),
                threshold: self.threshold(),
            });
        }
        Ok(())
    }
}

fn codec() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::NoLimit,
> {
    bincode::config::legacy()
}

/// A holder's secret key share of one epoch.
#[derive(Clone)]
pub struct SecretShare {
    /// The epoch it belongs to.
    pub epoch: u64,
    /// The holder.
    pub holder: PeerId,
    /// The holder's index in the epoch.
    pub index: usize,
    share: SecretKeyShare,
}

impl std::fmt::Debug for SecretShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The share itself never goes to a log.
        f.debug_struct("SecretShare")
            .field("epoch", &self.epoch)
            .field("holder", &self.holder)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ShareFile {
    epoch: u64,
    holder: PeerId,
    index: u64,
    share: SerdeSecret<SecretKeyShare>,
}

impl SecretShare {
    /// The key share.
    pub(crate) fn key(&self) -> &SecretKeyShare {
        &self.share
    }

    /// The share file's bytes: magic, format version, then the epoch, holder, index and
    /// the secret. Keep it private to its holder (mode 0600).
    pub fn to_bytes(&self) -> Result<Vec<u8>, KeyError> {
        let file = ShareFile {
            epoch: self.epoch,
            holder: self.holder,
            index: self.index as u64,
            share: SerdeSecret(self.share.clone()),
        };
        let mut out = SHARE_MAGIC.to_vec();
        out.extend_from_slice(&SHARE_FORMAT.to_le_bytes());
        let body = bincode::serde::encode_to_vec(&file, codec())
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Loads a share file for `holder` and checks it against `epoch`: the file must be
    /// for that epoch and that holder, at the holder's index, and its secret must match
    /// the epoch's public key share there.
    pub fn from_bytes(bytes: &[u8], epoch: &KeyEpoch, holder: &PeerId) -> Result<Self, KeyError> {
        let rest = bytes
            .strip_prefix(SHARE_MAGIC.as_slice())
            .ok_or(KeyError::NotAShareFile)?;
        let (version, body) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| KeyError::Malformed("no format version".into()))?;
        let version = u32::from_le_bytes(*version);
        if version != SHARE_FORMAT {
            return Err(KeyError::UnsupportedFormat(version));
        }
        let (file, used): (ShareFile, usize) = bincode::serde::decode_from_slice(body, codec())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        if used != body.len() {
            return Err(KeyError::Malformed("trailing bytes".into()));
        }
        if file.epoch != epoch.epoch {
            return Err(KeyError::WrongEpoch {
                file: file.epoch,
                expected: epoch.epoch,
            });
        }
        if file.holder != *holder {
            return Err(KeyError::WrongHolder {
                file: file.holder,
                expected: *holder,
            });
        }
        let index = epoch
            .holder_index(holder)
            .ok_or(KeyError::NotAHolder(*holder))?;
        if file.index != index as u64 {
            return Err(KeyError::WrongIndex {
                file: file.index,
                expected: index as u64,
            });
        }
        let share = file.share.into_inner();
        if share.public_key_share() != epoch.public_keys.public_key_share(index) {
            return Err(KeyError::ShareMismatch);
        }
        Ok(SecretShare {
            epoch: epoch.epoch,
            holder: *holder,
            index,
            share,
        })
    }
}

/// What a trusted dealer hands out for a genesis group: the public epoch for the genesis
/// configuration and one secret share per member, to deliver privately.
#[derive(Debug)]
pub struct Dealt {
    /// The public part, the same for every member.
    pub epoch: KeyEpoch,
    /// One secret share per holder, in holder order.
    pub shares: Vec<SecretShare>,
}

/// Deals epoch `epoch` for `group` with threshold `⌊(n − 1) / 3⌋`, the key set drawn from
/// `seed` (the same seed deals the same keys: keep it secret, or discard it).
pub fn deal(group: &[PeerId], epoch: u64, seed: [u8; 32]) -> Result<Dealt, KeyError> {
    let mut holders = group.to_vec();
    holders.sort();
    holders.dedup();
    if holders.is_empty() {
        return Err(KeyError::TooFewHolders {
            holders: 0,
            threshold: 0,
        });
    }
    let threshold = (holders.len() - 1) / 3;
    let mut rng = ChaCha20Rng::from_seed(seed);
    let secret = SecretKeySet::random(threshold, &mut rng);
    let public_keys = secret.public_keys();
    let shares = holders
        .iter()
        .enumerate()
        .map(|(index, holder)| SecretShare {
            epoch,
            holder: *holder,
            index,
            share: secret.secret_key_share(index),
        })
        .collect();
    Ok(Dealt {
        epoch: KeyEpoch {
            epoch,
            holders,
            public_keys,
        },
        shares,
    })
}

/// Bad key material: a clear reason, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes do not start like a share file.
    #[error("not a parsec-rs secret share file")]
    NotAShareFile,
    /// A share file of a format this build does not read.
    #[error("share file format {0} is not supported (this build reads format 1)")]
    UnsupportedFormat(u32),
    /// The bytes do not decode.
    #[error("malformed key material: {0}")]
    Malformed(String),
    /// Encoding failed.
    #[error("cannot encode key material: {0}")]
    Encode(String),
    /// The share file is for another epoch.
    #[error("the share is for key epoch {file}, the configuration has epoch {expected}")]
    WrongEpoch {
        /// The file's epoch.
        file: u64,
        /// The configured epoch.
        expected: u64,
    },
    /// The share file belongs to another member.
    #[error("the share belongs to {file}, not to this member {expected}")]
    WrongHolder {
        /// The file's holder.
        file: PeerId,
        /// This member.
        expected: PeerId,
    },
    /// The member holds no share of the epoch.
    #[error("{0} is not a holder of the key epoch")]
    NotAHolder(PeerId),
    /// The share file names the wrong index.
    #[error("the share is at index {file}, the holder's index is {expected}")]
    WrongIndex {
        /// The file's index.
        file: u64,
        /// The holder's index in the epoch.
        expected: u64,
    },
    /// The secret does not match the epoch's public key share for the holder.
    #[error("the secret share does not match the public key set")]
    ShareMismatch,
    /// Holders not ascending or not distinct.
    #[error("the holders are not ascending and distinct")]
    UnsortedHolders,
    /// No more holders than the threshold.
    #[error("{holders} holders cannot sign with threshold {threshold}")]
    TooFewHolders {
        /// Holders.
        holders: usize,
        /// Threshold.
        threshold: usize,
    },
}
