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

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
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
    lddtree: bool,
}

impl Tools {
    /// Checks the tools the chosen sections use; a missing one is an error under CI (or when
    /// required), else a warning.
    fn check(sections: &[Section]) -> Result<Self> {
        let ci = util::is_ci();
        let mut required = vec!["sh"];
        if sections.contains(&Section::Image) {
            required.extend(["tar", "gzip", "sha256sum"]);
        }
        if sections.contains(&Section::Ldd) {
            required.extend(["xargs", LDD]);
        }
        let missing_required: Vec<&str> = required
            .into_iter()
            .filter(|tool| util::find_tool(tool).is_none())
            .collect();
        if !missing_required.is_empty() {
            bail!("missing tools: {}", missing_required.join(" "));
        }
        let optional = |found: bool, tool: &str, package: &str, loses: &str| -> Result<bool> {
            if found {
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
        let time = optional(
            util::find_tool(TIME).is_some(),
            TIME,
            "time",
            "no peak RSS figures",
        )?;
        let umoci = sections.contains(&Section::Image)
            && optional(
                util::find_tool("umoci").is_some(),
                "umoci",
                "umoci",
                "no umoci comparison",
            )?;
        let lddtree = sections.contains(&Section::Ldd)
            && optional(
                util::find_tool(LDDTREE).is_some(),
                LDDTREE,
                "pax-utils",
                "no lddtree comparison",
            )?
            && optional(
                util::succeeds(Command::new(PYTHON).args(["-c", "import elftools"])),
                &format!("{PYTHON} with pyelftools"),
                "python3-pyelftools",
                "no lddtree comparison",
            )?;
        Ok(Tools {
            time,
            umoci,
            lddtree,
        })
    }
}

/// Runs `program args` in `dir` and measures it; it must succeed.
fn measure(
    tools: &Tools,
    what: &str,
    dir: &Path,
    program: &Path,
    args: &[&str],
) -> Result<Measurement> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    measure_command(tools, what, dir, cmd, None, |status| status.success())
}

/// Runs `cmd` in `dir` (under `/usr/bin/time` when available) and measures it. With `capture`,
/// stdout and stderr go to those two files. `accept` judges the exit status.
fn measure_command(
    tools: &Tools,
    what: &str,
    dir: &Path,
    cmd: Command,
    capture: Option<(&Path, &Path)>,
    accept: impl Fn(ExitStatus) -> bool,
) -> Result<Measurement> {
    let time_file = dir.join(".time");
    let mut timed = if tools.time {
        let mut timed = Command::new(TIME);
        timed
            .args(["-f", "%e %M", "-o"])
            .arg(&time_file)
            .arg(cmd.get_program());
        timed
    } else {
        Command::new(cmd.get_program())
    };
    timed.args(cmd.get_args()).current_dir(dir);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    println!("    $ {}", show_abbreviated(&timed, 8));
    if let Some((stdout, stderr)) = capture {
        let open = |p: &Path| {
            fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))
        };
        timed.stdout(open(stdout)?).stderr(open(stderr)?);
    }
    let start = Instant::now();
    let status = timed.status().with_context(|| {
        format!(
            "{what}: cannot start {}",
            cmd.get_program().to_string_lossy()
        )
    })?;
    let wall = start.elapsed();
    if !accept(status) {
        bail!("{what}: failed ({status})");
    }
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
    let note = if status.success() {
        String::new()
    } else {
        format!(" ({status}, accepted)")
    };
    println!("    {} peak RSS {}{note}", util::secs(wall), mib(rss_kib));
    Ok(Measurement { wall, rss_kib })
}

/// A command line for messages, with at most `keep` arguments shown.
fn show_abbreviated(cmd: &Command, keep: usize) -> String {
    let args = cmd.get_args().count();
    if args <= keep {
        return util::show(cmd);
    }
    let mut short = Command::new(cmd.get_program());
    short.args(cmd.get_args().take(keep));
    format!(
        "{} ... ({} more arguments)",
        util::show(&short),
        args - keep
    )
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
    let sections = match options.only {
        Some(section) => vec![section],
        None => vec![Section::Image, Section::Ldd],
    };
    let tools = Tools::check(&sections)?;
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
    if sections.contains(&Section::Image) {
        image(options, &tools, &kiln)?;
    }
    if sections.contains(&Section::Ldd) {
        ldd(&tools, &kiln)?;
    }
    Ok(())
}

