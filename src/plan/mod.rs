//! The Plan: every path the image will contain, with its bytes' source, mode, owner, digest
//! and the reason it is there.
//!
//! Owns: expanding components into entries (`expand`), adding the shared-library closures
//! that `resolve` computes, adding every parent directory, detecting two components that
//! claim one path with different content, and checking every source the manifest names
//! (exists, right type, stays inside the manifest's folder); the image's platform
//! (`Plan::platform`: the manifest's, else its first ELF file's, else `linux/amd64`).
//! Does not own: bytes on disk in image form (`layer`), OCI JSON (`image`).
//! Invariant: nothing after `plan` decides what ships; layers, config and SBOM are views of
//! the Plan. Entries are sorted by path bytes, so parents precede children. The platform
//! never depends on the build host.

mod base;
mod check;
mod deb;
mod expand;
mod render;
mod run;

use crate::digest::Digest;
use crate::manifest::{Component, ImageSpec, Manifest, Ownership};
use crate::progress;
use crate::resolve::{self, OverlayNode, Resolver};
use crate::span::{Diagnostic, Location};
use crate::time::Epoch;
use crate::types::{ImagePath, LayerKind, Platform};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use base::Opener;
pub use render::table;
pub use run::RunConfig;

/// Where an entry's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file on the build host (or in the sysroot), streamed when layers are written.
    Host(PathBuf),
    /// Bytes kiln generated (passwd, group, os-release, a CA bundle).
    Inline(Arc<Vec<u8>>),
    /// A file of the base image (`[image] base`), at this path of the unpacked base: in the
    /// base's layers already, never written by kiln.
    Base(PathBuf),
}

/// What an entry is, with what a file's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Where its bytes come from.
        source: Source,
        /// Its size in bytes.
        size: u64,
        /// The SHA-256 of its bytes, from the one read when the Plan was made.
        sha256: Digest,
        /// From the same read as `sha256` (for SPDX's checksums): the SBOM never re-reads.
        sha1: crate::digest::Sha1,
    },
    /// A symbolic link.
    Symlink {
        /// What it points at.
        target: String,
    },
}

impl EntryKind {
    /// `dir`, `file` or `symlink`, as `--plan` prints it.
    pub fn type_name(&self) -> &'static str {
        match self {
            EntryKind::Dir => "dir",
            EntryKind::File { .. } => "file",
            EntryKind::Symlink { .. } => "symlink",
        }
    }
}

/// Why an entry is in the image.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// The manifest component that put it there.
    pub component: String,
    /// For resolved libraries and loaders: the DT_NEEDED chain from the root object, e.g.
    /// `["/usr/bin/curl", "libcurl.so.4", "libzstd.so.1"]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needed_by: Vec<String>,
    /// How the loader finds it (for resolved objects), or why a directory exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For resolved objects: the real paths of every object that needs it (DT_NEEDED edges),
    /// in every component's closure (identical claims of one path merge their needers), in the
    /// order the closures met them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_by: Vec<String>,
    /// The Debian package the file comes from, when the target root's dpkg database says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageRef>,
    /// For files of a `deb` component: the package dependency chain that brought the file's
    /// package in, from it up to the package the component names (`["libpcre2-8-0",
    /// "nginx", "nginx-light"]`), and where the package came from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub package_chain: Vec<String>,
}

/// A Debian package, as the Plan records it for an entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct PackageRef {
    /// The binary package's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its Debian architecture (`amd64`, `all`).
    pub arch: String,
    /// The source package's name.
    pub source: String,
    /// The source package's version.
    pub source_version: String,
    /// Its licence as an SPDX expression (from its copyright file), or `NOASSERTION`.
    pub license: String,
    /// Its package URL (`pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO`).
    pub purl: String,
    /// For a package from a `[[source]]` archive: the `.deb`'s URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<String>,
    /// For a package from a `[[source]]` archive: `SOURCE/SUITE` (`security/bookworm-security`),
    /// the archive and suite whose signed index listed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
}

/// One path of the image: what it is, its metadata, its layer and why it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The image path.
    pub path: ImagePath,
    /// Directory, file (with its bytes' source and hashes) or symlink.
    pub kind: EntryKind,
    /// Permission bits (`0o755`), normalised.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// The layer it is written to.
    pub layer: LayerKind,
    /// Which component placed it, and for a library the chain that needs it.
    pub provenance: Provenance,
}

impl Entry {
    /// The host file of an application program, whose embedded dependency data (Go build
    /// info, cargo-auditable) the SBOM lists: a file of the application layer, or one a
    /// component placed itself (not a resolved library), whatever `layer` the manifest gave
    /// it. Whether it is ELF is for the reader to check.
    pub fn application_file(&self) -> Option<&Path> {
        let EntryKind::File {
            source: Source::Host(h),
            ..
        } = &self.kind
        else {
            return None;
        };
        let placed = self.layer == LayerKind::Application || self.provenance.needed_by.is_empty();
        placed.then_some(h.as_path())
    }
}

/// A component as the Plan and its views need it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ComponentInfo {
    /// The component's name.
    pub name: String,
    /// Its kind, as the manifest's `kind` spells it.
    pub kind: &'static str,
    /// Its `why`.
    pub why: String,
    /// Who owns it and when it goes.
    #[serde(flatten)]
    pub ownership: Ownership,
    /// The layer its files go to.
    pub layer: LayerKind,
}

