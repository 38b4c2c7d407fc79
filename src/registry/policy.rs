//! Where a request may go and what it may carry: the one place that decides, from a URL's
//! scheme, host and port, whether kiln may connect over plain HTTP and whether its
//! credentials go along.
//!
//! Owns: the [`Authority`] of an absolute `http(s)://` URL, resolving a `Location` against the
//! URL that answered it, loopback detection, and the rules below ([`Policy`]).
//! Does not own: sending requests (`client`), finding credentials (`auth`).
//! Invariant: the registry's Authorization header (Basic, or the Bearer token kiln was given)
//! goes only to the registry's own authority: same scheme, host and port as the URL kiln
//! reached `Reference::api_host` on. Any other URL (an upload `Location` or a redirect to
//! another host, a storage backend) gets no Authorization header at all.
//! Invariant: a token realm gets Basic credentials (or the OAuth2 refresh-token form) only over
//! HTTPS, or over plain HTTP when plain HTTP to that host is allowed (below).
//! Invariant: plain HTTP goes only to a loopback host (127.0.0.0/8, ::1, localhost), or to the
//! destination registry's own host when `--insecure` was given; any other host a server names
//! (`Location`, redirect, token realm) over plain HTTP is refused before connecting.
//! `--insecure` also skips TLS verification for the registry's own host only.
//! Invariant: a URL a server names carries no user info and is `http://` or `https://`.

use super::Error;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// The scheme, host (lower-case; an IPv6 address without brackets) and port of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authority {
    pub(super) scheme: Scheme,
    pub(super) host: String,
    pub(super) port: u16,
}

/// True when `host` (no port, no brackets) is 127.0.0.0/8, ::1 or localhost.
pub(super) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a URL is not one kiln can use (no user info, `http` or `https`, a valid host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadUrl {
    Scheme,
    UserInfo,
    Host,
}

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadUrl::Scheme => "it is not an http:// or https:// URL",
            BadUrl::UserInfo => "it carries user info (credentials) in the URL",
            BadUrl::Host => "its host or port is not valid",
        })
    }
}

impl Authority {
    /// The authority of an absolute `http://` or `https://` URL.
    pub(super) fn of_url(url: &str) -> Result<Authority, BadUrl> {
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) if s.eq_ignore_ascii_case("https") => (Scheme::Https, r),
            Some((s, r)) if s.eq_ignore_ascii_case("http") => (Scheme::Http, r),
            _ => return Err(BadUrl::Scheme),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let auth = &rest[..end];
        if auth.contains('@') {
            return Err(BadUrl::UserInfo);
        }
        let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(BadUrl::Host)?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| BadUrl::Host)?;
            (h, after.strip_prefix(':'))
        } else {
            match auth.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (auth, None),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
        if !host_ok {
            return Err(BadUrl::Host);
        }
        let port = match port {
            None | Some("") => scheme.default_port(),
            Some(p) => p.parse().map_err(|_| BadUrl::Host)?,
        };
        Ok(Authority {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    pub(super) fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// `host:port` for messages (brackets around an IPv6 address).
    pub(super) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `location` (absolute, scheme-relative, absolute-path or relative) resolved against `base`,
/// the absolute URL that answered with it.
pub(super) fn resolve_location(base: &str, location: &str) -> Result<String, BadUrl> {
    let location = location.trim();
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(location.to_string());
    }
    let (scheme, rest) = base.split_once("://").ok_or(BadUrl::Scheme)?;
    let origin_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..origin_end]);
    if let Some(r) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{r}"));
    }
    if location.starts_with('/') {
        return Ok(format!("{origin}{location}"));
    }
    // Another scheme (`ftp:`, `file:`, `javascript:`): not a URL kiln follows.
    let first = location.split(['/', '?', '#']).next().unwrap_or("");
    if first.contains(':') {
        return Err(BadUrl::Scheme);
    }
    let path = rest[origin_end..].split(['?', '#']).next().unwrap_or("");
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    Ok(format!("{origin}{dir}{location}"))
}

/// What named a URL kiln did not build itself (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// The `Location` of an upload session.
    UploadLocation,
    /// A 3xx answer's `Location`.
    Redirect,
    /// The `realm` of a Bearer challenge.
    TokenRealm,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Named::UploadLocation => "an upload location",
            Named::Redirect => "a redirect",
            Named::TokenRealm => "its token realm",
        })
    }
}

/// The rules for one registry connection: its authority (once the scheme is known) and
/// whether `--insecure` was given for it.
#[derive(Debug, Clone)]
pub(super) struct Policy {
    registry: Authority,
    insecure: bool,
}

impl Policy {
    /// For the registry reached at `base` (`https://HOST[:PORT]` or `http://...`).
    pub(super) fn new(base: &str, insecure: bool) -> Result<Policy, BadUrl> {
        Ok(Policy {
            registry: Authority::of_url(base)?,
            insecure,
        })
    }

    /// The registry's `host:port`.
    pub(super) fn registry(&self) -> String {
        self.registry.host_port()
    }

    /// May the registry's Authorization header go to `to`? Only to the registry itself.
    pub(super) fn registry_credentials(&self, to: &Authority) -> bool {
        *to == self.registry
    }

