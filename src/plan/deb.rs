//! Expands a `deb` component: the files of the packages the target root says it ships, cut by
//! the component's `include`/`exclude` and kiln's default exclusions.
//!
//! Owns: which files of a shipped package go into the image (the default exclusions:
//! documentation, man and info pages, message catalogues, lintian overrides; a package's
//! `copyright` stays, it is its licence), the merged-/usr alias links a package's paths need,
//! and each file's provenance (component, package, dependency chain, origin).
//! Does not own: which packages ship (`deb` and `root`), package metadata in status.d
//! (`plan::add_packages`), ELF closures (`resolve`; package ELF files are closure roots).
//! Invariant: a package directory ships only when something of it ships below it or it is
//! empty in the package itself; nothing the filters leave out ships through a parent.

use super::expand::{Expanded, Hashes};
use super::{Claim, EntryKind, Error, Provenance};
use crate::manifest::{Component, ComponentSpec};
use crate::root::{PackageFileKind, ShippedPackage, TargetRoot};
use crate::span::Diagnostic;
use crate::types::ImagePath;
use std::collections::BTreeSet;

/// What `deb` components leave out unless `include` names it: documentation (but for each
/// package's `copyright`, its licence), man and info pages, message catalogues and lintian's
/// and reportbug's files.
pub(crate) const DEFAULT_EXCLUDE: &[&str] = &[
    "/usr/share/doc/**",
    "/usr/share/man/**",
    "/usr/share/info/**",
    "/usr/share/locale/**",
    "/usr/share/lintian/**",
    "/usr/share/bug/**",
    "/usr/share/doc-base/**",
];

/// Kept although [`DEFAULT_EXCLUDE`] matches it.
const DEFAULT_KEEP: &[&str] = &["/usr/share/doc/*/copyright"];

fn globs(pats: &[&str]) -> globset::GlobSet {
    let mut b = globset::GlobSetBuilder::new();
    for p in pats {
        if let Ok(g) = globset::GlobBuilder::new(p).literal_separator(true).build() {
            b.add(g);
        }
    }
    b.build().unwrap_or_else(|_| globset::GlobSet::empty())
}

/// The filter of one component.
struct Filter {
    include: Option<globset::GlobSet>,
    exclude: globset::GlobSet,
    default_exclude: globset::GlobSet,
    default_keep: globset::GlobSet,
}

impl Filter {
    fn new(include: &[String], exclude: &[String]) -> Filter {
        fn refs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        Filter {
            include: (!include.is_empty()).then(|| globs(&refs(include))),
            exclude: globs(&refs(exclude)),
            default_exclude: globs(DEFAULT_EXCLUDE),
            default_keep: globs(DEFAULT_KEEP),
        }
    }

    fn ships(&self, path: &str) -> bool {
        if self.exclude.is_match(path) {
            return false;
        }
        let included = self.include.as_ref().map(|i| i.is_match(path));
        if included == Some(false) {
            return false;
        }
        // A default exclusion gives way to an explicit `include` or the licence rule.
        included == Some(true)
            || !self.default_exclude.is_match(path)
            || self.default_keep.is_match(path)
    }
}

