//! Reading a `.deb` and unpacking its files into the cache (`CACHE/unpacked/HEX/`).
//!
//! Owns: the `ar` container (parsed here: `!<arch>\n`, 60-byte member headers, every field
//! checked, members in dpkg's order `debian-binary`, `control.tar*`, `data.tar*`, `_`-prefixed
//! members between them skipped, nothing after `data.tar*` but padding); decompression (none,
//! gzip, xz, zstd; bzip2 and lzma are refused); the control member's `control`, `md5sums`,
//! `conffiles` and the names of its maintainer scripts (never kept, never run); the data
//! member streamed into `HEX/root/` (mirrored paths, regular files and folders only) with
//! `HEX/entries.json` (every entry in tar order) and `HEX/control.json`.
//! Does not own: checking the `.deb` against its index (the caller passes the SHA-256 it
//! verified, [`super::fetch`]), merging packages into one tree, interpreting control fields.
//! Invariant: nothing on disk is ever a link: symbolic and hard links exist only in the entry
//! list, files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` in a fresh staging folder, so no
//! write can leave it. Names are normalised to absolute paths; `..`, NUL, newline, overlong
//! names or components, paths under a symbolic link or a file of the package, hard links to
//! anything but an earlier regular file, devices and FIFOs (dpkg allows them; Debian's
//! packages do not ship them: refused here), and duplicates (but a repeated folder) are
//! refused with the `.deb`, the member and the entry named.
//! Invariant: bounded memory and sizes: the data tar is streamed (never held), at most
//! [`MAX_ENTRIES`] entries and [`MAX_CONTENT`] bytes of content (checked from the tar headers
//! before a byte is written; the decompressed stream is metered too, a decompression bomb
//! stops there); between two entries at most [`META_BUDGET`] bytes (long names, PAX records,
//! padding); xz decoding within 256 MiB of memory, zstd within its default window limit.
//! Invariant: `HEX/` is write-once: staged beside it and renamed whole; when it exists its
//! entry list is loaded and nothing is unpacked again.
//! On disk, files are 0644 (0755 when any execute bit is set) and folders 0755: modes,
//! setuid/setgid/sticky bits and owners live in the entry list only.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// At most this many entries in a data tar.
pub const MAX_ENTRIES: usize = 1_000_000;
/// At most this many bytes of file content in a data tar.
pub const MAX_CONTENT: u64 = 16 << 30;
/// At most this many bytes of tar metadata (headers, long names, PAX records, padding) between
/// two entries, and after the last one.
pub const META_BUDGET: u64 = 1 << 20;
/// At most this many decompressed bytes of a control tar.
pub const MAX_CONTROL: u64 = 64 << 20;
/// At most this many decompressed bytes of a data tar: the content and 1 KiB of metadata per
/// entry (a decompression bomb stops here).
pub const MAX_DECOMPRESSED: u64 = MAX_CONTENT + (MAX_ENTRIES as u64) * 1024;
/// The longest entry name, and the longest component of one.
const MAX_NAME: usize = 4096;
const MAX_COMPONENT: usize = 255;
/// All entry names together (the path map lives in memory).
const MAX_NAMES_TOTAL: u64 = 512 << 20;
/// The memory the xz decoder may use.
const XZ_MEMLIMIT: u64 = 256 << 20;
/// The longest `entries.json` read back from the cache.
const MAX_ENTRIES_JSON: u64 = 2 << 30;
/// The maintainer scripts whose names [`Unpacked::scripts`] records.
const SCRIPTS: [&str; 5] = ["preinst", "postinst", "prerm", "postrm", "config"];

/// One entry of a package's data tar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Absolute and normalised (`./usr/bin/x` → `/usr/bin/x`), no trailing slash.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits, setuid/setgid/sticky included (`& 0o7777`).
    pub mode: u32,
    /// Owner from the tar header.
    pub uid: u32,
    /// Group from the tar header.
    pub gid: u32,
}

/// The kind of an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File {
        /// Bytes.
        size: u64,
        /// SHA-256 of its content (hex in JSON).
        #[serde(with = "hex32")]
        sha256: [u8; 32],
        /// Where its bytes are, relative to [`Unpacked::dir`].
        content: String,
    },
    /// A folder.
    Dir,
    /// A symbolic link (its target as the tar has it).
    Symlink {
        /// The link's text.
        target: String,
    },
    /// A hard link to an earlier regular file of the package.
    Hardlink {
        /// That file's normalised absolute path.
        target: String,
    },
}

