//! The content-addressed download cache of Debian archive files (`$KILN_CACHE_DIR/deb`).
//!
//! Owns: downloading over HTTP(S) (a `ureq` agent over rustls with the system's roots, proxies
//! from the usual environment variables) and copying from `file://` archives; the cache layout
//! `CACHE/blobs/sha256/HEX` (verified, write-once) and `CACHE/partial/HEX` (a download under
//! way, resumed with `Range` after a cut); retries with backoff; parallel downloads with
//! progress; offline mode.
//! Does not own: which files to fetch and what their hashes are (the signed index chain in
//! `release` and `index`), verifying `InRelease` (its signature is checked by the caller:
//! [`Fetcher::get_small`] caches nothing), reading `.deb` files (`debfile`).
//! Invariant: a file under `blobs/` has the SHA-256 and size it is named after: bytes are
//! hashed while they are written to `partial/`, at most `size` bytes are ever read from a
//! server, and a partial file is renamed into place (after `fsync`) only when both match; a
//! mismatch removes the partial file. A cached blob is never fetched again.
//! Invariant: one writer per partial file: an exclusive `flock` on it is held for the whole
//! download, and a waiter that gets the lock after the blob appeared uses the blob.
//! Invariant: every network wait has a timeout (connect 30 s, answer and each read 60 s);
//! redirects are followed by kiln, at most [`MAX_REDIRECTS`], to `http`/`https` only, never
//! from `https` to `http`; credentials of a URL go only to its own host and never appear in
//! an error ([`redact_url`]).

use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

/// Redirect hops followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// Attempts of one download or request (transport errors, 5xx, 429, cut bodies).
const ATTEMPTS: u32 = 5;
/// Bytes read and written at a time.
const CHUNK: usize = 64 << 10;
/// [`Fetcher::get_many`] reports progress at most once per this many bytes.
const PROGRESS_EVERY: u64 = 256 << 10;

/// What a download must be: the SHA-256 and size an index lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// The SHA-256 of the whole file.
    pub sha256: [u8; 32],
    /// Its size in bytes.
    pub size: u64,
}

impl Want {
    /// The SHA-256 in lower-case hex (the blob's file name).
    pub fn hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// How a [`Fetcher`] works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Parallel downloads of [`Fetcher::get_many`] (0 counts as 1).
    pub jobs: usize,
    /// Only the cache (and `file://` archives): a blob not cached is [`FetchError::Offline`].
    pub offline: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            jobs: 4,
            offline: false,
        }
    }
}

/// How far [`Fetcher::get_many`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes downloaded or found in the cache so far.
    pub done_bytes: u64,
    /// The sizes of all items added up.
    pub total_bytes: u64,
    /// Items finished (downloaded or cached).
    pub done_items: usize,
    /// Items asked for.
    pub total_items: usize,
}

