//! Reproducibility: the digest depends on the inputs' content and SOURCE_DATE_EPOCH only,
//! never on the working directory, umask, wall-clock time or input mtimes.

use crate::util::*;
use std::path::Path;
use std::process::Command;

const MANIFEST: &str = r#"
[image]
name = "repro"
entrypoint = ["/usr/local/bin/app"]
user = "nonroot"

[[component]]
name = "app"
kind = "elf"
from = "bin/app"
to = "/usr/local/bin/app"
why = "the program"

[[component]]
name = "assets"
kind = "tree"
from = "assets"
to = "/srv"
why = "its files"

[[component]]
name = "accounts"
kind = "accounts"
why = "nonroot"

[[component]]
name = "tz"
kind = "tzdata"
zones = ["UTC"]
why = "time"
"#;

/// Lays out a project in `dir` from the compiled program `app`.
fn project(dir: &Path, app: &Path) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("assets/css")).unwrap();
    std::fs::copy(app, dir.join("bin/app")).unwrap();
    std::fs::write(dir.join("assets/index.html"), "<p>hello</p>\n").unwrap();
    std::fs::write(dir.join("assets/css/site.css"), "p { color: red }\n").unwrap();
    std::fs::write(dir.join("kiln.toml"), MANIFEST).unwrap();
}

/// Runs kiln build in `cwd` with `umask` and extra env; returns (summary JSON, archive bytes).
fn build_with(cwd: &Path, umask: &str, env: &[(&str, &str)]) -> (serde_json::Value, Vec<u8>) {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_kiln"));
    c.args([
        "build",
        "kiln.toml",
        "--json",
        "--output",
        "oci-archive:out/img.tar:v1",
    ])
    .current_dir(cwd)
    .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = run(&mut c, "kiln build");
    (
        serde_json::from_str(&out).unwrap(),
        std::fs::read(cwd.join("out/img.tar")).unwrap(),
    )
}

fn touch_all(dir: &Path, stamp: &str) {
    run(
        Command::new("find")
            .arg(dir)
            .args(["-exec", "touch", "-h", "-d", stamp, "{}", "+"]),
        "touch",
    );
}

#[test]
fn same_inputs_same_digest_anywhere_anytime() {
    let t = tempdir();
    let app = cc(
        t.path(),
        "#include <stdio.h>\nint main(){puts(\"repro\");return 0;}\n",
        "app.c",
        "app",
        &[],
    );
    let (a, b) = (t.path().join("first/place"), t.path().join("second"));
    project(&a, &app);
    project(&b, &app);
    touch_all(&a, "2001-02-03 04:05:06");
    touch_all(&b, "2030-01-01 00:00:00");
    // Different permissions on the inputs, within what normalisation promises (exec bit kept).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.join("bin/app"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        b.join("assets/index.html"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (s1, tar1) = build_with(&a, "022", &[]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (s2, tar2) = build_with(&b, "077", &[("TZ", "Asia/Tokyo"), ("LC_ALL", "C")]);
    assert_eq!(manifest_digest(&s1), manifest_digest(&s2));
    assert_eq!(s1["layers"], s2["layers"]);
    assert!(tar1 == tar2, "the oci-archive files are byte-identical");
    // SOURCE_DATE_EPOCH changes times, so the digest.
    let (s3, _) = build_with(&b, "022", &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_ne!(manifest_digest(&s1), manifest_digest(&s3));
    let layout = t.path().join("sde");
    let mut c = kiln();
    c.env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "kiln.toml", "--output"])
        .arg(format!("oci:{}:v", layout.display()))
        .current_dir(&b);
    run(&mut c, "kiln build with SOURCE_DATE_EPOCH");
    let (m, config) = image(&layout, "v");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    for e in layer_entries(&blob(&layout, m["layers"][0]["digest"].as_str().unwrap())) {
        assert_eq!(e.mtime, 1_700_000_000, "{}", e.path);
    }
    let bad = kiln()
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .args(["build", "kiln.toml", "--plan"])
        .current_dir(&b)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SOURCE_DATE_EPOCH"));
}

/// A manifest with no host-dependent input, so its digest is the same on every machine.
/// Changing GOLDEN is a deliberate act: it means the tar writer, the compressor (flate2 and
/// zlib-rs are pinned to exact versions in Cargo.toml) or the OCI JSON changed. Say so in the
/// changelog of the release that changes it.
/// History: 6c7044149a7f (single-stream gzip) -> effaed6c2b63 (parallel 1 MiB-block gzip) ->
/// 548c7c0b607f (no entrypoint or cmd: `/usr/local/bin/hello` is a `#!hello` script whose
/// interpreter is not in the image, which `kiln build` now refuses; only the config changed).
const GOLDEN_MANIFEST: &str = r##"
[image]
name = "golden"
user = "nonroot"
workdir = "/home/nonroot"
env = { LANG = "C.UTF-8" }
ports = ["8080/tcp"]
labels = { "org.opencontainers.image.title" = "golden" }

[[component]]
name = "accounts"
kind = "accounts"
why = "run as nonroot"

[[component]]
name = "tmp"
kind = "dir"
to = "/tmp"
mode = "1777"
why = "scratch space"

[[component]]
name = "hello"
kind = "file"
content = "#!hello\n"
to = "/usr/local/bin/hello"
mode = "0755"
why = "stands in for a program"

[[component]]
name = "data"
kind = "tree"
from = "data"
to = "/srv/data"
why = "a tree with a long path"

[[component]]
name = "link"
kind = "symlink"
to = "/usr/bin/hello"
target = "../local/bin/hello"
why = "the usual name"
"##;

const GOLDEN: &str = "sha256:548c7c0b607fc0866459d28b3a8adf96e4d94b84f959d99f9e728345a4dae752";

#[test]
fn golden_digest() {
    let t = tempdir();
    let long = "d".repeat(60) + "/" + &"e".repeat(60) + "/" + &"f".repeat(60);
    std::fs::create_dir_all(t.path().join("data").join(&long)).unwrap();
    std::fs::write(
        t.path().join("data").join(&long).join("file.txt"),
        "long path\n",
    )
    .unwrap();
    std::fs::write(t.path().join("data/small.txt"), "small\n").unwrap();
    std::fs::write(t.path().join("kiln.toml"), GOLDEN_MANIFEST).unwrap();
    let s = build(
        &t.path().join("kiln.toml"),
        &format!("oci:{}:g", t.path().join("img").display()),
    );
    assert_eq!(
        manifest_digest(&s),
        GOLDEN,
        "the golden digest changed: see the comment on GOLDEN"
    );
}
