//! `kiln sbom`, `kiln explain`, `kiln inspect`: reading what a build stored or would record.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::out;
use crate::ops::build::load_plans;
use crate::ops::explain::{ExplainReport, LayersExplained, Needer, PlanExplained};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub(super) struct SbomArgs {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, or
    /// docker://HOST/REPO[:TAG|@DIGEST] (kiln's SBOM artifact stored with it).
    image: String,
    /// spdx or cyclonedx.
    #[arg(long, default_value = "spdx")]
    format: String,
    /// For a multi-platform image: whose SBOM, e.g. linux/arm64 (default: this machine's
    /// platform, else the first).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    #[command(flatten)]
    registry: super::push::RegistryLogin,
}

#[derive(clap::Args, Debug)]
pub(super) struct ExplainArgs {
    /// A manifest (FILE.toml) or an image (oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE, docker://HOST/REPO[:TAG|@DIGEST]); an image kiln did not build is
    /// explained from its layers.
    target: String,
    /// The path inside the image, or a file name without `/` (a library's soname such as
    /// `libz.so.1`): the file by that name (through its links) or the library loaded by it.
    path: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// For a multi-platform image: which platform's image, e.g. linux/arm64 (default: this
    /// machine's platform, else the first).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    #[command(flatten)]
    registry: super::push::RegistryLogin,
}