/// The image section: `kiln build` against `tar | gzip` and `umoci insert`.
fn image(options: &Options, tools: &Tools, kiln: &Path) -> Result<()> {
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
        measure(tools, &what, dir, kiln, &args)
    };
    let kiln_first = kiln_run("first")?;
    let kiln_warm = kiln_run("second")?;

    println!("==> tar | gzip -6 | sha256sum");
    let tar = measure(tools, "tar | gzip", dir, Path::new("sh"), &["-c", TAR_GZIP])?;

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
            tools,
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

/// glibc's `ldd` (a shell script that runs the loader in list mode for each file).
const LDD: &str = "/usr/bin/ldd";
/// pax-utils' `lddtree`, a Python script.
const LDDTREE: &str = "/usr/bin/lddtree";
/// Debian's Python, which has pyelftools when python3-pyelftools is installed.
const PYTHON: &str = "/usr/bin/python3";
/// The folder whose ELF files the ldd section resolves.
const LDD_DIR: &str = "/usr/bin";
/// Timed runs per tool in the ldd section; the fastest is compared.
pub const LDD_RUNS: usize = 3;
/// The ldd section's target: kiln at least this many times faster than batched `ldd`.
pub const LDD_TARGET: f64 = 20.0;
/// Batched `ldd` over the files given as the script's arguments.
const XARGS_LDD: &str = "printf '%s\\0' \"$@\" | xargs -0 /usr/bin/ldd";

/// Every regular file (not a symlink) directly in `dir` that starts with the ELF magic, sorted.
fn elf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    use std::io::Read;
    let mut files = Vec::new();
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let mut magic = [0u8; 4];
        let is_elf = fs::File::open(entry.path())
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && &magic == b"\x7fELF";
        if is_elf {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The timed runs of one tool, and the size of its output.
struct Timing {
    runs: Vec<Measurement>,
    output_lines: usize,
}

impl Timing {
    fn best(&self) -> Measurement {
        self.runs
            .iter()
            .copied()
            .min_by_key(|m| m.wall)
            .unwrap_or(Measurement {
                wall: Duration::ZERO,
                rss_kib: None,
            })
    }

    fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.runs.iter().map(|m| m.wall).collect();
        walls.sort();
        walls.get(walls.len() / 2).copied().unwrap_or_default()
    }
}

