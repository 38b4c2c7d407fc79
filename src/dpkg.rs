//! The target root's Debian package database: which package owns a file, and what scanners
//! need to know about it.
//!
//! Owns: reading `/var/lib/dpkg/status` (control paragraphs of installed packages) and
//! `/var/lib/dpkg/info/PKG[:ARCH].list` / `.md5sums` inside the root, mapping every listed
//! path to its canonical in-root path (merged-/usr aliases such as `/lib` → `/usr/lib` are
//! followed inside the root), licences from machine-readable `copyright` files mapped to SPDX
//! identifiers, and package URLs; and, for an image kiln did not build, which package owns a
//! path according to the dpkg files its layers hold ([`owners_in`]: `status` with
//! `info/*.list`, or distroless `status.d/NAME` with `NAME.md5sums`).
//! Does not own: deciding what ships (`plan`), document formats (`sbom`).
//! Invariant: a root without a dpkg database simply has no packages. What kiln copies from
//! the database of a package that ships (its name, architecture, control paragraph, md5sums)
//! is checked first: a value that would break status.d (a NUL or control character, a line
//! that is neither `Field: value` nor a continuation, a name that is not a Debian package
//! name) is an error naming the status file, the package and the field; it is never written
//! through, and never silently dropped. Packages that do not ship are not checked.

use crate::manifest::shown;
use crate::resolve::{OverlayNode, View};
use crate::types::ImagePath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A shipped package's data would not stay valid in status.d.
    #[error("package {} in {}: {problem}; kiln does not copy it into the image", shown(package), path.display())]
    Unsafe {
        path: PathBuf,
        package: String,
        problem: String,
    },
}

/// An installed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The source package (Debian's `Source:`, else the package name).
    pub source: String,
    pub source_version: String,
    /// The control paragraph as dpkg keeps it (without `Status` and `Conffiles`).
    pub control: String,
    /// md5sums lines of the package, by canonical in-root path: (md5, path as dpkg lists it).
    pub md5sums: BTreeMap<String, (String, String)>,
    /// SPDX licence expression from a machine-readable copyright file, or `NOASSERTION`.
    pub license: String,
}

