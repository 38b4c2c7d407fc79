//! musl binaries (musl-gcc): kiln resolves them with musl's rules (the loader is libc, the
//! search path comes from `/etc/ld-musl-x86_64.path` or musl's default), agrees with musl's own
//! `ld-musl-x86_64.so.1 --list`, and the images run in chroot.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const LOADER: &str = "/lib/ld-musl-x86_64.so.1";

const HELLO_C: &str =
    "#include <stdio.h>\nint main(void) { puts(\"hello from musl\"); return 0; }\n";

const PRIV_C: &str =
    "const char *priv_greeting(void) { return \"hello from libpriv in /opt/lib\"; }\n";

const APP_C: &str = "#include <stdio.h>\nconst char *priv_greeting(void);\n\
                     int main(void) { puts(priv_greeting()); return 0; }\n";

/// `musl-gcc ARGS` in `dir`.
fn musl_gcc(dir: &Path, args: &[&str]) {
    run(
        Command::new(require("musl-gcc"))
            .args(args)
            .current_dir(dir),
        &format!("musl-gcc {}", args.join(" ")),
    );
}

/// Parses musl's `ldd`-style listing (`\t/lib/ld-musl-x86_64.so.1 (0x...)`,
/// `\tlibc.so => /lib/ld-musl-x86_64.so.1 (0x...)`) into real paths, resolved by `real`;
/// an unresolved name is `missing:NAME`.
fn parse_musl_list(text: &str, real: impl Fn(&str) -> String) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            let l = l.rsplit_once(" (0x").map_or(l, |(p, _)| p);
            let path = l.split_once(" => ").map_or(l, |(_, p)| p).trim();
            if path.starts_with('/') {
                real(path)
            } else {
                format!("missing:{l}")
            }
        })
        .collect()
}

/// What musl's loader on the host lists for `file`, as host real paths.
fn musl_list_host(file: &Path) -> BTreeSet<String> {
    let out = run(
        Command::new(LOADER).arg("--list").arg(file),
        "ld-musl-x86_64.so.1 --list",
    );
    parse_musl_list(&out, |p| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .display()
            .to_string()
    })
}

/// What the image's own musl loader lists for its `file`, run in a chroot of `rootfs`, as
/// in-image real paths.
fn musl_list_in_chroot(rootfs: &Path, file: &str) -> BTreeSet<String> {
    let out = run(
        Command::new(require("chroot"))
            .arg(rootfs)
            .args([LOADER, "--list", file]),
        "ld-musl-x86_64.so.1 --list in chroot",
    );
    parse_musl_list(&out, |p| realpath_in(rootfs, p))
}

fn kiln_ldd_list(sysroot: Option<&Path>, file: &Path) -> BTreeSet<String> {
    let mut c = kiln();
    c.args(["ldd", "--list"]);
    if let Some(sr) = sysroot {
        c.arg("--sysroot").arg(sr);
    }
    run(c.arg(file), "kiln ldd --list")
        .lines()
        .map(str::to_string)
        .collect()
}

