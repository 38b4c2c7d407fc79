//! The command line: argument parsing, running a command, printing, and exit codes.
//!
//! Owns: everything printed to stdout/stderr (`render` formats errors), mapping outcomes to
//! exit codes (0 success, 1 user error, 2 usage error, 101 internal error), and treating a
//! closed stdout pipe as success.
//! Invariant: only this module prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod render;

use crate::image::output::{self, Output};
use crate::plan;
use crate::time::Epoch;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The examples `kiln --help` and kiln(1) show: a command line and what it does.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "kiln init target/release/app --why \"the payments API\"",
        "writes kiln.toml",
    ),
    ("kiln build", "builds ./kiln.toml -> oci:out/app:latest"),
    ("kiln build kiln.toml --plan", "every path and why it ships"),
    (
        "kiln build kiln.toml --output oci-archive:app.tar:v1",
        "or docker-archive:app.tar:app:v1",
    ),
    (
        "kiln push oci:out/app:latest docker://registry.example/team/app:v1",
        "",
    ),
    (
        "kiln sign --key cosign.key docker://registry.example/team/app:v1",
        "",
    ),
    (
        "kiln verify --key cosign.pub docker://registry.example/team/app:v1",
        "",
    ),
    (
        "kiln completions bash > /etc/bash_completion.d/kiln",
        "or zsh, fish",
    ),
    ("kiln man > kiln.1", "this manual page in roff"),
];

/// kiln's exit statuses, as `main` maps outcomes; listed in `--help`, kiln(1) and the README.
/// `verify` and `verify-attestation` do not yet tell a failed verification from one that
/// could not run: both exit 1.
const EXIT_CODES: &[(u8, &str)] = &[
    (
        0,
        "success (verify: a valid signature or attestation names the image)",
    ),
    (
        1,
        "the command failed: bad input, I/O or network trouble, or failed verification",
    ),
    (
        2,
        "usage error: unknown subcommand or option, missing argument",
    ),
    (101, "internal error: a bug in kiln (please report it)"),
    (
        130,
        "interrupted (Ctrl-C, SIGTERM); this run's temporary files removed",
    ),
];

/// The text after `kiln --help`: examples, then exit statuses.
fn after_help() -> String {
    let width = EXAMPLES
        .iter()
        .filter(|(_, what)| !what.is_empty())
        .map(|(c, _)| c.len())
        .max()
        .unwrap_or(0);
    let mut s = String::from("Examples:\n");
    for (cmd, what) in EXAMPLES {
        match what.is_empty() {
            true => s += &format!("  {cmd}\n"),
            false => s += &format!("  {cmd:width$}  # {what}\n"),
        }
    }
    s += "\nExit status:\n";
    for (code, meaning) in EXIT_CODES {
        s += &format!("  {code:<4} {meaning}\n");
    }
    s.trim_end().to_string()
}

/// The CLI's definition, with the generated `--help` text: what parsing, completions and the
/// man page all read.
fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command().after_help(after_help())
}

/// Build minimal, hardened, reproducible OCI images without Docker, with a reason for every file.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build an image from a manifest (or show its plan).
    Build(BuildArgs),
    /// Write a starting manifest for a binary.
    Init(InitArgs),
    /// Show the shared libraries ELF files load, as the target's loader would find them
    /// (computed from the files, never by running them).
    Ldd(LddArgs),
    /// Print the SBOM stored with an image (SPDX 2.3 or CycloneDX 1.6 JSON).
    Sbom(SbomArgs),
    /// Explain why a path is in an image: component, reason, owner, needed-by chain, package.
    Explain(ExplainArgs),
    /// Write NAME.lock beside the manifest: the hashes of everything the image is built from.
    Lock(LockArgs),
    /// Push an image (with its SBOMs and plan) to a registry, exact bytes.
    Push(PushArgs),
    /// Write a cosign-compatible key pair: PREFIX.key (encrypted) and PREFIX.pub.
    GenerateKeyPair(KeyPairArgs),
    /// Sign an image's digest (cosign's format), in its OCI layout or in the registry.
    Sign(SignArgs),
    /// Attest an SBOM or SLSA provenance about an image (signed DSSE in-toto envelope).
    Attest(AttestArgs),
    /// Exit 0 only when a signature made with the key names the image's exact digest.
    Verify(VerifyArgs),
    /// Exit 0 only when an attestation of the type, signed with the key, is about the image.
    VerifyAttestation(VerifyAttestationArgs),
    /// Print a shell completion script (e.g. `kiln completions bash > /etc/bash_completion.d/kiln`).
    Completions(CompletionsArgs),
    /// Print kiln's manual page, kiln(1), in roff (`kiln man | man -l -`).
    Man(ManArgs),
}

#[derive(clap::Args, Debug)]
struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
struct ManArgs {
    /// Print the page of this subcommand, kiln-COMMAND(1), instead of kiln(1).
    command: Option<String>,
}

