//! Layers: the Plan's entries as deterministic tar streams, gzip-compressed and hashed while
//! they are written.
//!
//! Owns: entry order (the Plan's, i.e. path bytes), normalised metadata (numeric owners from
//! the Plan, mtime = SOURCE_DATE_EPOCH, no names, no xattrs), the pinned compressor (flate2
//! over zlib-rs, level 6, gzip header with mtime 0 and OS 255), and verifying that every
//! host file still has the size and SHA-256 the Plan recorded.
//! Invariant: memory does not grow with file size; files stream through a 256 KiB buffer.

pub mod pgzip;
use crate::oci::tar;

use crate::digest::{Digest, HashingWriter};
use crate::plan::{Entry, EntryKind, Plan, Source};
use crate::progress;
use crate::types::LayerKind;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The media type of kiln's layers.
pub const MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// gzip level: the same as `gzip -6`, the usual trade-off. Part of every digest.
const LEVEL: u32 = 6;

/// A layer written to disk.
#[derive(Clone, Debug)]
pub struct Layer {
    pub kind: LayerKind,
    /// The blob's OCI media type ([`MEDIA_TYPE`] for every layer kiln writes).
    pub media_type: &'static str,
    /// Digest and size of the compressed blob.
    pub digest: Digest,
    pub size: u64,
    /// Digest of the uncompressed tar (the config's `diff_id`).
    pub diff_id: Digest,
    pub entries: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} changed while the image was being built (the plan recorded {expected_size} bytes, sha256 {expected}; now {actual_size} bytes, {actual})", path.display())]
    Changed {
        path: PathBuf,
        expected: Digest,
        expected_size: u64,
        actual: Digest,
        actual_size: u64,
    },
    #[error("cannot write layer to {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Writes the uncompressed tar of `entries` to `out`; returns the tar's digest and length.
pub fn write_tar(entries: &[&Entry], mtime: u64, out: impl Write) -> Result<(Digest, u64), Error> {
    let sink = PathBuf::from("(layer stream)");
    let wr = |e: io::Error| Error::Write {
        path: sink.clone(),
        source: e,
    };
    let mut tw = tar::TarWriter::new(HashingWriter::new(out));
    let mut buf = vec![0u8; 256 * 1024];
    for e in entries {
        let (kind, size, link) = match &e.kind {
            EntryKind::Dir => (tar::Kind::Dir, 0, ""),
            EntryKind::Symlink { target } => (tar::Kind::Symlink, 0, target.as_str()),
            EntryKind::File { size, .. } => (tar::Kind::File, *size, ""),
        };
        let meta = tar::Meta {
            path: e.path.relative(),
            kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size,
            mtime,
            link,
        };
        tw.header(&meta).map_err(wr)?;
        if let EntryKind::File {
            source,
            size,
            sha256,
            ..
        } = &e.kind
        {
            match source {
                Source::Inline(bytes) => tw.data().write_all(bytes).map_err(wr)?,
                // A base image's file is in its own layer; if one ever lands here, its bytes
                // are still checked against the Plan.
                Source::Host(path) | Source::Base(path) => {
                    copy_checked(path, *size, sha256, tw.data(), &mut buf)?
                }
            }
            tw.pad(*size).map_err(wr)?;
        }
    }
    let hw = tw.finish().map_err(wr)?;
    let (digest, n, mut inner) = hw.finish();
    inner.flush().map_err(wr)?;
    Ok((digest, n))
}

/// Streams exactly `size` bytes of `path` into `out`, checking size and hash against the Plan.
fn copy_checked(
    path: &Path,
    size: u64,
    want: &Digest,
    out: &mut impl Write,
    buf: &mut [u8],
) -> Result<(), Error> {
    let rd = |e: io::Error| Error::Read {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = fs_err::File::open(path).map_err(rd)?;
    let mut hw = HashingWriter::new(out);
    let mut left = size;
    let mut extra = 0u64;
    loop {
        let want_n = if left == 0 {
            buf.len().min(1)
        } else {
            buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
        };
        let n = match f.read(&mut buf[..want_n]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(rd(e)),
        };
        if n == 0 {
            break;
        }
        if left == 0 {
            extra += n as u64;
            break;
        }
        hw.write_all(&buf[..n]).map_err(|e| Error::Write {
            path: PathBuf::from("(layer stream)"),
            source: e,
        })?;
        left -= n as u64;
    }
    let (actual, written, _) = hw.finish();
    if left != 0 || extra != 0 || &actual != want {
        // The partial layer is abandoned with its temporary file.
        return Err(Error::Changed {
            path: path.to_path_buf(),
            expected: want.clone(),
            expected_size: size,
            actual,
            actual_size: written + extra,
        });
    }
    Ok(())
}

/// Writes the gzip-compressed layer `kind` of `plan` into `blobs` (a `blobs/sha256` folder)
/// under its digest, staging it in `staging` (same file system) until it is complete.
/// Returns None when the layer would be empty.
pub fn write_layer(
    plan: &Plan,
    kind: LayerKind,
    blobs: &Path,
    staging: &Path,
) -> Result<Option<Layer>, Error> {
    let entries = plan.layer_entries(kind);
    if !entries.iter().any(|e| e.layer == kind) {
        return Ok(None);
    }
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |e: io::Error| Error::Write { path: p, source: e }
    };
    let tmp = tempfile::Builder::new()
        .prefix(".layer-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(staging)
        .map_err(werr(staging))?;
    let file = BufWriter::with_capacity(256 * 1024, tmp.as_file());
    let blob_hw = HashingWriter::new(file);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut gz = pgzip::ParGzWriter::new(blob_hw, LEVEL, threads).map_err(werr(tmp.path()))?;
    let estimate: u64 = entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::File { size, .. } => 512 + size.div_ceil(512) * 512,
            _ => 512,
        })
        .sum::<u64>()
        // The two zero blocks that end a tar.
        + 1024;
    progress::emit(progress::Event::Start {
        step: progress::Step::Layer,
        label: kind.as_str(),
        total: Some(estimate),
    });
    let mut counted = progress::Counting::new(&mut gz, progress::Step::Layer);
    let (diff_id, _) = write_tar(&entries, plan.epoch.0, &mut counted)?;
    let units = counted.total();
    drop(counted);
    progress::emit(progress::Event::Finish {
        step: progress::Step::Layer,
        items: entries.len() as u64,
        units,
    });
    let blob_hw = gz.finish().map_err(werr(tmp.path()))?;
    let (digest, size, mut file) = blob_hw.finish();
    file.flush().map_err(werr(tmp.path()))?;
    drop(file);
    tmp.as_file().sync_all().map_err(werr(tmp.path()))?;
    let dest = blobs.join(digest.hex());
    tmp.persist(&dest).map_err(|e| Error::Write {
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(Some(Layer {
        media_type: MEDIA_TYPE,
        kind,
        digest,
        size,
        diff_id,
        entries: entries.len(),
    }))
}
