//! `deb` components from a `[[source]]` archive, end to end: a throw-away archive signed by a
//! throw-away key (`debrepo`), packages built with dpkg-deb around a real program, its private
//! library and the host's C library; the image built, unpacked and run as nonroot; the chain
//! of trust refused at each link; the lock's pins honoured.

use crate::debrepo::{DebSpec, Repo};
use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An archive with `hello` (a program) → `libgreet1` (its library) → `libc6` (the host's C
/// library and loader, at Debian's unmerged paths), `hello` → `greeting-data` (virtual,
/// provided by `greet-data-en`), and a documentation file that must not ship.
fn archive(dir: &Path, greeting: &str, version: &str) -> Repo {
    let read = |p: &str| fs_err::read(fs_err::canonicalize(p).unwrap()).unwrap();
    let mut repo = Repo::new("stable");
    repo.add(
        DebSpec::new("libc6", "2.36-9", "amd64")
            .file(
                "/lib/x86_64-linux-gnu/libc.so.6",
                &read("/lib/x86_64-linux-gnu/libc.so.6"),
                0o755,
            )
            .file(
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                &read("/lib64/ld-linux-x86-64.so.2"),
                0o755,
            )
            .symlink(
                "/lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            ),
    );
    let mut data =
        DebSpec::new("greet-data-en", "1.0-1", "all").file("/usr/share/greet/en.txt", b"en", 0o644);
    data.provides = Some("greeting-data".into());
    repo.add(data);
    add_hello(&mut repo, dir, greeting, version);
    repo.publish();
    repo
}

/// Adds `hello` and `libgreet1` at `version`, saying `greeting`.
fn add_hello(repo: &mut Repo, dir: &Path, greeting: &str, version: &str) {
    let lib = cc(
        dir,
        &format!("const char *greet(void) {{ return \"{greeting}\"; }}\n"),
        "greet.c",
        "libgreet.so.1",
        &["-shared", "-fPIC", "-Wl,-soname,libgreet.so.1"],
    );
    let prog = cc(
        dir,
        "#include <stdio.h>\nconst char *greet(void);\nint main(void) { puts(greet()); return 0; }\n",
        "hello.c",
        "hello",
        &["-L.", "-l:libgreet.so.1"],
    );
    let read = |p: &Path| fs_err::read(p).unwrap();
    repo.add(
        DebSpec::new("libgreet1", version, "amd64")
            .file(
                "/usr/lib/x86_64-linux-gnu/libgreet.so.1",
                &read(&lib),
                0o644,
            )
            .depends("libc6 (>= 2.34)"),
    );
    repo.add(
        DebSpec::new("hello", version, "amd64")
            .file("/usr/bin/hello", &read(&prog), 0o755)
            .file("/usr/share/doc/hello/changelog.gz", b"not shipped", 0o644)
            .file("/usr/share/doc/hello/copyright", b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: MIT\n", 0o644)
            .depends(&format!("libgreet1 (>= {version}), libc6 (>= 2.34) | libc-fake, greeting-data")),
    );
}

fn manifest(dir: &Path, repo: &Repo, keyring: &Path) -> PathBuf {
    let m = dir.join("kiln.toml");
    fs_err::write(
        &m,
        format!(
            r#"[image]
name = "hello"
entrypoint = ["/usr/bin/hello"]
user = "nonroot"

[[source]]
name = "test"
kind = "debian"
url = "file://{}"
suite = "stable"
keyring = "{}"

[[component]]
name = "hello"
kind = "deb"
source = "test"
packages = ["hello"]
why = "the program and what its package depends on"

[[component]]
name = "accounts"
kind = "accounts"
why = "the nonroot user"
"#,
            repo.dir.display(),
            keyring.display()
        ),
    )
    .unwrap();
    m
}

fn kiln_in(cache: &Path) -> Command {
    let mut c = kiln();
    c.env("KILN_CACHE_DIR", cache);
    c
}

fn build_to(cache: &Path, m: &Path, layout: &Path, extra: &[&str]) -> std::process::Output {
    kiln_in(cache)
        .arg("build")
        .arg(m)
        .args(["--output", &format!("oci:{}:t", layout.display()), "--json"])
        .args(extra)
        .output()
        .unwrap()
}

fn entry<'a>(plan: &'a Value, path: &str) -> Option<&'a Value> {
    plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
}

#[test]
fn deb_archive_image_runs_and_says_where_each_file_came_from() {
    let t = tempdir();
    let repo = archive(t.path(), "hello from the archive", "1.0-1");
    let m = manifest(t.path(), &repo, &repo.keyring);
    let cache = t.path().join("cache");
    let plan: Value = serde_json::from_str(&run(
        kiln_in(&cache).args(["build", "--plan", "--json"]).arg(&m),
        "kiln build --plan",
    ))
    .unwrap();
    // Merged /usr: libc6's /lib files live under /usr/lib, reached through the /lib alias.
    let libc = entry(&plan, "/usr/lib/x86_64-linux-gnu/libc.so.6").expect("libc ships");
    assert_eq!(libc["package"]["name"], "libc6");
    let greet = entry(&plan, "/usr/lib/x86_64-linux-gnu/libgreet.so.1").expect("libgreet");
    assert_eq!(
        greet["package_chain"],
        serde_json::json!(["libgreet1", "hello"])
    );
    assert!(
        entry(&plan, "/usr/share/greet/en.txt").is_some(),
        "the virtual package's provider ships"
    );
    assert!(
        entry(&plan, "/usr/share/doc/hello/changelog.gz").is_none(),
        "docs are left out"
    );
    assert!(
        entry(&plan, "/usr/share/doc/hello/copyright").is_some(),
        "the licence stays"
    );
    assert!(entry(&plan, "/var/lib/dpkg/status.d/libgreet1").is_some());
    assert_eq!(entry(&plan, "/lib64").unwrap()["target"], "usr/lib64");

    let layout = t.path().join("img");
    let out = build_to(&cache, &m, &layout, &[]);
    check(&out, "kiln build from the archive");
    let (_, config) = image(&layout, "t");
    let rootfs = unpack(&layout, "t", &t.path().join("bundle"));
    let ran = run_in_chroot(&rootfs, &config, None);
    check(&ran, "hello in chroot");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "hello from the archive"
    );
    // The SBOMs name each package's .deb and the signed index that listed it, and validate.
    for (format, file) in [("spdx", "sbom.spdx.json"), ("cyclonedx", "sbom.cdx.json")] {
        let text = run(
            kiln_in(&cache)
                .args(["sbom", "--format", format])
                .arg(format!("oci:{}:t", layout.display())),
            "kiln sbom",
        );
        fs_err::write(t.path().join(file), &text).unwrap();
        assert!(
            text.contains("libgreet1_1.0-1_amd64.deb"),
            "{format}: {text}"
        );
        assert!(
            text.contains("test/stable"),
            "{format}: the source and suite"
        );
    }
    crate::sbom::validate_spdx(&t.path().join("sbom.spdx.json"));
    crate::sbom::validate_cdx(&t.path().join("sbom.cdx.json"));
    // The lock pins the release and every package by hash.
    let lock = fs_err::read_to_string(t.path().join("kiln.lock")).unwrap();
    assert!(
        lock.contains("[releases]") && lock.contains("\"test/stable\""),
        "{lock}"
    );
    assert!(lock.contains("libgreet1 = \"1.0-1 amd64 sha256:"), "{lock}");
}