/// A `.deb` unpacked into the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// `CACHE/unpacked/HEX`.
    pub dir: PathBuf,
    /// The control member's `control` file.
    pub control: String,
    /// Its `md5sums`, when present.
    pub md5sums: Option<String>,
    /// Its `conffiles`, when present.
    pub conffiles: Option<String>,
    /// The maintainer scripts it has (`preinst`, `postinst`, …): names only, never run.
    pub scripts: Vec<String>,
    /// The data tar's entries in tar order (the root `.` left out).
    pub entries: Vec<Entry>,
}

impl Unpacked {
    /// The file holding an entry's content (`None` for anything but a regular file).
    pub fn content_path(&self, entry: &Entry) -> Option<PathBuf> {
        match &entry.kind {
            EntryKind::File { content, .. } => Some(self.dir.join(content)),
            _ => None,
        }
    }
}

/// What `control.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct ControlInfo {
    control: String,
    md5sums: Option<String>,
    conffiles: Option<String>,
    scripts: Vec<String>,
}

/// Why a `.deb` could not be unpacked. Entry names are shown escaped and cut short.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// Reading the `.deb` failed.
    #[error("cannot read {}", deb.display())]
    Read {
        /// The `.deb`.
        deb: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// Writing the cache failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The `ar` container or a member is not what dpkg writes.
    #[error("{}: member `{member}`: {why}", deb.display())]
    Format {
        /// The `.deb`.
        deb: PathBuf,
        /// The member (`ar` for the container itself).
        member: String,
        /// What is wrong.
        why: String,
    },
    /// An entry of the control or data tar is refused.
    #[error("{}: {member}: entry `{entry}`: {why}", deb.display())]
    Entry {
        /// The `.deb`.
        deb: PathBuf,
        /// `control.tar.xz`, `data.tar.zst`, …
        member: String,
        /// The entry's name.
        entry: String,
        /// Why it is refused.
        why: String,
    },
    /// A limit was reached.
    #[error("{}: {member}: more than {limit} {what}", deb.display())]
    TooLarge {
        /// The `.deb`.
        deb: PathBuf,
        /// The member.
        member: String,
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// An unpacked folder of the cache is damaged.
    #[error("the unpacked cache {} is damaged: {why}", dir.display())]
    Cache {
        /// `CACHE/unpacked/HEX`.
        dir: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl DebError {
    /// What the user can do about it, if kiln knows.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DebError::Cache { dir, .. } => format!("remove {} and build again", dir.display()),
            DebError::Format { .. } | DebError::Entry { .. } | DebError::TooLarge { .. } => {
                "this package is not one kiln unpacks (see the reason); the archive signed it, \
                 so report it, or leave the package out"
                    .into()
            }
            _ => return None,
        })
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// Unpacks the `.deb` at `deb` (whose verified SHA-256 is `sha256`) into
/// `cache/unpacked/HEX`, or loads it from there when it was unpacked before.
pub fn unpack(deb: &Path, sha256: &[u8; 32], cache: &Path) -> Result<Unpacked, DebError> {
    let parent = cache.join("unpacked");
    let dir = parent.join(hex::encode(sha256));
    if dir.is_dir() {
        return load(&dir);
    }
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |e| DebError::Write { path: p, source: e }
    };
    fs_err::create_dir_all(&parent).map_err(werr(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&parent)
        .map_err(werr(&parent))?;
    let (info, entries) = read_deb(deb, staging.path())?;
    write_json(&staging.path().join("control.json"), &info)?;
    write_json(&staging.path().join("entries.json"), &entries)?;
    let from = staging.keep();
    if let Err(e) = fs_err::rename(&from, &dir) {
        let _ = fs_err::remove_dir_all(&from);
        // Another kiln unpacked the same package meanwhile: use its copy.
        if dir.is_dir() {
            return load(&dir);
        }
        return Err(werr(&dir)(e));
    }
    Ok(Unpacked {
        dir,
        control: info.control,
        md5sums: info.md5sums,
        conffiles: info.conffiles,
        scripts: info.scripts,
        entries,
    })
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), DebError> {
    let err = |e| DebError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    let f = fs_err::File::create(path).map_err(err)?;
    let mut w = io::BufWriter::new(f);
    serde_json::to_writer(&mut w, v).map_err(|e| err(io::Error::other(e)))?;
    w.flush().map_err(err)
}

/// Loads an unpacked folder's `control.json` and `entries.json`.
fn load(dir: &Path) -> Result<Unpacked, DebError> {
    let damaged = |why: String| DebError::Cache {
        dir: dir.to_path_buf(),
        why,
    };
    let read = |name: &str, max: u64| -> Result<Vec<u8>, DebError> {
        let f = fs_err::File::open(dir.join(name)).map_err(|e| damaged(e.to_string()))?;
        let mut buf = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| damaged(e.to_string()))?;
        match buf.len() as u64 > max {
            true => Err(damaged(format!("{name} is larger than {max} bytes"))),
            false => Ok(buf),
        }
    };
    let info: ControlInfo = serde_json::from_slice(&read("control.json", MAX_CONTROL)?)
        .map_err(|e| damaged(format!("control.json: {e}")))?;
    let entries: Vec<Entry> = serde_json::from_slice(&read("entries.json", MAX_ENTRIES_JSON)?)
        .map_err(|e| damaged(format!("entries.json: {e}")))?;
    Ok(Unpacked {
        dir: dir.to_path_buf(),
        control: info.control,
        md5sums: info.md5sums,
        conffiles: info.conffiles,
        scripts: info.scripts,
        entries,
    })
}

/// The `ar` container of a `.deb`, read in order.
struct Ar<'a, R> {
    r: R,
    deb: &'a Path,
    /// The previous member had an odd size: one `\n` of padding follows it.
    pad: bool,
}

