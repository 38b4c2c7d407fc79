//! An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/ALG/HEX`), read as hostile
//! input and updated without losing a concurrent writer's work.
//!
//! Owns: opening a layout (a directory with an `oci-layout` of version 1), reading `index.json`
//! (a plain file of at most [`super::MAX_INDEX`] bytes, parsed into [`Index`]), reading blobs
//! (the path comes from a validated [`Digest`], so it cannot leave `blobs/`; `blobs/`,
//! `blobs/ALG` and the blob must be plain — no symbolic links, no hard links, no devices — and
//! the blob is opened with `O_NOFOLLOW`, its size checked against the descriptor before a byte
//! is read and its digest after), writing blobs (staged, renamed into place) and the one
//! read-modify-write of `index.json` ([`Layout::update`]: under the folder's advisory lock,
//! the index re-read, changed, written to a temporary file and renamed).
//! Does not own: what the entries mean (`image`, `registry`, `sign`), archives (`archive`).
//! Invariant: a blob returned by [`Layout::read_blob`] hashes to the digest asked for; an index
//! written is the one read under the lock plus the caller's change.

use super::guard::{self, Staging};
use super::{Error, Index, MAX_INDEX, MAX_LAYOUT_FILE};
use crate::digest::{Algorithm, Digest};
use fs_err::os::unix::fs::OpenOptionsExt;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An OCI image layout folder.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

type Result<T> = std::result::Result<T, Error>;

/// What a path inside the layout is, when it is not a plain file or folder.
fn kind_of(ft: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        Some("a symbolic link")
    } else if ft.is_block_device() || ft.is_char_device() {
        Some("a device")
    } else if ft.is_fifo() {
        Some("a named pipe")
    } else if ft.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