#[test]
fn deb_archive_refuses_other_keys_and_tampered_bytes() {
    let t = tempdir();
    let repo = archive(t.path(), "hi", "1.0-1");
    // Signed by a key the keyring does not hold.
    let other = repo.gpg.gen_key("someone else", "never");
    let other_ring = t.path().join("other.gpg");
    repo.gpg.export(&[&other], &other_ring);
    let m = manifest(t.path(), &repo, &other_ring);
    let cache = t.path().join("cache");
    let out = kiln_in(&cache)
        .args(["build", "--plan"])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not trusted"),
        "{err}"
    );
    assert!(
        err.contains(&repo.fingerprint[repo.fingerprint.len() - 16..])
            || err.to_lowercase().contains("keyring"),
        "{err}"
    );

    // A tampered Packages index (every copy: plain, compressed and by-hash).
    let m = manifest(t.path(), &repo, &repo.keyring);
    let index_dir = repo.path(&format!("{}/main/binary-amd64", repo.dists()));
    let saved = t.path().join("saved-index");
    copy_tree(&index_dir, &saved);
    let tamper = |p: &Path| {
        let mut b = fs_err::read(p).unwrap();
        let n = b.len();
        b[n / 2] ^= 1;
        fs_err::write(p, b).unwrap();
    };
    for e in walk(&index_dir) {
        tamper(&e);
    }
    let out = kiln_in(&t.path().join("cache2"))
        .args(["build", "--plan"])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("index"), "{err}");
    fs_err::remove_dir_all(&index_dir).unwrap();
    copy_tree(&saved, &index_dir);

    // A tampered .deb.
    let deb = walk(&repo.path("pool"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("libgreet1"))
        .unwrap();
    tamper(&deb);
    let out = kiln_in(&t.path().join("cache3"))
        .args(["build", "--plan"])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a tampered package must be refused");
    assert!(
        err.contains("SHA-256") || err.contains("sha256") || err.contains("hash"),
        "{err}"
    );
}

