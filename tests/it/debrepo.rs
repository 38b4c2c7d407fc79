//! A throw-away signed Debian archive, built at test time with the real tools (gpg,
//! dpkg-deb, xz, md5sum), for every test of `deb` sources.
//!
//! ```ignore
//! let mut repo = Repo::new("stable");
//! repo.add(DebSpec::new("hello", "1.0", "amd64").file("/usr/bin/hello", b"#!/bin/sh\n", 0o755));
//! repo.publish(); // dists/stable/{Release,InRelease}, main/binary-amd64/Packages{,.gz,.xz}
//! // repo.dir is the archive root (file:// or served over HTTP), repo.keyring its keyring.
//! ```
//!
//! Layout: `pool/main/<initial>/<name>/<name>_<version>_<arch>.deb` (epoch dropped, as Debian
//! names them), `dists/SUITE/main/binary-amd64/Packages{,.gz,.xz}` with Filename, Size,
//! MD5sum and SHA256 added to each `dpkg-deb -f` paragraph, their by-hash copies, `Release`
//! (Origin, Label, Suite, Codename, Date, optional Valid-Until, Architectures, Components,
//! Acquire-By-Hash, SHA256) and `InRelease` from `gpg --clearsign`.
//! Negative tests use [`Publish`] (another signer, a digest, Valid-Until, an edit of the
//! Release text before signing) and [`Repo::path`] to tamper with what was written.
//!
//! Each repository has its own GNUPGHOME in a short `/tmp` folder (the agent's socket path
//! must stay under ~100 bytes), so tests run in parallel; its agent is killed on drop.
//! Tools are required, never skipped (`util::require`).

use crate::util::{require, run};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a file in a package is.
#[derive(Clone, Debug)]
pub(crate) enum FileSpec {
    /// A regular file with its contents and mode.
    Bytes(Vec<u8>, u32),
    /// A symbolic link to the target.
    Symlink(String),
    /// A folder.
    Dir,
}

/// A package to build: its control fields and files.
#[derive(Clone, Debug)]
pub(crate) struct DebSpec {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) arch: String,
    pub(crate) depends: Option<String>,
    pub(crate) pre_depends: Option<String>,
    pub(crate) provides: Option<String>,
    pub(crate) multi_arch: Option<String>,
    /// Absolute paths in the package (`/usr/bin/x`) and what they are.
    pub(crate) files: Vec<(String, FileSpec)>,
}

#[allow(dead_code)] // Builders for the tests of later deb modules.
impl DebSpec {
    /// A package with no relations and no files.
    pub(crate) fn new(name: &str, version: &str, arch: &str) -> DebSpec {
        DebSpec {
            name: name.to_string(),
            version: version.to_string(),
            arch: arch.to_string(),
            depends: None,
            pre_depends: None,
            provides: None,
            multi_arch: None,
            files: Vec::new(),
        }
    }

    /// Adds a regular file.
    pub(crate) fn file(mut self, path: &str, bytes: &[u8], mode: u32) -> DebSpec {
        self.files
            .push((path.to_string(), FileSpec::Bytes(bytes.to_vec(), mode)));
        self
    }

    /// Adds a symbolic link.
    pub(crate) fn symlink(mut self, path: &str, target: &str) -> DebSpec {
        self.files
            .push((path.to_string(), FileSpec::Symlink(target.to_string())));
        self
    }

    /// Adds a folder.
    pub(crate) fn dir(mut self, path: &str) -> DebSpec {
        self.files.push((path.to_string(), FileSpec::Dir));
        self
    }

    /// Sets `Depends`.
    pub(crate) fn depends(mut self, value: &str) -> DebSpec {
        self.depends = Some(value.to_string());
        self
    }

