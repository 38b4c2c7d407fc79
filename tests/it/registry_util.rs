//! A throw-away registry (Debian's docker-registry 2.8) on 127.0.0.1 for one test, killed when
//! the guard drops (also on panic), and a small HTTP proxy that counts requests and can inject
//! faults (500, 429, dropped connections) in front of it.

use crate::util::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP exchange: the status of `GET path` (plain HTTP/1.1, Connection: close).
pub(crate) fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split(' ').nth(1)?.parse().ok()
}

pub(crate) struct Registry {
    child: Child,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts a registry; `auth` is a line of YAML for the `auth:` key (e.g. htpasswd).
    pub(crate) fn start(auth: Option<&str>) -> Registry {
        Registry::start_with(auth, None)
    }

    /// Starts a registry serving TLS with `(certificate, key)` when given.
    pub(crate) fn start_with(auth: Option<&str>, tls: Option<(&Path, &Path)>) -> Registry {
        let bin = require("docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("kiln-registry-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut config = format!(
                "version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\nstorage:\n  filesystem: {{rootdirectory: \"{}\"}}\n  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: testbed-only-not-secret\n",
                data.display()
            );
            if let Some((cert, key)) = tls {
                config += &format!(
                    "  tls: {{certificate: \"{}\", key: \"{}\"}}\n",
                    cert.display(),
                    key.display()
                );
            }
            if let Some(a) = auth {
                config += &format!("auth: {a}\n");
            }
            let cfg = dir.path().join("config.yml");
            std::fs::write(&cfg, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut child = child;
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(20) {
                // A TLS server answers a plain request with 400.
                let up = match http_status(port, "/v2/") {
                    Some(200 | 401) => true,
                    Some(400) => tls.is_some(),
                    _ => false,
                };
                if up {
                    return Registry { child, port, dir };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // The port was taken in between, or a slow start: try another port.
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap();
            eprintln!("docker-registry did not come up on {port}:\n{log}");
        }
        panic!("docker-registry did not answer GET /v2/ (see the logs above)");
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// What the proxy does to the n-th request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Faults {
    None,
    /// One request in four fails: a 500, a 429, a connection dropped before forwarding, or
    /// one dropped after the registry handled the request (the answer lost), in turn.
    OneInFour,
}

/// An HTTP/1.1 proxy on 127.0.0.1 in front of `upstream`: one request per connection
/// (it forces `Connection: close`), each request line recorded.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    pub(crate) requests: Arc<Mutex<Vec<String>>>,
    pub(crate) faults_injected: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Proxy {
    pub(crate) fn start(upstream: u16, faults: Faults) -> Proxy {
        Proxy::start_at(upstream, faults, 0)
    }

    /// A proxy whose request counter starts at `first`: the faults fall on other requests.
    pub(crate) fn start_at(upstream: u16, faults: Faults, first: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let faults_injected = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, f, s) = (requests.clone(), faults_injected.clone(), stop.clone());
        let counter = Arc::new(AtomicUsize::new(first));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (r, f, counter) = (r.clone(), f.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, upstream, faults, &r, &f, &counter);
                });
            }
        });
        Proxy {
            port,
            requests,
            faults_injected,
            stop,
        }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Request lines (`METHOD PATH`) matching `method` whose path contains `part`.
    pub(crate) fn count(&self, method: &str, part: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(&format!("{method} ")) && l.contains(part))
            .count()
    }
}

fn read_head(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        // Not HTTP (a TLS ClientHello starts with 0x16): hang up, as an HTTP server would
        // answer and close.
        if head.is_empty() && !b[0].is_ascii_uppercase() {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        head.push(b[0]);
    }
    Ok(head)
}