/// One member's header.
struct Member {
    name: String,
    size: u64,
}

impl<'a, R: Read> Ar<'a, R> {
    fn open(mut r: R, deb: &'a Path) -> Result<Self, DebError> {
        let mut magic = [0u8; 8];
        let n = read_full(&mut r, &mut magic).map_err(|e| read_err(deb, e))?;
        if n < 8 || &magic != b"!<arch>\n" {
            return Err(format_err(
                deb,
                "ar",
                "not an ar archive (no `!<arch>` header)",
            ));
        }
        Ok(Ar { r, deb, pad: false })
    }

    /// The next member's header, or `None` at the end of the file.
    fn next(&mut self) -> Result<Option<Member>, DebError> {
        if std::mem::take(&mut self.pad) {
            let mut b = [0u8; 1];
            let n = read_full(&mut self.r, &mut b).map_err(|e| read_err(self.deb, e))?;
            if n != 1 || b[0] != b'\n' {
                return Err(format_err(
                    self.deb,
                    "ar",
                    "missing or bad padding after a member",
                ));
            }
        }
        let mut h = [0u8; 60];
        match read_full(&mut self.r, &mut h).map_err(|e| read_err(self.deb, e))? {
            0 => return Ok(None),
            60 => {}
            n => {
                let why = format!("truncated: a member header of {n} of 60 bytes");
                return Err(format_err(self.deb, "ar", &why));
            }
        }
        let m = parse_header(&h).map_err(|why| format_err(self.deb, "ar", &why))?;
        self.pad = m.size % 2 == 1;
        Ok(Some(m))
    }

    /// The member's bytes (at most its size: a short file is an error when read).
    fn body(&mut self, size: u64) -> io::Take<&mut R> {
        (&mut self.r).take(size)
    }
}

/// Checks a 60-byte `ar` member header: name, decimal mtime/uid/gid/size, octal mode, magic.
fn parse_header(h: &[u8; 60]) -> Result<Member, String> {
    if &h[58..60] != b"`\n" {
        return Err("bad member header magic (not an ar archive, or truncated)".into());
    }
    let field = |range: std::ops::Range<usize>, what: &str, radix: u32, required: bool| {
        let raw = std::str::from_utf8(&h[range]).map_err(|_| format!("{what}: not ASCII"))?;
        let v = raw.trim_end_matches(' ');
        if v.is_empty() && !required {
            return Ok(0);
        }
        if v.is_empty() || !v.chars().all(|c| c.is_digit(radix)) {
            return Err(format!("{what} field {raw:?} is not a number"));
        }
        u64::from_str_radix(v, radix).map_err(|_| format!("{what} field {raw:?} is too large"))
    };
    field(16..28, "mtime", 10, true)?;
    field(28..34, "uid", 10, false)?;
    field(34..40, "gid", 10, false)?;
    field(40..48, "mode", 8, false)?;
    let size = field(48..58, "size", 10, true)?;
    let raw = std::str::from_utf8(&h[..16]).map_err(|_| "member name: not ASCII".to_string())?;
    let name = raw.trim_end_matches(' ');
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("bad member name {raw:?}"));
    }
    Ok(Member {
        name: name.to_string(),
        size,
    })
}

