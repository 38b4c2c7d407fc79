//! A Debian archive's package index (`Packages` files) for one target architecture: the
//! records it lists, merged across suites and components, with apt's default candidate.
//!
//! Owns: turning `Packages` paragraphs into typed [`Record`]s (every field kiln relies on
//! checked: name, version, architecture, download path, size, SHA-256, relations), merging
//! several indexes, lookups by package name and by provided (virtual) name, and the dpkg
//! status paragraph of a record.
//! Does not own: fetching or verifying the index (`release`, `fetch`), choosing packages
//! (`solve`), pin priorities: every suite counts as apt's default priority 500 (no
//! `NotAutomatic`/`ButAutomaticUpgrades` handling), so the candidate is the highest version.
//! Invariants: only records whose `Architecture` is the target or `all` are kept; a record
//! never lacks a required field; a `(name, architecture, version)` appears once (the first
//! index that lists it wins, as apt keeps one version per cache entry); the input is bounded
//! ([`MAX_RECORDS`] paragraphs, [`MAX_PARAGRAPH`] bytes each, [`MAX_FILENAME`] bytes per path).

use super::control::{self, ControlError, Paragraph, Relation};
use super::version::Version;
use std::collections::BTreeMap;

/// Most paragraphs an index may hold.
pub const MAX_RECORDS: usize = 1_000_000;
/// Largest paragraph accepted (bytes).
pub const MAX_PARAGRAPH: usize = 1 << 20;
/// Longest `Filename` accepted (bytes).
pub const MAX_FILENAME: usize = 4096;

/// Fields of an index paragraph that describe the download, not the package: dropped from the
/// dpkg status paragraph.
const INDEX_ONLY: [&str; 7] = [
    "Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "SHA512",
    "Description-md5",
];

/// A `Packages` index that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The deb822 text itself is malformed.
    #[error("index: {0}")]
    Control(#[from] ControlError),
    /// A record lacks a field or has a bad value.
    #[error("index: package {package:?}: field {field}: {problem}")]
    Field {
        /// The package (or `?` when the name itself is the problem).
        package: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Over [`MAX_RECORDS`] paragraphs.
    #[error("index: more than {MAX_RECORDS} records")]
    TooManyRecords,
    /// A paragraph over [`MAX_PARAGRAPH`] bytes.
    #[error("index: record {number} is larger than {MAX_PARAGRAPH} bytes")]
    ParagraphTooBig {
        /// 1-based paragraph number.
        number: usize,
    },
}

/// `Multi-Arch` of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MultiArch {
    /// Absent or `no`.
    No,
    /// `same`: co-installable with itself for other architectures.
    Same,
    /// `foreign`: satisfies dependencies of packages of any architecture.
    Foreign,
    /// `allowed`: satisfies `name:any` dependencies.
    Allowed,
}

