//! A hostile registry (issue 9, class 3 and the registry parts of 1 and 6): plain std HTTP/1.1
//! servers on 127.0.0.1 and on a second loopback address (127.0.0.2; Linux routes all of
//! 127/8 to lo) that answer what each test scripts: upload `Location`s and redirects to another
//! host, plain-HTTP token realms, redirect and 401 loops, a 1 GiB error body, silence, manifests
//! whose bytes are not what their digest says. Every case runs the real `kiln` (push, verify,
//! sign) and asserts the exact refusal, that the other host never saw an Authorization header,
//! and that no secret reaches stdout or stderr.

use crate::registry_util::*;
use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USER: &str = "alice";
const SECRET: &str = "hunter2-hostile-SECRET";
const TOKEN: &str = "tok-hostile-SECRET-7f3a";

/// A P-256 public key (cosign's PEM): `kiln verify` needs one before it reads the registry.
const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0uakXjFKTTXxCcvg7zXtWUQHEAfk
bAckc3yb0LzHeRc4uGt1iy2Nd/HbCcD68xnJCTKPWtq8GxLiw7xEBf0dZg==
-----END PUBLIC KEY-----
";

fn basic() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"))
    )
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// One request a server received.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    /// The request target (path and query).
    path: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn is(&self, method: &str, part: &str) -> bool {
        self.method == method && self.path.contains(part)
    }
}

/// What a server answers.
enum Reply {
    /// Status, headers, body.
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// A body of this many bytes, written lazily 64 KiB at a time.
    Huge(u16, u64),
}

fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    Reply::Full(
        status,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body.to_vec(),
    )
}

fn redirect(status: u16, to: &str) -> Reply {
    reply(status, &[("Location", to)], b"")
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync;

/// An HTTP/1.1 server on `ip`: one request per connection, every request recorded.
struct Server {
    port: u16,
    ip: &'static str,
    requests: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    fn start(ip: &'static str, handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let rq = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (rq, handler) = (rq.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &rq, handler.as_ref());
                });
            }
        });
        Server { port, ip, requests }
    }

    /// A server that accepts connections and never answers (holds them two minutes).
    fn silent(ip: &'static str) -> Server {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(120));
                    drop(conn);
                });
            }
        });
        Server {
            port,
            ip,
            requests: Arc::default(),
        }
    }

    fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    fn requests(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self, method: &str, part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.is(method, part))
            .count()
    }

    /// Requests that carried an Authorization header.
    fn authorized(&self) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| r.header("authorization").is_some())
            .collect()
    }
}

fn serve(
    mut conn: TcpStream,
    requests: &Mutex<Vec<Req>>,
    handler: &Handler,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut b)? == 0 {
            return Ok(());
        }
        // Not HTTP (kiln's HTTPS probe sends a TLS ClientHello): hang up.
        if head.is_empty() && !b[0].is_ascii_uppercase() {
            return Ok(());
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let req = Req {
        method: first[0].to_string(),
        path: first.get(1).unwrap_or(&"").to_string(),
        headers,
    };
    let length: u64 = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::io::copy(&mut (&mut conn).take(length), &mut std::io::sink())?;
    requests.lock().unwrap().push(req.clone());
    match handler(&req) {
        Reply::Full(status, headers, body) => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out += &format!("{k}: {v}\r\n");
            }
            out += "\r\n";
            conn.write_all(out.as_bytes())?;
            if req.method != "HEAD" {
                conn.write_all(&body)?;
            }
        }
        Reply::Huge(status, len) => {
            write!(conn, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")?;
            let chunk = vec![b'x'; 64 << 10];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                conn.write_all(&chunk[..n])?;
                left -= n as u64;
            }
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
    Ok(())
}

/// What a minimal registry answers, the rest left to the test: `/v2/` needs Basic
/// credentials, nothing exists yet, uploads start at `location`, every PUT is stored.
fn registry(req: &Req, location: &str) -> Reply {
    if req.header("authorization") != Some(basic().as_str()) {
        return reply(401, &[("WWW-Authenticate", "Basic realm=\"hostile\"")], b"");
    }
    match req.method.as_str() {
        "GET" if req.path == "/v2/" => reply(200, &[], b"{}"),
        "POST" if req.path.contains("/blobs/uploads/") => {
            reply(202, &[("Location", location)], b"")
        }
        "PUT" => reply(201, &[], b""),
        "PATCH" => reply(202, &[("Location", location), ("Range", "0-0")], b""),
        _ => reply(404, &[], b""),
    }
}

