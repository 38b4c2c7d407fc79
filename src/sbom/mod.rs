//! SBOMs as views of the Plan: exactly as wide as the image, with the reason for everything.
//!
//! Owns: collecting what both formats say (`Facts`: the image, each manifest component with
//! its ownership statement, every file and symlink with its hashes and the component that
//! placed it, DT_NEEDED edges between files, the Debian packages files come from and which of
//! their files ship, Go modules and Rust crates embedded in binaries), and rendering them as
//! SPDX 2.3 JSON (`spdx`) and CycloneDX 1.6 JSON (`cyclonedx`) into a writer, streamed: the
//! small parts of a document are `serde_json::Value`s, the per-file lists are `Node::Array`s
//! whose elements are made and written one at a time.
//! Does not own: where the documents go (`image::output` writes them into blobs).
//! Invariant: deterministic. Times come from SOURCE_DATE_EPOCH, identifiers are derived from
//! the image digest, every list is sorted, every object's keys are written sorted; host paths
//! never appear.
//! Invariant: memory grows with the number of files only by `Facts` (borrowed from the Plan:
//! hashes, indexes and references); no whole document is ever held.

pub mod cyclonedx;
pub mod spdx;

use crate::digest::Digest;
use crate::elf::embedded::{GoBuildInfo, RustDeps};
use crate::plan::{ComponentInfo, EntryKind, PackageRef, Plan};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

/// The SBOM formats kiln writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    CycloneDx,
}

impl Format {
    /// Every format, in the order kiln writes them.
    pub const ALL: [Format; 2] = [Format::Spdx, Format::CycloneDx];

    /// The format's media type: the `artifactType` of its artifact manifest.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }

    /// Reads a `--format` name (`spdx`, `spdx-json`, `cyclonedx`, `cdx`, `cyclonedx-json`); `None` for any other.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "spdx" | "spdx-json" => Some(Format::Spdx),
            "cyclonedx" | "cdx" | "cyclonedx-json" => Some(Format::CycloneDx),
            _ => None,
        }
    }
}

/// A file or symlink of the image, as the SBOM lists it: borrowed from the Plan, so the
/// facts of a large tree add only hashes and indexes to it.
#[derive(Clone, Debug)]
pub struct FileFact<'a> {
    /// The image path.
    pub path: &'a str,
    /// Regular file: content hashes. Symlink: hashes of the link text.
    pub sha256: Cow<'a, Digest>,
    /// The SHA-1 of the same bytes (SPDX requires it).
    pub sha1: [u8; 20],
    /// For a symlink: its target.
    pub symlink: Option<&'a str>,
    /// The component that placed it.
    pub component: &'a str,
    /// For a resolved library: the DT_NEEDED chain from the object that needs it.
    pub needed_by: &'a [String],
    /// How the loader finds it, or why a directory exists.
    pub note: Option<&'a str>,
    /// The Debian package it comes from, when known.
    pub package: Option<&'a PackageRef>,
    /// Paths of the files this one needs (DT_NEEDED edges, resolved).
    pub depends_on: Vec<&'a str>,
    /// Go build info embedded in it, for a Go program.
    pub go: Option<Box<GoBuildInfo>>,
    /// cargo-auditable data embedded in it, for a Rust program.
    pub rust: Option<Box<RustDeps>>,
}

impl FileFact<'_> {
    /// The SHA-1 in lower-case hex.
    pub fn sha1_hex(&self) -> String {
        hex::encode(self.sha1)
    }
}

/// Everything both formats render: a view of one Plan.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// The image's name (`[image] name`).
    pub name: &'a str,
    /// The tag the image was written under.
    pub tag: &'a str,
    /// The image manifest's digest, from which document identifiers are derived.
    pub manifest_digest: &'a Digest,
    /// The creation time, RFC 3339, from SOURCE_DATE_EPOCH.
    pub created: String,
    /// The manifest's components, with their ownership statements.
    pub components: &'a [ComponentInfo],
    /// Sorted by path bytes (the Plan's order), so a path is found by binary search.
    pub files: Vec<FileFact<'a>>,
    /// Debian packages, with the paths of their files that ship.
    pub packages: Vec<(&'a PackageRef, Vec<&'a str>)>,
    /// kiln's version, named as the creating tool.
    pub tool_version: &'static str,
    /// The image this one is built on: the component of kind `base` describes it.
    pub base: Option<BaseFact>,
}

