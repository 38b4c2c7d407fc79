//! What an image is, read from any store: its config (entrypoint, cmd, env, user, workdir,
//! labels), layers, the platforms of an index, annotations and the referrers known for it.
//!
//! Owns: [`Blobs`], the one read interface a store offers (a layout, an oci-archive read in
//! place, a registry in `crate::registry`), [`inspect`] over it, and [`docker_archive`] for the
//! `docker save` / `podman save` format (`manifest.json` naming a config and layer paths).
//! Does not own: fetching (the stores), printing (the CLI).
//! Invariant: every manifest and config it reports is read through [`Blobs::read_blob`], so
//! checked against its digest and size; a docker-archive's config too when its name is its
//! digest (`HEX.json`, `blobs/sha256/HEX`). Layers are listed, never read.

use super::archive::Archive;
use super::layout::Layout;
use super::{Descriptor, Manifest, MAX_MANIFEST};
use crate::digest::Digest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The largest config kiln reads.
pub const MAX_CONFIG: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Oci(#[from] super::Error),
    #[error("{image}: {why}")]
    Invalid { image: String, why: String },
    #[error("{image}: {why}")]
    Store {
        image: String,
        why: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Reads a store's blobs by digest, checked against digest and size: the one reader interface
/// of every transport (a layout, an archive, a registry repository).
pub trait Blobs {
    /// What the store is, for messages (`oci:DIR:TAG`, `HOST/REPO:TAG`).
    fn name(&self) -> String;
    /// Blob `d` whole (at most `max` bytes), checked against its digest and `size`.
    fn read_blob(&self, d: &Digest, size: Option<u64>, max: u64) -> Result<Vec<u8>, Error>;
    /// The store's `index.json`, when it has one (a layout, an oci-archive; not a registry).
    fn index(&self) -> Result<Option<super::Index>, Error> {
        Ok(None)
    }
    /// Blob `d` as a stream (a layer: never whole in memory) that fails at its end when the
    /// bytes do not match the digest or `size`. A registry's blobs are fetched into files
    /// first (`registry::pull`), so its store does not stream.
    fn stream_blob(&self, d: &Digest, _size: Option<u64>) -> Result<Box<dyn Read + '_>, Error> {
        Err(Error::Invalid {
            image: self.name(),
            why: format!("{d}: this store reads blobs whole only"),
        })
    }
    /// Referrers the store knows of beyond kiln's annotations (registry: the referrers API or
    /// tag and cosign's tags; layout: signature and attestation entries).
    fn referrers(&self, _subject: &Digest) -> Result<Vec<Referrer>, Error> {
        Ok(Vec::new())
    }
}

impl Blobs for Layout {
    fn name(&self) -> String {
        format!("oci:{}", self.dir().display())
    }
    fn read_blob(&self, d: &Digest, size: Option<u64>, max: u64) -> Result<Vec<u8>, Error> {
        Ok(Layout::read_blob(self, d, size, max)?)
    }
    fn index(&self) -> Result<Option<super::Index>, Error> {
        Ok(Some(Layout::index(self)?))
    }
    fn stream_blob(&self, d: &Digest, size: Option<u64>) -> Result<Box<dyn Read + '_>, Error> {
        Ok(Box::new(Layout::stream_blob(self, d, size)?))
    }
    fn referrers(&self, subject: &Digest) -> Result<Vec<Referrer>, Error> {
        Ok(tagged_referrers(&self.index()?, subject))
    }
}

impl Blobs for Archive {
    fn name(&self) -> String {
        format!("oci-archive:{}", self.path().display())
    }
    fn read_blob(&self, d: &Digest, size: Option<u64>, max: u64) -> Result<Vec<u8>, Error> {
        Ok(Archive::read_blob(self, d, size, max)?)
    }
    fn index(&self) -> Result<Option<super::Index>, Error> {
        Ok(Some(Archive::index(self)?))
    }
    fn stream_blob(&self, d: &Digest, size: Option<u64>) -> Result<Box<dyn Read + '_>, Error> {
        Ok(Box::new(Archive::stream_blob(self, d, size)?))
    }
    fn referrers(&self, subject: &Digest) -> Result<Vec<Referrer>, Error> {
        Ok(tagged_referrers(&self.index()?, subject))
    }
}

