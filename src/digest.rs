//! Content digests and the writer adapters that compute them while data streams through.
//!
//! Owns: the `Digest` newtype (`sha256:` + 64 or `sha512:` + 128 lower-case hex digits, the two
//! algorithms the OCI image spec registers), checking bytes against a digest, and
//! `HashingWriter`, which counts and hashes bytes on their way to an inner writer.
//! Invariant: a `Digest` value is always well formed; parsing rejects anything else, so a digest
//! can become a path (`blobs/ALG/HEX`) without further checks. kiln itself writes sha256 only.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::io::{self, Read, Write};

/// A digest algorithm the OCI image spec registers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Algorithm {
    /// SHA-256, 64 hex digits: what kiln writes.
    Sha256,
    /// SHA-512, 128 hex digits: read and verified, never written.
    Sha512,
}

impl Algorithm {
    /// `sha256` or `sha512`: the prefix of a digest and the folder under `blobs/`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// A content digest, `ALG:<hex>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    bytes: Box<[u8]>,
}

/// An incremental hash in the algorithm of a digest it will be compared with.
pub enum Hasher {
    /// Hashing in SHA-256.
    Sha256(Sha256),
    /// Hashing in SHA-512.
    Sha512(Sha512),
}

impl Hasher {
    /// An empty hash in `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Adds `bytes` to the hash.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of every byte added.
    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::from_hasher(h),
            Hasher::Sha512(h) => Digest {
                algorithm: Algorithm::Sha512,
                bytes: h.finalize().to_vec().into_boxed_slice(),
            },
        }
    }
}

impl Digest {
    /// The sha256 digest of `bytes` (what kiln writes).
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of `bytes` in this digest's algorithm: equal to `self` when the bytes are the
    /// ones it names.
    pub fn recompute(&self, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(self.algorithm);
        h.update(bytes);
        h.finish()
    }

    /// True when `bytes` are what this digest names.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.recompute(bytes) == *self
    }

    pub(crate) fn from_hasher(h: Sha256) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            bytes: h.finalize().to_vec().into_boxed_slice(),
        }
    }

    /// The algorithm this digest was computed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex digits without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// The first 12 hex digits, for messages and tables (not unique: never a lookup key).
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }

    /// Where the blob lives in an OCI layout: `blobs/ALG/HEX` (safe as a path: validated).
    pub fn blob_path(&self) -> String {
        format!("blobs/{}/{}", self.algorithm.name(), self.hex())
    }

    /// `sha256:` + 64 or `sha512:` + 128 lower-case hex digits; nothing else.
    pub fn parse(s: &str) -> Option<Digest> {
        let (algorithm, hex) = if let Some(h) = s.strip_prefix("sha256:") {
            (Algorithm::Sha256, h)
        } else if let Some(h) = s.strip_prefix("sha512:") {
            (Algorithm::Sha512, h)
        } else {
            return None;
        };
        if hex.len() != 2 * algorithm.len()
            || hex.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let bytes = hex::decode(hex).ok()?.into_boxed_slice();
        Some(Digest { algorithm, bytes })
    }

    /// Hash everything `r` yields, in bounded memory; returns the sha256 digest and the length.
    pub fn of_reader(r: impl Read) -> io::Result<(Digest, u64)> {
        hash_reader(Algorithm::Sha256, r)
    }

    /// Hash everything `r` yields in this digest's algorithm, in bounded memory; returns the
    /// digest and the length.
    pub fn recompute_reader(&self, r: impl Read) -> io::Result<(Digest, u64)> {
        hash_reader(self.algorithm, r)
    }
}

/// The SHA-1 of a file's bytes: not an address (kiln never trusts it), only what SPDX's
/// `checksums` and some scanners still ask for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha1(pub [u8; 20]);

impl Sha1 {
    /// The SHA-1 of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha1 {
        use sha1::Digest as _;
        Sha1(sha1::Sha1::digest(bytes).into())
    }

    /// Lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Sha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha1:{}", self.hex())
    }
}

/// SHA-256 and SHA-1 of everything `r` yields, from one read, in bounded memory; and the length.
pub fn sha256_and_sha1(r: impl Read) -> io::Result<(Digest, Sha1, u64)> {
    use sha1::Digest as _;
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut h1 = sha1::Sha1::new();
    let n = each_chunk(r, |chunk| {
        h.update(chunk);
        h1.update(chunk);
    })?;
    Ok((h.finish(), Sha1(h1.finalize().into()), n))
}

/// Feeds everything `r` yields to `f`, 64 KiB at a time (memory bounded); returns the length.
fn each_chunk(mut r: impl Read, mut f: impl FnMut(&[u8])) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        f(&buf[..k]);
        n += k as u64;
    }
}

fn hash_reader(algorithm: Algorithm, r: impl Read) -> io::Result<(Digest, u64)> {
    let mut h = Hasher::new(algorithm);
    let n = each_chunk(r, |chunk| h.update(chunk))?;
    Ok((h.finish(), n))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{:?} is not a digest (sha256: and 64, or sha512: and 128, lower-case hex digits)",
                crate::digest::shorten(&s)
            ))
        })
    }
}

/// At most 80 characters of `s` for a message (hostile input may be long).
pub fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(77).collect::<String>())
    }
}

/// Hashes and counts every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`, with nothing hashed or counted yet.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer (bytes written to it directly are neither hashed nor counted).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The digest and byte count so far, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (Digest::from_hasher(self.hasher), self.count, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_bad_input() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&d.to_string()), Some(d));
        assert_eq!(Digest::parse("sha256:E3B0"), None);
        assert_eq!(Digest::parse("md5:00"), None);
        let upper = "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(Digest::parse(upper), None);
        for bad in [
            "sha256:../../../etc/passwd",
            "sha256:",
            "sha384:00",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            " sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/",
        ] {
            assert_eq!(Digest::parse(bad), None, "{bad}");
        }
        let d512 = format!("sha512:{}", "ab".repeat(64));
        let p = Digest::parse(&d512).unwrap();
        assert_eq!(p.to_string(), d512);
        assert_eq!(p.blob_path(), format!("blobs/sha512/{}", "ab".repeat(64)));
        assert_eq!(Digest::parse(&format!("sha512:{}", "ab".repeat(32))), None);
    }

    #[test]
    fn recompute_uses_the_digest_algorithm() {
        let empty512 = Digest::parse("sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e").unwrap();
        assert!(empty512.matches(b""));
        assert!(!empty512.matches(b"x"));
        assert!(Digest::of(b"x").matches(b"x"));
    }

    #[test]
    fn hashing_writer_matches_one_shot() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (d, n, inner) = w.finish();
        assert_eq!(n, 11);
        assert_eq!(inner, b"hello world");
        assert_eq!(d, Digest::of(b"hello world"));
    }
}
