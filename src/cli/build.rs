//! `kiln build`: the flags as an `ops::build` request, the manifest read from stdin, and the
//! report printed: warnings, the plan (`--plan`), the lock note, the summary (text or
//! `--json`) and the run hint.
//!
//! Owns: what `kiln build` prints and which program `--load` runs. Does not own: the build's
//! steps (`ops::build`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::push::RegistryArgs;
use super::render;
use super::{out, report, summary};
use crate::image::output::Output;
use crate::ops::build::{self as ops, sh_quote, BuildReport, Built, LockNote, PlatformPlan};
use crate::plan;
use crate::time::Epoch;
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct BuildArgs {
    /// The manifest (TOML) to build [default: ./kiln.toml]; `-` reads it from stdin (relative
    /// `from` paths are then relative to the working directory, and there is no lock unless
    /// `--lock FILE` names one).
    manifest: Option<PathBuf>,
    /// Where to write the image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or
    /// docker-archive:FILE[:NAME[:TAG]]. Default: oci:out/NAME:latest, NAME from [image].
    /// Repeat it for several tags or forms: the layers are compressed once and every output
    /// holds the same image manifest.
    #[arg(short, long, value_name = "SPEC")]
    output: Vec<String>,
    /// Build only these platforms of a manifest's `[image] platforms` (repeat it, or separate
    /// them by commas); one platform gives a single-platform image, not an index.
    #[arg(long, value_name = "OS/ARCH", value_delimiter = ',')]
    platform: Vec<String>,
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
    /// The lock file to check and update [default: NAME.lock beside NAME.toml; none for a
    /// manifest read from stdin].
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// After building, push the image to docker://HOST[:PORT]/REPO[:TAG] (like `kiln push`).
    /// With several outputs the first oci: or oci-archive: one is pushed (a temporary layout
    /// when there are only docker-archive: outputs).
    #[arg(long, value_name = "REF")]
    push: Option<String>,
    /// After building, load the image into a local engine without a registry: writes a
    /// temporary docker-archive and runs `podman load -i FILE` (`--load=docker`: `docker
    /// load -i FILE`). The image is NAME:TAG (TAG of the first output, else latest).
    /// KILN_PODMAN / KILN_DOCKER name the program to run instead (for tests and CI, e.g. a
    /// wrapper adding `--root`).
    #[arg(long, value_name = "ENGINE", num_args = 0..=1, require_equals = true, default_missing_value = "podman")]
    load: Option<Engine>,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// A local container engine `--load` hands the image to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Engine {
    Podman,
    Docker,
}

impl Engine {
    fn op(self) -> ops::Engine {
        match self {
            Engine::Podman => ops::Engine::Podman,
            Engine::Docker => ops::Engine::Docker,
        }
    }

    /// The program to run: the engine's name, or the override in `KILN_PODMAN`/`KILN_DOCKER`.
    fn program(self) -> PathBuf {
        let var = match self {
            Engine::Podman => "KILN_PODMAN",
            Engine::Docker => "KILN_DOCKER",
        };
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(self.op().name()), PathBuf::from)
    }
}

