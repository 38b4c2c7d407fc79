//! Pushing an image kiln wrote to a registry that speaks the OCI distribution API.
//!
//! Owns: parsing `docker://HOST[:PORT]/REPO[:TAG]`, reading the image and its artifacts (SBOMs,
//! plan: index entries whose `dev.kiln.subject` is the image) from an `oci:` layout or an
//! `oci-archive:`, and sending their exact bytes: blobs (HEAD first, cross-repository mount,
//! monolithic or chunked upload streamed from the file, a few at a time, retried with
//! backoff), then the image manifest by tag and the artifact manifests by digest.
//! `auth` finds credentials and answers Basic and Bearer challenges; `client` is the HTTP side;
//! `policy` decides where a request may go and what it may carry.
//! Does not: print anything (the CLI does), build images, or keep secrets anywhere but memory.
//! Invariant: the bytes pushed are the bytes built: before a blob the registry lacks is sent
//! (monolithic or chunked), its file is hashed (streamed) and its size and digest compared
//! with the descriptor; a mismatch is [`Error::BlobMismatch`] and nothing of it is sent.
//! Blobs the registry has (HEAD, mount) are not read.
//! Invariant: every manifest read from a registry ([`Remote::manifest`], [`Remote::resolve`],
//! the `.sig`/`.att` and referrers-tag merges) is at most [`MAX_MANIFEST`] bytes and checked:
//! by digest, its bytes hash to it; by tag, its digest is the hash of its bytes and a
//! `Docker-Content-Digest` that disagrees is an error.
//! Invariant: Authorization goes only to the registry's own authority, plain HTTP only to
//! loopback or (`--insecure`) the registry's own host (`policy`); no secret, token or query
//! string appears in an error (URLs go through `client::redact_url`).

mod auth;
mod client;
mod known;
mod policy;
pub mod pull;
pub(crate) mod source;

pub use auth::Credentials;

use crate::digest::Digest;
use crate::oci::transport::Output;
use client::{Body, Client};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blobs up to this size (or the chunk size, if smaller) go in one PUT; larger ones in PATCH
/// chunks.
pub const MONOLITHIC_MAX: u64 = 16 << 20;
/// The default size of one PATCH of a chunked upload (`Options::chunk`): large enough that a
/// 1 GiB layer takes a handful of requests, small enough that a dropped connection costs
/// little (the upload resumes where the registry says it got to).
pub const CHUNK: u64 = 64 << 20;

/// One registry error from the JSON body (`{"errors":[{"code","message"}]}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistryCode {
    pub code: String,
    pub message: String,
}

