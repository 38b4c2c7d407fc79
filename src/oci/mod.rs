//! The OCI model kiln reads and updates: descriptors, manifests and indexes as typed values,
//! the image layout on disk, archives of it, and the locks that keep concurrent writers from
//! losing each other's work.
//!
//! Owns: the descriptor and platform types (serialised once, fixed key order), parsing what
//! another tool may have written ([`Index`] keeps each entry's bytes as read; [`parse_manifest`]
//! tells an image manifest from an index and refuses anything else), size limits on every JSON
//! document before it is parsed, [`layout::Layout`] (every blob read is checked against its
//! descriptor: a plain file inside `blobs/`, its size, its digest), [`archive`] (tar entries
//! checked by name and type before anything is written or trusted) and [`guard`] (advisory
//! locks around the final update, staging folders cleaned up after Ctrl-C or a crash); the
//! annotation keys by which an image's descriptor names its artifacts
//! ([`ARTIFACT_ANNOTATIONS`]) and the check of an artifact ([`artifact_content`]); [`gc`]
//! (which blobs no entry reaches).
//! Does not own: what an image contains (`plan`, `layer`, `image`), the network (`registry`).
//! Invariant: nothing derived from a blob (an SBOM, a signature's subject, a pushed byte) comes
//! from bytes that were not checked against their digest; no path outside the layout folder is
//! ever opened through a name the layout holds.

pub mod archive;
pub mod config;
pub mod gc;
pub mod guard;
pub mod inspect;
pub mod layers;
pub mod layout;
pub mod tar;
pub mod transport;

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// cosign's tag for the signatures (`suffix` `sig`) or attestations (`att`) of `subject`:
/// `sha256-HEX.sig`.
pub fn cosign_tag(subject: &Digest, suffix: &str) -> String {
    format!("{}-{}.{suffix}", subject.algorithm().name(), subject.hex())
}

/// Annotation on the `index.json` entries of signatures and attestations (`sha256-HEX.sig`,
/// `.att`): the image manifest they are about. (SBOMs and the plan are not index entries: the
/// image's descriptor names them, [`ARTIFACT_ANNOTATIONS`].)
pub const SUBJECT_ANNOTATION: &str = "dev.kiln.subject";

/// The annotations kiln puts on the descriptor of each image manifest it writes (the
/// `index.json` entry of a single-platform image; each platform's entry in the image index of
/// a multi-platform one), naming the artifact manifests stored beside the image by digest:
/// (annotation key, the artifact's `artifactType`). The artifacts are not entries of
/// `index.json`, so every tool sees one image per tag; each artifact manifest keeps its
/// `subject` (the image), so a registry lists it as a referrer once pushed.
pub const ARTIFACT_ANNOTATIONS: [(&str, &str); 3] = [
    (ARTIFACT_SPDX, "application/spdx+json"),
    (ARTIFACT_CYCLONEDX, "application/vnd.cyclonedx+json"),
    (ARTIFACT_PLAN, "application/vnd.kiln.plan.v1+json"),
];
/// The SPDX 2.3 SBOM's artifact manifest (see [`ARTIFACT_ANNOTATIONS`]).
pub const ARTIFACT_SPDX: &str = "dev.kiln.artifact.spdx";
/// The CycloneDX 1.6 SBOM's artifact manifest (see [`ARTIFACT_ANNOTATIONS`]).
pub const ARTIFACT_CYCLONEDX: &str = "dev.kiln.artifact.cyclonedx";
/// The portable plan's artifact manifest (see [`ARTIFACT_ANNOTATIONS`]).
pub const ARTIFACT_PLAN: &str = "dev.kiln.artifact.plan";

/// The annotation that names the artifact of `artifact_type` on an image's descriptor.
pub fn artifact_annotation(artifact_type: &str) -> Option<&'static str> {
    ARTIFACT_ANNOTATIONS
        .iter()
        .find(|(_, t)| *t == artifact_type)
        .map(|(k, _)| *k)
}

/// The largest `index.json` kiln parses (a layout with tens of thousands of tags fits).
pub const MAX_INDEX: u64 = 16 << 20;
/// The largest manifest or index blob kiln parses (distribution refuses larger ones too).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// The largest artifact content (an SBOM, the portable plan) kiln reads into memory.
pub const MAX_ARTIFACT: u64 = 256 << 20;
/// The largest `oci-layout` file.
pub const MAX_LAYOUT_FILE: u64 = 4 << 10;

