//! Human and machine views of a Plan: the `--plan` table and `--plan --json`, and the
//! portable plan stored beside an image, written entry by entry.

use super::{EntryKind, Plan, Source};
use crate::types::LayerKind;
use serde::Serialize;
use std::fmt::Write;

/// One line per path, then one block per component with its reason:
///
/// ```text
/// /usr/lib/x86_64-linux-gnu/libc.so.6  file 0755 0:0  1.9M 3f9a01c2bd0e  libraries  hello: /usr/local/bin/hello -> libc.so.6
/// ```
pub fn table(plan: &Plan) -> String {
    let w = plan
        .entries
        .iter()
        .map(|e| e.path.as_str().len())
        .max()
        .unwrap_or(4)
        .min(72);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:w$}  {:7} {:4} {:>11} {:>7} {:12}  {:11} PROVENANCE",
        "PATH", "TYPE", "MODE", "UID:GID", "SIZE", "SHA256", "LAYER"
    );
    // A base image's entries are many and not kiln's doing: counted below, not listed.
    for e in plan
        .entries
        .iter()
        .filter(|e| e.layer != LayerKind::BaseImage)
    {
        let (size, hash) = match &e.kind {
            EntryKind::File { size, sha256, .. } => (human(*size), sha256.short()),
            _ => ("-".into(), "-".into()),
        };
        let mut prov = e.provenance.component.clone();
        if !e.provenance.needed_by.is_empty() {
            let _ = write!(prov, ": {}", e.provenance.needed_by.join(" -> "));
        }
        if let EntryKind::Symlink { target } = &e.kind {
            let _ = write!(prov, " (-> {target})");
        }
        let _ = writeln!(
            s,
            "{:w$}  {:7} {:04o} {:>11} {:>7} {:12}  {:11} {prov}",
            e.path.as_str(),
            e.kind.type_name(),
            e.mode,
            format!("{}:{}", e.uid, e.gid),
            size,
            hash,
            e.layer.as_str(),
        );
    }
    if let Some(b) = &plan.base {
        let n = plan
            .entries
            .iter()
            .filter(|e| e.layer == LayerKind::BaseImage)
            .count();
        let _ = writeln!(
            s,
            "\nBASE {} ({}, {}): {n} entries in {} layers, not listed (`kiln explain` shows one)",
            b.reference,
            b.digest,
            b.platform,
            b.layers.len()
        );
        if plan.run.changes.is_empty() {
            let _ = writeln!(s, "  config: the base's, unchanged");
        }
        for c in &plan.run.changes {
            let _ = writeln!(s, "  config {c}");
        }
    }
    let _ = writeln!(s, "\nCOMPONENTS");
    for c in &plan.components {
        let n = plan
            .entries
            .iter()
            .filter(|e| e.provenance.component == c.name && !matches!(e.kind, EntryKind::Dir))
            .count();
        let _ = writeln!(
            s,
            "  {} ({}, {} layer, {n} {})",
            c.name,
            c.kind,
            c.layer.as_str(),
            if n == 1 {
                "file or link"
            } else {
                "files and links"
            }
        );
        let _ = writeln!(s, "    why: {}", c.why);
        if let Some(o) = &c.ownership.owner {
            let _ = writeln!(s, "    owner: {o}");
        }
        if !c.ownership.capabilities.is_empty() {
            let _ = writeln!(
                s,
                "    capabilities: {}",
                c.ownership.capabilities.join("; ")
            );
        }
        if let Some(o) = &c.ownership.cadence {
            let _ = writeln!(s, "    cadence: {o}");
        }
        if let Some(o) = &c.ownership.remove_when {
            let _ = writeln!(s, "    remove when: {o}");
        }
    }
    let total: u64 = plan
        .entries
        .iter()
        .map(|e| {
            if let EntryKind::File { size, .. } = e.kind {
                size
            } else {
                0
            }
        })
        .sum();
    let _ = writeln!(
        s,
        "\n{} paths, {} uncompressed",
        plan.entries.len(),
        human(total)
    );
    s
}