/// Why a file could not be had. URLs are shown without user info or query.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered 404 or 410.
    #[error("{url}: not found (the server answered 404)")]
    NotFound {
        /// The URL asked for.
        url: String,
    },
    /// Offline, and the file is not in the cache.
    #[error("{url} is not in the download cache, and kiln is offline")]
    Offline {
        /// The URL that would have been fetched.
        url: String,
    },
    /// Another HTTP status than a success, redirect or 404.
    #[error("{url}: the server answered {status}")]
    Status {
        /// The URL asked for (after redirects).
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The connection failed, timed out or was cut, on every attempt.
    #[error("{url}: {message}")]
    Transport {
        /// The URL asked for.
        url: String,
        /// What went wrong on the last attempt.
        message: String,
    },
    /// TLS failed (a certificate refused): not retried.
    #[error("{url}: TLS: {message}")]
    Tls {
        /// The URL asked for.
        url: String,
        /// What rustls said.
        message: String,
    },
    /// A file fetched whole is larger than allowed.
    #[error("{url} is larger than {max} bytes")]
    TooLarge {
        /// Where it came from.
        url: String,
        /// The most kiln reads.
        max: u64,
    },
    /// The server sent more bytes than the index lists.
    #[error("{url}: the server sent more than the {expected} bytes the index lists")]
    TooLong {
        /// Where it came from.
        url: String,
        /// The size the index lists.
        expected: u64,
    },
    /// The download ended early on every attempt.
    #[error("{url}: the download ended after {actual} of {expected} bytes")]
    Short {
        /// Where it came from.
        url: String,
        /// The size the index lists.
        expected: u64,
        /// The bytes received.
        actual: u64,
    },
    /// The bytes are not the ones the index lists.
    #[error("{url}: SHA-256 is {actual}, but the index lists {expected}")]
    Mismatch {
        /// Where it came from.
        url: String,
        /// The SHA-256 the index lists (hex).
        expected: String,
        /// The SHA-256 of what arrived (hex).
        actual: String,
    },
    /// A redirect kiln does not follow.
    #[error("{url}: redirect to {to} refused: {why}")]
    Redirect {
        /// The URL that redirected.
        url: String,
        /// Where it pointed (redacted).
        to: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// Not a URL kiln fetches.
    #[error("`{url}` is not a URL kiln fetches: {why}")]
    BadUrl {
        /// The URL (redacted).
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Reading a `file://` archive failed.
    #[error("cannot read {} ({url})", path.display())]
    Read {
        /// The URL.
        url: String,
        /// The local file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The cache folder could not be used.
    #[error("cannot use the download cache at {}", path.display())]
    Cache {
        /// The file or folder of the cache.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

impl FetchError {
    /// What the user can do about it, if kiln knows.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            FetchError::NotFound { .. } => "the mirror no longer has this file: keep the download \
                                            cache, or use a snapshot mirror URL"
                .into(),
            FetchError::Offline { .. } => {
                "run once without offline mode to fill the download cache".into()
            }
            FetchError::Mismatch { .. } | FetchError::TooLong { .. } => {
                "the mirror serves other bytes than its signed index lists (a broken or stale \
                 mirror, or a proxy rewriting files): try again later or use another mirror"
                    .into()
            }
            FetchError::Transport { .. } | FetchError::Short { .. } => {
                "check the network (and HTTP_PROXY/HTTPS_PROXY); a partial download is resumed \
                 on the next run"
                    .into()
            }
            FetchError::Tls { .. } => {
                "the system's certificate store must trust the mirror's certificate".into()
            }
            _ => return None,
        })
    }

    /// Another attempt may cure it.
    fn transient(&self) -> bool {
        match self {
            FetchError::Transport { .. } | FetchError::Short { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// A URL for messages: no user info, no query, no fragment.
pub fn redact_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = no_query.split_once("://") else {
        return no_query.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

/// A parsed URL kiln fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Http(HttpUrl),
    File(PathBuf),
}

/// An `http(s)` URL without its user info (which becomes a Basic Authorization header).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    https: bool,
    /// `host[:port]`, lower-cased.
    authority: String,
    /// From the first `/` on (query included), `/` when empty.
    path: String,
    /// `Basic …` from the URL's user info.
    auth: Option<String>,
}

impl HttpUrl {
    fn uri(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path)
    }

    fn shown(&self) -> String {
        redact_url(&self.uri())
    }
}

/// Decodes `%XX` escapes; invalid ones stay as they are.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn parse_url(url: &str) -> Result<Source, FetchError> {
    let bad = |why| FetchError::BadUrl {
        url: redact_url(url),
        why,
    };
    if url.bytes().any(|c| c.is_ascii_control() || c == b' ') {
        return Err(bad("it holds spaces or control characters"));
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(bad("a file URL is file:///ABSOLUTE/PATH"));
            }
            let path = path.split(['?', '#']).next().unwrap_or(path);
            let bytes = percent_decode(path);
            Ok(Source::File(PathBuf::from(
                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes),
            )))
        }
        s @ ("http" | "https") => {
            let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(cut);
            let (userinfo, host) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            if host.is_empty() {
                return Err(bad("no host"));
            }
            let auth = userinfo.map(|u| {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(percent_decode(u));
                format!("Basic {b64}")
            });
            let path = match path {
                "" => "/".to_string(),
                p if p.starts_with('/') => p.to_string(),
                p => format!("/{p}"),
            };
            Ok(Source::Http(HttpUrl {
                https: s == "https",
                authority: host.to_ascii_lowercase(),
                path,
                auth,
            }))
        }
        _ => Err(bad("only http://, https:// and file:// URLs are fetched")),
    }
}

