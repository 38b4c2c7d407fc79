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

pub(super) fn build(mut a: BuildArgs) -> anyhow::Result<()> {
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
        let plan = with_progress(|| plan::build(manifest, &root, epoch))?;
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
    let set = with_progress(|| output::write_all(&plans, &output))
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
            report::show_progress() && !a.json,
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
            /// Every platform's warnings (`PLATFORM: ` before each when there are several):
            /// under --json they are printed nowhere else.
            warnings: Vec<String>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            platforms: Vec<PlatformSummary<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            push: Option<&'a crate::registry::Summary>,
            #[serde(skip_serializing_if = "Option::is_none")]
            replaced: Option<&'a crate::image::Replaced>,
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
        };
        return super::json_out(&s);
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
    if let (Some(r), Output::Oci { dir, .. }) = (&set.replaced, &output) {
        s += &super::gc::replaced_line(r, dir);
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

/// The manifest's Plans, one per platform it lists (one when it lists none).
pub(super) fn load_plans(
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
