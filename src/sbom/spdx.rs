//! SPDX 2.3 JSON. The image is the described package; each manifest component, Debian package
//! and embedded Go module, Go standard library or Rust crate is a package (a binary
//! `STATIC_LINK`s what it embeds; a Rust build-only crate is `BUILD_DEPENDENCY_OF` it); every file and symlink is a file with
//! SHA-1 (required by SPDX) and SHA-256. The ownership statement of a component is in its
//! `comment` and in annotations `kiln:KEY=VALUE`.

use super::{Facts, FileFact, Node};
use crate::plan::{ComponentInfo, PackageRef};
use serde_json::{json, Value};

fn id(kind: &str, s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{kind}-{clean}")
}

/// SPDX's package verification code: SHA-1 of the sorted SHA-1s (hex) of the package's files.
fn verification<'a>(sha1s: impl Iterator<Item = &'a [u8; 20]>) -> Value {
    use sha1::Digest as _;
    let mut sorted: Vec<&[u8; 20]> = sha1s.collect();
    // Bytes sort as their lower-case hex does.
    sorted.sort_unstable();
    let mut h = sha1::Sha1::new();
    for s in sorted {
        h.update(hex::encode(s).as_bytes());
    }
    json!({"packageVerificationCodeValue": hex::encode(h.finalize())})
}

fn file_id(i: usize) -> String {
    format!("SPDXRef-File-{i}")
}

fn deb_id(p: &PackageRef) -> String {
    id("Package-deb", &format!("{}-{}", p.name, p.arch))
}

/// The annotation `kiln:KEY=VALUE` by kiln.
fn annotation(f: &Facts, key: &str, value: &str) -> Value {
    json!({"annotationType": "OTHER", "annotator": tool(f), "annotationDate": f.created, "comment": format!("kiln:{key}={value}")})
}

fn tool(f: &Facts) -> String {
    format!("Tool: kiln-{}", f.tool_version)
}

