//! Where kiln has seen blobs: for each registry host, the repositories a blob was pushed to
//! or pulled from (a base image's layers),
//! so a push to another repository of that registry mounts them instead of uploading (as
//! containers/image's blob info cache does for skopeo).
//!
//! Owns: the file `$KILN_CACHE_DIR/blob-locations.json` (default
//! `${XDG_CACHE_HOME:-~/.cache}/kiln/`), read once per push and written atomically after a
//! push succeeded; bounded (the last [`REPOS_PER_BLOB`] repositories of a blob, the newest
//! [`MAX_BLOBS`] blobs of a host).
//! Invariant: the cache only ever suggests a mount; a missing, stale or broken cache file never
//! fails a push (a mount the registry refuses becomes an upload). It holds host names,
//! repository names and digests only: no credentials.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Repositories remembered per blob.
pub(super) const REPOS_PER_BLOB: usize = 3;
/// Blobs remembered per registry host.
pub(super) const MAX_BLOBS: usize = 20_000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    /// host -> digest -> (sequence number of the last push, repositories, newest last).
    hosts: BTreeMap<String, BTreeMap<String, (u64, Vec<String>)>>,
    /// Increases with each recorded push.
    sequence: u64,
}

/// The blob locations of one push's registry.
pub(super) struct Known {
    path: Option<PathBuf>,
    file: File,
}

fn cache_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("KILN_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("blob-locations.json"));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("kiln/blob-locations.json"))
}

impl Known {
    /// The cache as it is on disk (empty when there is none or it cannot be read).
    pub(super) fn load() -> Known {
        let path = cache_path();
        let file = path
            .as_ref()
            .and_then(|p| fs_err::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Known { path, file }
    }

    /// The repositories of `host` other than `except` where `digest` was pushed, newest first.
    pub(super) fn repos(&self, host: &str, digest: &Digest, except: &str) -> Vec<String> {
        self.file
            .hosts
            .get(host)
            .and_then(|h| h.get(&digest.to_string()))
            .map(|(_, repos)| {
                repos
                    .iter()
                    .rev()
                    .filter(|r| *r != except)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records that `digests` are in `repo` of `host`, and writes the cache (best effort).
    pub(super) fn record<'a>(
        &mut self,
        host: &str,
        repo: &str,
        digests: impl Iterator<Item = &'a Digest>,
    ) {
        self.file.sequence += 1;
        let seq = self.file.sequence;
        let blobs = self.file.hosts.entry(host.to_string()).or_default();
        for d in digests {
            let (when, repos) = blobs.entry(d.to_string()).or_default();
            *when = seq;
            repos.retain(|r| r != repo);
            repos.push(repo.to_string());
            if repos.len() > REPOS_PER_BLOB {
                repos.remove(0);
            }
        }
        if blobs.len() > MAX_BLOBS {
            let mut by_age: Vec<(u64, String)> =
                blobs.iter().map(|(d, (w, _))| (*w, d.clone())).collect();
            by_age.sort();
            for (_, d) in by_age.iter().take(blobs.len() - MAX_BLOBS) {
                blobs.remove(d);
            }
        }
        let _ = self.save();
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        fs_err::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".blob-locations-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)?;
        tmp.write_all(&serde_json::to_vec(&self.file).map_err(std::io::Error::other)?)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::of(&[n])
    }

    #[test]
    fn remembers_the_newest_repositories_of_a_blob() {
        let mut k = Known {
            path: None,
            file: File::default(),
        };
        for repo in ["a", "b", "c", "d"] {
            k.record("h:5000", repo, [d(1)].iter());
        }
        assert_eq!(k.repos("h:5000", &d(1), "c"), ["d", "b"]);
        assert!(k.repos("other", &d(1), "x").is_empty());
        assert!(k.repos("h:5000", &d(2), "x").is_empty());
        // Pushing to a repository again makes it the newest.
        k.record("h:5000", "b", [d(1)].iter());
        assert_eq!(k.repos("h:5000", &d(1), "x"), ["b", "d", "c"]);
    }
}