/// Where a redirect from `base` to `location` goes: checked, credentials kept only for the
/// same scheme and authority.
fn redirect(base: &HttpUrl, location: &str) -> Result<HttpUrl, FetchError> {
    let refuse = |to: &str, why| FetchError::Redirect {
        url: base.shown(),
        to: redact_url(to),
        why,
    };
    let scheme = if base.https { "https" } else { "http" };
    let abs = if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{}{location}", base.authority)
    } else {
        let path = base.path.split(['?', '#']).next().unwrap_or("/");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{}{dir}{location}", base.authority)
    };
    let mut next = match parse_url(&abs) {
        Ok(Source::Http(h)) => h,
        _ => return Err(refuse(&abs, "kiln follows redirects to http(s) URLs only")),
    };
    if base.https && !next.https {
        return Err(refuse(&abs, "a redirect from https to plain http"));
    }
    if next.auth.is_none() && next.authority == base.authority && next.https == base.https {
        next.auth.clone_from(&base.auth);
    }
    Ok(next)
}

/// The agent every download uses (see the module doc for its timeouts).
fn agent() -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .build();
    let secs = |n| Some(Duration::from_secs(n));
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(secs(30))
            .timeout_connect(secs(30))
            .timeout_send_request(secs(60))
            .timeout_recv_response(secs(60))
            .timeout_per_read(secs(60))
            .user_agent(format!("kiln/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build(),
    )
}

/// Sleeps 200 ms × 2^(attempt-1), at most 5 s.
fn backoff(attempt: u32) {
    let ms = 200u64 << attempt.saturating_sub(1).min(5);
    std::thread::sleep(Duration::from_millis(ms.min(5000)));
}

fn transport(url: &HttpUrl, e: &ureq::Error) -> FetchError {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => FetchError::Tls {
            url: url.shown(),
            message: e.to_string(),
        },
        _ => FetchError::Transport {
            url: url.shown(),
            message: e.to_string(),
        },
    }
}

/// `Content-Range: bytes START-END/TOTAL` says the body is `from..size`.
fn range_matches(content_range: Option<&str>, from: u64, size: u64) -> bool {
    let Some(spec) = content_range.and_then(|v| v.trim().strip_prefix("bytes ")) else {
        return false;
    };
    let Some((span, total)) = spec.split_once('/') else {
        return false;
    };
    let Some((start, end)) = span.split_once('-') else {
        return false;
    };
    let total_ok = total == "*" || total.parse::<u64>().ok() == Some(size);
    start.parse::<u64>().ok() == Some(from)
        && end
            .parse::<u64>()
            .ok()
            .is_some_and(|e| Some(e) == size.checked_sub(1))
        && total_ok
}

/// A download's partial file, locked.
struct Partial {
    file: std::fs::File,
    path: PathBuf,
}

/// What locking a partial file found.
enum Locked {
    /// The blob is there (another writer finished it).
    Done(PathBuf),
    /// The partial file is ours to write.
    Partial(Partial),
}

/// Downloads into, and reads from, the content-addressed cache (see the module doc).
pub struct Fetcher {
    cache: PathBuf,
    opts: FetchOptions,
    agent: OnceLock<ureq::Agent>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache", &self.cache)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Events of [`Fetcher::get_many`]'s workers.
enum Event {
    Bytes(usize, u64),
    Done(usize, Result<PathBuf, FetchError>),
}

impl Fetcher {
    /// A fetcher over the cache folder `cache` (created when missing).
    pub fn new(cache: &Path, opts: FetchOptions) -> Result<Fetcher, FetchError> {
        for dir in [cache.join("blobs/sha256"), cache.join("partial")] {
            fs_err::create_dir_all(&dir).map_err(|e| FetchError::Cache {
                path: dir.clone(),
                source: e,
            })?;
        }
        Ok(Fetcher {
            cache: cache.to_path_buf(),
            opts,
            agent: OnceLock::new(),
        })
    }

    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(agent)
    }

    fn blob_path(&self, want: &Want) -> PathBuf {
        self.cache.join("blobs/sha256").join(want.hex())
    }

    /// The cached blob `want` names, when it is there (a plain file of the right size).
    pub fn cached(&self, want: &Want) -> Option<PathBuf> {
        let p = self.blob_path(want);
        let m = fs_err::symlink_metadata(&p).ok()?;
        (m.is_file() && m.len() == want.size).then_some(p)
    }

    /// A small file fetched whole (an `InRelease`), at most `max` bytes; never cached. A
    /// `file://` URL is read from the local file.
    pub fn get_small(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
        match parse_url(url)? {
            Source::File(path) => read_small_file(url, &path, max),
            Source::Http(_) if self.opts.offline => Err(FetchError::Offline {
                url: redact_url(url),
            }),
            Source::Http(h) => self.retrying(|| self.small_once(&h, max)),
        }
    }

