//! A member's key file: its ed25519 secret, which is also its libp2p identity.
//!
//! The file holds one header line and the 32-byte seed in hex. It is created with mode
//! 0600 and never overwritten, and a file that others can read is refused when loaded
//! (as ssh refuses a private key left open): a leaked consensus key lets anyone sign
//! events in the member's name, forks included.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use parsec_core::{PeerId, SecretKey};

/// The key file's name in a key directory.
pub const KEY_FILE: &str = "node.key";

/// The first line of every key file (its format).
const HEADER: &str = "parsec-rs ed25519 secret key v1";

/// A key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// There is a key file already: a new key would orphan the member's identity.
    #[error("{0} exists already: refusing to replace a member's key")]
    Exists(PathBuf),
    /// No key file there.
    #[error("no key file at {0}")]
    Missing(PathBuf),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Not a key file of this format.
    #[error("{path} is not a parsec-rs key file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Others may read it: the key may have leaked, and it is refused until the mode is
    /// fixed (`chmod 600`).
    #[error("{path} has mode {mode:o}: readable by others; chmod 600 it")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` if needed and writes a new random key to `dir/node.key` (mode 0600);
/// returns the key and the file's path. Refuses if the file exists.
pub fn generate(dir: &Path) -> Result<(SecretKey, PathBuf), KeyError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let path = dir.join(KEY_FILE);
    let key = SecretKey::from_seed(rand::random());
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyError::Exists(path));
        }
        Err(error) => return Err(io_error(&path)(error)),
    };
    let text = format!("{HEADER}\n{}\n", hex(&key.to_seed()));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&path))?;
    Ok((key, path))
}

/// Reads the key at `path`, refusing a file others can read or one not in this format.
pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(path.to_path_buf()));
        }
        Err(error) => return Err(io_error(path)(error)),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let malformed = |reason| KeyError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    // A key file is about 100 bytes; a huge file is not one (and is not read whole).
    if metadata.len() > 4096 {
        return Err(malformed("longer than a key file"));
    }
    let text = fs::read_to_string(path).map_err(|error| match error.kind() {
        io::ErrorKind::InvalidData => malformed("not text"),
        _ => io_error(path)(error),
    })?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(malformed("the first line is not the key file header"));
    }
    let seed = lines
        .next()
        .and_then(unhex)
        .ok_or_else(|| malformed("the second line is not 64 hex digits"))?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err(malformed("text after the key"));
    }
    Ok(SecretKey::from_seed(seed))
}

/// The public id as `keygen` prints it and genesis files name members: 64 hex digits.
pub fn id_text(id: &PeerId) -> String {
    format!("{id:#}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_and_is_never_replaced() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (key, path) = generate(dir.path())?;
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&path)?.peer_id(), key.peer_id());
        let before = fs::read(&path)?;
        assert!(matches!(generate(dir.path()), Err(KeyError::Exists(_))));
        assert_eq!(fs::read(&path)?, before, "the existing key is untouched");
        Ok(())
    }

    #[test]
    fn bad_key_files_are_refused_with_the_reason() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(KEY_FILE);
        assert!(matches!(load(&path), Err(KeyError::Missing(_))));
        let cases: [(&[u8], &str); 5] = [
            (b"", "header"),
            (b"something else\n", "header"),
            (b"parsec-rs ed25519 secret key v1\nzz\n", "hex"),
            (b"parsec-rs ed25519 secret key v1\n\xff\xfe\n", "not text"),
            (
                b"parsec-rs ed25519 secret key v1\n0000000000000000000000000000000000000000000000000000000000000000\nmore\n",
                "after",
            ),
        ];
        for (bytes, reason) in cases {
            let _ = fs::remove_file(&path);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?
                .write_all(bytes)?;
            match load(&path) {
                Err(KeyError::Malformed { reason: got, .. }) => {
                    assert!(got.contains(reason), "{got:?} for {bytes:?}")
                }
                other => panic!("{bytes:?} gave {other:?}"),
            }
        }
        let (_, path) = generate(&dir.path().join("open"))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        assert!(matches!(
            load(&path),
            Err(KeyError::TooOpen { mode: 0o644, .. })
        ));
        Ok(())
    }
}
