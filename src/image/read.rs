//! Reading what kiln stored beside an image: the SBOMs and the portable plan, from any output
//! form (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`).
//!
//! Owns: finding the tagged image in an index and the artifacts whose subject it is; reading
//! entries of archives by streaming (never unpacking them). Sizes are capped: an artifact over
//! 256 MiB is refused.

use super::output::Output;
use super::{REF_NAME, SUBJECT_ANNOTATION};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

const MAX: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} in {}", path.display())]
    NotFound { path: PathBuf, what: String },
    #[error("{} is not a valid tar archive (truncated, or not an image archive)", path.display())]
    NotTar { path: PathBuf },
    #[error("{} holds invalid JSON in {what}", path.display())]
    Json { path: PathBuf, what: String },
}

/// Where blobs come from.
enum Store {
    Dir(PathBuf),
    Archive(PathBuf),
}

impl Store {
    fn read(&self, name: &str) -> Result<Vec<u8>, Error> {
        match self {
            Store::Dir(d) => {
                let p = d.join(name);
                let meta = fs_err::metadata(&p).map_err(|e| Error::Io {
                    path: p.clone(),
                    source: e,
                })?;
                if meta.len() > MAX {
                    return Err(Error::NotFound {
                        path: p,
                        what: format!("{name} is too large to be kiln metadata"),
                    });
                }
                fs_err::read(&p).map_err(|e| Error::Io {
                    path: p.clone(),
                    source: e,
                })
            }
            Store::Archive(file) => {
                let io = |e| Error::Io {
                    path: file.clone(),
                    source: e,
                };
                let f = fs_err::File::open(file).map_err(io)?;
                let mut a = tar::Archive::new(std::io::BufReader::new(f));
                // The tar reader's messages quote the bad header bytes: say what it means.
                let not_tar = |_| Error::NotTar { path: file.clone() };
                for entry in a.entries().map_err(not_tar)? {
                    let mut entry = entry.map_err(not_tar)?;
                    let path = entry
                        .path()
                        .map_err(io)?
                        .to_string_lossy()
                        .trim_start_matches("./")
                        .to_string();
                    if path == name {
                        if entry.size() > MAX {
                            return Err(Error::NotFound {
                                path: file.clone(),
                                what: format!("{name} is too large to be kiln metadata"),
                            });
                        }
                        let mut v = Vec::new();
                        entry.read_to_end(&mut v).map_err(io)?;
                        return Ok(v);
                    }
                }
                Err(Error::NotFound {
                    path: file.clone(),
                    what: format!("no {name}"),
                })
            }
        }
    }

    fn path(&self) -> &Path {
        match self {
            Store::Dir(p) | Store::Archive(p) => p,
        }
    }

    fn json(&self, name: &str) -> Result<Value, Error> {
        serde_json::from_slice(&self.read(name)?).map_err(|_| Error::Json {
            path: self.path().to_path_buf(),
            what: name.to_string(),
        })
    }
}

/// The content of the artifact of `media_type` stored for the image `image` names (for a
/// multi-platform image, the build host's platform, else the first).
pub fn artifact(image: &Output, media_type: &str) -> Result<Vec<u8>, Error> {
    artifact_for(image, media_type, None)
}

/// The content of the artifact of `media_type` stored for the image `image` names; when the
/// tag points at an image index, for the manifest of `platform` (`OS/ARCH[/VARIANT]`; default
/// the build host's platform, else the first).
pub fn artifact_for(
    image: &Output,
    media_type: &str,
    platform: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let (store, tag) = match image {
        Output::Oci { dir, tag } => (Store::Dir(dir.clone()), tag.clone()),
        Output::OciArchive { file, tag } => (Store::Archive(file.clone()), tag.clone()),
        Output::DockerArchive { file, .. } => {
            let name = match media_type {
                "application/spdx+json" => "kiln/sbom.spdx.json",
                "application/vnd.cyclonedx+json" => "kiln/sbom.cdx.json",
                _ => "kiln/plan.json",
            };
            return Store::Archive(file.clone()).read(name);
        }
    };
    let index = store.json("index.json")?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let image = manifests
        .iter()
        .find(|m| m["annotations"][REF_NAME].as_str() == Some(tag.as_str()))
        .ok_or_else(|| Error::NotFound {
            path: store.path().into(),
            what: format!("no image tagged `{tag}`"),
        })?;
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let mut digest = image["digest"].as_str().unwrap_or_default().to_string();
    if image["mediaType"].as_str() == Some(super::INDEX_MEDIA_TYPE) {
        let index = store.json(&blob(&digest))?;
        let children = index["manifests"].as_array().cloned().unwrap_or_default();
        let name = super::platform_name;
        let host = match std::env::consts::ARCH {
            "x86_64" => "linux/amd64",
            "aarch64" => "linux/arm64",
            _ => "",
        };
        let chosen = match platform {
            Some(want) => {
                children
                    .iter()
                    .find(|m| name(m) == want)
                    .ok_or_else(|| Error::NotFound {
                        path: store.path().into(),
                        what: format!(
                            "no {want} image under the tag `{tag}` (it has: {})",
                            children.iter().map(&name).collect::<Vec<_>>().join(", ")
                        ),
                    })?
            }
            None => children
                .iter()
                .find(|m| name(m) == host)
                .or(children.first())
                .ok_or_else(|| Error::NotFound {
                    path: store.path().into(),
                    what: format!("the index tagged `{tag}` lists no image"),
                })?,
        };
        digest = chosen["digest"].as_str().unwrap_or_default().to_string();
    }
    let digest = digest.as_str();
    // The one built under this tag (its SBOM names the tag), else any for this image.
    let of_image = |m: &&Value| {
        m["artifactType"].as_str() == Some(media_type)
            && m["annotations"][SUBJECT_ANNOTATION].as_str() == Some(digest)
    };
    let art = manifests
        .iter()
        .filter(of_image)
        .find(|m| m["annotations"][super::TAG_ANNOTATION].as_str() == Some(tag.as_str()))
        .or_else(|| manifests.iter().find(of_image))
        .ok_or_else(|| Error::NotFound {
            path: store.path().into(),
            what: format!("no {media_type} for the image tagged `{tag}` (was it built by kiln?)"),
        })?;
    let m = store.json(&blob(art["digest"].as_str().unwrap_or_default()))?;
    let content = m["layers"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    store.read(&blob(&content))
}