/// What can be wrong with a layout, an archive or a blob, each naming the place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an OCI image layout: {why}", path.display())]
    NotALayout {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("{} is {what}: a layout holds plain files only, and kiln does not follow links out of it", path.display())]
    NotPlain {
        path: std::path::PathBuf,
        what: &'static str,
    },
    #[error("{} has {size} bytes, more than {what} may ({max})", path.display())]
    TooLarge {
        path: std::path::PathBuf,
        what: &'static str,
        size: u64,
        max: u64,
    },
    #[error("{}: {why}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("blob {digest} is missing from {}", layout.display())]
    Missing {
        layout: std::path::PathBuf,
        digest: Digest,
    },
    #[error("blob {expected} in {} does not match its digest: its bytes hash to {actual}", layout.display())]
    DigestMismatch {
        layout: std::path::PathBuf,
        expected: Digest,
        actual: Digest,
    },
    #[error("blob {digest} in {} has {actual} bytes, its descriptor says {expected}", layout.display())]
    SizeMismatch {
        layout: std::path::PathBuf,
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("{} is not a valid tar archive (truncated, or not an image archive)", path.display())]
    NotTar { path: std::path::PathBuf },
    #[error("entry {entry:?} of {}: {why}", path.display())]
    Entry {
        path: std::path::PathBuf,
        entry: String,
        why: String,
    },
}

/// An OCI content descriptor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<Platform>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The annotation `key`, if any.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// The artifact manifests this image descriptor names ([`ARTIFACT_ANNOTATIONS`]), as
    /// (annotation key, digest); a value that is not a digest is an error naming the key.
    pub fn artifacts(&self) -> Result<Vec<(&'static str, Digest)>, String> {
        let mut out = Vec::new();
        for (key, _) in ARTIFACT_ANNOTATIONS {
            if let Some(v) = self.annotation(key) {
                let d = Digest::parse(v).ok_or_else(|| {
                    format!(
                        "the annotation `{key}` of {} is {:?}, not a digest",
                        self.digest,
                        crate::digest::shorten(v)
                    )
                })?;
                out.push((key, d));
            }
        }
        Ok(out)
    }

    /// The artifact manifest of `artifact_type` this image descriptor names, if any.
    pub fn artifact(&self, artifact_type: &str) -> Result<Option<Digest>, String> {
        let Some(key) = artifact_annotation(artifact_type) else {
            return Ok(None);
        };
        Ok(self
            .artifacts()?
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d))
    }

    /// The tag (`org.opencontainers.image.ref.name`) of an index entry.
    pub fn tag(&self) -> Option<&str> {
        self.annotation(REF_NAME)
    }

    pub fn is_index(&self) -> bool {
        is_index_type(&self.media_type)
    }

    /// `OS/ARCH[/VARIANT]`, as `--platform` names it (empty parts when there is no platform).
    pub fn platform_name(&self) -> String {
        match &self.platform {
            Some(p) => p.name(),
            None => "/".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
}

impl Platform {
    /// `OS/ARCH[/VARIANT]`.
    pub fn name(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// The manifest of `children` (an index's entries) for `want` (`OS/ARCH[/VARIANT]`), or the
/// list of the platforms there are, for a message (`linux/amd64, linux/arm64`).
pub fn find_platform<'a>(children: &'a [Descriptor], want: &str) -> Result<&'a Descriptor, String> {
    children
        .iter()
        .find(|m| m.platform_name() == want)
        .ok_or_else(|| {
            children
                .iter()
                .map(Descriptor::platform_name)
                .collect::<Vec<_>>()
                .join(", ")
        })
}

pub fn is_index_type(media_type: &str) -> bool {
    media_type == INDEX_MEDIA_TYPE || media_type == DOCKER_LIST_MEDIA_TYPE
}

pub fn is_manifest_type(media_type: &str) -> bool {
    media_type == MANIFEST_MEDIA_TYPE || media_type == DOCKER_MANIFEST_MEDIA_TYPE
}

/// A manifest blob, parsed: an image manifest (also an OCI 1.1 artifact) or an index.
#[derive(Clone, Debug)]
pub enum Manifest {
    Image {
        media_type: String,
        artifact_type: Option<String>,
        config: Box<Descriptor>,
        layers: Vec<Descriptor>,
        subject: Option<Box<Descriptor>>,
    },
    Index {
        media_type: String,
        manifests: Vec<Descriptor>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
}

impl Manifest {
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Image { media_type, .. } | Manifest::Index { media_type, .. } => media_type,
        }
    }

    /// The descriptors of the blobs an image manifest references (config first); none for an
    /// index (its children are manifests).
    pub fn blobs(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Image { config, layers, .. } => std::iter::once(config.as_ref())
                .chain(layers.iter())
                .collect(),
            Manifest::Index { .. } => Vec::new(),
        }
    }

    /// The platform manifests of an index (none for an image manifest).
    pub fn children(&self) -> &[Descriptor] {
        match self {
            Manifest::Index { manifests, .. } => manifests,
            Manifest::Image { .. } => &[],
        }
    }
}