/// The manifest `kiln build` reads: the one named, else `./kiln.toml`.
pub(super) fn manifest_or_default(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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

/// The "run it" lines for an image at `output` named `name`: podman first, then docker.
fn run_hint_output(output: &Output, name: &str) -> String {
    let word = |o: &Output| sh_quote(&o.to_string());
    let (podman, docker) = match output {
        Output::Oci { tag, .. } | Output::OciArchive { tag, .. } => {
            let local = format!("{name}:{tag}");
            (
                format!("podman run --rm {}", word(output)),
                format!(
                    "skopeo copy {} docker-daemon:{} && docker run --rm {}",
                    word(output),
                    sh_quote(&local),
                    sh_quote(&local)
                ),
            )
        }
        Output::DockerArchive { file, reference } => {
            let local = reference
                .clone()
                .unwrap_or_else(|| format!("{name}:latest"));
            (
                format!("podman run --rm {}", word(output)),
                format!(
                    "docker load -i {} && docker run --rm {}",
                    sh_quote(&file.to_string_lossy()),
                    sh_quote(&local)
                ),
            )
        }
    };
    format!("run it:\n  {podman}\n  {docker}\n")
}

/// How `kiln build` reaches a base image's registry: its TLS flags; never the credentials
/// given for `--push` (they belong to that registry; a base's come from the user's auth
/// files for its own host).
fn base_access(registry: &RegistryArgs) -> anyhow::Result<crate::base::Access> {
    let o = registry.tls_only()?;
    Ok(crate::base::Access {
        insecure: o.insecure,
        cert_dir: o.cert_dir,
        credentials: None,
    })
}

/// The request `a` asks for. Reads the manifest from stdin for `-`, and a password from stdin
/// for `--push --password-stdin`.
fn request(mut a: BuildArgs) -> anyhow::Result<(ops::BuildRequest, Render)> {
    let source = match a.manifest.take() {
        Some(p) if p.as_os_str() == "-" => None,
        given => Some(manifest_or_default(given)?),
    };
    let epoch = Epoch::from_env()?;
    let outputs = a
        .output
        .iter()
        .map(|o| Output::parse(o))
        .collect::<Result<Vec<_>, _>>()?;
    let push_to = a
        .push
        .as_deref()
        .map(crate::registry::Reference::parse)
        .transpose()?;
    let lock_path = match (&a.lock, &source) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(m)) => Some(crate::lock::path_for(m)),
        (None, None) => None,
    };
    let manifest = match source {
        Some(p) => ops::ManifestSource::File(p),
        None => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
                .context("cannot read the manifest from stdin")?;
            ops::ManifestSource::Stdin(bytes)
        }
    };
    let base = base_access(&a.registry)?;
    let push = match push_to {
        None => None,
        Some(destination) => Some(push_of(destination, &a.registry, a.json)?),
    };
    let req = ops::BuildRequest {
        manifest,
        outputs,
        platforms: a.platform,
        lock_policy: match a.locked {
            true => ops::LockPolicy::Locked,
            false => ops::LockPolicy::Update,
        },
        lock_path,
        plan_only: a.plan,
        push,
        load: a.load.map(|e| ops::Load {
            engine: e.op(),
            program: e.program(),
        }),
        base,
        epoch,
    };
    Ok((req, Render { json: a.json }))
}

/// The push `--push` asks for, with bars unless `-q`, `--json` or no terminal.
fn push_of(
    destination: crate::registry::Reference,
    r: &RegistryArgs,
    json: bool,
) -> anyhow::Result<ops::Push> {
    let mut registry = r.options(false)?;
    if report::show_progress() && !json {
        registry.progress = crate::registry::ProgressSink(std::sync::Arc::new(
            super::push::Bars::with_prefix("pushing"),
        ));
    }
    Ok(ops::Push {
        destination,
        registry,
        image_refs: r.image_refs.clone(),
    })
}

/// How the report is printed.
struct Render {
    json: bool,
}

/// The build's progress for this terminal (bars when shown), and its warnings printed as the
/// op says them (not under `--json`, whose summary lists them): a build that fails after
/// planning has still shown them.
struct Receiver {
    bars: Option<std::sync::Arc<dyn crate::progress::Progress>>,
    json: bool,
}

impl crate::progress::Progress for Receiver {
    fn event(&self, e: crate::progress::Event<'_>) {
        match e {
            crate::progress::Event::Warning(w) if !self.json => report::warning(w),
            crate::progress::Event::Warning(_) => {}
            other => {
                if let Some(b) = &self.bars {
                    b.event(other);
                }
            }
        }
    }
}

pub(super) fn build(a: BuildArgs) -> anyhow::Result<()> {
    let (req, how) = request(a)?;
    // The receiver lives on this thread (`progress::scope` is per thread); the op's signature
    // takes an `Arc`.
    #[allow(clippy::arc_with_non_send_sync)]
    let progress = std::sync::Arc::new(Receiver {
        bars: report::Bars::for_this_run(),
        json: how.json,
    });
    let r = ops::build(&req, progress)?;
    let Some(built) = &r.built else {
        return out(&plan_text(&r.plans, how.json));
    };
    match &built.lock {
        LockNote::Unchanged => {}
        LockNote::Wrote(p) => report::note(&format!("wrote {}", p.display())),
        LockNote::Updated(p, n) => report::note(&format!(
            "updated {} ({})",
            p.display(),
            render::count(*n, "change", "changes")
        )),
    }
    if how.json {
        return super::json_out(&json_summary(&r, built));
    }
    summary(&text_summary(&r.plans, built))
}

/// `--plan`: each platform's plan as a table (after `platform P`), or its JSON.
fn plan_text(plans: &[PlatformPlan], json: bool) -> String {
    let mut text = String::new();
    for p in plans {
        if let (Some(pf), false) = (&p.platform, json) {
            text += &format!("platform {pf}\n");
        }
        text += &if json {
            p.plan.to_json() + "\n"
        } else {
            plan::table(&p.plan)
        };
    }
    text
}