#[derive(clap::Args, Debug)]
struct KeyPairArgs {
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    output_key_prefix: String,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

/// The image `sign`, `attest`, `verify` and `verify-attestation` work on, and how to reach it.
#[derive(clap::Args, Debug)]
struct SignedImage {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG|@DIGEST].
    image: String,
    /// For a multi-platform image: the manifest of this platform (e.g. linux/arm64) under
    /// its index, instead of the index.
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl SignedImage {
    /// Opens the image; `pull_only` for the commands that only read.
    fn open(&self, pull_only: bool) -> anyhow::Result<crate::sign::store::Target> {
        Ok(crate::sign::store::Target::open(
            &self.image,
            &self.registry.options(pull_only)?,
            self.platform.as_deref(),
        )?)
    }
}

#[derive(clap::Args, Debug)]
struct SignArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The private key (cosign's encrypted PEM); its password from KILN_PASSWORD,
    /// COSIGN_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The repository the payload names (docker-reference), e.g. registry.example/app
    /// (default: HOST/REPO of a registry image, the folder name of a layout).
    #[arg(long, value_name = "REPO")]
    identity: Option<String>,
    /// For an image index: also sign every platform manifest it lists (as cosign's
    /// --recursive).
    #[arg(long)]
    recursive: bool,
}

#[derive(clap::Args, Debug)]
struct AttestArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The private key (cosign's encrypted PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// spdx, cyclonedx (the SBOM stored with the image) or slsaprovenance (needs --manifest).
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// The manifest the image was built from (for slsaprovenance; its lock is read beside it).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// The repository the statement's subject names (default as for `kiln sign`).
    #[arg(long, value_name = "REPO")]
    identity: Option<String>,
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The public key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Also require the signature to name this repository (docker-reference), e.g.
    /// registry.example/team/app.
    #[arg(long, value_name = "REPO")]
    identity: Option<String>,
}

#[derive(clap::Args, Debug)]
struct VerifyAttestationArgs {
    #[command(flatten)]
    target: SignedImage,
    /// The public key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// spdx, cyclonedx or slsaprovenance.
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
}

#[derive(clap::Args, Debug)]
struct PushArgs {
    /// The image, in the --output syntax: oci:DIR[:TAG] or oci-archive:FILE[:TAG].
    source: String,
    /// Where to: docker://HOST[:PORT]/REPO[:TAG].
    destination: String,
    /// Print JSON: reference, digest, blobs uploaded, skipped and mounted.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How to talk to a registry (`kiln push`, `kiln build --push`).
#[derive(clap::Args, Debug)]
struct RegistryArgs {
    /// USER:PASS for the registry (else KILN_REGISTRY_USERNAME/KILN_REGISTRY_PASSWORD,
    /// containers' auth.json, Docker's config.json and credential helpers). A command line is
    /// visible to other users of the machine: prefer --password-stdin or the environment.
    #[arg(long, value_name = "USER:PASS", conflicts_with = "password_stdin")]
    creds: Option<String>,
    /// The registry user, with --password-stdin.
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    username: Option<String>,
    /// Read the password (or token) from standard input, as `docker login --password-stdin`.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Allow plain HTTP and unverified TLS for the registry's own host when it is not a
    /// loopback address (never for another host the registry names).
    #[arg(long)]
    insecure: bool,
    /// Trust every *.crt in DIR as a CA (like containers' certs.d).
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Another repository of the same registry that may hold the blobs: mount them from it
    /// instead of uploading (repeatable).
    #[arg(long, value_name = "REPO")]
    from_repo: Vec<String>,
    /// Also write the pushed reference (HOST/REPO@sha256:...) to FILE.
    #[arg(long, value_name = "FILE")]
    image_refs: Option<PathBuf>,
    /// Concurrent blob uploads.
    #[arg(long, value_name = "N", default_value_t = 3)]
    jobs: usize,
    /// MiB per request of a chunked upload (for registries or proxies that limit request
    /// sizes); blobs up to min(16, N) MiB go in one request.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    chunk_mib: u64,
}

#[derive(clap::Args, Debug)]
struct SbomArgs {
    /// The image, in the --output syntax: oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE.
    image: String,
    /// spdx or cyclonedx.
    #[arg(long, default_value = "spdx")]
    format: String,
    /// For a multi-platform image: whose SBOM, e.g. linux/arm64 (default: this machine's
    /// platform, else the first).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
}

#[derive(clap::Args, Debug)]
struct ExplainArgs {
    /// A manifest (FILE.toml) or an image built by kiln (oci:DIR[:TAG], ...).
    target: String,
    /// The path inside the image.
    path: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// For a multi-platform image: which platform's image, e.g. linux/arm64 (default: this
    /// machine's platform, else the first).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
}

#[derive(clap::Args, Debug)]
struct LockArgs {
    /// The manifest (TOML).
    manifest: PathBuf,
}

#[derive(clap::Args, Debug)]
struct LddArgs {
    /// ELF executables or libraries.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Resolve inside this root (a sysroot of another architecture, an unpacked image)
    /// instead of `/`.
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
    /// Print the real paths of the whole closure, one per line, sorted (the loader included,
    /// the files themselves not).
    #[arg(long, conflicts_with = "json")]
    list: bool,
    /// Print JSON: per file, every object with soname, path, real path, needed-by edges and
    /// the rule that found it.
    #[arg(long)]
    json: bool,
    /// The x86-64 level the target CPU has at least: baseline, x86-64-v2, -v3 or -v4. It decides
    /// which glibc-hwcaps subdirectories are searched.
    #[arg(long, value_name = "LEVEL", default_value = "baseline")]
    cpu_level: String,
    /// Also show what glibc loads at run time (libgcc_s, NSS modules, gconv, .note.dlopen).
    #[arg(long)]
    dlopen: bool,
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// The manifest (TOML) to build [default: ./kiln.toml].
    manifest: Option<PathBuf>,
    /// Where to write the image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or
    /// docker-archive:FILE[:NAME[:TAG]]. Default: oci:out/NAME:latest, NAME from [image].
    #[arg(short, long, value_name = "SPEC")]
    output: Option<String>,
    /// Print the plan (every path, its mode, owner, digest and why it is there) and write
    /// nothing.
    #[arg(long)]
    plan: bool,
    /// Print JSON instead of text (the plan with --plan, else a build summary).
    #[arg(long)]
    json: bool,
    /// Fail if anything differs from NAME.lock beside the manifest (inputs, resolved
    /// libraries, package versions, the manifest, kiln's version) instead of updating it.
    #[arg(long)]
    locked: bool,
    /// After building, push the image to docker://HOST[:PORT]/REPO[:TAG] (like `kiln push`).
    #[arg(long, value_name = "REF")]
    push: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args, Debug)]
struct InitArgs {
    /// The ELF executable the image exists to run.
    binary: PathBuf,
    /// Why the image exists: the binary's rationale, recorded in the manifest and SBOM.
    #[arg(long, value_name = "TEXT")]
    why: String,
    /// Where to write the manifest.
    #[arg(short, long, value_name = "FILE", default_value = "kiln.toml")]
    output: PathBuf,
    /// The image name (default: the binary's file name).
    #[arg(long)]
    name: Option<String>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {msg}{at}\n\nhint: this is a bug in kiln; please report it with the command you ran");
    }));
    // Ctrl-C or SIGTERM: remove this run's staging folders and temporary files, then exit as
    // a shell expects (128 + SIGINT). What was published stays: every output is renamed whole.
    let _ = ctrlc::set_handler(|| {
        crate::oci::guard::remove_live();
        eprintln!("error: interrupted; removed this run's temporary files");
        std::process::exit(130);
    });
    crate::oci::guard::on_wait(|msg| eprintln!("note: {msg}"));
    let cli = match command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("{}", render::error(&e));
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(101),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build(a) => build(a),
        Command::Init(a) => init(a),
        Command::Ldd(a) => ldd(a),
        Command::Sbom(a) => sbom(a),
        Command::Explain(a) => explain(a),
        Command::Lock(a) => lock(a),
        Command::Push(a) => push(a),
        Command::GenerateKeyPair(a) => generate_key_pair(a),
        Command::Sign(a) => sign(a),
        Command::Attest(a) => attest(a),
        Command::Verify(a) => verify(a),
        Command::VerifyAttestation(a) => verify_attestation(a),
        Command::Completions(a) => completions(a),
        Command::Man(a) => man(a),
    }
}