/// The `.sig`/`.att` entries of an index about `subject` (kiln's `dev.kiln.subject`).
fn tagged_referrers(index: &super::Index, subject: &Digest) -> Vec<Referrer> {
    let s = subject.to_string();
    index
        .descriptors()
        .filter(|d| d.annotation(super::SUBJECT_ANNOTATION) == Some(s.as_str()))
        .map(|d| Referrer {
            kind: d.tag().map_or("signature", kind_of_tag).to_string(),
            digest: d.digest.clone(),
            found: "tag".into(),
        })
        .collect()
}

/// `signature` for `sha256-HEX.sig`, `attestation` for `.att`.
pub fn kind_of_tag(tag: &str) -> &'static str {
    if tag.ends_with(".att") {
        "attestation"
    } else {
        "signature"
    }
}

/// A referrer of the image: what it is, its manifest, and how it was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Referrer {
    /// `spdx`, `cyclonedx`, `plan` (kiln's artifacts), `signature`, `attestation`, or the
    /// artifact type the registry lists.
    pub kind: String,
    pub digest: Digest,
    /// `annotation` (kiln's), `referrers` (the API or its tag), `tag` (cosign's).
    pub found: String,
}

/// One layer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Layer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// A docker-archive's member holding the layer (not reported).
    #[serde(skip)]
    pub member: Option<String>,
    /// The digest of the uncompressed tar (the config's `rootfs.diff_ids`), when known (not
    /// reported; a docker-archive's layer is checked against it).
    #[serde(skip)]
    pub diff_id: Option<Digest>,
}

/// The parts of an image config people ask about.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Config {
    pub os: String,
    pub architecture: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub created: Option<String>,
}

/// What `kiln inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Inspected {
    pub image: String,
    /// The image manifest's digest (none for a docker-archive, which has no manifest).
    pub digest: Option<Digest>,
    pub media_type: String,
    /// The index the tag names, when it names one: its digest and platforms.
    pub index: Option<IndexInfo>,
    pub config_digest: Digest,
    pub config: Config,
    pub layers: Vec<Layer>,
    /// The manifest's annotations, then the descriptor's (the tag's entry or the index's).
    pub annotations: BTreeMap<String, String>,
    pub referrers: Vec<Referrer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    pub digest: Digest,
    pub platforms: Vec<String>,
}

/// This machine's platform in OCI terms (`linux/amd64`): only to pick which image of an
/// index to show, never for what is built.
pub fn host_platform() -> String {
    crate::types::Arch::host()
        .map(|arch| crate::types::Platform { arch }.to_string())
        .unwrap_or_default()
}

