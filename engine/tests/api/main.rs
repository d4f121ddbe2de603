//! `snap-engine` tested through its public API, one test binary: the
//! archive views (ZIP, vault, hostile archives, import rules),
//! `profiles.json` and retention. Tests of more than a screen live here rather than in the
//! library; the end-to-end tests that run the `snap` binary are the
//! workspace's `tests/`.

mod archive;
mod profile;
mod retention;
