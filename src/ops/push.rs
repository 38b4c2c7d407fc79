//! `kiln push`: an image of a layout or archive, with its SBOMs and plan, to a registry.
//!
//! Owns: the push request (source, destination, registry options, `--image-refs`), writing
//! the pushed reference to the file asked for. Does not own: the protocol (`registry`),
//! credentials from flags or stdin and the progress bars (`cli`).
//! Invariant: never prints; what it pushed is the report.

use crate::image::output::Output;
use crate::registry::{self, Reference};
use std::path::PathBuf;
use std::sync::Arc;

/// What to push, where to, and how to reach the registry.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The image: an `oci:` layout or an `oci-archive:`.
    pub source: Output,
    /// The repository and tag to push to.
    pub destination: Reference,
    /// Credentials, TLS, mount sources, jobs, chunk size; its `progress` is replaced by the
    /// receiver given to [`push`].
    pub registry: registry::Options,
    /// Also write the pushed reference (`HOST/REPO@sha256:...`) and a newline here.
    pub image_refs: Option<PathBuf>,
}

/// What a push did (`--json`): reference, digest, blobs uploaded, skipped and mounted.
pub type PushReport = registry::Summary;

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry refused or failed the push.
    #[error(transparent)]
    Push(Box<PushFailed>),
    /// The image was pushed; the `--image-refs` file could not be written.
    #[error(transparent)]
    ImageRefs(std::io::Error),
}

/// The registry refused or failed the push (boxed in [`Error`]: it is large).
#[derive(Debug, thiserror::Error)]
#[error("cannot push {image} to {destination}")]
pub struct PushFailed {
    /// The image pushed.
    pub image: Output,
    /// Where to.
    pub destination: Reference,
    /// The registry's error.
    #[source]
    pub source: registry::Error,
}

/// Pushes `req.source` to `req.destination`, reporting the transfer to `progress`.
pub fn push(req: &PushRequest, progress: Arc<dyn registry::Progress>) -> Result<PushReport, Error> {
    let mut opts = req.registry.clone();
    opts.progress = registry::ProgressSink(progress);
    let s = registry::push(&req.source, &req.destination, &opts).map_err(|source| {
        Error::Push(Box::new(PushFailed {
            image: req.source.clone(),
            destination: req.destination.clone(),
            source,
        }))
    })?;
    if let Some(f) = &req.image_refs {
        fs_err::write(f, format!("{}\n", s.reference)).map_err(Error::ImageRefs)?;
    }
    Ok(s)
}