/// One package version listed by an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: Version,
    /// `Architecture` (the target or `all`).
    pub arch: String,
    /// `Multi-Arch`.
    pub multi_arch: MultiArch,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Priority`.
    pub priority: Option<String>,
    /// `Section`.
    pub section: Option<String>,
    /// `Depends`.
    pub depends: Vec<Relation>,
    /// `Pre-Depends`.
    pub pre_depends: Vec<Relation>,
    /// `Provides`: (virtual name, provided version).
    pub provides: Vec<(String, Option<Version>)>,
    /// Source package name (`Source`, else the package name).
    pub source: String,
    /// Source version (`Source: name (version)`, else the package version).
    pub source_version: Version,
    /// `Filename`: relative path of the `.deb` in the archive.
    pub filename: String,
    /// `Size` in bytes.
    pub size: u64,
    /// `SHA256` of the `.deb`.
    pub sha256: [u8; 32],
    /// The paragraph as the index has it.
    pub paragraph: String,
}

impl Record {
    /// The paragraph dpkg keeps in `/var/lib/dpkg/status` for this package, without the
    /// `Status:` line: the index paragraph minus download fields (`Filename`, `Size`,
    /// `MD5sum`, `SHA1`, `SHA256`, `SHA512`) and `Description-md5`, comment lines dropped,
    /// ending with one newline.
    pub fn status_paragraph(&self) -> String {
        let mut out = String::with_capacity(self.paragraph.len());
        let mut keep = true;
        for line in self.paragraph.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if !line.starts_with([' ', '\t']) {
                let name = line.split(':').next().unwrap_or("");
                keep = !INDEX_ONLY.iter().any(|f| f.eq_ignore_ascii_case(name));
            }
            if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Any relation field of the record (`Conflicts`, `Breaks`, …), parsed on demand.
    pub fn relations(&self, field: &'static str) -> Result<Vec<Relation>, IndexError> {
        let Some(p) = control::paragraphs(&self.paragraph).next().transpose()? else {
            return Ok(Vec::new());
        };
        p.get(field)
            .map(|v| control::parse_relations(v).map_err(|e| self.field_err(field, e)))
            .unwrap_or(Ok(Vec::new()))
    }

    /// `Priority` as apt ranks it (required 1 … extra 5, an unknown word 5, none 0: apt's numbers).
    pub fn priority_rank(&self) -> u8 {
        match self.priority.as_deref() {
            Some("required") => 1,
            Some("important") => 2,
            Some("standard") => 3,
            Some("optional") => 4,
            Some("extra") => 5,
            Some(_) => 5,
            None => 0,
        }
    }

    fn field_err(&self, field: &'static str, e: impl std::fmt::Display) -> IndexError {
        IndexError::Field {
            package: self.name.clone(),
            field,
            problem: e.to_string(),
        }
    }
}

/// The merged index for one architecture.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The target architecture.
    arch: String,
    records: Vec<Record>,
    /// Package name → record indexes, highest version first (ties: first listed first).
    by_name: BTreeMap<String, Vec<usize>>,
    /// Provided name → (record index, index into its `provides`), in record order.
    provided: BTreeMap<String, Vec<(usize, usize)>>,
}

impl Index {
    /// Parses a `Packages` file, keeping records for `arch` and `all`.
    pub fn parse(text: &str, arch: &str) -> Result<Index, IndexError> {
        let mut records = Vec::new();
        for (n, p) in control::paragraphs(text).enumerate() {
            if n >= MAX_RECORDS {
                return Err(IndexError::TooManyRecords);
            }
            let p = p?;
            if p.raw().len() > MAX_PARAGRAPH {
                return Err(IndexError::ParagraphTooBig { number: n + 1 });
            }
            if let Some(r) = record(p, arch)? {
                records.push(r);
            }
        }
        let mut index = Index {
            arch: arch.to_string(),
            ..Index::default()
        };
        index.add(records);
        Ok(index)
    }

    /// Merges another index (another suite or component) into this one.
    pub fn extend(&mut self, other: Index) {
        self.add(other.records);
    }

    fn add(&mut self, records: Vec<Record>) {
        for r in records {
            let dup = self.by_name.get(&r.name).is_some_and(|ids| {
                ids.iter().any(|&i| {
                    let o = &self.records[i];
                    o.arch == r.arch && o.version == r.version
                })
            });
            if dup {
                continue;
            }
            let i = self.records.len();
            for (k, (name, _)) in r.provides.iter().enumerate() {
                self.provided.entry(name.clone()).or_default().push((i, k));
            }
            self.by_name.entry(r.name.clone()).or_default().push(i);
            self.records.push(r);
        }
        let records = &self.records;
        for ids in self.by_name.values_mut() {
            ids.sort_by(|&a, &b| records[b].version.cmp(&records[a].version).then(a.cmp(&b)));
        }
    }

    /// The target architecture the index was read for.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Every record, in the order read.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Record indexes of every version of the real package `name`, highest version first.
    pub fn versions(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every version of the real package `name`, highest first.
    pub fn versions_of(&self, name: &str) -> impl Iterator<Item = &Record> {
        self.versions(name).iter().map(|&i| &self.records[i])
    }

    /// Records that provide `name`, with the provided version, in index order.
    pub fn providers(&self, name: &str) -> impl Iterator<Item = (&Record, Option<&Version>)> {
        self.provider_ids(name).iter().filter_map(|&(i, k)| {
            let r = self.records.get(i)?;
            Some((r, r.provides.get(k)?.1.as_ref()))
        })
    }

    /// (record index, provides index) of the providers of `name`.
    pub(crate) fn provider_ids(&self, name: &str) -> &[(usize, usize)] {
        self.provided.get(name).map_or(&[], Vec::as_slice)
    }

    /// apt's candidate with default pins: the highest version of `name`.
    pub fn candidate(&self, name: &str) -> Option<&Record> {
        self.candidate_id(name).map(|i| &self.records[i])
    }

    /// Record index of [`Index::candidate`].
    pub fn candidate_id(&self, name: &str) -> Option<usize> {
        self.versions(name).first().copied()
    }

    /// The record of `name` at exactly `version` (dpkg equality).
    pub fn get(&self, name: &str, version: &Version) -> Option<&Record> {
        self.versions_of(name).find(|r| &r.version == version)
    }

    /// Every real package name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

/// Builds a record from a paragraph, or `None` for another architecture.
fn record(p: Paragraph, target: &str) -> Result<Option<Record>, IndexError> {
    let name = p.get("Package").unwrap_or("");
    let err = |field, problem: &str| IndexError::Field {
        package: name.chars().take(256).collect(),
        field,
        problem: problem.to_string(),
    };
    if !control::valid_package_name(name) {
        return Err(err("Package", "missing or not a valid package name"));
    }
    let arch = p
        .get("Architecture")
        .ok_or_else(|| err("Architecture", "missing"))?;
    if arch != target && arch != "all" {
        return Ok(None);
    }
    let req = |field: &'static str| p.get(field).ok_or_else(|| err(field, "missing"));
    let version = Version::parse(req("Version")?).map_err(|e| err("Version", &e.to_string()))?;
    let rel = |field: &'static str| {
        control::parse_relations(p.get(field).unwrap_or("")).map_err(|e| err(field, &e.to_string()))
    };
    let (source, source_version) =
        source(p.get("Source"), name, &version).map_err(|problem| err("Source", &problem))?;
    let r = Record {
        name: name.to_string(),
        arch: arch.to_string(),
        multi_arch: multi_arch(p.get("Multi-Arch")).map_err(|e| err("Multi-Arch", e))?,
        essential: yes_no(p.get("Essential")).map_err(|e| err("Essential", e))?,
        priority: p.get("Priority").map(str::to_string),
        section: p.get("Section").map(str::to_string),
        depends: rel("Depends")?,
        pre_depends: rel("Pre-Depends")?,
        provides: control::parse_provides(p.get("Provides").unwrap_or(""))
            .map_err(|e| err("Provides", &e.to_string()))?,
        filename: filename(req("Filename")?).map_err(|e| err("Filename", e))?,
        size: size(req("Size")?).map_err(|e| err("Size", e))?,
        sha256: sha256(req("SHA256")?).map_err(|e| err("SHA256", e))?,
        source,
        source_version,
        version,
        paragraph: String::new(),
    };
    Ok(Some(Record {
        paragraph: p.into_raw(),
        ..r
    }))
}

fn source(field: Option<&str>, name: &str, version: &Version) -> Result<(String, Version), String> {
    let Some(s) = field else {
        return Ok((name.to_string(), version.clone()));
    };
    let s = s.trim();
    let (src, ver) = match s.split_once('(') {
        Some((n, rest)) => {
            let v = rest
                .strip_suffix(')')
                .ok_or("missing `)` after the source version")?;
            let v = Version::parse(v.trim()).map_err(|e| e.to_string())?;
            (n.trim(), v)
        }
        None => (s, version.clone()),
    };
    if !control::valid_package_name(src) {
        return Err("not a valid source package name".to_string());
    }
    Ok((src.to_string(), ver))
}

fn multi_arch(v: Option<&str>) -> Result<MultiArch, &'static str> {
    Ok(match v {
        None | Some("no") => MultiArch::No,
        Some("same") => MultiArch::Same,
        Some("foreign") => MultiArch::Foreign,
        Some("allowed") => MultiArch::Allowed,
        Some(_) => return Err("neither no, same, foreign nor allowed"),
    })
}

fn yes_no(v: Option<&str>) -> Result<bool, &'static str> {
    match v {
        None | Some("no") => Ok(false),
        Some("yes") => Ok(true),
        Some(_) => Err("neither yes nor no"),
    }
}

fn filename(f: &str) -> Result<String, &'static str> {
    if f.is_empty() || f.len() > MAX_FILENAME {
        return Err("empty or longer than 4096 bytes");
    }
    if f.starts_with('/') {
        return Err("absolute path");
    }
    if f.chars().any(char::is_control) {
        return Err("control character");
    }
    if f.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err("`..` or empty path component");
    }
    Ok(f.to_string())
}

fn size(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    s.parse().map_err(|_| "too large")
}

fn sha256(s: &str) -> Result<[u8; 32], &'static str> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err("not 64 hexadecimal digits");
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| "not 64 hexadecimal digits")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    fn para(name: &str, version: &str, arch: &str, extra: &str) -> String {
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\n{extra}Filename: pool/{name}_{version}.deb\nSize: 10\nMD5sum: 00\nSHA256: {SHA}\nDescription: d\n more\nDescription-md5: 11\n\n"
        )
    }

    #[test]
    fn parses_and_filters_by_arch() {
        let text = [
            para(
                "pa",
                "1.0",
                "amd64",
                "Depends: pb (>= 1), pc | pd\nProvides: pv (= 2)\n",
            ),
            para(
                "pa",
                "2.0",
                "amd64",
                "Source: pasrc (1.5)\nMulti-Arch: foreign\n",
            ),
            para("pb", "1.0", "all", "Essential: yes\nPriority: required\n"),
            para("pc", "1.0", "arm64", ""),
        ]
        .concat();
        let idx = Index::parse(&text, "amd64").unwrap();
        assert_eq!(idx.records().len(), 3);
        let a = idx.candidate("pa").unwrap();
        assert_eq!(a.version.to_string(), "2.0");
        assert_eq!(a.source, "pasrc");
        assert_eq!(a.source_version.to_string(), "1.5");
        assert_eq!(a.multi_arch, MultiArch::Foreign);
        assert!(idx.candidate("pc").is_none());
        assert!(idx.candidate("pb").unwrap().essential);
        let old = idx.get("pa", &Version::parse("1.0").unwrap()).unwrap();
        assert_eq!(old.source, "pa");
        assert_eq!(old.depends.len(), 2);
        let p: Vec<_> = idx.providers("pv").collect();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].1.unwrap().to_string(), "2");
        assert_eq!(idx.versions_of("pa").count(), 2);
        assert_eq!(
            old.status_paragraph(),
            "Package: pa\nVersion: 1.0\nArchitecture: amd64\nDepends: pb (>= 1), pc | pd\nProvides: pv (= 2)\nDescription: d\n more\n"
        );
        assert!(old.relations("Conflicts").unwrap().is_empty());
        assert_eq!(old.relations("Depends").unwrap().len(), 2);
    }

    #[test]
    fn extend_merges_and_dedups() {
        let mut idx = Index::parse(&para("pa", "1.0", "amd64", ""), "amd64").unwrap();
        let more = [
            para("pa", "1.0", "amd64", ""),
            para("pa", "1.1", "amd64", ""),
        ]
        .concat();
        idx.extend(Index::parse(&more, "amd64").unwrap());
        assert_eq!(idx.records().len(), 2);
        assert_eq!(idx.candidate("pa").unwrap().version.to_string(), "1.1");
    }

    #[test]
    fn errors_name_package_and_field() {
        let cases = [
            (
                "Package: pa\nVersion: 1\nArchitecture: amd64\nSize: 1\nSHA256: 00\n",
                "Filename",
            ),
            (
                &para("pa", "1.0", "amd64", "Multi-Arch: maybe\n"),
                "Multi-Arch",
            ),
            (
                &para("pa", "1.0", "amd64", "Depends: pb (>= )\n"),
                "Depends",
            ),
            (&para("pa", "x y", "amd64", ""), "Version"),
            (&para("A", "1", "amd64", ""), "Package"),
            (
                &para("pa", "1", "amd64", "Provides: pb (>= 1)\n"),
                "Provides",
            ),
            (&para("pa", "1", "amd64", "Essential: maybe\n"), "Essential"),
        ];
        for (text, field) in cases {
            match Index::parse(text, "amd64") {
                Err(IndexError::Field { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        for bad in ["/abs", "a/../b", "a//b", "a\nb", ""] {
            assert!(filename(bad).is_err(), "{bad:?}");
        }
        assert!(sha256(&"g".repeat(64)).is_err());
        assert!(size("99999999999999999999").is_err());
    }
}
