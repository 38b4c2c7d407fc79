//! The merged tree of unpacked packages: a Debian root as dpkg would have left it (merged
//! /usr, a dpkg database), used as the target root of an archive build.
//!
//! Owns: the merged-/usr rule (a package's `/bin`, `/sbin`, `/lib*` paths live under `/usr`,
//! with the aliases as links, as on every bookworm system), laying the packages' entries
//! out (files hard-linked from the unpacked cache, copied across file systems), the
//! `var/lib/dpkg/status` and `info/*.list`/`.md5sums` files that describe them, an
//! `os-release` from the release when no package ships one, and the CA bundle that
//! ca-certificates' maintainer script would make.
//! Does not own: which packages (`deb::archive`), what ships of the tree (`plan`).
//! Invariant: a tree is named by the digest of what it is made of and written once: staged
//! beside its final place and renamed whole; a tree that exists is never changed.
//! Two packages that place different contents at one path are an error naming both
//! (dpkg's `Replaces` and diversions are not modelled).

use super::debfile::{EntryKind as DebKind, Unpacked};
use crate::types::ImagePath;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bump when the tree's layout changes: old trees are then never reused.
const FORMAT: &str = "kiln-deb-tree-2";

/// Top-level directories merged into `/usr`.
const MERGED: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// One package going into the tree.
pub struct Member<'a> {
    /// Package name.
    pub name: &'a str,
    /// Architecture (`amd64`, `all`).
    pub arch: &'a str,
    /// Multi-Arch: same packages keep `NAME:ARCH.list` in dpkg's info folder.
    pub multi_arch_same: bool,
    /// The `.deb`'s SHA-256, hex.
    pub sha256: String,
    /// Its status paragraph without `Status` (the index's fields minus download fields).
    pub status: String,
    /// The unpacked package.
    pub unpacked: &'a Unpacked,
}

/// Where a packaged path lives in a merged-/usr root: `/lib/x/y` → `/usr/lib/x/y`.
pub fn canonical(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    let first = rest.split('/').next().unwrap_or("");
    if MERGED.contains(&first) {
        format!("/usr/{rest}")
    } else {
        format!("/{rest}")
    }
}

/// The merged-/usr alias a packaged path goes through (`/lib` for `/lib/x`), if any.
pub fn alias_of(path: &str) -> Option<ImagePath> {
    let rest = path.trim_start_matches('/');
    let (first, more) = rest.split_once('/')?;
    (MERGED.contains(&first) && !more.is_empty())
        .then(|| ImagePath::parse(&format!("/{first}")).ok())
        .flatten()
}

/// Builds (or finds) the tree of `members` under `cache/trees/`; `os_release` is written when
/// no package ships one.
pub fn build(
    cache: &Path,
    members: &[Member<'_>],
    os_release: &str,
) -> Result<PathBuf, super::Error> {
    let key = key(members, os_release);
    let trees = cache.join("trees");
    let dest = trees.join(&key);
    if dest.is_dir() {
        return Ok(dest);
    }
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| super::Error::Tree { path, source }
    };
    fs_err::create_dir_all(&trees).map_err(err(&trees))?;
    let stage = tempfile::Builder::new()
        .prefix(".stage-")
        .tempdir_in(&trees)
        .map_err(err(&trees))?;
    lay_out(stage.path(), members, os_release)?;
    let staged = stage.keep();
    match fs_err::rename(&staged, &dest) {
        Ok(()) => Ok(dest),
        // Another kiln finished the same tree first: its tree is the same bytes.
        Err(_) if dest.is_dir() => {
            let _ = fs_err::remove_dir_all(&staged);
            Ok(dest)
        }
        Err(e) => Err(super::Error::Tree {
            path: dest,
            source: e,
        }),
    }
}

fn key(members: &[Member<'_>], os_release: &str) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    let mut ids: Vec<&str> = members.iter().map(|m| m.sha256.as_str()).collect();
    ids.sort_unstable();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    h.update(os_release.as_bytes());
    hex::encode(h.finalize())
}

fn lay_out(dir: &Path, members: &[Member<'_>], os_release: &str) -> Result<(), super::Error> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| super::Error::Tree { path, source }
    };
    fs_err::create_dir_all(dir.join("usr")).map_err(err(dir))?;
    for m in MERGED {
        let link = dir.join(m);
        std::os::unix::fs::symlink(format!("usr/{m}"), &link).map_err(err(&link))?;
    }
    // path → (package, sha256 of its bytes) of every file placed, for conflicts.
    let mut placed: BTreeMap<String, (String, Option<[u8; 32]>)> = BTreeMap::new();
    let mut status = String::new();
    let info = dir.join("var/lib/dpkg/info");
    fs_err::create_dir_all(&info).map_err(err(&info))?;
    let mut sorted: Vec<&Member<'_>> = members.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    for m in sorted {
        let mut list = String::from("/.\n");
        for e in &m.unpacked.entries {
            list.push_str(&e.path);
            list.push('\n');
            place(dir, m, e, &mut placed)?;
        }
        let base = match m.multi_arch_same {
            true => format!("{}:{}", m.name, m.arch),
            false => m.name.to_string(),
        };
        let write = |name: String, text: &str| {
            let p = info.join(name);
            fs_err::write(&p, text).map_err(err(&p))
        };
        write(format!("{base}.list"), &list)?;
        if let Some(md5) = &m.unpacked.md5sums {
            write(format!("{base}.md5sums"), md5)?;
        }
        status.push_str(&with_status(&m.status));
        status.push('\n');
    }
    ca_bundle(dir)?;
    let status_path = dir.join("var/lib/dpkg/status");
    fs_err::write(&status_path, status).map_err(err(&status_path))?;
    let os = dir.join("usr/lib/os-release");
    if !placed.contains_key("/usr/lib/os-release") && !placed.contains_key("/etc/os-release") {
        fs_err::create_dir_all(dir.join("usr/lib")).map_err(err(dir))?;
        fs_err::write(&os, os_release).map_err(err(&os))?;
        fs_err::create_dir_all(dir.join("etc")).map_err(err(dir))?;
        let link = dir.join("etc/os-release");
        std::os::unix::fs::symlink("../usr/lib/os-release", &link).map_err(err(&link))?;
    }
    Ok(())
}

