//! Dependency metadata embedded in real binaries: `kiln::elf::embedded` reads a Go program's
//! build info exactly as `go version -m` prints it, and a `cargo auditable` binary's crate list
//! exactly as the fixture's Cargo.lock names the crates it was built from.
//!
//! The Go program (tests/fixtures/go) is built at test time in module mode with two
//! dependencies replaced by local directories and one served, with its go.sum hash, by a
//! file-based module proxy the test writes; nothing is fetched from the network. The Rust
//! program (tests/fixtures/rust-auditable) depends on itoa from crates.io (and, at build time
//! only, on a path build-dependency and a path proc-macro); its target
//! directory is kept in the test bed, so only the first build downloads and compiles.

use crate::util::*;
use kiln::elf::embedded::{go_build_info, rust_audit_data, GoBuildInfo, GoModule};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The module the proxy serves, as tests/fixtures/go/app/go.mod requires it.
const LIBC: &str = "example.com/libc";
const LIBC_VERSION: &str = "v1.4.0";

/// A temporary directory holding a Go module cache, which Go makes read-only: made writable
/// again before it is deleted, even when the test fails.
pub(crate) struct GoTemp(pub(crate) tempfile::TempDir);

impl Drop for GoTemp {
    fn drop(&mut self) {
        make_writable(self.0.path());
    }
}

fn make_writable(path: &Path) {
    let Ok(meta) = path.symlink_metadata() else {
        return;
    };
    if meta.is_dir() {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                make_writable(&e.path());
            }
        }
    } else if meta.is_file() {
        let mode = meta.permissions().mode() | 0o200;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
}

/// A zip archive with `entries` stored uncompressed (what a Go module proxy serves).
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(data);
        // version 2.0, no flags, stored, 1980-01-01 00:00, crc, sizes, name length, no extra
        let fields = |sig: u32, buf: &mut Vec<u8>| {
            buf.extend_from_slice(&sig.to_le_bytes());
            if sig == 0x0201_4b50 {
                buf.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            for v in [20u16, 0, 0, 0, 0x21] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, data.len() as u32, data.len() as u32] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
        };
        fields(0x0403_4b50, &mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        fields(0x0201_4b50, &mut central);
        // comment length, disk, internal and external attributes, local header offset
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for _ in 0..2 {
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Writes a file-based module proxy under `proxy` serving tests/fixtures/go/libc as
/// example.com/libc v1.4.0.
fn write_proxy(proxy: &Path) {
    let src = repo().join("tests/fixtures/go/libc");
    let dir = proxy.join(LIBC).join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("list"), format!("{LIBC_VERSION}\n")).unwrap();
    std::fs::write(
        dir.join(format!("{LIBC_VERSION}.info")),
        format!("{{\"Version\":\"{LIBC_VERSION}\",\"Time\":\"2024-01-01T00:00:00Z\"}}\n"),
    )
    .unwrap();
    std::fs::copy(src.join("go.mod"), dir.join(format!("{LIBC_VERSION}.mod"))).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            (
                format!("{LIBC}@{LIBC_VERSION}/{f}"),
                std::fs::read(src.join(f)).unwrap(),
            )
        })
        .collect();
    std::fs::write(dir.join(format!("{LIBC_VERSION}.zip")), zip(&entries)).unwrap();
}

/// `go` with an isolated environment under `tmp`: its own GOPATH and GOCACHE, only the file
/// proxy, no checksum database, no VCS stamping, no cgo.
fn go(tmp: &Path) -> Command {
    let mut c = Command::new(require("go"));
    c.env("GOPATH", tmp.join("gopath"))
        .env("GOCACHE", tmp.join("gocache"))
        .env("GOPROXY", format!("file://{}", tmp.join("proxy").display()))
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "-buildvcs=false -mod=mod")
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env_remove("GOROOT")
        .env_remove("GOPRIVATE")
        .env_remove("GONOPROXY");
    c
}

