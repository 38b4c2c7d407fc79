//! The manifest: what the user wants in the image and why, validated, with spans kept.
//!
//! Owns: reading the TOML file, rejecting unknown keys, bad types, missing or empty `why`,
//! bad image paths, bad users and ports, and duplicate component names, each with file, line,
//! column and field; the validated model (`Manifest`, `Component`, `ComponentSpec`); the
//! format rules of values kiln writes into generated files (`values`), which `plan` and `dpkg`
//! also apply to what they copy from the target root.
//! Does not own: touching the files a manifest names (that is `plan`'s job, which reports
//! problems with the spans kept here).
//! Invariant: a `Manifest` value is valid; every `ImagePath` in it is absolute, normalised and
//! within Linux's path limits; every account, env, label, annotation and os-release value in it
//! has passed its format's validator.

mod model;
mod raw;
mod suggest;
pub(crate) use suggest::did_you_mean;
mod values;

pub use model::*;
pub use values::*;

use crate::span::{Diagnostic, Location, SourceFile};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read manifest {}", path.display())]
    Read {
        /// The manifest's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("manifest {} is not UTF-8 text (invalid byte at line {line}, column {col})", path.display())]
    NotUtf8 {
        /// The manifest's path.
        path: PathBuf,
        /// Line of the first invalid byte (1-based).
        line: usize,
        /// Column of the first invalid byte (1-based).
        col: usize,
    },
    /// The TOML is malformed or breaks a rule: message, location and hint.
    #[error(transparent)]
    Invalid(#[from] Box<Diagnostic>),
}

/// Reads and validates the manifest at `path`; for a manifest that lists several
/// `platforms`, the manifest of the first (see [`load_all`]).
pub fn load(path: &Path) -> Result<Manifest, Error> {
    let mut all = load_all(path)?;
    Ok(all.swap_remove(0))
}

/// fs-err's error without its "failed to open file `PATH`" (`Error::Read` names the path, and a
/// path appears once per error): the reason in the words of `ls` and `cat`.
fn without_path(e: std::io::Error) -> std::io::Error {
    use std::io::ErrorKind as K;
    let why = match e.kind() {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::NotADirectory => "a folder on the way is not a directory",
        K::IsADirectory => "it is a directory",
        _ => return e,
    };
    std::io::Error::new(e.kind(), why)
}

/// Reads and validates the manifest at `path`: one `Manifest` per platform it lists, in order
/// (one when it lists none).
pub fn load_all(path: &Path) -> Result<Vec<Manifest>, Error> {
    let bytes = fs_err::read(path).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        source: without_path(e),
    })?;
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    from_bytes(path, bytes, dir)
}

/// Validates manifest bytes read from somewhere other than a file (`kiln build -` reads
/// stdin): `path` is what messages call it (`<stdin>`), `dir` the folder relative `from`
/// paths are resolved against.
pub fn from_bytes(path: &Path, bytes: Vec<u8>, dir: &Path) -> Result<Vec<Manifest>, Error> {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = good.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            return Err(Error::NotUtf8 {
                path: path.to_path_buf(),
                line,
                col,
            });
        }
    };
    let dir = fs_err::canonicalize(dir).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        source: without_path(e),
    })?;
    parse_all(
        Arc::new(SourceFile {
            path: path.to_path_buf(),
            text,
        }),
        dir,
    )
}

/// Validates manifest text; `dir` is the folder relative sources are resolved against. For a
/// manifest that lists several `platforms`, the manifest of the first.
pub fn parse(file: Arc<SourceFile>, dir: PathBuf) -> Result<Manifest, Error> {
    let mut all = parse_all(file, dir)?;
    Ok(all.swap_remove(0))
}

