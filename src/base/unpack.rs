//! Applies a base image's layers, in order, to a folder: the merged root file system.
//!
//! Every layer is streamed (blob → digest check → gunzip → diff_id check → tar), never held in
//! memory. Entry names are normalised to [`ImagePath`]s (`..` refused); every parent of an
//! entry must be a real folder inside the root (checked with `symlink_metadata`, so nothing is
//! ever written through a symbolic link); files are created with `O_EXCL` after whatever was
//! there is removed. Hard links must name an earlier regular file of the root. Devices and
//! FIFOs are recorded, not created; setuid/setgid bits are recorded, not set: on disk files
//! are 0644 or 0755 and folders 0755. Whiteouts (`.wh.NAME`, `.wh..wh..opq`) remove what lower
//! layers wrote and are never recorded.

use super::{BaseFile, BaseKind, Error};
use crate::digest::{Algorithm, Digest, Hasher, Sha1};
use crate::oci::Descriptor;
use crate::types::ImagePath;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// At most this many tar entries over all layers of a base.
pub const MAX_ENTRIES: usize = 1_000_000;
/// At most this many bytes of file content over all layers of a base (a layer that inflates
/// beyond it, a gzip bomb, is refused before its file is written).
pub const MAX_BYTES: u64 = 64 << 30;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// A reader that hashes (in a digest's algorithm) and counts what passes through.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(algorithm),
            count: 0,
        }
    }

    pub(crate) fn finish(self) -> (Digest, u64) {
        (self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// One path of the merged file system while layers are applied.
#[derive(Clone, Debug)]
struct Rec {
    kind: BaseKind,
    mode: u32,
    uid: u32,
    gid: u32,
    layer: usize,
}

/// The merged view so far and the folder it is written to.
pub(crate) struct Unpacker {
    root: PathBuf,
    /// Keyed by the path without its leading `/` (so byte order is path order).
    entries: BTreeMap<String, Rec>,
    seen: usize,
    /// File bytes written so far (at most [`MAX_BYTES`]).
    written: u64,
}

/// How a layer's blob is compressed.
enum Compression {
    None,
    Gzip,
}

fn compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        _ => None,
    }
}

/// The context of an entry's error: layer index and entry name.
struct At<'a> {
    layer: usize,
    digest: &'a Digest,
    entry: &'a str,
}

impl At<'_> {
    fn err(&self, why: impl Into<String>) -> Error {
        Error::Entry {
            layer: self.layer,
            digest: self.digest.clone(),
            entry: crate::digest::shorten(self.entry),
            why: why.into(),
        }
    }
}

impl Unpacker {
    /// An unpacker writing into `root` (an empty folder kiln owns).
    pub(crate) fn new(root: &Path) -> Unpacker {
        Unpacker {
            root: root.to_path_buf(),
            entries: BTreeMap::new(),
            seen: 0,
            written: 0,
        }
    }

    /// The merged file list, sorted by path bytes.
    pub(crate) fn files(self) -> Result<Vec<BaseFile>, Error> {
        self.entries
            .into_iter()
            .map(|(p, r)| {
                let path = ImagePath::parse(&format!("/{p}")).map_err(|why| Error::Internal {
                    what: format!("unpacked path {p:?} {why}"),
                })?;
                Ok(BaseFile {
                    path,
                    kind: r.kind,
                    mode: r.mode,
                    uid: r.uid,
                    gid: r.gid,
                    layer: r.layer,
                })
            })
            .collect()
    }

