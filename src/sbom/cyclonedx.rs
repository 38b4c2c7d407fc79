//! CycloneDX 1.6 JSON. The image is `metadata.component`; each manifest component is a
//! component whose files are nested components of type `file`; Go modules, the Go standard
//! library (`stdlib`, as syft names it) and Rust crates are nested under the binary that embeds
//! them (a Rust build-only crate with `scope: excluded`); Debian packages are top-level `library`
//! components with their purl, licence and the files that ship. kiln's own data lives in
//! properties under the documented `kiln:` namespace: `kiln:why`, `kiln:owner`,
//! `kiln:capability`, `kiln:cadence`, `kiln:remove-when`, `kiln:kind`, `kiln:layer`,
//! `kiln:component`, `kiln:needed-by`, `kiln:note`, `kiln:symlink-target`,
//! `kiln:source-package`, `kiln:shipped-file`.

use super::{Facts, FileFact, Node};
use crate::plan::{ComponentInfo, PackageRef};
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

/// The component of file `x`, with the Go modules and Rust crates it embeds nested.
fn file(c: &ComponentInfo, x: &FileFact) -> Value {
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
    let mut file = json!({"type": "file", "bom-ref": format!("file:{}", x.path), "name": x.path, "properties": props});
    if x.symlink.is_none() {
        file["hashes"] = json!([{"alg": "SHA-1", "content": x.sha1_hex()}, {"alg": "SHA-256", "content": x.sha256.hex()}]);
    }
    let mut nested = Vec::new();
    if let Some(go) = &x.go {
        for (j, m) in std::iter::once(&go.main).chain(go.deps.iter()).enumerate() {
            let mut comp = json!({"type": if j == 0 { "application" } else { "library" }, "bom-ref": format!("golang:{}:{}@{}", x.path, m.path, m.version), "name": m.path, "version": m.version, "purl": m.purl()});
            let mut props = Vec::new();
            if let Some(r) = &m.replaced_by {
                props.push(prop("go-replaced-by", &format!("{} {}", r.path, r.version)));
            }
            if let Some(sum) = &m.sum {
                props.push(prop("go-sum", sum));
            }
            if !props.is_empty() {
                comp["properties"] = json!(props);
            }
            nested.push(comp);
        }
        if let Some(std) = go.stdlib() {
            let mut comp = json!({"type": "library", "bom-ref": format!("golang:{}:stdlib@{}", x.path, std.version), "name": "stdlib", "version": std.version, "purl": std.purl});
            if let Some(cpe) = std.cpe {
                comp["cpe"] = json!(cpe);
            }
            nested.push(comp);
        }
    }
    if let Some(rust) = &x.rust {
        for c in &rust.packages {
            let mut comp = json!({"type": if c.root { "application" } else { "library" }, "bom-ref": format!("cargo:{}:{}@{}", x.path, c.name, c.version), "name": c.name, "version": c.version, "purl": c.purl(), "properties": [prop("cargo-source", &c.source)]});
            if c.is_build_only() {
                // CycloneDX 1.6 `component.scope`: "excluded": "components that are excluded
                // provide the ability to document component usage for test and other
                // non-runtime purposes. Excluded components are not reachable within a call
                // graph at runtime." A `kind: build` crate ran in a build script or
                // proc-macro; none of its code is in the binary.
                comp["scope"] = json!("excluded");
            }
            nested.push(comp);
        }
    }
    if !nested.is_empty() {
        file["components"] = json!(nested);
    }
    file
}