fn human(n: u64) -> String {
    const U: [&str; 4] = ["K", "M", "G", "T"];
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1}{}", U[i])
}

#[derive(Serialize)]
struct PlanJson<'a> {
    schema: &'static str,
    image: &'a str,
    source_date_epoch: u64,
    components: &'a [super::ComponentInfo],
    entries: Entries<'a>,
    warnings: &'a [String],
    /// The image this one is built on, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<BaseJson<'a>>,
}

#[derive(Serialize)]
struct BaseJson<'a> {
    reference: String,
    /// The image manifest used.
    digest: String,
    /// What the reference named (an index's digest for a multi-platform base).
    pinned: String,
    platform: String,
    layers: usize,
    /// What the manifest changed of the base's config.
    config_changes: &'a [String],
}

/// The entries of a Plan, each made as it is written: the JSON of a large Plan is never in
/// memory whole.
struct Entries<'a> {
    plan: &'a Plan,
    with_sources: bool,
}

impl Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.plan
                .entries
                .iter()
                .map(|e| EntryJson::of(e, self.with_sources)),
        )
    }
}

#[derive(Serialize)]
struct EntryJson<'a> {
    path: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: String,
    uid: u32,
    gid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    /// The host file the bytes come from, or "generated".
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    layer: &'static str,
    #[serde(flatten)]
    provenance: &'a super::Provenance,
}

impl<'a> EntryJson<'a> {
    fn of(e: &'a super::Entry, with_sources: bool) -> EntryJson<'a> {
        let (size, sha256, target, source) = match &e.kind {
            EntryKind::Dir => (None, None, None, None),
            EntryKind::Symlink { target } => (None, None, Some(target.as_str()), None),
            EntryKind::File {
                source,
                size,
                sha256,
                ..
            } => (
                Some(*size),
                Some(sha256.to_string()),
                None,
                with_sources.then(|| match source {
                    Source::Host(p) => p.display().to_string(),
                    Source::Inline(_) => "generated".to_string(),
                    Source::Base(_) => "base image".to_string(),
                }),
            ),
        };
        EntryJson {
            path: e.path.as_str(),
            kind: e.kind.type_name(),
            mode: format!("{:04o}", e.mode),
            uid: e.uid,
            gid: e.gid,
            size,
            sha256,
            target,
            source,
            layer: e.layer.as_str(),
            provenance: &e.provenance,
        }
    }
}

impl Plan {
    /// The Plan as pretty JSON (`kiln build --plan --json`).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(true, &mut out)
            .expect("plan JSON serialises into memory");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// The Plan as JSON without host paths, so it is the same wherever the image is built
    /// (stored beside the image for `kiln explain`).
    pub fn to_json_portable(&self) -> String {
        let mut out = Vec::new();
        self.write_json_portable(&mut out)
            .expect("plan JSON serialises into memory");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// Writes [`Plan::to_json_portable`] to `out`, entry by entry.
    pub fn write_json_portable(&self, out: impl std::io::Write) -> std::io::Result<()> {
        self.write_json(false, out)
    }

    fn write_json(&self, with_sources: bool, out: impl std::io::Write) -> std::io::Result<()> {
        let j = PlanJson {
            schema: crate::JSON_SCHEMA,
            image: &self.image.name,
            source_date_epoch: self.epoch.0,
            components: &self.components,
            entries: Entries {
                plan: self,
                with_sources,
            },
            warnings: &self.warnings,
            base: self.base.as_ref().map(|b| BaseJson {
                reference: b.reference.to_string(),
                digest: b.digest.to_string(),
                pinned: b.pinned.to_string(),
                platform: b.platform.to_string(),
                layers: b.layers.len(),
                config_changes: &self.run.changes,
            }),
        };
        Ok(serde_json::to_writer_pretty(out, &j)?)
    }
}
