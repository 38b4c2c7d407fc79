//! `kiln gc oci:DIR` (issue 10 §2): removes exactly the blobs no tag reaches, under the
//! layout's locks, says so (count, bytes), and removes nothing from a layout it cannot walk;
//! `kiln build` says what moving a tag left behind.

use crate::engines::{compile, static_c};
use crate::hostile::{key_pair, kiln_pw};
use crate::util::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

/// The blob digests in a layout (`sha256:HEX`).
fn blobs(layout: &Path) -> BTreeSet<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

fn gc(layout: &Path, extra: &[&str]) -> Output {
    kiln()
        .arg("gc")
        .arg(format!("oci:{}", layout.display()))
        .args(extra)
        .output()
        .unwrap()
}

/// `kiln gc --json` (with `extra`); returns the removed digests.
fn gc_json(layout: &Path, extra: &[&str]) -> (Value, BTreeSet<String>) {
    let mut args = vec!["--json"];
    args.extend(extra);
    let o = gc(layout, &args);
    check(&o, "kiln gc");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let set = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["digest"].as_str().unwrap().to_string())
        .collect();
    (v, set)
}

fn change_program(d: &Path) {
    let src = std::fs::read_to_string(d.join("hello.c")).unwrap();
    std::fs::write(
        d.join("hello.c"),
        src.replace("hello from a static binary", "hello again"),
    )
    .unwrap();
    compile(d);
}

#[test]
fn gc_removes_exactly_what_a_rebuild_left_behind() {
    let (t, d) = static_c();
    let layout = t.path().join("img");
    let spec = format!("oci:{}:latest", layout.display());
    build(&d.join("kiln.toml"), &spec);
    // A fresh build holds no garbage.
    let (v, removed) = gc_json(&layout, &["--dry-run"]);
    assert!(removed.is_empty(), "{v}");
    assert_eq!(v["blobs"], 0);
    let old = blobs(&layout);
    // The old image is signed: its `sha256-HEX.sig` tag is a root like any other.
    let (key, _) = key_pair(t.path(), "k");
    let o = kiln_pw()
        .args(["sign", "--identity", "registry.example/static-c", "--key"])
        .arg(&key)
        .arg(&spec)
        .output()
        .unwrap();
    check(&o, "kiln sign");
    let old_digest = layout_digest(&layout, "latest");
    let signature: BTreeSet<String> = blobs(&layout).difference(&old).cloned().collect();
    assert_eq!(
        signature.len(),
        3,
        "signature manifest, its config, its layer"
    );
    let (_, removed) = gc_json(&layout, &["--dry-run"]);
    assert!(removed.is_empty(), "a signature is garbage: {removed:?}");

    // The new image alone, built into a folder of its own: what stays reachable.
    change_program(&d);
    let fresh = t.path().join("fresh");
    build(
        &d.join("kiln.toml"),
        &format!("oci:{}:latest", fresh.display()),
    );
    let new = blobs(&fresh);
    let left_behind: BTreeSet<String> = old.difference(&new).cloned().collect();
    // Old manifest, config, application layer, three artifact manifests, three contents.
    assert_eq!(left_behind.len(), 9, "{left_behind:?}");

    // Rebuilding the tag says how much became unreachable.
    let o = kiln()
        .arg("build")
        .arg(d.join("kiln.toml"))
        .args(["--output", &spec])
        .output()
        .unwrap();
    check(&o, "rebuild");
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("replaced"))
        .unwrap_or_else(|| panic!("no `replaced` line in\n{text}"));
    assert!(
        line.contains("latest (previous image: 9 blobs, ")
            && line.contains(&format!(
                "now unreachable; `kiln gc oci:{}` removes them)",
                layout.display()
            )),
        "{line}"
    );

    // --dry-run lists exactly those and removes nothing.
    let (v, would) = gc_json(&layout, &["--dry-run"]);
    assert_eq!(would, left_behind);
    assert_eq!(v["dry_run"], true);
    let everything: BTreeSet<String> = old.union(&new).chain(&signature).cloned().collect();
    assert_eq!(blobs(&layout), everything);
    let bytes: u64 = left_behind
        .iter()
        .map(|b| blob(&layout, b).len() as u64)
        .sum();
    assert_eq!(v["bytes"], bytes);
    let o = gc(&layout, &["--dry-run"]);
    check(&o, "gc --dry-run");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("would remove 9 blobs ("),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // gc removes them; the tag still reads in every tool.
    let o = gc(&layout, &[]);
    check(&o, "gc");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("removed 9 blobs ("), "{out}");
    assert_eq!(blobs(&layout), new.union(&signature).cloned().collect());
    // The old image's signature tag and its blobs stay.
    let sig_tag = format!("sha256-{}.sig", &old_digest[7..]);
    assert!(
        std::fs::read_to_string(layout.join("index.json"))
            .unwrap()
            .contains(&sig_tag),
        "the .sig tag stays"
    );
    assert_eq!(
        skopeo_inspect(&spec)["Digest"],
        layout_digest(&fresh, "latest").as_str()
    );
    let rootfs = unpack(&layout, "latest", &t.path().join("bundle"));
    let (_, config) = image(&layout, "latest");
    let run = run_in_chroot(&rootfs, &config, None);
    check(&run, "the image after gc");
    assert!(String::from_utf8_lossy(&run.stdout).contains("hello again"));
    for format in ["spdx", "cyclonedx"] {
        let o = kiln()
            .args(["sbom", "--format", format, &spec])
            .output()
            .unwrap();
        check(&o, format);
    }
    // And nothing more to do.
    let (_, removed) = gc_json(&layout, &[]);
    assert!(removed.is_empty());
}

