//! Installs what the test suite needs, only when it is missing: Debian packages (through apt,
//! as root), the rustfmt and clippy components, and a Python venv with the SPDX and CycloneDX
//! validators under the test bed directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, bail, Context, Result};

/// Debian packages the integration tests use (registry, runtimes, ELF tools, compilers for
/// fixtures, validators' interpreter, TLS and zone data, `/usr/bin/time`, `htpasswd`).
pub const APT_PACKAGES: &[&str] = &[
    "skopeo",
    "umoci",
    "docker-registry",
    "runc",
    "busybox-static",
    "pax-utils",
    "python3-pyelftools",
    "jq",
    "gcc",
    "libc6-dev",
    "libssl-dev",
    "python3-venv",
    "curl",
    "openssl",
    "file",
    "ca-certificates",
    "tzdata",
    "time",
    "apache2-utils",
];

/// Python packages installed into the venv (pinned: the tests validate SBOMs against them).
pub const PIP_PACKAGES: &[&str] = &[
    "spdx-tools==0.8.5",
    "cyclonedx-python-lib[json-validation]==11.12.0",
];

/// What the venv must be able to import.
const PIP_IMPORT_CHECK: &str = "import spdx_tools, cyclonedx.validation.json, jsonschema";

/// The Python that creates the venv (Debian's, with python3-venv).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Where the tests' venv and caches live.
#[derive(Debug, Clone)]
pub struct Testbed {
    pub dir: PathBuf,
    pub venv: PathBuf,
}

impl Testbed {
    /// `$KILN_TESTBED`, or `$HOME/.cache/kiln-testbed`; made absolute.
    pub fn from_env() -> Result<Self> {
        let dir = match std::env::var_os("KILN_TESTBED") {
            Some(dir) if !dir.is_empty() => util::absolute(Path::new(&dir)),
            _ => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => {
                    util::absolute(&Path::new(&home).join(".cache/kiln-testbed"))
                }
                _ => bail!(
                    "neither KILN_TESTBED nor HOME is set: set KILN_TESTBED to a writable \
                     directory"
                ),
            },
        };
        let venv = dir.join("venv");
        Ok(Testbed { dir, venv })
    }

    /// The venv's interpreter.
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin/python")
    }
}

/// `cargo xtask setup`: every install, returning the test bed for the tests' environment.
pub fn setup() -> Result<Testbed> {
    ensure_apt_packages()?;
    ensure_rust_components()?;
    let testbed = Testbed::from_env()?;
    ensure_venv(&testbed)?;
    Ok(testbed)
}

/// Whether dpkg knows `package` as fully installed.
fn dpkg_installed(package: &str) -> Result<bool> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(std::process::Stdio::null())
        .output()
        .context("cannot run dpkg-query (this needs a Debian-based system)")?;
    Ok(out.status.success()
        && String::from_utf8_lossy(&out.stdout).trim() == "install ok installed")
}

fn missing_packages() -> Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for package in APT_PACKAGES {
        if !dpkg_installed(package)? {
            missing.push(*package);
        }
    }
    Ok(missing)
}

/// Installs the missing Debian packages with apt (root only).
pub fn ensure_apt_packages() -> Result<()> {
    let missing = missing_packages()?;
    if missing.is_empty() {
        println!("apt: all {} packages are installed", APT_PACKAGES.len());
        return Ok(());
    }
    let list = missing.join(" ");
    if !util::is_root() {
        bail!(
            "missing Debian packages: {list}\n\
             installing them needs root; run as root:\n  \
             apt-get update && apt-get install -y --no-install-recommends {list}"
        );
    }
    if util::find_tool("apt-get").is_none() {
        bail!("missing Debian packages ({list}) and apt-get is not available");
    }
    println!("apt: installing {list}");
    util::run(Command::new("apt-get").args(["update", "-qq"])).context("apt-get update")?;
    util::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing),
    )
    .context("apt-get install")?;
    let still = missing_packages()?;
    if !still.is_empty() {
        bail!(
            "apt-get install succeeded but these packages are still not installed: {}",
            still.join(" ")
        );
    }
    Ok(())
}

/// rustfmt and clippy are needed by `lint` and `test`; added through rustup when missing.
pub fn ensure_rust_components() -> Result<()> {
    let has = |sub: &str| util::succeeds(util::cargo().args([sub, "--version"]));
    let missing: Vec<&str> = [("fmt", "rustfmt"), ("clippy", "clippy")]
        .into_iter()
        .filter(|(sub, _)| !has(sub))
        .map(|(_, component)| component)
        .collect();
    if missing.is_empty() {
        println!("rust: rustfmt and clippy are installed");
        return Ok(());
    }
    if util::find_tool("rustup").is_none() {
        bail!(
            "cargo {} not available and rustup is not installed: install the {} component(s) \
             of the toolchain",
            missing.join("/"),
            missing.join(" and ")
        );
    }
    println!("rustup: adding {}", missing.join(" "));
    util::run(
        Command::new("rustup")
            .args(["component", "add"])
            .args(&missing),
    )
    .context("adding the missing toolchain components")
}

fn venv_ready(testbed: &Testbed) -> bool {
    util::succeeds(Command::new(testbed.python()).args(["-c", PIP_IMPORT_CHECK]))
}

/// Creates the venv when its interpreter does not run, and installs the pinned packages when
/// the import check fails.
pub fn ensure_venv(testbed: &Testbed) -> Result<()> {
    if venv_ready(testbed) {
        println!("venv: {} is ready", testbed.venv.display());
        return Ok(());
    }
    std::fs::create_dir_all(&testbed.dir)
        .with_context(|| format!("cannot create {}", testbed.dir.display()))?;
    if !util::succeeds(Command::new(testbed.python()).args(["-c", "pass"])) {
        if !Path::new(SYSTEM_PYTHON).exists() {
            bail!("{SYSTEM_PYTHON} not found: install the python3-venv Debian package");
        }
        println!("venv: creating {}", testbed.venv.display());
        util::run(
            Command::new(SYSTEM_PYTHON)
                .args(["-m", "venv", "--clear"])
                .arg(&testbed.venv),
        )
        .context("creating the Python venv (is python3-venv installed?)")?;
    }
    println!("venv: installing {}", PIP_PACKAGES.join(" "));
    util::run(
        Command::new(testbed.python())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-input",
                "--disable-pip-version-check",
            ])
            .args(PIP_PACKAGES),
    )
    .context("installing the Python validators into the venv")?;
    if !venv_ready(testbed) {
        bail!(
            "the venv at {} still fails `python -c '{PIP_IMPORT_CHECK}'` after installing",
            testbed.venv.display()
        );
    }
    Ok(())
}