/// A manifest component, its files written one by one as nested components.
fn component<'a>(f: &'a Facts<'a>, c: &'a ComponentInfo) -> Node<'a> {
    let statement = Facts::statement(c);
    let mut fields: Vec<(&'static str, Node<'a>)> = vec![
        (
            "type",
            json!(match c.kind {
                "elf" | "tree" => "application",
                "file" => "file",
                _ => "data",
            })
            .into(),
        ),
        ("bom-ref", json!(format!("component:{}", c.name)).into()),
        ("name", json!(c.name).into()),
        ("description", json!(c.why).into()),
        (
            "properties",
            json!(statement
                .iter()
                .map(|(k, v)| prop(k, v))
                .collect::<Vec<_>>())
            .into(),
        ),
    ];
    // The base image's component is that image: a container with its digest and purl.
    if let Some(b) = f.base.as_ref().filter(|b| b.component == c.name) {
        fields[0].1 = json!("container").into();
        fields.push(("version", json!(b.digest.to_string()).into()));
        fields.push(("purl", json!(b.purl).into()));
        // A base kiln built: its own CycloneDX document, by BOM-Link (`urn:cdx:SERIAL/1`).
        if let Some(d) = &b.sboms.cyclonedx {
            let serial = d.id.strip_prefix("urn:uuid:").unwrap_or(&d.id);
            fields.push((
                "externalReferences",
                json!([{"type": "bom", "url": format!("urn:cdx:{serial}/1"), "comment": "the base image's own SBOM", "hashes": [{"alg": "SHA-256", "content": d.sha256.hex()}]}]).into(),
            ));
        }
    }
    if f.files.iter().any(|x| x.component == c.name) {
        let files = Node::array(move || {
            f.files
                .iter()
                .filter(move |x| x.component == c.name)
                .map(move |x| Node::Value(file(c, x)))
        });
        fields.push(("components", files));
    }
    Node::object(fields)
}

fn deb_component(p: &PackageRef, shipped: &[&str]) -> Value {
    let mut props = vec![prop(
        "source-package",
        &format!("{} {}", p.source, p.source_version),
    )];
    if let Some(a) = &p.archive {
        props.push(prop("archive", a));
    }
    props.extend(shipped.iter().map(|s| prop("shipped-file", s)));
    let mut comp = json!({"type": "library", "bom-ref": format!("deb:{}:{}", p.name, p.arch), "name": p.name, "version": p.version, "purl": p.purl, "properties": props});
    if let Some(url) = &p.download {
        comp["externalReferences"] = json!([{"type": "distribution", "url": url}]);
    }
    if p.license != "NOASSERTION" {
        comp["licenses"] = json!([{"expression": p.license}]);
    }
    comp
}

pub(super) fn document<'a>(f: &'a Facts<'a>) -> Node<'a> {
    let components = Node::array(move || {
        f.components.iter().map(move |c| component(f, c)).chain(
            f.packages
                .iter()
                .map(|(p, shipped)| Node::Value(deb_component(p, shipped))),
        )
    });
    let dependencies = Node::array(move || {
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
        let image = json!({"ref": "image", "dependsOn": top});
        // Files in the order `components` lists them: by component, then by path.
        let files = f.components.iter().flat_map(move |c| {
            f.files
                .iter()
                .filter(move |x| x.component == c.name && !x.depends_on.is_empty())
        });
        std::iter::once(image)
            .chain(files.map(|x| {
                json!({"ref": format!("file:{}", x.path), "dependsOn": x.depends_on.iter().map(|d| format!("file:{d}")).collect::<Vec<_>>()})
            }))
            .map(Node::Value)
    });
    Node::object(vec![
        ("bomFormat", json!("CycloneDX").into()),
        ("specVersion", json!("1.6").into()),
        ("serialNumber", json!(serial(f)).into()),
        ("version", json!(1).into()),
        (
            "metadata",
            json!({
                "timestamp": f.created,
                "tools": {"components": [{"type": "application", "name": "kiln", "version": f.tool_version}]},
                "component": {"type": "container", "bom-ref": "image", "name": f.name, "version": f.manifest_digest.to_string(), "purl": f.image_purl()},
                "properties": [prop("scope", "exactly the files of this image, each with the manifest component that placed it")],
            })
            .into(),
        ),
        ("components", components),
        ("dependencies", dependencies),
    ])
}
