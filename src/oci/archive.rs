//! Tar archives of images (`oci-archive:`, and the `kiln/` files of a `docker-archive:`), read
//! as hostile input.
//!
//! Owns: checking every entry before anything is written or trusted — a name with `..`, an
//! absolute name, a symbolic or hard link, a device, a FIFO, a sparse file or a name given twice
//! is refused with the entry's name; unpacking an oci-archive's layout into a folder (only
//! `oci-layout`, `index.json` and `blobs/ALG/HEX` with a valid digest name; each blob hashed on
//! its way out and refused when it does not match its name); and [`Archive`], an index of the
//! entries' positions, so that single files and blobs are read in place by seeking, never by
//! unpacking the whole archive.
//! Does not own: writing archives (`image::output`), what the layout means (`layout`, callers).
//! Invariant: nothing is written outside the destination folder, and nothing unpacked is kept
//! unless it hashes to its name.

use super::{Error, Index, MAX_INDEX, MAX_LAYOUT_FILE};
use crate::digest::{Digest, Hasher};
use std::collections::BTreeMap;
use std::io::{self as io, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Error>;

/// The normalised name of an entry (`./a//b` → `a/b`; a folder's trailing `/` dropped), or why
/// it is refused.
pub fn entry_name(raw: &[u8]) -> std::result::Result<String, String> {
    let name = std::str::from_utf8(raw).map_err(|_| "the name is not UTF-8".to_string())?;
    if name.starts_with('/') {
        return Err("the name is absolute".into());
    }
    if name.contains('\0') {
        return Err("the name holds a NUL byte".into());
    }
    let mut parts = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => return Err("the name has a `..` component".into()),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The digest a `blobs/ALG/HEX` name stands for.
fn blob_digest(name: &str) -> Option<Digest> {
    let (alg, hex) = name.strip_prefix("blobs/")?.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}"))
}

/// The kind of an entry kiln accepts, or why it is refused.
fn entry_kind(t: tar::EntryType) -> std::result::Result<Option<bool>, &'static str> {
    use tar::EntryType as T;
    match t {
        T::Regular | T::Continuous => Ok(Some(true)),
        T::Directory => Ok(Some(false)),
        // Global PAX headers carry no file.
        T::XGlobalHeader => Ok(None),
        T::Symlink => Err("it is a symbolic link; an image archive holds plain files only"),
        T::Link => Err("it is a hard link; an image archive holds plain files only"),
        T::Char | T::Block => Err("it is a device"),
        T::Fifo => Err("it is a named pipe"),
        T::GNUSparse => Err("it is a sparse file"),
        _ => Err("it is of an unknown tar entry type"),
    }
}

/// One checked entry: its name and whether it is a file (else a folder).
fn check_entry<R: Read>(
    file: &Path,
    e: &tar::Entry<'_, R>,
    seen: &mut BTreeMap<String, ()>,
) -> Result<Option<(String, bool)>> {
    let raw = e.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let bad = |why: String| Error::Entry {
        path: file.to_path_buf(),
        entry: crate::digest::shorten(&shown),
        why,
    };
    let is_file = match entry_kind(e.header().entry_type()).map_err(|w| bad(w.into()))? {
        None => return Ok(None),
        Some(f) => f,
    };
    let name = entry_name(&raw).map_err(bad)?;
    if name.is_empty() {
        return Ok(None);
    }
    if seen.insert(name.clone(), ()).is_some() && is_file {
        return Err(bad("the archive holds it twice".into()));
    }
    if is_file && name.starts_with("blobs/") && blob_digest(&name).is_none() {
        return Err(bad("it is not a blob named by a valid digest".into()));
    }
    Ok(Some((name, is_file)))
}

/// A symbolic link entry: its normalised name and the entry it names, resolved against the
/// link's folder; refused when absolute or leaving the archive.
fn link_of<R: Read>(file: &Path, e: &tar::Entry<'_, R>) -> Result<(String, String)> {
    let raw = e.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let bad = |why: String| Error::Entry {
        path: file.to_path_buf(),
        entry: crate::digest::shorten(&shown),
        why,
    };
    let name = entry_name(&raw).map_err(bad)?;
    let target = e
        .link_name_bytes()
        .ok_or_else(|| bad("a symbolic link without a target".into()))?;
    let target = std::str::from_utf8(&target).map_err(|_| bad("its target is not UTF-8".into()))?;
    if target.starts_with('/') {
        return Err(bad("it is a symbolic link to an absolute path".into()));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts
                    .pop()
                    .ok_or_else(|| bad("it is a symbolic link out of the archive".into()))?;
            }
            p => parts.push(p),
        }
    }
    let resolved = parts.join("/");
    Ok((name, resolved))
}

