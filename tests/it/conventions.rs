//! CLI conventions of issue 10, section 4: exit codes of verification, examples in every
//! `--help`, colour, quiet and verbose, progress on a terminal, `--json` everywhere.

use crate::cli::subcommands;
use crate::registry_util::{kiln_clean_env, static_image};
use crate::util::*;
use std::path::Path;
use std::process::Output;

const PASSWORD: &str = "conventions-pw";

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A static image built into `oci:DIR:v1` under `t`, and a key pair: (image spec, key, pub).
fn signed_setup(t: &Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let manifest = static_image(t);
    let src = format!("oci:{}:v1", t.join("img").display());
    build(&manifest, &src);
    let home = t.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let prefix = t.join("k");
    run(
        kiln_clean_env(&home)
            .env("KILN_PASSWORD", PASSWORD)
            .args(["generate-key-pair", "--output-key-prefix"])
            .arg(&prefix),
        "kiln generate-key-pair",
    );
    (
        src,
        prefix.with_extension("key"),
        prefix.with_extension("pub"),
    )
}

/// `verify` and `verify-attestation` exit 3 when they checked and found nothing valid, and 1
/// when they could not check (a bad key file, a missing image).
#[test]
fn verification_failed_is_not_could_not_run() {
    let t = tempdir();
    let (src, key, pubkey) = signed_setup(t.path());
    let home = t.path().join("home");
    let verify = |args: &[&str], image: &str, key: &Path| {
        kiln_clean_env(&home)
            .args(args)
            .arg("--key")
            .arg(key)
            .arg(image)
            .output()
            .unwrap()
    };
    // Unsigned: checked, nothing valid.
    let o = verify(&["verify"], &src, &pubkey);
    assert_eq!(code(&o), Some(3), "{o:?}");
    assert!(stderr(&o).contains("no valid signature"), "{o:?}");
    let o = verify(&["verify-attestation", "--type", "spdx"], &src, &pubkey);
    assert_eq!(code(&o), Some(3), "{o:?}");
    // Could not run: a key file that is not a key, a missing one, a tag that is not there.
    let junk = t.path().join("junk.pub");
    std::fs::write(&junk, "not a key").unwrap();
    let o = verify(&["verify"], &src, &junk);
    assert_eq!(code(&o), Some(1), "{o:?}");
    let o = verify(&["verify"], &src, &t.path().join("missing.pub"));
    assert_eq!(code(&o), Some(1), "{o:?}");
    let missing = format!("oci:{}:nope", t.path().join("img").display());
    let o = verify(&["verify"], &missing, &pubkey);
    assert_eq!(code(&o), Some(1), "{o:?}");
    let o = verify(&["verify-attestation", "--type", "spdx"], &missing, &pubkey);
    assert_eq!(code(&o), Some(1), "{o:?}");
    // Signed with another key: checked, nothing valid; with the key: 0.
    run(
        kiln_clean_env(&home)
            .env("KILN_PASSWORD", PASSWORD)
            .args(["sign", "--identity", "registry.example/app", "--key"])
            .arg(&key)
            .arg(&src),
        "kiln sign",
    );
    let o = verify(&["verify"], &src, &pubkey);
    assert_eq!(code(&o), Some(0), "{o:?}");
    let other = t.path().join("other");
    run(
        kiln_clean_env(&home)
            .env("KILN_PASSWORD", PASSWORD)
            .args(["generate-key-pair", "--output-key-prefix"])
            .arg(&other),
        "kiln generate-key-pair",
    );
    let o = verify(&["verify"], &src, &other.with_extension("pub"));
    assert_eq!(code(&o), Some(3), "{o:?}");
}

/// Every subcommand's `--help` ends with an `Examples:` section of `kiln SUBCOMMAND` lines
/// (or lines that run it with a variable set first).
#[test]
fn every_subcommand_help_has_examples() {
    for name in subcommands() {
        let help = run(kiln().args([name.as_str(), "--help"]), "kiln SUB --help");
        let examples = help
            .split_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("`kiln {name} --help` has no Examples:\n{help}"))
            .1;
        let lines: Vec<&str> = examples
            .lines()
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert!(
            (1..=3).contains(&lines.len()),
            "`kiln {name} --help`: {lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains(&format!("kiln {name}"))),
            "`kiln {name} --help` examples do not run `kiln {name}`: {lines:?}"
        );
    }
}

/// Runs `cmd` (a shell command line) under a pseudo-terminal (`script`); returns everything
/// the terminal received and the exit status.
fn on_a_terminal(cmd: &str, envs: &[(&str, &str)]) -> (String, Option<i32>) {
    let script = require("script");
    let mut c = std::process::Command::new(script);
    c.args(["-qfec", cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        o.status.code(),
    )
}

fn kiln_path() -> &'static str {
    env!("CARGO_BIN_EXE_kiln")
}

