//! The HTTP side of a push: `ureq` agents (rustls; the system's roots plus `--cert-dir`),
//! the scheme decision (HTTPS; plain HTTP only for loopback hosts or `--insecure`), the
//! Authorization header (Basic, or a Bearer token fetched from the challenge's realm), redirects,
//! and requests retried with exponential backoff on 5xx, 429 and dropped connections. Every body
//! is re-creatable (bytes, or a range of a file re-opened per attempt), so retries resend it.
//!
//! Owns: sending, redirects, retries, re-authentication, reading answers in bounded memory, and
//! checking fetched manifests and blobs against their digests.
//! Does not own: where a URL may go and what it may carry (`policy` decides; every request,
//! hop and token realm asks it), finding credentials (`auth`).
//! Invariant: ureq follows no redirect itself (`max_redirects(0)`); kiln follows 301, 302, 303,
//! 307 and 308 of GET and HEAD only, at most [`MAX_REDIRECTS`] hops, each hop checked by
//! `policy` (no Authorization to another authority; plain HTTP only where allowed); a loop is
//! an error, and a 3xx answer to PUT, PATCH or POST is an error.
//! Invariant: at most one re-authentication per request: a second 401 is the answer.
//! Invariant: an error body (non-2xx) is read up to [`MAX_ERROR_BODY`] bytes and the rest
//! dropped; a successful body up to [`super::MAX_FETCH`] (manifests [`super::MAX_MANIFEST`]),
//! larger is an error.
//! Invariant: every network wait has a timeout ([`Timeouts`]): connect 30 s (TLS handshake
//! included), send the request head 60 s, send a body 1800 s (a 64 MiB chunk at ~36 KiB/s),
//! wait for the answer's head 300 s, receive a body 300 s; the HTTPS probe of a host that may
//! speak plain HTTP waits 5 s to connect and 10 s for an answer. `KILN_HTTP_TIMEOUT_SECS=N`
//! caps every one of them at N seconds (tests, impatient CI).
//! Invariant: a manifest fetched by digest hashes to that digest; one fetched by tag gets the
//! digest of its bytes, and a `Docker-Content-Digest` header that disagrees is an error.
//! URLs in errors are shown without user info or query ([`redact_url`]); headers never are.

use super::auth::{Challenge, Credentials};
use super::policy::{resolve_location, Authority, Named, Policy};
use super::{Error, Fetched, Options, Reference, RegistryCode};
use crate::digest::Digest;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// What a request sends.
#[derive(Debug, Clone)]
pub(super) enum Body {
    Empty,
    Bytes(Vec<u8>),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// Where a successful response body goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sink<'a> {
    /// Into memory, at most this many bytes.
    Memory(u64),
    /// Streamed into a file (created or truncated per attempt), hashed on the way and checked
    /// against the blob's digest and size: memory does not grow with the blob.
    File {
        path: &'a Path,
        digest: &'a Digest,
        size: u64,
    },
}

/// The parts of a response kiln uses.
pub(super) struct Resp {
    status: u16,
    location: Option<String>,
    digest: Option<String>,
    range: Option<String>,
    challenge: Option<String>,
    content_type: Option<String>,
    /// `Retry-After` in seconds (429, 503), at most [`MAX_RETRY_AFTER`].
    retry_after: Option<u64>,
    /// `OCI-Subject`: the registry indexed the manifest's subject (referrers API).
    pub(super) oci_subject: Option<String>,
    body: Vec<u8>,
}

/// What a manifest PUT answered.
pub(super) struct Put {
    /// `Docker-Content-Digest`, when sent.
    pub(super) digest: Option<String>,
    /// The registry sent `OCI-Subject`: it keeps the referrers list itself.
    pub(super) indexed_subject: bool,
}

pub(super) enum Mount {
    Mounted,
    Upload(String),
}

pub(super) struct Client {
    /// For the registry's own host (TLS verification off under `--insecure`).
    agent: ureq::Agent,
    /// For every other host: TLS always verified.
    strict: ureq::Agent,
    /// `https://HOST` or `http://HOST`.
    base: String,
    /// Where requests may go and what they may carry.
    policy: Policy,
    host: String,
    creds: Option<Credentials>,
    /// Token scopes: push on the destination, pull on mount sources.
    scopes: Vec<String>,
    authorization: Mutex<Option<String>>,
    progress: super::ProgressSink,
    /// Bytes per PATCH.
    chunk: u64,
}

/// Counts the bytes read through it into a [`super::Progress`].
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn super::Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.sent(n as u64);
        Ok(n)
    }
}

/// Redirect hops followed for one GET or HEAD.
pub(super) const MAX_REDIRECTS: usize = 5;

/// The part of an error (non-2xx) body kiln reads: enough for the registry's JSON errors.
pub(super) const MAX_ERROR_BODY: u64 = 64 << 10;

/// The longest waits of one request, in seconds (see the module doc).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    connect: u64,
    send_request: u64,
    send_body: u64,
    recv_response: u64,
    recv_body: u64,
}

