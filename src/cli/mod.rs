//! The command line: argument parsing, running a command, printing, and exit codes.
//!
//! Owns: everything printed to stdout/stderr (`render` formats errors), mapping outcomes to
//! exit codes (`EXIT_CODES`: 0 success, 1 failed or could not run, 2 usage error, 3 verification
//! found nothing valid, 101 internal error, 130 interrupted), and treating a
//! closed stdout pipe as success. One file per command (or family of commands); this file
//! holds the definition of the CLI, `main` and the dispatch.
//! Invariant: only this module (and its submodules) prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod build;
mod docs;
mod gc;
mod init;
mod inspect;
mod ldd;
mod lock;
mod pull;
mod push;
mod render;
mod report;
mod sign;

use clap::{Parser, Subcommand};
use std::io::Write;
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

/// Examples for each subcommand's `--help` (and its kiln-COMMAND(1) page): 1-3 command lines
/// a user would type. `tests/it/conventions.rs` checks every subcommand has some.
const SUBCOMMAND_EXAMPLES: &[(&str, &[&str])] = &[
    (
        "build",
        &[
            "kiln build                                  # ./kiln.toml -> oci:out/NAME:latest",
            "kiln build app/kiln.toml --plan             # every path and why; writes nothing",
            "kiln build -o oci-archive:app.tar:v1 --push docker://registry.example/team/app:v1",
        ],
    ),
    (
        "init",
        &[
            "kiln init target/release/app --why \"the payments API\"",
            "kiln init /usr/bin/redis-server --name redis -o redis/kiln.toml",
        ],
    ),
    (
        "ldd",
        &[
            "kiln ldd target/release/app",
            "kiln ldd --sysroot sysroot-arm64 sysroot-arm64/usr/bin/curl",
            "kiln ldd --list /usr/bin/curl                # the closure's real paths",
        ],
    ),
    (
        "sbom",
        &[
            "kiln sbom oci:out/app:latest > app.spdx.json",
            "kiln sbom --format cyclonedx oci-archive:app.tar:v1",
        ],
    ),
    (
        "explain",
        &[
            "kiln explain kiln.toml /usr/lib/x86_64-linux-gnu/libssl.so.3",
            "kiln explain oci:out/app:latest /etc/passwd --json",
        ],
    ),
    (
        "lock",
        &[
            "kiln lock kiln.toml                # writes kiln.lock beside it",
            "kiln build kiln.toml --locked      # then: fail on any drift from it",
        ],
    ),
    (
        "push",
        &[
            "kiln push oci:out/app:latest docker://registry.example/team/app:v1",
            "kiln push oci-archive:app.tar:v1 docker://localhost:5000/app:v1 --json",
        ],
    ),
    (
        "inspect",
        &[
            "kiln inspect oci:out/app:latest",
            "kiln inspect docker-archive:saved.tar --json   # docker save, podman save",
            "kiln inspect docker://registry.example/team/app:v1 --platform linux/arm64",
        ],
    ),
    (
        "pull",
        &[
            "kiln pull docker://registry.example/team/app:v1 oci:images/app:v1",
            "kiln pull docker://localhost:5000/app:v1 oci-archive:app.tar --platform linux/arm64",
            "kiln pull docker://registry.example/team/app@sha256:... oci:images/app --all --with-referrers",
        ],
    ),
    (
        "generate-key-pair",
        &[
            "kiln generate-key-pair                                   # cosign.key, cosign.pub",
            "KILN_PASSWORD=... kiln generate-key-pair --output-key-prefix ci/release",
        ],
    ),
    (
        "sign",
        &[
            "kiln sign --key cosign.key docker://registry.example/team/app:v1",
            "kiln sign --key cosign.key --identity registry.example/team/app oci:out/app:latest",
        ],
    ),
    (
        "attest",
        &[
            "kiln attest --key cosign.key --type spdx docker://registry.example/team/app:v1",
            "kiln attest --key cosign.key --type slsaprovenance --manifest kiln.toml oci:out/app",
        ],
    ),
    (
        "verify",
        &[
            "kiln verify --key cosign.pub docker://registry.example/team/app:v1",
            "kiln verify --key cosign.pub --identity registry.example/team/app oci:out/app:latest",
        ],
    ),
    (
        "verify-attestation",
        &["kiln verify-attestation --key cosign.pub --type spdx docker://registry.example/app:v1"],
    ),
    (
        "gc",
        &[
            "kiln gc oci:out/app --dry-run             # what no tag reaches any more",
            "kiln gc oci:out/app                       # remove it",
        ],
    ),
    (
        "completions",
        &[
            "kiln completions bash > /etc/bash_completion.d/kiln",
            "kiln completions fish > ~/.config/fish/completions/kiln.fish",
        ],
    ),
    (
        "man",
        &["kiln man | man -l -", "kiln man build > kiln-build.1"],
    ),
];

