//! kiln builds minimal, hardened, reproducible OCI images from a declarative manifest.
//!
//! The pipeline: a TOML [`manifest`] is parsed and validated (spans kept for errors), each
//! component is expanded and ELF files get their shared-library closure [`resolve`]d the way
//! the target's dynamic loader would; the result is a [`plan::Plan`], the sorted list of every
//! path the image will contain with its provenance. [`layer`] writes deterministic tar+gzip
//! blobs from the Plan, and [`image`] adds the OCI config, manifest and index and writes the
//! requested output form atomically. Everything after `plan` is a view of the Plan.
//!
//! Building an image from a manifest in Rust code:
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
//! assert!(built.top.digest.to_string().starts_with("sha256:"));
//! # Ok(())
//! # }
//! ```
//!
//! Reading the SBOM of an image (any form kiln reads: `oci:`, `oci-archive:`,
//! `docker-archive:`, `docker://`), here one just built:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let manifest = dir.path().join("kiln.toml");
//! # std::fs::write(&manifest, "[image]\nname = \"hello\"\n[[component]]\nname = \"greeting\"\nkind = \"file\"\ncontent = \"hello\"\nto = \"/etc/greeting\"\nwhy = \"what the image says\"\n")?;
//! # let m = kiln::manifest::load_all(&manifest)?;
//! # let plan = kiln::plan::build(&m[0], std::path::Path::new("/"), kiln::time::Epoch(0))?;
//! let image = format!("oci:{}:v1", dir.path().join("img").display());
//! # kiln::image::output::write_all(&[plan], &kiln::image::output::Output::parse(&image)?)?;
//! use kiln::ops::sbom::{sbom, SbomRequest};
//! let report = sbom(&SbomRequest {
//!     image: image.clone(),
//!     format: kiln::sbom::Format::Spdx,
//!     platform: None,
//!     registry: None,
//! })?;
//! let doc: serde_json::Value = serde_json::from_slice(&report.document)?;
//! // Exactly the image's files (SPDX names them `./PATH`), each with the component that
//! // placed it.
//! let files: Vec<&str> = doc["files"]
//!     .as_array()
//!     .into_iter()
//!     .flatten()
//!     .filter_map(|f| f["fileName"].as_str())
//!     .collect();
//! assert_eq!(files, ["./etc/greeting"]);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

/// The `schema` every JSON document kiln prints carries (results, errors, `--plan --json`, the
/// portable plan stored beside an image): one version for them all, raised when any of them
/// changes incompatibly. Documented in docs/json.md.
pub const JSON_SCHEMA: &str = "kiln/v1";

// The API: build an image from a manifest, read images, run any command as `ops::*`.
pub mod digest;
pub mod image;
pub mod manifest;
pub mod ops;
pub mod plan;
pub mod progress;
pub mod sbom;
pub mod time;
pub mod types;

// Not API: tests/it (base_open) calls `base::open`; `plan` and `image::output` name its types.
#[doc(hidden)]
pub mod base;
// Not API: src/main.rs calls `cli::main`.
#[doc(hidden)]
pub mod cli;
// Not API: tests/it (deb) builds and checks archives through it.
#[doc(hidden)]
pub mod deb;
// Not API: `ops::explain`'s report names `dpkg::Identity`.
#[doc(hidden)]
pub mod dpkg;
// Not API: tests/it (embedded) and the fuzz targets read ELF files through it.
#[doc(hidden)]
pub mod elf;
// Not API: `kiln init`, used by `cli` only.
pub(crate) mod init;
// Not API: `image`'s errors and types name its `Layer` and `Error`.
#[doc(hidden)]
pub mod layer;
// Not API: `ops::lock` and `ops::sign` name its lock file types.
#[doc(hidden)]
pub mod lock;
// Not API: the fuzz targets read layouts and archives through it; `image` and `ops` name its types.
#[doc(hidden)]
pub mod oci;
// Not API: `ops` requests name its access and transfer progress types.
#[doc(hidden)]
pub mod registry;
// Not API: the fuzz targets drive its `Resolver`; `plan` and `ops::ldd` name its types.
#[doc(hidden)]
pub mod resolve;
// Not API: `plan::build_with` takes a `root::TargetRoot`; tests/it builds one.
#[doc(hidden)]
pub mod root;
// Not API: `ops::sign` requests and reports name its key and signature types.
#[doc(hidden)]
pub mod sign;
// Not API: the fuzz targets use `span::SourceFile`; `manifest` errors carry its `Location`s.
#[doc(hidden)]
pub mod span;