impl Timeouts {
    /// Every request but the probe.
    const NORMAL: Timeouts = Timeouts {
        connect: 30,
        send_request: 60,
        send_body: 1800,
        recv_response: 300,
        recv_body: 300,
    };
    /// The HTTPS probe of a host that may answer in plain HTTP.
    const PROBE: Timeouts = Timeouts {
        connect: 5,
        recv_response: 10,
        ..Timeouts::NORMAL
    };

    /// Each wait capped by `KILN_HTTP_TIMEOUT_SECS`, when set to a positive number.
    fn capped(self) -> Timeouts {
        let cap = std::env::var("KILN_HTTP_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(u64::MAX);
        Timeouts {
            connect: self.connect.min(cap),
            send_request: self.send_request.min(cap),
            send_body: self.send_body.min(cap),
            recv_response: self.recv_response.min(cap),
            recv_body: self.recv_body.min(cap),
        }
    }

    fn agent(self, tls: &ureq::tls::TlsConfig) -> ureq::Agent {
        let t = self.capped();
        let secs = |n: u64| Some(Duration::from_secs(n));
        ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_resolve(secs(t.connect))
                .timeout_connect(secs(t.connect))
                .timeout_send_request(secs(t.send_request))
                .timeout_send_body(secs(t.send_body))
                .timeout_recv_response(secs(t.recv_response))
                .timeout_recv_body(secs(t.recv_body))
                .user_agent(format!("kiln/{}", env!("CARGO_PKG_VERSION")))
                .tls_config(tls.clone())
                .build(),
        )
    }
}

/// True for the statuses kiln follows as redirects (of GET and HEAD).
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Requests retried on their own (5xx, 429, dropped connections).
const ATTEMPTS: u32 = 6;

/// The longest `Retry-After` kiln honours, in seconds.
const MAX_RETRY_AFTER: u64 = 60;

/// Sleeps 100 ms × 2^(attempt-1), at most 5 s, with a little jitter.
pub(super) fn backoff(attempt: u32) {
    let base = 100u64 << attempt.saturating_sub(1).min(6);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 50);
    std::thread::sleep(Duration::from_millis(base.min(5000) + jitter));
}

/// True for errors another attempt may cure.
pub(super) fn transient(e: &Error) -> bool {
    match e {
        Error::Transport { transient, .. } => *transient,
        Error::Status { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

/// A URL for messages: no user info, no query.
pub(super) fn redact_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let (auth, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => no_query.to_string(),
    }
}

/// The `{"errors":[{"code","message"}]}` of an error body, each text passed through `scrub`
/// before it is cut short (code 100 characters, message 300).
fn registry_codes(body: &[u8], scrub: impl Fn(&str) -> String) -> Vec<RegistryCode> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |v: &serde_json::Value, default: &str, max: usize| {
        scrub(v.as_str().unwrap_or(default))
            .chars()
            .take(max)
            .collect()
    };
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| RegistryCode {
            code: text(&e["code"], "UNKNOWN", 100),
            message: text(&e["message"], "", 300),
        })
        .collect()
}

fn pct(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o += &format!("%{b:02X}");
        }
    }
    o
}