/// A subcommand's `Examples:` section.
fn subcommand_after_help(lines: &[&str]) -> String {
    let mut s = String::from("Examples:\n");
    for l in lines {
        s += &format!("  {l}\n");
    }
    s.trim_end().to_string()
}

/// The exit status of a `verify` or `verify-attestation` that ran and found no valid
/// signature or attestation for the image (distinct from 1, "could not check").
const EXIT_UNVERIFIED: u8 = 3;

/// kiln's exit statuses, as `main` maps outcomes; listed in `--help`, kiln(1) and the README.
const EXIT_CODES: &[(u8, &str)] = &[
    (
        0,
        "success (verify: a valid signature or attestation names the image)",
    ),
    (
        1,
        "the command failed or could not run: bad input or key, missing image, I/O, network",
    ),
    (
        2,
        "usage error: unknown subcommand or option, missing argument",
    ),
    (
        EXIT_UNVERIFIED,
        "verification failed: no valid signature or attestation names the image",
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
    let mut cmd = <Cli as clap::CommandFactory>::command().after_help(after_help());
    for (name, lines) in SUBCOMMAND_EXAMPLES {
        cmd = cmd.mut_subcommand(*name, |c| c.after_help(subcommand_after_help(lines)));
    }
    cmd
}

/// Build minimal, hardened, reproducible OCI images without Docker, with a reason for every file.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, about, propagate_version = true)]
struct Cli {
    /// Say less: no progress, no notes, no text summary; errors and warnings still print
    /// (a warning says the image may not work). Results asked for (--json, --plan, sbom,
    /// ldd) still print.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more: each build step's counts and time (files hashed, objects resolved, bytes
    /// per layer).
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Colour the `error:`, `warning:`, `note:` and `hint:` prefixes: auto (stderr is a
    /// terminal, NO_COLOR unset or empty; CLICOLOR_FORCE forces it), always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = report::ColorWhen::Auto)]
    color: report::ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build an image from a manifest (or show its plan).
    Build(build::BuildArgs),
    /// Write a starting manifest for a binary.
    Init(init::InitArgs),
    /// Show the shared libraries ELF files load, as the target's loader would find them
    /// (computed from the files, never by running them).
    Ldd(ldd::LddArgs),
    /// Print the SBOM stored with an image (SPDX 2.3 or CycloneDX 1.6 JSON).
    Sbom(inspect::SbomArgs),
    /// Explain why a path is in an image: component, reason, owner, needed-by chain, package.
    Explain(inspect::ExplainArgs),
    /// Write NAME.lock beside the manifest: the hashes of everything the image is built from.
    Lock(lock::LockArgs),
    /// Push an image (with its SBOMs and plan) to a registry, exact bytes.
    Push(push::PushArgs),
    /// Show an image: config, layers, platforms, annotations and referrers (any transport).
    Inspect(inspect::InspectArgs),
    /// Pull an image from a registry into an oci: layout or oci-archive, exact bytes.
    Pull(pull::PullArgs),
    /// Remove the blobs of an oci: layout that no tag reaches (`--dry-run` lists them).
    Gc(gc::GcArgs),
    /// Write a cosign-compatible key pair: PREFIX.key (encrypted) and PREFIX.pub.
    GenerateKeyPair(sign::KeyPairArgs),
    /// Sign an image's digest (cosign's format), in its OCI layout or in the registry.
    Sign(sign::SignArgs),
    /// Attest an SBOM or SLSA provenance about an image (signed DSSE in-toto envelope).
    Attest(sign::AttestArgs),
    /// Exit 0 only when a signature made with the key names the image's exact digest.
    Verify(sign::VerifyArgs),
    /// Exit 0 only when an attestation of the type, signed with the key, is about the image.
    VerifyAttestation(sign::VerifyAttestationArgs),
    /// Print a shell completion script (e.g. `kiln completions bash > /etc/bash_completion.d/kiln`).
    Completions(docs::CompletionsArgs),
    /// Print kiln's manual page, kiln(1), in roff (`kiln man | man -l -`).
    Man(docs::ManArgs),
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
        report::eprint_styled(&format!("error: internal error: {msg}{at}\n\nhint: this is a bug in kiln; please report it with the command you ran"));
    }));
    // Ctrl-C or SIGTERM: remove this run's staging folders and temporary files, then exit as
    // a shell expects (128 + SIGINT). What was published stays: every output is renamed whole.
    let _ = ctrlc::set_handler(|| {
        crate::oci::guard::remove_live();
        eprintln!("error: interrupted; removed this run's temporary files");
        std::process::exit(130);
    });
    crate::oci::guard::on_wait(report::note);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let color = report::color_from_args(&args);
    // Set before parsing, so clap's own errors follow NO_COLOR and --color too.
    report::init_color(color);
    let json = wants_json(&args);
    report::init_json(json);
    let cli = match command()
        .color(report::clap_color(color))
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) if json && e.use_stderr() => {
            let text = e.render().to_string();
            eprintln!("{}", render::usage_error_json(&text, 2));
            return ExitCode::from(2);
        }
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    report::init_level(match (cli.quiet, cli.verbose) {
        (true, _) => report::Level::Quiet,
        (_, true) => report::Level::Verbose,
        _ => report::Level::Normal,
    });
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let code = exit_code(&e);
            if json {
                eprintln!("{}", render::error_json(&e, code));
            } else {
                report::eprint_styled(&render::error(&e));
            }
            ExitCode::from(code)
        }
        Err(_) => ExitCode::from(101),
    }
}

