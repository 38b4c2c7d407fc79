//! `kiln sbom`, `kiln explain`, `kiln lock`: reading what a build stored or would record.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::build::load_plans;
use super::out;
use crate::image::output::Output;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub(super) struct SbomArgs {
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
pub(super) struct ExplainArgs {
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
pub(super) struct LockArgs {
    /// The manifest (TOML).
    manifest: PathBuf,
    /// Print JSON: the lock file written and its counts.
    #[arg(long)]
    json: bool,
}

pub(super) fn sbom(a: SbomArgs) -> anyhow::Result<()> {
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

pub(super) fn lock(a: LockArgs) -> anyhow::Result<()> {
    let (manifests, plans) = load_plans(&a.manifest)?;
    let path = crate::lock::path_for(&a.manifest);
    let lock = crate::lock::Lock::of_all(&plans, &manifests[0].file.text);
    lock.write(&path)?;
    if a.json {
        return super::json_out(&serde_json::json!({
            "lock": path.display().to_string(),
            "inputs": lock.inputs.len(),
            "resolved_files": lock.closure.len(),
            "packages": lock.packages.len(),
        }));
    }
    super::summary(&format!(
        "wrote {} ({} inputs, {} resolved files, {} packages)\n",
        path.display(),
        lock.inputs.len(),
        lock.closure.len(),
        lock.packages.len()
    ))
}

/// The text of `kiln explain`: the entry, its component's statement, the chain, the package.
pub(super) fn explain_text(path: &str, e: &serde_json::Value, comp: &serde_json::Value) -> String {
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

pub(super) fn explain(a: ExplainArgs) -> anyhow::Result<()> {
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
        return super::json_out(&serde_json::json!({"entry": e, "component": comp}));
    }
    out(&explain_text(want.as_str(), e, &comp))
}