/// Reads until `buf` is full or the end; the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_err(deb: &Path, e: io::Error) -> DebError {
    DebError::Read {
        deb: deb.to_path_buf(),
        source: e,
    }
}

fn format_err(deb: &Path, member: &str, why: &str) -> DebError {
    DebError::Format {
        deb: deb.to_path_buf(),
        member: member.to_string(),
        why: why.to_string(),
    }
}

/// Reads the whole `.deb`: control member into memory, data member into `staging/root`.
fn read_deb(deb: &Path, staging: &Path) -> Result<(ControlInfo, Vec<Entry>), DebError> {
    let f = fs_err::File::open(deb).map_err(|e| read_err(deb, e))?;
    let mut ar = Ar::open(BufReader::with_capacity(256 << 10, f), deb)?;
    let first = ar
        .next()?
        .ok_or_else(|| format_err(deb, "ar", "empty archive"))?;
    if first.name != "debian-binary" {
        let why = format!("the first member is `{}`, not `debian-binary`", first.name);
        return Err(format_err(deb, "ar", &why));
    }
    check_version(deb, &mut ar, first.size)?;
    let mut control = None;
    loop {
        let m = ar.next()?.ok_or_else(|| {
            let why = "truncated: no data.tar member";
            format_err(deb, "ar", why)
        })?;
        if m.name.starts_with('_') {
            skip(deb, &mut ar, &m)?;
        } else if let Some(ext) = m
            .name
            .strip_prefix("control.tar")
            .filter(|_| control.is_none())
        {
            let mut body = ar.body(m.size);
            let dec = decoder(deb, &m.name, ext, &mut body)?;
            control = Some(read_control(deb, &m.name, dec)?);
            drain(deb, &m.name, body)?;
        } else if let (Some(ext), Some(_)) = (m.name.strip_prefix("data.tar"), &control) {
            let entries = {
                let mut body = ar.body(m.size);
                let dec = decoder(deb, &m.name, ext, &mut body)?;
                let entries = Data::new(deb, &m.name, staging).unpack(dec)?;
                drain(deb, &m.name, body)?;
                entries
            };
            if let Some(extra) = ar.next()? {
                let why = format!("member `{}` after the data member", extra.name);
                return Err(format_err(deb, "ar", &why));
            }
            return Ok((control.unwrap_or_else(empty_control), entries));
        } else {
            let why = format!(
                "unexpected member `{}` (dpkg expects debian-binary, control.tar*, data.tar*)",
                m.name
            );
            return Err(format_err(deb, "ar", &why));
        }
    }
}

fn empty_control() -> ControlInfo {
    ControlInfo {
        control: String::new(),
        md5sums: None,
        conffiles: None,
        scripts: Vec::new(),
    }
}

/// `debian-binary` must be `2.0\n`.
fn check_version<R: Read>(deb: &Path, ar: &mut Ar<'_, R>, size: u64) -> Result<(), DebError> {
    let mut v = Vec::new();
    ar.body(size.min(64))
        .read_to_end(&mut v)
        .map_err(|e| read_err(deb, e))?;
    if size != 4 || v != b"2.0\n" {
        let shown: String = String::from_utf8_lossy(&v)
            .escape_debug()
            .take(40)
            .collect();
        let why = format!("format version \"{shown}\", kiln reads \"2.0\\n\"");
        return Err(format_err(deb, "debian-binary", &why));
    }
    Ok(())
}

/// Skips a member kiln does not read.
fn skip<R: Read>(deb: &Path, ar: &mut Ar<'_, R>, m: &Member) -> Result<(), DebError> {
    drain(deb, &m.name, ar.body(m.size))
}

/// Reads the rest of a member; its whole size must be there.
fn drain<R: Read>(deb: &Path, member: &str, mut body: io::Take<R>) -> Result<(), DebError> {
    io::copy(&mut body, &mut io::sink()).map_err(|e| read_err(deb, e))?;
    if body.limit() > 0 {
        let why = format!("truncated: {} bytes missing", body.limit());
        return Err(format_err(deb, member, &why));
    }
    Ok(())
}

