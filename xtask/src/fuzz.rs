//! `cargo xtask fuzz [--target NAME] [SECONDS]`: runs one fuzz target of `fuzz/` (a
//! cargo-fuzz project with its own workspace) for SECONDS (default 60), on stable Rust
//! without a sanitizer. NAME is `elf_resolve` (the default, so `cargo xtask fuzz 600` keeps
//! its meaning), `manifest`, `oci_read`, `deb_index`, `deb_release`, or `all` (each target in
//! turn, SECONDS each).
//!
//! Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when `cargo fuzz` is missing,
//! seeds the corpus `fuzz/corpus/NAME` when it is empty (`elf_resolve`: small ELF files of the
//! host and truncated copies; `manifest`: the repository's manifests, good and bad; `oci_read`,
//! `deb_index`, `deb_release`: `fuzz/seeds/NAME/`), and runs
//! `cargo fuzz run -s none NAME CORPUS -- -max_total_time=SECONDS -rss_limit_mb=2048
//! -timeout=10 -dict=fuzz/NAME.dict` with `CARGO_TARGET_DIR=fuzz/target`. Crashes land in
//! `fuzz/artifacts/NAME/`. Not part of `cargo xtask test`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{self, bail, Context, Result};

const DEFAULT_SECONDS: u64 = 60;

/// A fuzz target of `fuzz/fuzz_targets/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `kiln::elf::parse` and a closure resolution in a small sysroot.
    ElfResolve,
    /// The manifest loader, text to validated `Manifest`s.
    Manifest,
    /// The layout and archive readers: `index.json`, manifests, oci-archives read in place
    /// and unpacked.
    OciRead,
    /// Debian control data: deb822 paragraphs, relation and `Provides` fields, versions (and
    /// their order), `Packages` indices.
    DebIndex,
    /// Debian archive files: `InRelease` framing, signatures and fields; `.deb` unpacking.
    DebRelease,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::ElfResolve,
        Target::Manifest,
        Target::OciRead,
        Target::DebIndex,
        Target::DebRelease,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::ElfResolve => "elf_resolve",
            Target::Manifest => "manifest",
            Target::OciRead => "oci_read",
            Target::DebIndex => "deb_index",
            Target::DebRelease => "deb_release",
        }
    }

    /// The target named `name`; `all` is handled by [`Options::parse`].
    fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Files the corpus starts from: (file name in the corpus, bytes).
    fn seeds(self, root: &Path) -> Vec<(String, Vec<u8>)> {
        match self {
            Target::ElfResolve => elf_seeds(),
            Target::Manifest => manifest_seeds(root),
            Target::OciRead | Target::DebIndex | Target::DebRelease => {
                dir_seeds(&root.join("fuzz/seeds").join(self.name()))
            }
        }
    }
}

/// Host files the `elf_resolve` corpus starts from: a small dynamic executable that needs
/// libc, a small shared library with symbol versions, a relocatable object. Missing ones are
/// skipped.
const ELF_SEEDS: &[&str] = &[
    "/usr/bin/true",
    "/usr/lib/x86_64-linux-gnu/libdl.so.2",
    "/usr/lib/x86_64-linux-gnu/crt1.o",
];

/// Lengths the first ELF seed is also cut to: inside the ELF header, inside the program
/// headers, and past them.
const TRUNCATIONS: &[usize] = &[20, 63, 64, 120, 600, 4096];

fn elf_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, seed) in ELF_SEEDS.iter().enumerate() {
        let Ok(bytes) = fs::read(seed) else {
            eprintln!("xtask: warning: seed {seed} not found, skipped");
            continue;
        };
        let name = Path::new(seed)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("seed-{i}"));
        if i == 0 {
            for &len in TRUNCATIONS.iter().filter(|&&len| len < bytes.len()) {
                out.push((format!("{name}-truncated-{len}"), bytes[..len].to_vec()));
            }
        }
        out.push((name, bytes));
    }
    out
}

