//! Opens a base image (`[image] base = "..."`) and unpacks it as a target root.
//!
//! Owns: the base reference (`docker://`, `oci:`, `oci-archive:`), choosing the platform's
//! image of an index, the base cache (below), applying layers safely ([`unpack`]) and the
//! merged file list ([`BaseFile`]).
//! Does not own: HTTP, auth and TLS (`registry::pull` fetches, with its rules), reading
//! layouts and archives and the typed image config (`oci`, `oci::config::ImageConfig`,
//! re-exported here), the lock that pins a tag's digest, and what a build does
//! with the base (`plan`).
//!
//! The cache (`CACHE/base/`, [`cache_dir`]):
//! - `oci/`: one OCI image layout shared by all bases: every manifest, config and layer blob
//!   (each verified on the way in), an `index.json` entry tagged `base-HEX` per image;
//! - `roots/ALG-HEX/` (the image manifest's digest): `root/`, the merged file system, and
//!   `files.json`, the file list, written last in a staging folder that is then renamed into
//!   place whole: a root without a valid `files.json` is never trusted (it is unpacked again);
//! - `pins/ALG-HEX-PLATFORM`: the image manifest an index (or image) digest resolved to for a
//!   platform, so a digest reference whose root is there opens without the network.
//!
//! Invariant: nothing under `root/` was written through a symbolic link or outside it; every
//! layer's blob matched its digest and size and its tar its diff_id before the root was
//! published; `files` is the merged view (whiteouts applied, never listed), sorted by path.
//! Known gaps: zstd layers (no zstd crate in the build), foreign layer URLs.

mod cache;
mod source;
pub mod unpack;

/// The typed image config lives in `oci` (so `image` can read a base's config without `base`).
pub use crate::oci::config::{History, ImageConfig, RunConfig};

use crate::digest::{Digest, Sha1};
use crate::types::{ImagePath, Platform};
use std::path::{Path, PathBuf};

/// Where a base image comes from, parsed from the manifest's string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseRef {
    Docker(crate::registry::Reference),
    Oci { dir: PathBuf, tag: String },
    OciArchive { file: PathBuf, tag: String },
}

impl BaseRef {
    /// `docker://HOST/REPO[:TAG][@DIGEST]`, `oci:DIR[:TAG]` or `oci-archive:FILE[:TAG]`.
    pub fn parse(s: &str) -> Result<BaseRef, Error> {
        let bad = |why: String| Error::Reference {
            spec: crate::digest::shorten(s),
            why,
        };
        if s.starts_with("docker://") {
            return crate::registry::Reference::parse(s)
                .map(BaseRef::Docker)
                .map_err(|e| bad(e.to_string()));
        }
        if !(s.starts_with("oci:") || s.starts_with("oci-archive:")) {
            return Err(bad(
                "expected docker://HOST/REPO:TAG, oci:DIR[:TAG] or oci-archive:FILE[:TAG]".into(),
            ));
        }
        match crate::oci::transport::Output::parse(s).map_err(|e| bad(e.to_string()))? {
            crate::oci::transport::Output::Oci { dir, tag } => Ok(BaseRef::Oci { dir, tag }),
            crate::oci::transport::Output::OciArchive { file, tag } => {
                Ok(BaseRef::OciArchive { file, tag })
            }
            _ => Err(bad("not an oci: or oci-archive: reference".into())),
        }
    }

    /// The digest the reference names (`docker://...@sha256:...`), if any.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            BaseRef::Docker(r) => r.digest.as_ref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for BaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseRef::Docker(r) => write!(f, "docker://{r}"),
            BaseRef::Oci { dir, tag } => write!(f, "oci:{}:{tag}", dir.display()),
            BaseRef::OciArchive { file, tag } => write!(f, "oci-archive:{}:{tag}", file.display()),
        }
    }
}

