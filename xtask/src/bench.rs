//! `cargo xtask bench`: kiln against its peers, in six sections (all by default, one with
//! `--only image`, `--only ldd`, `--only push`, `--only pull`, `--only base` or `--only deb`).
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
//! **push**: `kiln push` against `skopeo copy`, both sending the same image (kiln's build of
//! the generated tree, `oci:out/push-img:bench`) to Debian's `docker-registry` on 127.0.0.1.
//! Each of [`PUSH_ROUNDS`] rounds starts two fresh registries (each with its own empty storage
//! directory), one per tool, and runs, alternating the tools:
//! - cold: `kiln push --json oci:out/push-img:bench docker://127.0.0.1:PORT/bench/kiln:v1`, then
//!   `skopeo copy --dest-tls-verify=false oci:out/push-img:bench
//!   docker://127.0.0.1:PORT/bench/skopeo:v1` (every blob uploaded);
//! - warm: the same pushes again, [`PUSH_WARM_RUNS`] times each (every blob already there).
//!
//! The fastest run of each kind is compared: the targets are kiln/skopeo cold at most
//! [`PUSH_COLD_TARGET`] and skopeo/kiln warm at least [`PUSH_WARM_TARGET`]. After each push the
//! manifest is read back with `skopeo inspect --raw`: kiln's must hash to the digest the
//! layout's index.json gives the tag `bench` (else the bench fails); skopeo's is reported,
//! flagged when skopeo rewrote it. kiln also pushes the image's SBOM and plan artifacts (small
//! manifests and blobs) that `skopeo copy` leaves behind; the output says how many bytes.
//!
//! **pull**: `kiln pull` against `skopeo copy`, both fetching the same image (the push
//! section's build, pushed once by kiln) from one `docker-registry` on 127.0.0.1 into a fresh
//! `oci:` layout. [`PULL_ROUNDS`] rounds, alternating which tool goes first:
//! - `kiln pull --json docker://127.0.0.1:PORT/bench/pull:v1 oci:out/pulled-kiln:bench`;
//! - `skopeo copy --src-tls-verify=false docker://127.0.0.1:PORT/bench/pull:v1
//!   oci:out/pulled-skopeo:bench`.
//!
//! Each destination is removed before each run. The fastest runs are compared: the target is
//! kiln/skopeo at most [`PULL_TARGET`]. After each pull, both layouts' index.json must give the
//! tag `bench` the built image's digest (else the bench fails).
//!
//! **base**: building on a base image (`[image] base`) against `umoci unpack` of that base.
//! The base is kiln's build of the generated tree (`oci:out/push-img:bench`); the image built
//! on it adds one file. [`PULL_ROUNDS`] rounds, alternating which tool goes first:
//! - cold: `kiln build base-app.toml --output oci:out/on-base:bench` with an empty
//!   `KILN_CACHE_DIR` (the base's blobs imported and checked, its layers unpacked and every
//!   file hashed, the image written with the base's layer copied);
//! - `umoci unpack --image out/push-img:bench` into a fresh bundle;
//! - warm: the kiln build again, the cache kept (the unpacked base reused).
//!
//! The fastest runs are compared: kiln cold / umoci unpack, and kiln warm / kiln cold. Both
//! kiln builds must tag the same image digest.
//!
//! **deb**: the postgres example image from Debian's archive against apt's own tools on the
//! same packages. `examples/postgres-deb/kiln.toml` is copied into its own temporary
//! directory under /var/tmp as `kiln.toml`. A first `kiln build kiln.toml --output
//! oci:out/pg:bench` (empty `KILN_CACHE_DIR`) writes `kiln.lock`, whose `[debs]` table names
//! the packages (read as [`locked_debs`] documents); that run is timed and shown but not
//! counted, since the peer needs its list before any round. Then [`DEB_ROUNDS`] rounds, each
//! running these four jobs, alternating which tool goes first (kiln cold, peer cold, kiln
//! warm, peer warm in odd rounds; peer cold, kiln cold, peer warm, kiln warm in even ones):
//! - kiln cold: the build with a fresh, empty `KILN_CACHE_DIR`: the archive's `InRelease` and
//!   `Packages` indexes and every `.deb` downloaded and verified, unpacked, layers written;
//! - peer cold: one `sh -c` job, timed as a whole: `apt-get download NAME:ARCH=VERSION...` of
//!   exactly the lock's packages into a fresh `peer-debs/` (using the package lists apt
//!   already has: no `apt-get update`, so no index download), then `dpkg-deb -x` of each
//!   `.deb`, one after another, into a fresh `peer-tree/`;
//! - kiln warm: the build again with the cache kept (every `.deb` and unpacked tree reused);
//! - peer warm: only the `dpkg-deb -x` of the downloaded `.deb` files into a fresh tree.
//!
//! The fastest runs are compared: kiln cold / peer cold and kiln warm / peer warm; the output
//! also gives the package count and the bytes of `.deb` files (the sum of the lock's sizes).
//! Every kiln build must tag the first build's image digest (index.json), every peer tree
//! must hold `usr/lib/postgresql/15/bin/postgres`, and each cold peer download must be
//! exactly the lock's files (SHA-256, checked outside the timing). The peer's peak RSS is that
//! of its largest process (GNU time's `%M` of the `sh` and the children it waited for).
//!
//! The temporary directories are removed at the end, also when a step fails, and every
//! registry is killed. Outside CI a missing `umoci`, `lddtree` or `/usr/bin/time` only drops
//! that measurement, a missing `docker-registry` or `skopeo` the push section, and a missing
//! `apt-get` or `dpkg-deb` the deb section; under CI it is an error.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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
    /// `kiln push` against `skopeo copy`, to a loopback registry.
    Push,
    /// `kiln pull` against `skopeo copy`, from a loopback registry.
    Pull,
    /// `kiln build` on a base image (cold and warm cache) against `umoci unpack` of the base.
    Base,
    /// `kiln build` of the postgres image from Debian's archive (cold and warm cache) against
    /// `apt-get download` and `dpkg-deb -x` of the same packages.
    Deb,
}

