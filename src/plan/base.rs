//! The base image in the Plan: what `[image] base` contributes and what it forbids.
//!
//! Owns: asking for the base (for the platform the Plan is deciding), turning the base's files
//! into entries of the `base-image` layer (they are in the base's own layers, never written by
//! kiln), refusing a component that places a path the base already has with other content
//! (unless `replace = true`), and the build error for a program that needs a symbol version
//! the base's libc lacks.
//! Does not own: fetching and unpacking the base (`base`), looking paths up in it
//! (`resolve::View`), the final run config (`run`).
//! Invariant: an entry of the base keeps the base's mode, owner and content digest; a path
//! the base has ships from kiln's layers only when a component says `replace = true`, or
//! when it is a directory or file identical to the base's (then it does not ship at all).

use super::{Claim, EntryKind, Error, Provenance, Source};
use crate::base::{Base, BaseKind};
use crate::manifest::{ComponentSpec, Manifest};
use crate::span::Diagnostic;
use crate::types::{LayerKind, Platform};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How the Plan gets the base image for a platform (`None`: the base decides, when it is a
/// single image). The caller knows the registry credentials and the cache; the Plan decides
/// the platform.
pub type Opener<'a> = &'a dyn Fn(Option<Platform>) -> Result<Arc<Base>, crate::base::Error>;

/// The index of the manifest's `kind = "base"` component.
fn base_component(manifest: &Manifest) -> Option<usize> {
    manifest
        .components
        .iter()
        .position(|c| matches!(c.spec, ComponentSpec::Base))
}

/// Opens the manifest's base, if it names one, for `platform` (the manifest's or its first
/// program's; `None` lets a single-image base decide).
pub(super) fn open(
    manifest: &Manifest,
    platform: Option<Platform>,
    opener: Option<Opener<'_>>,
) -> Result<Option<Arc<Base>>, Error> {
    let Some(spec) = &manifest.image.base else {
        return Ok(None);
    };
    let Some(open) = opener else {
        return Err(Diagnostic::new(
            format!(
                "[image] `base` {:?} cannot be opened here: this caller builds without a base",
                spec.reference
            ),
            spec.location.clone(),
        )
        .into());
    };
    let base = open(platform).map_err(|e| Error::Base {
        reference: spec.reference.clone(),
        location: spec.location.clone(),
        source: Box::new(e),
    })?;
    if let Some(p) = platform {
        if base.platform != p {
            return Err(Diagnostic::new(
                format!(
                    "the base image {:?} is for {}, and this image is for {p}",
                    spec.reference, base.platform
                ),
                spec.location.clone(),
            )
            .with_hint(
                "name a base for the image's platform (an index with it, or that platform's image)",
            )
            .into());
        }
    }
    Ok(Some(base))
}

/// The base's files as claims of its component (`base-image` layer), each regular file with
/// the Debian package the base's own dpkg database says owns it. Devices and FIFOs are left
/// out: kiln's views describe files, directories and links.
pub(super) fn claims(manifest: &Manifest, base: &Base) -> Vec<Claim> {
    let Some(ci) = base_component(manifest) else {
        return Vec::new();
    };
    let component = manifest.components[ci].name.clone();
    let mut packages = packages(base);
    base.files
        .iter()
        .filter_map(|f| {
            let kind = match &f.kind {
                BaseKind::Dir => EntryKind::Dir,
                BaseKind::Symlink { target } => EntryKind::Symlink {
                    target: target.clone(),
                },
                BaseKind::File { size, sha256, sha1 } => EntryKind::File {
                    source: Source::Base(base.root.join(f.path.relative())),
                    size: *size,
                    sha256: sha256.clone(),
                    sha1: *sha1,
                },
                BaseKind::Other(_) => return None,
            };
            Some(Claim {
                path: f.path.clone(),
                kind,
                mode: f.mode,
                uid: f.uid,
                gid: f.gid,
                layer: LayerKind::BaseImage,
                provenance: Provenance {
                    component: component.clone(),
                    note: Some(format!("layer {} of the base image", f.layer + 1)),
                    package: packages.remove(f.path.as_str()),
                    ..Default::default()
                },
                component: ci,
            })
        })
        .collect()
}

/// Checks the components' claims against the base's (`inherited`): a path the base has with
/// other content is an error unless its component says `replace = true`, and then the base's
/// entry gives way. Returns the base's claims that stay.
pub(super) fn reconcile(
    manifest: &Manifest,
    reference: &str,
    claims: &[Claim],
    inherited: Vec<Claim>,
) -> Result<Vec<Claim>, Error> {
    let by_path: BTreeMap<&str, &Claim> = inherited.iter().map(|c| (c.path.as_str(), c)).collect();
    let mut replaced = std::collections::BTreeSet::new();
    for c in claims {
        let Some(b) = by_path.get(c.path.as_str()) else {
            continue;
        };
        if super::same(b, c) {
            continue;
        }
        let comp = &manifest.components[c.component];
        if !comp.replace {
            return Err(Diagnostic::new(
                format!(
                    "component `{}` places {}, which the base image {reference:?} already has ({}), with other content",
                    comp.name,
                    c.path,
                    describe(b)
                ),
                comp.location.clone(),
            )
            .with_hint(format!(
                "add `replace = true` to component `{}` if it is meant to replace the base's {}",
                comp.name, c.path
            ))
            .into());
        }
        replaced.insert(c.path.clone());
    }
    drop(by_path);
    Ok(inherited
        .into_iter()
        .filter(|b| !replaced.contains(&b.path))
        .collect())
}

fn describe(c: &Claim) -> String {
    let note = c.provenance.note.as_deref().unwrap_or("");
    match &c.kind {
        EntryKind::Dir => format!("a directory {:04o} {}:{}, {note}", c.mode, c.uid, c.gid),
        EntryKind::File { sha256, .. } => format!(
            "a file {:04o} {}:{} {}, {note}",
            c.mode,
            c.uid,
            c.gid,
            sha256.short()
        ),
        EntryKind::Symlink { target } => format!("a symlink to {target}, {note}"),
    }
}

/// A program needs a symbol version the base's libc (or another library of the base) does
/// not define: the build error that names the program, the version and the base's glibc.
pub(super) fn version_error(
    base: Option<&Base>,
    component: &crate::manifest::Component,
    e: &crate::resolve::Error,
) -> Option<Error> {
    let (
        base,
        crate::resolve::Error::MissingVersion {
            object,
            version,
            library,
            found,
            ..
        },
    ) = (base?, e)
    else {
        return None;
    };
    let from_base = base.file(found).is_some();
    if !from_base {
        return None;
    }
    Some(Error::BaseTooOld(Box::new(TooOld {
        program: object.clone(),
        version: version.clone(),
        library: library.clone(),
        base: base.reference.to_string(),
        glibc: base.glibc_version(),
        location: component.location.clone(),
        component: component.name.clone(),
    })))
}

/// A program of the image needs a symbol version (`GLIBC_2.38`) that the base's library
/// (libc.so.6 of a Debian 12 base: glibc 2.36) does not define.
#[derive(Debug, thiserror::Error)]
#[error("{program} needs `{version}` of {library}, but the base image {base:?} has {}\n{location} (component `{component}`)\n\nhint: build the program against the base's C library (on or for that distribution), or build on a newer base", glibc.as_ref().map_or("a library without it".to_string(), |g| format!("glibc {g}")))]
pub struct TooOld {
    pub program: String,
    pub version: String,
    pub library: String,
    pub base: String,
    pub glibc: Option<String>,
    pub location: crate::span::Location,
    pub component: String,
}

/// A text file of the base, at most `max` bytes: only a regular file that its list shows under
/// plain directories. The base's bytes are hostile: a symlink in the unpacked root could name
/// a file of the build host, so none is followed.
pub(super) fn read_text(base: &Base, path: &str, max: u64) -> Option<String> {
    use std::io::Read;
    let plain = matches!(base.file(path).map(|f| &f.kind), Some(BaseKind::File { size, .. }) if *size <= max);
    let mut dir = path;
    let mut dirs_ok = true;
    while let Some(i) = dir.rfind('/') {
        dir = &dir[..i];
        if !dir.is_empty() && !matches!(base.file(dir).map(|f| &f.kind), Some(BaseKind::Dir)) {
            dirs_ok = false;
        }
    }
    if !plain || !dirs_ok {
        return None;
    }
    let mut s = String::new();
    let f = fs_err::File::open(base.root.join(path.trim_start_matches('/'))).ok()?;
    f.take(max).read_to_string(&mut s).ok()?;
    Some(s)
}

/// The Debian package of each regular file of the base, from the base's own database (dpkg's
/// `status` with `info/*.list`, or distroless `status.d`), as the Plan records packages.
fn packages(base: &Base) -> BTreeMap<String, super::PackageRef> {
    const DPKG: &str = "/var/lib/dpkg/";
    const MAX_FILE: u64 = 64 << 20;
    let mut budget: u64 = 256 << 20;
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    for f in base
        .files
        .iter()
        .filter(|f| f.path.as_str().starts_with(DPKG))
    {
        let p = f.path.as_str();
        let wanted = p == "/var/lib/dpkg/status"
            || (p.starts_with("/var/lib/dpkg/info/") && p.ends_with(".list"))
            || p.starts_with("/var/lib/dpkg/status.d/");
        let BaseKind::File { size, .. } = f.kind else {
            continue;
        };
        if !wanted || size > budget.min(MAX_FILE) {
            continue;
        }
        if let Some(t) = read_text(base, p, MAX_FILE) {
            budget -= t.len() as u64;
            texts.insert(p.to_string(), t);
        }
    }
    if texts.is_empty() {
        return BTreeMap::new();
    }
    let wanted: std::collections::BTreeSet<String> = base
        .files
        .iter()
        .filter(|f| matches!(f.kind, BaseKind::File { .. }))
        .map(|f| f.path.to_string())
        .collect();
    let view: BTreeMap<String, &str> = texts.iter().map(|(k, v)| (k.clone(), v.as_str())).collect();
    let owners = crate::dpkg::owners_in(&view, &mut |p| base.canonical(p), &wanted);
    let distro = read_text(base, "/etc/os-release", 1 << 16)
        .or_else(|| read_text(base, "/usr/lib/os-release", 1 << 16))
        .map(|t| crate::dpkg::distro_of(&t))
        .unwrap_or_default();
    owners
        .into_iter()
        .map(|(path, id)| {
            let purl = id.purl(&distro);
            (
                path,
                super::PackageRef {
                    name: id.name,
                    version: id.version,
                    arch: id.arch,
                    source: id.source,
                    source_version: id.source_version,
                    license: "NOASSERTION".into(),
                    purl,
                    download: None,
                    archive: None,
                },
            )
        })
        .collect()
}
