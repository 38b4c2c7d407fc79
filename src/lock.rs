//! `kiln.lock`: what a build used, so a later build can be repeatable on purpose.
//!
//! Owns: the lock's content (kiln's version, the manifest's hash independent of line endings,
//! every file the image ships with its SHA-256, split into inputs the manifest names and the
//! closure kiln resolved, and the Debian packages files come from), writing it atomically next
//! to the manifest (`NAME.lock` for `NAME.toml`), and comparing two locks into a list of drifts.
//! A `tree` or `tzdata` component is recorded by one digest over its entries (path, type,
//! mode, owner, content digest or link target), so the lock does not grow with a tree's
//! file count; a change inside it is a drift naming the component.
//! Invariant: a lock depends only on what ships, never on host paths, times or order.

use crate::digest::Digest;
use crate::plan::{EntryKind, Plan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Lock {
    pub version: u32,
    pub kiln: String,
    /// SHA-256 of the manifest text with CRLF line endings folded to LF.
    pub manifest: String,
    /// Files placed by the manifest's components: image path -> sha256.
    pub inputs: BTreeMap<String, String>,
    /// Files the resolver added (loader, libraries, run-time loads): image path -> sha256.
    pub closure: BTreeMap<String, String>,
    /// Debian packages files come from: name -> "version arch".
    pub packages: BTreeMap<String, String>,
    /// Every symlink: image path -> target.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
    /// Entries whose mode or owner is not the default (0644 0:0 for a file or symlink, 0755
    /// 0:0 for a directory): image path -> "MODE UID:GID".
    #[serde(default)]
    pub modes: BTreeMap<String, String>,
    /// `tree` and `tzdata` components: name -> "sha256:HEX N entries", the digest over one
    /// line per entry the component places (see `tree_line`).
    #[serde(default)]
    pub trees: BTreeMap<String, String>,
    /// `[image] base`: the reference as written -> the digest it named when the lock was
    /// written (an index's digest for a multi-platform base). A tag that moved is a drift.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bases: BTreeMap<String, String>,
    /// `[[source]]` archives: `SOURCE/SUITE` -> "sha256:HEX DATE" of the `InRelease` read. A
    /// build uses the pinned release while kiln's cache holds it; `--locked` never another.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub releases: BTreeMap<String, String>,
    /// Packages from archives: name -> "VERSION ARCH sha256:HEX SIZE SOURCE" of the `.deb`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub debs: BTreeMap<String, String>,
}

/// Lock format: 2 records trees by one digest (1 listed every file of them).
const VERSION: u32 = 2;

/// A tree entry as its component's digest covers it: path, type, mode, owner, and the
/// content digest (files) or target (symlinks).
fn tree_line(e: &crate::plan::Entry) -> String {
    let what = match &e.kind {
        EntryKind::Dir => "dir -".to_string(),
        EntryKind::Symlink { target } => format!("symlink {target}"),
        EntryKind::File { sha256, .. } => format!("file {sha256}"),
    };
    format!("{} {:04o} {}:{} {what}\n", e.path, e.mode, e.uid, e.gid)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the lock file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the lock file {} is not valid: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write the lock file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the build differs from {} (--locked):\n{}\n\nhint: run `{accept}` (or build without --locked) to accept", path.display(), changes.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"))]
    Drift {
        path: PathBuf,
        changes: Vec<String>,
        /// The command that writes the new lock, e.g. `kiln lock kiln.toml`.
        accept: String,
    },
    #[error("--locked needs {}, which does not exist\n\nhint: run `{accept}` to write it", path.display())]
    Missing { path: PathBuf, accept: String },
}

/// `NAME.lock` beside `NAME.toml`.
pub fn path_for(manifest: &Path) -> PathBuf {
    manifest.with_extension("lock")
}