fn not_tar(file: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |_| Error::NotTar {
        path: file.to_path_buf(),
    }
}

fn open(file: &Path) -> Result<fs_err::File> {
    fs_err::File::open(file).map_err(|e| Error::Read {
        path: file.to_path_buf(),
        source: e,
    })
}

/// Unpacks the layout an oci-archive holds into `dest` (an empty folder kiln made), streaming;
/// other plain entries are skipped. Every blob is checked against its name.
pub fn unpack(file: &Path, dest: &Path) -> Result<()> {
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |e| Error::Write { path: p, source: e }
    };
    let mut a = tar::Archive::new(std::io::BufReader::new(open(file)?));
    let mut seen = BTreeMap::new();
    for entry in a.entries().map_err(not_tar(file))? {
        let mut entry = entry.map_err(not_tar(file))?;
        let Some((name, is_file)) = check_entry(file, &entry, &mut seen)? else {
            continue;
        };
        if !is_file {
            continue;
        }
        let bad = |why: String| Error::Entry {
            path: file.to_path_buf(),
            entry: name.clone(),
            why,
        };
        let (out, digest, max) = match name.as_str() {
            "index.json" => (dest.join("index.json"), None, MAX_INDEX),
            "oci-layout" => (dest.join("oci-layout"), None, MAX_LAYOUT_FILE),
            n if n.starts_with("blobs/") => {
                let d = blob_digest(n)
                    .ok_or_else(|| bad("it is not a blob named by a valid digest".into()))?;
                (dest.join(d.blob_path()), Some(d), u64::MAX)
            }
            _ => continue,
        };
        if entry.size() > max {
            return Err(bad(format!(
                "it has {} bytes, more than {max}",
                entry.size()
            )));
        }
        if let Some(parent) = out.parent() {
            fs_err::create_dir_all(parent).map_err(werr(parent))?;
        }
        let mut w = std::io::BufWriter::new(
            fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .map_err(werr(&out))?,
        );
        let mut hasher = digest.as_ref().map(|d| Hasher::new(d.algorithm()));
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = entry.read(&mut buf).map_err(not_tar(file))?;
            if n == 0 {
                break;
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..n]);
            }
            w.write_all(&buf[..n]).map_err(werr(&out))?;
        }
        w.flush().map_err(werr(&out))?;
        if let (Some(d), Some(h)) = (digest, hasher) {
            let actual = h.finish();
            if actual != d {
                return Err(bad(format!("its bytes hash to {actual}, not to its name")));
            }
        }
    }
    Ok(())
}

/// An archive's entries by name, read in place.
pub struct Archive {
    file: PathBuf,
    /// name → (offset of the data, size)
    entries: BTreeMap<String, (u64, u64)>,
}

impl Archive {
    /// Reads the headers of every entry (checking each), not their data.
    pub fn scan(file: &Path) -> Result<Archive> {
        Archive::scan_inner(file, false)
    }

    /// As [`Archive::scan`], for a `docker save` archive, whose `ID/layer.tar` entries may be
    /// symbolic links to another entry (skopeo, podman): such a link, relative and resolved
    /// inside the archive to a plain file entry, reads as that entry; any other link is
    /// refused.
    pub fn scan_with_links(file: &Path) -> Result<Archive> {
        Archive::scan_inner(file, true)
    }