fn handle(
    mut client: TcpStream,
    upstream: u16,
    faults: Faults,
    requests: &Mutex<Vec<String>>,
    injected: &AtomicUsize,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("").to_string();
    let line: Vec<&str> = first.split(' ').collect();
    requests
        .lock()
        .unwrap()
        .push(format!("{} {}", line[0], line.get(1).unwrap_or(&"")));
    let mut new_head = first.clone() + "\r\n";
    let mut length = 0u64;
    for l in lines.filter(|l| !l.is_empty()) {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        new_head += l;
        new_head += "\r\n";
    }
    new_head += "Connection: close\r\n\r\n";
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let fault = match faults {
        Faults::OneInFour if n % 4 == 3 => Some((n / 4) % 4),
        _ => None,
    };
    let reply = |client: &mut TcpStream, status: &str| {
        let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}"#;
        let _ = write!(
            client,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 0\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.shutdown(Shutdown::Both);
    };
    match fault {
        Some(0) => {
            injected.fetch_add(1, Ordering::SeqCst);
            reply(&mut client, "500 Internal Server Error");
            return Ok(());
        }
        Some(1) => {
            injected.fetch_add(1, Ordering::SeqCst);
            reply(&mut client, "429 Too Many Requests");
            return Ok(());
        }
        Some(2) => {
            injected.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        _ => {}
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(new_head.as_bytes())?;
    let copied = std::io::copy(&mut (&mut client).take(length), &mut up)?;
    if copied != length {
        return Ok(());
    }
    if fault == Some(3) {
        // The registry does the work; the answer never arrives.
        injected.fetch_add(1, Ordering::SeqCst);
        let mut sink = Vec::new();
        let _ = up.read_to_end(&mut sink);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    std::io::copy(&mut up, &mut client)?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// The folder of an example, copied and built with `gcc -static`: (tempdir, manifest).
pub(crate) fn static_image(t: &Path) -> PathBuf {
    let gcc = require("gcc");
    let d = t.join("static-c");
    copy_tree(&repo().join("examples/static-c"), &d);
    run(
        Command::new(gcc)
            .args(["-static", "-O2", "-o", "hello", "hello.c"])
            .current_dir(&d),
        "gcc -static",
    );
    d.join("kiln.toml")
}

/// A project whose one layer holds `mib` MiB of incompressible bytes (a chunked upload).
pub(crate) fn big_image(t: &Path, mib: usize) -> PathBuf {
    let d = t.join("big");
    std::fs::create_dir_all(d.join("data")).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..mib << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(d.join("data/noise.bin"), bytes).unwrap();
    std::fs::write(
        d.join("kiln.toml"),
        "[image]\nname = \"big\"\n\n[[component]]\nname = \"data\"\nkind = \"tree\"\nfrom = \"data\"\nto = \"/data\"\nwhy = \"a large payload\"\n",
    )
    .unwrap();
    d.join("kiln.toml")
}

/// `kiln` with no credentials from the environment or the user's files.
pub(crate) fn kiln_clean_env(home: &Path) -> Command {
    let mut c = kiln();
    for v in [
        "KILN_REGISTRY_USERNAME",
        "KILN_REGISTRY_PASSWORD",
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "KILN_CACHE_DIR",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", home);
    c
}

/// Runs `openssl ARGS` and returns its stdout.
pub(crate) fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new(require("openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    check(&out, &format!("openssl {}", args.join(" ")));
    out.stdout
}

/// A CA (`ca.crt`) and a server certificate for 127.0.0.1 it signed (`srv.crt`, `srv.key`)
/// in `dir`.
pub(crate) fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=kiln-test-ca",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
        dir,
    );
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token server for docker-registry's `auth: token` (the Docker token flow): `GET /token`
/// with Basic credentials `user:pass` answers an RS256 JWT granting the requested scopes,
/// signed with `dir/ca.key` (whose certificate `dir/ca.crt` the registry trusts); anything
/// else gets 401. Every token issued is recorded.
pub(crate) struct TokenServer {
    pub(crate) port: u16,
    pub(crate) tokens: Arc<Mutex<Vec<String>>>,
    pub(crate) requests: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    pub(crate) fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        TokenServer::start_with_refresh(dir, user, pass, None)
    }

    /// Also answers OAuth2 `POST /token` (`grant_type=refresh_token`) for `refresh`, as
    /// distribution's token spec describes; without it a POST gets 404.
    pub(crate) fn start_with_refresh(
        dir: &Path,
        user: &str,
        pass: &str,
        refresh: Option<&str>,
    ) -> TokenServer {
        let refresh = refresh.map(str::to_string);
        use base64::Engine;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let der = openssl(&["x509", "-in", "ca.crt", "-outform", "der"], dir);
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let (dir, user) = (dir.to_path_buf(), user.to_string());
        let (tk, rq) = (tokens.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let Ok(head) = read_head(&mut conn) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&head).into_owned();
                let first = text.lines().next().unwrap_or("").to_string();
                rq.lock().unwrap().push(first.clone());
                let mut authorized = text.lines().any(|l| {
                    l.to_ascii_lowercase().starts_with("authorization:")
                        && l.split_once(':').map(|x| x.1.trim()) == Some(want.as_str())
                });
                let target = first.split(' ').nth(1).unwrap_or("");
                let mut query = target.split_once('?').map_or("", |x| x.1).to_string();
                if first.starts_with("POST ") {
                    let Some(expected) = &refresh else {
                        let _ = write!(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        continue;
                    };
                    let length: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    if conn.read_exact(&mut body).is_err() {
                        continue;
                    }
                    let form = String::from_utf8_lossy(&body).into_owned();
                    let field = |k: &str| {
                        form.split('&')
                            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                            .map(percent_decode)
                    };
                    authorized = field("grant_type").as_deref() == Some("refresh_token")
                        && field("refresh_token").as_deref() == Some(expected.as_str());
                    // The scopes of a POST are one space-separated field.
                    query = field("scope")
                        .unwrap_or_default()
                        .split(' ')
                        .map(|sc| format!("scope={sc}"))
                        .collect::<Vec<_>>()
                        .join("&");
                }
                let query = query.as_str();
                let mut access = Vec::new();
                for kv in query.split('&') {
                    if let Some(v) = kv.strip_prefix("scope=") {
                        let v = percent_decode(v);
                        let parts: Vec<&str> = v.split(':').collect();
                        if parts.len() == 3 {
                            access.push(serde_json::json!({
                                "type": parts[0], "name": parts[1],
                                "actions": parts[2].split(',').collect::<Vec<_>>(),
                            }));
                        }
                    }
                }
                if !authorized {
                    let body =
                        r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
                    let _ = write!(conn, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                    continue;
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": "kiln-test-issuer", "sub": user, "aud": "kiln-test-registry",
                    "exp": now + 300, "nbf": now - 10, "iat": now,
                    "jti": format!("{now}-{}", tk.lock().unwrap().len()),
                    "access": access,
                });
                let signing_input = format!(
                    "{}.{}",
                    b64url(header.to_string().as_bytes()),
                    b64url(claims.to_string().as_bytes())
                );
                let input = dir.join(format!("jwt-{port}.in"));
                std::fs::write(&input, &signing_input).unwrap();
                let sig = openssl(
                    &[
                        "dgst",
                        "-sha256",
                        "-sign",
                        "ca.key",
                        input.to_str().unwrap(),
                    ],
                    &dir,
                );
                let token = format!("{signing_input}.{}", b64url(&sig));
                tk.lock().unwrap().push(token.clone());
                let body =
                    serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                        .to_string();
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        TokenServer {
            port,
            tokens,
            requests,
        }
    }

    /// The registry's `auth:` YAML for this server.
    pub(crate) fn registry_auth(&self, dir: &Path) -> String {
        format!(
            "{{token: {{realm: \"http://127.0.0.1:{}/token\", service: kiln-test-registry, issuer: kiln-test-issuer, rootcertbundle: \"{}\"}}}}",
            self.port,
            dir.join("ca.crt").display()
        )
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