/// A member's decompressing reader, by its name's extension.
fn decoder<'r>(
    deb: &Path,
    member: &str,
    ext: &str,
    r: impl Read + 'r,
) -> Result<Box<dyn Read + 'r>, DebError> {
    let bad = |why: String| format_err(deb, member, &why);
    Ok(match ext {
        "" => Box::new(r),
        ".gz" => Box::new(flate2::read::GzDecoder::new(r)),
        ".xz" => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                .map_err(|e| bad(format!("cannot start the xz decoder: {e}")))?;
            Box::new(liblzma::read::XzDecoder::new_stream(r, stream))
        }
        ".zst" => Box::new(Zstd {
            src: BufReader::new(r),
            dec: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }),
        ".bz2" | ".lzma" => {
            return Err(bad(format!(
                "{} compression is not supported (dpkg no longer builds it; Debian uses xz)",
                &ext[1..]
            )))
        }
        _ => return Err(bad("unknown compression".into())),
    })
}

/// A zstd stream of one or more frames.
struct Zstd<R> {
    src: R,
    dec: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.src.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                self.dec.init(&mut self.src).map_err(io::Error::other)?;
                self.in_frame = true;
            }
            while self.dec.can_collect() == 0 && !self.dec.is_finished() {
                self.dec
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(io::Error::other)?;
            }
            let n = self.dec.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.in_frame = false;
        }
    }
}

/// How many decompressed bytes may still pass, shared by a [`Metered`] reader and its user.
#[derive(Default)]
struct Meter {
    /// Bytes left before the next entry must have started.
    left: Cell<u64>,
    /// Bytes passed in all.
    total: Cell<u64>,
    /// The limit was what stopped the reader.
    hit: Cell<bool>,
}

/// A reader that passes at most `meter.left` bytes, and at most `max_total` in all.
struct Metered<R> {
    inner: R,
    meter: Rc<Meter>,
    max_total: u64,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let m = &self.meter;
        let allowed = m.left.get().min(self.max_total - m.total.get());
        if allowed == 0 && !buf.is_empty() {
            m.hit.set(true);
            return Err(io::Error::other("size limit reached"));
        }
        let cap = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..cap])?;
        m.left.set(m.left.get() - n as u64);
        m.total.set(m.total.get() + n as u64);
        Ok(n)
    }
}

/// Normalises a tar name to an absolute path (`None` for the root itself).
fn normalise(raw: &[u8]) -> Result<Option<String>, String> {
    if raw.len() > MAX_NAME {
        return Err(format!("a name longer than {MAX_NAME} bytes"));
    }
    if raw.iter().any(|&b| b == 0 || b == b'\n') {
        return Err("a NUL or newline in the name".into());
    }
    let s = std::str::from_utf8(raw).map_err(|_| "a name that is not UTF-8".to_string())?;
    let rest = s
        .strip_prefix("./")
        .or_else(|| s.strip_prefix('/'))
        .unwrap_or(s);
    let mut out = String::with_capacity(s.len() + 1);
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("a `..` component".into()),
            c if c.len() > MAX_COMPONENT => {
                return Err(format!("a component longer than {MAX_COMPONENT} bytes"))
            }
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if s.is_empty() {
        return Err("an empty name".into());
    }
    Ok((!out.is_empty()).then_some(out))
}

/// A name for messages: escaped, at most 200 characters.
fn shown(raw: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(raw)
        .escape_debug()
        .take(200)
        .collect();
    s
}

/// What a path of the package is, for the checks of later entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Dir,
    /// A folder no entry named, made for an entry inside it.
    Implied,
    File,
    Symlink,
    Hardlink,
}

/// The data member being unpacked.
struct Data<'a> {
    deb: &'a Path,
    member: &'a str,
    /// `staging/root`.
    root: PathBuf,
    staging: &'a Path,
    seen: BTreeMap<String, Seen>,
    entries: Vec<Entry>,
    content: u64,
    names: u64,
}

/// A refusal of one entry, before the `.deb` and member are attached.
type Refusal = String;

impl<'a> Data<'a> {
    fn new(deb: &'a Path, member: &'a str, staging: &'a Path) -> Self {
        Data {
            deb,
            member,
            root: staging.join("root"),
            staging,
            seen: BTreeMap::new(),
            entries: Vec::new(),
            content: 0,
            names: 0,
        }
    }

    fn entry_err(&self, raw: &[u8], why: Refusal) -> DebError {
        DebError::Entry {
            deb: self.deb.to_path_buf(),
            member: self.member.to_string(),
            entry: shown(raw),
            why,
        }
    }

    fn too_large(&self, what: &'static str, limit: u64) -> DebError {
        DebError::TooLarge {
            deb: self.deb.to_path_buf(),
            member: self.member.to_string(),
            what,
            limit,
        }
    }

