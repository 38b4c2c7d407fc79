//! Issue 11 §1: the Plan carries its platform, never the build host's. A manifest gives the
//! same image on an amd64 and an arm64 host: the platform comes from `[image] platforms`, else
//! from the ELF files the Plan ships, else it is `linux/amd64` (documented in docs/manifest.md).

use crate::util::*;
use std::path::Path;

/// A manifest with no ELF file and no host input: one directory.
fn dir_only(platforms: &str) -> String {
    format!(
        r#"
[image]
name = "dir-only"
{platforms}

[[component]]
name = "tmp"
kind = "dir"
to = "/tmp"
mode = "1777"
why = "scratch space"
"#
    )
}

/// Builds `text` into `oci:DIR:t` twice (fresh folders); returns the digest and the config.
fn build_twice(t: &Path, name: &str, text: &str) -> (String, serde_json::Value) {
    let dir = t.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kiln.toml"), text).unwrap();
    let mut digests = Vec::new();
    for run in ["a", "b"] {
        let layout = dir.join(run);
        let s = build(
            &dir.join("kiln.toml"),
            &format!("oci:{}:t", layout.display()),
        );
        digests.push(manifest_digest(&s));
    }
    assert_eq!(digests[0], digests[1], "{name}: two builds differ");
    let (_, config) = image(&dir.join("a"), "t");
    (digests.remove(0), config)
}

/// The digests below hold on every build host: nothing in them comes from the host. Before
/// issue 11 the second fell back to the host's architecture (`arm64` on an arm64 host).
const ARM64_DIR_ONLY: &str =
    "sha256:ce56a0096383f5f663f77438d13426cb20545a0d2d82ea94c9320ad2e0f067c4";
const DEFAULT_DIR_ONLY: &str =
    "sha256:6122d89acb5831363f9c98c6ee00a2dfd0a983e7f6b9bc971fb7412b4b0c0b00";

#[test]
fn issue11_a_dir_only_manifest_gives_one_digest_on_every_host() {
    let t = tempdir();
    let (digest, config) = build_twice(
        t.path(),
        "arm64",
        &dir_only(r#"platforms = ["linux/arm64"]"#),
    );
    assert_eq!(config["architecture"], "arm64", "{config}");
    assert_eq!(config["os"], "linux", "{config}");
    assert_eq!(digest, ARM64_DIR_ONLY);
    let (digest, config) = build_twice(t.path(), "default", &dir_only(""));
    assert_eq!(config["architecture"], "amd64", "{config}");
    assert_eq!(digest, DEFAULT_DIR_ONLY);
}

/// The build host's architecture is read in one place, `types::Arch::host`, and only to pick
/// which image of an index to read or show (`image::read`, `oci::inspect`); never by what
/// builds an image.
#[test]
fn issue11_only_the_index_reader_asks_for_the_host_architecture() {
    let mut readers = Vec::new();
    let mut callers = Vec::new();
    let mut stack = vec![repo().join("src")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let rel = p.strip_prefix(repo()).unwrap().display().to_string();
        if text.contains("consts::ARCH") {
            readers.push(rel.clone());
        }
        if text.contains("Arch::host()") && rel != "src/types.rs" {
            callers.push(rel);
        }
    }
    assert_eq!(readers, ["src/types.rs"]);
    callers.sort();
    assert_eq!(callers, ["src/image/read.rs", "src/oci/inspect.rs"]);
}

/// A copy of a host program with another ELF `e_machine` (offset 18, little-endian).
fn with_machine(t: &Path, machine: u16) -> std::path::PathBuf {
    let mut bytes = std::fs::read("/bin/true").unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    let out = t.join(format!("prog-{machine}"));
    std::fs::write(&out, bytes).unwrap();
    out
}

fn unresolved_elf(t: &Path, machine: u16) -> std::path::PathBuf {
    let prog = with_machine(t, machine);
    let manifest = t.join(format!("kiln-{machine}.toml"));
    std::fs::write(
        &manifest,
        format!(
            r#"
[image]
name = "unresolved"

[[component]]
name = "prog"
kind = "elf"
from = "{}"
to = "/usr/bin/prog"
resolve = false
why = "a program whose libraries another component ships"
"#,
            prog.file_name().unwrap().to_string_lossy()
        ),
    )
    .unwrap();
    manifest
}

/// An ELF file shipped with `resolve = false` still says the image's architecture; a machine
/// kiln builds no image for is an error, not the host's architecture.
#[test]
fn issue11_an_unresolved_elf_file_gives_the_platform() {
    let t = tempdir();
    let manifest = unresolved_elf(t.path(), 183);
    build(
        &manifest,
        &format!("oci:{}:t", t.path().join("img").display()),
    );
    let (_, config) = image(&t.path().join("img"), "t");
    assert_eq!(config["architecture"], "arm64", "{config}");

    let manifest = unresolved_elf(t.path(), 8);
    let out = kiln()
        .arg("build")
        .arg(&manifest)
        .args([
            "--output",
            &format!("oci:{}:m", t.path().join("m").display()),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error: cannot tell the image's platform: /usr/bin/prog is an ELF file for mips, which kiln builds no image for"
        ) && stderr.contains("hint: kiln builds for linux/amd64, linux/arm64"),
        "{stderr}"
    );
}
