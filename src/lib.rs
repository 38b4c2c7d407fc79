//! kiln builds minimal, hardened, reproducible OCI images from a declarative manifest.
//!
//! The pipeline: a TOML [`manifest`] is parsed and validated (spans kept for errors), each
//! component is expanded and ELF files get their shared-library closure [`resolve`]d the way
//! the target's dynamic loader would; the result is a [`plan::Plan`], the sorted list of every
//! path the image will contain with its provenance. [`layer`] writes deterministic tar+gzip
//! blobs from the Plan, and [`image`] adds the OCI config, manifest and index and writes the
//! requested output form atomically. Everything after `plan` is a view of the Plan.
//!
//! Building an image from a manifest in Rust code, then reading its SBOM back:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kiln::image::output::{self, Output};
//! let dir = tempfile::tempdir()?;
//! let manifest = dir.path().join("kiln.toml");
//! std::fs::write(
//!     &manifest,
//!     r#"
//! [image]
//! name = "hello"
//!
//! [[component]]
//! name = "greeting"
//! kind = "file"
//! content = "hello\n"
//! to = "/etc/greeting"
//! why = "what the image says"
//! "#,
//! )?;
//! // One Manifest (and one Plan) per platform the manifest lists: here one.
//! let manifests = kiln::manifest::load_all(&manifest)?;
//! let plans = manifests
//!     .iter()
//!     .map(|m| kiln::plan::build(m, std::path::Path::new("/"), kiln::time::Epoch(0)))
//!     .collect::<Result<Vec<_>, _>>()?;
//! assert!(plans[0].get("/etc/greeting").is_some());
//! let out = Output::parse(&format!("oci:{}:v1", dir.path().join("img").display()))?;
//! let built = output::write_all(&plans, &out)?;
//! println!("built {}", built.top.digest);
//!
//! // The SPDX SBOM stored beside the image: exactly its files (SPDX names them `./PATH`).
//! let spdx = kiln::image::read::artifact_for(&out, kiln::sbom::Format::Spdx.media_type(), None)?;
//! let doc: serde_json::Value = serde_json::from_slice(&spdx)?;
//! let files: Vec<&str> = doc["files"]
//!     .as_array()
//!     .unwrap()
//!     .iter()
//!     .filter_map(|f| f["fileName"].as_str())
//!     .collect();
//! assert_eq!(files, ["./etc/greeting"]);
//! # Ok(())
//! # }
//! ```

pub mod cli;

/// The `schema` every JSON document kiln prints carries (results, errors, `--plan --json`, the
/// portable plan stored beside an image): one version for them all, raised when any of them
/// changes incompatibly. Documented in docs/json.md.
pub const JSON_SCHEMA: &str = "kiln/v1";
pub mod digest;
pub mod dpkg;
pub mod elf;
pub mod image;
pub mod init;
pub mod layer;
pub mod lock;
pub mod manifest;
pub mod oci;
pub mod ops;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod resolve;
pub mod sbom;
pub mod sign;
pub mod span;
pub mod time;
pub mod types;