    fn scan_inner(file: &Path, allow_links: bool) -> Result<Archive> {
        let mut a = tar::Archive::new(std::io::BufReader::new(open(file)?));
        let mut seen = BTreeMap::new();
        let mut entries = BTreeMap::new();
        let mut links: Vec<(String, String)> = Vec::new();
        for entry in a.entries().map_err(not_tar(file))? {
            let entry = entry.map_err(not_tar(file))?;
            if allow_links && entry.header().entry_type() == tar::EntryType::Symlink {
                links.push(link_of(file, &entry)?);
                continue;
            }
            if let Some((name, true)) = check_entry(file, &entry, &mut seen)? {
                entries.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
        for (name, target) in links {
            let bad = |why: &str| Error::Entry {
                path: file.to_path_buf(),
                entry: crate::digest::shorten(&name),
                why: why.into(),
            };
            if entries.contains_key(&name) || seen.contains_key(&name) {
                return Err(bad("the archive holds it twice"));
            }
            let at = *entries
                .get(&target)
                .ok_or_else(|| bad("it is a symbolic link to no plain file of the archive"))?;
            entries.insert(name, at);
        }
        let len = fs_err::metadata(file)
            .map_err(|e| Error::Read {
                path: file.to_path_buf(),
                source: e,
            })?
            .len();
        if entries
            .values()
            .any(|&(off, size)| off.saturating_add(size) > len)
        {
            return Err(Error::NotTar {
                path: file.to_path_buf(),
            });
        }
        Ok(Archive {
            file: file.to_path_buf(),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// The entry `name` (at most `max` bytes), or `None` when the archive has none.
    pub fn read(&self, name: &str, max: u64, what: &'static str) -> Result<Option<Vec<u8>>> {
        let Some(&(off, size)) = self.entries.get(name) else {
            return Ok(None);
        };
        if size > max {
            return Err(Error::TooLarge {
                path: self.file.join(name),
                what,
                size,
                max,
            });
        }
        let io = |e| Error::Read {
            path: self.file.clone(),
            source: e,
        };
        let mut f = open(&self.file)?;
        f.seek(SeekFrom::Start(off)).map_err(io)?;
        let mut v = Vec::with_capacity(size as usize);
        f.take(size).read_to_end(&mut v).map_err(io)?;
        if v.len() as u64 != size {
            return Err(Error::NotTar {
                path: self.file.clone(),
            });
        }
        Ok(Some(v))
    }

    /// The entry `name` as a stream read in place, with its size; `None` when the archive has
    /// none.
    pub fn stream(&self, name: &str) -> Result<Option<(std::io::Take<fs_err::File>, u64)>> {
        let Some(&(off, size)) = self.entries.get(name) else {
            return Ok(None);
        };
        let mut f = open(&self.file)?;
        f.seek(SeekFrom::Start(off)).map_err(|e| Error::Read {
            path: self.file.clone(),
            source: e,
        })?;
        Ok(Some((f.take(size), size)))
    }

    /// The blob `d` as a stream read in place, hashed while read: the reader fails at its end
    /// when the bytes do not match the digest or `size`.
    pub fn stream_blob(
        &self,
        d: &Digest,
        size: Option<u64>,
    ) -> Result<super::layers::Verified<std::io::Take<fs_err::File>>> {
        let (r, _) = self.stream(&d.blob_path())?.ok_or_else(|| Error::Missing {
            layout: self.file.clone(),
            digest: d.clone(),
        })?;
        Ok(super::layers::Verified::new(r, d.clone(), size))
    }

    /// The size of the entry `name`, when the archive has it.
    pub fn size(&self, name: &str) -> Option<u64> {
        self.entries.get(name).map(|&(_, size)| size)
    }

    /// Whether the entry `name` starts with `magic` (reads only that many bytes).
    pub fn starts_with(&self, name: &str, magic: &[u8]) -> Result<bool> {
        let Some(&(off, size)) = self.entries.get(name) else {
            return Ok(false);
        };
        if size < magic.len() as u64 {
            return Ok(false);
        }
        let io = |e| Error::Read {
            path: self.file.clone(),
            source: e,
        };
        let mut f = open(&self.file)?;
        f.seek(SeekFrom::Start(off)).map_err(io)?;
        let mut head = vec![0u8; magic.len()];
        f.read_exact(&mut head).map_err(io)?;
        Ok(head == magic)
    }

    /// The archive's `index.json`.
    pub fn index(&self) -> Result<Index> {
        let bytes = self
            .read("index.json", MAX_INDEX, "an index.json")?
            .ok_or_else(|| Error::NotALayout {
                path: self.file.clone(),
                why: "the archive has no index.json".into(),
            })?;
        Index::parse(&bytes).map_err(|why| Error::Invalid {
            path: self.file.join("index.json"),
            why,
        })
    }

    /// The blob `d`, checked against its size and digest.
    pub fn read_blob(&self, d: &Digest, size: Option<u64>, max: u64) -> Result<Vec<u8>> {
        let name = d.blob_path();
        let bytes = self
            .read(&name, max, "this kind of blob")?
            .ok_or_else(|| Error::Missing {
                layout: self.file.clone(),
                digest: d.clone(),
            })?;
        if let Some(expected) = size.filter(|&s| s != bytes.len() as u64) {
            return Err(Error::SizeMismatch {
                layout: self.file.clone(),
                digest: d.clone(),
                expected,
                actual: bytes.len() as u64,
            });
        }
        let actual = d.recompute(&bytes);
        if actual != *d {
            return Err(Error::DigestMismatch {
                layout: self.file.clone(),
                expected: d.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

/// Streams `files` (name in archive, host path) into a deterministic tar at `dest` (every
/// entry 0644 or 0755, owned by 0:0, at `mtime`), staged beside it and renamed into place.
pub fn write(dest: &Path, dirs: &[&str], files: Vec<(String, PathBuf)>, mtime: u64) -> Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |e: io::Error| Error::Write {
            path: p.clone(),
            source: e,
        }
    };
    let tmp = super::guard::temp_file_in(&parent)?;
    {
        use super::tar;
        use std::io::BufWriter;
        let mut tw = tar::TarWriter::new(BufWriter::with_capacity(256 * 1024, tmp.as_file()));
        let w = werr(dest);
        for d in dirs {
            tw.header(&tar::Meta {
                path: d,
                kind: tar::Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                mtime,
                link: "",
            })
            .map_err(&w)?;
        }
        let mut entries = files;
        entries.sort();
        for (name, host) in entries {
            let mut f = fs_err::File::open(&host).map_err(werr(&host))?;
            let size = f.metadata().map_err(werr(&host))?.len();
            tw.header(&tar::Meta {
                path: &name,
                kind: tar::Kind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size,
                mtime,
                link: "",
            })
            .map_err(&w)?;
            let n = io::copy(&mut (&mut f).take(size), tw.data()).map_err(werr(&host))?;
            if n != size {
                return Err(Error::Write {
                    path: host,
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while archiving",
                    ),
                });
            }
            tw.pad(size).map_err(&w)?;
        }
        let mut out = tw.finish().map_err(&w)?;
        out.flush().map_err(&w)?;
    }
    tmp.persist(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_normalised_or_refused() {
        assert_eq!(entry_name(b"./blobs//sha256/").unwrap(), "blobs/sha256");
        assert!(entry_name(b"/etc/passwd").unwrap_err().contains("absolute"));
        assert!(entry_name(b"blobs/../../x").unwrap_err().contains(".."));
        assert!(entry_name(b"\xff").is_err());
    }

    fn archive(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Set raw names: the builder refuses `..`, which is what the test needs.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.finish().unwrap();
        f
    }

    #[test]
    fn docker_save_links_read_as_their_target_and_never_leave_the_archive() {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, kind: tar::EntryType, data: &[u8], link: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            b.append_data(&mut h, name, data).unwrap();
        };
        add("abc.tar", tar::EntryType::Regular, b"layer", "");
        add("abc/layer.tar", tar::EntryType::Symlink, b"", "../abc.tar");
        let good = b.into_inner().unwrap();
        let f = tempfile::NamedTempFile::new().unwrap();
        fs_err::write(f.path(), &good).unwrap();
        let a = Archive::scan_with_links(f.path()).unwrap();
        assert_eq!(
            a.read("abc/layer.tar", 100, "x").unwrap().unwrap(),
            b"layer"
        );
        assert!(Archive::scan(f.path()).is_err());
        for target in ["../../etc/passwd", "/etc/passwd", "../missing.tar"] {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_link_name(target).unwrap();
            b.append_data(&mut h, "abc/layer.tar", &b""[..]).unwrap();
            fs_err::write(f.path(), b.into_inner().unwrap()).unwrap();
            let e = Archive::scan_with_links(f.path())
                .err()
                .expect("refused")
                .to_string();
            assert!(e.contains("abc/layer.tar"), "{target}: {e}");
        }
    }

    #[test]
    fn hostile_entries_are_refused_with_their_name() {
        use tar::EntryType as T;
        let d = Digest::of(b"x");
        let good = format!("blobs/sha256/{}", d.hex());
        for (entries, want) in [
            (vec![("../evil", T::Regular, &b"x"[..], "")], "`..`"),
            (vec![("/abs", T::Regular, b"x", "")], "absolute"),
            (
                vec![("index.json", T::Symlink, b"", "/etc/passwd")],
                "symbolic link",
            ),
            (
                vec![("oci-layout", T::Link, b"", "index.json")],
                "hard link",
            ),
            (
                vec![("blobs/sha256/zz", T::Regular, b"x", "")],
                "valid digest",
            ),
            (vec![(good.as_str(), T::Regular, b"y", "")], "hash to"),
            (
                vec![
                    (good.as_str(), T::Regular, b"x", ""),
                    (good.as_str(), T::Regular, b"x", ""),
                ],
                "twice",
            ),
        ] {
            let a = archive(&entries);
            let dest = tempfile::tempdir().unwrap();
            let e = unpack(a.path(), dest.path()).unwrap_err().to_string();
            assert!(e.contains(want), "{entries:?}: {e}");
            assert!(e.contains("entry"), "{e}");
        }
        let a = archive(&[(good.as_str(), T::Regular, b"x", "")]);
        let dest = tempfile::tempdir().unwrap();
        unpack(a.path(), dest.path()).unwrap();
        assert_eq!(fs_err::read(dest.path().join(&good)).unwrap(), b"x");
        let scanned = Archive::scan(a.path()).unwrap();
        assert_eq!(scanned.read_blob(&d, Some(1), 10).unwrap(), b"x");
        assert!(scanned.read_blob(&d, Some(2), 10).is_err());
    }
}