/// Every file of `dir` (seeds kept in the repository: for `oci_read` a small oci-archive kiln
/// built, its `index.json` and its image manifest; for `deb_index` a `Packages` snippet, a
/// relation field and two versions; for `deb_release` an `InRelease` signed by the throw-away
/// key of `keyring.gpg` (which the target verifies with, and a seed too), small `.deb`s (xz,
/// gzip, zstd) and a `Packages` snippet).
fn dir_seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            fs::read(e.path()).ok().map(|b| (name, b))
        })
        .collect();
    v.sort();
    v
}

/// Folders whose `*.toml` files seed the `manifest` corpus (one level, not recursive).
const MANIFEST_DIRS: &[&str] = &["manifests", "tests/fixtures/bad"];

/// The repository's manifests: `manifests/`, each example's `kiln.toml`, the bad corpus.
fn manifest_seeds(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = Vec::new();
    let tomls = |dir: &Path| -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect()
    };
    for dir in MANIFEST_DIRS {
        files.extend(tomls(&root.join(dir)));
    }
    if let Ok(examples) = fs::read_dir(root.join("examples")) {
        files.extend(
            examples
                .filter_map(|e| e.ok().map(|e| e.path().join("kiln.toml")))
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let bytes = fs::read(&p).ok()?;
            let rel = p.strip_prefix(root).unwrap_or(&p);
            Some((rel.to_string_lossy().replace('/', "_"), bytes))
        })
        .collect()
}

/// `cargo xtask fuzz [--target NAME] [SECONDS]`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub targets: Vec<Target>,
    pub seconds: u64,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut targets = None;
        let mut seconds = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let name = match arg.strip_prefix("--target") {
                Some("") => match it.next() {
                    Some(n) => Some(n.as_str()),
                    None => bail!(
                        "`--target` wants a target name: elf_resolve, manifest, oci_read, \
                         deb_index, deb_release or all"
                    ),
                },
                Some(rest) if rest.starts_with('=') => Some(&rest[1..]),
                _ => None,
            };
            if let Some(name) = name {
                if targets.is_some() {
                    bail!("`--target` is given twice");
                }
                targets = Some(match name {
                    "all" => Target::ALL.to_vec(),
                    n => match Target::parse(n) {
                        Some(t) => vec![t],
                        None => {
                            bail!(
                                "unknown fuzz target `{n}`; one of: elf_resolve, manifest, \
                                 oci_read, deb_index, deb_release, all"
                            )
                        }
                    },
                });
                continue;
            }
            if seconds.is_some() {
                bail!("unexpected argument `{arg}` for `fuzz`");
            }
            seconds = match arg.parse::<u64>() {
                Ok(s) if s > 0 => Some(s),
                _ => bail!("`fuzz` wants a whole number of seconds above 0, got `{arg}`"),
            };
        }
        Ok(Options {
            targets: targets.unwrap_or_else(|| vec![Target::ElfResolve]),
            seconds: seconds.unwrap_or(DEFAULT_SECONDS),
        })
    }
}

/// Seeds `corpus` with `seeds` when it has no file yet; returns how many files it holds.
fn seed(corpus: &Path, seeds: impl FnOnce() -> Vec<(String, Vec<u8>)>) -> Result<usize> {
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
    for (name, data) in seeds() {
        let path = corpus.join(name);
        fs::write(&path, data).with_context(|| format!("cannot write {}", path.display()))?;
    }
    count(corpus)
}