impl Package {
    /// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO`.
    pub fn purl(&self, distro: &str) -> String {
        purl(&self.name, &self.version, &self.arch, distro)
    }
}

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO` (no `distro` when it is empty).
fn purl(name: &str, version: &str, arch: &str, distro: &str) -> String {
    let mut p = format!("pkg:deb/debian/{name}@{}?arch={arch}", encode(version));
    if !distro.is_empty() {
        p += &format!("&distro={}", encode(distro));
    }
    p
}

/// Percent-encodes what a purl version may not hold literally (`:` of an epoch, spaces, ...).
fn encode(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '~' | '+' => c.to_string(),
            c => c.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
        })
        .collect()
}

/// The database of one root.
#[derive(Debug, Default)]
pub struct Db {
    packages: Vec<Package>,
    by_path: BTreeMap<String, usize>,
    /// `debian-12` from the root's os-release, for purls.
    pub distro: String,
}

impl Db {
    /// Reads the database of `root`, keeping only what concerns the canonical in-root paths in
    /// `wanted` (memory stays proportional to the image, not to the host's package count);
    /// empty when there is none.
    pub fn read(root: &Path, wanted: &std::collections::BTreeSet<String>) -> Result<Db, Error> {
        let mut db = Db {
            distro: distro(root),
            ..Db::default()
        };
        let status_path = root.join("var/lib/dpkg/status");
        let Ok(status) = fs_err::read_to_string(&status_path) else {
            return Ok(db);
        };
        let overlay = BTreeMap::<ImagePath, OverlayNode>::new();
        let view = View::new(root, &overlay);
        let mut dirs: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut canonical = |p: &str| -> Option<String> {
            let (dir, name) = p.rsplit_once('/')?;
            let dir = if dir.is_empty() { "/" } else { dir };
            let real = dirs
                .entry(dir.to_string())
                .or_insert_with(|| view.resolve_dir(dir).map(|d| d.to_string()))
                .clone()?;
            Some(if real == "/" {
                format!("/{name}")
            } else {
                format!("{real}/{name}")
            })
        };
        let info = root.join("var/lib/dpkg/info");
        for para in status.split("\n\n") {
            let fields = parse_paragraph(para);
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(f, _)| f == k)
                    .map(|(_, v)| v.trim().to_string())
            };
            let (Some(name), Some(version), Some(st)) =
                (get("Package"), get("Version"), get("Status"))
            else {
                continue;
            };
            if !st.ends_with(" installed") {
                continue;
            }
            let arch = get("Architecture").unwrap_or_else(|| "all".into());
            let (source, source_version) = match get("Source") {
                Some(s) => match s.split_once(' ') {
                    Some((n, v)) => (
                        n.to_string(),
                        v.trim_matches(|c| c == '(' || c == ')' || c == ' ')
                            .to_string(),
                    ),
                    None => (s, version.clone()),
                },
                None => (name.clone(), version.clone()),
            };
            let control: String = para
                .lines()
                .scan(false, |skip, line| {
                    if !line.starts_with([' ', '\t']) {
                        *skip = line.starts_with("Status:") || line.starts_with("Conffiles:");
                    }
                    Some((!*skip).then(|| format!("{line}\n")))
                })
                .flatten()
                .collect();
            let unsafe_ = |path: &Path, problem: String| Error::Unsafe {
                path: path.to_path_buf(),
                package: name.clone(),
                problem,
            };
            // Before the name becomes a file name under info/ (and later status.d/).
            check_names(&name, &arch).map_err(|p| unsafe_(&status_path, p))?;
            let idx = db.packages.len();
            let base = [format!("{name}:{arch}"), name.clone()];
            let mut owns = false;
            if let Some(text) = base
                .iter()
                .find_map(|b| fs_err::read_to_string(info.join(format!("{b}.list"))).ok())
            {
                for line in text.lines().filter(|l| l.starts_with('/') && *l != "/.") {
                    if let Some(c) = canonical(line).filter(|c| wanted.contains(c)) {
                        db.by_path.entry(c).or_insert(idx);
                        owns = true;
                    }
                }
            }
            if !owns {
                continue;
            }
            check_control(&control).map_err(|p| unsafe_(&status_path, p))?;
            let mut md5sums = BTreeMap::new();
            if let Some((md5_path, text)) = base.iter().find_map(|b| {
                let p = info.join(format!("{b}.md5sums"));
                fs_err::read_to_string(&p).ok().map(|t| (p, t))
            }) {
                for line in text.lines() {
                    if let Some((md5, rel)) = line.split_once("  ") {
                        if let Some(c) = canonical(&format!("/{}", rel.trim_start_matches('/')))
                            .filter(|c| wanted.contains(c))
                        {
                            if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(unsafe_(
                                    &md5_path,
                                    format!(
                                        "the md5sum of {rel} is not 32 hex digits: {}",
                                        shown(md5)
                                    ),
                                ));
                            }
                            md5sums.insert(c, (md5.to_string(), rel.to_string()));
                        }
                    }
                }
            }
            let license = license(root, &name);
            db.packages.push(Package {
                name,
                version,
                arch,
                source,
                source_version,
                control,
                md5sums,
                license,
            });
        }
        Ok(db)
    }

    /// The package that installed the file at canonical in-root `path`.
    pub fn owner(&self, path: &str) -> Option<&Package> {
        self.by_path.get(path).map(|&i| &self.packages[i])
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

/// A package as its control paragraph names it (for `kiln explain` of an image kiln did not
/// build).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The source package (`Source:`, else the package's own name) and its version (the
    /// `Source:` field's parenthesised version, else the package's).
    #[serde(skip)]
    pub source: String,
    #[serde(skip)]
    pub source_version: String,
}

impl Identity {
    /// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO`, as [`Package::purl`].
    pub fn purl(&self, distro: &str) -> String {
        purl(&self.name, &self.version, &self.arch, distro)
    }

    /// The package a paragraph names: `Package`, `Version`, `Architecture` (default `all`),
    /// checked as names; with `need_installed`, only when `Status` ends in ` installed`.
    fn of(paragraph: &str, need_installed: bool) -> Option<Identity> {
        let fields = parse_paragraph(paragraph);
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim());
        if need_installed && !get("Status").is_some_and(|s| s.ends_with(" installed")) {
            return None;
        }
        let name = get("Package")?.to_string();
        let arch = get("Architecture").unwrap_or("all").to_string();
        check_names(&name, &arch).ok()?;
        let version = get("Version")?.to_string();
        if version.chars().any(char::is_control) {
            return None;
        }
        let (source, source_version) = match get("Source").map(|s| s.split_once(' ')) {
            Some(Some((s, v))) => (s.to_string(), v.trim_matches(['(', ')', ' ']).to_string()),
            Some(None) => (
                get("Source").unwrap_or_default().to_string(),
                version.clone(),
            ),
            None => (name.clone(), version.clone()),
        };
        let source_ok = check_names(&source, "all").is_ok()
            && !source_version.is_empty()
            && !source_version.chars().any(char::is_control);
        let (source, source_version) = if source_ok {
            (source, source_version)
        } else {
            (name.clone(), version.clone())
        };
        Some(Identity {
            name,
            version,
            arch,
            source,
            source_version,
        })
    }
}