fn strings(v: &serde_json::Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

/// The fields of a config document (OCI or Docker), through the one typed reader of configs
/// ([`super::config::ImageConfig`]: unknown members ignored, the members read checked).
pub fn parse_config(image: &str, bytes: &[u8]) -> Result<Config, Error> {
    let v = super::config::ImageConfig::parse(bytes).map_err(|why| Error::Invalid {
        image: image.into(),
        why: format!("its config is not valid: {why}"),
    })?;
    let c = v.config;
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(Config {
        os: v.os,
        architecture: v.architecture,
        entrypoint: c.entrypoint,
        cmd: c.cmd,
        env: c.env.unwrap_or_default(),
        user: nonempty(c.user),
        workdir: nonempty(c.working_dir),
        labels: c.labels.unwrap_or_default(),
        exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
        created: nonempty(v.created),
    })
}

fn invalid(image: &str, why: String) -> Error {
    Error::Invalid {
        image: image.into(),
        why,
    }
}

fn annotations_of(bytes: &[u8]) -> BTreeMap<String, String> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| {
            v["annotations"].as_object().map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Inspects the manifest `top` (its bytes already read and checked) of `store`; for an index,
/// the image of `platform` (default: this machine's, else the first).
pub fn inspect(
    store: &dyn Blobs,
    image: &str,
    top: &Descriptor,
    top_bytes: &[u8],
    platform: Option<&str>,
) -> Result<Inspected, Error> {
    let parsed = super::parse_manifest(top_bytes, Some(&top.media_type))
        .map_err(|why| invalid(image, why))?;
    let (desc, bytes, index) = match &parsed {
        Manifest::Image { .. } => (top.clone(), top_bytes.to_vec(), None),
        Manifest::Index { manifests, .. } => {
            let want = platform.map_or_else(host_platform, str::to_string);
            let child = match super::find_platform(manifests, &want) {
                Ok(d) => d,
                Err(_) if platform.is_none() && !manifests.is_empty() => &manifests[0],
                Err(there) => {
                    return Err(invalid(
                        image,
                        format!("it has no `{want}` image (platforms: {there})"),
                    ))
                }
            };
            let bytes = store.read_blob(&child.digest, Some(child.size), MAX_MANIFEST)?;
            let info = IndexInfo {
                digest: top.digest.clone(),
                platforms: manifests.iter().map(Descriptor::platform_name).collect(),
            };
            (child.clone(), bytes, Some(info))
        }
    };
    let m =
        super::parse_manifest(&bytes, Some(&desc.media_type)).map_err(|why| invalid(image, why))?;
    let Manifest::Image { config, layers, .. } = &m else {
        return Err(invalid(image, "an index inside an index".into()));
    };
    let config_bytes = store.read_blob(&config.digest, Some(config.size), MAX_CONFIG)?;
    let cfg = parse_config(image, &config_bytes)?;
    let mut annotations = annotations_of(&bytes);
    for (k, v) in &desc.annotations {
        annotations.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut referrers: Vec<Referrer> = desc
        .artifacts()
        .map_err(|why| invalid(image, why))?
        .into_iter()
        .map(|(key, d)| Referrer {
            kind: key.rsplit('.').next().unwrap_or(key).to_string(),
            digest: d,
            found: "annotation".into(),
        })
        .collect();
    for r in store.referrers(&desc.digest)? {
        if !referrers.iter().any(|x| x.digest == r.digest) {
            referrers.push(r);
        }
    }
    Ok(Inspected {
        image: image.into(),
        digest: Some(desc.digest.clone()),
        media_type: desc.media_type.clone(),
        index,
        config_digest: config.digest.clone(),
        config: cfg,
        layers: layers
            .iter()
            .map(|l| Layer {
                digest: l.digest.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
                member: None,
                diff_id: None,
            })
            .collect(),
        annotations,
        referrers,
    })
}

/// The tagged entry of a layout or oci-archive index, inspected.
pub fn inspect_tagged(
    store: &dyn Blobs,
    index: &super::Index,
    tag: &str,
    platform: Option<&str>,
) -> Result<Inspected, Error> {
    let image = format!("{}:{tag}", store.name());
    let top = index
        .tagged(tag)
        .ok_or_else(|| invalid(&image, index.no_such_tag(tag)))?;
    let bytes = store.read_blob(&top.digest, Some(top.size), MAX_MANIFEST)?;
    inspect(store, &image, top, &bytes, platform)
}

/// The `oci:` layout `dir`'s image tagged `tag`.
pub fn layout(dir: &Path, tag: &str, platform: Option<&str>) -> Result<Inspected, Error> {
    let l = Layout::open(dir)?;
    inspect_tagged(&l, &l.index()?, tag, platform)
}

/// The `oci-archive:` `file`'s image tagged `tag` (read in place).
pub fn oci_archive(file: &Path, tag: &str, platform: Option<&str>) -> Result<Inspected, Error> {
    let a = Archive::scan(file)?;
    inspect_tagged(&a, &a.index()?, tag, platform)
}

/// The digest a docker-archive member's name spells (`HEX.json`, `HEX.tar`, `HEX/layer.tar`,
/// `blobs/sha256/HEX`), if it does.
pub(crate) fn digest_in_name(name: &str) -> Option<Digest> {
    let hex = name
        .strip_prefix("blobs/sha256/")
        .or_else(|| name.strip_suffix(".json"))
        .or_else(|| name.strip_suffix("/layer.tar"))
        .or_else(|| name.strip_suffix(".tar"))?;
    Digest::parse(&format!("sha256:{hex}"))
}

/// A `docker save` / `podman save` / `skopeo copy docker-archive:` file: `manifest.json`'s
/// (first) image, its config read and (when its name is its digest) checked, its layers listed
/// with their sizes in the archive and digests (from their names, else the config's
/// `rootfs.diff_ids`, which name uncompressed layers).
pub fn docker_archive(file: &Path) -> Result<Inspected, Error> {
    let image = format!("docker-archive:{}", file.display());
    let a = Archive::scan_with_links(file)?;
    let bytes = a
        .read("manifest.json", MAX_MANIFEST, "a manifest.json")?
        .ok_or_else(|| {
            invalid(
                &image,
                "it has no manifest.json (not a docker save archive)".into(),
            )
        })?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(&image, format!("manifest.json is not JSON: {e}")))?;
    let first = v
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| invalid(&image, "manifest.json lists no image".into()))?;
    let config_name = first["Config"]
        .as_str()
        .ok_or_else(|| invalid(&image, "manifest.json names no Config".into()))?;
    let config_bytes = a
        .read(config_name, MAX_CONFIG, "an image config")?
        .ok_or_else(|| invalid(&image, format!("it has no {config_name} (its Config)")))?;
    let config_digest = match digest_in_name(config_name) {
        Some(d) if !d.matches(&config_bytes) => {
            return Err(invalid(
                &image,
                format!("{config_name} does not hash to the digest its name spells"),
            ))
        }
        Some(d) => d,
        None => Digest::of(&config_bytes),
    };
    let config = parse_config(&image, &config_bytes)?;
    let cv: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap_or_default();
    let diff_ids: Vec<Option<Digest>> = cv["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| d.as_str().and_then(Digest::parse))
                .collect()
        })
        .unwrap_or_default();
    let names = strings(&first["Layers"]).unwrap_or_default();
    let mut layers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let size = a
            .size(name)
            .ok_or_else(|| invalid(&image, format!("it has no {name} (layer {})", i + 1)))?;
        let digest = digest_in_name(name)
            .or_else(|| diff_ids.get(i).cloned().flatten())
            .ok_or_else(|| invalid(&image, format!("layer {} ({name}) has no digest", i + 1)))?;
        let media_type = if a.starts_with(name, &[0x1f, 0x8b])? {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        } else {
            "application/vnd.docker.image.rootfs.diff.tar"
        };
        layers.push(Layer {
            digest,
            size,
            media_type: media_type.into(),
            member: Some(name.clone()),
            diff_id: diff_ids.get(i).cloned().flatten(),
        });
    }
    let mut annotations = BTreeMap::new();
    if let Some(tags) = strings(&first["RepoTags"]).filter(|t| !t.is_empty()) {
        annotations.insert("RepoTags".to_string(), tags.join(", "));
    }
    Ok(Inspected {
        image,
        digest: None,
        media_type: "docker-archive manifest.json (docker save)".into(),
        index: None,
        config_digest,
        config,
        layers,
        annotations,
        referrers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_archive_names_spell_digests() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for n in [
            format!("{hex}.json"),
            format!("{hex}.tar"),
            format!("{hex}/layer.tar"),
            format!("blobs/sha256/{hex}"),
        ] {
            assert_eq!(digest_in_name(&n).unwrap().hex(), hex, "{n}");
        }
        assert!(digest_in_name("abc/layer.tar").is_none());
    }

    #[test]
    fn configs_are_read_from_oci_and_docker_documents() {
        let c = parse_config(
            "x",
            br#"{"os":"linux","architecture":"arm64","config":{"Entrypoint":["/app"],"User":"65532","Env":["PATH=/bin"],"Labels":{"a":"b"},"ExposedPorts":{"8080/tcp":{}}},"rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        assert_eq!(c.entrypoint, Some(vec!["/app".to_string()]));
        assert_eq!(c.user.as_deref(), Some("65532"));
        assert_eq!(c.labels["a"], "b");
        assert_eq!(c.exposed_ports, ["8080/tcp"]);
        assert!(parse_config("x", b"[").is_err());
        // The one typed reader checks what it reads: no rootfs, an Env entry without `=`.
        assert!(parse_config("x", br#"{"os":"linux","architecture":"amd64"}"#).is_err());
        assert!(parse_config(
            "x",
            br#"{"os":"linux","architecture":"amd64","config":{"Env":["NOEQUALS"]},"rootfs":{"type":"layers","diff_ids":[]}}"#
        )
        .is_err());
    }
}
