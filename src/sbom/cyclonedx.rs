//! CycloneDX 1.6 JSON. The image is `metadata.component`; each manifest component is a
//! component whose files are nested components of type `file`; Go modules and Rust crates are
//! nested under the binary that embeds them; Debian packages are top-level `library`
//! components with their purl, licence and the files that ship. kiln's own data lives in
//! properties under the documented `kiln:` namespace: `kiln:why`, `kiln:owner`,
//! `kiln:capability`, `kiln:cadence`, `kiln:remove-when`, `kiln:kind`, `kiln:layer`,
//! `kiln:component`, `kiln:needed-by`, `kiln:note`, `kiln:symlink-target`,
//! `kiln:source-package`, `kiln:shipped-file`.

use super::Facts;
use serde_json::{json, Value};

/// A version-5-shaped UUID derived from the image digest and tag, so the serial number is
/// stable and differs between the SBOMs of two tags.
fn serial(f: &Facts) -> String {
    let d = crate::digest::Digest::of(
        format!("kiln cyclonedx {} {}", f.manifest_digest, f.tag).as_bytes(),
    )
    .hex();
    let b = d.as_bytes();
    let s = |r: std::ops::Range<usize>| {
        std::str::from_utf8(&b[r])
            .expect("hex is ASCII")
            .to_string()
    };
    let variant = ["8", "9", "a", "b"][usize::from(b[16] % 4)];
    format!(
        "urn:uuid:{}-{}-5{}-{variant}{}-{}",
        s(0..8),
        s(8..12),
        s(13..16),
        s(17..20),
        s(20..32)
    )
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": format!("kiln:{name}"), "value": value})
}

pub(super) fn document(f: &Facts) -> Value {
    let mut deps: Vec<Value> = Vec::new();
    let mut components = Vec::new();
    for c in &f.components {
        let cref = format!("component:{}", c.name);
        let mut files = Vec::new();
        for x in f.files.iter().filter(|x| x.component == c.name) {
            let fref = format!("file:{}", x.path);
            let mut props = vec![prop("component", &c.name)];
            if !x.needed_by.is_empty() {
                props.push(prop("needed-by", &x.needed_by.join(" -> ")));
            }
            if let Some(n) = &x.note {
                props.push(prop("note", n));
            }
            if let Some(t) = &x.symlink {
                props.push(prop("symlink-target", t));
            }
            let mut file =
                json!({"type": "file", "bom-ref": fref, "name": x.path, "properties": props});
            if x.symlink.is_none() {
                file["hashes"] = json!([{"alg": "SHA-1", "content": x.sha1}, {"alg": "SHA-256", "content": x.sha256}]);
            }
            let mut nested = Vec::new();
            if let Some(go) = &x.go {
                for (j, m) in std::iter::once(&go.main).chain(go.deps.iter()).enumerate() {
                    let mut comp = json!({"type": if j == 0 { "application" } else { "library" }, "bom-ref": format!("golang:{}:{}@{}", x.path, m.path, m.version), "name": m.path, "version": m.version, "purl": m.purl()});
                    if let Some(r) = &m.replaced_by {
                        comp["properties"] =
                            json!([prop("go-replaced-by", &format!("{} {}", r.path, r.version))]);
                    }
                    if let Some(sum) = &m.sum {
                        comp["properties"]
                            .as_array_mut()
                            .map(|a| a.push(prop("go-sum", sum)))
                            .unwrap_or_else(|| comp["properties"] = json!([prop("go-sum", sum)]));
                    }
                    nested.push(comp);
                }
            }
            if let Some(rust) = &x.rust {
                for c in &rust.packages {
                    nested.push(json!({"type": if c.root { "application" } else { "library" }, "bom-ref": format!("cargo:{}:{}@{}", x.path, c.name, c.version), "name": c.name, "version": c.version, "purl": c.purl(), "properties": [prop("cargo-source", &c.source)]}));
                }
            }
            if !nested.is_empty() {
                file["components"] = json!(nested);
            }
            if !x.depends_on.is_empty() {
                deps.push(json!({"ref": fref, "dependsOn": x.depends_on.iter().map(|d| format!("file:{d}")).collect::<Vec<_>>()}));
            }
            files.push(file);
        }
        let statement = Facts::statement(c);
        let mut comp = json!({
            "type": match c.kind { "elf" | "tree" => "application", "file" => "file", _ => "data" },
            "bom-ref": cref,
            "name": c.name,
            "description": c.why,
            "properties": statement.iter().map(|(k, v)| prop(k, v)).collect::<Vec<_>>(),
        });
        if !files.is_empty() {
            comp["components"] = json!(files);
        }
        components.push(comp);
    }
    for (p, shipped) in &f.packages {
        let mut props = vec![prop(
            "source-package",
            &format!("{} {}", p.source, p.source_version),
        )];
        props.extend(shipped.iter().map(|s| prop("shipped-file", s)));
        let mut comp = json!({"type": "library", "bom-ref": format!("deb:{}:{}", p.name, p.arch), "name": p.name, "version": p.version, "purl": p.purl, "properties": props});
        if p.license != "NOASSERTION" {
            comp["licenses"] = json!([{"expression": p.license}]);
        }
        components.push(comp);
    }
    let mut top: Vec<String> = f
        .components
        .iter()
        .map(|c| format!("component:{}", c.name))
        .collect();
    top.extend(
        f.packages
            .iter()
            .map(|(p, _)| format!("deb:{}:{}", p.name, p.arch)),
    );
    deps.insert(0, json!({"ref": "image", "dependsOn": top}));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial(f),
        "version": 1,
        "metadata": {
            "timestamp": f.created,
            "tools": {"components": [{"type": "application", "name": "kiln", "version": f.tool_version}]},
            "component": {"type": "container", "bom-ref": "image", "name": f.name, "version": f.manifest_digest.to_string(), "purl": f.image_purl()},
            "properties": [prop("scope", "exactly the files of this image, each with the manifest component that placed it")],
        },
        "components": components,
        "dependencies": deps,
    })
}
