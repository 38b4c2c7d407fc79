//! A hostile target root cannot inject into the files kiln generates from it: os-release
//! values and dpkg control paragraphs that would break their format (NUL, control characters,
//! lines that are neither fields nor continuations, a package name that is a path) are refused
//! with one clear message naming the file and the field, and no image is written. A clean root
//! with the same layout builds, so each refusal is about the one bad value.

use crate::util::*;
use std::path::{Path, PathBuf};

const DATA: &str = "usr/share/hostile/data";

/// A sysroot `root/` with a Debian-style os-release and a dpkg database in which package
/// `pkg` owns `/usr/share/hostile/data`, with `extra` appended to its control paragraph; and a
/// manifest that ships that file from the sysroot plus an os-release component.
fn root_with(dir: &Path, os_release: &[u8], pkg: &str, extra: &str) -> PathBuf {
    let root = dir.join("root");
    for d in ["etc", "usr/share/hostile", "var/lib/dpkg/info"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/os-release"), os_release).unwrap();
    std::fs::write(root.join(DATA), "data\n").unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        format!(
            "Package: other\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nDescription: not shipped \0 so not checked\n\n\
             Package: {pkg}\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: A <a@example.org>\n{extra}"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join(format!("var/lib/dpkg/info/{}.list", pkg.replace('/', "_"))),
        format!("/.\n/usr\n/usr/share\n/usr/share/hostile\n/{DATA}\n"),
    )
    .unwrap();
    std::fs::write(
        root.join(format!(
            "var/lib/dpkg/info/{}.md5sums",
            pkg.replace('/', "_")
        )),
        format!("6137cde4893c59f76f005a8123d8e8e6  {DATA}\n"),
    )
    .unwrap();
    let manifest = dir.join("kiln.toml");
    std::fs::write(
        &manifest,
        format!(
            "[image]\nname = \"hostile\"\nsysroot = \"root\"\n\n\
             [[component]]\nname = \"data\"\nkind = \"file\"\nfrom = \"root/{DATA}\"\nto = \"/data\"\nwhy = \"x\"\n\n\
             [[component]]\nname = \"os\"\nkind = \"os-release\"\nwhy = \"identity\"\n"
        ),
    )
    .unwrap();
    manifest
}

const GOOD_OS: &[u8] =
    b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
const GOOD_DESC: &str = "Description: hostile test\n more text\n .\n";

/// Builds; returns (exit code, stderr, whether the output layout exists).
fn build_in(dir: &Path, manifest: &Path) -> (Option<i32>, String, bool) {
    let out = kiln()
        .arg("build")
        .arg(manifest)
        .args(["--output", "oci:out:t"])
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr, dir.join("out").exists())
}

fn assert_refused(dir: &Path, manifest: &Path, want: &str) {
    let (code, stderr, written) = build_in(dir, manifest);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(want), "expected {want:?} in\n{stderr}");
    assert!(!written, "an image was written despite: {stderr}");
}

#[test]
fn a_clean_root_builds_and_its_values_are_copied() {
    let t = tempdir();
    let m = root_with(t.path(), GOOD_OS, "hostile", GOOD_DESC);
    let (code, stderr, written) = build_in(t.path(), &m);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(written);
    let plan = plan_json(&m);
    let entries = plan["entries"].as_array().expect("plan entries");
    let paths: Vec<&str> = entries.iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(
        paths.contains(&"/var/lib/dpkg/status.d/hostile"),
        "{paths:?}"
    );
    assert!(paths.contains(&"/etc/os-release"), "{paths:?}");
}