    /// May Basic credentials (or a refresh token) go to a token realm at `to`?
    pub(super) fn realm_credentials(&self, to: &Authority) -> bool {
        to.scheme == Scheme::Https || self.plain_http_ok(to)
    }

    /// May kiln speak plain HTTP to `to`? Loopback hosts, and the registry's own host under
    /// `--insecure`.
    pub(super) fn plain_http_ok(&self, to: &Authority) -> bool {
        to.is_loopback() || (self.insecure && to.host == self.registry.host)
    }

    /// May kiln skip TLS verification for `to`? Only the registry's own host, under
    /// `--insecure`.
    pub(super) fn unverified_tls_ok(&self, to: &Authority) -> bool {
        self.insecure && to.host == self.registry.host
    }

    /// Checks a URL kiln is about to connect to: a valid `http(s)` URL without user info, and
    /// plain HTTP only where [`Policy::plain_http_ok`] allows it.
    pub(super) fn check(&self, url: &str, named: Named) -> Result<Authority, Error> {
        let shown = super::client::redact_url(url);
        let to = Authority::of_url(url).map_err(|why| Error::BadUrl {
            url: shown.clone(),
            named,
            why,
        })?;
        if to.scheme == Scheme::Http && !self.plain_http_ok(&to) {
            return Err(Error::PlainHttpRefused {
                host: to.host_port(),
                url: shown,
                named,
                registry: self.registry(),
            });
        }
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(url: &str) -> Authority {
        Authority::of_url(url).unwrap()
    }

    #[test]
    fn authorities() {
        assert_eq!(
            a("https://Reg.Example/v2/"),
            Authority {
                scheme: Scheme::Https,
                host: "reg.example".into(),
                port: 443
            }
        );
        assert_eq!(a("http://127.0.0.1:5000/x?y").port, 5000);
        assert_eq!(a("http://[::1]:80/").host, "::1");
        assert_eq!(a("http://[::1]/").host_port(), "[::1]:80");
        assert!(a("http://127.0.0.2:1/").is_loopback());
        assert!(a("http://LOCALHOST/").is_loopback());
        assert!(!a("http://example.invalid/").is_loopback());
        assert!(!a("http://127.0.0.1.example/").is_loopback());
        assert_eq!(Authority::of_url("https://u:p@h/x"), Err(BadUrl::UserInfo));
        assert_eq!(Authority::of_url("ftp://h/x"), Err(BadUrl::Scheme));
        assert_eq!(Authority::of_url("https://h:99999/"), Err(BadUrl::Host));
        assert_eq!(Authority::of_url("https:///x"), Err(BadUrl::Host));
        assert_eq!(Authority::of_url("https://h%2f/x"), Err(BadUrl::Host));
    }

    #[test]
    fn locations_resolve_against_the_answering_url() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/uploads/?x=1";
        assert_eq!(
            resolve_location(base, "/v2/a/blobs/uploads/u1?_state=s").unwrap(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=s"
        );
        assert_eq!(
            resolve_location(base, "u2").unwrap(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u2"
        );
        assert_eq!(
            resolve_location(base, "//127.0.0.2:9/x").unwrap(),
            "http://127.0.0.2:9/x"
        );
        assert_eq!(
            resolve_location(base, "HTTPS://s3.example/b").unwrap(),
            "HTTPS://s3.example/b"
        );
        assert_eq!(
            resolve_location(base, "file:///etc/passwd"),
            Err(BadUrl::Scheme)
        );
    }

    #[test]
    fn credentials_only_to_the_registry() {
        let p = Policy::new("https://reg.example", false).unwrap();
        assert!(p.registry_credentials(&a("https://reg.example:443/v2/")));
        assert!(!p.registry_credentials(&a("https://reg.example:444/v2/")));
        assert!(!p.registry_credentials(&a("http://reg.example:443/v2/")));
        assert!(!p.registry_credentials(&a("https://s3.example/blob")));
        assert!(p.realm_credentials(&a("https://auth.example/token")));
        assert!(!p.realm_credentials(&a("http://auth.example/token")));
        assert!(p.realm_credentials(&a("http://127.0.0.2:9/token")));
    }

    #[test]
    fn plain_http_only_for_loopback_or_the_insecure_registry() {
        let p = Policy::new("http://reg.example:5000", true).unwrap();
        assert!(p
            .check("http://reg.example:5000/v2/x", Named::Redirect)
            .is_ok());
        assert!(p.unverified_tls_ok(&a("https://reg.example/")));
        assert!(!p.unverified_tls_ok(&a("https://other.example/")));
        let e = p
            .check("http://other.example/up?secret=1", Named::UploadLocation)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`other.example:80`"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert!(e.contains("--insecure"), "{e}");
        let strict = Policy::new("https://reg.example", false).unwrap();
        assert!(strict
            .check("http://reg.example/v2/", Named::Redirect)
            .is_err());
        assert!(strict
            .check("http://127.0.0.2:1/token", Named::TokenRealm)
            .is_ok());
        assert!(strict
            .check("https://anywhere.example/x", Named::Redirect)
            .is_ok());
        assert!(matches!(
            strict.check("https://u:p@h/x", Named::Redirect),
            Err(Error::BadUrl { .. })
        ));
    }
}
