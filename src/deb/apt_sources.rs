//! `url = "apt"`: the archive URL the build host's apt configuration names for a suite, so a
//! manifest need not carry a mirror's host name (the signature and hashes decide trust, the
//! mirror only carries bytes).
//!
//! Owns: reading `/etc/apt/sources.list` (one-line `deb [options] URI SUITE COMPONENT...`) and
//! `/etc/apt/sources.list.d/*.list` and `*.sources` (deb822: `Types`, `URIs`, `Suites`).
//! Does not own: trusting what the mirror serves (`release` and the hash chain).
//! Invariant: only `deb` entries (not `deb-src`) over `http`, `https` or `file` count; the
//! first one listing the suite wins, in apt's file order (sources.list, then sources.list.d
//! sorted by name).

use std::path::Path;

/// The URI apt uses for `suite`, read from `etc` (normally `/etc/apt`).
pub fn uri_for(etc: &Path, suite: &str) -> Option<String> {
    let mut files = vec![etc.join("sources.list")];
    if let Ok(rd) = fs_err::read_dir(etc.join("sources.list.d")) {
        let mut more: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = fs_err::read_to_string(&f) else {
            continue;
        };
        let hit = match f.extension().and_then(|e| e.to_str()) {
            Some("sources") => deb822(&text, suite),
            _ if f.file_name().is_some_and(|n| n == "sources.list")
                || f.extension().is_some_and(|e| e == "list") =>
            {
                one_line(&text, suite)
            }
            _ => None,
        };
        if hit.is_some() {
            return hit;
        }
    }
    None
}

fn usable(uri: &str) -> bool {
    ["http://", "https://", "file:/"]
        .iter()
        .any(|p| uri.starts_with(p))
}

fn one_line(text: &str, suite: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        // `[arch=amd64 signed-by=...]`, possibly spread over several words.
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest.iter().position(|w| w.ends_with(']'))?;
            rest.drain(..=end);
        }
        if let [uri, s, ..] = rest.as_slice() {
            if *s == suite && usable(uri) {
                return Some(uri.trim_end_matches('/').to_string());
            }
        }
    }
    None
}

fn deb822(text: &str, suite: &str) -> Option<String> {
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let types = field("Types").unwrap_or_default();
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if field("Enabled").is_some_and(|e| e.eq_ignore_ascii_case("no")) {
            continue;
        }
        let suites = field("Suites").unwrap_or_default();
        if !suites.split_whitespace().any(|s| s == suite) {
            continue;
        }
        if let Some(uri) = field("URIs")
            .unwrap_or_default()
            .split_whitespace()
            .find(|u| usable(u))
        {
            return Some(uri.trim_end_matches('/').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_name_the_suites_uri() {
        let d = tempfile::tempdir().unwrap();
        fs_err::write(
            d.path().join("sources.list"),
            "# comment\ndeb-src http://src.invalid/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://one.invalid/debian/ bookworm-backports main\n",
        )
        .unwrap();
        fs_err::create_dir(d.path().join("sources.list.d")).unwrap();
        fs_err::write(
            d.path().join("sources.list.d/debian.sources"),
            "Types: deb deb-src\nURIs: http://two.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://three.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n",
        )
        .unwrap();
        assert_eq!(
            uri_for(d.path(), "bookworm-backports").as_deref(),
            Some("http://one.invalid/debian")
        );
        assert_eq!(
            uri_for(d.path(), "bookworm").as_deref(),
            Some("http://two.invalid/debian")
        );
        assert_eq!(
            uri_for(d.path(), "bookworm-security").as_deref(),
            Some("http://three.invalid/debian-security")
        );
        assert_eq!(uri_for(d.path(), "trixie"), None);
    }
}
