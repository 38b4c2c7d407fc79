//! Output forms in skopeo's transport syntax, each written atomically.
//!
//! - `oci:DIR[:TAG]`: an OCI image layout. The image is assembled as a whole layout in a
//!   staging folder beside DIR (no lock held while layers compress); then, under the advisory
//!   lock on DIR's parent, a new DIR is the staging folder renamed into place, and an existing
//!   layout gets its blobs first (each renamed into place under its digest) and then a new
//!   `index.json` through [`Layout::update`] (under DIR's own lock, re-read there, renamed), so
//!   a reader sees the old index or the new one, and a concurrent writer's tag stays.
//! - `oci-archive:FILE[:TAG]`: a tar of such a layout, written to a temporary file and renamed.
//! - `docker-archive:FILE[:NAME[:TAG]]`: `docker load`'s format (manifest.json, the config
//!   and uncompressed layers), written to a temporary file and renamed.
//!
//! In every layout (and oci-archive) `index.json` holds one entry per tag: the image manifest,
//! or the image index of a multi-platform build. The SBOMs and the plan are artifact manifests
//! named by the image manifest's descriptor ([`crate::oci::ARTIFACT_ANNOTATIONS`]), never
//! entries of their own, so podman, skopeo and syft see one image.
//!
//! The default output is `oci:out/NAME:latest` (NAME from `[image] name`, which the manifest
//! guarantees is a registry repository name: no `..`, no absolute path).
//! Invariant: a killed or interrupted build leaves only staging folders, which the next run
//! sweeps ([`crate::oci::guard`]); nothing half-written is ever published.