/// The TLS configuration: the system's roots and `--cert-dir`; verification off when
/// `unverified` (`--insecure`, for the registry's own host only).
fn tls_config(opts: &Options, unverified: bool) -> Result<ureq::tls::TlsConfig, Error> {
    use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if let Some(dir) = &opts.cert_dir {
        let bad = |why: String| Error::Certs {
            path: dir.clone(),
            why,
        };
        let mut files: Vec<PathBuf> = fs_err::read_dir(dir)
            .map_err(|e| bad(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        files.sort();
        for f in files {
            let pem = fs_err::read(&f).map_err(|e| bad(e.to_string()))?;
            let mut n = 0;
            for item in ureq::tls::parse_pem(&pem) {
                if let PemItem::Certificate(c) =
                    item.map_err(|e| bad(format!("{}: {e}", f.display())))?
                {
                    roots.push(c);
                    n += 1;
                }
            }
            if n == 0 {
                return Err(bad(format!("{} holds no PEM certificate", f.display())));
            }
        }
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .disable_verification(unverified)
        .build())
}

impl Client {
    /// Picks the scheme and authenticates once (GET /v2/).
    pub(super) fn connect(dest: &Reference, opts: &Options) -> Result<Client, Error> {
        let tls = tls_config(opts, opts.insecure)?;
        let strict_tls = tls_config(opts, false)?;
        let plain_ok = opts.insecure || dest.is_loopback();
        // Where plain HTTP may follow, the HTTPS probe does not wait long for a handshake
        // that a plain-HTTP server may never answer.
        let first = if plain_ok {
            Timeouts::PROBE
        } else {
            Timeouts::NORMAL
        };
        let base = format!("https://{}", dest.api_host());
        let policy = Policy::new(&base, opts.insecure).map_err(|why| Error::Reference {
            spec: format!("docker://{dest}"),
            why: why.to_string(),
        })?;
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => Credentials::lookup(&dest.host)?,
        };
        let actions = if opts.pull_only { "pull" } else { "pull,push" };
        let mut scopes = vec![format!("repository:{}:{actions}", dest.repo)];
        for f in &opts.from_repos {
            if *f != dest.repo {
                scopes.push(format!("repository:{f}:pull"));
            }
        }
        let mut client = Client {
            agent: first.agent(&tls),
            strict: first.agent(&strict_tls),
            base,
            policy,
            host: dest.host.clone(),
            creds,
            scopes,
            authorization: Mutex::new(None),
            progress: opts.progress.clone(),
            chunk: opts.chunk_size(),
        };
        // HTTPS first, without retries: a plain-HTTP registry answers the handshake with junk.
        let ping = match client.send("GET", "/v2/", &[], &Body::Empty, false) {
            Ok(r) => r,
            Err(Error::Transport { message, .. }) if !plain_ok => {
                return Err(Error::PlainHttp {
                    host: dest.host.clone(),
                    message,
                })
            }
            Err(Error::Transport { message, .. }) => {
                client.base = format!("http://{}", dest.api_host());
                client.policy =
                    Policy::new(&client.base, opts.insecure).map_err(|why| Error::Reference {
                        spec: format!("docker://{dest}"),
                        why: why.to_string(),
                    })?;
                match client.send("GET", "/v2/", &[], &Body::Empty, true) {
                    // Plain HTTP to a TLS server: the HTTPS failure is the one that matters.
                    Ok(r) if r.status == 400 => {
                        return Err(Error::Transport {
                            method: "GET".into(),
                            url: format!("https://{}/v2/", dest.api_host()),
                            message,
                            transient: false,
                        })
                    }
                    other => other?,
                }
            }
            Err(e) => return Err(e),
        };
        if plain_ok {
            client.agent = Timeouts::NORMAL.agent(&tls);
            client.strict = Timeouts::NORMAL.agent(&strict_tls);
        }
        match ping.status {
            200..=299 => {}
            401 => {
                // `send` authenticated and retried once; still 401 means bad credentials.
                return Err(client.unauthorized(&ping));
            }
            s => {
                return Err(Error::Status {
                    method: "GET".into(),
                    url: format!("{}/v2/", client.base),
                    status: s,
                    codes: client.codes(&ping.body),
                })
            }
        }
        Ok(client)
    }

    /// The registry's error codes from `body`, with any secret of kiln's (the password, its
    /// Basic form, the token) a hostile registry echoes back replaced by `<redacted>`.
    fn codes(&self, body: &[u8]) -> Vec<RegistryCode> {
        let mut secrets: Vec<String> = Vec::new();
        if let Some(c) = &self.creds {
            secrets.push(c.secret.clone());
            secrets.push(c.basic().trim_start_matches("Basic ").to_string());
        }
        if let Some(a) = self.authorization.lock().ok().and_then(|a| a.clone()) {
            secrets.push(a.split_once(' ').map_or(a.clone(), |(_, v)| v.to_string()));
        }
        secrets.retain(|s| !s.is_empty());
        registry_codes(body, |text| {
            let mut text = text.to_string();
            for s in &secrets {
                text = text.replace(s.as_str(), "<redacted>");
            }
            text
        })
    }

    fn unauthorized(&self, r: &Resp) -> Error {
        let codes = self.codes(&r.body);
        if self.creds.is_none() {
            let scheme = r
                .challenge
                .as_deref()
                .and_then(Challenge::parse)
                .map_or("no challenge".to_string(), |c| c.scheme);
            Error::NoCredentials {
                host: self.host.clone(),
                scheme,
                codes,
            }
        } else {
            Error::Unauthorized {
                host: self.host.clone(),
                status: r.status,
                codes,
            }
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// Answers a challenge: sets the Authorization header for later requests.
    fn authenticate(&self, challenge: &str) -> Result<(), Error> {
        let c = Challenge::parse(challenge).ok_or_else(|| Error::Token {
            realm: self.host.clone(),
            why: "the registry's WWW-Authenticate header cannot be parsed".into(),
        })?;
        let value = if c.scheme.eq_ignore_ascii_case("basic") {
            match &self.creds {
                Some(cr) => cr.basic(),
                None => return Ok(()),
            }
        } else if c.scheme.eq_ignore_ascii_case("bearer") {
            format!("Bearer {}", self.token(&c)?)
        } else {
            return Err(Error::Token {
                realm: self.host.clone(),
                why: format!("unsupported auth scheme {:?}", c.scheme),
            });
        };
        if let Ok(mut a) = self.authorization.lock() {
            *a = Some(value);
        }
        Ok(())
    }

    /// GETs a token from the challenge's realm (with Basic credentials when kiln has some).
    fn token(&self, c: &Challenge) -> Result<String, Error> {
        let realm = c.param("realm").ok_or_else(|| Error::Token {
            realm: self.host.clone(),
            why: "the Bearer challenge names no realm".into(),
        })?;
        let shown = redact_url(realm);
        // The realm is a URL the registry named: plain HTTP only where `policy` allows it, and
        // credentials only over HTTPS or such plain HTTP.
        let realm_at = self.policy.check(realm, Named::TokenRealm)?;
        let creds = self
            .creds
            .as_ref()
            .filter(|_| self.policy.realm_credentials(&realm_at));
        let agent = self.agent_for(&realm_at);
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(s) = c.param("service") {
            url += &format!("{sep}service={}", pct(s));
            sep = '&';
        }
        let mut scopes = self.scopes.clone();
        if let Some(s) = c.param("scope") {
            for one in s.split(' ') {
                if !scopes.iter().any(|x| x == one) {
                    scopes.push(one.to_string());
                }
            }
        }
        for s in &scopes {
            url += &format!("{sep}scope={}", pct(s));
            sep = '&';
        }
        let bad_url = || Error::Token {
            realm: shown.clone(),
            why: "the realm is not a valid URL".into(),
        };
        // One token request, retried on 5xx, 429 and dropped connections.
        let fetch = |method: &str, url: &str, form: Option<&str>| -> Result<Resp, Error> {
            let mut attempt = 0;
            loop {
                let req = ureq::http::Request::builder().method(method).uri(url);
                let res = match (form, creds) {
                    (Some(f), _) => agent.run(
                        req.header("Content-Type", "application/x-www-form-urlencoded")
                            .body(f.as_bytes())
                            .map_err(|_| bad_url())?,
                    ),
                    (None, Some(cr)) => agent.run(
                        req.header("Authorization", cr.basic())
                            .body(())
                            .map_err(|_| bad_url())?,
                    ),
                    (None, None) => agent.run(req.body(()).map_err(|_| bad_url())?),
                };
                let res = res
                    .map_err(|e| transport(method, &shown, &e))
                    .and_then(|r| {
                        read_resp(
                            method,
                            &shown,
                            r,
                            Sink::Memory(super::MAX_MANIFEST),
                            &super::Quiet,
                        )
                    });
                match res {
                    Ok(r) if (r.status >= 500 || r.status == 429) && attempt + 1 < ATTEMPTS => {}
                    Ok(r) => return Ok(r),
                    Err(e) if transient(&e) && attempt + 1 < ATTEMPTS => {}
                    Err(e) => return Err(e),
                }
                attempt += 1;
                backoff(attempt);
            }
        };
        // An identity token (Docker's `identitytoken`) is an OAuth2 refresh token: POST it to
        // the realm (distribution's token spec); a token server without OAuth2 answers 404 or
        // 405, and then it goes as Basic credentials like a password.
        let oauth = match creds {
            Some(cr) if cr.username == super::auth::IDENTITY_TOKEN_USER => {
                let mut form = format!(
                    "grant_type=refresh_token&client_id=kiln&refresh_token={}",
                    pct(&cr.secret)
                );
                if let Some(svc) = c.param("service") {
                    form += &format!("&service={}", pct(svc));
                }
                form += &format!("&scope={}", pct(&scopes.join(" ")));
                let r = fetch("POST", realm, Some(&form))?;
                (r.status != 404 && r.status != 405).then_some(r)
            }
            _ => None,
        };
        let r = match oauth {
            Some(r) => r,
            None => {
                if let Some(cr) = creds {
                    url += &format!("{sep}account={}", pct(&cr.username));
                }
                fetch("GET", &url, None)?
            }
        };
        if r.status == 401 || r.status == 403 {
            return Err(self.unauthorized(&r));
        }
        if r.status != 200 {
            return Err(Error::Token {
                realm: shown,
                why: format!(
                    "HTTP {}{}",
                    r.status,
                    super::codes_text(&self.codes(&r.body))
                ),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|_| Error::Token {
            realm: shown.clone(),
            why: "the answer is not JSON".into(),
        })?;
        v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or(Error::Token {
                realm: shown,
                why: "the answer has no `token` or `access_token`".into(),
            })
    }

    /// The agent for `to`: the registry's (TLS unverified under `--insecure`) only for the
    /// registry's own host.
    fn agent_for(&self, to: &Authority) -> &ureq::Agent {
        if self.policy.unverified_tls_ok(to) {
            &self.agent
        } else {
            &self.strict
        }
    }

    /// Sends one request (a registry path, or a URL the registry named); follows redirects of
    /// GET and HEAD (at most [`MAX_REDIRECTS`], each hop checked by `policy`); authenticates
    /// on a 401 (once) and, when `retry`, retries transport errors, 5xx and 429 with backoff.
    /// Returns the response whatever its status, but a redirect.
    pub(super) fn send(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, String)],
        body: &Body,
        retry: bool,
    ) -> Result<Resp, Error> {
        self.send_limited(
            method,
            path_or_url,
            headers,
            body,
            retry,
            Sink::Memory(super::MAX_FETCH),
        )
    }

    /// [`Client::send`] with a successful body going to `sink`.
    pub(super) fn send_limited(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, String)],
        body: &Body,
        retry: bool,
        limit: Sink<'_>,
    ) -> Result<Resp, Error> {
        let first = self.url(path_or_url);
        let mut url = first.clone();
        let mut visited: Vec<String> = Vec::new();
        loop {
            let named = if visited.is_empty() {
                Named::UploadLocation
            } else {
                Named::Redirect
            };
            let to = self.policy.check(&url, named)?;
            let r = self.send_to(method, &url, &to, headers, body, retry, limit)?;
            if !is_redirect(r.status) {
                return Ok(r);
            }
            let shown = redact_url(&first);
            if method != "GET" && method != "HEAD" {
                return Err(Error::RedirectRefused {
                    method: method.into(),
                    url: shown,
                    status: r.status,
                });
            }
            let next = self.location_of(method, &url, &r, Named::Redirect)?;
            visited.push(url);
            if visited.contains(&next) {
                return Err(Error::RedirectLoop {
                    method: method.into(),
                    url: shown,
                    again: redact_url(&next),
                });
            }
            if visited.len() > MAX_REDIRECTS {
                return Err(Error::TooManyRedirects {
                    method: method.into(),
                    url: shown,
                    max: MAX_REDIRECTS,
                });
            }
            url = next;
        }
    }

    /// One URL: retries, and one re-authentication when it is the registry's.
    #[allow(clippy::too_many_arguments)]
    fn send_to(
        &self,
        method: &str,
        url: &str,
        to: &Authority,
        headers: &[(&str, String)],
        body: &Body,
        retry: bool,
        limit: Sink<'_>,
    ) -> Result<Resp, Error> {
        let shown = redact_url(url);
        let ours = self.policy.registry_credentials(to);
        let agent = self.agent_for(to);
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            let res = self.send_once(agent, ours, method, url, &shown, headers, body, limit);
            match res {
                Ok(r) if r.status == 401 && ours && !reauthed => {
                    reauthed = true;
                    let Some(ch) = r.challenge.as_deref() else {
                        return Ok(r);
                    };
                    let had = self.authorization.lock().map(|a| a.clone()).ok().flatten();
                    self.authenticate(ch)?;
                    let now = self.authorization.lock().map(|a| a.clone()).ok().flatten();
                    if now.is_none() || (had == now && self.creds.is_none()) {
                        return Ok(r);
                    }
                    continue;
                }
                Ok(r)
                    if retry && (r.status >= 500 || r.status == 429) && attempt + 1 < ATTEMPTS =>
                {
                    // The registry says how long to wait (rate limits): at least that.
                    if let Some(secs) = r.retry_after {
                        std::thread::sleep(Duration::from_secs(secs));
                    }
                }
                Ok(r) => return Ok(r),
                Err(e) if retry && transient(&e) && attempt + 1 < ATTEMPTS => {}
                Err(e) => return Err(e),
            }
            attempt += 1;
            backoff(attempt);
        }
    }

    /// Sends one request; the registry's Authorization header only when `ours`.
    #[allow(clippy::too_many_arguments)]
    fn send_once(
        &self,
        agent: &ureq::Agent,
        ours: bool,
        method: &str,
        url: &str,
        shown: &str,
        headers: &[(&str, String)],
        body: &Body,
        limit: Sink<'_>,
    ) -> Result<Resp, Error> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if let Some(a) = self
            .authorization
            .lock()
            .ok()
            .and_then(|a| a.clone())
            .filter(|_| ours)
        {
            req = req.header("Authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let bad_req = |_| Error::Transport {
            method: method.into(),
            url: shown.into(),
            message: "cannot build the request".into(),
            transient: false,
        };
        let res = match body {
            Body::Empty if method == "GET" || method == "HEAD" => {
                agent.run(req.body(()).map_err(bad_req)?)
            }
            Body::Empty => agent.run(
                req.header("Content-Length", "0")
                    .body(ureq::SendBody::none())
                    .map_err(bad_req)?,
            ),
            Body::Bytes(b) => agent.run(
                req.header("Content-Length", b.len().to_string())
                    .body(b.as_slice())
                    .map_err(bad_req)?,
            ),
            Body::File { path, offset, len } => {
                let io = |e: std::io::Error| Error::Read {
                    path: path.clone(),
                    source: e,
                };
                let mut f = fs_err::File::open(path).map_err(io)?;
                f.seek(SeekFrom::Start(*offset)).map_err(io)?;
                let mut reader = Counting {
                    inner: std::io::BufReader::with_capacity(256 * 1024, f).take(*len),
                    progress: self.progress.0.as_ref(),
                };
                agent.run(
                    req.header("Content-Length", len.to_string())
                        .body(ureq::SendBody::from_reader(&mut reader))
                        .map_err(bad_req)?,
                )
            }
        };
        let r = res.map_err(|e| transport(method, shown, &e))?;
        read_resp(method, shown, r, limit, self.progress.0.as_ref())
    }

    /// HEAD /v2/REPO/blobs/DIGEST.
    pub(super) fn blob_exists(&self, repo: &str, d: &Digest) -> Result<bool, Error> {
        let path = format!("/v2/{repo}/blobs/{d}");
        let r = self.send("HEAD", &path, &[], &Body::Empty, true)?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error("HEAD", &path, &r)),
        }
    }

    fn status_error(&self, method: &str, path: &str, r: &Resp) -> Error {
        if r.status == 401 || r.status == 403 {
            return self.unauthorized(r);
        }
        Error::Status {
            method: method.into(),
            url: redact_url(&self.url(path)),
            status: r.status,
            codes: self.codes(&r.body),
        }
    }

    /// The upload `Location` of `r`, the answer to `method path`, resolved and checked.
    fn location(&self, method: &str, path: &str, r: &Resp) -> Result<String, Error> {
        self.location_of(method, &self.url(path), r, Named::UploadLocation)
    }

    /// The `Location` of `r`, the answer to `method url`, resolved against `url` and checked
    /// by `policy` before anything connects to it.
    fn location_of(
        &self,
        method: &str,
        url: &str,
        r: &Resp,
        named: Named,
    ) -> Result<String, Error> {
        let l = r.location.as_deref().ok_or_else(|| Error::Status {
            method: method.into(),
            url: redact_url(url),
            status: r.status,
            codes: vec![RegistryCode {
                code: "NO_LOCATION".into(),
                message: "the registry sent no Location header".into(),
            }],
        })?;
        let next = resolve_location(url, l).map_err(|why| Error::BadUrl {
            url: redact_url(l),
            named,
            why,
        })?;
        self.policy.check(&next, named)?;
        Ok(next)
    }

    /// POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=OTHER.
    pub(super) fn mount(&self, repo: &str, d: &Digest, from: &str) -> Result<Mount, Error> {
        let path = format!("/v2/{repo}/blobs/uploads/?mount={d}&from={}", pct(from));
        let r = self.send("POST", &path, &[], &Body::Empty, true)?;
        match r.status {
            201 => Ok(Mount::Mounted),
            202 => Ok(Mount::Upload(self.location("POST", &path, &r)?)),
            _ => Err(self.status_error("POST", &path, &r)),
        }
    }

    /// POST /v2/REPO/blobs/uploads/: a new upload session's URL.
    pub(super) fn start_upload(&self, repo: &str) -> Result<String, Error> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let r = self.send("POST", &path, &[], &Body::Empty, true)?;
        match r.status {
            202 => self.location("POST", &path, &r),
            _ => Err(self.status_error("POST", &path, &r)),
        }
    }

    /// PUT LOCATION?digest=D with the last (or only) bytes.
    pub(super) fn finish_upload(
        &self,
        location: &str,
        d: &Digest,
        body: Body,
    ) -> Result<(), Error> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={d}");
        let headers = [("Content-Type", "application/octet-stream".to_string())];
        let r = self.send("PUT", &url, &headers, &body, true)?;
        match r.status {
            201 | 204 => Ok(()),
            _ => Err(self.status_error("PUT", &url, &r)),
        }
    }

    /// PATCHes `path` in chunks of `Options::chunk` bytes; on a dropped connection or a 5xx asks the
    /// upload for its Range and resumes there. Returns the URL to finish the upload at.
    pub(super) fn chunked_upload(
        &self,
        location: &str,
        path: &Path,
        size: u64,
    ) -> Result<String, Error> {
        let mut loc = location.to_string();
        let mut offset = 0u64;
        let mut resumes = 0;
        while offset < size {
            let len = self.chunk.min(size - offset);
            let headers = [
                ("Content-Type", "application/octet-stream".to_string()),
                ("Content-Range", format!("{offset}-{}", offset + len - 1)),
            ];
            let body = Body::File {
                path: path.to_path_buf(),
                offset,
                len,
            };
            let failure = match self.send("PATCH", &loc, &headers, &body, false) {
                Ok(r) if r.status == 202 || r.status == 204 => {
                    loc = self.location("PATCH", &loc, &r)?;
                    offset = match r.range.as_deref().and_then(range_end) {
                        Some(end) => end + 1,
                        None => offset + len,
                    };
                    continue;
                }
                Ok(r) => self.status_error("PATCH", &loc, &r),
                Err(e) => e,
            };
            if !transient(&failure) || resumes >= ATTEMPTS {
                return Err(failure);
            }
            resumes += 1;
            backoff(resumes);
            // Where did the upload get to?
            let r = self.send("GET", &loc, &[], &Body::Empty, true)?;
            if r.status != 204 && r.status != 200 {
                return Err(self.status_error("GET", &loc, &r));
            }
            if r.location.is_some() {
                loc = self.location_of("GET", &loc, &r, Named::UploadLocation)?;
            }
            offset = r.range.as_deref().and_then(range_end).map_or(0, |e| e + 1);
            // distribution answers `0-0` for an empty upload as for a one-byte one; a chunked
            // upload never stops at one byte, so that is offset 0.
            if offset == 1 {
                offset = 0;
            }
            if offset > size {
                return Err(Error::Status {
                    method: "GET".into(),
                    url: redact_url(&loc),
                    status: r.status,
                    codes: vec![RegistryCode {
                        code: "BLOB_UPLOAD_INVALID".into(),
                        message: format!("the upload reports {offset} bytes of {size}"),
                    }],
                });
            }
        }
        Ok(loc)
    }

    /// GET /v2/REPO/manifests/REF with the OCI and Docker manifest and index media types
    /// (at most [`super::MAX_MANIFEST`] bytes); `None` on 404. Checked: by digest, the bytes
    /// hash to it; by tag, a `Docker-Content-Digest` header agrees with the bytes.
    pub(super) fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Fetched>, Error> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let accept = [("Accept", accept())];
        let r = self.send_limited(
            "GET",
            &path,
            &accept,
            &Body::Empty,
            true,
            Sink::Memory(super::MAX_MANIFEST),
        )?;
        match r.status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.status_error("GET", &path, &r)),
        }
        let asked = Digest::parse(reference);
        let at = if asked.is_some() { '@' } else { ':' };
        let manifest = format!("{}/{repo}{at}{reference}", self.host);
        // By digest: the bytes hash to it (in its algorithm). By tag: the digest is the bytes'
        // sha256, and a Docker-Content-Digest header must name the same bytes.
        let got = match &asked {
            Some(want) => {
                let got = want.recompute(&r.body);
                if *want != got {
                    return Err(Error::ManifestMismatch {
                        manifest,
                        want: want.clone(),
                        got,
                    });
                }
                got
            }
            None => Digest::of(&r.body),
        };
        if let Some(header) = r.digest.as_deref().map(str::trim) {
            let matches = Digest::parse(header).is_some_and(|h| h.matches(&r.body));
            if !matches {
                return Err(Error::ContentDigestHeader {
                    manifest,
                    header: header.chars().take(80).collect(),
                    got,
                });
            }
        }
        let media_type = r
            .content_type
            .clone()
            .unwrap_or_else(|| crate::oci::MANIFEST_MEDIA_TYPE.to_string());
        Ok(Some(Fetched {
            bytes: r.body,
            media_type,
            digest: got,
        }))
    }

    /// HEAD /v2/REPO/manifests/REF: the digest the registry has there; `None` on 404, or when
    /// a tag's answer names no digest.
    pub(super) fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Digest>, Error> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let r = self.send("HEAD", &path, &[("Accept", accept())], &Body::Empty, true)?;
        match r.status {
            // Without Docker-Content-Digest a tag's digest is unknown: say nothing is known.
            200 => Ok(r
                .digest
                .as_deref()
                .and_then(Digest::parse)
                .or_else(|| Digest::parse(reference))),
            404 => Ok(None),
            _ => Err(self.status_error("HEAD", &path, &r)),
        }
    }

    /// GET /v2/REPO/referrers/DIGEST: the index, or `None` when the registry lacks the API
    /// (404 or anything that is not an image index).
    pub(super) fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> Result<Option<serde_json::Value>, Error> {
        let path = format!("/v2/{repo}/referrers/{subject}");
        let accept = [("Accept", crate::oci::INDEX_MEDIA_TYPE.to_string())];
        let r = self.send_limited(
            "GET",
            &path,
            &accept,
            &Body::Empty,
            true,
            Sink::Memory(super::MAX_MANIFEST),
        )?;
        let is_index = r
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with(crate::oci::INDEX_MEDIA_TYPE));
        if r.status != 200 || !is_index {
            return Ok(None);
        }
        Ok(serde_json::from_slice(&r.body).ok())
    }

    /// GET /v2/REPO/blobs/DIGEST (at most [`super::MAX_FETCH`] bytes: signatures, payloads, SBOMs),
    /// checked against its digest.
    pub(super) fn get_blob(&self, repo: &str, d: &Digest) -> Result<Vec<u8>, Error> {
        let path = format!("/v2/{repo}/blobs/{d}");
        let r = self.send("GET", &path, &[], &Body::Empty, true)?;
        if r.status != 200 {
            return Err(self.status_error("GET", &path, &r));
        }
        let got = Digest::of(&r.body);
        if got != *d {
            return Err(Error::FetchedBlobMismatch {
                blob: d.clone(),
                url: redact_url(&self.url(&path)),
                got: got.to_string(),
            });
        }
        Ok(r.body)
    }

    /// GET /v2/REPO/blobs/DIGEST streamed into `sink`'s file, checked against its digest and
    /// size (redirects to storage followed, retried as any GET).
    pub(super) fn get_blob_to(&self, repo: &str, sink: Sink<'_>) -> Result<(), Error> {
        let Sink::File { digest, .. } = sink else {
            return Err(Error::BadManifest {
                reference: repo.into(),
                why: "internal error: a blob download needs a file".into(),
            });
        };
        let path = format!("/v2/{repo}/blobs/{digest}");
        let r = self.send_limited("GET", &path, &[], &Body::Empty, true, sink)?;
        if r.status != 200 {
            return Err(self.status_error("GET", &path, &r));
        }
        Ok(())
    }

    /// PUT /v2/REPO/manifests/REF; returns the digest the registry reports.
    pub(super) fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Put, Error> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let headers = [("Content-Type", media_type.to_string())];
        let r = self.send("PUT", &path, &headers, &Body::Bytes(bytes.to_vec()), true)?;
        match r.status {
            200 | 201 | 202 | 204 => Ok(Put {
                digest: r.digest,
                indexed_subject: r.oci_subject.is_some(),
            }),
            _ => Err(self.status_error("PUT", &path, &r)),
        }
    }
}

