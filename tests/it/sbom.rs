//! The scoped SBOM, the lock and `kiln explain`, each checked against a truth kiln does not
//! compute: the unpacked image (umoci), the SPDX and CycloneDX validators of the test bed's
//! venv, the host's dpkg database (`dpkg-query`, `md5sum`), `go version -m`, the Rust fixture's
//! Cargo.lock and `readelf`.

use crate::embedded::{
    build_go_fixture, build_rust_auditable_fixture, build_rust_plain_fixture, go_version_m, GoTemp,
};
use crate::util::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Validators and SBOM access

/// The test bed's Python venv with spdx-tools and cyclonedx-python-lib: `$KILN_TEST_VENV`
/// (exported by `cargo xtask test`); without it, `testbed_dir()/venv` where `cargo xtask
/// setup` creates it, except under CI=true, where a missing variable is an error.
fn venv() -> PathBuf {
    let dir = match std::env::var_os("KILN_TEST_VENV").filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => panic!(
            "KILN_TEST_VENV is not set (CI=true): run the suite with `cargo xtask test`, which \
             creates the venv of SBOM validators (spdx-tools, cyclonedx-python-lib) and exports it"
        ),
        None => testbed_dir().join("venv"),
    };
    for tool in ["bin/python", "bin/pyspdxtools"] {
        assert!(
            dir.join(tool).is_file(),
            "{} does not exist: the SBOM validators' venv is missing or incomplete; run \
             `cargo xtask setup` (or `cargo xtask test`), which installs spdx-tools and \
             cyclonedx-python-lib into it",
            dir.join(tool).display()
        );
    }
    dir
}

/// `pyspdxtools -i FILE` exits 0 and reports nothing invalid.
pub(crate) fn validate_spdx(file: &Path) {
    let out = Command::new(venv().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(file)
        .output()
        .expect("cannot start pyspdxtools");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lower = text.to_lowercase();
    assert!(
        out.status.success() && !lower.contains("invalid") && !lower.contains("error"),
        "pyspdxtools rejects {} ({}):\n{text}",
        file.display(),
        out.status
    );
}

/// tests/tools/cdx-validate.py (strict JSON schema, then the model's reference checks).
pub(crate) fn validate_cdx(file: &Path) {
    let out = Command::new(venv().join("bin/python"))
        .arg(repo().join("tests/tools/cdx-validate.py"))
        .arg(file)
        .output()
        .expect("cannot start the venv's python");
    check(&out, &format!("cdx-validate.py {}", file.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("valid CycloneDX 1.6"), "{stdout}");
}

/// The raw bytes `kiln sbom IMAGE --format FORMAT` prints.
fn sbom_bytes(image: &str, format: &str) -> Vec<u8> {
    let out = kiln()
        .args(["sbom", image, "--format", format])
        .output()
        .unwrap();
    check(&out, &format!("kiln sbom {image} --format {format}"));
    out.stdout
}

/// Both SBOMs of an image, written to files beside `stem` and validated.
struct Sboms {
    spdx: Value,
    cdx: Value,
    spdx_bytes: Vec<u8>,
    cdx_bytes: Vec<u8>,
}

fn sboms(image: &str, stem: &Path) -> Sboms {
    let spdx_bytes = sbom_bytes(image, "spdx");
    let cdx_bytes = sbom_bytes(image, "cyclonedx");
    let spdx_file = stem.with_extension("spdx.json");
    let cdx_file = stem.with_extension("cdx.json");
    std::fs::write(&spdx_file, &spdx_bytes).unwrap();
    std::fs::write(&cdx_file, &cdx_bytes).unwrap();
    validate_spdx(&spdx_file);
    validate_cdx(&cdx_file);
    Sboms {
        spdx: serde_json::from_slice(&spdx_bytes).expect("SPDX is JSON"),
        cdx: serde_json::from_slice(&cdx_bytes).expect("CycloneDX is JSON"),
        spdx_bytes,
        cdx_bytes,
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn arr(v: &Value) -> &[Value] {
    v.as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("not an array: {v}"))
}

/// A file of the SPDX document.
#[derive(Debug)]
struct SpdxFile {
    id: String,
    sha1: String,
    sha256: String,
    comment: String,
}

/// SPDX `files` by absolute image path (`fileName` is `./PATH`).
fn spdx_files(doc: &Value) -> BTreeMap<String, SpdxFile> {
    let mut out = BTreeMap::new();
    for f in arr(&doc["files"]) {
        let name = s(&f["fileName"]);
        let path = format!(
            "/{}",
            name.strip_prefix("./")
                .unwrap_or_else(|| panic!("SPDX fileName {name:?} is not ./PATH"))
        );
        let sums: BTreeMap<&str, &str> = arr(&f["checksums"])
            .iter()
            .map(|c| (s(&c["algorithm"]), s(&c["checksumValue"])))
            .collect();
        assert_eq!(
            sums.keys().copied().collect::<Vec<_>>(),
            ["SHA1", "SHA256"],
            "{f}"
        );
        let prev = out.insert(
            path.clone(),
            SpdxFile {
                id: s(&f["SPDXID"]).to_string(),
                sha1: sums["SHA1"].to_string(),
                sha256: sums["SHA256"].to_string(),
                comment: f["comment"].as_str().unwrap_or("").to_string(),
            },
        );
        assert!(prev.is_none(), "SPDX lists {path} twice");
    }
    out
}

/// (spdxElementId, relatedSpdxElement) of every SPDX relationship of `kind`.
fn spdx_rels<'a>(doc: &'a Value, kind: &str) -> Vec<(&'a str, &'a str)> {
    arr(&doc["relationships"])
        .iter()
        .filter(|r| r["relationshipType"] == kind)
        .map(|r| (s(&r["spdxElementId"]), s(&r["relatedSpdxElement"])))
        .collect()
}

/// SPDX packages by SPDXID.
fn spdx_packages(doc: &Value) -> BTreeMap<&str, &Value> {
    arr(&doc["packages"])
        .iter()
        .map(|p| (s(&p["SPDXID"]), p))
        .collect()
}

/// The purl of an SPDX package, if it has one.
fn spdx_purl(p: &Value) -> Option<&str> {
    p["externalRefs"]
        .as_array()?
        .iter()
        .find(|r| r["referenceType"] == "purl")
        .map(|r| s(&r["referenceLocator"]))
}

/// Every CycloneDX component, depth first, with the bom-ref of its parent ("" at the top).
fn cdx_all(doc: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(list: &'a Value, parent: &str, out: &mut Vec<(String, &'a Value)>) {
        for c in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            out.push((parent.to_string(), c));
            walk(&c["components"], s(&c["bom-ref"]), out);
        }
    }
    let mut out = Vec::new();
    walk(&doc["components"], "", &mut out);
    out
}

/// CycloneDX components of type `file` that stand for image paths (bom-ref `file:PATH`), by
/// path, with the bom-ref of the manifest component they are nested under.
fn cdx_files(doc: &Value) -> BTreeMap<String, (String, &Value)> {
    let mut out = BTreeMap::new();
    for (parent, c) in cdx_all(doc) {
        if c["type"] != "file" {
            continue;
        }
        let bom_ref = s(&c["bom-ref"]);
        if bom_ref.starts_with("component:") {
            continue; // a manifest component of kind `file`
        }
        let name = s(&c["name"]);
        assert_eq!(bom_ref, format!("file:{name}"), "{c}");
        assert!(name.starts_with('/'), "{c}");
        let prev = out.insert(name.to_string(), (parent, c));
        assert!(prev.is_none(), "CycloneDX lists {name} twice");
    }
    out
}

/// The value of the CycloneDX property `name` of `c`, if any (asserting there is one at most).
fn cdx_prop<'a>(c: &'a Value, name: &str) -> Option<&'a str> {
    let v: Vec<&str> = c["properties"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| s(&p["value"]))
        .collect();
    assert!(v.len() <= 1, "{name} twice in {c}");
    v.first().copied()
}

// ---------------------------------------------------------------------------------------------
// The unpacked image

/// A non-directory of the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File,
    Symlink(String),
}