use super::{
    config, layer_descriptor, platform, to_bytes, Built, BuiltSet, Descriptor, ImageManifest,
    Index, CONFIG_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, REF_NAME,
};
use crate::digest::{Digest, HashingWriter};
use crate::layer;
use crate::oci;
use crate::oci::guard::{self, Lock, Staging};
use crate::oci::layout::Layout;
use crate::plan::Plan;
use crate::types::LayerKind;
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub use crate::oci::transport::Output;

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output is not a valid `oci:`, `oci-archive:` or `docker-archive:` spec.
    #[error(transparent)]
    Spec(#[from] crate::oci::transport::SpecError),
    /// Writing a file of the output failed.
    #[error("cannot write image to {}", path.display())]
    Write {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An `oci:` output names a folder that exists and is not a layout.
    #[error("{} exists and is not an OCI image layout (no oci-layout file); kiln will not write into it", path.display())]
    NotALayout {
        /// The folder.
        path: PathBuf,
    },
    /// A layer could not be written.
    #[error(transparent)]
    Layer(#[from] layer::Error),
    /// The existing layout or a base image's blob could not be read or failed its checks.
    #[error(transparent)]
    Oci(#[from] oci::Error),
    /// A docker-archive was asked for this many platforms (it holds one image).
    #[error("a docker-archive holds one platform's image, and the manifest lists {0}: use oci: or oci-archive:, which hold an image index")]
    MultiPlatformDockerArchive(usize),
    /// A layer of the base image cannot be copied as it is.
    #[error("cannot copy layer {layer} of the base image {base}: {problem}")]
    BaseLayer {
        /// The base's reference.
        base: String,
        /// The layer's digest.
        layer: Digest,
        /// What is wrong.
        problem: Box<BaseLayerProblem>,
    },
}

/// What is wrong with a base image's layer ([`Error::BaseLayer`]).
#[derive(Debug, thiserror::Error)]
pub enum BaseLayerProblem {
    /// Not a layer media type kiln copies (gzip or plain tar, OCI's or Docker's names).
    #[error("its media type {0:?} is not a layer kiln copies")]
    MediaType(String),
    /// The config lists fewer diff_ids than the manifest lists layers.
    #[error("the base's config lists fewer diff_ids than layers")]
    NoDiffId,
    /// The cache's store lacks the blob.
    #[error("it is missing from the base's store")]
    Missing,
    /// The store's blob has another size.
    #[error("the store holds {found} bytes, the manifest says {expected}")]
    Size {
        /// What the store holds.
        found: u64,
        /// What the manifest says.
        expected: u64,
    },
    /// The store's blob has other bytes.
    #[error("the store's bytes hash to {0}")]
    Digest(Digest),
    /// A docker-archive needs the layer uncompressed, and kiln cannot decompress this one.
    #[error("a docker-archive holds gzip or plain tar layers")]
    NotForDockerArchive,
    /// The decompressed layer is not the tar its diff_id names.
    #[error("it unpacks to {got}, not its diff_id {want}")]
    DiffId {
        /// What the tar hashes to.
        got: Digest,
        /// The config's diff_id.
        want: Digest,
    },
}

fn werr(p: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::Write {
        path: p.to_path_buf(),
        source: plain(e),
    }
}

/// An I/O error without fs-err's "failed to ... `PATH`" (the error holding it names the path
/// already, and a path should appear once per error): its kind, in words, when it has one.
fn plain(e: io::Error) -> io::Error {
    use io::ErrorKind as K;
    match e.kind() {
        kind @ (K::NotFound
        | K::PermissionDenied
        | K::NotADirectory
        | K::IsADirectory
        | K::AlreadyExists
        | K::DirectoryNotEmpty
        | K::ReadOnlyFilesystem
        | K::StorageFull
        | K::QuotaExceeded
        | K::CrossesDevices)
            if e.get_ref().is_some() =>
        {
            io::Error::from(kind)
        }
        _ => e,
    }
}

/// Writes `bytes` as a blob into `blobs` (a `blobs/sha256` folder), atomically, staged in
/// `staging`.
pub(crate) fn write_blob(blobs: &Path, staging: &Path, bytes: &[u8]) -> Result<Digest, Error> {
    let d = Digest::of(bytes);
    let dest = blobs.join(d.hex());
    if dest.exists() {
        return Ok(d);
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".blob-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(staging)
        .map_err(werr(staging))?;
    tmp.write_all(bytes).map_err(werr(tmp.path()))?;
    guard::persist(tmp, &dest)?;
    Ok(d)
}

/// Writes what `render` writes as a blob into `blobs`, atomically, staged in `staging`: the
/// bytes go through a buffer and a hash straight to the file, never whole into memory.
/// Returns the blob's digest and size.
fn stream_blob(
    blobs: &Path,
    staging: &Path,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(Digest, u64), Error> {
    let tmp = tempfile::Builder::new()
        .prefix(".blob-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(staging)
        .map_err(werr(staging))?;
    let mut w = BufWriter::with_capacity(256 * 1024, HashingWriter::new(tmp.as_file()));
    render(&mut w).map_err(werr(tmp.path()))?;
    let hw = w.into_inner().map_err(|e| Error::Write {
        path: tmp.path().to_path_buf(),
        source: e.into_error(),
    })?;
    let (d, size, _) = hw.finish();
    // Renamed over whatever is there: the blob is the bytes just written.
    guard::persist(tmp, &blobs.join(d.hex()))?;
    Ok((d, size))
}

/// Compressed layers kept between the outputs of one build, so that each layer is compressed
/// once however many outputs (`--output` repeated) it is written to: the first output
/// compresses and keeps a copy here, the others copy it into their own staging folder.
/// Blobs are copied, never hard-linked (a layout refuses a blob with several links).
#[derive(Default)]
pub struct LayerCache {
    /// Whether another output will follow (else nothing is kept: one output, no copies).
    keep: bool,
    dir: Option<Staging>,
    /// (index of the plan among the build's plans, layer kind) -> the layer, or `None` when
    /// the plan has no entries in that layer.
    layers: BTreeMap<(usize, LayerKind), Option<layer::Layer>>,
}

impl LayerCache {
    /// The `kind` layer of plan number `nth`, compressed into `blobs`, or copied there from an
    /// earlier output of the same build.
    fn layer(
        &mut self,
        nth: usize,
        plan: &Plan,
        kind: LayerKind,
        layout: &Path,
        staging: &Path,
    ) -> Result<Option<layer::Layer>, Error> {
        let blobs = &layout.join("blobs/sha256");
        if let (Some(known), Some(dir)) = (self.layers.get(&(nth, kind)), &self.dir) {
            if let Some(l) = known {
                let dest = blobs.join(l.digest.hex());
                let from = dir.path().join(l.digest.hex());
                let tmp = guard::temp_file_in(staging)?;
                fs_err::copy(&from, tmp.path()).map_err(werr(&from))?;
                tmp.persist(&dest)?;
            }
            return Ok(known.clone());
        }
        let l = layer::write_layer(plan, kind, blobs, staging)?;
        if !self.keep {
            return Ok(l);
        }
        if self.dir.is_none() {
            // Beside the staged layout (the output's folder), never inside it: the layout is
            // renamed into place, the cache lives until the last output is written.
            self.dir = Some(Staging::new_in(&parent_of(layout))?);
        }
        if let (Some(l), Some(dir)) = (&l, &self.dir) {
            let from = blobs.join(l.digest.hex());
            let keep = dir.path().join(l.digest.hex());
            fs_err::copy(&from, &keep).map_err(werr(&keep))?;
        }
        self.layers.insert((nth, kind), l.clone());
        Ok(l)
    }
}

/// The image manifest's annotations: the manifest's, plus (built on a base) the standard
/// `org.opencontainers.image.base.name` and `.base.digest` unless the manifest gives them.
fn annotations(plan: &Plan) -> BTreeMap<String, String> {
    let mut a = plan.image.annotations.clone();
    if let Some(b) = &plan.base {
        let name = match &b.reference {
            crate::base::BaseRef::Docker(r) => r.to_string(),
            other => other.to_string(),
        };
        a.entry("org.opencontainers.image.base.name".into())
            .or_insert(name);
        a.entry("org.opencontainers.image.base.digest".into())
            .or_insert_with(|| b.digest.to_string());
    }
    a
}

/// The OCI media type of a base image's layer (Docker's names for the same bytes become OCI's),
/// or `None` for a kind of layer kiln does not copy.
fn oci_layer_type(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => layer::MEDIA_TYPE,
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => {
            "application/vnd.oci.image.layer.v1.tar"
        }
        "application/vnd.oci.image.layer.v1.tar+zstd" => {
            "application/vnd.oci.image.layer.v1.tar+zstd"
        }
        _ => return None,
    })
}

/// Copies the base image's layers, byte for byte, from its store into `blobs`, each checked
/// against its descriptor (size, then digest while it is copied); returns them as the first
/// layers of the image, with the base's diff_ids.
fn base_layers(
    base: &crate::base::Base,
    blobs: &Path,
    staging: &Path,
) -> Result<Vec<layer::Layer>, Error> {
    let mut out = Vec::new();
    for (i, d) in base.layers.iter().enumerate() {
        let bad = |problem: BaseLayerProblem| Error::BaseLayer {
            base: base.reference.to_string(),
            layer: d.digest.clone(),
            problem: Box::new(problem),
        };
        let media_type = oci_layer_type(&d.media_type)
            .ok_or_else(|| bad(BaseLayerProblem::MediaType(d.media_type.clone())))?;
        let diff_id = base
            .config
            .diff_ids
            .get(i)
            .cloned()
            .ok_or_else(|| bad(BaseLayerProblem::NoDiffId))?;
        let dest = blobs.join(d.digest.hex());
        if !dest.exists() {
            let from = base.store.join(d.digest.blob_path());
            let (mut f, size) = crate::oci::layout::open_plain(&from)?
                .ok_or_else(|| bad(BaseLayerProblem::Missing))?;
            if size != d.size {
                return Err(bad(BaseLayerProblem::Size {
                    found: size,
                    expected: d.size,
                }));
            }
            let tmp = guard::temp_file_in(staging)?;
            let mut w = crate::digest::HashingWriter::new(BufWriter::with_capacity(
                256 * 1024,
                tmp.as_file(),
            ));
            io::copy(&mut (&mut f).take(size), &mut w).map_err(werr(&from))?;
            let (got, n, mut inner) = w.finish();
            inner.flush().map_err(werr(tmp.path()))?;
            drop(inner);
            if got != d.digest || n != size {
                return Err(bad(BaseLayerProblem::Digest(got)));
            }
            tmp.persist(&dest)?;
        }
        out.push(layer::Layer {
            kind: LayerKind::BaseImage,
            media_type,
            digest: d.digest.clone(),
            size: d.size,
            diff_id,
            entries: 0,
        });
    }
    Ok(out)
}

/// Writes layers, config and manifest blobs into `layout` (which has `blobs/sha256`). Partial
/// blobs live in a staging folder beside `blobs`, so a killed build never leaves a stray file
/// among the blobs of an existing layout.
fn write_image(
    nth: usize,
    plan: &Plan,
    layout: &Path,
    tag: &str,
    cache: &mut LayerCache,
) -> Result<Built, Error> {
    let blobs = layout.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).map_err(werr(&blobs))?;
    let staging = Staging::new_in(layout)?;
    let staging = staging.path();
    let mut layers = match &plan.base {
        Some(base) => base_layers(base, &blobs, staging)?,
        None => Vec::new(),
    };
    for kind in LayerKind::ALL {
        if let Some(l) = cache.layer(nth, plan, kind, layout, staging)? {
            layers.push(l);
        }
    }
    let cfg = to_bytes(&config(plan, &layers));
    let cfg_d = write_blob(&blobs, staging, &cfg)?;
    let config = Descriptor {
        artifact_type: None,
        media_type: CONFIG_MEDIA_TYPE.into(),
        digest: cfg_d,
        size: cfg.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let m = ImageManifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        artifact_type: None,
        config: config.clone(),
        layers: layers.iter().map(layer_descriptor).collect(),
        subject: None,
        annotations: annotations(plan),
    };
    let mb = to_bytes(&m);
    let md = write_blob(&blobs, staging, &mb)?;
    let mut manifest = Descriptor {
        artifact_type: None,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        digest: md,
        size: mb.len() as u64,
        platform: Some(platform(plan)),
        annotations: BTreeMap::new(),
    };
    let (artifacts, artifact_files) = write_artifacts(plan, &manifest, &blobs, staging, tag)?;
    // The image's descriptor names its artifacts: they are not entries of `index.json`.
    for a in &artifacts {
        if let Some(key) = a
            .artifact_type
            .as_deref()
            .and_then(oci::artifact_annotation)
        {
            manifest
                .annotations
                .insert(key.to_string(), a.digest.to_string());
        }
    }
    Ok(Built {
        manifest,
        config,
        layers,
        artifacts,
        artifact_files,
    })
}

/// Writes one image per plan; with several, an image index over them (each manifest with
/// its platform). The tag points at [`BuiltSet::top`].
fn write_images(
    plans: &[Plan],
    layout: &Path,
    tag: &str,
    cache: &mut LayerCache,
) -> Result<BuiltSet, Error> {
    let mut images = Vec::new();
    for (nth, plan) in plans.iter().enumerate() {
        images.push(write_image(nth, plan, layout, tag, cache)?);
    }
    if images.len() == 1 {
        let top = images[0].manifest.clone();
        return Ok(BuiltSet {
            top,
            images,
            replaced: None,
        });
    }
    let blobs = layout.join("blobs/sha256");
    let staging = Staging::new_in(layout)?;
    let index = Index {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPE,
        manifests: images.iter().map(|b| b.manifest.clone()).collect(),
    };
    let bytes = to_bytes(&index);
    let digest = write_blob(&blobs, staging.path(), &bytes)?;
    let top = Descriptor {
        artifact_type: None,
        media_type: INDEX_MEDIA_TYPE.into(),
        digest,
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    };
    Ok(BuiltSet {
        top,
        images,
        replaced: None,
    })
}

/// Descriptors of the artifact manifests, and (file name, blob) of their contents.
type Artifacts = (Vec<Descriptor>, Vec<(String, Digest)>);

/// Writes the SBOMs (SPDX, CycloneDX) and the portable plan as OCI 1.1 artifacts whose subject
/// is the image manifest; returns their descriptors and their content blobs.
fn write_artifacts(
    plan: &Plan,
    image: &Descriptor,
    blobs: &Path,
    staging: &Path,
    tag: &str,
) -> Result<Artifacts, Error> {
    let facts = crate::sbom::facts(plan, &image.digest, tag);
    // Each artifact is rendered straight into its blob file: (file name, media type, blob, size).
    let mut contents: Vec<(&str, &str, Digest, u64)> = Vec::new();
    for f in crate::sbom::Format::ALL {
        let name = match f {
            crate::sbom::Format::Spdx => "sbom.spdx.json",
            crate::sbom::Format::CycloneDx => "sbom.cdx.json",
        };
        let (d, size) = stream_blob(blobs, staging, |w| crate::sbom::render(&facts, f, w))?;
        contents.push((name, f.media_type(), d, size));
    }
    drop(facts);
    let (d, size) = stream_blob(blobs, staging, |w| {
        plan.write_json_portable(&mut *w)?;
        w.write_all(b"\n")
    })?;
    contents.push(("plan.json", super::PLAN_MEDIA_TYPE, d, size));
    let empty = write_blob(blobs, staging, b"{}")?;
    let subject = Descriptor {
        artifact_type: None,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        digest: image.digest.clone(),
        size: image.size,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let mut out = Vec::new();
    let mut files = Vec::new();
    for (name, media_type, d, size) in contents {
        files.push((name.to_string(), d.clone()));
        let m = ImageManifest {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE,
            artifact_type: Some(media_type.into()),
            config: Descriptor {
                artifact_type: None,
                media_type: super::EMPTY_MEDIA_TYPE.into(),
                digest: empty.clone(),
                size: 2,
                platform: None,
                annotations: BTreeMap::new(),
            },
            layers: vec![Descriptor {
                artifact_type: None,
                media_type: media_type.into(),
                digest: d,
                size,
                platform: None,
                annotations: BTreeMap::new(),
            }],
            subject: Some(subject.clone()),
            annotations: BTreeMap::from([(
                "org.opencontainers.image.created".to_string(),
                plan.epoch.rfc3339(),
            )]),
        };
        let mb = to_bytes(&m);
        let md = write_blob(blobs, staging, &mb)?;
        out.push(Descriptor {
            artifact_type: Some(media_type.into()),
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: md,
            size: mb.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        });
    }
    Ok((out, files))
}

fn tagged(built: &BuiltSet, tag: &str) -> Descriptor {
    let mut d = built.top.clone();
    d.platform = None;
    d.annotations.insert(REF_NAME.into(), tag.into());
    if built.images.len() == 1 {
        d.platform = built.images[0].manifest.platform.clone();
    }
    d
}

fn write_new_layout(
    plans: &[Plan],
    dir: &Path,
    tag: &str,
    cache: &mut LayerCache,
) -> Result<BuiltSet, Error> {
    let built = write_images(plans, dir, tag, cache)?;
    // One entry: the tag. The artifacts hang off the image descriptors' annotations.
    let index = Index {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPE,
        manifests: vec![tagged(&built, tag)],
    };
    write_file_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    write_file_atomic(&dir.join("index.json"), &to_bytes(&index))?;
    Ok(built)
}

pub(crate) fn write_file_atomic(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    Ok(guard::write_atomic(dest, bytes)?)
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(x) if !x.as_os_str().is_empty() => x.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes the image for `plan` to `out`.
pub fn write(plan: &Plan, out: &Output) -> Result<Built, Error> {
    let mut set = write_all(std::slice::from_ref(plan), out)?;
    Ok(set.images.swap_remove(0))
}

/// Writes one image per plan to `out`; several go under an image index.
pub fn write_all(plans: &[Plan], out: &Output) -> Result<BuiltSet, Error> {
    write_cached(plans, out, &mut LayerCache::default())
}

/// Writes one image per plan to each of `outs`, compressing each layer once; the image
/// manifests (and the index over several) are the same in every output.
pub fn write_each(plans: &[Plan], outs: &[Output]) -> Result<Vec<BuiltSet>, Error> {
    let mut cache = LayerCache {
        keep: outs.len() > 1,
        ..LayerCache::default()
    };
    outs.iter()
        .map(|o| write_cached(plans, o, &mut cache))
        .collect()
}

fn write_cached(plans: &[Plan], out: &Output, cache: &mut LayerCache) -> Result<BuiltSet, Error> {
    let plan = &plans[0];
    match out {
        Output::Oci { dir, tag } => write_oci(plans, dir, tag, cache),
        Output::OciArchive { file, tag } => {
            let parent = parent_of(file);
            guard::sweep(&parent);
            let work = Staging::new_in(&parent)?;
            let built = write_new_layout(plans, work.path(), tag, cache)?;
            let mut files: Vec<(String, PathBuf)> = vec![];
            for d in blob_list(&built) {
                files.push((
                    format!("blobs/sha256/{}", d.hex()),
                    work.path().join("blobs/sha256").join(d.hex()),
                ));
            }
            files.push(("index.json".into(), work.path().join("index.json")));
            files.push(("oci-layout".into(), work.path().join("oci-layout")));
            write_archive(file, &["blobs", "blobs/sha256"], files, plan.epoch.0)?;
            Ok(built)
        }
        Output::DockerArchive { .. } if plans.len() > 1 => {
            Err(Error::MultiPlatformDockerArchive(plans.len()))
        }
        Output::DockerArchive { file, reference } => {
            let parent = parent_of(file);
            guard::sweep(&parent);
            let work = Staging::new_in(&parent)?;
            let tag = reference
                .as_deref()
                .and_then(|r| r.rsplit_once(':'))
                .map_or("latest", |(_, t)| t)
                .to_string();
            let built = write_image(0, plan, work.path(), &tag, cache)?;
            let blobs = work.path().join("blobs/sha256");
            let mut files: Vec<(String, PathBuf)> = vec![];
            let mut layer_names = vec![];
            for l in &built.layers {
                let p = work.path().join(format!("{}.tar", l.diff_id.hex()));
                let f = fs_err::File::create(&p).map_err(werr(&p))?;
                let mut w = BufWriter::new(f);
                if l.kind == LayerKind::BaseImage {
                    // The base's own tar, as its diff_id names it (not kiln's rendering).
                    let base = plan
                        .base
                        .as_ref()
                        .map_or(String::new(), |b| b.reference.to_string());
                    uncompressed(&base, &blobs.join(l.digest.hex()), l, &mut w)?;
                } else {
                    layer::write_tar(&plan.layer_entries(l.kind), plan.epoch.0, &mut w)?;
                }
                w.flush().map_err(werr(&p))?;
                layer_names.push(format!("{}.tar", l.diff_id.hex()));
                files.push((format!("{}.tar", l.diff_id.hex()), p));
            }
            let cfg_name = format!("{}.json", built.config.digest.hex());
            files.push((cfg_name.clone(), blobs.join(built.config.digest.hex())));
            let reference = reference
                .clone()
                .unwrap_or_else(|| format!("{}:latest", plan.image.name));
            #[derive(serde::Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct DockerManifest {
                config: String,
                repo_tags: Vec<String>,
                layers: Vec<String>,
            }
            let dm = to_bytes(&vec![DockerManifest {
                config: cfg_name,
                repo_tags: vec![reference],
                layers: layer_names,
            }]);
            let mp = work.path().join("manifest.json");
            fs_err::write(&mp, dm).map_err(werr(&mp))?;
            files.push(("manifest.json".into(), mp));
            // docker load ignores other files: the SBOMs and the plan travel in `kiln/`.
            for (name, d) in &built.artifact_files {
                files.push((format!("kiln/{name}"), blobs.join(d.hex())));
            }
            files.sort();
            write_archive(file, &["kiln"], files, plan.epoch.0)?;
            Ok(BuiltSet {
                top: built.manifest.clone(),
                images: vec![built],
                replaced: None,
            })
        }
    }
}

/// Writes the uncompressed tar of a base image's layer blob at `blob` to `out`, checking it
/// against the layer's diff_id.
fn uncompressed(
    base: &str,
    blob: &Path,
    l: &layer::Layer,
    out: &mut impl Write,
) -> Result<(), Error> {
    let bad = |problem: BaseLayerProblem| Error::BaseLayer {
        base: base.to_string(),
        layer: l.digest.clone(),
        problem: Box::new(problem),
    };
    let f = fs_err::File::open(blob).map_err(werr(blob))?;
    let reader: Box<dyn Read> = match l.media_type {
        layer::MEDIA_TYPE => Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f))),
        "application/vnd.oci.image.layer.v1.tar" => Box::new(f),
        _ => return Err(bad(BaseLayerProblem::NotForDockerArchive)),
    };
    let mut w = crate::digest::HashingWriter::new(out);
    io::copy(&mut { reader }, &mut w).map_err(werr(blob))?;
    let (got, _, _) = w.finish();
    if got != l.diff_id {
        return Err(bad(BaseLayerProblem::DiffId {
            got,
            want: l.diff_id.clone(),
        }));
    }
    Ok(())
}

fn blob_list(set: &BuiltSet) -> Vec<Digest> {
    let mut v = vec![set.top.digest.clone()];
    for b in &set.images {
        v.extend(b.layers.iter().map(|l| l.digest.clone()));
        v.push(b.config.digest.clone());
        v.push(b.manifest.digest.clone());
        for a in &b.artifacts {
            v.push(a.digest.clone());
        }
        for (_, d) in &b.artifact_files {
            v.push(d.clone());
        }
        // The empty config of the artifact manifests.
        if !b.artifacts.is_empty() {
            v.push(Digest::of(b"{}"));
        }
    }
    v.sort();
    v.dedup();
    v
}

/// Streams `files` (name in archive, host path) into a deterministic tar at `dest`, atomically
/// ([`oci::archive::write`]).
pub(crate) fn write_archive(
    dest: &Path,
    dirs: &[&str],
    files: Vec<(String, PathBuf)>,
    mtime: u64,
) -> Result<(), Error> {
    Ok(oci::archive::write(dest, dirs, files, mtime)?)
}

/// True when `dir` does not exist or is an empty folder: a new layout may be renamed there.
fn vacant(dir: &Path) -> Result<bool, Error> {
    match fs_err::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::Write {
            path: dir.to_path_buf(),
            source: plain(e),
        }),
    }
}