fn relationship<'a>(from: &str, kind: &str, to: &str) -> Node<'a> {
    Node::Value(json!({"spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to}))
}

fn image_package(f: &Facts) -> Value {
    json!({
        "SPDXID": "SPDXRef-Image",
        "name": f.name,
        "versionInfo": f.manifest_digest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": true,
        "packageVerificationCode": verification(f.files.iter().map(|x| &x.sha1)),
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": f.image_purl()}],
    })
}

fn component_package(f: &Facts, c: &ComponentInfo) -> Value {
    let statement = Facts::statement(c);
    let mut v = json!({
        "SPDXID": id("Component", &c.name),
        "name": c.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": true,
        "packageVerificationCode": verification(f.files.iter().filter(|x| x.component == c.name).map(|x| &x.sha1)),
        "primaryPackagePurpose": match c.kind { "elf" | "tree" => "APPLICATION", "file" => "FILE", _ => "OTHER" },
        "comment": statement.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n"),
        "annotations": statement.iter().map(|(k, v)| annotation(f, k, v)).collect::<Vec<_>>(),
    });
    // The base image's component is that image: its digest, its purl, where it came from.
    if let Some(b) = f.base.as_ref().filter(|b| b.component == c.name) {
        v["versionInfo"] = json!(b.digest.to_string());
        v["downloadLocation"] = json!("NOASSERTION");
        v["sourceInfo"] = json!(format!("base image {}", b.reference));
        v["primaryPackagePurpose"] = json!("CONTAINER");
        v["externalRefs"] = json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": b.purl}]);
    }
    v
}

fn deb_package(f: &Facts, p: &PackageRef, shipped: usize) -> Value {
    let mut source = format!("built package from: {} {}", p.source, p.source_version);
    if let Some(a) = &p.archive {
        source += &format!("; listed by the signed index of {a} (source/suite)");
    }
    if let Some(u) = p.download.as_deref().filter(|u| u.starts_with("file:")) {
        source += &format!("; fetched from {u}");
    }
    json!({
        "SPDXID": deb_id(p),
        "name": p.name,
        "versionInfo": p.version,
        // SPDX 2.3 takes http(s) and VCS locations only; a local archive's file: URL is named
        // in sourceInfo.
        "downloadLocation": p.download.as_deref().filter(|u| u.starts_with("http://") || u.starts_with("https://")).unwrap_or("NOASSERTION"),
        "filesAnalyzed": true,
        "packageVerificationCode": verification(f.files.iter().filter(|x| x.package == Some(p)).map(|x| &x.sha1)),
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": p.license,
        "copyrightText": "NOASSERTION",
        "sourceInfo": source,
        "primaryPackagePurpose": if p.name.starts_with("lib") { "LIBRARY" } else { "APPLICATION" },
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
        "comment": format!("{shipped} of this package's files ship in the image; the files it CONTAINS are exactly those"),
    })
}

/// How a package of [`embedded_packages`] relates to the file that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Its code is in the file: `FILE STATIC_LINK PACKAGE`.
    Static,
    /// It was only used to build the file (cargo-auditable's `kind: build`: build scripts and
    /// proc-macros): `PACKAGE BUILD_DEPENDENCY_OF FILE`, SPDX 2.3 §11.1 ("is to be used when
    /// SPDXRef-A is a build dependency of SPDXRef-B"), so none of its code is claimed to ship.
    Build,
}

/// The packages embedded in file `i` (Go modules and standard library, Rust crates), with
/// their ids and how they relate to the file.
fn embedded_packages(i: usize, x: &FileFact) -> Vec<(String, Value, Link)> {
    let mut out = Vec::new();
    if let Some(go) = &x.go {
        for (j, m) in std::iter::once(&go.main).chain(go.deps.iter()).enumerate() {
            let mid = format!("SPDXRef-Go-{i}-{j}");
            let comment = match m.replaced_by.as_deref() {
                Some(eff) => format!(
                    "Go module embedded in {}, replaced by {} {}",
                    x.path, eff.path, eff.version
                ),
                None => format!(
                    "Go module embedded in {} (go build info, {})",
                    x.path, go.go_version
                ),
            };
            let pkg = json!({
                "SPDXID": mid,
                "name": m.path,
                "versionInfo": m.version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "primaryPackagePurpose": if j == 0 { "APPLICATION" } else { "LIBRARY" },
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": m.purl()}],
                "comment": comment,
            });
            out.push((mid, pkg, Link::Static));
        }
        if let Some(std) = go.stdlib() {
            let sid = format!("SPDXRef-Go-{i}-stdlib");
            let mut refs = vec![
                json!({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": std.purl}),
            ];
            if let Some(cpe) = &std.cpe {
                refs.push(json!({"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": cpe}));
            }
            let pkg = json!({
                "SPDXID": sid,
                "name": "stdlib",
                "versionInfo": std.version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "primaryPackagePurpose": "LIBRARY",
                "externalRefs": refs,
                "comment": format!("Go standard library embedded in {} (go build info, {})", x.path, go.go_version),
            });
            out.push((sid, pkg, Link::Static));
        }
    }
    if let Some(rust) = &x.rust {
        for (j, c) in rust.packages.iter().enumerate() {
            let cid = format!("SPDXRef-Crate-{i}-{j}");
            let (link, comment) = if c.is_build_only() {
                (Link::Build, format!("Rust crate used to build {} (cargo auditable kind build: build scripts and proc-macros), not compiled into it; source {}", x.path, c.source))
            } else {
                (
                    Link::Static,
                    format!(
                        "Rust crate embedded in {} (cargo auditable, source {})",
                        x.path, c.source
                    ),
                )
            };
            let pkg = json!({
                "SPDXID": cid,
                "name": c.name,
                "versionInfo": c.version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "primaryPackagePurpose": if c.root { "APPLICATION" } else { "LIBRARY" },
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl()}],
                "comment": comment,
            });
            out.push((cid, pkg, link));
        }
    }
    out
}

fn file(i: usize, x: &FileFact) -> Value {
    let mut comment = format!("placed by component {}", x.component);
    if !x.needed_by.is_empty() {
        comment += &format!("; needed by {}", x.needed_by.join(" -> "));
    }
    if let Some(n) = &x.note {
        comment += &format!("; {n}");
    }
    if let Some(t) = &x.symlink {
        comment += &format!("; symbolic link to {t} (checksums are of the link text)");
    }
    let binary =
        x.symlink.is_none() && (x.path.contains(".so") || x.go.is_some() || x.rust.is_some());
    json!({
        "SPDXID": file_id(i),
        "fileName": format!(".{}", x.path),
        "checksums": [{"algorithm": "SHA1", "checksumValue": x.sha1_hex()}, {"algorithm": "SHA256", "checksumValue": x.sha256.hex()}],
        "fileTypes": [if binary { "BINARY" } else { "OTHER" }],
        "comment": comment,
    })
}

/// The relationships of file `i`: who contains it, what it depends on, what it embeds.
fn file_relationships<'a>(f: &'a Facts, i: usize, x: &'a FileFact) -> Vec<Node<'a>> {
    let fid = file_id(i);
    let mut rels = vec![relationship(
        &id("Component", x.component),
        "CONTAINS",
        &fid,
    )];
    if let Some(p) = x.package {
        rels.push(relationship(&deb_id(p), "CONTAINS", &fid));
    }
    for d in &x.depends_on {
        // Files are sorted by path: a dependency that is a file of the image is found.
        if let Ok(j) = f.files.binary_search_by(|y| y.path.cmp(d)) {
            rels.push(relationship(&fid, "DEPENDS_ON", &file_id(j)));
        }
    }
    for (eid, _, link) in embedded_packages(i, x) {
        rels.push(match link {
            Link::Static => relationship(&fid, "STATIC_LINK", &eid),
            Link::Build => relationship(&eid, "BUILD_DEPENDENCY_OF", &fid),
        });
    }
    rels
}

pub(super) fn document<'a>(f: &'a Facts<'a>) -> Node<'a> {
    let packages = Node::array(move || {
        std::iter::once(image_package(f))
            .chain(f.components.iter().map(move |c| component_package(f, c)))
            .chain(
                f.packages
                    .iter()
                    .map(move |(p, shipped)| deb_package(f, p, shipped.len())),
            )
            .chain(
                f.files
                    .iter()
                    .enumerate()
                    .flat_map(|(i, x)| embedded_packages(i, x).into_iter().map(|(_, v, _)| v)),
            )
            .map(Node::Value)
    });
    let relationships = Node::array(move || {
        std::iter::once(relationship(
            "SPDXRef-DOCUMENT",
            "DESCRIBES",
            "SPDXRef-Image",
        ))
        .chain(
            f.components
                .iter()
                .map(|c| relationship("SPDXRef-Image", "CONTAINS", &id("Component", &c.name))),
        )
        .chain(
            f.packages
                .iter()
                .map(|(p, _)| relationship("SPDXRef-Image", "CONTAINS", &deb_id(p))),
        )
        .chain(
            f.files
                .iter()
                .enumerate()
                .flat_map(move |(i, x)| file_relationships(f, i, x)),
        )
        .chain(f.base.iter().filter(|b| b.sboms.spdx.is_some()).map(|_| {
            relationship(
                "SPDXRef-Image",
                "DESCENDANT_OF",
                &format!("{BASE_DOCUMENT}:SPDXRef-Image"),
            )
        }))
    });
    let files = Node::array(move || {
        f.files
            .iter()
            .enumerate()
            .map(|(i, x)| Node::Value(file(i, x)))
    });
    let mut fields = vec![
        ("spdxVersion", json!("SPDX-2.3").into()),
        ("dataLicense", json!("CC0-1.0").into()),
        ("SPDXID", json!("SPDXRef-DOCUMENT").into()),
        ("name", json!(format!("{}:{}", f.name, f.tag)).into()),
        // Unique per document: the SBOM of each tag of an image names its tag.
        (
            "documentNamespace",
            json!(format!(
                "https://kiln.invalid/spdx/{}/{}/{}",
                f.name,
                f.manifest_digest.hex(),
                f.tag
            ))
            .into(),
        ),
        (
            "creationInfo",
            json!({"created": f.created, "creators": [tool(f)], "comment": "Scoped SBOM: exactly the files of this image, each with the manifest component that placed it and why."}).into(),
        ),
        ("packages", packages),
        ("files", files),
        ("relationships", relationships),
    ];
    // A base kiln built has its own SPDX document: named here, and this image descends from
    // the image it describes.
    if let Some(d) = f.base.as_ref().and_then(|b| b.sboms.spdx.as_ref()) {
        fields.push((
            "externalDocumentRefs",
            json!([{"externalDocumentId": BASE_DOCUMENT, "spdxDocument": d.id, "checksum": {"algorithm": "SHA1", "checksumValue": d.sha1.hex()}}]).into(),
        ));
    }
    Node::object(fields)
}

/// The base image's own SPDX document, as this document refers to it.
const BASE_DOCUMENT: &str = "DocumentRef-base";