/// The `--json` build summary.
#[derive(serde::Serialize)]
struct Summary<'a> {
    /// The first output.
    output: String,
    /// Every output (`--output` repeated), the first included.
    outputs: Vec<String>,
    /// What the tag points at: the image manifest, or the index of a multi-platform build.
    manifest: &'a crate::image::Descriptor,
    config: &'a crate::image::Descriptor,
    layers: Vec<LayerSummary>,
    /// Every platform's warnings (`PLATFORM: ` before each when there are several): under
    /// --json they are printed nowhere else.
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    platforms: Vec<PlatformSummary<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<&'a crate::registry::Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced: Option<&'a crate::image::Replaced>,
    load: Option<LoadSummary<'a>>,
}

#[derive(serde::Serialize)]
struct LoadSummary<'a> {
    engine: &'static str,
    command: &'a str,
    image: &'a str,
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

fn json_summary<'a>(r: &'a BuildReport, b: &'a Built) -> Summary<'a> {
    let set = &b.sets[0];
    let built = &set.images[0];
    let several = r.plans.len() > 1;
    Summary {
        output: b.outputs[0].to_string(),
        outputs: b.outputs.iter().map(|o| o.to_string()).collect(),
        manifest: &set.top,
        platforms: match set.images.len() > 1 {
            true => r
                .plans
                .iter()
                .zip(&set.images)
                .map(|(p, i)| PlatformSummary {
                    platform: p.platform.map_or(String::new(), |p| p.to_string()),
                    manifest: &i.manifest,
                    config: &i.config,
                })
                .collect(),
            false => Vec::new(),
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
        warnings: r
            .plans
            .iter()
            .flat_map(|p| {
                p.plan.warnings.iter().map(move |w| match &p.platform {
                    Some(pf) if several => format!("{pf}: {w}"),
                    _ => w.clone(),
                })
            })
            .collect(),
        push: b.pushed.as_ref(),
        replaced: set.replaced.as_ref(),
        load: b.loaded.as_ref().map(|l| LoadSummary {
            engine: l.engine.name(),
            command: &l.command,
            image: &l.image,
        }),
    }
}

/// The text summary: what was built, every output, manifest and layer, then the run hint.
fn text_summary(plans: &[PlatformPlan], b: &Built) -> String {
    let set = &b.sets[0];
    let plan = &plans[0].plan;
    let compressed: u64 = set
        .images
        .iter()
        .flat_map(|i| i.layers.iter())
        .map(|l| l.size)
        .sum();
    let mut s = if set.images.len() > 1 {
        format!(
            "built `{}` for {} platforms: {}, {:.1} MiB compressed in all\n",
            plan.image.name,
            set.images.len(),
            render::count(
                plans.iter().map(|p| p.plan.entries.len()).sum::<usize>(),
                "path",
                "paths"
            ),
            compressed as f64 / 1048576.0,
        )
    } else {
        format!(
            "built `{}`: {}, {}, {:.1} MiB compressed\n",
            plan.image.name,
            render::count(set.images[0].layers.len(), "layer", "layers"),
            render::count(plan.entries.len(), "path", "paths"),
            compressed as f64 / 1048576.0,
        )
    };
    for o in &b.outputs {
        s += &format!("  output    {o}\n");
    }
    if set.images.len() > 1 {
        s += &format!("  index     {}\n", set.top.digest);
    }
    for (p, i) in plans.iter().zip(&set.images) {
        match (&p.platform, set.images.len() > 1) {
            (Some(pf), true) => s += &format!("  manifest  {} ({pf})\n", i.manifest.digest),
            _ => s += &format!("  manifest  {}\n", i.manifest.digest),
        }
        for l in &i.layers {
            s += &format!(
                "  layer     {} {:>9} bytes  {}\n",
                l.digest,
                l.size,
                l.kind.as_str()
            );
        }
    }
    if let (Some(r), Output::Oci { dir, .. }) = (&set.replaced, &b.outputs[0]) {
        s += &super::gc::replaced_line(r, dir);
    }
    if let Some(p) = &b.pushed {
        s += &format!("  pushed    {}\n", p.reference);
    }
    if let Some(l) = &b.loaded {
        s += &format!(
            "  loaded    {} into {} ({})\n",
            l.image,
            l.engine.name(),
            l.command
        );
    }
    if plan.image.entrypoint.is_some() || plan.image.cmd.is_some() {
        s += &run_hint(b, &plan.image.name);
    }
    s
}

/// The "run it" lines: the pushed reference, else the loaded image, else the first output.
fn run_hint(b: &Built, name: &str) -> String {
    match (&b.pushed, &b.loaded) {
        (Some(p), _) => {
            let r = sh_quote(&p.reference);
            format!("run it:\n  podman run --rm {r}\n  docker run --rm {r}\n")
        }
        (None, Some(l)) => format!(
            "run it:\n  {} run --rm {}\n",
            l.engine.name(),
            sh_quote(&l.image)
        ),
        (None, None) => run_hint_output(&b.outputs[0], name),
    }
}
