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

/// `/usr/bin/redis-server -> redis-check-rdb`: redis dispatches on argv[0], so the image must
/// run the program under the name it was given; the bytes come from the link's target.
#[test]
fn init_on_a_symlink_keeps_the_name_it_was_given() {
    let t = tempdir();
    let curl = std::fs::canonicalize(require("curl")).unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let link = bin.join("redis-server");
    std::os::unix::fs::symlink(&curl, &link).unwrap();
    let m = t.path().join("kiln.toml");
    run(
        kiln()
            .arg("init")
            .arg(&link)
            .args(["--why", "the cache", "--output"])
            .arg(&m),
        "kiln init on a symlink",
    );
    let text = std::fs::read_to_string(&m).unwrap();
    assert!(text.contains("name = \"redis-server\""), "{text}");
    assert!(
        text.contains("entrypoint = [\"/usr/local/bin/redis-server\"]"),
        "{text}"
    );
    assert!(
        text.contains("to = \"/usr/local/bin/redis-server\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("from = \"{}\"", curl.display())),
        "{text}"
    );
    // The plan ships the target's bytes under the given name, as a file.
    let plan = run(
        kiln().args(["build", "--plan", "--json"]).arg(&m),
        "kiln build --plan",
    );
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let entry = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/usr/local/bin/redis-server")
        .unwrap_or_else(|| panic!("no /usr/local/bin/redis-server in {plan}"));
    assert_eq!(entry["type"], "file", "{entry}");
}

#[test]
fn init_name_must_be_a_repository_name() {
    let t = tempdir();
    let curl = require("curl");
    for bad in ["My App", "../up", "a..b", "-x", "UPPER"] {
        let m = t.path().join("kiln.toml");
        let o = kiln()
            .arg("init")
            .arg(&curl)
            .args(["--why", "x", &format!("--name={bad}"), "--output"])
            .arg(&m)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{bad}: {err}");
        assert!(
            err.starts_with(&format!(
                "error: `--name` {bad:?} is not a valid repository name"
            )),
            "{bad}: {err}"
        );
        assert!(err.contains("\nhint: "), "{err}");
        assert!(!m.exists(), "{bad}: a manifest was written");
    }
    let m = t.path().join("ok.toml");
    run(
        kiln()
            .arg("init")
            .arg(&curl)
            .args(["--why", "x", "--name", "team/fetch-er.v2", "--output"])
            .arg(&m),
        "kiln init --name team/fetch-er.v2",
    );
    let text = std::fs::read_to_string(&m).unwrap();
    assert!(text.contains("name = \"team/fetch-er.v2\""), "{text}");
}

#[test]
fn init_output_creates_its_folder() {
    let t = tempdir();
    let curl = require("curl");
    let m = t.path().join("sub/dir/kiln.toml");
    run(
        kiln()
            .arg("init")
            .arg(&curl)
            .args(["--why", "x", "-o"])
            .arg(&m),
        "kiln init -o sub/dir/kiln.toml",
    );
    assert!(m.is_file());
    // The manifest it wrote builds from there.
    run(
        kiln().args(["build", "--plan"]).arg(&m),
        "kiln build --plan sub/dir/kiln.toml",
    );
    // A failing init leaves no folder behind.
    let script = t.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let o = kiln()
        .arg("init")
        .arg(&script)
        .args(["--why", "x", "-o"])
        .arg(t.path().join("other/dir/kiln.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(!t.path().join("other").exists());
}

/// `kiln init app` in the binary's own folder: a bare relative name.
#[test]
fn init_on_a_bare_relative_name() {
    let t = tempdir();
    let curl = std::fs::canonicalize(require("curl")).unwrap();
    std::fs::copy(&curl, t.path().join("app")).unwrap();
    run(
        kiln()
            .args(["init", "app", "--why", "x"])
            .current_dir(t.path()),
        "kiln init app",
    );
    let text = std::fs::read_to_string(t.path().join("kiln.toml")).unwrap();
    assert!(text.contains("from = \"app\""), "{text}");
    assert!(text.contains("to = \"/usr/local/bin/app\""), "{text}");
}
