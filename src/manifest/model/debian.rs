//! `[[source]]` tables and `deb` components: which Debian archives a manifest trusts and which
//! packages each component asks of them.
//!
//! Owns: checking what the manifest writes about archives (names unique and referenced, URLs
//! `http`, `https` or `file`, suites and components as Debian spells them, a keyring named for
//! every archive) and about packages (`NAME` or `NAME (OP VERSION)`, waivers by package).
//! Does not own: fetching, verifying or resolving anything (`deb`), deciding files (`plan`).
//! Invariant: a `Manifest` whose components name a source has that source; every archive has a
//! keyring, so nothing unsigned can be configured.

use super::{Ctx, R};
use crate::manifest::raw::{RawComponent, RawSource, S};
use crate::manifest::values::shown;
use crate::span::Location;
use std::path::PathBuf;

/// A `[[source]]`: one Debian archive and the suites of it to read.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// The name components refer to it by.
    pub name: String,
    /// The archive's root URL (`http://`, `https://` or `file://`), without a trailing `/`;
    /// `apt`: the URI the build host's apt sources name for the first suite.
    pub url: String,
    /// The suites (`bookworm`, `bookworm-updates`), in manifest order.
    pub suites: Vec<String>,
    /// The archive components (`main`), `main` unless given.
    pub components: Vec<String>,
    /// The OpenPGP keyring whose keys must sign each suite's `InRelease`.
    pub keyring: PathBuf,
    /// Accept a release whose `Valid-Until` has passed.
    pub allow_expired: bool,
    /// Where the `[[source]]` table is.
    pub location: Location,
}

/// One entry of a `deb` component's `packages`.
#[derive(Clone, Debug)]
pub struct PackageRequest {
    /// As written: `NAME` or `NAME (OP VERSION)`.
    pub written: String,
    /// The package name.
    pub name: String,
    /// Where the manifest names it.
    pub location: Location,
}

/// A `[[waive]] package = "..."`: a package a dependency closure leaves out, with its reason.
#[derive(Clone, Debug)]
pub struct PackageWaiver {
    /// The package name.
    pub package: String,
    /// Why the image does without it.
    pub why: String,
    /// Where the `[[waive]]` names it.
    pub location: Location,
}

/// Whether `s` is a Debian package name (policy §5.6.1).
pub(crate) fn valid_package_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b.len() <= 128
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c))
}

/// A suite or component name as archives spell them (`bookworm-updates`, `non-free-firmware`,
/// `bookworm/updates`).
fn valid_dist_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.split('/').any(|p| p.is_empty() || p == "." || p == "..")
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+-._/~".contains(&c))
}

/// The `[[source]]` tables, checked.
pub(super) fn sources(cx: &Ctx<'_>, raw: &[S<RawSource>]) -> R<Vec<SourceSpec>> {
    let mut out: Vec<SourceSpec> = Vec::new();
    for s in raw {
        let r = s.get_ref();
        let at = s.span();
        let header = at.start..at.start + cx.file.text[at.start..].find('\n').unwrap_or(0);
        let name = match &r.name {
            None => {
                return Err(cx
                    .err(header, "a [[source]] has no `name`")
                    .with_hint("add `name = \"bookworm\"`; `deb` components name it in `source`"))
            }
            Some(n) => cx.nonempty(n, "`name` of a [[source]]")?,
        };
        if let Some(prev) = out.iter().find(|o| o.name == name) {
            return Err(cx
                .err(header, format!("two [[source]] tables are named `{name}`"))
                .also(prev.location.clone(), "(the first)"));
        }
        match &r.kind {
            Some(k) if k.get_ref() == "debian" => {}
            Some(k) => {
                return Err(cx
                    .err(k.span(), format!("unknown source kind {:?}", k.get_ref()))
                    .with_hint("the one kind of [[source]] is \"debian\""))
            }
            None => {
                return Err(cx
                    .err(header, format!("[[source]] `{name}` has no `kind`"))
                    .with_hint("add `kind = \"debian\"`"))
            }
        }
        let url = url(cx, r, &name, &header)?;
        let suites = suites(cx, r, &name, &header)?;
        let components = match &r.components {
            None => vec!["main".to_string()],
            Some(l) if l.get_ref().is_empty() => {
                return Err(cx.err(
                    l.span(),
                    format!("`components` of [[source]] `{name}` is empty"),
                ))
            }
            Some(l) => dist_names(cx, l.get_ref(), "component")?,
        };
        let keyring = match &r.keyring {
            None => {
                return Err(cx
                    .err(header, format!("[[source]] `{name}` has no `keyring`"))
                    .with_hint(
                        "name the OpenPGP keys that must sign the archive, e.g. \
                         keyring = \"/usr/share/keyrings/debian-archive-keyring.gpg\"",
                    ))
            }
            Some(k) => cx.source(k, "keyring")?.host,
        };
        out.push(SourceSpec {
            name,
            url,
            suites,
            components,
            keyring,
            allow_expired: r.allow_expired.as_ref().is_some_and(|b| *b.get_ref()),
            location: cx.loc(header),
        });
    }
    Ok(out)
}