/// Runs one target for `seconds`.
fn run_one(root: &Path, target: Target, seconds: u64) -> Result<()> {
    let fuzz = root.join("fuzz");
    let name = target.name();
    let corpus: PathBuf = fuzz.join("corpus").join(name);
    let files = seed(&corpus, || target.seeds(root))?;
    println!(
        "==> fuzzing {name} for {seconds}s ({files} corpus files in {})",
        corpus.display()
    );
    let mut cmd = util::cargo();
    cmd.args(["fuzz", "run", "-s", "none", name])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-rss_limit_mb=2048", "-timeout=10"])
        .arg(format!(
            "-dict={}",
            fuzz.join(format!("{name}.dict")).display()
        ))
        .env("CARGO_TARGET_DIR", fuzz.join("target"))
        .current_dir(root);
    println!("    $ {}", util::show(&cmd));
    util::run(&mut cmd).context(format!(
        "fuzzing {name} found a problem: the input is in {}; reproduce with `cargo fuzz run -s \
         none {name} FILE`, minimise with `cargo fuzz tmin -s none {name} FILE`",
        fuzz.join("artifacts").join(name).display()
    ))
}

/// `cargo xtask fuzz`: each chosen target in turn; with several, a failing one does not stop
/// the others, and the run fails at the end naming it.
pub fn run(options: &Options) -> Result<()> {
    let root = util::repo_root();
    if !util::succeeds(util::cargo().args(["fuzz", "--version"])) {
        println!("==> cargo install cargo-fuzz --locked");
        util::run(util::cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let mut failed = Vec::new();
    for &target in &options.targets {
        if let Err(e) = run_one(&root, target, options.seconds) {
            if options.targets.len() == 1 {
                return Err(e);
            }
            eprintln!("xtask: {e}");
            failed.push(target.name());
        }
    }
    if !failed.is_empty() {
        bail!("fuzzing found problems in: {}", failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn parse(list: &[&str]) -> Result<Options> {
        Options::parse(&args(list))
    }

    #[test]
    fn parses_seconds() {
        assert_eq!(parse(&[]).unwrap().seconds, 60);
        assert_eq!(parse(&["600"]).unwrap().seconds, 600);
        assert!(parse(&["0"]).is_err());
        assert!(parse(&["soon"]).is_err());
        assert!(parse(&["60", "70"]).is_err());
    }

    #[test]
    fn parses_targets() {
        assert_eq!(parse(&[]).unwrap().targets, [Target::ElfResolve]);
        assert_eq!(parse(&["600"]).unwrap().targets, [Target::ElfResolve]);
        let o = parse(&["--target", "manifest", "30"]).unwrap();
        assert_eq!((o.targets, o.seconds), (vec![Target::Manifest], 30));
        let o = parse(&["--target=deb_release"]).unwrap();
        assert_eq!(o.targets, [Target::DebRelease]);
        let o = parse(&["45", "--target=all"]).unwrap();
        assert_eq!((o.targets, o.seconds), (Target::ALL.to_vec(), 45));
        assert!(parse(&["--target"]).is_err());
        assert!(parse(&["--target", "nope"]).is_err());
        assert!(parse(&["--target", "all", "--target", "manifest"]).is_err());
    }

    #[test]
    fn every_target_has_a_source_and_a_dictionary() {
        let fuzz = util::repo_root().join("fuzz");
        for t in Target::ALL {
            let src = fuzz.join("fuzz_targets").join(format!("{}.rs", t.name()));
            assert!(src.is_file(), "{}", src.display());
            let dict = fuzz.join(format!("{}.dict", t.name()));
            assert!(dict.is_file(), "{}", dict.display());
        }
        assert!(manifest_seeds(&util::repo_root()).len() >= 30);
        assert_eq!(dir_seeds(&fuzz.join("seeds/oci_read")).len(), 3);
        assert_eq!(dir_seeds(&fuzz.join("seeds/deb_index")).len(), 3);
        let deb_release = dir_seeds(&fuzz.join("seeds/deb_release"));
        let names: Vec<&str> = deb_release.iter().map(|(n, _)| n.as_str()).collect();
        for seed in ["InRelease", "keyring.gpg", "fuzz-hello-xz.deb"] {
            assert!(names.contains(&seed), "{names:?}");
        }
        for (name, bytes) in deb_release {
            assert!(
                bytes.len() < 20 << 10,
                "seed {name} is {} bytes",
                bytes.len()
            );
        }
    }
}