/// Parses `go version -m BIN` output independently of kiln: `BIN: GOVERSION`, then one
/// tab-indented `path`, `mod`, `dep`, `=>` or `build` line each (blank lines ignored).
fn parse_go_version_m(text: &str) -> GoBuildInfo {
    let mut lines = text.lines();
    let first = lines.next().expect("no output");
    let (_, go_version) = first.rsplit_once(": ").expect(first);
    let module = |cols: &[&str]| GoModule {
        path: cols[0].to_string(),
        version: cols[1].to_string(),
        sum: cols.get(2).filter(|s| !s.is_empty()).map(|s| s.to_string()),
        replaced_by: None,
    };
    let mut info = GoBuildInfo {
        go_version: go_version.to_string(),
        path: String::new(),
        main: module(&["", ""]),
        deps: vec![],
        settings: vec![],
    };
    let mut replaced_main = true;
    for line in lines {
        let line = line.strip_prefix('\t').expect(line);
        let cols: Vec<&str> = line.split('\t').collect();
        match cols[0] {
            "" => {}
            "path" => info.path = cols[1].to_string(),
            "mod" => {
                info.main = module(&cols[1..]);
                replaced_main = true;
            }
            "dep" => {
                info.deps.push(module(&cols[1..]));
                replaced_main = false;
            }
            "=>" => {
                let target = if replaced_main {
                    &mut info.main
                } else {
                    info.deps.last_mut().unwrap()
                };
                target.replaced_by = Some(Box::new(module(&cols[1..])));
            }
            "build" => {
                let (k, v) = cols[1].split_once('=').expect(line);
                let v = match v.strip_prefix('"') {
                    Some(quoted) => {
                        assert!(!quoted.contains('\\'), "escapes in {line:?}");
                        quoted.strip_suffix('"').expect(line)
                    }
                    None => v,
                };
                info.settings.push((k.to_string(), v.to_string()));
            }
            other => panic!("unexpected `go version -m` line {other:?}: {line:?}"),
        }
    }
    info
}

pub(crate) fn go_version_m(bin: &Path, tmp: &Path) -> GoBuildInfo {
    let out = run(go(tmp).args(["version", "-m"]).arg(bin), "go version -m");
    assert!(
        !out.is_empty(),
        "`go version -m {}` printed nothing",
        bin.display()
    );
    parse_go_version_m(&out)
}

