//! Each example and kiln's own image: built in all three output forms, read by skopeo,
//! unpacked by umoci, and run in chroot as uid 65532 with only the image's environment.

use crate::util::*;
use std::path::Path;
use std::process::Command;

/// Builds `manifest` in every output form, checks skopeo reads each, unpacks the OCI layout
/// and runs the entrypoint; returns the run's stdout.
fn build_all_forms_and_run(dir: &Path, manifest: &Path, args: Option<&[&str]>) -> String {
    let layout = dir.join("out/img");
    let s = build(manifest, &format!("oci:{}:t1", layout.display()));
    let digest = manifest_digest(&s);
    let ins = skopeo_inspect(&format!("oci:{}:t1", layout.display()));
    assert_eq!(ins["Digest"], digest.as_str());
    let oa = dir.join("out/img-oci.tar");
    let s2 = build(manifest, &format!("oci-archive:{}:t2", oa.display()));
    assert_eq!(
        manifest_digest(&s2),
        digest,
        "oci-archive holds the same image"
    );
    assert_eq!(
        skopeo_inspect(&format!("oci-archive:{}:t2", oa.display()))["Digest"],
        digest.as_str()
    );
    let da = dir.join("out/img-docker.tar");
    build(
        manifest,
        &format!("docker-archive:{}:kiln-test/img:t3", da.display()),
    );
    // skopeo finds the image by the name:tag that the archive's manifest.json records.
    let d = skopeo_inspect(&format!("docker-archive:{}:kiln-test/img:t3", da.display()));
    assert_eq!(d["Name"], "docker.io/kiln-test/img");
    assert_eq!(
        d["Layers"].as_array().unwrap().len(),
        ins["Layers"].as_array().unwrap().len()
    );
    // skopeo can also copy the docker archive back into an OCI layout: the layers' diff_ids
    // must verify for that.
    run(
        Command::new(require("skopeo"))
            .args(["copy", "-q"])
            .arg(format!("docker-archive:{}", da.display()))
            .arg(format!("oci:{}:back", dir.join("out/back").display())),
        "skopeo copy docker-archive",
    );

    let (_, config) = image(&layout, "t1");
    assert_eq!(config["config"]["User"], "65532:65532");
    let rootfs = unpack(&layout, "t1", &dir.join("bundle"));
    assert!(
        !rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin/sh").exists(),
        "no shell in the image"
    );
    let out = run_in_chroot(&rootfs, &config, args);
    check(&out, "the entrypoint in chroot");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn example(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempdir();
    let d = t.path().join(name);
    copy_tree(&repo().join("examples").join(name), &d);
    (t, d)
}

#[test]
fn static_c() {
    let (t, d) = example("static-c");
    require("gcc");
    run(
        Command::new("gcc")
            .args(["-static", "-O2", "-o", "hello", "hello.c"])
            .current_dir(&d),
        "gcc -static",
    );
    let plan = plan_json(&d.join("kiln.toml"));
    assert!(
        !plan["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["layer"] == "libraries"),
        "a static binary needs no libraries: {plan}"
    );
    let out = build_all_forms_and_run(t.path(), &d.join("kiln.toml"), None);
    assert!(out.contains("hello from a static binary"), "{out}");
}

#[test]
fn libssl_c() {
    let (t, d) = example("libssl-c");
    require("gcc");
    run(
        Command::new("gcc")
            .args(["-O2", "-o", "ssl-version", "ssl.c", "-lcrypto"])
            .current_dir(&d),
        "gcc ssl.c",
    );
    let plan = plan_json(&d.join("kiln.toml"));
    let lib = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("/libcrypto.so.3"))
        .expect("libcrypto in the plan");
    assert_eq!(
        lib["needed_by"],
        serde_json::json!(["/usr/local/bin/ssl-version", "libcrypto.so.3"])
    );
    let out = build_all_forms_and_run(t.path(), &d.join("kiln.toml"), None);
    // The version the image loaded is the host's libcrypto.
    let host = run(
        &mut Command::new(d.join("ssl-version")),
        "ssl-version on the host",
    );
    assert!(out.starts_with("OpenSSL 3"), "{out}");
    assert_eq!(out.lines().next(), host.lines().next());
    assert!(
        out.contains("certificates in /etc/ssl/certs/ca-certificates.crt"),
        "{out}"
    );
}

#[test]
fn origin_c() {
    let (t, d) = example("origin-c");
    require("gcc");
    run(
        Command::new("sh").arg("build.sh").current_dir(&d),
        "build.sh",
    );
    let plan = plan_json(&d.join("kiln.toml"));
    let entries = plan["entries"].as_array().unwrap();
    let greet = entries
        .iter()
        .find(|e| e["path"] == "/opt/greet/lib/libgreet.so.1")
        .unwrap();
    assert_eq!(greet["component"], "greet");
    assert!(
        !entries
            .iter()
            .any(|e| e["path"].as_str().unwrap().contains("libgreet") && e["layer"] == "libraries"),
        "libgreet comes from the tree, not the host"
    );
    let out = build_all_forms_and_run(t.path(), &d.join("kiln.toml"), None);
    assert!(out.contains("hello from libgreet via $ORIGIN"), "{out}");
}

#[test]
fn rust_hello() {
    let (t, d) = example("rust-hello");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(
        Command::new(cargo)
            .args(["build", "--release", "--offline", "--quiet"])
            .current_dir(&d)
            .env("CARGO_TARGET_DIR", d.join("target")),
        "cargo build rust-hello",
    );
    let out = build_all_forms_and_run(t.path(), &d.join("kiln.toml"), None);
    assert!(out.contains("hello from rust"), "{out}");
}

#[test]
fn kiln_packages_itself() {
    let t = tempdir();
    let m = std::fs::read_to_string(repo().join("manifests/kiln.toml")).unwrap();
    let m = m.replace(
        "\"../target/release/kiln\"",
        &format!("{:?}", env!("CARGO_BIN_EXE_kiln")),
    );
    assert!(
        m.contains(env!("CARGO_BIN_EXE_kiln")),
        "manifests/kiln.toml names ../target/release/kiln"
    );
    let mp = t.path().join("kiln.toml");
    std::fs::write(&mp, m).unwrap();
    let out = build_all_forms_and_run(t.path(), &mp, None);
    assert_eq!(out.trim(), format!("kiln {}", env!("CARGO_PKG_VERSION")));
}
