//! A deterministic benchmark tree: the same bytes for the same size on every machine.
//!
//! Everything comes from a xorshift64 generator seeded with a constant. The plan splits the
//! requested size into a large file (half the total, alternating random and repeated 1 MiB
//! chunks, so it is partly compressible), many small files (1-16 KiB, alternately compressible
//! text and random bytes; 2000 of them at 1 GiB, scaled with the size) and medium files
//! (1-8 MiB, random, text or mixed) that fill the rest, spread over nested directories.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::util::{Context, Result};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const SEED: u64 = 0x6b69_6c6e_2d62_656e; // "kiln-ben"
const CHUNK: usize = MIB as usize;

/// Marsaglia's xorshift64: tiny, fast, and good enough for benchmark payloads.
pub struct Xorshift64(u64);

impl Xorshift64 {
    pub fn new(seed: u64) -> Self {
        // The state must never be zero.
        Xorshift64(if seed == 0 { SEED } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let bytes = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&bytes[..rest.len()]);
    }
}

/// What a file's bytes look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Words from a small vocabulary: compresses well.
    Text,
    /// Uniform random bytes: does not compress.
    Random,
    /// 1 MiB chunks alternating random bytes and a repeated 4 KiB block.
    Mixed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Relative to the tree's root.
    pub path: PathBuf,
    pub size: u64,
    pub content: Content,
}

/// Totals of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
}

/// The files of a tree of about `size_mib` MiB (exactly, when `size_mib` is at least 4).
pub fn plan(size_mib: u64) -> Vec<FileSpec> {
    let total = size_mib * MIB;
    let mut rng = Xorshift64::new(SEED);
    let mut files = Vec::new();

    let large = total / 2;
    files.push(FileSpec {
        path: PathBuf::from("large/blob.bin"),
        size: large,
        content: Content::Mixed,
    });

    let small_count = (2000 * size_mib / 1024).max(100);
    let mut used = large;
    for i in 0..small_count {
        let size = rng.range(KIB, 16 * KIB);
        let (content, ext) = if i % 2 == 0 {
            (Content::Text, "txt")
        } else {
            (Content::Random, "bin")
        };
        files.push(FileSpec {
            path: PathBuf::from(format!(
                "small/d{}/e{}/f{}/file{i:05}.{ext}",
                i % 8,
                (i / 8) % 8,
                (i / 64) % 4
            )),
            size,
            content,
        });
        used += size;
    }

    let mut budget = total.saturating_sub(used);
    let mut i = 0u64;
    while budget > 0 {
        let mut size = rng.range(MIB, 8 * MIB).min(budget);
        if budget - size < MIB {
            // Fold a sub-MiB remainder into this file rather than making a tiny "medium" one.
            size = budget;
        }
        let (content, ext) = match i % 3 {
            0 => (Content::Random, "bin"),
            1 => (Content::Text, "txt"),
            _ => (Content::Mixed, "dat"),
        };
        files.push(FileSpec {
            path: PathBuf::from(format!("medium/m{}/part{i:03}.{ext}", i % 4)),
            size,
            content,
        });
        budget -= size;
        i += 1;
    }
    files
}

pub fn stats(plan: &[FileSpec]) -> Stats {
    Stats {
        files: plan.len() as u64,
        bytes: plan.iter().map(|f| f.size).sum(),
    }
}

const WORDS: &[&str] = &[
    "the",
    "image",
    "layer",
    "kiln",
    "manifest",
    "component",
    "reason",
    "library",
    "loader",
    "digest",
    "blob",
    "config",
    "index",
    "tree",
    "file",
    "symlink",
    "owner",
    "mode",
    "tar",
    "gzip",
    "reproducible",
    "minimal",
    "hardened",
    "container",
    "runtime",
    "entrypoint",
    "user",
    "group",
    "passwd",
    "certificate",
    "zone",
    "release",
    "build",
    "sha256",
    "path",
    "elf",
    "resolve",
    "closure",
    "interpreter",
    "runpath",
    "origin",
    "static",
    "dynamic",
    "shared",
    "object",
    "section",
    "header",
    "segment",
    "and",
    "of",
    "to",
    "in",
    "is",
    "for",
    "with",
    "every",
    "from",
    "each",
    "byte",
    "order",
    "sorted",
    "stable",
    "why",
    "because",
];

