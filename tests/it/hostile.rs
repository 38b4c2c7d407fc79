//! Hostile layouts and archives (issue 9): every blob kiln reads is checked against its
//! descriptor, nothing outside the layout is read or written, archives with `..`, absolute
//! names or links are refused by entry name, a tag on a config or layer blob cannot be signed,
//! and JSON is bounded before it is parsed. Each case runs the real `kiln` and asserts the exact
//! refusal: exit 1, one `error:` naming the problem, no panic, nothing written where it should
//! not be.

use crate::util::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "hostile-Pa55";

/// A one-file image (no compiler needed).
pub(crate) fn tiny_manifest(dir: &Path, note: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let m = dir.join("kiln.toml");
    std::fs::write(
        &m,
        format!(
            "[image]\nname = \"tiny\"\n\n[[component]]\nname = \"note\"\nkind = \"file\"\ncontent = \"{note}\"\nto = \"/etc/note\"\nwhy = \"a file the tests can tell apart\"\n"
        ),
    )
    .unwrap();
    m
}

/// A layout at `t/NAME` with the tiny image tagged `v1`.
pub(crate) fn tiny_layout(t: &Path, name: &str) -> PathBuf {
    let m = tiny_manifest(&t.join(format!("{name}-src")), name);
    let dir = t.join(name);
    build(&m, &format!("oci:{}:v1", dir.display()));
    dir
}

pub(crate) fn kiln_pw() -> Command {
    let mut c = kiln();
    c.env("KILN_PASSWORD", PASSWORD)
        .env_remove("COSIGN_PASSWORD");
    c
}

pub(crate) fn key_pair(t: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = t.join(name);
    let o = kiln_pw()
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&prefix)
        .output()
        .unwrap();
    check(&o, "kiln generate-key-pair");
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

/// Asserts a clean refusal: exit 1, stderr starting `error: ` and containing every `want`, no
/// panic, nothing on stdout.
pub(crate) fn refused(o: &Output, what: &str, want: &[&str]) -> String {
    refused_with(o, 1, what, want)
}

/// As [`refused`], for a verification that ran and found nothing valid: exit 3.
fn unverified(o: &Output, what: &str, want: &[&str]) -> String {
    refused_with(o, 3, what, want)
}

fn refused_with(o: &Output, code: i32, what: &str, want: &[&str]) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{what}: exit code\n{e}");
    assert!(e.starts_with("error: "), "{what}: {e}");
    assert!(
        !e.contains("panicked") && !e.contains("internal error"),
        "{what}: {e}"
    );
    assert!(
        o.stdout.is_empty(),
        "{what}: stdout {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!e.contains(PASSWORD), "{what}: the password leaked");
    for w in want {
        assert!(e.contains(w), "{what}: expected {w:?} in\n{e}");
    }
    e
}

fn index(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

fn write_index(dir: &Path, v: &Value) {
    std::fs::write(dir.join("index.json"), serde_json::to_vec(v).unwrap()).unwrap();
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The index entry naming the SPDX artifact (the tagged image's), and the artifact's content
/// layer's digest.
fn spdx(dir: &Path) -> (usize, String) {
    let idx = index(dir);
    let (i, entry) = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, m)| m["annotations"]["dev.kiln.artifact.spdx"].is_string())
        .unwrap();
    let m = json_blob(
        dir,
        entry["annotations"]["dev.kiln.artifact.spdx"]
            .as_str()
            .unwrap(),
    );
    (i, m["layers"][0]["digest"].as_str().unwrap().to_string())
}

fn sbom(spec: &str) -> Output {
    kiln().args(["sbom", spec]).output().unwrap()
}

/// Replaces the bytes of a blob with others of the same length (root may write read-only files).
fn tamper(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0x20;
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, b).unwrap();
}