/// The complete description of an image's file system and configuration.
#[derive(Debug)]
pub struct Plan {
    /// The manifest's `[image]` table.
    pub image: ImageSpec,
    /// Every component, in manifest order.
    pub components: Vec<ComponentInfo>,
    /// Sorted by path bytes; every parent directory is present; `/` itself is not listed.
    pub entries: Vec<Entry>,
    /// The CA bundle's path, when one ships (the config sets `SSL_CERT_FILE`).
    pub ca_bundle: Option<ImagePath>,
    /// The time every timestamp of the image uses (`SOURCE_DATE_EPOCH`).
    pub epoch: Epoch,
    /// What the checks found that does not stop the build (shown as `warning:` lines).
    pub warnings: Vec<String>,
    /// The image's platform, decided here once (`platform_of`): never the build host's.
    pub platform: Platform,
    /// What each application program embeds about its code (Go build info, cargo-auditable
    /// data), read once when the Plan is made: the SBOM and the checks ask the Plan, never
    /// the file.
    pub embedded: BTreeMap<ImagePath, Embedded>,
    /// The image this one is built on (`[image] base`): its layers come first, byte for byte,
    /// and its files are the entries of the `base-image` layer.
    pub base: Option<Arc<crate::base::Base>>,
    /// What the image runs and how, decided here (the base's config with the manifest's
    /// values winning; PATH, `SSL_CERT_FILE` and the user's default added).
    pub run: RunConfig,
    /// Archive builds: every `.deb` the target root was made of (the lock pins them).
    pub debs: Vec<crate::root::DebPin>,
    /// Archive builds: the release of each `SOURCE/SUITE` read.
    pub releases: Vec<(String, crate::root::ReleasePin)>,
}

/// What an application program ([`Entry::application_file`]) says about the code in it.
#[derive(Clone, Debug, Default)]
pub struct Embedded {
    /// Go's build info: toolchain, main module, dependencies.
    pub go: Option<crate::elf::embedded::GoBuildInfo>,
    /// cargo-auditable's dependency list, or why it cannot be read.
    pub rust: Option<Result<crate::elf::embedded::RustDeps, String>>,
    /// rustc linked it (with or without audit data).
    pub rust_program: bool,
}

impl Embedded {
    /// Reads the embedded data of the ELF file at `host`; `None` for a file that is not ELF
    /// or embeds nothing kiln reads.
    fn read(host: &Path) -> Option<Embedded> {
        if !crate::elf::is_elf(host).unwrap_or(false) {
            return None;
        }
        let map = crate::elf::map(host).ok()?;
        let e = Embedded {
            go: crate::elf::embedded::go_build_info(&map),
            rust: crate::elf::embedded::rust_audit_data(&map),
            rust_program: crate::elf::embedded::is_rust_program(&map),
        };
        (e.go.is_some() || e.rust.is_some() || e.rust_program).then_some(e)
    }
}

/// The embedded data of every application program among `entries`.
fn read_embedded(entries: &[Entry]) -> BTreeMap<ImagePath, Embedded> {
    entries
        .iter()
        .filter_map(|e| Some((e.path.clone(), Embedded::read(e.application_file()?)?)))
        .collect()
}

impl Plan {
    /// The component called `name`, if any.
    pub fn component(&self, name: &str) -> Option<&ComponentInfo> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The entry at image path `path` (normalised, e.g. `/etc/passwd`), if the image has one.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The entries of one layer, with the parent directories they need.
    pub fn layer_entries(&self, layer: LayerKind) -> Vec<&Entry> {
        let mut wanted: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for e in self.entries.iter().filter(|e| e.layer == layer) {
            wanted.insert(e.path.as_str());
            let mut p = e.path.as_str();
            while let Some(i) = p.rfind('/') {
                p = &p[..i];
                if p.is_empty() || !wanted.insert(p) {
                    break;
                }
            }
        }
        self.entries
            .iter()
            .filter(|e| wanted.contains(e.path.as_str()))
            .collect()
    }
}

/// Why a Plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A check about something the manifest wrote failed: message, location and hint.
    #[error(transparent)]
    Invalid(Box<Diagnostic>),
    /// A component's shared-library closure cannot be resolved.
    #[error("{error}\n{location} (component `{component}`)\n\nhint: {hint}")]
    Resolve {
        /// The component whose closure failed.
        component: String,
        /// Where the component is.
        location: Location,
        /// What to do about it.
        hint: String,
        /// What the resolver could not find, and where it searched.
        error: Box<resolve::Error>,
    },
    /// A file of the target root holds a value that would break the file kiln makes from it.
    #[error("{what} in {} {why}; kiln does not copy it into the image", path.display())]
    RootValue {
        /// The target root's file.
        path: PathBuf,
        /// The value, named (`os-release field ...`).
        what: String,
        /// Why its format refuses it.
        why: String,
    },
    /// The target root's dpkg database could not be read.
    #[error(transparent)]
    Dpkg(#[from] crate::dpkg::Error),
    /// The image's first program is for a machine no OCI platform kiln knows names.
    #[error("cannot tell the image's platform: {path} is an ELF file for {machine}, which kiln builds no image for\n\nhint: kiln builds for {known}")]
    UnknownMachine {
        /// The ELF file.
        path: ImagePath,
        /// Its machine, as kiln names it.
        machine: String,
        /// The platforms kiln builds for.
        known: String,
    },
    /// A host file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The base image could not be opened.
    #[error("cannot open the base image {reference:?}\n{location}")]
    Base {
        /// The base reference, as written.
        reference: String,
        /// Where the manifest gives it.
        location: Location,
        /// Why it could not be opened.
        #[source]
        source: Box<crate::base::Error>,
    },
    /// A program needs a symbol version the base's library does not define.
    #[error(transparent)]
    BaseTooOld(Box<base::TooOld>),
    /// The base's config names a user its `/etc/passwd` and `/etc/group` do not name.
    #[error("the base image {base} runs as user {user:?}, which its /etc/passwd and /etc/group do not name\n\nhint: give [image] `user` as UID:GID")]
    BaseUser {
        /// The base's reference.
        base: String,
        /// The base config's `User`.
        user: String,
    },
}

/// The image's platform: the manifest's (`[image] platforms`), else the architecture of the
/// first program or library it resolves, else of the first `elf` component shipped with
/// `resolve = false`, else the base image's, else (no ELF file at all)
/// [`Platform::DEFAULT`]; so a manifest gives the same image on every build host.
fn platform_of(
    manifest: &Manifest,
    machine: Option<(u16, ImagePath)>,
    base: Option<Platform>,
) -> Result<Platform, Error> {
    if let Some(p) = manifest.image.platform {
        return Ok(p);
    }
    let Some((machine, path)) = machine else {
        return Ok(base.unwrap_or(Platform::DEFAULT));
    };
    match crate::types::Arch::from_elf_machine(machine) {
        Some(arch) => Ok(Platform { arch }),
        None => Err(Error::UnknownMachine {
            path,
            machine: crate::types::elf_machine_name(machine),
            known: Platform::known().join(", "),
        }),
    }
}

