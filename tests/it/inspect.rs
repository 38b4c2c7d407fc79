//! `kiln inspect` (issue 11 §2) on every transport: kiln's own layouts and archives, a
//! docker-archive written by `skopeo copy docker-archive:` and by `podman save` (uncompressed
//! layers, `manifest.json` naming paths), and `docker://` on a loopback registry, with the
//! platforms of an index and the referrers kiln pushed.

use crate::registry_util::*;
use crate::util::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn inspect_json(home: &Path, image: &str, extra: &[&str]) -> Value {
    let out = run(
        kiln_clean_env(home)
            .args(["inspect", image, "--json"])
            .args(extra),
        "kiln inspect",
    );
    serde_json::from_str(&out).unwrap()
}

/// The image manifest tagged `tag` and its config, from kiln's layout.
fn built(layout: &Path, tag: &str) -> (Value, Value) {
    image(layout, tag)
}

#[test]
fn inspect_reads_layouts_archives_docker_saves_and_registries() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let summary = build(&manifest, &format!("oci:{}:v1", layout.display()));
    let digest = manifest_digest(&summary);
    let (m, config) = built(&layout, "v1");
    let layer_digests: Vec<Value> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].clone())
        .collect();

    // oci: layout.
    let j = inspect_json(t.path(), &format!("oci:{}:v1", layout.display()), &[]);
    assert_eq!(j["schema"], "kiln/v1");
    assert_eq!(j["digest"], digest.as_str(), "{j}");
    assert_eq!(j["config_digest"], m["config"]["digest"], "{j}");
    assert_eq!(
        j["config"]["entrypoint"], config["config"]["Entrypoint"],
        "{j}"
    );
    assert_eq!(j["config"]["user"], config["config"]["User"], "{j}");
    assert_eq!(j["config"]["env"], config["config"]["Env"], "{j}");
    assert_eq!(listed_layers(&j), Value::from(layer_digests.clone()));
    let kinds: Vec<&str> = j["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["spdx", "cyclonedx", "plan"], "{j}");
    // The text form says the same.
    let text = run(
        kiln().args(["inspect", &format!("oci:{}:v1", layout.display())]),
        "kiln inspect (text)",
    );
    assert!(text.contains(&format!("digest:       {digest}")), "{text}");
    assert!(text.contains("entrypoint:   [\""), "{text}");

    // oci-archive: read in place, the same image.
    let archive = t.path().join("img.tar");
    build(&manifest, &format!("oci-archive:{}:a", archive.display()));
    let j = inspect_json(
        t.path(),
        &format!("oci-archive:{}:a", archive.display()),
        &[],
    );
    assert_eq!(j["digest"], digest.as_str(), "{j}");

    // docker-archive by skopeo: uncompressed layers named by their diff_ids, the same config.
    let da = t.path().join("skopeo-save.tar");
    run(
        Command::new(require("skopeo")).args([
            "copy",
            &format!("oci:{}:v1", layout.display()),
            &format!("docker-archive:{}:kiln/static:v1", da.display()),
        ]),
        "skopeo copy docker-archive:",
    );
    let j = inspect_json(t.path(), &format!("docker-archive:{}", da.display()), &[]);
    assert_eq!(j["config_digest"], m["config"]["digest"], "{j}");
    assert_eq!(
        j["config"]["entrypoint"], config["config"]["Entrypoint"],
        "{j}"
    );
    assert_eq!(listed_layers(&j), config["rootfs"]["diff_ids"], "{j}");
    assert_eq!(
        j["layers"][0]["media_type"], "application/vnd.docker.image.rootfs.diff.tar",
        "{j}"
    );
    assert_eq!(
        j["annotations"]["RepoTags"], "docker.io/kiln/static:v1",
        "{j}"
    );

    // docker-archive by podman save (loaded from skopeo's archive first).
    let pod = t.path().join("podman");
    let podman = |args: &[&str]| {
        let mut c = Command::new(require("podman"));
        c.arg("--root")
            .arg(pod.join("root"))
            .arg("--runroot")
            .arg(pod.join("run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args);
        c
    };
    run(
        &mut podman(&["load", "-q", "-i", da.to_str().unwrap()]),
        "podman load",
    );
    let saved = t.path().join("podman-save.tar");
    run(
        &mut podman(&[
            "save",
            "--format",
            "docker-archive",
            "-o",
            saved.to_str().unwrap(),
            "kiln/static:v1",
        ]),
        "podman save",
    );
    let _ = podman(&["rmi", "-af"]).output();
    let j = inspect_json(
        t.path(),
        &format!("docker-archive:{}", saved.display()),
        &[],
    );
    assert_eq!(
        j["config"]["entrypoint"], config["config"]["Entrypoint"],
        "{j}"
    );
    assert_eq!(j["config"]["user"], config["config"]["User"], "{j}");
    assert_eq!(
        j["layers"].as_array().unwrap().len(),
        layer_digests.len(),
        "{j}"
    );
    assert_eq!(listed_layers(&j), config["rootfs"]["diff_ids"], "{j}");

    // docker://: the same image, and the SBOMs and plan found through the referrers tag.
    let reg = Registry::start(None);
    let host = reg.host();
    run(
        kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/kiln/static:v1")),
        "kiln push",
    );
    let j = inspect_json(t.path(), &format!("docker://{host}/kiln/static:v1"), &[]);
    assert_eq!(j["digest"], digest.as_str(), "{j}");
    assert_eq!(
        j["config"]["entrypoint"], config["config"]["Entrypoint"],
        "{j}"
    );
    let mut kinds: Vec<&str> = j["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["cyclonedx", "plan", "spdx"], "{j}");

    // kiln sbom and kiln explain read docker:// as they read the layout (issue 11 §2).
    let remote = format!("docker://{host}/kiln/static:v1");
    let local = format!("oci:{}:v1", layout.display());
    for format in ["spdx", "cyclonedx"] {
        let a = run(
            kiln_clean_env(t.path()).args(["sbom", "--format", format, &remote]),
            "kiln sbom docker://",
        );
        let b = run(
            kiln().args(["sbom", "--format", format, &local]),
            "kiln sbom oci:",
        );
        assert_eq!(a, b, "{format}");
    }
    let path = "/usr/local/bin/hello";
    let a = run(
        kiln_clean_env(t.path()).args(["explain", &remote, path, "--json"]),
        "kiln explain docker://",
    );
    let b = run(
        kiln().args(["explain", &local, path, "--json"]),
        "kiln explain oci:",
    );
    assert_eq!(a, b);
    // The temporary folder the pull used is gone afterwards.
    let tmp = t.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    run(
        kiln_clean_env(t.path())
            .env("TMPDIR", &tmp)
            .args(["sbom", &remote]),
        "kiln sbom docker:// (TMPDIR)",
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn inspect_of_an_index_names_its_platforms_and_picks_one() {
    let t = tempdir();
    let m = t.path().join("kiln.toml");
    std::fs::write(
        &m,
        "[image]\nname = \"two\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n\n[[component]]\nname = \"tmp\"\nkind = \"dir\"\nto = \"/tmp\"\nmode = \"1777\"\nwhy = \"scratch space\"\n",
    )
    .unwrap();
    let layout = t.path().join("img");
    let summary = build(&m, &format!("oci:{}:v1", layout.display()));
    let top = manifest_digest(&summary);
    let reg = Registry::start(None);
    let host = reg.host();
    run(
        kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/two:v1")),
        "kiln push",
    );
    for image in [
        format!("oci:{}:v1", layout.display()),
        format!("docker://{host}/two:v1"),
    ] {
        let j = inspect_json(t.path(), &image, &["--platform", "linux/arm64"]);
        assert_eq!(j["index"]["digest"], top.as_str(), "{j}");
        assert_eq!(
            j["index"]["platforms"],
            serde_json::json!(["linux/amd64", "linux/arm64"]),
            "{j}"
        );
        assert_eq!(j["config"]["architecture"], "arm64", "{j}");
        assert_ne!(j["digest"], top.as_str(), "{j}");
    }
    let a = run(
        kiln_clean_env(t.path())
            .args(["sbom", &format!("docker://{host}/two:v1")])
            .args(["--platform", "linux/arm64"]),
        "kiln sbom docker:// --platform",
    );
    let b = run(
        kiln()
            .args(["sbom", &format!("oci:{}:v1", layout.display())])
            .args(["--platform", "linux/arm64"]),
        "kiln sbom oci: --platform",
    );
    assert_eq!(a, b);
    let o = kiln()
        .args(["inspect", &format!("oci:{}:v1", layout.display())])
        .args(["--platform", "linux/s390x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no `linux/s390x` image (platforms: linux/amd64, linux/arm64)"),
        "{err}"
    );
}

/// The layer digests `kiln inspect --json` lists, in order.
fn listed_layers(j: &Value) -> Value {
    j["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].clone())
        .collect()
}
