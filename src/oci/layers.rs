//! An image's layers read as the file system a runtime would see, for images kiln did not
//! build: which layer last wrote each path, what a later layer removed, and the Debian package
//! database the image carries.
//!
//! Owns: [`Verified`] (a reader that hashes a blob while it is streamed and fails at its end
//! when the bytes do not match the digest or size), [`LayerSource`] (how a store hands out a
//! layer's bytes: a layout's or an oci-archive's blob, a docker-archive member, a registry
//! blob), and [`Tree`]: every layer's tar stream applied in order with OCI's whiteouts
//! (`.wh.NAME` removes NAME of lower layers, `.wh..wh..opq` empties a folder of lower layers'
//! entries, a non-folder replacing a folder removes what was below it), each entry's type,
//! mode, owner, size, SHA-256 (regular files, hashed while streamed) and link target, and the
//! content of the dpkg database files (`/var/lib/dpkg/status`, `info/*.list`, `status.d/*`),
//! bounded.
//! Does not own: finding the image in a store (`inspect`, `registry::pull`), what the dpkg
//! files say (`crate::dpkg`), explaining (`crate::ops::explain`).
//! Invariant: a layer is read once, as a stream: memory grows with the number of entries,
//! never with a layer's or a file's size. Nothing is reported from a layer whose bytes did not
//! match its digest (the stream is read to its end and checked before the tree is returned).
//! Every name is checked (no `..`, at most 4096 bytes), every kept file bounded.
//! Known gaps: zstd layers are refused; xattrs are not read.

use super::inspect::Error;
use crate::digest::{Digest, Hasher};
use std::collections::BTreeMap;
use std::io::{self, Read};

/// The most `/var/lib/dpkg/status` kiln reads.
pub const MAX_DPKG_STATUS: u64 = 64 << 20;
/// The most of one other dpkg database file (a `.list`, a `status.d` paragraph or md5sums).
pub const MAX_DPKG_FILE: u64 = 16 << 20;
/// The most of all dpkg database files together.
pub const MAX_DPKG_TOTAL: u64 = 256 << 20;
/// The most entries an image may hold (all layers together).
pub const MAX_ENTRIES: usize = 4 << 20;
/// Linux's path limit, for entry names and link targets.
const MAX_NAME: usize = 4096;

/// A reader that hashes what it yields and, at the end of the stream, fails with
/// `InvalidData` when the bytes are not `size` long or do not hash to `digest`.
pub struct Verified<R> {
    inner: R,
    digest: Digest,
    size: Option<u64>,
    hasher: Option<Hasher>,
    read: u64,
}

impl<R: Read> Verified<R> {
    pub fn new(inner: R, digest: Digest, size: Option<u64>) -> Verified<R> {
        let hasher = Some(Hasher::new(digest.algorithm()));
        Verified {
            inner,
            digest,
            size,
            hasher,
            read: 0,
        }
    }

    fn check_end(&mut self) -> io::Result<()> {
        let Some(h) = self.hasher.take() else {
            return Ok(());
        };
        let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        if let Some(size) = self.size.filter(|&s| s != self.read) {
            return Err(bad(format!(
                "blob {} has {} bytes, its descriptor says {size}",
                self.digest, self.read
            )));
        }
        let actual = h.finish();
        if actual != self.digest {
            return Err(bad(format!(
                "blob {} does not match its digest: its bytes hash to {actual}",
                self.digest
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check_end()?;
            return Ok(0);
        }
        self.read += n as u64;
        if self.size.is_some_and(|s| self.read > s) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("blob {} is longer than its descriptor says", self.digest),
            ));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// A layer's bytes as a store hands them out: `raw` already checked against the layer's
/// digest while read (a [`Verified`] or a file the registry client checked), and, for a
/// docker-archive whose member is not named by its digest, the digest the decompressed tar
/// must have (the config's `diff_id`).
pub struct LayerStream<'a> {
    pub raw: Box<dyn Read + 'a>,
    pub diff_id: Option<Digest>,
}

/// A store's layers, in order (bottom first).
pub trait LayerSource {
    /// What the image is, for messages.
    fn name(&self) -> String;
    /// The layers' digests (as the manifest lists them), bottom first.
    fn digests(&self) -> Vec<Digest>;
    /// The bytes of layer `i` (0-based).
    fn open(&self, i: usize) -> Result<LayerStream<'_>, Error>;
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Hardlink => "hardlink",
            Kind::Char => "char",
            Kind::Block => "block",
            Kind::Fifo => "fifo",
        }
    }
}

