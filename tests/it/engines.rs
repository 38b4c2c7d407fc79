//! Every engine reads kiln's outputs without a tag (issue 10 §2): `index.json` holds one entry
//! per tag, the image manifest, and the SBOMs and the plan hang off that entry's annotations
//! (`dev.kiln.artifact.spdx`, `.cyclonedx`, `.plan`), each an OCI 1.1 artifact whose `subject`
//! is the image. podman loads and runs the archives, skopeo inspects the layout without a tag,
//! umoci unpacks it, `kiln sbom` finds each format; two tags in one layout stay apart.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The static-c example, compiled, in a fresh folder; returns (tempdir, example folder).
pub(crate) fn static_c() -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    let d = t.path().join("static-c");
    copy_tree(&repo().join("examples/static-c"), &d);
    compile(&d);
    (t, d)
}

/// `gcc -static` of the example's hello.c.
pub(crate) fn compile(d: &Path) {
    run(
        Command::new(require("gcc"))
            .args(["-static", "-O2", "-o", "hello", "hello.c"])
            .current_dir(d),
        "gcc -static",
    );
}

/// A private podman (its own storage under `dir`), with the flags this machine needs; the
/// images it loaded are removed when dropped.
pub(crate) struct Podman {
    dir: PathBuf,
}

impl Podman {
    /// A podman whose storage lives under `dir`.
    pub(crate) fn new(dir: PathBuf) -> Podman {
        Podman { dir }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(require("podman"));
        c.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c
    }

    /// `podman load -i FILE`; returns the name podman gave the image.
    pub(crate) fn load(&self, file: &Path) -> String {
        let out = run(
            self.cmd().args(["load", "-q", "-i"]).arg(file),
            "podman load",
        );
        out.lines()
            .find_map(|l| l.strip_prefix("Loaded image: "))
            .unwrap_or_else(|| panic!("podman load said {out:?}"))
            .trim()
            .to_string()
    }

    /// `podman run` of `image` (as its own user); returns stdout.
    pub(crate) fn run(&self, image: &str) -> String {
        run(
            self.cmd()
                .args(["--runtime", "runc", "run", "--rm", "--network", "none"])
                .args([
                    "--ulimit",
                    "nofile=1024:1024",
                    "--ulimit",
                    "nproc=1024:1024",
                ])
                .arg(image),
            "podman run",
        )
    }

    fn user(&self, image: &str) -> String {
        run(
            self.cmd()
                .args(["image", "inspect", "--format", "{{.Config.User}}"])
                .arg(image),
            "podman image inspect",
        )
        .trim()
        .to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rmi", "-af"]).output();
    }
}

fn index(layout: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap()
}

#[test]
fn podman_loads_and_runs_an_oci_archive_without_a_tag_and_a_docker_archive() {
    let (t, d) = static_c();
    let oa = t.path().join("img-oci.tar");
    let s = build(
        &d.join("kiln.toml"),
        &format!("oci-archive:{}:t1", oa.display()),
    );
    let da = t.path().join("img-docker.tar");
    build(
        &d.join("kiln.toml"),
        &format!("docker-archive:{}:kiln-test/img:t3", da.display()),
    );
    let podman = Podman {
        dir: t.path().join("pm"),
    };
    for file in [&oa, &da] {
        let name = podman.load(file);
        assert_eq!(podman.user(&name), "65532:65532", "{name}");
        let out = podman.run(&name);
        assert!(out.contains("hello from a static binary"), "{name}: {out}");
    }
    // The oci-archive's image is the one kiln built (podman keeps the manifest digest).
    let digests = run(
        podman
            .cmd()
            .args(["images", "--no-trunc", "--format", "{{.Digest}}"]),
        "podman images",
    );
    assert!(digests.contains(&manifest_digest(&s)), "{digests}");
}