/// A small image (one tiny layer) in an OCI layout tagged `v1`.
fn tiny_image(t: &Path) -> PathBuf {
    let d = t.join("tiny");
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::write(d.join("data/hello.txt"), "hello from a hostile test\n").unwrap();
    std::fs::write(
        d.join("kiln.toml"),
        "[image]\nname = \"tiny\"\n\n[[component]]\nname = \"data\"\nkind = \"tree\"\nfrom = \"data\"\nto = \"/data\"\nwhy = \"a payload\"\n",
    )
    .unwrap();
    let layout = t.join("img");
    build(
        &d.join("kiln.toml"),
        &format!("oci:{}:v1", layout.display()),
    );
    layout
}

/// Runs `cmd` with the password on stdin (`--username alice --password-stdin`).
fn with_password(cmd: &mut Command) -> Output {
    cmd.args(["--username", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{SECRET}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn push(home: &Path, layout: &Path, dest: &str, extra: &[&str]) -> Output {
    with_password(
        kiln_clean_env(home)
            .args(["push", &format!("oci:{}:v1", layout.display()), dest])
            .args(extra),
    )
}

fn verify(home: &Path, image: &str) -> Output {
    let key = home.join("cosign.pub");
    std::fs::write(&key, PUBLIC_KEY).unwrap();
    with_password(
        kiln_clean_env(home)
            .arg("verify")
            .arg("--key")
            .arg(&key)
            .arg(image),
    )
}

/// Exit 1, one `error:` line naming the problem (every part of `want`), no secret anywhere.
fn refused(o: &Output, want: &[&str]) -> String {
    refused_with(o, 1, want)
}

/// As [`refused`], for a verification that ran and found nothing valid: exit 3.
fn unverified(o: &Output, want: &[&str]) -> String {
    refused_with(o, 3, want)
}

fn refused_with(o: &Output, code: i32, want: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    no_secret(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for w in want {
        assert!(stderr.contains(w), "expected {w:?} in: {stderr}");
    }
    stderr
}

/// Neither the password, its Basic form, nor the token in stdout or stderr.
fn no_secret(o: &Output) {
    let b64 = basic();
    let b64 = b64.trim_start_matches("Basic ");
    for s in [&o.stdout, &o.stderr] {
        let text = String::from_utf8_lossy(s);
        for secret in [SECRET, b64, TOKEN] {
            assert!(!text.contains(secret), "a secret leaked: {text}");
        }
    }
}

/// A valid (empty) image manifest: what the hostile servers hand out.
fn some_manifest() -> Vec<u8> {
    let config = b"{}";
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": sha256(config)},
        "layers": [],
    }))
    .unwrap()
}

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn upload_location_on_another_loopback_host_gets_no_authorization() {
    let t = tempdir();
    let layout = tiny_image(t.path());
    let other = Server::start("127.0.0.2", |r| match r.method.as_str() {
        "PUT" | "PATCH" => reply(201, &[], b""),
        _ => reply(404, &[], b""),
    });
    let loc = format!("http://{}/upload/session-1?_state=opaque", other.host());
    let reg = Server::start("127.0.0.1", move |r| registry(r, &loc));
    let o = push(
        t.path(),
        &layout,
        &format!("docker://{}/app:v1", reg.host()),
        &[],
    );
    no_secret(&o);
    check(&o, "kiln push through an upload location on 127.0.0.2");
    // The blobs went to the other host, without the registry's credentials.
    assert!(
        other.count("PUT", "/upload/session-1") >= 2,
        "{:?}",
        other.requests()
    );
    assert_eq!(other.authorized().len(), 0, "{:?}", other.authorized());
    // The registry itself got them (the test would prove nothing otherwise).
    assert!(reg.count("PUT", "/manifests/v1") == 1 && !reg.authorized().is_empty());
}

#[test]
fn plain_http_upload_location_on_a_remote_host_is_refused() {
    let t = tempdir();
    let layout = tiny_image(t.path());
    let reg = Server::start("127.0.0.1", |r| {
        registry(r, "http://example.invalid/upload/1?_state=zzz")
    });
    let o = push(
        t.path(),
        &layout,
        &format!("docker://{}/app:v1", reg.host()),
        &[],
    );
    let e = refused(
        &o,
        &[
            "refusing plain HTTP to `example.invalid:80`",
            "http://example.invalid/upload/1",
            "an upload location",
        ],
    );
    assert!(!e.contains("_state") && !e.contains("zzz"), "{e}");
    // Nothing was sent to the upload: kiln stopped before connecting (no DNS error either).
    assert!(!e.contains("resolve") && !e.contains("dns"), "{e}");
    assert_eq!(reg.count("PUT", ""), 0);
}

#[test]
fn insecure_is_for_the_registry_host_only() {
    let t = tempdir();
    let layout = tiny_image(t.path());
    let reg = Server::start("127.0.0.1", |r| {
        registry(r, "http://example.invalid/upload/1")
    });
    let o = push(
        t.path(),
        &layout,
        &format!("docker://{}/app:v1", reg.host()),
        &["--insecure"],
    );
    refused(
        &o,
        &[
            "refusing plain HTTP to `example.invalid:80`",
            &format!(
                "--insecure allows it for the registry's own host (127.0.0.1:{})",
                reg.port
            ),
            "never for another host",
        ],
    );
}

#[test]
fn plain_http_token_realm_on_a_remote_host_is_refused() {
    let t = tempdir();
    let reg = Server::start("127.0.0.1", |_| {
        reply(
            401,
            &[(
                "WWW-Authenticate",
                "Bearer realm=\"http://example.invalid/token\",service=\"hostile\"",
            )],
            b"",
        )
    });
    let o = verify(t.path(), &format!("docker://{}/app:v1", reg.host()));
    refused(
        &o,
        &[
            "refusing plain HTTP to `example.invalid:80`",
            "its token realm",
        ],
    );
    // Only the anonymous ping reached the registry; no credentials went anywhere.
    assert_eq!(reg.authorized().len(), 0);
    assert_eq!(reg.count("GET", "/v2/"), 1);
}

#[test]
fn plain_http_token_realm_on_loopback_gets_credentials_and_the_token_stays_home() {
    let t = tempdir();
    let layout = tiny_image(t.path());
    let auth = Server::start("127.0.0.2", |r| {
        if r.header("authorization") == Some(basic().as_str()) {
            reply(
                200,
                &[("Content-Type", "application/json")],
                format!("{{\"token\":\"{TOKEN}\"}}").as_bytes(),
            )
        } else {
            reply(401, &[], b"")
        }
    });
    let realm = format!(
        "Bearer realm=\"http://{}/token\",service=\"hostile\"",
        auth.host()
    );
    let reg = Server::start("127.0.0.1", move |r| {
        if r.header("authorization") != Some(format!("Bearer {TOKEN}").as_str()) {
            return reply(401, &[("WWW-Authenticate", realm.as_str())], b"");
        }
        match r.method.as_str() {
            "GET" if r.path == "/v2/" => reply(200, &[], b"{}"),
            "POST" => reply(202, &[("Location", "/v2/app/blobs/uploads/s1")], b""),
            "PUT" => reply(201, &[], b""),
            _ => reply(404, &[], b""),
        }
    });
    let o = push(
        t.path(),
        &layout,
        &format!("docker://{}/app:v1", reg.host()),
        &[],
    );
    no_secret(&o);
    check(&o, "kiln push with a loopback token realm");
    // The realm got the Basic credentials (loopback); the registry only ever the token.
    assert!(auth
        .authorized()
        .iter()
        .all(|r| r.header("authorization") == Some(basic().as_str())));
    assert_eq!(auth.count("GET", "/token"), 1, "{:?}", auth.requests());
    assert!(reg
        .authorized()
        .iter()
        .all(|r| r.header("authorization") == Some(format!("Bearer {TOKEN}").as_str())));
    assert_eq!(reg.count("PUT", "/manifests/v1"), 1);
}

#[test]
fn manifest_get_redirected_to_another_host_goes_without_authorization() {
    let t = tempdir();
    let m = some_manifest();
    let d = sha256(&m);
    let store = Server::start("127.0.0.2", move |r| {
        if r.is("GET", "/storage/manifest") {
            reply(200, &[("Content-Type", MANIFEST_TYPE)], &m)
        } else {
            reply(404, &[], b"")
        }
    });
    let to = format!(
        "http://{}/storage/manifest?X-Amz-Signature=abc",
        store.host()
    );
    let reg = Server::start("127.0.0.1", move |r| {
        if r.header("authorization") != Some(basic().as_str()) {
            return reply(401, &[("WWW-Authenticate", "Basic realm=\"hostile\"")], b"");
        }
        match r.path.as_str() {
            "/v2/" => reply(200, &[], b"{}"),
            "/v2/app/manifests/v1" => redirect(307, &to),
            _ => reply(404, &[], b""),
        }
    });
    let o = verify(t.path(), &format!("docker://{}/app:v1", reg.host()));
    // The manifest was fetched from the other host and hashed: verify goes on to look for
    // signatures of exactly that digest (there are none).
    let e = unverified(&o, &["no valid signature", d.trim_start_matches("sha256:")]);
    assert!(!e.contains("X-Amz-Signature"), "{e}");
    assert_eq!(store.count("GET", "/storage/manifest"), 1);
    assert_eq!(store.authorized().len(), 0, "{:?}", store.authorized());
    assert!(!reg.authorized().is_empty());
}

#[test]
fn blob_get_redirected_to_storage_goes_without_authorization_and_is_checked() {
    let t = tempdir();
    let m = some_manifest();
    let d = sha256(&m);
    // A signature manifest whose payload blob the registry hands off to storage (as S3-backed
    // registries do); the storage first serves other bytes, then the right ones.
    let payload = br#"{"critical":{}}"#.to_vec();
    let pd = sha256(&payload);
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": sha256(b"{}")},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": payload.len(), "digest": pd,
            "annotations": {"dev.cosignproject.cosign/signature": "AAAA"},
        }],
    }))
    .unwrap();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = served.clone();
    let store = Server::start("127.0.0.2", move |r| {
        if !r.is("GET", "/storage/blob") {
            return reply(404, &[], b"");
        }
        if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            reply(200, &[], b"{\"tampered\":true}")
        } else {
            reply(200, &[], &payload)
        }
    });
    let to = format!("http://{}/storage/blob?X-Amz-Signature=abc", store.host());
    let sig_path = format!(
        "/v2/app/manifests/sha256-{}.sig",
        d.trim_start_matches("sha256:")
    );
    let blob_path = format!("/v2/app/blobs/{pd}");
    let reg = Server::start("127.0.0.1", move |r| {
        if r.header("authorization") != Some(basic().as_str()) {
            return reply(401, &[("WWW-Authenticate", "Basic realm=\"hostile\"")], b"");
        }
        match r.path.as_str() {
            "/v2/" => reply(200, &[], b"{}"),
            "/v2/app/manifests/v1" => reply(200, &[("Content-Type", MANIFEST_TYPE)], &m),
            p if p == sig_path => reply(200, &[("Content-Type", MANIFEST_TYPE)], &sig),
            p if p == blob_path => redirect(307, &to),
            _ => reply(404, &[], b""),
        }
    });
    let image = format!("docker://{}/app:v1", reg.host());
    // First the storage's bytes do not hash to the blob's digest: named as such.
    let e = unverified(
        &verify(t.path(), &image),
        &["no valid signature", "signature 1:"],
    );
    let tampered = sha256(b"{\"tampered\":true}");
    assert!(
        e.contains("does not hash to its digest") && e.contains(&pd) && e.contains(&tampered),
        "{e}"
    );
    // Then they do, and the (fake) signature is what fails.
    let e = unverified(
        &verify(t.path(), &image),
        &["no valid signature", "signature 1:"],
    );
    assert!(!e.contains("X-Amz-Signature"), "{e}");
    assert_eq!(store.count("GET", "/storage/blob"), 2);
    assert_eq!(store.authorized().len(), 0, "{:?}", store.authorized());
    assert!(!reg.authorized().is_empty());
}

