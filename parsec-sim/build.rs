//! Marks the corpus tests ignored when the conformance corpus is absent (`cfg
//! no_conformance_corpus`), so that `cargo test` reports them as ignored, with the reason,
//! instead of passing them without running anything. Under CI (`CI` set) the cfg is never
//! set: the tests run and fail on the missing corpus.

use std::path::Path;

#[path = "src/conformance/location.rs"]
mod location;

use location::{CI_ENV, CORPUS_DIR_ENV, ci_requires_corpus, corpus_path};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_conformance_corpus)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/conformance/location.rs");
    println!("cargo::rerun-if-env-changed={CORPUS_DIR_ENV}");
    println!("cargo::rerun-if-env-changed={CI_ENV}");

    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let dir = corpus_path(
        std::env::var_os(CORPUS_DIR_ENV).as_deref(),
        Path::new(&manifest_dir),
    );
    if dir.is_dir() {
        // Re-checked if the corpus changes or goes away. A missing folder is not watched:
        // Cargo would rerun this script, and so rebuild the whole crate, on every build.
        // Adding the corpus later needs a rerun (a change of `PARSEC_CONFORMANCE_DIR` or
        // of this file), as the ignore reason says.
        println!("cargo::rerun-if-changed={}", dir.display());
    } else if !ci_requires_corpus(std::env::var_os(CI_ENV).as_deref()) {
        println!("cargo::rustc-cfg=no_conformance_corpus");
    }
}
