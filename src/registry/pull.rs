//! Pulling an image from a registry into an `oci:` layout or an `oci-archive:`, exact bytes.
//!
//! Owns: choosing what to fetch (the tagged manifest; for an index one platform's manifest
//! with `--platform`, or the index and every child with `--all`; with `--with-referrers` the
//! artifacts kiln names in annotations, the referrers API's (or the `sha256-HEX` tag's) list and
//! cosign's `sha256-HEX.sig`/`.att` tags), fetching every blob into a staging layout (streamed,
//! a few at a time, hashed on the way), then publishing it: renamed into place as a new layout,
//! or merged into an existing one (blobs moved in, `index.json` changed through
//! `Layout::update` under the locks image output takes), or archived whole.
//! Does not own: HTTP, auth and redirects (`client`), the layout's format (`crate::oci`).
//! Invariant: every manifest is the bytes the registry sent, checked against its digest (and
//! an index child against its descriptor's size); every blob is checked against its digest and
//! size before anything is published; a mismatch publishes nothing.

use super::client::{Client, Sink};
use super::{Error, Options, Reference};
use crate::digest::Digest;
use crate::oci::guard::{self, Lock, Staging};
use crate::oci::layout::Layout;
use crate::oci::transport::Output;
use crate::oci::SUBJECT_ANNOTATION;
use crate::oci::{self, Descriptor, Manifest, REF_NAME};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Which part of an index to pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// The image manifest, or the only child of an index (an index of several is an error).
    One,
    /// This platform's manifest of an index (`OS/ARCH[/VARIANT]`).
    Platform(String),
    /// The index and every child.
    All,
}

/// What a pull asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub source: Reference,
    pub destination: Output,
    pub select: Select,
    pub with_referrers: bool,
    /// Leave the image layers out (the layout is then incomplete: for reading the manifests,
    /// configs and artifacts only, as `kiln sbom docker://...` does in a temporary folder).
    pub skip_layers: bool,
}

/// What a pull did (the `--json` report).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pulled {
    /// `HOST/REPO@DIGEST` of what the tag now names.
    pub reference: String,
    pub destination: String,
    pub digest: Digest,
    pub media_type: String,
    /// The platforms written (one, or every child of an index).
    pub platforms: Vec<String>,
    pub manifests: usize,
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs the destination already had (hashed, not fetched).
    pub present: usize,
    /// Artifacts, signatures and attestations fetched (`--with-referrers`).
    pub referrers: Vec<String>,
}

/// A manifest as fetched: exact bytes, parsed.
struct Got {
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
    parsed: Manifest,
}

/// Everything to write: manifests and blobs (by digest), and the index entries.
#[derive(Default)]
struct Plan {
    manifests: BTreeMap<Digest, Vec<u8>>,
    blobs: BTreeMap<Digest, u64>,
    /// The layers of the images (not of artifacts): what `skip_layers` leaves out.
    layers: std::collections::BTreeSet<Digest>,
    entries: Vec<Descriptor>,
    referrers: Vec<String>,
}

fn fetch(client: &Client, src: &Reference, at: &str) -> Result<Got, Error> {
    let shown = format!(
        "{}/{}{}{at}",
        src.host,
        src.repo,
        if Digest::parse(at).is_some() {
            "@"
        } else {
            ":"
        }
    );
    let f = client
        .get_manifest(&src.repo, at)?
        .ok_or_else(|| Error::NotFound {
            what: shown.clone(),
        })?;
    let parsed =
        oci::parse_manifest(&f.bytes, Some(&f.media_type)).map_err(|why| Error::BadManifest {
            reference: shown,
            why,
        })?;
    Ok(Got {
        bytes: f.bytes,
        digest: f.digest,
        media_type: f.media_type,
        parsed,
    })
}