/// The content descriptor of `artifact` (the parsed artifact manifest an image descriptor
/// names), after checking that it is an artifact of `artifact_type` with one layer whose
/// `subject` is `image`.
pub fn artifact_content(
    artifact: &Manifest,
    artifact_type: &str,
    image: &Digest,
) -> Result<Descriptor, String> {
    match artifact {
        Manifest::Image {
            artifact_type: Some(t),
            layers,
            subject,
            ..
        } if t == artifact_type && layers.len() == 1 => match subject {
            Some(s) if s.digest == *image => Ok(layers[0].clone()),
            Some(s) => Err(format!(
                "its `subject` is {}, not the image {image}",
                s.digest
            )),
            None => Err(format!("it has no `subject` (the image {image})")),
        },
        _ => Err(format!(
            "it is not an artifact of type {artifact_type} with one layer"
        )),
    }
}

/// Parses `bytes` (at most [`MAX_MANIFEST`]) as an image manifest or an image index, and
/// refuses anything else (a config or a layer blob, a document of another type, a `mediaType`
/// that disagrees with its shape). `hint` is the media type a descriptor or a registry gave.
pub fn parse_manifest(bytes: &[u8], hint: Option<&str>) -> Result<Manifest, String> {
    if bytes.len() as u64 > MAX_MANIFEST {
        return Err(format!(
            "it has {} bytes, more than a manifest may ({MAX_MANIFEST})",
            bytes.len()
        ));
    }
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("it is not an image manifest or index ({e})"))?;
    if raw.schema_version != Some(2) {
        return Err("it is not an image manifest or index (no `schemaVersion` 2)".into());
    }
    let media_type = raw
        .media_type
        .clone()
        .or_else(|| hint.map(str::to_string))
        .unwrap_or_default();
    match (raw.manifests, raw.config, raw.layers) {
        (Some(manifests), None, None) => {
            if !media_type.is_empty() && !is_index_type(&media_type) {
                return Err(format!(
                    "it lists manifests but says it is a {media_type:?}"
                ));
            }
            Ok(Manifest::Index {
                media_type: if media_type.is_empty() {
                    INDEX_MEDIA_TYPE.into()
                } else {
                    media_type
                },
                manifests,
            })
        }
        (None, Some(config), layers) => {
            if !media_type.is_empty() && !is_manifest_type(&media_type) {
                return Err(format!("it has a config but says it is a {media_type:?}"));
            }
            Ok(Manifest::Image {
                media_type: if media_type.is_empty() {
                    MANIFEST_MEDIA_TYPE.into()
                } else {
                    media_type
                },
                artifact_type: raw.artifact_type,
                config: Box::new(config),
                layers: layers.unwrap_or_default(),
                subject: raw.subject.map(Box::new),
            })
        }
        (Some(_), _, _) => Err("it has both `manifests` and a config or layers".into()),
        (None, None, _) => {
            Err("it is not an image manifest or index (no `config`, no `manifests`)".into())
        }
    }
}

/// An `index.json`: its entries typed, each kept as the bytes it was read as (a value kiln did
/// not write is written back unchanged), and its other members as read.
#[derive(Debug, Clone)]
pub struct Index {
    /// Members other than `manifests`, in the order read (duplicates refused).
    members: Vec<(String, Box<serde_json::value::RawValue>)>,
    pub manifests: Vec<Entry>,
}

/// One entry of an index: the typed descriptor and its bytes.
#[derive(Debug, Clone)]
pub struct Entry {
    pub desc: Descriptor,
    raw: Box<serde_json::value::RawValue>,
}

