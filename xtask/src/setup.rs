//! Installs what the test suite needs, only when it is missing: the foreign dpkg architectures
//! and Debian packages (through dpkg and apt, as root), the rustfmt and clippy components,
//! cargo-auditable, a Python venv with the SPDX and CycloneDX validators, and the cosign-peer
//! test tool (tests/tools/cosign-peer, built with cargo) under the test bed directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, bail, Context, Result};

/// Foreign dpkg architectures the tests need: arm64, for the cross-compiled fixtures' libraries
/// (`libssl-dev:arm64`) and the arm64 sysroot the tests download with `apt-get download`.
pub const FOREIGN_ARCHITECTURES: &[&str] = &["arm64"];

/// Debian packages the integration tests use (registry, runtimes, ELF tools, compilers for
/// fixtures, validators' interpreter, TLS and zone data, `/usr/bin/time`, `htpasswd`, the arm64
/// cross compiler with its libc and OpenSSL, the qemu user-mode emulators and musl-gcc).
/// `NAME:ARCH` names a package of a foreign architecture (see [`FOREIGN_ARCHITECTURES`]).
pub const APT_PACKAGES: &[&str] = &[
    "skopeo",
    "umoci",
    "podman",
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
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "libssl-dev:arm64",
    "qemu-user",
    "qemu-user-static",
    "musl-tools",
    "golang-go",
    // groff renders `kiln man`'s page in tests/it/cli.rs.
    "groff-base",
    // `kiln build --load` loads into podman, and the test runs the image (tests/it/build_cli.rs).
    "podman",
    // Debian archives (tests/it/deb_*.rs): throw-away archives signed with gpg, packages built
    // with dpkg-deb in every compression, Debian's archive keyring for the real archive.
    "gnupg",
    "xz-utils",
    "zstd",
    "debian-archive-keyring",
    // tests/it/deb_debian.rs compares an image from the archive with one from the host's
    // installed packages of the same versions.
    "nginx-light",
    // psql queries the postgres image built from the archive (tests/it/deb_debian.rs).
    "postgresql-client",
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

    fn cosign_peer_target(&self) -> PathBuf {
        self.dir.join("cosign-peer-target")
    }

    /// The cosign-compatible peer the signing tests run.
    pub fn cosign_peer(&self) -> PathBuf {
        self.cosign_peer_target().join("release/cosign-peer")
    }
}

/// `cargo xtask setup`: every install, returning the test bed for the tests' environment.
pub fn setup() -> Result<Testbed> {
    ensure_apt_packages()?;
    ensure_rust_components()?;
    ensure_cargo_auditable()?;
    let testbed = Testbed::from_env()?;
    ensure_venv(&testbed)?;
    ensure_cosign_peer(&testbed)?;
    Ok(testbed)
}

