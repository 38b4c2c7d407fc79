//! Shared helpers: the kiln binary, per-test folders, required tools, images on disk.
//!
//! Tools are required, never optional: a missing tool fails the test with the command that
//! installs it (`cargo xtask test` installs everything).

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn kiln() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.env_remove("SOURCE_DATE_EPOCH").env("RUST_BACKTRACE", "1");
    c
}

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails (never skips) when `tool` is not installed.
pub(crate) fn require(tool: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{tool}` is not installed; run `cargo xtask test`, which installs every test tool");
}

pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("kiln-it-")
        .tempdir()
        .unwrap()
}

pub(crate) fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    check(&out, what);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies a folder of the repository (an example) into `dest`.
pub(crate) fn copy_tree(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        let d = dest.join(e.file_name());
        if t.is_dir() {
            if e.file_name() == "target" {
                continue;
            }
            copy_tree(&e.path(), &d);
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), d).unwrap();
        } else {
            std::fs::copy(e.path(), d).unwrap();
        }
    }
}

/// `kiln build MANIFEST --output SPEC --json`; returns the summary JSON.
pub(crate) fn build(manifest: &Path, output: &str) -> Value {
    let out = run(
        kiln()
            .args(["build"])
            .arg(manifest)
            .args(["--output", output, "--json"]),
        "kiln build",
    );
    serde_json::from_str(&out).unwrap()
}

pub(crate) fn manifest_digest(summary: &Value) -> String {
    summary["manifest"]["digest"].as_str().unwrap().to_string()
}

/// Reads a blob of an OCI layout.
pub(crate) fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

pub(crate) fn json_blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob(layout, digest)).unwrap()
}

/// The peak RSS that `/usr/bin/time -f maxrss_kib=%M` appended to a command's stderr, in KiB.
pub(crate) fn maxrss_kib(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS in {stderr}"))
}

/// The manifest digest of the image tagged `tag` in a layout.
pub(crate) fn layout_digest(layout: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The image manifest and config of the image tagged `tag` in `layout`.
pub(crate) fn image(layout: &Path, tag: &str) -> (Value, Value) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {index}"))
        .clone();
    let m = json_blob(layout, desc["digest"].as_str().unwrap());
    let c = json_blob(layout, m["config"]["digest"].as_str().unwrap());
    (m, c)
}

/// One tar entry as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TarEntry {
    pub(crate) path: String,
    pub(crate) kind: String,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) size: u64,
    pub sha256: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) mtime: u64,
    pub(crate) uname: Vec<u8>,
}

/// Every entry of a gzip-compressed layer blob.
pub(crate) fn layer_entries(bytes: &[u8]) -> Vec<TarEntry> {
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut a = tar::Archive::new(gz);
    let mut v = vec![];
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => "dir",
            tar::EntryType::Symlink => "symlink",
            tar::EntryType::Regular => "file",
            other => panic!("unexpected entry type {other:?}"),
        };
        let path = format!(
            "/{}",
            e.path().unwrap().to_string_lossy().trim_end_matches('/')
        );
        let target = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let mut sha = None;
        if kind == "file" {
            use sha2::Digest;
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = e.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            sha = Some(format!("sha256:{}", hex::encode(hasher.finalize())));
        }
        v.push(TarEntry {
            path,
            kind: kind.into(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            size: if kind == "file" { h.size().unwrap() } else { 0 },
            sha256: sha,
            target,
            mtime: h.mtime().unwrap(),
            uname: h.username_bytes().unwrap_or_default().to_vec(),
        });
    }
    v
}

/// `umoci unpack` of `layout:tag` into `bundle`; returns the rootfs.
pub(crate) fn unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let umoci = require("umoci");
    run(
        Command::new(umoci)
            .args(["unpack", "--image"])
            .arg(format!("{}:{tag}", layout.display()))
            .arg(bundle),
        "umoci unpack",
    );
    bundle.join("rootfs")
}

/// Runs the image's entrypoint (plus `args`, or the image's Cmd) in `chroot` as the image's
/// user, with an empty environment plus the image's Env.
pub(crate) fn run_in_chroot(rootfs: &Path, config: &Value, args: Option<&[&str]>) -> Output {
    let chroot = require("chroot");
    let cfg = &config["config"];
    let user = cfg["User"].as_str().unwrap();
    let mut argv: Vec<String> = cfg["Entrypoint"]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    match args {
        Some(a) => argv.extend(a.iter().map(|s| s.to_string())),
        None => argv.extend(
            cfg["Cmd"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| s.as_str().unwrap().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
    }
    // Like a container runtime, give the process its own /proc: glibc reads
    // /proc/self/exe to expand $ORIGIN for the main program.
    std::fs::create_dir_all(rootfs.join("proc")).unwrap();
    let mut c = Command::new(require("unshare"));
    c.args(["--fork", "--pid", "--mount"])
        .arg(format!("--mount-proc={}", rootfs.join("proc").display()))
        .arg(chroot);
    c.env_clear();
    for kv in cfg["Env"].as_array().unwrap() {
        let (k, v) = kv.as_str().unwrap().split_once('=').unwrap();
        c.env(k, v);
    }
    c.arg(format!("--userspec={user}")).arg(rootfs).args(&argv);
    c.output().unwrap()
}

pub(crate) fn skopeo_inspect(spec: &str) -> Value {
    let skopeo = require("skopeo");
    let out = run(
        Command::new(skopeo).args(["inspect", spec]),
        &format!("skopeo inspect {spec}"),
    );
    serde_json::from_str(&out).unwrap()
}

/// Compiles C `source` with gcc; `args` go after the source file.
pub(crate) fn cc(dir: &Path, source: &str, name: &str, out: &str, args: &[&str]) -> PathBuf {
    let gcc = require("gcc");
    let src = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let o = dir.join(out);
    run(
        Command::new(gcc)
            .arg("-O2")
            .arg("-o")
            .arg(&o)
            .arg(&src)
            .args(args)
            .current_dir(dir),
        &format!("gcc {name}"),
    );
    o
}

/// The plan JSON of a manifest.
pub(crate) fn plan_json(manifest: &Path) -> Value {
    let out = run(
        kiln().args(["build", "--plan", "--json"]).arg(manifest),
        "kiln build --plan --json",
    );
    serde_json::from_str(&out).unwrap()
}

/// The real path of the in-image `path`, with symlinks resolved by `readlink` (which answers
/// the target of an in-image path that is a symlink, else None): an absolute target restarts
/// at the image's `/`, `..` stops at `/`. Like closure-ref.py's `realpath_in`.
pub(crate) fn realpath_with(path: &str, readlink: impl Fn(&str) -> Option<String>) -> String {
    let mut parts: std::collections::VecDeque<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let mut out: Vec<String> = vec![];
    let mut hops = 0;
    while let Some(c) = parts.pop_front() {
        if c == "." {
            continue;
        }
        if c == ".." {
            out.pop();
            continue;
        }
        let here = format!(
            "/{}",
            out.iter()
                .chain([&c])
                .cloned()
                .collect::<Vec<_>>()
                .join("/")
        );
        match readlink(&here) {
            Some(target) => {
                hops += 1;
                assert!(hops <= 40, "symlink loop at {here}");
                if target.starts_with('/') {
                    out.clear();
                }
                for (i, t) in target.split('/').filter(|t| !t.is_empty()).enumerate() {
                    parts.insert(i, t.to_string());
                }
            }
            None => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// `realpath_with` inside the directory `root` (a sysroot or an unpacked rootfs): absolute
/// symlinks resolve inside `root`, never on the host.
pub(crate) fn realpath_in(root: &Path, path: &str) -> String {
    realpath_with(path, |p| {
        let host = root.join(p.trim_start_matches('/'));
        if host.symlink_metadata().ok()?.file_type().is_symlink() {
            Some(
                std::fs::read_link(&host)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else {
            None
        }
    })
}

/// Where the suite keeps caches: `$KILN_TESTBED` (set by `cargo xtask test`), else
/// `$HOME/.cache/kiln-testbed`.
pub(crate) fn testbed_dir() -> PathBuf {
    match std::env::var_os("KILN_TESTBED") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .expect("neither KILN_TESTBED nor HOME is set");
            Path::new(&home).join(".cache/kiln-testbed")
        }
    }
}

/// The ELF class (1 = 32-bit, 2 = 64-bit) and e_machine of a file (little-endian ELF).
pub(crate) fn elf_class_machine(path: &Path) -> (u8, u16) {
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .read_exact(&mut head)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &head[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    assert_eq!(head[5], 1, "{} is not little-endian", path.display());
    (head[4], u16::from_le_bytes([head[18], head[19]]))
}

/// SHA-256 of a host file, as `sha256:HEX`.
pub(crate) fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
}

/// One `Packages` list apt keeps for this machine's sources (read through `apt-get
/// indextargets`, so no host name is written here).
pub(crate) struct AptList {
    /// The list file, compressed as apt keeps it (lz4, gz, xz or plain).
    pub(crate) packages: PathBuf,
    /// The suite's `InRelease` beside it.
    pub(crate) inrelease: PathBuf,
    /// `deb URI SUITE COMPONENT`, the sources.list line apt made it from.
    pub(crate) source_line: String,
    /// The suite (`bookworm-updates`).
    pub(crate) suite: String,
}

/// The amd64 `Packages` lists of the `main` component of bookworm's suites that this
/// machine's apt has fetched (`apt-get update`), bookworm itself first.
pub(crate) fn apt_lists() -> Vec<AptList> {
    let out = run(
        Command::new(require("apt-get")).args([
            "indextargets",
            "--format",
            "$(FILENAME)|$(REPO_URI)|$(RELEASE)|$(COMPONENT)",
            "Created-By: Packages",
            "Architecture: amd64",
            "Component: main",
        ]),
        "apt-get indextargets",
    );
    let mut lists: Vec<AptList> = out
        .lines()
        .filter_map(|l| {
            let [file, uri, suite, component] = l.split('|').collect::<Vec<_>>()[..] else {
                return None;
            };
            if !suite.starts_with("bookworm") || !Path::new(file).exists() {
                return None;
            }
            let prefix = file
                .split(&format!("_{component}_binary-amd64_Packages"))
                .next()?;
            Some(AptList {
                packages: PathBuf::from(file),
                inrelease: PathBuf::from(format!("{prefix}_InRelease")),
                source_line: format!("deb {uri} {suite} {component}\n"),
                suite: suite.to_string(),
            })
        })
        .collect();
    lists.sort_by_key(|l| (l.suite != "bookworm", l.suite.clone()));
    assert!(
        lists.first().is_some_and(|l| l.suite == "bookworm"),
        "this test needs apt's lists of bookworm (apt-get update): {out}"
    );
    lists
}

/// The text of an apt list file, decompressed by apt itself.
pub(crate) fn apt_list_text(path: &Path) -> String {
    run(
        Command::new("/usr/lib/apt/apt-helper")
            .arg("cat-file")
            .arg(path),
        "apt-helper cat-file",
    )
}
