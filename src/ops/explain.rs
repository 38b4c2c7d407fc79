//! `kiln explain`: why a path is in an image. For an image kiln built (or a manifest), from
//! its plan: the component, its statement, every object that needs it, the DT_NEEDED chain,
//! the package. For an image kiln did not build (no plan artifact: `docker save`,
//! `podman save`, a skopeo-copied layout, a registry image), from its layers: the layer that
//! last wrote the path (whiteouts honoured; a path a later layer removed says so), its type,
//! mode, owner, size, SHA-256 or link target, the links on the way, and the Debian package
//! that owns it (dpkg `status` + `info/*.list`, or distroless `status.d`).
//!
//! Owns: finding the entry (by path, or by file name or soname through the plan's links),
//! and the report of either kind.
//! Does not own: reading plans and layers (`image::read`, `oci::layers`, `registry::pull`),
//! the dpkg formats (`dpkg`), printing (`cli`).
//! Invariant: an image with a plan artifact is explained from the plan only; layers are read
//! only for an image without one, each once, streamed and checked against its digest.
//! Known gaps: an image kiln did not build is explained by absolute path only (not by file
//! name); a registry layer is streamed to a temporary file (unlinked once opened) before it
//! is read.

use super::sbom::{is_foreign, read_artifact};
use crate::digest::Digest;
use crate::oci::layers::{LayerSource, Node, Tree};
use crate::registry::Options;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What `kiln explain` asks for.
#[derive(Clone)]
pub struct ExplainRequest {
    /// The image reference as given (`oci:DIR[:TAG]`, ..., `docker://...`), or the manifest's
    /// path (then `plan` is its plan).
    pub target: String,
    /// The plan of a manifest target (the portable plan document), made by the caller.
    pub plan: Option<Value>,
    /// An absolute path in the image, or a file name or soname (plans only).
    pub path: String,
    /// For an index: which platform's image (default: this machine's, else the first).
    pub platform: Option<String>,
    /// For `docker://`: credentials and TLS.
    pub registry: Option<Options>,
}

/// What `kiln explain` found.
pub enum ExplainReport {
    /// From kiln's plan.
    Plan(PlanExplained),
    /// From the layers of an image kiln did not build.
    Layers(Box<LayersExplained>),
}

/// A plan entry with its component and needers.
pub struct PlanEntry {
    /// The entry as the portable plan has it (docs/json.md).
    pub entry: Value,
    /// Its component as the portable plan has it.
    pub component: Value,
    /// The objects that need it, with their components.
    pub needers: Vec<Needer>,
}

/// The entry asked about, and the links that named it (a file name through its links).
pub struct PlanExplained {
    /// The entry asked about.
    pub entry: PlanEntry,
    /// The symlinks that led to it, when it was asked for by file name.
    pub links: Vec<PlanEntry>,
}

impl PlanExplained {
    /// The `--json` body (docs/json.md, `explain`).
    pub fn to_json(&self) -> Value {
        let links: Vec<Value> = self
            .links
            .iter()
            .map(|l| serde_json::json!({"entry": l.entry, "component": l.component}))
            .collect();
        serde_json::json!({
            "entry": self.entry.entry,
            "component": self.entry.component,
            "needers": self.entry.needers,
            "links": links,
        })
    }
}

/// A path of an image kiln did not build, as its layers leave it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerEntry {
    /// The absolute path.
    pub path: String,
    /// `file`, `dir`, `symlink`, `hardlink` and the like, as the tar entry says.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Octal, four digits.
    pub mode: String,
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
    /// Regular files (and hard links to them).
    pub size: Option<u64>,
    /// A regular file's SHA-256.
    pub sha256: Option<Digest>,
    /// A symbolic link's target, a hard link's path.
    pub target: Option<String>,
    /// 1-based, bottom first.
    pub layer: usize,
    /// That layer's digest.
    pub layer_digest: Digest,
    /// The Debian package that owns it, from the image's dpkg database.
    pub package: Option<crate::dpkg::Identity>,
}