/// The child `d` of an index: by digest, its size the descriptor's.
fn fetch_child(client: &Client, src: &Reference, d: &Descriptor) -> Result<Got, Error> {
    let g = fetch(client, src, &d.digest.to_string())?;
    if g.bytes.len() as u64 != d.size {
        return Err(Error::BadManifest {
            reference: format!("{}/{}@{}", src.host, src.repo, d.digest),
            why: format!(
                "it has {} bytes, its index entry says {}",
                g.bytes.len(),
                d.size
            ),
        });
    }
    Ok(g)
}

impl Plan {
    /// An artifact's (or signature's) manifest and blobs.
    fn add(&mut self, g: &Got) {
        self.manifests.insert(g.digest.clone(), g.bytes.clone());
        for b in g.parsed.blobs() {
            self.blobs.insert(b.digest.clone(), b.size);
        }
    }

    /// An image's manifest and blobs, its layers marked as such.
    fn add_image(&mut self, g: &Got) {
        self.add(g);
        if let Manifest::Image { layers, .. } = &g.parsed {
            self.layers.extend(layers.iter().map(|l| l.digest.clone()));
        }
    }
}

/// The descriptor of `g` as an index entry.
fn entry(
    g: &Got,
    platform: Option<oci::Platform>,
    annotations: BTreeMap<String, String>,
) -> Descriptor {
    Descriptor {
        media_type: g.media_type.clone(),
        digest: g.digest.clone(),
        size: g.bytes.len() as u64,
        artifact_type: None,
        platform,
        annotations,
    }
}

/// Chooses and fetches the manifests; returns the plan with the tagged entry first.
fn plan(client: &Client, req: &Request, tag: &str) -> Result<(Plan, Vec<String>), Error> {
    let src = &req.source;
    let at = match (&src.digest, &src.tag) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.clone().unwrap_or_else(|| "latest".into()),
    };
    let top = fetch(client, src, &at)?;
    let mut plan = Plan::default();
    let mut platforms = Vec::new();
    // (image manifest, its descriptor's annotations): the subjects of referrers.
    let mut images: Vec<(Digest, BTreeMap<String, String>)> = Vec::new();
    let shown = format!("{src}");
    let tagged: Descriptor = match &top.parsed {
        Manifest::Image { .. } => {
            plan.add_image(&top);
            images.push((top.digest.clone(), BTreeMap::new()));
            platforms.push("/".to_string());
            entry(&top, None, BTreeMap::new())
        }
        Manifest::Index { manifests, .. } => {
            let pick =
                match &req.select {
                    Select::All => None,
                    Select::Platform(p) => Some(oci::find_platform(manifests, p).map_err(
                        |there| Error::Platform {
                            image: shown.clone(),
                            why: format!("it has no `{p}` image (platforms: {there})"),
                        },
                    )?),
                    Select::One if manifests.len() == 1 => Some(&manifests[0]),
                    Select::One => {
                        return Err(Error::PickPlatform {
                            image: shown,
                            platforms: manifests.iter().map(Descriptor::platform_name).collect(),
                        })
                    }
                };
            match pick {
                Some(d) => {
                    let child = fetch_child(client, src, d)?;
                    if matches!(child.parsed, Manifest::Index { .. }) {
                        return Err(Error::BadManifest {
                            reference: format!("{}/{}@{}", src.host, src.repo, d.digest),
                            why: "an index inside an index is not supported".into(),
                        });
                    }
                    plan.add_image(&child);
                    platforms.push(d.platform_name());
                    // Its descriptor's annotations (kiln's artifacts among them) go along.
                    let mut an = d.annotations.clone();
                    an.remove(REF_NAME);
                    images.push((child.digest.clone(), an.clone()));
                    entry(&child, d.platform.clone(), an)
                }
                None => {
                    plan.add(&top);
                    for d in manifests {
                        let child = fetch_child(client, src, d)?;
                        if matches!(child.parsed, Manifest::Index { .. }) {
                            return Err(Error::BadManifest {
                                reference: format!("{}/{}@{}", src.host, src.repo, d.digest),
                                why: "an index inside an index is not supported".into(),
                            });
                        }
                        plan.add_image(&child);
                        platforms.push(d.platform_name());
                        images.push((child.digest.clone(), d.annotations.clone()));
                    }
                    images.push((top.digest.clone(), BTreeMap::new()));
                    entry(&top, None, BTreeMap::new())
                }
            }
        }
    };
    let mut tagged = tagged;
    if req.with_referrers {
        for (subject, annotations) in &images {
            let found = referrers(client, src, subject, annotations, &mut plan)?;
            // Only the tagged entry's annotations can be added to: a child's are in the
            // index's bytes, which stay as read.
            if *subject == tagged.digest {
                for (k, d) in found {
                    tagged
                        .annotations
                        .entry(k.to_string())
                        .or_insert(d.to_string());
                }
            }
        }
    }
    tagged.annotations.insert(REF_NAME.into(), tag.into());
    plan.entries.insert(0, tagged);
    Ok((plan, platforms))
}