    fn tar_err(&self, meter: &Meter, e: &io::Error) -> DebError {
        if meter.hit.get() && meter.total.get() >= MAX_DECOMPRESSED {
            return self.too_large("decompressed bytes", MAX_DECOMPRESSED);
        }
        if meter.hit.get() {
            return self.too_large("bytes of tar metadata between two entries", META_BUDGET);
        }
        format_err(self.deb, self.member, &format!("bad tar stream: {e}"))
    }

    /// Streams the data tar from `r` into `root`; the entries in tar order.
    fn unpack(mut self, r: Box<dyn Read + '_>) -> Result<Vec<Entry>, DebError> {
        fs_err::create_dir(&self.root).map_err(|e| DebError::Write {
            path: self.root.clone(),
            source: e,
        })?;
        let meter = Rc::new(Meter::default());
        let metered = Metered {
            inner: r,
            meter: meter.clone(),
            max_total: MAX_DECOMPRESSED,
        };
        let mut archive = tar::Archive::new(metered);
        let mut it = archive.entries().map_err(|e| self.tar_err(&meter, &e))?;
        let mut count = 0usize;
        loop {
            meter.left.set(META_BUDGET);
            let Some(entry) = it.next() else { break };
            let mut entry = entry.map_err(|e| self.tar_err(&meter, &e))?;
            count += 1;
            if count > MAX_ENTRIES {
                return Err(self.too_large("entries", MAX_ENTRIES as u64));
            }
            self.entry(&mut entry, &meter)?;
        }
        // After the end-of-archive blocks: zero padding only.
        meter.left.set(META_BUDGET);
        let mut rest = archive.into_inner();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = rest.read(&mut buf).map_err(|e| self.tar_err(&meter, &e))?;
            if n == 0 {
                break;
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(format_err(
                    self.deb,
                    self.member,
                    "data after the end of the tar",
                ));
            }
        }
        Ok(self.entries)
    }

    /// Checks and records one entry; writes a regular file's content.
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>, meter: &Meter) -> Result<(), DebError> {
        let raw = e.path_bytes().into_owned();
        let refuse = |s: &Self, why: Refusal| s.entry_err(&raw, why);
        let h = e.header();
        let bad_num =
            |s: &Self, what: &str, err: io::Error| refuse(s, format!("bad {what}: {err}"));
        let mode = h.mode().map_err(|x| bad_num(self, "mode", x))? & 0o7777;
        let uid = h.uid().map_err(|x| bad_num(self, "uid", x))?;
        let gid = h.gid().map_err(|x| bad_num(self, "gid", x))?;
        let (uid, gid) = match (u32::try_from(uid), u32::try_from(gid)) {
            (Ok(u), Ok(g)) => (u, g),
            _ => return Err(refuse(self, "a uid or gid above 2^32".into())),
        };
        let ty = h.entry_type();
        if ty.is_pax_global_extensions() {
            return Ok(());
        }
        let Some(path) = normalise(&raw).map_err(|w| refuse(self, w))? else {
            return match ty.is_dir() {
                true => Ok(()),
                false => Err(refuse(self, "the root is not a folder".into())),
            };
        };
        self.names += path.len() as u64;
        if self.names > MAX_NAMES_TOTAL {
            return Err(self.too_large("bytes of entry names", MAX_NAMES_TOTAL));
        }
        let repeat = self
            .check_place(&path, ty.is_dir())
            .map_err(|w| refuse(self, w))?;
        if repeat {
            return Ok(());
        }
        let kind = if ty.is_file() || ty.is_contiguous() {
            self.write_file(&path, e, meter).map_err(|w| match w {
                Ok(err) => err,
                Err(why) => refuse(self, why),
            })?
        } else if ty.is_dir() {
            self.mkdir(&path)?;
            EntryKind::Dir
        } else if ty.is_symlink() {
            EntryKind::Symlink {
                target: self.link_text(e).map_err(|w| refuse(self, w))?,
            }
        } else if ty.is_hard_link() {
            EntryKind::Hardlink {
                target: self.hardlink_target(e).map_err(|w| refuse(self, w))?,
            }
        } else if ty.is_character_special() || ty.is_block_special() || ty.is_fifo() {
            return Err(refuse(
                self,
                "a device or FIFO (kiln does not unpack those)".into(),
            ));
        } else {
            let why = format!("an unsupported tar entry type {:?}", ty.as_byte() as char);
            return Err(refuse(self, why));
        };
        self.seen.insert(path.clone(), seen_of(&kind));
        self.entries.push(Entry {
            path,
            kind,
            mode,
            uid,
            gid,
        });
        Ok(())
    }

    /// Checks that `path` is new (or a repeated folder: then `true`) and that every parent is
    /// a folder of the package; makes the implied ones.
    fn check_place(&mut self, path: &str, is_dir: bool) -> Result<bool, Refusal> {
        let mut cut = 0;
        while let Some(i) = path[cut + 1..].find('/') {
            cut += 1 + i;
            let parent = &path[..cut];
            match self.seen.get(parent) {
                None => {
                    self.mkdir(parent).map_err(|e| e.to_string())?;
                    self.seen.insert(parent.to_string(), Seen::Implied);
                }
                Some(Seen::Dir | Seen::Implied) => {}
                Some(Seen::Symlink) => return Err(format!("under the symbolic link {parent}")),
                Some(_) => return Err(format!("under {parent}, which is not a folder")),
            }
        }
        match self.seen.get(path) {
            None => Ok(false),
            Some(Seen::Dir) if is_dir => Ok(true),
            Some(Seen::Implied) if is_dir => Ok(false),
            Some(_) => Err(format!("{path} appears twice")),
        }
    }

    fn disk(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn mkdir(&self, path: &str) -> Result<(), DebError> {
        let p = self.disk(path);
        match fs_err::create_dir(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
            Err(e) => Err(DebError::Write { path: p, source: e }),
        }
    }

    /// Writes a regular file (new, never through a link), hashing it; `Err(Err(why))` refuses
    /// the entry, `Err(Ok(e))` is any other error.
    fn write_file<R: Read>(
        &mut self,
        path: &str,
        e: &mut tar::Entry<'_, R>,
        meter: &Meter,
    ) -> Result<EntryKind, Result<DebError, Refusal>> {
        let size = e.size();
        if self.content.saturating_add(size) > MAX_CONTENT {
            return Err(Ok(self.too_large("bytes of file content", MAX_CONTENT)));
        }
        self.content += size;
        meter.left.set(size);
        let exec = e.header().mode().unwrap_or(0) & 0o111 != 0;
        let disk = self.disk(path);
        let werr = |err| {
            Ok(DebError::Write {
                path: disk.clone(),
                source: err,
            })
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if exec { 0o755 } else { 0o644 })
            .custom_flags(libc::O_NOFOLLOW)
            .open(&disk)
            .map_err(werr)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut written = 0u64;
        loop {
            let n = match e.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(x) if x.kind() == io::ErrorKind::Interrupted => continue,
                Err(x) => return Err(Ok(self.tar_err(meter, &x))),
            };
            f.write_all(&buf[..n]).map_err(werr)?;
            hasher.update(&buf[..n]);
            written += n as u64;
        }
        if written != size {
            return Err(Err(format!(
                "{written} of {size} bytes: the tar is truncated"
            )));
        }
        let content = disk
            .strip_prefix(self.staging)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(EntryKind::File {
            size,
            sha256: hasher.finalize().into(),
            content,
        })
    }

    fn link_text<R: Read>(&self, e: &tar::Entry<'_, R>) -> Result<String, Refusal> {
        let raw = e
            .link_name_bytes()
            .ok_or_else(|| "a symbolic link without a target".to_string())?;
        if raw.is_empty() || raw.len() > MAX_NAME || raw.iter().any(|&b| b == 0 || b == b'\n') {
            return Err(
                "a symbolic link target that is empty, too long, or holds NUL/newline".into(),
            );
        }
        String::from_utf8(raw.into_owned()).map_err(|_| "a link target that is not UTF-8".into())
    }

    fn hardlink_target<R: Read>(&self, e: &tar::Entry<'_, R>) -> Result<String, Refusal> {
        let raw = e
            .link_name_bytes()
            .ok_or_else(|| "a hard link without a target".to_string())?;
        let target = normalise(&raw)?.ok_or_else(|| "a hard link to the root".to_string())?;
        match self.seen.get(&target) {
            Some(Seen::File) => Ok(target),
            _ => Err(format!(
                "a hard link to {target}, which is not an earlier regular file"
            )),
        }
    }
}