/// A path of the image as the last layer that wrote it left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 0-based index of the layer.
    pub layer: usize,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Bytes of a regular file (a hard link: its target's).
    pub size: u64,
    pub sha256: Option<Digest>,
    /// A symbolic link's target, or the path a hard link names.
    pub target: Option<String>,
}

/// A path a layer removed (a whiteout, an opaque folder, or a non-folder over a folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The layer that removed it.
    pub layer: usize,
    /// The layer that had written it.
    pub written_by: usize,
    /// The entry that removed it (`/etc/.wh.motd`, `/opt/.wh..wh..opq`, `/opt`).
    pub by: String,
}

/// The merged file system of an image's layers.
#[derive(Debug, Default)]
pub struct Tree {
    pub nodes: BTreeMap<String, Node>,
    pub removed: BTreeMap<String, Removal>,
    /// The dpkg database files, by path (whiteouts apply: see [`Tree::dpkg_files`]).
    dpkg: BTreeMap<String, (usize, String)>,
    dpkg_bytes: u64,
}

fn invalid(image: &str, why: String) -> Error {
    Error::Invalid {
        image: image.into(),
        why,
    }
}

/// `name` as an absolute, normalised path: `./`, `/` and empty components dropped; `..`,
/// NUL, an empty name (other than the root) or more than `MAX_NAME` bytes refused.
pub fn normalise(raw: &[u8]) -> Result<String, String> {
    if raw.len() > MAX_NAME {
        return Err(format!(
            "its name has {} bytes, more than {MAX_NAME}",
            raw.len()
        ));
    }
    if raw.contains(&0) {
        return Err("its name contains a NUL byte".into());
    }
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("its name contains `..`".into()),
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    Ok(if out.is_empty() { "/".into() } else { out })
}

/// Whether `path` is a dpkg database file kiln keeps, and its size limit.
fn dpkg_limit(path: &str) -> Option<u64> {
    if path == "/var/lib/dpkg/status" {
        return Some(MAX_DPKG_STATUS);
    }
    let info = path
        .strip_prefix("/var/lib/dpkg/info/")
        .is_some_and(|n| n.ends_with(".list") && !n.contains('/'));
    let status_d = path
        .strip_prefix("/var/lib/dpkg/status.d/")
        .is_some_and(|n| !n.contains('/'));
    (info || status_d).then_some(MAX_DPKG_FILE)
}

impl Tree {
    /// Reads every layer of `source`, bottom first.
    pub fn read(source: &dyn LayerSource) -> Result<Tree, Error> {
        let mut tree = Tree::default();
        for i in 0..source.digests().len() {
            tree.read_layer(source, i)?;
        }
        Ok(tree)
    }