/// One `error:` line first, exit 1, nothing on stdout; returns stderr.
fn refused(o: &Output, want: &[&str]) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.starts_with("error: ") && !e.contains("panicked"), "{e}");
    assert_eq!(e.matches("error:").count(), 1, "{e}");
    assert!(o.stdout.is_empty());
    for w in want {
        assert!(e.contains(w), "expected {w:?} in\n{e}");
    }
    e
}

#[test]
fn gc_refuses_what_is_not_a_layout_or_cannot_be_walked() {
    let (t, d) = static_c();
    // Not a layout: a plain folder, a missing one, other transports, a tag.
    let plain = t.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("keep"), "x").unwrap();
    refused(&gc(&plain, &[]), &["is not an OCI image layout"]);
    assert!(plain.join("keep").exists());
    refused(&gc(&t.path().join("nothing"), &[]), &["does not exist"]);
    for spec in ["oci-archive:x.tar", "docker://example.com/x"] {
        let o = kiln().args(["gc", spec]).output().unwrap();
        refused(&o, &["OCI layout folder", "hint: name it as oci:DIR"]);
    }
    let layout = t.path().join("img");
    build(
        &d.join("kiln.toml"),
        &format!("oci:{}:v1", layout.display()),
    );
    let o = kiln()
        .args(["gc", &format!("oci:{}:v1", layout.display())])
        .output()
        .unwrap();
    refused(&o, &["leave out `:TAG`"]);

    // A hostile index removes nothing: something unreachable is planted first.
    let stray = layout.join(format!("blobs/sha256/{}", "0".repeat(64)));
    std::fs::write(&stray, "unreachable").unwrap();
    let index_path = layout.join("index.json");
    let good = std::fs::read(&index_path).unwrap();
    let mut idx: Value = serde_json::from_slice(&good).unwrap();
    idx["manifests"][0]["annotations"]["dev.kiln.artifact.spdx"] =
        Value::from("sha256:../../index.json");
    std::fs::write(&index_path, serde_json::to_vec(&idx).unwrap()).unwrap();
    refused(
        &gc(&layout, &[]),
        &["dev.kiln.artifact.spdx", "not a digest"],
    );
    assert!(stray.exists());
    let mut idx: Value = serde_json::from_slice(&good).unwrap();
    idx["manifests"][0]["digest"] = Value::from("sha256:nothex");
    std::fs::write(&index_path, serde_json::to_vec(&idx).unwrap()).unwrap();
    refused(&gc(&layout, &[]), &["not a digest"]);
    assert!(stray.exists());
    // A missing layer blob: an error naming it, not a deletion spree.
    std::fs::write(&index_path, &good).unwrap();
    let (m, _) = image(&layout, "v1");
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    std::fs::remove_file(layout.join(format!("blobs/sha256/{}", &layer[7..]))).unwrap();
    let before = blobs(&layout);
    refused(&gc(&layout, &[]), &["is missing", &layer]);
    assert_eq!(blobs(&layout), before);
}

#[test]
fn moving_a_tag_whose_image_another_tag_keeps_leaves_only_its_sboms_behind() {
    let (t, d) = static_c();
    let layout = t.path().join("img");
    for tag in ["v1", "stable"] {
        build(
            &d.join("kiln.toml"),
            &format!("oci:{}:{tag}", layout.display()),
        );
    }
    let old = layout_digest(&layout, "stable");
    let (m, _) = image(&layout, "stable");
    change_program(&d);
    let o = kiln()
        .arg("build")
        .arg(d.join("kiln.toml"))
        .args(["--output", &format!("oci:{}:v1", layout.display())])
        .output()
        .unwrap();
    check(&o, "rebuild v1");
    let text = String::from_utf8_lossy(&o.stdout);
    // The image stays (`stable`); v1's SBOMs (they name their tag) do not.
    let (_, removed) = gc_json(&layout, &["--dry-run"]);
    assert!(
        text.contains(&format!(
            "  replaced  v1 (previous image: {} blobs, ",
            removed.len()
        )),
        "{text}\n{removed:?}"
    );
    for kept in [
        old.as_str(),
        m["config"]["digest"].as_str().unwrap(),
        m["layers"][0]["digest"].as_str().unwrap(),
    ] {
        assert!(!removed.contains(kept), "{kept} in {removed:?}");
    }
    let (_, gone) = gc_json(&layout, &[]);
    assert_eq!(gone, removed);
    let spec = format!("oci:{}:stable", layout.display());
    assert_eq!(skopeo_inspect(&spec)["Digest"], old.as_str());
    for format in ["spdx", "cyclonedx"] {
        let o = kiln()
            .args(["sbom", "--format", format, &spec])
            .output()
            .unwrap();
        check(&o, format);
    }
}
