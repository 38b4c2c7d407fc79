//! `kiln init` writes a manifest that builds and runs without edits.

use crate::util::*;
use std::process::Command;

#[test]
fn init_curl_builds_and_runs_as_nonroot() {
    let t = tempdir();
    let curl = require("curl");
    let m = t.path().join("curl.toml");
    let out = run(
        kiln()
            .args(["init"])
            .arg(&curl)
            .args([
                "--why",
                "fetches health-check URLs for the platform team",
                "--output",
            ])
            .arg(&m),
        "kiln init",
    );
    assert!(out.contains("wrote"), "{out}");
    let text = std::fs::read_to_string(&m).unwrap();
    assert!(
        text.contains("why = \"fetches health-check URLs for the platform team\""),
        "{text}"
    );
    // It refuses to overwrite.
    let again = kiln()
        .args(["init"])
        .arg(&curl)
        .args(["--why", "x", "--output"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let layout = t.path().join("img");
    build(&m, &format!("oci:{}:latest", layout.display()));
    let (_, config) = image(&layout, "latest");
    let rootfs = unpack(&layout, "latest", &t.path().join("bundle"));
    let out = run_in_chroot(&rootfs, &config, Some(&["--version"]));
    check(&out, "curl --version in chroot");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("curl "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let meta = std::fs::metadata(rootfs.join("tmp")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o7777, 0o1777);
    // The process really runs as nonroot: it may write its home but not root's.
    let write = |dest: &str| {
        Command::new(require("chroot"))
            .args(["--userspec=65532:65532"])
            .arg(&rootfs)
            .args(["/usr/bin/curl", "-s", "-o", dest, "file:///etc/passwd"])
            .status()
            .unwrap()
    };
    assert!(write("/home/nonroot/copy").success());
    assert!(!write("/root/copy").success());
}

#[test]
fn init_rejects_non_elf_and_empty_why() {
    let t = tempdir();
    let script = t.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let o = kiln()
        .args(["init"])
        .arg(&script)
        .args(["--why", "x", "--output"])
        .arg(t.path().join("a.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an ELF executable"));
    let o = kiln()
        .args(["init", "/usr/bin/curl", "--why", "  ", "--output"])
        .arg(t.path().join("b.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(!t.path().join("a.toml").exists() && !t.path().join("b.toml").exists());
}