#[test]
fn hostile_os_release_values_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"NAME=\"Debian\0evil\"\nID=debian\n",
            "os-release field `NAME` \"Debian\\0evil\" in ROOT/etc/os-release contains a NUL byte; kiln does not copy it into the image",
        ),
        (
            b"ID=debian\nVERSION_ID=\"12\rID=evil\"\n",
            "os-release field `VERSION_ID` \"12\\rID=evil\" in ROOT/etc/os-release contains control character '\\r'",
        ),
        (
            b"ID=debian\nPRETTY_NAME=\"\x1b[2Jhello\"\n",
            "os-release field `PRETTY_NAME` \"\\u{1b}[2Jhello\" in ROOT/etc/os-release contains control character '\\u{1b}'",
        ),
    ];
    for (os, want) in cases {
        let t = tempdir();
        let m = root_with(t.path(), os, "hostile", GOOD_DESC);
        let root = std::fs::canonicalize(t.path().join("root")).unwrap();
        assert_refused(
            t.path(),
            &m,
            &want.replace("ROOT", &root.display().to_string()),
        );
    }
    // A very long line: the value is refused (over 1024 bytes) and not echoed in full.
    let t = tempdir();
    let long = format!("ID=debian\nNAME=\"{}\"\n", "n".repeat(5000));
    let m = root_with(t.path(), long.as_bytes(), "hostile", GOOD_DESC);
    assert_refused(t.path(), &m, "(5000 bytes) in ");
    assert_refused(t.path(), &m, "is 5000 bytes, over the 1024 allowed");
    // A huge file is not read.
    let t = tempdir();
    let huge = format!("ID=debian\n#{}\n", "x".repeat(100_000));
    let m = root_with(t.path(), huge.as_bytes(), "hostile", GOOD_DESC);
    assert_refused(t.path(), &m, "etc/os-release is over 65536 bytes");
}

#[test]
fn hostile_dpkg_status_is_refused() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "hostile",
            "Description: x\0y\n",
            "package \"hostile\" in ROOT/var/lib/dpkg/status: field `Description` contains a NUL byte; kiln does not copy it into the image",
        ),
        (
            "hostile",
            "Description: x\n\r\nPackage: evil\nStatus: install ok installed\n",
            "package \"hostile\" in ROOT/var/lib/dpkg/status: line 6 \"\" is neither `Field: value` nor a continuation line",
        ),
        (
            "hostile",
            "Description: x\n \t \nPackage: evil\n",
            "package \"hostile\" in ROOT/var/lib/dpkg/status: field `Description` has a blank line, which would end the paragraph",
        ),
        (
            "hostile",
            "Description: x\nnot a field\n",
            "line 6 \"not a field\" is neither `Field: value` nor a continuation line",
        ),
        (
            "hostile",
            "Description: x\u{7}\n",
            "field `Description` contains control character '\\u{7}'",
        ),
        (
            "../../../etc/passwd",
            GOOD_DESC,
            "package \"../../../etc/passwd\" in ROOT/var/lib/dpkg/status: the name is not a Debian package name",
        ),
    ];
    for (pkg, extra, want) in cases {
        let t = tempdir();
        let m = root_with(t.path(), GOOD_OS, pkg, extra);
        let root = std::fs::canonicalize(t.path().join("root")).unwrap();
        assert_refused(
            t.path(),
            &m,
            &want.replace("ROOT", &root.display().to_string()),
        );
    }
}

#[test]
fn a_deep_tree_on_the_host_is_an_error_naming_the_host_path() {
    let t = tempdir();
    let d = t.path();
    // 20 directories of 200 bytes and a file: a host path under 4096 bytes, an image path of
    // over 4096 bytes under a `to` of 410 bytes.
    let name = "d".repeat(200);
    let mut cur = d.join("tree");
    std::fs::create_dir(&cur).unwrap();
    let mut made = 0;
    while made < 20 {
        let next = cur.join(&name);
        if std::fs::create_dir(&next).is_err() {
            break;
        }
        cur = next;
        made += 1;
    }
    assert_eq!(made, 20, "could only make {made} levels");
    std::fs::write(cur.join("f"), "x").unwrap();
    let to = format!("/opt/{}/{}", "t".repeat(200), "u".repeat(200));
    std::fs::write(
        d.join("kiln.toml"),
        format!("[image]\nname = \"deep\"\n\n[[component]]\nname = \"deep\"\nkind = \"tree\"\nfrom = \"tree\"\nto = \"{to}\"\nwhy = \"x\"\n"),
    )
    .unwrap();
    let (code, stderr, written) = build_in(d, &d.join("kiln.toml"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("component `deep` would place ")
            && stderr.contains("at an image path that is too long: path of ")
            && stderr.contains("bytes exceeds 4096"),
        "{stderr}"
    );
    // The host path it names is inside the tree.
    let tree = std::fs::canonicalize(d.join("tree")).unwrap();
    assert!(
        stderr.contains(&format!("would place {}/{name}/", tree.display())),
        "{stderr}"
    );
    assert!(!written);
}