#[test]
fn layout_digests_are_validated_before_they_become_paths() {
    let t = tempdir();
    let secret = t.path().join("secret.txt");
    std::fs::write(&secret, "top secret\n").unwrap();
    for (i, bad) in [
        "sha256:../../secret.txt".to_string(),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha384:{}", "a".repeat(96)),
        format!("sha256:{}/", "a".repeat(64)),
        format!("sha512:{}", "a".repeat(64)),
        "md5:d41d8cd98f00b204e9800998ecf8427e".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let dir = tiny_layout(t.path(), &format!("digest{i}"));
        let (n, _) = spdx(&dir);
        let mut idx = index(&dir);
        idx["manifests"][n]["annotations"]["dev.kiln.artifact.spdx"] = json!(bad);
        write_index(&dir, &idx);
        let spec = format!("oci:{}:v1", dir.display());
        let e = refused(&sbom(&spec), bad, &["not a digest"]);
        assert!(!e.contains("top secret"), "{e}");
        // The same index refuses push before any connection is made.
        let o = kiln()
            .args(["push", &spec, "docker://127.0.0.1:9/x:v1"])
            .output()
            .unwrap();
        refused(&o, bad, &["not a digest"]);
    }
}

#[test]
fn blobs_are_checked_against_their_descriptor_on_every_read() {
    let t = tempdir();
    // sbom: the content layer tampered (same size), then resized.
    let dir = tiny_layout(t.path(), "content");
    let (_, layer) = spdx(&dir);
    tamper(&blob_path(&dir, &layer));
    let e = refused(
        &sbom(&format!("oci:{}:v1", dir.display())),
        "tampered sbom",
        &["does not match its digest", &layer, "hash to sha256:"],
    );
    assert!(e.lines().count() <= 3, "{e}");
    let mut b = std::fs::read(blob_path(&dir, &layer)).unwrap();
    b.push(b'\n');
    std::fs::write(blob_path(&dir, &layer), b).unwrap();
    refused(
        &sbom(&format!("oci:{}:v1", dir.display())),
        "resized sbom",
        &["its descriptor says"],
    );

    // explain: the plan artifact tampered.
    let dir = tiny_layout(t.path(), "plan");
    let idx = index(&dir);
    let plan = idx["manifests"][0]["annotations"]["dev.kiln.artifact.plan"]
        .as_str()
        .unwrap();
    let pm = json_blob(&dir, plan);
    tamper(&blob_path(
        &dir,
        pm["layers"][0]["digest"].as_str().unwrap(),
    ));
    let o = kiln()
        .args(["explain", &format!("oci:{}:v1", dir.display()), "/etc/note"])
        .output()
        .unwrap();
    refused(&o, "tampered plan", &["does not match its digest"]);

    // The image manifest tampered: sign, verify, push and sbom all refuse.
    let (key, pubkey) = key_pair(t.path(), "k");
    let dir = tiny_layout(t.path(), "manifest");
    let top = layout_digest(&dir, "v1");
    tamper(&blob_path(&dir, &top));
    let spec = format!("oci:{}:v1", dir.display());
    let before = std::fs::read(dir.join("index.json")).unwrap();
    let o = kiln_pw()
        .args(["sign", "--identity", "registry.example/test/app", "--key"])
        .arg(&key)
        .arg(&spec)
        .output()
        .unwrap();
    refused(
        &o,
        "sign a tampered manifest",
        &["does not match its digest", &top],
    );
    assert_eq!(
        std::fs::read(dir.join("index.json")).unwrap(),
        before,
        "sign wrote nothing"
    );
    let o = kiln()
        .args(["verify", "--key"])
        .arg(&pubkey)
        .arg(&spec)
        .output()
        .unwrap();
    refused(
        &o,
        "verify a tampered manifest",
        &["does not match its digest"],
    );
    let o = kiln()
        .args(["push", &spec, "docker://127.0.0.1:9/x:v1"])
        .output()
        .unwrap();
    refused(
        &o,
        "push a tampered manifest",
        &["does not match its digest"],
    );
    refused(
        &sbom(&spec),
        "sbom under a tampered manifest",
        &["does not match its digest"],
    );

    // A missing layer: push says which.
    let dir = tiny_layout(t.path(), "missing");
    let (m, _) = image(&dir, "v1");
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    std::fs::remove_file(blob_path(&dir, layer)).unwrap();
    let o = kiln()
        .args([
            "push",
            &format!("oci:{}:v1", dir.display()),
            "docker://127.0.0.1:9/x:v1",
        ])
        .output()
        .unwrap();
    refused(&o, "push with a missing layer", &["is missing", layer]);

    // A signature payload tampered after signing: verify names it.
    let dir = tiny_layout(t.path(), "sig");
    let spec = format!("oci:{}:v1", dir.display());
    check(
        &kiln_pw()
            .args(["sign", "--identity", "registry.example/test/app", "--key"])
            .arg(&key)
            .arg(&spec)
            .output()
            .unwrap(),
        "kiln sign",
    );
    let sig = layout_digest(
        &dir,
        &format!(
            "sha256-{}.sig",
            layout_digest(&dir, "v1").trim_start_matches("sha256:")
        ),
    );
    let sm = json_blob(&dir, &sig);
    tamper(&blob_path(
        &dir,
        sm["layers"][0]["digest"].as_str().unwrap(),
    ));
    let o = kiln()
        .args(["verify", "--key"])
        .arg(&pubkey)
        .arg(&spec)
        .output()
        .unwrap();
    unverified(
        &o,
        "verify a tampered signature",
        &["does not match its digest"],
    );
}

