//! Concurrent writers lose nothing; killed ones leave nothing that matters.
//!
//! Owns: the advisory lock kiln holds around the final update of a layout or an archive
//! ([`Lock::folder`]: `flock` on the folder that holds it, so creating a layout, adding a tag
//! and adding a signature all serialise, and a lock is released by the kernel when its process
//! dies); staging folders and temporary files ([`Staging`], [`temp_file_in`]) that are
//! removed on drop, on Ctrl-C or SIGTERM ([`remove_live`], called by the CLI's signal handler)
//! and, after `kill -9`, by the next run ([`sweep`]: a staging folder belongs to a live process
//! exactly while its owner file is locked); atomic writes (temporary file, fsync, rename).
//! Does not own: what is written (callers).
//! Invariant: a file kiln publishes appears whole or not at all; the lock is held only around
//! the final read-modify-write, never while layers are compressed; a message is shown while a
//! writer waits for another.

use super::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Prefixes of what kiln leaves in a folder while it works (and [`sweep`] may remove).
const STAGING: &str = ".kiln-staging-";
const TMP: &str = ".kiln-tmp-";
const OWNER: &str = ".owner";

/// How long an unlocked temporary file must have existed before [`sweep`] removes it (it is
/// locked a moment after its creation).
const STALE_AFTER: Duration = Duration::from_secs(10);

/// Paths removed when the process is interrupted.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Where "waiting for a lock" is said (the CLI sets it; the library never prints).
static NOTICE: OnceLock<fn(&str)> = OnceLock::new();

/// Sets the function that tells the user kiln is waiting for another writer.
pub fn on_wait(notice: fn(&str)) {
    let _ = NOTICE.set(notice);
}

fn register(p: &Path) {
    if let Ok(mut l) = LIVE.lock() {
        l.push(p.to_path_buf());
    }
}

fn unregister(p: &Path) {
    if let Ok(mut l) = LIVE.lock() {
        if let Some(i) = l.iter().rposition(|x| x == p) {
            l.swap_remove(i);
        }
    }
}

/// Removes every staging folder and temporary file this process has open (for a signal
/// handler, before it exits).
pub fn remove_live() {
    let list = match LIVE.lock() {
        Ok(l) => l.clone(),
        Err(p) => p.into_inner().clone(),
    };
    for p in list {
        let _ = fs_err::remove_dir_all(&p).or_else(|_| fs_err::remove_file(&p));
        let _ = fs_err::remove_file(owner_of(&p));
    }
}

/// An advisory lock, released when dropped (or when the process dies).
pub struct Lock {
    _file: std::fs::File,
}

impl Lock {
    /// Locks the folder that holds `path` (for a layout: its parent, so that creating it is
    /// covered too; two layouts side by side share the lock only for their final updates).
    pub fn beside(path: &Path) -> Result<Lock, Error> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Lock::folder(&parent)
    }

    /// Locks the folder `dir` (exclusive `flock` on the folder itself), waiting for another
    /// holder and saying so.
    pub fn folder(dir: &Path) -> Result<Lock, Error> {
        let err = |e| Error::Write {
            path: dir.to_path_buf(),
            source: e,
        };
        let file = fs_err::File::open(dir).map_err(err)?.into_parts().0;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                if let Some(n) = NOTICE.get() {
                    n(&format!(
                        "waiting for another kiln writing in {} to finish",
                        dir.display()
                    ));
                }
                file.lock().map_err(err)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        Ok(Lock { _file: file })
    }
}

fn owner_of(staging: &Path) -> PathBuf {
    let mut s = staging.as_os_str().to_os_string();
    s.push(OWNER);
    PathBuf::from(s)
}

/// A staging folder: removed when dropped, on Ctrl-C, or by the next run's [`sweep`] once its
/// owner (this process) is gone.
pub struct Staging {
    dir: Option<PathBuf>,
    owner: PathBuf,
    _lock: std::fs::File,
}

impl Staging {
    /// A new staging folder `.kiln-staging-*` in `parent` (created when missing). Its owner
    /// file `…owner` beside it is created and locked first, so the folder is never seen
    /// without a live owner.
    pub fn new_in(parent: &Path) -> Result<Staging, Error> {
        let err = |p: &Path| {
            let p = p.to_path_buf();
            move |e| Error::Write { path: p, source: e }
        };
        fs_err::create_dir_all(parent).map_err(err(parent))?;
        for _ in 0..100 {
            let name = format!("{STAGING}{:016x}", rand_u64());
            let dir = parent.join(&name);
            let owner = owner_of(&dir);
            let f = match fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&owner)
            {
                Ok(f) => f.into_parts().0,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(err(&owner)(e)),
            };
            f.lock().map_err(err(&owner))?;
            register(&owner);
            match fs_err::create_dir(&dir) {
                Ok(()) => {}
                Err(e) => {
                    let _ = fs_err::remove_file(&owner);
                    unregister(&owner);
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        continue;
                    }
                    return Err(err(&dir)(e));
                }
            }
            register(&dir);
            return Ok(Staging {
                dir: Some(dir),
                owner,
                _lock: f,
            });
        }
        Err(Error::Write {
            path: parent.to_path_buf(),
            source: std::io::Error::other("cannot find a free staging folder name"),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new(""))
    }

    /// A temporary file inside the staging folder (removed with it).
    pub fn temp_file(&self, prefix: &str) -> Result<tempfile::NamedTempFile, Error> {
        tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(self.path())
            .map_err(|e| Error::Write {
                path: self.path().to_path_buf(),
                source: e,
            })
    }

    /// Renames the staging folder to `dest` (which must not exist or be an empty folder):
    /// how a new layout appears whole.
    pub fn rename_to(mut self, dest: &Path) -> Result<(), Error> {
        let dir = self.dir.take().expect("a staging folder");
        unregister(&dir);
        if let Err(e) = fs_err::rename(&dir, dest) {
            let _ = fs_err::remove_dir_all(&dir);
            return Err(Error::Write {
                path: dest.to_path_buf(),
                source: e,
            });
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = fs_err::remove_dir_all(&d);
            unregister(&d);
        }
        let _ = fs_err::remove_file(&self.owner);
        unregister(&self.owner);
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return t ^ u64::from(std::process::id()) << 32;
    }
    u64::from_le_bytes(b)
}