/// The manifest media types kiln reads: OCI and Docker, manifests and indexes.
fn accept() -> String {
    [
        crate::oci::MANIFEST_MEDIA_TYPE,
        crate::oci::INDEX_MEDIA_TYPE,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
    .join(", ")
}

/// `0-N` (or `bytes=0-N`) → N.
fn range_end(r: &str) -> Option<u64> {
    let r = r.trim().trim_start_matches("bytes=");
    r.split_once('-')?.1.trim().parse().ok()
}

fn transport(method: &str, shown: &str, e: &ureq::Error) -> Error {
    // A certificate the server presented and rustls refused (ureq may wrap it in an io::Error):
    // the server speaks TLS, so this is the answer, not a reason to try plain HTTP.
    let rejected = match e {
        ureq::Error::Rustls(rustls::Error::InvalidCertificate(c)) => Some(c),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(|r| match r {
                rustls::Error::InvalidCertificate(c) => Some(c),
                _ => None,
            }),
        _ => None,
    };
    if let Some(c) = rejected {
        return Error::Certificate {
            url: shown.into(),
            message: format!("{c:?}"),
        };
    }
    let transient = matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    );
    Error::Transport {
        method: method.into(),
        url: shown.into(),
        message: e.to_string(),
        transient,
    }
}

