//! Fuzzes what kiln reads from a Debian archive besides its indices: the input as an
//! `InRelease` (`kiln::deb::release::verify`: cleartext framing, armored signatures, the
//! signature check against a small fixed keyring, then the signed `Release` paragraph's
//! fields), and as a `.deb` written to a file and unpacked into a temporary cache
//! (`kiln::deb::debfile::unpack`: the ar container, gzip/xz/zstd members, the control and
//! data tars), after which every regular file's content path is looked up.
//!
//! The keyring is `seeds/deb_release/keyring.gpg`, a throw-away ed25519 key (public part only)
//! that signed the seed `seeds/deb_release/InRelease`; the clock is fixed at 2026-12-31, inside
//! that seed's validity, so a valid signature is reachable. The SHA-256 given to `unpack` is
//! only the cache key.
//!
//! Nothing is asserted about the results: an error is a fine answer. The point is that no input
//! panics, hangs, exhausts memory or writes outside the temporary folder.

#![no_main]
// `fuzz_target!` expands to `std::fs::File::create` (RUST_LIBFUZZER_DEBUG_PATH); this file's own
// I/O goes through fs-err as the workspace's clippy.toml asks.
#![allow(clippy::disallowed_methods)]

use kiln::deb::debfile;
use kiln::deb::release::{self, Keyring, VerifyOptions};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The public half of the throw-away key that signed the seed `InRelease`.
const KEYRING: &[u8] = include_bytes!("../seeds/deb_release/keyring.gpg");

/// 2026-12-31T00:00:00Z: after the seed's signature and before its `Valid-Until`.
const NOW: u64 = 1_798_675_200;

fn keyring() -> &'static Keyring {
    static KEYS: OnceLock<Keyring> = OnceLock::new();
    KEYS.get_or_init(|| Keyring::from_bytes(KEYRING).expect("the fuzz keyring loads"))
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    // Strict about `Valid-Until` when the input's length is even, lenient when odd: both
    // paths are reached without verifying twice.
    let opts = VerifyOptions {
        allow_expired: data.len() % 2 == 1,
    };
    if let Ok(r) = release::verify(data, keyring(), now, &opts) {
        let paths: Vec<String> = r.sha256.keys().take(16).cloned().collect();
        for p in &paths {
            let _ = r.sha256_of(p);
            let _ = r.by_hash(p);
        }
        for component in r.components.iter().take(4) {
            if let Err(e) = r.pick_index(component, "amd64") {
                let _ = e.to_string();
            }
        }
    }

    let shm = Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("kiln-fuzz-deb-");
    let dir = if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    };
    let Ok(dir) = dir else {
        return;
    };
    let deb = dir.path().join("fuzz.deb");
    if fs_err::write(&deb, data).is_err() {
        return;
    }
    let cache = dir.path().join("cache");
    if let Ok(u) = debfile::unpack(&deb, &[0u8; 32], &cache) {
        for e in &u.entries {
            let _ = u.content_path(e);
        }
        // A second call loads the unpacked copy back from the cache.
        let again = debfile::unpack(&deb, &[0u8; 32], &cache).expect("the cached copy loads");
        assert_eq!(again, u, "the cached copy differs from the unpacked one");
    }
});
