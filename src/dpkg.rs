//! The target root's Debian package database: which package owns a file, and what scanners
//! need to know about it.
//!
//! Owns: reading `/var/lib/dpkg/status` (control paragraphs of installed packages) and
//! `/var/lib/dpkg/info/PKG[:ARCH].list` / `.md5sums` inside the root, mapping every listed
//! path to its canonical in-root path (merged-/usr aliases such as `/lib` → `/usr/lib` are
//! followed inside the root), licences from machine-readable `copyright` files mapped to SPDX
//! identifiers, and package URLs.
//! Does not own: deciding what ships (`plan`), document formats (`sbom`).
//! Invariant: a root without a dpkg database simply has no packages; nothing here fails a build.

use crate::manifest::ImagePath;
use crate::resolve::{OverlayNode, View};
use std::collections::BTreeMap;
use std::path::Path;

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
        let mut p = format!(
            "pkg:deb/debian/{}@{}?arch={}",
            self.name,
            encode(&self.version),
            self.arch
        );
        if !distro.is_empty() {
            p += &format!("&distro={distro}");
        }
        p
    }
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
    pub fn read(root: &Path, wanted: &std::collections::BTreeSet<String>) -> Db {
        let mut db = Db {
            distro: distro(root),
            ..Db::default()
        };
        let Ok(status) = fs_err::read_to_string(root.join("var/lib/dpkg/status")) else {
            return db;
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
            let mut md5sums = BTreeMap::new();
            if let Some(text) = base
                .iter()
                .find_map(|b| fs_err::read_to_string(info.join(format!("{b}.md5sums"))).ok())
            {
                for line in text.lines() {
                    if let Some((md5, rel)) = line.split_once("  ") {
                        if let Some(c) = canonical(&format!("/{}", rel.trim_start_matches('/')))
                            .filter(|c| wanted.contains(c))
                        {
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
        db
    }

    /// The package that installed the file at canonical in-root `path`.
    pub fn owner(&self, path: &str) -> Option<&Package> {
        self.by_path.get(path).map(|&i| &self.packages[i])
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
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
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    match (get("ID"), get("VERSION_ID")) {
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
    fn reads_the_host_database() {
        let wanted = ["/usr/lib/x86_64-linux-gnu/libc.so.6".to_string()].into();
        let db = Db::read(Path::new("/"), &wanted);
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