/// Streams a file's content chunk by chunk, so memory stays at one chunk.
struct Generator {
    rng: Xorshift64,
    content: Content,
    chunk_index: u64,
    block: Vec<u8>,
    line_words: u32,
}

impl Generator {
    fn new(seed: u64, content: Content) -> Self {
        let mut rng = Xorshift64::new(seed);
        let mut block = vec![0u8; 4096];
        rng.fill(&mut block);
        Generator {
            rng,
            content,
            chunk_index: 0,
            block,
            line_words: 0,
        }
    }

    /// Fills `buf` with the next `len` bytes of the file (at most one chunk).
    fn next_chunk(&mut self, buf: &mut Vec<u8>, len: usize) {
        buf.clear();
        let fill = match self.content {
            Content::Text => Fill::Words,
            Content::Random => Fill::Random,
            Content::Mixed if self.chunk_index % 2 == 0 => Fill::Random,
            Content::Mixed => Fill::Repeat,
        };
        match fill {
            Fill::Random => {
                buf.resize(len, 0);
                self.rng.fill(buf);
            }
            Fill::Repeat => {
                while buf.len() < len {
                    let take = (len - buf.len()).min(self.block.len());
                    buf.extend_from_slice(&self.block[..take]);
                }
            }
            Fill::Words => {
                while buf.len() < len {
                    let word = WORDS[(self.rng.next_u64() % WORDS.len() as u64) as usize];
                    buf.extend_from_slice(word.as_bytes());
                    self.line_words += 1;
                    if self.line_words == 12 {
                        buf.push(b'\n');
                        self.line_words = 0;
                    } else {
                        buf.push(b' ');
                    }
                }
                buf.truncate(len);
            }
        }
        self.chunk_index += 1;
    }
}

/// How one chunk is filled.
enum Fill {
    Random,
    Repeat,
    Words,
}

/// Writes every file of `plan` under `root` (which must not exist yet or be empty).
pub fn generate(root: &Path, plan: &[FileSpec]) -> Result<()> {
    let mut buf = Vec::with_capacity(CHUNK + 64);
    for (index, spec) in plan.iter().enumerate() {
        let path = root.join(&spec.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file =
            fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::with_capacity(CHUNK, file);
        let mut generator = Generator::new(
            SEED ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            spec.content,
        );
        let mut left = spec.size;
        while left > 0 {
            let len = left.min(CHUNK as u64) as usize;
            generator.next_chunk(&mut buf, len);
            out.write_all(&buf)
                .with_context(|| format!("cannot write {}", path.display()))?;
            left -= len as u64;
        }
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_is_deterministic() {
        let mut a = Xorshift64::new(1);
        assert_eq!(a.next_u64(), 1082269761);
        let mut b = Xorshift64::new(SEED);
        let mut c = Xorshift64::new(SEED);
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        b.fill(&mut x);
        c.fill(&mut y);
        assert_eq!(x, y);
    }

    #[test]
    fn plan_hits_the_requested_size() {
        for size_mib in [16, 64, 1024] {
            let plan = plan(size_mib);
            let stats = stats(&plan);
            assert_eq!(stats.bytes, size_mib * MIB, "size {size_mib}");
            assert!(plan.iter().all(|f| f.size > 0));
        }
        let default = plan(1024);
        assert_eq!(default[0].size, 512 * MIB);
        let small = default
            .iter()
            .filter(|f| f.path.starts_with("small"))
            .count();
        assert_eq!(small, 2000);
        assert_eq!(plan(64), plan(64));
    }

    #[test]
    fn generator_produces_exact_lengths() {
        for content in [Content::Text, Content::Random, Content::Mixed] {
            let mut generator = Generator::new(7, content);
            let mut buf = Vec::new();
            for len in [1, 4095, 4097, CHUNK] {
                generator.next_chunk(&mut buf, len);
                assert_eq!(buf.len(), len);
            }
        }
    }
}
