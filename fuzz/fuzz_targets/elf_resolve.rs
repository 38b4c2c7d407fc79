//! Fuzzes what kiln reads from hostile ELF files: `kiln::elf::parse` on the input, then a
//! whole closure resolution with the input as the root object, its loader, its libc and a
//! library found through ld.so.conf and an overlay, in a small temporary sysroot.
//!
//! Nothing is asserted about the results: an error is a fine answer. The point is that no
//! input panics, hangs or exhausts memory (run with `-timeout` and `-rss_limit_mb`).

#![no_main]
// `fuzz_target!` expands to `std::fs::File::create` (RUST_LIBFUZZER_DEBUG_PATH); this file's own
// I/O goes through fs-err as the workspace's clippy.toml asks.
#![allow(clippy::disallowed_methods)]

use fs_err as fs;
use kiln::types::{CpuLevel, ImagePath};
use kiln::resolve::{DlopenPolicy, Nss, Options, OverlayNode, Resolver};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Where the input is placed in the sysroot (hard links of `bin/x`, the root object): the
/// usual PT_INTERP target, libc in a default directory, and a library in an ld.so.conf
/// directory.
const LINKS: &[&str] = &[
    "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "lib/x86_64-linux-gnu/libc.so.6",
    "opt/conf/libfuzz.so.1",
];

/// Symlinks of the sysroot: Debian's loader link and a merged-/usr style link.
const SYMLINKS: &[(&str, &str)] = &[
    (
        "lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    ),
    ("usr/lib", "../lib"),
];

const LD_SO_CONF: &str = "include /etc/ld.so.conf.d/*.conf\n/opt/lib # the overlay\n";
const CONF_D: &str = "/opt/conf\n/usr/lib/x86_64-linux-gnu\n";
const NSSWITCH: &str = "passwd: files systemd\ngroup: files\nhosts: files myhostname dns\n";

/// glibc's ld.so.cache magic: the input after it exercises the cache parser as well.
const CACHE_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";

fn sysroot(root: &Path, data: &[u8]) -> std::io::Result<()> {
    for dir in [
        "bin",
        "lib/x86_64-linux-gnu",
        "lib64",
        "usr",
        "opt/conf",
        "etc/ld.so.conf.d",
    ] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::write(root.join("bin/x"), data)?;
    for link in LINKS {
        fs::hard_link(root.join("bin/x"), root.join(link))?;
    }
    for (link, target) in SYMLINKS {
        symlink(target, root.join(link))?;
    }
    fs::write(root.join("etc/ld.so.conf"), LD_SO_CONF)?;
    fs::write(root.join("etc/ld.so.conf.d/fuzz.conf"), CONF_D)?;
    fs::write(root.join("etc/ld.so.cache"), [CACHE_MAGIC, data].concat())?;
    Ok(())
}

fn path(p: &str) -> ImagePath {
    ImagePath::parse(p).expect("a valid image path")
}

fuzz_target!(|data: &[u8]| {
    let _ = kiln::elf::parse(data);

    // A fresh sysroot per input, on tmpfs when there is one (creating and removing a few files
    // on a disk file system costs more than the resolution).
    let shm = Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("kiln-fuzz-");
    let dir = if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    };
    let Ok(dir) = dir else {
        return;
    };
    let root = dir.path();
    if sysroot(root, data).is_err() {
        return;
    }
    let host = root.join("bin/x");
    // A component-placed library in /opt/lib (an ld.so.conf directory), through a symlink.
    let overlay: BTreeMap<ImagePath, OverlayNode> = [
        (path("/opt/lib"), OverlayNode::Dir),
        (
            path("/opt/lib/libfuzz.so.2"),
            OverlayNode::File(host.clone()),
        ),
        (
            path("/opt/lib/libc.so"),
            OverlayNode::Symlink("libfuzz.so.2".into()),
        ),
    ]
    .into_iter()
    .collect();
    let variants = [
        Options::default(),
        Options {
            hwcaps: CpuLevel::V3,
            dlopen: Some(DlopenPolicy {
                nss: Nss::Text(NSSWITCH.into()),
                suggested: true,
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    for options in variants {
        let resolver = Resolver::new(root, &overlay, options);
        let _ = resolver.closure(&path("/bin/x"), &host);
    }
});
