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