/// The machine of the first of `files` (ELF files shipped unresolved) that is a program or a
/// library, with its image path.
fn first_machine(files: &[(ImagePath, PathBuf)]) -> Option<(u16, ImagePath)> {
    files.iter().find_map(|(p, h)| {
        let info = crate::elf::read(h).ok()?;
        matches!(
            info.elf_type,
            crate::elf::ElfType::Executable | crate::elf::ElfType::SharedObject
        )
        .then(|| (info.machine, p.clone()))
    })
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Invalid(Box::new(d))
    }
}

/// The nsswitch.conf kiln adds when a program uses NSS and no component ships one: only
/// services built into glibc ≥ 2.34, so no module has to be loaded.
pub(crate) const DEFAULT_NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\ngshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n";

/// One path a component (or the resolver on its behalf) wants in the image.
#[derive(Clone, Debug)]
pub(crate) struct Claim {
    pub(crate) path: ImagePath,
    pub(crate) kind: EntryKind,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) layer: LayerKind,
    pub(crate) provenance: Provenance,
    /// Index of the manifest component, for conflict messages.
    pub(crate) component: usize,
}

/// Builds the Plan for `manifest`, resolving libraries inside `root` (`/` or a sysroot). A
/// manifest with `[image] base` needs [`build_with`].
pub fn build(manifest: &Manifest, root: &Path, epoch: Epoch) -> Result<Plan, Error> {
    let kind = match root == Path::new("/") {
        true => crate::root::RootKind::Host,
        false => crate::root::RootKind::Sysroot,
    };
    build_with(
        manifest,
        &crate::root::TargetRoot::dir(root, kind),
        epoch,
        None,
    )
}