/// The claims of `deb` component `c` (index `idx`).
pub(crate) fn expand(
    c: &Component,
    idx: usize,
    target: &TargetRoot,
    hashes: &mut Hashes,
) -> Result<Expanded, Error> {
    let ComponentSpec::Deb {
        include, exclude, ..
    } = &c.spec
    else {
        return Ok(Expanded::default());
    };
    let filter = Filter::new(include, exclude);
    let mut out = Expanded::default();
    let mut any_file = false;
    for pkg in target.packages_of(idx) {
        any_file |= package(c, idx, target, pkg, &filter, hashes, &mut out)?;
    }
    if !any_file {
        return Err(Diagnostic::new(
            format!(
                "component `{}` ships no file of its packages ({})",
                c.name,
                target
                    .packages_of(idx)
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            c.location.clone(),
        )
        .with_hint("check `include` and `exclude` (documentation, man pages and locales are left out by default)")
        .into());
    }
    Ok(out)
}

/// Adds the claims of one package; whether any non-directory entry ships.
fn package(
    c: &Component,
    idx: usize,
    target: &TargetRoot,
    pkg: &ShippedPackage,
    filter: &Filter,
    hashes: &mut Hashes,
    out: &mut Expanded,
) -> Result<bool, Error> {
    let root = target.path();
    let prov = |note: Option<String>| Provenance {
        component: c.name.clone(),
        note,
        package_chain: pkg.chain.clone(),
        ..Default::default()
    };
    let claim = |path: ImagePath, kind: EntryKind, mode: u32, uid: u32, gid: u32, note| Claim {
        path,
        kind,
        mode,
        uid,
        gid,
        layer: c.layer,
        provenance: prov(note),
        component: idx,
    };
    // Directories that hold something shipped, and which package directories have entries.
    let mut shipped_below: BTreeSet<ImagePath> = BTreeSet::new();
    let mut has_entries: BTreeSet<ImagePath> = BTreeSet::new();
    for f in &pkg.files {
        if let Some(parent) = f.path.parent() {
            has_entries.insert(parent);
        }
        if f.kind != PackageFileKind::Dir && filter.ships(f.path.as_str()) {
            for a in f.path.ancestors() {
                shipped_below.insert(a);
            }
        }
    }
    let mut any = false;
    for f in &pkg.files {
        let note = Some(format!("{} {} from {}", pkg.name, pkg.version, pkg.origin));
        match &f.kind {
            PackageFileKind::Dir => {
                let leaf = !has_entries.contains(&f.path) && filter.ships(f.path.as_str());
                if leaf || shipped_below.contains(&f.path) {
                    out.claims.push(claim(
                        f.path.clone(),
                        EntryKind::Dir,
                        f.mode,
                        f.uid,
                        f.gid,
                        note,
                    ));
                }
            }
            _ if !filter.ships(f.path.as_str()) => {}
            PackageFileKind::Symlink(t) => {
                any = true;
                out.claims.push(claim(
                    f.path.clone(),
                    EntryKind::Symlink { target: t.clone() },
                    0o777,
                    f.uid,
                    f.gid,
                    note,
                ));
            }
            PackageFileKind::File => {
                any = true;
                let host = root.join(f.path.relative());
                let io = |e| Error::Io {
                    path: host.clone(),
                    source: e,
                };
                let hashed = hashes.file(&host).map_err(io)?;
                out.claims.push(claim(
                    f.path.clone(),
                    hashed.entry(host.clone()),
                    f.mode & 0o7777,
                    f.uid,
                    f.gid,
                    note,
                ));
                if crate::elf::is_elf(&host).map_err(io)? {
                    out.elf_roots.push((f.path.clone(), host));
                }
            }
        }
    }
    // The merged-/usr aliases (`/lib` → `usr/lib`) the package's own paths go through.
    for a in &pkg.aliases {
        let host = root.join(a.relative());
        if let Ok(t) = fs_err::read_link(&host) {
            out.claims.push(claim(
                a.clone(),
                EntryKind::Symlink {
                    target: t.to_string_lossy().into_owned(),
                },
                0o777,
                0,
                0,
                Some(format!(
                    "merged-/usr alias that paths of {} go through",
                    pkg.name
                )),
            ));
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exclusions_keep_licences_and_yield_to_include() {
        let f = Filter::new(&[], &[]);
        assert!(f.ships("/usr/sbin/nginx"));
        assert!(!f.ships("/usr/share/doc/nginx/changelog.gz"));
        assert!(f.ships("/usr/share/doc/nginx/copyright"));
        assert!(!f.ships("/usr/share/man/man8/nginx.8.gz"));
        assert!(!f.ships("/usr/share/locale/de/LC_MESSAGES/x.mo"));
        let f = Filter::new(&["/usr/share/locale/de/**".into()], &[]);
        assert!(f.ships("/usr/share/locale/de/LC_MESSAGES/x.mo"));
        assert!(!f.ships("/usr/sbin/nginx"));
        let f = Filter::new(&[], &["/usr/share/doc/**".into()]);
        assert!(!f.ships("/usr/share/doc/nginx/copyright"));
    }
}