#[derive(clap::Args, Debug)]
pub(super) struct InspectArgs {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE (docker save,
    /// podman save) or docker://HOST/REPO[:TAG|@DIGEST].
    image: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// For an image index: which platform's image (default: this machine's, else the first).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    #[command(flatten)]
    registry: super::push::RegistryLogin,
}

pub(super) fn sbom(a: SbomArgs) -> anyhow::Result<()> {
    let format = crate::sbom::Format::parse(&a.format).ok_or_else(|| {
        anyhow::anyhow!("unknown --format {:?}; one of: spdx, cyclonedx", a.format)
    })?;
    let req = crate::ops::sbom::SbomRequest {
        registry: registry_options(&a.image, &a.registry)?,
        image: a.image,
        format,
        platform: a.platform,
    };
    let report = crate::ops::sbom::sbom(&req)?;
    let mut so = std::io::stdout().lock();
    so.write_all(&report.document)?;
    so.flush()?;
    Ok(())
}

/// The registry options for a `docker://` reference (none for the other forms, so nothing is
/// read from stdin for them).
fn registry_options(
    image: &str,
    login: &super::push::RegistryLogin,
) -> anyhow::Result<Option<crate::registry::Options>> {
    if image.starts_with("docker://") {
        return Ok(Some(login.options(true)?));
    }
    Ok(None)
}

pub(super) fn inspect(a: InspectArgs) -> anyhow::Result<()> {
    let req = crate::ops::inspect::InspectRequest {
        registry: registry_options(&a.image, &a.registry)?,
        image: a.image,
        platform: a.platform,
    };
    let i = crate::ops::inspect::inspect(&req)?;
    if a.json {
        return super::json_out(&i);
    }
    out(&inspect_text(&i))
}

fn inspect_text(i: &crate::oci::inspect::Inspected) -> String {
    let mut s = format!("image:        {}\n", i.image);
    if let Some(d) = &i.digest {
        s += &format!("digest:       {d}\n");
    }
    s += &format!("media type:   {}\n", i.media_type);
    if let Some(x) = &i.index {
        s += &format!(
            "index:        {} (platforms: {})\n",
            x.digest,
            x.platforms.join(", ")
        );
    }
    let c = &i.config;
    s += &format!("platform:     {}/{}\n", c.os, c.architecture);
    s += &format!("config:       {}\n", i.config_digest);
    let list = |v: &Option<Vec<String>>| {
        v.as_ref().map_or("(none)".to_string(), |v| {
            serde_json::to_string(v).unwrap_or_default()
        })
    };
    s += &format!("entrypoint:   {}\n", list(&c.entrypoint));
    s += &format!("cmd:          {}\n", list(&c.cmd));
    s += &format!(
        "user:         {}\n",
        c.user.as_deref().unwrap_or("(none: root)")
    );
    s += &format!(
        "workdir:      {}\n",
        c.workdir.as_deref().unwrap_or("(none)")
    );
    if let Some(t) = &c.created {
        s += &format!("created:      {t}\n");
    }
    if !c.exposed_ports.is_empty() {
        s += &format!("ports:        {}\n", c.exposed_ports.join(", "));
    }
    s += "env:\n";
    for e in &c.env {
        s += &format!("  {e}\n");
    }
    if !c.labels.is_empty() {
        s += "labels:\n";
        for (k, v) in &c.labels {
            s += &format!("  {k}={v}\n");
        }
    }
    let total: u64 = i.layers.iter().map(|l| l.size).sum();
    s += &format!("layers:       {} ({total} bytes)\n", i.layers.len());
    for l in &i.layers {
        s += &format!("  {} {:>12} {}\n", l.digest, l.size, l.media_type);
    }
    if !i.annotations.is_empty() {
        s += "annotations:\n";
        for (k, v) in &i.annotations {
            s += &format!("  {k}={v}\n");
        }
    }
    s += &format!("referrers:    {}\n", i.referrers.len());
    for r in &i.referrers {
        s += &format!("  {:<12} {} ({})\n", r.kind, r.digest, r.found);
    }
    s
}

/// The text of `kiln explain` for one entry: the entry, its component's statement, every object
/// that needs it and the chain that first loaded it, the package.
pub(super) fn explain_text(
    path: &str,
    e: &serde_json::Value,
    comp: &serde_json::Value,
    needers: &[Needer],
) -> String {
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
        ("remove_when", "remove when"),
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
    let own = e["component"].as_str().unwrap_or("");
    let needer = |n: &Needer| match n.component.as_str() {
        c if c == own || c.is_empty() => n.path.clone(),
        c => format!("{} (component `{c}`)", n.path),
    };
    match needers {
        [] => {}
        [one] => t += &format!("  needed by: {}\n", needer(one)),
        many => {
            // libc's needers include every gconv module: the text shows the first ones (the
            // closure's order: programs and their direct libraries first), `--json` all.
            const SHOWN: usize = 20;
            t += &format!("  needed by {} objects:\n", many.len());
            for n in many.iter().take(SHOWN) {
                t += &format!("    {}\n", needer(n));
            }
            if many.len() > SHOWN {
                t += &format!(
                    "    and {} more (`--json` lists every one)\n",
                    many.len() - SHOWN
                );
            }
        }
    }
    if let Some(chain) = e["needed_by"].as_array().filter(|c| !c.is_empty()) {
        let names: Vec<&str> = chain.iter().rev().filter_map(|c| c.as_str()).collect();
        t += &format!("  chain: {}\n", names.join(" ← "));
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

pub(super) fn explain(a: ExplainArgs) -> anyhow::Result<()> {
    let is_image = ["oci:", "oci-archive:", "docker-archive:", "docker://"]
        .iter()
        .any(|p| a.target.starts_with(p));
    let plan = if is_image {
        None
    } else {
        Some(manifest_plan(&a.target, a.platform.as_deref())?)
    };
    let req = crate::ops::explain::ExplainRequest {
        registry: registry_options(&a.target, &a.registry)?,
        target: a.target,
        plan,
        path: a.path,
        platform: a.platform,
    };
    match crate::ops::explain::explain(&req)? {
        ExplainReport::Plan(p) if a.json => super::json_out(&p.to_json()),
        ExplainReport::Plan(p) => out(&plan_text(&p)),
        ExplainReport::Layers(l) if a.json => super::json_out(&l),
        ExplainReport::Layers(l) => out(&layers_text(&l)),
    }
}

/// The portable plan of the manifest `path` (of `platform` when it lists several).
fn manifest_plan(path: &str, platform: Option<&str>) -> anyhow::Result<Value> {
    let (manifests, mut plans) = load_plans(Path::new(path))?;
    let i = match platform {
        None => 0,
        Some(want) => manifests
            .iter()
            .position(|m| {
                m.image
                    .platform
                    .as_ref()
                    .is_some_and(|p| p.to_string() == *want)
            })
            .ok_or_else(|| anyhow::anyhow!("{path} lists no platform {want}"))?,
    };
    Ok(serde_json::from_str(
        &plans.swap_remove(i).to_json_portable(),
    )?)
}

/// The text of `kiln explain` from a plan: the links that named the entry, then the entry.
fn plan_text(p: &PlanExplained) -> String {
    let mut text = String::new();
    for l in &p.links {
        text += &explain_text(
            l.entry["path"].as_str().unwrap_or(""),
            &l.entry,
            &l.component,
            &l.needers,
        );
        text.push('\n');
    }
    text += &explain_text(
        p.entry.entry["path"].as_str().unwrap_or(""),
        &p.entry.entry,
        &p.entry.component,
        &p.entry.needers,
    );
    text
}

/// The text of `kiln explain` from an image's layers: the links on the way, then the entry
/// (or the layer that removed it).
fn layers_text(l: &LayersExplained) -> String {
    let of = |n: usize, d: &crate::digest::Digest| format!("layer {n} of {} ({d})", l.layers.len());
    let mut text = String::new();
    for e in l.links.iter().chain(&l.entry) {
        if !text.is_empty() {
            text.push('\n');
        }
        text += &format!("{}\n  {} {} {}:{}", e.path, e.kind, e.mode, e.uid, e.gid);
        if let (Some(size), Some(d)) = (e.size, &e.sha256) {
            text += &format!(", {size} bytes, {d}");
        }
        if let Some(t) = &e.target {
            text += &format!(" -> {t}");
        }
        text += &format!(", {}\n", of(e.layer, &e.layer_digest));
        match &e.package {
            Some(p) => text += &format!("  package: {} {} ({})\n", p.name, p.version, p.arch),
            None => text += "  package: none known (no dpkg database lists it)\n",
        }
    }
    if let Some(r) = &l.removed {
        text += &format!(
            "{}\n  removed in {} by {}; layer {} wrote it\n",
            r.path,
            of(r.layer, &r.layer_digest),
            r.by,
            r.written_by
        );
    }
    text
}