/// Validates manifest text: one `Manifest` per platform listed (one when none is).
pub fn parse_all(file: Arc<SourceFile>, dir: PathBuf) -> Result<Vec<Manifest>, Error> {
    let invalid = |d: Diagnostic| Error::Invalid(Box::new(d));
    let read = || -> Result<raw::RawManifest, Error> {
        toml::from_str(&file.text).map_err(|e| invalid(toml_error(&file, &e)))
    };
    let raw = read()?;
    let platforms = model::platforms(&file, &raw).map_err(invalid)?;
    if platforms.is_empty() {
        return Ok(vec![model::validate(&file, dir, raw).map_err(invalid)?]);
    }
    let mut out = Vec::new();
    for p in &platforms {
        let mut raw = read()?;
        model::select_platform(&file, &mut raw, p, &platforms).map_err(invalid)?;
        let mut m = model::validate(&file, dir.clone(), raw).map_err(invalid)?;
        m.image.platform = Some(*p);
        out.push(m);
    }
    Ok(out)
}

/// Turns a TOML/serde error into a diagnostic, rephrasing unknown keys with a suggestion.
fn toml_error(file: &Arc<SourceFile>, e: &toml::de::Error) -> Diagnostic {
    let span = e.span().unwrap_or(0..0);
    let msg = e.message().trim().to_string();
    let context = section_context(&file.text, span.start);
    let loc = Location::new(file, span.clone());
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest
            .split("expected")
            .nth(1)
            .map(|s| s.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let mut d = Diagnostic::new(format!("unknown key `{key}` {context}"), loc);
        if let Some(s) = suggest::did_you_mean(key, &expected) {
            d = d.with_hint(format!("did you mean `{s}`?"));
        }
        return d;
    }
    let key = key_at(&file.text, span.start);
    let what = match key {
        Some(k) => format!("invalid value for `{k}` {context}: {msg}"),
        None if span.is_empty() && span.start == 0 => format!("invalid manifest: {msg}"),
        None => format!("invalid TOML {context}: {msg}"),
    };
    Diagnostic::new(what, loc)
}

/// "in component `x`", "in [image]", or "at the top level", for the table around `offset`.
fn section_context(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let header_start = before
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(0))
        .filter(|&i| text[i..].trim_start().starts_with('['))
        .max();
    let Some(hs) = header_start else {
        return "at the top level".into();
    };
    // Offsets come from the raw line: trimming (which also drops a vertical tab or another
    // Unicode space) would shorten it and put the body's start inside a character.
    let raw_line = text[hs..].lines().next().unwrap_or("");
    let header_line = raw_line.trim();
    let body_start = hs + raw_line.len();
    if header_line.starts_with("[[component") {
        let body_end = text[body_start..]
            .match_indices("\n[")
            .next()
            .map_or(text.len(), |(i, _)| body_start + i);
        let name = text[hs..body_end].lines().find_map(|l| {
            let l = l.trim();
            let v = l
                .strip_prefix("name")?
                .trim_start()
                .strip_prefix('=')?
                .trim();
            Some(v.trim_matches('"').to_string())
        });
        match name {
            Some(n) => format!("in component `{n}`"),
            None => "in a component".into(),
        }
    } else {
        format!("in {}", header_line.split('#').next().unwrap_or("").trim())
    }
}

/// The key on the line that holds `offset`, if that line is `key = value`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let ls = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[ls..].lines().next()?;
    let (k, _) = line.split_once('=')?;
    let k = k.trim().trim_matches('"');
    (!k.is_empty() && !k.starts_with('[') && !k.contains(' ')).then(|| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `cargo xtask fuzz --target manifest`: a vertical tab before a `[[component]]`
    /// header shortened the trimmed line, and the component's body was sliced inside a
    /// two-byte character (a panic instead of an error).
    #[test]
    fn a_header_after_unicode_space_is_an_error_not_a_panic() {
        let text = "# expec is 2\n[image]\nname = \"bad\"\n\u{b}[[component]]ept: eula&u~gbel `a` \u{75a}\n# hint:gwhy = \"usgbel `a` \u{75a}\n# hin` \u{75a}\n# h0ch\"\n";
        let file = Arc::new(SourceFile {
            path: PathBuf::from("kiln.toml"),
            text: text.into(),
        });
        let e = parse_all(file, PathBuf::from("/nonexistent")).unwrap_err();
        assert!(e.to_string().contains("invalid TOML"), "{e}");
    }
}
