//! `kiln init`: a commented starting manifest for one binary that builds and runs as is.
//!
//! Owns: choosing the components a typical service needs (the binary, nonroot accounts, a CA
//! bundle, tzdata, os-release, `/tmp`) and the reasons kiln can state for them itself; the
//! user's `--why` is the binary's reason. Does not write files (the CLI does, atomically).

use crate::elf;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
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
}

fn toml_str(s: &str) -> String {
    // A TOML basic string is a JSON string for everything we write.
    serde_json::to_string(s).expect("string serialises")
}

/// The manifest text for `binary`, to be written at `manifest_path`.
pub fn manifest(
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
    let file_name = canon
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    let name: String = name.map(str::to_string).unwrap_or_else(|| {
        let n: String = file_name
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        n.trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_string()
    });
    let name = if name.is_empty() {
        "app".to_string()
    } else {
        name
    };
    // `from`: relative when the binary lives under the manifest's folder, else absolute.
    let mdir = manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mdir = fs_err::canonicalize(mdir).map_err(|e| Error::Read {
        path: mdir.to_path_buf(),
        source: e,
    })?;
    let from = match canon.strip_prefix(&mdir) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => canon.display().to_string(),
    };
    let canon_str = canon.display().to_string();
    let to = if canon_str.starts_with("/usr/") || canon_str.starts_with("/opt/") {
        canon_str
    } else {
        format!("/usr/local/bin/{file_name}")
    };
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