fn getrandom(b: &mut [u8]) -> Result<(), ()> {
    use rand_core::RngCore;
    rand_core::OsRng.try_fill_bytes(b).map_err(|_| ())
}

/// A temporary file `.kiln-tmp-*` in `dir`, locked while this process holds it (so that
/// [`sweep`] tells a live one from a killed run's), removed on drop or Ctrl-C.
pub fn temp_file_in(dir: &Path) -> Result<TempFile, Error> {
    let tmp = tempfile::Builder::new()
        .prefix(TMP)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| Error::Write {
            path: dir.to_path_buf(),
            source: e,
        })?;
    tmp.as_file().lock().map_err(|e| Error::Write {
        path: tmp.path().to_path_buf(),
        source: e,
    })?;
    register(tmp.path());
    Ok(TempFile { tmp: Some(tmp) })
}

/// A registered temporary file (see [`temp_file_in`]).
pub struct TempFile {
    tmp: Option<tempfile::NamedTempFile>,
}

impl TempFile {
    pub fn as_file(&self) -> &std::fs::File {
        self.tmp.as_ref().expect("open").as_file()
    }

    pub fn path(&self) -> &Path {
        self.tmp.as_ref().expect("open").path()
    }

    /// Flushes it to disk and renames it to `dest`.
    pub fn persist(mut self, dest: &Path) -> Result<(), Error> {
        let tmp = self.tmp.take().expect("open");
        unregister(tmp.path());
        persist(tmp, dest)
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.as_mut().expect("open").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.as_mut().expect("open").flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(t) = self.tmp.take() {
            let p = t.path().to_path_buf();
            drop(t);
            unregister(&p);
        }
    }
}

/// fsyncs `tmp` and renames it to `dest`.
pub fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<(), Error> {
    tmp.as_file().sync_all().map_err(|e| Error::Write {
        path: dest.to_path_buf(),
        source: e,
    })?;
    tmp.persist(dest).map_err(|e| Error::Write {
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Writes `bytes` to `dest` atomically (a temporary file beside it, fsync, rename).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = temp_file_in(&parent)?;
    tmp.write_all(bytes).map_err(|e| Error::Write {
        path: dest.to_path_buf(),
        source: e,
    })?;
    tmp.persist(dest)
}

/// Removes from `dir` what killed kiln runs left: staging folders whose owner file is not
/// locked (or missing), and unlocked temporary files older than a few seconds. Best effort:
/// nothing here fails a build.
pub fn sweep(dir: &Path) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let path = e.path();
        if name.starts_with(STAGING) && !name.ends_with(OWNER) {
            if owner_gone(&owner_of(&path)) {
                let _ = fs_err::remove_dir_all(&path);
                let _ = fs_err::remove_file(owner_of(&path));
            }
        } else if name.starts_with(STAGING) {
            // An owner file whose folder is gone (or never made): remove it when unlocked.
            let dir = PathBuf::from(path.to_string_lossy().trim_end_matches(OWNER));
            if !dir.exists() && owner_gone(&path) && old(&path) {
                let _ = fs_err::remove_file(&path);
            }
        } else if name.starts_with(TMP) && owner_gone(&path) && old(&path) {
            let _ = fs_err::remove_file(&path);
        }
    }
}

/// True when nobody holds the lock on `owner` (or it does not exist).
fn owner_gone(owner: &Path) -> bool {
    match std::fs::OpenOptions::new().read(true).open(owner) {
        Ok(f) => f.try_lock().is_ok(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn old(p: &Path) -> bool {
    fs_err::symlink_metadata(p)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= STALE_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_staging_folder_survives_a_sweep_and_a_dead_one_does_not() {
        let t = tempfile::tempdir().unwrap();
        let live = Staging::new_in(t.path()).unwrap();
        fs_err::write(live.path().join("x"), b"x").unwrap();
        // A killed run's: a folder whose owner file nobody locks.
        let dead = t.path().join(format!("{STAGING}dead"));
        fs_err::create_dir(&dead).unwrap();
        fs_err::write(owner_of(&dead), b"").unwrap();
        let orphan = t.path().join(format!("{STAGING}orphan"));
        fs_err::create_dir(&orphan).unwrap();
        sweep(t.path());
        assert!(live.path().join("x").exists());
        assert!(!dead.exists() && !owner_of(&dead).exists());
        assert!(!orphan.exists());
        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists() && !owner_of(&p).exists());
    }

    #[test]
    fn locks_serialise_writers() {
        let t = tempfile::tempdir().unwrap();
        let first = Lock::folder(t.path()).unwrap();
        let dir = t.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            let _second = Lock::folder(&dir).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        drop(first);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        h.join().unwrap();
    }
}