    fn read_layer(&mut self, source: &dyn LayerSource, i: usize) -> Result<(), Error> {
        let image = source.name();
        let digest = source.digests()[i].clone();
        let LayerStream { mut raw, diff_id } = source.open(i)?;
        let fail = |e: io::Error| invalid(&image, format!("layer {} ({digest}): {e}", i + 1));
        let mut head = [0u8; 4];
        let got = read_head(&mut raw, &mut head).map_err(fail)?;
        let chained = io::Cursor::new(head[..got].to_vec()).chain(&mut raw);
        let decoded: Box<dyn Read + '_> = match head {
            [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(chained)),
            [0x28, 0xb5, 0x2f, 0xfd] => {
                return Err(invalid(
                    &image,
                    format!(
                        "layer {} ({digest}) is zstd-compressed, which kiln does not read yet",
                        i + 1
                    ),
                ))
            }
            _ => Box::new(chained),
        };
        let mut tar = match diff_id {
            Some(d) => Box::new(Verified::new(decoded, d, None)) as Box<dyn Read + '_>,
            None => decoded,
        };
        let applied = self.apply(i, &mut tar);
        // The rest of the stream (tar padding, the compressor's trailer): read to the end so
        // the digests are checked before anything of this layer is reported, and so a layer
        // that is not what its digest says is reported as that, not as a broken tar.
        let mut drained = io::copy(&mut tar, &mut io::sink()).map(|_| ());
        drop(tar);
        if drained.is_ok() {
            drained = io::copy(&mut raw, &mut io::sink()).map(|_| ());
        }
        if let (Err(_), Err(e)) = (&applied, &drained) {
            if e.kind() == io::ErrorKind::InvalidData {
                return Err(fail(io::Error::new(e.kind(), e.to_string())));
            }
        }
        applied.map_err(|why| invalid(&image, format!("layer {} ({digest}): {why}", i + 1)))?;
        drained.map_err(fail)?;
        Ok(())
    }

    /// Applies one layer's tar stream.
    fn apply(&mut self, layer: usize, r: &mut dyn Read) -> Result<(), String> {
        let mut a = tar::Archive::new(r);
        for entry in a.entries().map_err(|e| e.to_string())? {
            let mut entry = entry.map_err(|e| e.to_string())?;
            let path = normalise(&entry.path_bytes()).map_err(|why| {
                format!(
                    "entry {:?}: {why}",
                    String::from_utf8_lossy(&entry.path_bytes())
                )
            })?;
            let at = |why: String| format!("entry {path}: {why}");
            let (dir, base) = path.rsplit_once('/').unwrap_or(("", &path));
            let dir = if dir.is_empty() { "/" } else { dir };
            if base == ".wh..wh..opq" {
                self.remove_below(dir, layer, &path, false);
                continue;
            }
            if let Some(name) = base.strip_prefix(".wh.") {
                let gone = if dir == "/" {
                    format!("/{name}")
                } else {
                    format!("{dir}/{name}")
                };
                self.remove_below(&gone, layer, &path, true);
                continue;
            }
            let node = self.node_of(layer, &mut entry, &path).map_err(at)?;
            let Some(node) = node else { continue };
            // A non-folder over a folder (listed, or implied by its entries' names) hides
            // what lower layers put below it.
            if node.kind != Kind::Dir {
                self.remove_below(&path, layer, &path, false);
            }
            self.removed.remove(&path);
            self.nodes.insert(path, node);
            if self.nodes.len() > MAX_ENTRIES {
                return Err(format!("the image has more than {MAX_ENTRIES} entries"));
            }
        }
        Ok(())
    }

    /// Removes what lower layers wrote at `path` (when `itself`) and below it.
    fn remove_below(&mut self, path: &str, layer: usize, by: &str, itself: bool) {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let mut gone: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < layer)
            .map(|(k, _)| k.clone())
            .collect();
        if itself && self.nodes.get(path).is_some_and(|n| n.layer < layer) {
            gone.push(path.to_string());
        }
        for p in gone {
            if let Some(n) = self.nodes.remove(&p) {
                let removal = Removal {
                    layer,
                    written_by: n.layer,
                    by: by.to_string(),
                };
                self.removed.insert(p, removal);
            }
        }
    }

    /// The node an entry makes (hashing a regular file's bytes, keeping a dpkg file's text);
    /// `None` for entries that are no path (PAX global headers and the like).
    fn node_of<R: Read>(
        &mut self,
        layer: usize,
        e: &mut tar::Entry<'_, R>,
        path: &str,
    ) -> Result<Option<Node>, String> {
        use tar::EntryType as T;
        let h = e.header();
        let mode = h.mode().map_err(|e| e.to_string())? & 0o7777;
        let (mut uid, mut gid) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
        let kind = match h.entry_type() {
            T::Regular | T::Continuous => Kind::File,
            T::Directory => Kind::Dir,
            T::Symlink => Kind::Symlink,
            T::Link => Kind::Hardlink,
            T::Char => Kind::Char,
            T::Block => Kind::Block,
            T::Fifo => Kind::Fifo,
            _ => return Ok(None),
        };
        if let Ok(Some(pax)) = e.pax_extensions() {
            for ext in pax.flatten() {
                let v = ext.value().ok().and_then(|v| v.parse::<u64>().ok());
                match (ext.key().unwrap_or(""), v) {
                    ("uid", Some(v)) => uid = v,
                    ("gid", Some(v)) => gid = v,
                    _ => {}
                }
            }
        }
        let target = match kind {
            Kind::Symlink | Kind::Hardlink => {
                let t = e.link_name_bytes().ok_or("a link without a target")?;
                if t.len() > MAX_NAME || t.contains(&0) {
                    return Err("its link target is too long or contains NUL".into());
                }
                Some(String::from_utf8_lossy(&t).into_owned())
            }
            _ => None,
        };
        let mut node = Node {
            layer,
            kind,
            mode,
            uid,
            gid,
            size: 0,
            sha256: None,
            target,
        };
        match kind {
            Kind::File => self.read_file(layer, e, path, &mut node)?,
            Kind::Hardlink => self.hard_link(&mut node)?,
            _ => {}
        }
        Ok(Some(node))
    }

    /// A regular file: its size and SHA-256 (streamed), and its text when it is a dpkg file.
    fn read_file(
        &mut self,
        layer: usize,
        e: &mut dyn Read,
        path: &str,
        node: &mut Node,
    ) -> Result<(), String> {
        let Some(max) = dpkg_limit(path) else {
            let (d, n) = Digest::of_reader(e).map_err(|e| e.to_string())?;
            node.size = n;
            node.sha256 = Some(d);
            return Ok(());
        };
        let mut bytes = Vec::new();
        e.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > max {
            return Err(format!("the dpkg file has more than {max} bytes"));
        }
        self.dpkg_bytes += bytes.len() as u64;
        if self.dpkg_bytes > MAX_DPKG_TOTAL {
            return Err(format!(
                "the dpkg database has more than {MAX_DPKG_TOTAL} bytes"
            ));
        }
        node.size = bytes.len() as u64;
        node.sha256 = Some(Digest::of(&bytes));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.dpkg.insert(path.to_string(), (layer, text));
        Ok(())
    }

    /// A hard link: the size and digest of the entry it names (already in the tree).
    fn hard_link(&mut self, node: &mut Node) -> Result<(), String> {
        let t = node.target.as_deref().unwrap_or("");
        let t = normalise(t.as_bytes())?;
        if let Some(n) = self.nodes.get(&t).filter(|n| n.kind == Kind::File) {
            node.size = n.size;
            node.sha256 = n.sha256.clone();
        }
        node.target = Some(t);
        Ok(())
    }

    /// Whether `path` is in the merged file system: an entry, or a folder an entry's name
    /// implies (a layer need not list every parent folder).
    fn exists(&self, path: &str) -> Option<Option<&Node>> {
        if let Some(n) = self.nodes.get(path) {
            return Some(Some(n));
        }
        let prefix = format!("{path}/");
        let implied = path == "/"
            || self
                .nodes
                .range(prefix.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&prefix));
        implied.then_some(None)
    }

    /// Follows `path` as the kernel would inside the image: every symbolic link on the way
    /// (the last component's too when `follow_last`), at most 40, pushing each link's path on
    /// `links`. `Ok(path)` of what it leads to; `Err(path)` of the first component that is
    /// missing (or of the link that loops).
    pub fn follow(
        &self,
        path: &str,
        follow_last: bool,
        links: &mut Vec<String>,
    ) -> Result<String, String> {
        let target_of = |p: &str| {
            self.exists(p).map(|n| {
                n.filter(|n| n.kind == Kind::Symlink)
                    .map(|n| n.target.clone().unwrap_or_default())
            })
        };
        crate::types::follow_links(path, follow_last, target_of, |l| links.push(l.to_string()))
    }

    /// The dpkg database files the merged file system still holds, by path: a file whose last
    /// writer is not the layer that wrote the kept text (or one removed later) is left out.
    pub fn dpkg_files(&self) -> BTreeMap<String, &str> {
        self.dpkg
            .iter()
            .filter(|(p, (layer, _))| self.nodes.get(*p).is_some_and(|n| n.layer == *layer))
            .map(|(p, (_, text))| (p.clone(), text.as_str()))
            .collect()
    }
}

