//! The SLSA provenance (v0.2) predicate kiln attests: who built the image (kiln and its
//! version), from what (the manifest and its lock, by digest, and every input and resolved file
//! the lock records, by image path), deterministically (times from `SOURCE_DATE_EPOCH`).
//!
//! Owns: the predicate's shape. Does not own: reading the files (the CLI), signing (`dsse`).

use crate::digest::Digest;
use crate::lock::Lock;
use crate::time::Epoch;
use serde_json::{json, Value};

/// kiln as a SLSA builder.
pub fn builder_id() -> String {
    format!("https://kiln.invalid/kiln@{}", env!("CARGO_PKG_VERSION"))
}

/// The build type URI of `kiln build`.
pub const BUILD_TYPE: &str = "https://kiln.invalid/build/v1";

/// The predicate for an image built from `manifest` (its name as given and its bytes), with the
/// lock beside it when there is one.
pub fn predicate(
    manifest_name: &str,
    manifest: &[u8],
    lock: Option<(&str, &[u8], &Lock)>,
    epoch: Epoch,
) -> Value {
    let sha = |b: &[u8]| Digest::of(b).hex();
    let mut materials = vec![json!({
        "uri": format!("file:{manifest_name}"),
        "digest": {"sha256": sha(manifest)},
    })];
    if let Some((name, bytes, lock)) = lock {
        materials.push(json!({
            "uri": format!("file:{name}"),
            "digest": {"sha256": sha(bytes)},
        }));
        for (kind, files) in [("input", &lock.inputs), ("closure", &lock.closure)] {
            for (path, digest) in files {
                let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
                materials.push(json!({
                    "uri": format!("kiln:{kind}:{path}"),
                    "digest": {"sha256": hex},
                }));
            }
        }
    }
    let time = epoch.rfc3339();
    json!({
        "builder": {"id": builder_id()},
        "buildType": BUILD_TYPE,
        "invocation": {
            "configSource": {
                "uri": format!("file:{manifest_name}"),
                "digest": {"sha256": sha(manifest)},
                "entryPoint": "kiln build",
            },
            "parameters": {},
            "environment": {"SOURCE_DATE_EPOCH": epoch.0.to_string()},
        },
        "metadata": {
            "buildStartedOn": time,
            "buildFinishedOn": time,
            "completeness": {"parameters": true, "environment": true, "materials": lock.is_some()},
            "reproducible": true,
        },
        "materials": materials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicate_is_deterministic_and_names_its_materials() {
        let a = predicate("kiln.toml", b"[image]\n", None, Epoch(0));
        let b = predicate("kiln.toml", b"[image]\n", None, Epoch(0));
        assert_eq!(a, b);
        assert_eq!(
            a["materials"][0]["digest"]["sha256"],
            Digest::of(b"[image]\n").hex()
        );
        assert_eq!(a["metadata"]["buildStartedOn"], "1970-01-01T00:00:00Z");
        assert_eq!(a["builder"]["id"], builder_id());
        let c = predicate("kiln.toml", b"[image]\nname = \"x\"\n", None, Epoch(0));
        assert_ne!(a, c);
    }
}
