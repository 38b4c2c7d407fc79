//! `kiln inspect`: what an image is (config, layers, platforms, annotations, referrers), from
//! any store: kiln's outputs, `docker save` / `podman save` archives, a registry.
//!
//! Owns: choosing the reader for a reference.
//! Does not own: reading the stores (`oci::inspect`, `registry::pull`), printing (`cli`).
//! Invariant: what it reports was read through a store's checked reads.

use crate::image::output::Output;
use crate::oci::inspect::{self, Inspected};
use crate::registry::Options;

/// What `kiln inspect` asks for.
#[derive(Clone)]
pub struct InspectRequest {
    /// `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`, `docker://...`.
    pub image: String,
    /// For an index: which platform's image (default: this machine's, else the first).
    pub platform: Option<String>,
    /// For `docker://`: credentials and TLS.
    pub registry: Option<Options>,
}

/// What `kiln inspect` reports.
pub type InspectReport = Inspected;

/// Reads what `req.image` is (config, layers, platforms, annotations, referrers) from a layout, archive or registry; errors when the reference is malformed or the image cannot be read.
pub fn inspect(req: &InspectRequest) -> anyhow::Result<InspectReport> {
    let platform = req.platform.as_deref();
    Ok(if req.image.starts_with("docker://") {
        let r = crate::registry::Reference::parse(&req.image)?;
        let opts = req.registry.clone().unwrap_or_default();
        crate::registry::pull::inspect(&r, &opts, platform)?
    } else {
        match Output::parse(&req.image)? {
            Output::Oci { dir, tag } => inspect::layout(&dir, &tag, platform)?,
            Output::OciArchive { file, tag } => inspect::oci_archive(&file, &tag, platform)?,
            Output::DockerArchive { file, .. } => inspect::docker_archive(&file)?,
        }
    })
}