/// How to reach a registry (as `kiln pull`'s flags say it).
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Plain HTTP and unverified TLS for the registry's own host (see `registry::Options`).
    pub insecure: bool,
    /// Every `*.crt` here is trusted as a CA.
    pub cert_dir: Option<PathBuf>,
    /// `None`: looked up as `kiln pull` does (environment, auth.json, config.json, helpers).
    pub credentials: Option<crate::registry::Credentials>,
}

/// An opened base image: what it is, where its blobs and merged root are.
#[derive(Clone, Debug)]
pub struct Base {
    pub reference: BaseRef,
    /// The digest of the image manifest used (after choosing the platform of an index).
    pub digest: Digest,
    /// The digest the reference named when it was an index (what the lock pins), else
    /// `digest`.
    pub pinned: Digest,
    /// The image manifest's exact bytes.
    pub manifest_bytes: Vec<u8>,
    /// The config's exact bytes.
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    /// As the manifest lists them.
    pub layers: Vec<crate::oci::Descriptor>,
    /// From the config (architecture, os, variant).
    pub platform: Platform,
    /// The cache's OCI image layout holding the manifest, config and every layer blob.
    pub store: PathBuf,
    /// The merged root file system: read-only by convention, shared, never modified.
    pub root: PathBuf,
    /// Every path of the merged file system, sorted by path bytes (no `/` itself).
    pub files: Vec<BaseFile>,
    /// The base's own SBOMs, when kiln stored them beside it (a base kiln built): set by the
    /// caller that can read artifacts (`ops::build`), empty from [`open`].
    pub sboms: OwnSboms,
}

/// The SBOMs a base image carries as artifacts (kiln's SPDX and CycloneDX documents).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnSboms {
    pub spdx: Option<SbomDoc>,
    pub cyclonedx: Option<SbomDoc>,
}

/// One SBOM document of a base: its identity and the digests of its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SbomDoc {
    /// SPDX `documentNamespace`, or CycloneDX `serialNumber` (`urn:uuid:...`).
    pub id: String,
    pub sha256: Digest,
    pub sha1: crate::digest::Sha1,
}

/// One path of a base's merged file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseFile {
    pub path: ImagePath,
    pub kind: BaseKind,
    /// Permission bits as the layer says them, setuid, setgid and sticky included (on disk
    /// files are 0644 or 0755, folders 0755).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The index in `layers` of the layer that last wrote it.
    pub layer: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseKind {
    Dir,
    File {
        size: u64,
        sha256: Digest,
        sha1: Sha1,
    },
    Symlink {
        target: String,
    },
    /// A device or a FIFO (`character device`, `block device`, `fifo`): recorded, never
    /// created on disk.
    Other(&'static str),
}

/// What can go wrong opening a base.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{spec}` is not a base image reference: {why}")]
    Reference { spec: String, why: String },
    #[error("cannot fetch the base `{reference}`")]
    Registry {
        reference: String,
        #[source]
        source: crate::registry::Error,
    },
    #[error("cannot read the base `{reference}`")]
    Oci {
        reference: String,
        #[source]
        source: crate::oci::Error,
    },
    #[error("the base `{reference}` is an index: name a platform (it has {platforms})")]
    PickPlatform {
        reference: String,
        platforms: String,
    },
    #[error("the base `{reference}` has no {want} image (it has {platforms})")]
    NoPlatform {
        reference: String,
        want: String,
        platforms: String,
    },
    #[error("the base `{reference}` is {found}, not {want}")]
    WrongPlatform {
        reference: String,
        found: String,
        want: String,
    },
    #[error("the base `{reference}` ({digest}): {why}")]
    Invalid {
        reference: String,
        digest: Digest,
        why: String,
    },
    #[error("layer {digest} has media type {media_type:?}, which kiln does not unpack (unsupported layer media type: gzip or plain tar only)")]
    LayerType { digest: Digest, media_type: String },
    #[error("cannot read layer {digest}")]
    Layer {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {digest} is {size} bytes hashing to {actual}, not the {expected_size} bytes its descriptor names")]
    LayerDigest {
        digest: Digest,
        actual: Digest,
        size: u64,
        expected_size: u64,
    },
    #[error(
        "layer {digest} unpacks to a tar whose digest is {actual}, not its diff_id {expected}"
    )]
    DiffId {
        digest: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("layer {} of the base ({digest}), entry {entry:?}: {why}", layer + 1)]
    Entry {
        /// The layer's index in the manifest (the message counts from 1).
        layer: usize,
        digest: Digest,
        entry: String,
        why: String,
    },
    #[error("layer {digest}: the base has more than {max} entries")]
    TooManyEntries { digest: Digest, max: usize },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use the base cache")]
    Cache {
        #[source]
        source: crate::oci::Error,
    },
    #[error("internal error: {what}")]
    Internal { what: String },
}

