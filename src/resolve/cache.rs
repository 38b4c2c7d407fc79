//! The target's `/etc/ld.so.cache` (glibc's "glibc-ld.so.cache1.1" format), read inside the
//! root.
//!
//! Owns: parsing the cache with every offset bounds-checked, and listing the paths recorded
//! for a soname in file order (glibc takes the first acceptable one). Entries for
//! glibc-hwcaps subdirectories (hwcap extension bit) are skipped: kiln decides hwcaps from the
//! stated target level by searching the subdirectories itself.

use std::path::Path;

const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const HWCAP_EXTENSION: u64 = 1 << 62;

/// The parsed cache: (soname, path) in file order.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: Vec<(String, String)>,
}

impl Cache {
    /// Reads `root/etc/ld.so.cache`; None when there is none or it is not a valid cache.
    pub(crate) fn read(root: &Path) -> Option<Cache> {
        let bytes = fs_err::read(root.join("etc/ld.so.cache")).ok()?;
        Cache::parse(&bytes)
    }

    pub(crate) fn parse(bytes: &[u8]) -> Option<Cache> {
        let start = if bytes.starts_with(NEW_MAGIC) {
            0
        } else if bytes.starts_with(OLD_MAGIC) {
            // Old format followed by the new one, aligned to 8 bytes.
            let n = u32_at(bytes, 12)? as usize;
            let end = 16usize.checked_add(n.checked_mul(12)?)?;
            let aligned = end.checked_add(7)? & !7;
            if !bytes.get(aligned..)?.starts_with(NEW_MAGIC) {
                return None;
            }
            aligned
        } else {
            return None;
        };
        let data = &bytes[start..];
        let nlibs = u32_at(data, 20)? as usize;
        let mut entries = Vec::new();
        for i in 0..nlibs.min(1 << 20) {
            let off = 48usize.checked_add(i.checked_mul(24)?)?;
            let flags = u32_at(data, off)?;
            let key = u32_at(data, off + 4)? as usize;
            let value = u32_at(data, off + 8)? as usize;
            let hwcap =
                u64::from(u32_at(data, off + 16)?) | (u64::from(u32_at(data, off + 20)?) << 32);
            if flags & 0xff != 3 || hwcap & HWCAP_EXTENSION != 0 {
                continue; // not an ELF libc6 entry, or a glibc-hwcaps entry
            }
            let (Some(k), Some(v)) = (cstr(data, key), cstr(data, value)) else {
                continue;
            };
            entries.push((k, v));
        }
        Some(Cache { entries })
    }

    /// Paths recorded for `name`, in file order.
    pub(crate) fn lookup<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every directory the cache holds libraries in, for error messages.
    pub(crate) fn directories(&self) -> Vec<String> {
        let mut dirs: Vec<String> = self
            .entries
            .iter()
            .filter_map(|(_, v)| v.rsplit_once('/').map(|(d, _)| d.to_string()))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn cstr(b: &[u8], off: usize) -> Option<String> {
    let rest = b.get(off..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    String::from_utf8(rest[..end].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_host_cache_and_survives_garbage() {
        if let Some(c) = Cache::read(Path::new("/")) {
            assert!(
                c.lookup("libc.so.6").next().is_some(),
                "libc.so.6 is in the host's cache"
            );
        }
        let mut junk = NEW_MAGIC.to_vec();
        junk.extend([0xff; 64]);
        // An entry table that runs past the end makes the whole cache invalid (glibc ignores it too).
        assert!(Cache::parse(&junk).is_none());
        assert!(Cache::parse(b"nonsense").is_none());
        let mut old = OLD_MAGIC.to_vec();
        old.extend([0xff; 8]);
        assert!(Cache::parse(&old).is_none());
    }
}
