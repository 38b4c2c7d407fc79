//! Bad input: every broken manifest or input exits 1 with a message that names the place,
//! never panics, and leaves no output behind.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of the corpus with the generated inputs added.
fn corpus() -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    let d = t.path().join("bad");
    copy_tree(&repo().join("tests/fixtures/bad"), &d);
    let elf = std::fs::read("/usr/bin/true").unwrap();
    std::fs::write(d.join("files/truncated.elf"), &elf[..100]).unwrap();
    let mut garbage = b"\x7fELF\x02\x01\x01".to_vec();
    garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(d.join("files/garbage.elf"), garbage).unwrap();
    std::fs::write(d.join("files/empty"), b"").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", d.join("link-out")).unwrap();
    std::fs::write(
        d.join("31-non-utf8.toml"),
        b"# expect: is not UTF-8 text (invalid byte at line 4, column 17)\n[image]\nname = \"bad\"\nlabels = { a = \"\xff\xfe\" }\n",
    )
    .unwrap();
    (t, d)
}

struct Case {
    file: PathBuf,
    expect: String,
    hint: Option<String>,
    at: Option<String>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut v = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            let field = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("# {k}: ")).map(str::to_string))
            };
            v.push(Case {
                expect: field("expect").expect("every case says what it expects"),
                hint: field("hint"),
                at: field("at"),
                file: p,
            });
        }
    }
    v.sort_by(|a, b| a.file.cmp(&b.file));
    v
}

fn assert_clean_failure(out: &std::process::Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{what}: exit code\n{stderr}");
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("RUST_BACKTRACE")
            && !stderr.contains("internal error"),
        "{what}: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{what}: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
    stderr
}

#[test]
fn broken_manifests_fail_clearly_and_leave_nothing() {
    let (t, dir) = corpus();
    let cases = cases(&dir);
    assert!(cases.len() >= 65, "the corpus has {} cases", cases.len());
    for c in cases {
        let name = c.file.file_name().unwrap().to_string_lossy().into_owned();
        let out_dir = t.path().join("out").join(&name);
        let out = kiln()
            .args(["build"])
            .arg(&c.file)
            .arg("--output")
            .arg(format!("oci:{}:t", out_dir.display()))
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = assert_clean_failure(&out, &name);
        assert!(
            stderr.contains(&c.expect),
            "{name}: expected {:?} in\n{stderr}",
            c.expect
        );
        if let Some(h) = &c.hint {
            assert!(
                stderr.contains("hint: ") && stderr.contains(h.as_str()),
                "{name}: expected hint {h:?} in\n{stderr}"
            );
        }
        if !name.contains("non-utf8") {
            // Every manifest error names file, line and column.
            let place = format!("--> {}:", c.file.display());
            assert!(stderr.contains(&place), "{name}: no location in\n{stderr}");
            if let Some(at) = &c.at {
                let line = at.split(':').next().unwrap();
                assert!(
                    stderr.contains(&format!("{place}{line}:")),
                    "{name}: expected line {line} in\n{stderr}"
                );
            }
        }
        assert!(!out_dir.exists(), "{name}: output left behind");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".kiln"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{name}: temporary files left: {leftovers:?}"
        );
    }
}

#[test]
fn missing_library_names_library_requester_and_search_path() {
    let t = tempdir();
    let d = t.path();
    require("gcc");
    cc(
        d,
        "void ghost(void){}\n",
        "ghost.c",
        "libghost.so",
        &["-shared", "-fPIC", "-Wl,-soname,libghost.so.7"],
    );
    std::fs::create_dir_all(d.join("lib")).unwrap();
    std::fs::rename(d.join("libghost.so"), d.join("lib/libghost.so.7")).unwrap();
    run(
        Command::new("ln")
            .args(["-s", "libghost.so.7", "lib/libghost.so"])
            .current_dir(d),
        "ln",
    );
    cc(
        d,
        "void ghost(void);\nint main(){ghost();return 0;}\n",
        "app.c",
        "app",
        &[
            "-Llib",
            "-lghost",
            "-Wl,-rpath,$ORIGIN/nowhere",
            "-Wl,--enable-new-dtags",
        ],
    );
    std::fs::write(
        d.join("kiln.toml"),
        "[image]\nname = \"ghost\"\n\n[[component]]\nname = \"app\"\nkind = \"elf\"\nfrom = \"app\"\nto = \"/usr/local/bin/app\"\nwhy = \"x\"\n",
    )
    .unwrap();
    let out = kiln()
        .args(["build", "kiln.toml", "--output", "oci:out:t"])
        .current_dir(d)
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&out, "missing library");
    for want in [
        "cannot find `libghost.so.7`, needed by /usr/local/bin/app",
        "chain: /usr/local/bin/app -> libghost.so.7",
        "DT_RUNPATH of app",
        "/usr/local/bin/nowhere",
        "/lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib",
        "ld.so.cache",
        "(component `app`)",
        "hint: ",
    ] {
        assert!(stderr.contains(want), "expected {want:?} in\n{stderr}");
    }
    assert!(!d.join("out").exists());
}

#[test]
fn usage_errors_exit_2_and_bad_output_specs_exit_1() {
    // A missing required argument (`kiln build` alone builds ./kiln.toml: tests/it/cli.rs).
    let out = kiln().args(["init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = kiln().args(["build", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = kiln().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = kiln()
        .args(["build", "x.toml", "--output", "docker://registry/x"])
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&out, "bad output");
    assert!(stderr.contains("unknown transport"), "{stderr}");
    let out = kiln()
        .args(["build", "/nonexistent/kiln.toml"])
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&out, "missing manifest");
    assert!(
        stderr.contains("cannot read manifest /nonexistent/kiln.toml"),
        "{stderr}"
    );
    let v = kiln().arg("--version").output().unwrap();
    assert_eq!(v.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("kiln {}", env!("CARGO_PKG_VERSION"))
    );
    let h = kiln().args(["build", "--help"]).output().unwrap();
    assert_eq!(h.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&h.stdout).contains("docker-archive:FILE"));
}

#[test]
fn existing_non_layout_directory_is_not_touched() {
    let t = tempdir();
    std::fs::create_dir_all(t.path().join("precious")).unwrap();
    std::fs::write(t.path().join("precious/data.txt"), "keep me").unwrap();
    std::fs::write(t.path().join("kiln.toml"), "[image]\nname = \"x\"\n\n[[component]]\nname = \"tmp\"\nkind = \"dir\"\nto = \"/tmp\"\nwhy = \"x\"\n").unwrap();
    let out = kiln()
        .args(["build", "kiln.toml", "--output", "oci:precious:t"])
        .current_dir(t.path())
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&out, "non-layout dir");
    assert!(stderr.contains("is not an OCI image layout"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(t.path().join("precious"))
            .unwrap()
            .count(),
        1
    );
}