/// Builds the Plan for `manifest`, resolving libraries inside `root`, on the base image that
/// `open_base` gives for the platform the Plan decides.
pub fn build_with(
    manifest: &Manifest,
    target: &crate::root::TargetRoot,
    epoch: Epoch,
    open_base: Option<Opener<'_>>,
) -> Result<Plan, Error> {
    let root = target.path();
    let mut hashes = expand::Hashes::default();
    let mut claims = Vec::new();
    let mut roots = Vec::new();
    let mut unresolved_elf = Vec::new();
    let mut ca_bundle = None;
    let label = manifest
        .image
        .platform
        .as_ref()
        .map_or(String::new(), |p| p.to_string());
    progress::emit(progress::Event::Start {
        step: progress::Step::Hash,
        label: &label,
        total: None,
    });
    for (i, c) in manifest.components.iter().enumerate() {
        let out = expand::component(manifest, i, c, target, &mut hashes)?;
        claims.extend(out.claims);
        roots.extend(out.elf_roots.into_iter().map(|(p, h)| (i, p, h)));
        unresolved_elf.extend(out.unresolved_elf);
        if out.ca_bundle.is_some() {
            ca_bundle = out.ca_bundle;
        }
    }
    let (items, units) = hashes.totals();
    progress::emit(progress::Event::Finish {
        step: progress::Step::Hash,
        items,
        units,
    });
    // The base is opened for the platform the image will have: the manifest's, else its first
    // program's (a single-image base decides when there is neither).
    let guess = manifest.image.platform.or_else(|| {
        let files: Vec<(ImagePath, PathBuf)> = roots
            .iter()
            .map(|(_, p, h)| (p.clone(), h.clone()))
            .chain(unresolved_elf.iter().cloned())
            .collect();
        first_machine(&files)
            .and_then(|(m, _)| crate::types::Arch::from_elf_machine(m))
            .map(|arch| Platform { arch })
    });
    let base = base::open(manifest, guess, open_base)?;
    // The overlay: what components place, which the loader sees before the target root.
    let mut overlay = BTreeMap::new();
    for cl in &claims {
        for a in cl.path.ancestors() {
            overlay.entry(a).or_insert(OverlayNode::Dir);
        }
        let node = match &cl.kind {
            EntryKind::Dir => OverlayNode::Dir,
            EntryKind::Symlink { target } => OverlayNode::Symlink(target.clone()),
            EntryKind::File {
                source: Source::Host(h),
                ..
            } => OverlayNode::File(h.clone()),
            // Generated bytes; the base's files are not claims yet (the view finds them).
            EntryKind::File {
                source: Source::Inline(_) | Source::Base(_),
                ..
            } => OverlayNode::File(PathBuf::new()),
        };
        overlay.insert(cl.path.clone(), node);
    }
    // The nsswitch.conf the image will have: a component's, or the one kiln adds.
    let placed_nss = claims
        .iter()
        .find(|c| c.path.as_str() == "/etc/nsswitch.conf");
    // A base's own nsswitch.conf is the image's when no component places one.
    let base_nss = base
        .as_deref()
        .and_then(|b| base::read_text(b, "/etc/nsswitch.conf", 1 << 20));
    let nss_text = match placed_nss.map(|c| &c.kind) {
        Some(EntryKind::File {
            source: Source::Inline(b),
            ..
        }) => String::from_utf8_lossy(b).into_owned(),
        Some(EntryKind::File {
            source: Source::Host(h),
            ..
        }) => fs_err::read_to_string(h).map_err(|e| Error::Io {
            path: h.clone(),
            source: e,
        })?,
        _ => base_nss
            .clone()
            .unwrap_or_else(|| DEFAULT_NSSWITCH.to_string()),
    };
    let generate_nss = placed_nss.is_none() && base_nss.is_none();
    // Loader configuration the image itself will hold.
    let mut image_files = BTreeMap::new();
    for c in claims.iter().filter(|c| {
        c.path.as_str().starts_with("/etc/ld-musl-") && c.path.as_str().ends_with(".path")
    }) {
        let text = match &c.kind {
            EntryKind::File {
                source: Source::Inline(b),
                ..
            } => String::from_utf8_lossy(b).into_owned(),
            EntryKind::File {
                source: Source::Host(h),
                ..
            } => fs_err::read_to_string(h).map_err(|e| Error::Io {
                path: h.clone(),
                source: e,
            })?,
            _ => continue,
        };
        image_files.insert(c.path.to_string(), text);
    }
    let options = resolve::Options {
        image_files: Some(image_files),
        hwcaps: manifest.image.cpu_level,
        dlopen: Some(resolve::DlopenPolicy {
            waived: manifest
                .waivers
                .iter()
                .map(|w| (w.load.clone(), w.why.clone()))
                .collect(),
            nss: resolve::Nss::Text(nss_text),
            suggested: false,
            gconv: manifest.gconv.clone(),
        }),
    };
    let resolver = Resolver::new(root, &overlay, options);
    let resolver = match &base {
        Some(b) => resolver.with_base(&b.root),
        None => resolver,
    };
    let mut warnings: Vec<String> = target
        .unused_waivers
        .iter()
        .map(|p| format!("[[waive]] package = \"{p}\" leaves out nothing: no deb component's dependencies name it; remove the waiver"))
        .collect();
    let mut machine = None;
    let mut nss_user: Option<(usize, String)> = None;
    // Programs first; a library inside a tree is resolved on its own only when no program of
    // the image loads it (it may be a plugin). Its needs must resolve too (a library the
    // program loads from its own directories is stated with `loaded-from`): a need left
    // unresolved is an error, never a silent drop of the library's other needs.
    let mut programs: Vec<(usize, ImagePath, PathBuf, bool)> = Vec::new();
    for (ci, p, h) in roots {
        let info = crate::elf::read(&h).ok();
        let program = info
            .as_ref()
            .map(|i| i.interpreter.is_some() || !i.dynamic)
            .unwrap_or(true);
        // A program of another architecture than its platform's is a mistake in the manifest,
        // said before the loader is looked for in the wrong root.
        if let (Some(pf), Some(i)) = (&manifest.image.platform, &info) {
            let comp = &manifest.components[ci];
            if i.machine != pf.elf_machine() {
                return Err(Diagnostic::new(
                    format!(
                        "component `{}` gives {p} for {pf}, but {} is an ELF file for {} (e_machine {}), not {}",
                        comp.name,
                        h.display(),
                        crate::types::elf_machine_name(i.machine),
                        i.machine,
                        pf.architecture()
                    ),
                    comp.location.clone(),
                )
                .with_hint(format!("give the {pf} build in the component's `from` table"))
                .into());
            }
        }
        programs.push((ci, p, h, program));
    }
    let mut roots = programs;
    roots.sort_by_key(|r| !r.3);
    // Trees and packages hold libraries that only a program's own loader (a JVM's) loads.
    let from_tree = |ci: usize| {
        matches!(
            manifest.components[ci].spec,
            crate::manifest::ComponentSpec::Tree { .. }
                | crate::manifest::ComponentSpec::Deb { .. }
        )
    };
    let archive = *target.kind() == crate::root::RootKind::Archive;
    let mut covered: std::collections::BTreeSet<ImagePath> = std::collections::BTreeSet::new();
    let mut waivable: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut used_loaded_from: std::collections::BTreeSet<(usize, String)> =
        std::collections::BTreeSet::new();
    // Objects that run a shell: image path -> (component, the symbol that shows it).
    let mut shell_users: BTreeMap<String, (String, String)> = BTreeMap::new();
    progress::emit(progress::Event::Start {
        step: progress::Step::Resolve,
        label: &label,
        total: Some(roots.len() as u64),
    });
    let root_count = roots.len() as u64;
    for (ci, path, host, program) in roots {
        progress::emit(progress::Event::Advance {
            step: progress::Step::Resolve,
            by: 1,
        });
        let comp = &manifest.components[ci];
        if !program && covered.contains(&path) {
            continue;
        }
        let loaded: Vec<ImagePath> = comp.loaded_from.iter().map(|l| l.dir.clone()).collect();
        let closure = match resolver.closure_loading(&path, &host, &loaded) {
            Ok(c) => c,
            Err(e) if !program && from_tree(ci) => {
                return Err(library_error(comp, &path, &claims, e, archive))
            }
            Err(e) => {
                return Err(base::version_error(base.as_deref(), comp, &e)
                    .unwrap_or_else(|| resolve_error(comp, e, archive)))
            }
        };
        // Only what components ship: libraries taken from the target root import these
        // for paths most programs never take (libpq's popen, GLib's posix_spawn).
        for o in closure
            .objects
            .iter()
            .filter(|o| matches!(o.origin, resolve::Origin::Overlay(_)))
        {
            if let Some(symbol) = check::shell_use(&o.info) {
                waivable.insert(format!("shell:{}", o.real));
                shell_users
                    .entry(o.real.to_string())
                    .or_insert_with(|| (comp.name.clone(), symbol));
            }
        }
        used_loaded_from.extend(closure.objects.iter().filter_map(|o| match &o.rule {
            resolve::Rule::LoadedFrom(d) => Some((ci, d.clone())),
            _ => None,
        }));
        covered.extend(closure.objects.iter().map(|o| o.real.clone()));
        waivable.extend(closure.waivable.iter().cloned());
        covered.extend(
            closure
                .objects
                .iter()
                .filter_map(|o| ImagePath::parse(&o.path).ok()),
        );
        let root_info = &closure.objects[0].info;
        if machine.is_none()
            && matches!(
                root_info.elf_type,
                crate::elf::ElfType::Executable | crate::elf::ElfType::SharedObject
            )
        {
            machine = Some((root_info.machine, path.clone()));
        }
        warnings.extend(
            closure
                .warnings
                .iter()
                .map(|w| format!("component `{}`: {w}", comp.name)),
        );
        if nss_user.is_none() {
            if let Some(o) = closure.objects.iter().find(|o| {
                o.soname.as_deref() != Some("libc.so.6")
                    && o.info
                        .triggers
                        .iter()
                        .any(|t| t.starts_with("get") || t == "initgroups")
            }) {
                nss_user = Some((ci, o.name.clone()));
            }
        }
        for (found, reason) in &closure.data_files {
            for link in found.links.iter().filter(|l| l.from_root) {
                claims.push(Claim {
                    path: link.path.clone(),
                    kind: EntryKind::Symlink {
                        target: link.target.clone(),
                    },
                    mode: 0o777,
                    uid: 0,
                    gid: 0,
                    layer: LayerKind::Libraries,
                    provenance: Provenance {
                        component: comp.name.clone(),
                        needed_by: vec![],
                        note: Some(format!("symlink on the way to {}", found.real)),
                        ..Default::default()
                    },
                    component: ci,
                });
            }
            if let resolve::Origin::Root(h) = &found.origin {
                let hashed = hashes.file(h).map_err(|e| Error::Io {
                    path: h.clone(),
                    source: e,
                })?;
                claims.push(Claim {
                    path: found.real.clone(),
                    kind: hashed.entry(h.clone()),
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    layer: LayerKind::Libraries,
                    provenance: Provenance {
                        component: comp.name.clone(),
                        needed_by: vec![],
                        note: Some(format!("loaded at run time: {reason}")),
                        ..Default::default()
                    },
                    component: ci,
                });
            }
        }
        for (oi, obj) in closure.objects.iter().enumerate().skip(1) {
            let chain = closure.chain(oi);
            let required_by: Vec<String> = obj
                .needed_by
                .iter()
                .map(|&i| closure.objects[i].real.to_string())
                .collect();
            let prov = |note: String| Provenance {
                component: comp.name.clone(),
                needed_by: chain.clone(),
                note: Some(note),
                required_by: required_by.clone(),
                ..Default::default()
            };
            for link in obj.links.iter().filter(|l| l.from_root) {
                claims.push(Claim {
                    path: link.path.clone(),
                    kind: EntryKind::Symlink {
                        target: link.target.clone(),
                    },
                    mode: 0o777,
                    uid: 0,
                    gid: 0,
                    layer: LayerKind::Libraries,
                    provenance: prov(format!("symlink on the way to {}", obj.real)),
                    component: ci,
                });
            }
            // The image has no ld.so.cache: a library the target's cache (or ld.so.conf) found
            // outside the default directories gets a link in one, so the loader finds it.
            let dir = obj.path.rsplit_once('/').map_or("/", |(d, _)| d);
            if matches!(obj.rule, resolve::Rule::LdSoCache | resolve::Rule::LdSoConf)
                && !closure.defaults.iter().any(|d| d == dir)
            {
                if let (Some(default_dir), Some(soname)) =
                    (closure.defaults.get(1), obj.path.rsplit('/').next())
                {
                    if let Ok(link) = ImagePath::parse(&format!("{default_dir}/{soname}")) {
                        claims.push(Claim {
                            path: link,
                            kind: EntryKind::Symlink { target: obj.real.to_string() },
                            mode: 0o777,
                            uid: 0,
                            gid: 0,
                            layer: LayerKind::Libraries,
                            provenance: prov(format!("added by kiln: the target's {} finds {soname} in {dir}, but the image has no ld.so.cache, so the loader needs it in a default directory", obj.rule)),
                            component: ci,
                        });
                    }
                }
            }
            if let resolve::Origin::Root(h) = &obj.origin {
                let hashed = hashes.file(h).map_err(|e| Error::Io {
                    path: h.clone(),
                    source: e,
                })?;
                claims.push(Claim {
                    path: obj.real.clone(),
                    kind: hashed.entry(h.clone()),
                    mode: expand::normal_mode(hashed.mode),
                    uid: 0,
                    gid: 0,
                    layer: LayerKind::Libraries,
                    provenance: prov(match &obj.rule {
                        resolve::Rule::Dlopen(why) => format!("loaded at run time: {why}"),
                        resolve::Rule::LoadedFrom(dir) => format!(
                            "loaded by the program from {dir} (`loaded-from` of component `{}`)",
                            comp.name
                        ),
                        rule => format!("found by {rule}"),
                    }),
                    component: ci,
                });
            }
        }
    }
    if let (true, Some((ci, user))) = (generate_nss, &nss_user) {
        let bytes = DEFAULT_NSSWITCH.as_bytes().to_vec();
        claims.push(Claim {
            path: ImagePath::parse("/etc/nsswitch.conf").expect("static path"),
            kind: EntryKind::File { sha256: Digest::of(&bytes),
            sha1: crate::digest::Sha1::of(&bytes), size: bytes.len() as u64, source: Source::Inline(Arc::new(bytes)) },
            mode: 0o644,
            uid: 0,
            gid: 0,
            layer: LayerKind::Base,
            provenance: Provenance {
                component: manifest.components[*ci].name.clone(),
                needed_by: vec![],
                note: Some(format!("added by kiln: {user} looks up users, groups or hosts through NSS; this nsswitch.conf names only the services built into glibc (files, dns)")),
..Default::default()
            },
            component: *ci,
        });
    }
    check::loaded_from(manifest, resolver.view(), &used_loaded_from)?;
    // The resolver's view of the image and the hash cache hold a copy of every path: gone
    // before the claims are merged, where the Plan's memory peaks.
    progress::emit(progress::Event::Finish {
        step: progress::Step::Resolve,
        items: covered.len() as u64,
        units: root_count,
    });
    drop(resolver);
    drop(overlay);
    drop(hashes);
    drop(covered);
    // kiln names the source distribution in an os-release only when the image has none: a
    // base's own wins.
    let base_os_release = base.as_deref().is_some_and(|b| {
        b.file("/etc/os-release").is_some() || b.file("/usr/lib/os-release").is_some()
    });
    add_packages(manifest, root, &target.debs, &mut claims, base_os_release)?;
    if let (Some(b), Some(spec)) = (&base, &manifest.image.base) {
        let mut inherited = base::reconcile(
            manifest,
            &spec.reference,
            &claims,
            base::claims(manifest, b),
        )?;
        // The base's claims first: a component's identical entry merges into the base's and
        // does not ship again.
        inherited.append(&mut claims);
        claims = inherited;
    }
    let entries = merge(manifest, claims)?;
    let run = run::decide(&manifest.image, base.as_deref(), ca_bundle.as_ref())
        .map_err(|(base, user)| Error::BaseUser { base, user })?;
    let mut plan = Plan {
        image: clone_image(&manifest.image),
        components: manifest
            .components
            .iter()
            .map(|c: &Component| ComponentInfo {
                name: c.name.clone(),
                kind: c.spec.kind(),
                why: c.why.clone(),
                ownership: c.ownership.clone(),
                layer: c.layer,
            })
            .collect(),
        entries,
        ca_bundle,
        epoch,
        warnings,
        platform: platform_of(
            manifest,
            machine.or_else(|| first_machine(&unresolved_elf)),
            base.as_ref().map(|b| b.platform),
        )?,
        embedded: BTreeMap::new(),
        base,
        run,
        debs: target.debs.clone(),
        releases: target.releases.clone(),
    };
    checks(manifest, &mut plan, &waivable)?;
    let shell = check::shell_warnings(&plan, &shell_users, |k| {
        manifest.waivers.iter().any(|w| w.load == k)
    });
    plan.warnings.extend(shell);
    if manifest.gconv != crate::types::Gconv::default() && !waivable.contains("gconv") {
        plan.warnings.push("[image] `gconv` names charsets, but no program of the image calls iconv_open itself, so no gconv module ships".into());
    }
    plan.warnings.sort();
    plan.warnings.dedup();
    Ok(plan)
}

