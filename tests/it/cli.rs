//! The conventions of the command line (issue 10, section 4): shell completions, the man
//! page, exit codes in `--help` and the README, and `kiln build` finding `./kiln.toml`.

use crate::util::*;
use std::process::Command;

/// The subcommand names `kiln --help` lists (without clap's `help`).
pub(crate) fn subcommands() -> Vec<String> {
    let help = run(kiln().arg("--help"), "kiln --help");
    let list = help
        .split_once("Commands:\n")
        .expect("a Commands: section")
        .1;
    let names: Vec<String> = list
        .lines()
        .take_while(|l| l.starts_with("  "))
        // A wrapped description continues on a line indented further.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 12, "{names:?}");
    names
}

#[test]
fn completions_name_every_subcommand() {
    let names = subcommands();
    for shell in ["bash", "zsh", "fish"] {
        let script = run(kiln().args(["completions", shell]), "kiln completions");
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        for n in &names {
            assert!(
                script.contains(n.as_str()),
                "{shell}: no `{n}` in\n{script}"
            );
        }
    }
}

#[test]
fn bash_completion_loads_and_registers_kiln() {
    let bash = require("bash");
    let t = tempdir();
    let f = t.path().join("kiln.bash");
    std::fs::write(
        &f,
        run(
            kiln().args(["completions", "bash"]),
            "kiln completions bash",
        ),
    )
    .unwrap();
    let syntax = Command::new(&bash).arg("-n").arg(&f).output().unwrap();
    check(&syntax, "bash -n on the completion script");
    let registered = run(
        Command::new(&bash)
            .arg("-c")
            .arg("source \"$1\" && complete -p kiln")
            .arg("bash")
            .arg(&f),
        "source the script, then complete -p kiln",
    );
    assert!(
        registered.starts_with("complete ") && registered.trim_end().ends_with(" kiln"),
        "{registered}"
    );
}

#[test]
fn unknown_completion_shell_is_a_usage_error() {
    let o = kiln().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// `groff -man -Tutf8` of a page, warnings refused; hyphens as typed.
fn render_man(roff: &str) -> String {
    let groff = require("groff");
    let t = tempdir();
    let page = t.path().join("kiln.1");
    std::fs::write(&page, roff).unwrap();
    let out = Command::new(groff)
        .args(["-man", "-Tutf8", "-P-cbou", "-rLL=300n", "-ww"])
        .arg(&page)
        .output()
        .unwrap();
    check(&out, "groff -man -Tutf8 kiln.1");
    assert!(
        out.stderr.is_empty(),
        "groff warned:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // groff renders `\-` as U+2212 and may print hyphens as U+2010.
    String::from_utf8_lossy(&out.stdout).replace(['\u{2212}', '\u{2010}'], "-")
}

#[test]
fn man_page_renders_and_names_every_subcommand() {
    let roff = run(kiln().arg("man"), "kiln man");
    assert!(roff.contains("\n.TH kiln 1 "), "{roff}");
    let text = render_man(&roff);
    assert!(text.contains("NAME\n       kiln - "), "{text}");
    let section = text
        .split_once("\nSUBCOMMANDS\n")
        .and_then(|(_, rest)| rest.split_once("\nEXAMPLES\n"))
        .unwrap_or_else(|| panic!("no SUBCOMMANDS then EXAMPLES in\n{text}"))
        .0;
    for n in subcommands() {
        assert!(
            section.contains(&format!("kiln-{n}(1)")),
            "no `kiln-{n}(1)` in\n{section}"
        );
    }
    let exit = text.split_once("\nEXIT STATUS\n").expect("EXIT STATUS").1;
    assert!(exit.contains("101"), "{exit}");
    // Each page it names exists.
    let build = render_man(&run(kiln().args(["man", "build"]), "kiln man build"));
    assert!(build.contains("kiln-build - Build an image"), "{build}");
    assert!(build.contains("--output"), "{build}");
    let o = kiln().args(["man", "nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hint: "));
}

/// The exit-status lines of `kiln --help`, also required word for word in the README.
#[test]
fn exit_codes_are_in_help_and_readme() {
    let help = run(kiln().arg("--help"), "kiln --help");
    let block = help
        .split_once("Exit status:\n")
        .unwrap_or_else(|| panic!("no `Exit status:` in\n{help}"))
        .1;
    let lines: Vec<&str> = block
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    for code in ["0", "1", "2", "101"] {
        assert!(
            lines
                .iter()
                .any(|l| l.split_whitespace().next() == Some(code)),
            "no exit status {code} in {lines:?}"
        );
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for l in &lines {
        let (code, meaning) = l.split_once(char::is_whitespace).unwrap();
        let row = format!("| {code} | {} |", meaning.trim());
        assert!(readme.contains(&row), "README.md lacks the row `{row}`");
    }
}

#[test]
fn build_without_a_manifest_uses_kiln_toml() {
    let curl = require("curl");
    let t = tempdir();
    // No kiln.toml here: an error that says so, with a hint, exit 1.
    let o = kiln().arg("build").current_dir(t.path()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("kiln.toml"),
        "{err}"
    );
    assert!(
        err.contains("\nhint: ") && err.contains("kiln init"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    run(
        kiln()
            .arg("init")
            .arg(&curl)
            .args(["--why", "fetches health checks"])
            .current_dir(t.path()),
        "kiln init",
    );
    let plan = run(
        kiln().args(["build", "--plan"]).current_dir(t.path()),
        "kiln build --plan (no manifest argument)",
    );
    assert!(plan.contains("/usr/bin/curl"), "{plan}");
}

/// Counts read as English: a one-layer image is "1 layer", not "1 layers" (issue 10).
#[test]
fn build_summary_counts_are_singular_for_one() {
    let t = tempdir();
    let m = crate::hostile::tiny_manifest(&t.path().join("src"), "one");
    let o = kiln()
        .arg("build")
        .arg(&m)
        .args([
            "--output",
            &format!("oci:{}:v1", t.path().join("img").display()),
        ])
        .output()
        .unwrap();
    check(&o, "kiln build");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(": 1 layer, "), "{s}");
    assert!(!s.contains("1 layers"), "{s}");
}