    /// The verified blob `want` names, fetched from `url` unless it is cached.
    pub fn get(&self, url: &str, want: &Want) -> Result<PathBuf, FetchError> {
        self.get_with(url, want, &|_| {})
    }

    /// Fetches every item, `jobs` at a time; the paths in input order. The first error (in
    /// time) wins: no new download starts after it, and those finished stay cached.
    /// `progress` is called on this thread, at most once per 256 KiB and once per item.
    pub fn get_many(
        &self,
        items: &[(String, Want)],
        progress: &dyn Fn(Progress),
    ) -> Result<Vec<PathBuf>, FetchError> {
        let sizes: Vec<u64> = items.iter().map(|(_, w)| w.size).collect();
        let mut state = Progress {
            total_bytes: sizes.iter().fold(0u64, |a, s| a.saturating_add(*s)),
            total_items: items.len(),
            ..Progress::default()
        };
        let (tx, rx) = mpsc::channel::<Event>();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let mut results: Vec<Option<PathBuf>> = vec![None; items.len()];
        let mut first_err = None;
        std::thread::scope(|s| {
            for _ in 0..self.opts.jobs.clamp(1, items.len().max(1)) {
                let tx = tx.clone();
                let (next, stop) = (&next, &stop);
                s.spawn(move || self.worker(items, next, stop, &tx));
            }
            drop(tx);
            let mut counted = vec![0u64; items.len()];
            let mut reported = 0u64;
            for ev in rx {
                match ev {
                    Event::Bytes(i, n) => {
                        let add = n.min(sizes[i].saturating_sub(counted[i]));
                        counted[i] += add;
                        state.done_bytes += add;
                        if state.done_bytes - reported < PROGRESS_EVERY {
                            continue;
                        }
                    }
                    Event::Done(i, r) => match r {
                        Ok(p) => {
                            state.done_bytes += sizes[i] - counted[i];
                            counted[i] = sizes[i];
                            state.done_items += 1;
                            results[i] = Some(p);
                        }
                        Err(e) => {
                            first_err.get_or_insert(e);
                        }
                    },
                }
                reported = state.done_bytes;
                progress(state);
            }
        });
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(results.into_iter().flatten().collect())
    }

    fn worker(
        &self,
        items: &[(String, Want)],
        next: &AtomicUsize,
        stop: &AtomicBool,
        tx: &mpsc::Sender<Event>,
    ) {
        while !stop.load(Ordering::SeqCst) {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some((url, want)) = items.get(i) else {
                return;
            };
            let r = self.get_with(url, want, &|n| {
                let _ = tx.send(Event::Bytes(i, n));
            });
            if r.is_err() {
                stop.store(true, Ordering::SeqCst);
            }
            let _ = tx.send(Event::Done(i, r));
        }
    }

    /// [`Fetcher::get`], telling `on_bytes` how many bytes arrived.
    fn get_with(
        &self,
        url: &str,
        want: &Want,
        on_bytes: &dyn Fn(u64),
    ) -> Result<PathBuf, FetchError> {
        if let Some(p) = self.cached(want) {
            return Ok(p);
        }
        let source = parse_url(url)?;
        if self.opts.offline && matches!(source, Source::Http(_)) {
            return Err(FetchError::Offline {
                url: redact_url(url),
            });
        }
        let mut partial = match self.lock_partial(want)? {
            Locked::Done(p) => return Ok(p),
            Locked::Partial(p) => p,
        };
        let r = match &source {
            Source::File(path) => copy_file(url, path, want, &mut partial, on_bytes),
            Source::Http(h) => self.download(h, want, &mut partial, on_bytes),
        };
        match r {
            Ok(()) => self.publish(partial, want),
            Err(e) => {
                let empty = partial.file.metadata().map_or(true, |m| m.len() == 0);
                if empty || matches!(e, FetchError::Mismatch { .. } | FetchError::TooLong { .. }) {
                    let _ = fs_err::remove_file(&partial.path);
                }
                Err(e)
            }
        }
    }