#[test]
fn deb_archive_pins_hold_until_lock_update() {
    let t = tempdir();
    let mut repo = archive(t.path(), "one", "1.0-1");
    let m = manifest(t.path(), &repo, &repo.keyring);
    let cache = t.path().join("cache");
    let first = build_to(&cache, &m, &t.path().join("a"), &[]);
    check(&first, "first build");
    let digest = |o: &std::process::Output| {
        manifest_digest(&serde_json::from_slice::<Value>(&o.stdout).unwrap())
    };
    let lock_path = t.path().join("kiln.lock");
    let old_lock = fs_err::read_to_string(&lock_path).unwrap();
    // The archive moves on: new hello and libgreet1, a new signed release.
    let v2 = t.path().join("v2");
    fs_err::create_dir_all(&v2).unwrap();
    add_hello(&mut repo, &v2, "two", "1.0-2");
    repo.publish();
    // The pinned release is in the cache: plain and --locked builds give the same image.
    let out = build_to(&cache, &m, &t.path().join("b"), &["--locked"]);
    check(&out, "--locked with the pinned release in the cache");
    assert_eq!(digest(&out), digest(&first), "the pins give the same image");
    let out = build_to(&cache, &m, &t.path().join("b2"), &[]);
    check(&out, "a plain build keeps the pins");
    assert_eq!(digest(&out), digest(&first));
    // `kiln lock --update` moves them on purpose and says what moved.
    let upd = run(
        kiln_in(&cache).args(["lock", "--update"]).arg(&m),
        "kiln lock --update",
    );
    assert!(
        upd.contains("deb libgreet1: 1.0-1") && upd.contains("1.0-2"),
        "{upd}"
    );
    let layout = t.path().join("c");
    let out = build_to(&cache, &m, &layout, &["--locked"]);
    check(&out, "--locked after the update");
    assert_ne!(digest(&out), digest(&first));
    let (_, config) = image(&layout, "t");
    let rootfs = unpack(&layout, "t", &t.path().join("bundle"));
    let ran = run_in_chroot(&rootfs, &config, None);
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "two");
    // The old lock, with its release gone from the cache: --locked refuses the moved archive.
    fs_err::write(&lock_path, old_lock).unwrap();
    fs_err::remove_dir_all(cache.join("deb/releases")).unwrap();
    let out = build_to(&cache, &m, &t.path().join("d"), &["--locked"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not in the cache"),
        "{err}"
    );
    assert!(
        err.contains("snapshot"),
        "the hint names snapshot mirrors: {err}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