/// The base image, as the SBOM names it: the reference it was built on and the digest of the
/// image manifest used.
#[derive(Clone, Debug)]
pub struct BaseFact {
    /// The name of the manifest's component of kind `base`.
    pub component: String,
    /// The base reference, as the manifest gives it.
    pub reference: String,
    /// The digest of the base's image manifest used.
    pub digest: Digest,
    /// `pkg:oci/NAME@sha256%3AHEX?repository_url=HOST/REPO` (a registry base) or
    /// `pkg:oci/NAME@sha256%3AHEX` (a local one).
    pub purl: String,
    /// The base's own SBOMs (a base kiln built), referred to from this image's.
    pub sboms: crate::base::OwnSboms,
}

impl BaseFact {
    fn of(plan: &Plan) -> Option<BaseFact> {
        let b = plan.base.as_ref()?;
        let component = plan
            .components
            .iter()
            .find(|c| c.kind == "base")?
            .name
            .clone();
        let reference = b.reference.to_string();
        let repo = match &b.reference {
            crate::base::BaseRef::Docker(r) => Some(format!("{}/{}", r.host, r.repo)),
            _ => None,
        };
        let name = repo
            .as_deref()
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or(&component)
            .to_string();
        let mut purl = format!("pkg:oci/{name}@sha256%3A{}", b.digest.hex());
        if let Some(r) = repo {
            purl += &format!("?repository_url={r}");
        }
        Some(BaseFact {
            component,
            reference,
            digest: b.digest.clone(),
            purl,
            sboms: b.sboms.clone(),
        })
    }
}

/// Collects the facts of `plan`, built as the image with manifest `manifest_digest`.
pub fn facts<'a>(plan: &'a Plan, manifest_digest: &'a Digest, tag: &'a str) -> Facts<'a> {
    let mut files = Vec::new();
    let mut packages: BTreeMap<&PackageRef, Vec<&str>> = BTreeMap::new();
    // Requester -> libraries it needs, from each library's required_by.
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &plan.entries {
        for r in &e.provenance.required_by {
            deps.entry(r.as_str()).or_default().push(e.path.as_str());
        }
    }
    for e in &plan.entries {
        let (sha1, sha256, symlink) = match &e.kind {
            EntryKind::Dir => continue,
            EntryKind::Symlink { target } => (
                crate::digest::Sha1::of(target.as_bytes()).0,
                Cow::Owned(Digest::of(target.as_bytes())),
                Some(target.as_str()),
            ),
            // Both digests come from the Plan's one read of the file: nothing here reads it.
            EntryKind::File { sha256, sha1, .. } => (sha1.0, Cow::Borrowed(sha256), None),
        };
        let (go, rust) = match plan.embedded.get(&e.path) {
            Some(m) => (
                m.go.clone().map(Box::new),
                m.rust.clone().and_then(Result::ok).map(Box::new),
            ),
            None => (None, None),
        };
        if let Some(p) = &e.provenance.package {
            packages.entry(p).or_default().push(e.path.as_str());
        }
        let mut depends_on = deps.remove(e.path.as_str()).unwrap_or_default();
        depends_on.sort();
        depends_on.dedup();
        files.push(FileFact {
            path: e.path.as_str(),
            sha256,
            sha1,
            symlink,
            component: &e.provenance.component,
            needed_by: &e.provenance.needed_by,
            note: e.provenance.note.as_deref(),
            package: e.provenance.package.as_ref(),
            depends_on,
            go,
            rust,
        });
    }
    Facts {
        name: &plan.image.name,
        tag,
        manifest_digest,
        created: plan.epoch.rfc3339(),
        components: &plan.components,
        files,
        packages: packages.into_iter().collect(),
        tool_version: env!("CARGO_PKG_VERSION"),
        base: BaseFact::of(plan),
    }
}