/// The parts of `r` kiln uses; a successful body of at most `limit` bytes, an error body's
/// first [`MAX_ERROR_BODY`] bytes.
fn read_resp(
    method: &str,
    shown: &str,
    mut r: ureq::http::Response<ureq::Body>,
    sink: Sink<'_>,
    progress: &dyn super::Progress,
) -> Result<Resp, Error> {
    let h = |k: &str| {
        r.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = r.status().as_u16();
    let location = h("location");
    let digest = h("docker-content-digest");
    let range = h("range");
    let challenge = h("www-authenticate");
    let content_type = h("content-type");
    // Seconds only; an HTTP date is rare from registries and gets the usual backoff.
    let retry_after = h("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|v| v.min(MAX_RETRY_AFTER));
    let oci_subject = h("oci-subject");
    let body = if method == "HEAD" {
        Vec::new()
    } else if let (true, Sink::File { path, digest, size }) = ((200..300).contains(&status), sink) {
        stream_to_file(
            method,
            shown,
            r.body_mut().as_reader(),
            path,
            digest,
            size,
            progress,
        )?;
        Vec::new()
    } else if let (true, Sink::Memory(limit)) = ((200..300).contains(&status), sink) {
        r.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::TooLarge {
                    method: method.into(),
                    url: shown.into(),
                    limit,
                },
                e => transport(method, shown, &e),
            })?
    } else {
        // What the registry says went wrong, never more than a bound; a body cut short (or
        // one that stops arriving) is still the answer.
        let mut v = Vec::new();
        let _ = r
            .body_mut()
            .as_reader()
            .take(MAX_ERROR_BODY)
            .read_to_end(&mut v);
        v
    };
    Ok(Resp {
        status,
        location,
        digest,
        range,
        challenge,
        content_type,
        retry_after,
        oci_subject,
        body,
    })
}