#[test]
fn links_and_special_files_in_a_layout_are_refused() {
    let t = tempdir();
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();

    // The SBOM blob a symbolic link to a file outside.
    let dir = tiny_layout(t.path(), "symlink-blob");
    let (_, layer) = spdx(&dir);
    let p = blob_path(&dir, &layer);
    std::fs::remove_file(&p).unwrap();
    std::os::unix::fs::symlink(outside.join("passwd"), &p).unwrap();
    let e = refused(
        &sbom(&format!("oci:{}:v1", dir.display())),
        "symlinked blob",
        &["symbolic link"],
    );
    assert!(!e.contains("root:x:0:0"), "{e}");

    // A hard link (same content: the digest check alone would pass).
    let dir = tiny_layout(t.path(), "hardlink-blob");
    let (_, layer) = spdx(&dir);
    let p = blob_path(&dir, &layer);
    let copy = outside.join("sbom-copy");
    std::fs::copy(&p, &copy).unwrap();
    std::fs::remove_file(&p).unwrap();
    std::fs::hard_link(&copy, &p).unwrap();
    refused(
        &sbom(&format!("oci:{}:v1", dir.display())),
        "hard-linked blob",
        &["hard link"],
    );

    // index.json a symbolic link.
    let dir = tiny_layout(t.path(), "symlink-index");
    let real = outside.join("index.json");
    std::fs::rename(dir.join("index.json"), &real).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("index.json")).unwrap();
    let spec = format!("oci:{}:v1", dir.display());
    refused(
        &sbom(&spec),
        "symlinked index",
        &["index.json", "symbolic link"],
    );
    // A build into it refuses too, and leaves the outside index alone.
    let before = std::fs::read(&real).unwrap();
    let m = tiny_manifest(&t.path().join("again"), "again");
    let o = kiln()
        .args(["build"])
        .arg(&m)
        .args(["--output", &format!("oci:{}:v2", dir.display())])
        .output()
        .unwrap();
    refused(&o, "build into a symlinked index", &["symbolic link"]);
    assert_eq!(std::fs::read(&real).unwrap(), before);

    // blobs/sha256 a symbolic link to a folder outside: build refuses to write through it.
    let dir = tiny_layout(t.path(), "symlink-blobs");
    let moved = outside.join("blobs-sha256");
    std::fs::rename(dir.join("blobs/sha256"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, dir.join("blobs/sha256")).unwrap();
    let n = std::fs::read_dir(&moved).unwrap().count();
    let o = kiln()
        .args(["build"])
        .arg(&m)
        .args(["--output", &format!("oci:{}:v2", dir.display())])
        .output()
        .unwrap();
    refused(
        &o,
        "build through a symlinked blobs folder",
        &["blobs/sha256", "symbolic link"],
    );
    assert_eq!(
        std::fs::read_dir(&moved).unwrap().count(),
        n,
        "nothing written outside"
    );
    refused(
        &sbom(&format!("oci:{}:v1", dir.display())),
        "sbom via symlinked blobs",
        &["symbolic link"],
    );

    // A FIFO as a blob: refused, never blocks.
    let dir = tiny_layout(t.path(), "fifo");
    let (_, layer) = spdx(&dir);
    let p = blob_path(&dir, &layer);
    std::fs::remove_file(&p).unwrap();
    run(Command::new("mkfifo").arg(&p), "mkfifo");
    refused(
        &sbom(&format!("oci:{}:v1", dir.display())),
        "fifo blob",
        &["named pipe"],
    );

    // No oci-layout file: not a layout (and a build does not write into it).
    let dir = tiny_layout(t.path(), "no-layout-file");
    std::fs::remove_file(dir.join("oci-layout")).unwrap();
    refused(
        &sbom(&format!("oci:{}:v1", dir.display())),
        "no oci-layout",
        &["not an OCI image layout"],
    );
}