fn codes_text(codes: &[RegistryCode]) -> String {
    if codes.is_empty() {
        return String::new();
    }
    let v: Vec<String> = codes
        .iter()
        .map(|c| format!("{}: {}", c.code, c.message))
        .collect();
    format!(" ({})", v.join("; "))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{spec:?} is not a registry reference: {why}")]
    Reference { spec: String, why: String },
    #[error("kiln pushes from oci: and oci-archive: images, not {0}")]
    Source(String),
    #[error("cannot read image {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {what}", path.display())]
    Layout { path: PathBuf, what: String },
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    #[error("cannot reach https://{host}/v2/: {message}\n(kiln uses plain HTTP only for a loopback host such as 127.0.0.1, ::1 or localhost, or with --insecure)")]
    PlainHttp { host: String, message: String },
    #[error("{url}: the registry's TLS certificate is not trusted ({message})\n(trust its CA with --cert-dir DIR holding the CA's .crt file; --insecure skips verification)")]
    Certificate { url: String, message: String },
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
        transient: bool,
    },
    #[error("{method} {url}: HTTP {status}{}", codes_text(codes))]
    Status {
        method: String,
        url: String,
        status: u16,
        codes: Vec<RegistryCode>,
    },
    #[error(
        "{host} asks for credentials ({scheme}) and none were given{}",
        codes_text(codes)
    )]
    NoCredentials {
        host: String,
        scheme: String,
        codes: Vec<RegistryCode>,
    },
    #[error("{host} refused the credentials (HTTP {status}){}", codes_text(codes))]
    Unauthorized {
        host: String,
        status: u16,
        codes: Vec<RegistryCode>,
    },
    #[error("the token server {realm} gave no token: {why}")]
    Token { realm: String, why: String },
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("cannot use TLS certificates from {}: {why}", path.display())]
    Certs { path: PathBuf, why: String },
    #[error("{what} does not exist in the registry")]
    NotFound { what: String },
    #[error("the registry stored the manifest as {got}, not {want}")]
    DigestMismatch { want: String, got: String },
    #[error("refusing plain HTTP to `{host}` ({url}), which the registry named as {named}\n\nhint: kiln speaks plain HTTP only to loopback hosts; --insecure allows it for the registry's own host ({registry}), never for another host it names")]
    PlainHttpRefused {
        host: String,
        url: String,
        named: policy::Named,
        registry: String,
    },
    #[error("the registry named {url} as {named}, which kiln does not follow: {why}")]
    BadUrl {
        url: String,
        named: policy::Named,
        why: policy::BadUrl,
    },
    #[error("{method} {url}: more than {max} redirects")]
    TooManyRedirects {
        method: String,
        url: String,
        max: usize,
    },
    #[error("{method} {url}: the redirects loop back to {again}")]
    RedirectLoop {
        method: String,
        url: String,
        again: String,
    },
    #[error("{method} {url}: the registry answered HTTP {status} (a redirect); kiln follows redirects of GET and HEAD only")]
    RedirectRefused {
        method: String,
        url: String,
        status: u16,
    },
    #[error("{method} {url}: the answer is larger than {limit} bytes")]
    TooLarge {
        method: String,
        url: String,
        limit: u64,
    },
    #[error("blob `{blob}` ({place}) does not match its descriptor: expected {want}, got {got}; nothing of it was sent\n\nhint: the layout was changed after it was written; rebuild the image")]
    BlobMismatch {
        blob: Digest,
        place: String,
        want: String,
        got: String,
    },
    #[error("manifest `{manifest}` from the registry does not hash to its digest: expected {want}, got {got}")]
    ManifestMismatch {
        manifest: String,
        want: Digest,
        got: Digest,
    },
    #[error("manifest `{manifest}`: the registry's Docker-Content-Digest says {header}, but the bytes it sent hash to {got}")]
    ContentDigestHeader {
        manifest: String,
        header: String,
        got: Digest,
    },
    #[error("blob `{blob}` from the registry ({url}) does not hash to its digest: expected {blob}, got {got}")]
    FetchedBlobMismatch {
        blob: Digest,
        url: String,
        got: String,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{image} is an index of {} platforms: pick one with --platform ({}) or take all with --all", platforms.len(), platforms.join(", "))]
    PickPlatform {
        image: String,
        platforms: Vec<String>,
    },
    #[error("{image}: {why}")]
    Platform { image: String, why: String },
    #[error("{reference}: {why}")]
    BadManifest { reference: String, why: String },
    #[error("kiln pulls into oci: and oci-archive: images, not {0}")]
    Destination(String),
}

/// Docker Hub's name in references and credential files.
pub const DOCKER_HUB: &str = "docker.io";

