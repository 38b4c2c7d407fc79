//! Unit tests of `base`: layers built here with `tar` and flate2, opened from an `oci:`
//! layout through a fresh cache.

use super::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

/// One tar entry, its name written raw (hostile names included).
enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Char(&'a str),
}

fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let raw = &mut h.as_old_mut().name;
    raw[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (mut h, data): (tar::Header, &[u8]) = match e {
            E::Dir(n, m) => (header(n, tar::EntryType::Directory, *m, 0), b""),
            E::File(n, m, d) => (header(n, tar::EntryType::Regular, *m, d.len() as u64), d),
            E::Link(n, t) | E::Hard(n, t) => {
                let kind = if matches!(e, E::Link(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = header(n, kind, 0o777, 0);
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                (h, b"")
            }
            E::Char(n) => (header(n, tar::EntryType::Char, 0o666, 0), b""),
        };
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    g.write_all(bytes).unwrap();
    g.finish().unwrap()
}

const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A layer as the test wants it: its blob, media type, and the diff_id the config states.
struct Layer {
    blob: Vec<u8>,
    media_type: &'static str,
    diff_id: Digest,
    /// The digest the manifest names (default: the blob's).
    named: Option<Digest>,
}

fn layer(entries: &[E<'_>]) -> Layer {
    let t = tar_of(entries);
    Layer {
        blob: gzip(&t),
        media_type: GZ,
        diff_id: Digest::of(&t),
        named: None,
    }
}

fn put(dir: &Path, bytes: &[u8], named: Option<&Digest>) -> Digest {
    let d = named.cloned().unwrap_or_else(|| Digest::of(bytes));
    fs_err::write(dir.join(d.blob_path()), bytes).unwrap();
    d
}

/// Writes an `oci:` layout with one image of `layers` tagged `t`; returns its reference.
fn layout(dir: &Path, layers: &[Layer]) -> BaseRef {
    fs_err::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs_err::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/usr/bin/tool"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let cd = put(dir, &config, None);
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let d = put(dir, &l.blob, l.named.as_ref());
            serde_json::json!({"mediaType": l.media_type, "digest": d.to_string(), "size": l.blob.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": crate::oci::MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": crate::oci::CONFIG_MEDIA_TYPE, "digest": cd.to_string(), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = put(dir, &manifest, None);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": crate::oci::MANIFEST_MEDIA_TYPE, "digest": md.to_string(), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]});
    fs_err::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    BaseRef::parse(&format!("oci:{}:t", dir.display())).unwrap()
}

fn open_layers(t: &tempfile::TempDir, layers: &[Layer]) -> Result<Base, Error> {
    let r = layout(&t.path().join("src"), layers);
    open(&r, None, &Access::default(), &t.path().join("cache"))
}

/// `PATH KIND MODE LAYER` per file.
fn listing(b: &Base) -> Vec<String> {
    b.files
        .iter()
        .map(|f| {
            let kind = match &f.kind {
                BaseKind::Dir => "dir".to_string(),
                BaseKind::File { size, .. } => format!("file {size}"),
                BaseKind::Symlink { target } => format!("-> {target}"),
                BaseKind::Other(w) => w.to_string(),
            };
            format!("{} {kind} {:o} {}", f.path, f.mode, f.layer)
        })
        .collect()
}

#[test]
fn references_parse_and_display_canonically() {
    for (s, shown) in [
        (
            "docker://127.0.0.1:5000/a/b:v1",
            "docker://127.0.0.1:5000/a/b:v1",
        ),
        (
            "docker://debian",
            "docker://docker.io/library/debian:latest",
        ),
        ("oci:dir", "oci:dir:latest"),
        ("oci-archive:f.tar:v2", "oci-archive:f.tar:v2"),
    ] {
        assert_eq!(BaseRef::parse(s).unwrap().to_string(), shown);
    }
    let d = format!("docker://h.io/r@{}", Digest::of(b""));
    assert_eq!(BaseRef::parse(&d).unwrap().digest(), Some(&Digest::of(b"")));
    for bad in [
        "docker-archive:x.tar",
        "http://x",
        "oci:",
        "docker://h.io/R",
    ] {
        assert!(BaseRef::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn whiteouts_opaque_folders_and_setuid_bits() {
    let t = tempfile::tempdir().unwrap();
    let b = open_layers(
        &t,
        &[
            layer(&[
                E::Dir("etc/", 0o755),
                E::File("etc/a", 0o644, b"a"),
                E::File("etc/b", 0o644, b"bb"),
                E::File("opt/x/y", 0o600, b"y"),
                E::File("./opt/x/sub/z", 0o644, b"z"),
                E::File("usr/bin/tool", 0o4755, b"#!tool"),
            ]),
            layer(&[
                E::File("etc/.wh.a", 0o644, b""),
                E::File("opt/x/.wh..wh..opq", 0o644, b""),
                E::File("opt/x/new", 0o644, b"n"),
            ]),
        ],
    )
    .unwrap();
    assert_eq!(
        listing(&b),
        [
            "/etc dir 755 0",
            "/etc/b file 2 644 0",
            "/opt dir 755 0",
            "/opt/x dir 755 0",
            "/opt/x/new file 1 644 1",
            "/usr dir 755 0",
            "/usr/bin dir 755 0",
            "/usr/bin/tool file 6 4755 0",
        ]
    );
    assert!(!b.root.join("etc/a").exists());
    assert!(!b.root.join("opt/x/y").exists() && !b.root.join("opt/x/sub").exists());
    assert!(!b.root.join("etc/.wh.a").exists());
    let m = fs_err::metadata(b.root.join("usr/bin/tool")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o755);
    let m = fs_err::metadata(b.root.join("opt/x/new")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o644);
    assert_eq!(
        b.config.config.cmd.as_deref(),
        Some(&["/usr/bin/tool".to_string()][..])
    );
    assert_eq!(b.platform, Platform::DEFAULT);
    assert_eq!(b.pinned, b.digest);
    assert_eq!(b.glibc_version(), None);
    if let BaseKind::File { sha256, sha1, .. } = &b.files[1].kind {
        assert_eq!(*sha256, Digest::of(b"bb"));
        assert_eq!(*sha1, Sha1::of(b"bb"));
    }
}

#[test]
fn a_second_open_reads_files_json_and_a_broken_one_is_unpacked_again() {
    let t = tempfile::tempdir().unwrap();
    let l = || layer(&[E::File("a", 0o644, b"a"), E::Link("b", "a")]);
    let first = open_layers(&t, &[l()]).unwrap();
    fs_err::write(first.root.join("a"), b"changed").unwrap();
    let second = open_layers(&t, &[l()]).unwrap();
    assert_eq!(second.files, first.files);
    assert_eq!(
        fs_err::read(second.root.join("a")).unwrap(),
        b"changed",
        "not unpacked again"
    );
    let files = first.root.parent().unwrap().join("files.json");
    fs_err::write(&files, b"{\"schema\":").unwrap();
    let third = open_layers(&t, &[l()]).unwrap();
    assert_eq!(third.files, first.files);
    assert_eq!(fs_err::read(third.root.join("a")).unwrap(), b"a");
    assert_eq!(
        fs_err::read_link(third.root.join("b")).unwrap(),
        Path::new("a")
    );
}

#[test]
fn a_hard_link_names_an_earlier_regular_file() {
    let t = tempfile::tempdir().unwrap();
    let b = open_layers(
        &t,
        &[layer(&[
            E::File("bin/a", 0o755, b"prog"),
            E::Hard("bin/b", "./bin/a"),
        ])],
    )
    .unwrap();
    assert_eq!(b.files[1].kind, b.files[2].kind);
    assert_eq!(fs_err::read(b.root.join("bin/b")).unwrap(), b"prog");

    for (hostile, why) in [
        (E::Hard("b", "missing"), "not an earlier regular file"),
        (E::Hard("b", "../../etc/passwd"), "`..`"),
        (E::Hard("b", "d"), "not an earlier regular file"),
    ] {
        let t = tempfile::tempdir().unwrap();
        let e = open_layers(&t, &[layer(&[E::Dir("d", 0o755), hostile])]).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
}

#[test]
fn names_with_dot_dot_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let e = open_layers(&t, &[layer(&[E::File("../escaped", 0o644, b"x")])]).unwrap_err();
    assert!(e.to_string().contains("`..`"), "{e}");
    assert!(!t.path().join("cache/base/escaped").exists());
    assert!(!t.path().join("escaped").exists());
    let e = open_layers(&t, &[layer(&[E::File("a/../../x", 0o644, b"x")])]).unwrap_err();
    assert!(e.to_string().contains("entry \"a/../../x\""), "{e}");
}

#[test]
fn nothing_is_written_through_a_symbolic_link() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    fs_err::create_dir(&outside).unwrap();
    let target = outside.to_str().unwrap().to_string();
    let e = open_layers(
        &t,
        &[
            layer(&[E::Link("etc", &target)]),
            layer(&[E::File("etc/passwd", 0o644, b"root::0:0")]),
        ],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("its parent /etc is a symbolic link"),
        "{e}"
    );
    assert_eq!(fs_err::read_dir(&outside).unwrap().count(), 0);
    // A whiteout under the link removes nothing outside either.
    fs_err::write(outside.join("keep"), b"k").unwrap();
    let t2 = tempfile::tempdir().unwrap();
    let b = open_layers(
        &t2,
        &[
            layer(&[E::Link("etc", &target)]),
            layer(&[E::File("etc/.wh.keep", 0o644, b"")]),
        ],
    )
    .unwrap();
    assert!(outside.join("keep").exists());
    assert_eq!(listing(&b), [format!("/etc -> {target} 777 0")]);
}

#[test]
fn devices_are_recorded_not_created() {
    let t = tempfile::tempdir().unwrap();
    let b = open_layers(&t, &[layer(&[E::Char("dev/null")])]).unwrap();
    assert_eq!(
        listing(&b),
        ["/dev dir 755 0", "/dev/null character device 666 0"]
    );
    assert!(fs_err::symlink_metadata(b.root.join("dev/null")).is_err());
}

#[test]
fn a_wrong_diff_id_or_layer_digest_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let mut l = layer(&[E::File("a", 0o644, b"a")]);
    l.diff_id = Digest::of(b"something else");
    let e = open_layers(&t, &[l]).unwrap_err();
    assert!(matches!(e, Error::DiffId { .. }), "{e}");
    assert!(e.to_string().contains("not its diff_id"), "{e}");
    assert!(!t
        .path()
        .join("cache/base/roots")
        .read_dir()
        .unwrap()
        .any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sha256-")
        }));

    let t = tempfile::tempdir().unwrap();
    let mut l = layer(&[E::File("a", 0o644, b"a")]);
    l.named = Some(Digest::of(b"another blob"));
    let e = open_layers(&t, &[l]).unwrap_err();
    // The store's stream checks the digest as the blob is copied (`oci::inspect::Blobs`).
    let chain = format!(
        "{e}: {}",
        std::error::Error::source(&e).map_or(String::new(), |s| s.to_string())
    );
    assert!(
        matches!(e, Error::LayerDigest { .. }) || chain.contains("does not match its digest"),
        "{chain}"
    );

    let t = tempfile::tempdir().unwrap();
    let mut l = layer(&[E::File("a", 0o644, b"a")]);
    l.media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
    let e = open_layers(&t, &[l]).unwrap_err();
    assert!(
        e.to_string().contains("unsupported layer media type"),
        "{e}"
    );
}

#[test]
fn an_uncompressed_layer_and_a_replaced_folder() {
    let t = tempfile::tempdir().unwrap();
    let plain = tar_of(&[E::Dir("x", 0o700), E::File("x/y", 0o644, b"y")]);
    let l2 = Layer {
        diff_id: Digest::of(&plain),
        blob: plain,
        media_type: "application/vnd.oci.image.layer.v1.tar",
        named: None,
    };
    let l1 = layer(&[
        E::Dir("x", 0o755),
        E::File("x/old", 0o644, b"o"),
        E::File("x", 0o644, b"f"),
    ]);
    let b = open_layers(&t, &[l1, l2]).unwrap();
    assert_eq!(listing(&b), ["/x dir 700 1", "/x/y file 1 644 1"]);
    assert!(!b.root.join("x/old").exists());
}

/// As [`layout`], the image then put in an index under each of `platforms` (the same image:
/// its config says linux/amd64).
fn index_layout(dir: &Path, layers: &[Layer], platforms: &[(&str, Option<&str>)]) -> BaseRef {
    let r = layout(dir, layers);
    let top: serde_json::Value =
        serde_json::from_slice(&fs_err::read(dir.join("index.json")).unwrap()).unwrap();
    let image = &top["manifests"][0];
    let children: Vec<serde_json::Value> = platforms
        .iter()
        .map(|(arch, variant)| {
            let mut p = serde_json::json!({"os": "linux", "architecture": arch});
            if let Some(v) = variant {
                p["variant"] = (*v).into();
            }
            serde_json::json!({"mediaType": image["mediaType"], "digest": image["digest"],
                "size": image["size"], "platform": p})
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": crate::oci::INDEX_MEDIA_TYPE, "manifests": children}))
    .unwrap();
    let d = put(dir, &index, None);
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": crate::oci::INDEX_MEDIA_TYPE, "digest": d.to_string(), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]});
    fs_err::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    r
}

#[test]
fn an_index_needs_a_platform_and_the_config_must_agree() {
    let t = tempfile::tempdir().unwrap();
    let r = index_layout(
        &t.path().join("src"),
        &[layer(&[E::File("a", 0o644, b"a")])],
        &[("amd64", None), ("arm64", Some("v8"))],
    );
    let cache = t.path().join("cache");
    let e = open(&r, None, &Access::default(), &cache).unwrap_err();
    assert!(
        e.to_string()
            .contains("is an index: name a platform (it has linux/amd64, linux/arm64/v8)"),
        "{e}"
    );
    let b = open(&r, Some(Platform::DEFAULT), &Access::default(), &cache).unwrap();
    assert_ne!(b.pinned, b.digest);
    let arm64 = Platform::parse("linux/arm64").or_else(|| Platform::parse("linux/arm64/v8"));
    let e = open(&r, arm64, &Access::default(), &cache).unwrap_err();
    assert!(
        e.to_string().contains("is linux/amd64, not linux/arm64"),
        "{e}"
    );
    let riscv = Platform::parse("linux/riscv64");
    if riscv.is_some() {
        let e = open(&r, riscv, &Access::default(), &cache).unwrap_err();
        assert!(e.to_string().contains("has no linux/riscv64 image"), "{e}");
    }
}

#[test]
fn concurrent_opens_of_one_base_agree() {
    let t = tempfile::tempdir().unwrap();
    let many: Vec<Vec<u8>> = (0..200).map(|i| format!("file {i}").into_bytes()).collect();
    let names: Vec<String> = (0..200).map(|i| format!("d/f{i}")).collect();
    let entries: Vec<E<'_>> = names
        .iter()
        .zip(&many)
        .map(|(n, d)| E::File(n, 0o644, d))
        .collect();
    let r = layout(&t.path().join("src"), &[layer(&entries)]);
    let cache = t.path().join("cache");
    let opened: Vec<Base> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| open(&r, None, &Access::default(), &cache).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for b in &opened {
        assert_eq!(b.files, opened[0].files);
        assert_eq!(b.root, opened[0].root);
        assert_eq!(b.files.len(), 201);
    }
    assert_eq!(
        fs_err::read(opened[0].root.join("d/f7")).unwrap(),
        b"file 7"
    );
}

#[test]
fn long_names_are_read() {
    let t = tempfile::tempdir().unwrap();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(200));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_uid(1000);
    h.set_gid(1000);
    b.append_data(&mut h, &long, &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let l = Layer {
        blob: gzip(&tar),
        media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        diff_id: Digest::of(&tar),
        named: None,
    };
    let base = open_layers(&t, &[l]).unwrap();
    assert_eq!(base.files[1].path.as_str(), format!("/{long}"));
    assert_eq!((base.files[1].uid, base.files[1].gid), (1000, 1000));
    assert_eq!(fs_err::read(base.root.join(&long)).unwrap(), b"x");
}

#[test]
fn the_glibc_version_is_read_from_libc_through_symbolic_links() {
    let Some(host) = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists()) else {
        return;
    };
    let bytes = fs_err::read(host).unwrap();
    let t = tempfile::tempdir().unwrap();
    let b = open_layers(
        &t,
        &[layer(&[
            E::File("usr/lib/x/libc-2.so", 0o755, &bytes),
            E::Link("usr/lib/x/libc.so.6", "../x/./libc-2.so"),
            E::Link("lib", "usr/lib"),
        ])],
    )
    .unwrap();
    let v = b.glibc_version().expect("a glibc version");
    let defs = crate::elf::read(host).unwrap().version_defs;
    assert!(defs.contains(&format!("GLIBC_{v}")), "{v}");
    assert!(v.starts_with("2."), "{v}");
}

#[test]
fn pax_ids_and_an_oci_archive() {
    let t = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    b.append_pax_extensions([("uid", &b"100000000"[..]), ("gid", &b"100000001"[..])])
        .unwrap();
    b.append_data(&mut h, "owned", &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let l = Layer {
        blob: gzip(&tar),
        media_type: GZ,
        diff_id: Digest::of(&tar),
        named: None,
    };
    let src = t.path().join("src");
    layout(&src, &[l]);
    let archive = t.path().join("img.tar");
    let mut a = tar::Builder::new(fs_err::File::create(&archive).unwrap());
    a.append_dir_all(".", &src).unwrap();
    a.into_inner().unwrap();
    let r = BaseRef::parse(&format!("oci-archive:{}:t", archive.display())).unwrap();
    let base = open(&r, None, &Access::default(), &t.path().join("cache")).unwrap();
    assert_eq!(listing(&base), ["/owned file 1 644 0"]);
    assert_eq!(
        (base.files[0].uid, base.files[0].gid),
        (100_000_000, 100_000_001)
    );
    assert!(base.store.join(base.layers[0].digest.blob_path()).is_file());
}

#[test]
fn a_whiteout_removes_a_whole_tree_and_a_later_layer_may_recreate_it() {
    let t = tempfile::tempdir().unwrap();
    let b = open_layers(
        &t,
        &[
            layer(&[
                E::File("opt/a/b/c", 0o644, b"c"),
                E::File("keep", 0o644, b"k"),
            ]),
            layer(&[
                E::File(".wh.opt", 0o644, b""),
                E::File(".wh.missing", 0o644, b""),
            ]),
            layer(&[E::File("opt/new", 0o600, b"n")]),
        ],
    )
    .unwrap();
    assert_eq!(
        listing(&b),
        [
            "/keep file 1 644 0",
            "/opt dir 755 2",
            "/opt/new file 1 600 2"
        ]
    );
    assert!(!b.root.join("opt/a").exists());
    let e = open_layers(
        &tempfile::tempdir().unwrap(),
        &[layer(&[E::Hard("x", "y")])],
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with("layer 1 of the base (sha256:"),
        "{e}"
    );
}

#[test]
fn a_layer_whose_files_exceed_the_byte_limit_is_refused_before_writing() {
    let t = tempfile::tempdir().unwrap();
    // One header claiming more than MAX_BYTES of content, and no content: the limit is
    // checked on the header, before anything is read or written.
    let mut h = tar::Header::new_gnu();
    h.set_path("bomb").unwrap();
    h.set_size(unpack::MAX_BYTES + 1);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(&[0u8; 1024]);
    let l = Layer {
        blob: gzip(&tar),
        media_type: GZ,
        diff_id: Digest::of(&tar),
        named: None,
    };
    let e = open_layers(&t, &[l]).unwrap_err();
    assert!(e.to_string().contains("GiB"), "{e}");
    assert!(
        !t.path().join("cache/base/roots").exists()
            || !walk_has(&t.path().join("cache/base/roots"), "bomb")
    );
}

/// Whether a file named `name` is anywhere under `dir`.
fn walk_has(dir: &Path, name: &str) -> bool {
    fs_err::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name() == name || (e.path().is_dir() && walk_has(&e.path(), name)))
    })
}