/// On a terminal, `kiln build` shows each long step (hashing, resolving, compressing per
/// layer, with bytes); without one, and under `-q`, stderr holds nothing.
#[test]
fn build_progress_only_on_a_terminal() {
    let t = tempdir();
    let manifest = static_image(t.path());
    let build_cmd = |out: &str, extra: &str| {
        format!(
            "{} build {} -o oci:{}:v1 {extra}",
            kiln_path(),
            manifest.display(),
            t.path().join(out).display()
        )
    };
    let (tty, code) = on_a_terminal(&build_cmd("a", ""), &[]);
    assert_eq!(code, Some(0), "{tty}");
    for step in ["hashing", "resolving", "compressing", "application", "KiB"] {
        assert!(tty.contains(step), "no `{step}` on the terminal:\n{tty:?}");
    }
    // -q on a terminal: no bar, no summary.
    let (quiet, code) = on_a_terminal(&build_cmd("b", "-q"), &[]);
    assert_eq!(code, Some(0), "{quiet}");
    assert_eq!(quiet, "", "kiln build -q on a terminal");
    // Not a terminal: stderr is empty (the summary is on stdout).
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .args(["-o", &format!("oci:{}:v1", t.path().join("c").display())])
        .output()
        .unwrap();
    check(&o, "kiln build");
    assert_eq!(stderr(&o), "", "stderr of a build without a terminal");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("built `static-c`"));
    // -q without a terminal: nothing at all; -v: one note per step with its time.
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .args([
            "-q",
            "-o",
            &format!("oci:{}:v1", t.path().join("d").display()),
        ])
        .output()
        .unwrap();
    check(&o, "kiln build -q");
    assert_eq!((stderr(&o).as_str(), o.stdout.as_slice()), ("", &b""[..]));
    let o = kiln()
        .arg("build")
        .arg(&manifest)
        .args([
            "-v",
            "-o",
            &format!("oci:{}:v1", t.path().join("e").display()),
        ])
        .output()
        .unwrap();
    check(&o, "kiln build -v");
    let err = stderr(&o);
    for l in [
        "note: hashing: 1 file, ",
        "note: resolving: 1 object from 1 ELF file in ",
        "note: compressing (application): ",
    ] {
        assert!(err.contains(l), "no `{l}` in\n{err}");
    }
    assert!(
        !err.contains('\u{1b}'),
        "escapes without a terminal: {err:?}"
    );
}