impl Facts<'_> {
    /// `pkg:oci/NAME@sha256%3AHEX?tag=TAG` for the image.
    pub fn image_purl(&self) -> String {
        let name = self.name.rsplit('/').next().unwrap_or(self.name);
        format!(
            "pkg:oci/{name}@sha256%3A{}?tag={}",
            self.manifest_digest.hex(),
            self.tag
        )
    }

    /// The ownership statement as (key, value) pairs, in a fixed order.
    pub fn statement(c: &ComponentInfo) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("why", c.why.clone()),
            ("kind", c.kind.to_string()),
            ("layer", c.layer.as_str().to_string()),
        ];
        if let Some(o) = &c.ownership.owner {
            v.push(("owner", o.clone()));
        }
        for cap in &c.ownership.capabilities {
            v.push(("capability", cap.clone()));
        }
        if let Some(o) = &c.ownership.cadence {
            v.push(("cadence", o.clone()));
        }
        if let Some(o) = &c.ownership.remove_when {
            v.push(("remove-when", o.clone()));
        }
        v
    }
}

/// Writes `facts` in `format` to `out` (pretty JSON with sorted keys, trailing newline),
/// element by element: the per-file lists are made while they are written, so no whole
/// document is ever in memory.
pub fn render(facts: &Facts, format: Format, mut out: impl Write) -> std::io::Result<()> {
    let doc = match format {
        Format::Spdx => spdx::document(facts),
        Format::CycloneDx => cyclonedx::document(facts),
    };
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")
}

/// An array whose elements are made one at a time, as it is written.
type Elements<'a> = Box<dyn Fn() -> Box<dyn Iterator<Item = Node<'a>> + 'a> + 'a>;

/// A JSON document written as it is made. Small parts are `Value`s; long lists are
/// [`Node::Array`]s whose elements exist only while they are serialised.
pub(crate) enum Node<'a> {
    Value(Value),
    /// Fields sorted by key (as `serde_json::Value` orders them); see [`Node::object`].
    Object(Vec<(&'static str, Node<'a>)>),
    Array(Elements<'a>),
}

impl<'a> Node<'a> {
    /// An object of `fields`, written in sorted key order whatever order they are given in.
    pub(crate) fn object(mut fields: Vec<(&'static str, Node<'a>)>) -> Node<'a> {
        fields.sort_by_key(|(k, _)| *k);
        Node::Object(fields)
    }

    /// An array whose elements `make` yields each time it is written.
    pub(crate) fn array<I>(make: impl Fn() -> I + 'a) -> Node<'a>
    where
        I: Iterator<Item = Node<'a>> + 'a,
    {
        Node::Array(Box::new(move || Box::new(make())))
    }
}