/// The checks on the finished Plan (`check`): the program the image runs can run, every
/// waiver waives something, and shipped symlinks lead somewhere (a warning).
fn checks(
    manifest: &Manifest,
    plan: &mut Plan,
    waivable: &std::collections::BTreeSet<String>,
) -> Result<(), Error> {
    let image = &manifest.image;
    let run = plan.run.clone();
    let program = match (&run.entrypoint, &run.cmd) {
        (Some(ep), _) => ep.first().map(|p| ("entrypoint", p)),
        (None, Some(cmd)) => cmd.first().map(|p| ("`cmd` program", p)),
        (None, None) => None,
    };
    if let Some((role, program)) = program {
        let runner = check::Runner {
            plan,
            user: check::User {
                uid: run.user.0,
                gid: run.user.1,
            },
            path: run
                .env
                .iter()
                .find_map(|kv| kv.strip_prefix("PATH="))
                .unwrap_or(crate::manifest::DEFAULT_PATH),
        };
        if let Err(r) = runner.program(role, program)? {
            return Err(
                Diagnostic::new(r.to_string(), image.program_location.clone())
                    .with_hint(r.hint())
                    .into(),
            );
        }
    }
    let candidates: Vec<&str> = waivable.iter().map(String::as_str).collect();
    if let Some(w) = manifest
        .waivers
        .iter()
        .find(|w| !waivable.contains(&w.load))
    {
        let hint = match crate::manifest::did_you_mean(&w.load, &candidates) {
            Some(y) => format!("did you mean `{y}`?"),
            None => "remove it: no program of the image makes that load at run time (a waiver names `libgcc_s.so.1`, `nss:SERVICE`, `gconv`, a soname or `.note.dlopen` feature kiln would otherwise add, or `shell:PATH` for a program that runs a shell)".into(),
        };
        return Err(Diagnostic::new(
            format!("waiver of `{}` waives nothing", w.load),
            w.location.clone(),
        )
        .with_hint(hint)
        .into());
    }
    plan.embedded = read_embedded(&plan.entries);
    plan.warnings.extend(check::unaudited_rust(plan));
    let dangling = check::dangling(plan);
    if let Some(w) = check::dangling_warning(&dangling) {
        plan.warnings.push(w);
    }
    Ok(())
}

