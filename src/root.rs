//! The target root: the one place an image's system files come from, asked by every stage
//! that needs them.
//!
//! Owns: which directory the loader's libraries, the dpkg database and `deb` components' files
//! are read from (the build host's `/`, a `sysroot`, or the merged tree of packages unpacked
//! from a Debian archive), and for each `deb` component the packages it ships with their files
//! and the dependency chain that brought each in.
//! Does not own: fetching or verifying packages (`deb`), deciding what ships of them (`plan`
//! filters files by the component's include/exclude), reading ELF or dpkg files.
//! Invariant: every path a `TargetRoot` lists is canonical inside `dir` (merged-/usr aliases
//! such as `/lib` → `/usr/lib` followed), so a file has one name whoever asks.

use crate::types::ImagePath;
use std::path::{Path, PathBuf};

/// Where the target root comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKind {
    /// The build host's `/`.
    Host,
    /// A `sysroot` the manifest names.
    Sysroot,
    /// Packages unpacked from the manifest's `[[source]]` archives.
    Archive,
}

/// A package a `deb` component ships.
#[derive(Clone, Debug)]
pub struct ShippedPackage {
    /// The manifest component (index) that asked for it.
    pub component: usize,
    /// Package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its Debian architecture.
    pub arch: String,
    /// From this package up to the package the component names: `["libpcre2-8-0", "nginx",
    /// "nginx-light"]`; one name for a package the component names itself.
    pub chain: Vec<String>,
    /// Where it came from, for provenance: `bookworm (http://.../debian bookworm/main)`, or
    /// `the target root's dpkg database`.
    pub origin: String,
    /// Its files, canonical, in the package's order.
    pub files: Vec<PackageFile>,
    /// Merged-/usr aliases the package's listed paths go through (`/lib`, `/bin`): the image
    /// needs them for those paths to work.
    pub aliases: Vec<ImagePath>,
}

/// One entry of a package, as the target root holds it.
#[derive(Clone, Debug)]
pub struct PackageFile {
    /// Canonical path in the root and the image.
    pub path: ImagePath,
    /// What it is.
    pub kind: PackageFileKind,
    /// Permission bits as packaged (setuid/setgid/sticky included).
    pub mode: u32,
    /// Owner uid as packaged.
    pub uid: u32,
    /// Owner gid as packaged.
    pub gid: u32,
}

/// What a package entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageFileKind {
    /// A regular file; its bytes are at the root's copy of its path.
    File,
    /// A directory.
    Dir,
    /// A symbolic link and its target as packaged.
    Symlink(String),
}

/// A package pinned by the lock: what a build used, to rebuild exactly it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DebPin {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// SHA-256 of the `.deb`, hex.
    pub sha256: String,
    /// Size of the `.deb` in bytes.
    pub size: u64,
    /// The `[[source]]` it came from.
    pub source: String,
    /// The suite whose index listed it (`bookworm-security`).
    pub suite: String,
    /// Where the `.deb` was fetched from.
    pub url: String,
}

/// A source's release pinned by the lock.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReleasePin {
    /// SHA-256 of the `InRelease` file, hex.
    pub sha256: String,
    /// Its `Date` field.
    pub date: String,
}

/// The target root of one platform's build.
#[derive(Clone, Debug)]
pub struct TargetRoot {
    dir: PathBuf,
    kind: RootKind,
    /// What `deb` components ship, in component order then package name.
    pub packages: Vec<ShippedPackage>,
    /// Archive builds: every `.deb` the tree was made of, by name.
    pub debs: Vec<DebPin>,
    /// Archive builds: `SOURCE/SUITE` → the release read.
    pub releases: Vec<(String, ReleasePin)>,
    /// `[[waive]] package` entries no dependency closure used (the Plan warns about them).
    pub unused_waivers: Vec<String>,
}

impl TargetRoot {
    /// The host's `/` or a sysroot, without packages (yet).
    pub fn dir(dir: &Path, kind: RootKind) -> TargetRoot {
        TargetRoot {
            dir: dir.to_path_buf(),
            kind,
            packages: Vec::new(),
            debs: Vec::new(),
            releases: Vec::new(),
            unused_waivers: Vec::new(),
        }
    }

    /// The directory the root's files are read from.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where the root comes from.
    pub fn kind(&self) -> &RootKind {
        &self.kind
    }

    /// The packages component `idx` ships.
    pub fn packages_of(&self, idx: usize) -> impl Iterator<Item = &ShippedPackage> {
        self.packages.iter().filter(move |p| p.component == idx)
    }
}