/// The exit status of a failed command: [`EXIT_UNVERIFIED`] when a verification ran and
/// nothing valid was found, else 1.
fn exit_code(e: &anyhow::Error) -> u8 {
    let unverified = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::sign::store::StoreError>(),
            Some(crate::sign::store::StoreError::Unverified { .. })
        ) || c
            .downcast_ref::<crate::ops::sign::Error>()
            .is_some_and(crate::ops::sign::Error::is_unverified)
    });
    if unverified {
        EXIT_UNVERIFIED
    } else {
        1
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
        Command::Build(a) => build::build(a),
        Command::Init(a) => init::init(a),
        Command::Ldd(a) => ldd::ldd(a),
        Command::Sbom(a) => inspect::sbom(a),
        Command::Explain(a) => inspect::explain(a),
        Command::Lock(a) => lock::lock(a),
        Command::Push(a) => push::push(a),
        Command::Pull(a) => pull::pull(a),
        Command::Inspect(a) => inspect::inspect(a),
        Command::Gc(a) => gc::gc(a),
        Command::GenerateKeyPair(a) => sign::generate_key_pair(a),
        Command::Sign(a) => sign::sign(a),
        Command::Attest(a) => sign::attest(a),
        Command::Verify(a) => sign::verify(a),
        Command::VerifyAttestation(a) => sign::verify_attestation(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    }
}

/// A JSON document as kiln prints it: `schema` first, then the result's own keys.
#[derive(serde::Serialize)]
struct Doc<'a, T: serde::Serialize + ?Sized> {
    schema: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// The text of a JSON result (an object): pretty, with `schema`, ending in a newline.
fn json_text<T: serde::Serialize + ?Sized>(body: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&Doc {
        schema: crate::JSON_SCHEMA,
        body,
    })? + "\n")
}

/// Prints a JSON result on stdout (`--json`).
fn json_out<T: serde::Serialize + ?Sized>(body: &T) -> anyhow::Result<()> {
    out(&json_text(body)?)
}

/// Whether the command line asks for JSON (`--json` before any `--`): then an error is one
/// JSON object on stderr too.
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// A human-readable summary on stdout (what was built, pushed, signed, verified): not under
/// `-q`, where the exit status says it.
fn summary(text: &str) -> anyhow::Result<()> {
    if report::level() == report::Level::Quiet {
        return Ok(());
    }
    out(text)
}

fn out(text: &str) -> anyhow::Result<()> {
    let mut so = std::io::stdout().lock();
    so.write_all(text.as_bytes())?;
    so.flush()?;
    Ok(())
}
