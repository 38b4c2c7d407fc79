//! The image to push, read from an `oci:` layout or an `oci-archive:` (unpacked to a temporary
//! folder first, streaming, every blob checked against its name on the way).
//!
//! Owns: collecting what a push sends — the tagged manifest (or index and its platform
//! manifests), the artifacts each image descriptor names ([`crate::oci::ARTIFACT_ANNOTATIONS`],
//! each checked to have that image as `subject`) and the signature and attestation entries
//! whose `dev.kiln.subject` is one of the images, each as the exact bytes read, checked
//! against its digest, and each referenced blob as a plain file of its descriptor's size.
//! Does not own: reading the layout ([`crate::oci::layout`]), hashing layer blobs before they
//! are sent (`push_blob`, which hashes only what it uploads).

use super::{Blob, Error};
use crate::digest::Digest;
use crate::oci::guard::{self, Staging};
use crate::oci::layout::Layout;
use crate::oci::transport::Output;
use crate::oci::SUBJECT_ANNOTATION;
use crate::oci::{self, parse_manifest, Descriptor, MAX_MANIFEST};

/// A manifest's exact bytes.
pub(super) struct Manifest {
    pub(super) bytes: Vec<u8>,
    pub(super) digest: Digest,
    pub(super) media_type: String,
    /// For an index entry tagged as a signature or attestation (`sha256-HEX.sig`): that tag.
    pub(super) tag: Option<String>,
    pub(super) blobs: Vec<Blob>,
    /// The platform manifests an index lists.
    children: Vec<Descriptor>,
}

pub(super) struct Image {
    /// What the tag points at: an image manifest, or an index over `children`.
    pub(super) manifest: Manifest,
    /// The platform manifests of an index (pushed by digest before it).
    pub(super) children: Vec<Manifest>,
    pub(super) artifacts: Vec<Manifest>,
    _tmp: Option<Staging>,
}

impl Image {
    /// Every blob the image and its artifacts reference (duplicates possible).
    pub(super) fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.manifest
            .blobs
            .iter()
            .chain(self.children.iter().flat_map(|c| c.blobs.iter()))
            .chain(self.artifacts.iter().flat_map(|a| a.blobs.iter()))
    }
}

pub(super) fn load(src: &Output) -> Result<Image, Error> {
    match src {
        Output::Oci { dir, tag } => load_dir(&Layout::open(dir)?, tag, None),
        Output::OciArchive { file, tag } => {
            // In the temporary folder, removed on drop or Ctrl-C (and by a later run's sweep
            // after kill -9).
            let temp = std::env::temp_dir();
            guard::sweep(&temp);
            let tmp = Staging::new_in(&temp)?;
            oci::archive::unpack(file, tmp.path())?;
            let layout = Layout::open(tmp.path()).map_err(|e| match e {
                oci::Error::NotALayout { why, .. } => Error::Layout {
                    path: file.clone(),
                    what: format!("is not an oci-archive: {why}"),
                },
                other => other.into(),
            })?;
            load_dir(&layout, tag, Some(tmp))
        }
        other => Err(Error::Source(other.to_string())),
    }
}

/// Reads the manifest `desc` points at (checked against its digest and size) and lists its
/// blobs (plain files of their descriptors' sizes).
fn manifest(layout: &Layout, desc: &Descriptor) -> Result<Manifest, Error> {
    let bytes = layout.read_blob(&desc.digest, Some(desc.size), MAX_MANIFEST)?;
    manifest_of(layout, desc, bytes)
}

