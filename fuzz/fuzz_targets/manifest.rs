//! Fuzzes the manifest loader: the input (as text, invalid UTF-8 replaced) goes through
//! `kiln::manifest::parse_all`, TOML to validated `Manifest`s, exactly as `kiln build` reads a
//! manifest file, with a folder that does not exist (the loader never touches the files a
//! manifest names).
//!
//! An error is a fine answer, and is rendered (`Display`, with its source line and caret) as
//! the CLI would. A success is checked against the model's invariants: every passwd and group
//! line kiln would write is one line of exactly 7 (4) fields with no NUL, and every image path
//! stays within Linux's limits. A violation panics, which libFuzzer reports as a crash.

#![no_main]
// `fuzz_target!` expands to `std::fs::File::create` (RUST_LIBFUZZER_DEBUG_PATH).
#![allow(clippy::disallowed_methods)]

use kiln::manifest::{parse_all, ComponentSpec, Manifest};
use kiln::span::SourceFile;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::Arc;

/// One generated line: ends in its only newline, `fields` fields, no NUL.
fn check_line(line: &str, fields: usize) {
    assert!(line.ends_with('\n'), "{line:?}");
    let body = &line[..line.len() - 1];
    assert!(!body.contains(['\n', '\r', '\0']), "{line:?}");
    assert_eq!(body.split(':').count(), fields, "{line:?}");
}

fn check(m: &Manifest) {
    let paths = m.components.iter().filter_map(|c| match &c.spec {
        ComponentSpec::Elf { to, .. }
        | ComponentSpec::File { to, .. }
        | ComponentSpec::Tree { to, .. }
        | ComponentSpec::Dir { to, .. }
        | ComponentSpec::Symlink { to, .. }
        | ComponentSpec::CaBundle { to, .. }
        | ComponentSpec::Tzdata { to, .. }
        | ComponentSpec::OsRelease { to, .. } => Some(to),
        ComponentSpec::Accounts { .. } | ComponentSpec::Base | ComponentSpec::Deb { .. } => None,
    });
    for p in paths.chain(std::iter::once(&m.image.workdir)) {
        let s = p.as_str();
        assert!(s.starts_with('/') && s.len() <= 4096, "{s:?}");
        assert!(s.split('/').all(|c| c.len() <= 255 && c != ".."), "{s:?}");
    }
    for c in &m.components {
        if let ComponentSpec::Accounts { users, groups } = &c.spec {
            users.iter().for_each(|u| check_line(&u.passwd_line(), 7));
            groups.iter().for_each(|g| check_line(&g.group_line(), 4));
        }
    }
    for (k, v) in &m.image.env {
        assert!(!k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0'));
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let file = Arc::new(SourceFile {
        path: PathBuf::from("fuzz.toml"),
        text,
    });
    match parse_all(file, PathBuf::from("/nonexistent/kiln-fuzz")) {
        Ok(manifests) => manifests.iter().for_each(check),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