/// Checks that `path` (inside a layout) is a plain folder, if it exists.
fn plain_dir(path: &Path) -> Result<bool> {
    match fs_err::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(m) => Err(Error::NotPlain {
            path: path.to_path_buf(),
            what: kind_of(m.file_type()).unwrap_or("not a folder"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Read {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Opens `path` as a plain file inside a layout (`O_NOFOLLOW`: a symbolic link is refused by
/// the kernel, not by a check that could race), refusing hard links and special files; returns
/// the file and its size. `None` when it does not exist.
pub(crate) fn open_plain(path: &Path) -> Result<Option<(fs_err::File, u64)>> {
    let f = fs_err::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let f = match f {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // O_NOFOLLOW refused it (ELOOP): say what it is.
        Err(_) if fs_err::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            return Err(Error::NotPlain {
                path: path.to_path_buf(),
                what: "a symbolic link",
            })
        }
        Err(e) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let m = f.metadata().map_err(|e| Error::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    if let Some(what) = kind_of(m.file_type()) {
        return Err(Error::NotPlain {
            path: path.to_path_buf(),
            what,
        });
    }
    if m.is_dir() {
        return Err(Error::NotPlain {
            path: path.to_path_buf(),
            what: "a folder",
        });
    }
    if m.nlink() > 1 {
        return Err(Error::NotPlain {
            path: path.to_path_buf(),
            what: "a hard link (it has other names)",
        });
    }
    Ok(Some((f, m.len())))
}

/// Reads a plain file of at most `max` bytes (`what` names it in the error).
pub(crate) fn read_plain(path: &Path, max: u64, what: &'static str) -> Result<Option<Vec<u8>>> {
    let Some((f, size)) = open_plain(path)? else {
        return Ok(None);
    };
    if size > max {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            what,
            size,
            max,
        });
    }
    let mut v = Vec::with_capacity(size as usize);
    f.take(max + 1)
        .read_to_end(&mut v)
        .map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
    if v.len() as u64 > max {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            what,
            size: v.len() as u64,
            max,
        });
    }
    Ok(Some(v))
}

impl Layout {
    /// Opens an existing layout. `dir` itself may be a symbolic link (the user named it);
    /// nothing inside it may be.
    pub fn open(dir: &Path) -> Result<Layout> {
        let not = |why: &str| Error::NotALayout {
            path: dir.to_path_buf(),
            why: why.into(),
        };
        match fs_err::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(not("it is not a folder")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not("it does not exist"))
            }
            Err(e) => {
                return Err(Error::Read {
                    path: dir.to_path_buf(),
                    source: e,
                })
            }
        }
        let layout = Layout {
            dir: dir.to_path_buf(),
        };
        layout.check_version()?;
        for alg in ["blobs", "blobs/sha256", "blobs/sha512"] {
            plain_dir(&dir.join(alg))?;
        }
        Ok(layout)
    }

    /// A layout at `dir` that kiln is creating (no checks: the folder is kiln's own).
    pub(crate) fn new_unchecked(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    fn check_version(&self) -> Result<()> {
        let p = self.dir.join("oci-layout");
        let bytes = read_plain(&p, MAX_LAYOUT_FILE, "an oci-layout file")?.ok_or_else(|| {
            Error::NotALayout {
                path: self.dir.clone(),
                why: "it has no oci-layout file".into(),
            }
        })?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| Error::Invalid {
            path: p.clone(),
            why: "it is not JSON".into(),
        })?;
        match v["imageLayoutVersion"].as_str() {
            Some(version) if version.starts_with("1.") => Ok(()),
            _ => Err(Error::Invalid {
                path: p,
                why: "it names no imageLayoutVersion 1.x".into(),
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<Index> {
        let p = self.dir.join("index.json");
        let bytes =
            read_plain(&p, MAX_INDEX, "an index.json")?.ok_or_else(|| Error::NotALayout {
                path: self.dir.clone(),
                why: "it has no index.json".into(),
            })?;
        Index::parse(&bytes).map_err(|why| Error::Invalid { path: p, why })
    }

    /// Where the blob `d` is (validated digest: always under `blobs/`).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.blob_path())
    }

    /// The folder blobs of `alg` live in.
    pub fn blobs_dir(&self, alg: Algorithm) -> PathBuf {
        self.dir.join("blobs").join(alg.name())
    }

    /// Opens the blob `d` and checks its size (`size` when the descriptor gives one); the
    /// caller checks the digest of what it reads (`base` streams layers this way).
    pub(crate) fn open_blob(&self, d: &Digest, size: Option<u64>) -> Result<(fs_err::File, u64)> {
        let p = self.blob_path(d);
        let (f, actual) = open_plain(&p)?.ok_or_else(|| Error::Missing {
            layout: self.dir.clone(),
            digest: d.clone(),
        })?;
        if let Some(expected) = size.filter(|&s| s != actual) {
            return Err(Error::SizeMismatch {
                layout: self.dir.clone(),
                digest: d.clone(),
                expected,
                actual,
            });
        }
        Ok((f, actual))
    }

    /// The bytes of blob `d` (of `size` bytes when the descriptor says, at most `max`), checked
    /// against the digest.
    pub fn read_blob(&self, d: &Digest, size: Option<u64>, max: u64) -> Result<Vec<u8>> {
        let (f, actual) = self.open_blob(d, size)?;
        let p = self.blob_path(d);
        if actual > max {
            return Err(Error::TooLarge {
                path: p,
                what: "this kind of blob",
                size: actual,
                max,
            });
        }
        let mut v = Vec::with_capacity(actual as usize);
        f.take(actual)
            .read_to_end(&mut v)
            .map_err(|e| Error::Read { path: p, source: e })?;
        self.check(d, &v)?;
        Ok(v)
    }

    /// The blob `d` as a stream (of `size` bytes when the descriptor says), hashed while read:
    /// the reader fails at its end when the bytes do not match the digest. Memory does not
    /// grow with the blob.
    pub fn stream_blob(
        &self,
        d: &Digest,
        size: Option<u64>,
    ) -> Result<super::layers::Verified<fs_err::File>> {
        let (f, actual) = self.open_blob(d, size)?;
        Ok(super::layers::Verified::new(f, d.clone(), Some(actual)))
    }

    /// Checks `bytes` against `d`.
    fn check(&self, d: &Digest, bytes: &[u8]) -> Result<()> {
        let actual = d.recompute(bytes);
        if actual != *d {
            return Err(Error::DigestMismatch {
                layout: self.dir.clone(),
                expected: d.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// The size of blob `d` when it is there (a plain file), without reading it.
    pub fn blob_size(&self, d: &Digest) -> Result<Option<u64>> {
        Ok(open_plain(&self.blob_path(d))?.map(|(_, n)| n))
    }

    /// Writes `bytes` as a blob (staged in `staging`, renamed into place); returns its digest.
    /// A blob already there is kept only when it is a plain file that hashes to its name.
    pub fn write_blob(&self, staging: &Staging, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        let dest = self.blob_path(&d);
        if self
            .read_blob(&d, Some(bytes.len() as u64), bytes.len() as u64)
            .is_ok()
        {
            return Ok(d);
        }
        let blobs = self.blobs_dir(Algorithm::Sha256);
        fs_err::create_dir_all(&blobs).map_err(|e| Error::Write {
            path: blobs.clone(),
            source: e,
        })?;
        let mut tmp = staging.temp_file(".blob-")?;
        tmp.write_all(bytes).map_err(|e| Error::Write {
            path: tmp.path().to_path_buf(),
            source: e,
        })?;
        guard::persist(tmp, &dest)?;
        Ok(d)
    }

    /// The one read-modify-write of `index.json`: under the advisory lock on the layout's
    /// folder, the current index is read, `change` applied, and the result written to a
    /// temporary file and renamed over the old one. Concurrent updates serialise; none is lost.
    pub fn update<T, E>(
        &self,
        change: impl FnOnce(&mut Index) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error>,
    {
        let _lock = guard::Lock::folder(&self.dir)?;
        let mut index = self.index()?;
        let out = change(&mut index)?;
        guard::write_atomic(&self.dir.join("index.json"), &index.to_bytes())?;
        Ok(out)
    }

    /// Removes what killed runs left in the layout (staging folders whose owner is gone).
    pub fn sweep(&self) {
        guard::sweep(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let t = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(t.path().join("blobs/sha256")).unwrap();
        fs_err::write(
            t.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        fs_err::write(
            t.path().join("index.json"),
            r#"{"schemaVersion":2,"manifests":[]}"#,
        )
        .unwrap();
        let l = Layout::open(t.path()).unwrap();
        (t, l)
    }

    #[test]
    fn blobs_are_checked_against_their_digest_and_size() {
        let (_t, l) = layout();
        let d = Digest::of(b"hello");
        fs_err::write(l.blob_path(&d), b"hellO").unwrap();
        let e = l.read_blob(&d, Some(5), 100).unwrap_err().to_string();
        assert!(e.contains("does not match its digest"), "{e}");
        assert!(e.contains(&Digest::of(b"hellO").to_string()), "{e}");
        fs_err::write(l.blob_path(&d), b"hello").unwrap();
        assert_eq!(l.read_blob(&d, Some(5), 100).unwrap(), b"hello");
        let e = l.read_blob(&d, Some(6), 100).unwrap_err().to_string();
        assert!(e.contains("has 5 bytes, its descriptor says 6"), "{e}");
        assert!(l.read_blob(&d, None, 4).is_err());
    }

    #[test]
    fn links_in_a_layout_are_refused() {
        let (t, l) = layout();
        let d = Digest::of(b"secret");
        let outside = t.path().join("outside");
        fs_err::write(&outside, b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, l.blob_path(&d)).unwrap();
        let e = l.read_blob(&d, None, 100).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        fs_err::remove_file(l.blob_path(&d)).unwrap();
        fs_err::hard_link(&outside, l.blob_path(&d)).unwrap();
        let e = l.read_blob(&d, None, 100).unwrap_err().to_string();
        assert!(e.contains("hard link"), "{e}");
        fs_err::remove_file(t.path().join("index.json")).unwrap();
        std::os::unix::fs::symlink(&outside, t.path().join("index.json")).unwrap();
        let e = l.index().unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }

    #[test]
    fn a_huge_index_is_refused_before_reading() {
        let (t, l) = layout();
        let f = fs_err::File::create(t.path().join("index.json")).unwrap();
        f.set_len(MAX_INDEX + 1).unwrap();
        let e = l.index().unwrap_err().to_string();
        assert!(e.contains("more than an index.json may"), "{e}");
    }
}
