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

const AFTER_HELP: &str = "\
Examples:
  kiln init target/release/app --why \"the service this image runs\"   # writes kiln.toml
  kiln build kiln.toml                                  # -> oci:out/app:latest
  kiln build kiln.toml --plan                           # every path and why it ships
  kiln build kiln.toml --output oci-archive:app.tar:v1  # or docker-archive:app.tar:app:v1";

/// Build minimal, hardened, reproducible OCI images without Docker, with a reason for every file.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, about, after_help = AFTER_HELP, propagate_version = true)]
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
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// The manifest (TOML) to build.
    manifest: PathBuf,
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
    let cli = match Cli::try_parse() {
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
    }
}

fn out(text: &str) -> anyhow::Result<()> {
    let mut so = std::io::stdout().lock();
    so.write_all(text.as_bytes())?;
    so.flush()?;
    Ok(())
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    let epoch = Epoch::from_env()?;
    let output = a.output.as_deref().map(Output::parse).transpose()?;
    let manifest = crate::manifest::load(&a.manifest)?;
    let plan = plan::build(&manifest, Path::new("/"), epoch)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    if a.plan {
        return out(&if a.json {
            plan.to_json() + "\n"
        } else {
            plan::table(&plan)
        });
    }
    let output = output.unwrap_or_else(|| Output::default_for(&plan.image.name));
    let built = output::write(&plan, &output)
        .with_context(|| format!("cannot build image `{}`", plan.image.name))?;
    let compressed: u64 = built.layers.iter().map(|l| l.size).sum();
    if a.json {
        #[derive(serde::Serialize)]
        struct Summary<'a> {
            output: String,
            manifest: &'a crate::image::Descriptor,
            config: &'a crate::image::Descriptor,
            layers: Vec<LayerSummary>,
            warnings: &'a [String],
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
            manifest: &built.manifest,
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
        };
        return out(&(serde_json::to_string_pretty(&s)? + "\n"));
    }
    let mut s = format!(
        "built `{}`: {} layers, {} paths, {:.1} MiB compressed\n  output    {output}\n  manifest  {}\n",
        plan.image.name,
        built.layers.len(),
        plan.entries.len(),
        compressed as f64 / 1048576.0,
        built.manifest.digest
    );
    for l in &built.layers {
        s += &format!(
            "  layer     {} {:>9} bytes  {}\n",
            l.digest,
            l.size,
            l.kind.as_str()
        );
    }
    if let (Output::Oci { dir, tag }, Some(_)) = (&output, &plan.image.entrypoint) {
        let ep = plan
            .image
            .entrypoint
            .as_ref()
            .map(|e| e.join(" "))
            .unwrap_or_default();
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
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiln-init-")
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
