//! Parity with glibc: for every ELF file of this machine under /usr/bin, /usr/sbin and
//! /usr/lib/x86_64-linux-gnu, `kiln ldd` finds the same files as glibc's own `ldd` (which runs
//! the real loader in list mode).
//!
//! Compared: the real paths `ldd` prints (every `=> /path` and the loader line, the vDSO left
//! out) against the `real_path` of every object of kiln's closure but the first (the file).
//! Differences are allowed only where they are explained, and each is asserted precisely:
//! - (a) `ldd` says `SONAME => not found`: kiln must fail for that file with
//!   ``cannot find `SONAME` `` (naming one of the sonames `ldd` could not find), and print no
//!   closure for it;
//! - (b) `ldd` says `statically linked` or `not a dynamic executable` (static executables,
//!   the loader itself, shared objects without DT_NEEDED, relocatable `.o` files): kiln's
//!   JSON must say `static: true`, or kiln must fail for the file for a reason other than a
//!   missing library (not loadable: not ELF, malformed). On Debian 12 every such file is
//!   `static: true`; none fails.
//!
//! Anything else (other sets, an `ldd` line that cannot be read, a file kiln fails on while
//! `ldd` resolves it) fails the test with the list of files and both sets.

use crate::util::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu"];
const LDD: &str = "/usr/bin/ldd";
const THREADS: usize = 2;

/// Every regular file (not a symlink) under `dir`, recursively, that starts with the ELF magic.
fn elf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let p = e.path();
        if t.is_dir() {
            elf_files(&p, out);
        } else if t.is_file() {
            let mut magic = [0u8; 4];
            let is_elf = std::fs::File::open(&p)
                .and_then(|mut f| f.read_exact(&mut magic))
                .is_ok()
                && &magic == b"\x7fELF";
            if is_elf {
                out.push(p);
            }
        }
    }
}

/// What glibc's `ldd` said about one file.
#[derive(Debug, Default)]
struct LddReport {
    /// Real paths of the objects it found (loader included, vDSO excluded).
    found: BTreeSet<String>,
    /// Names it printed `=> not found` for.
    not_found: BTreeSet<String>,
    /// `statically linked` or `not a dynamic executable`.
    not_dynamic: Option<String>,
    /// Lines this test cannot interpret, and a failed exit without explanation.
    unexplained: Vec<String>,
}

fn real(path: &str) -> String {
    match std::fs::canonicalize(path) {
        Ok(p) => p.display().to_string(),
        Err(e) => format!("{path} (cannot resolve: {e})"),
    }
}

fn ldd(file: &Path) -> LddReport {
    let out = Command::new(LDD)
        .arg(file)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {LDD}: {e}"));
    let mut r = LddReport::default();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stdout.lines().chain(stderr.lines()) {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if l.starts_with("ldd: warning: you do not have execution permission") {
            continue; // a non-root run on a library without the x bit; ldd still lists it
        }
        if l == "statically linked" || l == "not a dynamic executable" {
            r.not_dynamic = Some(l.to_string());
            continue;
        }
        if let Some(name) = l.strip_suffix(" => not found") {
            r.not_found.insert(name.to_string());
            continue;
        }
        // `NAME => PATH (0xADDR)`, `PATH (0xADDR)` (the loader) or `linux-vdso.so.1 (0xADDR)`.
        let Some((left, addr)) = l.rsplit_once(" (0x") else {
            r.unexplained.push(format!("ldd line: {l}"));
            continue;
        };
        if !addr.ends_with(')') {
            r.unexplained.push(format!("ldd line: {l}"));
            continue;
        }
        let path = match left.split_once(" => ") {
            Some((_, p)) => p.trim(),
            None => left.trim_end_matches(" =>").trim(),
        };
        if path.starts_with('/') {
            r.found.insert(real(path));
        } else if !path.contains("vdso") && !path.contains("linux-gate") {
            r.unexplained.push(format!("ldd line: {l}"));
        }
    }
    if !out.status.success() && r.not_dynamic.is_none() {
        r.unexplained
            .push(format!("ldd exited with {} without saying why", out.status));
    }
    r
}

/// Runs `ldd` on every file with `THREADS` threads.
fn ldd_all(files: &[PathBuf]) -> Vec<LddReport> {
    let chunk = files.len().div_ceil(THREADS).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|f| ldd(f)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// What kiln said about one file.
#[derive(Debug)]
enum KilnReport {
    Closure {
        is_static: bool,
        found: BTreeSet<String>,
    },
    Error(String),
    Absent,
}

/// One `kiln ldd --json` over every file: closures from stdout, `error: FILE: message` from
/// stderr (multi-line messages continue on indented lines).
fn kiln_all(files: &[PathBuf]) -> (BTreeMap<String, KilnReport>, Option<i32>) {
    let out = kiln()
        .args(["ldd", "--json"])
        .args(files)
        .output()
        .expect("kiln ldd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "kiln ldd panicked:\n{stderr}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("kiln ldd --json printed no JSON ({e}); stderr:\n{stderr}"));
    let names: BTreeSet<String> = files.iter().map(|f| f.display().to_string()).collect();
    let mut reports: BTreeMap<String, KilnReport> = BTreeMap::new();
    for v in json["files"].as_array().expect("a JSON array of files") {
        let file = v["file"].as_str().expect("file").to_string();
        let objects = v["objects"].as_array().expect("objects");
        let found = objects
            .iter()
            .skip(1)
            .map(|o| o["real_path"].as_str().expect("real_path").to_string())
            .collect();
        let is_static = v["static"].as_bool().expect("static");
        let old = reports.insert(file.clone(), KilnReport::Closure { is_static, found });
        assert!(old.is_none(), "kiln printed {file} twice");
    }
    let mut current: Option<String> = None;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("error: ") {
            // The file name is the first prefix before ": " that is one of the files.
            let file = rest
                .match_indices(": ")
                .map(|(i, _)| &rest[..i])
                .find(|f| names.contains(*f));
            current = file.map(str::to_string);
            if let Some(f) = file {
                let msg = rest[f.len() + 2..].to_string();
                let old = reports.insert(f.to_string(), KilnReport::Error(msg));
                assert!(
                    old.is_none(),
                    "kiln reported {f} both as a closure and as an error"
                );
            }
        } else if line.starts_with(char::is_whitespace) {
            if let Some(KilnReport::Error(m)) = current.as_ref().and_then(|f| reports.get_mut(f)) {
                m.push('\n');
                m.push_str(line);
            }
        } else {
            current = None;
        }
    }
    (reports, out.status.code())
}