/// Builds the Go fixture in `tmp` (a `GoTemp`): the sources under `tmp/src`, the module proxy
/// under `tmp/proxy`, Go's caches under `tmp`; returns the binary `tmp/app-bin`.
pub(crate) fn build_go_fixture(tmp: &Path) -> PathBuf {
    for dir in ["app", "liba", "libb"] {
        copy_tree(
            &repo().join("tests/fixtures/go").join(dir),
            &tmp.join("src").join(dir),
        );
    }
    write_proxy(&tmp.join("proxy"));
    let bin = tmp.join("app-bin");
    run(
        go(tmp)
            .args(["build", "-ldflags=-s -w", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(tmp.join("src/app")),
        "go build",
    );
    bin
}

#[test]
fn go_build_info_matches_go_version_m() {
    let started = Instant::now();
    let guard = GoTemp(tempdir());
    let tmp = guard.0.path();
    let bin = build_go_fixture(tmp);
    let built = started.elapsed();

    let bytes = std::fs::read(&bin).unwrap();
    let ours = go_build_info(&bytes).expect("no Go build info found");
    let theirs = go_version_m(&bin, tmp);
    assert_eq!(ours, theirs);

    // What the fixture's go.mod says, independently of both readers.
    assert!(ours.go_version.starts_with("go1."), "{}", ours.go_version);
    assert_eq!(ours.path, "example.com/app");
    assert_eq!(
        (&*ours.main.path, &*ours.main.version),
        ("example.com/app", "(devel)")
    );
    let deps: Vec<(&str, &str)> = ours.deps.iter().map(|d| (&*d.path, &*d.version)).collect();
    assert_eq!(
        deps,
        [
            ("example.com/liba", "v1.2.3"),
            ("example.com/libb", "v0.1.0"),
            (LIBC, LIBC_VERSION)
        ]
    );
    for (dep, dir) in ours.deps[..2].iter().zip(["../liba", "../libb"]) {
        let r = dep.replaced_by.as_deref().expect("a replacement");
        assert_eq!((&*r.path, &*r.version, &r.sum), (dir, "(devel)", &None));
        assert_eq!(dep.sum, None);
    }
    let libc = &ours.deps[2];
    assert!(
        libc.sum.as_deref().unwrap_or("").starts_with("h1:"),
        "{libc:?}"
    );
    assert_eq!(libc.replaced_by, None);
    assert_eq!(libc.purl(), "pkg:golang/example.com/libc@v1.4.0");
    assert_eq!(ours.main.purl(), "pkg:golang/example.com/app");
    for setting in [
        ("-ldflags", "-s -w"),
        ("CGO_ENABLED", "0"),
        ("GOOS", "linux"),
    ] {
        let setting = (setting.0.to_string(), setting.1.to_string());
        assert!(
            ours.settings.contains(&setting),
            "{setting:?} in {:?}",
            ours.settings
        );
    }

    // Without section headers, the blob is found in the data segment (Go agrees).
    let mut headerless = bytes.clone();
    assert_eq!(
        &headerless[..6],
        b"\x7fELF\x02\x01",
        "a little-endian ELF64 file"
    );
    headerless[0x28..0x30].fill(0); // e_shoff
    headerless[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    let headerless_bin = tmp.join("app-headerless");
    std::fs::write(&headerless_bin, &headerless).unwrap();
    // `go version -m` skips files that are not executable.
    std::fs::set_permissions(&headerless_bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(go_build_info(&headerless).as_ref(), Some(&ours));
    assert_eq!(go_version_m(&headerless_bin, tmp), ours);

    // Neither reader claims the other's binaries.
    assert_eq!(rust_audit_data(&bytes), None);
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(go_build_info(&exe), None);
    eprintln!(
        "embedded: go build {:.1}s, checks {:.1}s",
        built.as_secs_f64(),
        (started.elapsed() - built).as_secs_f64()
    );
}

/// The crates of a Cargo.lock: (name, version, source) with `crates.io` or `local`, the way
/// cargo-auditable names sources.
fn locked_crates(lock: &Path) -> Vec<(String, String, String, Vec<String>)> {
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    let mut crates: Vec<_> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_string();
            let source = match p.get("source").and_then(|s| s.as_str()) {
                None => "local",
                Some(s) if s.contains("github.com/rust-lang/crates.io-index") => "crates.io",
                Some(s) => panic!("unexpected source {s}"),
            };
            let deps = p
                .get("dependencies")
                .and_then(|d| d.as_array())
                .map(|d| d.iter().map(|d| d.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (s("name"), s("version"), source.to_string(), deps)
        })
        .collect();
    crates.sort();
    crates
}

/// Builds tests/fixtures/rust-auditable with `cargo auditable` (its target directory is kept in
/// the test bed); returns the binary.
pub(crate) fn build_rust_auditable_fixture() -> PathBuf {
    require("cargo-auditable");
    build_rust_fixture(&["auditable", "build"], "rust-auditable-target")
}

/// Builds tests/fixtures/rust-auditable with a plain `cargo build`: a Rust program without
/// audit data.
pub(crate) fn build_rust_plain_fixture() -> PathBuf {
    build_rust_fixture(&["build"], "rust-plain-target")
}

/// Runs `cargo ARGS --release` on the fixture with a target directory `NAME-HASH` in the test
/// bed, HASH naming this checkout, so two checkouts testing at once never overwrite each
/// other's binary.
fn build_rust_fixture(args: &[&str], name: &str) -> PathBuf {
    let fixture = repo().join("tests/fixtures/rust-auditable");
    let checkout = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(repo().as_os_str().as_encoded_bytes()))
    };
    let target = testbed_dir().join(format!("{name}-{}", &checkout[..12]));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(
        Command::new(cargo)
            .args(args)
            .args(["--release", "--locked", "--quiet"])
            .arg("--manifest-path")
            .arg(fixture.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC_WORKSPACE_WRAPPER"),
        &format!("cargo {}", args.join(" ")),
    );
    target.join("release/kiln-auditable-fixture")
}

#[test]
fn rust_audit_data_lists_the_locked_crates() {
    let started = Instant::now();
    let fixture = repo().join("tests/fixtures/rust-auditable");
    let bin = build_rust_auditable_fixture();
    let built = started.elapsed();
    let bytes = std::fs::read(&bin).unwrap();
    let deps = rust_audit_data(&bytes)
        .expect("no .dep-v0 section")
        .expect("readable audit data");

    // Exactly the crates of Cargo.lock (the root, itoa, the build-dependency and the
    // proc-macro), with their versions, sources and dependency edges.
    let ours: Vec<_> = {
        let mut v: Vec<_> = deps
            .packages
            .iter()
            .map(|p| {
                let edges = p
                    .dependencies
                    .iter()
                    .map(|&i| deps.packages[i].name.clone())
                    .collect();
                (p.name.clone(), p.version.clone(), p.source.clone(), edges)
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(ours, locked_crates(&fixture.join("Cargo.lock")));
    let roots: Vec<&str> = deps
        .packages
        .iter()
        .filter(|p| p.root)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(roots, ["kiln-auditable-fixture"]);
    // The build-dependency and the proc-macro are `kind: build`: none of their code is in the
    // binary.
    let build_only: Vec<&str> = deps
        .packages
        .iter()
        .filter(|p| p.is_build_only())
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        build_only,
        ["kiln-fixture-build-helper", "kiln-fixture-macro"],
        "{deps:?}"
    );
    assert!(
        deps.packages
            .iter()
            .all(|p| p.is_build_only() || p.kind.is_none()),
        "{deps:?}"
    );
    let itoa = deps.packages.iter().find(|p| p.name == "itoa").unwrap();
    assert_eq!(itoa.purl(), format!("pkg:cargo/itoa@{}", itoa.version));

    assert_eq!(go_build_info(&bytes), None);
    eprintln!(
        "embedded: cargo auditable build {:.1}s ({})",
        built.as_secs_f64(),
        bin.display()
    );
}
