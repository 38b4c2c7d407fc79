//! Cross-architecture images: an arm64 program (cross-compiled with aarch64-linux-gnu-gcc)
//! resolved inside an arm64 sysroot unpacked from Debian's packages, checked against lddtree,
//! packaged with `[image] sysroot`, and run strictly under qemu user-mode emulation in a chroot
//! of the unpacked image (a library missing from the image makes the run fail: no fallback to
//! the host's arm64 libraries).

use crate::util::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// What the sysroot is made of: glibc (loader and libc), OpenSSL's libcrypto, libgcc_s.
const SYSROOT_PACKAGES: &[&str] = &["libc6", "libssl3", "libgcc-s1"];

/// ELF e_machine of AArch64.
const EM_AARCH64: u16 = 183;

/// The arm64 loader's PT_INTERP.
const LOADER: &str = "/lib/ld-linux-aarch64.so.1";

/// The cached .debs, found once per test process (`apt-cache` takes a second per call).
static DEBS: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// The candidate version apt would download for `NAME:arm64`, and its SHA-256.
struct Candidate {
    name: String,
    version: String,
    sha256: String,
}

/// The candidates of [`SYSROOT_PACKAGES`], from one `apt-cache show --no-all-versions`.
fn candidates() -> Vec<Candidate> {
    let specs: Vec<String> = SYSROOT_PACKAGES
        .iter()
        .map(|n| format!("{n}:arm64"))
        .collect();
    let out = Command::new(require("apt-cache"))
        .args(["show", "--no-all-versions"])
        .args(&specs)
        .output()
        .expect("cannot run apt-cache");
    assert!(
        out.status.success(),
        "apt-cache show {} failed: {}\nthe arm64 architecture or its package lists are \
         missing; run `cargo xtask setup` (adds arm64 and runs apt-get update)",
        specs.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let records: Vec<BTreeMap<&str, &str>> = text
        .split("\n\n")
        .map(|r| {
            r.lines()
                .filter_map(|l| l.split_once(": "))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|r| r.contains_key("Package"))
        .collect();
    SYSROOT_PACKAGES
        .iter()
        .map(|name| {
            let r = records
                .iter()
                .find(|r| r["Package"] == *name && r.get("Architecture") == Some(&"arm64"))
                .unwrap_or_else(|| panic!("apt-cache show: no arm64 record of {name} in\n{text}"));
            let field = |k: &str| {
                r.get(k)
                    .unwrap_or_else(|| panic!("apt-cache show {name}: no `{k}`"))
                    .trim()
                    .to_string()
            };
            Candidate {
                name: name.to_string(),
                version: field("Version"),
                sha256: field("SHA256"),
            }
        })
        .collect()
}

/// The .debs of [`SYSROOT_PACKAGES`] for arm64, from `$KILN_TESTBED/debs-arm64`, keyed by
/// version: a package whose candidate version is not cached (or whose cached file does not
/// match the archive's SHA-256) is downloaded with `apt-get download`, and other versions are
/// removed. Concurrent test processes are safe: a download lands by atomic rename.
fn arm64_debs() -> Vec<PathBuf> {
    DEBS.get_or_init(|| {
        let cache = testbed_dir().join("debs-arm64");
        std::fs::create_dir_all(&cache).unwrap();
        let mut debs = vec![];
        for c in candidates() {
            let file = cache.join(format!(
                "{}_{}_arm64.deb",
                c.name,
                c.version.replace(':', "%3a")
            ));
            let cached = file.is_file() && sha256_file(&file) == format!("sha256:{}", c.sha256);
            if !cached {
                download(&c, &cache, &file);
            }
            for e in std::fs::read_dir(&cache).unwrap() {
                let p = e.unwrap().path();
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                if n.starts_with(&format!("{}_", c.name)) && n.ends_with("_arm64.deb") && p != file
                {
                    let _ = std::fs::remove_file(&p);
                }
            }
            debs.push(file);
        }
        debs
    })
    .clone()
}

fn download(c: &Candidate, cache: &Path, file: &Path) {
    let staging = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache)
        .unwrap();
    run(
        Command::new(require("apt-get"))
            .args(["download", "-q"])
            .arg(format!("{}:arm64={}", c.name, c.version))
            .current_dir(staging.path()),
        &format!("apt-get download {}:arm64={}", c.name, c.version),
    );
    let got: Vec<PathBuf> = std::fs::read_dir(staging.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(got.len(), 1, "apt-get download left {got:?}");
    assert_eq!(
        sha256_file(&got[0]),
        format!("sha256:{}", c.sha256),
        "{} does not match the archive's SHA256",
        got[0].display()
    );
    std::fs::rename(&got[0], file).unwrap();
}

/// An arm64 sysroot in `dir/sysroot`: the cached .debs unpacked with `dpkg -x` (not merged-/usr)
/// and an `etc/ld.so.conf` including `ld.so.conf.d` (libc6 ships the multiarch directories
/// there). Returns its canonical path.
pub(crate) fn sysroot(dir: &Path) -> PathBuf {
    let sr = dir.join("sysroot");
    std::fs::create_dir_all(&sr).unwrap();
    let dpkg = require("dpkg");
    for deb in arm64_debs() {
        run(
            Command::new(&dpkg).arg("-x").arg(&deb).arg(&sr),
            &format!("dpkg -x {}", deb.display()),
        );
    }
    std::fs::write(
        sr.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::canonicalize(&sr).unwrap()
}

/// examples/libssl-c/ssl.c cross-compiled for arm64 as `dir/ssl`.
pub(crate) fn compile_ssl(dir: &Path) -> PathBuf {
    std::fs::copy(repo().join("examples/libssl-c/ssl.c"), dir.join("ssl.c")).unwrap();
    run(
        Command::new(require("aarch64-linux-gnu-gcc"))
            .args(["-O2", "-o", "ssl", "ssl.c", "-lcrypto"])
            .current_dir(dir),
        "aarch64-linux-gnu-gcc ssl.c",
    );
    let ssl = dir.join("ssl");
    assert_eq!(elf_class_machine(&ssl), (2, EM_AARCH64), "ssl is not arm64");
    ssl
}

/// The closure lddtree (pax-utils) finds for `dir/ssl` inside `sr`, as in-root real paths
/// (the loader included, the file itself not); a library it cannot find is `missing:NAME`.
fn lddtree_closure(dir: &Path, sr: &Path) -> BTreeSet<String> {
    require("lddtree");
    let out = run(
        Command::new("/usr/bin/python3")
            .arg("/usr/bin/lddtree")
            .arg("-R")
            .arg(sr)
            .args(["-l", "ssl"])
            .current_dir(dir),
        "lddtree -R SR -l ssl",
    );
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("ssl"),
        "lddtree -l lists the file first:\n{out}"
    );
    let prefix = format!("{}/", sr.display());
    lines
        .map(|l| {
            if !l.contains('/') {
                return format!("missing:{l}");
            }
            let inner = l
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("lddtree printed {l}, outside {}", sr.display()));
            realpath_in(sr, &format!("/{inner}"))
        })
        .collect()
}

fn kiln_ldd_list(sr: &Path, file: &Path) -> BTreeSet<String> {
    run(
        kiln()
            .args(["ldd", "--list", "--sysroot"])
            .arg(sr)
            .arg(file),
        "kiln ldd --sysroot SR --list ssl",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn arm64_ldd_in_sysroot_matches_lddtree() {
    let t = tempdir();
    let ssl = compile_ssl(t.path());
    let sr = sysroot(t.path());
    let reference = lddtree_closure(t.path(), &sr);
    // The reference itself is sane: the sysroot's loader, libc and libcrypto, none missing.
    let loader = realpath_in(&sr, LOADER);
    assert_eq!(loader, "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1");
    for want in [
        loader.as_str(),
        "/lib/aarch64-linux-gnu/libc.so.6",
        "/usr/lib/aarch64-linux-gnu/libcrypto.so.3",
    ] {
        assert!(reference.contains(want), "lddtree: {reference:?}");
    }
    assert!(
        !reference.iter().any(|p| p.starts_with("missing:")),
        "lddtree: {reference:?}"
    );
    assert_eq!(kiln_ldd_list(&sr, &ssl), reference);
}

/// The image's architecture, layers and run: built from a manifest with `[image] sysroot`.
#[test]
fn arm64_image_from_sysroot_runs_under_emulation() {
    let t = tempdir();
    let dir = t.path();
    compile_ssl(dir);
    let sr = sysroot(dir);
    let reference = lddtree_closure(dir, &sr);
    let manifest = dir.join("kiln.toml");
    std::fs::write(
        &manifest,
        r#"[image]
name = "ssl-arm64"
entrypoint = ["/usr/local/bin/ssl-version"]
user = "nonroot"
sysroot = "sysroot"

[[component]]
name = "ssl-version"
kind = "elf"
from = "ssl"
to = "/usr/local/bin/ssl-version"
why = "the arm64 program this image exists to run; its libraries come from the arm64 sysroot"

[[component]]
name = "accounts"
kind = "accounts"
why = "/etc/passwd and /etc/group for the nonroot user the image runs as"

[[component]]
name = "ca-certificates"
kind = "ca-bundle"
why = "trust anchors the program counts through SSL_CERT_FILE"
"#,
    )
    .unwrap();

    // What ships as a library comes from the sysroot, and is exactly the closure lddtree finds
    // there.
    let plan = plan_json(&manifest);
    let libs: BTreeMap<String, String> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["layer"] == "libraries" && e["type"] == "file")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        libs.keys().cloned().collect::<BTreeSet<_>>(),
        reference,
        "the libraries layer holds the closure lddtree finds in the sysroot; plan sources: \
         {libs:#?}"
    );
    for (path, source) in &libs {
        assert_eq!(
            Path::new(source),
            sr.join(path.trim_start_matches('/')),
            "{path} must be taken from the sysroot"
        );
    }

    let layout = dir.join("out/img");
    let spec = format!("oci:{}:t1", layout.display());
    build(&manifest, &spec);
    let (m, config) = image(&layout, "t1");
    assert_eq!(config["architecture"], "arm64", "{config}");
    assert_eq!(config["os"], "linux");
    let ins = skopeo_inspect(&spec);
    assert_eq!(ins["Architecture"], "arm64", "{ins}");
    assert_eq!(ins["Os"], "linux");

    // Every layer's entries, by path.
    let mut entries: BTreeMap<String, TarEntry> = BTreeMap::new();
    for l in m["layers"].as_array().unwrap() {
        for e in layer_entries(&blob(&layout, l["digest"].as_str().unwrap())) {
            entries.insert(e.path.clone(), e);
        }
    }
    // The loader's PT_INTERP path is a symlink chain, inside the image, to the real loader.
    assert_eq!(
        entries.get(LOADER).map(|e| e.kind.as_str()),
        Some("symlink"),
        "{LOADER} in the layers"
    );
    let in_layers = |p: &str| {
        realpath_with(p, |q| {
            entries
                .get(q)
                .filter(|e| e.kind == "symlink")
                .and_then(|e| e.target.clone())
        })
    };
    let real_loader = in_layers(LOADER);
    assert_eq!(real_loader, realpath_in(&sr, LOADER));
    assert_eq!(
        entries.get(&real_loader).map(|e| e.kind.as_str()),
        Some("file"),
        "{LOADER} -> {real_loader}"
    );
    // libcrypto.so.3, the sysroot's bytes.
    let crypto: Vec<&TarEntry> = entries
        .values()
        .filter(|e| e.kind == "file" && e.path.ends_with("/libcrypto.so.3"))
        .collect();
    assert_eq!(crypto.len(), 1, "one libcrypto.so.3: {crypto:?}");
    let crypto_path = crypto[0].path.clone();
    assert_eq!(
        crypto[0].sha256.as_deref(),
        Some(sha256_file(&sr.join(crypto_path.trim_start_matches('/'))).as_str())
    );

    let rootfs = unpack(&layout, "t1", &dir.join("bundle"));
    for p in [real_loader.as_str(), crypto_path.as_str()] {
        assert_eq!(
            elf_class_machine(&rootfs.join(p.trim_start_matches('/'))),
            (2, EM_AARCH64),
            "{p} in the image is a 64-bit arm64 ELF file"
        );
    }
    assert_eq!(config["config"]["User"], "65532:65532");

    let out = run_emulated(&rootfs, &config);
    check(&out, "ssl-version under qemu-aarch64 in chroot");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("OpenSSL 3"), "{stdout}");
    assert!(
        stdout.contains("certificates in /etc/ssl/certs/ca-certificates.crt"),
        "{stdout}"
    );

    // Strict: without libcrypto in the image the program cannot start (no host fallback).
    std::fs::remove_file(rootfs.join(crypto_path.trim_start_matches('/'))).unwrap();
    let out = run_emulated(&rootfs, &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "ran without libcrypto.so.3: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("libcrypto.so.3"), "{stderr}");
}

/// binfmt_misc registration for arm64 ELF executables, run by the static emulator with flag F
/// (the emulator is opened at registration, so it need not exist in the chroot). The kernel
/// decodes the `\x` escapes.
const BINFMT_AARCH64: &str = r":qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F";

/// Exit codes of the namespace script when binfmt_misc is not usable in a user namespace.
const NO_BINFMT: [i32; 2] = [201, 202];

/// Runs the image's entrypoint and cmd in a chroot of `rootfs` as the image's user, with only
/// the image's environment, under qemu-aarch64-static. Preferred: a binfmt_misc instance of a
/// new user namespace (kernel >= 6.7), so nothing is registered on the host; else the emulator
/// is copied into the rootfs and named explicitly. Both are strict: qemu-user finds the loader
/// and libraries only inside the chroot.
pub(crate) fn run_emulated(rootfs: &Path, config: &Value) -> Output {
    let cfg = &config["config"];
    let user = cfg["User"].as_str().unwrap();
    let argv: Vec<String> = ["Entrypoint", "Cmd"]
        .iter()
        .flat_map(|k| cfg[k].as_array().cloned().unwrap_or_default())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let env: Vec<(String, String)> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let (k, v) = kv.as_str().unwrap().split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let qemu = Path::new("/usr/bin/qemu-aarch64-static");
    assert!(
        qemu.is_file(),
        "{} is not installed; run `cargo xtask test`, which installs qemu-user-static",
        qemu.display()
    );
    let chroot = require("chroot");
    let why = match run_binfmt_userns(rootfs, user, &argv, &env, &chroot) {
        Ok(out) => return out,
        Err(why) => why,
    };
    eprintln!(
        "binfmt_misc is not available in a user namespace ({why}); running {} explicitly",
        qemu.display()
    );
    std::fs::copy(qemu, rootfs.join("qemu-aarch64-static")).unwrap();
    let mut c = Command::new(chroot);
    c.env_clear()
        .envs(env)
        .arg(format!("--userspec={user}"))
        .arg(rootfs)
        .arg("/qemu-aarch64-static")
        .args(&argv);
    c.output().unwrap()
}

/// `unshare --user --mount`: once the namespace exists the script says `ready`; this process
/// (root) maps uids and gids 0-65535 to themselves, so the image's user exists inside; the
/// script then re-executes itself as the namespace's root (with its capabilities), mounts a
/// fresh binfmt_misc, registers qemu-aarch64 there and runs chroot. Err when user namespaces
/// or their binfmt_misc instances are not available.
fn run_binfmt_userns(
    rootfs: &Path,
    user: &str,
    argv: &[String],
    env: &[(String, String)],
    chroot: &Path,
) -> Result<Output, String> {
    const OUTER: &str = r#"echo ready; read go || exit 92; exec /bin/sh -c "$@""#;
    const INNER: &str = r#""$0" -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 201
printf '%s\n' "$1" > /proc/sys/fs/binfmt_misc/register || exit 202
shift
exec "$@""#;
    let mut child = Command::new(require("unshare"))
        .args(["--user", "--mount", "/bin/sh", "-c", OUTER, "sh", INNER])
        .arg(require("mount"))
        .arg(BINFMT_AARCH64)
        .arg(chroot)
        .arg(format!("--userspec={user}"))
        .arg(rootfs)
        .args(argv)
        .env_clear()
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start unshare");
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut v = vec![];
        stderr.read_to_end(&mut v).unwrap();
        v
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    let ready = ready == "ready\n";
    if ready {
        let pid = child.id();
        for map in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{pid}/{map}"), "0 0 65536\n")
                .unwrap_or_else(|e| panic!("writing /proc/{pid}/{map}: {e}"));
        }
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }
    drop(child.stdin.take());
    let mut rest = vec![];
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let out = Output {
        status,
        stdout: rest,
        stderr: errors.join().unwrap(),
    };
    let unusable = !ready || out.status.code().is_some_and(|c| NO_BINFMT.contains(&c));
    if unusable {
        return Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out)
}
