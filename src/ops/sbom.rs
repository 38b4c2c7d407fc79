//! `kiln sbom`: the SBOM kiln stored with an image, from any output form or a registry.
//!
//! Owns: reading one of kiln's artifacts (SPDX, CycloneDX, the portable plan) for an image
//! reference, pulling a `docker://` image's manifests and artifacts (no layers) into a
//! temporary folder first, and the error for an image kiln did not build.
//! Does not own: the artifacts' format (`sbom`, `image::read`), printing (`cli`).
//! Invariant: the bytes returned are the artifact's, checked against its digest.

use crate::image::output::Output;
use crate::registry::Options;

/// What `kiln sbom` asks for.
#[derive(Clone)]
pub struct SbomRequest {
    /// `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`, `docker://...`.
    pub image: String,
    /// Which SBOM: SPDX or CycloneDX.
    pub format: crate::sbom::Format,
    /// For an index: whose SBOM (default: this machine's platform, else the first).
    pub platform: Option<String>,
    /// For `docker://`: credentials and TLS.
    pub registry: Option<Options>,
}

/// The SBOM document, exact bytes.
pub struct SbomReport {
    /// The document's bytes, as stored (checked against their digest).
    pub document: Vec<u8>,
}

/// Reads the SBOM kiln stored with `req.image`; errors when the image cannot be read, or has no SBOM in that format (it was not built by kiln).
pub fn sbom(req: &SbomRequest) -> anyhow::Result<SbomReport> {
    let media_type = req.format.media_type();
    let document = read_artifact(
        &req.image,
        media_type,
        req.platform.as_deref(),
        req.registry.as_ref(),
    )
    .map_err(|e| no_sbom(e, &req.image, req.format))?;
    Ok(SbomReport { document })
}

/// An image without kiln's SBOM artifact: one line saying where kiln looked, and what works.
fn no_sbom(e: anyhow::Error, image: &str, format: crate::sbom::Format) -> anyhow::Error {
    if !is_foreign(&e) {
        return e;
    }
    let (name, member) = match format {
        crate::sbom::Format::Spdx => ("SPDX", "kiln/sbom.spdx.json"),
        crate::sbom::Format::CycloneDx => ("CycloneDX", "kiln/sbom.cdx.json"),
    };
    anyhow::anyhow!(
        "{image} carries no kiln SBOM: no {name} artifact (type {}) with the image as subject, nor a {member} member in a docker-archive\n\nhint: kiln did not build this image; `kiln inspect {image}` shows its config and layers, `kiln explain {image} PATH` which layer and package hold a path",
        format.media_type()
    )
}

/// Whether `e` says the image has no artifact of kiln's (it was not built by kiln).
pub(crate) fn is_foreign(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::image::read::Error>(),
            Some(crate::image::read::Error::NoArtifact { .. })
        )
    })
}

/// The content of kiln's artifact of `media_type` stored with `spec`'s image. A `docker://`
/// image is pulled first (manifests, configs and artifacts; no layers) into a temporary
/// folder removed afterwards, and read from there as a layout.
pub(crate) fn read_artifact(
    spec: &str,
    media_type: &str,
    platform: Option<&str>,
    registry: Option<&Options>,
) -> anyhow::Result<Vec<u8>> {
    if !spec.starts_with("docker://") {
        let image = Output::parse(spec)?;
        return Ok(crate::image::read::artifact_for(
            &image, media_type, platform,
        )?);
    }
    let source = crate::registry::Reference::parse(spec)?;
    let temp = std::env::temp_dir();
    crate::oci::guard::sweep(&temp);
    let work = crate::oci::guard::Staging::new_in(&temp)?;
    let dir = work.path().join("image");
    let req = crate::registry::pull::Request {
        source,
        destination: Output::Oci {
            dir: dir.clone(),
            tag: "latest".into(),
        },
        select: crate::registry::pull::Select::All,
        with_referrers: true,
        skip_layers: true,
    };
    let opts = registry.cloned().unwrap_or_default();
    crate::registry::pull::pull(&req, &opts)
        .map_err(anyhow::Error::from)
        .map_err(|e| e.context(format!("cannot read {spec}")))?;
    let image = Output::Oci {
        dir,
        tag: "latest".into(),
    };
    Ok(crate::image::read::artifact_for(
        &image, media_type, platform,
    )?)
}
