//! Garbage in a layout: the blobs no entry of `index.json` reaches, and removing them.
//!
//! Owns: the reachability walk (each `index.json` entry, tagged or not → its manifest or
//! index → config, layers, child manifests; each image descriptor's artifact annotations
//! ([`super::ARTIFACT_ANNOTATIONS`]) → the artifact manifests → their blobs; signature and
//! attestation tags are entries like any other), listing `blobs/ALG/` and [`collect`]: the
//! walk and the removal under the layout's locks (the one a build holds while it moves blobs
//! in, on the layout's parent folder, and the one [`super::layout::Layout::update`] holds).
//! Does not own: reading blobs ([`super::layout`]), what an artifact means (`image`).
//! Invariant: nothing reachable is removed. A layout that cannot be walked to the end (a value
//! that is not a digest, a missing blob, a blob of the wrong size or digest, a manifest that
//! does not parse) is an error, and then nothing is removed.

use super::guard::Lock;
use super::layout::Layout;
use super::{is_index_type, is_manifest_type, parse_manifest, Descriptor, Error, MAX_MANIFEST};
use crate::digest::{Algorithm, Digest};
use std::collections::BTreeSet;
use std::path::Path;

/// How deep indexes may nest under an `index.json` entry (kiln writes one level).
const MAX_DEPTH: usize = 16;

/// Blobs of a layout that nothing reaches: (digest, size in bytes), sorted by digest.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Garbage {
    pub blobs: Vec<(Digest, u64)>,
}

impl Garbage {
    pub fn bytes(&self) -> u64 {
        self.blobs.iter().map(|(_, n)| n).sum()
    }
}

/// Every blob `roots` reach in `layout` (the roots' own digests included).
pub fn reachable<'a>(
    layout: &Layout,
    roots: impl IntoIterator<Item = &'a Descriptor>,
) -> Result<BTreeSet<Digest>, Error> {
    let mut seen = BTreeSet::new();
    for d in roots {
        walk(layout, d, Some(d.size), 0, &mut seen)?;
    }
    Ok(seen)
}

/// Adds `d` and what it references to `seen`; `size` is the descriptor's (none for a digest
/// read from an annotation).
fn walk(
    layout: &Layout,
    d: &Descriptor,
    size: Option<u64>,
    depth: usize,
    seen: &mut BTreeSet<Digest>,
) -> Result<(), Error> {
    let invalid = |why: String| Error::Invalid {
        path: layout.blob_path(&d.digest),
        why,
    };
    if depth > MAX_DEPTH {
        return Err(invalid(format!("indexes nest more than {MAX_DEPTH} deep")));
    }
    for (_, a) in d.artifacts().map_err(invalid)? {
        let artifact = Descriptor {
            media_type: super::MANIFEST_MEDIA_TYPE.into(),
            digest: a,
            size: 0,
            artifact_type: None,
            platform: None,
            annotations: Default::default(),
        };
        walk(layout, &artifact, None, depth + 1, seen)?;
    }
    if !seen.insert(d.digest.clone()) {
        return Ok(());
    }
    if !(is_manifest_type(&d.media_type) || is_index_type(&d.media_type)) {
        return present(layout, &d.digest, size);
    }
    let bytes = layout.read_blob(&d.digest, size, MAX_MANIFEST)?;
    let m = parse_manifest(&bytes, Some(&d.media_type)).map_err(invalid)?;
    for b in m.blobs() {
        present(layout, &b.digest, Some(b.size))?;
        seen.insert(b.digest.clone());
    }
    for c in m.children() {
        walk(layout, c, Some(c.size), depth + 1, seen)?;
    }
    Ok(())
}

/// Checks that blob `d` is there (a plain file of `size` bytes when given), without reading it.
fn present(layout: &Layout, d: &Digest, size: Option<u64>) -> Result<(), Error> {
    match (layout.blob_size(d)?, size) {
        (None, _) => Err(Error::Missing {
            layout: layout.dir().to_path_buf(),
            digest: d.clone(),
        }),
        (Some(actual), Some(expected)) if actual != expected => Err(Error::SizeMismatch {
            layout: layout.dir().to_path_buf(),
            digest: d.clone(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

/// The blob files of `layout` (named by a digest) that are not in `keep`.
pub fn unreachable(layout: &Layout, keep: &BTreeSet<Digest>) -> Result<Garbage, Error> {
    let mut blobs = Vec::new();
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let dir = layout.blobs_dir(alg);
        let entries = match fs_err::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Read {
                    path: dir,
                    source: e,
                })
            }
        };
        for e in entries {
            let e = e.map_err(|e| Error::Read {
                path: dir.clone(),
                source: e,
            })?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(d) = Digest::parse(&format!("{}:{name}", alg.name())) else {
                continue;
            };
            if keep.contains(&d) {
                continue;
            }
            let m = fs_err::symlink_metadata(e.path()).map_err(|e| Error::Read {
                path: dir.clone(),
                source: e,
            })?;
            if !m.is_dir() {
                blobs.push((d, m.len()));
            }
        }
    }
    blobs.sort();
    Ok(Garbage { blobs })
}

/// What blobs of the layout at `dir` no entry reaches, removed unless `dry_run`; under the
/// lock a build holds while it adds blobs (on `dir`'s parent) and the layout's own.
pub fn collect(dir: &Path, dry_run: bool) -> Result<Garbage, Error> {
    let layout = Layout::open(dir)?;
    let _build = Lock::beside(dir)?;
    let _update = Lock::folder(dir)?;
    let index = layout.index()?;
    let keep = reachable(&layout, index.descriptors())?;
    let garbage = unreachable(&layout, &keep)?;
    if !dry_run {
        for (d, _) in &garbage.blobs {
            let p = layout.blob_path(d);
            fs_err::remove_file(&p).map_err(|e| Error::Write { path: p, source: e })?;
        }
    }
    Ok(garbage)
}

/// What moving a tag away from `previous` left unreachable in `layout`, whose `index.json`
/// no longer names it: (blobs, bytes).
pub fn left_behind(layout: &Layout, previous: &Descriptor) -> Result<(usize, u64), Error> {
    let now = reachable(layout, layout.index()?.descriptors())?;
    let before = reachable(layout, [previous])?;
    let mut n = 0;
    let mut bytes = 0;
    for d in before.difference(&now) {
        if let Some(size) = layout.blob_size(d)? {
            n += 1;
            bytes += size;
        }
    }
    Ok((n, bytes))
}