    /// Applies layer `index` (`desc`, read from `blob`), checking the blob against the
    /// descriptor's digest and size and the uncompressed tar against `diff_id`.
    pub(crate) fn apply(
        &mut self,
        index: usize,
        desc: &Descriptor,
        diff_id: &Digest,
        blob: impl Read,
    ) -> Result<(), Error> {
        let comp = compression(&desc.media_type).ok_or_else(|| Error::LayerType {
            digest: desc.digest.clone(),
            media_type: crate::digest::shorten(&desc.media_type),
        })?;
        let mut outer = HashingReader::new(blob.take(desc.size), desc.digest.algorithm());
        {
            let plain: Box<dyn Read + '_> = match comp {
                Compression::None => Box::new(&mut outer),
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut outer)),
            };
            let mut inner = HashingReader::new(plain, diff_id.algorithm());
            self.entries_of(index, desc, &mut inner)?;
            io::copy(&mut inner, &mut io::sink()).map_err(|e| layer_io(desc, e))?;
            let (actual, _) = inner.finish();
            if actual != *diff_id {
                return Err(Error::DiffId {
                    digest: desc.digest.clone(),
                    expected: diff_id.clone(),
                    actual,
                });
            }
        }
        io::copy(&mut outer, &mut io::sink()).map_err(|e| layer_io(desc, e))?;
        let (actual, size) = outer.finish();
        if size != desc.size || actual != desc.digest {
            return Err(Error::LayerDigest {
                digest: desc.digest.clone(),
                actual,
                size,
                expected_size: desc.size,
            });
        }
        Ok(())
    }

    fn entries_of(&mut self, index: usize, desc: &Descriptor, r: impl Read) -> Result<(), Error> {
        let mut archive = tar::Archive::new(r);
        let entries = archive.entries().map_err(|e| layer_io(desc, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| layer_io(desc, e))?;
            self.seen += 1;
            if self.seen > MAX_ENTRIES {
                return Err(Error::TooManyEntries {
                    digest: desc.digest.clone(),
                    max: MAX_ENTRIES,
                });
            }
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            let at = At {
                layer: index,
                digest: &desc.digest,
                entry: &name,
            };
            if std::str::from_utf8(&raw).is_err() {
                return Err(at.err("its name is not UTF-8"));
            }
            self.entry(&at, &mut entry)?;
        }
        Ok(())
    }

    /// One tar entry.
    fn entry<R: Read>(&mut self, at: &At<'_>, entry: &mut tar::Entry<'_, R>) -> Result<(), Error> {
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(());
        }
        let Some(rel) = normalise(at.entry).map_err(|why| at.err(why))? else {
            // The root itself: its metadata is not recorded (`files` has no `/`).
            return Ok(());
        };
        let (parent, file_name) = match rel.rsplit_once('/') {
            Some((p, f)) => (p, f),
            None => ("", rel.as_str()),
        };
        if file_name == OPAQUE {
            return self.opaque(at, parent);
        }
        if let Some(name) = file_name.strip_prefix(WHITEOUT) {
            let target = if parent.is_empty() {
                name.to_string()
            } else {
                format!("{parent}/{name}")
            };
            return self.whiteout(at, &target);
        }
        self.make_parents(at, &rel)?;
        let (pax_uid, pax_gid) = pax_ids(at, entry)?;
        let h = entry.header();
        let mode = h.mode().map_err(|e| at.err(format!("bad mode: {e}")))? & 0o7777;
        let uid = id(pax_uid.map_or_else(|| h.uid(), Ok), at, "uid")?;
        let gid = id(pax_gid.map_or_else(|| h.gid(), Ok), at, "gid")?;
        let rec = |kind| Rec {
            kind,
            mode,
            uid,
            gid,
            layer: at.layer,
        };
        match kind {
            T::Directory => self.dir(at, &rel, rec(BaseKind::Dir)),
            T::Regular | T::Continuous => {
                let size = entry
                    .header()
                    .size()
                    .map_err(|e| at.err(format!("bad size: {e}")))?;
                self.written = self.written.saturating_add(size);
                if self.written > MAX_BYTES {
                    return Err(at.err(format!(
                        "the base's files hold more than {} GiB: kiln refuses a base that large",
                        MAX_BYTES >> 30
                    )));
                }
                let r = self.file(at, &rel, &mut entry.take(size), mode)?;
                self.put(rel, rec(r));
                Ok(())
            }
            T::Symlink => {
                let target = link_name(at, entry)?;
                self.replace(at, &rel)?;
                let p = self.root.join(&rel);
                fs_err::os::unix::fs::symlink(&target, &p).map_err(|e| write_err(&p, e))?;
                self.put(rel, rec(BaseKind::Symlink { target }));
                Ok(())
            }
            T::Link => self.hard_link(at, &rel, entry),
            T::Char | T::Block | T::Fifo => {
                self.replace(at, &rel)?;
                let what = match kind {
                    T::Char => "character device",
                    T::Block => "block device",
                    _ => "fifo",
                };
                self.put(rel, rec(BaseKind::Other(what)));
                Ok(())
            }
            other => Err(at.err(format!("unsupported tar entry type {other:?}"))),
        }
    }

    fn put(&mut self, rel: String, rec: Rec) {
        self.entries.insert(rel, rec);
    }

    /// Creates every missing parent folder of `rel` (recording it as 0755 root:root), and
    /// refuses a parent that is anything but a real folder.
    fn make_parents(&mut self, at: &At<'_>, rel: &str) -> Result<(), Error> {
        let mut end = 0;
        while let Some(i) = rel[end..].find('/') {
            let parent = &rel[..end + i];
            end += i + 1;
            let p = self.root.join(parent);
            match fs_err::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => continue,
                Ok(m) => {
                    let what = if m.file_type().is_symlink() {
                        "a symbolic link"
                    } else {
                        "not a folder"
                    };
                    return Err(at.err(format!(
                        "its parent /{parent} is {what} (kiln never writes through one)"
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(read_err(&p, e)),
            }
            fs_err::create_dir(&p).map_err(|e| write_err(&p, e))?;
            set_mode(&p, 0o755)?;
            let rec = Rec {
                kind: BaseKind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                layer: at.layer,
            };
            self.entries.entry(parent.to_string()).or_insert(rec);
        }
        Ok(())
    }

    /// Removes whatever is at `rel` (on disk and recorded, with everything under it).
    fn replace(&mut self, _at: &At<'_>, rel: &str) -> Result<(), Error> {
        let p = self.root.join(rel);
        match fs_err::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs_err::remove_dir_all(&p).map_err(|e| write_err(&p, e))?,
            Ok(_) => fs_err::remove_file(&p).map_err(|e| write_err(&p, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(&p, e)),
        }
        self.entries.remove(rel);
        let prefix = format!("{rel}/");
        let under: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in under {
            self.entries.remove(&k);
        }
        Ok(())
    }

    fn dir(&mut self, at: &At<'_>, rel: &str, rec: Rec) -> Result<(), Error> {
        let p = self.root.join(rel);
        let is_dir = matches!(fs_err::symlink_metadata(&p), Ok(m) if m.is_dir());
        if !is_dir {
            self.replace(at, rel)?;
            fs_err::create_dir(&p).map_err(|e| write_err(&p, e))?;
            set_mode(&p, 0o755)?;
        }
        self.put(rel.to_string(), rec);
        Ok(())
    }

    /// Writes a regular file's bytes (hashing them); returns its kind.
    fn file(
        &mut self,
        at: &At<'_>,
        rel: &str,
        data: &mut impl Read,
        mode: u32,
    ) -> Result<BaseKind, Error> {
        self.replace(at, rel)?;
        let p = self.root.join(rel);
        let f = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| write_err(&p, e))?;
        let mut w = DualHash::new(io::BufWriter::new(f));
        io::copy(data, &mut w).map_err(|e| at.err(format!("cannot read its data: {e}")))?;
        let (sha256, sha1, size, inner) = w.finish();
        inner
            .into_inner()
            .map_err(|e| write_err(&p, e.into_error()))?;
        set_mode(&p, if mode & 0o111 != 0 { 0o755 } else { 0o644 })?;
        Ok(BaseKind::File { size, sha256, sha1 })
    }

    fn hard_link<R: Read>(
        &mut self,
        at: &At<'_>,
        rel: &str,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), Error> {
        let target = link_name(at, entry)?;
        let target = normalise(&target)
            .map_err(|why| at.err(format!("its link target {why}")))?
            .ok_or_else(|| at.err("it is a hard link to the root folder"))?;
        let rec = match self.entries.get(&target) {
            Some(
                r @ Rec {
                    kind: BaseKind::File { .. },
                    ..
                },
            ) => r.clone(),
            _ => {
                return Err(at.err(format!(
                    "it is a hard link to /{}, which is not an earlier regular file",
                    crate::digest::shorten(&target)
                )))
            }
        };
        if target == rel {
            return Ok(());
        }
        let from = self.root.join(&target);
        if !matches!(fs_err::symlink_metadata(&from), Ok(m) if m.is_file()) {
            return Err(at.err("its link target is not a regular file on disk"));
        }
        self.replace(at, rel)?;
        let p = self.root.join(rel);
        fs_err::hard_link(&from, &p).map_err(|e| write_err(&p, e))?;
        self.put(
            rel.to_string(),
            Rec {
                layer: at.layer,
                ..rec
            },
        );
        Ok(())
    }

    /// `.wh.NAME`: removes NAME (and what is under it) written by lower layers.
    fn whiteout(&mut self, at: &At<'_>, target: &str) -> Result<(), Error> {
        if target.is_empty() || target.ends_with('/') || target.contains("/.wh.") {
            return Err(at.err("it is not a valid whiteout"));
        }
        self.remove_lower(at, target, true)
    }

    /// `DIR/.wh..wh..opq`: DIR keeps only what this layer wrote.
    fn opaque(&mut self, at: &At<'_>, dir: &str) -> Result<(), Error> {
        if dir.is_empty() {
            let tops: Vec<String> = (self.entries.keys())
                .filter(|k| !k.contains('/'))
                .cloned()
                .collect();
            for t in tops {
                self.remove_lower(at, &t, true)?;
            }
            return Ok(());
        }
        self.remove_lower(at, dir, false)
    }

    /// Removes the entries under `rel` (and `rel` itself when `itself`) that lower layers
    /// wrote; a folder still holding this layer's entries stays.
    fn remove_lower(&mut self, at: &At<'_>, rel: &str, itself: bool) -> Result<(), Error> {
        if !self.parent_is_dir(rel) {
            return Ok(());
        }
        let prefix = format!("{rel}/");
        let mut keys: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        if itself && self.entries.contains_key(rel) {
            keys.insert(0, rel.to_string());
        }
        for k in keys.into_iter().rev() {
            let Some(r) = self.entries.get(&k) else {
                continue;
            };
            if r.layer >= at.layer {
                continue;
            }
            let sub = format!("{k}/");
            let keeps = self
                .entries
                .range(sub.clone()..)
                .next()
                .is_some_and(|(c, _)| c.starts_with(&sub));
            if keeps {
                continue;
            }
            let p = self.root.join(&k);
            let removed = if matches!(r.kind, BaseKind::Dir) {
                fs_err::remove_dir_all(&p)
            } else {
                fs_err::remove_file(&p)
            };
            match removed {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write_err(&p, e)),
                _ => {}
            }
            self.entries.remove(&k);
        }
        Ok(())
    }

    /// True when every parent of `rel` is a real folder on disk (a whiteout under a symbolic
    /// link or a missing folder has nothing to remove).
    fn parent_is_dir(&self, rel: &str) -> bool {
        let mut p = self.root.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            p.push(part);
            if !matches!(fs_err::symlink_metadata(&p), Ok(m) if m.is_dir()) {
                return false;
            }
        }
        true
    }
}