fn url(cx: &Ctx<'_>, r: &RawSource, name: &str, header: &crate::span::Span) -> R<String> {
    let Some(u) = &r.url else {
        return Err(cx
            .err(header.clone(), format!("[[source]] `{name}` has no `url`"))
            .with_hint("add the archive's root, e.g. url = \"http://MIRROR/debian\" or \"file:///srv/mirror/debian\""));
    };
    let s = u.get_ref().trim_end_matches('/');
    if s == "apt" {
        return Ok(s.to_string());
    }
    let ok_scheme = ["http://", "https://", "file:///"]
        .iter()
        .any(|p| s.starts_with(p) && s.len() > p.len());
    if !ok_scheme || s.chars().any(|c| c.is_control() || c == ' ') {
        return Err(cx
            .err(u.span(), format!("`url` {} of [[source]] `{name}` is not an http://, https:// or file:/// URL", shown(u.get_ref())))
            .with_hint("a local archive is file:///absolute/path; `url = \"apt\"` takes the mirror this machine's apt uses"));
    }
    Ok(s.to_string())
}

fn suites(cx: &Ctx<'_>, r: &RawSource, name: &str, header: &crate::span::Span) -> R<Vec<String>> {
    match (&r.suite, &r.suites) {
        (Some(_), Some(l)) => Err(cx
            .err(
                l.span(),
                format!("[[source]] `{name}` has both `suite` and `suites`"),
            )
            .with_hint("keep one of them")),
        (Some(s), None) => dist_names(cx, std::slice::from_ref(s), "suite"),
        (None, Some(l)) if !l.get_ref().is_empty() => dist_names(cx, l.get_ref(), "suite"),
        (None, Some(l)) => Err(cx.err(
            l.span(),
            format!("`suites` of [[source]] `{name}` is empty"),
        )),
        (None, None) => Err(cx
            .err(
                header.clone(),
                format!("[[source]] `{name}` has no `suite`"),
            )
            .with_hint("add `suite = \"bookworm\"` (or `suites = [...]` for several)")),
    }
}

fn dist_names(cx: &Ctx<'_>, l: &[S<String>], what: &str) -> R<Vec<String>> {
    l.iter()
        .map(|s| {
            if valid_dist_name(s.get_ref()) {
                Ok(s.get_ref().clone())
            } else {
                Err(cx.err(
                    s.span(),
                    format!("{} is not a {what} name", shown(s.get_ref())),
                ))
            }
        })
        .collect()
}

/// The fields of a `deb` component.
pub(super) fn component(
    cx: &Ctx<'_>,
    r: &RawComponent,
    name: &str,
    header: &crate::span::Span,
) -> R<super::ComponentSpec> {
    let Some(list) = &r.packages else {
        return Err(cx
            .err(
                header.clone(),
                format!("component `{name}` of kind `deb` has no `packages`"),
            )
            .with_hint("list the Debian packages: packages = [\"nginx-light\"]"));
    };
    if list.get_ref().is_empty() {
        return Err(cx.err(
            list.span(),
            format!("`packages` of component `{name}` is empty"),
        ));
    }
    let mut packages = Vec::new();
    for p in list.get_ref() {
        packages.push(package_request(cx, p)?);
    }
    let sources = match &r.source {
        None => Vec::new(),
        Some(v) => match v.get_ref() {
            toml::Value::String(s) => vec![(s.clone(), cx.loc(v.span()))],
            toml::Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| match x {
                    toml::Value::String(s) => Ok((s.clone(), cx.loc(v.span()))),
                    _ => Err(cx.err(v.span(), "`source` must name [[source]] tables")),
                })
                .collect::<R<Vec<_>>>()?,
            _ => {
                return Err(cx
                    .err(
                        v.span(),
                        "`source` must be a [[source]] name or a list of them",
                    )
                    .with_hint(
                        "without `source`, packages come from the target root's dpkg database",
                    ))
            }
        },
    };
    let globs = |v: &Option<S<Vec<S<String>>>>, field: &str| -> R<Vec<String>> {
        let mut out = Vec::new();
        for g in v.iter().flat_map(|l| l.get_ref().iter()) {
            cx.glob(g, field)?;
            if !g.get_ref().starts_with('/') {
                return Err(cx
                    .err(g.span(), format!("`{field}` pattern {:?} is not an absolute image path", g.get_ref()))
                    .with_hint("a deb component's patterns match image paths: \"/usr/sbin/nginx\", \"/etc/nginx/**\""));
            }
            out.push(g.get_ref().clone());
        }
        Ok(out)
    };
    Ok(super::ComponentSpec::Deb {
        packages,
        sources,
        include: globs(&r.include, "include")?,
        exclude: globs(&r.exclude, "exclude")?,
        depends: r.depends.as_ref().is_none_or(|b| *b.get_ref()),
    })
}

/// `NAME` or `NAME (OP VERSION)`.
fn package_request(cx: &Ctx<'_>, p: &S<String>) -> R<PackageRequest> {
    let s = p.get_ref().trim();
    let (name, rest) = match s.split_once('(') {
        Some((n, rest)) => (n.trim(), Some(rest)),
        None => (s, None),
    };
    let bad = |why: &str| {
        cx.err(p.span(), format!("package {} {why}", shown(p.get_ref())))
            .with_hint("write a Debian package name, optionally with a version: \"nginx-light\" or \"libssl3 (>= 3.0.11)\"")
    };
    if !valid_package_name(name) {
        return Err(bad("is not a Debian package name"));
    }
    if let Some(rest) = rest {
        let inner = rest
            .strip_suffix(')')
            .ok_or_else(|| bad("has no closing `)`"))?;
        let (op, ver) = ["<<", "<=", ">=", ">>", "="]
            .iter()
            .find_map(|op| inner.trim().strip_prefix(op).map(|v| (op, v.trim())))
            .ok_or_else(|| bad("has no version operator (<<, <=, =, >=, >>)"))?;
        if ver.is_empty() || ver.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(&format!("has no valid version after `{op}`")));
        }
    }
    Ok(PackageRequest {
        written: s.to_string(),
        name: name.to_string(),
        location: cx.loc(p.span()),
    })
}