impl RegistryArgs {
    fn options(&self, pull_only: bool) -> anyhow::Result<crate::registry::Options> {
        let credentials = match (&self.creds, &self.username) {
            (Some(c), _) => Some(crate::registry::Credentials::parse(c)?),
            (None, Some(user)) if self.password_stdin => {
                let mut secret = zeroize::Zeroizing::new(String::new());
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut secret)
                    .context("cannot read the password from standard input")?;
                let secret = secret.trim_end_matches(['\n', '\r']);
                if secret.is_empty() {
                    anyhow::bail!("--password-stdin read an empty password");
                }
                Some(crate::registry::Credentials {
                    username: user.clone(),
                    secret: secret.to_string(),
                })
            }
            _ => None,
        };
        Ok(crate::registry::Options {
            progress: crate::registry::ProgressSink::default(),
            credentials,
            insecure: self.insecure,
            cert_dir: self.cert_dir.clone(),
            from_repos: self.from_repo.clone(),
            jobs: self.jobs,
            pull_only,
            chunk: self.chunk_mib << 20,
        })
    }
}

/// The key password: KILN_PASSWORD, COSIGN_PASSWORD, else asked on the terminal (twice when
/// `confirm`). Never echoed, never printed.
fn password(confirm: bool) -> anyhow::Result<zeroize::Zeroizing<String>> {
    for var in ["KILN_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(p) = std::env::var(var) {
            return Ok(zeroize::Zeroizing::new(p));
        }
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        anyhow::bail!(
            "the key password is needed: set KILN_PASSWORD (or COSIGN_PASSWORD), or run on a terminal"
        );
    }
    let p = zeroize::Zeroizing::new(rpassword::prompt_password(
        "Enter password for private key: ",
    )?);
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password(
            "Enter password for private key again: ",
        )?);
        if *again != *p {
            anyhow::bail!("the passwords do not match");
        }
    }
    Ok(p)
}

fn read_private_key(path: &Path) -> anyhow::Result<crate::sign::PrivateKey> {
    let pem = zeroize::Zeroizing::new(fs_err::read(path)?);
    let pass = password(false)?;
    crate::sign::PrivateKey::from_encrypted_pem(&pem, pass.as_bytes())
        .with_context(|| format!("cannot use the private key {}", path.display()))
}

fn read_public_key(path: &Path) -> anyhow::Result<crate::sign::PublicKey> {
    let pem = fs_err::read(path)?;
    crate::sign::PublicKey::from_pem(&pem)
        .with_context(|| format!("cannot use the public key {}", path.display()))
}

/// Writes `bytes` to `path` atomically with `mode`; refuses to replace a file unless `force`.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() && !force {
        anyhow::bail!("{} exists; say --force to replace it", path.display());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiln-key-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn generate_key_pair(a: KeyPairArgs) -> anyhow::Result<()> {
    let key_path = PathBuf::from(format!("{}.key", a.output_key_prefix));
    let pub_path = PathBuf::from(format!("{}.pub", a.output_key_prefix));
    for p in [&key_path, &pub_path] {
        if p.exists() && !a.force {
            anyhow::bail!("{} exists; say --force to replace it", p.display());
        }
    }
    let pass = password(true)?;
    let key = crate::sign::PrivateKey::generate();
    let pem = zeroize::Zeroizing::new(key.to_encrypted_pem(pass.as_bytes())?);
    write_new_file(&key_path, pem.as_bytes(), 0o600, a.force)?;
    write_new_file(
        &pub_path,
        key.public_key().to_pem().as_bytes(),
        0o644,
        a.force,
    )?;
    out(&format!(
        "Private key written to {}\nPublic key written to {}\n",
        key_path.display(),
        pub_path.display()
    ))
}

fn print_signed(s: &crate::sign::store::Signed, json: bool) -> anyhow::Result<()> {
    if json {
        return out(&(serde_json::to_string_pretty(s)? + "\n"));
    }
    out(&format!(
        "{} {}\n  identity {}\n  stored at {} (layer {})\n",
        s.image, s.digest, s.identity, s.tag, s.layer
    ))
}