/// An entry name as a path relative to the root (`None` for the root itself); `..` refused,
/// `./` and leading `/` dropped, checked against [`ImagePath`]'s limits.
fn normalise(name: &str) -> Result<Option<String>, String> {
    if name.split('/').any(|c| c == "..") {
        return Err("contains `..`: a layer may not write outside its root".into());
    }
    let p = ImagePath::parse(&format!("/{name}"))?;
    if p.is_root() {
        return Ok(None);
    }
    Ok(Some(p.relative().to_string()))
}

fn link_name<R: Read>(at: &At<'_>, entry: &tar::Entry<'_, R>) -> Result<String, Error> {
    let raw = entry
        .link_name_bytes()
        .ok_or_else(|| at.err("it is a link without a target"))?;
    let s = std::str::from_utf8(&raw).map_err(|_| at.err("its link target is not UTF-8"))?;
    if s.is_empty() || s.contains('\0') || s.len() > crate::types::MAX_PATH {
        return Err(at.err("its link target is empty, too long or contains NUL"));
    }
    Ok(s.to_string())
}

/// The `uid` and `gid` of the entry's PAX header (Go's archive/tar writes large ids there).
fn pax_ids<R: Read>(
    at: &At<'_>,
    entry: &mut tar::Entry<'_, R>,
) -> Result<(Option<u64>, Option<u64>), Error> {
    let mut out = (None, None);
    let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| at.err(format!("bad PAX header: {e}")))?
    else {
        return Ok(out);
    };
    for ext in exts {
        let ext = ext.map_err(|e| at.err(format!("bad PAX header: {e}")))?;
        let slot = match ext.key() {
            Ok("uid") => &mut out.0,
            Ok("gid") => &mut out.1,
            _ => continue,
        };
        let v = ext.value().ok().and_then(|v| v.parse::<u64>().ok());
        *slot = Some(v.ok_or_else(|| at.err("its PAX uid or gid is not a number"))?);
    }
    Ok(out)
}