/// `docker://HOST[:PORT]/REPO[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub host: String,
    pub repo: String,
    /// The tag; `None` when the reference names a digest.
    pub tag: Option<String>,
    /// `@sha256:...`, for commands that read (verify, sign in place).
    pub digest: Option<Digest>,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.repo)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl Reference {
    pub fn parse(spec: &str) -> Result<Reference, Error> {
        let bad = |why: &str| Error::Reference {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        let rest = spec
            .strip_prefix("docker://")
            .ok_or_else(|| bad("expected docker://HOST[:PORT]/REPO[:TAG]"))?;
        // As Docker reads a name: the first component is a registry host only when it has a
        // `.` or a `:` or is `localhost`; otherwise the image is on Docker Hub.
        let (host, path) = match rest.split_once('/') {
            Some((h, p)) if h.contains(['.', ':', '[']) || h == "localhost" => (h, p.to_string()),
            Some(_) => (DOCKER_HUB, rest.to_string()),
            None => (DOCKER_HUB, format!("library/{rest}")),
        };
        let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
            DOCKER_HUB
        } else {
            host
        };
        // Docker Hub's official images live under `library/`.
        let path = if host == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let path = path.as_str();
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !host_ok || host.contains('@') {
            return Err(bad("the host is not valid (credentials go in --creds)"));
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (
                p,
                Some(
                    Digest::parse(d)
                        .ok_or_else(|| bad("the digest is not sha256: and 64 hex digits"))?,
                ),
            ),
            None => (path, None),
        };
        let (repo, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t)),
            _ if digest.is_some() => (path, None),
            _ => (path, Some("latest")),
        };
        let comp_ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
        };
        if !repo.split('/').all(comp_ok) {
            return Err(bad(&format!(
                "{repo:?} is not a valid repository (lowercase letters, digits, `.`, `_`, `-`, `/`)"
            )));
        }
        if let Some(tag) = tag {
            let tag_ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && tag.as_bytes()[0] != b'.'
                && tag.as_bytes()[0] != b'-';
            if !tag_ok {
                return Err(bad(&format!("{tag:?} is not a valid tag")));
            }
        }
        Ok(Reference {
            host: host.to_string(),
            repo: repo.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The host the distribution API answers on (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.host == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.host
        }
    }

    /// True when the host is 127.0.0.0/8, ::1 or localhost.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        let name = if let Some(rest) = h.strip_prefix('[') {
            rest.split(']').next().unwrap_or("")
        } else {
            h.rsplit_once(':').map_or(h, |(n, _)| n)
        };
        policy::is_loopback_host(name)
    }
}

/// What a push reports while it runs (the CLI draws progress bars on a terminal).
pub trait Progress: Send + Sync {
    /// The blobs to send: how many, and their total size.
    fn start(&self, blobs: usize, bytes: u64);
    /// `n` more bytes went out (a retried request counts again).
    fn sent(&self, n: u64);
    /// One blob is there: uploaded, skipped (the registry had it) or mounted; `size` bytes.
    fn blob_done(&self, size: u64, uploaded: bool);
    /// The push is over (whatever the outcome).
    fn finish(&self);
}

/// A [`Progress`] that reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: usize, _: u64) {}
    fn sent(&self, _: u64) {}
    fn blob_done(&self, _: u64, _: bool) {}
    fn finish(&self) {}
}

/// The progress sink of [`Options`].
#[derive(Clone)]
pub struct ProgressSink(pub std::sync::Arc<dyn Progress>);

impl Default for ProgressSink {
    fn default() -> Self {
        ProgressSink(std::sync::Arc::new(Quiet))
    }
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where progress goes (nowhere by default).
    pub progress: ProgressSink,
    pub credentials: Option<Credentials>,
    /// Allow plain HTTP and unverified TLS for the destination registry's own host (when it
    /// is not a loopback host). Never for another host the registry names (upload
    /// `Location`, redirect, token realm): `policy::Policy` decides per URL.
    pub insecure: bool,
    /// Every `*.crt` here is trusted as a CA.
    pub cert_dir: Option<PathBuf>,
    /// Other repositories of the same registry to mount blobs from.
    pub from_repos: Vec<String>,
    /// Concurrent blob uploads.
    pub jobs: usize,
    /// Ask for pull access only (verify).
    pub pull_only: bool,
    /// Bytes per PATCH of a chunked upload (0: [`CHUNK`]).
    pub chunk: u64,
}

impl Options {
    pub(crate) fn chunk_size(&self) -> u64 {
        if self.chunk == 0 {
            CHUNK
        } else {
            self.chunk
        }
    }
}

/// The largest small blob (signature payload, SBOM) kiln fetches.
pub const MAX_FETCH: u64 = 64 << 20;

/// The largest manifest or index kiln fetches (distribution's own limit), checked before
/// parsing: the one limit of [`crate::oci`].
pub use crate::oci::MAX_MANIFEST;

/// What a push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// `HOST/REPO@sha256:...`
    pub reference: String,
    pub digest: String,
    pub tag: String,
    pub blobs: usize,
    pub uploaded: usize,
    pub skipped: usize,
    pub mounted: usize,
    pub artifacts: Vec<String>,
}