/// The package owning each path of `wanted` (canonical paths in an image), from the dpkg
/// database files of an image (`files`: in-image path → text): `status` with
/// `info/PKG[:ARCH].list`, and distroless-style `status.d/NAME` with `NAME.md5sums`. Listed
/// paths are made canonical by `canonical` (the image's folder links followed). A paragraph
/// whose names are not Debian names is skipped, never used as a file name.
pub fn owners_in(
    files: &BTreeMap<String, &str>,
    canonical: &mut dyn FnMut(&str) -> Option<String>,
    wanted: &std::collections::BTreeSet<String>,
) -> BTreeMap<String, Identity> {
    let mut found = BTreeMap::new();
    let mut claim = |listed: &str, id: &Identity, found: &mut BTreeMap<String, Identity>| {
        if let Some(c) = canonical(listed).filter(|c| wanted.contains(c)) {
            found.entry(c).or_insert_with(|| id.clone());
        }
    };
    const INFO: &str = "/var/lib/dpkg/info/";
    if let Some(status) = files.get("/var/lib/dpkg/status") {
        for id in status.split("\n\n").filter_map(|p| Identity::of(p, true)) {
            let list = [format!("{}:{}", id.name, id.arch), id.name.clone()]
                .iter()
                .find_map(|b| files.get(&format!("{INFO}{b}.list")).copied());
            for line in list.unwrap_or("").lines().filter(|l| l.starts_with('/')) {
                claim(line, &id, &mut found);
            }
        }
    }
    const STATUS_D: &str = "/var/lib/dpkg/status.d/";
    for (path, text) in files.range(STATUS_D.to_string()..) {
        if !path.starts_with(STATUS_D) {
            break;
        }
        if path.ends_with(".md5sums") {
            continue;
        }
        let Some(id) = text
            .split("\n\n")
            .next()
            .and_then(|p| Identity::of(p, false))
        else {
            continue;
        };
        let sums = files.get(&format!("{path}.md5sums")).copied().unwrap_or("");
        for rel in sums
            .lines()
            .filter_map(|l| l.split_once("  ").map(|(_, r)| r))
        {
            claim(
                &format!("/{}", rel.trim_start_matches('/')),
                &id,
                &mut found,
            );
        }
    }
    found
}

/// A package name as Debian policy has it (`[a-z0-9][a-z0-9+.-]+`, so it is a safe file name
/// in status.d) and an architecture of `[a-z0-9-]+`.
fn check_names(name: &str, arch: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+.-".contains(&c));
    if !ok {
        return Err("the name is not a Debian package name".into());
    }
    if arch.is_empty()
        || !arch
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Err(format!(
            "field `Architecture` {} is not an architecture name",
            shown(arch)
        ));
    }
    Ok(())
}