/// Why a file may differ, when it does.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Explained {
    /// (a) `ldd` printed `not found`; kiln failed naming that soname.
    NotFound,
    /// (b) `ldd` said not dynamic; kiln said `static: true`.
    StaticAndStatic,
    /// (b) `ldd` said not dynamic; kiln failed (not loadable).
    StaticAndError,
}

#[test]
fn kiln_ldd_finds_what_glibc_ldd_finds_for_every_elf_file_of_the_machine() {
    assert!(
        Path::new(LDD).is_file(),
        "{LDD} is missing (Debian package libc-bin)"
    );
    let start = std::time::Instant::now();
    let mut files = Vec::new();
    for d in DIRS {
        elf_files(Path::new(d), &mut files);
    }
    files.sort();
    assert!(
        files.len() >= 100,
        "only {} ELF files under {DIRS:?}",
        files.len()
    );

    let (kiln, code) = kiln_all(&files);
    let kiln_secs = start.elapsed().as_secs_f64();
    let ldd = ldd_all(&files);
    assert_eq!(ldd.len(), files.len());

    let mut same = 0usize;
    let mut explained: BTreeMap<Explained, Vec<String>> = BTreeMap::new();
    let mut differ = Vec::new();
    let mut kiln_errors = 0usize;
    for (file, l) in files.iter().zip(&ldd) {
        let name = file.display().to_string();
        let k = kiln.get(&name).unwrap_or(&KilnReport::Absent);
        if matches!(k, KilnReport::Error(_)) {
            kiln_errors += 1;
        }
        let verdict: Result<Option<Explained>, String> = if !l.unexplained.is_empty() {
            Err(l.unexplained.join("; "))
        } else if let Some(why) = &l.not_dynamic {
            match k {
                KilnReport::Closure {
                    is_static: true, ..
                } => Ok(Some(Explained::StaticAndStatic)),
                KilnReport::Error(m) if !m.contains("cannot find") => {
                    Ok(Some(Explained::StaticAndError))
                }
                other => Err(format!("ldd: {why}; kiln: {other:?}")),
            }
        } else if !l.not_found.is_empty() {
            match k {
                KilnReport::Error(m)
                    if l.not_found
                        .iter()
                        .any(|s| m.starts_with(&format!("cannot find `{s}`"))) =>
                {
                    Ok(Some(Explained::NotFound))
                }
                other => Err(format!(
                    "ldd: not found: {:?} (found {:?}); kiln: {other:?}",
                    l.not_found, l.found
                )),
            }
        } else {
            match k {
                KilnReport::Closure {
                    is_static: false,
                    found,
                } if *found == l.found => Ok(None),
                KilnReport::Closure { found, .. } => Err(format!(
                    "only ldd: {:?}; only kiln: {:?}\n    ldd:  {:?}\n    kiln: {:?}",
                    l.found.difference(found).collect::<Vec<_>>(),
                    found.difference(&l.found).collect::<Vec<_>>(),
                    l.found,
                    found
                )),
                other => Err(format!("ldd: {:?}; kiln: {other:?}", l.found)),
            }
        };
        match verdict {
            Ok(None) => same += 1,
            Ok(Some(why)) => explained.entry(why).or_default().push(name),
            Err(diff) => differ.push(format!("  {name}: {diff}")),
        }
    }

    let count = |e| explained.get(&e).map_or(0, Vec::len);
    eprintln!(
        "ldd parity: {} ELF files compared ({kiln_secs:.1}s kiln, {:.1}s in all): {same} identical; \
         explained: {} not found by both (a), {} not dynamic and static in kiln (b), \
         {} not dynamic and not loadable by kiln (b); {} unexplained",
        files.len(),
        start.elapsed().as_secs_f64(),
        count(Explained::NotFound),
        count(Explained::StaticAndStatic),
        count(Explained::StaticAndError),
        differ.len()
    );
    for (why, files) in &explained {
        eprintln!("  {why:?}: {}", files.join(" "));
    }
    assert!(
        differ.is_empty(),
        "{} of {} files differ between kiln ldd and glibc's ldd:\n{}",
        differ.len(),
        files.len(),
        differ.join("\n")
    );
    // Exit code 1 exactly when some file failed, 0 otherwise.
    assert_eq!(
        code,
        Some(if kiln_errors > 0 { 1 } else { 0 }),
        "kiln ldd exit code with {kiln_errors} failed files"
    );
}
