//! Credentials and challenges.
//!
//! Credentials come from, in order: `--creds USER:PASS` (or `--password-stdin`),
//! `KILN_REGISTRY_USERNAME` / `KILN_REGISTRY_PASSWORD`, containers' `REGISTRY_AUTH_FILE`,
//! `${XDG_RUNTIME_DIR}/containers/auth.json` and
//! `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`, Docker's
//! `${DOCKER_CONFIG:-~/.docker}/config.json` (`credHelpers`, `auths`, `credsStore`, helpers
//! run as `docker-credential-NAME get`). They live in memory
//! only; `Debug` never shows the secret and no error message contains it.
//! Does not decide where they are sent: `policy` does (the registry's own authority; a token
//! realm over HTTPS or loopback).

use super::Error;
use base64::Engine;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The user name that marks an identity token (Docker's convention for `identitytoken` and
/// credential helpers): the secret is an OAuth2 refresh token.
pub(super) const IDENTITY_TOKEN_USER: &str = "<token>";

/// A user name and a secret (password or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// `USER:PASS`.
    pub fn parse(s: &str) -> Result<Credentials, Error> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials {
                username: u.to_string(),
                secret: p.to_string(),
            }),
            _ => Err(Error::Credentials(
                "--creds expects USER:PASS (the user name must not be empty)".into(),
            )),
        }
    }

    /// `Basic base64(user:secret)`.
    pub(super) fn basic(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.username, self.secret))
        )
    }

    /// The credentials for `host` from the environment and the usual files, if any.
    pub fn lookup(host: &str) -> Result<Option<Credentials>, Error> {
        if let (Ok(u), Ok(p)) = (
            std::env::var("KILN_REGISTRY_USERNAME"),
            std::env::var("KILN_REGISTRY_PASSWORD"),
        ) {
            if !u.is_empty() {
                return Ok(Some(Credentials {
                    username: u,
                    secret: p,
                }));
            }
        }
        let mut files = Vec::new();
        if let Ok(f) = std::env::var("REGISTRY_AUTH_FILE") {
            files.push(PathBuf::from(f));
        }
        if let Ok(d) = std::env::var("XDG_RUNTIME_DIR") {
            files.push(PathBuf::from(d).join("containers/auth.json"));
        }
        // containers-auth.json(5): then $XDG_CONFIG_HOME/containers/auth.json.
        match std::env::var("XDG_CONFIG_HOME") {
            Ok(d) if !d.is_empty() => files.push(PathBuf::from(d).join("containers/auth.json")),
            _ => {
                if let Ok(h) = std::env::var("HOME") {
                    files.push(PathBuf::from(h).join(".config/containers/auth.json"));
                }
            }
        }
        match std::env::var("DOCKER_CONFIG") {
            Ok(d) => files.push(PathBuf::from(d).join("config.json")),
            Err(_) => {
                if let Ok(h) = std::env::var("HOME") {
                    files.push(PathBuf::from(h).join(".docker/config.json"));
                }
            }
        }
        for f in files {
            let Ok(text) = fs_err::read(&f) else { continue };
            let v: Value = serde_json::from_slice(&text)
                .map_err(|_| Error::Credentials(format!("{} is not valid JSON", f.display())))?;
            if let Some(c) = from_config(&v, host, &f)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

/// The keys a config file may use for `host`.
fn host_keys(host: &str) -> Vec<String> {
    let mut v = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == "docker.io" || host == "registry-1.docker.io" {
        v.push("https://index.docker.io/v1/".into());
    }
    v
}

fn from_config(
    v: &Value,
    host: &str,
    file: &std::path::Path,
) -> Result<Option<Credentials>, Error> {
    let keys = host_keys(host);
    for k in &keys {
        if let Some(helper) = v["credHelpers"][k].as_str() {
            return helper_get(helper, host);
        }
    }
    for k in &keys {
        let entry = &v["auths"][k];
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let bad = || {
                Error::Credentials(format!(
                    "the `auth` entry for {host} in {} is not base64 of USER:PASS",
                    file.display()
                ))
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(raw).map_err(|_| bad())?;
            let (u, p) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credentials {
                username: u.to_string(),
                secret: p.to_string(),
            }));
        }
        if let Some(tok) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials {
                username: IDENTITY_TOKEN_USER.into(),
                secret: tok.to_string(),
            }));
        }
    }
    if let Some(store) = v["credsStore"].as_str().filter(|s| !s.is_empty()) {
        return helper_get(store, host);
    }
    Ok(None)
}

/// Runs `docker-credential-NAME get` with the host on stdin.
fn helper_get(name: &str, host: &str) -> Result<Option<Credentials>, Error> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Error::Credentials(format!(
            "credential helper name {name:?} is not valid"
        )));
    }
    let prog = format!("docker-credential-{name}");
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Credentials(format!("cannot run {prog}: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(host.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Credentials(format!("cannot run {prog}: {e}")))?;
    if !out.status.success() {
        // "credentials not found" is not an error: anonymous access may still work.
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| Error::Credentials(format!("{prog} get did not print JSON")))?;
    let (Some(u), Some(s)) = (v["Username"].as_str(), v["Secret"].as_str()) else {
        return Err(Error::Credentials(format!(
            "{prog} get printed no Username/Secret"
        )));
    };
    Ok(Some(Credentials {
        username: u.to_string(),
        secret: s.to_string(),
    }))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    pub(super) scheme: String,
    pub(super) params: Vec<(String, String)>,
}

impl Challenge {
    pub(super) fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }

    /// `Scheme k="v", k2=v2`.
    pub(super) fn parse(h: &str) -> Option<Challenge> {
        let h = h.trim();
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        let mut s = rest.trim();
        while !s.is_empty() {
            let (k, after) = s.split_once('=')?;
            let k = k.trim().trim_start_matches(',').trim().to_string();
            let after = after.trim_start();
            let (v, rest) = if let Some(q) = after.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                out.push(n);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => out.push(c),
                    }
                }
                (out, &q[end.min(q.len())..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.push((k, v));
            s = rest.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge {
            scheme: scheme.to_string(),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("http://127.0.0.1:1/token"));
        assert_eq!(c.param("service"), Some("reg"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = Challenge::parse(r#"Basic realm="testbed""#).unwrap();
        assert_eq!(c.scheme, "Basic");
        assert_eq!(c.param("realm"), Some("testbed"));
    }

    #[test]
    fn reads_docker_config() {
        let v: Value = serde_json::json!({"auths": {"reg.example:5000": {"auth": "dTpwQHNz"}}});
        let c = from_config(&v, "reg.example:5000", std::path::Path::new("c.json"))
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "u");
        assert_eq!(c.secret, "p@ss");
        assert!(!format!("{c:?}").contains("p@ss"));
        assert!(from_config(&v, "other", std::path::Path::new("c.json"))
            .unwrap()
            .is_none());
        assert_eq!(
            Credentials::parse("a:b:c").unwrap(),
            Credentials {
                username: "a".into(),
                secret: "b:c".into()
            }
        );
    }
}