/// What ca-certificates' maintainer script (`update-ca-certificates`) would have made:
/// `/etc/ssl/certs/ca-certificates.crt`, every certificate under `/usr/share/ca-certificates`
/// (all of them, as the package's default configuration selects) in path order, each ending
/// with a newline. Nothing when no package ships certificates or one ships the bundle.
fn ca_bundle(dir: &Path) -> Result<(), super::Error> {
    let certs = dir.join("usr/share/ca-certificates");
    let bundle = dir.join("etc/ssl/certs/ca-certificates.crt");
    if !certs.is_dir() || bundle.symlink_metadata().is_ok() {
        return Ok(());
    }
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| super::Error::Tree { path, source }
    };
    let mut found = Vec::new();
    let mut stack = vec![certs.clone()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).map_err(err(&d))? {
            let e = e.map_err(err(&d))?;
            let t = e.file_type().map_err(err(&d))?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() && e.path().extension().is_some_and(|x| x == "crt") {
                found.push(e.path());
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let mut text = Vec::new();
    for f in &found {
        let mut b = fs_err::read(f).map_err(err(f))?;
        if !b.ends_with(b"\n") {
            b.push(b'\n');
        }
        text.extend_from_slice(&b);
    }
    fs_err::create_dir_all(bundle.parent().expect("has a parent")).map_err(err(&bundle))?;
    fs_err::write(&bundle, text).map_err(err(&bundle))
}

/// The paragraph with `Status: install ok installed` after its `Package` line, as dpkg keeps it.
fn with_status(paragraph: &str) -> String {
    let mut out = String::new();
    for line in paragraph.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("Package:") {
            out.push_str("Status: install ok installed\n");
        }
    }
    out
}

/// Places one entry of `m` at its canonical path under `dir`.
fn place(
    dir: &Path,
    m: &Member<'_>,
    e: &super::debfile::Entry,
    placed: &mut BTreeMap<String, (String, Option<[u8; 32]>)>,
) -> Result<(), super::Error> {
    let canon = canonical(&e.path);
    if canon == "/" {
        return Ok(());
    }
    let host = dir.join(canon.trim_start_matches('/'));
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| super::Error::Tree { path, source }
    };
    let conflict = |other: &str| super::Error::Conflict {
        path: canon.clone(),
        first: other.to_string(),
        second: m.name.to_string(),
    };
    if let Some(parent) = host.parent() {
        fs_err::create_dir_all(parent).map_err(err(parent))?;
    }
    match &e.kind {
        DebKind::Dir => {
            if !host.is_dir() {
                fs_err::create_dir_all(&host).map_err(err(&host))?;
            }
        }
        DebKind::File {
            sha256, content, ..
        } => {
            if let Some((other, prev)) = placed.get(&canon) {
                if *prev == Some(*sha256) {
                    return Ok(());
                }
                return Err(conflict(other));
            }
            link_or_copy(&m.unpacked.dir.join(content), &host)?;
            placed.insert(canon, (m.name.to_string(), Some(*sha256)));
        }
        DebKind::Symlink { target } => {
            if let Some((other, _)) = placed.get(&canon) {
                if fs_err::read_link(&host).is_ok_and(|t| t == Path::new(target)) {
                    return Ok(());
                }
                return Err(conflict(other));
            }
            std::os::unix::fs::symlink(target, &host).map_err(err(&host))?;
            placed.insert(canon, (m.name.to_string(), None));
        }
        DebKind::Hardlink { target } => {
            let from = dir.join(canonical(target).trim_start_matches('/'));
            if placed.contains_key(&canon) {
                return Err(conflict(&placed[&canon].0));
            }
            link_or_copy(&from, &host)?;
            let sum = placed.get(&canonical(target)).and_then(|p| p.1);
            placed.insert(canon, (m.name.to_string(), sum));
        }
    }
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<(), super::Error> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs_err::copy(from, to)
        .map(|_| ())
        .map_err(|source| super::Error::Tree {
            path: to.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_usr_moves_top_level_library_and_program_folders() {
        assert_eq!(
            canonical("/lib/x86_64-linux-gnu/libc.so.6"),
            "/usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(canonical("/bin/sh"), "/usr/bin/sh");
        assert_eq!(canonical("/usr/bin/sh"), "/usr/bin/sh");
        assert_eq!(canonical("/etc/nginx"), "/etc/nginx");
        assert_eq!(canonical("/library/x"), "/library/x");
        assert_eq!(
            alias_of("/lib64/ld-linux-x86-64.so.2").unwrap().as_str(),
            "/lib64"
        );
        assert!(alias_of("/lib").is_none());
        assert!(alias_of("/usr/lib/x").is_none());
    }
}
