//! Reading what kiln stored beside an image: the SBOMs and the portable plan, from any output
//! form (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`).
//!
//! Owns: finding the tagged image in an index and the artifacts its descriptor names
//! ([`crate::oci::ARTIFACT_ANNOTATIONS`]; each checked to have the image as `subject`). Every
//! manifest and blob on the way is read through [`crate::oci`]: checked against its descriptor
//! (size, digest), parsed only within a size limit; archives are read in place (never unpacked).
//! Artifacts over [`MAX_ARTIFACT`] bytes are refused.

use super::output::Output;
use crate::digest::Digest;
use crate::oci::archive::Archive;
use crate::oci::layout::Layout;
use crate::oci::{self, parse_manifest, Descriptor, Index, Manifest, MAX_ARTIFACT, MAX_MANIFEST};
use std::path::{Path, PathBuf};

/// Why an artifact could not be read from an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest or blob could not be read or failed its checks.
    #[error(transparent)]
    Oci(#[from] oci::Error),
    /// The tag, or the platform asked for, is not in the image.
    #[error("{what} in {}", path.display())]
    NotFound {
        /// The image's layout or archive.
        path: PathBuf,
        /// What is missing, in words (`no such tag ...`).
        what: String,
    },
    /// The image has no artifact of this kind: kiln did not build it.
    #[error("{what} in {}", path.display())]
    NoArtifact {
        /// The image's layout or archive.
        path: PathBuf,
        /// Which artifact is missing, in words.
        what: String,
    },
    /// An artifact link of the image is malformed.
    #[error("manifest {digest} in {}: {why}", path.display())]
    NotAManifest {
        /// The image's layout or archive.
        path: PathBuf,
        /// The manifest with the bad link.
        digest: Digest,
        /// What is wrong with it.
        why: String,
    },
}

/// Where blobs come from: a layout folder, or an archive read in place.
enum Store {
    Dir(Layout),
    Archive(Archive),
}

impl Store {
    fn path(&self) -> &Path {
        match self {
            Store::Dir(l) => l.dir(),
            Store::Archive(a) => a.path(),
        }
    }

    fn index(&self) -> Result<Index, Error> {
        Ok(match self {
            Store::Dir(l) => l.index()?,
            Store::Archive(a) => a.index()?,
        })
    }

    fn blob(&self, d: &Descriptor, max: u64) -> Result<Vec<u8>, Error> {
        Ok(match self {
            Store::Dir(l) => l.read_blob(&d.digest, Some(d.size), max)?,
            Store::Archive(a) => a.read_blob(&d.digest, Some(d.size), max)?,
        })
    }

    /// The manifest `d` names, checked and parsed.
    fn manifest(&self, d: &Descriptor) -> Result<Manifest, Error> {
        let bytes = self.blob(d, MAX_MANIFEST)?;
        self.parse(d, &bytes)
    }

    /// The manifest `d` names when only its digest is known (an annotation gives no size):
    /// read within [`MAX_MANIFEST`], checked against the digest, parsed.
    fn manifest_unsized(&self, d: &Descriptor) -> Result<Manifest, Error> {
        let bytes = match self {
            Store::Dir(l) => l.read_blob(&d.digest, None, MAX_MANIFEST)?,
            Store::Archive(a) => a.read_blob(&d.digest, None, MAX_MANIFEST)?,
        };
        self.parse(d, &bytes)
    }

    fn parse(&self, d: &Descriptor, bytes: &[u8]) -> Result<Manifest, Error> {
        parse_manifest(bytes, Some(&d.media_type)).map_err(|why| Error::NotAManifest {
            path: self.path().to_path_buf(),
            digest: d.digest.clone(),
            why,
        })
    }
}

/// The content of the artifact of `media_type` stored for the image `image` names (for a
/// multi-platform image, the build host's platform, else the first).
pub fn artifact(image: &Output, media_type: &str) -> Result<Vec<u8>, Error> {
    artifact_for(image, media_type, None)
}

/// The docker-archive file kiln writes an artifact of `media_type` as.
fn docker_archive_name(media_type: &str) -> &'static str {
    match media_type {
        "application/spdx+json" => "kiln/sbom.spdx.json",
        "application/vnd.cyclonedx+json" => "kiln/sbom.cdx.json",
        _ => "kiln/plan.json",
    }
}

/// The content of the artifact of `media_type` stored for the image `image` names; when the
/// tag points at an image index, for the manifest of `platform` (`OS/ARCH[/VARIANT]`; default
/// the build host's platform, else the first).
pub fn artifact_for(
    image: &Output,
    media_type: &str,
    platform: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let (store, tag) = match image {
        Output::Oci { dir, tag } => (Store::Dir(Layout::open(dir)?), tag.clone()),
        Output::OciArchive { file, tag } => (Store::Archive(Archive::scan(file)?), tag.clone()),
        Output::DockerArchive { file, .. } => {
            let name = docker_archive_name(media_type);
            // `scan_with_links`: podman and skopeo write layers as links inside the archive.
            return Archive::scan_with_links(file)?
                .read(name, MAX_ARTIFACT, "kiln metadata")?
                .ok_or_else(|| Error::NoArtifact {
                    path: file.clone(),
                    what: format!("no {name}"),
                });
        }
    };
    let index = store.index()?;
    let top = index.tagged(&tag).ok_or_else(|| Error::NotFound {
        path: store.path().into(),
        what: index.no_such_tag(&tag),
    })?;
    // The descriptor of the image manifest: the entry itself, or the platform's in the index.
    let image = match store.manifest(top)? {
        Manifest::Index { manifests, .. } => choose_platform(&store, &tag, &manifests, platform)?,
        Manifest::Image { .. } => top.clone(),
    };
    let invalid = |digest: &Digest, why: String| Error::NotAManifest {
        path: store.path().into(),
        digest: digest.clone(),
        why,
    };
    let art = image
        .artifact(media_type)
        .map_err(|why| invalid(&image.digest, why))?
        .ok_or_else(|| Error::NoArtifact {
            path: store.path().into(),
            what: format!("no {media_type} for the image tagged `{tag}` (was it built by kiln?)"),
        })?;
    let art = Descriptor {
        media_type: oci::MANIFEST_MEDIA_TYPE.into(),
        digest: art,
        size: 0,
        artifact_type: None,
        platform: None,
        annotations: Default::default(),
    };
    let manifest = store.manifest_unsized(&art)?;
    let content = oci::artifact_content(&manifest, media_type, &image.digest)
        .map_err(|why| invalid(&art.digest, why))?;
    store.blob(&content, MAX_ARTIFACT)
}

/// The platform manifest of an index that `platform` names (default: the build host's, else the
/// first).
fn choose_platform(
    store: &Store,
    tag: &str,
    children: &[Descriptor],
    platform: Option<&str>,
) -> Result<Descriptor, Error> {
    let host = crate::types::Arch::host()
        .map(|arch| crate::types::Platform { arch }.to_string())
        .unwrap_or_default();
    let chosen = match platform {
        Some(want) => oci::find_platform(children, want).map_err(|have| Error::NotFound {
            path: store.path().into(),
            what: format!("no {want} image under the tag `{tag}` (it has: {have})"),
        })?,
        None => children
            .iter()
            .find(|m| m.platform_name() == host)
            .or(children.first())
            .ok_or_else(|| Error::NotFound {
                path: store.path().into(),
                what: format!("the index tagged `{tag}` lists no image"),
            })?,
    };
    Ok(chosen.clone())
}