/// The layers of an image in a local store (`oci:`, `oci-archive:`, `docker-archive:`), each
/// streamed in place through the store's verified reader ([`super::inspect::Blobs`]); a
/// `docker save` archive's layer members are checked as below.
pub struct LocalLayers {
    store: Local,
    pub image: super::inspect::Inspected,
}

/// Where a [`LocalLayers`] image's blobs are.
enum Local {
    Layout(super::layout::Layout),
    Archive(super::archive::Archive),
}

impl LocalLayers {
    /// An `oci:` layout's image tagged `tag`.
    pub fn layout(dir: &std::path::Path, tag: &str, platform: Option<&str>) -> Result<Self, Error> {
        Ok(LocalLayers {
            store: Local::Layout(super::layout::Layout::open(dir)?),
            image: super::inspect::layout(dir, tag, platform)?,
        })
    }

    /// An `oci-archive:`'s image tagged `tag`.
    pub fn oci_archive(
        file: &std::path::Path,
        tag: &str,
        platform: Option<&str>,
    ) -> Result<Self, Error> {
        Ok(LocalLayers {
            store: Local::Archive(super::archive::Archive::scan(file)?),
            image: super::inspect::oci_archive(file, tag, platform)?,
        })
    }

    /// A `docker save` / `podman save` archive's (first) image.
    pub fn docker(file: &std::path::Path) -> Result<Self, Error> {
        Ok(LocalLayers {
            store: Local::Archive(super::archive::Archive::scan_with_links(file)?),
            image: super::inspect::docker_archive(file)?,
        })
    }
}

