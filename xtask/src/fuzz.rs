//! `cargo xtask fuzz [SECONDS]`: runs the `elf_resolve` fuzz target (`fuzz/`, a cargo-fuzz
//! project with its own workspace) for SECONDS (default 60), on stable Rust without a
//! sanitizer.
//!
//! Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when `cargo fuzz` is missing,
//! seeds the corpus `fuzz/corpus/elf_resolve` from small ELF files of the host (and truncated
//! copies) when it is empty, and runs
//! `cargo fuzz run -s none elf_resolve CORPUS -- -max_total_time=SECONDS -rss_limit_mb=2048
//! -timeout=10 -dict=fuzz/elf_resolve.dict` with `CARGO_TARGET_DIR=fuzz/target`. Crashes land
//! in `fuzz/artifacts/elf_resolve/`. Not part of `cargo xtask test`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{self, bail, Context, Result};

const DEFAULT_SECONDS: u64 = 60;
const TARGET: &str = "elf_resolve";

/// Host files the corpus starts from: a small dynamic executable that needs libc, a small
/// shared library with symbol versions, a relocatable object. Missing ones are skipped.
const SEEDS: &[&str] = &[
    "/usr/bin/true",
    "/usr/lib/x86_64-linux-gnu/libdl.so.2",
    "/usr/lib/x86_64-linux-gnu/crt1.o",
];

/// Lengths the first seed is also cut to: inside the ELF header, inside the program headers,
/// and past them.
const TRUNCATIONS: &[usize] = &[20, 63, 64, 120, 600, 4096];

/// `cargo xtask fuzz [SECONDS]`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub seconds: u64,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        match args {
            [] => Ok(Options {
                seconds: DEFAULT_SECONDS,
            }),
            [value] => match value.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Ok(Options { seconds }),
                _ => bail!("`fuzz` wants a whole number of seconds above 0, got `{value}`"),
            },
            [_, extra, ..] => bail!("unexpected argument `{extra}` for `fuzz`"),
        }
    }
}

/// Seeds `corpus` from [`SEEDS`] when it has no file yet; returns how many files it holds.
fn seed(corpus: &Path) -> Result<usize> {
    fs::create_dir_all(corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
    let count = |dir: &Path| -> Result<usize> {
        Ok(fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .count())
    };
    let existing = count(corpus)?;
    if existing > 0 {
        return Ok(existing);
    }
    for (i, seed) in SEEDS.iter().enumerate() {
        let Ok(bytes) = fs::read(seed) else {
            eprintln!("xtask: warning: seed {seed} not found, skipped");
            continue;
        };
        let name = Path::new(seed)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("seed-{i}"));
        let write = |file: String, data: &[u8]| {
            let path = corpus.join(file);
            fs::write(&path, data).with_context(|| format!("cannot write {}", path.display()))
        };
        write(name.clone(), &bytes)?;
        if i == 0 {
            for &len in TRUNCATIONS.iter().filter(|&&len| len < bytes.len()) {
                write(format!("{name}-truncated-{len}"), &bytes[..len])?;
            }
        }
    }
    count(corpus)
}

/// `cargo xtask fuzz`.
pub fn run(options: &Options) -> Result<()> {
    let root = util::repo_root();
    let fuzz = root.join("fuzz");
    if !util::succeeds(util::cargo().args(["fuzz", "--version"])) {
        println!("==> cargo install cargo-fuzz --locked");
        util::run(util::cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let corpus: PathBuf = fuzz.join("corpus").join(TARGET);
    let files = seed(&corpus)?;
    println!(
        "==> fuzzing {TARGET} for {}s ({files} corpus files in {})",
        options.seconds,
        corpus.display()
    );
    let mut cmd = util::cargo();
    cmd.args(["fuzz", "run", "-s", "none", TARGET])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={}", options.seconds))
        .args(["-rss_limit_mb=2048", "-timeout=10"])
        .arg(format!("-dict={}", fuzz.join("elf_resolve.dict").display()))
        .env("CARGO_TARGET_DIR", fuzz.join("target"))
        .current_dir(&root);
    println!("    $ {}", util::show(&cmd));
    util::run(&mut cmd).context(format!(
        "fuzzing found a problem: the input is in {}; reproduce with `cargo fuzz run -s none \
         {TARGET} FILE`, minimise with `cargo fuzz tmin -s none {TARGET} FILE`",
        fuzz.join("artifacts").join(TARGET).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_seconds() {
        assert_eq!(Options::parse(&[]).unwrap().seconds, 60);
        assert_eq!(Options::parse(&args(&["600"])).unwrap().seconds, 600);
        assert!(Options::parse(&args(&["0"])).is_err());
        assert!(Options::parse(&args(&["soon"])).is_err());
        assert!(Options::parse(&args(&["60", "70"])).is_err());
    }
}