#[test]
fn redirect_to_plain_http_on_a_remote_host_is_refused() {
    let t = tempdir();
    let reg = Server::start("127.0.0.1", |r| match r.path.as_str() {
        "/v2/" => reply(200, &[], b"{}"),
        _ => redirect(302, "http://example.invalid/m"),
    });
    let o = verify(t.path(), &format!("docker://{}/app:v1", reg.host()));
    refused(
        &o,
        &["refusing plain HTTP to `example.invalid:80`", "a redirect"],
    );
}

#[test]
fn redirect_loop_is_an_error_after_a_bounded_number_of_requests() {
    let t = tempdir();
    let reg = Server::start("127.0.0.1", |r| match r.path.as_str() {
        "/v2/" => reply(200, &[], b"{}"),
        "/loop/a" => redirect(302, "/loop/b"),
        // Back to the start, as an absolute URL on the same authority.
        "/loop/b" => redirect(
            301,
            &format!("http://{}/loop/a", r.header("host").unwrap_or("")),
        ),
        _ => redirect(308, "/loop/a"),
    });
    let o = verify(t.path(), &format!("docker://{}/app:v1", reg.host()));
    refused(&o, &["the redirects loop back to", "/loop/a"]);
    assert_eq!(reg.count("GET", "/loop/a"), 1);
    assert_eq!(reg.count("GET", "/loop/b"), 1);
    assert_eq!(reg.count("GET", "/manifests/"), 1);
}