/// Every regular file and symlink under `rootfs` (symlinks not followed), by image path; any
/// other file type fails.
fn rootfs_nodes(rootfs: &Path) -> BTreeMap<String, Node> {
    fn walk(dir: &Path, image: &str, out: &mut BTreeMap<String, Node>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().expect("UTF-8 file name");
            let path = format!("{}/{name}", image.trim_end_matches('/'));
            let meta = e.path().symlink_metadata().unwrap();
            let t = meta.file_type();
            if t.is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                out.insert(
                    path,
                    Node::Symlink(target.into_os_string().into_string().unwrap()),
                );
            } else if t.is_dir() {
                walk(&e.path(), &path, out);
            } else if t.is_file() {
                out.insert(path, Node::File);
            } else {
                panic!("{path} in the rootfs is neither a file, a symlink nor a directory");
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(rootfs, "/", &mut out);
    out
}

/// The host path of the in-image `path` with in-image symlinks resolved inside `rootfs` (an
/// absolute link never escapes to the host).
fn in_rootfs(rootfs: &Path, path: &str) -> PathBuf {
    rootfs.join(realpath_in(rootfs, path).trim_start_matches('/'))
}

fn sha1_sha256(bytes: &[u8]) -> (String, String) {
    use sha2::Digest as _;
    (
        hex::encode(sha1::Sha1::digest(bytes)),
        hex::encode(sha2::Sha256::digest(bytes)),
    )
}

/// Lists what differs between two key sets, for assertion messages.
fn set_diff<T: Ord + std::fmt::Debug>(sbom: &BTreeSet<T>, truth: &BTreeSet<T>) -> String {
    format!(
        "only in the SBOM: {:?}\nonly in the truth: {:?}",
        sbom.difference(truth).collect::<Vec<_>>(),
        truth.difference(sbom).collect::<Vec<_>>()
    )
}

/// The SBOMs list exactly the rootfs's files and symlinks, with their true hashes, and agree
/// with each other about which component placed each.
fn assert_exactly_the_rootfs(what: &str, sb: &Sboms, rootfs: &Path) {
    let nodes = rootfs_nodes(rootfs);
    assert!(nodes.len() > 10, "{what}: a suspiciously small rootfs");
    let truth: BTreeSet<&String> = nodes.keys().collect();

    // SPDX: every file and symlink, nothing else; SHA-1 and SHA-256 of the content, or of the
    // link text for a symlink (which the comment says).
    let files = spdx_files(&sb.spdx);
    let listed: BTreeSet<&String> = files.keys().collect();
    assert!(
        listed == truth,
        "{what}: SPDX files != rootfs\n{}",
        set_diff(&listed, &truth)
    );
    let mut sha1s = Vec::new();
    for (path, node) in &nodes {
        let f = &files[path];
        let bytes = match node {
            Node::File => std::fs::read(rootfs.join(&path[1..])).unwrap(),
            Node::Symlink(t) => {
                assert!(
                    f.comment.contains(&format!(
                        "symbolic link to {t} (checksums are of the link text)"
                    )),
                    "{what}: {path} -> {t}: {f:?}"
                );
                t.as_bytes().to_vec()
            }
        };
        let (sha1, sha256) = sha1_sha256(&bytes);
        assert_eq!(
            (&f.sha1, &f.sha256),
            (&sha1, &sha256),
            "{what}: SPDX checksums of {path} ({node:?})"
        );
        sha1s.push(sha1);
    }
    // The image package's verification code covers exactly these files (SPDX 2.3 §7.9).
    sha1s.sort();
    let code = {
        use sha2::Digest as _;
        hex::encode(sha1::Sha1::digest(sha1s.concat().as_bytes()))
    };
    let packages = spdx_packages(&sb.spdx);
    assert_eq!(
        s(&packages["SPDXRef-Image"]["packageVerificationCode"]["packageVerificationCodeValue"]),
        code,
        "{what}: the image's packageVerificationCode"
    );

    // CycloneDX: the same paths; hashes for files, the link target for symlinks.
    let cfiles = cdx_files(&sb.cdx);
    let clisted: BTreeSet<&String> = cfiles.keys().collect();
    assert!(
        clisted == truth,
        "{what}: CycloneDX files != rootfs\n{}",
        set_diff(&clisted, &truth)
    );
    for (path, node) in &nodes {
        let (_, c) = &cfiles[path];
        match node {
            Node::File => {
                let (sha1, sha256) = (&files[path].sha1, &files[path].sha256);
                let hashes: Vec<(&str, &str)> = arr(&c["hashes"])
                    .iter()
                    .map(|h| (s(&h["alg"]), s(&h["content"])))
                    .collect();
                assert_eq!(
                    hashes,
                    [("SHA-1", sha1.as_str()), ("SHA-256", sha256.as_str())],
                    "{what}: CycloneDX hashes of {path}"
                );
                assert_eq!(cdx_prop(c, "kiln:symlink-target"), None, "{c}");
            }
            Node::Symlink(t) => {
                assert_eq!(
                    cdx_prop(c, "kiln:symlink-target"),
                    Some(t.as_str()),
                    "{what}: {path}"
                );
                // Hashes of a link text would pass for content hashes: kiln gives none.
                assert!(c.get("hashes").is_none(), "{what}: {c}");
            }
        }
    }

    // Both formats say the same component placed each path.
    let spdx_component: BTreeMap<&str, &str> = spdx_rels(&sb.spdx, "CONTAINS")
        .into_iter()
        .filter_map(|(a, b)| Some((b, a.strip_prefix("SPDXRef-Component-")?)))
        .collect();
    for (path, (parent, c)) in &cfiles {
        let comp = cdx_prop(c, "kiln:component").expect("kiln:component");
        assert_eq!(*parent, format!("component:{comp}"), "{what}: {path}");
        let spdx = spdx_component
            .get(files[path].id.as_str())
            .unwrap_or_else(|| panic!("{what}: no component CONTAINS {path} in SPDX"));
        // SPDX IDs replace what is not [A-Za-z0-9.-] by `-`.
        let clean: String = comp
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        assert_eq!(*spdx, clean, "{what}: {path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Images

/// `kiln init /usr/bin/curl` into `dir/curl.toml`, built to `oci:dir/curl-img:latest`;
/// returns (manifest, layout).
fn curl_image(dir: &Path) -> (PathBuf, PathBuf) {
    let curl = require("curl");
    let m = dir.join("curl.toml");
    run(
        kiln()
            .arg("init")
            .arg(&curl)
            .args([
                "--why",
                "fetches health-check URLs for the platform team",
                "--output",
            ])
            .arg(&m),
        "kiln init",
    );
    let layout = dir.join("curl-img");
    build(&m, &format!("oci:{}:latest", layout.display()));
    (m, layout)
}

/// manifests/kiln.toml with its `from` pointing at this repository's target/release/kiln,
/// copied into `dir` (building the repository's own manifest would rewrite manifests/kiln.lock).
fn kiln_manifest(dir: &Path) -> PathBuf {
    let release = repo().join("target/release/kiln");
    assert!(
        release.is_file(),
        "{} does not exist: manifests/kiln.toml packages the release build; run `cargo build \
         --release` first (`cargo xtask test` does)",
        release.display()
    );
    let text = std::fs::read_to_string(repo().join("manifests/kiln.toml")).unwrap();
    assert!(text.contains("\"../target/release/kiln\""), "{text}");
    let text = text.replace(
        "\"../target/release/kiln\"",
        &format!("{:?}", release.display().to_string()),
    );
    let m = dir.join("kiln.toml");
    std::fs::write(&m, text).unwrap();
    m
}

// ---------------------------------------------------------------------------------------------
// 1. Width and hashes

#[test]
fn sboms_of_kiln_and_curl_are_valid_and_exactly_as_wide_as_the_image() {
    let started = Instant::now();
    let t = tempdir();
    let kiln_dir = t.path().join("kiln");
    std::fs::create_dir_all(&kiln_dir).unwrap();
    let km = kiln_manifest(&kiln_dir);
    let kiln_layout = kiln_dir.join("img");
    build(&km, &format!("oci:{}:latest", kiln_layout.display()));
    let curl_dir = t.path().join("curl");
    std::fs::create_dir_all(&curl_dir).unwrap();
    let (_, curl_layout) = curl_image(&curl_dir);

    for (what, layout, dir, main) in [
        ("kiln", &kiln_layout, &kiln_dir, "/usr/local/bin/kiln"),
        ("curl", &curl_layout, &curl_dir, "/usr/bin/curl"),
    ] {
        let sb = sboms(
            &format!("oci:{}:latest", layout.display()),
            &dir.join("sbom"),
        );
        // The SBOM describes this image: its manifest digest and name.
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let digest = arr(&index["manifests"])
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "latest")
            .map(|m| s(&m["digest"]).to_string())
            .unwrap();
        assert_eq!(
            s(&spdx_packages(&sb.spdx)["SPDXRef-Image"]["versionInfo"]),
            digest
        );
        assert_eq!(s(&sb.cdx["metadata"]["component"]["version"]), digest);
        assert_eq!(s(&sb.cdx["metadata"]["component"]["name"]), what);

        let rootfs = unpack(layout, "latest", &dir.join("bundle"));
        assert!(
            rootfs.join(&main[1..]).is_file(),
            "{main} in {what}'s rootfs"
        );
        if what == "kiln" {
            assert_eq!(
                sha256_file(&rootfs.join(&main[1..])),
                sha256_file(&repo().join("target/release/kiln")),
                "the image ships target/release/kiln"
            );
        }
        assert_exactly_the_rootfs(what, &sb, &rootfs);
        eprintln!(
            "sbom: {what}: {} paths checked, {} SPDX packages",
            rootfs_nodes(&rootfs).len(),
            arr(&sb.spdx["packages"]).len()
        );
    }
    eprintln!("sbom: width test {:.1}s", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// 2. Debian packages

/// `dpkg-query -W -f FORMAT NAME:ARCH` (or NAME) on this host.
fn dpkg_query(name: &str, arch: &str, format: &str) -> String {
    let dq = require("dpkg-query");
    for spec in [format!("{name}:{arch}"), name.to_string()] {
        let out = Command::new(&dq)
            .args(["-W", "-f", format])
            .arg(&spec)
            .output()
            .unwrap();
        if out.status.success() && !out.stdout.is_empty() {
            return String::from_utf8(out.stdout).unwrap();
        }
    }
    panic!("dpkg-query knows no package {name}:{arch} on this host");
}

/// `KEY=value` lines of an os-release file, quotes removed.
fn os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// Percent-decodes a purl component.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// `pkg:deb/debian/NAME@VERSION?k=v&...` -> (NAME, VERSION decoded, qualifiers).
fn parse_deb_purl(purl: &str) -> (String, String, BTreeMap<String, String>) {
    let rest = purl
        .strip_prefix("pkg:deb/debian/")
        .unwrap_or_else(|| panic!("{purl} is not pkg:deb/debian/..."));
    let (nv, q) = rest.split_once('?').unwrap_or((rest, ""));
    let (name, version) = nv.split_once('@').expect("a version");
    let quals = q
        .split('&')
        .filter(|x| !x.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), percent_decode(v))
        })
        .collect();
    (percent_decode(name), percent_decode(version), quals)
}

/// `md5  path` lines.
fn md5_lines(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (md5, path) = l.split_once("  ").unwrap_or_else(|| panic!("{l:?}"));
            (md5.to_string(), path.to_string())
        })
        .collect()
}