impl Lock {
    /// The lock of a Plan built from manifest text `text`.
    pub fn of(plan: &Plan, text: &str) -> Lock {
        let mut inputs = BTreeMap::new();
        let mut closure = BTreeMap::new();
        let mut packages = BTreeMap::new();
        let mut links = BTreeMap::new();
        let mut modes = BTreeMap::new();
        let mut trees: BTreeMap<String, (crate::digest::HashingWriter<std::io::Sink>, usize)> =
            BTreeMap::new();
        let is_tree = |name: &str| {
            plan.component(name)
                .is_some_and(|c| matches!(c.kind, "tree" | "tzdata" | "deb"))
        };
        let mut bases = BTreeMap::new();
        if let Some(b) = &plan.base {
            bases.insert(b.reference.to_string(), b.pinned.to_string());
        }
        let releases = plan
            .releases
            .iter()
            .map(|(k, p)| (k.clone(), format!("sha256:{} {}", p.sha256, p.date)))
            .collect();
        let debs = plan
            .debs
            .iter()
            .map(|d| {
                let v = format!(
                    "{} {} sha256:{} {} {}",
                    d.version, d.arch, d.sha256, d.size, d.source
                );
                (d.name.clone(), v)
            })
            .collect();
        // The base's own files are pinned by its digest, not one by one.
        for e in plan
            .entries
            .iter()
            .filter(|e| e.layer != crate::types::LayerKind::BaseImage)
        {
            let resolved = !e.provenance.needed_by.is_empty()
                || e.provenance
                    .note
                    .as_deref()
                    .is_some_and(|n| n.starts_with("loaded at run time"));
            if !resolved && is_tree(&e.provenance.component) {
                let (h, n) = trees
                    .entry(e.provenance.component.clone())
                    .or_insert_with(|| (crate::digest::HashingWriter::new(std::io::sink()), 0));
                std::io::Write::write_all(h, tree_line(e).as_bytes())
                    .expect("writing to a sink cannot fail");
                *n += 1;
                if let Some(p) = &e.provenance.package {
                    packages.insert(p.name.clone(), format!("{} {}", p.version, p.arch));
                }
                continue;
            }
            let default_mode = match &e.kind {
                EntryKind::Dir => 0o755,
                EntryKind::Symlink { target } => {
                    links.insert(e.path.to_string(), target.clone());
                    0o777
                }
                EntryKind::File { .. } => 0o644,
            };
            let symlink = matches!(e.kind, EntryKind::Symlink { .. });
            if (!symlink && e.mode != default_mode) || e.uid != 0 || e.gid != 0 {
                modes.insert(
                    e.path.to_string(),
                    format!("{:04o} {}:{}", e.mode, e.uid, e.gid),
                );
            }
            if let EntryKind::File { sha256, .. } = &e.kind {
                let map = if resolved { &mut closure } else { &mut inputs };
                map.insert(e.path.to_string(), sha256.to_string());
            }
            if let Some(p) = &e.provenance.package {
                packages.insert(p.name.clone(), format!("{} {}", p.version, p.arch));
            }
        }
        let trees = trees
            .into_iter()
            .map(|(name, (h, n))| {
                let (d, _, _) = h.finish();
                (name, format!("{d} {n} entries"))
            })
            .collect();
        Lock {
            version: VERSION,
            kiln: env!("CARGO_PKG_VERSION").into(),
            manifest: Digest::of(text.replace("\r\n", "\n").as_bytes()).to_string(),
            inputs,
            closure,
            packages,
            links,
            modes,
            trees,
            bases,
            releases,
            debs,
        }
    }

