//! A minimal, deterministic tar writer (POSIX ustar, PAX records only when a field overflows).
//!
//! Owns: header encoding. Names go in ustar `name`/`prefix`; a PAX `x` record carries `path`,
//! `linkpath`, `size`, `uid` or `gid` only when they do not fit. There are never PAX time
//! records, xattrs, user or group names, or device numbers: two runs give the same bytes.

use std::io::{self, Write};

/// The kind of a tar entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// Metadata of one entry.
#[derive(Clone, Debug)]
pub struct Meta<'a> {
    /// Relative path without a leading `/`, without a trailing `/` (added for directories).
    pub path: &'a str,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: u64,
    pub link: &'a str,
}

pub struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter { out }
    }

    /// Writes the header(s) of an entry; for files, the caller then writes exactly
    /// `meta.size` bytes through `data()` and calls `pad(meta.size)`.
    pub fn header(&mut self, meta: &Meta<'_>) -> io::Result<()> {
        let name = match meta.kind {
            Kind::Dir => format!("{}/", meta.path),
            _ => meta.path.to_string(),
        };
        let mut pax: Vec<(&str, String)> = Vec::new();
        let (ustar_name, prefix) = match split_name(&name) {
            Some(np) => np,
            None => {
                pax.push(("path", name.clone()));
                (truncate(&name, 100), String::new())
            }
        };
        if meta.link.len() > 100 {
            pax.push(("linkpath", meta.link.to_string()));
        }
        if meta.size > 0o77777777777 {
            pax.push(("size", meta.size.to_string()));
        }
        if u64::from(meta.uid) > 0o7777777 {
            pax.push(("uid", meta.uid.to_string()));
        }
        if u64::from(meta.gid) > 0o7777777 {
            pax.push(("gid", meta.gid.to_string()));
        }
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &pax {
                body.extend_from_slice(&pax_record(k, v));
            }
            let pax_name = format!("PaxHeaders/{}", truncate(&ustar_name, 80));
            let h = encode(
                &pax_name,
                "",
                b'x',
                0o644,
                0,
                0,
                body.len() as u64,
                meta.mtime,
                "",
            );
            self.out.write_all(&h)?;
            self.out.write_all(&body)?;
            self.pad(body.len() as u64)?;
        }
        let flag = match meta.kind {
            Kind::File => b'0',
            Kind::Dir => b'5',
            Kind::Symlink => b'2',
        };
        let link = if meta.link.len() > 100 {
            truncate(meta.link, 100)
        } else {
            meta.link.to_string()
        };
        let h = encode(
            &ustar_name,
            &prefix,
            flag,
            meta.mode,
            meta.uid.min(0o7777777),
            meta.gid.min(0o7777777),
            meta.size.min(0o77777777777),
            meta.mtime,
            &link,
        );
        self.out.write_all(&h)
    }

    pub fn data(&mut self) -> &mut W {
        &mut self.out
    }

    /// Pads file data of length `len` to the 512-byte block size.
    pub fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % 512) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        Ok(self.out)
    }
}

fn truncate(s: &str, n: usize) -> String {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Splits a name into ustar (name ≤ 100, prefix ≤ 155) at a `/`, or None if it cannot fit.
fn split_name(name: &str) -> Option<(String, String)> {
    if name.len() <= 100 {
        return Some((name.to_string(), String::new()));
    }
    // Search the split point: prefix ≤ 155 bytes, rest ≤ 100 bytes (a trailing `/` of a
    // directory stays with the name part).
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for (i, _) in trimmed.match_indices('/') {
        let (p, n) = (&name[..i], &name[i + 1..]);
        if p.len() <= 155 && n.len() <= 100 && !n.is_empty() && n != "/" {
            return Some((n.to_string(), p.to_string()));
        }
    }
    None
}

/// `"%d %s=%s\n"` where the leading length counts the whole record.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut len = base + base.to_string().len();
    if len.to_string().len() + base != len {
        len = base + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

#[allow(clippy::too_many_arguments)]
fn encode(
    name: &str,
    prefix: &str,
    flag: u8,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: u64,
    link: &str,
) -> [u8; 512] {
    let mut h = [0u8; 512];
    put(&mut h[0..100], name.as_bytes());
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], u64::from(uid));
    octal(&mut h[116..124], u64::from(gid));
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[148..156].fill(b' ');
    h[156] = flag;
    put(&mut h[157..257], link.as_bytes());
    put(&mut h[257..263], b"ustar\0");
    put(&mut h[263..265], b"00");
    // uname/gname empty; devmajor/devminor zero-filled octal like GNU tar for regular entries.
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    put(&mut h[345..500], prefix.as_bytes());
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let cs = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(cs.as_bytes());
    h
}