/// Writes to an OCI layout. The image is assembled as a complete layout in a staging folder
/// beside DIR, without any lock; then, under the lock on DIR's parent, it is renamed into
/// place when DIR is new, or its blobs are moved into DIR and DIR's `index.json` is updated
/// under DIR's own lock (re-read there: a tag another writer added meanwhile stays).
fn write_oci(
    plans: &[Plan],
    dir: &Path,
    tag: &str,
    cache: &mut LayerCache,
) -> Result<BuiltSet, Error> {
    // Refuse a folder that is not a layout before doing any work.
    if !vacant(dir)? {
        open_existing(dir)?.sweep();
    }
    let parent = parent_of(dir);
    guard::sweep(&parent);
    let work = Staging::new_in(&parent)?;
    let mut built = write_new_layout(plans, work.path(), tag, cache)?;
    let _lock = Lock::folder(&parent)?;
    if vacant(dir)? {
        if dir.exists() {
            fs_err::remove_dir(dir).map_err(werr(dir))?;
        }
        work.rename_to(dir)?;
        return Ok(built);
    }
    let layout = open_existing(dir)?;
    move_blobs(work.path(), &layout)?;
    let previous = layout.update(|index| -> Result<_, Error> { Ok(retag(index, &built, tag)) })?;
    // Still under the lock a build holds while it adds blobs: what the old image left behind.
    // Only a note: a layout kiln cannot walk to the end does not fail the build.
    built.replaced = previous
        .filter(|p| p.digest != built.top.digest)
        .and_then(|p| {
            let (n, bytes) = oci::gc::left_behind(&layout, &p).ok()?;
            Some(super::Replaced {
                tag: tag.to_string(),
                previous: p.digest,
                unreachable_blobs: n,
                unreachable_bytes: bytes,
            })
        });
    Ok(built)
}

