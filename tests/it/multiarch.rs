//! Multi-platform images: one manifest listing `linux/amd64` and `linux/arm64` (per-platform
//! `from`, each platform's libraries from Debian's archive: arm64 packages, no sysroot), built as an OCI image index in a layout and an oci-archive,
//! pushed to a real registry (skopeo sees the index with both platforms, byte for byte), and
//! each platform's image, picked out of the index by skopeo, run: natively and under
//! qemu-aarch64. A program of the wrong architecture for its platform is an error.

use crate::arm64::{compile_ssl, run_emulated};
use crate::registry_util::*;
use crate::util::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The example's manifest (examples/multiarch-c/kiln.toml).
fn example_manifest() -> String {
    std::fs::read_to_string(repo().join("examples/multiarch-c/kiln.toml")).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// skopeo copies the `arch` image out of the index at `src` into a layout of its own.
fn pick(src: &str, arch: &str, dest: &Path) -> (Value, Value) {
    run(
        Command::new(require("skopeo")).args([
            "copy",
            "--override-os",
            "linux",
            "--override-arch",
            arch,
            src,
            &format!("oci:{}:{arch}", dest.display()),
        ]),
        &format!("skopeo copy --override-arch {arch}"),
    );
    image(dest, arch)
}

#[test]
fn two_platforms_build_an_index_that_pushes_and_runs_on_each() {
    let t = tempdir();
    let dir = t.path();
    compile_ssl(dir);
    cc(
        dir,
        &std::fs::read_to_string(repo().join("examples/libssl-c/ssl.c")).unwrap(),
        "ssl.c",
        "ssl-amd64",
        &["-lcrypto"],
    );
    let manifest = dir.join("kiln.toml");
    let text = example_manifest();
    std::fs::write(&manifest, &text).unwrap();

    // A layout: the tag points at an index of two manifests, each with its platform.
    let layout = dir.join("out/multi");
    let spec = format!("oci:{}:v1", layout.display());
    let summary = build(&manifest, &spec);
    let top = manifest_digest(&summary);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap();
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(entry["digest"], top.as_str());
    let inner = json_blob(&layout, &top);
    let platforms: Vec<String> = inner["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{inner}");
    // One index.json entry, the index; each platform's descriptor in it names that platform's
    // artifacts, whose subject is that platform's manifest (issue 10 §2).
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    for child in inner["manifests"].as_array().unwrap() {
        for key in ["spdx", "cyclonedx", "plan"] {
            let a = child["annotations"][format!("dev.kiln.artifact.{key}")]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} artifact in {child}"));
            assert_eq!(json_blob(&layout, a)["subject"]["digest"], child["digest"]);
        }
    }
    assert_eq!(
        skopeo_inspect(&format!("oci:{}", layout.display()))["Digest"],
        top.as_str()
    );
    assert_eq!(
        summary["platforms"].as_array().unwrap().len(),
        2,
        "{summary}"
    );

    // Each platform has its own SBOM, naming its own libraries.
    for (platform, lib_dir) in [
        ("linux/amd64", "x86_64-linux-gnu"),
        ("linux/arm64", "aarch64-linux-gnu"),
    ] {
        let sbom = run(
            kiln().args(["sbom", &spec, "--format", "spdx", "--platform", platform]),
            "kiln sbom --platform",
        );
        assert!(
            sbom.contains(&format!("/{lib_dir}/libcrypto.so.3")),
            "{platform}"
        );
    }

    // An oci-archive holds the same index.
    let archive = dir.join("multi.tar");
    let a = build(&manifest, &format!("oci-archive:{}:v1", archive.display()));
    assert_eq!(manifest_digest(&a), top);
    // A docker-archive cannot: a clear error, nothing written.
    let da = dir.join("multi-docker.tar");
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .arg("--output")
        .arg(format!("docker-archive:{}:multi:v1", da.display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("one platform"),
        "{o:?}"
    );
    assert!(!da.exists());

    // Pushed: the registry holds the index byte for byte, with both platforms.
    let reg = Registry::start(None);
    let host = reg.host();
    let out = run(
        kiln_clean_env(dir)
            .args(["push", &spec, &format!("docker://{host}/multi:v1")])
            .arg("--json"),
        "kiln push (index)",
    );
    let pushed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pushed["digest"], top.as_str());
    let raw = run(
        Command::new(require("skopeo")).args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/multi:v1"),
        ]),
        "skopeo inspect --raw (index)",
    );
    assert_eq!(format!("sha256:{}", sha256_hex(raw.as_bytes())), top);
    let remote: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(remote["manifests"].as_array().unwrap().len(), 2, "{remote}");

    // Signed by its index digest; attested per platform (each platform has its own SBOM).
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let pw = |c: &mut Command| {
        c.env("KILN_PASSWORD", "multi-arch-test");
    };
    let mut c = kiln_clean_env(&home);
    pw(&mut c);
    run(
        c.args(["generate-key-pair", "--output-key-prefix"])
            .arg(dir.join("k")),
        "kiln generate-key-pair",
    );
    let (key, public) = (dir.join("k.key"), dir.join("k.pub"));
    let remote_ref = format!("docker://{host}/multi:v1");
    for args in [
        vec!["sign", "--recursive"],
        vec!["attest", "--type", "spdx", "--platform", "linux/arm64"],
    ] {
        let mut c = kiln_clean_env(&home);
        pw(&mut c);
        run(
            c.args(&args).arg("--key").arg(&key).arg(&remote_ref),
            &format!("kiln {}", args.join(" ")),
        );
    }
    let verified = run(
        kiln_clean_env(&home)
            .args(["verify", "--key"])
            .arg(&public)
            .arg(&remote_ref),
        "kiln verify (index)",
    );
    assert!(verified.contains(&top), "{verified}");
    // --recursive signed each platform manifest too; --identity checks the docker-reference.
    let repo_name = format!("{host}/multi");
    for (platform, identity, ok) in [
        ("linux/arm64", repo_name.as_str(), true),
        ("linux/amd64", repo_name.as_str(), true),
        ("linux/amd64", "registry.example/other", false),
    ] {
        let o = kiln_clean_env(&home)
            .args([
                "verify",
                "--platform",
                platform,
                "--identity",
                identity,
                "--key",
            ])
            .arg(&public)
            .arg(&remote_ref)
            .output()
            .unwrap();
        assert_eq!(o.status.success(), ok, "{platform} {identity}: {o:?}");
        if !ok {
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("not registry.example/other"),
                "{o:?}"
            );
        }
    }
    let arm_digest = inner["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(
        kiln_clean_env(&home)
            .args([
                "verify-attestation",
                "--type",
                "spdx",
                "--platform",
                "linux/arm64",
                "--key",
            ])
            .arg(&public)
            .arg(&remote_ref)
            .arg("--json"),
        "kiln verify-attestation --platform linux/arm64",
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let v = &v["verified"];
    assert_eq!(v[0]["digest"], arm_digest.as_str());
    let files = v[0]["statement"]["predicate"]["files"].as_array().unwrap();
    assert!(
        files.iter().any(|f| f["fileName"]
            .as_str()
            .unwrap_or("")
            .contains("aarch64-linux-gnu/libcrypto")),
        "the arm64 attestation holds the arm64 SBOM"
    );
    // Not about amd64, and an SBOM attestation of the index needs a platform.
    for args in [
        vec![
            "verify-attestation",
            "--type",
            "spdx",
            "--platform",
            "linux/amd64",
        ],
        vec!["attest", "--type", "spdx"],
    ] {
        let mut c = kiln_clean_env(&home);
        pw(&mut c);
        let o = c
            .args(&args)
            .arg("--key")
            .arg(if args[0] == "attest" { &key } else { &public })
            .arg(&remote_ref)
            .output()
            .unwrap();
        // Checked and nothing valid (3); cannot attest an index without a platform (1).
        let want = if args[0] == "attest" { 1 } else { 3 };
        assert_eq!(o.status.code(), Some(want), "{args:?}: {o:?}");
    }

    // Each platform's image, picked from the registry's index by skopeo, runs.
    let src = format!("docker://{host}/multi:v1");
    let amd = dir.join("pick-amd64");
    let (_, cfg) = {
        let mut c = Command::new(require("skopeo"));
        c.args([
            "copy",
            "--src-tls-verify=false",
            "--override-os",
            "linux",
            "--override-arch",
            "amd64",
            &src,
            &format!("oci:{}:amd64", amd.display()),
        ]);
        run(&mut c, "skopeo copy amd64 from the registry");
        image(&amd, "amd64")
    };
    assert_eq!(cfg["architecture"], "amd64");
    let rootfs = unpack(&amd, "amd64", &dir.join("bundle-amd64"));
    let o = run_in_chroot(&rootfs, &cfg, None);
    check(&o, "the amd64 image runs");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("OpenSSL 3"),
        "{o:?}"
    );

    let arm = dir.join("pick-arm64");
    let (_, cfg) = pick(&spec, "arm64", &arm);
    assert_eq!(cfg["architecture"], "arm64");
    let rootfs = unpack(&arm, "arm64", &dir.join("bundle-arm64"));
    let o = run_emulated(&rootfs, &cfg);
    check(&o, "the arm64 image runs under qemu-aarch64");
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("OpenSSL 3"),
        "{o:?}"
    );

    // The wrong architecture for a platform: exit 1, naming the component and the platform.
    std::fs::write(
        &manifest,
        text.replace(r#""linux/arm64" = "ssl""#, r#""linux/arm64" = "ssl-amd64""#),
    )
    .unwrap();
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .arg("--output")
        .arg(format!("oci:{}:bad", dir.join("bad").display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ssl-version") && err.contains("linux/arm64") && err.contains("kiln.toml:"),
        "{err}"
    );
    // A platform missing from a `from` table: the same kind of error.
    std::fs::write(&manifest, text.replace(r#", "linux/arm64" = "ssl""#, "")).unwrap();
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .arg("--plan")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no `from` for linux/arm64"),
        "{o:?}"
    );
}