impl Entry {
    pub fn new(desc: Descriptor) -> Entry {
        let raw = serde_json::value::to_raw_value(&desc).expect("a descriptor serialises");
        Entry { desc, raw }
    }
}

/// The members of a JSON object in order, refusing a key given twice (parsers disagree on
/// which one wins, which is how confusion attacks work).
struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Members, A::Error> {
                let mut out: Vec<(String, Box<serde_json::value::RawValue>)> = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    if out.iter().any(|(x, _)| *x == k) {
                        return Err(serde::de::Error::custom(format!(
                            "the key {k:?} appears twice"
                        )));
                    }
                    let v = m.next_value()?;
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        let raw = |v: serde_json::Value| serde_json::value::to_raw_value(&v).expect("serialises");
        Index {
            members: vec![
                ("schemaVersion".into(), raw(2.into())),
                ("mediaType".into(), raw(INDEX_MEDIA_TYPE.into())),
            ],
            manifests: Vec::new(),
        }
    }

    /// Parses an `index.json` (the caller bounds its size): a JSON object, `schemaVersion` 2
    /// when given, `manifests` an array of valid descriptors.
    pub fn parse(bytes: &[u8]) -> Result<Index, String> {
        let Members(all) =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
        let mut members = Vec::new();
        let mut manifests = Vec::new();
        for (k, v) in all {
            match k.as_str() {
                "manifests" => {
                    let list: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(v.get())
                        .map_err(|e| format!("`manifests` is not an array: {e}"))?;
                    for (i, raw) in list.into_iter().enumerate() {
                        let desc: Descriptor = serde_json::from_str(raw.get())
                            .map_err(|e| format!("entry {} of `manifests`: {e}", i + 1))?;
                        manifests.push(Entry { desc, raw });
                    }
                }
                "schemaVersion" if v.get() != "2" => {
                    return Err(format!(
                        "`schemaVersion` is {}, not 2",
                        crate::digest::shorten(v.get())
                    ))
                }
                _ => members.push((k, v)),
            }
        }
        Ok(Index { members, manifests })
    }

    /// The bytes of the index: the members as read, `manifests` after them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (k, v) in &self.members {
            out.extend(serde_json::to_vec(k).expect("a string serialises"));
            out.push(b':');
            out.extend(v.get().as_bytes());
            out.push(b',');
        }
        out.extend(b"\"manifests\":[");
        for (i, e) in self.manifests.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend(e.raw.get().as_bytes());
        }
        out.extend(b"]}");
        out
    }

    /// The entry tagged `tag`.
    pub fn tagged(&self, tag: &str) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .map(|e| &e.desc)
            .find(|d| d.tag() == Some(tag))
    }

    /// "no image tagged `TAG` (tags: a, b)": what a tag miss says, with the tags there are
    /// (signature and attestation tags left out).
    pub fn no_such_tag(&self, tag: &str) -> String {
        let tags: Vec<&str> = self
            .descriptors()
            .filter_map(Descriptor::tag)
            .filter(|t| !(t.ends_with(".sig") || t.ends_with(".att")))
            .collect();
        if tags.is_empty() {
            format!("no image tagged `{tag}` (it has no tags)")
        } else {
            format!("no image tagged `{tag}` (tags: {})", tags.join(", "))
        }
    }

    pub fn descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter().map(|e| &e.desc)
    }

    pub fn push(&mut self, desc: Descriptor) {
        self.manifests.push(Entry::new(desc));
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Descriptor) -> bool) {
        self.manifests.retain(|e| keep(&e.desc));
    }
}

