//! Fuzzes kiln's readers of Debian control data, as an archive's `Packages` index serves it:
//! the input (as text, invalid UTF-8 replaced) is split into deb822 paragraphs
//! (`kiln::deb::control::paragraphs`, drained, every field read back), read as a relation field
//! (`parse_relations`) and a `Provides` field (`parse_provides`), and parsed as a whole
//! `Packages` index for amd64 (`kiln::deb::index::Index::parse`, every record's relations and
//! candidates looked up).
//!
//! Versions: the text's first line and its second line (or, without a newline, its two halves)
//! are parsed with `kiln::deb::version::Version::parse`, and every line up to 64 of them too.
//! Two versions that parse must compare as a total order consistent with `Eq`: each equals
//! itself, `a.cmp(b)` is the reverse of `b.cmp(a)`, and `a == b` exactly when they compare
//! `Equal`, and equal versions hash alike. A relation's constraint is matched against them. A
//! violation panics.
//!
//! Otherwise nothing is asserted: an error is a fine answer. The point is that no input
//! panics, hangs or exhausts memory.

#![no_main]
// `fuzz_target!` expands to `std::fs::File::create` (RUST_LIBFUZZER_DEBUG_PATH).
#![allow(clippy::disallowed_methods)]

use kiln::deb::control::{paragraphs, parse_provides, parse_relations};
use kiln::deb::index::Index;
use kiln::deb::version::Version;
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The relation fields of a `Packages` record.
const RELATION_FIELDS: &[&str] = &[
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Enhances",
];

/// Lines of the input also parsed as versions (each compared with the first that parses).
const MAX_VERSION_LINES: usize = 64;

fn hash(v: &Version) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// `Ord` of two versions is a total order consistent with `Eq`, and `Hash` agrees with `Eq`.
fn check_order(a: &Version, b: &Version) {
    let copy = a.clone();
    assert_eq!(a.cmp(&copy), Ordering::Equal, "{a} vs itself");
    assert!(*a == copy, "{a} differs from itself");
    let ab = a.cmp(b);
    let ba = b.cmp(a);
    assert_eq!(
        ab,
        ba.reverse(),
        "{a} vs {b}: {ab:?}, but {b} vs {a}: {ba:?}"
    );
    assert_eq!(
        a == b,
        ab == Ordering::Equal,
        "{a} vs {b}: == disagrees with {ab:?}"
    );
    assert_eq!(a.partial_cmp(b), Some(ab), "{a} vs {b}");
    if a == b {
        assert_eq!(hash(a), hash(b), "{a} == {b} but their hashes differ");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    for p in paragraphs(text) {
        let Ok(p) = p else { break };
        for (name, value) in p.fields() {
            assert_eq!(p.get(name), Some(value), "field {name:?} not found back");
        }
        let _ = p.raw();
    }

    let relations = parse_relations(text);
    if let Ok(rels) = &relations {
        for r in rels {
            assert!(!r.alternatives.is_empty());
            for d in &r.alternatives {
                let _ = d.to_string();
            }
        }
    }
    let _ = parse_provides(text);

    // Versions: the first two lines (or the two halves of a single line).
    let (a, b) = match text.split_once('\n') {
        Some((a, rest)) => (a, rest.split('\n').next().unwrap_or("")),
        None => {
            let mut mid = text.len() / 2;
            while !text.is_char_boundary(mid) {
                mid -= 1;
            }
            text.split_at(mid)
        }
    };
    let va = Version::parse(a);
    let vb = Version::parse(b);
    if let (Ok(va), Ok(vb)) = (&va, &vb) {
        check_order(va, vb);
        // Round trip: the text of a version parses to an equal version.
        let again = Version::parse(&va.to_string()).expect("a version's own text parses");
        assert_eq!(again.cmp(va), Ordering::Equal, "{va} round trip");
    }
    let first = va.as_ref().ok().or(vb.as_ref().ok());
    for line in text.lines().take(MAX_VERSION_LINES) {
        let Ok(v) = Version::parse(line) else {
            continue;
        };
        if let Some(f) = first {
            check_order(f, &v);
        }
        if let Ok(rels) = &relations {
            for d in rels.iter().flat_map(|r| &r.alternatives) {
                if let Some(c) = &d.constraint {
                    let _ = c.matches(&v);
                }
            }
        }
    }

    if let Ok(index) = Index::parse(text, "amd64") {
        let _ = index.arch();
        for r in index.records() {
            for field in RELATION_FIELDS {
                let _ = r.relations(field);
            }
            let _ = r.status_paragraph();
            let _ = r.priority_rank();
        }
        let names: Vec<&str> = index.names().take(64).collect();
        for name in names {
            let _ = index.candidate(name);
            let _ = index.providers(name).count();
            let _ = index.versions_of(name).count();
        }
    }
});