/// A blob to send: digest, size, and where its bytes are.
#[derive(Debug, Clone)]
struct Blob {
    digest: Digest,
    size: u64,
    path: PathBuf,
    /// Repositories of the same registry to mount it from (`--from-repo`, then where kiln
    /// pushed it before).
    mount_from: Vec<String>,
}

#[derive(Default)]
struct Counts {
    uploaded: AtomicUsize,
    skipped: AtomicUsize,
    mounted: AtomicUsize,
}

/// Pushes the image `src` names (with its artifacts) to `dest`.
pub fn push(src: &Output, dest: &Reference, opts: &Options) -> Result<Summary, Error> {
    let tag = match (&dest.tag, &dest.digest) {
        (Some(t), None) => t.as_str(),
        _ => {
            return Err(Error::Reference {
                spec: format!("docker://{dest}"),
                why: "push needs a tag, not a digest (the digest is the image's own)".into(),
            })
        }
    };
    let image = source::load(src)?;
    // Where this registry has the blobs already (kiln pushed them there): mount sources, which
    // the token must be allowed to pull from.
    let mut known = known::Known::load();
    let mut opts_with_sources = opts.clone();
    let mut sources: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for b in image.blobs() {
        let mut from: Vec<String> = opts.from_repos.clone();
        for r in known.repos(&dest.host, &b.digest, &dest.repo) {
            if !from.contains(&r) {
                from.push(r);
            }
        }
        from.retain(|r| *r != dest.repo);
        for r in &from {
            if !opts_with_sources.from_repos.contains(r) && opts_with_sources.from_repos.len() < 16
            {
                opts_with_sources.from_repos.push(r.clone());
            }
        }
        from.retain(|r| opts_with_sources.from_repos.contains(r));
        sources.insert(b.digest.clone(), from);
    }
    let opts = &opts_with_sources;
    let client = Client::connect(dest, opts)?;
    // What the registry has already: the tag at our manifest, and the platform and artifact
    // manifests by digest. A registry accepts a manifest only when its blobs are there, so
    // their blobs need no HEAD and the manifests no PUT (a warm push is a few HEADs).
    // A registry that cannot answer these HEADs (no digest header, a method it refuses) only
    // loses the shortcut: its errors here are not the push's; real ones come back below.
    let mut present: BTreeSet<Digest> = BTreeSet::new();
    if client
        .head_manifest(&dest.repo, tag)
        .ok()
        .flatten()
        .as_ref()
        == Some(&image.manifest.digest)
    {
        present.insert(image.manifest.digest.clone());
    }
    for m in image
        .children
        .iter()
        .chain(image.artifacts.iter().filter(|a| a.tag.is_none()))
    {
        if client
            .head_manifest(&dest.repo, &m.digest.to_string())
            .ok()
            .flatten()
            .is_some()
        {
            present.insert(m.digest.clone());
        }
    }
    let mut present_blobs: BTreeSet<Digest> = BTreeSet::new();
    for m in std::iter::once(&image.manifest)
        .chain(&image.children)
        .chain(&image.artifacts)
        .filter(|m| present.contains(&m.digest))
    {
        present_blobs.extend(m.blobs.iter().map(|b| b.digest.clone()));
    }
    let mut blobs: Vec<Blob> = Vec::new();
    let mut seen = BTreeSet::new();
    let counts = Counts::default();
    for b in image.blobs() {
        if seen.insert(b.digest.clone()) {
            if present_blobs.contains(&b.digest) {
                counts.skipped.fetch_add(1, Ordering::Relaxed);
            } else {
                let mut b = b.clone();
                b.mount_from = sources.remove(&b.digest).unwrap_or_default();
                blobs.push(b);
            }
        }
    }
    let total = seen.len();
    // Largest first: the long uploads start early.
    blobs.sort_by(|a, b| b.size.cmp(&a.size).then(a.digest.cmp(&b.digest)));
    let progress = &opts.progress.0;
    progress.start(blobs.len(), blobs.iter().map(|b| b.size).sum());
    let pushed = Pushed {
        tag,
        present: &present,
        total,
    };
    let result = push_all(&client, dest, &pushed, opts, &image, &blobs, &counts);
    progress.finish();
    if result.is_ok() {
        known.record(&dest.host, &dest.repo, seen.iter());
    }
    result
}