fn kiln_ldd_json(sysroot: &Path, file: &Path) -> Value {
    let out = run(
        kiln()
            .args(["ldd", "--json", "--sysroot"])
            .arg(sysroot)
            .arg(file),
        "kiln ldd --json",
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    v["files"].clone()
}

/// A manifest for `bin` at /usr/local/bin/NAME, plus `extra` components.
fn write_manifest(dir: &Path, name: &str, bin: &str, extra: &str) -> PathBuf {
    let m = dir.join("kiln.toml");
    std::fs::write(
        &m,
        format!(
            r#"[image]
name = "{name}"
entrypoint = ["/usr/local/bin/{bin}"]

[[component]]
name = "{bin}"
kind = "elf"
from = "{bin}"
to = "/usr/local/bin/{bin}"
why = "the musl program this image exists to run"
{extra}"#
        ),
    )
    .unwrap();
    m
}

fn layers_of(summary: &Value) -> Vec<String> {
    summary["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn musl_dynamic_closure_matches_musl_and_runs() {
    let t = tempdir();
    let dir = t.path();
    std::fs::write(dir.join("hello.c"), HELLO_C).unwrap();
    musl_gcc(dir, &["-o", "hello", "hello.c"]);
    let hello = dir.join("hello");

    // Dynamic, with musl's loader as PT_INTERP; the loader is also libc.so.
    let j: Value = serde_json::from_str(&run(
        kiln().args(["ldd", "--json"]).arg(&hello),
        "kiln ldd --json hello",
    ))
    .unwrap();
    let j = &j["files"];
    assert_eq!(j[0]["static"], false, "{j}");
    let objects = j[0]["objects"].as_array().unwrap();
    assert!(
        objects
            .iter()
            .any(|o| o["rule"] == "PT_INTERP" && o["name"] == LOADER),
        "{j}"
    );

    let reference = musl_list_host(&hello);
    assert_eq!(
        reference,
        BTreeSet::from([std::fs::canonicalize(LOADER).unwrap().display().to_string()]),
        "musl lists only its loader (libc.so is the loader)"
    );
    assert_eq!(kiln_ldd_list(None, &hello), reference);

    let m = write_manifest(dir, "musl-hello", "hello", "");
    let layout = dir.join("out/img");
    let summary = build(&m, &format!("oci:{}:t1", layout.display()));
    assert!(layers_of(&summary).contains(&"libraries".to_string()));
    let (_, config) = image(&layout, "t1");
    let rootfs = unpack(&layout, "t1", &dir.join("bundle"));
    // The loader at its PT_INTERP path, through the same symlinks as on the host.
    assert_eq!(
        realpath_in(&rootfs, LOADER),
        std::fs::canonicalize(LOADER).unwrap().display().to_string()
    );
    let out = run_in_chroot(&rootfs, &config, None);
    check(&out, "musl hello in chroot");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from musl\n");
    // The image's own loader agrees with kiln on the unpacked image.
    assert_eq!(
        kiln_ldd_list(Some(&rootfs), &rootfs.join("usr/local/bin/hello")),
        musl_list_in_chroot(&rootfs, "/usr/local/bin/hello")
    );
}

/// The app and its private library: `libpriv.so` (soname libpriv.so), `app` needing it.
fn private_library_fixture(dir: &Path) {
    std::fs::write(dir.join("priv.c"), PRIV_C).unwrap();
    std::fs::write(dir.join("app.c"), APP_C).unwrap();
    musl_gcc(
        dir,
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libpriv.so",
            "-o",
            "libpriv.so",
            "priv.c",
        ],
    );
    musl_gcc(dir, &["-o", "app", "app.c", "-L.", "-lpriv"]);
}

const PRIVATE_LIB: &str = r#"
[[component]]
name = "libpriv"
kind = "file"
from = "libpriv.so"
to = "/opt/lib/libpriv.so"
why = "the program's private library, outside musl's default path"
"#;

const MUSL_PATH: &str = r#"
[[component]]
name = "musl-path"
kind = "file"
content = "/opt/lib\n"
to = "/etc/ld-musl-x86_64.path"
why = "musl's library search path, so its loader finds libpriv.so in /opt/lib"
"#;

#[test]
fn musl_private_library_through_the_path_file() {
    let t = tempdir();
    let dir = t.path();
    private_library_fixture(dir);
    let m = write_manifest(
        dir,
        "musl-priv",
        "app",
        &format!("{PRIVATE_LIB}{MUSL_PATH}"),
    );
    let plan = plan_json(&m);
    let entries = plan["entries"].as_array().unwrap();
    let at = |p: &str| entries.iter().find(|e| e["path"] == p).cloned();
    assert_eq!(
        at("/etc/ld-musl-x86_64.path").map(|e| e["component"].clone()),
        Some("musl-path".into())
    );
    let lib = at("/opt/lib/libpriv.so").expect("libpriv.so in the plan");
    assert_eq!(lib["component"], "libpriv");
    assert!(
        !entries
            .iter()
            .any(|e| e["path"].as_str().unwrap().ends_with("/libpriv.so")
                && e["layer"] == "libraries"),
        "libpriv.so ships once, from its component: {plan}"
    );

    let layout = dir.join("out/img");
    build(&m, &format!("oci:{}:t1", layout.display()));
    let (_, config) = image(&layout, "t1");
    let rootfs = unpack(&layout, "t1", &dir.join("bundle"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/ld-musl-x86_64.path")).unwrap(),
        "/opt/lib\n"
    );
    let out = run_in_chroot(&rootfs, &config, None);
    check(&out, "app in chroot");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from libpriv in /opt/lib\n"
    );

    // kiln on the unpacked image: libpriv.so found through the path file, and the same closure
    // as the image's own loader lists.
    let app = rootfs.join("usr/local/bin/app");
    let j = kiln_ldd_json(&rootfs, &app);
    let lib = j[0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "libpriv.so")
        .cloned()
        .unwrap_or_else(|| panic!("no libpriv.so in {j}"));
    assert_eq!(lib["real_path"], "/opt/lib/libpriv.so");
    assert_eq!(lib["rule"], "musl path");
    assert_eq!(lib["needed_by"], serde_json::json!(["/usr/local/bin/app"]));
    let listed = kiln_ldd_list(Some(&rootfs), &app);
    assert!(listed.contains("/opt/lib/libpriv.so"), "{listed:?}");
    assert_eq!(listed, musl_list_in_chroot(&rootfs, "/usr/local/bin/app"));

    // The same image without the path file: musl's default path does not have /opt/lib.
    std::fs::remove_file(rootfs.join("etc/ld-musl-x86_64.path")).unwrap();
    let out = kiln()
        .args(["ldd", "--sysroot"])
        .arg(&rootfs)
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot find `libpriv.so`")
            && stderr.contains("/lib, /usr/local/lib, /usr/lib"),
        "{stderr}"
    );
}

