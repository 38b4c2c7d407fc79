//! `kiln sbom`, `kiln explain`, `kiln inspect`: reading what a build stored or would record.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use super::build::load_plans;
use super::out;
use crate::image::output::Output;
use serde_json::Value;
use std::collections::BTreeMap;
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
    /// A manifest (FILE.toml) or an image built by kiln (oci:DIR[:TAG], ...,
    /// docker://HOST/REPO[:TAG|@DIGEST]).
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
    let bytes = read_artifact(
        &a.image,
        format.media_type(),
        a.platform.as_deref(),
        &a.registry,
    )?;
    let mut so = std::io::stdout().lock();
    so.write_all(&bytes)?;
    so.flush()?;
    Ok(())
}

/// The content of kiln's artifact of `media_type` stored with `spec`'s image. A `docker://`
/// image is pulled first (manifests, configs and artifacts; no layers) into a temporary
/// folder removed afterwards, and read from there as a layout.
fn read_artifact(
    spec: &str,
    media_type: &str,
    platform: Option<&str>,
    registry: &super::push::RegistryLogin,
) -> anyhow::Result<Vec<u8>> {
    if !spec.starts_with("docker://") {
        let image = Output::parse(spec)?;
        return Ok(crate::image::read::artifact_for(
            &image, media_type, platform,
        )?);
    }
    let source = crate::registry::Reference::parse(spec)?;
    let temp = std::env::temp_dir();
    crate::oci::guard::sweep(&temp);
    let work = crate::oci::guard::Staging::new_in(&temp)?;
    let dir = work.path().join("image");
    let req = crate::registry::pull::Request {
        source,
        destination: Output::Oci {
            dir: dir.clone(),
            tag: "latest".into(),
        },
        select: crate::registry::pull::Select::All,
        with_referrers: true,
        skip_layers: true,
    };
    crate::registry::pull::pull(&req, &registry.options(true)?)
        .map_err(anyhow::Error::from)
        .map_err(|e| e.context(format!("cannot read {spec}")))?;
    let image = Output::Oci {
        dir,
        tag: "latest".into(),
    };
    Ok(crate::image::read::artifact_for(
        &image, media_type, platform,
    )?)
}

pub(super) fn inspect(a: InspectArgs) -> anyhow::Result<()> {
    use crate::oci::inspect;
    let platform = a.platform.as_deref();
    let i = if a.image.starts_with("docker://") {
        let r = crate::registry::Reference::parse(&a.image)?;
        crate::registry::pull::inspect(&r, &a.registry.options(true)?, platform)?
    } else {
        match Output::parse(&a.image)? {
            Output::Oci { dir, tag } => inspect::layout(&dir, &tag, platform)?,
            Output::OciArchive { file, tag } => inspect::oci_archive(&file, &tag, platform)?,
            Output::DockerArchive { file, .. } => inspect::docker_archive(&file)?,
        }
    };
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
        serde_json::from_slice(&read_artifact(
            &a.target,
            crate::image::PLAN_MEDIA_TYPE,
            a.platform.as_deref(),
            &a.registry,
        )?)?
    };
    let entries = plan["entries"].as_array().cloned().unwrap_or_default();
    let by_path: BTreeMap<&str, &Value> = entries
        .iter()
        .filter_map(|e| Some((e["path"].as_str()?, e)))
        .collect();
    let found = if a.path.contains('/') {
        by_image_path(&by_path, &a.path)?
    } else {
        by_file_name(&by_path, &a.path, &a.target)?
    };
    let component = |e: &Value| {
        plan["components"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == e["component"]))
            .cloned()
            .unwrap_or_default()
    };
    let needers = needers(&by_path, found.entry);
    if a.json {
        let links: Vec<Value> = found
            .links
            .iter()
            .map(|l| serde_json::json!({"entry": l, "component": component(l)}))
            .collect();
        return super::json_out(&serde_json::json!({
            "entry": found.entry,
            "component": component(found.entry),
            "needers": needers,
            "links": links,
        }));
    }
    let mut text = String::new();
    for l in &found.links {
        let link_needers = self::needers(&by_path, l);
        text += &explain_text(
            l["path"].as_str().unwrap_or(""),
            l,
            &component(l),
            &link_needers,
        );
        text.push('\n');
    }
    text += &explain_text(
        found.entry["path"].as_str().unwrap_or(""),
        found.entry,
        &component(found.entry),
        &needers,
    );
    out(&text)
}

/// What `explain` shows: the entry asked about (for a file name, the file it names, through
/// its links), and the links that named it.
struct Found<'a> {
    entry: &'a Value,
    links: Vec<&'a Value>,
}

/// An object that needs a library (a DT_NEEDED edge, from the plan's `required_by`), with the
/// component that placed it.
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct Needer {
    path: String,
    component: String,
}

