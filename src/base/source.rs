//! Finding a base's image manifest and bringing its blobs into the cache layout.
//!
//! `docker://`: the reference is resolved on every open (a tag names a digest now), unless it
//! names a digest the cache already holds a root for (then no network at all); missing blobs
//! come through `registry::pull` into the cache layout. `oci:` and `oci-archive:`: read through
//! `oci`'s readers, every blob copied into the cache layout only after its digest and size
//! check out.

use super::cache::Store;
use super::unpack::HashingReader;
use super::{BaseRef, Error};
use crate::digest::Digest;
use crate::oci::archive::Archive;
use crate::oci::guard::{self, Staging};
use crate::oci::inspect::Blobs;
use crate::oci::layout::Layout;
use crate::oci::{self, Descriptor, Manifest};
use crate::registry::pull::{self, Request, Select};
use crate::registry::{Options, Reference, Remote};
use crate::types::Platform;

/// The image chosen: its manifest's digest and what the reference named.
#[derive(Clone, Debug)]
pub(crate) struct Chosen {
    pub(crate) pinned: Digest,
    pub(crate) digest: Digest,
}

/// Finds the image `r` names for `platform` and makes sure its manifest and config (and its
/// layers, unless its root is unpacked already) are in the cache layout.
pub(crate) fn locate(
    r: &BaseRef,
    platform: Option<Platform>,
    access: &super::Access,
    store: &Store,
) -> Result<Chosen, Error> {
    let shown = r.to_string();
    let with_ref = |e: oci::Error| Error::Oci {
        reference: shown.clone(),
        source: e,
    };
    match r {
        BaseRef::Docker(reference) => docker(r, reference, platform, access, store),
        BaseRef::Oci { dir, tag } => {
            let l = Layout::open(dir).map_err(with_ref)?;
            local(r, &l, tag, platform, store)
        }
        BaseRef::OciArchive { file, tag } => {
            let a = Archive::scan(file).map_err(with_ref)?;
            local(r, &a, tag, platform, store)
        }
    }
}

/// An error reading the base's own layout or archive, naming the reference.
fn blobs_err(r: &BaseRef) -> impl Fn(oci::inspect::Error) -> Error + '_ {
    move |e| match e {
        oci::inspect::Error::Oci(source) => Error::Oci {
            reference: r.to_string(),
            source,
        },
        other => Error::Reference {
            spec: r.to_string(),
            why: other.to_string(),
        },
    }
}

/// True when a descriptor's platform is `want` (a missing variant matches any).
fn matches(d: &Descriptor, want: Platform) -> bool {
    let Some(p) = &d.platform else {
        return false;
    };
    p.os == want.os()
        && p.architecture == want.architecture()
        && (p.variant.is_none()
            || want.variant().is_none()
            || p.variant.as_deref() == want.variant())
}