fn id(v: io::Result<u64>, at: &At<'_>, what: &str) -> Result<u32, Error> {
    v.ok()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| at.err(format!("its {what} is not a 32-bit number")))
}

fn set_mode(p: &Path, mode: u32) -> Result<(), Error> {
    fs_err::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|e| write_err(p, e))
}

fn write_err(p: &Path, e: io::Error) -> Error {
    Error::Write {
        path: p.to_path_buf(),
        source: e,
    }
}

fn read_err(p: &Path, e: io::Error) -> Error {
    Error::Read {
        path: p.to_path_buf(),
        source: e,
    }
}

fn layer_io(desc: &Descriptor, e: io::Error) -> Error {
    Error::Layer {
        digest: desc.digest.clone(),
        source: e,
    }
}

/// A writer computing SHA-256 and SHA-1 of what passes through.
struct DualHash<W> {
    inner: W,
    sha256: Hasher,
    sha1: sha1::Sha1,
    count: u64,
}

impl<W: Write> DualHash<W> {
    fn new(inner: W) -> Self {
        use sha1::Digest as _;
        DualHash {
            inner,
            sha256: Hasher::new(Algorithm::Sha256),
            sha1: sha1::Sha1::new(),
            count: 0,
        }
    }

    fn finish(self) -> (Digest, Sha1, u64, W) {
        use sha1::Digest as _;
        let s1 = Sha1(self.sha1.finalize().into());
        (self.sha256.finish(), s1, self.count, self.inner)
    }
}

impl<W: Write> Write for DualHash<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha1::Digest as _;
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        self.sha1.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