impl LayerSource for LocalLayers {
    fn name(&self) -> String {
        self.image.image.clone()
    }
    fn digests(&self) -> Vec<Digest> {
        self.image.layers.iter().map(|l| l.digest.clone()).collect()
    }
    fn open(&self, i: usize) -> Result<LayerStream<'_>, Error> {
        use super::inspect::Blobs;
        let l = &self.image.layers[i];
        let (archive, member) = match (&self.store, &l.member) {
            (Local::Archive(a), Some(m)) => (a, m),
            (store, _) => {
                let blobs: &dyn Blobs = match store {
                    Local::Layout(layout) => layout,
                    Local::Archive(a) => a,
                };
                return Ok(LayerStream {
                    raw: blobs.stream_blob(&l.digest, Some(l.size))?,
                    diff_id: None,
                });
            }
        };
        // docker save: the config's diff_id checks the uncompressed tar; without one, the
        // digest the member's name spells checks its bytes.
        let missing = || {
            invalid(
                &self.name(),
                format!("it has no {member} (layer {})", i + 1),
            )
        };
        let (r, size) = archive.stream(member)?.ok_or_else(missing)?;
        if let Some(d) = &l.diff_id {
            return Ok(LayerStream {
                raw: Box::new(r),
                diff_id: Some(d.clone()),
            });
        }
        let d = super::inspect::digest_in_name(member).ok_or_else(|| {
            invalid(
                &self.name(),
                format!("layer {} ({member}) has no digest to check", i + 1),
            )
        })?;
        Ok(LayerStream {
            raw: Box::new(Verified::new(r, d, Some(size))),
            diff_id: None,
        })
    }
}

/// Reads up to `buf.len()` bytes (fewer only at the end of the stream).
fn read_head(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    struct Mem(Vec<Vec<u8>>);

    impl LayerSource for Mem {
        fn name(&self) -> String {
            "mem".into()
        }
        fn digests(&self) -> Vec<Digest> {
            self.0.iter().map(|l| Digest::of(l)).collect()
        }
        fn open(&self, i: usize) -> Result<LayerStream<'_>, Error> {
            let d = Digest::of(&self.0[i]);
            Ok(LayerStream {
                raw: Box::new(Verified::new(&self.0[i][..], d, None)),
                diff_id: None,
            })
        }
    }

    #[test]
    fn whiteouts_and_opaque_folders_remove_what_lower_layers_wrote() {
        use tar::EntryType as T;
        let one = layer(&[
            ("etc/", T::Directory, b"", ""),
            ("etc/motd", T::Regular, b"hi", ""),
            ("opt/a/x", T::Regular, b"x", ""),
            ("srv/f", T::Regular, b"f", ""),
        ]);
        let two = layer(&[
            ("etc/.wh.motd", T::Regular, b"", ""),
            ("opt/a/.wh..wh..opq", T::Regular, b"", ""),
            ("opt/a/y", T::Regular, b"y", ""),
            ("srv", T::Symlink, b"", "opt"),
        ]);
        let t = Tree::read(&Mem(vec![one, two])).unwrap();
        assert_eq!(t.removed["/etc/motd"].layer, 1);
        assert_eq!(t.removed["/etc/motd"].written_by, 0);
        assert_eq!(t.removed["/opt/a/x"].by, "/opt/a/.wh..wh..opq");
        assert_eq!(t.nodes["/opt/a/y"].layer, 1);
        assert!(!t.nodes.contains_key("/srv/f"));
        assert_eq!(t.removed["/srv/f"].by, "/srv");
        assert_eq!(t.nodes["/etc"].kind, Kind::Dir);
        assert_eq!(t.nodes["/srv"].target.as_deref(), Some("opt"));
    }

    #[test]
    fn a_layer_that_does_not_match_its_digest_is_refused() {
        use tar::EntryType as T;
        let l = layer(&[("a", T::Regular, b"a", "")]);
        struct Lying(Vec<u8>);
        impl LayerSource for Lying {
            fn name(&self) -> String {
                "lying".into()
            }
            fn digests(&self) -> Vec<Digest> {
                vec![Digest::of(b"other")]
            }
            fn open(&self, _: usize) -> Result<LayerStream<'_>, Error> {
                Ok(LayerStream {
                    raw: Box::new(Verified::new(&self.0[..], Digest::of(b"other"), None)),
                    diff_id: None,
                })
            }
        }
        let e = Tree::read(&Lying(l)).unwrap_err().to_string();
        assert!(e.contains("does not match its digest"), "{e}");
    }

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(normalise(b"./usr//lib/").unwrap(), "/usr/lib");
        assert_eq!(normalise(b"./").unwrap(), "/");
        assert!(normalise(b"usr/../etc").unwrap_err().contains(".."));
        assert!(normalise(&[b'a'; 5000]).is_err());
    }
}
