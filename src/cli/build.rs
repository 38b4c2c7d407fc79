//! `kiln build`: manifest to Plans to image outputs, the lock check, the build summary.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::push::{push_image, RegistryArgs};
use super::render;
use super::{out, report, summary};
use crate::image::output::{self, Output};
use crate::plan;
use crate::time::Epoch;
use anyhow::Context;
use std::path::{Path, PathBuf};

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
    fn name(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
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
            .map_or_else(|| PathBuf::from(self.name()), PathBuf::from)
    }
}

/// Where the manifest comes from.
enum Source {
    File(PathBuf),
    Stdin,
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

/// The manifests of `source`: one per platform it lists.
fn load_source(source: &Source) -> anyhow::Result<Vec<crate::manifest::Manifest>> {
    Ok(match source {
        Source::File(p) => crate::manifest::load_all(p)?,
        Source::Stdin => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
                .context("cannot read the manifest from stdin")?;
            crate::manifest::from_bytes(Path::new("<stdin>"), bytes, Path::new("."))?
        }
    })
}

/// The manifests `--platform` selects, in the manifest's order; all when none is named.
fn select_platforms(
    manifests: Vec<crate::manifest::Manifest>,
    wanted: &[String],
) -> anyhow::Result<Vec<crate::manifest::Manifest>> {
    if wanted.is_empty() {
        return Ok(manifests);
    }
    let listed: Vec<String> = manifests
        .iter()
        .filter_map(|m| m.image.platform.as_ref().map(|p| p.to_string()))
        .collect();
    if listed.is_empty() {
        anyhow::bail!(
            "`--platform` selects among `[image] platforms`, and the manifest lists none\n\n\
             hint: leave out `--platform`; the manifest builds one image, for the platform of its programs"
        );
    }
    for w in wanted {
        if !listed.iter().any(|l| l == w) {
            anyhow::bail!(
                "`--platform {w}` is not a platform of the manifest; it lists {}\n\n\
                 hint: name one of them, e.g. `--platform {}`",
                listed.join(", "),
                listed[0]
            );
        }
    }
    Ok(manifests
        .into_iter()
        .filter(|m| {
            m.image
                .platform
                .as_ref()
                .is_some_and(|p| wanted.iter().any(|w| *w == p.to_string()))
        })
        .collect())
}

/// Two outputs that would write the same file (or the same tag of one layout).
fn check_distinct(outputs: &[Output]) -> anyhow::Result<()> {
    let key = |o: &Output| -> (PathBuf, Option<String>) {
        let (p, tag) = match o {
            Output::Oci { dir, tag } => (dir, Some(tag.clone())),
            Output::OciArchive { file, .. } | Output::DockerArchive { file, .. } => (file, None),
        };
        (std::path::absolute(p).unwrap_or_else(|_| p.clone()), tag)
    };
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[..i] {
            let (ka, kb) = (key(a), key(b));
            // The same layout may get several tags; anything else at one path is written twice.
            let clash = ka.0 == kb.0 && (ka.1.is_none() || kb.1.is_none() || ka.1 == kb.1);
            if clash {
                anyhow::bail!(
                    "`--output {b}` and `--output {a}` write the same path\n\n\
                     hint: give each output its own file (several tags of one oci: layout are fine)"
                );
            }
        }
    }
    Ok(())
}

/// A temporary folder for the extra outputs `--push` and `--load` need.
fn scratch() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("kiln-build-")
        .tempdir()
        .context("cannot create a temporary folder")
}

