//! `kiln::base::open` (issue 11 §3, build on a base image) against a real registry: an image
//! kiln built and pushed opens by tag and by digest, and the digest opens again with the
//! registry gone (no network for a digest whose root is cached).

use crate::pull::TWO_PLATFORMS;
use crate::registry_util::*;
use crate::util::*;
use kiln::base::{self, Access, BaseKind, BaseRef};

const MANIFEST: &str = r#"[image]
name = "tiny-base"

[[component]]
name = "greeting"
kind = "file"
content = "hello\n"
to = "/etc/greeting"
why = "a file the base provides"
"#;

#[test]
fn a_pushed_image_opens_by_tag_and_by_digest_then_offline() {
    let t = tempdir();
    let reg = Registry::start(None);
    let host = reg.host();
    let manifest = t.path().join("kiln.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let layout = t.path().join("img");
    let digest = manifest_digest(&build(&manifest, &format!("oci:{}:v1", layout.display())));
    run(
        kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/kiln/base:v1")),
        "kiln push",
    );

    let cache = t.path().join("cache");
    let access = Access::default();
    let by_tag = BaseRef::parse(&format!("docker://{host}/kiln/base:v1")).unwrap();
    let b = base::open(&by_tag, None, &access, &cache).unwrap();
    assert_eq!(b.digest.to_string(), digest);
    assert_eq!(b.pinned, b.digest);
    let greeting = b
        .files
        .iter()
        .find(|f| f.path.as_str() == "/etc/greeting")
        .expect("/etc/greeting");
    match &greeting.kind {
        BaseKind::File { size, sha256, .. } => {
            assert_eq!(*size, 6);
            assert_eq!(*sha256, kiln::digest::Digest::of(b"hello\n"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read(b.root.join("etc/greeting")).unwrap(),
        b"hello\n"
    );
    assert_eq!(b.platform.to_string(), "linux/amd64");
    assert_eq!(b.glibc_version(), None);

    let by_digest = BaseRef::parse(&format!("docker://{host}/kiln/base@{digest}")).unwrap();
    let d = base::open(&by_digest, None, &access, &cache).unwrap();
    assert_eq!(
        (&d.digest, &d.files, &d.root),
        (&b.digest, &b.files, &b.root)
    );

    drop(reg);
    let offline = base::open(&by_digest, None, &access, &cache).unwrap();
    assert_eq!(offline.files, b.files);
    assert_eq!(offline.manifest_bytes, b.manifest_bytes);
    // A tag is resolved on every open: without the registry it is an error naming it.
    let e = base::open(&by_tag, None, &access, &cache).unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "cannot fetch the base `docker://{host}/kiln/base:v1`"
        )),
        "{e}"
    );
}

#[test]
fn an_index_opens_for_a_platform_and_pins_the_index() {
    let t = tempdir();
    let reg = Registry::start(None);
    let host = reg.host();
    let manifest = t.path().join("kiln.toml");
    std::fs::write(&manifest, TWO_PLATFORMS).unwrap();
    let layout = t.path().join("img");
    let index = manifest_digest(&build(&manifest, &format!("oci:{}:v1", layout.display())));
    run(
        kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/kiln/two:v1")),
        "kiln push",
    );
    let cache = t.path().join("cache");
    let r = BaseRef::parse(&format!("docker://{host}/kiln/two:v1")).unwrap();
    let e = base::open(&r, None, &Access::default(), &cache).unwrap_err();
    assert!(
        e.to_string()
            .contains("is an index: name a platform (it has linux/amd64, linux/arm64"),
        "{e}"
    );
    let arm64 = kiln::types::Platform::parse("linux/arm64").unwrap();
    let b = base::open(&r, Some(arm64), &Access::default(), &cache).unwrap();
    assert_eq!(b.pinned.to_string(), index);
    assert_ne!(b.digest, b.pinned);
    assert_eq!(b.platform, arm64);
    assert_eq!(b.config.architecture, "arm64");
    let tmp = b.files.iter().find(|f| f.path.as_str() == "/tmp").unwrap();
    assert_eq!((tmp.mode, &tmp.kind), (0o1777, &BaseKind::Dir));
}