#[test]
fn six_redirect_hops_are_too_many() {
    let t = tempdir();
    let reg = Server::start("127.0.0.1", |r| {
        if r.path == "/v2/" {
            return reply(200, &[], b"{}");
        }
        let n: u32 = r
            .path
            .strip_prefix("/hop/")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        redirect(302, &format!("/hop/{}", n + 1))
    });
    let o = verify(t.path(), &format!("docker://{}/app:v1", reg.host()));
    refused(&o, &["more than 5 redirects", "/v2/app/manifests/v1"]);
    // The first request and five hops; the sixth redirect is not followed.
    assert_eq!(reg.count("GET", "/hop/"), 5, "{:?}", reg.requests());
    assert_eq!(reg.count("GET", "/hop/6"), 0);
}

#[test]
fn endless_401_with_fresh_tokens_gives_up_after_one_reauthentication() {
    let t = tempdir();
    let port = free_port();
    let realm = format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"hostile\"");
    let reg = Server::start_on(port, move |r| {
        if r.path.starts_with("/token") {
            return reply(200, &[], format!("{{\"token\":\"{TOKEN}\"}}").as_bytes());
        }
        reply(
            401,
            &[("WWW-Authenticate", realm.as_str())],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"again"}]}"#,
        )
    });
    let started = Instant::now();
    let o = verify(t.path(), &format!("docker://{}/app:v1", reg.host()));
    refused(&o, &["refused the credentials (HTTP 401)", "UNAUTHORIZED"]);
    // One ping, one token, one ping with the token: then kiln believes the 401.
    assert_eq!(reg.count("GET", "/v2/"), 2, "{:?}", reg.requests());
    assert_eq!(reg.count("GET", "/token"), 1, "{:?}", reg.requests());
    assert_eq!(reg.requests().len(), 3);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_1_gib_error_body_is_read_in_bounded_memory() {
    let t = tempdir();
    let time = require("time");
    let reg = Server::start("127.0.0.1", |_| Reply::Huge(403, 1 << 30));
    let key = t.path().join("cosign.pub");
    std::fs::write(&key, PUBLIC_KEY).unwrap();
    let started = Instant::now();
    let o = Command::new(time)
        .args(["-f", "maxrss_kib=%M"])
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .arg("verify")
        .arg("--key")
        .arg(&key)
        .arg(format!("docker://{}/app:v1", reg.host()))
        .env("HOME", t.path())
        .env_remove("KILN_REGISTRY_USERNAME")
        .env_remove("KILN_REGISTRY_PASSWORD")
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: GET http://127.0.0.1"), "{stderr}");
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    let kib = maxrss_kib(&stderr);
    eprintln!(
        "peak RSS facing a 1 GiB error body: {} MiB in {:?}",
        kib / 1024,
        started.elapsed()
    );
    assert!(kib < 100 * 1024, "peak RSS {kib} KiB is over 100 MiB");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_silent_server_is_a_timeout_in_bounded_time() {
    let t = tempdir();
    let reg = Server::silent("127.0.0.1");
    let started = Instant::now();
    let key = t.path().join("cosign.pub");
    std::fs::write(&key, PUBLIC_KEY).unwrap();
    let o = kiln_clean_env(t.path())
        .env("KILN_HTTP_TIMEOUT_SECS", "1")
        .arg("verify")
        .arg("--key")
        .arg(&key)
        .arg(format!("docker://{}/app:v1", reg.host()))
        .output()
        .unwrap();
    let took = started.elapsed();
    let e = refused(&o, &["timeout", &format!("http://{}/v2/", reg.host())]);
    eprintln!("a silent registry: {took:?}: {e}");
    // Six attempts of one second each plus the backoff between them.
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_manifest_by_digest_whose_bytes_differ_is_refused() {
    let t = tempdir();
    let m = some_manifest();
    let actual = sha256(&m);
    let claimed = sha256(b"the manifest that was signed");
    let reg = Server::start("127.0.0.1", move |r| match r.path.as_str() {
        "/v2/" => reply(200, &[], b"{}"),
        p if p.contains("/manifests/") => reply(200, &[("Content-Type", MANIFEST_TYPE)], &m),
        _ => reply(404, &[], b""),
    });
    let image = format!("docker://{}/app@{claimed}", reg.host());
    let o = verify(t.path(), &image);
    refused(
        &o,
        &[
            "does not hash to its digest",
            &format!("expected {claimed}"),
            &format!("got {actual}"),
        ],
    );
    // kiln sign refuses it too: it never signs bytes that are not the digest's.
    let (key, _) = key_pair(t.path());
    let o = kiln_clean_env(t.path())
        .env("KILN_PASSWORD", "pw")
        .args(["sign", "--key"])
        .arg(&key)
        .arg(&image)
        .output()
        .unwrap();
    refused(
        &o,
        &[&format!("expected {claimed}"), &format!("got {actual}")],
    );
    assert_eq!(reg.count("PUT", ""), 0);
}

#[test]
fn a_docker_content_digest_that_disagrees_is_refused() {
    let t = tempdir();
    let m = some_manifest();
    let actual = sha256(&m);
    let lie = sha256(b"another manifest");
    let header = lie.clone();
    let reg = Server::start("127.0.0.1", move |r| match r.path.as_str() {
        "/v2/" => reply(200, &[], b"{}"),
        "/v2/app/manifests/v1" => reply(
            200,
            &[
                ("Content-Type", MANIFEST_TYPE),
                ("Docker-Content-Digest", &header),
            ],
            &m,
        ),
        _ => reply(404, &[], b""),
    });
    let o = verify(t.path(), &format!("docker://{}/app:v1", reg.host()));
    refused(
        &o,
        &[
            "Docker-Content-Digest says",
            &lie,
            &format!("hash to {actual}"),
        ],
    );
}

#[test]
fn a_redirect_of_a_put_is_an_error_and_not_followed() {
    let t = tempdir();
    let layout = tiny_image(t.path());
    let other = Server::start("127.0.0.2", |_| reply(201, &[], b""));
    let to = format!("http://{}/elsewhere", other.host());
    let reg = Server::start("127.0.0.1", move |r| {
        if r.is("PUT", "/manifests/") {
            return redirect(307, &to);
        }
        registry(r, "/v2/app/blobs/uploads/s1")
    });
    let o = push(
        t.path(),
        &layout,
        &format!("docker://{}/app:v1", reg.host()),
        &[],
    );
    refused(
        &o,
        &[
            "HTTP 307 (a redirect)",
            "kiln follows redirects of GET and HEAD only",
        ],
    );
    assert_eq!(other.requests().len(), 0);
}

#[test]
fn a_tampered_layer_is_never_sent() {
    let t = tempdir();
    let up = Registry::start(None);
    let proxy = Proxy::start(up.port, Faults::None);
    let manifest = big_image(t.path(), 2);
    let layout = t.path().join("img");
    build(&manifest, &format!("oci:{}:v1", layout.display()));
    let (m, _) = image(&layout, "v1");
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let path = layout
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let got = sha256(&bytes);
    std::fs::write(&path, &bytes).unwrap();
    let o = kiln_clean_env(t.path())
        .args(["push", &format!("oci:{}:v1", layout.display())])
        .arg(format!("docker://{}/app:v1", proxy.host()))
        .args(["--chunk-mib", "1"])
        .output()
        .unwrap();
    let size = bytes.len();
    refused(
        &o,
        &[
            &format!("blob `{layer}`"),
            &format!("expected {layer} ({size} bytes)"),
            &format!("got {got} ({size} bytes)"),
            "nothing of it was sent",
        ],
    );
    // The registry got no byte of it: no chunk, no PUT naming it, and no manifest.
    assert_eq!(proxy.count("PATCH", ""), 0);
    assert_eq!(proxy.count("PUT", &layer), 0);
    assert_eq!(proxy.count("PUT", "/manifests/"), 0);
    // It asked whether the registry had it (a warm push would not have hashed it at all).
    assert_eq!(proxy.count("HEAD", &format!("/blobs/{layer}")), 1);
}

impl Server {
    /// [`Server::start`] on a chosen port of 127.0.0.1.
    fn start_on(port: u16, handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let rq = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (rq, handler) = (rq.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &rq, handler.as_ref());
                });
            }
        });
        Server {
            port,
            ip: "127.0.0.1",
            requests,
        }
    }
}