#[test]
fn skopeo_umoci_and_kiln_read_a_layout_with_one_or_two_tags() {
    let (t, d) = static_c();
    let layout = t.path().join("img");
    let s1 = build(
        &d.join("kiln.toml"),
        &format!("oci:{}:v1", layout.display()),
    );
    let d1 = manifest_digest(&s1);

    // One entry, the image manifest; its annotations name the three artifacts, each an
    // artifact manifest whose subject is the image.
    let idx = index(&layout);
    let entries = idx["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{idx}");
    assert_eq!(entries[0]["digest"], d1.as_str());
    assert_eq!(
        entries[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    for (key, artifact_type) in [
        ("spdx", "application/spdx+json"),
        ("cyclonedx", "application/vnd.cyclonedx+json"),
        ("plan", "application/vnd.kiln.plan.v1+json"),
    ] {
        let a = entries[0]["annotations"][format!("dev.kiln.artifact.{key}")]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} annotation in {idx}"));
        let m = json_blob(&layout, a);
        assert_eq!(m["artifactType"], artifact_type);
        assert_eq!(m["subject"]["digest"], d1.as_str());
    }

    // skopeo without a tag, and oci-archive likewise.
    assert_eq!(
        skopeo_inspect(&format!("oci:{}", layout.display()))["Digest"],
        d1.as_str()
    );
    let oa = t.path().join("img.tar");
    build(
        &d.join("kiln.toml"),
        &format!("oci-archive:{}:v1", oa.display()),
    );
    assert_eq!(
        skopeo_inspect(&format!("oci-archive:{}", oa.display()))["Digest"],
        d1.as_str()
    );
    // umoci, and kiln's own readers.
    let rootfs = unpack(&layout, "v1", &t.path().join("b1"));
    assert!(rootfs.join("usr/local/bin/hello").is_file());
    sboms_name(&format!("oci:{}:v1", layout.display()), &d1);
    sboms_name(&format!("oci-archive:{}:v1", oa.display()), &d1);

    // A second tag of another image: each tag reads as its own image in all three tools.
    std::fs::write(
        d.join("hello.c"),
        std::fs::read_to_string(d.join("hello.c"))
            .unwrap()
            .replace("hello from a static binary", "hello from v2"),
    )
    .unwrap();
    compile(&d);
    let d2 = manifest_digest(&build(
        &d.join("kiln.toml"),
        &format!("oci:{}:v2", layout.display()),
    ));
    assert_ne!(d1, d2);
    assert_eq!(index(&layout)["manifests"].as_array().unwrap().len(), 2);
    for (tag, digest) in [("v1", &d1), ("v2", &d2)] {
        let spec = format!("oci:{}:{tag}", layout.display());
        assert_eq!(skopeo_inspect(&spec)["Digest"], digest.as_str(), "{tag}");
        let rootfs = unpack(&layout, tag, &t.path().join(format!("u-{tag}")));
        let (_, config) = image(&layout, tag);
        let out = run_in_chroot(&rootfs, &config, None);
        check(&out, tag);
        let want = if tag == "v1" { "static binary" } else { "v2" };
        assert!(String::from_utf8_lossy(&out.stdout).contains(want), "{tag}");
        sboms_name(&spec, digest);
    }
}

/// `kiln sbom` of `spec` in both formats: each names the image `digest`.
fn sboms_name(spec: &str, digest: &str) {
    for format in ["spdx", "cyclonedx"] {
        let out = run(
            kiln().args(["sbom", "--format", format, spec]),
            &format!("kiln sbom --format {format} {spec}"),
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        let key = if format == "spdx" {
            "spdxVersion"
        } else {
            "bomFormat"
        };
        assert!(v.get(key).is_some(), "{format}: {out}");
        assert!(out.contains(digest), "{format} of {spec} names {digest}");
    }
    let o = kiln()
        .args(["explain", spec, "/usr/local/bin/hello"])
        .output()
        .unwrap();
    check(&o, "kiln explain");
}

/// The entrypoint check judges permissions by the image's primary `uid:gid` only (plan::check).
/// That is what runs: kiln writes the config's `User` as numeric `uid:gid`, and a runtime adds
/// supplementary groups from `/etc/group` only for a user given by name. Proven with podman and
/// runc on an image whose `nonroot` is a member of another group.
#[test]
fn the_image_user_runs_without_supplementary_groups() {
    let t = tempdir();
    let d = t.path().join("sg");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(require("busybox"), d.join("busybox")).unwrap();
    std::fs::write(
        d.join("kiln.toml"),
        r#"[image]
name = "sg"
entrypoint = ["/bin/busybox", "id"]
user = "nonroot"

[[component]]
name = "busybox"
kind = "file"
from = "busybox"
to = "/bin/busybox"
mode = "0755"
why = "prints the ids the process runs with"

[[component]]
name = "accounts"
kind = "accounts"
groups = [{ name = "extra", gid = 4000, members = ["nonroot"] }]
why = "nonroot is also a member of extra"
"#,
    )
    .unwrap();
    let archive = t.path().join("sg.tar");
    build(
        &d.join("kiln.toml"),
        &format!("docker-archive:{}:kiln-test/sg:v1", archive.display()),
    );
    let podman = Podman {
        dir: t.path().join("pm"),
    };
    let name = podman.load(&archive);
    assert_eq!(podman.user(&name), "65532:65532");
    assert_eq!(
        podman.run(&name).trim(),
        "uid=65532(nonroot) gid=65532(nonroot) groups=65532(nonroot)"
    );
}
