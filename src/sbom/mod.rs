//! SBOMs as views of the Plan: exactly as wide as the image, with the reason for everything.
//!
//! Owns: collecting what both formats say (`Facts`: the image, each manifest component with
//! its ownership statement, every file and symlink with its hashes and the component that
//! placed it, DT_NEEDED edges between files, the Debian packages files come from and which of
//! their files ship, Go modules and Rust crates embedded in binaries), and rendering them as
//! SPDX 2.3 JSON (`spdx`) and CycloneDX 1.6 JSON (`cyclonedx`).
//! Invariant: deterministic. Times come from SOURCE_DATE_EPOCH, identifiers are derived from
//! the image digest, every list is sorted; host paths never appear.

pub mod cyclonedx;
pub mod spdx;

use crate::digest::Digest;
use crate::elf::embedded::{GoBuildInfo, RustDeps};
use crate::manifest::LayerKind;
use crate::plan::{ComponentInfo, EntryKind, PackageRef, Plan, Source};
use std::collections::BTreeMap;
use std::io::Read;

/// The SBOM formats kiln writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Spdx,
    CycloneDx,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Spdx, Format::CycloneDx];

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "spdx" | "spdx-json" => Some(Format::Spdx),
            "cyclonedx" | "cdx" | "cyclonedx-json" => Some(Format::CycloneDx),
            _ => None,
        }
    }
}

/// A file or symlink of the image, as the SBOM lists it.
#[derive(Clone, Debug)]
pub struct FileFact {
    pub path: String,
    /// Regular file: content hashes. Symlink: hashes of the link text.
    pub sha256: String,
    pub sha1: String,
    pub symlink: Option<String>,
    pub component: String,
    pub needed_by: Vec<String>,
    pub note: Option<String>,
    pub package: Option<PackageRef>,
    /// Paths of the files this one needs (DT_NEEDED edges, resolved).
    pub depends_on: Vec<String>,
    pub go: Option<GoBuildInfo>,
    pub rust: Option<RustDeps>,
}

/// Everything both formats render.
#[derive(Clone, Debug)]
pub struct Facts {
    pub name: String,
    pub tag: String,
    pub manifest_digest: Digest,
    pub created: String,
    pub components: Vec<ComponentInfo>,
    pub files: Vec<FileFact>,
    /// Debian packages, with the paths of their files that ship.
    pub packages: Vec<(PackageRef, Vec<String>)>,
    pub tool_version: &'static str,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read {path} to describe it in the SBOM")]
pub struct Error {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

fn sha1_and_sha256(mut r: impl Read) -> std::io::Result<(String, String)> {
    use sha1::Digest as _;
    let mut a = sha1::Sha1::new();
    let mut b = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        a.update(&buf[..n]);
        b.update(&buf[..n]);
    }
    Ok((hex::encode(a.finalize()), hex::encode(b.finalize())))
}

/// Collects the facts of `plan`, built as the image with manifest `manifest_digest`.
pub fn facts(plan: &Plan, manifest_digest: &Digest, tag: &str) -> Result<Facts, Error> {
    let mut files = Vec::new();
    let mut packages: BTreeMap<PackageRef, Vec<String>> = BTreeMap::new();
    // Requester -> libraries it needs, from each library's required_by.
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &plan.entries {
        for r in &e.provenance.required_by {
            deps.entry(r.clone()).or_default().push(e.path.to_string());
        }
    }
    for e in &plan.entries {
        let (sha1, sha256, symlink, mut go, mut rust) = match &e.kind {
            EntryKind::Dir => continue,
            EntryKind::Symlink { target } => {
                let (a, b) = sha1_and_sha256(target.as_bytes()).expect("in-memory read");
                (a, b, Some(target.clone()), None, None)
            }
            EntryKind::File { source, sha256, .. } => {
                let io = |err| Error {
                    path: e.path.to_string(),
                    source: err,
                };
                let (sha1, _) = match source {
                    Source::Inline(b) => sha1_and_sha256(&b[..]).map_err(io)?,
                    Source::Host(h) => {
                        sha1_and_sha256(std::io::BufReader::new(fs_err::File::open(h).map_err(io)?))
                            .map_err(io)?
                    }
                };
                (sha1, sha256.hex(), None, None, None)
            }
        };
        // Go and Rust dependency data of application binaries: every file of the application
        // layer and every file a component placed itself, whatever `layer` the manifest gave it.
        if let EntryKind::File {
            source: Source::Host(h),
            ..
        } = &e.kind
        {
            let placed = e.layer == LayerKind::Application || e.provenance.needed_by.is_empty();
            if placed && crate::elf::is_elf(h).unwrap_or(false) {
                if let Ok(map) = crate::elf::map(h) {
                    go = crate::elf::embedded::go_build_info(&map);
                    rust = crate::elf::embedded::rust_audit_data(&map).and_then(Result::ok);
                }
            }
        }
        if let Some(p) = &e.provenance.package {
            packages
                .entry(p.clone())
                .or_default()
                .push(e.path.to_string());
        }
        let mut depends_on = deps.remove(e.path.as_str()).unwrap_or_default();
        depends_on.sort();
        depends_on.dedup();
        files.push(FileFact {
            path: e.path.to_string(),
            sha256,
            sha1,
            symlink,
            component: e.provenance.component.clone(),
            needed_by: e.provenance.needed_by.clone(),
            note: e.provenance.note.clone(),
            package: e.provenance.package.clone(),
            depends_on,
            go,
            rust,
        });
    }
    Ok(Facts {
        name: plan.image.name.clone(),
        tag: tag.to_string(),
        manifest_digest: manifest_digest.clone(),
        created: plan.epoch.rfc3339(),
        components: plan.components.clone(),
        files,
        packages: packages.into_iter().collect(),
        tool_version: env!("CARGO_PKG_VERSION"),
    })
}

impl Facts {
    /// `pkg:oci/NAME@sha256%3AHEX?tag=TAG` for the image.
    pub fn image_purl(&self) -> String {
        let name = self.name.rsplit('/').next().unwrap_or(&self.name);
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

/// Renders `facts` in `format` (pretty JSON, trailing newline).
pub fn render(facts: &Facts, format: Format) -> Vec<u8> {
    let v = match format {
        Format::Spdx => spdx::document(facts),
        Format::CycloneDx => cyclonedx::document(facts),
    };
    let mut out = serde_json::to_vec_pretty(&v).expect("SBOM serialises");
    out.push(b'\n');
    out
}