fn open_existing(dir: &Path) -> Result<Layout, Error> {
    Layout::open(dir).map_err(|e| match e {
        oci::Error::NotALayout { .. } => Error::NotALayout {
            path: dir.to_path_buf(),
        },
        other => Error::Oci(other),
    })
}

/// Moves the blobs of the staged layout `from` into `layout` (renames, each atomic).
fn move_blobs(from: &Path, layout: &Layout) -> Result<(), Error> {
    let blobs = from.join("blobs/sha256");
    fs_err::create_dir_all(layout.blobs_dir(crate::digest::Algorithm::Sha256))
        .map_err(werr(layout.dir()))?;
    for e in fs_err::read_dir(&blobs).map_err(werr(&blobs))? {
        let e = e.map_err(werr(&blobs))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(d) = Digest::parse(&format!("sha256:{name}")) else {
            continue;
        };
        // Always renamed over what is there: a blob planted under our digest with other bytes
        // is replaced, and a reader that has the old one open keeps reading it.
        fs_err::rename(e.path(), layout.blob_path(&d)).map_err(werr(&layout.blob_path(&d)))?;
    }
    Ok(())
}

/// The index of an existing layout after a build of `built` under `tag`: the tag moves to the
/// new image; returns the entry it had before.
fn retag(index: &mut oci::Index, built: &BuiltSet, tag: &str) -> Option<Descriptor> {
    let previous = index.tagged(tag).cloned();
    index.retain(|m| m.tag() != Some(tag));
    index.push(tagged(built, tag));
    previous
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transport_syntax() {
        assert_eq!(
            Output::parse("oci:out/x").unwrap(),
            Output::Oci {
                dir: "out/x".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(
            Output::parse("oci:out/x:v1").unwrap(),
            Output::Oci {
                dir: "out/x".into(),
                tag: "v1".into()
            }
        );
        assert_eq!(
            Output::parse("oci-archive:x.tar:v2").unwrap(),
            Output::OciArchive {
                file: "x.tar".into(),
                tag: "v2".into()
            }
        );
        assert_eq!(
            Output::parse("docker-archive:x.tar:kiln/app:v3").unwrap(),
            Output::DockerArchive {
                file: "x.tar".into(),
                reference: Some("kiln/app:v3".into())
            }
        );
        assert_eq!(
            Output::parse("docker-archive:x.tar:app").unwrap(),
            Output::DockerArchive {
                file: "x.tar".into(),
                reference: Some("app:latest".into())
            }
        );
        assert!(Output::parse("docker://x").is_err());
        assert!(Output::parse("oci:").is_err());
        assert!(Output::parse("oci:x:bad tag").is_err());
        assert!(Output::parse("nonsense").is_err());
    }
}