    fn control(&self) -> String {
        let mut c = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: kiln test <test@kiln.invalid>\n",
            self.name, self.version, self.arch
        );
        for (field, value) in [
            ("Pre-Depends", &self.pre_depends),
            ("Depends", &self.depends),
            ("Provides", &self.provides),
            ("Multi-Arch", &self.multi_arch),
        ] {
            if let Some(v) = value {
                c.push_str(&format!("{field}: {v}\n"));
            }
        }
        c.push_str(&format!("Description: {} for kiln's tests\n", self.name));
        c
    }
}

/// A GNUPGHOME of throw-away keys; its agent is killed on drop.
pub(crate) struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    /// An empty GNUPGHOME under `/tmp` (short: the agent socket lives in it).
    pub(crate) fn new() -> Gpg {
        require("gpg");
        require("gpgconf");
        let home = tempfile::Builder::new()
            .prefix("kg")
            .tempdir_in("/tmp")
            .unwrap();
        Gpg { home }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes", "--pinentry-mode", "loopback"])
            .args(["--passphrase", ""]);
        c
    }

    /// Generates an ed25519 signing key for `name` that expires after `expire` (`never`,
    /// `1d`, ...); its fingerprint.
    pub(crate) fn gen_key(&self, name: &str, expire: &str) -> String {
        let uid = format!("{name} <test@kiln.invalid>");
        run(
            self.cmd()
                .args(["--quick-gen-key", &uid, "ed25519", "sign", expire]),
            "gpg --quick-gen-key",
        );
        let listing = run(
            self.cmd().args(["--with-colons", "--list-keys", &uid]),
            "gpg --list-keys",
        );
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .expect("gpg lists the new key's fingerprint")
    }

    /// Writes the binary public keys of `fingerprints` to `path`.
    pub(crate) fn export(&self, fingerprints: &[&str], path: &Path) {
        let out = self
            .cmd()
            .arg("--export")
            .args(fingerprints)
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "gpg --export"
        );
        fs_err::write(path, out.stdout).unwrap();
    }

    /// Clear-signs `text` with each of `signers`, hashing with `digest` (`SHA256`, `SHA1`...).
    pub(crate) fn clearsign(&self, text: &str, signers: &[&str], digest: &str) -> Vec<u8> {
        let input = self.home.path().join("to-sign");
        fs_err::write(&input, text).unwrap();
        let mut c = self.cmd();
        c.args(["--digest-algo", digest, "--clearsign", "--output", "-"]);
        for s in signers {
            c.args(["--local-user", s]);
        }
        let out = c.arg(&input).output().unwrap();
        assert!(
            out.status.success(),
            "gpg --clearsign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

/// How [`Repo::publish_opts`] writes and signs the Release.
#[derive(Default)]
pub(crate) struct Publish {
    /// `Date` (default: now).
    pub(crate) date: Option<SystemTime>,
    /// `Valid-Until` (default: none).
    pub(crate) valid_until: Option<SystemTime>,
    /// Fingerprints to sign with (default: the repository's key).
    pub(crate) signers: Vec<String>,
    /// `--digest-algo` (default `SHA256`).
    pub(crate) digest: Option<&'static str>,
    /// Rewrites the Release text before it is signed.
    pub(crate) edit: Option<Box<dyn Fn(String) -> String>>,
}

/// A signed archive in a temporary folder.
pub(crate) struct Repo {
    /// The archive root (holds `dists/` and `pool/`).
    pub(crate) dir: PathBuf,
    /// Binary public keyring holding the repository's key.
    pub(crate) keyring: PathBuf,
    /// The suite (and codename) the archive publishes.
    pub(crate) suite: String,
    /// The repository's signing key.
    pub(crate) fingerprint: String,
    /// The GNUPGHOME; more keys can be made in it ([`Gpg::gen_key`]).
    pub(crate) gpg: Gpg,
    /// Pool paths of the packages added, relative to `dir`.
    debs: Vec<String>,
    _root: tempfile::TempDir,
}

#[allow(dead_code)] // Helpers for the tests of later deb modules.
impl Repo {
    /// An empty archive for `suite`, with a fresh key that never expires.
    pub(crate) fn new(suite: &str) -> Repo {
        Repo::with_key(suite, "never")
    }

    /// An empty archive whose key expires after `expire` (as `gpg --quick-gen-key` takes it).
    pub(crate) fn with_key(suite: &str, expire: &str) -> Repo {
        for tool in ["dpkg-deb", "xz", "md5sum"] {
            require(tool);
        }
        let root = crate::util::tempdir();
        let dir = root.path().join("archive");
        fs_err::create_dir_all(&dir).unwrap();
        let gpg = Gpg::new();
        let fingerprint = gpg.gen_key("kiln test", expire);
        let keyring = root.path().join("keyring.gpg");
        gpg.export(&[&fingerprint], &keyring);
        Repo {
            dir,
            keyring,
            suite: suite.to_string(),
            fingerprint,
            gpg,
            debs: Vec::new(),
            _root: root,
        }
    }

    /// A path inside the archive (`dists/stable/InRelease`).
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The GNUPGHOME holding the repository's secret keys (for extra gpg commands).
    pub(crate) fn gpg_home(&self) -> &Path {
        self.gpg.home.path()
    }

    /// The suite's folder relative to the root: `dists/SUITE`.
    pub(crate) fn dists(&self) -> String {
        format!("dists/{}", self.suite)
    }

    /// Builds the package into the pool; its path relative to the root.
    pub(crate) fn add(&mut self, spec: DebSpec) -> String {
        let staging = self._root.path().join(format!("build-{}", self.debs.len()));
        fs_err::create_dir_all(staging.join("DEBIAN")).unwrap();
        fs_err::write(staging.join("DEBIAN/control"), spec.control()).unwrap();
        for (path, file) in &spec.files {
            write_file(&staging, path, file);
        }
        let upstream = spec.version.split_once(':').map_or(&*spec.version, |v| v.1);
        let initial = &spec.name[..1];
        let rel = format!(
            "pool/main/{initial}/{}/{}_{upstream}_{}.deb",
            spec.name, spec.name, spec.arch
        );
        let out = self.path(&rel);
        fs_err::create_dir_all(out.parent().unwrap()).unwrap();
        run(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zxz", "--build"])
                .arg(&staging)
                .arg(&out),
            "dpkg-deb --build",
        );
        fs_err::remove_dir_all(&staging).unwrap();
        self.debs.push(rel.clone());
        rel
    }

    /// Writes the indexes, Release and InRelease signed with the repository's key.
    pub(crate) fn publish(&self) -> PathBuf {
        self.publish_opts(Publish::default())
    }

    /// Like [`Repo::publish`], with the Release text rewritten by `edit` before signing.
    pub(crate) fn publish_with(&self, edit: impl Fn(String) -> String + 'static) -> PathBuf {
        self.publish_opts(Publish {
            edit: Some(Box::new(edit)),
            ..Publish::default()
        })
    }

    /// Writes the indexes, Release and InRelease as `opts` says; the InRelease's path.
    pub(crate) fn publish_opts(&self, opts: Publish) -> PathBuf {
        let index_dir = format!("{}/main/binary-amd64", self.dists());
        fs_err::create_dir_all(self.path(&index_dir)).unwrap();
        let packages = self.packages_text();
        let plain = self.path(&format!("{index_dir}/Packages"));
        fs_err::write(&plain, &packages).unwrap();
        write_gz(&plain, &self.path(&format!("{index_dir}/Packages.gz")));
        write_xz(&plain, &self.path(&format!("{index_dir}/Packages.xz")));
        let mut entries = Vec::new();
        for name in ["Packages", "Packages.gz", "Packages.xz"] {
            let rel = format!("main/binary-amd64/{name}");
            let bytes = fs_err::read(self.path(&format!("{}/{rel}", self.dists()))).unwrap();
            let hash = hex::encode(Sha256::digest(&bytes));
            let by_hash = self.path(&format!("{index_dir}/by-hash/SHA256/{hash}"));
            fs_err::create_dir_all(by_hash.parent().unwrap()).unwrap();
            fs_err::write(&by_hash, &bytes).unwrap();
            entries.push(format!(" {hash} {:>8} {rel}\n", bytes.len()));
        }
        let mut release = self.release_text(&opts, &entries.concat());
        if let Some(edit) = &opts.edit {
            release = edit(release);
        }
        fs_err::write(self.path(&format!("{}/Release", self.dists())), &release).unwrap();
        let signers: Vec<&str> = if opts.signers.is_empty() {
            vec![&self.fingerprint]
        } else {
            opts.signers.iter().map(String::as_str).collect()
        };
        let signed = self
            .gpg
            .clearsign(&release, &signers, opts.digest.unwrap_or("SHA256"));
        let inrelease = self.path(&format!("{}/InRelease", self.dists()));
        fs_err::write(&inrelease, signed).unwrap();
        inrelease
    }

    fn release_text(&self, opts: &Publish, sha256: &str) -> String {
        let date = rfc2822(opts.date.unwrap_or_else(SystemTime::now));
        let mut r = format!(
            "Origin: kiln-test\nLabel: kiln-test\nSuite: {s}\nCodename: {s}\nDate: {date}\n",
            s = self.suite
        );
        if let Some(v) = opts.valid_until {
            r.push_str(&format!("Valid-Until: {}\n", rfc2822(v)));
        }
        r.push_str("Acquire-By-Hash: yes\nArchitectures: amd64\nComponents: main\n");
        r.push_str("Description: kiln's test archive\nSHA256:\n");
        r.push_str(sha256);
        r
    }

    /// Every package's `dpkg-deb -f` paragraph with Filename, Size, MD5sum and SHA256.
    fn packages_text(&self) -> String {
        let mut out = String::new();
        for rel in &self.debs {
            let deb = self.path(rel);
            let control = run(Command::new("dpkg-deb").arg("-f").arg(&deb), "dpkg-deb -f");
            let bytes = fs_err::read(&deb).unwrap();
            let md5 = run(Command::new("md5sum").arg(&deb), "md5sum");
            let md5 = md5.split_whitespace().next().unwrap_or_default();
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(control.trim_end());
            out.push_str(&format!(
                "\nFilename: {rel}\nSize: {}\nMD5sum: {md5}\nSHA256: {}\n",
                bytes.len(),
                hex::encode(Sha256::digest(&bytes))
            ));
        }
        out
    }
}

fn write_file(staging: &Path, path: &str, file: &FileSpec) {
    let dest = staging.join(path.trim_start_matches('/'));
    fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
    match file {
        FileSpec::Bytes(bytes, mode) => {
            use std::os::unix::fs::PermissionsExt;
            fs_err::write(&dest, bytes).unwrap();
            fs_err::set_permissions(&dest, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        FileSpec::Symlink(target) => std::os::unix::fs::symlink(target, &dest).unwrap(),
        FileSpec::Dir => fs_err::create_dir_all(&dest).unwrap(),
    }
}

fn write_gz(from: &Path, to: &Path) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&fs_err::read(from).unwrap()).unwrap();
    fs_err::write(to, gz.finish().unwrap()).unwrap();
}

fn write_xz(from: &Path, to: &Path) {
    let out = Command::new("xz")
        .args(["-c", "-9"])
        .arg(from)
        .output()
        .unwrap();
    assert!(out.status.success(), "xz -c {}", from.display());
    fs_err::write(to, out.stdout).unwrap();
}

/// `Sat, 11 Jul 2026 10:16:37 UTC`, as Debian writes Date (formatted by `date`, not by kiln).
pub(crate) fn rfc2822(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    run(
        Command::new("date").env("LC_ALL", "C").args([
            "-u",
            "-d",
            &format!("@{secs}"),
            "+%a, %d %b %Y %H:%M:%S UTC",
        ]),
        "date",
    )
    .trim()
    .to_string()
}