/// What `push_all` needs to know besides the image: the tag, the manifests the registry has,
/// the number of distinct blobs.
struct Pushed<'a> {
    tag: &'a str,
    present: &'a BTreeSet<Digest>,
    total: usize,
}

fn push_all(
    client: &Client,
    dest: &Reference,
    pushed: &Pushed<'_>,
    opts: &Options,
    image: &source::Image,
    blobs: &[Blob],
    counts: &Counts,
) -> Result<Summary, Error> {
    let queue = Mutex::new(blobs.iter().collect::<Vec<_>>());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let jobs = opts.jobs.clamp(1, 16).min(blobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    return;
                }
                let Some(b) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                    return;
                };
                if let Err(e) = push_blob(client, dest, opts, b, counts) {
                    if let Ok(mut fe) = first_error.lock() {
                        fe.get_or_insert(e);
                    }
                    return;
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let tag = pushed.tag;
    for c in image
        .children
        .iter()
        .filter(|c| !pushed.present.contains(&c.digest))
    {
        client.put_manifest(&dest.repo, &c.digest.to_string(), &c.media_type, &c.bytes)?;
    }
    if !pushed.present.contains(&image.manifest.digest) {
        let put = client.put_manifest(
            &dest.repo,
            tag,
            &image.manifest.media_type,
            &image.manifest.bytes,
        )?;
        if let Some(got) = put.digest {
            if got != image.manifest.digest.to_string() {
                return Err(Error::DigestMismatch {
                    want: image.manifest.digest.to_string(),
                    got,
                });
            }
        }
    }
    let mut artifacts = Vec::new();
    let mut referrers = Vec::new();
    for a in &image.artifacts {
        match &a.tag {
            // Signatures and attestations: added to what the registry holds, never replacing.
            Some(t) => append(client, &dest.repo, t, &a.bytes)?,
            None if pushed.present.contains(&a.digest) => {}
            None => {
                let put = client.put_manifest(
                    &dest.repo,
                    &a.digest.to_string(),
                    &a.media_type,
                    &a.bytes,
                )?;
                if !put.indexed_subject {
                    referrers.push(a);
                }
            }
        }
        artifacts.push(a.digest.to_string());
    }
    // Grouped by subject: the image, or each platform's manifest under an index.
    let mut by_subject: std::collections::BTreeMap<Digest, Vec<&source::Manifest>> =
        std::collections::BTreeMap::new();
    for a in referrers {
        let v: serde_json::Value = serde_json::from_slice(&a.bytes).unwrap_or_default();
        let subject = v["subject"]["digest"]
            .as_str()
            .and_then(Digest::parse)
            .unwrap_or_else(|| image.manifest.digest.clone());
        by_subject.entry(subject).or_default().push(a);
    }
    for (subject, list) in &by_subject {
        add_referrers(client, &dest.repo, subject, list)?;
    }
    Ok(Summary {
        reference: format!("{}/{}@{}", dest.host, dest.repo, image.manifest.digest),
        digest: image.manifest.digest.to_string(),
        tag: tag.to_string(),
        blobs: pushed.total,
        uploaded: counts.uploaded.load(Ordering::Relaxed),
        skipped: counts.skipped.load(Ordering::Relaxed),
        mounted: counts.mounted.load(Ordering::Relaxed),
        artifacts,
    })
}

/// True for cosign's signature and attestation tags (`sha256-HEX.sig`, `sha256-HEX.att`),
/// whose manifests only ever grow: kiln adds its layers to what is there.
pub fn is_append_tag(tag: &str) -> bool {
    tag.starts_with("sha256-") && (tag.ends_with(".sig") || tag.ends_with(".att"))
}

/// The config cosign gives a signature or attestation manifest: an empty image whose
/// `rootfs.diff_ids` are its (uncompressed) layers' digests.
pub fn append_config(layer_digests: &[String]) -> Vec<u8> {
    let v = serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": layer_digests.iter().map(|_| serde_json::json!({"created": "0001-01-01T00:00:00Z"})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": layer_digests},
    });
    serde_json::to_vec(&v).expect("json serialises")
}