    /// The release pins this lock holds, as `deb` reads them (`SOURCE/SUITE` → pin).
    pub fn release_pins(&self) -> BTreeMap<String, crate::root::ReleasePin> {
        self.releases
            .iter()
            .filter_map(|(k, v)| {
                let (sha, date) = v.split_once(' ')?;
                let sha = sha.strip_prefix("sha256:")?;
                (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
                    (
                        k.clone(),
                        crate::root::ReleasePin {
                            sha256: sha.to_string(),
                            date: date.to_string(),
                        },
                    )
                })
            })
            .collect()
    }

    /// The lock of the Plans of a multi-platform manifest: each path and package is keyed
    /// `PLATFORM PATH` (e.g. `linux/arm64 /usr/lib/...`); one plan gives [`Lock::of`].
    pub fn of_all(plans: &[Plan], text: &str) -> Lock {
        Lock::of_platforms(plans, text, plans.len() > 1)
    }

    /// The lock of `plans`, keyed by platform when `keyed` (a manifest listing several
    /// platforms, of which `plans` may be a selection, as `kiln build --platform` makes).
    pub fn of_platforms(plans: &[Plan], text: &str, keyed: bool) -> Lock {
        if !keyed {
            return Lock::of(&plans[0], text);
        }
        let mut all = Lock::of(&plans[0], text);
        all.inputs.clear();
        all.closure.clear();
        all.packages.clear();
        all.links.clear();
        all.modes.clear();
        all.trees.clear();
        all.bases.clear();
        all.releases.clear();
        all.debs.clear();
        for plan in plans {
            let one = Lock::of(plan, text);
            let p = crate::image::platform(plan);
            let prefix = match &p.variant {
                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                None => format!("{}/{}", p.os, p.architecture),
            };
            let key = |k: &String| format!("{prefix} {k}");
            all.inputs
                .extend(one.inputs.iter().map(|(k, v)| (key(k), v.clone())));
            all.closure
                .extend(one.closure.iter().map(|(k, v)| (key(k), v.clone())));
            all.packages
                .extend(one.packages.iter().map(|(k, v)| (key(k), v.clone())));
            all.links
                .extend(one.links.iter().map(|(k, v)| (key(k), v.clone())));
            all.modes
                .extend(one.modes.iter().map(|(k, v)| (key(k), v.clone())));
            all.trees
                .extend(one.trees.iter().map(|(k, v)| (key(k), v.clone())));
            all.bases
                .extend(one.bases.iter().map(|(k, v)| (key(k), v.clone())));
            all.releases
                .extend(one.releases.iter().map(|(k, v)| (key(k), v.clone())));
            all.debs
                .extend(one.debs.iter().map(|(k, v)| (key(k), v.clone())));
        }
        all
    }

    /// This lock with only the entries of the platforms `new` has (keys `PLATFORM PATH`):
    /// what a build of a selection of platforms is compared with.
    pub fn restricted_to(&self, new: &Lock) -> Lock {
        let platforms: Vec<&str> = [
            &new.inputs,
            &new.closure,
            &new.packages,
            &new.links,
            &new.modes,
            &new.trees,
            &new.bases,
            &new.releases,
            &new.debs,
        ]
        .iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| k.split_once(' ').map(|(p, _)| p))
        .collect();
        let keep = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .filter(|(k, _)| {
                    k.split_once(' ')
                        .is_some_and(|(p, _)| platforms.contains(&p))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        Lock {
            version: self.version,
            kiln: self.kiln.clone(),
            manifest: self.manifest.clone(),
            inputs: keep(&self.inputs),
            closure: keep(&self.closure),
            packages: keep(&self.packages),
            links: keep(&self.links),
            modes: keep(&self.modes),
            trees: keep(&self.trees),
            bases: keep(&self.bases),
            releases: keep(&self.releases),
            debs: keep(&self.debs),
        }
    }

    pub fn read(path: &Path) -> Result<Option<Lock>, Error> {
        let text = match fs_err::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Read {
                    path: path.into(),
                    source: e,
                })
            }
        };
        toml::from_str(&text).map(Some).map_err(|e| Error::Invalid {
            path: path.into(),
            message: e.message().to_string(),
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let body = toml::to_string(self).map_err(|e| Error::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        let text = format!("# Written by kiln: what the image was built from. Commit it; `kiln build --locked` fails when any of it changes.\n{body}");
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let werr = |e: std::io::Error| Error::Write {
            path: path.into(),
            source: e,
        };
        // 0666 less the umask, like any file a tool writes (tempfile's default is 0600): the lock
        // is meant to be committed and read by others.
        let mut tmp = tempfile::Builder::new()
            .prefix(".kiln-lock-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(werr)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(werr)?;
        tmp.persist(path).map_err(|e| werr(e.error))?;
        Ok(())
    }

    /// What changed from `self` (the lock on disk) to `new`, one line each.
    pub fn changes(&self, new: &Lock) -> Vec<String> {
        let mut v = Vec::new();
        if self.version != new.version {
            v.push(format!("lock format: {} -> {}", self.version, new.version));
        }
        if self.kiln != new.kiln {
            v.push(format!("kiln version: {} -> {}", self.kiln, new.kiln));
        }
        if self.manifest != new.manifest {
            v.push(format!(
                "manifest: {} -> {}",
                short(&self.manifest),
                short(&new.manifest)
            ));
        }
        for (what, a, b) in [
            ("input", &self.inputs, &new.inputs),
            ("closure", &self.closure, &new.closure),
            ("package", &self.packages, &new.packages),
            ("link", &self.links, &new.links),
            ("mode", &self.modes, &new.modes),
            ("tree", &self.trees, &new.trees),
            ("base", &self.bases, &new.bases),
            ("release", &self.releases, &new.releases),
            ("deb", &self.debs, &new.debs),
        ] {
            for (k, old) in a {
                match b.get(k) {
                    None => v.push(format!("{what} {k}: removed")),
                    Some(n) if n != old => {
                        v.push(format!("{what} {k}: {} -> {}", short(old), short(n)))
                    }
                    _ => {}
                }
            }
            for (k, n) in b {
                if !a.contains_key(k) {
                    v.push(format!("{what} {k}: added ({})", short(n)));
                }
            }
        }
        v
    }
}

fn short(s: &str) -> String {
    match s.strip_prefix("sha256:") {
        Some(h) => format!("sha256:{}", &h[..12.min(h.len())]),
        None => s.to_string(),
    }
}