impl Section {
    fn parse(value: &str) -> Result<Self> {
        match value {
            "image" => Ok(Section::Image),
            "ldd" => Ok(Section::Ldd),
            "push" => Ok(Section::Push),
            "pull" => Ok(Section::Pull),
            "base" => Ok(Section::Base),
            "deb" => Ok(Section::Deb),
            other => {
                bail!("--only wants `image`, `ldd`, `push`, `pull`, `base` or `deb`, got `{other}`")
            }
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
    /// `docker-registry` and `skopeo`, without which there is no push section.
    push: bool,
    /// `apt-get` and `dpkg-deb`, without which there is no deb section.
    deb: bool,
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
        if sections.contains(&Section::Push)
            || sections.contains(&Section::Pull)
            || sections.contains(&Section::Deb)
        {
            required.push("sha256sum");
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
        let umoci = (sections.contains(&Section::Image) || sections.contains(&Section::Base))
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
        let push = (sections.contains(&Section::Push) || sections.contains(&Section::Pull))
            && optional(
                util::find_tool(REGISTRY).is_some(),
                REGISTRY,
                "docker-registry",
                "no push section",
            )?
            && optional(
                util::find_tool(SKOPEO).is_some(),
                SKOPEO,
                "skopeo",
                "no push section",
            )?;
        let deb = sections.contains(&Section::Deb)
            && optional(
                util::find_tool(APT_GET).is_some(),
                APT_GET,
                "apt",
                "no deb section",
            )?
            && optional(
                util::find_tool(DPKG_DEB).is_some(),
                DPKG_DEB,
                "dpkg",
                "no deb section",
            )?;
        Ok(Tools {
            time,
            umoci,
            lddtree,
            push,
            deb,
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
        None => vec![
            Section::Image,
            Section::Ldd,
            Section::Push,
            Section::Pull,
            Section::Base,
            Section::Deb,
        ],
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
    let run_image = sections.contains(&Section::Image);
    let run_push = sections.contains(&Section::Push) && tools.push;
    let run_pull = sections.contains(&Section::Pull) && tools.push;
    let run_base = sections.contains(&Section::Base) && tools.umoci;
    // The image, push, pull and base sections share one generated tree, removed when this
    // returns.
    let workspace = if run_image || run_push || run_pull || run_base {
        Some(Workspace::new(options)?)
    } else {
        None
    };
    if let Some(workspace) = workspace.as_ref().filter(|_| run_image) {
        image(workspace, &tools, &kiln)?;
    }
    if sections.contains(&Section::Ldd) {
        ldd(&tools, &kiln)?;
    }
    if let Some(workspace) = workspace.as_ref().filter(|_| run_push) {
        push_section(workspace, &tools, &kiln)?;
    } else if sections.contains(&Section::Push) {
        println!("==> push section skipped: {REGISTRY} or {SKOPEO} is missing");
    }
    if let Some(workspace) = workspace.as_ref().filter(|_| run_pull) {
        pull_section(workspace, &tools, &kiln)?;
    } else if sections.contains(&Section::Pull) {
        println!("==> pull section skipped: {REGISTRY} or {SKOPEO} is missing");
    }
    if let Some(workspace) = workspace.as_ref().filter(|_| run_base) {
        base_section(workspace, &tools, &kiln)?;
    } else if sections.contains(&Section::Base) {
        println!("==> base section skipped: umoci is missing");
    }
    if sections.contains(&Section::Deb) {
        if tools.deb {
            deb_section(&tools, &kiln)?;
        } else {
            println!("==> deb section skipped: {APT_GET} or {DPKG_DEB} is missing");
        }
    }
    Ok(())
}

/// The temporary directory of the image and push sections: the generated tree in `tree/`,
/// its one-component manifest `bench.toml`, and `out/` for the images.
struct Workspace {
    temp: TempDir,
    stats: tree::Stats,
}

impl Workspace {
    fn new(options: &Options) -> Result<Self> {
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
        Ok(Workspace { temp, stats })
    }

    fn dir(&self) -> &Path {
        &self.temp.0
    }
}

/// The image section: `kiln build` against `tar | gzip` and `umoci insert`.
fn image(workspace: &Workspace, tools: &Tools, kiln: &Path) -> Result<()> {
    let dir = workspace.dir();
    let stats = workspace.stats;

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

/// Debian's docker-registry (the CNCF distribution registry, 2.8).
const REGISTRY: &str = "docker-registry";
const SKOPEO: &str = "skopeo";
/// Rounds of the push section: each pushes cold once and warm [`PUSH_WARM_RUNS`] times per
/// tool, to two fresh registries.
pub const PUSH_ROUNDS: usize = 3;
/// Warm pushes per tool and round.
pub const PUSH_WARM_RUNS: usize = 2;
/// The push section's cold target: kiln/skopeo at most this.
pub const PUSH_COLD_TARGET: f64 = 1.0;
/// The push section's warm target: skopeo/kiln at least this.
pub const PUSH_WARM_TARGET: f64 = 10.0;
/// The layout the push section builds and pushes, relative to the workspace, and its tag.
const PUSH_LAYOUT: &str = "out/push-img";
const PUSH_TAG: &str = "bench";
/// How long a registry may take to answer `GET /v2/`.
const REGISTRY_START: Duration = Duration::from_secs(20);

/// A child process killed (and reaped) when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A throw-away docker-registry on 127.0.0.1 with its storage in a fresh temporary directory.
/// Dropping it kills the registry (on success and on error alike), then removes the directory
/// (fields drop in order).
struct Registry {
    _child: ChildGuard,
    port: u16,
    _dir: TempDir,
}

impl Registry {
    /// Starts a registry in a new directory under `parent`; tries a few ports, in case one is
    /// taken between choosing it and the registry binding it.
    fn start(parent: &Path) -> Result<Self> {
        let Some(bin) = util::find_tool(REGISTRY) else {
            bail!("{REGISTRY} is missing (Debian package docker-registry)");
        };
        let dir = TempDir::new_in(parent, "registry-")?;
        let data = dir.0.join("data");
        fs::create_dir(&data).with_context(|| format!("cannot create {}", data.display()))?;
        let config = dir.0.join("config.yml");
        let log = dir.0.join("registry.log");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            fs::write(&config, registry_config(&data, port))
                .with_context(|| format!("cannot write {}", config.display()))?;
            let out = fs::File::create(&log)
                .with_context(|| format!("cannot create {}", log.display()))?;
            let err = out
                .try_clone()
                .with_context(|| format!("cannot open {} twice", log.display()))?;
            let mut child = ChildGuard(
                Command::new(&bin)
                    .arg("serve")
                    .arg(&config)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .with_context(|| format!("cannot start {}", bin.display()))?,
            );
            let start = Instant::now();
            while start.elapsed() < REGISTRY_START {
                if http_status(port, "/v2/") == Some(200) {
                    println!(
                        "    {REGISTRY} on 127.0.0.1:{port}, storage {}, up in {}",
                        data.display(),
                        util::secs(start.elapsed())
                    );
                    return Ok(Registry {
                        _child: child,
                        port,
                        _dir: dir,
                    });
                }
                if !matches!(child.0.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(child);
            last_log = fs::read_to_string(&log).unwrap_or_default();
            eprintln!("xtask: warning: {REGISTRY} did not come up on 127.0.0.1:{port}");
        }
        bail!("{REGISTRY} did not answer GET /v2/ with 200; its log:\n{last_log}")
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// docker-registry's configuration: storage in `data`, plain HTTP on 127.0.0.1:`port`, quiet.
fn registry_config(data: &Path, port: u16) -> String {
    format!(
        "version: 0.1\n\
         log: {{level: warn, accesslog: {{disabled: true}}}}\n\
         storage:\n  filesystem: {{rootdirectory: \"{}\"}}\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: kiln-bench-only-not-secret\n",
        data.display()
    )
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(listener
        .local_addr()
        .context("cannot read the bound address")?
        .port())
}

/// The status of one plain HTTP/1.1 `GET path` to 127.0.0.1:`port`, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    status_code(&response)
}

/// The status code of an HTTP/1.x response's status line.
fn status_code(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut fields = line.split_whitespace();
    if !fields.next()?.starts_with("HTTP/1.") {
        return None;
    }
    fields.next()?.parse().ok()
}

/// `sha256:HEX` of `bytes`, by `sha256sum`.
fn sha256_digest(bytes: &[u8]) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start sha256sum")?;
    // sha256sum writes only after reading everything: writing all first cannot deadlock.
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(bytes)
            .context("cannot write to sha256sum")?;
    }
    let out = child.wait_with_output().context("sha256sum failed")?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().next() {
        Some(hex) if out.status.success() && is_sha256_hex(hex) => Ok(format!("sha256:{hex}")),
        _ => bail!("sha256sum failed ({}): {text:?}", out.status),
    }
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The path of blob `digest` (`sha256:HEX`) in the OCI layout `layout`.
fn blob_path(layout: &Path, digest: &str) -> Result<PathBuf> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_sha256_hex(hex) => Ok(layout.join("blobs/sha256").join(hex)),
        _ => bail!("not a sha256 digest: `{digest}`"),
    }
}

/// The digest index.json gives the manifest tagged `tag`.
fn tagged_digest(index: &Json, tag: &str) -> Option<String> {
    index
        .get("manifests")?
        .items()
        .iter()
        .find(|m| {
            m.get("annotations")
                .and_then(|a| a.get("org.opencontainers.image.ref.name"))
                .and_then(Json::as_str)
                == Some(tag)
        })?
        .get("digest")?
        .as_str()
        .map(str::to_string)
}

fn read_json(path: &Path) -> Result<Json> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Json::parse(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// What the push section sends, from the layout.
struct PushedImage {
    /// The manifest's digest for the tag, from index.json.
    digest: String,
    layers: usize,
    /// Manifest, config and layers: what both tools upload.
    image_bytes: u64,
    /// Every blob in the layout (kiln also pushes the SBOM and plan artifacts).
    layout_bytes: u64,
    layout_blobs: usize,
}

impl PushedImage {
    fn read(layout: &Path) -> Result<Self> {
        let index = read_json(&layout.join("index.json"))?;
        let Some(digest) = tagged_digest(&index, PUSH_TAG) else {
            bail!(
                "{}/index.json has no manifest tagged `{PUSH_TAG}`",
                layout.display()
            );
        };
        let manifest_path = blob_path(layout, &digest)?;
        let manifest = read_json(&manifest_path)?;
        let size_of = |descriptor: &Json| descriptor.get("size").and_then(Json::as_u64);
        let layers = manifest.get("layers").map(Json::items).unwrap_or_default();
        let mut image_bytes = fs::metadata(&manifest_path)
            .with_context(|| format!("cannot stat {}", manifest_path.display()))?
            .len();
        for descriptor in layers.iter().chain(manifest.get("config")) {
            match size_of(descriptor) {
                Some(size) => image_bytes += size,
                None => bail!("a descriptor without a size in {}", manifest_path.display()),
            }
        }
        let blobs = layout.join("blobs/sha256");
        let (mut layout_bytes, mut layout_blobs) = (0, 0);
        let entries =
            fs::read_dir(&blobs).with_context(|| format!("cannot list {}", blobs.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", blobs.display()))?;
            let meta = entry
                .metadata()
                .with_context(|| format!("cannot stat {}", entry.path().display()))?;
            layout_bytes += meta.len();
            layout_blobs += 1;
        }
        Ok(PushedImage {
            digest,
            layers: layers.len(),
            image_bytes,
            layout_bytes,
            layout_blobs,
        })
    }
}

/// The manifest digest `skopeo inspect --raw` reads back from `docker://REFERENCE`.
fn remote_digest(reference: &str) -> Result<String> {
    let mut cmd = Command::new(SKOPEO);
    cmd.args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"));
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{}`", util::show(&cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            util::show(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    sha256_digest(&out.stdout)
}

/// The last `lines` lines of a file, for error messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// The 1-minute load average, from /proc/loadavg ("n/a" when unreadable).
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "n/a".to_string())
}

/// The two tools of the push section.
#[derive(Debug, Clone, Copy)]
enum Pusher {
    Kiln,
    Skopeo,
}

/// The timed pushes of one tool.
#[derive(Default)]
struct PushTimes {
    cold: Vec<Measurement>,
    warm: Vec<Measurement>,
}

fn fastest(runs: &[Measurement]) -> Option<Measurement> {
    runs.iter().copied().min_by_key(|m| m.wall)
}

fn slowest(runs: &[Measurement]) -> Option<Duration> {
    runs.iter().map(|m| m.wall).max()
}

/// One tool's push to `reference`, timed, with stdout and stderr in `TAG.out` and `TAG.err`.
fn time_push(
    tools: &Tools,
    what: &str,
    dir: &Path,
    tag: &str,
    cmd: Command,
) -> Result<Measurement> {
    println!("==> {what}");
    let out = dir.join(format!("{tag}.out"));
    let err = dir.join(format!("{tag}.err"));
    measure_command(tools, what, dir, cmd, Some((&out, &err)), |status| {
        status.success()
    })
    .map_err(|e| util::Error::msg(format!("{e}; the end of its stderr:\n{}", tail(&err, 10))))
}

/// `kiln push` to `registry`, then the checks: the registry holds the layout's manifest, and
/// (from `--json`) how many blobs were uploaded. Returns the measurement and the uploads.
fn kiln_push(
    tools: &Tools,
    what: &str,
    dir: &Path,
    kiln: &Path,
    registry: &Registry,
    image: &PushedImage,
) -> Result<(Measurement, u64)> {
    let reference = format!("{}/bench/kiln:v1", registry.host());
    let mut cmd = Command::new(kiln);
    // kiln's memory of where blobs are (mount sources) belongs to this registry alone: a later
    // registry on the same port must start cold.
    cmd.args(["push", "--json"])
        .arg(format!("oci:{PUSH_LAYOUT}:{PUSH_TAG}"))
        .arg(format!("docker://{reference}"))
        .env(
            "KILN_CACHE_DIR",
            dir.join(format!("kiln-cache-{}", registry.host().replace(':', "-"))),
        );
    let m = time_push(tools, what, dir, "kiln-push", cmd)?;
    let summary = read_json(&dir.join("kiln-push.out"))?;
    let count = |key: &str| summary.get(key).and_then(Json::as_u64).unwrap_or(0);
    let uploaded = count("uploaded");
    let remote = remote_digest(&reference)?;
    if remote != image.digest {
        bail!(
            "{what}: the registry's manifest is {remote}, the layout's is {}",
            image.digest
        );
    }
    println!(
        "    {} blobs: {uploaded} uploaded, {} skipped, {} mounted; manifest {remote} as in the \
         layout",
        count("blobs"),
        count("skipped"),
        count("mounted")
    );
    Ok((m, uploaded))
}

/// `skopeo copy` to `registry`; returns the measurement and the digest of the manifest the
/// registry then holds.
fn skopeo_copy(
    tools: &Tools,
    what: &str,
    dir: &Path,
    registry: &Registry,
) -> Result<(Measurement, String)> {
    let reference = format!("{}/bench/skopeo:v1", registry.host());
    let mut cmd = Command::new(SKOPEO);
    // --insecure-policy: no /etc/containers/policy.json needed (it allows anything anyway).
    cmd.args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{PUSH_LAYOUT}:{PUSH_TAG}"))
        .arg(format!("docker://{reference}"));
    let m = time_push(tools, what, dir, "skopeo-copy", cmd)?;
    let remote = remote_digest(&reference)?;
    println!("    manifest {remote}");
    Ok((m, remote))
}

/// The push section: `kiln push` against `skopeo copy` of the same image to a loopback
/// registry, cold (fresh storage) and warm (every blob already there).
fn push_section(workspace: &Workspace, tools: &Tools, kiln: &Path) -> Result<()> {
    let dir = workspace.dir();
    let layout = dir.join(PUSH_LAYOUT);
    if layout.exists() {
        fs::remove_dir_all(&layout)
            .with_context(|| format!("cannot remove {}", layout.display()))?;
    }
    println!("==> kiln build (the image to push)");
    let spec = format!("oci:{PUSH_LAYOUT}:{PUSH_TAG}");
    measure(
        tools,
        "kiln build",
        dir,
        kiln,
        &["build", "bench.toml", "--output", &spec],
    )?;
    let image = PushedImage::read(&layout)?;
    println!(
        "    {} layer(s), image {:.1} MiB ({} bytes: manifest, config, layers); the layout holds \
         {} blobs, {} bytes",
        image.layers,
        image.image_bytes as f64 / (1024.0 * 1024.0),
        image.image_bytes,
        image.layout_blobs,
        image.layout_bytes
    );

    let mut kiln_times = PushTimes::default();
    let mut skopeo_times = PushTimes::default();
    let mut skopeo_digests = Vec::new();
    let mut warm_uploads = 0;
    let load_before = load_average();
    for round in 1..=PUSH_ROUNDS {
        // Odd rounds start with kiln, even ones with skopeo: neither always goes first.
        let order = if round % 2 == 1 {
            [Pusher::Kiln, Pusher::Skopeo]
        } else {
            [Pusher::Skopeo, Pusher::Kiln]
        };
        println!("==> push round {round} of {PUSH_ROUNDS}: two fresh registries");
        let kiln_registry = Registry::start(dir)?;
        let skopeo_registry = Registry::start(dir)?;
        let runs = std::iter::once((format!("cold (round {round})"), true)).chain(
            (1..=PUSH_WARM_RUNS).map(|run| (format!("warm (round {round}, run {run})"), false)),
        );
        for (state, cold) in runs {
            for pusher in order {
                match pusher {
                    Pusher::Kiln => {
                        let what = format!("kiln push, {state}");
                        let (m, uploaded) =
                            kiln_push(tools, &what, dir, kiln, &kiln_registry, &image)?;
                        if cold {
                            kiln_times.cold.push(m);
                        } else {
                            kiln_times.warm.push(m);
                            warm_uploads += uploaded;
                        }
                    }
                    Pusher::Skopeo => {
                        let what = format!("skopeo copy, {state}");
                        let (m, digest) = skopeo_copy(tools, &what, dir, &skopeo_registry)?;
                        skopeo_digests.push(digest);
                        if cold {
                            skopeo_times.cold.push(m);
                        } else {
                            skopeo_times.warm.push(m);
                        }
                    }
                }
            }
        }
        // Kills both registries and removes their storage before the next round.
        drop((kiln_registry, skopeo_registry));
    }

    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "\npush of {} layer(s), {:.1} MiB ({} bytes) compressed, from a {:.1} MiB tree, to {REGISTRY} \
         on 127.0.0.1; fastest of {PUSH_ROUNDS} cold and {} warm runs each:",
        image.layers,
        mib(image.image_bytes),
        image.image_bytes,
        mib(workspace.stats.bytes),
        PUSH_ROUNDS * PUSH_WARM_RUNS
    );
    println!(
        "{:<22} {:>9} {:>10} {:>11} {:>14}",
        "tool", "best s", "slowest s", "cold MiB/s", "peak RSS MiB"
    );
    let rows = [
        ("kiln push (cold)", &kiln_times.cold, true),
        ("skopeo copy (cold)", &skopeo_times.cold, true),
        ("kiln push (warm)", &kiln_times.warm, false),
        ("skopeo copy (warm)", &skopeo_times.warm, false),
    ];
    for (name, runs, cold) in rows {
        let (Some(best), Some(slowest)) = (fastest(runs), slowest(runs)) else {
            continue;
        };
        let seconds = best.wall.as_secs_f64();
        let rate = if cold && seconds > 0.0 {
            format!("{:.1}", mib(image.image_bytes) / seconds)
        } else {
            "-".to_string()
        };
        println!(
            "{name:<22} {:>9.3} {:>10.3} {rate:>11} {:>14}",
            seconds,
            slowest.as_secs_f64(),
            best.rss_kib
                .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".to_string())
        );
    }
    let best = |runs: &[Measurement]| fastest(runs).map(|m| m.wall).unwrap_or_default();
    let (kiln_cold, skopeo_cold) = (best(&kiln_times.cold), best(&skopeo_times.cold));
    let (kiln_warm, skopeo_warm) = (best(&kiln_times.warm), best(&skopeo_times.warm));
    let cold_ratio = kiln_cold.as_secs_f64() / skopeo_cold.as_secs_f64().max(f64::MIN_POSITIVE);
    let warm_ratio = skopeo_warm.as_secs_f64() / kiln_warm.as_secs_f64().max(f64::MIN_POSITIVE);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "\nkiln/skopeo cold: {} (target <= {PUSH_COLD_TARGET:.1}: {})   skopeo/kiln warm: \
         {warm_ratio:.1}x (target >= {PUSH_WARM_TARGET:.0}x: {})",
        ratio(kiln_cold, skopeo_cold),
        verdict(cold_ratio <= PUSH_COLD_TARGET),
        verdict(warm_ratio >= PUSH_WARM_TARGET)
    );
    println!(
        "manifest: {} in the layout and in the registry after every kiln push",
        image.digest
    );
    let rewritten: Vec<&String> = skopeo_digests
        .iter()
        .filter(|d| **d != image.digest)
        .collect();
    match rewritten.first() {
        None => println!(
            "skopeo pushed the same manifest (it reused the layout's compressed blobs as they are)"
        ),
        Some(digest) => println!(
            "NOTE: skopeo pushed a DIFFERENT manifest ({digest}, {} of {} pushes): it rewrote \
             the manifest (recompressed or converted), so it did not send the same bytes",
            rewritten.len(),
            skopeo_digests.len()
        ),
    }
    println!(
        "load average (1 min, {} cores): {} when the pushes started, {} when they ended",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_average()
    );
    if warm_uploads > 0 {
        println!("NOTE: kiln's warm pushes uploaded {warm_uploads} blobs; they should upload none");
    }
    if image.layout_bytes > image.image_bytes {
        println!(
            "kiln also pushes the SBOM and plan artifacts, {} more bytes, that skopeo copy leaves \
             behind",
            image.layout_bytes - image.image_bytes
        );
    }
    Ok(())
}

/// Rounds of the pull section: each pulls once per tool into a fresh layout.
pub const PULL_ROUNDS: usize = 3;
/// The pull section's target: kiln/skopeo at most this.
pub const PULL_TARGET: f64 = 1.2;

/// The digest a layout's index.json gives `tag`, which must be `want`.
fn check_pulled(layout: &Path, want: &str, what: &str) -> Result<()> {
    let index = read_json(&layout.join("index.json"))?;
    match tagged_digest(&index, PUSH_TAG) {
        Some(d) if d == want => Ok(()),
        other => bail!("{what}: the pulled layout tags {other:?}, the built image is {want}"),
    }
}

/// The pull section: `kiln pull` against `skopeo copy` of the same image from a loopback
/// registry into a fresh layout.
fn pull_section(workspace: &Workspace, tools: &Tools, kiln: &Path) -> Result<()> {
    let dir = workspace.dir();
    let spec = format!("oci:{PUSH_LAYOUT}:{PUSH_TAG}");
    let image = built_image(workspace, tools, kiln, "the image to pull")?;
    let registry = Registry::start(dir)?;
    let reference = format!("docker://{}/bench/pull:v1", registry.host());
    measure(
        tools,
        "kiln push (the image to pull)",
        dir,
        kiln,
        &["push", &spec, &reference],
    )?;
    let mut kiln_runs = Vec::new();
    let mut skopeo_runs = Vec::new();
    let load_before = load_average();
    for round in 1..=PULL_ROUNDS {
        let order = if round % 2 == 1 {
            [Pusher::Kiln, Pusher::Skopeo]
        } else {
            [Pusher::Skopeo, Pusher::Kiln]
        };
        for tool in order {
            let (name, dest) = match tool {
                Pusher::Kiln => ("kiln", "out/pulled-kiln"),
                Pusher::Skopeo => ("skopeo", "out/pulled-skopeo"),
            };
            let dest_path = dir.join(dest);
            if dest_path.exists() {
                fs::remove_dir_all(&dest_path)
                    .with_context(|| format!("cannot remove {}", dest_path.display()))?;
            }
            let what = format!("{name} pull (round {round} of {PULL_ROUNDS})");
            let cmd = match tool {
                Pusher::Kiln => {
                    let mut c = Command::new(kiln);
                    c.args(["pull", "--json", &reference])
                        .arg(format!("oci:{dest}:{PUSH_TAG}"));
                    c
                }
                Pusher::Skopeo => {
                    let mut c = Command::new(SKOPEO);
                    c.args([
                        "--insecure-policy",
                        "copy",
                        "--src-tls-verify=false",
                        &reference,
                    ])
                    .arg(format!("oci:{dest}:{PUSH_TAG}"));
                    c
                }
            };
            let m = time_push(tools, &what, dir, &format!("{name}-pull"), cmd)?;
            check_pulled(&dest_path, &image.digest, &what)?;
            match tool {
                Pusher::Kiln => kiln_runs.push(m),
                Pusher::Skopeo => skopeo_runs.push(m),
            }
        }
    }
    drop(registry);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "\npull of {} layer(s), {:.1} MiB ({} bytes) compressed, from {REGISTRY} on 127.0.0.1 \
         into a fresh oci: layout; {PULL_ROUNDS} runs each:",
        image.layers,
        mib(image.image_bytes),
        image.image_bytes
    );
    println!(
        "{:<14} {:>9} {:>10} {:>8} {:>14}",
        "tool", "best s", "slowest s", "MiB/s", "peak RSS MiB"
    );
    for (name, runs) in [("kiln pull", &kiln_runs), ("skopeo copy", &skopeo_runs)] {
        let (Some(best), Some(slowest)) = (fastest(runs), slowest(runs)) else {
            continue;
        };
        let seconds = best.wall.as_secs_f64();
        println!(
            "{name:<14} {seconds:>9.3} {:>10.3} {:>8.1} {:>14}",
            slowest.as_secs_f64(),
            mib(image.image_bytes) / seconds.max(f64::MIN_POSITIVE),
            best.rss_kib
                .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".to_string())
        );
    }
    let best = |runs: &[Measurement]| fastest(runs).map(|m| m.wall).unwrap_or_default();
    let (k, sk) = (best(&kiln_runs), best(&skopeo_runs));
    let r = k.as_secs_f64() / sk.as_secs_f64().max(f64::MIN_POSITIVE);
    println!(
        "\nkiln/skopeo: {} (target <= {PULL_TARGET:.1}: {}); both layouts tag {} after every pull",
        ratio(k, sk),
        if r <= PULL_TARGET { "met" } else { "NOT met" },
        image.digest
    );
    println!(
        "load average (1 min, {} cores): {} when the pulls started, {} when they ended",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_average()
    );
    Ok(())
}

/// The manifest of the base section's image: one file on the generated tree's image.
const BASE_APP: &str = r#"[image]
name = "on-base"
base = "oci:out/push-img:bench"

[[component]]
name = "base"
kind = "base"
why = "the generated tree, as a base image"

[[component]]
name = "conf"
kind = "file"
content = "on a base\n"
to = "/etc/on-base.conf"
why = "what the image adds"
"#;

/// The three runs of the base section.
#[derive(Clone, Copy)]
enum OnBase {
    KilnCold,
    Umoci,
    KilnWarm,
}

/// One run of the base section: the command, after clearing what it must start without.
fn on_base_run(dir: &Path, kiln: &Path, run: OnBase) -> Result<Command> {
    let clear = |p: &Path| -> Result<()> {
        if p.exists() {
            fs::remove_dir_all(p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
        Ok(())
    };
    let out = format!("oci:out/on-base:{PUSH_TAG}");
    clear(&dir.join("out/on-base"))?;
    Ok(match run {
        OnBase::Umoci => {
            clear(&dir.join("unpacked"))?;
            let mut c = Command::new("umoci");
            c.args(["unpack", "--image"])
                .arg(format!("{PUSH_LAYOUT}:{PUSH_TAG}"))
                .arg("unpacked");
            c
        }
        OnBase::KilnCold | OnBase::KilnWarm => {
            if matches!(run, OnBase::KilnCold) {
                clear(&dir.join("cache"))?;
            }
            let mut c = Command::new(kiln);
            c.env("KILN_CACHE_DIR", dir.join("cache")).args([
                "build",
                "base-app.toml",
                "--json",
                "--output",
                &out,
            ]);
            c
        }
    })
}

/// kiln's build of the generated tree at `oci:out/push-img:bench`, made once for the pull
/// and base sections (`what` says what it is for).
fn built_image(
    workspace: &Workspace,
    tools: &Tools,
    kiln: &Path,
    what: &str,
) -> Result<PushedImage> {
    let dir = workspace.dir();
    let layout = dir.join(PUSH_LAYOUT);
    if !layout.exists() {
        println!("==> kiln build ({what})");
        let spec = format!("oci:{PUSH_LAYOUT}:{PUSH_TAG}");
        measure(
            tools,
            "kiln build",
            dir,
            kiln,
            &["build", "bench.toml", "--output", &spec],
        )?;
    }
    PushedImage::read(&layout)
}

fn base_section(workspace: &Workspace, tools: &Tools, kiln: &Path) -> Result<()> {
    let dir = workspace.dir();
    let image = built_image(workspace, tools, kiln, "the base")?;
    fs::write(dir.join("base-app.toml"), BASE_APP).context("cannot write base-app.toml")?;
    let mut runs: [Vec<Measurement>; 3] = Default::default();
    let mut built: Option<String> = None;
    let load_before = load_average();
    for round in 1..=PULL_ROUNDS {
        let order = if round % 2 == 1 {
            [OnBase::KilnCold, OnBase::Umoci, OnBase::KilnWarm]
        } else {
            [OnBase::Umoci, OnBase::KilnCold, OnBase::KilnWarm]
        };
        for run in order {
            let (name, slot) = match run {
                OnBase::KilnCold => ("kiln build on the base, cold cache", 0),
                OnBase::Umoci => ("umoci unpack of the base", 1),
                OnBase::KilnWarm => ("kiln build on the base, warm cache", 2),
            };
            let what = format!("{name} (round {round} of {PULL_ROUNDS})");
            let cmd = on_base_run(dir, kiln, run)?;
            runs[slot].push(time_push(
                tools,
                &what,
                dir,
                &format!("on-base-{slot}"),
                cmd,
            )?);
            if slot != 1 {
                let index = fs::read_to_string(dir.join("out/on-base/index.json"))
                    .context("cannot read the built image's index.json")?;
                match &built {
                    None => built = Some(index),
                    Some(first) if *first != index => {
                        bail!("{what} tagged another image than the first build")
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "
building on a base of {} layer(s), {:.1} MiB compressed ({} MiB tree); {PULL_ROUNDS} runs each:",
        image.layers,
        mib(image.image_bytes),
        workspace.stats.bytes >> 20
    );
    print_runs(
        &[
            "kiln build, cold cache",
            "umoci unpack of the base",
            "kiln build, warm cache",
        ],
        &runs,
    );
    let best = |r: &[Measurement]| fastest(r).map(|m| m.wall).unwrap_or_default();
    println!(
        "
kiln cold / umoci unpack: {}; kiln warm / kiln cold: {}",
        ratio(best(&runs[0]), best(&runs[1])),
        ratio(best(&runs[2]), best(&runs[0]))
    );
    println!(
        "load average (1 min, {} cores): {} before, {} after",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_average()
    );
    Ok(())
}

/// Rounds of the deb section: each runs the four jobs once (kiln cold and warm, the peer's
/// download-and-extract and its extract only).
pub const DEB_ROUNDS: usize = 3;
/// The deb section's manifest, relative to the repository root; copied into the section's
/// directory as `kiln.toml`, so the lock is written beside the copy, not the example.
const DEB_MANIFEST: &str = "examples/postgres-deb/kiln.toml";
/// A file the peer's extracted tree must hold.
const DEB_PROBE: &str = "usr/lib/postgresql/15/bin/postgres";
/// Where kiln writes the image.
const DEB_OUTPUT: &str = "oci:out/pg:bench";
const APT_GET: &str = "apt-get";
const DPKG_DEB: &str = "dpkg-deb";
/// The peer, cold: `sh -c PEER_COLD sh SPECS...` with `NAME[:ARCH]=VERSION` of every package
/// kiln's lock lists: `apt-get download` into a fresh `peer-debs/` (from the mirror the apt
/// lists already name: no `apt-get update`), then `dpkg-deb -x` of each into a fresh
/// `peer-tree/`, one after another.
const PEER_COLD: &str = "set -e
mkdir peer-debs peer-tree
cd peer-debs
apt-get download -q \"$@\"
cd ..
for deb in peer-debs/*.deb; do dpkg-deb -x \"$deb\" peer-tree; done";
/// The peer, warm: only the `dpkg-deb -x` of the `.deb` files the cold job downloaded.
const PEER_WARM: &str = "set -e
mkdir peer-tree
for deb in peer-debs/*.deb; do dpkg-deb -x \"$deb\" peer-tree; done";

/// One entry of a lock's `[debs]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LockedDeb {
    name: String,
    version: String,
    arch: String,
    /// `sha256:HEX` of the `.deb`.
    sha256: String,
    size: u64,
}

impl LockedDeb {
    /// `apt-get download`'s name for this exact package: `NAME:ARCH=VERSION`, or
    /// `NAME=VERSION` for an `all` package (apt files those under the native architecture).
    fn apt_spec(&self) -> String {
        if self.arch == "all" {
            format!("{}={}", self.name, self.version)
        } else {
            format!("{}:{}={}", self.name, self.arch, self.version)
        }
    }
}

/// The packages of a `kiln.lock`'s `[debs]` table, read without a TOML parser. This relies on
/// the layout kiln's lock writer (the `toml` crate) gives the table:
/// - a line `[debs]` opens it, and the next line starting with `[` (or the end) closes it;
/// - each entry is one line `KEY = "VERSION ARCH sha256:HEX SIZE SOURCE"`: KEY is the package
///   name, bare or in double quotes when it has characters a bare key cannot (`"libstdc++6"`),
///   and in a multi-platform lock `"PLATFORM NAME"` (the name is then the key's last word);
/// - Debian names, versions and source names need no escapes, so a backslash is refused
///   rather than decoded.
///
/// Blank lines and `#` comments are skipped. Only `amd64` and `all` packages are accepted (the
/// bench's image is linux/amd64), and an empty or missing table is an error.
fn locked_debs(text: &str) -> Result<Vec<LockedDeb>> {
    let mut debs = Vec::new();
    let mut in_table = false;
    let mut seen_table = false;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == "[debs]";
            seen_table |= in_table;
            continue;
        }
        if !in_table || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad =
            |why: &str| util::Error::msg(format!("[debs] line {}: {why}: {line}", number + 1));
        if line.contains('\\') {
            return Err(bad("an escape, which Debian names never need"));
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad("no `=`"));
        };
        let key = key.trim();
        let key = match key.strip_prefix('"') {
            Some(rest) => rest
                .strip_suffix('"')
                .ok_or_else(|| bad("an unterminated key"))?,
            None => key,
        };
        let Some(name) = key.split_whitespace().last() else {
            return Err(bad("an empty key"));
        };
        let value = value
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| bad("the value is not one string"))?;
        let fields: Vec<&str> = value.split_whitespace().collect();
        let [version, arch, sha256, size, _source] = fields[..] else {
            return Err(bad("not `VERSION ARCH sha256:HEX SIZE SOURCE`"));
        };
        if !sha256.strip_prefix("sha256:").is_some_and(is_sha256_hex) {
            return Err(bad("not a sha256 digest"));
        }
        let size = size.parse().map_err(|_| bad("the size is not a number"))?;
        if !matches!(arch, "amd64" | "all") {
            return Err(bad("not an amd64 or all package"));
        }
        debs.push(LockedDeb {
            name: name.to_string(),
            version: version.to_string(),
            arch: arch.to_string(),
            sha256: sha256.to_string(),
            size,
        });
    }
    if !seen_table {
        bail!("no [debs] table");
    }
    if debs.is_empty() {
        bail!("the [debs] table is empty");
    }
    Ok(debs)
}

/// The four jobs of the deb section.
#[derive(Clone, Copy)]
enum DebRun {
    KilnCold,
    PeerCold,
    KilnWarm,
    PeerWarm,
}

/// One job of the deb section: the command, after clearing what it must start without.
fn deb_run(dir: &Path, kiln: &Path, run: DebRun, specs: &[String]) -> Result<Command> {
    let clear = |p: &Path| -> Result<()> {
        if p.exists() {
            fs::remove_dir_all(p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
        Ok(())
    };
    Ok(match run {
        DebRun::KilnCold | DebRun::KilnWarm => {
            clear(&dir.join("out/pg"))?;
            if matches!(run, DebRun::KilnCold) {
                clear(&dir.join("cache"))?;
            }
            let mut c = Command::new(kiln);
            c.env("KILN_CACHE_DIR", dir.join("cache")).args([
                "build",
                "kiln.toml",
                "--output",
                DEB_OUTPUT,
            ]);
            c
        }
        DebRun::PeerCold | DebRun::PeerWarm => {
            clear(&dir.join("peer-tree"))?;
            let script = if matches!(run, DebRun::PeerCold) {
                clear(&dir.join("peer-debs"))?;
                PEER_COLD
            } else {
                PEER_WARM
            };
            let mut c = Command::new("sh");
            c.args(["-c", script, "sh"]).args(specs);
            c
        }
    })
}

/// The digest the deb section's output layout tags `bench`.
fn deb_image_digest(dir: &Path, what: &str) -> Result<String> {
    let index = read_json(&dir.join("out/pg/index.json"))?;
    tagged_digest(&index, PUSH_TAG)
        .ok_or_else(|| util::Error::msg(format!("{what}: out/pg/index.json tags no `bench`")))
}

/// Checks that `peer-debs/` holds exactly the lock's `.deb` files (by SHA-256, with
/// `sha256sum`, outside the timing).
fn check_downloaded(dir: &Path, debs: &[LockedDeb], what: &str) -> Result<()> {
    let downloads = dir.join("peer-debs");
    let mut files = Vec::new();
    for entry in
        fs::read_dir(&downloads).with_context(|| format!("cannot list {}", downloads.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", downloads.display()))?;
        files.push(entry.path());
    }
    files.sort();
    let out = Command::new("sha256sum")
        .args(&files)
        .output()
        .context("cannot start sha256sum")?;
    if !out.status.success() {
        bail!(
            "sha256sum of {} failed ({})",
            downloads.display(),
            out.status
        );
    }
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .next()
                .map(|hex| format!("sha256:{hex}"))
        })
        .collect();
    let mut want: Vec<String> = debs.iter().map(|d| d.sha256.clone()).collect();
    got.sort();
    want.sort();
    if got != want {
        bail!(
            "{what}: {} holds {} file(s) that are not the lock's {} package(s)",
            downloads.display(),
            files.len(),
            debs.len()
        );
    }
    Ok(())
}

/// The deb section: the postgres example image from Debian's archive, kiln against
/// `apt-get download` + `dpkg-deb -x` of the packages kiln's lock lists, cold and warm.
fn deb_section(tools: &Tools, kiln: &Path) -> Result<()> {
    let temp = TempDir::new_in(Path::new("/var/tmp"), "kiln-bench-deb-")?;
    let dir = temp.0.as_path();
    let manifest = util::repo_root().join(DEB_MANIFEST);
    fs::copy(&manifest, dir.join("kiln.toml"))
        .with_context(|| format!("cannot copy {}", manifest.display()))?;
    fs::create_dir(dir.join("out")).context("cannot create the output directory")?;

    // The first build writes kiln.lock, whose package list the peer needs before any round;
    // it is a cold build like the counted ones but is not counted.
    let first = time_push(
        tools,
        "kiln build, first run (writes kiln.lock; not counted)",
        dir,
        "deb-first",
        deb_run(dir, kiln, DebRun::KilnCold, &[])?,
    )?;
    let digest = deb_image_digest(dir, "the first kiln build")?;
    let lock = dir.join("kiln.lock");
    let text =
        fs::read_to_string(&lock).with_context(|| format!("cannot read {}", lock.display()))?;
    let debs = locked_debs(&text).with_context(|| format!("{} is not readable", lock.display()))?;
    let specs: Vec<String> = debs.iter().map(LockedDeb::apt_spec).collect();
    let bytes: u64 = debs.iter().map(|d| d.size).sum();
    println!(
        "    kiln.lock lists {} package(s), {bytes} bytes of .deb files; the image is {digest}",
        debs.len()
    );

    let mut runs: [Vec<Measurement>; 4] = Default::default();
    let load_before = load_average();
    for round in 1..=DEB_ROUNDS {
        let order = if round % 2 == 1 {
            [
                DebRun::KilnCold,
                DebRun::PeerCold,
                DebRun::KilnWarm,
                DebRun::PeerWarm,
            ]
        } else {
            [
                DebRun::PeerCold,
                DebRun::KilnCold,
                DebRun::PeerWarm,
                DebRun::KilnWarm,
            ]
        };
        for run in order {
            let (name, slot) = match run {
                DebRun::KilnCold => ("kiln build, cold cache", 0),
                DebRun::PeerCold => ("apt-get download + dpkg-deb -x", 1),
                DebRun::KilnWarm => ("kiln build, warm cache", 2),
                DebRun::PeerWarm => ("dpkg-deb -x of the downloads", 3),
            };
            let what = format!("{name} (round {round} of {DEB_ROUNDS})");
            let cmd = deb_run(dir, kiln, run, &specs)?;
            runs[slot].push(time_push(tools, &what, dir, &format!("deb-{slot}"), cmd)?);
            match run {
                DebRun::KilnCold | DebRun::KilnWarm => {
                    let built = deb_image_digest(dir, &what)?;
                    if built != digest {
                        bail!("{what} tagged {built}, the first build {digest}");
                    }
                }
                DebRun::PeerCold | DebRun::PeerWarm => {
                    if !dir.join("peer-tree").join(DEB_PROBE).is_file() {
                        bail!("{what}: the extracted tree has no {DEB_PROBE}");
                    }
                    if matches!(run, DebRun::PeerCold) {
                        check_downloaded(dir, &debs, &what)?;
                    }
                }
            }
        }
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "\npostgres from Debian's archive ({DEB_MANIFEST}): {} packages, {:.1} MiB ({bytes} \
         bytes) of .deb files; {DEB_ROUNDS} runs each:",
        debs.len(),
        mib(bytes)
    );
    print_runs(
        &[
            "kiln build, cold cache",
            "apt-get download + dpkg-deb -x",
            "kiln build, warm cache",
            "dpkg-deb -x of the downloads",
        ],
        &runs,
    );
    let best = |r: &[Measurement]| fastest(r).map(|m| m.wall).unwrap_or_default();
    println!(
        "\nkiln cold / peer cold: {}; kiln warm / peer warm: {} (below 1 means kiln is faster)",
        ratio(best(&runs[0]), best(&runs[1])),
        ratio(best(&runs[2]), best(&runs[3]))
    );
    println!(
        "first kiln build (wrote kiln.lock, not counted): {}; every kiln build tagged {digest}",
        util::secs(first.wall)
    );
    println!(
        "load average (1 min, {} cores): {} before, {} after",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_average()
    );
    Ok(())
}

/// The table of a section's runs: per kind of run (`names`, in `runs`' order) the fastest and
/// slowest wall clock and the fastest run's peak RSS.
fn print_runs(names: &[&str], runs: &[Vec<Measurement>]) {
    println!(
        "{:<34} {:>9} {:>10} {:>14}",
        "run", "best s", "slowest s", "peak RSS MiB"
    );
    for (name, r) in names.iter().zip(runs) {
        let (Some(best), Some(slow)) = (fastest(r), slowest(r)) else {
            continue;
        };
        println!(
            "{name:<34} {:>9.3} {:>10.3} {:>14}",
            best.wall.as_secs_f64(),
            slow.as_secs_f64(),
            best.rss_kib
                .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".to_string())
        );
    }
}

/// A parsed JSON value: just enough for index.json, image manifests and `kiln push --json`.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    /// Members in document order.
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json> {
        let mut parser = JsonParser {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let value = parser.value(0)?;
        parser.skip_whitespace();
        if parser.pos != parser.bytes.len() {
            bail!("trailing characters at byte {}", parser.pos);
        }
        Ok(value)
    }

    /// The member `key` of an object.
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// A whole, non-negative number that an f64 holds exactly.
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Json::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_992.0 => {
                Some(n as u64)
            }
            _ => None,
        }
    }

    /// An array's elements (none for anything else).
    fn items(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            _ => &[],
        }
    }
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl JsonParser<'_> {
    const MAX_DEPTH: usize = 64;

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            bail!("expected `{}` at byte {}", byte as char, self.pos);
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Json> {
        if depth > Self::MAX_DEPTH {
            bail!(
                "nested deeper than {} at byte {}",
                Self::MAX_DEPTH,
                self.pos
            );
        }
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(other) => bail!("unexpected `{}` at byte {}", other as char, self.pos),
            None => bail!("unexpected end"),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json> {
        if !self.bytes[self.pos..].starts_with(word.as_bytes()) {
            bail!("expected `{word}` at byte {}", self.pos);
        }
        self.pos += word.len();
        Ok(value)
    }

    fn number(&mut self) -> Result<Json> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Json::Number(n)),
            _ => bail!("bad number `{text}` at byte {start}"),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => bail!("expected `,` or `]` at byte {}", self.pos),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.expect(b':')?;
            members.push((key, self.value(depth + 1)?));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => bail!("expected `,` or `}}` at byte {}", self.pos),
            }
        }
    }

    fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Runs of plain characters; the loop stops only at ASCII bytes, so the slice
            // boundaries fall between UTF-8 characters of the (valid) input.
            let start = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.push_str(std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or("\u{fffd}"));
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.peek();
                    self.pos += 1;
                    match escape {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let unit = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&unit)
                                && self.bytes[self.pos..].starts_with(b"\\u")
                            {
                                self.pos += 2;
                                let low = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&low) {
                                    bail!("a lone surrogate before byte {}", self.pos);
                                }
                                0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                            } else {
                                unit
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => bail!("bad escape at byte {}", self.pos - 1),
                    }
                }
                Some(_) => bail!("a control character in a string at byte {}", self.pos),
                None => bail!("an unterminated string"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4).unwrap_or_default();
        let text = std::str::from_utf8(digits).unwrap_or("");
        match u32::from_str_radix(text, 16) {
            Ok(unit) if text.len() == 4 && text.bytes().all(|b| b.is_ascii_hexdigit()) => {
                self.pos += 4;
                Ok(unit)
            }
            _ => bail!("bad \\u escape at byte {}", self.pos),
        }
    }
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
        assert_eq!(
            Options::parse(&args(&["--only", "push", "--size-mib", "16"]))
                .unwrap()
                .only,
            Some(Section::Push)
        );
        assert_eq!(
            Options::parse(&args(&["--only", "pull"])).unwrap().only,
            Some(Section::Pull)
        );
        assert_eq!(
            Options::parse(&args(&["--only", "deb"])).unwrap().only,
            Some(Section::Deb)
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

    #[test]
    fn finds_the_tagged_digest_in_an_index() {
        let index = Json::parse(
            r#"{"schemaVersion":2,"manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json",
               "digest":"sha256:c5cf","size":404,"platform":{"architecture":"amd64","os":"linux"},
               "annotations":{"org.opencontainers.image.ref.name":"bench"}},
              {"digest":"sha256:d69d","size":647,"artifactType":"application/spdx+json",
               "annotations":{"dev.kiln.subject":"sha256:c5cf"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            tagged_digest(&index, "bench").as_deref(),
            Some("sha256:c5cf")
        );
        assert_eq!(tagged_digest(&index, "latest"), None);
        let sizes: Vec<Option<u64>> = index
            .get("manifests")
            .unwrap()
            .items()
            .iter()
            .map(|m| m.get("size").and_then(Json::as_u64))
            .collect();
        assert_eq!(sizes, [Some(404), Some(647)]);
    }

    #[test]
    fn parses_json() {
        assert_eq!(
            Json::parse(r#" [true, false, null, -1.5e2, 0, "a\"\\\/\n\u00e9\ud83d\ude00"] "#)
                .unwrap(),
            Json::Array(vec![
                Json::Bool(true),
                Json::Bool(false),
                Json::Null,
                Json::Number(-150.0),
                Json::Number(0.0),
                Json::String("a\"\\/\n\u{e9}\u{1f600}".to_string()),
            ])
        );
        assert_eq!(Json::parse("{}").unwrap(), Json::Object(vec![]));
        assert_eq!(
            Json::parse("\"caf\u{e9}\"").unwrap().as_str(),
            Some("caf\u{e9}")
        );
        assert_eq!(Json::parse("12").unwrap().as_u64(), Some(12));
        assert_eq!(Json::parse("1.5").unwrap().as_u64(), None);
        assert_eq!(Json::parse("-1").unwrap().as_u64(), None);
        for bad in [
            "",
            "[",
            "[1,]",
            r#"{"a"}"#,
            r#"{"a":1,}"#,
            r#""x"#,
            r#""\q""#,
            r#""\u12""#,
            "tru",
            "1 2",
            "\"\u{1}\"",
            "-",
            r#""\ud83d\u0041""#,
        ] {
            assert!(Json::parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(Json::parse(&deep).is_err());
    }

    #[test]
    fn reads_the_locks_debs_table() {
        let hex = "a".repeat(64);
        let text = format!(
            r#"version = 2

[trees]
postgres = "sha256:{hex} 10 entries"

[debs]
"libstdc++6" = "12.2.0-14+deb12u1 amd64 sha256:{hex} 612604 bookworm"
tzdata = "2026f-0+deb12u1 all sha256:{hex} 307832 security"
"linux/amd64 zlib1g" = "1:1.2.13.dfsg-1+deb12u1 amd64 sha256:{hex} 86880 security"

[releases]
"bookworm/bookworm" = "sha256:{hex} 2025-01-01"
"#
        );
        let debs = locked_debs(&text).unwrap();
        assert_eq!(debs.len(), 3);
        assert_eq!(debs[0].name, "libstdc++6");
        assert_eq!(debs[0].size, 612604);
        assert_eq!(debs[0].sha256, format!("sha256:{hex}"));
        assert_eq!(
            debs.iter().map(LockedDeb::apt_spec).collect::<Vec<_>>(),
            [
                "libstdc++6:amd64=12.2.0-14+deb12u1",
                "tzdata=2026f-0+deb12u1",
                "zlib1g:amd64=1:1.2.13.dfsg-1+deb12u1",
            ]
        );
        assert!(locked_debs("version = 2\n").is_err());
        assert!(locked_debs("[debs]\n").is_err());
        for bad in [
            "a = \"1.0 amd64 sha256:00 1 s\"",
            &format!("a = \"1.0 amd64 sha256:{hex} big s\""),
            &format!("a = \"1.0 arm64 sha256:{hex} 1 s\""),
            &format!("a = \"1.0 amd64 sha256:{hex} 1\""),
            &format!("\"a = \"1.0 amd64 sha256:{hex} 1 s\""),
            &format!("\"a\\u0041\" = \"1.0 amd64 sha256:{hex} 1 s\""),
            &format!("a = 1.0 amd64 sha256:{hex} 1 s"),
        ] {
            assert!(locked_debs(&format!("[debs]\n{bad}\n")).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_http_status_lines() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
            Some(200)
        );
        assert_eq!(status_code(b"HTTP/1.0 401 Unauthorized\r\n"), Some(401));
        assert_eq!(status_code(b"\x15\x03\x01\x00\x02"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn recognises_sha256_digests() {
        let hex = "a".repeat(64);
        assert_eq!(
            blob_path(Path::new("L"), &format!("sha256:{hex}")).unwrap(),
            Path::new("L/blobs/sha256").join(&hex)
        );
        assert!(blob_path(Path::new("L"), "sha256:../../etc/passwd").is_err());
        assert!(blob_path(Path::new("L"), &format!("sha512:{hex}")).is_err());
        assert!(!is_sha256_hex(&"A".repeat(64)));
    }
}
