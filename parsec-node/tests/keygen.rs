//! `parsec-node keygen` as an operator runs it: a 0600 key file and the public id on
//! stdout; a second run into the same directory fails and leaves the key alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use parsec_node::keys;

#[test]
fn keygen_writes_a_private_key_and_prints_its_id() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("member-a");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_parsec-node"))
            .args(["keygen", "--out"])
            .arg(&out)
            .output()
    };
    let first = run()?;
    assert!(first.status.success(), "{first:?}");
    let printed = String::from_utf8(first.stdout)?.trim().to_string();
    let path = out.join(keys::KEY_FILE);
    assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
    assert_eq!(keys::id_text(&keys::load(&path)?.peer_id()), printed);
    assert_eq!(printed.len(), 64, "the whole id, in hex");

    let before = fs::read(&path)?;
    let second = run()?;
    assert!(!second.status.success(), "a second keygen must fail");
    assert!(String::from_utf8(second.stderr)?.contains("exists already"));
    assert_eq!(fs::read(&path)?, before, "and leave the key as it was");
    Ok(())
}
