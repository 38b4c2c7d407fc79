//! Snapshots (insta) of what users read: `kiln --help` and every subcommand's `--help`, three
//! representative errors, and the plan table. Each snapshot holds the exit status, stdout
//! and stderr, as uv's `uv_snapshot!`; only temporary folders are filtered, never digests (a
//! changed digest here is a reproducibility bug).
//!
//! A change in these texts is reviewed as a diff: `INSTA_UPDATE=always cargo test --test it
//! snapshots` rewrites the files under tests/it/snapshots; under CI=true a mismatch fails.

use crate::cli::subcommands;
use crate::util::*;
use std::path::Path;
use std::process::{Command, Output};

/// kiln with a fixed help width and no colour, run in `dir`.
fn kiln_in(dir: &Path) -> Command {
    let mut c = kiln();
    c.current_dir(dir)
        .env("COLUMNS", "100")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR");
    c
}

/// Exit status, stdout and stderr in one text.
fn transcript(o: &Output) -> String {
    format!(
        "exit: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        o.status.code().map_or("signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// insta's settings: snapshots under tests/it/snapshots, `tmp` (a test's folder) as [TMP].
fn settings(tmp: Option<&Path>) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    if let Some(t) = tmp {
        s.add_filter(&regex_escape(&t.display().to_string()), "[TMP]");
    }
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' | '\\' => {
                format!("\\{c}")
            }
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn help_texts() {
    let repo = repo();
    settings(None).bind(|| {
        insta::assert_snapshot!(
            "help",
            transcript(&kiln_in(&repo).arg("--help").output().unwrap())
        );
        for name in subcommands() {
            let o = kiln_in(&repo)
                .args([name.as_str(), "--help"])
                .output()
                .unwrap();
            insta::assert_snapshot!(format!("help-{name}"), transcript(&o));
        }
    });
}

#[test]
fn error_bad_manifest_with_line_and_column() {
    let o = kiln_in(&repo())
        .args(["build", "tests/fixtures/bad/02-unknown-key-component.toml"])
        .output()
        .unwrap();
    settings(None).bind(|| insta::assert_snapshot!("error-bad-manifest", transcript(&o)));
}

#[test]
fn error_missing_file() {
    let t = tempdir();
    let o = kiln_in(t.path())
        .args(["build", "missing/kiln.toml"])
        .output()
        .unwrap();
    settings(Some(t.path())).bind(|| insta::assert_snapshot!("error-missing-file", transcript(&o)));
}

#[test]
fn error_unknown_tag() {
    let t = tempdir();
    let manifest = repo().join("tests/fixtures/plan-table/kiln.toml");
    let o = kiln_in(t.path())
        .arg("build")
        .arg(&manifest)
        .args(["-o", "oci:img:v1"])
        // The lock goes in the temporary folder, never beside the fixture in the repository.
        .arg("--lock")
        .arg(t.path().join("kiln.lock"))
        .output()
        .unwrap();
    check(&o, "kiln build plan-table");
    let o = kiln_in(t.path())
        .args(["sbom", "oci:img:v2"])
        .output()
        .unwrap();
    settings(Some(t.path())).bind(|| insta::assert_snapshot!("error-unknown-tag", transcript(&o)));
}

#[test]
fn plan_table() {
    let o = kiln_in(&repo())
        .args(["build", "tests/fixtures/plan-table/kiln.toml", "--plan"])
        .output()
        .unwrap();
    settings(None).bind(|| insta::assert_snapshot!("plan-table", transcript(&o)));
}