fn seen_of(kind: &EntryKind) -> Seen {
    match kind {
        EntryKind::File { .. } => Seen::File,
        EntryKind::Dir => Seen::Dir,
        EntryKind::Symlink { .. } => Seen::Symlink,
        EntryKind::Hardlink { .. } => Seen::Hardlink,
    }
}

/// Reads the control tar: `control`, `md5sums`, `conffiles`, the scripts' names.
fn read_control(deb: &Path, member: &str, r: Box<dyn Read + '_>) -> Result<ControlInfo, DebError> {
    let meter = Rc::new(Meter::default());
    meter.left.set(MAX_CONTROL);
    let metered = Metered {
        inner: r,
        meter: meter.clone(),
        max_total: MAX_CONTROL,
    };
    let bad = |e: io::Error| match meter.hit.get() {
        true => DebError::TooLarge {
            deb: deb.to_path_buf(),
            member: member.to_string(),
            what: "decompressed bytes",
            limit: MAX_CONTROL,
        },
        false => format_err(deb, member, &format!("bad tar stream: {e}")),
    };
    let mut info = empty_control();
    let mut found = false;
    let mut archive = tar::Archive::new(metered);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let Ok(Some(name)) = normalise(&raw) else {
            continue;
        };
        let slot = match name.as_str() {
            "/control" => {
                found = true;
                Some(&mut info.control)
            }
            "/md5sums" => Some(info.md5sums.insert(String::new())),
            "/conffiles" => Some(info.conffiles.insert(String::new())),
            n if SCRIPTS.contains(&&n[1..]) => {
                info.scripts.push(n[1..].to_string());
                None
            }
            _ => None,
        };
        if let Some(slot) = slot {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(bad)?;
            *slot = String::from_utf8(bytes).map_err(|_| DebError::Entry {
                deb: deb.to_path_buf(),
                member: member.to_string(),
                entry: shown(&raw),
                why: "not UTF-8".into(),
            })?;
        }
    }
    if !found {
        return Err(format_err(deb, member, "no `control` file"));
    }
    info.scripts.sort();
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise() {
        let n = |s: &str| normalise(s.as_bytes());
        assert_eq!(n("./usr/bin/x").unwrap().as_deref(), Some("/usr/bin/x"));
        assert_eq!(n("/etc/x/").unwrap().as_deref(), Some("/etc/x"));
        assert_eq!(n("usr//lib/./y").unwrap().as_deref(), Some("/usr/lib/y"));
        assert_eq!(n("./").unwrap(), None);
        assert_eq!(n(".").unwrap(), None);
        assert!(n("./usr/../../etc").is_err());
        assert!(n("..").is_err());
        assert!(n("./a\nb").is_err());
        assert!(normalise(b"./a\0b").is_err());
        assert!(n(&format!("./{}", "a".repeat(256))).is_err());
        assert!(n(&format!("./{}", "a/".repeat(2100))).is_err());
        assert!(normalise(b"./\xff").is_err());
    }

    fn header(name: &str, size: &str) -> [u8; 60] {
        let mut h = [b' '; 60];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[16..17].copy_from_slice(b"0");
        h[40..43].copy_from_slice(b"644");
        h[48..48 + size.len()].copy_from_slice(size.as_bytes());
        h[58..60].copy_from_slice(b"`\n");
        h
    }

    #[test]
    fn ar_headers_are_checked() {
        let m = parse_header(&header("debian-binary/", "4")).unwrap();
        assert_eq!((m.name.as_str(), m.size), ("debian-binary", 4));
        assert!(parse_header(&header("x", "-4")).is_err());
        assert!(parse_header(&header("x", "4 4")).is_err());
        assert!(parse_header(&header("x", "")).is_err());
        assert!(parse_header(&header("", "4")).is_err());
        let mut h = header("x", "4");
        h[59] = b'x';
        assert!(parse_header(&h).is_err());
        let mut h = header("x", "4");
        h[41] = b'9';
        assert!(parse_header(&h).is_err(), "mode is octal");
    }

    #[test]
    fn metered_reader_stops_at_its_budget() {
        let meter = Rc::new(Meter::default());
        meter.left.set(10);
        let mut r = Metered {
            inner: io::repeat(7),
            meter: meter.clone(),
            max_total: 100,
        };
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        assert!(r.read(&mut buf).is_err());
        assert!(meter.hit.get());
    }

    #[test]
    fn entry_kinds_serialise_with_hex_hashes() {
        let e = Entry {
            path: "/bin/x".into(),
            kind: EntryKind::File {
                size: 1,
                sha256: [0xab; 32],
                content: "root/bin/x".into(),
            },
            mode: 0o4755,
            uid: 0,
            gid: 0,
        };
        let j = serde_json::to_string(&e).unwrap();
        assert!(j.contains(&"ab".repeat(32)), "{j}");
        assert_eq!(serde_json::from_str::<Entry>(&j).unwrap(), e);
    }
}