fn sign(a: SignArgs) -> anyhow::Result<()> {
    // The image first: a wrong tag or a blob that is not a manifest is said before anyone is
    // asked for a password.
    let target = a.target.open(false)?;
    target
        .subject()
        .with_context(|| format!("cannot sign {}", a.target.image))?;
    let key = read_private_key(&a.key)?;
    if a.recursive {
        let all = crate::sign::store::sign_recursive(&target, &key, a.identity.as_deref())
            .with_context(|| format!("cannot sign {}", a.target.image))?;
        if a.target.json {
            return out(&(serde_json::to_string_pretty(&all)? + "\n"));
        }
        for s in &all {
            print_signed(s, false)?;
        }
        return Ok(());
    }
    let s = crate::sign::store::sign(&target, &key, a.identity.as_deref())
        .with_context(|| format!("cannot sign {}", a.target.image))?;
    print_signed(&s, a.target.json)
}

/// `--type` to a predicate type.
fn predicate_type(kind: &str) -> anyhow::Result<&'static str> {
    Ok(match kind {
        "spdx" | "spdxjson" => crate::sign::PREDICATE_SPDX,
        "cyclonedx" => crate::sign::PREDICATE_CYCLONEDX,
        "slsaprovenance" => crate::sign::PREDICATE_SLSA_PROVENANCE_V02,
        other => anyhow::bail!("unknown --type {other:?}; one of: spdx, cyclonedx, slsaprovenance"),
    })
}

fn attest(a: AttestArgs) -> anyhow::Result<()> {
    let pt = predicate_type(&a.kind)?;
    let target = a.target.open(false)?;
    let predicate: serde_json::Value = match a.kind.as_str() {
        "slsaprovenance" => {
            let Some(m) = &a.manifest else {
                anyhow::bail!("--type slsaprovenance needs --manifest FILE, the manifest the image was built from");
            };
            let bytes = fs_err::read(m)?;
            let lock_path = crate::lock::path_for(m);
            let lock = crate::lock::Lock::read(&lock_path)?;
            let lock_bytes = match &lock {
                Some(_) => Some(fs_err::read(&lock_path)?),
                None => None,
            };
            let name = |p: &Path| {
                p.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            };
            let lock_name = name(&lock_path);
            let lock_arg = match (&lock, &lock_bytes) {
                (Some(l), Some(b)) => Some((lock_name.as_str(), b.as_slice(), l)),
                _ => None,
            };
            crate::sign::provenance::predicate(&name(m), &bytes, lock_arg, Epoch::from_env()?)
        }
        _ => {
            let media_type = if a.kind == "cyclonedx" {
                crate::sbom::Format::CycloneDx.media_type()
            } else {
                crate::sbom::Format::Spdx.media_type()
            };
            let bytes = crate::sign::store::artifact(&target, media_type)?;
            serde_json::from_slice(&bytes).context("the stored SBOM is not JSON")?
        }
    };
    let key = read_private_key(&a.key)?;
    let s = crate::sign::store::attest(&target, &key, pt, predicate, a.identity.as_deref())
        .with_context(|| format!("cannot attest {}", a.target.image))?;
    print_signed(&s, a.target.json)
}

fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let key = read_public_key(&a.key)?;
    let target = a.target.open(true)?;
    let ok = crate::sign::store::verify(&target, &key, a.identity.as_deref())?;
    if a.target.json {
        return out(&(serde_json::to_string_pretty(&ok)? + "\n"));
    }
    let mut s = String::new();
    for v in &ok {
        s += &format!(
            "verified: {} signed for {} (payload {})\n",
            v.digest, v.identity, v.layer
        );
    }
    out(&s)
}

fn verify_attestation(a: VerifyAttestationArgs) -> anyhow::Result<()> {
    let pt = predicate_type(&a.kind)?;
    let key = read_public_key(&a.key)?;
    let target = a.target.open(true)?;
    let ok = crate::sign::store::verify_attestation(&target, &key, pt)?;
    if a.target.json {
        return out(&(serde_json::to_string_pretty(&ok)? + "\n"));
    }
    let mut s = String::new();
    for v in &ok {
        s += &format!(
            "verified: {} attestation about {} ({}, envelope {})\n",
            a.kind, v.digest, v.identity, v.layer
        );
    }
    out(&s)
}

/// Pushes `src` to `dest`; writes --image-refs.
/// Progress bars on stderr for `kiln push`: bytes sent and blobs done.
struct Bars {
    bytes: indicatif::ProgressBar,
    blobs: std::sync::atomic::AtomicUsize,
    done: std::sync::atomic::AtomicUsize,
}

impl Bars {
    fn new() -> Bars {
        let bytes = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bytes.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bytes.set_prefix("pushing");
        Bars {
            bytes,
            blobs: Default::default(),
            done: Default::default(),
        }
    }
}

impl crate::registry::Progress for Bars {
    fn start(&self, blobs: usize, bytes: u64) {
        self.bytes.set_length(bytes);
        self.blobs
            .store(blobs, std::sync::atomic::Ordering::Relaxed);
        self.bytes.set_message(format!("0/{blobs} blobs"));
    }
    fn sent(&self, n: u64) {
        self.bytes.inc(n);
    }
    fn blob_done(&self, size: u64, uploaded: bool) {
        if !uploaded {
            // Skipped or mounted: its bytes count as done without being sent.
            self.bytes.inc(size);
        }
        use std::sync::atomic::Ordering::Relaxed;
        let done = self.done.fetch_add(1, Relaxed) + 1;
        self.bytes
            .set_message(format!("{done}/{} blobs", self.blobs.load(Relaxed)));
    }
    fn finish(&self) {
        self.bytes.finish_and_clear();
    }
}