#[test]
fn musl_private_library_without_the_path_file_fails_the_build() {
    let t = tempdir();
    let dir = t.path();
    private_library_fixture(dir);
    let m = write_manifest(dir, "musl-priv", "app", PRIVATE_LIB);
    let layout = dir.join("out/img");
    let out = kiln()
        .arg("build")
        .arg(&m)
        .arg("--output")
        .arg(format!("oci:{}:t1", layout.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot find `libpriv.so`"), "{stderr}");
    assert!(stderr.contains("/usr/local/bin/app"), "{stderr}");
    assert!(!layout.exists(), "a failed build writes no output");
}

#[test]
fn musl_static_binary_has_no_libraries() {
    let t = tempdir();
    let dir = t.path();
    std::fs::write(dir.join("hello.c"), HELLO_C).unwrap();
    musl_gcc(dir, &["-static", "-o", "hello", "hello.c"]);
    let hello = dir.join("hello");

    let text = run(kiln().arg("ldd").arg(&hello), "kiln ldd hello");
    assert!(text.contains("statically linked"), "{text}");
    assert!(kiln_ldd_list(None, &hello).is_empty());

    let m = write_manifest(dir, "musl-static", "hello", "");
    let plan = plan_json(&m);
    assert!(
        !plan["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["layer"] == "libraries"),
        "{plan}"
    );
    let layout = dir.join("out/img");
    let summary = build(&m, &format!("oci:{}:t1", layout.display()));
    assert_eq!(layers_of(&summary), ["application"]);
    let (manifest, config) = image(&layout, "t1");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    let rootfs = unpack(&layout, "t1", &dir.join("bundle"));
    assert!(!rootfs.join("lib").exists() && !rootfs.join("usr/lib").exists());
    let out = run_in_chroot(&rootfs, &config, None);
    check(&out, "static musl hello in chroot");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from musl\n");
}
