//! `kiln build`'s options (issue 10 §2, §4): several `--output`s from one build, `--platform`
//! selecting platforms of a multi-platform manifest, the manifest on stdin, `--load` into a
//! real podman (then run), the shell-quoted "run it" hint for every output form and after
//! `--push`, what the lock step says, trees recorded by one digest, plain-words messages.

use crate::registry_util::*;
use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `kiln build` with stdin from `input`, in `cwd`.
fn build_stdin(cwd: &Path, input: &str, args: &[&str]) -> std::process::Output {
    use std::io::Write;
    let mut child = kiln()
        .arg("build")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `skopeo inspect --raw`: the sha256 of the manifest bytes at `reference`.
fn raw_digest(reference: &str, extra: &[&str]) -> String {
    let out = Command::new(require("skopeo"))
        .args(["inspect", "--raw"])
        .args(extra)
        .arg(reference)
        .output()
        .unwrap();
    check(&out, "skopeo inspect --raw");
    format!("sha256:{}", sha256_hex(&out.stdout))
}

/// The words of the first line starting with `prefix` (after indentation), split as a POSIX
/// shell would (python3's shlex).
fn shell_words(text: &str, prefix: &str) -> Vec<String> {
    let line = text
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"));
    let out = Command::new(require("python3"))
        .args([
            "-c",
            "import json, shlex, sys; print(json.dumps(shlex.split(sys.argv[1])))",
            line,
        ])
        .output()
        .unwrap();
    check(&out, "python3 shlex");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn several_outputs_hold_the_same_image_and_a_duplicate_path_is_an_error() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let layout = t.path().join("out/a");
    let oa = t.path().join("a.tar");
    let da = t.path().join("d.tar");
    let out = run(
        kiln().arg("build").arg(&manifest).args([
            "--json",
            "-o",
            &format!("oci:{}:v1", layout.display()),
            "-o",
            &format!("oci:{}:v2", layout.display()),
            "-o",
            &format!("oci-archive:{}:v3", oa.display()),
            "-o",
            &format!("docker-archive:{}:static-c:v4", da.display()),
        ]),
        "kiln build -o x4",
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["outputs"].as_array().unwrap().len(), 4, "{j}");
    let digest = manifest_digest(&j);
    assert_eq!(layout_digest(&layout, "v1"), digest);
    assert_eq!(layout_digest(&layout, "v2"), digest);
    assert_eq!(
        raw_digest(&format!("oci-archive:{}:v3", oa.display()), &[]),
        digest
    );
    // A docker-archive holds no OCI manifest; its config is the same blob.
    let list = Command::new("tar").arg("-tf").arg(&da).output().unwrap();
    let config = j["config"]["digest"].as_str().unwrap();
    assert!(
        stdout(&list).contains(&format!("{}.json", config.trim_start_matches("sha256:"))),
        "{}",
        stdout(&list)
    );

    // Two outputs at one path: refused before anything is built.
    let same = t.path().join("same.tar");
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .arg("-o")
        .arg(format!("oci-archive:{}", same.display()))
        .arg("-o")
        .arg(format!("docker-archive:{}", same.display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("write the same path"), "{}", stderr(&o));
    assert!(stderr(&o).contains("hint:"), "{}", stderr(&o));
    assert!(!same.exists());
}

#[test]
fn platform_selects_one_platform_of_a_multi_platform_manifest() {
    let t = tempdir();
    let dir = t.path();
    cc(
        dir,
        &std::fs::read_to_string(repo().join("examples/libssl-c/ssl.c")).unwrap(),
        "ssl.c",
        "ssl-amd64",
        &["-lcrypto"],
    );
    let manifest = dir.join("kiln.toml");
    std::fs::copy(repo().join("examples/multiarch-c/kiln.toml"), &manifest).unwrap();

    // Only linux/amd64: its inputs are all there (the arm64 program is not
    // needed), and the tag names an image manifest, not an index.
    let layout = dir.join("out/one");
    let out = run(
        kiln()
            .arg("build")
            .arg(&manifest)
            .args(["--platform", "linux/amd64", "--json", "-o"])
            .arg(format!("oci:{}:v1", layout.display())),
        "kiln build --platform linux/amd64",
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["manifest"]["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{j}"
    );
    assert!(j.get("platforms").is_none(), "{j}");
    let (m, c) = image(&layout, "v1");
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(c["architecture"], "amd64");
    assert_eq!(c["os"], "linux");
    assert_eq!(layout_digest(&layout, "v1"), manifest_digest(&j));

    // An unknown platform lists those the manifest has.
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .args(["--platform", "linux/amd64,linux/s390x", "--plan"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("`--platform linux/s390x` is not a platform of the manifest; it lists linux/amd64, linux/arm64"),
        "{e}"
    );

    // The lock of the whole manifest (both platforms) holds a selection to its part:
    // `--platform linux/amd64 --locked` passes, leaves the lock as it is, and fails on a
    // change to an amd64 input, naming it by platform.
    crate::arm64::compile_ssl(dir);
    let lock = dir.join("kiln.lock");
    std::fs::remove_file(&lock).ok();
    run(
        kiln()
            .arg("build")
            .arg(&manifest)
            .arg("-o")
            .arg(format!("oci:{}:all", dir.join("out/all").display())),
        "kiln build (both platforms)",
    );
    let full = std::fs::read_to_string(&lock).unwrap();
    assert!(
        full.contains("\"linux/arm64 /usr/local/bin/ssl-version\""),
        "{full}"
    );
    let one = |extra: &[&str]| {
        kiln()
            .arg("build")
            .arg(&manifest)
            .args(["--platform", "linux/amd64", "-o"])
            .arg(format!("oci:{}:v2", layout.display()))
            .args(extra)
            .output()
            .unwrap()
    };
    check(
        &one(&["--locked"]),
        "kiln build --platform linux/amd64 --locked",
    );
    check(&one(&[]), "kiln build --platform linux/amd64");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        full,
        "a selection leaves the lock"
    );
    let mut bin = std::fs::read(dir.join("ssl-amd64")).unwrap();
    bin.extend_from_slice(b"\0");
    std::fs::write(dir.join("ssl-amd64"), bin).unwrap();
    let o = one(&["--locked"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("  input linux/amd64 /usr/local/bin/ssl-version: sha256:"),
        "{e}"
    );
    assert!(!e.contains("linux/arm64"), "{e}");
}

#[test]
fn manifest_from_stdin_resolves_from_the_working_directory_and_has_no_lock_by_default() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let project = manifest.parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::remove_file(project.join("kiln.lock")).ok();

    let layout = t.path().join("img");
    let spec = format!("oci:{}:v1", layout.display());
    let o = build_stdin(&project, &text, &["-", "-o", &spec, "--json"]);
    check(&o, "kiln build -");
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(layout_digest(&layout, "v1"), manifest_digest(&j));
    assert!(!project.join("kiln.lock").exists(), "no lock for stdin");
    assert!(!project.join("-.lock").exists());

    // `--lock FILE` names one; `--locked` then checks it.
    let o = build_stdin(&project, &text, &["-", "-o", &spec, "--lock", "img.lock"]);
    check(&o, "kiln build - --lock");
    assert!(project.join("img.lock").is_file());
    let o = build_stdin(
        &project,
        &text,
        &["-", "-o", &spec, "--lock", "img.lock", "--locked"],
    );
    check(&o, "kiln build - --lock --locked");
    let o = build_stdin(&project, &text, &["-", "--locked", "--plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("hint: name one with `--lock FILE`"),
        "{}",
        stderr(&o)
    );

    // From another folder, `from = "hello"` is relative to it: an error at <stdin>:LINE:COL
    // in plain words.
    let o = build_stdin(t.path(), &text, &["-", "--plan"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("--> <stdin>:13:8"), "{e}");
    assert!(
        e.contains("cannot read `from` \"hello\" of component `hello`: no such file or directory"),
        "{e}"
    );
    assert!(!e.contains("failed to query"), "{e}");
}

/// A wrapper that runs podman with its storage in `dir`, the way this machine needs it
/// (runc, cgroupfs, file events): what `KILN_PODMAN` names in the test.
struct Podman {
    wrapper: PathBuf,
}

impl Podman {
    fn new(dir: &Path) -> Podman {
        let podman = require("podman");
        require("runc");
        let wrapper = dir.join("podman-wrapper");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec {} --root {} --runroot {} --runtime runc --cgroup-manager cgroupfs --events-backend file \"$@\"\n",
                podman.display(),
                dir.join("pm/root").display(),
                dir.join("pm/run").display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        Podman { wrapper }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new(&self.wrapper)
            .args(["rmi", "-af"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn load_puts_the_image_into_podman_which_runs_it() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let pm = Podman::new(t.path());
    let layout = t.path().join("img");
    let out = run(
        kiln()
            .env("KILN_PODMAN", &pm.wrapper)
            .arg("build")
            .arg(&manifest)
            .arg("-o")
            .arg(format!("oci:{}:v1", layout.display()))
            .arg("--load"),
        "kiln build --load",
    );
    assert!(
        out.contains(&format!(
            "  loaded    static-c:v1 into podman ({} load -i ",
            pm.wrapper.display()
        )),
        "{out}"
    );
    // The hint runs what was loaded.
    assert_eq!(
        shell_words(&out, "podman run"),
        ["podman", "run", "--rm", "static-c:v1"]
    );
    let ran = run(
        Command::new(&pm.wrapper).args([
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "static-c:v1",
        ]),
        "podman run static-c:v1",
    );
    assert_eq!(ran.trim(), "hello from a static binary");

    // A missing engine: one error with a hint, exit 1.
    let o = kiln()
        .env("KILN_PODMAN", t.path().join("no-such-podman"))
        .arg("build")
        .arg(&manifest)
        .arg("-o")
        .arg(format!("oci:{}:v2", layout.display()))
        .arg("--load")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.starts_with("error: cannot load the image: `"), "{e}");
    assert!(e.contains("is not installed (no such file on PATH)"), "{e}");
    assert!(e.contains("hint: install podman"), "{e}");
    assert_eq!(e.matches("error:").count(), 1, "{e}");
}

#[test]
fn run_hint_is_shell_quoted_for_every_form_and_names_the_pushed_reference() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let odd = t.path().join("it's a dir");
    std::fs::create_dir_all(&odd).unwrap();
    for (spec, docker_first) in [
        (format!("oci:{}:v1", odd.join("img").display()), "skopeo"),
        (
            format!("oci-archive:{}:v1", odd.join("img.tar").display()),
            "skopeo",
        ),
        (
            format!("docker-archive:{}:static-c:v1", odd.join("d.tar").display()),
            "docker",
        ),
    ] {
        let out = run(
            kiln().arg("build").arg(&manifest).arg("-o").arg(&spec),
            "kiln build",
        );
        let hint = out
            .split("run it:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{out}"));
        // podman first, the output as one word, whatever the path holds.
        assert!(hint.trim_start().starts_with("podman run --rm "), "{out}");
        assert_eq!(
            shell_words(hint, "podman"),
            ["podman", "run", "--rm", &spec]
        );
        let docker = shell_words(hint, docker_first);
        assert!(docker.iter().any(|w| w == "docker"), "{docker:?}");
        assert!(!out.contains("umoci"), "{out}");
    }

    // After --push (from the only output, a docker-archive: kiln pushes a temporary layout),
    // the pushed reference, not the local output.
    let reg = Registry::start(None);
    let host = reg.host();
    let da = t.path().join("d.tar");
    let out = run(
        kiln_clean_env(t.path())
            .arg("build")
            .arg(&manifest)
            .arg("-o")
            .arg(format!("docker-archive:{}", da.display()))
            .arg("--push")
            .arg(format!("docker://{host}/kiln/d:v1")),
        "kiln build --push",
    );
    let digest = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("manifest  "))
        .unwrap()
        .to_string();
    let reference = format!("{host}/kiln/d@{digest}");
    assert!(out.contains(&format!("  pushed    {reference}\n")), "{out}");
    assert_eq!(
        shell_words(&out, "podman run"),
        ["podman", "run", "--rm", &reference]
    );
    let hint = out.split("run it:\n").nth(1).unwrap();
    assert!(!hint.contains("docker-archive:"), "{out}");
    assert_eq!(
        raw_digest(
            &format!("docker://{host}/kiln/d:v1"),
            &["--tls-verify=false"]
        ),
        digest
    );
}

#[test]
fn lock_says_when_it_is_written_and_drift_says_how_to_accept() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let lock = manifest.with_extension("lock");
    std::fs::remove_file(&lock).ok();
    let layout = t.path().join("img");
    let b = |extra: &[&str]| {
        kiln()
            .arg("build")
            .arg(&manifest)
            .arg("-o")
            .arg(format!("oci:{}:v1", layout.display()))
            .args(extra)
            .output()
            .unwrap()
    };
    let o = b(&[]);
    check(&o, "kiln build");
    assert_eq!(stderr(&o), format!("note: wrote {}\n", lock.display()));
    let o = b(&[]);
    check(&o, "kiln build");
    assert_eq!(stderr(&o), "", "unchanged: nothing said");

    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("name = \"static-c\"", "name = \"static-d\""),
    )
    .unwrap();
    let o = b(&["--locked"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("  manifest: sha256:"), "{e}");
    assert!(
        e.trim_end().ends_with(&format!(
            "hint: run `kiln lock {}` (or build without --locked) to accept",
            manifest.display()
        )),
        "{e}"
    );
    let o = b(&[]);
    check(&o, "kiln build");
    assert_eq!(
        stderr(&o),
        format!("note: updated {} (1 change)\n", lock.display())
    );
}

#[test]
fn a_tree_is_one_lock_line_and_a_changed_byte_in_it_is_drift_naming_it() {
    let t = tempdir();
    let dir = t.path().join("p");
    std::fs::create_dir_all(dir.join("data/sub")).unwrap();
    for i in 0..300 {
        std::fs::write(
            dir.join(format!("data/sub/f{i:03}.txt")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
    let manifest = dir.join("kiln.toml");
    std::fs::write(
        &manifest,
        r#"[image]
name = "trees"

[[component]]
name = "data"
kind = "tree"
from = "data"
to = "/srv/data"
why = "its files"

[[component]]
name = "tz"
kind = "tzdata"
why = "every zone"
"#,
    )
    .unwrap();
    let plan = plan_json(&manifest);
    assert!(
        plan["entries"].as_array().unwrap().len() > 1000,
        "tzdata ships every zone"
    );
    run(
        kiln()
            .arg("build")
            .arg(&manifest)
            .arg("-o")
            .arg(format!("oci:{}:v1", t.path().join("img").display())),
        "kiln build",
    );
    let text = std::fs::read_to_string(dir.join("kiln.lock")).unwrap();
    assert!(text.lines().count() < 40, "{text}");
    assert!(text.contains("\n[trees]\n"), "{text}");
    assert!(text.contains("\ndata = \"sha256:"), "{text}");
    // /srv (the parent it makes), /srv/data, `sub` and the 300 files.
    assert!(text.contains(" 303 entries\"\n"), "{text}");

    // One byte changed in a copy of the tree.
    std::fs::write(dir.join("data/sub/f123.txt"), "file 124\n").unwrap();
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .args(["--locked", "--plan"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("  tree data: sha256:"), "{e}");
    assert_eq!(e.matches("  tree ").count(), 1, "{e}");
}

#[test]
fn a_path_appears_once_per_error() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let file = t.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .arg("-o")
        .arg(format!("oci:{}/sub", file.display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.matches("a-file/sub").count(), 1, "{e}");
    assert!(e.contains("caused by: not a directory"), "{e}");
}

/// A warning is said when its Plan is made, so a build that fails afterwards (here: `--locked`
/// without a lock) has still shown it.
#[test]
fn warnings_are_shown_when_the_build_fails_after_planning() {
    let t = tempdir();
    let m = t.path().join("kiln.toml");
    std::fs::write(
        &m,
        "[image]\nname = \"w\"\n\n[[component]]\nname = \"link\"\nkind = \"symlink\"\nto = \"/etc/config\"\ntarget = \"/nowhere/config\"\nwhy = \"a link to a file the image lacks\"\n",
    )
    .unwrap();
    let ok = kiln().arg("build").arg(&m).arg("--plan").output().unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let warning = stderr(&ok);
    assert!(
        warning.contains("warning:") && warning.contains("/etc/config"),
        "{warning}"
    );
    let out = kiln()
        .arg("build")
        .arg(&m)
        .args(["--locked", "--output"])
        .arg(format!("oci:{}:1", t.path().join("out").display()))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--locked needs"), "{err}");
    assert!(
        err.contains("warning:") && err.contains("/etc/config"),
        "{err}"
    );
}
