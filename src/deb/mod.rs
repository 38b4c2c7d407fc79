//! Debian packages from a signed archive: the `[[source]]` a manifest names, verified from its
//! `InRelease` down to every `.deb`, the packages a `deb` component asks for with their
//! dependency closure as apt would choose it, and the unpacked files as a target root.
//!
//! Owns: the chain of trust (OpenPGP signature on `InRelease` → `Packages` by the hash the
//! release lists → `.deb` by the SHA-256 the index lists), Debian version order and relation
//! syntax, dependency resolution, the content-addressed download cache
//! (`$KILN_CACHE_DIR/deb`), reading `.deb` files, and the merged tree they make.
//! Does not own: deciding what ships (`plan`), ELF closures (`resolve`), document formats
//! (`sbom`), the lock file's format (`lock`).
//! Invariant: nothing read from an archive is used before it is checked against a signature
//! or a hash that chains up to the keyring the manifest names.

pub mod apt_sources;
pub mod archive;
pub mod control;
pub mod debfile;
pub mod fetch;
pub mod index;
pub mod installed;
pub mod release;
pub mod solve;
pub mod tree;
pub mod version;

use crate::manifest::{ComponentSpec, Manifest, PackageRequest};
use crate::root::{ReleasePin, RootKind, TargetRoot};
use crate::span::Location;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the packages of a manifest could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `deb` component without `source` in a root without a dpkg database.
    #[error("the target root {} has no dpkg database (var/lib/dpkg/status)", root.display())]
    NoDatabase {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The dpkg database cannot be read.
    #[error("cannot read the dpkg database {}: {message}", path.display())]
    Database { path: PathBuf, message: String },
    /// A package (or a dependency) is not installed in the target root.
    #[error(
        "package {package} is not installed in the target root{}",
        chain_text(chain)
    )]
    NotInstalled {
        package: String,
        chain: Vec<String>,
        location: Option<Location>,
    },
    /// The archive side: fetching, verifying, resolving, unpacking.
    #[error(transparent)]
    Archive(#[from] archive::Error),
    /// Two packages place different contents at one path.
    #[error("packages {first} and {second} both place {path}, with different contents")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    /// Writing the merged tree.
    #[error("cannot write the package tree {}", path.display())]
    Tree {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoDatabase { .. } => Some(
                "name a [[source]] archive in the component (`source = \"...\"`), or use a root with installed packages".into(),
            ),
            Error::NotInstalled { package, .. } => Some(format!(
                "install {package} in the target root, take it from an archive (`source`), or leave it out with [[waive]] package = \"{package}\" and a `why`"
            )),
            Error::Archive(e) => e.hint(),
            _ => None,
        }
    }

    /// Where the manifest names what failed, when it does.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::NotInstalled { location, .. } => location.as_ref(),
            Error::Archive(e) => e.location(),
            _ => None,
        }
    }
}

/// The image's architecture as Debian spells it: the manifest's platform, else kiln's default.
pub(crate) fn debian_arch(manifest: &Manifest) -> &'static str {
    manifest
        .image
        .platform
        .unwrap_or(crate::types::Platform::DEFAULT)
        .arch
        .debian_arch()
}

/// The `[[waive]] package` names no dependency closure used.
pub(crate) fn unused_waivers(
    manifest: &Manifest,
    used: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    manifest
        .package_waivers
        .iter()
        .filter(|w| !used.contains(&w.package))
        .map(|w| w.package.clone())
        .collect()
}

/// ` (needed by a ← b ← c)` for a chain of more than the package itself.
pub(crate) fn chain_text(chain: &[String]) -> String {
    if chain.len() < 2 {
        return String::new();
    }
    format!(", needed by {}", chain[1..].join(" ← "))
}

/// What one `deb` component asks for.
pub struct Request<'a> {
    /// The component's index in the manifest.
    pub component: usize,
    /// Its name.
    pub name: &'a str,
    /// `packages`.
    pub packages: &'a [PackageRequest],
    /// `source` names; empty for the target root's database.
    pub sources: Vec<&'a str>,
    /// `depends`.
    pub depends: bool,
    /// Package waivers: name → why.
    pub waived: &'a BTreeMap<String, String>,
}

/// How a build may reach archives.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// kiln's cache folder (`$KILN_CACHE_DIR`); archives are cached under `deb/`.
    pub cache: PathBuf,
    /// The releases the lock pins: `SOURCE/SUITE` → pin. A pinned release in the cache is
    /// used instead of the archive's current one.
    pub pins: BTreeMap<String, ReleasePin>,
    /// `--locked`: a pinned release that is not in the cache is an error, never replaced.
    pub locked: bool,
    /// Ignore the pins (`kiln lock --update`): read every archive's current release.
    pub update: bool,
    /// Parallel downloads.
    pub jobs: usize,
}

/// The target root of `manifest`'s platform: `root` (the host's `/` or its sysroot) with the
/// packages of its `deb` components, or, when a component names a `[[source]]`, the merged
/// tree of the packages unpacked from the archives.
pub fn prepare(
    manifest: &Manifest,
    root: &Path,
    kind: RootKind,
    opts: &Options,
) -> Result<TargetRoot, Error> {
    let waived: BTreeMap<String, String> = manifest
        .package_waivers
        .iter()
        .map(|w| (w.package.clone(), w.why.clone()))
        .collect();
    let requests: Vec<Request<'_>> = manifest
        .components
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match &c.spec {
            ComponentSpec::Deb {
                packages,
                sources,
                depends,
                ..
            } => Some(Request {
                component: i,
                name: &c.name,
                packages,
                sources: sources.iter().map(|(s, _)| s.as_str()).collect(),
                depends: *depends,
                waived: &waived,
            }),
            _ => None,
        })
        .collect();
    if requests.is_empty() {
        return Ok(TargetRoot::dir(root, kind));
    }
    if requests.iter().all(|r| r.sources.is_empty()) {
        let mut t = TargetRoot::dir(root, kind);
        let (packages, used) = installed::select(root, debian_arch(manifest), &requests)?;
        t.packages = packages;
        t.unused_waivers = unused_waivers(manifest, &used);
        return Ok(t);
    }
    archive::prepare(manifest, &requests, opts)
}