    /// Opens and locks `partial/HEX`; waits for another writer, then uses its blob.
    fn lock_partial(&self, want: &Want) -> Result<Locked, FetchError> {
        let path = self.cache.join("partial").join(want.hex());
        let err = |e| FetchError::Cache {
            path: path.clone(),
            source: e,
        };
        for _ in 0..16 {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(err)?;
            file.lock().map_err(err)?;
            if let Some(p) = self.cached(want) {
                return Ok(Locked::Done(p));
            }
            // The file may have been renamed into place or removed while this waited.
            let ours = file.metadata().map_err(err)?;
            let now = fs_err::symlink_metadata(&path).ok();
            if now.is_some_and(|m| m.dev() == ours.dev() && m.ino() == ours.ino()) {
                return Ok(Locked::Partial(Partial {
                    file,
                    path: path.clone(),
                }));
            }
        }
        Err(err(io::Error::other(
            "the partial download kept changing under another writer",
        )))
    }

    /// Syncs the partial file and renames it to its blob path.
    fn publish(&self, partial: Partial, want: &Want) -> Result<PathBuf, FetchError> {
        let dest = self.blob_path(want);
        let err = |p: &Path| {
            let p = p.to_path_buf();
            move |e| FetchError::Cache { path: p, source: e }
        };
        let Partial { file, path } = partial;
        file.set_permissions(std::fs::Permissions::from_mode(0o444))
            .map_err(err(&path))?;
        file.sync_all().map_err(err(&path))?;
        fs_err::rename(&path, &dest).map_err(err(&dest))?;
        if let Some(dir) = dest.parent() {
            let _ = fs_err::File::open(dir).and_then(|d| d.sync_all());
        }
        drop(file);
        Ok(dest)
    }

    /// Runs `f` until it succeeds, fails for good, or [`ATTEMPTS`] are used.
    fn retrying<T>(&self, mut f: impl FnMut() -> Result<T, FetchError>) -> Result<T, FetchError> {
        let mut attempt = 1;
        loop {
            match f() {
                Err(e) if e.transient() && attempt < ATTEMPTS => backoff(attempt),
                r => return r,
            }
            attempt += 1;
        }
    }

    /// Downloads into the locked partial file, resuming what it holds.
    fn download(
        &self,
        url: &HttpUrl,
        want: &Want,
        partial: &mut Partial,
        on_bytes: &dyn Fn(u64),
    ) -> Result<(), FetchError> {
        let mut restarted = false;
        self.retrying(|| {
            let resumed = len_of(partial)? > 0;
            match self.download_once(url, want, partial, on_bytes) {
                // A bad prefix (left by an earlier server) gets one fresh download.
                Err(FetchError::Mismatch { .. }) if resumed && !restarted => {
                    restarted = true;
                    truncate(partial, 0)?;
                    self.download_once(url, want, partial, on_bytes)
                }
                r => r,
            }
        })
    }

    /// One attempt: hash what the partial file holds, ask for the rest, append it.
    fn download_once(
        &self,
        url: &HttpUrl,
        want: &Want,
        partial: &mut Partial,
        on_bytes: &dyn Fn(u64),
    ) -> Result<(), FetchError> {
        let mut have = len_of(partial)?;
        if have > want.size {
            truncate(partial, 0)?;
            have = 0;
        }
        let mut hasher = hash_prefix(partial, have)?;
        if have == want.size {
            return check_hash(&url.shown(), want, hasher);
        }
        let (mut resp, at) = self.request(url, have)?;
        let status = resp.status().as_u16();
        let range = header(&resp, "content-range");
        if status == 206 && !range_matches(range.as_deref(), have, want.size) {
            // A range kiln did not ask for: start over from the first byte, once.
            truncate(partial, 0)?;
            if have == 0 {
                return Err(FetchError::Status {
                    url: at.shown(),
                    status,
                });
            }
            drop(resp);
            return self.download_once(url, want, partial, on_bytes);
        }
        if status == 200 && have > 0 {
            // The server ignored the range: the whole file follows.
            truncate(partial, 0)?;
            hasher = Sha256::new();
            have = 0;
        }
        if let Some(len) = header(&resp, "content-length").and_then(|v| v.parse::<u64>().ok()) {
            if len > want.size - have {
                return Err(FetchError::TooLong {
                    url: at.shown(),
                    expected: want.size,
                });
            }
        }
        let mut body = resp.body_mut().as_reader();
        let shown = at.shown();
        append(
            &mut body,
            partial,
            &mut hasher,
            have,
            want,
            &shown,
            on_bytes,
        )?;
        check_hash(&shown, want, hasher)
    }

