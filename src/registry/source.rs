//! The image to push, read from an `oci:` layout or an `oci-archive:` (whose blobs are
//! streamed out to a temporary folder first, never held in memory).

use super::{Blob, Error};
use crate::digest::Digest;
use crate::image::output::Output;
use crate::image::{REF_NAME, SUBJECT_ANNOTATION};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A manifest's exact bytes.
pub(super) struct Manifest {
    pub(super) bytes: Vec<u8>,
    pub(super) digest: Digest,
    pub(super) media_type: String,
    /// For an index entry tagged as a signature or attestation (`sha256-HEX.sig`): that tag.
    pub(super) tag: Option<String>,
    pub(super) blobs: Vec<Blob>,
}

pub(super) struct Image {
    /// What the tag points at: an image manifest, or an index over `children`.
    pub(super) manifest: Manifest,
    /// The platform manifests of an index (pushed by digest before it).
    pub(super) children: Vec<Manifest>,
    pub(super) artifacts: Vec<Manifest>,
    _tmp: Option<tempfile::TempDir>,
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

const MAX_JSON: u64 = 16 << 20;

pub(super) fn load(src: &Output) -> Result<Image, Error> {
    match src {
        Output::Oci { dir, tag } => load_dir(dir, tag, None),
        Output::OciArchive { file, tag } => {
            let tmp = tempfile::Builder::new()
                .prefix("kiln-push-")
                .tempdir()
                .map_err(|e| Error::Read {
                    path: file.clone(),
                    source: e,
                })?;
            extract(file, tmp.path())?;
            let dir = tmp.path().to_path_buf();
            load_dir(&dir, tag, Some(tmp)).map_err(|e| match e {
                Error::Layout { what, .. } => Error::Layout {
                    path: file.clone(),
                    what,
                },
                other => other,
            })
        }
        other => Err(Error::Source(other.to_string())),
    }
}

/// Unpacks the layout an oci-archive holds (`index.json`, `oci-layout`, `blobs/sha256/*`; other
/// entries are skipped) into `dest`, streaming.
pub(crate) fn extract(file: &Path, dest: &Path) -> Result<(), Error> {
    let io = |e| Error::Read {
        path: file.to_path_buf(),
        source: e,
    };
    let blobs = dest.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).map_err(io)?;
    let f = fs_err::File::open(file).map_err(io)?;
    let mut a = tar::Archive::new(std::io::BufReader::new(f));
    // The tar reader's own messages quote the bad header bytes: say what it means instead.
    let not_tar = |_| Error::Layout {
        path: file.to_path_buf(),
        what: "is not a valid tar archive (truncated, or not an oci-archive)".into(),
    };
    for entry in a.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry
            .path()
            .map_err(io)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let out = if name == "index.json" || name == "oci-layout" {
            dest.join(&name)
        } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            blobs.join(hex)
        } else {
            continue;
        };
        let mut w = fs_err::File::create(&out).map_err(io)?;
        std::io::copy(&mut entry, &mut w).map_err(io)?;
    }
    Ok(())
}

fn read_json(dir: &Path, path: &Path) -> Result<(Vec<u8>, Value), Error> {
    let meta = fs_err::metadata(path).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.len() > MAX_JSON {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            what: format!("{} is too large for JSON metadata", path.display()),
        });
    }
    let bytes = fs_err::read(path).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    let v = serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
        path: dir.to_path_buf(),
        what: format!("{} is not valid JSON: {e}", path.display()),
    })?;
    Ok((bytes, v))
}

fn parse_digest(dir: &Path, v: &Value) -> Result<Digest, Error> {
    v.as_str()
        .and_then(Digest::parse)
        .ok_or_else(|| Error::Layout {
            path: dir.to_path_buf(),
            what: format!("{v} is not a sha256 digest"),
        })
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(d.hex())
}

/// Reads the manifest `desc` points at, checking its digest, and lists its blobs.
fn manifest(dir: &Path, desc: &Value) -> Result<Manifest, Error> {
    let digest = parse_digest(dir, &desc["digest"])?;
    let (bytes, v) = read_json(dir, &blob_path(dir, &digest))?;
    if Digest::of(&bytes) != digest {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            what: format!("the blob of manifest {digest} does not match its digest"),
        });
    }
    let media_type = v["mediaType"]
        .as_str()
        .or(desc["mediaType"].as_str())
        .unwrap_or(crate::image::MANIFEST_MEDIA_TYPE)
        .to_string();
    let mut blobs = Vec::new();
    // An image index references manifests, which the caller loads; a manifest, blobs.
    let descs = std::iter::once(&v["config"])
        .filter(|c| !c.is_null() || v.get("manifests").is_none())
        .chain(v["layers"].as_array().into_iter().flatten());
    for d in descs {
        let digest = parse_digest(dir, &d["digest"])?;
        let path = blob_path(dir, &digest);
        let size = fs_err::metadata(&path)
            .map_err(|e| Error::Read {
                path: path.clone(),
                source: e,
            })?
            .len();
        if d["size"].as_u64() != Some(size) {
            return Err(Error::Layout {
                path: dir.to_path_buf(),
                what: format!(
                    "blob {digest} has {size} bytes, the manifest says {}",
                    d["size"]
                ),
            });
        }
        blobs.push(Blob {
            digest,
            size,
            path,
            mount_from: Vec::new(),
        });
    }
    let tag = desc["annotations"][REF_NAME]
        .as_str()
        .filter(|t| super::is_append_tag(t))
        .map(str::to_string);
    Ok(Manifest {
        bytes,
        digest,
        media_type,
        tag,
        blobs,
    })
}

fn load_dir(dir: &Path, tag: &str, tmp: Option<tempfile::TempDir>) -> Result<Image, Error> {
    let (_, index) = read_json(dir, &dir.join("index.json"))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let desc = entries
        .iter()
        .find(|m| m["annotations"][REF_NAME].as_str() == Some(tag))
        .ok_or_else(|| Error::Layout {
            path: dir.to_path_buf(),
            what: format!("no image tagged {tag:?}"),
        })?;
    let image = manifest(dir, desc)?;
    let mut subjects = vec![image.digest.to_string()];
    let mut children = Vec::new();
    let v: Value = serde_json::from_slice(&image.bytes).unwrap_or_default();
    for child in v["manifests"].as_array().into_iter().flatten() {
        let m = manifest(dir, child)?;
        subjects.push(m.digest.to_string());
        children.push(m);
    }
    let mut artifacts = Vec::new();
    // The artifacts of this image built under this tag (the SBOMs name their tag), or under no
    // recorded tag (signatures, attestations, layouts from before tags were recorded).
    for a in entries.iter().filter(|m| {
        m["annotations"][SUBJECT_ANNOTATION]
            .as_str()
            .is_some_and(|s| subjects.iter().any(|x| x == s))
            && m["annotations"][crate::image::TAG_ANNOTATION]
                .as_str()
                .is_none_or(|t| t == tag)
    }) {
        artifacts.push(manifest(dir, a)?);
    }
    Ok(Image {
        manifest: image,
        children,
        artifacts,
        _tmp: tmp,
    })
}