/// An OCI manifest holding `layers` (descriptors as JSON) over [`append_config`]; returns the
/// manifest bytes and the config bytes.
pub fn append_manifest(layers: &[serde_json::Value]) -> (Vec<u8>, Vec<u8>) {
    let digests: Vec<String> = layers
        .iter()
        .filter_map(|l| l["digest"].as_str().map(str::to_string))
        .collect();
    let config = append_config(&digests);
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": crate::oci::CONFIG_MEDIA_TYPE,
            "size": config.len(),
            "digest": Digest::of(&config).to_string(),
        },
        "layers": layers,
    });
    (serde_json::to_vec(&m).expect("json serialises"), config)
}

/// The layers of `theirs` followed by those of `ours` that `theirs` lacks (same digest and
/// annotations).
pub fn merge_layers(
    theirs: &serde_json::Value,
    ours: &serde_json::Value,
) -> Vec<serde_json::Value> {
    let mut layers: Vec<serde_json::Value> =
        theirs["layers"].as_array().cloned().unwrap_or_default();
    for l in ours["layers"].as_array().into_iter().flatten() {
        let same = |x: &serde_json::Value| {
            x["digest"] == l["digest"] && x["annotations"] == l["annotations"]
        };
        if !layers.iter().any(same) {
            layers.push(l.clone());
        }
    }
    layers
}

/// Puts our signature/attestation manifest at `tag`, merged with the registry's (whose layer
/// blobs are there already; ours were pushed with the image).
fn append(client: &Client, repo: &str, tag: &str, ours: &[u8]) -> Result<(), Error> {
    let ours: serde_json::Value = serde_json::from_slice(ours).map_err(|e| Error::Layout {
        path: PathBuf::from(tag),
        what: format!("the manifest is not JSON: {e}"),
    })?;
    let theirs = match client.get_manifest(repo, tag)? {
        Some(f) => serde_json::from_slice(&f.bytes).unwrap_or_default(),
        None => serde_json::Value::Null,
    };
    let layers = merge_layers(&theirs, &ours);
    if theirs["layers"].as_array().map(Vec::len) == Some(layers.len()) {
        return Ok(());
    }
    let (manifest, config) = append_manifest(&layers);
    put_small_blob(client, repo, &config)?;
    client.put_manifest(repo, tag, crate::oci::MANIFEST_MEDIA_TYPE, &manifest)?;
    Ok(())
}

/// Uploads `bytes` as one blob unless the registry has it.
fn put_small_blob(client: &Client, repo: &str, bytes: &[u8]) -> Result<Digest, Error> {
    let d = Digest::of(bytes);
    if !client.blob_exists(repo, &d)? {
        let loc = client.start_upload(repo)?;
        client.finish_upload(&loc, &d, Body::Bytes(bytes.to_vec()))?;
    }
    Ok(d)
}

