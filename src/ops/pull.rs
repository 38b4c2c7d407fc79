//! `kiln pull`: a registry image into an `oci:` layout or an `oci-archive:`.
//!
//! Owns: the pull request (source, destination, which platforms, referrers, registry options,
//! `--image-refs`), writing the pulled reference to the file asked for. Does not own: the
//! protocol and the layout update (`registry::pull`), the progress bars (`cli`).
//! Invariant: never prints; what it pulled is the report.

use crate::image::output::Output;
use crate::registry::{self, pull::Select, Reference};
use std::path::PathBuf;
use std::sync::Arc;

/// What to pull, where to, and how to reach the registry.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The registry image (`docker://HOST/REPO[:TAG|@DIGEST]`).
    pub source: Reference,
    /// An `oci:` layout or an `oci-archive:` (its tag defaults to `latest`).
    pub destination: Output,
    /// The image, one platform's image of an index, or the whole index.
    pub select: Select,
    /// Also fetch kiln's artifacts, the referrers and cosign's `.sig`/`.att` tags.
    pub with_referrers: bool,
    /// Credentials, TLS, concurrent downloads; its `progress` is replaced by the receiver
    /// given to [`pull`].
    pub registry: registry::Options,
    /// Also write the pulled reference (`HOST/REPO@sha256:...`) and a newline here.
    pub image_refs: Option<PathBuf>,
}

/// What a pull did (`--json`): reference, digest, platforms, blobs fetched and present.
pub type PullReport = registry::pull::Pulled;

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry refused or failed the pull.
    #[error(transparent)]
    Pull(Box<PullFailed>),
    /// The image was pulled; the `--image-refs` file could not be written.
    #[error(transparent)]
    ImageRefs(std::io::Error),
}

/// The registry refused or failed the pull (boxed in [`Error`]: it is large).
#[derive(Debug, thiserror::Error)]
#[error("cannot pull {image} into {destination}")]
pub struct PullFailed {
    /// The image pulled.
    pub image: Reference,
    /// Where to.
    pub destination: Output,
    /// The registry's error.
    #[source]
    pub source: registry::Error,
}

/// Pulls `req.source` into `req.destination`, reporting the transfer to `progress`.
pub fn pull(req: &PullRequest, progress: Arc<dyn registry::Progress>) -> Result<PullReport, Error> {
    let mut opts = req.registry.clone();
    opts.progress = registry::ProgressSink(progress);
    let inner = registry::pull::Request {
        source: req.source.clone(),
        destination: req.destination.clone(),
        select: req.select.clone(),
        with_referrers: req.with_referrers,
        skip_layers: false,
    };
    let s = registry::pull::pull(&inner, &opts).map_err(|source| {
        Error::Pull(Box::new(PullFailed {
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
