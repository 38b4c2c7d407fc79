//! `kiln lock`: `NAME.lock` beside a manifest, the hashes of everything its image is built
//! from; and the manifest's Plans, which `attest --type slsaprovenance` compares with the
//! plan stored beside an image.
//!
//! Owns: writing the lock. Does not own: making the Plans (`ops::build::load_plans`, the same
//! steps as `kiln build`, base image included), the lock's format and drift (`crate::lock`),
//! planning (`plan`), printing (`cli`).
//! Invariant: never prints; the build steps' progress goes to the receiver given.

use super::build::load_plans_with;
use crate::progress::{self, Progress};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The manifest to lock.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The manifest (TOML); the lock is written beside it as `NAME.lock`.
    pub manifest: PathBuf,
    /// `--update`: read archives' current releases, not the pinned ones.
    pub update: bool,
}

/// What `kiln lock` wrote (`--json`; keys in sorted order, as kiln has always printed them).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LockReport {
    /// Files the manifest's components place.
    pub inputs: usize,
    /// The lock file written.
    #[serde(serialize_with = "display_path")]
    pub lock: PathBuf,
    /// Debian packages the files come from.
    pub packages: usize,
    /// Files the resolver added (loader, libraries, run-time loads).
    pub resolved_files: usize,
    /// What moved since the lock on disk that concerns archives: releases and packages
    /// (`deb NAME: 1.0-1 amd64 ... -> 1.0-2 amd64 ...`).
    pub changes: Vec<String>,
}

/// Why the Plans could not be made or the lock not written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest's Plans cannot be made.
    #[error(transparent)]
    Plans(#[from] super::build::LoadError),
    /// The lock cannot be written.
    #[error(transparent)]
    Lock(#[from] crate::lock::Error),
}

/// Writes the lock of `req.manifest`, the build steps reported to `progress`.
pub fn lock(req: &LockRequest, progress: Arc<dyn Progress>) -> Result<LockReport, Error> {
    let (manifests, plans) =
        progress::scope(progress, || load_plans_with(&req.manifest, req.update))?;
    let path = crate::lock::path_for(&req.manifest);
    let lock = crate::lock::Lock::of_all(&plans, &manifests[0].file.text);
    let changes = match crate::lock::Lock::read(&path) {
        Ok(Some(old)) => old
            .changes(&lock)
            .into_iter()
            .filter(|c| c.starts_with("deb ") || c.starts_with("release "))
            .collect(),
        _ => Vec::new(),
    };
    lock.write(&path)?;
    Ok(LockReport {
        inputs: lock.inputs.len(),
        lock: path,
        packages: lock.packages.len(),
        resolved_files: lock.closure.len(),
        changes,
    })
}

/// A path as text (lossy), as the JSON reports print paths.
pub(crate) fn display_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}
