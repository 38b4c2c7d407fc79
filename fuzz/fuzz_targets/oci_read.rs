//! Fuzzes what kiln reads from hostile image layouts and archives: the input as an
//! `index.json` and as a manifest blob (`kiln::oci::Index::parse`, `kiln::oci::parse_manifest`),
//! and as an oci-archive: its entries scanned in place (`Archive::scan`, the index, every blob
//! the index names, read and checked) and unpacked into a temporary folder that is then read as
//! a layout (`Layout::open`, `index`, every blob and every manifest's blobs).
//!
//! Nothing is asserted about the results: an error is a fine answer. The point is that no input
//! panics, hangs, exhausts memory or writes outside the temporary folder.

#![no_main]
// `fuzz_target!` expands to `std::fs::File::create` (RUST_LIBFUZZER_DEBUG_PATH); this file's own
// I/O goes through fs-err as the workspace's clippy.toml asks.
#![allow(clippy::disallowed_methods)]

use kiln::oci::archive::{self, Archive};
use kiln::oci::layout::Layout;
use kiln::oci::{parse_manifest, Index, MAX_MANIFEST};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// Reads every blob `index` names from `read`, and the blobs of those that are manifests.
fn walk(index: &Index, read: &dyn Fn(&kiln::oci::Descriptor) -> Option<Vec<u8>>) {
    for d in index.descriptors() {
        let Some(bytes) = read(d) else { continue };
        if let Ok(m) = parse_manifest(&bytes, Some(&d.media_type)) {
            for b in m.blobs().into_iter().chain(m.children()) {
                let _ = read(b);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = Index::parse(data) {
        let _ = index.to_bytes();
    }
    let _ = parse_manifest(data, None);

    let shm = Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("kiln-fuzz-oci-");
    let dir = if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    };
    let Ok(dir) = dir else {
        return;
    };
    let file = dir.path().join("image.tar");
    if fs_err::write(&file, data).is_err() {
        return;
    }
    if let Ok(a) = Archive::scan(&file) {
        if let Ok(index) = a.index() {
            walk(&index, &|d| a.read_blob(&d.digest, Some(d.size), MAX_MANIFEST).ok());
        }
    }
    let out = dir.path().join("layout");
    if fs_err::create_dir(&out).is_err() {
        return;
    }
    if archive::unpack(&file, &out).is_ok() {
        if let Ok(layout) = Layout::open(&out) {
            if let Ok(index) = layout.index() {
                walk(&index, &|d| {
                    layout.read_blob(&d.digest, Some(d.size), MAX_MANIFEST).ok()
                });
            }
        }
    }
});