/// `kiln generate-key-pair` (password `pw`) in `dir`: (cosign.key, cosign.pub).
fn key_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let prefix = dir.join("signer");
    run(
        kiln_clean_env(dir)
            .env("KILN_PASSWORD", "pw")
            .args(["generate-key-pair", "--output-key-prefix"])
            .arg(&prefix),
        "kiln generate-key-pair",
    );
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

#[test]
fn credentials_a_registry_echoes_back_are_not_printed() {
    let t = tempdir();
    let layout = tiny_image(t.path());
    // A registry that accepts the password, then quotes it (and its Basic form) in an error.
    let reg = Server::start("127.0.0.1", |r| {
        let Some(auth) = r.header("authorization").filter(|a| *a == basic()) else {
            return reply(401, &[("WWW-Authenticate", "Basic realm=\"hostile\"")], b"");
        };
        match r.method.as_str() {
            "GET" if r.path == "/v2/" => return reply(200, &[], b"{}"),
            "HEAD" => return reply(404, &[], b""),
            _ => {}
        }
        let body = serde_json::json!({"errors": [{
            "code": "DENIED",
            "message": format!("user {USER} with password {SECRET} ({auth}) may not"),
        }]});
        reply(
            403,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    });
    let o = push(
        t.path(),
        &layout,
        &format!("docker://{}/app:v1", reg.host()),
        &[],
    );
    let e = refused(
        &o,
        &["refused the credentials (HTTP 403)", "DENIED", "<redacted>"],
    );
    assert!(
        e.contains(&format!("user {USER} with password <redacted>")),
        "{e}"
    );
}

#[test]
fn pull_refuses_a_blob_that_is_not_what_its_digest_says_and_publishes_nothing() {
    let t = tempdir();
    // A manifest naming a config and a layer; the layer is served with other bytes of the
    // same length, then (second case) with more bytes than its descriptor says.
    let config = b"{}".to_vec();
    let layer = b"the real layer bytes".to_vec();
    let evil = b"THE REAL LAYER BYTES".to_vec();
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": sha256(&config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": layer.len(), "digest": sha256(&layer)}],
    }))
    .unwrap();
    let (want, evil_digest) = (sha256(&layer), sha256(&evil));
    let (cfg_path, layer_path) = (
        format!("/v2/app/blobs/{}", sha256(&config)),
        format!("/v2/app/blobs/{}", sha256(&layer)),
    );
    let longer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let l = longer.clone();
    let reg = Server::start("127.0.0.1", move |r| match r.path.as_str() {
        "/v2/" => reply(200, &[], b"{}"),
        "/v2/app/manifests/v1" => reply(200, &[("Content-Type", MANIFEST_TYPE)], &m),
        p if p == cfg_path => reply(200, &[], &config),
        p if p == layer_path && l.load(std::sync::atomic::Ordering::SeqCst) => {
            reply(200, &[], &[layer.as_slice(), b"and more"].concat())
        }
        p if p == layer_path => reply(200, &[], &evil),
        _ => reply(404, &[], b""),
    });
    let src = format!("docker://{}/app:v1", reg.host());
    let dest = t.path().join("out");
    let o = kiln_clean_env(t.path())
        .args(["pull", &src, &format!("oci:{}", dest.display())])
        .output()
        .unwrap();
    let e = refused(&o, &["cannot pull", "does not hash to its digest", &want]);
    assert!(e.contains(&evil_digest), "{e}");
    assert!(
        !dest.exists(),
        "a refused pull published {}",
        dest.display()
    );
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".kiln"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");

    longer.store(true, std::sync::atomic::Ordering::SeqCst);
    let archive = t.path().join("out.tar");
    let o = kiln_clean_env(t.path())
        .args(["pull", &src, &format!("oci-archive:{}", archive.display())])
        .output()
        .unwrap();
    refused(
        &o,
        &["does not hash to its digest", "more than its 20 bytes"],
    );
    assert!(!archive.exists());
}
