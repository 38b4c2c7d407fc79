//! `kiln pull` (issue 11 §2) against a real registry (docker-registry on 127.0.0.1): what it
//! writes is what `skopeo copy docker://... oci:DIR` writes, byte for byte (the same blob set,
//! the same manifest digest); an index by `--platform` or whole with `--all`; referrers
//! (kiln's SBOMs and plan, cosign signatures) with `--with-referrers`.

use crate::registry_util::*;
use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every file under `blobs/` of a layout: name → bytes' sha256 (the names are digests; the
/// value proves the bytes).
fn blob_set(layout: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for alg in std::fs::read_dir(layout.join("blobs")).unwrap() {
        let alg = alg.unwrap();
        for b in std::fs::read_dir(alg.path()).unwrap() {
            let b = b.unwrap();
            out.insert(
                format!(
                    "{}/{}",
                    alg.file_name().to_string_lossy(),
                    b.file_name().to_string_lossy()
                ),
                sha256_file(&b.path()),
            );
        }
    }
    out
}

fn pull_json(home: &Path, src: &str, dest: &str, extra: &[&str]) -> Value {
    let out = run(
        kiln_clean_env(home)
            .args(["pull", src, dest, "--json"])
            .args(extra),
        "kiln pull",
    );
    serde_json::from_str(&out).unwrap()
}

fn skopeo_copy(src: &str, dest: &str, extra: &[&str]) {
    run(
        Command::new(require("skopeo"))
            .args(["copy", "--src-tls-verify=false"])
            .args(extra)
            .args([src, dest]),
        "skopeo copy",
    );
}

/// A manifest of two platforms that ships only a folder (no program to build per platform).
pub(crate) const TWO_PLATFORMS: &str = r#"[image]
name = "two"
platforms = ["linux/amd64", "linux/arm64"]

[[component]]
name = "tmp"
kind = "dir"
to = "/tmp"
mode = "1777"
why = "scratch space"
"#;

