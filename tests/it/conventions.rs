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