impl From<Value> for Node<'_> {
    fn from(v: Value) -> Self {
        Node::Value(v)
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Value(v) => v.serialize(s),
            Node::Object(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Node::Array(make) => {
                let mut a = s.serialize_seq(None)?;
                for e in make() {
                    a.serialize_element(&e)?;
                }
                a.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Ownership;
    use crate::types::LayerKind;

    fn component(name: &str, kind: &'static str) -> ComponentInfo {
        ComponentInfo {
            name: name.into(),
            kind,
            why: format!("{name} is needed"),
            ownership: Ownership {
                owner: Some("team".into()),
                ..Ownership::default()
            },
            layer: LayerKind::Application,
        }
    }

    fn file<'a>(
        path: &'a str,
        component: &'a str,
        package: Option<&'a PackageRef>,
        depends_on: Vec<&'a str>,
    ) -> FileFact<'a> {
        FileFact {
            path,
            sha256: Cow::Owned(Digest::of(path.as_bytes())),
            sha1: crate::digest::Sha1::of(path.as_bytes()).0,
            symlink: None,
            component,
            needed_by: &[],
            note: None,
            package,
            depends_on,
            go: None,
            rust: None,
        }
    }

    /// Renders `facts` in both formats and checks each against the whole-`Value` rendering
    /// the streamed one replaces: parsed and pretty-printed again (which sorts every object's
    /// keys), it is the same bytes. Returns the parsed documents.
    fn render_both(facts: &Facts) -> [Value; 2] {
        Format::ALL.map(|format| {
            let mut out = Vec::new();
            render(facts, format, &mut out).unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            let mut again = serde_json::to_vec_pretty(&v).unwrap();
            again.push(b'\n');
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(again).unwrap(),
                "{format:?}: keys out of order or formatting differs"
            );
            v
        })
    }

    #[test]
    fn streamed_documents_have_sorted_keys_and_every_file_once() {
        let components = [component("app", "elf"), component("data", "tree")];
        let libc = PackageRef {
            name: "libc6".into(),
            version: "2.36-9".into(),
            arch: "amd64".into(),
            source: "glibc".into(),
            source_version: "2.36-9".into(),
            license: "LGPL-2.1-or-later".into(),
            purl: "pkg:deb/debian/libc6@2.36-9?arch=amd64".into(),
            download: None,
            archive: None,
        };
        let digest = Digest::of(b"manifest");
        let files = vec![
            file("/data/a", "data", None, vec![]),
            file("/data/b", "data", None, vec![]),
            file("/lib/libc.so.6", "app", Some(&libc), vec![]),
            file("/usr/bin/app", "app", None, vec!["/lib/libc.so.6"]),
        ];
        let facts = Facts {
            name: "sample",
            tag: "v1",
            manifest_digest: &digest,
            created: "1970-01-01T00:00:00Z".into(),
            components: &components,
            files,
            packages: vec![(&libc, vec!["/lib/libc.so.6"])],
            tool_version: "0.0.0",
            base: None,
        };
        let [spdx, cdx] = render_both(&facts);

        let names: Vec<&str> = spdx["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fileName"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["./data/a", "./data/b", "./lib/libc.so.6", "./usr/bin/app"]
        );
        let rels: Vec<(&str, &str, &str)> = spdx["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["spdxElementId"].as_str().unwrap(),
                    r["relationshipType"].as_str().unwrap(),
                    r["relatedSpdxElement"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(rels.contains(&("SPDXRef-File-3", "DEPENDS_ON", "SPDXRef-File-2")));
        assert!(rels.contains(&(
            "SPDXRef-Package-deb-libc6-amd64",
            "CONTAINS",
            "SPDXRef-File-2"
        )));
        assert!(rels.contains(&("SPDXRef-Component-data", "CONTAINS", "SPDXRef-File-1")));
        // Image, two components, one Debian package.
        assert_eq!(spdx["packages"].as_array().unwrap().len(), 4);

        let comps = cdx["components"].as_array().unwrap();
        let nested = |i: usize| -> Vec<&str> {
            comps[i]["components"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect()
        };
        assert_eq!(nested(0), ["/lib/libc.so.6", "/usr/bin/app"]);
        assert_eq!(nested(1), ["/data/a", "/data/b"]);
        assert_eq!(comps[2]["bom-ref"], "deb:libc6:amd64");
        let deps = cdx["dependencies"].as_array().unwrap();
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[1]["ref"], "file:/usr/bin/app");
        assert_eq!(deps[1]["dependsOn"][0], "file:/lib/libc.so.6");
    }

    #[test]
    fn a_component_without_files_has_no_components_key() {
        let components = [component("empty", "file")];
        let digest = Digest::of(b"manifest");
        let facts = Facts {
            name: "sample",
            tag: "latest",
            manifest_digest: &digest,
            created: "1970-01-01T00:00:00Z".into(),
            components: &components,
            files: vec![],
            packages: vec![],
            tool_version: "0.0.0",
            base: None,
        };
        let [spdx, cdx] = render_both(&facts);
        assert_eq!(spdx["files"], serde_json::json!([]));
        assert!(cdx["components"][0].get("components").is_none());
    }
}