/// MD5 of each file, by one `md5sum` run.
fn md5sum(files: &[PathBuf]) -> Vec<String> {
    if files.is_empty() {
        return vec![];
    }
    let out = run(
        Command::new(require("md5sum")).arg("--").args(files),
        "md5sum",
    );
    let sums: Vec<String> = out
        .lines()
        .map(|l| {
            assert!(!l.starts_with('\\'), "md5sum escaped a name: {l}");
            l.split_once("  ").unwrap().0.to_string()
        })
        .collect();
    assert_eq!(sums.len(), files.len(), "{out}");
    sums
}

#[test]
fn curl_packages_match_dpkg_and_status_d() {
    let started = Instant::now();
    let t = tempdir();
    let (_, layout) = curl_image(t.path());
    let sb = sboms(
        &format!("oci:{}:latest", layout.display()),
        &t.path().join("sbom"),
    );
    let rootfs = unpack(&layout, "latest", &t.path().join("bundle"));
    let host_os = os_release(&std::fs::read_to_string("/etc/os-release").unwrap());
    assert_eq!(
        host_os.get("ID").map(String::as_str),
        Some("debian"),
        "this test needs a Debian build host"
    );
    let distro = format!("debian-{}", host_os["VERSION_ID"]);

    // SPDX: every package with a pkg:deb purl, as this host's dpkg database has it.
    let mut spdx_debs: BTreeMap<String, (String, String)> = BTreeMap::new();
    for p in arr(&sb.spdx["packages"]) {
        let Some(purl) = spdx_purl(p).filter(|u| u.starts_with("pkg:deb/")) else {
            continue;
        };
        let name = s(&p["name"]);
        let version = s(&p["versionInfo"]);
        let (pname, pversion, quals) = parse_deb_purl(purl);
        assert_eq!(pname, name, "{purl}");
        let arch = quals.get("arch").expect("an arch qualifier").clone();
        let host_version = dpkg_query(name, &arch, "${Version}");
        assert_eq!(version, host_version, "SPDX version of {name}:{arch}");
        assert_eq!(pversion, host_version, "purl version of {name}: {purl}");
        assert_eq!(
            arch,
            dpkg_query(name, &arch, "${Architecture}"),
            "arch of {name}"
        );
        assert_eq!(quals.get("distro"), Some(&distro), "{purl}");
        assert_eq!(
            s(&p["sourceInfo"]),
            format!(
                "built package from: {}",
                dpkg_query(name, &arch, "${source:Package} ${source:Version}")
            ),
            "source of {name}"
        );
        let prev = spdx_debs.insert(name.to_string(), (version.to_string(), purl.to_string()));
        assert!(prev.is_none(), "SPDX lists package {name} twice");
    }
    // curl itself, its libcurl and libc at least; the test would prove nothing without them.
    for must in ["curl", "libcurl4", "libc6"] {
        assert!(spdx_debs.contains_key(must), "{must} in {spdx_debs:?}");
    }

    // CycloneDX: the same packages, versions and purls.
    let cdx_debs: BTreeMap<String, (String, String)> = cdx_all(&sb.cdx)
        .into_iter()
        .filter(|(_, c)| {
            c["purl"]
                .as_str()
                .is_some_and(|u| u.starts_with("pkg:deb/"))
        })
        .map(|(_, c)| {
            (
                s(&c["name"]).to_string(),
                (s(&c["version"]).to_string(), s(&c["purl"]).to_string()),
            )
        })
        .collect();
    assert_eq!(cdx_debs, spdx_debs, "CycloneDX vs SPDX Debian packages");

    // status.d holds PKG and PKG.md5sums for exactly those packages.
    let status_d = rootfs.join("var/lib/dpkg/status.d");
    let present: BTreeSet<String> = std::fs::read_dir(&status_d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected: BTreeSet<String> = spdx_debs
        .keys()
        .flat_map(|n| [n.clone(), format!("{n}.md5sums")])
        .collect();
    assert!(
        present == expected,
        "status.d vs SBOM packages\n{}",
        set_diff(&present, &expected)
    );

    let mut to_hash: Vec<(String, PathBuf, String)> = Vec::new(); // (package, file, md5)
    for (name, (version, purl)) in &spdx_debs {
        let (_, _, quals) = parse_deb_purl(purl);
        let arch = &quals["arch"];
        let control = std::fs::read_to_string(status_d.join(name)).unwrap();
        let field = |k: &str| {
            control
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .map(str::to_string)
        };
        assert_eq!(
            field("Package").as_deref(),
            Some(name.as_str()),
            "{control}"
        );
        assert_eq!(field("Version").as_ref(), Some(version), "{control}");
        assert_eq!(field("Architecture").as_ref(), Some(arch), "{control}");

        // PKG.md5sums: exactly the lines of the host's md5sums whose files ship, each with the
        // MD5 of the file in the rootfs.
        let info = Path::new("/var/lib/dpkg/info");
        let host_md5 = [format!("{name}:{arch}.md5sums"), format!("{name}.md5sums")]
            .iter()
            .find_map(|f| std::fs::read_to_string(info.join(f)).ok())
            .unwrap_or_default();
        let ships = |path: &str| {
            in_rootfs(&rootfs, &format!("/{path}"))
                .symlink_metadata()
                .is_ok_and(|m| m.is_file())
        };
        let want: BTreeSet<(String, String)> = md5_lines(&host_md5)
            .into_iter()
            .filter(|(_, p)| ships(p))
            .collect();
        let got =
            md5_lines(&std::fs::read_to_string(status_d.join(format!("{name}.md5sums"))).unwrap());
        assert!(
            got == want,
            "status.d/{name}.md5sums vs the host's lines for the files that ship\n{}",
            set_diff(&got, &want)
        );
        for (md5, path) in got {
            to_hash.push((
                format!("{name}: {path}"),
                in_rootfs(&rootfs, &format!("/{path}")),
                md5,
            ));
        }
    }
    let files: Vec<PathBuf> = to_hash.iter().map(|(_, f, _)| f.clone()).collect();
    for ((what, _, md5), actual) in to_hash.iter().zip(md5sum(&files)) {
        assert_eq!(*md5, actual, "md5 of {what}");
    }
    assert!(
        to_hash.iter().any(|(w, _, _)| w.starts_with("curl: ")),
        "curl's md5sums list /usr/bin/curl"
    );

    // /etc/os-release names the source distribution (read inside the rootfs: a link to
    // /usr/lib/os-release must not be followed to the host's).
    let image_os =
        os_release(&std::fs::read_to_string(in_rootfs(&rootfs, "/etc/os-release")).unwrap());
    assert_eq!(image_os.get("ID").map(String::as_str), Some("debian"));
    assert_eq!(image_os.get("VERSION_ID"), host_os.get("VERSION_ID"));
    eprintln!(
        "sbom: {} packages, {} md5sums lines checked in {:.1}s",
        spdx_debs.len(),
        to_hash.len(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Go modules and Rust crates

/// `pkg:golang/PATH[@VERSION]`, no version for `(devel)`.
fn go_purl(path: &str, version: &str) -> String {
    if version.is_empty() || version == "(devel)" {
        format!("pkg:golang/{path}")
    } else {
        format!("pkg:golang/{path}@{version}")
    }
}

/// (name, version, source) of the crates of a Cargo.lock, source `crates.io` or `local`.
fn cargo_lock_crates(lock: &Path) -> BTreeSet<(String, String, String)> {
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let source = match p.get("source").and_then(|s| s.as_str()) {
                None => "local",
                Some(s) if s.contains("github.com/rust-lang/crates.io-index") => "crates.io",
                Some(s) => panic!("unexpected source {s}"),
            };
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                source.to_string(),
            )
        })
        .collect()
}

/// DT_NEEDED names of an ELF file, by readelf.
fn readelf_needed(file: &Path) -> Vec<String> {
    let out = run(
        Command::new(require("readelf")).arg("-dW").arg(file),
        "readelf -d",
    );
    out.lines()
        .filter(|l| l.contains("(NEEDED)"))
        .map(|l| {
            l.split_once('[')
                .and_then(|(_, r)| r.split_once(']'))
                .unwrap()
                .0
                .to_string()
        })
        .collect()
}

/// (name, version, purl) of the packages SPDX says `file_id` STATIC_LINKs.
fn spdx_static_links(doc: &Value, file_id: &str) -> BTreeSet<(String, String, String)> {
    let packages = spdx_packages(doc);
    spdx_rels(doc, "STATIC_LINK")
        .into_iter()
        .filter(|(a, _)| *a == file_id)
        .map(|(_, b)| {
            let p = packages[b];
            (
                s(&p["name"]).to_string(),
                s(&p["versionInfo"]).to_string(),
                spdx_purl(p).expect("a purl").to_string(),
            )
        })
        .collect()
}

#[test]
fn go_and_rust_sboms_list_embedded_dependencies() {
    let started = Instant::now();
    let guard = GoTemp(tempdir());
    let tmp = guard.0.path();
    let go_bin = build_go_fixture(tmp);
    let rust_bin = build_rust_auditable_fixture();
    let built = started.elapsed();
    // The Go program is static (CGO_ENABLED=0), the Rust one dynamic.
    assert_eq!(readelf_needed(&go_bin), Vec::<String>::new());
    let rust_needed = readelf_needed(&rust_bin);
    assert!(
        rust_needed.iter().any(|n| n == "libc.so.6"),
        "{rust_needed:?}"
    );

    let m = tmp.join("embedded.toml");
    std::fs::write(
        &m,
        format!(
            r#"[image]
name = "embedded"
entrypoint = ["/usr/local/bin/go-app"]

[[component]]
name = "go-app"
kind = "elf"
from = {go:?}
to = "/usr/local/bin/go-app"
why = "a Go program with module dependencies"

[[component]]
name = "rust-app"
kind = "elf"
from = {rust:?}
to = "/usr/local/bin/rust-app"
why = "a Rust program built with cargo auditable"
layer = "base"
"#,
            go = go_bin.display().to_string(),
            rust = rust_bin.display().to_string(),
        ),
    )
    .unwrap();
    let layout = tmp.join("img");
    let summary = build(&m, &format!("oci:{}:latest", layout.display()));
    // The Rust program is in the base layer (what the SBOM says must not depend on layers).
    let layers: Vec<&str> = arr(&summary["layers"])
        .iter()
        .map(|l| s(&l["layer"]))
        .collect();
    assert!(layers.contains(&"base"), "{summary}");
    let sb = sboms(
        &format!("oci:{}:latest", layout.display()),
        &tmp.join("sbom"),
    );

    // Go: exactly the `mod` and `dep` lines of `go version -m`, as pkg:golang purls, and the
    // standard library of the toolchain its first line names, as syft names it
    // (`stdlib`, version `go1.19.8`, purl `pkg:golang/stdlib@1.19.8`).
    let info = go_version_m(&go_bin, tmp);
    let mut go_want: BTreeSet<(String, String, String)> = std::iter::once(&info.main)
        .chain(&info.deps)
        .map(|m| {
            (
                m.path.clone(),
                m.version.clone(),
                go_purl(&m.path, &m.version),
            )
        })
        .collect();
    assert_eq!(go_want.len(), 4, "{info:?}");
    let release = info.go_version.strip_prefix("go").expect("goVERSION");
    go_want.insert((
        "stdlib".into(),
        info.go_version.clone(),
        format!("pkg:golang/stdlib@{release}"),
    ));
    // Rust: exactly the crates of the fixture's Cargo.lock, as pkg:cargo: the root and itoa
    // compiled in; the fixture's `[build-dependencies]` (used by its build script) and its
    // proc-macro dependencies (run by the compiler) build-only.
    let fixture = repo().join("tests/fixtures/rust-auditable");
    let crates = cargo_lock_crates(&fixture.join("Cargo.lock"));
    let cargo_toml: toml::Value =
        toml::from_str(&std::fs::read_to_string(fixture.join("Cargo.toml")).unwrap()).unwrap();
    let is_proc_macro = |dep: &toml::Value| {
        let Some(path) = dep.get("path").and_then(|p| p.as_str()) else {
            return false;
        };
        let crate_toml: toml::Value = toml::from_str(
            &std::fs::read_to_string(fixture.join(path).join("Cargo.toml")).unwrap(),
        )
        .unwrap();
        crate_toml
            .get("lib")
            .and_then(|l| l.get("proc-macro"))
            .and_then(|p| p.as_bool())
            == Some(true)
    };
    let build_deps: BTreeSet<&str> = cargo_toml["build-dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .map(String::as_str)
        .chain(
            cargo_toml["dependencies"]
                .as_table()
                .unwrap()
                .iter()
                .filter(|(_, d)| is_proc_macro(d))
                .map(|(n, _)| n.as_str()),
        )
        .collect();
    let (rust_build, rust_want): (BTreeSet<_>, BTreeSet<_>) = crates
        .iter()
        .map(|(n, v, _)| (n.clone(), v.clone(), format!("pkg:cargo/{n}@{v}")))
        .partition(|(n, _, _)| build_deps.contains(n.as_str()));
    assert_eq!(rust_want.len(), 2, "{crates:?}");
    assert_eq!(rust_build.len(), 2, "{crates:?}");
    let rust_all: BTreeSet<_> = rust_want.union(&rust_build).cloned().collect();

    // CycloneDX: nested under the binary that embeds them, and nowhere else.
    let cfiles = cdx_files(&sb.cdx);
    let nested = |path: &str| -> BTreeSet<(String, String, String)> {
        cfiles[path].1["components"]
            .as_array()
            .unwrap_or_else(|| panic!("CycloneDX nests no components under {path}"))
            .iter()
            .map(|c| {
                (
                    s(&c["name"]).to_string(),
                    s(&c["version"]).to_string(),
                    s(&c["purl"]).to_string(),
                )
            })
            .collect()
    };
    assert_eq!(nested("/usr/local/bin/go-app"), go_want, "CycloneDX, Go");
    let stdlib = arr(&cfiles["/usr/local/bin/go-app"].1["components"])
        .iter()
        .find(|c| c["name"] == "stdlib")
        .unwrap();
    assert_eq!(
        stdlib["cpe"],
        format!("cpe:2.3:a:golang:go:{release}:-:*:*:*:*:*:*").as_str(),
        "{stdlib}"
    );
    assert_eq!(
        nested("/usr/local/bin/rust-app"),
        rust_all,
        "CycloneDX, Rust"
    );
    // Build-only crates have CycloneDX's `scope: excluded` (not reachable at run time); the
    // crates compiled in have no scope (`required` is the default).
    for c in arr(&cfiles["/usr/local/bin/rust-app"].1["components"]) {
        let build_only = build_deps.contains(s(&c["name"]));
        let want = if build_only { Some("excluded") } else { None };
        assert_eq!(c["scope"].as_str(), want, "{c}");
    }
    let go_app = &cfiles["/usr/local/bin/go-app"].1;
    for m in &info.deps {
        let c = arr(&go_app["components"])
            .iter()
            .find(|c| c["name"] == m.path.as_str())
            .unwrap();
        let replaced = m
            .replaced_by
            .as_ref()
            .map(|r| format!("{} {}", r.path, r.version));
        assert_eq!(
            cdx_prop(c, "kiln:go-replaced-by"),
            replaced.as_deref(),
            "{c}"
        );
        assert_eq!(cdx_prop(c, "kiln:go-sum"), m.sum.as_deref(), "{c}");
    }
    let rust_app = &cfiles["/usr/local/bin/rust-app"].1;
    for (n, _, source) in &crates {
        let c = arr(&rust_app["components"])
            .iter()
            .find(|c| c["name"] == n.as_str())
            .unwrap();
        assert_eq!(
            cdx_prop(c, "kiln:cargo-source"),
            Some(source.as_str()),
            "{c}"
        );
    }
    let purls_of = |prefix: &str, all: Vec<String>| -> BTreeSet<String> {
        all.into_iter().filter(|p| p.starts_with(prefix)).collect()
    };
    let cdx_purls: Vec<String> = cdx_all(&sb.cdx)
        .into_iter()
        .filter_map(|(_, c)| c["purl"].as_str().map(str::to_string))
        .collect();
    let third = |w: &BTreeSet<(String, String, String)>| -> BTreeSet<String> {
        w.iter().map(|x| x.2.clone()).collect()
    };
    assert_eq!(
        purls_of("pkg:golang/", cdx_purls.clone()),
        third(&go_want),
        "every pkg:golang purl of the CycloneDX"
    );
    assert_eq!(
        purls_of("pkg:cargo/", cdx_purls),
        third(&rust_all),
        "every pkg:cargo purl of the CycloneDX"
    );

    // SPDX: packages the binary's file STATIC_LINKs, and no others with those purl types.
    let files = spdx_files(&sb.spdx);
    assert_eq!(
        spdx_static_links(&sb.spdx, &files["/usr/local/bin/go-app"].id),
        go_want,
        "SPDX, Go"
    );
    assert_eq!(
        spdx_static_links(&sb.spdx, &files["/usr/local/bin/rust-app"].id),
        rust_want,
        "SPDX, Rust"
    );
    // A build-only crate is `CRATE BUILD_DEPENDENCY_OF FILE` (SPDX 2.3 §11.1), not linked.
    let packages = spdx_packages(&sb.spdx);
    let built_with: BTreeSet<(String, String, String)> = spdx_rels(&sb.spdx, "BUILD_DEPENDENCY_OF")
        .into_iter()
        .filter(|(_, b)| *b == files["/usr/local/bin/rust-app"].id)
        .map(|(a, _)| {
            let p = packages[a];
            (
                s(&p["name"]).to_string(),
                s(&p["versionInfo"]).to_string(),
                spdx_purl(p).expect("a purl").to_string(),
            )
        })
        .collect();
    assert_eq!(built_with, rust_build, "SPDX, Rust build-dependencies");
    let spdx_purls: Vec<String> = arr(&sb.spdx["packages"])
        .iter()
        .filter_map(|p| spdx_purl(p).map(str::to_string))
        .collect();
    assert_eq!(purls_of("pkg:golang/", spdx_purls.clone()), third(&go_want));
    assert_eq!(purls_of("pkg:cargo/", spdx_purls), third(&rust_all));

    // DT_NEEDED edges: none for the static Go program; each of the Rust program's needed
    // libraries for it.
    let deps: BTreeMap<&str, Vec<&str>> = arr(&sb.cdx["dependencies"])
        .iter()
        .map(|d| (s(&d["ref"]), arr(&d["dependsOn"]).iter().map(s).collect()))
        .collect();
    assert!(
        !deps.contains_key("file:/usr/local/bin/go-app"),
        "{:?}",
        deps.get("file:/usr/local/bin/go-app")
    );
    let rust_deps = &deps["file:/usr/local/bin/rust-app"];
    for n in &rust_needed {
        assert!(
            rust_deps.iter().any(|d| d.ends_with(&format!("/{n}"))),
            "{n} in {rust_deps:?}"
        );
    }
    eprintln!(
        "sbom: embedded: fixtures {:.1}s, image and checks {:.1}s",
        built.as_secs_f64(),
        (started.elapsed() - built).as_secs_f64()
    );
}

/// Issue 10: a Rust program built without cargo-auditable gets a warning with the command
/// that adds the data; one built with it, and a C program, do not.
#[test]
fn a_rust_program_without_audit_data_warns() {
    let plain = build_rust_plain_fixture();
    let audited = build_rust_auditable_fixture();
    let t = tempdir();
    let m = t.path().join("rust.toml");
    std::fs::write(
        &m,
        format!(
            r#"[image]
name = "rust"
entrypoint = ["/usr/local/bin/app"]

[[component]]
name = "app"
kind = "elf"
from = {plain:?}
to = "/usr/local/bin/app"
why = "a Rust program built with plain cargo build"

[[component]]
name = "audited"
kind = "elf"
from = {audited:?}
to = "/usr/local/bin/audited"
why = "a Rust program built with cargo auditable"

[[component]]
name = "curl"
kind = "elf"
from = "/usr/bin/curl"
to = "/usr/bin/curl"
why = "a C program"
"#,
            plain = plain.display().to_string(),
            audited = audited.display().to_string(),
        ),
    )
    .unwrap();
    let out = kiln()
        .arg("build")
        .arg(&m)
        .args([
            "--output",
            &format!("oci:{}:latest", t.path().join("img").display()),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let want = "warning: `/usr/local/bin/app` is a Rust program without cargo-auditable data: \
                its crates are not in the SBOM\n\nhint: build it with `cargo auditable build --release`\n";
    assert!(stderr.contains(want), "{stderr}");
    assert_eq!(stderr.matches("cargo-auditable").count(), 1, "{stderr}");
    for quiet in ["/usr/local/bin/audited", "/usr/bin/curl"] {
        assert!(!stderr.contains(quiet), "{quiet}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Reproducible SBOMs, the lock

const LOCK_MANIFEST: &str = r#"# the lock test's image
[image]
name = "locked-app"
entrypoint = ["/usr/bin/curl"]
user = "nonroot"

[[component]]
name = "curl"
kind = "elf"
from = "/usr/bin/curl"
to = "/usr/bin/curl"
why = "the program"

[[component]]
name = "config"
kind = "file"
from = "conf/app.conf"
to = "/etc/app/app.conf"
why = "its settings"

[[component]]
name = "accounts"
kind = "accounts"
why = "nonroot"

[[component]]
name = "tmp"
kind = "dir"
to = "/tmp"
mode = "1777"
why = "scratch space"
"#;

const CONFIG: &str = "listen = 8080\n";

/// A project in `dir`: app.toml and conf/app.conf with `mode` and `mtime`.
fn lock_project(dir: &Path, mode: u32, mtime: std::time::SystemTime) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    let conf = dir.join("conf/app.conf");
    std::fs::write(&conf, CONFIG).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&conf)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let m = dir.join("app.toml");
    std::fs::write(&m, LOCK_MANIFEST).unwrap();
    m
}

/// `kiln ARGS` in `cwd` under `umask` (through sh), without SOURCE_DATE_EPOCH.
fn kiln_in(cwd: &Path, umask: &str, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

/// Every file under `dir` with its bytes.
fn snapshot_dir(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn two_builds_give_identical_sboms_and_locked_detects_drift() {
    let started = Instant::now();
    let t = tempdir();
    let (a, b) = (t.path().join("a"), t.path().join("deeper/b"));
    let ma = lock_project(&a, 0o644, std::time::SystemTime::now());
    let mb = lock_project(
        &b,
        0o600,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000),
    );
    // Different working directories, umasks, input modes and mtimes.
    for (dir, umask) in [(&a, "022"), (&b, "077")] {
        let out = kiln_in(
            dir,
            umask,
            &["build", "app.toml", "--output", "oci:img:latest"],
        );
        check(&out, &format!("kiln build in {}", dir.display()));
    }
    let (img_a, img_b) = (
        format!("oci:{}:latest", a.join("img").display()),
        format!("oci:{}:latest", b.join("img").display()),
    );
    for format in ["spdx", "cyclonedx"] {
        let (x, y) = (sbom_bytes(&img_a, format), sbom_bytes(&img_b, format));
        assert!(
            x == y,
            "{format} SBOMs of two builds differ ({} vs {} bytes)",
            x.len(),
            y.len()
        );
    }
    let sb = sboms(&img_a, &a.join("sbom"));
    assert!(sb.spdx_bytes.ends_with(b"}\n") && sb.cdx_bytes.ends_with(b"}\n"));
    assert_eq!(
        image(&a.join("img"), "latest").0,
        image(&b.join("img"), "latest").0,
        "image manifests"
    );

    // Every output form stores the same SBOMs.
    let tar = a.join("img.tar");
    let dtar = a.join("img-docker.tar");
    build(&ma, &format!("oci-archive:{}:latest", tar.display()));
    build(
        &ma,
        &format!("docker-archive:{}:locked-app:latest", dtar.display()),
    );
    for spec in [
        format!("oci-archive:{}:latest", tar.display()),
        format!("docker-archive:{}", dtar.display()),
    ] {
        assert!(sbom_bytes(&spec, "spdx") == sb.spdx_bytes, "SPDX of {spec}");
        assert!(
            sbom_bytes(&spec, "cyclonedx") == sb.cdx_bytes,
            "CycloneDX of {spec}"
        );
    }

    // The build wrote app.lock beside app.toml, readable as the umask allows (it is meant to
    // be committed); `kiln lock` writes the same, and the lock does not depend on where the
    // project is.
    let lock_a = a.join("app.lock");
    let written_by_build = std::fs::read(&lock_a).expect("kiln build writes app.lock");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&lock_a), 0o644, "app.lock written under umask 022");
        assert_eq!(
            mode(&b.join("app.lock")),
            0o600,
            "app.lock written under umask 077"
        );
    }
    assert_eq!(
        std::fs::read(b.join("app.lock")).unwrap(),
        written_by_build,
        "the locks of the two builds"
    );
    std::fs::remove_file(&lock_a).unwrap();
    let out = run(kiln().arg("lock").arg(&ma), "kiln lock");
    assert!(out.contains("app.lock"), "{out}");
    assert_eq!(std::fs::read(&lock_a).unwrap(), written_by_build);
    let lock: toml::Value =
        toml::from_str(&String::from_utf8(written_by_build.clone()).unwrap()).unwrap();
    assert_eq!(
        lock["inputs"]["/etc/app/app.conf"].as_str(),
        Some(sha256_file(&a.join("conf/app.conf")).as_str()),
        "{lock}"
    );
    assert_eq!(
        lock["inputs"]["/usr/bin/curl"].as_str(),
        Some(sha256_file(Path::new("/usr/bin/curl")).as_str())
    );
    assert!(
        lock["closure"]
            .as_table()
            .unwrap()
            .keys()
            .any(|k| k.contains("/libcurl.so.4")),
        "{lock}"
    );
    assert_eq!(
        lock["packages"]["curl"].as_str(),
        Some(format!("{} amd64", dpkg_query("curl", "amd64", "${Version}")).as_str())
    );

    // --locked passes while nothing changed.
    let locked_out = format!("oci:{}:latest", a.join("locked").display());
    let ok = kiln()
        .args(["build"])
        .arg(&ma)
        .args(["--locked", "--output", &locked_out])
        .output()
        .unwrap();
    check(&ok, "kiln build --locked, unchanged");
    let layout_before = snapshot_dir(&a.join("locked"));
    assert!(layout_before.contains_key(Path::new("index.json")));

    // One input's bytes change: --locked fails naming it, writes no image, keeps the lock.
    std::fs::write(a.join("conf/app.conf"), "listen = 9090\n").unwrap();
    let drift = kiln()
        .args(["build"])
        .arg(&ma)
        .args(["--locked", "--output", &locked_out])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&drift.stderr);
    assert_eq!(drift.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("app.lock"), "{stderr}");
    // Exactly one change: that file, from the old to the new SHA-256 (12 hex digits each).
    let short = |bytes: &[u8]| {
        use sha2::Digest as _;
        format!("sha256:{}", &hex::encode(sha2::Sha256::digest(bytes))[..12])
    };
    let changes = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.starts_with("  "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        changes(&stderr),
        [format!(
            "  input /etc/app/app.conf: {} -> {}",
            short(CONFIG.as_bytes()),
            short(b"listen = 9090\n")
        )],
        "{stderr}"
    );
    assert!(
        snapshot_dir(&a.join("locked")) == layout_before,
        "a failed --locked build changed the layout"
    );
    assert_eq!(std::fs::read(&lock_a).unwrap(), written_by_build);
    // A plain build accepts the change and updates the lock; --locked passes again.
    check(
        &kiln()
            .args(["build"])
            .arg(&ma)
            .args(["--output", &locked_out])
            .output()
            .unwrap(),
        "kiln build after the change",
    );
    let relocked: toml::Value = toml::from_str(&std::fs::read_to_string(&lock_a).unwrap()).unwrap();
    assert_eq!(
        relocked["inputs"]["/etc/app/app.conf"].as_str(),
        Some(sha256_file(&a.join("conf/app.conf")).as_str())
    );
    check(
        &kiln()
            .args(["build"])
            .arg(&ma)
            .args(["--locked", "--output", &locked_out])
            .output()
            .unwrap(),
        "kiln build --locked after the lock was updated",
    );

    // Metadata is locked too: an input made executable (0755 in the image) fails --locked.
    {
        use std::os::unix::fs::PermissionsExt;
        let conf = a.join("conf/app.conf");
        let before = std::fs::metadata(&conf).unwrap().permissions();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o755)).unwrap();
        let drift = kiln()
            .args(["build"])
            .arg(&ma)
            .args(["--locked", "--output"])
            .arg(format!("oci:{}:latest", a.join("mode-drift").display()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&drift.stderr);
        assert_eq!(drift.status.code(), Some(1), "{stderr}");
        assert_eq!(
            changes(&stderr),
            ["  mode /etc/app/app.conf: added (0755 0:0)"],
            "{stderr}"
        );
        assert!(!a.join("mode-drift").exists());
        // --plan is held to the lock too.
        let plan = kiln()
            .args(["build"])
            .arg(&ma)
            .args(["--locked", "--plan"])
            .output()
            .unwrap();
        assert_eq!(plan.status.code(), Some(1), "{plan:?}");
        std::fs::set_permissions(&conf, before).unwrap();
    }

    // The manifest's hash ignores line endings: the same manifest with CRLF passes --locked...
    std::fs::write(&mb, LOCK_MANIFEST.replace('\n', "\r\n")).unwrap();
    assert!(std::fs::read(&mb).unwrap().windows(2).any(|w| w == b"\r\n"));
    let crlf = kiln_in(&b, "022", &["build", "app.toml", "--locked", "--plan"]);
    check(&crlf, "kiln build --locked with CRLF line endings");
    let crlf = kiln_in(
        &b,
        "022",
        &[
            "build",
            "app.toml",
            "--locked",
            "--output",
            "oci:crlf:latest",
        ],
    );
    check(&crlf, "kiln build --locked with CRLF line endings");
    // ...but any other change to its text fails it.
    let edited_text =
        LOCK_MANIFEST.replace("# the lock test's image", "# the lock test's image, edited");
    std::fs::write(&mb, &edited_text).unwrap();
    let edited = kiln_in(
        &b,
        "022",
        &[
            "build",
            "app.toml",
            "--locked",
            "--output",
            "oci:edited:latest",
        ],
    );
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert_eq!(edited.status.code(), Some(1), "{stderr}");
    assert_eq!(
        changes(&stderr),
        [format!(
            "  manifest: {} -> {}",
            short(LOCK_MANIFEST.as_bytes()),
            short(edited_text.as_bytes())
        )],
        "{stderr}"
    );
    assert!(
        !b.join("edited").exists(),
        "a failed --locked build wrote an image"
    );
    eprintln!("sbom: lock test {:.1}s", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// 5. kiln explain

/// `kiln explain` of libzstd's real file in curl's image: libzstd.so.1 <- libcurl.so.4 <-
/// /usr/bin/curl. Host-specific values are {PLACEHOLDERS}, filled from the host at test time.
const EXPLAIN_FILE: &str = "\
{REAL}
  file 0644 0:0, {SIZE} bytes, sha256:{SHA256}, libraries layer
  component: curl (elf)
  why: fetches health-check URLs for the platform team
  cadence: rebuilt on every release of curl
  remove when: never: it is what the image runs
  needed by: {LIBCURL}
  chain: libzstd.so.1 ← libcurl.so.4 ← /usr/bin/curl
  how: found by ld.so.cache
  package: {PACKAGE} {VERSION} ({ARCH}), source {SOURCE} {SOURCE_VERSION}, pkg:deb/debian/{PACKAGE}@{PURL_VERSION}?arch={ARCH}&distro={DISTRO}
";

/// The same for the soname link.
const EXPLAIN_LINK: &str = "\
/usr/lib/x86_64-linux-gnu/libzstd.so.1
  symlink 0777 0:0 -> {REAL_NAME}, libraries layer
  component: curl (elf)
  why: fetches health-check URLs for the platform team
  cadence: rebuilt on every release of curl
  remove when: never: it is what the image runs
  needed by: {LIBCURL}
  chain: libzstd.so.1 ← libcurl.so.4 ← /usr/bin/curl
  how: symlink on the way to {REAL}
  package: {PACKAGE} {VERSION} ({ARCH}), source {SOURCE} {SOURCE_VERSION}, pkg:deb/debian/{PACKAGE}@{PURL_VERSION}?arch={ARCH}&distro={DISTRO}
";

fn fill(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    assert!(
        !out.contains("{REAL")
            && !out.contains("{PACKAGE}")
            && !out.contains("{VERSION}")
            && !out.contains("{LIBCURL}"),
        "unfilled placeholder in {out}"
    );
    out
}

fn explain(target: &str, path: &str, json: bool) -> String {
    let mut c = kiln();
    c.args(["explain", target, path]);
    if json {
        c.arg("--json");
    }
    run(&mut c, &format!("kiln explain {target} {path}"))
}

#[test]
fn explain_names_a_library_two_levels_deep() {
    let started = Instant::now();
    let lib = "/usr/lib/x86_64-linux-gnu";
    // The chain on this host, read independently of kiln.
    let libcurl = std::fs::canonicalize(format!("{lib}/libcurl.so.4")).unwrap();
    assert!(
        readelf_needed(Path::new("/usr/bin/curl")).contains(&"libcurl.so.4".to_string()),
        "/usr/bin/curl needs libcurl.so.4"
    );
    assert!(
        readelf_needed(&libcurl).contains(&"libzstd.so.1".to_string()),
        "{} needs libzstd.so.1",
        libcurl.display()
    );
    let real = std::fs::canonicalize(format!("{lib}/libzstd.so.1")).unwrap();
    let real_name = std::fs::read_link(format!("{lib}/libzstd.so.1")).unwrap();
    let owner = run(
        Command::new(require("dpkg-query")).arg("-S").arg(&real),
        "dpkg-query -S",
    );
    let (pkg_arch, _) = owner.trim().split_once(": ").expect("PKG:ARCH: PATH");
    let (package, arch) = pkg_arch.split_once(':').unwrap_or((pkg_arch, "amd64"));
    let version = dpkg_query(package, arch, "${Version}");
    let (source, source_version) = {
        let s = dpkg_query(package, arch, "${source:Package} ${source:Version}");
        let (a, b) = s.split_once(' ').unwrap();
        (a.to_string(), b.to_string())
    };
    let host_os = os_release(&std::fs::read_to_string("/etc/os-release").unwrap());
    let values: BTreeMap<&str, String> = [
        ("REAL", real.display().to_string()),
        ("REAL_NAME", real_name.display().to_string()),
        ("SIZE", std::fs::metadata(&real).unwrap().len().to_string()),
        (
            "SHA256",
            sha256_file(&real)
                .strip_prefix("sha256:")
                .unwrap()
                .to_string(),
        ),
        ("PACKAGE", package.to_string()),
        ("LIBCURL", libcurl.display().to_string()),
        ("ARCH", arch.to_string()),
        ("PURL_VERSION", version.replace(':', "%3A")),
        ("VERSION", version),
        ("SOURCE", source),
        ("SOURCE_VERSION", source_version),
        (
            "DISTRO",
            format!("{}-{}", host_os["ID"], host_os["VERSION_ID"]),
        ),
    ]
    .into_iter()
    .collect();

    let t = tempdir();
    let (m, layout) = curl_image(t.path());
    let img = format!("oci:{}:latest", layout.display());
    let manifest = m.display().to_string();
    let real_path = real.display().to_string();
    for (path, template) in [
        (real_path.as_str(), EXPLAIN_FILE),
        ("/usr/lib/x86_64-linux-gnu/libzstd.so.1", EXPLAIN_LINK),
    ] {
        let want = fill(template, &values);
        for target in [&img, &manifest] {
            let got = explain(target, path, false);
            assert!(
                got == want,
                "kiln explain {target} {path}\n--- got\n{got}--- want\n{want}"
            );
        }
    }

    // --json: the entry with the chain from the root object, the edge to libcurl's real file
    // and the package; the component's statement. The same from the image and the manifest.
    let from_image: Value = serde_json::from_str(&explain(&img, &real_path, true)).unwrap();
    let from_manifest: Value = serde_json::from_str(&explain(&manifest, &real_path, true)).unwrap();
    assert_eq!(from_image, from_manifest);
    let e = &from_image["entry"];
    assert_eq!(e["path"], real_path.as_str());
    assert_eq!(
        e["needed_by"],
        serde_json::json!(["/usr/bin/curl", "libcurl.so.4", "libzstd.so.1"])
    );
    assert_eq!(
        e["required_by"],
        serde_json::json!([libcurl.display().to_string()])
    );
    assert_eq!(e["package"]["name"], package);
    assert_eq!(e["package"]["version"], values["VERSION"].as_str());
    assert_eq!(e["sha256"], sha256_file(&real).as_str());
    assert_eq!(from_image["component"]["name"], "curl");
    assert_eq!(
        from_image["component"]["why"],
        "fetches health-check URLs for the platform team"
    );

    // A path that is not in the image is an input error with a suggestion.
    let miss = kiln()
        .args(["explain", &img, "/usr/lib/x86_64-linux-gnu/libzstd.so"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&miss.stderr);
    assert_eq!(miss.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not in the image"), "{stderr}");
    assert!(stderr.contains("libzstd.so.1"), "{stderr}");
    eprintln!("sbom: explain test {:.1}s", started.elapsed().as_secs_f64());
}

/// The files of an image (SPDX `fileName`s, as image paths) that are ELF files on this host
/// (the image was built from the host's root) and need `soname`, by readelf.
fn host_elf_files_needing(spdx: &Value, soname: &str) -> BTreeSet<String> {
    arr(&spdx["files"])
        .iter()
        .map(|f| s(&f["fileName"]).trim_start_matches('.').to_string())
        .filter(|p| {
            let host = Path::new(p);
            let is_file = host.symlink_metadata().is_ok_and(|m| m.is_file());
            is_file
                && std::fs::read(host).is_ok_and(|b| b.starts_with(b"\x7fELF"))
                && readelf_needed(host).iter().any(|n| n == soname)
        })
        .collect()
}

/// Issue 10: `explain` lists every object that needs a library, across components, and finds
/// a library by its soname (through its link, to the file), in a manifest and in an image; a
/// name two different files have is a list, an unknown name an error.
#[test]
fn explain_lists_every_needer_and_finds_a_library_by_soname() {
    let t = tempdir();
    std::fs::create_dir_all(t.path().join("a")).unwrap();
    std::fs::write(t.path().join("a/one"), "one\n").unwrap();
    std::fs::write(t.path().join("a/two"), "two\n").unwrap();
    let m = t.path().join("needers.toml");
    std::fs::write(
        &m,
        r#"[image]
name = "needers"
entrypoint = ["/usr/bin/curl"]

[[component]]
name = "curl"
kind = "elf"
from = "/usr/bin/curl"
to = "/usr/bin/curl"
why = "fetches"

[[component]]
name = "ls"
kind = "elf"
from = "/usr/bin/ls"
to = "/usr/bin/ls"
why = "lists"

[[component]]
name = "foo-a"
kind = "file"
from = "a/one"
to = "/opt/a/libfoo.so.1"
why = "one libfoo"

[[component]]
name = "foo-b"
kind = "file"
from = "a/two"
to = "/opt/b/libfoo.so.1"
why = "another libfoo"
"#,
    )
    .unwrap();
    let layout = t.path().join("img");
    let img = format!("oci:{}:latest", layout.display());
    build(&m, &img);
    let manifest = m.display().to_string();
    let spdx: Value = serde_json::from_slice(&sbom_bytes(&img, "spdx")).unwrap();
    let lib = "/usr/lib/x86_64-linux-gnu";
    let libc = std::fs::canonicalize(format!("{lib}/libc.so.6"))
        .unwrap()
        .display()
        .to_string();

    // Every file of the image that needs libc.so.6 (readelf), whichever component placed it.
    let want = host_elf_files_needing(&spdx, "libc.so.6");
    assert!(
        want.contains("/usr/bin/curl") && want.contains("/usr/bin/ls") && want.len() > 3,
        "{want:?}"
    );
    for target in [&img, &manifest] {
        for query in [libc.as_str(), "libc.so.6"] {
            let j: Value = serde_json::from_str(&explain(target, query, true)).unwrap();
            assert_eq!(j["entry"]["path"], libc.as_str(), "{target} {query}");
            let got: BTreeSet<String> = arr(&j["needers"])
                .iter()
                .map(|n| s(&n["path"]).to_string())
                .collect();
            assert_eq!(got, want, "kiln explain {target} {query} --json: needers");
            let ls = arr(&j["needers"])
                .iter()
                .find(|n| n["path"] == "/usr/bin/ls")
                .unwrap();
            assert_eq!(ls["component"], "ls");
        }
        let text = explain(target, "libc.so.6", false);
        assert!(
            text.contains(&format!("  needed by {} objects:\n", want.len())),
            "{text}"
        );
        assert!(text.contains("    /usr/bin/curl\n"), "{text}");
        assert!(
            text.contains("  chain: libc.so.6 ← /usr/bin/curl\n"),
            "{text}"
        );
        if want.len() <= 20 {
            assert!(
                text.contains("    /usr/bin/ls (component `ls`)\n"),
                "{text}"
            );
        }
    }

    // A soname found through its link: the link, then the file it leads to.
    let zlib_real = std::fs::canonicalize(format!("{lib}/libz.so.1"))
        .unwrap()
        .display()
        .to_string();
    let zlib_link = format!("{lib}/libz.so.1");
    let by_name: Vec<Value> = [&img, &manifest]
        .iter()
        .map(|target| {
            let j: Value = serde_json::from_str(&explain(target, "libz.so.1", true)).unwrap();
            assert_eq!(j["entry"]["path"], zlib_real.as_str(), "{j}");
            let links: Vec<&str> = arr(&j["links"])
                .iter()
                .map(|l| s(&l["entry"]["path"]))
                .collect();
            assert_eq!(links, [zlib_link.as_str()], "{j}");
            let text = explain(target, "libz.so.1", false);
            let parts = format!(
                "{}\n{}",
                explain(target, &zlib_link, false),
                explain(target, &zlib_real, false)
            );
            assert_eq!(text, parts, "kiln explain {target} libz.so.1");
            j
        })
        .collect();
    assert_eq!(by_name[0], by_name[1], "image and manifest agree");
    let zlib_needers = host_elf_files_needing(&spdx, "libz.so.1");
    let got: BTreeSet<String> = arr(&by_name[0]["needers"])
        .iter()
        .map(|n| s(&n["path"]).to_string())
        .collect();
    assert_eq!(got, zlib_needers, "needers of libz.so.1");

    // Two different files by one name: a list and a hint; an unknown name: an error.
    for target in [&img, &manifest] {
        let out = kiln()
            .args(["explain", target, "libfoo.so.1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(
                "error: `libfoo.so.1` names 2 different files in the image:\n  /opt/a/libfoo.so.1\n  /opt/b/libfoo.so.1\n"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "hint: name one by its path, e.g. `kiln explain {target} /opt/b/libfoo.so.1`"
            )),
            "{stderr}"
        );
        let out = kiln()
            .args(["explain", target, "libnope.so.1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("error: no file or library named `libnope.so.1` is in the image"),
            "{stderr}"
        );
    }
}

/// The SBOM is a pure function of the Plan: its SHA-1s and SHA-256s come from the Plan's one
/// read of each file, so a file changed or removed after planning does not change (or fail)
/// the SBOM's facts.
#[test]
fn sbom_facts_come_from_the_plan_not_from_a_second_read() {
    let t = tempdir();
    let data = t.path().join("data.txt");
    std::fs::write(&data, b"what was planned\n").unwrap();
    let manifest = t.path().join("kiln.toml");
    std::fs::write(
        &manifest,
        "[image]\nname = \"pure\"\n\n[[component]]\nname = \"data\"\nkind = \"file\"\nfrom = \"data.txt\"\nto = \"/data.txt\"\nwhy = \"a file whose hashes the SBOM records\"\n",
    )
    .unwrap();
    let m = kiln::manifest::load_all(&manifest).unwrap().remove(0);
    let plan = kiln::plan::build(&m, std::path::Path::new("/"), kiln::time::Epoch(0)).unwrap();
    // After the plan: the file changes, then disappears.
    std::fs::write(&data, b"something else entirely\n").unwrap();
    let subject = kiln::digest::Digest::of(b"image");
    let facts = kiln::sbom::facts(&plan, &subject, "v1");
    let f = facts.files.iter().find(|f| f.path == "/data.txt").unwrap();
    assert_eq!(f.sha1, sha1_of(b"what was planned\n"));
    assert_eq!(
        f.sha256.to_string(),
        kiln::digest::Digest::of(b"what was planned\n").to_string()
    );
    std::fs::remove_file(&data).unwrap();
    let again = kiln::sbom::facts(&plan, &subject, "v1");
    assert_eq!(again.files.len(), facts.files.len());
}

/// SHA-1 by the sha1 crate directly, not through kiln.
fn sha1_of(bytes: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes).into()
}
