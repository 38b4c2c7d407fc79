//! `cargo xtask bench`: kiln against its peers, in two sections (both by default, one with
//! `--only image` or `--only ldd`).
//!
//! **image**: kiln against `tar | gzip` and `umoci insert` on the same generated tree.
//! Builds kiln in release (unless `--no-build`), generates a deterministic tree of
//! `--size-mib` MiB ([`crate::tree`]) in a temporary directory under /var/tmp, writes a
//! one-component manifest for it, and times, with wall clock and peak RSS from
//! `/usr/bin/time -f '%e %M'`:
//! - `kiln build bench.toml --output oci:out/kiln-img:bench`, twice (the second run has a warm
//!   page cache and is the one compared);
//! - `tar --sort=name ... | gzip -n -6 | sha256sum`, the baseline of a deterministic layer;
//! - `umoci insert` of the tree into an empty image.
//!
//! **ldd**: the shared-library closure of every ELF file in /usr/bin (regular files with the
//! ELF magic), computed by
//! - `kiln ldd --list FILES...`, one invocation;
//! - glibc's `ldd`, batched: `printf '%s\0' FILES... | xargs -0 ldd`;
//! - `lddtree -l FILES...` (pax-utils, run as `/usr/bin/python3 /usr/bin/lddtree` because the
//!   `python3` on PATH may lack pyelftools).
//!
//! Each runs [`LDD_RUNS`] times; the fastest run is compared (wall clock), and the target is
//! kiln at least [`LDD_TARGET`] times faster than batched `ldd`. `ldd` and `lddtree` exit
//! non-zero for static files and kiln for files it cannot resolve: exit codes up to 123 (xargs'
//! "some invocation failed") are accepted, and each tool's output is checked to be non-empty.
//!
//! The temporary directory is removed at the end, also when a step fails. Outside CI a
//! missing `umoci`, `lddtree` or `/usr/bin/time` only drops that measurement; under CI it is
//! an error.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tree;
use crate::util::{self, bail, Context, Result};

const DEFAULT_SIZE_MIB: u64 = 1024;
const MIN_SIZE_MIB: u64 = 4;
const TIME: &str = "/usr/bin/time";

const MANIFEST: &str = r#"[image]
name = "bench"

[[component]]
name = "data"
kind = "tree"
from = "tree"
to = "/data"
why = "benchmark payload"
resolve = false
"#;

const TAR_GZIP: &str = "cd tree && tar --sort=name --owner=0 --group=0 --numeric-owner \
                        --mtime=@0 -cf - . | gzip -n -6 | sha256sum";

/// The benchmark's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `kiln build` against `tar | gzip` and `umoci insert`.
    Image,
    /// `kiln ldd` against glibc's `ldd` and `lddtree`.
    Ldd,
}

impl Section {
    fn parse(value: &str) -> Result<Self> {
        match value {
            "image" => Ok(Section::Image),
            "ldd" => Ok(Section::Ldd),
            other => bail!("--only wants `image` or `ldd`, got `{other}`"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub size_mib: u64,
    /// Use the existing release binary instead of running `cargo build --release`.
    pub no_build: bool,
    /// Run one section only (default: all).
    pub only: Option<Section>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut options = Options {
            size_mib: DEFAULT_SIZE_MIB,
            no_build: false,
            only: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, value) = match arg.as_str() {
                "--no-build" => {
                    options.no_build = true;
                    continue;
                }
                name @ ("--size-mib" | "--only") => match args.next() {
                    Some(value) => (name, value.as_str()),
                    None => bail!("{name} needs a value"),
                },
                other => match other.split_once('=') {
                    Some((name @ ("--size-mib" | "--only"), value)) => (name, value),
                    _ => bail!("unexpected argument `{other}` for `bench`"),
                },
            };
            if name == "--only" {
                options.only = Some(Section::parse(value)?);
                continue;
            }
            options.size_mib = match value.parse::<u64>() {
                Ok(n) if (MIN_SIZE_MIB..=1024 * 1024).contains(&n) => n,
                _ => bail!(
                    "--size-mib wants a whole number of MiB from {MIN_SIZE_MIB} up, got `{value}`"
                ),
            };
        }
        Ok(options)
    }
}

/// A temporary directory removed when dropped (on success and on error alike).
struct TempDir(PathBuf);

impl TempDir {
    fn new_in(parent: &Path, prefix: &str) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!("{prefix}{}-{nanos:09}", std::process::id()));
        fs::create_dir(&path)
            .with_context(|| format!("cannot create the temporary directory {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        match fs::remove_dir_all(&self.0) {
            Ok(()) => println!("removed {}", self.0.display()),
            Err(err) => eprintln!("xtask: warning: cannot remove {}: {err}", self.0.display()),
        }
    }
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Measurement {
    wall: Duration,
    /// Peak resident set size in KiB, when `/usr/bin/time` is available.
    rss_kib: Option<u64>,
}

/// Parses the last line `/usr/bin/time -f '%e %M'` wrote: seconds and max RSS in KiB.
fn parse_time_output(text: &str) -> Option<(f64, u64)> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut fields = line.split_whitespace();
    let seconds = fields.next()?.parse().ok()?;
    let rss = fields.next()?.parse().ok()?;
    Some((seconds, rss))
}