/// The referrers tag schema (OCI distribution 1.1) for registries without the referrers API:
/// the index at tag `sha256-HEX` lists the manifests whose subject is that digest.
fn add_referrers(
    client: &Client,
    repo: &str,
    subject: &Digest,
    artifacts: &[&source::Manifest],
) -> Result<(), Error> {
    let tag = format!("sha256-{}", subject.hex());
    let mut manifests: Vec<serde_json::Value> = match client.get_manifest(repo, &tag)? {
        Some(f) => serde_json::from_slice::<serde_json::Value>(&f.bytes)
            .ok()
            .and_then(|v| v["manifests"].as_array().cloned())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let before = manifests.len();
    for a in artifacts {
        let d = a.digest.to_string();
        if manifests
            .iter()
            .any(|m| m["digest"].as_str() == Some(d.as_str()))
        {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&a.bytes).unwrap_or_default();
        let mut desc = serde_json::json!({
            "mediaType": a.media_type,
            "digest": d,
            "size": a.bytes.len(),
        });
        if let Some(t) = v["artifactType"].as_str() {
            desc["artifactType"] = t.into();
        }
        if let Some(an) = v.get("annotations") {
            desc["annotations"] = an.clone();
        }
        manifests.push(desc);
    }
    if manifests.len() == before {
        return Ok(());
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::INDEX_MEDIA_TYPE,
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).expect("json serialises");
    client.put_manifest(repo, &tag, crate::oci::INDEX_MEDIA_TYPE, &bytes)?;
    Ok(())
}

/// A connection to one repository, for the commands that read and add small things (sign,
/// attest, verify).
pub struct Remote {
    client: Client,
    pub reference: Reference,
}

/// A manifest fetched from a registry, its bytes checked: `digest` is their hash.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

impl Remote {
    pub fn connect(reference: &Reference, opts: &Options) -> Result<Remote, Error> {
        Ok(Remote {
            client: Client::connect(reference, opts)?,
            reference: reference.clone(),
        })
    }

    /// The manifest at `reference` (a tag or a digest), `None` when there is none; checked
    /// against the digest (by digest) or `Docker-Content-Digest` (by tag), at most
    /// [`MAX_MANIFEST`] bytes.
    pub fn manifest(&self, reference: &str) -> Result<Option<Fetched>, Error> {
        self.client.get_manifest(&self.reference.repo, reference)
    }

    /// The manifest the reference names (its `@digest`, else what its tag points at), fetched
    /// and checked: its digest is that of bytes that exist, never just a header.
    pub fn resolve(&self) -> Result<Fetched, Error> {
        let (at, what) = match (&self.reference.digest, &self.reference.tag) {
            (Some(d), _) => (d.to_string(), format!("@{d}")),
            (None, t) => {
                let t = t.as_deref().unwrap_or("latest");
                (t.to_string(), format!(":{t}"))
            }
        };
        self.manifest(&at)?.ok_or_else(|| Error::NotFound {
            what: format!("{}/{}{what}", self.reference.host, self.reference.repo),
        })
    }

    /// The referrers index of `subject` from the referrers API, `None` when the registry has
    /// no such API.
    pub fn referrers(&self, subject: &Digest) -> Result<Option<serde_json::Value>, Error> {
        self.client.referrers(&self.reference.repo, subject)
    }

    /// A blob, checked against its digest (at most [`MAX_FETCH`] bytes).
    pub fn blob(&self, d: &Digest) -> Result<Vec<u8>, Error> {
        self.client.get_blob(&self.reference.repo, d)
    }

    /// Uploads a small blob unless it is there.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        put_small_blob(&self.client, &self.reference.repo, bytes)
    }

    /// PUTs a manifest at a tag or digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), Error> {
        self.client
            .put_manifest(&self.reference.repo, reference, media_type, bytes)
            .map(|_| ())
    }
}

/// Whole-blob attempts (each: HEAD, mount or upload); requests inside retry on their own.
const BLOB_ATTEMPTS: u32 = 5;

fn push_blob(
    client: &Client,
    dest: &Reference,
    opts: &Options,
    b: &Blob,
    counts: &Counts,
) -> Result<(), Error> {
    let mut attempt = 0;
    let mut verified = false;
    loop {
        match push_blob_once(client, dest, opts, b, &mut verified) {
            Ok(Outcome::Skipped) => {
                counts.skipped.fetch_add(1, Ordering::Relaxed);
                opts.progress.0.blob_done(b.size, false);
                return Ok(());
            }
            Ok(Outcome::Mounted) => {
                counts.mounted.fetch_add(1, Ordering::Relaxed);
                opts.progress.0.blob_done(b.size, false);
                return Ok(());
            }
            Ok(Outcome::Uploaded) => {
                counts.uploaded.fetch_add(1, Ordering::Relaxed);
                opts.progress.0.blob_done(b.size, true);
                return Ok(());
            }
            // A lost answer to the last PUT leaves the session gone (BLOB_UPLOAD_UNKNOWN) but
            // maybe the blob stored: the next attempt's HEAD tells. A lost answer to a PATCH
            // leaves kiln with a stale upload URL (BLOB_UPLOAD_INVALID): start again.
            Err(e)
                if (client::transient(&e) || upload_unknown(&e)) && attempt + 1 < BLOB_ATTEMPTS =>
            {
                attempt += 1;
                client::backoff(attempt);
            }
            Err(e) => return Err(e),
        }
    }
}