    /// GET `url` (with `Range: bytes=FROM-` when `from` > 0), following redirects; a 200 or
    /// 206 answer and the URL it came from.
    fn request(
        &self,
        url: &HttpUrl,
        from: u64,
    ) -> Result<(ureq::http::Response<ureq::Body>, HttpUrl), FetchError> {
        let mut at = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = ureq::http::Request::builder().method("GET").uri(at.uri());
            if let Some(a) = &at.auth {
                req = req.header("Authorization", a.as_str());
            }
            if from > 0 {
                req = req.header("Range", format!("bytes={from}-"));
            }
            let req = req.body(()).map_err(|_| FetchError::BadUrl {
                url: at.shown(),
                why: "it is not a valid HTTP URI",
            })?;
            let resp = self.agent().run(req).map_err(|e| transport(&at, &e))?;
            match resp.status().as_u16() {
                200 | 206 => return Ok((resp, at)),
                301 | 302 | 303 | 307 | 308 => {
                    let to = header(&resp, "location").ok_or_else(|| FetchError::Status {
                        url: at.shown(),
                        status: resp.status().as_u16(),
                    })?;
                    at = redirect(&at, &to)?;
                }
                404 | 410 => return Err(FetchError::NotFound { url: at.shown() }),
                status => {
                    return Err(FetchError::Status {
                        url: at.shown(),
                        status,
                    })
                }
            }
        }
        Err(FetchError::Redirect {
            url: url.shown(),
            to: at.shown(),
            why: "too many redirects",
        })
    }

    /// One attempt of [`Fetcher::get_small`] over HTTP.
    fn small_once(&self, url: &HttpUrl, max: u64) -> Result<Vec<u8>, FetchError> {
        let (mut resp, at) = self.request(url, 0)?;
        let too_large = || FetchError::TooLarge {
            url: at.shown(),
            max,
        };
        if header(&resp, "content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > max)
        {
            return Err(too_large());
        }
        resp.body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => too_large(),
                e => transport(&at, &e),
            })
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn cache_err(partial: &Partial) -> impl Fn(io::Error) -> FetchError + '_ {
    move |e| FetchError::Cache {
        path: partial.path.clone(),
        source: e,
    }
}

fn len_of(partial: &Partial) -> Result<u64, FetchError> {
    Ok(partial.file.metadata().map_err(cache_err(partial))?.len())
}

fn truncate(partial: &mut Partial, len: u64) -> Result<(), FetchError> {
    partial.file.set_len(len).map_err(cache_err(partial))
}

/// The SHA-256 state after the first `len` bytes of the partial file.
fn hash_prefix(partial: &mut Partial, len: u64) -> Result<Sha256, FetchError> {
    let err = cache_err(partial);
    let mut hasher = Sha256::new();
    let mut f = &partial.file;
    f.seek(SeekFrom::Start(0)).map_err(&err)?;
    let copied = io::copy(&mut f.take(len), &mut hasher).map_err(&err)?;
    if copied != len {
        return Err(err(io::Error::other("the partial file shrank while read")));
    }
    Ok(hasher)
}

fn check_hash(url: &str, want: &Want, hasher: Sha256) -> Result<(), FetchError> {
    let actual: [u8; 32] = hasher.finalize().into();
    if actual == want.sha256 {
        return Ok(());
    }
    Err(FetchError::Mismatch {
        url: url.to_string(),
        expected: want.hex(),
        actual: hex::encode(actual),
    })
}

/// Appends `body` to the partial file (which holds `have` bytes), hashing it; at most
/// `want.size` bytes in all, and exactly that many.
fn append(
    body: &mut dyn Read,
    partial: &mut Partial,
    hasher: &mut Sha256,
    mut have: u64,
    want: &Want,
    url: &str,
    on_bytes: &dyn Fn(u64),
) -> Result<(), FetchError> {
    let werr = cache_err(partial);
    let mut f = &partial.file;
    f.seek(SeekFrom::Start(have)).map_err(&werr)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(FetchError::Transport {
                    url: url.to_string(),
                    message: e.to_string(),
                })
            }
        };
        if have + n as u64 > want.size {
            return Err(FetchError::TooLong {
                url: url.to_string(),
                expected: want.size,
            });
        }
        f.write_all(&buf[..n]).map_err(&werr)?;
        hasher.update(&buf[..n]);
        have += n as u64;
        on_bytes(n as u64);
    }
    if have < want.size {
        return Err(FetchError::Short {
            url: url.to_string(),
            expected: want.size,
            actual: have,
        });
    }
    Ok(())
}