/// Every object the entry's `required_by` names, in the plan's order.
fn needers(by_path: &BTreeMap<&str, &Value>, e: &Value) -> Vec<Needer> {
    let list = e["required_by"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    list.iter()
        .filter_map(Value::as_str)
        .map(|p| Needer {
            path: p.to_string(),
            component: by_path
                .get(p)
                .and_then(|n| n["component"].as_str())
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

/// The entry at an absolute path, or an error suggesting near paths.
fn by_image_path<'a>(by_path: &BTreeMap<&str, &'a Value>, path: &str) -> anyhow::Result<Found<'a>> {
    let want = crate::types::ImagePath::parse(path).map_err(|e| anyhow::anyhow!("`{path}` {e}"))?;
    if let Some(e) = by_path.get(want.as_str()) {
        return Ok(Found {
            entry: e,
            links: vec![],
        });
    }
    let near: Vec<&str> = by_path
        .keys()
        .copied()
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
}

/// The file called `name` (a soname such as `libz.so.1`): every entry with that file name, or
/// loaded by that name (the last link of its DT_NEEDED chain), followed through symlinks in
/// the image to the file they lead to. One file: it, with the links that named it. Several
/// different files: an error listing them.
fn by_file_name<'a>(
    by_path: &BTreeMap<&str, &'a Value>,
    name: &str,
    target: &str,
) -> anyhow::Result<Found<'a>> {
    let named = |e: &Value| {
        let path = e["path"].as_str().unwrap_or("");
        let loaded_as = e["needed_by"]
            .as_array()
            .and_then(|c| c.last())
            .and_then(Value::as_str);
        e["type"] != "dir" && (path.rsplit('/').next() == Some(name) || loaded_as == Some(name))
    };
    // The file each match leads to -> the matches that lead to it.
    let mut files: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in by_path.values().copied().filter(|e| named(e)) {
        let path = e["path"].as_str().unwrap_or("");
        let real = real_path(by_path, path).unwrap_or_else(|| path.to_string());
        files.entry(real).or_default().push(e);
    }
    let mut files = files.into_iter();
    let Some((real, matches)) = files.next() else {
        let near: Vec<&str> = by_path
            .keys()
            .filter_map(|p| p.rsplit('/').next())
            .filter(|f| strsim::levenshtein(f, name) <= 2)
            .take(5)
            .collect();
        let hint = match near.as_slice() {
            [] => {
                "give a path in the image or the name of a file it has (`kiln build --plan` lists every path)"
                    .to_string()
            }
            near => format!("did you mean {}?", near.join(", ")),
        };
        anyhow::bail!("no file or library named `{name}` is in the image\n\nhint: {hint}");
    };
    let rest: Vec<(String, Vec<&Value>)> = files.collect();
    if !rest.is_empty() {
        let mut list = String::new();
        for (real, matches) in std::iter::once(&(real, matches)).chain(&rest) {
            for m in matches {
                let path = m["path"].as_str().unwrap_or("");
                if path == real {
                    list += &format!("\n  {path}");
                } else {
                    list += &format!("\n  {path} -> {real}");
                }
            }
        }
        let first = rest[0].1[0]["path"].as_str().unwrap_or("");
        anyhow::bail!(
            "`{name}` names {} different files in the image:{list}\n\nhint: name one by its path, e.g. `kiln explain {target} {first}`",
            rest.len() + 1
        );
    }
    let entry = by_path.get(real.as_str()).copied().unwrap_or(matches[0]);
    let links = matches
        .into_iter()
        .filter(|m| !std::ptr::eq(*m, entry))
        .collect();
    Ok(Found { entry, links })
}

/// The path `path` leads to inside the image, every symlink entry on the way followed (each
/// component, like the kernel, at most 40 links); `None` when it leads outside the entries.
fn real_path(by_path: &BTreeMap<&str, &Value>, path: &str) -> Option<String> {
    const MAX_LINKS: usize = 40;
    let mut links = 0;
    let mut done = String::new();
    let mut rest: std::collections::VecDeque<String> =
        path.split('/').map(str::to_string).collect();
    while let Some(part) = rest.pop_front() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                done.truncate(done.rfind('/').unwrap_or(0));
                continue;
            }
            _ => {}
        }
        let next = format!("{done}/{part}");
        let e = by_path.get(next.as_str())?;
        match e["target"].as_str().filter(|_| e["type"] == "symlink") {
            Some(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                if target.starts_with('/') {
                    done.clear();
                }
                for p in target.split('/').rev() {
                    rest.push_front(p.to_string());
                }
            }
            None => done = next,
        }
    }
    Some(if done.is_empty() { "/".into() } else { done })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn real_path_follows_links_in_every_component() {
        // `..` after a link is the parent of where the link led, as in the kernel:
        // /lib/.. is /usr.
        let entries = [
            json!({"path": "/lib", "type": "symlink", "target": "usr/lib"}),
            json!({"path": "/usr", "type": "dir"}),
            json!({"path": "/usr/lib", "type": "dir"}),
            json!({"path": "/usr/lib/libz.so.1", "type": "symlink", "target": "libz.so.1.2"}),
            json!({"path": "/usr/lib/libz.so.1.2", "type": "file"}),
            json!({"path": "/usr/lib/abs", "type": "symlink", "target": "/lib/../lib/libz.so.1"}),
            json!({"path": "/usr/lib/loop", "type": "symlink", "target": "loop"}),
            json!({"path": "/usr/lib/gone", "type": "symlink", "target": "nothing"}),
        ];
        let by_path: BTreeMap<&str, &Value> = entries
            .iter()
            .map(|e| (e["path"].as_str().unwrap(), e))
            .collect();
        let real = |p: &str| real_path(&by_path, p);
        assert_eq!(
            real("/usr/lib/libz.so.1").as_deref(),
            Some("/usr/lib/libz.so.1.2")
        );
        assert_eq!(
            real("/lib/libz.so.1").as_deref(),
            Some("/usr/lib/libz.so.1.2")
        );
        assert_eq!(
            real("/usr/lib/abs").as_deref(),
            Some("/usr/lib/libz.so.1.2")
        );
        assert_eq!(real("/usr/lib/loop"), None);
        assert_eq!(real("/usr/lib/gone"), None);
    }
}