/// `--color always` colours `error:`; `NO_COLOR` on a terminal and stderr that is not a
/// terminal do not; `CLICOLOR_FORCE` does.
#[test]
fn color_follows_the_flag_no_color_and_the_terminal() {
    let t = tempdir();
    let missing = t.path().join("missing.toml");
    let err = |args: &[&str], envs: &[(&str, &str)]| {
        let mut c = kiln();
        c.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in envs {
            c.env(k, v);
        }
        let o = c.args(args).arg("build").arg(&missing).output().unwrap();
        assert_eq!(code(&o), Some(1), "{o:?}");
        stderr(&o)
    };
    let always = err(&["--color", "always"], &[]);
    assert!(
        always.contains("\u{1b}[") && always.contains("error:"),
        "{always:?}"
    );
    let plain = err(&[], &[]);
    assert!(
        plain.starts_with("error: ") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
    let never = err(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!never.contains('\u{1b}'), "{never:?}");
    let forced = err(&[], &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains("\u{1b}["), "{forced:?}");
    let cmd = format!("{} --color auto build {}", kiln_path(), missing.display());
    let (tty, code) = on_a_terminal(&cmd, &[]);
    assert_eq!(code, Some(1), "{tty}");
    assert!(
        tty.contains("\u{1b}["),
        "auto on a terminal colours: {tty:?}"
    );
    let (no_color, code) = on_a_terminal(&cmd, &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(1), "{no_color}");
    assert!(
        no_color.contains("error:") && !no_color.contains('\u{1b}'),
        "NO_COLOR on a terminal: {no_color:?}"
    );
}

/// Parses one `--json` result: an object whose `schema` is kiln's.
fn json_doc(stdout: &str, what: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{stdout}"));
    assert_eq!(v["schema"], "kiln/v1", "{what}: {v}");
    v
}

/// Every command that prints a result prints, under `--json`, one object with `schema`; key
/// names are snake_case (OCI descriptors keep the spec's camelCase).
#[test]
fn every_json_result_has_the_schema() {
    let t = tempdir();
    let (src, key, pubkey) = signed_setup(t.path());
    let home = t.path().join("home");
    let manifest = t.path().join("static-c/kiln.toml");
    let pw = |c: &mut std::process::Command| {
        c.env("KILN_PASSWORD", PASSWORD);
    };
    let mut results = Vec::new();
    let mut each = |what: &str, args: &[&str]| {
        let mut c = kiln_clean_env(&home);
        pw(&mut c);
        let stdout = run(c.args(args), what);
        results.push((what.to_string(), json_doc(&stdout, what)));
    };
    let m = manifest.to_str().unwrap();
    let hello = t.path().join("static-c/hello");
    let h = hello.to_str().unwrap();
    let other = format!("oci:{}:v2", t.path().join("img").display());
    let keys = t.path().join("k2");
    let init_to = t.path().join("init/kiln.toml");
    each("build", &["build", m, "-o", &other, "--json"]);
    each("build --plan", &["build", m, "--plan", "--json"]);
    each("lock", &["lock", m, "--json"]);
    each(
        "init",
        &[
            "init",
            h,
            "--why",
            "a test",
            "-o",
            init_to.to_str().unwrap(),
            "--json",
        ],
    );
    each("ldd", &["ldd", h, "--json"]);
    each(
        "explain",
        &["explain", &src, "/usr/local/bin/hello", "--json"],
    );
    each(
        "explain (manifest)",
        &["explain", m, "/etc/passwd", "--json"],
    );
    each(
        "generate-key-pair",
        &[
            "generate-key-pair",
            "--output-key-prefix",
            keys.to_str().unwrap(),
            "--json",
        ],
    );
    let k = key.to_str().unwrap();
    let p = pubkey.to_str().unwrap();
    each(
        "sign",
        &[
            "sign",
            "--key",
            k,
            "--identity",
            "registry.example/app",
            &src,
            "--json",
        ],
    );
    each(
        "attest",
        &[
            "attest",
            "--key",
            k,
            "--type",
            "spdx",
            "--identity",
            "registry.example/app",
            &src,
            "--json",
        ],
    );
    each("verify", &["verify", "--key", p, &src, "--json"]);
    each(
        "verify-attestation",
        &[
            "verify-attestation",
            "--key",
            p,
            "--type",
            "spdx",
            &src,
            "--json",
        ],
    );
    let reg = crate::registry_util::Registry::start(None);
    let dest = format!("docker://{}/conv:v1", reg.host());
    each("push", &["push", &src, &dest, "--json"]);
    drop(reg);
    for (what, v) in &results {
        check_keys(what, v);
    }
    let verified = &results.iter().find(|(w, _)| w == "verify").unwrap().1;
    assert!(verified["verified"][0]["digest"].is_string(), "{verified}");
}

/// Every key of `v` is snake_case, except inside OCI descriptors, SBOM documents and
/// in-toto statements, whose keys their specs name.
fn check_keys(what: &str, v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if ["manifest", "config", "statement"].contains(&k.as_str()) && what != "init" {
                    continue;
                }
                assert!(
                    k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{what}: key `{k}` is not snake_case"
                );
                check_keys(what, v);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| check_keys(what, v)),
        _ => {}
    }
}

/// Under `--json` an error is one JSON object on stderr, with the message, hints and exit
/// status; stdout is empty. A usage error too (exit 2).
#[test]
fn json_errors_are_one_object_on_stderr() {
    let t = tempdir();
    let missing = t.path().join("missing.toml");
    let o = kiln()
        .arg("build")
        .arg(&missing)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(1), "{o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    let v = json_doc(&err, "build error");
    let e = &v["error"];
    assert!(
        e["message"].as_str().unwrap().contains("missing.toml"),
        "{v}"
    );
    assert_eq!(e["exit"], 1);
    assert!(e["hints"].is_array() && e["causes"].is_array(), "{v}");
    // A manifest error keeps its hint apart.
    let bad = t.path().join("bad.toml");
    std::fs::write(&bad, "[image]\nname = \"x\"\nentrypoint = [\"/x\"]\n\n[[component]]\nname = \"a\"\nkind = \"dir\"\nto = \"/a\"\nwhy = \"w\"\nremove_when = \"never\"\n").unwrap();
    let o = kiln()
        .arg("build")
        .arg(&bad)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(1), "{o:?}");
    let v = json_doc(&stderr(&o), "manifest error");
    assert!(
        v["error"]["hints"][0]
            .as_str()
            .unwrap_or("")
            .contains("remove-when"),
        "{v}"
    );
    // Verification failed: exit 3 in the object too.
    let (src, _, pubkey) = signed_setup(t.path());
    let o = kiln_clean_env(&t.path().join("home"))
        .args(["verify", "--json", "--key"])
        .arg(&pubkey)
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(3), "{o:?}");
    assert_eq!(json_doc(&stderr(&o), "verify error")["error"]["exit"], 3);
    // A usage error.
    let o = kiln().args(["build", "--json", "--nope"]).output().unwrap();
    assert_eq!(code(&o), Some(2), "{o:?}");
    let v = json_doc(&stderr(&o), "usage error");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--nope"),
        "{v}"
    );
    assert_eq!(v["error"]["exit"], 2);
}
