//! Packages from the target root's own dpkg database: what a `deb` component without a
//! `source` ships (the packages installed in `/` or the platform's sysroot).
//!
//! Owns: reading `var/lib/dpkg/status` for installed packages, their Depends/Pre-Depends
//! closure among installed packages (the first alternative that is installed, or a package
//! that provides it), and each package's files from `info/PKG[:ARCH].list` with their
//! metadata as the root holds them, canonical through merged-/usr aliases.
//! Does not own: archives (`deb::archive`), filtering files (`plan`).
//! Invariant: only installed packages ship; a dependency that is not installed is an error
//! naming the chain, unless a `[[waive]] package` leaves it out.

use super::control::{self, ArchQual, Relation};
use super::version::Version;
use super::{Error, Request};
use crate::resolve::{OverlayNode, View};
use crate::root::{PackageFile, PackageFileKind, ShippedPackage};
use crate::types::ImagePath;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// An installed package's relations.
struct Installed {
    version: Version,
    arch: String,
    depends: Vec<Relation>,
    provides: Vec<(String, Option<Version>)>,
}

/// The packages each request ships from `root`'s dpkg database: those of architecture `arch`
/// (the image's, in Debian's spelling) or `all`; a multiarch root's other architectures' copies
/// are other packages.
pub(crate) fn select(
    root: &Path,
    arch: &str,
    requests: &[Request<'_>],
) -> Result<(Vec<ShippedPackage>, BTreeSet<String>), Error> {
    let status_path = root.join("var/lib/dpkg/status");
    let text = fs_err::read_to_string(&status_path).map_err(|e| Error::NoDatabase {
        root: root.to_path_buf(),
        source: e,
    })?;
    let installed = read_status(&status_path, &text, arch)?;
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for r in requests {
        for (name, chain) in closure(&installed, r, &mut used)? {
            let pkg = &installed[&name];
            out.push(ShippedPackage {
                component: r.component,
                files: files(root, &name, &pkg.arch)?,
                aliases: Vec::new(),
                version: pkg.version.to_string(),
                arch: pkg.arch.clone(),
                name,
                chain,
                origin: "the target root's dpkg database".into(),
            });
        }
    }
    Ok((out, used))
}

fn read_status(path: &Path, text: &str, arch: &str) -> Result<BTreeMap<String, Installed>, Error> {
    let mut out = BTreeMap::new();
    for p in control::paragraphs(text) {
        let p = p.map_err(|e| Error::Database {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let (Some(name), Some(version), Some(status)) =
            (p.get("Package"), p.get("Version"), p.get("Status"))
        else {
            continue;
        };
        let pkg_arch = p.get("Architecture").unwrap_or("all").trim();
        if !status.trim_end().ends_with(" installed") || (pkg_arch != arch && pkg_arch != "all") {
            continue;
        }
        let bad = |m: String| Error::Database {
            path: path.to_path_buf(),
            message: format!("package {name}: {m}"),
        };
        let rel = |f: &str| -> Result<Vec<Relation>, Error> {
            p.get(f)
                .map(control::parse_relations)
                .transpose()
                .map_err(|e| bad(format!("{f}: {e}")))
                .map(Option::unwrap_or_default)
        };
        let mut depends = rel("Pre-Depends")?;
        depends.extend(rel("Depends")?);
        out.insert(
            name.trim().to_string(),
            Installed {
                version: Version::parse(version.trim()).map_err(|e| bad(e.to_string()))?,
                arch: p.get("Architecture").unwrap_or("all").trim().to_string(),
                depends,
                provides: p
                    .get("Provides")
                    .map(control::parse_provides)
                    .transpose()
                    .map_err(|e| bad(format!("Provides: {e}")))?
                    .unwrap_or_default(),
            },
        );
    }
    Ok(out)
}

/// The installed package that satisfies `rel`, if any: an alternative installed by name at a
/// version its constraint allows, else an installed package that provides it.
fn satisfier(installed: &BTreeMap<String, Installed>, rel: &Relation) -> Option<String> {
    for d in &rel.alternatives {
        if matches!(d.arch, ArchQual::Arch(_)) {
            continue;
        }
        if let Some(p) = installed.get(&d.name) {
            if d.constraint.as_ref().is_none_or(|c| c.matches(&p.version)) {
                return Some(d.name.clone());
            }
        }
        for (n, p) in installed {
            let provides = p.provides.iter().any(|(v, ver)| {
                *v == d.name
                    && match (&d.constraint, ver) {
                        (None, _) => true,
                        (Some(c), Some(ver)) => c.matches(ver),
                        (Some(_), None) => false,
                    }
            });
            if provides {
                return Some(n.clone());
            }
        }
    }
    None
}

/// The packages a request ships with their chains, breadth first from its roots.
fn closure(
    installed: &BTreeMap<String, Installed>,
    r: &Request<'_>,
    used: &mut BTreeSet<String>,
) -> Result<Vec<(String, Vec<String>)>, Error> {
    let mut chains: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for p in r.packages {
        if !installed.contains_key(&p.name) {
            return Err(Error::NotInstalled {
                package: p.name.clone(),
                chain: vec![p.name.clone()],
                location: Some(p.location.clone()),
            });
        }
        if chains
            .insert(p.name.clone(), vec![p.name.clone()])
            .is_none()
        {
            queue.push_back(p.name.clone());
        }
    }
    while let Some(name) = queue.pop_front().filter(|_| r.depends) {
        let chain = chains[&name].clone();
        for rel in &installed[&name].depends {
            if let Some(w) = rel
                .alternatives
                .iter()
                .find(|d| r.waived.contains_key(&d.name))
            {
                used.insert(w.name.clone());
                continue;
            }
            let Some(dep) = satisfier(installed, rel) else {
                let wanted = rel
                    .alternatives
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ");
                let mut chain = chain.clone();
                chain.insert(0, wanted.clone());
                return Err(Error::NotInstalled {
                    package: wanted,
                    chain,
                    location: None,
                });
            };
            if !chains.contains_key(&dep) {
                let mut c = vec![dep.clone()];
                c.extend(chain.iter().cloned());
                chains.insert(dep.clone(), c);
                queue.push_back(dep);
            }
        }
    }
    Ok(chains.into_iter().collect())
}

/// The files `info/NAME[:ARCH].list` lists, canonical in `root`, with the root's metadata.
fn files(root: &Path, name: &str, arch: &str) -> Result<Vec<PackageFile>, Error> {
    let info = root.join("var/lib/dpkg/info");
    let list = [format!("{name}:{arch}.list"), format!("{name}.list")]
        .iter()
        .find_map(|f| fs_err::read_to_string(info.join(f)).ok())
        .unwrap_or_default();
    let overlay = BTreeMap::<ImagePath, OverlayNode>::new();
    let view = View::new(root, &overlay);
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in list.lines().filter(|l| l.starts_with('/') && *l != "/.") {
        let Ok(p) = ImagePath::parse(line) else {
            continue;
        };
        let Some(parent) = p.parent().and_then(|d| view.resolve_dir(d.as_str())) else {
            continue;
        };
        let Ok(canon) = ImagePath::parse(&format!(
            "{}/{}",
            parent.as_str().trim_end_matches('/'),
            p.file_name()
        )) else {
            continue;
        };
        if !seen.insert(canon.clone()) {
            continue;
        }
        let host = root.join(canon.relative());
        // A listed path the root no longer has (a diversion, a removed conffile) is skipped.
        let Ok(meta) = fs_err::symlink_metadata(&host) else {
            continue;
        };
        let kind = if meta.file_type().is_symlink() {
            match fs_err::read_link(&host) {
                Ok(t) => PackageFileKind::Symlink(t.to_string_lossy().into_owned()),
                Err(_) => continue,
            }
        } else if meta.is_dir() {
            PackageFileKind::Dir
        } else if meta.is_file() {
            PackageFileKind::File
        } else {
            continue;
        };
        out.push(PackageFile {
            path: canon,
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        });
    }
    Ok(out)
}