fn put(field: &mut [u8], v: &[u8]) {
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
}

/// Zero-padded octal with a trailing NUL, filling the field.
fn octal(field: &mut [u8], v: u64) {
    let s = format!("{v:0width$o}", width = field.len() - 1);
    let b = s.as_bytes();
    let b = &b[b.len() - (field.len() - 1)..];
    let n = field.len() - 1;
    field[..n].copy_from_slice(b);
    field[n] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(Meta<'_>, &[u8])]) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new());
        for (m, data) in entries {
            w.header(m).unwrap();
            if m.kind == Kind::File {
                w.data().write_all(data).unwrap();
                w.pad(m.size).unwrap();
            }
        }
        w.finish().unwrap()
    }

    fn meta(path: &str, kind: Kind, size: u64) -> Meta<'_> {
        Meta {
            path,
            kind,
            mode: 0o755,
            uid: 65532,
            gid: 65532,
            size,
            mtime: 1_700_000_000,
            link: "",
        }
    }

    #[test]
    fn the_tar_crate_reads_what_we_write() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let very_long = "x/".repeat(200) + "end";
        let link_target = "t".repeat(150);
        let mut sl = meta("lnk", Kind::Symlink, 0);
        sl.link = &link_target;
        let bytes = archive(&[
            (meta("usr", Kind::Dir, 0), b""),
            (meta("usr/hello", Kind::File, 5), b"hello"),
            (meta(&long, Kind::File, 1), b"1"),
            (meta(&very_long, Kind::File, 2), b"22"),
            (sl, b""),
        ]);
        assert_eq!(bytes.len() % 512, 0);
        let mut a = tar::Archive::new(&bytes[..]);
        let got: Vec<(String, u64, u32, u64, Option<String>)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.uid().unwrap(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    e.link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(got[0].0, "usr/");
        assert_eq!(
            got[1],
            ("usr/hello".into(), 65532, 0o755, 1_700_000_000, None)
        );
        assert_eq!(got[2].0, long);
        assert_eq!(got[3].0, very_long);
        assert_eq!(got[4].4.as_deref(), Some(link_target.as_str()));
        // No user or group names, ever.
        let mut a = tar::Archive::new(&bytes[..]);
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.header().username_bytes(), Some(&b""[..]));
        }
    }

    #[test]
    fn pax_record_lengths_are_self_consistent() {
        for v in [
            "a",
            &"b".repeat(94),
            &"c".repeat(95),
            &"d".repeat(994),
            &"e".repeat(995),
        ] {
            let r = pax_record("path", v);
            let s = String::from_utf8(r.clone()).unwrap();
            let n: usize = s.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(n, r.len(), "{s}");
        }
    }

    #[test]
    fn header_bytes_are_stable() {
        let h = encode("etc/passwd", "", b'0', 0o644, 0, 0, 3, 0, "");
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(&h[148..156], format!("{sum:06o}\0 ").as_bytes());
        assert_eq!(&h[124..136], b"00000000003\0");
        assert_eq!(&h[265..297], &[0u8; 32]);
    }
}
