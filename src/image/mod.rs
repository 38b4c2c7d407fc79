//! The OCI image around the layers: config, manifest and index, and the output forms.
//!
//! Owns: the OCI JSON types (serialised once, from typed structs with a fixed key order and
//! sorted maps), the config view of the Plan (Entrypoint, Cmd, Env with PATH and
//! SSL_CERT_FILE, User, WorkingDir, ExposedPorts, Labels, `created`, history), and writing
//! an image as an OCI layout, oci-archive or docker-archive (`output`).
//! Invariant: the bytes hashed are the bytes written; outputs appear atomically.

pub mod output;
pub mod read;

use crate::digest::Digest;
use crate::layer::Layer;
use crate::plan::Plan;
use crate::types::LayerKind;
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::oci::{
    Descriptor, Platform, CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, REF_NAME,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageManifest {
    pub(crate) schema_version: u32,
    pub(crate) media_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) artifact_type: Option<String>,
    pub(crate) config: Descriptor,
    pub(crate) layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub(crate) schema_version: u32,
    pub(crate) media_type: &'static str,
    pub(crate) manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
pub(crate) struct Config {
    pub(crate) created: String,
    pub(crate) architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) variant: Option<String>,
    pub(crate) os: &'static str,
    pub(crate) config: RunConfig,
    pub(crate) rootfs: RootFs,
    pub(crate) history: Vec<History>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RunConfig {
    pub(crate) user: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) exposed_ports: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) working_dir: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) labels: BTreeMap<String, String>,
    /// A base image's, kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stop_signal: Option<String>,
    /// A base image's, kept.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) volumes: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Serialize)]
pub(crate) struct RootFs {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) diff_ids: Vec<Digest>,
}

/// One step of the image's history: kiln's layers always say all three; a base image's
/// steps are kept as they were (some without a time, some that made no layer).
#[derive(Serialize)]
pub(crate) struct History {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) comment: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) empty_layer: bool,
}

/// The OCI platform of a Plan: the one the Plan decided (`Plan::platform`).
pub fn platform(plan: &Plan) -> Platform {
    let p = plan.platform;
    Platform {
        architecture: p.architecture().into(),
        os: p.os().into(),
        variant: p.variant().map(str::to_string),
    }
}

/// The config JSON for `plan` with `layers` (a base image's first, then kiln's): a pure view
/// of the Plan's decisions (`Plan::run`, `Plan::platform`, the base's history).
pub(crate) fn config(plan: &Plan, layers: &[Layer]) -> Config {
    let created = plan.epoch.rfc3339();
    let p = platform(plan);
    let run = &plan.run;
    let mut history: Vec<History> = plan
        .base
        .iter()
        .flat_map(|b| b.config.history.iter())
        .map(|h| History {
            created: h.created.clone(),
            created_by: h.created_by.clone(),
            comment: h.comment.clone(),
            empty_layer: h.empty_layer,
        })
        .collect();
    history.extend(
        layers
            .iter()
            .filter(|l| l.kind != LayerKind::BaseImage)
            .map(|l| History {
                created: Some(created.clone()),
                created_by: Some(format!("kiln build: {} layer", l.kind.as_str())),
                comment: Some(layer_comment(plan, l.kind)),
                empty_layer: false,
            }),
    );
    Config {
        created: created.clone(),
        architecture: p.architecture,
        variant: p.variant,
        os: "linux",
        config: RunConfig {
            user: format!("{}:{}", run.user.0, run.user.1),
            exposed_ports: run
                .ports
                .iter()
                .map(|p| (p.clone(), BTreeMap::new()))
                .collect(),
            env: run.env.clone(),
            entrypoint: run.entrypoint.clone(),
            cmd: run.cmd.clone(),
            working_dir: run.workdir.clone(),
            labels: run.labels.clone(),
            stop_signal: run.stop_signal.clone(),
            volumes: run
                .volumes
                .iter()
                .map(|v| (v.clone(), BTreeMap::new()))
                .collect(),
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        },
        history,
    }
}

fn layer_comment(plan: &Plan, kind: LayerKind) -> String {
    let mut names: Vec<&str> = plan
        .components
        .iter()
        .filter(|c| c.layer == kind)
        .map(|c| c.name.as_str())
        .collect();
    if kind == LayerKind::Libraries {
        names = plan
            .entries
            .iter()
            .filter(|e| e.layer == kind)
            .map(|e| e.provenance.component.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return format!("shared libraries resolved for: {}", names.join(", "));
    }
    format!("components: {}", names.join(", "))
}

/// `OS/ARCH[/VARIANT]` of an index entry (a descriptor with `platform`), as `--platform` names
/// it.
pub fn platform_name(descriptor: &serde_json::Value) -> String {
    let p = &descriptor["platform"];
    let mut n = format!(
        "{}/{}",
        p["os"].as_str().unwrap_or(""),
        p["architecture"].as_str().unwrap_or("")
    );
    if let Some(v) = p["variant"].as_str() {
        n += &format!("/{v}");
    }
    n
}

/// JSON bytes as kiln writes them: compact, keys in struct order or sorted.
pub fn to_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("OCI JSON serialises")
}

/// A built image: what was written and its identity.
#[derive(Clone, Debug)]
pub struct Built {
    /// The image manifest's descriptor.
    pub manifest: Descriptor,
    /// The config blob's descriptor.
    pub config: Descriptor,
    /// The layers, bottom to top (a base image's first).
    pub layers: Vec<Layer>,
    /// Artifact manifests whose subject is the image (SBOMs, the plan); `manifest` names
    /// each by an [`crate::oci::ARTIFACT_ANNOTATIONS`] annotation.
    pub artifacts: Vec<Descriptor>,
    /// (file name in a docker-archive, blob digest) of each artifact's content.
    pub artifact_files: Vec<(String, Digest)>,
}

/// What a build wrote: the images (one per platform) and what the tag points at (the only
/// image's manifest, or the image index over several).
#[derive(Clone, Debug)]
pub struct BuiltSet {
    /// What the tag points at: the only image's manifest, or the index over several.
    pub top: Descriptor,
    /// One image per platform, in the order of the Plans given.
    pub images: Vec<Built>,
    /// When the build moved an existing tag of an `oci:` layout: what the previous image
    /// left unreachable (`kiln gc` removes it).
    pub replaced: Option<Replaced>,
}

/// What re-tagging left behind in a layout: blobs no tag reaches any more.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Replaced {
    /// The tag that moved.
    pub tag: String,
    /// The previous image manifest (or index) the tag pointed at.
    pub previous: Digest,
    /// How many blobs only the previous image reached.
    pub unreachable_blobs: usize,
    /// Their total size in bytes.
    pub unreachable_bytes: u64,
}

/// Media type of the portable plan kiln stores beside the image (for `kiln explain`).
pub const PLAN_MEDIA_TYPE: &str = "application/vnd.kiln.plan.v1+json";
/// Media type and content of the empty config of artifact manifests (OCI 1.1).
pub(crate) const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub use crate::oci::SUBJECT_ANNOTATION;

pub(crate) fn layer_descriptor(l: &Layer) -> Descriptor {
    Descriptor {
        artifact_type: None,
        media_type: l.media_type.into(),
        digest: l.digest.clone(),
        size: l.size,
        platform: None,
        annotations: BTreeMap::new(),
    }
}