/// Copies a `file://` archive's file into the partial file (from its start), checked.
fn copy_file(
    url: &str,
    path: &Path,
    want: &Want,
    partial: &mut Partial,
    on_bytes: &dyn Fn(u64),
) -> Result<(), FetchError> {
    let shown = redact_url(url);
    let rerr = |e| FetchError::Read {
        url: shown.clone(),
        path: path.to_path_buf(),
        source: e,
    };
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(rerr)?;
    truncate(partial, 0)?;
    let mut hasher = Sha256::new();
    append(&mut src, partial, &mut hasher, 0, want, &shown, on_bytes)?;
    check_hash(&shown, want, hasher)
}

fn read_small_file(url: &str, path: &Path, max: u64) -> Result<Vec<u8>, FetchError> {
    let rerr = |e| FetchError::Read {
        url: redact_url(url),
        path: path.to_path_buf(),
        source: e,
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(rerr)?;
    let mut out = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(rerr)?;
    if out.len() as u64 > max {
        return Err(FetchError::TooLarge {
            url: redact_url(url),
            max,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> HttpUrl {
        match parse_url(url).unwrap() {
            Source::Http(h) => h,
            Source::File(_) => panic!("not http"),
        }
    }

    #[test]
    fn redact_drops_userinfo_and_query() {
        assert_eq!(
            redact_url("https://u:p@deb.example/debian/x.deb?token=1"),
            "https://deb.example/debian/x.deb"
        );
        assert_eq!(redact_url("http://h"), "http://h");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn parse_http_and_file() {
        let h = http("http://us%40r:p%3Ass@Mirror:8080/debian/pool?x");
        assert_eq!(h.authority, "mirror:8080");
        assert_eq!(h.path, "/debian/pool?x");
        // base64("us@r:p:ss")
        assert_eq!(h.auth.as_deref(), Some("Basic dXNAcjpwOnNz"));
        assert!(!h.uri().contains("us%40r"));
        assert_eq!(
            parse_url("file:///srv/my%20archive/x.deb").unwrap(),
            Source::File(PathBuf::from("/srv/my archive/x.deb"))
        );
        assert_eq!(
            parse_url("file://localhost/a").unwrap(),
            Source::File(PathBuf::from("/a"))
        );
        for bad in [
            "ftp://h/x",
            "file://host/x",
            "http:///x",
            "https://h/a b",
            "x",
        ] {
            assert!(
                matches!(parse_url(bad), Err(FetchError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn redirects_resolve_and_refuse_downgrades() {
        let base = http("https://u:p@a.example/debian/pool/x.deb");
        let same = redirect(&base, "/other/y.deb").unwrap();
        assert_eq!(same.uri(), "https://a.example/other/y.deb");
        assert!(same.auth.is_some());
        let rel = redirect(&base, "z.deb").unwrap();
        assert_eq!(rel.uri(), "https://a.example/debian/pool/z.deb");
        let other = redirect(&base, "https://b.example/x.deb").unwrap();
        assert!(other.auth.is_none(), "credentials stay with their host");
        let down = redirect(&base, "http://a.example/x.deb").unwrap_err();
        assert!(matches!(down, FetchError::Redirect { .. }));
        assert!(!down.to_string().contains("u:p"));
        assert!(redirect(&base, "file:///etc/passwd").is_err());
        let plain = http("http://a.example/x");
        assert!(redirect(&plain, "https://a.example/x").is_ok());
        assert_eq!(
            redirect(&plain, "//c.example/q").unwrap().uri(),
            "http://c.example/q"
        );
    }

    #[test]
    fn content_range() {
        assert!(range_matches(Some("bytes 10-99/100"), 10, 100));
        assert!(range_matches(Some("bytes 10-99/*"), 10, 100));
        assert!(!range_matches(Some("bytes 0-99/100"), 10, 100));
        assert!(!range_matches(Some("bytes 10-98/100"), 10, 100));
        assert!(!range_matches(Some("bytes 10-99/101"), 10, 100));
        assert!(!range_matches(Some("garbage"), 10, 100));
        assert!(!range_matches(None, 10, 100));
        assert!(!range_matches(Some("bytes 0--1/0"), 0, 0));
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), b"a/b%zz%4");
    }
}