/// The child of an index to use (`None` for an image manifest).
fn choose<'a>(
    r: &BaseRef,
    top: &'a Manifest,
    platform: Option<Platform>,
) -> Result<Option<&'a Descriptor>, Error> {
    let Manifest::Index { manifests, .. } = top else {
        return Ok(None);
    };
    let platforms = || {
        manifests
            .iter()
            .map(Descriptor::platform_name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(want) = platform else {
        return Err(Error::PickPlatform {
            reference: r.to_string(),
            platforms: platforms(),
        });
    };
    manifests
        .iter()
        .find(|d| matches(d, want))
        .map(Some)
        .ok_or_else(|| Error::NoPlatform {
            reference: r.to_string(),
            want: want.to_string(),
            platforms: platforms(),
        })
}

fn docker(
    r: &BaseRef,
    reference: &Reference,
    platform: Option<Platform>,
    access: &super::Access,
    store: &Store,
) -> Result<Chosen, Error> {
    if let Some(d) = &reference.digest {
        if let Some(digest) = store.pinned(d, platform) {
            return Ok(Chosen {
                pinned: d.clone(),
                digest,
            });
        }
    }
    let reg = |e: crate::registry::Error| Error::Registry {
        reference: r.to_string(),
        source: e,
    };
    let opts = Options {
        credentials: access.credentials.clone(),
        insecure: access.insecure,
        cert_dir: access.cert_dir.clone(),
        jobs: 4,
        pull_only: true,
        ..Options::default()
    };
    let top = Remote::connect(reference, &opts)
        .and_then(|remote| remote.resolve())
        .map_err(reg)?;
    let invalid = |why: String| Error::Invalid {
        reference: r.to_string(),
        digest: top.digest.clone(),
        why,
    };
    let parsed = oci::parse_manifest(&top.bytes, Some(&top.media_type)).map_err(invalid)?;
    let child = choose(r, &parsed, platform)?;
    let digest = child.map_or(top.digest.clone(), |c| c.digest.clone());
    let chosen = Chosen {
        pinned: top.digest.clone(),
        digest: digest.clone(),
    };
    if store.has(&digest) && store.pinned(&chosen.pinned, platform).as_ref() == Some(&digest) {
        return Ok(chosen);
    }
    let req = Request {
        source: Reference {
            tag: None,
            digest: Some(top.digest.clone()),
            ..reference.clone()
        },
        destination: crate::oci::transport::Output::Oci {
            dir: store.layout.dir().to_path_buf(),
            tag: format!("base-{}", digest.hex()),
        },
        select: child.map_or(Select::One, |c| Select::Platform(c.platform_name())),
        // kiln's SBOMs of the base come along (`Base::sboms`); signatures too, unused.
        with_referrers: true,
        skip_layers: false,
    };
    let pulled = pull::pull(&req, &opts).map_err(reg)?;
    if pulled.digest != digest {
        return Err(invalid(format!(
            "its {} entry is {digest}, but the pull fetched {}",
            platform.map_or("image".into(), |p| p.to_string()),
            pulled.digest
        )));
    }
    Ok(chosen)
}

/// `oci:` and `oci-archive:`: the tagged entry, the platform's image of an index, and every
/// blob of that image copied (checked) into the cache layout.
fn local(
    r: &BaseRef,
    src: &dyn Blobs,
    tag: &str,
    platform: Option<Platform>,
    store: &Store,
) -> Result<Chosen, Error> {
    let index = src
        .index()
        .map_err(blobs_err(r))?
        .ok_or_else(|| Error::Reference {
            spec: r.to_string(),
            why: "it has no index.json".into(),
        })?;
    let top = index.tagged(tag).cloned().ok_or_else(|| Error::Reference {
        spec: r.to_string(),
        why: index.no_such_tag(tag),
    })?;
    let invalid = |d: &Digest, why: String| Error::Invalid {
        reference: r.to_string(),
        digest: d.clone(),
        why,
    };
    let top_bytes =
        (src.read_blob(&top.digest, Some(top.size), oci::MAX_MANIFEST)).map_err(blobs_err(r))?;
    let parsed = oci::parse_manifest(&top_bytes, Some(&top.media_type))
        .map_err(|why| invalid(&top.digest, why))?;
    let (desc, bytes, image) = match choose(r, &parsed, platform)? {
        None => (top.clone(), top_bytes, parsed),
        Some(child) => {
            let b = (src.read_blob(&child.digest, Some(child.size), oci::MAX_MANIFEST))
                .map_err(blobs_err(r))?;
            let p = oci::parse_manifest(&b, Some(&child.media_type))
                .map_err(|why| invalid(&child.digest, why))?;
            (child.clone(), b, p)
        }
    };
    let Manifest::Image { config, layers, .. } = &image else {
        return Err(invalid(
            &desc.digest,
            "an index inside an index is not supported".into(),
        ));
    };
    let staging = Staging::new_in(store.layout.dir())?;
    if !store.has(&desc.digest) {
        store.layout.write_blob(&staging, &bytes)?;
    }
    for d in std::iter::once(config.as_ref()).chain(layers) {
        if !store.has(&d.digest) {
            import(r, src, d, store, &staging)?;
        }
    }
    let entry = Descriptor {
        media_type: desc.media_type.clone(),
        digest: desc.digest.clone(),
        size: bytes.len() as u64,
        artifact_type: None,
        platform: desc.platform.clone(),
        annotations: [(
            oci::REF_NAME.to_string(),
            format!("base-{}", desc.digest.hex()),
        )]
        .into_iter()
        .collect(),
    };
    store.layout.update(|i| -> Result<(), Error> {
        i.retain(|e| e.tag() != entry.tag());
        i.push(entry.clone());
        Ok(())
    })?;
    Ok(Chosen {
        pinned: top.digest,
        digest: desc.digest,
    })
}

/// Copies blob `d` from `src` into the cache layout, publishing it only when its bytes match
/// the descriptor's digest and size.
fn import(
    r: &BaseRef,
    src: &dyn Blobs,
    d: &Descriptor,
    store: &Store,
    staging: &Staging,
) -> Result<(), Error> {
    let mut tmp = staging.temp_file(".blob-")?;
    let blob = src
        .stream_blob(&d.digest, Some(d.size))
        .map_err(blobs_err(r))?;
    let mut reader = HashingReader::new(blob, d.digest.algorithm());
    std::io::copy(&mut reader, &mut tmp).map_err(|e| Error::Layer {
        digest: d.digest.clone(),
        source: e,
    })?;
    let (actual, size) = reader.finish();
    if actual != d.digest || size != d.size {
        return Err(Error::LayerDigest {
            digest: d.digest.clone(),
            actual,
            size,
            expected_size: d.size,
        });
    }
    guard::persist(tmp, &store.layout.blob_path(&d.digest))?;
    Ok(())
}
