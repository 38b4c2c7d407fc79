//! `kiln explain` and `kiln sbom` on images kiln did not build (issue 11 §2): a small
//! Debian-like root made here as two layers (the second removes a file with a whiteout and
//! empties a folder with an opaque marker), assembled into an `oci:` layout, then copied by
//! skopeo into an `oci-archive:`, a `docker-archive:` and a loopback registry. Each form must
//! name the same layer, package, links and removed paths; a distroless-style `status.d`
//! image names its package too, and a layer whose bytes do not match its digest is refused.

use crate::registry_util::*;
use crate::util::*;
use serde_json::{json, Value};
use sha2::Digest as _;
use std::path::Path;
use std::process::Command;

const LIBC: &[u8] = b"\x7fELF pretend libc bytes\n";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// One tar layer: (name, type, data or link target, mode, uid).
pub(crate) fn tar_layer(entries: &[(&str, tar::EntryType, &[u8], u32, u64)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, mode, uid) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_uid(*uid);
        h.set_gid(*uid);
        h.set_mtime(0);
        if *kind == tar::EntryType::Symlink {
            h.set_size(0);
            h.set_link_name(std::str::from_utf8(data).unwrap()).unwrap();
            b.append_data(&mut h, name, &b""[..]).unwrap();
        } else {
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes an `oci:` layout at `dir` tagged `v1` with `layers` ((blob, diff_id tar) pairs).
pub(crate) fn layout(dir: &Path, layers: &[(Vec<u8>, Vec<u8>)]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(&d[7..]), bytes).unwrap();
        json!({"digest": d, "size": bytes.len()})
    };
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(_, t)| sha256(t)).collect::<Vec<_>>()},
    });
    let mut c = put(&serde_json::to_vec(&config).unwrap());
    c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let descs: Vec<Value> = layers
        .iter()
        .map(|(blob, tar)| {
            let mut d = put(blob);
            d["mediaType"] = if blob == tar {
                "application/vnd.oci.image.layer.v1.tar"
            } else {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            }
            .into();
            d
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": c,
        "layers": descs,
    });
    let mut m = put(&serde_json::to_vec(&manifest).unwrap());
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    m["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    let index = json!({"schemaVersion": 2, "manifests": [m]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

const STATUS: &str = "Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n\nPackage: ghost\nStatus: deinstall ok config-files\nVersion: 1.0\nArchitecture: amd64\n\nPackage: libc6\nStatus: install ok installed\nMaintainer: x\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\nDescription: libc\n multi-line\n";

/// The Debian-like image: layer 1 (gzip) has merged /usr (`/lib -> usr/lib`), libc listed
/// through the link as dpkg lists it, /etc/motd, /opt/app/old and a dpkg database; layer 2
/// (plain tar) removes /etc/motd, empties /opt/app and adds /usr/bin/tool (1000:1000).
fn debian_like(dir: &Path) {
    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
    let one = tar_layer(&[
        ("etc/", D, b"", 0o755, 0),
        ("etc/motd", F, b"hello\n", 0o644, 0),
        ("etc/os-release", F, b"ID=debian\n", 0o644, 0),
        ("lib", L, b"usr/lib", 0o777, 0),
        ("opt/app/old", F, b"old", 0o644, 0),
        ("usr/lib/x86_64-linux-gnu/libc.so.6", F, LIBC, 0o755, 0),
        ("var/lib/dpkg/status", F, STATUS.as_bytes(), 0o644, 0),
        (
            "var/lib/dpkg/info/libc6:amd64.list",
            F,
            b"/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n",
            0o644,
            0,
        ),
        (
            "var/lib/dpkg/info/ghost.list",
            F,
            b"/usr/lib/x86_64-linux-gnu/libc.so.6\n/usr/bin/tool\n",
            0o644,
            0,
        ),
        (
            "var/lib/dpkg/info/base-files.list",
            F,
            b"/etc/motd\n/etc/os-release\n",
            0o644,
            0,
        ),
    ]);
    let two = tar_layer(&[
        ("etc/.wh.motd", F, b"", 0o644, 0),
        ("opt/app/.wh..wh..opq", F, b"", 0o644, 0),
        ("opt/app/new", F, b"new", 0o644, 0),
        ("usr/bin/tool", F, b"tool", 0o750, 1000),
    ]);
    layout(dir, &[(gzip(&one), one), (two.clone(), two)]);
}

fn explain(home: &Path, image: &str, path: &str) -> Value {
    let out = run(
        kiln_clean_env(home).args(["explain", image, path, "--json"]),
        &format!("kiln explain {image} {path}"),
    );
    serde_json::from_str(&out).unwrap()
}

fn skopeo(args: &[&str]) {
    run(
        Command::new(require("skopeo"))
            .args(["--insecure-policy"])
            .args(args),
        &format!("skopeo {args:?}"),
    );
}

/// What every form must say about the Debian-like image.
fn assert_debian_like(home: &Path, image: &str) {
    let j = explain(home, image, "/lib/x86_64-linux-gnu/libc.so.6");
    assert_eq!(j["schema"], "kiln/v1", "{j}");
    let e = &j["entry"];
    assert_eq!(
        e["path"], "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "{image}: {j}"
    );
    assert_eq!(e["type"], "file", "{j}");
    assert_eq!(e["mode"], "0755", "{j}");
    assert_eq!(e["size"], LIBC.len(), "{j}");
    assert_eq!(e["sha256"], sha256(LIBC), "{j}");
    assert_eq!(e["layer"], 1, "{j}");
    assert_eq!(e["layer_digest"], j["layers"][0], "{j}");
    assert_eq!(
        e["package"],
        json!({"name": "libc6", "version": "2.36-9+deb12u4", "arch": "amd64"}),
        "{image}: the installed package, not the deinstalled one listing the same file: {j}"
    );
    assert_eq!(j["links"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["links"][0]["path"], "/lib", "{j}");
    assert_eq!(j["links"][0]["target"], "usr/lib", "{j}");
    assert_eq!(j["layers"].as_array().unwrap().len(), 2, "{j}");

    let j = explain(home, image, "/usr/bin/tool");
    assert_eq!(j["entry"]["layer"], 2, "{j}");
    assert_eq!(j["entry"]["uid"], 1000, "{j}");
    assert_eq!(j["entry"]["mode"], "0750", "{j}");
    assert_eq!(j["entry"]["package"], Value::Null, "{j}");

    let j = explain(home, image, "/etc/os-release");
    assert_eq!(j["entry"]["package"]["name"], "base-files", "{j}");

    let j = explain(home, image, "/etc/motd");
    assert_eq!(j["entry"], Value::Null, "{j}");
    assert_eq!(j["removed"]["layer"], 2, "{image}: {j}");
    assert_eq!(j["removed"]["written_by"], 1, "{j}");
    assert_eq!(j["removed"]["by"], "/etc/.wh.motd", "{j}");

    let j = explain(home, image, "/opt/app/old");
    assert_eq!(j["removed"]["by"], "/opt/app/.wh..wh..opq", "{j}");
    let j = explain(home, image, "/opt/app/new");
    assert_eq!(j["entry"]["layer"], 2, "{j}");

    let text = run(
        kiln_clean_env(home).args(["explain", image, "/lib/x86_64-linux-gnu/libc.so.6"]),
        "kiln explain (text)",
    );
    assert!(
        text.starts_with("/lib\n  symlink 0777 0:0 -> usr/lib, layer 1 of 2"),
        "{text}"
    );
    assert!(
        text.contains("\n/usr/lib/x86_64-linux-gnu/libc.so.6\n  file 0755 0:0, 24 bytes, sha256:"),
        "{text}"
    );
    assert!(
        text.contains("  package: libc6 2.36-9+deb12u4 (amd64)\n"),
        "{text}"
    );
    let text = run(
        kiln_clean_env(home).args(["explain", image, "/etc/motd"]),
        "kiln explain (text, removed)",
    );
    assert!(text.contains("removed in layer 2 of 2"), "{text}");

    // Not there at all: an error naming the path.
    let out = kiln_clean_env(home)
        .args(["explain", image, "/etc/nothing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/etc/nothing is not in"), "{err}");

    // No kiln SBOM: one clear line and a hint.
    let out = kiln_clean_env(home).args(["sbom", image]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("carries no kiln SBOM"), "{image}: {err}");
    assert!(err.contains("hint: kiln did not build this image"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn issue11_explain_reads_images_kiln_did_not_build_in_every_form() {
    let t = tempdir();
    let dir = t.path().join("oci");
    debian_like(&dir);
    let oci = format!("oci:{}:v1", dir.display());
    assert_debian_like(t.path(), &oci);

    let oa = t.path().join("img.oci.tar");
    skopeo(&["copy", &oci, &format!("oci-archive:{}:v1", oa.display())]);
    assert_debian_like(t.path(), &format!("oci-archive:{}:v1", oa.display()));

    let da = t.path().join("img.docker.tar");
    skopeo(&[
        "copy",
        &oci,
        &format!("docker-archive:{}:foreign/img:v1", da.display()),
    ]);
    assert_debian_like(t.path(), &format!("docker-archive:{}", da.display()));

    let reg = Registry::start(None);
    let remote = format!("docker://{}/foreign/img:v1", reg.host());
    skopeo(&["copy", "--dest-tls-verify=false", &oci, &remote]);
    assert_debian_like(t.path(), &remote);

    // Nothing signed them: verify finds nothing valid (exit 3), with a clear message.
    run(
        kiln()
            .current_dir(t.path())
            .env("KILN_PASSWORD", "pw")
            .arg("generate-key-pair"),
        "kiln generate-key-pair",
    );
    let key = t.path().join("cosign.pub");
    let images = [
        oci.clone(),
        format!("docker-archive:{}", da.display()),
        remote,
    ];
    for image in &images {
        for (cmd, extra, what) in [
            ("verify", &[][..], "no valid signature"),
            (
                "verify-attestation",
                &["--type", "spdx"][..],
                "no valid attestation",
            ),
        ] {
            let out = kiln_clean_env(t.path())
                .args([cmd, "--key", key.to_str().unwrap()])
                .args(extra)
                .arg(image)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{cmd} {image}: {err}");
            assert!(err.contains(what), "{cmd} {image}: {err}");
        }
    }
}

#[test]
fn issue11_explain_names_distroless_status_d_packages() {
    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
    let t = tempdir();
    let one = tar_layer(&[
        ("lib", L, b"usr/lib", 0o777, 0),
        ("usr/lib/x86_64-linux-gnu/", D, b"", 0o755, 0),
        ("usr/lib/x86_64-linux-gnu/libc.so.6", F, LIBC, 0o755, 0),
        (
            "var/lib/dpkg/status.d/libc6",
            F,
            b"Package: libc6\nVersion: 2.31-13\nArchitecture: amd64\n",
            0o644,
            0,
        ),
        (
            "var/lib/dpkg/status.d/libc6.md5sums",
            F,
            b"0123456789abcdef0123456789abcdef  lib/x86_64-linux-gnu/libc.so.6\n",
            0o644,
            0,
        ),
    ]);
    let dir = t.path().join("oci");
    layout(&dir, &[(gzip(&one), one)]);
    let j = explain(
        t.path(),
        &format!("oci:{}:v1", dir.display()),
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    );
    assert_eq!(
        j["entry"]["package"],
        json!({"name": "libc6", "version": "2.31-13", "arch": "amd64"}),
        "{j}"
    );
    assert_eq!(j["links"], json!([]), "{j}");
}

#[test]
fn issue11_explain_refuses_a_layer_that_does_not_match_its_digest() {
    let t = tempdir();
    let dir = t.path().join("oci");
    debian_like(&dir);
    // Layer 2 is a plain tar: change one byte of a file's data, keeping the size.
    let m: Value = {
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let d = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        serde_json::from_slice(&blob(&dir, &d)).unwrap()
    };
    let layer = m["layers"][1]["digest"].as_str().unwrap();
    let path = dir.join("blobs/sha256").join(&layer[7..]);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(4).rposition(|w| w == b"tool").unwrap();
    bytes[at] = b'T';
    std::fs::write(&path, &bytes).unwrap();
    let out = kiln_clean_env(t.path())
        .args([
            "explain",
            &format!("oci:{}:v1", dir.display()),
            "/usr/bin/tool",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match its digest"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing reported from unchecked bytes"
    );
}