/// The artifact manifest `digest` (named by an annotation of `image`, so of unknown size: read
/// within [`MAX_MANIFEST`]), checked to be of `artifact_type` with `image` as its subject.
fn artifact(
    layout: &Layout,
    image: &Digest,
    artifact_type: &str,
    digest: Digest,
) -> Result<Manifest, Error> {
    let bytes = layout.read_blob(&digest, None, MAX_MANIFEST)?;
    let desc = Descriptor {
        media_type: oci::MANIFEST_MEDIA_TYPE.into(),
        size: bytes.len() as u64,
        digest,
        artifact_type: None,
        platform: None,
        annotations: Default::default(),
    };
    let parsed = parse_manifest(&bytes, Some(&desc.media_type)).map_err(|why| Error::Layout {
        path: layout.dir().to_path_buf(),
        what: format!("manifest {}: {why}", desc.digest),
    })?;
    oci::artifact_content(&parsed, artifact_type, image).map_err(|why| Error::Layout {
        path: layout.dir().to_path_buf(),
        what: format!("artifact manifest {}: {why}", desc.digest),
    })?;
    manifest_of(layout, &desc, bytes)
}

/// The artifacts the image descriptor `image` names, read and checked.
fn artifacts_of(layout: &Layout, image: &Descriptor) -> Result<Vec<Manifest>, Error> {
    let named = image.artifacts().map_err(|why| Error::Layout {
        path: layout.dir().to_path_buf(),
        what: why,
    })?;
    let mut out = Vec::new();
    for (key, d) in named {
        let (_, artifact_type) = oci::ARTIFACT_ANNOTATIONS
            .iter()
            .find(|(k, _)| *k == key)
            .expect("artifacts() returns known keys");
        out.push(artifact(layout, &image.digest, artifact_type, d)?);
    }
    Ok(out)
}

/// `bytes` (the blob `desc` names, checked) parsed, with its blobs listed.
fn manifest_of(layout: &Layout, desc: &Descriptor, bytes: Vec<u8>) -> Result<Manifest, Error> {
    let parsed = parse_manifest(&bytes, Some(&desc.media_type)).map_err(|why| Error::Layout {
        path: layout.dir().to_path_buf(),
        what: format!("manifest {}: {why}", desc.digest),
    })?;
    let mut blobs = Vec::new();
    for d in parsed.blobs() {
        let path = layout.blob_path(&d.digest);
        match layout.blob_size(&d.digest)? {
            Some(size) if size == d.size => blobs.push(Blob {
                digest: d.digest.clone(),
                size,
                path,
                mount_from: Vec::new(),
            }),
            Some(size) => {
                return Err(oci::Error::SizeMismatch {
                    layout: layout.dir().to_path_buf(),
                    digest: d.digest.clone(),
                    expected: d.size,
                    actual: size,
                }
                .into())
            }
            None => {
                return Err(oci::Error::Missing {
                    layout: layout.dir().to_path_buf(),
                    digest: d.digest.clone(),
                }
                .into())
            }
        }
    }
    let tag = desc
        .tag()
        .filter(|t| super::is_append_tag(t))
        .map(str::to_string);
    Ok(Manifest {
        bytes,
        digest: desc.digest.clone(),
        media_type: parsed.media_type().to_string(),
        tag,
        blobs,
        children: parsed.children().to_vec(),
    })
}

fn load_dir(layout: &Layout, tag: &str, tmp: Option<Staging>) -> Result<Image, Error> {
    let index = layout.index()?;
    let desc = index.tagged(tag).ok_or_else(|| Error::Layout {
        path: layout.dir().to_path_buf(),
        what: index.no_such_tag(tag),
    })?;
    let image = manifest(layout, desc)?;
    let mut subjects = vec![image.digest.to_string()];
    let mut artifacts = artifacts_of(layout, desc)?;
    let mut children = Vec::new();
    for child in &image.children {
        let m = manifest(layout, child)?;
        subjects.push(m.digest.to_string());
        artifacts.extend(artifacts_of(layout, child)?);
        children.push(m);
    }
    // Signatures and attestations: entries of their own (`sha256-HEX.sig`, `.att`) about one
    // of these images.
    for a in index.descriptors().filter(|m| {
        m.annotation(SUBJECT_ANNOTATION)
            .is_some_and(|s| subjects.iter().any(|x| x == s))
    }) {
        artifacts.push(manifest(layout, a)?);
    }
    Ok(Image {
        manifest: image,
        children,
        artifacts,
        _tmp: tmp,
    })
}