impl Default for Index {
    fn default() -> Self {
        Index::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn index_round_trips_entries_as_read() {
        let text = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{MANIFEST_MEDIA_TYPE}","size":0,"digest":"{D}","x-other":[1,2]}}],"annotations":{{"a":"b"}}}}"#
        );
        let i = Index::parse(text.as_bytes()).unwrap();
        assert_eq!(i.manifests.len(), 1);
        let back = String::from_utf8(i.to_bytes()).unwrap();
        assert!(back.contains(r#""x-other":[1,2]"#), "{back}");
        assert!(back.contains(r#""annotations":{"a":"b"}"#), "{back}");
        assert_eq!(Index::parse(back.as_bytes()).unwrap().manifests.len(), 1);
    }

    #[test]
    fn index_refuses_bad_digests_duplicates_and_versions() {
        let bad =
            r#"{"manifests":[{"mediaType":"x","size":0,"digest":"sha256:../../etc/passwd"}]}"#;
        let e = Index::parse(bad.as_bytes()).unwrap_err();
        assert!(e.contains("entry 1") && e.contains("not a digest"), "{e}");
        let dup = r#"{"manifests":[],"manifests":[]}"#;
        assert!(Index::parse(dup.as_bytes()).unwrap_err().contains("twice"));
        let v3 = r#"{"schemaVersion":3,"manifests":[]}"#;
        assert!(Index::parse(v3.as_bytes()).unwrap_err().contains("not 2"));
        let deep = "[".repeat(100_000);
        assert!(Index::parse(deep.as_bytes()).is_err());
        let neg = format!(r#"{{"manifests":[{{"mediaType":"x","size":-1,"digest":"{D}"}}]}}"#);
        assert!(Index::parse(neg.as_bytes()).is_err());
    }

    #[test]
    fn artifact_keys_cover_what_kiln_writes_and_values_must_be_digests() {
        for f in crate::sbom::Format::ALL {
            assert!(artifact_annotation(f.media_type()).is_some(), "{f:?}");
        }
        assert_eq!(
            artifact_annotation(crate::image::PLAN_MEDIA_TYPE),
            Some(ARTIFACT_PLAN)
        );
        let mut d = Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: Digest::parse(D).unwrap(),
            size: 0,
            artifact_type: None,
            platform: None,
            annotations: BTreeMap::from([(ARTIFACT_SPDX.to_string(), D.to_string())]),
        };
        assert_eq!(
            d.artifact("application/spdx+json").unwrap(),
            Digest::parse(D)
        );
        assert_eq!(d.artifact(crate::image::PLAN_MEDIA_TYPE).unwrap(), None);
        d.annotations
            .insert(ARTIFACT_PLAN.into(), "sha256:../../x".into());
        let e = d.artifacts().unwrap_err();
        assert!(
            e.contains("`dev.kiln.artifact.plan`") && e.contains("not a digest"),
            "{e}"
        );
    }

    #[test]
    fn an_artifact_must_name_the_image_as_its_subject() {
        let image = Digest::parse(D).unwrap();
        let other = Digest::of(b"other");
        let desc = |d: &Digest| {
            format!(r#"{{"mediaType":"{MANIFEST_MEDIA_TYPE}","size":1,"digest":"{d}"}}"#)
        };
        let m = |subject: &Digest| {
            let text = format!(
                r#"{{"schemaVersion":2,"artifactType":"application/spdx+json","config":{},"layers":[{}],"subject":{}}}"#,
                desc(&other),
                desc(&other),
                desc(subject)
            );
            parse_manifest(text.as_bytes(), None).unwrap()
        };
        assert!(artifact_content(&m(&image), "application/spdx+json", &image).is_ok());
        let e = artifact_content(&m(&other), "application/spdx+json", &image).unwrap_err();
        assert!(e.contains("not the image"), "{e}");
        let e = artifact_content(&m(&image), "application/vnd.cyclonedx+json", &image).unwrap_err();
        assert!(e.contains("not an artifact of type"), "{e}");
    }

    #[test]
    fn manifests_are_told_from_other_blobs() {
        let config = format!(r#"{{"mediaType":"{CONFIG_MEDIA_TYPE}","size":2,"digest":"{D}"}}"#);
        let m = format!(r#"{{"schemaVersion":2,"config":{config},"layers":[]}}"#);
        assert!(matches!(
            parse_manifest(m.as_bytes(), None),
            Ok(Manifest::Image { .. })
        ));
        let i = format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX_MEDIA_TYPE}","manifests":[]}}"#);
        assert!(matches!(
            parse_manifest(i.as_bytes(), None),
            Ok(Manifest::Index { .. })
        ));
        // An image config, a gzip layer, a manifest claiming to be an index.
        let cfg =
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert!(parse_manifest(cfg.as_bytes(), None).is_err());
        assert!(parse_manifest(b"\x1f\x8b\x08\x00", None).is_err());
        let liar = format!(
            r#"{{"schemaVersion":2,"mediaType":"{INDEX_MEDIA_TYPE}","config":{config},"layers":[]}}"#
        );
        assert!(parse_manifest(liar.as_bytes(), None).is_err());
    }
}