/// Which optional tools this run can use.
struct Tools {
    time: bool,
    umoci: bool,
}

impl Tools {
    /// Checks the tools; a missing one is an error under CI (or when required), else a warning.
    fn check() -> Result<Self> {
        let ci = util::is_ci();
        let mut missing_required = Vec::new();
        for tool in ["sh", "tar", "gzip", "sha256sum"] {
            if util::find_tool(tool).is_none() {
                missing_required.push(tool);
            }
        }
        if !missing_required.is_empty() {
            bail!("missing tools: {}", missing_required.join(" "));
        }
        let optional = |tool: &str, package: &str, loses: &str| -> Result<bool> {
            if util::find_tool(tool).is_some() {
                return Ok(true);
            }
            if ci {
                bail!("{tool} is missing (Debian package {package}); under CI that is an error");
            }
            eprintln!(
                "xtask: warning: {tool} not found (Debian package {package}, see `cargo xtask \
                 setup`): {loses}"
            );
            Ok(false)
        };
        let time = optional(TIME, "time", "no peak RSS figures")?;
        let umoci = optional("umoci", "umoci", "no umoci comparison")?;
        Ok(Tools { time, umoci })
    }
}

/// Runs `program args` in `dir` and measures it.
fn measure(
    tools: &Tools,
    what: &str,
    dir: &Path,
    program: &Path,
    args: &[&str],
) -> Result<Measurement> {
    let time_file = dir.join(".time");
    let mut cmd = if tools.time {
        let mut cmd = Command::new(TIME);
        cmd.args(["-f", "%e %M", "-o"]).arg(&time_file).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    cmd.args(args).current_dir(dir);
    println!("    $ {}", util::show(&cmd));
    let start = Instant::now();
    util::run(&mut cmd).context(what)?;
    let wall = start.elapsed();
    let rss_kib = if tools.time {
        let text = fs::read_to_string(&time_file)
            .with_context(|| format!("cannot read {}", time_file.display()))?;
        let _ = fs::remove_file(&time_file);
        match parse_time_output(&text) {
            Some((_, rss)) => Some(rss),
            None => bail!("cannot parse the output of {TIME}: {text:?}"),
        }
    } else {
        None
    };
    println!("    {} peak RSS {}", util::secs(wall), mib(rss_kib));
    Ok(Measurement { wall, rss_kib })
}

fn mib(rss_kib: Option<u64>) -> String {
    match rss_kib {
        Some(kib) => format!("{:.1} MiB", kib as f64 / 1024.0),
        None => "n/a".to_string(),
    }
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "n/a".to_string();
    }
    format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
}