/// Builds tests/tools/cosign-peer (an independent cosign-compatible signer and verifier on
/// sigstore-rs) into the test bed; cargo makes a rebuild a no-op when nothing changed.
pub fn ensure_cosign_peer(testbed: &Testbed) -> Result<()> {
    let manifest = util::repo_root().join("tests/tools/cosign-peer/Cargo.toml");
    println!(
        "cosign-peer: building {} (cached in the test bed)",
        manifest.display()
    );
    util::run(
        util::cargo()
            .args([
                "build",
                "--quiet",
                "--release",
                "--locked",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(testbed.cosign_peer_target()),
    )
    .context("building the cosign-peer test tool")?;
    if !testbed.cosign_peer().is_file() {
        bail!(
            "cosign-peer built, but {} is missing",
            testbed.cosign_peer().display()
        );
    }
    Ok(())
}

/// dpkg's native architecture (`dpkg --print-architecture`, e.g. `amd64`).
fn native_architecture() -> Result<String> {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .context("cannot run dpkg (this needs a Debian-based system)")?;
    if !out.status.success() {
        bail!("`dpkg --print-architecture` failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The foreign architectures dpkg is configured for (`dpkg --print-foreign-architectures`).
fn foreign_architectures() -> Result<Vec<String>> {
    let out = Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .context("cannot run dpkg (this needs a Debian-based system)")?;
    if !out.status.success() {
        bail!(
            "`dpkg --print-foreign-architectures` failed ({})",
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// The architectures of [`FOREIGN_ARCHITECTURES`] that dpkg is not configured for.
fn missing_architectures() -> Result<Vec<&'static str>> {
    let configured = foreign_architectures()?;
    Ok(FOREIGN_ARCHITECTURES
        .iter()
        .copied()
        .filter(|arch| !configured.iter().any(|c| c == arch))
        .collect())
}

/// Whether `dpkg-query -W -f='${Architecture} ${Status}\n' PACKAGE` output says `package` is
/// fully installed. A bare name means the native architecture (or `all`): with both
/// `libssl-dev:amd64` and `libssl-dev:arm64` installed, dpkg-query lists both instances.
/// `NAME:ARCH` is already filtered by dpkg-query.
fn installed_in(query_output: &str, package: &str, native: &str) -> bool {
    let qualified = package.contains(':');
    query_output.lines().any(|line| {
        let Some((arch, status)) = line.split_once(' ') else {
            return false;
        };
        status.trim() == "install ok installed" && (qualified || arch == native || arch == "all")
    })
}

/// Whether dpkg knows `package` (`NAME` or `NAME:ARCH`) as fully installed.
fn dpkg_installed(package: &str, native: &str) -> Result<bool> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Architecture} ${Status}\n", package])
        .stderr(std::process::Stdio::null())
        .output()
        .context("cannot run dpkg-query (this needs a Debian-based system)")?;
    Ok(
        out.status.success()
            && installed_in(&String::from_utf8_lossy(&out.stdout), package, native),
    )
}

fn missing_packages() -> Result<Vec<&'static str>> {
    let native = native_architecture()?;
    let mut missing = Vec::new();
    for package in APT_PACKAGES {
        if !dpkg_installed(package, &native)? {
            missing.push(*package);
        }
    }
    Ok(missing)
}

/// The shell commands that do what [`ensure_apt_packages`] would, for the not-root message.
fn install_commands(architectures: &[&str], packages: &[&str]) -> String {
    let mut steps: Vec<String> = architectures
        .iter()
        .map(|arch| format!("dpkg --add-architecture {arch}"))
        .collect();
    steps.push("apt-get update".into());
    if !packages.is_empty() {
        steps.push(format!(
            "apt-get install -y --no-install-recommends {}",
            packages.join(" ")
        ));
    }
    steps.join(" && ")
}

/// Adds the missing foreign architectures (then forces an `apt-get update`, since a new
/// architecture has no package lists yet) and installs the missing Debian packages with apt.
/// Root only; nothing runs when everything is there.
pub fn ensure_apt_packages() -> Result<()> {
    let architectures = missing_architectures()?;
    let missing = missing_packages()?;
    if architectures.is_empty() && missing.is_empty() {
        println!(
            "apt: all {} packages are installed (foreign architectures: {})",
            APT_PACKAGES.len(),
            FOREIGN_ARCHITECTURES.join(" ")
        );
        return Ok(());
    }
    let mut what = Vec::new();
    if !architectures.is_empty() {
        what.push(format!(
            "dpkg architectures not configured: {}",
            architectures.join(" ")
        ));
    }
    if !missing.is_empty() {
        what.push(format!("missing Debian packages: {}", missing.join(" ")));
    }
    let what = what.join("\n");
    if !util::is_root() {
        bail!(
            "{what}\n\
             installing them needs root; run as root:\n  {}",
            install_commands(&architectures, &missing)
        );
    }
    if util::find_tool("apt-get").is_none() {
        bail!("{what}\napt-get is not available");
    }
    for arch in &architectures {
        println!("dpkg: adding architecture {arch}");
        util::run(Command::new("dpkg").args(["--add-architecture", arch]))
            .with_context(|| format!("dpkg --add-architecture {arch}"))?;
    }
    let still_arch = missing_architectures()?;
    if !still_arch.is_empty() {
        bail!(
            "dpkg --add-architecture succeeded but dpkg still lacks: {}",
            still_arch.join(" ")
        );
    }
    // Always refresh here: a just-added architecture has no package lists, and the lists
    // may be stale for the packages about to be installed.
    util::run(Command::new("apt-get").args(["update", "-qq"])).context("apt-get update")?;
    if missing.is_empty() {
        return Ok(());
    }
    println!("apt: installing {}", missing.join(" "));
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

/// cargo-auditable builds the Rust fixture whose embedded crate list the tests read
/// (`tests/it/embedded.rs`); installed from crates.io when `cargo auditable` is missing.
pub fn ensure_cargo_auditable() -> Result<()> {
    let installed = || util::succeeds(util::cargo().args(["auditable", "--version"]));
    if installed() {
        println!("rust: cargo-auditable is installed");
        return Ok(());
    }
    println!("cargo: installing cargo-auditable");
    util::run(util::cargo().args(["install", "cargo-auditable", "--locked"]))
        .context("cargo install cargo-auditable --locked")?;
    if !installed() {
        bail!(
            "`cargo install cargo-auditable` succeeded but `cargo auditable` still fails: is \
             cargo's bin directory on PATH?"
        );
    }
    Ok(())
}

fn venv_ready(testbed: &Testbed) -> bool {
    util::succeeds(Command::new(testbed.python()).args(["-c", PIP_IMPORT_CHECK]))
}

/// Creates the venv when its interpreter does not run, and installs the pinned packages when
/// the import check fails.
// xtask has no dependencies (no fs-err): the error gets the path through `with_context`.
#[allow(clippy::disallowed_methods)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_mean_the_native_architecture() {
        let both = "amd64 install ok installed\narm64 install ok installed\n";
        assert!(installed_in(both, "libssl-dev", "amd64"));
        let foreign_only = "arm64 install ok installed\n";
        assert!(!installed_in(foreign_only, "libssl-dev", "amd64"));
        assert!(installed_in(foreign_only, "libssl-dev:arm64", "amd64"));
        assert!(installed_in(
            "all install ok installed\n",
            "tzdata",
            "amd64"
        ));
        assert!(!installed_in(
            "amd64 deinstall ok config-files\n",
            "gcc",
            "amd64"
        ));
        assert!(!installed_in("", "gcc", "amd64"));
    }

    #[test]
    fn not_root_message_lists_every_step() {
        assert_eq!(
            install_commands(&["arm64"], &["musl-tools", "libssl-dev:arm64"]),
            "dpkg --add-architecture arm64 && apt-get update && apt-get install -y \
             --no-install-recommends musl-tools libssl-dev:arm64"
        );
        assert_eq!(
            install_commands(&["arm64"], &[]),
            "dpkg --add-architecture arm64 && apt-get update"
        );
    }

    #[test]
    fn the_arm64_package_needs_the_arm64_architecture() {
        for package in APT_PACKAGES {
            if let Some((_, arch)) = package.split_once(':') {
                assert!(FOREIGN_ARCHITECTURES.contains(&arch), "{package}");
            }
        }
    }
}