impl From<crate::oci::Error> for Error {
    fn from(e: crate::oci::Error) -> Error {
        Error::Cache { source: e }
    }
}

/// The cache folder: `$KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`
/// (else `/tmp/kiln-cache` when there is no home).
pub fn cache_dir() -> PathBuf {
    let set = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = set("KILN_CACHE_DIR") {
        return d;
    }
    if let Some(d) = set("XDG_CACHE_HOME") {
        return d.join("kiln");
    }
    match set("HOME") {
        Some(h) => h.join(".cache").join("kiln"),
        None => std::env::temp_dir().join("kiln-cache"),
    }
}

/// Opens `r` for `platform` (`None`: a single image is taken as it is; an index then is an
/// error listing its platforms), fetching what is missing into `cache` ([`cache_dir`]).
pub fn open(
    r: &BaseRef,
    platform: Option<Platform>,
    access: &Access,
    cache: &Path,
) -> Result<Base, Error> {
    let store = cache::Store::open(cache)?;
    let chosen = source::locate(r, platform, access, &store)?;
    let base = store.load_or_unpack(r, &chosen)?;
    if let Some(want) = platform.filter(|p| *p != base.platform) {
        return Err(Error::WrongPlatform {
            reference: r.to_string(),
            found: base.platform.to_string(),
            want: want.to_string(),
        });
    }
    store.pin(&chosen.pinned, platform, &base.digest)?;
    Ok(base)
}

impl Base {
    /// The highest `GLIBC_2.x` version the base's `libc.so.6` defines (`2.36`); `None` for a
    /// base without glibc.
    pub fn glibc_version(&self) -> Option<String> {
        let mut best: Option<(Vec<u32>, String)> = None;
        for f in self
            .files
            .iter()
            .filter(|f| f.path.file_name() == "libc.so.6")
        {
            let Some(rel) = self.regular(&f.path) else {
                continue;
            };
            let Ok(info) = crate::elf::read(&self.root.join(rel.relative())) else {
                continue;
            };
            for v in &info.version_defs {
                let Some(num) = v.strip_prefix("GLIBC_") else {
                    continue;
                };
                let Some(key) = num
                    .split('.')
                    .map(|p| p.parse::<u32>().ok())
                    .collect::<Option<Vec<u32>>>()
                else {
                    continue;
                };
                if best.as_ref().is_none_or(|(b, _)| key > *b) {
                    best = Some((key, num.to_string()));
                }
            }
        }
        best.map(|(_, s)| s)
    }

    /// The entry at `path` in the base's file list (sorted by path bytes: a binary search).
    pub fn file(&self, path: &str) -> Option<&BaseFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// `path` with every symbolic link on the way followed inside the base, as its file list
    /// has them (`types::follow_links`: at most 40); `None` when it leads nowhere.
    pub fn canonical(&self, path: &str) -> Option<String> {
        let target_of = |p: &str| {
            self.file(p).map(|f| match &f.kind {
                BaseKind::Symlink { target } => Some(target.clone()),
                _ => None,
            })
        };
        crate::types::follow_links(path, true, target_of, |_| {}).ok()
    }

    /// The entry `path` names once symbolic links are followed inside the base, when it is a
    /// regular file.
    fn regular(&self, path: &ImagePath) -> Option<ImagePath> {
        let real = self.canonical(path.as_str())?;
        match self.file(&real)?.kind {
            BaseKind::File { .. } => ImagePath::parse(&real).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