/// Runs `ENGINE load -i FILE`; returns the command line it ran.
fn load_into(engine: Engine, archive: &Path) -> anyhow::Result<String> {
    let program = engine.program();
    let shown = format!(
        "{} load -i {}",
        sh_quote(&program.to_string_lossy()),
        sh_quote(&archive.to_string_lossy())
    );
    let out = std::process::Command::new(&program)
        .args(["load", "-i"])
        .arg(archive)
        .stdin(std::process::Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "cannot load the image: `{}` is not installed (no such file on PATH)\n\n\
             hint: install {} (`apt-get install {}`), or use `--load={}`, or write an archive \
             with `--output docker-archive:FILE` and load it yourself",
            program.display(),
            engine.name(),
            engine.name(),
            match engine {
                Engine::Podman => "docker",
                Engine::Docker => "podman",
            }
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot run `{shown}`")));
        }
    };
    if !out.status.success() {
        anyhow::bail!(
            "`{shown}` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(shown)
}

/// `s` as one shell word: unchanged when it has only characters no shell treats specially,
/// else in single quotes (a `'` inside as `'\''`).
pub(super) fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The "run it" lines for an image at `output` named `name`: podman first, then docker.
fn run_hint(output: &Output, name: &str) -> String {
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

/// What the lock step did, for the summary.
enum LockNote {
    Unchanged,
    Wrote(PathBuf),
    Updated(PathBuf, usize),
}

pub(super) fn build(mut a: BuildArgs) -> anyhow::Result<()> {
    let source = match a.manifest.take() {
        Some(p) if p.as_os_str() == "-" => Source::Stdin,
        given => Source::File(manifest_or_default(given)?),
    };
    let epoch = Epoch::from_env()?;
    let mut outputs = a
        .output
        .iter()
        .map(|o| Output::parse(o))
        .collect::<Result<Vec<_>, _>>()?;
    check_distinct(&outputs)?;
    let push_to = a
        .push
        .as_deref()
        .map(crate::registry::Reference::parse)
        .transpose()?;
    let all = load_source(&source)?;
    let listed = all.len();
    let several_platforms = listed > 1;
    let manifests = select_platforms(all, &a.platform)?;
    let access = base_access(&a.registry)?;
    let mut plans = Vec::new();
    for manifest in &manifests {
        let root = root_of(manifest)?;
        let open = base_opener(manifest, &access);
        let plan = with_progress(|| plan::build_with(manifest, &root, epoch, Some(&open)))?;
        for w in &plan.warnings {
            match &manifest.image.platform {
                Some(p) => report::warning(&format!("{p}: {w}")),
                None => report::warning(w),
            }
        }
        plans.push(plan);
    }
    let manifest = &manifests[0];
    // --locked holds for --plan too: the plan shown is the one the lock allows.
    let lock_path = match (&a.lock, &source) {
        (Some(p), _) => Some(p.clone()),
        (None, Source::File(m)) => Some(crate::lock::path_for(m)),
        (None, Source::Stdin) => None,
    };
    let accept = match &source {
        Source::File(m) => format!("kiln lock {}", sh_quote(&m.to_string_lossy())),
        Source::Stdin => "kiln build - --lock FILE".to_string(),
    };
    let new_lock = crate::lock::Lock::of_platforms(&plans, &manifest.file.text, several_platforms);
    // A build of some platforms only checks their part of the lock and does not rewrite it.
    let partial = plans.len() < listed;
    if a.locked {
        let Some(lock_path) = &lock_path else {
            anyhow::bail!(
                "--locked needs a lock, and a manifest read from stdin has none\n\n\
                 hint: name one with `--lock FILE`"
            );
        };
        let old =
            crate::lock::Lock::read(lock_path)?.ok_or_else(|| crate::lock::Error::Missing {
                path: lock_path.clone(),
                accept: accept.clone(),
            })?;
        let old = if partial {
            old.restricted_to(&new_lock)
        } else {
            old
        };
        let changes = old.changes(&new_lock);
        if !changes.is_empty() {
            return Err(crate::lock::Error::Drift {
                path: lock_path.clone(),
                changes,
                accept,
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
    if let (Some(e), true) = (a.load, plans.len() > 1) {
        anyhow::bail!(
            "`--load` loads one platform's image, and the manifest builds {}\n\n\
             hint: pick one with `--platform`, e.g. `--load={} --platform {}`",
            render::count(plans.len(), "platform", "platforms"),
            e.name(),
            manifests[0]
                .image
                .platform
                .as_ref()
                .map_or(String::new(), |p| p.to_string())
        );
    }
    if outputs.is_empty() {
        outputs.push(Output::default_for(&plan.image.name));
    }
    let shown = outputs.len();
    let first_tag = outputs
        .iter()
        .find_map(|o| match o {
            Output::Oci { tag, .. } | Output::OciArchive { tag, .. } => Some(tag.clone()),
            Output::DockerArchive { reference, .. } => reference
                .as_deref()
                .and_then(|r| r.rsplit_once(':'))
                .map(|(_, t)| t.to_string()),
        })
        .unwrap_or_else(|| "latest".into());
    // Extra outputs in a temporary folder: a layout to push from when every output is a
    // docker-archive, an archive to load.
    let tmp = match (&push_to, a.load) {
        (None, None) => None,
        _ => Some(scratch()?),
    };
    let mut push_from = outputs
        .iter()
        .find(|o| !matches!(o, Output::DockerArchive { .. }))
        .cloned();
    if let (Some(_), None, Some(t)) = (&push_to, &push_from, &tmp) {
        let o = Output::Oci {
            dir: t.path().join("push"),
            tag: first_tag.clone(),
        };
        outputs.push(o.clone());
        push_from = Some(o);
    }
    let load_ref = format!("{}:{first_tag}", plan.image.name);
    let load_archive = match (a.load, &tmp) {
        (Some(_), Some(t)) => {
            let file = t.path().join("load.tar");
            outputs.push(Output::DockerArchive {
                file: file.clone(),
                reference: Some(load_ref.clone()),
            });
            Some(file)
        }
        _ => None,
    };
    let sets = with_progress(|| output::write_each(&plans, &outputs))
        .with_context(|| format!("cannot build image `{}`", plan.image.name))?;
    let set = &sets[0];
    let lock_note = match &lock_path {
        Some(p) if !a.locked && !partial => {
            let old = crate::lock::Lock::read(p).ok().flatten();
            match old {
                Some(old) if old == new_lock => LockNote::Unchanged,
                Some(old) => {
                    new_lock.write(p)?;
                    LockNote::Updated(p.clone(), old.changes(&new_lock).len())
                }
                None => {
                    new_lock.write(p)?;
                    LockNote::Wrote(p.clone())
                }
            }
        }
        _ => LockNote::Unchanged,
    };
    match &lock_note {
        LockNote::Unchanged => {}
        LockNote::Wrote(p) => report::note(&format!("wrote {}", p.display())),
        LockNote::Updated(p, n) => report::note(&format!(
            "updated {} ({})",
            p.display(),
            render::count(*n, "change", "changes")
        )),
    }
    let built = &set.images[0];
    let compressed: u64 = set
        .images
        .iter()
        .flat_map(|b| b.layers.iter())
        .map(|l| l.size)
        .sum();
    let pushed = match (&push_to, &push_from) {
        (Some(dest), Some(src)) => Some(push_image(
            src,
            dest,
            &a.registry,
            report::show_progress() && !a.json,
        )?),
        _ => None,
    };
    let loaded = match (a.load, &load_archive) {
        (Some(engine), Some(file)) => Some(load_into(engine, file)?),
        _ => None,
    };
    drop(tmp);
    let outputs = &outputs[..shown];
    if a.json {
        #[derive(serde::Serialize)]
        struct Summary<'a> {
            /// The first output.
            output: String,
            /// Every output (`--output` repeated), the first included.
            outputs: Vec<String>,
            /// What the tag points at: the image manifest, or the index of a multi-platform
            /// build.
            manifest: &'a crate::image::Descriptor,
            config: &'a crate::image::Descriptor,
            layers: Vec<LayerSummary>,
            /// Every platform's warnings (`PLATFORM: ` before each when there are several):
            /// under --json they are printed nowhere else.
            warnings: Vec<String>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            platforms: Vec<PlatformSummary<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            push: Option<&'a crate::registry::Summary>,
            #[serde(skip_serializing_if = "Option::is_none")]
            replaced: Option<&'a crate::image::Replaced>,
            load: Option<LoadSummary>,
        }
        #[derive(serde::Serialize)]
        struct LoadSummary {
            engine: &'static str,
            command: String,
            image: String,
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
            output: outputs[0].to_string(),
            outputs: outputs.iter().map(|o| o.to_string()).collect(),
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
            warnings: manifests
                .iter()
                .zip(&plans)
                .flat_map(|(m, p)| {
                    let several = plans.len() > 1;
                    p.warnings.iter().map(move |w| match &m.image.platform {
                        Some(pf) if several => format!("{pf}: {w}"),
                        _ => w.clone(),
                    })
                })
                .collect(),
            push: pushed.as_ref(),
            replaced: set.replaced.as_ref(),
            load: match (a.load, &loaded) {
                (Some(e), Some(c)) => Some(LoadSummary {
                    engine: e.name(),
                    command: c.clone(),
                    image: load_ref.clone(),
                }),
                _ => None,
            },
        };
        return super::json_out(&s);
    }
    let mut s = if set.images.len() > 1 {
        format!(
            "built `{}` for {} platforms: {}, {:.1} MiB compressed in all\n",
            plan.image.name,
            set.images.len(),
            render::count(
                plans.iter().map(|p| p.entries.len()).sum::<usize>(),
                "path",
                "paths"
            ),
            compressed as f64 / 1048576.0,
        )
    } else {
        format!(
            "built `{}`: {}, {}, {:.1} MiB compressed\n",
            plan.image.name,
            render::count(built.layers.len(), "layer", "layers"),
            render::count(plan.entries.len(), "path", "paths"),
            compressed as f64 / 1048576.0,
        )
    };
    for o in outputs {
        s += &format!("  output    {o}\n");
    }
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
    if let (Some(r), Output::Oci { dir, .. }) = (&set.replaced, &outputs[0]) {
        s += &super::gc::replaced_line(r, dir);
    }
    if let Some(p) = &pushed {
        s += &format!("  pushed    {}\n", p.reference);
    }
    if let (Some(c), Some(e)) = (&loaded, a.load) {
        s += &format!("  loaded    {load_ref} into {} ({c})\n", e.name());
    }
    let runnable = plan.image.entrypoint.is_some() || plan.image.cmd.is_some();
    if runnable {
        match (&pushed, a.load) {
            (Some(p), _) => {
                let r = sh_quote(&p.reference);
                s += &format!("run it:\n  podman run --rm {r}\n  docker run --rm {r}\n");
            }
            (None, Some(e)) => {
                s += &format!("run it:\n  {} run --rm {}\n", e.name(), sh_quote(&load_ref));
            }
            (None, None) => s += &run_hint(&outputs[0], &plan.image.name),
        }
    }
    summary(&s)
}

/// Runs `f` with build progress shown as `-q`, `-v` and the terminal allow.
fn with_progress<R>(f: impl FnOnce() -> R) -> R {
    match report::Bars::for_this_run() {
        Some(p) => crate::progress::scope(p, f),
        None => f(),
    }
}

/// The root a manifest's libraries are resolved in: its `sysroot`, else `/`.
pub(super) fn root_of(manifest: &crate::manifest::Manifest) -> anyhow::Result<PathBuf> {
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

/// The manifest's Plans, one per platform it lists (one when it lists none). A base image is
/// read with the default access (loopback over HTTP, others over HTTPS; credentials from the
/// user's auth files).
pub(super) fn load_plans(
    manifest_path: &Path,
) -> anyhow::Result<(Vec<crate::manifest::Manifest>, Vec<plan::Plan>)> {
    let epoch = Epoch::from_env()?;
    let manifests = crate::manifest::load_all(manifest_path)?;
    let access = crate::base::Access {
        insecure: false,
        cert_dir: None,
        credentials: None,
    };
    let mut plans = Vec::new();
    for m in &manifests {
        let open = base_opener(m, &access);
        plans.push(plan::build_with(m, &root_of(m)?, epoch, Some(&open))?);
    }
    Ok((manifests, plans))
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

/// Opens `manifest`'s base image (if it names one) for the platform the Plan asks for, from
/// kiln's cache (`$KILN_CACHE_DIR`).
fn base_opener<'a>(
    manifest: &'a crate::manifest::Manifest,
    access: &'a crate::base::Access,
) -> impl Fn(
    Option<crate::types::Platform>,
) -> Result<std::sync::Arc<crate::base::Base>, crate::base::Error>
       + 'a {
    move |platform| {
        let spec = manifest
            .image
            .base
            .as_ref()
            .map_or("", |b| b.reference.as_str());
        let r = crate::base::BaseRef::parse(spec)?;
        crate::base::open(&r, platform, access, &crate::base::cache_dir()).map(std::sync::Arc::new)
    }
}
