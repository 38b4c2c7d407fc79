//! Parallel, deterministic gzip: the stream is cut into fixed 1 MiB blocks that are deflated
//! on worker threads and joined in order, the way pigz does it.
//!
//! Owns: the block size, the gzip header (no name, mtime 0, XFL 0, OS 255) and trailer. Each
//! block is a raw deflate stream primed with the previous block's last 32 KiB as its
//! dictionary and ended with a sync flush (the last one with a final block), so the output is
//! one valid deflate stream whose bytes depend only on the input and the level, never on the
//! number of threads or how the input was split into `write` calls.
//! Invariant: memory is bounded by (2 × workers + 1) blocks in flight, whatever the input size.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Uncompressed bytes per block. Part of every layer digest: changing it changes digests.
pub const BLOCK: usize = 1 << 20;
const WINDOW: usize = 32 * 1024;

struct Job {
    seq: u64,
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

/// A gzip writer that compresses blocks in parallel.
pub struct ParGzWriter<W: Write> {
    /// Taken by `finish`.
    out: Option<W>,
    buf: Vec<u8>,
    tail: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
    next_seq: u64,
    next_write: u64,
    done: BTreeMap<u64, Vec<u8>>,
    jobs: Option<Sender<Job>>,
    results: Receiver<(u64, Vec<u8>)>,
    workers: Vec<JoinHandle<()>>,
    in_flight: usize,
    max_in_flight: usize,
}

/// Deflates one block. Pure: the same inputs give the same bytes.
pub fn deflate_block(level: u32, dict: &[u8], data: &[u8], last: bool) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict)
            .expect("raw deflate accepts a preset dictionary");
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    loop {
        let used = usize::try_from(c.total_in()).expect("block fits in memory");
        let status = c
            .compress_vec(&data[used..], &mut out, flush)
            .expect("deflate of an in-memory block cannot fail");
        let consumed = usize::try_from(c.total_in()).expect("block fits in memory") == data.len();
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => break,
            _ if consumed && room_left && !last => break,
            _ => out.reserve(out.capacity().max(4096)),
        }
    }
    out
}

impl<W: Write> ParGzWriter<W> {
    /// `threads` only changes speed, never the output.
    pub fn new(mut out: W, level: u32, threads: usize) -> io::Result<Self> {
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        let threads = threads.clamp(1, 64);
        let (jtx, jrx) = channel::<Job>();
        let (rtx, rrx) = channel();
        let jrx = Arc::new(Mutex::new(jrx));
        let workers = (0..threads)
            .map(|_| {
                let jrx = Arc::clone(&jrx);
                let rtx = rtx.clone();
                std::thread::spawn(move || loop {
                    let job = match jrx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let bytes = deflate_block(level, &job.dict, &job.data, job.last);
                    if rtx.send((job.seq, bytes)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Ok(ParGzWriter {
            out: Some(out),
            buf: Vec::with_capacity(BLOCK),
            tail: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total: 0,
            next_seq: 0,
            next_write: 0,
            done: BTreeMap::new(),
            jobs: Some(jtx),
            results: rrx,
            workers,
            in_flight: 0,
            max_in_flight: 2 * threads,
        })
    }

    fn dispatch(&mut self, data: Vec<u8>, last: bool) -> io::Result<()> {
        self.crc.update(&data);
        self.total += data.len() as u64;
        let dict = std::mem::take(&mut self.tail);
        // Every block but the last is BLOCK bytes, so its tail is a whole window.
        self.tail = data[data.len().saturating_sub(WINDOW)..].to_vec();
        let job = Job {
            seq: self.next_seq,
            dict,
            data,
            last,
        };
        self.next_seq += 1;
        let Some(jobs) = &self.jobs else {
            return Err(io::Error::other("gzip writer already finished"));
        };
        jobs.send(job)
            .map_err(|_| io::Error::other("a compression worker stopped"))?;
        self.in_flight += 1;
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        Ok(())
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let (seq, bytes) = self
            .results
            .recv()
            .map_err(|_| io::Error::other("a compression worker stopped"))?;
        self.in_flight -= 1;
        self.done.insert(seq, bytes);
        while let Some(bytes) = self.done.remove(&self.next_write) {
            self.out
                .as_mut()
                .ok_or_else(|| io::Error::other("gzip writer already finished"))?
                .write_all(&bytes)?;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let rest = std::mem::take(&mut self.buf);
        self.dispatch(rest, true)?;
        self.jobs = None;
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        let mut out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("gzip writer already finished"))?;
        out.write_all(&crc.to_le_bytes())?;
        // ISIZE is the length modulo 2^32 (RFC 1952).
        out.write_all(&(self.total as u32).to_le_bytes())?;
        Ok(out)
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            let take = (BLOCK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == BLOCK {
                let full = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK));
                self.dispatch(full, false)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ParGzWriter<W> {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if (i / 4096) % 3 == 0 {
                    (x % 251) as u8
                } else {
                    b"the quick brown fox jumps over the lazy dog "[i % 44]
                }
            })
            .collect()
    }

    fn gz(data: &[u8], threads: usize, step: usize) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), 6, threads).unwrap();
        for c in data.chunks(step.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_and_ignores_threads_and_write_sizes() {
        for n in [0, 1, 100, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345] {
            let data = sample(n);
            let a = gz(&data, 1, 7919);
            let b = gz(&data, 4, BLOCK + 3);
            assert_eq!(a, b, "output depends on threads or write sizes (n = {n})");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&a[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "n = {n}");
            // Also valid for a strict single-member decoder.
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&a[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back.len(), n);
        }
    }

    #[test]
    fn compresses_about_as_well_as_one_stream() {
        let data = sample(4 * BLOCK);
        let par = gz(&data, 2, 65536).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        one.write_all(&data).unwrap();
        let one = one.finish().unwrap().len();
        assert!(
            (par as f64) < one as f64 * 1.01,
            "parallel {par} vs single {one}"
        );
    }
}
