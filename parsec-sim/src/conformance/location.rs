//! Where the corpus is looked for, and whether its absence is allowed.
//!
//! The build script (`build.rs`) includes this file with `#[path]`, so that the folder it
//! checks to mark the corpus tests ignored is the folder the tests read: keep it free of
//! crate dependencies.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the location of the conformance corpus.
pub const CORPUS_DIR_ENV: &str = "PARSEC_CONFORMANCE_DIR";

/// Environment variable set by CI; while it is set, a missing corpus fails the corpus tests
/// instead of leaving them ignored.
pub const CI_ENV: &str = "CI";

/// The corpus folder for the value of [`CORPUS_DIR_ENV`] (`dir_env`) and this crate's
/// manifest folder: the variable's value if set, otherwise `../shared/conformance` beside
/// the checkout (`<manifest_dir>/../../shared/conformance`).
pub fn corpus_path(dir_env: Option<&OsStr>, manifest_dir: &Path) -> PathBuf {
    match dir_env {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir.join("../../shared/conformance"),
    }
}

/// Whether the value of [`CI_ENV`] (`ci_env`) asks for the corpus: set to anything but
/// the empty string, `0` or `false` (the last two so that `CI=false` can switch it off).
pub fn ci_requires_corpus(ci_env: Option<&OsStr>) -> bool {
    ci_env.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_overrides_the_default_folder() {
        let manifest = Path::new("/src/parsec-rs/parsec-sim");
        assert_eq!(
            corpus_path(None, manifest),
            Path::new("/src/parsec-rs/parsec-sim/../../shared/conformance")
        );
        assert_eq!(
            corpus_path(Some(OsStr::new("/data/corpus")), manifest),
            Path::new("/data/corpus")
        );
    }

    #[test]
    fn ci_values() {
        for set in ["1", "true", "yes", "TRUE"] {
            assert!(ci_requires_corpus(Some(OsStr::new(set))), "{set}");
        }
        assert!(!ci_requires_corpus(None));
        for unset in ["", "0", "false", "False"] {
            assert!(!ci_requires_corpus(Some(OsStr::new(unset))), "{unset}");
        }
    }
}