fn push_image(
    src: &Output,
    dest: &crate::registry::Reference,
    r: &RegistryArgs,
    show_progress: bool,
) -> anyhow::Result<crate::registry::Summary> {
    let mut opts = r.options(false)?;
    if show_progress {
        opts.progress = crate::registry::ProgressSink(std::sync::Arc::new(Bars::new()));
    }
    let s = crate::registry::push(src, dest, &opts)
        .with_context(|| format!("cannot push {src} to {dest}"))?;
    if let Some(f) = &r.image_refs {
        fs_err::write(f, format!("{}\n", s.reference))?;
    }
    Ok(s)
}

fn push(a: PushArgs) -> anyhow::Result<()> {
    let src = Output::parse(&a.source)?;
    let dest = crate::registry::Reference::parse(&a.destination)?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let s = push_image(&src, &dest, &a.registry, tty && !a.json)?;
    if a.json {
        return out(&(serde_json::to_string_pretty(&s)? + "\n"));
    }
    out(&format!("{}\n", s.reference))
}

fn out(text: &str) -> anyhow::Result<()> {
    let mut so = std::io::stdout().lock();
    so.write_all(text.as_bytes())?;
    so.flush()?;
    Ok(())
}

/// The manifest `kiln build` reads: the one named, else `./kiln.toml`.
fn manifest_or_default(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let p = PathBuf::from("kiln.toml");
    if !p.is_file() {
        anyhow::bail!(
            "no manifest given, and there is no `kiln.toml` in the current directory\n\n\
             hint: name one (`kiln build path/to/kiln.toml`), or write one with \
             `kiln init BINARY --why TEXT`"
        );
    }
    Ok(p)
}

fn build(mut a: BuildArgs) -> anyhow::Result<()> {
    let manifest_path = manifest_or_default(a.manifest.take())?;
    let epoch = Epoch::from_env()?;
    let output = a.output.as_deref().map(Output::parse).transpose()?;
    let push_to = a
        .push
        .as_deref()
        .map(crate::registry::Reference::parse)
        .transpose()?;
    let manifests = crate::manifest::load_all(&manifest_path)?;
    let mut plans = Vec::new();
    for manifest in &manifests {
        let root = root_of(manifest)?;
        let plan = plan::build(manifest, &root, epoch)?;
        for w in &plan.warnings {
            match &manifest.image.platform {
                Some(p) => eprintln!("warning: {p}: {w}"),
                None => eprintln!("warning: {w}"),
            }
        }
        plans.push(plan);
    }
    let manifest = &manifests[0];
    // --locked holds for --plan too: the plan shown is the one the lock allows.
    let lock_path = crate::lock::path_for(&manifest_path);
    let new_lock = crate::lock::Lock::of_all(&plans, &manifest.file.text);
    if a.locked {
        let old =
            crate::lock::Lock::read(&lock_path)?.ok_or_else(|| crate::lock::Error::Missing {
                path: lock_path.clone(),
            })?;
        let changes = old.changes(&new_lock);
        if !changes.is_empty() {
            return Err(crate::lock::Error::Drift {
                path: lock_path,
                changes,
            }
            .into());
        }
    }
    if a.plan {
        let mut text = String::new();
        for (m, plan) in manifests.iter().zip(&plans) {
            if let (Some(p), false) = (&m.image.platform, a.json) {
                text += &format!("platform {p}\n");
            }
            text += &if a.json {
                plan.to_json() + "\n"
            } else {
                plan::table(plan)
            };
        }
        return out(&text);
    }
    let plan = &plans[0];
    let output = output.unwrap_or_else(|| Output::default_for(&plan.image.name));
    let set = output::write_all(&plans, &output)
        .with_context(|| format!("cannot build image `{}`", plan.image.name))?;
    if !a.locked && crate::lock::Lock::read(&lock_path).ok().flatten().as_ref() != Some(&new_lock) {
        new_lock.write(&lock_path)?;
    }
    let built = &set.images[0];
    let compressed: u64 = set
        .images
        .iter()
        .flat_map(|b| b.layers.iter())
        .map(|l| l.size)
        .sum();
    let pushed = match &push_to {
        Some(dest) => Some(push_image(
            &output,
            dest,
            &a.registry,
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && !a.json,
        )?),
        None => None,
    };
    if a.json {
        #[derive(serde::Serialize)]
        struct Summary<'a> {
            output: String,
            /// What the tag points at: the image manifest, or the index of a multi-platform
            /// build.
            manifest: &'a crate::image::Descriptor,
            config: &'a crate::image::Descriptor,
            layers: Vec<LayerSummary>,
            warnings: &'a [String],
            #[serde(skip_serializing_if = "Vec::is_empty")]
            platforms: Vec<PlatformSummary<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            push: Option<&'a crate::registry::Summary>,
        }
        #[derive(serde::Serialize)]
        struct PlatformSummary<'a> {
            platform: String,
            manifest: &'a crate::image::Descriptor,
            config: &'a crate::image::Descriptor,
        }
        #[derive(serde::Serialize)]
        struct LayerSummary {
            layer: &'static str,
            digest: String,
            size: u64,
            diff_id: String,
            entries: usize,
        }
        let s = Summary {
            output: output.to_string(),
            manifest: &set.top,
            platforms: if set.images.len() > 1 {
                manifests
                    .iter()
                    .zip(&set.images)
                    .map(|(m, b)| PlatformSummary {
                        platform: m
                            .image
                            .platform
                            .as_ref()
                            .map_or(String::new(), |p| p.to_string()),
                        manifest: &b.manifest,
                        config: &b.config,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            config: &built.config,
            layers: built
                .layers
                .iter()
                .map(|l| LayerSummary {
                    layer: l.kind.as_str(),
                    digest: l.digest.to_string(),
                    size: l.size,
                    diff_id: l.diff_id.to_string(),
                    entries: l.entries,
                })
                .collect(),
            warnings: &plan.warnings,
            push: pushed.as_ref(),
        };
        return out(&(serde_json::to_string_pretty(&s)? + "\n"));
    }
    let mut s =
        if set.images.len() > 1 {
            format!(
            "built `{}` for {} platforms: {}, {:.1} MiB compressed in all\n  output    {output}\n",
            plan.image.name,
            set.images.len(),
            render::count(plans.iter().map(|p| p.entries.len()).sum::<usize>(), "path", "paths"),
            compressed as f64 / 1048576.0,
        )
        } else {
            format!(
                "built `{}`: {}, {}, {:.1} MiB compressed\n  output    {output}\n",
                plan.image.name,
                render::count(built.layers.len(), "layer", "layers"),
                render::count(plan.entries.len(), "path", "paths"),
                compressed as f64 / 1048576.0,
            )
        };
    if set.images.len() > 1 {
        s += &format!("  index     {}\n", set.top.digest);
    }
    for (m, b) in manifests.iter().zip(&set.images) {
        match (&m.image.platform, set.images.len() > 1) {
            (Some(p), true) => s += &format!("  manifest  {} ({p})\n", b.manifest.digest),
            _ => s += &format!("  manifest  {}\n", b.manifest.digest),
        }
        for l in &b.layers {
            s += &format!(
                "  layer     {} {:>9} bytes  {}\n",
                l.digest,
                l.size,
                l.kind.as_str()
            );
        }
    }
    if let Some(p) = &pushed {
        s += &format!("  pushed    {}\n", p.reference);
    }
    if let (Output::Oci { dir, tag }, Some(_)) = (&output, &plan.image.entrypoint) {
        let ep = plan
            .image
            .entrypoint
            .iter()
            .chain(plan.image.cmd.iter())
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        s += &format!(
            "run it:\n  umoci unpack --image {d}:{tag} bundle && chroot --userspec={}:{} bundle/rootfs {ep}\n  skopeo copy oci:{d}:{tag} docker://REGISTRY/{}:{tag}\n",
            plan.image.user.0,
            plan.image.user.1,
            plan.image.name,
            d = dir.display(),
        );
    }
    out(&s)
}

fn completions(a: CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut command(), "kiln", &mut script);
    out(&String::from_utf8(script)?)
}