/// Records the Debian package of every claim that comes from the target root, and adds what
/// scanners read for distroless images: `/var/lib/dpkg/status.d/PKG` (the package's control
/// fields) and `PKG.md5sums` (the lines for the files that ship), plus an `/etc/os-release`
/// naming the source distribution when no component ships one.
fn add_packages(
    manifest: &Manifest,
    root: &Path,
    debs: &[crate::root::DebPin],
    claims: &mut Vec<Claim>,
    has_os_release: bool,
) -> Result<(), Error> {
    let overlay = BTreeMap::new();
    let view = resolve::View::new(root, &overlay);
    let in_root = |host: &Path| -> Option<String> {
        let rel = host.strip_prefix(root).ok()?;
        let p = format!("/{}", rel.display());
        let (dir, name) = p.rsplit_once('/')?;
        let dir = view.resolve_dir(if dir.is_empty() { "/" } else { dir })?;
        Some(if dir.is_root() {
            format!("/{name}")
        } else {
            format!("{dir}/{name}")
        })
    };
    // The in-root path each claim mirrors, if it comes from the target root.
    let keys: Vec<Option<String>> = claims
        .iter()
        .map(|c| match &c.kind {
            EntryKind::File {
                source: Source::Host(h),
                ..
            } => in_root(h),
            // A link kiln copied from the root: the root holds the same link at the same path.
            // Links to directories (merged-/usr's /lib) stand where packages list directories,
            // which many packages share: no owner.
            EntryKind::Symlink { target } => {
                let host = root.join(c.path.relative());
                match fs_err::read_link(&host) {
                    Ok(t) if t.to_string_lossy() == *target && !host.is_dir() => in_root(&host),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    let wanted: std::collections::BTreeSet<String> = keys.iter().flatten().cloned().collect();
    let db = crate::dpkg::Db::read(root, &wanted)?;
    if db.is_empty() {
        return Ok(());
    }
    // (package, its shipped md5sums lines, the first component index that ships from it)
    let mut shipped: BTreeMap<String, (crate::dpkg::Package, Vec<String>, usize)> = BTreeMap::new();
    for (c, key) in claims.iter_mut().zip(keys) {
        let Some(pkg) = key.as_deref().and_then(|k| db.owner(k)) else {
            continue;
        };
        c.provenance.package = Some(PackageRef {
            name: pkg.name.clone(),
            version: pkg.version.clone(),
            arch: pkg.arch.clone(),
            source: pkg.source.clone(),
            source_version: pkg.source_version.clone(),
            license: pkg.license.clone(),
            purl: pkg.purl(&db.distro),
            download: None,
            archive: None,
        });
        if let Some(d) = debs
            .iter()
            .find(|d| d.name == pkg.name && d.version == pkg.version)
        {
            let p = c.provenance.package.as_mut().expect("set above");
            p.download = Some(d.url.clone());
            p.archive = Some(format!("{}/{}", d.source, d.suite));
        }
        let e = shipped
            .entry(pkg.name.clone())
            .or_insert_with(|| (pkg.clone(), vec![], c.component));
        if let Some((md5, rel)) = key.as_deref().and_then(|k| pkg.md5sums.get(k)) {
            e.1.push(format!("{md5}  {rel}\n"));
        }
    }
    let inline = |text: String| {
        let bytes = text.into_bytes();
        EntryKind::File {
            sha256: Digest::of(&bytes),
            sha1: crate::digest::Sha1::of(&bytes),
            size: bytes.len() as u64,
            source: Source::Inline(Arc::new(bytes)),
        }
    };
    let names: Vec<String> = shipped.keys().cloned().collect();
    for (name, (pkg, mut md5, ci)) in shipped {
        md5.sort();
        md5.dedup();
        let note = |what: &str| {
            Some(format!("added by kiln: {what} of Debian package {name} {}, which files of this image come from, for vulnerability scanners (the distroless status.d convention)", pkg.version))
        };
        let path = |suffix: &str| {
            ImagePath::parse(&format!("/var/lib/dpkg/status.d/{name}{suffix}"))
                .expect("dpkg checks package names")
        };
        claims.push(Claim {
            path: path(""),
            kind: inline(pkg.control.clone()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            layer: LayerKind::Base,
            provenance: Provenance {
                component: manifest.components[ci].name.clone(),
                note: note("control fields"),
                ..Default::default()
            },
            component: ci,
        });
        claims.push(Claim {
            path: path(".md5sums"),
            kind: inline(md5.concat()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            layer: LayerKind::Base,
            provenance: Provenance {
                component: manifest.components[ci].name.clone(),
                note: note("checksums of the shipped files"),
                ..Default::default()
            },
            component: ci,
        });
    }
    let has_os_release = has_os_release
        || claims
            .iter()
            .any(|c| matches!(c.path.as_str(), "/etc/os-release" | "/usr/lib/os-release"));
    if !has_os_release && !names.is_empty() {
        let ci = claims
            .iter()
            .find(|c| c.provenance.package.is_some())
            .map_or(0, |c| c.component);
        claims.push(Claim {
            path: ImagePath::parse("/etc/os-release").expect("static path"),
            kind: inline(expand::os_release(root, &BTreeMap::new())?),
            mode: 0o644,
            uid: 0,
            gid: 0,
            layer: LayerKind::Base,
            provenance: Provenance {
                component: manifest.components[ci].name.clone(),
                note: Some(format!("added by kiln: names the distribution that packages {} come from, so scanners can match them", names.join(", "))),
                ..Default::default()
            },
            component: ci,
        });
    }
    Ok(())
}

fn clone_image(i: &ImageSpec) -> ImageSpec {
    ImageSpec {
        name: i.name.clone(),
        entrypoint: i.entrypoint.clone(),
        cmd: i.cmd.clone(),
        user: i.user,
        workdir: i.workdir.clone(),
        env: i.env.clone(),
        ports: i.ports.clone(),
        labels: i.labels.clone(),
        annotations: i.annotations.clone(),
        cpu_level: i.cpu_level,
        sysroot: i.sysroot.clone(),
        platform: i.platform,
        program_location: i.program_location.clone(),
        base: i.base.clone(),
        user_given: i.user_given,
        workdir_given: i.workdir_given,
    }
}

/// The error of a closure that does not resolve; `archive`: the target root is the packages of
/// `[[source]]` archives, so a missing library is a package to add.
fn resolve_error(comp: &Component, e: resolve::Error, archive: bool) -> Error {
    let hint = match &e {
        resolve::Error::Missing { name, .. } if archive => format!(
            "add the package that ships `{name}` to a deb component's `packages` (its files need not ship: the packages are the target root the closure is resolved in), or ship it with a `file` component in a directory the loader searches"
        ),
        resolve::Error::Missing { name, .. } => format!(
            "install the package that provides `{name}` in the target root, or ship it with a `file` component in a directory the loader searches"
        ),
        resolve::Error::Unloadable { path, .. } => format!("remove or rename {path} in the target root, or put the right library earlier in the search path"),
        resolve::Error::NoInterpreter { .. } => "install the target's C library (libc6) in the target root".into(),
        resolve::Error::Elf(_) => "check that `from` names the ELF executable you meant".into(),
        resolve::Error::MissingVersion { .. } => "the binary was built against a newer library (often glibc) than the target root has: build it on or for the target distribution, or resolve against a newer root (`sysroot`)".into(),
    };
    Error::Resolve {
        component: comp.name.clone(),
        location: comp.location.clone(),
        hint,
        error: Box::new(e),
    }
}

/// A library of a tree that no program loads, whose own needs do not resolve: the error says
/// which need, and shows `loaded-from` with the directory of the image that holds a file of
/// that name, when one does.
fn library_error(
    comp: &Component,
    path: &ImagePath,
    claims: &[Claim],
    e: resolve::Error,
    archive: bool,
) -> Error {
    let mut err = resolve_error(comp, e, archive);
    if let Error::Resolve { hint, error, .. } = &mut err {
        if let resolve::Error::Missing { name, .. } = error.as_ref() {
            let dir = claims
                .iter()
                .find(|c| c.path.as_str().rsplit('/').next() == Some(name.as_str()))
                .and_then(|c| c.path.as_str().rsplit_once('/').map(|(d, _)| d.to_string()));
            let shown = dir.as_deref().unwrap_or("/DIR/OF/THE/LIBRARY");
            *hint = format!(
                "{path} is not loaded by any program of the image, so kiln resolves it on its own. If the program loads `{name}` itself from a directory of its own (a JVM loads libjvm.so from lib/server), say so in component `{}`: `loaded-from = [\"{shown}\"]`; if nothing loads it, leave it out with `exclude` (or `resolve = false`); otherwise {}",
                comp.name,
                lower_first(hint)
            );
        }
    }
    err
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Merges claims into sorted entries: identical claims collapse, different ones conflict,
/// and every missing parent directory is added.
fn merge(manifest: &Manifest, mut claims: Vec<Claim>) -> Result<Vec<Entry>, Error> {
    // Path -> index of its first claim: the claims stay where they are (a map of whole claims
    // would hold a second copy of every entry while the Plan's memory peaks).
    let mut map: BTreeMap<ImagePath, usize> = BTreeMap::new();
    // (first claim, identical later claim): the entry keeps the first claim's provenance and
    // gains the needers of the others (two components' closures both loading libc).
    let mut collapsed: Vec<(usize, usize)> = Vec::new();
    for (i, c) in claims.iter().enumerate() {
        if c.path.is_root() {
            continue;
        }
        match map.get(&c.path) {
            None => {
                map.insert(c.path.clone(), i);
            }
            Some(&prev) if same(&claims[prev], c) => collapsed.push((prev, i)),
            Some(&prev) => return Err(conflict(manifest, &claims[prev], c)),
        }
    }
    for (first, later) in collapsed {
        let more = std::mem::take(&mut claims[later].provenance.required_by);
        let needers = &mut claims[first].provenance.required_by;
        for n in more {
            if !needers.contains(&n) {
                needers.push(n);
            }
        }
    }
    // A path under a symlink would be hidden or redirected at run time: refuse it.
    for c in map.values().map(|&i| &claims[i]) {
        for a in c.path.ancestors() {
            match map.get(&a).map(|&i| &claims[i]) {
                Some(p) if matches!(p.kind, EntryKind::Symlink { .. }) => {
                    let (a_comp, b_comp) = (
                        &manifest.components[p.component],
                        &manifest.components[c.component],
                    );
                    return Err(Diagnostic::new(
                        format!(
                            "component `{}` places {} inside {}, which component `{}` makes a symlink",
                            b_comp.name, c.path, a, a_comp.name
                        ),
                        b_comp.location.clone(),
                    )
                    .also(a_comp.location.clone(), format!("(`{}`)", a_comp.name))
                    .with_hint(format!("place it at the symlink's destination instead of under {a}"))
                    .into());
                }
                Some(p) if !matches!(p.kind, EntryKind::Dir) => {
                    return Err(conflict(manifest, p, c));
                }
                _ => {}
            }
        }
    }
    let mut parents: BTreeMap<ImagePath, Claim> = BTreeMap::new();
    for c in map.values().map(|&i| &claims[i]) {
        for a in c.path.ancestors() {
            if !map.contains_key(&a) && !parents.contains_key(&a) {
                parents.insert(
                    a.clone(),
                    Claim {
                        path: a.clone(),
                        kind: EntryKind::Dir,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        layer: c.layer,
                        provenance: Provenance {
                            component: c.provenance.component.clone(),
                            needed_by: vec![],
                            note: Some(format!("parent directory of {}", c.path)),
                            ..Default::default()
                        },
                        component: c.component,
                    },
                );
            }
        }
    }
    // Index `first + i` is the `i`th parent; each claim is taken out once, in path order.
    let first = claims.len();
    let mut parents: Vec<Option<Claim>> = parents
        .into_iter()
        .enumerate()
        .map(|(i, (path, c))| {
            map.insert(path, first + i);
            Some(c)
        })
        .collect();
    let mut claims: Vec<Option<Claim>> = claims.into_iter().map(Some).collect();
    Ok(map
        .into_values()
        .filter_map(|i| match i.checked_sub(first) {
            None => claims[i].take(),
            Some(p) => parents[p].take(),
        })
        .map(|c| Entry {
            path: c.path,
            kind: c.kind,
            mode: c.mode,
            uid: c.uid,
            gid: c.gid,
            layer: c.layer,
            provenance: c.provenance,
        })
        .collect())
}

fn same(a: &Claim, b: &Claim) -> bool {
    let content = match (&a.kind, &b.kind) {
        (EntryKind::File { sha256: x, .. }, EntryKind::File { sha256: y, .. }) => x == y,
        (x, y) => x == y,
    };
    content && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid
}

fn conflict(manifest: &Manifest, a: &Claim, b: &Claim) -> Error {
    let (ca, cb) = (
        &manifest.components[a.component],
        &manifest.components[b.component],
    );
    let what = if a.component == b.component {
        format!(
            "component `{}` places two different entries at {}",
            ca.name, b.path
        )
    } else {
        format!(
            "components `{}` and `{}` both place {}",
            ca.name, cb.name, b.path
        )
    };
    let detail = |c: &Claim| match &c.kind {
        EntryKind::Dir => format!("a directory {:04o} {}:{}", c.mode, c.uid, c.gid),
        EntryKind::File { sha256, .. } => format!(
            "a file {:04o} {}:{} {}",
            c.mode,
            c.uid,
            c.gid,
            sha256.short()
        ),
        EntryKind::Symlink { target } => format!("a symlink to {target}"),
    };
    let d = Diagnostic::new(
        format!("{what}, with different content"),
        ca.location.clone(),
    );
    let mut d = Diagnostic {
        message: d.message,
        locations: vec![],
        hint: None,
    };
    d.locations.push((
        ca.location.clone(),
        Some(format!("(`{}`: {})", ca.name, detail(a))),
    ));
    d.locations.push((
        cb.location.clone(),
        Some(format!("(`{}`: {})", cb.name, detail(b))),
    ));
    d.with_hint("keep one of them, or give one of them a different `to`")
        .into()
}