/// A path a later layer removed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemovedEntry {
    /// The path asked about.
    pub path: String,
    /// The layer that removed it (1-based) and its digest.
    pub layer: usize,
    /// That layer's digest.
    pub layer_digest: Digest,
    /// The whiteout entry (`/etc/.wh.motd`), opaque marker, or the non-folder that replaced it.
    pub by: String,
    /// The layer that had written it (1-based).
    pub written_by: usize,
}

/// `kiln explain` of an image kiln did not build.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayersExplained {
    /// The image reference, as given.
    pub image: String,
    /// The path asked about.
    pub path: String,
    /// What the path leads to (none when a layer removed it).
    pub entry: Option<LayerEntry>,
    /// The symbolic links followed on the way, in order.
    pub links: Vec<LayerEntry>,
    /// The later layer that removed the path, when one did.
    pub removed: Option<RemovedEntry>,
    /// Every layer's digest, bottom first.
    pub layers: Vec<Digest>,
}

/// Explains `req.path` in `req.target`: from kiln's plan when the image has one (or the target is a manifest), else from the image's layers; errors when the image cannot be read or has no such path.
pub fn explain(req: &ExplainRequest) -> anyhow::Result<ExplainReport> {
    let plan = match &req.plan {
        Some(p) => p.clone(),
        None => match read_artifact(
            &req.target,
            crate::image::PLAN_MEDIA_TYPE,
            req.platform.as_deref(),
            req.registry.as_ref(),
        ) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(e) if is_foreign(&e) => {
                return foreign(req).map(|l| ExplainReport::Layers(Box::new(l)))
            }
            Err(e) => return Err(e),
        },
    };
    from_plan(&plan, &req.path, &req.target).map(ExplainReport::Plan)
}

/// The entry `path` names in the portable plan `plan`, with its component and needers.
fn from_plan(plan: &Value, path: &str, target: &str) -> anyhow::Result<PlanExplained> {
    let entries = plan["entries"].as_array().cloned().unwrap_or_default();
    let by_path: BTreeMap<&str, &Value> = entries
        .iter()
        .filter_map(|e| Some((e["path"].as_str()?, e)))
        .collect();
    let found = if path.contains('/') {
        by_image_path(&by_path, path)?
    } else {
        by_file_name(&by_path, path, target)?
    };
    let component = |e: &Value| {
        plan["components"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == e["component"]))
            .cloned()
            .unwrap_or_default()
    };
    let entry_of = |e: &Value| PlanEntry {
        entry: e.clone(),
        component: component(e),
        needers: needers(&by_path, e),
    };
    Ok(PlanExplained {
        entry: entry_of(found.entry),
        links: found.links.iter().map(|l| entry_of(l)).collect(),
    })
}

/// Explains `req.path` from the layers of an image without a plan.
fn foreign(req: &ExplainRequest) -> anyhow::Result<LayersExplained> {
    use crate::image::output::Output;
    use crate::oci::layers::LocalLayers;
    let want = crate::types::ImagePath::parse(&req.path).map_err(|e| {
        anyhow::anyhow!(
            "`{}` {e}\n\nhint: {} was not built by kiln (it has no plan): name a path in it, such as /etc/os-release",
            req.path,
            req.target
        )
    })?;
    let platform = req.platform.as_deref();
    if req.target.starts_with("docker://") {
        let r = crate::registry::Reference::parse(&req.target)?;
        let temp = std::env::temp_dir();
        crate::oci::guard::sweep(&temp);
        let work = crate::oci::guard::Staging::new_in(&temp)?;
        let opts = req.registry.clone().unwrap_or_default();
        let source = crate::registry::pull::layers(&r, &opts, platform, work.path())?;
        return explain_layers(&source, want.as_str());
    }
    match Output::parse(&req.target)? {
        Output::Oci { dir, tag } => {
            explain_layers(&LocalLayers::layout(&dir, &tag, platform)?, want.as_str())
        }
        Output::OciArchive { file, tag } => explain_layers(
            &LocalLayers::oci_archive(&file, &tag, platform)?,
            want.as_str(),
        ),
        Output::DockerArchive { file, .. } => {
            explain_layers(&LocalLayers::docker(&file)?, want.as_str())
        }
    }
}