#[test]
fn a_signature_is_only_ever_about_a_manifest() {
    let t = tempdir();
    let (key, _) = key_pair(t.path(), "k");
    let dir = tiny_layout(t.path(), "img");
    let (m, _) = image(&dir, "v1");
    // Tags that point at the config blob and at a layer blob (right sizes, right digests).
    let mut idx = index(&dir);
    for (tag, d) in [("cfg", &m["config"]), ("layer", &m["layers"][0])] {
        idx["manifests"].as_array_mut().unwrap().push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d["digest"], "size": d["size"],
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
    }
    write_index(&dir, &idx);
    for tag in ["cfg", "layer"] {
        let before = std::fs::read(dir.join("index.json")).unwrap();
        let o = kiln_pw()
            .args(["sign", "--identity", "registry.example/test/app", "--key"])
            .arg(&key)
            .arg(format!("oci:{}:{tag}", dir.display()))
            .output()
            .unwrap();
        refused(
            &o,
            tag,
            &["is not an image manifest or index", "cannot be signed"],
        );
        assert_eq!(
            std::fs::read(dir.join("index.json")).unwrap(),
            before,
            "{tag}: nothing written"
        );
    }
    // A tag that names nothing.
    let o = kiln_pw()
        .args(["sign", "--identity", "registry.example/test/app", "--key"])
        .arg(&key)
        .arg(format!("oci:{}:nope", dir.display()))
        .output()
        .unwrap();
    // A tag miss lists the tags there are.
    refused(
        &o,
        "unknown tag",
        &["no image tagged `nope` (tags: v1, cfg, layer)"],
    );
    // The image is checked before the key's password is asked for: with no password in the
    // environment and no terminal, the error is about the tag, not the password.
    let o = kiln()
        .env_remove("KILN_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .stdin(std::process::Stdio::null())
        .args(["sign", "--identity", "registry.example/test/app", "--key"])
        .arg(&key)
        .arg(format!("oci:{}:nope", dir.display()))
        .output()
        .unwrap();
    let e = refused(&o, "unknown tag, no password", &["no image tagged"]);
    assert!(!e.to_lowercase().contains("password"), "{e}");
}

#[test]
fn hostile_index_json_is_bounded() {
    let t = tempdir();
    // A sparse 4 GiB index.json: refused by its size, before a byte is read.
    let dir = tiny_layout(t.path(), "huge");
    let f = std::fs::File::create(dir.join("index.json")).unwrap();
    f.set_len(4 << 30).unwrap();
    let (o, rss) = with_peak_rss(kiln().args(["sbom", &format!("oci:{}:v1", dir.display())]));
    refused(&o, "huge index", &["more than an index.json may"]);
    assert!(rss < 100 << 20, "peak RSS {rss}");
    // Deeply nested, duplicate keys, wrong shapes, not JSON: one message each, bounded memory.
    let deep = format!("{{\"manifests\":{}", "[".repeat(8 << 20));
    let flood = format!(
        "{{\"schemaVersion\":2,\"manifests\":[{}]}}",
        vec![r#"{"x":[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]}"#; 300_000].join(",")
    );
    for (name, text, want) in [
        ("deep", deep.as_str(), "invalid JSON"),
        ("flood", flood.as_str(), "entry 1 of `manifests`"),
        ("dup", r#"{"manifests":[],"manifests":[]}"#, "twice"),
        ("shape", r#"{"manifests":{"a":1}}"#, "not an array"),
        ("version", r#"{"schemaVersion":1,"manifests":[]}"#, "not 2"),
        ("junk", "\u{0}\u{1}not json", "invalid JSON"),
    ] {
        let dir = tiny_layout(t.path(), name);
        std::fs::write(dir.join("index.json"), text).unwrap();
        let (o, rss) = with_peak_rss(kiln().args(["sbom", &format!("oci:{}:v1", dir.display())]));
        refused(&o, name, &[want]);
        assert!(rss < 100 << 20, "{name}: peak RSS {rss}");
    }
}

/// Runs `cmd` under GNU time; returns its output and peak RSS in bytes.
pub(crate) fn with_peak_rss(cmd: &mut Command) -> (Output, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let prog = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut c = Command::new(require("time"));
    c.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(prog)
        .args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let o = c.output().unwrap();
    let kib: u64 = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(u64::MAX / 1024);
    (o, kib * 1024)
}

/// Writes a tar of `entries` (name, type, data, link name) with raw names (the tar crate's
/// builder refuses `..`, which is what these tests need).
pub(crate) type RawEntry = (String, tar::EntryType, Vec<u8>, String);

pub(crate) fn raw_tar(path: &Path, entries: &[RawEntry]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

/// The entries of an oci-archive kiln built: (name, data).
fn archive_entries(file: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut a = tar::Archive::new(std::fs::File::open(file).unwrap());
    let mut v = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        v.push((name, data));
    }
    v
}

#[test]
fn hostile_archives_are_refused_by_entry_name() {
    use tar::EntryType as T;
    let t = tempdir();
    let (key, _) = key_pair(t.path(), "k");
    let m = tiny_manifest(&t.path().join("src"), "archive");
    let good = t.path().join("good.tar");
    build(&m, &format!("oci-archive:{}:v1", good.display()));
    let entries = archive_entries(&good);
    let e = |n: &str, k: T, d: &[u8], l: &str| -> RawEntry {
        (n.to_string(), k, d.to_vec(), l.to_string())
    };
    let with = |extra: Vec<RawEntry>| {
        let mut all: Vec<RawEntry> = entries
            .iter()
            .map(|(n, d)| e(n, T::Regular, d, ""))
            .collect();
        all.extend(extra);
        all
    };
    let victim = t.path().join("victim");
    let blob_name = entries
        .iter()
        .find(|(n, _)| n.starts_with("blobs/sha256/"))
        .unwrap()
        .0
        .clone();
    let cases: Vec<(&str, Vec<RawEntry>, Vec<&str>)> = vec![
        (
            "dotdot",
            with(vec![e("blobs/../../victim", T::Regular, b"x", "")]),
            vec!["blobs/../../victim", "`..`"],
        ),
        (
            "absolute",
            with(vec![e("/tmp/kiln-hostile-abs", T::Regular, b"x", "")]),
            vec!["/tmp/kiln-hostile-abs", "absolute"],
        ),
        (
            "symlink",
            with(vec![e("evil", T::Symlink, b"", "/etc/passwd")]),
            vec!["\"evil\"", "symbolic link"],
        ),
        (
            "hardlink",
            with(vec![e("evil", T::Link, b"", "index.json")]),
            vec!["\"evil\"", "hard link"],
        ),
        (
            "device",
            with(vec![e("dev", T::Char, b"", "")]),
            vec!["\"dev\"", "device"],
        ),
        (
            "fifo",
            with(vec![e("pipe", T::Fifo, b"", "")]),
            vec!["\"pipe\"", "named pipe"],
        ),
        (
            "twice",
            with(vec![e("index.json", T::Regular, b"{\"manifests\":[]}", "")]),
            vec!["index.json", "twice"],
        ),
        (
            "bad-blob-name",
            with(vec![e("blobs/sha256/not-a-digest", T::Regular, b"x", "")]),
            vec!["not-a-digest", "valid digest"],
        ),
        (
            "wrong-content",
            entries
                .iter()
                .map(|(n, d)| {
                    let mut d = d.clone();
                    if *n == blob_name {
                        let l = d.len() - 1;
                        d[l] ^= 1;
                    }
                    (n.clone(), T::Regular, d, String::new())
                })
                .collect(),
            vec![blob_name.as_str(), "hash to"],
        ),
    ];
    for (name, entries, want) in cases {
        let file = t.path().join(format!("{name}.tar"));
        raw_tar(&file, &entries);
        let spec = format!("oci-archive:{}:v1", file.display());
        let before = std::fs::read(&file).unwrap();
        let mut want_sign = want.clone();
        want_sign.retain(|w| *w != "hash to" || name == "wrong-content");
        let o = kiln_pw()
            .args(["sign", "--identity", "registry.example/test/app", "--key"])
            .arg(&key)
            .arg(&spec)
            .output()
            .unwrap();
        refused(&o, &format!("{name}: sign"), &want_sign);
        let o = kiln()
            .args(["push", &spec, "docker://127.0.0.1:9/x:v1"])
            .output()
            .unwrap();
        refused(&o, &format!("{name}: push"), &want);
        if name != "wrong-content" {
            // sbom reads in place: the content check comes when the blob is read.
            refused(&sbom(&spec), &format!("{name}: sbom"), &want);
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{name}: the archive is unchanged"
        );
        assert!(!victim.exists(), "{name}: wrote outside");
        assert!(
            !Path::new("/tmp/kiln-hostile-abs").exists(),
            "{name}: wrote an absolute path"
        );
    }
    // A truncated archive and a file that is not tar at all.
    let bytes = std::fs::read(&good).unwrap();
    let cut = t.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 100]).unwrap();
    refused(
        &sbom(&format!("oci-archive:{}:v1", cut.display())),
        "truncated",
        &["not a valid tar archive"],
    );
    let junk = t.path().join("junk.tar");
    std::fs::write(&junk, vec![0x41u8; 4096]).unwrap();
    refused(
        &sbom(&format!("oci-archive:{}:v1", junk.display())),
        "junk",
        &["not a valid tar archive"],
    );

    // A docker-archive whose SBOM entry is a link out of it.
    let da = t.path().join("docker.tar");
    raw_tar(
        &da,
        &[e("kiln/sbom.spdx.json", T::Symlink, b"", "/etc/shadow")],
    );
    refused(
        &sbom(&format!("docker-archive:{}", da.display())),
        "docker-archive link",
        &["kiln/sbom.spdx.json", "symbolic link"],
    );
}

#[test]
fn image_names_cannot_place_output_outside_out() {
    let t = tempdir();
    for name in ["ok/../../x", "../x", "a/./b", "a//b", "/abs"] {
        let d = t.path().join("proj");
        std::fs::create_dir_all(&d).unwrap();
        let m = d.join("kiln.toml");
        std::fs::write(
            &m,
            format!("[image]\nname = \"{name}\"\n\n[[component]]\nname = \"note\"\nkind = \"file\"\ncontent = \"x\"\nto = \"/etc/note\"\nwhy = \"a file\"\n"),
        )
        .unwrap();
        let o = kiln()
            .args(["build"])
            .arg(&m)
            .current_dir(&d)
            .output()
            .unwrap();
        refused(&o, name, &["is not a valid repository name"]);
        assert!(
            !t.path().join("x").exists() && !d.join("out").exists(),
            "{name}: nothing written"
        );
    }
}