/// Fetches the referrers of `subject`: kiln's artifacts named in `annotations`, the referrers
/// API's list (else the `sha256-HEX` tag's), cosign's `.sig`/`.att` tags (as entries of their
/// own). Returns the kiln artifact annotations found.
fn referrers(
    client: &Client,
    src: &Reference,
    subject: &Digest,
    annotations: &BTreeMap<String, String>,
    plan: &mut Plan,
) -> Result<Vec<(&'static str, Digest)>, Error> {
    let mut found: Vec<(&'static str, Digest)> = Vec::new();
    for (key, _) in oci::ARTIFACT_ANNOTATIONS {
        if let Some(d) = annotations.get(key).and_then(|v| Digest::parse(v)) {
            found.push((key, d));
        }
    }
    let listed = match client.referrers(&src.repo, subject)? {
        Some(v) => Some(v),
        None => client
            .get_manifest(
                &src.repo,
                &format!("{}-{}", subject.algorithm().name(), subject.hex()),
            )?
            .and_then(|f| serde_json::from_slice::<serde_json::Value>(&f.bytes).ok()),
    };
    for m in listed
        .as_ref()
        .and_then(|v| v["manifests"].as_array())
        .into_iter()
        .flatten()
    {
        let (Some(d), Some(t)) = (
            m["digest"].as_str().and_then(Digest::parse),
            m["artifactType"]
                .as_str()
                .and_then(oci::artifact_annotation),
        ) else {
            continue;
        };
        if !found.iter().any(|(k, _)| *k == t) {
            found.push((t, d));
        }
    }
    for (_, d) in &found {
        let g = fetch(client, src, &d.to_string())?;
        plan.add(&g);
        plan.referrers.push(g.digest.to_string());
    }
    for suffix in ["sig", "att"] {
        let tag = crate::oci::cosign_tag(subject, suffix);
        if client.head_manifest(&src.repo, &tag)?.is_none() {
            continue;
        }
        let g = fetch(client, src, &tag)?;
        plan.add(&g);
        plan.referrers.push(tag.clone());
        let an = [
            (REF_NAME.to_string(), tag),
            (SUBJECT_ANNOTATION.to_string(), subject.to_string()),
        ]
        .into_iter()
        .collect();
        plan.entries.push(entry(&g, None, an));
    }
    Ok(found)
}

fn werr(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Write {
        path: p.to_path_buf(),
        source: e,
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(x) if !x.as_os_str().is_empty() => x.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True when `dir` does not exist or is an empty folder.
fn vacant(dir: &Path) -> Result<bool, Error> {
    match fs_err::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(werr(dir)(e)),
    }
}

/// Fetches every blob of `plan` into the staging layout `stage` (a few at a time), except
/// those `existing` holds with the right bytes. Returns how many were there already.
fn fetch_blobs(
    client: &Client,
    src: &Reference,
    opts: &Options,
    plan: &Plan,
    stage: &Layout,
    existing: Option<&Layout>,
    skip_layers: bool,
) -> Result<usize, Error> {
    let present = AtomicUsize::new(0);
    let wanted: Vec<(&Digest, u64)> = plan
        .blobs
        .iter()
        .filter(|(d, _)| !(skip_layers && plan.layers.contains(*d)))
        .map(|(d, s)| (d, *s))
        .rev()
        .collect();
    let total: u64 = wanted.iter().map(|(_, s)| s).sum();
    opts.progress.0.start(wanted.len(), total);
    let todo: Mutex<Vec<(&Digest, u64)>> = Mutex::new(wanted);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let work = || loop {
        if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
            return;
        }
        let Some((d, size)) = todo.lock().ok().and_then(|mut t| t.pop()) else {
            return;
        };
        let had = existing
            .and_then(|l| l.blob_size(d).ok().flatten())
            .filter(|&n| n == size)
            .and_then(|_| {
                let p = existing?.blob_path(d);
                let (f, _) = oci::layout::open_plain(&p).ok()??;
                d.recompute_reader(f).ok().filter(|(got, _)| got == d)
            })
            .is_some();
        if had {
            present.fetch_add(1, Ordering::Relaxed);
            opts.progress.0.blob_done(size, false);
            continue;
        }
        let path = stage.blob_path(d);
        let r = client.get_blob_to(
            &src.repo,
            Sink::File {
                path: &path,
                digest: d,
                size,
            },
        );
        match r {
            Ok(()) => opts.progress.0.blob_done(size, true),
            Err(e) => {
                if let Ok(mut f) = first_error.lock() {
                    f.get_or_insert(e);
                }
                return;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, 16) {
            s.spawn(work);
        }
    });
    opts.progress.0.finish();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(present.into_inner())
}

/// Pulls `req.source` into `req.destination`.
pub fn pull(req: &Request, opts: &Options) -> Result<Pulled, Error> {
    let (dir_or_file, tag, archive) = match &req.destination {
        Output::Oci { dir, tag } => (dir.clone(), tag.clone(), false),
        Output::OciArchive { file, tag } => (file.clone(), tag.clone(), true),
        other => return Err(Error::Destination(other.to_string())),
    };
    // Refuse a folder that is not a layout before any network traffic.
    let existing = if !archive && !vacant(&dir_or_file)? {
        let l = Layout::open(&dir_or_file)?;
        l.sweep();
        Some(l)
    } else {
        None
    };
    let opts = Options {
        pull_only: true,
        ..opts.clone()
    };
    let client = Client::connect(&req.source, &opts)?;
    let (plan, platforms) = plan(&client, req, &tag)?;

    let parent = parent_of(&dir_or_file);
    guard::sweep(&parent);
    let work = Staging::new_in(&parent)?;
    let stage = Layout::new_unchecked(work.path());
    let blobs_dir = stage.blobs_dir(crate::digest::Algorithm::Sha256);
    fs_err::create_dir_all(&blobs_dir).map_err(werr(&blobs_dir))?;
    let sha512 = stage.blobs_dir(crate::digest::Algorithm::Sha512);
    if plan
        .blobs
        .keys()
        .chain(plan.manifests.keys())
        .any(|d| d.algorithm() == crate::digest::Algorithm::Sha512)
    {
        fs_err::create_dir_all(&sha512).map_err(werr(&sha512))?;
    }
    let present = fetch_blobs(
        &client,
        &req.source,
        &opts,
        &plan,
        &stage,
        existing.as_ref(),
        req.skip_layers,
    )?;
    for (d, bytes) in &plan.manifests {
        let p = stage.blob_path(d);
        fs_err::write(&p, bytes).map_err(werr(&p))?;
    }
    let top = plan.entries[0].clone();
    let mut index = oci::Index::new();
    for e in &plan.entries {
        index.push(e.clone());
    }
    guard::write_atomic(
        &work.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    guard::write_atomic(&work.path().join("index.json"), &index.to_bytes())?;

    if archive {
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for d in plan.blobs.keys().chain(plan.manifests.keys()) {
            if stage.blob_path(d).exists() {
                files.push((d.blob_path(), stage.blob_path(d)));
            }
        }
        files.sort();
        files.dedup();
        files.push(("index.json".into(), work.path().join("index.json")));
        files.push(("oci-layout".into(), work.path().join("oci-layout")));
        let mut dirs = vec!["blobs", "blobs/sha256"];
        if sha512.exists() {
            dirs.push("blobs/sha512");
        }
        crate::oci::archive::write(&dir_or_file, &dirs, files, 0).map_err(|e| Error::Layout {
            path: dir_or_file.clone(),
            what: format!("cannot write the archive: {e}"),
        })?;
    } else {
        let _lock = Lock::folder(&parent)?;
        if vacant(&dir_or_file)? {
            if dir_or_file.exists() {
                fs_err::remove_dir(&dir_or_file).map_err(werr(&dir_or_file))?;
            }
            work.rename_to(&dir_or_file)?;
        } else {
            let layout = Layout::open(&dir_or_file)?;
            for alg in [
                crate::digest::Algorithm::Sha256,
                crate::digest::Algorithm::Sha512,
            ] {
                let from = stage.blobs_dir(alg);
                if !from.exists() {
                    continue;
                }
                let to = layout.blobs_dir(alg);
                fs_err::create_dir_all(&to).map_err(werr(&to))?;
                for e in fs_err::read_dir(&from).map_err(werr(&from))? {
                    let e = e.map_err(werr(&from))?;
                    let dest = to.join(e.file_name());
                    fs_err::rename(e.path(), &dest).map_err(werr(&dest))?;
                }
            }
            layout.update(|index| -> Result<(), Error> {
                for e in &plan.entries {
                    let t = e.tag().map(str::to_string);
                    index.retain(|m| m.tag() != t.as_deref());
                    index.push(e.clone());
                }
                Ok(())
            })?;
        }
    }
    // The registry has these blobs in this repository: a later push of an image made from them
    // (built on this one as a base) mounts them from here instead of uploading them.
    if !req.skip_layers {
        super::known::Known::load().record(&req.source.host, &req.source.repo, plan.blobs.keys());
    }
    Ok(Pulled {
        reference: format!("{}/{}@{}", req.source.host, req.source.repo, top.digest),
        destination: req.destination.to_string(),
        digest: top.digest,
        media_type: top.media_type,
        platforms,
        manifests: plan.manifests.len(),
        blobs: plan.blobs.len(),
        bytes: plan.blobs.values().sum(),
        present,
        referrers: plan.referrers,
    })
}

/// A registry repository as a [`oci::inspect::Blobs`] store.
struct RemoteStore<'a> {
    client: &'a Client,
    src: &'a Reference,
}

fn store_error(image: String, e: Error) -> oci::inspect::Error {
    oci::inspect::Error::Store {
        image,
        why: "cannot read it from the registry".into(),
        source: Box::new(e),
    }
}

impl oci::inspect::Blobs for RemoteStore<'_> {
    fn name(&self) -> String {
        format!("{}/{}", self.src.host, self.src.repo)
    }

    fn read_blob(
        &self,
        d: &Digest,
        size: Option<u64>,
        max: u64,
    ) -> Result<Vec<u8>, oci::inspect::Error> {
        // Manifests by the manifest endpoint (checked there), configs by the blob endpoint.
        let bytes = if max == oci::MAX_MANIFEST {
            fetch(self.client, self.src, &d.to_string())
                .map(|g| g.bytes)
                .map_err(|e| store_error(self.name(), e))?
        } else {
            self.client
                .get_blob(&self.src.repo, d)
                .map_err(|e| store_error(self.name(), e))?
        };
        if size.is_some_and(|s| s != bytes.len() as u64) || bytes.len() as u64 > max {
            return Err(oci::inspect::Error::Invalid {
                image: self.name(),
                why: format!(
                    "{d} has {} bytes, not what its descriptor says",
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }

    fn referrers(
        &self,
        subject: &Digest,
    ) -> Result<Vec<oci::inspect::Referrer>, oci::inspect::Error> {
        let mut plan = Plan::default();
        let found = referrers(self.client, self.src, subject, &BTreeMap::new(), &mut plan)
            .map_err(|e| store_error(self.name(), e))?;
        let mut out: Vec<oci::inspect::Referrer> = found
            .into_iter()
            .map(|(key, d)| oci::inspect::Referrer {
                kind: key.rsplit('.').next().unwrap_or(key).to_string(),
                digest: d,
                found: "referrers".into(),
            })
            .collect();
        for e in plan.entries {
            out.push(oci::inspect::Referrer {
                kind: e
                    .tag()
                    .map_or("signature", oci::inspect::kind_of_tag)
                    .to_string(),
                digest: e.digest,
                found: "tag".into(),
            });
        }
        Ok(out)
    }
}

/// `kiln inspect docker://...`: the manifest the reference names, read as any store.
pub fn inspect(
    src: &Reference,
    opts: &Options,
    platform: Option<&str>,
) -> Result<oci::inspect::Inspected, oci::inspect::Error> {
    let opts = Options {
        pull_only: true,
        ..opts.clone()
    };
    let shown = src.to_string();
    let client = Client::connect(src, &opts).map_err(|e| store_error(shown.clone(), e))?;
    let at = match (&src.digest, &src.tag) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.clone().unwrap_or_else(|| "latest".into()),
    };
    let top = fetch(&client, src, &at).map_err(|e| store_error(shown.clone(), e))?;
    let desc = entry(&top, None, BTreeMap::new());
    let store = RemoteStore {
        client: &client,
        src,
    };
    oci::inspect::inspect(&store, &shown, &desc, &top.bytes, platform)
}

/// A registry image's layers, for reading as a file system (`kiln explain` of an image kiln
/// did not build): each layer is streamed into a file in `work`, checked against its digest
/// and size on the way, opened, and unlinked at once, so the file is gone when its reader is.
pub struct RemoteLayers<'a> {
    client: Client,
    src: Reference,
    pub image: oci::inspect::Inspected,
    work: &'a Path,
}

/// The image `src` names (for an index, the `platform`'s), ready to read its layers.
pub fn layers<'a>(
    src: &Reference,
    opts: &Options,
    platform: Option<&str>,
    work: &'a Path,
) -> Result<RemoteLayers<'a>, oci::inspect::Error> {
    let opts = Options {
        pull_only: true,
        ..opts.clone()
    };
    let image = inspect(src, &opts, platform)?;
    let client = Client::connect(src, &opts).map_err(|e| store_error(src.to_string(), e))?;
    Ok(RemoteLayers {
        client,
        src: src.clone(),
        image,
        work,
    })
}

impl oci::layers::LayerSource for RemoteLayers<'_> {
    fn name(&self) -> String {
        self.image.image.clone()
    }
    fn digests(&self) -> Vec<Digest> {
        self.image.layers.iter().map(|l| l.digest.clone()).collect()
    }
    fn open(&self, i: usize) -> Result<oci::layers::LayerStream<'_>, oci::inspect::Error> {
        let l = &self.image.layers[i];
        let path = self.work.join(format!("layer-{i}"));
        let sink = Sink::File {
            path: &path,
            digest: &l.digest,
            size: l.size,
        };
        self.client
            .get_blob_to(&self.src.repo, sink)
            .map_err(|e| store_error(self.name(), e))?;
        let f = fs_err::File::open(&path).map_err(|e| store_error(self.name(), werr(&path)(e)))?;
        fs_err::remove_file(&path).map_err(|e| store_error(self.name(), werr(&path)(e)))?;
        Ok(oci::layers::LayerStream {
            raw: Box::new(f),
            diff_id: None,
        })
    }
}