/// Reads every layer of `source` and explains `path` in the file system they make.
fn explain_layers(source: &dyn LayerSource, path: &str) -> anyhow::Result<LayersExplained> {
    let tree = Tree::read(source)?;
    let layers = source.digests();
    let mut links = Vec::new();
    let walked = tree.follow(path, true, &mut links);
    let mut report = LayersExplained {
        image: source.name(),
        path: path.to_string(),
        entry: None,
        links: Vec::new(),
        removed: None,
        layers: layers.clone(),
    };
    let real = match walked {
        Ok(real) => real,
        Err(missing) => {
            let Some(r) = tree.removed.get(&missing) else {
                return Err(not_there(&tree, path, &missing, &source.name()));
            };
            report.removed = Some(RemovedEntry {
                path: missing,
                layer: r.layer + 1,
                layer_digest: layers[r.layer].clone(),
                by: r.by.clone(),
                written_by: r.written_by + 1,
            });
            return Ok(report);
        }
    };
    let mut wanted: BTreeSet<String> = links.iter().cloned().collect();
    wanted.insert(real.clone());
    let files = tree.dpkg_files();
    let mut canonical = |p: &str| tree.follow(p, false, &mut Vec::new()).ok();
    let owners = crate::dpkg::owners_in(&files, &mut canonical, &wanted);
    let entry = |p: &str| {
        let root = Node {
            layer: 0,
            kind: crate::oci::layers::Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            sha256: None,
            target: None,
        };
        let n = tree.nodes.get(p).cloned().unwrap_or(root);
        layer_entry(p, &n, &layers, owners.get(p).cloned())
    };
    report.links = links.iter().map(|l| entry(l)).collect();
    report.entry = Some(entry(&real));
    Ok(report)
}

fn layer_entry(
    path: &str,
    n: &Node,
    layers: &[Digest],
    package: Option<crate::dpkg::Identity>,
) -> LayerEntry {
    use crate::oci::layers::Kind;
    let has_bytes = matches!(n.kind, Kind::File | Kind::Hardlink);
    LayerEntry {
        path: path.to_string(),
        kind: n.kind.name(),
        mode: format!("{:04o}", n.mode),
        uid: n.uid,
        gid: n.gid,
        size: has_bytes.then_some(n.size),
        sha256: n.sha256.clone(),
        target: n.target.clone(),
        layer: n.layer + 1,
        layer_digest: layers[n.layer].clone(),
        package,
    }
}

/// `path` is not in the image (`missing` is the first part of it that is not), with near
/// paths as a hint.
fn not_there(tree: &Tree, path: &str, missing: &str, image: &str) -> anyhow::Error {
    let hint = near_paths(tree.nodes.keys().map(String::as_str), path);
    let at = if missing == path {
        String::new()
    } else {
        format!(" ({missing} is not)")
    };
    anyhow::anyhow!("{path} is not in {image}{at}{hint}")
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
pub struct Needer {
    /// The object's image path.
    pub path: String,
    /// The component that placed it.
    pub component: String,
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
    let hint = near_paths(by_path.keys().copied(), want.as_str());
    anyhow::bail!("{want} is not in the image{hint}");
}

/// The `hint:` for a path the image lacks: up to five of `paths` with its file name or within
/// three edits of it; empty when none is.
fn near_paths<'a>(paths: impl Iterator<Item = &'a str>, path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let near: Vec<&str> = paths
        .filter(|p| p.rsplit('/').next() == Some(name) || strsim::levenshtein(p, path) <= 3)
        .take(5)
        .collect();
    if near.is_empty() {
        String::new()
    } else {
        format!("\n\nhint: did you mean {}?", near.join(", "))
    }
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
    let target_of = |p: &str| {
        by_path.get(p).map(|e| {
            e["target"]
                .as_str()
                .filter(|_| e["type"] == "symlink")
                .map(str::to_string)
        })
    };
    crate::types::follow_links(path, true, target_of, |_| {}).ok()
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