#[test]
fn pull_writes_the_bytes_skopeo_copy_writes() {
    let t = tempdir();
    let reg = Registry::start(None);
    let host = reg.host();
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let summary = build(&manifest, &format!("oci:{}:v1", layout.display()));
    let digest = manifest_digest(&summary);
    run(
        kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/kiln/static:v1")),
        "kiln push",
    );

    let ours = t.path().join("ours");
    let j = pull_json(
        t.path(),
        &format!("docker://{host}/kiln/static:v1"),
        &format!("oci:{}:p", ours.display()),
        &[],
    );
    assert_eq!(j["schema"], "kiln/v1", "{j}");
    assert_eq!(j["digest"], digest.as_str(), "{j}");
    assert_eq!(
        j["reference"],
        format!("{host}/kiln/static@{digest}").as_str()
    );
    let theirs = t.path().join("theirs");
    skopeo_copy(
        &format!("docker://{host}/kiln/static:v1"),
        &format!("oci:{}:p", theirs.display()),
        &[],
    );
    assert_eq!(layout_digest(&ours, "p"), digest);
    assert_eq!(layout_digest(&theirs, "p"), digest);
    assert_eq!(blob_set(&ours), blob_set(&theirs));
    // skopeo reads kiln's layout back and verifies every blob.
    skopeo_copy(
        &format!("oci:{}:p", ours.display()),
        &format!("oci:{}:again", t.path().join("again").display()),
        &[],
    );

    // By digest, into an oci-archive: the same image.
    let archive = t.path().join("pulled.tar");
    let j = pull_json(
        t.path(),
        &format!("docker://{host}/kiln/static@{digest}"),
        &format!("oci-archive:{}:a", archive.display()),
        &[],
    );
    assert_eq!(j["digest"], digest.as_str(), "{j}");
    let back = t.path().join("from-archive");
    skopeo_copy(
        &format!("oci-archive:{}:a", archive.display()),
        &format!("oci:{}:a", back.display()),
        &[],
    );
    assert_eq!(layout_digest(&back, "a"), digest);

    // Into an existing layout: a second tag beside the first, no blob fetched again.
    let j = pull_json(
        t.path(),
        &format!("docker://{host}/kiln/static:v1"),
        &format!("oci:{}:q", ours.display()),
        &[],
    );
    assert_eq!(j["present"], j["blobs"], "{j}");
    assert_eq!(layout_digest(&ours, "p"), digest);
    assert_eq!(layout_digest(&ours, "q"), digest);

    // With its referrers: the SBOMs and the plan come along, as kiln's own layouts hold them.
    let refs = t.path().join("refs");
    let j = pull_json(
        t.path(),
        &format!("docker://{host}/kiln/static:v1"),
        &format!("oci:{}:v1", refs.display()),
        &["--with-referrers"],
    );
    assert_eq!(j["referrers"].as_array().unwrap().len(), 3, "{j}");
    let built: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let pulled: Value =
        serde_json::from_slice(&std::fs::read(refs.join("index.json")).unwrap()).unwrap();
    for k in ["spdx", "cyclonedx", "plan"] {
        let key = format!("dev.kiln.artifact.{k}");
        assert_eq!(
            pulled["manifests"][0]["annotations"][&key], built["manifests"][0]["annotations"][&key],
            "{pulled}"
        );
    }
    let out = run(
        kiln().args(["sbom", &format!("oci:{}:v1", refs.display())]),
        "kiln sbom of the pulled layout",
    );
    assert!(out.contains("SPDX-2.3"), "{out}");

    // A cosign signature made in the registry comes along as kiln keeps one (`sha256-HEX.sig`
    // entry about the image), and verifies in the pulled layout.
    let pw = |c: &mut Command| {
        c.env_remove("COSIGN_PASSWORD")
            .env("KILN_PASSWORD", "pull-test-password");
    };
    let prefix = t.path().join("cosign");
    let mut c = kiln_clean_env(t.path());
    pw(&mut c);
    run(
        c.args(["generate-key-pair", "--output-key-prefix"])
            .arg(&prefix),
        "kiln generate-key-pair",
    );
    let mut c = kiln_clean_env(t.path());
    pw(&mut c);
    run(
        c.args(["sign", "--key"])
            .arg(prefix.with_extension("key"))
            .arg(format!("docker://{host}/kiln/static:v1")),
        "kiln sign (registry)",
    );
    let signed = t.path().join("signed");
    let j = pull_json(
        t.path(),
        &format!("docker://{host}/kiln/static:v1"),
        &format!("oci:{}:v1", signed.display()),
        &["--with-referrers"],
    );
    let sig_tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    assert!(
        j["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == sig_tag.as_str()),
        "{j}"
    );
    run(
        kiln_clean_env(t.path())
            .args(["verify", "--key"])
            .arg(prefix.with_extension("pub"))
            .args(["--identity", &format!("{host}/kiln/static")])
            .arg(format!("oci:{}:v1", signed.display())),
        "kiln verify of the pulled layout",
    );
}

#[test]
fn pull_of_an_index_by_platform_or_whole() {
    let t = tempdir();
    let reg = Registry::start(None);
    let host = reg.host();
    let m = t.path().join("kiln.toml");
    std::fs::write(&m, TWO_PLATFORMS).unwrap();
    let layout = t.path().join("img");
    let summary = build(&m, &format!("oci:{}:v1", layout.display()));
    let top = manifest_digest(&summary);
    run(
        kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/two:v1")),
        "kiln push",
    );
    let src = format!("docker://{host}/two:v1");

    // Without a choice: refused, naming the platforms, nothing written.
    let none = t.path().join("none");
    let o = kiln_clean_env(t.path())
        .args(["pull", &src, &format!("oci:{}", none.display())])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--platform (linux/amd64, linux/arm64)"),
        "{err}"
    );
    assert!(!none.exists());

    // --all: the index and both images, as skopeo copy --all writes them.
    let all = t.path().join("all");
    let j = pull_json(
        t.path(),
        &src,
        &format!("oci:{}:v1", all.display()),
        &["--all"],
    );
    assert_eq!(j["digest"], top.as_str(), "{j}");
    let theirs = t.path().join("theirs");
    skopeo_copy(&src, &format!("oci:{}:v1", theirs.display()), &["--all"]);
    assert_eq!(layout_digest(&all, "v1"), top);
    assert_eq!(layout_digest(&theirs, "v1"), top);
    assert_eq!(blob_set(&all), blob_set(&theirs));

    // --platform: that image's manifest as the tag, as skopeo --override-arch picks it.
    let arm = t.path().join("arm");
    let j = pull_json(
        t.path(),
        &src,
        &format!("oci:{}:arm", arm.display()),
        &["--platform", "linux/arm64"],
    );
    assert_eq!(j["platforms"][0], "linux/arm64", "{j}");
    let theirs_arm = t.path().join("theirs-arm");
    skopeo_copy(
        &src,
        &format!("oci:{}:arm", theirs_arm.display()),
        &["--override-os", "linux", "--override-arch", "arm64"],
    );
    assert_eq!(
        layout_digest(&arm, "arm"),
        layout_digest(&theirs_arm, "arm")
    );
    assert_ne!(layout_digest(&arm, "arm"), top);
    assert_eq!(blob_set(&arm), blob_set(&theirs_arm));
    let (_, config) = image(&arm, "arm");
    assert_eq!(config["architecture"], "arm64", "{config}");

    let o = kiln_clean_env(t.path())
        .args(["pull", &src, &format!("oci:{}:x", arm.display())])
        .args(["--platform", "linux/s390x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no `linux/s390x` image"), "{err}");
}