/// A control paragraph that stays one paragraph: every line is `Field: value` (a field name
/// of printable ASCII without `:`, not starting with `#` or `-`) or a continuation (a space or
/// tab, then text); no NUL or control character but tab; no blank line.
pub fn check_control(text: &str) -> Result<(), String> {
    let mut field: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.starts_with([' ', '\t']) {
            let Some(f) = field else {
                return Err(format!("line {n} {} continues no field", shown(line)));
            };
            if line.trim().is_empty() {
                return Err(format!(
                    "field `{f}` has a blank line, which would end the paragraph"
                ));
            }
        } else {
            let name = line.split_once(':').map(|(k, _)| k).unwrap_or("");
            let good = !name.is_empty()
                && !name.starts_with(['#', '-'])
                && name.bytes().all(|b| (0x21..=0x7e).contains(&b));
            if !good {
                return Err(format!(
                    "line {n} {} is neither `Field: value` nor a continuation line",
                    shown(line)
                ));
            }
            field = Some(name);
        }
        let f = field.unwrap_or("?");
        match line.chars().find(|&c| c.is_control() && c != '\t') {
            None => {}
            Some('\0') => return Err(format!("field `{f}` contains a NUL byte")),
            Some(c) => return Err(format!("field `{f}` contains control character {c:?}")),
        }
    }
    Ok(())
}

/// `KEY: value` fields with continuation lines, in order.
fn parse_paragraph(p: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for line in p.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = v.last_mut() {
                last.1.push('\n');
                last.1.push_str(line);
            }
        } else if let Some((k, val)) = line.split_once(':') {
            v.push((k.trim().to_string(), val.trim().to_string()));
        }
    }
    v
}

/// `debian-12` (ID-VERSION_ID of the root's os-release), or empty.
fn distro(root: &Path) -> String {
    let text = fs_err::read_to_string(root.join("etc/os-release"))
        .or_else(|_| fs_err::read_to_string(root.join("usr/lib/os-release")))
        .unwrap_or_default();
    distro_of(&text)
}

/// `debian-12` from the text of an os-release file (ID-VERSION_ID), or empty; a value that
/// is not a plain word is left out.
pub(crate) fn distro_of(text: &str) -> String {
    let word = |v: &String| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    match (get("ID").filter(word), get("VERSION_ID").filter(word)) {
        (Some(id), Some(v)) => format!("{id}-{v}"),
        (Some(id), None) => id,
        _ => String::new(),
    }
}

/// The licence of the `Files: *` paragraph of a machine-readable copyright file, as an SPDX
/// expression, or `NOASSERTION`.
fn license(root: &Path, package: &str) -> String {
    let Ok(text) =
        fs_err::read_to_string(root.join("usr/share/doc").join(package).join("copyright"))
    else {
        return "NOASSERTION".into();
    };
    if !text.starts_with("Format:")
        || !text
            .lines()
            .next()
            .unwrap_or("")
            .contains("copyright-format/1.0")
    {
        return "NOASSERTION".into();
    }
    for para in text.split("\n\n") {
        let f = parse_paragraph(para);
        let files = f
            .iter()
            .find(|(k, _)| k == "Files")
            .map(|(_, v)| v.as_str());
        if files.map(|v| v.split_whitespace().any(|x| x == "*")) == Some(true) {
            if let Some((_, lic)) = f.iter().find(|(k, _)| k == "License") {
                return to_spdx(lic.lines().next().unwrap_or(""));
            }
        }
    }
    "NOASSERTION".into()
}