/// `kiln man`: kiln(1), or kiln-COMMAND(1), rendered from the CLI definition by
/// clap_mangen, with kiln's examples and exit statuses as their own sections.
fn man(a: ManArgs) -> anyhow::Result<()> {
    use clap_mangen::roff::{bold, roman, Roff};
    let mut cmd = command();
    cmd.build();
    let page = match &a.command {
        None => cmd,
        Some(name) => cmd
            .find_subcommand(name)
            // clap's own `help` has no page: clap_mangen cannot render it.
            .filter(|_| name != "help")
            .cloned()
            // clap names are `&'static str` without its `string` feature; the process prints
            // one page and exits.
            .map(|sub| sub.name(&*Box::leak(format!("kiln-{name}").into_boxed_str())))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no subcommand `{name}`\n\nhint: `kiln --help` lists the subcommands"
                )
            })?,
    };
    let man = clap_mangen::Man::new(page);
    let mut roff_text = Vec::new();
    man.render_title(&mut roff_text)?;
    man.render_name_section(&mut roff_text)?;
    man.render_synopsis_section(&mut roff_text)?;
    man.render_description_section(&mut roff_text)?;
    man.render_options_section(&mut roff_text)?;
    if a.command.is_none() {
        man.render_subcommands_section(&mut roff_text)?;
        let mut extra = Roff::default();
        extra.control("SH", ["EXAMPLES"]);
        for (line, what) in EXAMPLES {
            if what.is_empty() {
                extra.control("PP", []);
                extra.text([bold(*line)]);
            } else {
                extra.control("TP", []);
                extra.text([bold(*line)]);
                extra.text([roman(*what)]);
            }
        }
        extra.control("SH", ["EXIT STATUS"]);
        for (code, meaning) in EXIT_CODES {
            extra.control("TP", []);
            extra.text([bold(code.to_string())]);
            extra.text([roman(*meaning)]);
        }
        extra.to_writer(&mut roff_text)?;
    }
    man.render_version_section(&mut roff_text)?;
    out(&String::from_utf8(roff_text)?)
}

/// The root a manifest's libraries are resolved in: its `sysroot`, else `/`.
fn root_of(manifest: &crate::manifest::Manifest) -> anyhow::Result<PathBuf> {
    Ok(match &manifest.image.sysroot {
        None => PathBuf::from("/"),
        Some(sp) => match fs_err::canonicalize(&sp.host) {
            Ok(p) if p.is_dir() => p,
            _ => {
                return Err(crate::span::Diagnostic::new(format!("`sysroot` {:?} is not a directory", sp.written), sp.location.clone())
                    .with_hint("a sysroot holds the target's loader and libraries, e.g. from `dpkg -x` of the target's packages")
                    .into())
            }
        },
    })
}

fn init(a: InitArgs) -> anyhow::Result<()> {
    if a.output.exists() && !a.force {
        anyhow::bail!(
            "{} already exists; kiln init will not overwrite it (use --force)",
            a.output.display()
        );
    }
    let text = crate::init::manifest(&a.binary, &a.why, a.name.as_deref(), &a.output)?;
    let dir = match a.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // `-o sub/dir/kiln.toml`: the folder is made once the manifest text is.
    fs_err::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiln-init-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(&a.output)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    out(&format!(
        "wrote {m}\nbuild it with: kiln build {m}\n",
        m = a.output.display()
    ))
}

