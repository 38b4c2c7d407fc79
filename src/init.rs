//! `kiln init`: a commented starting manifest for one binary that builds and runs as is.
//!
//! Owns: choosing the components a typical service needs (the binary, nonroot accounts, a CA
//! bundle, tzdata, os-release, `/tmp`) and the reasons kiln can state for them itself; the
//! user's `--why` is the binary's reason; the image path the binary runs at (the name it was
//! given, so a program that dispatches on argv[0] through a symlink keeps working, with the
//! bytes of the link's target).
//! Does not own: writing files (the CLI does, atomically, creating the manifest's folder).
//! Invariant: the image name it writes is a valid repository name
//! (`manifest::model::valid_repository_name`), whether given with `--name` or derived.

use crate::elf;
use crate::manifest::valid_repository_name;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an ELF executable; kiln init starts from the binary the image runs", path.display())]
    NotElf { path: PathBuf },
    #[error(transparent)]
    Elf(#[from] elf::Error),
    #[error("`--why` is empty: say why the image exists (it becomes the binary's rationale)")]
    EmptyWhy,
    #[error("`--name` {name:?} is not a valid repository name\n\nhint: use lower-case letters and digits, joined by `.`, `_`, `__` or `-`, in components separated by `/` (as a registry repository), e.g. `team/my-service`")]
    InvalidName { name: String },
}

/// The image name for a binary called `file_name`: lower-case, `[a-z0-9]` runs joined by the
/// separators a repository name allows, else `app`.
fn derived_name(file_name: &str) -> String {
    let lower = file_name.to_ascii_lowercase();
    let kept: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let kept = kept.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if valid_repository_name(kept) {
        return kept.to_string();
    }
    // Separators the rule refuses (`..`, `-.`): every run of them becomes one `-`.
    let dashed = kept
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if valid_repository_name(&dashed) {
        dashed
    } else {
        "app".to_string()
    }
}

