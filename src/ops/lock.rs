//! `kiln lock`: `NAME.lock` beside a manifest, the hashes of everything its image is built
//! from; and the manifest's Plans, which `attest --type slsaprovenance` compares with the
//! plan stored beside an image.
//!
//! Owns: loading a manifest's Plans (one per platform, each over its sysroot, at
//! `SOURCE_DATE_EPOCH`) for the ops, writing the lock. Does not own: the lock's format and
//! drift (`crate::lock`), planning (`plan`), printing (`cli`).
//! Invariant: never prints; the build steps' progress goes to the receiver given.
//! Known gap: `cli::build` still loads its Plans itself (the same steps), until `build` is an
//! op too.

use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::progress::{self, Progress};
use crate::time::Epoch;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The manifest to lock.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The manifest (TOML); the lock is written beside it as `NAME.lock`.
    pub manifest: PathBuf,
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
}

/// Why the Plans could not be made or the lock not written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Epoch(#[from] crate::time::EpochError),
    #[error(transparent)]
    Manifest(#[from] crate::manifest::Error),
    /// The manifest's `sysroot` is not a directory (the diagnostic points at it, with a hint).
    #[error(transparent)]
    Sysroot(Box<crate::span::Diagnostic>),
    #[error(transparent)]
    Plan(#[from] crate::plan::Error),
    #[error(transparent)]
    Lock(#[from] crate::lock::Error),
}

/// Writes the lock of `req.manifest`, the build steps reported to `progress`.
pub fn lock(req: &LockRequest, progress: Arc<dyn Progress>) -> Result<LockReport, Error> {
    let (manifests, plans) = progress::scope(progress, || load_plans(&req.manifest))?;
    let path = crate::lock::path_for(&req.manifest);
    let lock = crate::lock::Lock::of_all(&plans, &manifests[0].file.text);
    lock.write(&path)?;
    Ok(LockReport {
        inputs: lock.inputs.len(),
        lock: path,
        packages: lock.packages.len(),
        resolved_files: lock.closure.len(),
    })
}

/// The manifest's Plans, one per platform it lists (one when it lists none).
pub fn load_plans(manifest: &Path) -> Result<(Vec<Manifest>, Vec<Plan>), Error> {
    let epoch = Epoch::from_env()?;
    let manifests = crate::manifest::load_all(manifest)?;
    let mut plans = Vec::new();
    for m in &manifests {
        plans.push(crate::plan::build(m, &root_of(m)?, epoch)?);
    }
    Ok((manifests, plans))
}

/// The manifest's sysroot, canonical, or `/`.
fn root_of(manifest: &Manifest) -> Result<PathBuf, Error> {
    let Some(sp) = &manifest.image.sysroot else {
        return Ok(PathBuf::from("/"));
    };
    match fs_err::canonicalize(&sp.host) {
        Ok(p) if p.is_dir() => Ok(p),
        _ => Err(Error::Sysroot(Box::new(
            crate::span::Diagnostic::new(
                format!("`sysroot` {:?} is not a directory", sp.written),
                sp.location.clone(),
            )
            .with_hint(
                "a sysroot holds the target's loader and libraries, e.g. from `dpkg -x` of the \
                 target's packages",
            ),
        ))),
    }
}

/// A path as text (lossy), as the JSON reports print paths.
pub(crate) fn display_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}