fn ldd(a: LddArgs) -> anyhow::Result<()> {
    use crate::manifest::ImagePath;
    use crate::resolve::{HwcapsLevel, Options, Resolver};
    let level = HwcapsLevel::parse(&a.cpu_level).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown --cpu-level {:?}; one of: baseline, x86-64-v2, x86-64-v3, x86-64-v4",
            a.cpu_level
        )
    })?;
    let root = match &a.sysroot {
        Some(r) => fs_err::canonicalize(r)
            .with_context(|| format!("cannot use sysroot {}", r.display()))?,
        None => PathBuf::from("/"),
    };
    let overlay = std::collections::BTreeMap::new();
    let options = Options {
        image_files: None,
        hwcaps: level,
        dlopen: a.dlopen.then(|| crate::resolve::DlopenPolicy {
            nss: read_nss(&root),
            ..Default::default()
        }),
    };
    let resolver = Resolver::new(&root, &overlay, options);
    // Each file's image path: inside the root when it lives there, else its own absolute path.
    type Job = (PathBuf, Result<(ImagePath, PathBuf), String>);
    let jobs: Vec<Job> = a
        .files
        .iter()
        .map(|f| {
            let r = fs_err::canonicalize(f)
                .map_err(|e| e.to_string())
                .and_then(|canon| {
                    let inner = match canon.strip_prefix(&root) {
                        Ok(rel) if root != Path::new("/") => format!("/{}", rel.display()),
                        _ => canon.display().to_string(),
                    };
                    ImagePath::parse(&inner)
                        .map(|p| (p, canon.clone()))
                        .map_err(|e| format!("{inner}: {e}"))
                });
            (f.clone(), r)
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let results: Vec<_> = std::thread::scope(|s| {
        let chunks: Vec<_> = jobs.chunks(jobs.len().div_ceil(threads).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let resolver = &resolver;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(f, job)| match job {
                            Ok((ip, host)) => (
                                f.clone(),
                                resolver.closure(ip, host).map_err(|e| e.to_string()),
                            ),
                            Err(e) => (f.clone(), Err(format!("cannot read {}: {e}", f.display()))),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut failed = 0;
    let mut text = String::new();
    let mut list = std::collections::BTreeSet::new();
    let mut json = Vec::new();
    for (file, r) in &results {
        let closure = match r {
            Ok(c) => c,
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", file.display());
                continue;
            }
        };
        for w in &closure.warnings {
            eprintln!("warning: {}: {w}", file.display());
        }
        if a.list {
            list.extend(closure.objects.iter().skip(1).map(|o| o.real.to_string()));
            list.extend(closure.data_files.iter().map(|(f, _)| f.real.to_string()));
        } else if a.json {
            json.push(ldd_json(file, closure));
        } else {
            text += &ldd_tree(file, closure);
        }
    }
    if a.list {
        text = list.into_iter().map(|p| p + "\n").collect();
    } else if a.json {
        text = serde_json::to_string_pretty(&json)? + "\n";
    }
    out(&text)?;
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} could not be resolved (see above)",
            render::count(results.len(), "file", "files")
        );
    }
    Ok(())
}

/// The manifest's Plans, one per platform it lists (one when it lists none).
fn load_plans(
    manifest_path: &Path,
) -> anyhow::Result<(Vec<crate::manifest::Manifest>, Vec<plan::Plan>)> {
    let epoch = Epoch::from_env()?;
    let manifests = crate::manifest::load_all(manifest_path)?;
    let mut plans = Vec::new();
    for m in &manifests {
        plans.push(plan::build(m, &root_of(m)?, epoch)?);
    }
    Ok((manifests, plans))
}

fn sbom(a: SbomArgs) -> anyhow::Result<()> {
    let format = crate::sbom::Format::parse(&a.format).ok_or_else(|| {
        anyhow::anyhow!("unknown --format {:?}; one of: spdx, cyclonedx", a.format)
    })?;
    let image = Output::parse(&a.image)?;
    let bytes =
        crate::image::read::artifact_for(&image, format.media_type(), a.platform.as_deref())?;
    let mut so = std::io::stdout().lock();
    so.write_all(&bytes)?;
    so.flush()?;
    Ok(())
}

fn lock(a: LockArgs) -> anyhow::Result<()> {
    let (manifests, plans) = load_plans(&a.manifest)?;
    let path = crate::lock::path_for(&a.manifest);
    let lock = crate::lock::Lock::of_all(&plans, &manifests[0].file.text);
    lock.write(&path)?;
    out(&format!(
        "wrote {} ({} inputs, {} resolved files, {} packages)\n",
        path.display(),
        lock.inputs.len(),
        lock.closure.len(),
        lock.packages.len()
    ))
}

/// The text of `kiln explain`: the entry, its component's statement, the chain, the package.
fn explain_text(path: &str, e: &serde_json::Value, comp: &serde_json::Value) -> String {
    let s_of = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let mut t = format!("{path}\n");
    let mut kind = format!(
        "  {} {} {}:{}",
        s_of(&e["type"]),
        s_of(&e["mode"]),
        e["uid"],
        e["gid"]
    );
    if let Some(size) = e["size"].as_u64() {
        kind += &format!(", {size} bytes, {}", s_of(&e["sha256"]));
    }
    if let Some(target) = e["target"].as_str() {
        kind += &format!(" -> {target}");
    }
    t += &format!("{kind}, {} layer\n", s_of(&e["layer"]));
    t += &format!(
        "  component: {} ({})\n",
        s_of(&e["component"]),
        s_of(&comp["kind"])
    );
    t += &format!("  why: {}\n", s_of(&comp["why"]));
    for (key, label) in [
        ("owner", "owner"),
        ("cadence", "cadence"),
        ("remove-when", "remove when"),
    ] {
        if let Some(v) = comp[key].as_str() {
            t += &format!("  {label}: {v}\n");
        }
    }
    if let Some(caps) = comp["capabilities"].as_array().filter(|c| !c.is_empty()) {
        t += &format!(
            "  capabilities: {}\n",
            caps.iter()
                .filter_map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    if let Some(chain) = e["needed_by"].as_array().filter(|c| !c.is_empty()) {
        let names: Vec<&str> = chain.iter().rev().filter_map(|c| c.as_str()).collect();
        t += &format!("  needed by: {}\n", names.join(" ← "));
    }
    if let Some(n) = e["note"].as_str() {
        t += &format!("  how: {n}\n");
    }
    if let Some(p) = e.get("package").filter(|p| p.is_object()) {
        t += &format!(
            "  package: {} {} ({}), source {} {}, {}\n",
            s_of(&p["name"]),
            s_of(&p["version"]),
            s_of(&p["arch"]),
            s_of(&p["source"]),
            s_of(&p["source_version"]),
            s_of(&p["purl"])
        );
    }
    t
}

fn explain(a: ExplainArgs) -> anyhow::Result<()> {
    let is_image = ["oci:", "oci-archive:", "docker-archive:"]
        .iter()
        .any(|p| a.target.starts_with(p));
    let plan: serde_json::Value = if !is_image {
        let (manifests, mut plans) = load_plans(Path::new(&a.target))?;
        let i = match &a.platform {
            None => 0,
            Some(want) => manifests
                .iter()
                .position(|m| {
                    m.image
                        .platform
                        .as_ref()
                        .is_some_and(|p| p.to_string() == *want)
                })
                .ok_or_else(|| anyhow::anyhow!("{} lists no platform {want}", a.target))?,
        };
        serde_json::from_str(&plans.swap_remove(i).to_json_portable())?
    } else {
        let image = Output::parse(&a.target)?;
        serde_json::from_slice(&crate::image::read::artifact_for(
            &image,
            crate::image::PLAN_MEDIA_TYPE,
            a.platform.as_deref(),
        )?)?
    };
    let want = crate::manifest::ImagePath::parse(&a.path)
        .map_err(|e| anyhow::anyhow!("`{}` {e}", a.path))?;
    let entries = plan["entries"].as_array().cloned().unwrap_or_default();
    let Some(e) = entries.iter().find(|e| e["path"] == want.as_str()) else {
        let near: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["path"].as_str())
            .filter(|p| {
                p.rsplit('/').next() == Some(want.file_name())
                    || strsim::levenshtein(p, want.as_str()) <= 3
            })
            .take(5)
            .collect();
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!("\n\nhint: did you mean {}?", near.join(", "))
        };
        anyhow::bail!("{want} is not in the image{hint}");
    };
    let comp = plan["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == e["component"]))
        .cloned()
        .unwrap_or_default();
    if a.json {
        return out(&(serde_json::to_string_pretty(
            &serde_json::json!({"entry": e, "component": comp}),
        )? + "\n"));
    }
    out(&explain_text(want.as_str(), e, &comp))
}

/// The target root's nsswitch.conf, for `kiln ldd --dlopen`.
fn read_nss(root: &Path) -> crate::resolve::Nss {
    match fs_err::read_to_string(root.join("etc/nsswitch.conf")) {
        Ok(t) => crate::resolve::Nss::Text(t),
        Err(_) => crate::resolve::Nss::Builtin,
    }
}

/// lddtree's layout: each object once, under the object that first loaded it.
fn ldd_tree(file: &Path, c: &crate::resolve::Closure) -> String {
    let mut s = String::new();
    if c.is_static {
        return format!(
            "{} (statically linked: no loader, no shared libraries)\n",
            file.display()
        );
    }
    let interp = c
        .objects
        .iter()
        .find(|o| o.rule == crate::resolve::Rule::Interpreter);
    match interp {
        Some(i) => s += &format!("{} (interpreter => {})\n", file.display(), i.real),
        None => s += &format!("{}\n", file.display()),
    }
    fn walk(c: &crate::resolve::Closure, parent: usize, depth: usize, s: &mut String) {
        for (i, o) in c.objects.iter().enumerate() {
            if o.loader == Some(parent)
                && o.rule != crate::resolve::Rule::Interpreter
                && i != parent
            {
                let extra = match &o.rule {
                    crate::resolve::Rule::Dlopen(why) => format!("  [dlopen: {why}]"),
                    _ => String::new(),
                };
                s.push_str(&format!(
                    "{}{} => {}{extra}\n",
                    "    ".repeat(depth),
                    o.name,
                    o.real
                ));
                walk(c, i, depth + 1, s);
            }
        }
    }
    walk(c, 0, 1, &mut s);
    for (f, why) in &c.data_files {
        s += &format!("    {} [data: {why}]\n", f.real);
    }
    s
}

fn ldd_json(file: &Path, c: &crate::resolve::Closure) -> serde_json::Value {
    let objects: Vec<serde_json::Value> = c
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "name": o.name,
                "soname": o.soname,
                "path": o.path,
                "real_path": o.real,
                "rule": o.rule.to_string(),
                "needed_by": o.needed_by.iter().map(|&i| c.objects[i].path.clone()).collect::<Vec<_>>(),
                "chain": c.chain(c.objects.iter().position(|x| std::ptr::eq(x, o)).unwrap_or(0)),
            })
        })
        .collect();
    serde_json::json!({
        "file": file.display().to_string(),
        "static": c.is_static,
        "objects": objects,
        "data_files": c.data_files.iter().map(|(f, why)| serde_json::json!({"path": f.path, "real_path": f.real, "why": why})).collect::<Vec<_>>(),
        "warnings": c.warnings,
    })
}