/// `cargo xtask bench`.
pub fn run(options: &Options) -> Result<()> {
    let tools = Tools::check()?;
    let root = util::repo_root();
    if options.no_build {
        println!("==> using the existing release build (--no-build)");
    } else {
        println!("==> cargo build --release --locked");
        util::run(
            util::cargo()
                .args(["build", "--release", "--locked"])
                .current_dir(&root),
        )?;
    }
    let kiln = util::target_dir().join("release/kiln");
    if !kiln.is_file() {
        bail!(
            "{} does not exist{}",
            kiln.display(),
            if options.no_build {
                ": build it with `cargo build --release` or drop --no-build"
            } else {
                ""
            }
        );
    }

    let temp = TempDir::new_in(Path::new("/var/tmp"), "kiln-bench-")?;
    let dir = temp.0.as_path();

    println!(
        "==> generating a {} MiB tree in {}",
        options.size_mib,
        dir.display()
    );
    let plan = tree::plan(options.size_mib);
    let stats = tree::stats(&plan);
    let start = Instant::now();
    tree::generate(&dir.join("tree"), &plan)?;
    println!(
        "    {} files, {:.1} MiB, in {}",
        stats.files,
        stats.bytes as f64 / (1024.0 * 1024.0),
        util::secs(start.elapsed())
    );
    fs::write(dir.join("bench.toml"), MANIFEST).context("cannot write bench.toml")?;
    fs::create_dir(dir.join("out")).context("cannot create the output directory")?;

    // Each run starts without an image so both do the same work; the second one finds the
    // tree and kiln itself in the page cache and is the one compared.
    let kiln_run = |run: &str| -> Result<Measurement> {
        let what = format!("kiln build ({run} run)");
        println!("==> {what}");
        let image = dir.join("out/kiln-img");
        if image.exists() {
            fs::remove_dir_all(&image)
                .with_context(|| format!("cannot remove {}", image.display()))?;
        }
        let args = ["build", "bench.toml", "--output", "oci:out/kiln-img:bench"];
        measure(&tools, &what, dir, &kiln, &args)
    };
    let kiln_first = kiln_run("first")?;
    let kiln_warm = kiln_run("second")?;

    println!("==> tar | gzip -6 | sha256sum");
    let tar = measure(
        &tools,
        "tar | gzip",
        dir,
        Path::new("sh"),
        &["-c", TAR_GZIP],
    )?;

    let umoci = if tools.umoci {
        println!("==> umoci insert");
        for args in [["init", "--layout", "U"], ["new", "--image", "U:t"]] {
            util::run(Command::new("umoci").args(args).current_dir(dir))?;
        }
        let mut args = vec!["insert"];
        if !util::is_root() {
            args.push("--rootless");
        }
        args.extend(["--image", "U:t", "tree", "/data"]);
        Some(measure(
            &tools,
            "umoci insert",
            dir,
            Path::new("umoci"),
            &args,
        )?)
    } else {
        None
    };

    println!(
        "\ntree: {} files, {:.1} MiB ({} bytes)",
        stats.files,
        stats.bytes as f64 / (1024.0 * 1024.0),
        stats.bytes
    );
    println!("{:<26} {:>9} {:>14}", "tool", "seconds", "peak RSS MiB");
    let rows = [
        ("kiln build (second, warm)", Some(kiln_warm)),
        ("kiln build (first)", Some(kiln_first)),
        ("tar | gzip -6", Some(tar)),
        ("umoci insert", umoci),
    ];
    for (name, measurement) in rows {
        match measurement {
            Some(m) => println!(
                "{name:<26} {:>9.2} {:>14}",
                m.wall.as_secs_f64(),
                m.rss_kib
                    .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
                    .unwrap_or_else(|| "n/a".to_string())
            ),
            None => println!("{name:<26} {:>9} {:>14}", "skipped", "-"),
        }
    }
    println!(
        "\nkiln/tar|gzip: {}   kiln/umoci: {}   (second kiln run; below 1 means kiln is faster)",
        ratio(kiln_warm.wall, tar.wall),
        umoci
            .map(|u| ratio(kiln_warm.wall, u.wall))
            .unwrap_or_else(|| "n/a".to_string())
    );
    println!(
        "kiln peak RSS: {} (first run {})",
        mib(kiln_warm.rss_kib),
        mib(kiln_first.rss_kib)
    );
    drop(temp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options() {
        let default = Options::parse(&[]).unwrap();
        assert_eq!(default.size_mib, 1024);
        assert!(!default.no_build);
        let small = Options::parse(&args(&["--size-mib", "64", "--no-build"])).unwrap();
        assert_eq!(small.size_mib, 64);
        assert!(small.no_build);
        assert_eq!(
            Options::parse(&args(&["--size-mib=8"])).unwrap().size_mib,
            8
        );
        assert!(Options::parse(&args(&["--size-mib"])).is_err());
        assert!(Options::parse(&args(&["--size-mib", "0"])).is_err());
        assert!(Options::parse(&args(&["--size-mib", "lots"])).is_err());
        assert!(Options::parse(&args(&["--fast"])).is_err());
    }

    #[test]
    fn parses_gnu_time_output() {
        assert_eq!(parse_time_output("12.34 56789\n"), Some((12.34, 56789)));
        assert_eq!(
            parse_time_output("Command exited with non-zero status 1\n0.01 1234\n"),
            Some((0.01, 1234))
        );
        assert_eq!(parse_time_output(""), None);
    }
}