/// Debian licence short names to SPDX; an expression with any unknown name is NOASSERTION.
fn to_spdx(debian: &str) -> String {
    let map = |n: &str| -> Option<&'static str> {
        Some(match n.trim_end_matches(',') {
            "GPL-2" => "GPL-2.0-only",
            "GPL-2+" => "GPL-2.0-or-later",
            "GPL-3" => "GPL-3.0-only",
            "GPL-3+" => "GPL-3.0-or-later",
            "LGPL-2" => "LGPL-2.0-only",
            "LGPL-2+" => "LGPL-2.0-or-later",
            "LGPL-2.1" => "LGPL-2.1-only",
            "LGPL-2.1+" => "LGPL-2.1-or-later",
            "LGPL-3" => "LGPL-3.0-only",
            "LGPL-3+" => "LGPL-3.0-or-later",
            "AGPL-3" => "AGPL-3.0-only",
            "AGPL-3+" => "AGPL-3.0-or-later",
            "Expat" | "MIT" => "MIT",
            "BSD-2-clause" | "BSD-2-Clause" => "BSD-2-Clause",
            "BSD-3-clause" | "BSD-3-Clause" => "BSD-3-Clause",
            "BSD-4-clause" | "BSD-4-Clause" => "BSD-4-Clause",
            "ISC" => "ISC",
            "Zlib" | "zlib" => "Zlib",
            "Apache-2.0" | "Apache-2" => "Apache-2.0",
            "MPL-2.0" => "MPL-2.0",
            "curl" => "curl",
            "OpenSSL" => "OpenSSL",
            "public-domain" | "PD" => return None,
            "Artistic" | "Artistic-1.0" => "Artistic-1.0",
            "Artistic-2.0" => "Artistic-2.0",
            "CC0-1.0" | "CC0" => "CC0-1.0",
            "Unlicense" => "Unlicense",
            "PSF-2" => "PSF-2.0",
            "X11" => "X11",
            _ => return None,
        })
    };
    let mut out = Vec::new();
    for tok in debian.split_whitespace() {
        match tok.to_ascii_lowercase().as_str() {
            "or" => out.push("OR".to_string()),
            "and" => out.push("AND".to_string()),
            _ => match map(tok) {
                Some(id) => out.push(id.to_string()),
                None => return "NOASSERTION".into(),
            },
        }
    }
    if out.is_empty()
        || matches!(out.first().map(String::as_str), Some("OR" | "AND"))
        || matches!(out.last().map(String::as_str), Some("OR" | "AND"))
    {
        return "NOASSERTION".into();
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_map_to_spdx_or_noassertion() {
        assert_eq!(to_spdx("GPL-2+"), "GPL-2.0-or-later");
        assert_eq!(
            to_spdx("GPL-2+ or Artistic"),
            "GPL-2.0-or-later OR Artistic-1.0"
        );
        assert_eq!(
            to_spdx("BSD-3-clause and GPL-2"),
            "BSD-3-Clause AND GPL-2.0-only"
        );
        assert_eq!(to_spdx("public-domain"), "NOASSERTION");
        assert_eq!(to_spdx("Frobnitz-1"), "NOASSERTION");
        assert_eq!(to_spdx("or"), "NOASSERTION");
    }

    #[test]
    fn purl_encodes_epochs() {
        let p = Package {
            name: "libfoo1".into(),
            version: "1:2.3+dfsg-1".into(),
            arch: "amd64".into(),
            source: "foo".into(),
            source_version: "1:2.3+dfsg-1".into(),
            control: String::new(),
            md5sums: BTreeMap::new(),
            license: "NOASSERTION".into(),
        };
        assert_eq!(
            p.purl("debian-12"),
            "pkg:deb/debian/libfoo1@1%3A2.3+dfsg-1?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn control_paragraphs_stay_one_paragraph() {
        assert_eq!(
            check_control("Package: a\nDescription: x\n more\n .\n"),
            Ok(())
        );
        let bad = |t: &str| check_control(t).unwrap_err();
        assert_eq!(
            bad("Package: a\nDescription: x\0y\n"),
            "field `Description` contains a NUL byte"
        );
        assert_eq!(
            bad("Package: a\n\nPackage: b\n"),
            "line 2 \"\" is neither `Field: value` nor a continuation line"
        );
        assert_eq!(
            bad("Package: a\n  \n"),
            "field `Package` has a blank line, which would end the paragraph"
        );
        assert_eq!(bad(" x\n"), "line 1 \" x\" continues no field");
        assert_eq!(
            bad("Package: a\nNo colon here\n"),
            "line 2 \"No colon here\" is neither `Field: value` nor a continuation line"
        );
        assert_eq!(
            bad("Package: a\rStatus: x\n"),
            "field `Package` contains control character '\\r'"
        );
        assert_eq!(check_names("libc6", "amd64"), Ok(()));
        assert!(check_names("../etc", "amd64").is_err());
        assert!(check_names("a", "amd64").is_err());
        assert!(check_names("ok", "amd64&x").is_err());
    }

    #[test]
    fn reads_the_host_database() {
        let wanted = ["/usr/lib/x86_64-linux-gnu/libc.so.6".to_string()].into();
        let db = Db::read(Path::new("/"), &wanted).unwrap();
        if db.is_empty() {
            return; // not a Debian machine
        }
        let libc = db
            .owner("/usr/lib/x86_64-linux-gnu/libc.so.6")
            .expect("libc6 owns libc.so.6 (listed as /lib/...)");
        assert_eq!(libc.name, "libc6");
        assert!(libc
            .md5sums
            .contains_key("/usr/lib/x86_64-linux-gnu/libc.so.6"));
    }
}