/// `path` made absolute with its existing part canonical: the deepest existing ancestor is
/// resolved, the components below it (which `kiln init` will create) are appended as written.
fn canonical_dir(path: &Path) -> Result<PathBuf, Error> {
    let mut missing = Vec::new();
    // `Path::new("app").parent()` is the empty path: the current folder.
    let mut at = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    loop {
        match fs_err::canonicalize(at) {
            Ok(found) => {
                return Ok(missing
                    .iter()
                    .rev()
                    .fold(found, |p: PathBuf, c: &&std::ffi::OsStr| p.join(c)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Read {
                    path: at.to_path_buf(),
                    source: e,
                })
            }
        }
        match (at.file_name(), at.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name);
                at = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            _ => {
                return Err(Error::Read {
                    path: path.to_path_buf(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                })
            }
        }
    }
}

/// Where the binary runs in the image: its path when it lives under `/usr/` or `/opt/`, else
/// `/usr/local/bin/NAME`. `given` is the binary's path with its folder resolved and its own
/// name kept (a symlink's name, not its target's).
fn image_path(given: &Path) -> String {
    let s = given.display().to_string();
    if s.starts_with("/usr/") || s.starts_with("/opt/") {
        s
    } else {
        let name = given
            .file_name()
            .map_or("app".into(), |n| n.to_string_lossy().into_owned());
        format!("/usr/local/bin/{name}")
    }
}

fn toml_str(s: &str) -> String {
    // A TOML basic string is a JSON string for everything we write.
    serde_json::to_string(s).expect("string serialises")
}

/// The manifest text for `binary`, to be written at `manifest_path`.
pub(crate) fn manifest(
    binary: &Path,
    why: &str,
    name: Option<&str>,
    manifest_path: &Path,
) -> Result<String, Error> {
    if why.trim().is_empty() {
        return Err(Error::EmptyWhy);
    }
    let canon = fs_err::canonicalize(binary).map_err(|e| Error::Read {
        path: binary.to_path_buf(),
        source: e,
    })?;
    match elf::read(&canon) {
        Ok(_) => {}
        Err(elf::Error::NotElf { .. }) => {
            return Err(Error::NotElf {
                path: binary.to_path_buf(),
            })
        }
        Err(e) => return Err(e.into()),
    }
    // The name the binary was given, in its resolved folder: `/bin/redis-server` on a
    // merged-/usr system is `/usr/bin/redis-server`, even when it links to redis-check-rdb.
    let given = match (binary.parent(), binary.file_name()) {
        (Some(dir), Some(file)) => canonical_dir(dir)?.join(file),
        _ => canon.clone(),
    };
    let file_name = given
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    let name = match name {
        Some(n) if valid_repository_name(n) => n.to_string(),
        Some(n) => {
            return Err(Error::InvalidName {
                name: n.to_string(),
            })
        }
        None => derived_name(&file_name),
    };
    // `from`: relative when the binary's bytes live under the manifest's folder, else absolute.
    let mdir = manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mdir = canonical_dir(mdir)?;
    let from = match canon.strip_prefix(&mdir) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => canon.display().to_string(),
    };
    let to = image_path(&given);
    let ca = Path::new("/etc/ssl/certs/ca-certificates.crt").is_file();
    let tz = Path::new("/usr/share/zoneinfo").is_dir();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# kiln manifest for {name}, written by `kiln init`.
# Every component says why it is in the image; `kiln build --plan` lists every file with its reason.
# Build: kiln build {mfile}

[image]
name = {qname}
entrypoint = [{qto}]
user = "nonroot"                 # uid 65532 from the accounts component below
workdir = "/home/nonroot"
# cmd = ["--flag"]
# env = {{ RUST_LOG = "info" }}
# ports = ["8080/tcp"]

[defaults]
# The ownership statement every component inherits unless it sets its own.
# owner = "team-name"
cadence = "rebuilt on every release of {name}"

[[component]]
name = {qname}
kind = "elf"                     # its shared libraries and dynamic loader are added with it
from = {qfrom}
to = {qto}
why = {qwhy}
# capabilities = ["listens on tcp/8080"]
remove-when = "never: it is what the image runs"

[[component]]
name = "accounts"
kind = "accounts"                # /etc/passwd and /etc/group: root 0, nobody 65534, nonroot 65532
why = "{name} runs as the unprivileged user nonroot (65532), and libc resolves user and group names from /etc/passwd and /etc/group."
remove-when = "never: the image must not run as root"

[[component]]
name = "tmp"
kind = "dir"
to = "/tmp"
mode = "1777"
why = "Programs and libraries expect a writable /tmp for temporary files."
remove-when = "{name} is known to write no temporary files and the image runs with a read-only root"
"#,
        mfile = manifest_path.display(),
        qname = toml_str(&name),
        qto = toml_str(&to),
        qfrom = toml_str(&from),
        qwhy = toml_str(why.trim()),
    );
    if ca {
        let _ = write!(
            s,
            r#"
[[component]]
name = "ca-certificates"
kind = "ca-bundle"               # the build host's /etc/ssl/certs/ca-certificates.crt; SSL_CERT_FILE points at it
why = "TLS clients in {name} verify server certificates against these certificate authorities."
capabilities = ["decides which TLS servers are trusted"]
remove-when = "{name} makes no outbound TLS connections"
"#
        );
    }
    if tz {
        let _ = write!(
            s,
            r#"
[[component]]
name = "tzdata"
kind = "tzdata"
# zones = ["UTC", "Europe/Berlin"]   # ship only these zones (default: all)
why = "Time zone rules, so local times are computed correctly."
remove-when = "{name} only ever uses UTC"
"#
        );
    }
    let _ = write!(
        s,
        r#"
[[component]]
name = "os-release"
kind = "os-release"
why = "Identifies the image and the distribution its files come from, for people and vulnerability scanners."
remove-when = "never: scanners need it to match packages"
"#
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_repository_names() {
        for (file, name) in [
            ("redis-server", "redis-server"),
            ("Python3.11", "python3.11"),
            ("a..b", "a-b"),
            ("my app", "my-app"),
            ("-x-", "x"),
            ("...", "app"),
            ("__", "app"),
        ] {
            assert_eq!(derived_name(file), name, "{file}");
            assert!(valid_repository_name(&derived_name(file)));
        }
    }

    #[test]
    fn the_image_path_keeps_the_given_name() {
        assert_eq!(
            image_path(Path::new("/usr/bin/redis-server")),
            "/usr/bin/redis-server"
        );
        assert_eq!(image_path(Path::new("/opt/app/bin/x")), "/opt/app/bin/x");
        assert_eq!(
            image_path(Path::new("/home/u/target/release/app")),
            "/usr/local/bin/app"
        );
    }

    #[test]
    fn canonical_dir_appends_what_does_not_exist_yet() {
        let t = tempfile::tempdir().unwrap();
        let base = fs_err::canonicalize(t.path()).unwrap();
        assert_eq!(
            canonical_dir(&t.path().join("sub/dir")).unwrap(),
            base.join("sub/dir")
        );
        assert_eq!(canonical_dir(t.path()).unwrap(), base);
        let here = fs_err::canonicalize(".").unwrap();
        assert_eq!(canonical_dir(Path::new("")).unwrap(), here);
    }
}
