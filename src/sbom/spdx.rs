//! SPDX 2.3 JSON. The image is the described package; each manifest component, Debian package
//! and embedded Go module or Rust crate is a package; every file and symlink is a file with
//! SHA-1 (required by SPDX) and SHA-256. The ownership statement of a component is in its
//! `comment` and in annotations `kiln:KEY=VALUE`.

use super::Facts;
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

/// SPDX's package verification code: SHA-1 of the sorted SHA-1s of the package's files.
fn verification(sha1s: &mut Vec<&str>) -> Value {
    use sha1::Digest as _;
    sha1s.sort_unstable();
    let mut h = sha1::Sha1::new();
    for s in sha1s.iter() {
        h.update(s.as_bytes());
    }
    json!({"packageVerificationCodeValue": hex::encode(h.finalize())})
}

pub(super) fn document(f: &Facts) -> Value {
    let tool = format!("Tool: kiln-{}", f.tool_version);
    let annotation = |key: &str, value: &str| json!({"annotationType": "OTHER", "annotator": tool, "annotationDate": f.created, "comment": format!("kiln:{key}={value}")});
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": f.name,
        "versionInfo": f.manifest_digest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": true,
        "packageVerificationCode": verification(&mut f.files.iter().map(|x| x.sha1.as_str()).collect()),
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": f.image_purl()}],
    })];
    let mut rels = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"}),
    ];
    for c in &f.components {
        let cid = id("Component", &c.name);
        let statement = Facts::statement(c);
        packages.push(json!({
            "SPDXID": cid,
            "name": c.name,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": true,
            "packageVerificationCode": verification(&mut f.files.iter().filter(|x| x.component == c.name).map(|x| x.sha1.as_str()).collect()),
            "primaryPackagePurpose": match c.kind { "elf" | "tree" => "APPLICATION", "file" => "FILE", _ => "OTHER" },
            "comment": statement.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n"),
            "annotations": statement.iter().map(|(k, v)| annotation(k, v)).collect::<Vec<_>>(),
        }));
        rels.push(json!({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": cid}));
    }
    for (p, shipped) in &f.packages {
        let pid = id("Package-deb", &format!("{}-{}", p.name, p.arch));
        packages.push(json!({
            "SPDXID": pid,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": true,
            "packageVerificationCode": verification(&mut f.files.iter().filter(|x| x.package.as_ref() == Some(p)).map(|x| x.sha1.as_str()).collect()),
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": p.license,
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!("built package from: {} {}", p.source, p.source_version),
            "primaryPackagePurpose": if p.name.starts_with("lib") { "LIBRARY" } else { "APPLICATION" },
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
            "comment": format!("{} of this package's files ship in the image; the files it CONTAINS are exactly those", shipped.len()),
        }));
        rels.push(json!({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": pid}));
    }
    let file_ids: std::collections::BTreeMap<&str, String> = f
        .files
        .iter()
        .enumerate()
        .map(|(i, x)| (x.path.as_str(), format!("SPDXRef-File-{i}")))
        .collect();
    let mut files = Vec::new();
    for (i, x) in f.files.iter().enumerate() {
        let fid = format!("SPDXRef-File-{i}");
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
        files.push(json!({
            "SPDXID": fid,
            "fileName": format!(".{}", x.path),
            "checksums": [{"algorithm": "SHA1", "checksumValue": x.sha1}, {"algorithm": "SHA256", "checksumValue": x.sha256}],
            "fileTypes": [if x.symlink.is_some() { "OTHER" } else if x.path.contains(".so") || x.go.is_some() || x.rust.is_some() { "BINARY" } else { "OTHER" }],
            "comment": comment,
        }));
        rels.push(json!({"spdxElementId": id("Component", &x.component), "relationshipType": "CONTAINS", "relatedSpdxElement": fid}));
        if let Some(p) = &x.package {
            rels.push(json!({"spdxElementId": id("Package-deb", &format!("{}-{}", p.name, p.arch)), "relationshipType": "CONTAINS", "relatedSpdxElement": fid}));
        }
        for d in &x.depends_on {
            if let Some(did) = file_ids.get(d.as_str()) {
                rels.push(json!({"spdxElementId": fid, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": did}));
            }
        }
        if let Some(go) = &x.go {
            for (j, m) in std::iter::once(&go.main).chain(go.deps.iter()).enumerate() {
                let mid = format!("SPDXRef-Go-{i}-{j}");
                let eff = m.replaced_by.as_deref().unwrap_or(m);
                let mut pkg = json!({
                    "SPDXID": mid,
                    "name": m.path,
                    "versionInfo": m.version,
                    "downloadLocation": "NOASSERTION",
                    "filesAnalyzed": false,
                    "primaryPackagePurpose": if j == 0 { "APPLICATION" } else { "LIBRARY" },
                    "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": m.purl()}],
                    "comment": format!("Go module embedded in {} (go build info, {})", x.path, go.go_version),
                });
                if m.replaced_by.is_some() {
                    pkg["comment"] = json!(format!(
                        "Go module embedded in {}, replaced by {} {}",
                        x.path, eff.path, eff.version
                    ));
                }
                packages.push(pkg);
                rels.push(json!({"spdxElementId": fid, "relationshipType": "STATIC_LINK", "relatedSpdxElement": mid}));
            }
        }
        if let Some(rust) = &x.rust {
            for (j, c) in rust.packages.iter().enumerate() {
                let cid = format!("SPDXRef-Crate-{i}-{j}");
                packages.push(json!({
                    "SPDXID": cid,
                    "name": c.name,
                    "versionInfo": c.version,
                    "downloadLocation": "NOASSERTION",
                    "filesAnalyzed": false,
                    "primaryPackagePurpose": if c.root { "APPLICATION" } else { "LIBRARY" },
                    "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl()}],
                    "comment": format!("Rust crate embedded in {} (cargo auditable, source {})", x.path, c.source),
                }));
                rels.push(json!({"spdxElementId": fid, "relationshipType": "STATIC_LINK", "relatedSpdxElement": cid}));
            }
        }
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}:{}", f.name, f.tag),
        // Unique per document: the SBOM of each tag of an image names its tag.
        "documentNamespace": format!("https://kiln.invalid/spdx/{}/{}/{}", f.name, f.manifest_digest.hex(), f.tag),
        "creationInfo": {"created": f.created, "creators": [tool], "comment": "Scoped SBOM: exactly the files of this image, each with the manifest component that placed it and why."},
        "packages": packages,
        "files": files,
        "relationships": rels,
    })
}
