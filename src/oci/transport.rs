//! Where a local image lives: the three transports kiln writes and reads on disk (`oci:DIR:TAG`,
//! `oci-archive:FILE:TAG`, `docker-archive:FILE[:NAME:TAG]`), parsed once.
//!
//! Owns: the grammar of those references (tag rules, docker-archive names) and their canonical
//! spelling (`Display`). Does not own: reading or writing them (`layout`, `archive`,
//! `image::output`), registry references (`registry::Reference`).
//! Invariant: a parsed `Output` has a non-empty path and a valid tag.

use std::path::{Path, PathBuf};

/// An image reference that is not valid, with why.
#[derive(Debug, thiserror::Error)]
#[error("output {spec:?} is not valid: {why}")]
pub struct SpecError {
    pub spec: String,
    pub why: String,
}

/// Where and how to write an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Oci {
        dir: PathBuf,
        tag: String,
    },
    OciArchive {
        file: PathBuf,
        tag: String,
    },
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Oci { dir, tag } => write!(f, "oci:{}:{tag}", dir.display()),
            Output::OciArchive { file, tag } => write!(f, "oci-archive:{}:{tag}", file.display()),
            Output::DockerArchive {
                file,
                reference: Some(r),
            } => write!(f, "docker-archive:{}:{r}", file.display()),
            Output::DockerArchive {
                file,
                reference: None,
            } => write!(f, "docker-archive:{}", file.display()),
        }
    }
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && t.as_bytes()[0] != b'.'
        && t.as_bytes()[0] != b'-'
}

impl Output {
    /// Parses `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]` or `docker-archive:FILE[:NAME[:TAG]]`.
    pub fn parse(spec: &str) -> Result<Output, SpecError> {
        let bad = |why: &str| SpecError {
            spec: spec.to_string(),
            why: why.to_string(),
        };
        let (transport, rest) = spec
            .split_once(':')
            .ok_or_else(|| bad("expected TRANSPORT:PATH, e.g. oci:out/app:latest"))?;
        let (path, reference) = match rest.split_once(':') {
            Some((p, r)) => (p, Some(r)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(bad("the path is empty"));
        }
        let path = PathBuf::from(path);
        let tag = |r: Option<&str>| -> Result<String, SpecError> {
            match r {
                None => Ok("latest".into()),
                Some(t) if valid_tag(t) => Ok(t.to_string()),
                Some(t) => Err(bad(&format!(
                    "{t:?} is not a valid tag (letters, digits, `.`, `_`, `-`; at most 128)"
                ))),
            }
        };
        match transport {
            "oci" => Ok(Output::Oci {
                dir: path,
                tag: tag(reference)?,
            }),
            "oci-archive" => Ok(Output::OciArchive {
                file: path,
                tag: tag(reference)?,
            }),
            "docker-archive" => {
                let reference = match reference {
                    None => None,
                    Some(r) => {
                        let (name, t) = r
                            .rsplit_once(':')
                            .filter(|(_, t)| !t.contains('/'))
                            .unwrap_or((r, "latest"));
                        let name_ok = !name.is_empty()
                            && name.bytes().all(|b| {
                                b.is_ascii_lowercase()
                                    || b.is_ascii_digit()
                                    || b"._-/:".contains(&b)
                            });
                        if !name_ok {
                            return Err(bad(&format!("{name:?} is not a valid image name")));
                        }
                        Some(format!("{name}:{}", tag(Some(t))?))
                    }
                };
                Ok(Output::DockerArchive {
                    file: path,
                    reference,
                })
            }
            other => Err(bad(&format!(
                "unknown transport {other:?}; kiln writes oci:, oci-archive: and docker-archive:"
            ))),
        }
    }

    /// The documented default: `oci:out/NAME:latest`.
    pub fn default_for(name: &str) -> Output {
        Output::Oci {
            dir: Path::new("out").join(name),
            tag: "latest".into(),
        }
    }
}