fn upload_unknown(e: &Error) -> bool {
    matches!(e, Error::Status { status: 404 | 400, codes, .. }
        if codes.iter().any(|c| c.code == "BLOB_UPLOAD_UNKNOWN" || c.code == "BLOB_UPLOAD_INVALID"))
}

enum Outcome {
    Skipped,
    Mounted,
    Uploaded,
}

/// Hashes the blob's file (streamed, 64 KiB at a time) and compares size and digest with its
/// descriptor.
fn verify_blob(b: &Blob) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Read {
        path: b.path.clone(),
        source: e,
    };
    let f = fs_err::File::open(&b.path).map_err(io)?;
    let (got, size) = Digest::of_reader(f).map_err(io)?;
    if got != b.digest || size != b.size {
        return Err(Error::BlobMismatch {
            blob: b.digest.clone(),
            place: b.path.display().to_string(),
            want: format!("{} ({} bytes)", b.digest, b.size),
            got: format!("{got} ({size} bytes)"),
        });
    }
    Ok(())
}

/// One attempt at one blob: HEAD, mounts, then (its bytes checked once, `verified`) the
/// upload.
fn push_blob_once(
    client: &Client,
    dest: &Reference,
    opts: &Options,
    b: &Blob,
    verified: &mut bool,
) -> Result<Outcome, Error> {
    let repo = &dest.repo;
    if client.blob_exists(repo, &b.digest)? {
        return Ok(Outcome::Skipped);
    }
    let mut location = None;
    for from in b.mount_from.iter().filter(|f| *f != repo) {
        match client.mount(repo, &b.digest, from)? {
            client::Mount::Mounted => return Ok(Outcome::Mounted),
            // Not there: the registry opened an upload session instead. Another source may
            // still have it; the last session is the one used (the others expire).
            client::Mount::Upload(loc) => location = Some(loc),
        }
    }
    // The registry lacks it: its bytes go out, so they must be the bytes the descriptor names
    // (a registry checks the digest, but only after taking them; a mismatch must not leave).
    if !*verified {
        verify_blob(b)?;
        *verified = true;
    }
    let location = match location {
        Some(l) => l,
        None => client.start_upload(repo)?,
    };
    if b.size <= MONOLITHIC_MAX.min(opts.chunk_size()) {
        client.finish_upload(
            &location,
            &b.digest,
            Body::File {
                path: b.path.clone(),
                offset: 0,
                len: b.size,
            },
        )?;
    } else {
        let location = client.chunked_upload(&location, &b.path, b.size)?;
        client.finish_upload(&location, &b.digest, Body::Empty)?;
    }
    Ok(Outcome::Uploaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("docker://127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.repo, "a/b");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert!(r.is_loopback());
        let r = Reference::parse("docker://registry.example/app").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert!(!r.is_loopback());
        assert!(Reference::parse("docker://localhost/x")
            .unwrap()
            .is_loopback());
        assert!(Reference::parse("docker://[::1]:5000/x")
            .unwrap()
            .is_loopback());
        assert!(Reference::parse("docker://127.9.0.1/x")
            .unwrap()
            .is_loopback());
        assert!(Reference::parse("oci:x").is_err());
        assert!(Reference::parse("docker://h/Bad").is_err());
        assert!(Reference::parse("docker://u:p@h/x").is_err());
        assert!(Reference::parse("docker://h.example/x@sha256:00").is_err());
        // Docker's rules for names without a registry host.
        let r = Reference::parse("docker://team/app:v1").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.api_host()),
            ("docker.io", "team/app", "registry-1.docker.io")
        );
        let r = Reference::parse("docker://alpine").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repo.as_str()),
            ("docker.io", "library/alpine")
        );
        let r = Reference::parse("docker://index.docker.io/alpine:3").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repo.as_str()),
            ("docker.io", "library/alpine")
        );
        let r = Reference::parse("docker://localhost/x").unwrap();
        assert_eq!((r.host.as_str(), r.api_host()), ("localhost", "localhost"));
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = Reference::parse(&format!("docker://h:5000/x/y@{d}")).unwrap();
        assert_eq!((r.tag, r.digest.unwrap().to_string()), (None, d.clone()));
        let r = Reference::parse(&format!("docker://h.example/x:t@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.to_string(), format!("h.example/x:t@{d}"));
    }
}
