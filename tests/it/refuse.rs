//! Images that cannot run are refused at build time (issue 10, section 1): the entrypoint
//! exists, is a regular file the image's user may execute through searchable directories, a
//! script's interpreter is there (through `env` on the image's PATH too), every waiver
//! waives something; shipped symlinks that lead nowhere are a warning.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IMAGE: &str = "[image]\nname = \"refuse\"\n";

fn manifest(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("kiln.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn plan(manifest: &Path) -> Output {
    kiln()
        .args(["build", "--plan"])
        .arg(manifest)
        .output()
        .unwrap()
}

/// The build fails with one clean error (exit 1, no panic); its stderr.
fn refused(manifest: &Path) -> String {
    let out = plan(manifest);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    stderr
}

/// The plan builds; its stderr (warnings).
fn accepted(manifest: &Path) -> String {
    let out = plan(manifest);
    check(&out, "kiln build --plan");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn script(entrypoint: &str, content: &str, mode: &str) -> String {
    format!("{IMAGE}entrypoint = [\"{entrypoint}\"]\n\n[[component]]\nname = \"run\"\nkind = \"file\"\ncontent = {content:?}\nto = \"{entrypoint}\"\nmode = \"{mode}\"\nwhy = \"the program\"\n")
}

fn program(name: &str, to: &str, mode: &str) -> String {
    format!("\n[[component]]\nname = \"{name}\"\nkind = \"file\"\nfrom = \"prog\"\nto = \"{to}\"\nmode = \"{mode}\"\nwhy = \"a program\"\n")
}

/// A folder holding `prog`, an ELF file (no libraries resolved: `file` components).
fn with_prog() -> tempfile::TempDir {
    let t = tempdir();
    std::fs::copy("/usr/bin/true", t.path().join("prog")).unwrap();
    t
}

#[test]
fn a_script_without_its_interpreter_is_refused() {
    let t = with_prog();
    let text = script("/app/run", "#!/bin/sh\necho hello\n", "0755");
    let err = refused(&manifest(t.path(), &text));
    assert!(
        err.contains("interpreter /bin/sh of script /app/run is not in the image"),
        "{err}"
    );
    assert!(
        err.contains("kiln.toml:3:15"),
        "points at the entrypoint: {err}"
    );
    assert!(
        err.contains("hint: add a component that places /bin/sh"),
        "{err}"
    );
    // With a /bin/sh the image the user may run, it builds.
    let text = text + &program("sh", "/bin/sh", "0755");
    accepted(&manifest(t.path(), &text));
}

#[test]
fn an_entrypoint_without_execute_permission_is_refused() {
    let t = with_prog();
    let text = format!(
        "{IMAGE}entrypoint = [\"/usr/bin/prog\"]\n{}",
        program("prog", "/usr/bin/prog", "0644")
    );
    let err = refused(&manifest(t.path(), &text));
    assert!(
        err.contains("entrypoint /usr/bin/prog is not executable by the image's user 65532:65532: /usr/bin/prog has mode 0644, owner 0:0"),
        "{err}"
    );
    assert!(
        err.contains("hint: give component `prog` `mode = \"0755\"`"),
        "{err}"
    );
    // Owner-only execute is not enough for another user either.
    let text = text.replace("0644", "0700");
    refused(&manifest(t.path(), &text));
    accepted(&manifest(t.path(), &text.replace("0700", "0755")));
}

#[test]
fn a_directory_the_user_cannot_search_is_refused() {
    let t = with_prog();
    let text = format!(
        "{IMAGE}entrypoint = [\"/opt/app/prog\"]\nuser = \"65532\"\n\n[[component]]\nname = \"private\"\nkind = \"dir\"\nto = \"/opt/app\"\nmode = \"0700\"\nwhy = \"root only\"\n{}",
        program("prog", "/opt/app/prog", "0755")
    );
    let err = refused(&manifest(t.path(), &text));
    assert!(
        err.contains("directory /opt/app (mode 0700, owner 0:0) is not searchable"),
        "{err}"
    );
    assert!(err.contains("in component `private`"), "{err}");
    accepted(&manifest(t.path(), &text.replace("0700", "0711")));
}

#[test]
fn a_missing_entrypoint_is_refused() {
    let t = with_prog();
    let text = format!(
        "{IMAGE}entrypoint = [\"/usr/bin/nope\"]\n{}",
        program("prog", "/usr/bin/prog", "0755")
    );
    let err = refused(&manifest(t.path(), &text));
    assert!(
        err.contains("entrypoint /usr/bin/nope is not in the image"),
        "{err}"
    );
    // `cmd` is checked when there is no entrypoint, looked up on PATH without a `/`.
    let text = format!(
        "{IMAGE}cmd = [\"prog\", \"-x\"]\n{}",
        program("prog", "/usr/local/bin/prog", "0755")
    );
    accepted(&manifest(t.path(), &text));
    let err = refused(&manifest(
        t.path(),
        &text.replace("\"prog\", \"-x\"", "\"other\""),
    ));
    assert!(err.contains("no `other` is on the image's PATH"), "{err}");
}

#[test]
fn env_needs_the_program_on_the_image_path() {
    let t = with_prog();
    let text = script("/app/run", "#!/usr/bin/env python3\nprint(1)\n", "0755")
        + &program("env", "/usr/bin/env", "0755");
    let err = refused(&manifest(t.path(), &text));
    assert!(
        err.contains("script /app/run runs `python3` through `env`, but no `python3` is on the image's PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)"),
        "{err}"
    );
    // In a directory outside PATH it is not found either; on PATH it is.
    let outside = text.clone() + &program("py", "/opt/python3", "0755");
    refused(&manifest(t.path(), &outside));
    let text = text + &program("py", "/usr/local/bin/python3", "0755");
    accepted(&manifest(t.path(), &text));
    // The manifest's own PATH replaces the default.
    let text = text.replace("entrypoint", "env = { PATH = \"/opt/bin\" }\nentrypoint");
    let err = refused(&manifest(t.path(), &text));
    assert!(err.contains("PATH (/opt/bin)"), "{err}");
}

#[test]
fn dangling_symlinks_that_ship_are_a_warning() {
    let t = with_prog();
    let mut text = format!(
        "{IMAGE}entrypoint = [\"/usr/bin/prog\"]\n{}",
        program("prog", "/usr/bin/prog", "0755")
    );
    let link = |name: &str, to: &str, target: &str| {
        format!("\n[[component]]\nname = \"{name}\"\nkind = \"symlink\"\nto = \"{to}\"\ntarget = \"{target}\"\nwhy = \"a link\"\n")
    };
    // Links into what the runtime mounts, and links that lead somewhere, are fine.
    text += &link("mtab", "/etc/mtab", "/proc/self/mounts");
    text += &link("good", "/bin/prog", "../usr/bin/prog");
    let warnings = accepted(&manifest(t.path(), &text));
    assert!(!warnings.contains("point"), "{warnings}");
    text += &link("bad", "/etc/dangle", "/nowhere");
    let warnings = accepted(&manifest(t.path(), &text));
    assert!(
        warnings.contains("warning: 1 symlink that ships points at nothing in the image:\n  /etc/dangle -> /nowhere (component `bad`)"),
        "{warnings}"
    );
    for i in 0..11 {
        text += &link(
            &format!("bad{i:02}"),
            &format!("/lib/l{i:02}"),
            "missing.so",
        );
    }
    let warnings = accepted(&manifest(t.path(), &text));
    assert!(
        warnings.contains("12 symlinks that ship point at nothing"),
        "{warnings}"
    );
    assert!(warnings.contains("/lib/l08 -> missing.so"), "{warnings}");
    assert!(
        !warnings.contains("/lib/l09 -> missing.so"),
        "at most 10: {warnings}"
    );
    assert!(warnings.contains("and 2 more"), "{warnings}");
}

#[test]
fn a_waiver_that_waives_nothing_is_refused() {
    let t = tempdir();
    let d = t.path();
    std::fs::write(
        d.join("cancel.c"),
        "#include <pthread.h>\nstatic void *f(void *a){return a;}\nint main(void){pthread_t t; pthread_create(&t,0,f,0); pthread_exit(0);}\n",
    )
    .unwrap();
    let gcc = require("gcc");
    run(
        Command::new(gcc)
            .args(["-O2", "-o", "cancel", "cancel.c", "-pthread"])
            .current_dir(d),
        "gcc",
    );
    let text = |load: &str| {
        format!("{IMAGE}entrypoint = [\"/usr/bin/cancel\"]\n\n[[component]]\nname = \"app\"\nkind = \"elf\"\nfrom = \"cancel\"\nto = \"/usr/bin/cancel\"\nwhy = \"the program\"\n\n[[waive]]\nload = \"{load}\"\nwhy = \"testing\"\n")
    };
    let err = refused(&manifest(d, &text("libgcc_s.so")));
    assert!(
        err.contains("waiver of `libgcc_s.so` waives nothing"),
        "{err}"
    );
    assert!(err.contains("kiln.toml:13:8"), "points at `load`: {err}");
    assert!(err.contains("hint: did you mean `libgcc_s.so.1`?"), "{err}");
    let err = refused(&manifest(d, &text("nss:systemd")));
    assert!(
        err.contains("waiver of `nss:systemd` waives nothing"),
        "{err}"
    );
    accepted(&manifest(d, &text("libgcc_s.so.1")));
}