/// Runs `program args` [`LDD_RUNS`] times in `dir`, with stdout and stderr in `TAG.out` and
/// `TAG.err`. Exit codes up to 123 count as done (files that do not resolve, xargs' summary
/// code); the output must not be empty.
fn time_runs(
    tools: &Tools,
    what: &str,
    dir: &Path,
    tag: &str,
    program: &Path,
    args: &[OsString],
    env: &[(&str, &str)],
) -> Result<Timing> {
    println!("==> {what}");
    let out = dir.join(format!("{tag}.out"));
    let err = dir.join(format!("{tag}.err"));
    let mut runs = Vec::new();
    let mut output_lines = 0;
    for run in 1..=LDD_RUNS {
        let mut cmd = Command::new(program);
        cmd.args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let m = measure_command(
            tools,
            &format!("{what} (run {run})"),
            dir,
            cmd,
            Some((&out, &err)),
            |status| status.code().is_some_and(|c| (0..=123).contains(&c)),
        )?;
        runs.push(m);
        let text =
            fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))?;
        output_lines = text.lines().count();
        if output_lines == 0 {
            let errors = fs::read_to_string(&err).unwrap_or_default();
            let tail: Vec<&str> = errors.lines().rev().take(10).collect();
            bail!(
                "{what} printed nothing; the end of its stderr:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    Ok(Timing { runs, output_lines })
}

/// The ldd section: the closure of every ELF file in /usr/bin by kiln, `ldd` and `lddtree`.
fn ldd(tools: &Tools, kiln: &Path) -> Result<()> {
    let files = elf_files(Path::new(LDD_DIR))?;
    if files.is_empty() {
        bail!("no ELF files in {LDD_DIR}");
    }
    let temp = TempDir::new_in(Path::new("/var/tmp"), "kiln-bench-ldd-")?;
    let dir = temp.0.as_path();
    println!(
        "==> shared-library closures of the {} ELF files in {LDD_DIR}, {LDD_RUNS} runs each",
        files.len()
    );
    let with_files = |head: &[&str]| -> Vec<OsString> {
        head.iter()
            .map(OsString::from)
            .chain(files.iter().map(|f| f.as_os_str().to_owned()))
            .collect()
    };
    let kiln_timing = time_runs(
        tools,
        "kiln ldd --list FILES...",
        dir,
        "kiln",
        kiln,
        &with_files(&["ldd", "--list"]),
        &[],
    )?;
    let ldd_timing = time_runs(
        tools,
        "printf '%s\\0' FILES... | xargs -0 ldd",
        dir,
        "ldd",
        Path::new("sh"),
        &with_files(&["-c", XARGS_LDD, "sh"]),
        &[("LC_ALL", "C")],
    )?;
    let lddtree_timing = if tools.lddtree {
        Some(time_runs(
            tools,
            "lddtree -l FILES...",
            dir,
            "lddtree",
            Path::new(PYTHON),
            &with_files(&[LDDTREE, "-l"]),
            &[],
        )?)
    } else {
        None
    };

    println!("\nELF closures of {} files in {LDD_DIR}:", files.len());
    println!(
        "{:<30} {:>9} {:>9} {:>14} {:>13}",
        "tool", "best s", "median s", "peak RSS MiB", "output lines"
    );
    let rows = [
        ("kiln ldd --list", Some(&kiln_timing)),
        ("xargs ldd (batched)", Some(&ldd_timing)),
        ("lddtree -l", lddtree_timing.as_ref()),
    ];
    for (name, timing) in rows {
        match timing {
            Some(t) => println!(
                "{name:<30} {:>9.3} {:>9.3} {:>14} {:>13}",
                t.best().wall.as_secs_f64(),
                t.median().as_secs_f64(),
                t.best()
                    .rss_kib
                    .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
                    .unwrap_or_else(|| "n/a".to_string()),
                t.output_lines
            ),
            None => println!(
                "{name:<30} {:>9} {:>9} {:>14} {:>13}",
                "skipped", "-", "-", "-"
            ),
        }
    }
    let kiln_best = kiln_timing.best().wall;
    let speedup = if kiln_best.is_zero() {
        f64::INFINITY
    } else {
        ldd_timing.best().wall.as_secs_f64() / kiln_best.as_secs_f64()
    };
    println!(
        "\nldd/kiln: {}   lddtree/kiln: {}   (fastest runs; above 1 means kiln is faster)",
        ratio(ldd_timing.best().wall, kiln_best),
        lddtree_timing
            .as_ref()
            .map(|t| ratio(t.best().wall, kiln_best))
            .unwrap_or_else(|| "n/a".to_string())
    );
    println!(
        "target: kiln at least {LDD_TARGET}x faster than batched ldd: {}",
        if speedup >= LDD_TARGET {
            format!("met ({speedup:.1}x)")
        } else {
            format!("NOT met ({speedup:.1}x)")
        }
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
        assert_eq!(default.only, None);
        assert_eq!(
            Options::parse(&args(&["--only", "ldd"])).unwrap().only,
            Some(Section::Ldd)
        );
        assert_eq!(
            Options::parse(&args(&["--only=image", "--no-build"]))
                .unwrap()
                .only,
            Some(Section::Image)
        );
        assert!(Options::parse(&args(&["--only"])).is_err());
        assert!(Options::parse(&args(&["--only", "everything"])).is_err());
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