/// Copies a blob's body into `path` (at most `size` bytes read: a longer body is refused
/// without reading on), hashing it; a short read is transient (retried), a wrong digest or
/// size is [`Error::FetchedBlobMismatch`] (not retried: the registry said what it has).
fn stream_to_file(
    method: &str,
    shown: &str,
    body: impl Read,
    path: &Path,
    digest: &Digest,
    size: u64,
    progress: &dyn super::Progress,
) -> Result<(), Error> {
    use std::io::Write;
    let werr = |e: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source: e,
    };
    let f = fs_err::File::create(path).map_err(werr)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, f);
    let mut hasher = crate::digest::Hasher::new(digest.algorithm());
    let mut body = body.take(size + 1);
    let mut buf = vec![0u8; 256 * 1024];
    let mut got: u64 = 0;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Transport {
                    method: method.into(),
                    url: shown.into(),
                    message: format!("the body stopped after {got} bytes: {e}"),
                    transient: true,
                })
            }
        };
        got += n as u64;
        if got > size {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(werr)?;
        progress.sent(n as u64);
    }
    out.flush().map_err(werr)?;
    if got < size {
        return Err(Error::Transport {
            method: method.into(),
            url: shown.into(),
            message: format!("the body ended after {got} of {size} bytes"),
            transient: true,
        });
    }
    let actual = hasher.finish();
    if got > size || actual != *digest {
        return Err(Error::FetchedBlobMismatch {
            blob: digest.clone(),
            url: shown.into(),
            got: if got > size {
                format!("more than its {size} bytes")
            } else {
                actual.to_string()
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls() {
        assert_eq!(
            redact_url("https://u:secret@h:5000/v2/x/blobs/uploads/abc?_state=zzz&digest=1"),
            "https://h:5000/v2/x/blobs/uploads/abc"
        );
        assert_eq!(redact_url("http://h/token"), "http://h/token");
        assert_eq!(range_end("0-1023"), Some(1023));
        assert_eq!(range_end("bytes=0-9"), Some(9));
        assert_eq!(
            pct("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
