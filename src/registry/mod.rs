//! Pushing an image kiln wrote to a registry that speaks the OCI distribution API.
//!
//! Owns: parsing `docker://HOST[:PORT]/REPO[:TAG]`, reading the image and its artifacts (SBOMs,
//! plan: index entries whose `dev.kiln.subject` is the image) from an `oci:` layout or an
//! `oci-archive:`, and sending their exact bytes: blobs (HEAD first, cross-repository mount,
//! monolithic or chunked upload streamed from the file, a few at a time, retried with
//! backoff), then the image manifest by tag and the artifact manifests by digest.
//! `auth` finds credentials and answers Basic and Bearer challenges; `client` is the HTTP side.
//! Does not: print anything (the CLI does), build images, or keep secrets anywhere but memory.

mod auth;
mod client;
mod source;

pub use auth::Credentials;

use crate::digest::Digest;
use crate::image::output::Output;
use client::{Body, Client};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blobs up to this size go in one PUT; larger ones in PATCH chunks of [`CHUNK`].
pub const MONOLITHIC_MAX: u64 = 16 << 20;
/// The size of one PATCH of a chunked upload.
pub const CHUNK: u64 = 16 << 20;

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
    #[error("cannot reach https://{host}/v2/: {message}\n(kiln uses plain HTTP only for a loopback host such as 127.0.0.1, ::1 or localhost, or with --insecure)")]
    PlainHttp { host: String, message: String },
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
    #[error("the registry stored the manifest as {got}, not {want}")]
    DigestMismatch { want: String, got: String },
}

/// `docker://HOST[:PORT]/REPO[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub host: String,
    pub repo: String,
    pub tag: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.host, self.repo, self.tag)
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
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected a repository after the host"))?;
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !host_ok || host.contains('@') {
            return Err(bad("the host is not valid (credentials go in --creds)"));
        }
        if path.contains('@') {
            return Err(bad("push by digest is not supported; give a tag"));
        }
        let (repo, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (path, "latest"),
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
        Ok(Reference {
            host: host.to_string(),
            repo: repo.to_string(),
            tag: tag.to_string(),
        })
    }

    /// True when the host is 127.0.0.0/8, ::1 or localhost.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        let name = if let Some(rest) = h.strip_prefix('[') {
            rest.split(']').next().unwrap_or("")
        } else {
            h.rsplit_once(':').map_or(h, |(n, _)| n)
        };
        if name == "localhost" {
            return true;
        }
        name.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }
}

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub credentials: Option<Credentials>,
    /// Allow plain HTTP and unverified TLS for a non-loopback host.
    pub insecure: bool,
    /// Every `*.crt` here is trusted as a CA.
    pub cert_dir: Option<PathBuf>,
    /// Other repositories of the same registry to mount blobs from.
    pub from_repos: Vec<String>,
    /// Concurrent blob uploads.
    pub jobs: usize,
}

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
}

#[derive(Default)]
struct Counts {
    uploaded: AtomicUsize,
    skipped: AtomicUsize,
    mounted: AtomicUsize,
}

/// Pushes the image `src` names (with its artifacts) to `dest`.
pub fn push(src: &Output, dest: &Reference, opts: &Options) -> Result<Summary, Error> {
    let image = source::load(src)?;
    let client = Client::connect(dest, opts)?;
    let mut blobs: Vec<Blob> = Vec::new();
    let mut seen = BTreeSet::new();
    for b in image.blobs() {
        if seen.insert(b.digest.clone()) {
            blobs.push(b.clone());
        }
    }
    // Largest first: the long uploads start early.
    blobs.sort_by(|a, b| b.size.cmp(&a.size).then(a.digest.cmp(&b.digest)));
    let counts = Counts::default();
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
                if let Err(e) = push_blob(&client, dest, opts, b, &counts) {
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
    let got = client.put_manifest(
        &dest.repo,
        &dest.tag,
        &image.manifest.media_type,
        &image.manifest.bytes,
    )?;
    if let Some(got) = got {
        if got != image.manifest.digest.to_string() {
            return Err(Error::DigestMismatch {
                want: image.manifest.digest.to_string(),
                got,
            });
        }
    }
    let mut artifacts = Vec::new();
    for a in &image.artifacts {
        client.put_manifest(&dest.repo, &a.digest.to_string(), &a.media_type, &a.bytes)?;
        artifacts.push(a.digest.to_string());
    }
    Ok(Summary {
        reference: format!("{}/{}@{}", dest.host, dest.repo, image.manifest.digest),
        digest: image.manifest.digest.to_string(),
        tag: dest.tag.clone(),
        blobs: blobs.len(),
        uploaded: counts.uploaded.into_inner(),
        skipped: counts.skipped.into_inner(),
        mounted: counts.mounted.into_inner(),
        artifacts,
    })
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
    loop {
        match push_blob_once(client, dest, opts, b) {
            Ok(Outcome::Skipped) => {
                counts.skipped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Ok(Outcome::Mounted) => {
                counts.mounted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Ok(Outcome::Uploaded) => {
                counts.uploaded.fetch_add(1, Ordering::Relaxed);
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

fn push_blob_once(
    client: &Client,
    dest: &Reference,
    opts: &Options,
    b: &Blob,
) -> Result<Outcome, Error> {
    let repo = &dest.repo;
    if client.blob_exists(repo, &b.digest)? {
        return Ok(Outcome::Skipped);
    }
    let mut location = None;
    for from in opts.from_repos.iter().filter(|f| *f != repo) {
        match client.mount(repo, &b.digest, from)? {
            client::Mount::Mounted => return Ok(Outcome::Mounted),
            // Not there: the registry opened an upload session instead. Another source may
            // still have it; the last session is the one used (the others expire).
            client::Mount::Upload(loc) => location = Some(loc),
        }
    }
    let location = match location {
        Some(l) => l,
        None => client.start_upload(repo)?,
    };
    if b.size <= MONOLITHIC_MAX {
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
        assert_eq!(r.tag, "v1");
        assert!(r.is_loopback());
        let r = Reference::parse("docker://registry.example/app").unwrap();
        assert_eq!(r.tag, "latest");
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
        assert!(Reference::parse("docker://h/x@sha256:00").is_err());
    }
}
