//! Signing, attesting and verifying against a real registry (docker-registry 2.8 on 127.0.0.1)
//! and an independent cosign-compatible peer (tests/tools/cosign-peer, sigstore-rs, built by
//! `cargo xtask setup`): each verifies the other's signatures, keys cross over, a re-tag keeps
//! the signature valid, a different image under the same tag fails in both; DSSE envelopes
//! are checked with openssl over a PAE this file computes itself; no password leaks.

use crate::registry_util::*;
use crate::util::*;
use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "kiln-test-Pa55phrase";

fn peer() -> PathBuf {
    match std::env::var_os("KILN_COSIGN_PEER") {
        Some(p) if Path::new(&p).is_file() => PathBuf::from(p),
        _ => {
            let p = testbed_dir().join("cosign-peer-target/release/cosign-peer");
            assert!(
                p.is_file(),
                "cosign-peer is not built ({}); run `cargo xtask test` (or `cargo xtask setup`)",
                p.display()
            );
            p
        }
    }
}

fn kiln_pw(home: &Path) -> Command {
    let mut c = kiln_clean_env(home);
    c.env_remove("COSIGN_PASSWORD")
        .env("KILN_PASSWORD", PASSWORD);
    c
}

fn no_secret(o: &Output) {
    for s in [&o.stdout, &o.stderr] {
        let text = String::from_utf8_lossy(s);
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
}

fn ok(o: Output, what: &str) -> String {
    check(&o, what);
    no_secret(&o);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `kiln generate-key-pair` at `prefix`: (PREFIX.key, PREFIX.pub).
fn key_pair(home: &Path, prefix: &Path) -> (PathBuf, PathBuf) {
    ok(
        kiln_pw(home)
            .args(["generate-key-pair", "--output-key-prefix"])
            .arg(prefix)
            .output()
            .unwrap(),
        "kiln generate-key-pair",
    );
    (prefix.with_extension("key"), prefix.with_extension("pub"))
}

/// `kiln verify --key KEY IMAGE`.
fn kiln_verify(
    home: &Path,
    key: impl AsRef<std::ffi::OsStr>,
    image: impl AsRef<std::ffi::OsStr>,
) -> Output {
    kiln_clean_env(home)
        .args(["verify", "--key"])
        .arg(key)
        .arg(image)
        .output()
        .unwrap()
}

fn peer_verify(pubkey: &Path, image: &str) -> Output {
    Command::new(peer())
        .args(["verify", "--http"])
        .arg(pubkey)
        .arg(image)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

/// An image built from the static example, pushed to `host/repo:tag`: its digest.
fn build_and_push(t: &Path, host: &str, repo_tag: &str, greeting: Option<&str>) -> String {
    let manifest = static_image(t);
    if let Some(g) = greeting {
        // Another image: one more file.
        let m = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            format!("{m}\n[[component]]\nname = \"note\"\nkind = \"file\"\ncontent = \"{g}\"\nto = \"/etc/note\"\nwhy = \"tells the images apart\"\n"),
        )
        .unwrap();
    }
    let layout = t.join(format!("img-{}", repo_tag.replace([':', '/'], "-")));
    let digest = manifest_digest(&build(&manifest, &format!("oci:{}:v1", layout.display())));
    ok(
        kiln_clean_env(t)
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/{repo_tag}"))
            .output()
            .unwrap(),
        "kiln push",
    );
    digest
}

#[test]
fn kiln_and_the_cosign_peer_verify_each_others_signatures() {
    let t = tempdir();
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let reg = Registry::start(None);
    let host = reg.host();

    // kiln's key pair: cosign's encrypted format, private key 0600.
    let prefix = t.path().join("kiln");
    let (key, pubkey) = key_pair(&home, &prefix);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{pem}"
    );
    assert!(!pem.contains(PASSWORD));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Refuses to overwrite.
    let o = kiln_pw(&home)
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&prefix)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");

    // Sign locally, before anything is pushed; the signature travels with `kiln push`.
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let src = format!("oci:{}:v1", layout.display());
    let digest = manifest_digest(&build(&manifest, &src));
    let out = ok(
        kiln_pw(&home)
            .args(["sign", "--key"])
            .arg(&key)
            .args(["--identity", &format!("{host}/app"), "--json", &src])
            .output()
            .unwrap(),
        "kiln sign (layout)",
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["digest"], digest.as_str());
    ok(kiln_verify(&home, &pubkey, &src), "kiln verify (layout)");
    ok(
        kiln_clean_env(&home)
            .args(["push", &src, &format!("docker://{host}/app:v1")])
            .output()
            .unwrap(),
        "kiln push",
    );

    // The peer verifies kiln's signature by tag, and after a re-tag by skopeo.
    let o = peer_verify(&pubkey, &format!("{host}/app:v1"));
    check(&o, "cosign-peer verify kiln's signature");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&digest),
        "{o:?}"
    );
    run(
        Command::new(require("skopeo")).args([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{host}/app:v1"),
            &format!("docker://{host}/app:retagged"),
        ]),
        "skopeo copy (re-tag)",
    );
    check(
        &peer_verify(&pubkey, &format!("{host}/app:retagged")),
        "cosign-peer verify after a re-tag",
    );
    let out = ok(
        kiln_verify(&home, &pubkey, format!("docker://{host}/app:retagged")),
        "kiln verify after a re-tag",
    );
    assert!(out.contains(&digest), "{out}");

    // kiln signs in the registry with a key the peer generated; the peer verifies it.
    let peer_prefix = t.path().join("peer");
    run(
        Command::new(peer())
            .arg("generate-key-pair")
            .arg(&peer_prefix)
            .arg(PASSWORD),
        "cosign-peer generate-key-pair",
    );
    let (peer_key, peer_pub) = (
        peer_prefix.with_extension("key"),
        peer_prefix.with_extension("pub"),
    );
    ok(
        kiln_pw(&home)
            .args(["sign", "--key"])
            .arg(&peer_key)
            .arg(format!("docker://{host}/app:v1"))
            .output()
            .unwrap(),
        "kiln sign (registry) with the peer's key",
    );
    check(
        &peer_verify(&peer_pub, &format!("{host}/app:v1")),
        "cosign-peer verify kiln's signature made with its key",
    );
    // Added, not replaced: kiln's first signature is still there and valid.
    check(
        &peer_verify(&pubkey, &format!("{host}/app:v1")),
        "cosign-peer verify the first signature after a second was added",
    );
    let sig_tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    let sigs = skopeo_inspect_raw(&format!("{host}/app:{sig_tag}"));
    assert_eq!(sigs["layers"].as_array().unwrap().len(), 2, "{sigs}");

    // kiln verifies what the peer signed (the peer replaces the signature manifest).
    let peer2 = t.path().join("peer2");
    run(
        Command::new(peer())
            .arg("generate-key-pair")
            .arg(&peer2)
            .arg(PASSWORD),
        "cosign-peer generate-key-pair",
    );
    run(
        Command::new(peer())
            .args(["sign", "--http"])
            .arg(peer2.with_extension("key"))
            .arg(PASSWORD)
            .arg(format!("{host}/app:v1")),
        "cosign-peer sign",
    );
    ok(
        kiln_verify(
            &home,
            peer2.with_extension("pub"),
            format!("docker://{host}/app:v1"),
        ),
        "kiln verify the peer's signature",
    );
    // A key that signed nothing: exit 3 (checked, nothing valid), with the reason.
    let o = kiln_verify(&home, &peer_pub, format!("docker://{host}/app:v1"));
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not verify"),
        "{o:?}"
    );

    // A different image pushed under the signed tag: neither tool accepts it.
    let other = build_and_push(&t.path().join("other"), &host, "app:v1", Some("another"));
    assert_ne!(other, digest);
    let o = kiln_verify(
        &home,
        peer2.with_extension("pub"),
        format!("docker://{host}/app:v1"),
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&other) && err.contains("nothing is stored"),
        "{err}"
    );
    assert!(
        !peer_verify(&peer2.with_extension("pub"), &format!("{host}/app:v1"))
            .status
            .success()
    );
    assert!(!peer_verify(&pubkey, &format!("{host}/app:v1"))
        .status
        .success());
    // By digest, the signed image still verifies (with the peer's key: the peer replaced the
    // signature manifest when it signed).
    ok(
        kiln_verify(
            &home,
            peer2.with_extension("pub"),
            format!("docker://{host}/app@{digest}"),
        ),
        "kiln verify by digest",
    );

    // Wrong password: a clear error, no secret.
    let o = kiln_clean_env(&home)
        .env("KILN_PASSWORD", "not-the-password")
        .args(["sign", "--identity", "registry.example/test/app", "--key"])
        .arg(&key)
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("wrong password"),
        "{o:?}"
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("not-the-password"));
}

fn skopeo_inspect_raw(reference: &str) -> Value {
    let out = run(
        Command::new(require("skopeo"))
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}")),
        "skopeo inspect --raw",
    );
    serde_json::from_str(&out).unwrap()
}

/// GET a blob from the plain-HTTP registry with curl.
fn fetch_blob(host: &str, repo: &str, digest: &str) -> Vec<u8> {
    let out = Command::new(require("curl"))
        .args(["-sf", &format!("http://{host}/v2/{repo}/blobs/{digest}")])
        .output()
        .unwrap();
    check(&out, "curl blob");
    out.stdout
}

/// DSSE's pre-authentication encoding, written here from the spec, apart from kiln's.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

#[test]
fn attestations_are_dsse_envelopes_that_openssl_verifies() {
    let t = tempdir();
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let reg = Registry::start(None);
    let host = reg.host();
    let (key, pubkey) = key_pair(&home, &t.path().join("k"));
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let src = format!("oci:{}:v1", layout.display());
    let digest = manifest_digest(&build(&manifest, &src));
    let image = format!("docker://{host}/att:v1");
    ok(
        kiln_clean_env(&home)
            .args(["push", &src, &image])
            .output()
            .unwrap(),
        "kiln push",
    );

    // The SBOMs went up as referrers: the referrers tag (this registry has no referrers API)
    // lists them with their artifact types.
    let hex = digest.trim_start_matches("sha256:");
    let referrers = skopeo_inspect_raw(&format!("{host}/att:sha256-{hex}"));
    let types: Vec<&str> = referrers["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["artifactType"].as_str())
        .collect();
    for want in ["application/spdx+json", "application/vnd.cyclonedx+json"] {
        assert!(types.contains(&want), "{referrers}");
    }

    // SPDX (from the registry's referrers) and SLSA provenance (from the manifest and lock).
    ok(
        kiln_pw(&home)
            .args(["attest", "--key"])
            .arg(&key)
            .args(["--type", "spdx", &image])
            .output()
            .unwrap(),
        "kiln attest --type spdx",
    );
    ok(
        kiln_clean_env(&home)
            .arg("lock")
            .arg(&manifest)
            .output()
            .unwrap(),
        "kiln lock",
    );
    ok(
        kiln_pw(&home)
            .args(["attest", "--key"])
            .arg(&key)
            .args(["--type", "slsaprovenance", "--manifest"])
            .arg(&manifest)
            .arg(&image)
            .output()
            .unwrap(),
        "kiln attest --type slsaprovenance",
    );
    for kind in ["spdx", "slsaprovenance"] {
        ok(
            kiln_clean_env(&home)
                .args(["verify-attestation", "--key"])
                .arg(&pubkey)
                .args(["--type", kind, &image])
                .output()
                .unwrap(),
            "kiln verify-attestation",
        );
    }
    let o = kiln_clean_env(&home)
        .args(["verify-attestation", "--key"])
        .arg(&pubkey)
        .args(["--type", "cyclonedx", &image])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "no cyclonedx attestation: {o:?}");

    // Independently: each envelope's signature verifies with openssl over our own PAE, and the
    // statement is about the exact digest.
    let att = skopeo_inspect_raw(&format!("{host}/att:sha256-{hex}.att"));
    let layers = att["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{att}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut predicate_types = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        assert_eq!(l["mediaType"], "application/vnd.dsse.envelope.v1+json");
        let env: Value =
            serde_json::from_slice(&fetch_blob(&host, "att", l["digest"].as_str().unwrap()))
                .unwrap();
        assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
        let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
        let sig = b64
            .decode(env["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        let (pae_file, sig_file) = (
            t.path().join(format!("pae{i}")),
            t.path().join(format!("sig{i}")),
        );
        std::fs::write(&pae_file, pae("application/vnd.in-toto+json", &payload)).unwrap();
        std::fs::write(&sig_file, &sig).unwrap();
        let out = run(
            Command::new(require("openssl"))
                .args(["dgst", "-sha256", "-verify"])
                .arg(&pubkey)
                .arg("-signature")
                .arg(&sig_file)
                .arg(&pae_file),
            "openssl dgst -verify",
        );
        assert!(out.contains("Verified OK"), "{out}");
        // A flipped byte of the payload does not verify.
        let mut bad = payload.clone();
        bad[10] ^= 1;
        std::fs::write(&pae_file, pae("application/vnd.in-toto+json", &bad)).unwrap();
        let o = Command::new(require("openssl"))
            .args(["dgst", "-sha256", "-verify"])
            .arg(&pubkey)
            .arg("-signature")
            .arg(&sig_file)
            .arg(&pae_file)
            .output()
            .unwrap();
        assert!(!o.status.success());

        let st: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v0.1");
        assert_eq!(st["subject"][0]["digest"]["sha256"], hex);
        assert_eq!(
            l["annotations"]["predicateType"], st["predicateType"],
            "{l}"
        );
        predicate_types.push(st["predicateType"].as_str().unwrap().to_string());
        if st["predicateType"] == "https://spdx.dev/Document" {
            let sbom: Value = serde_json::from_str(&run(
                kiln_clean_env(&home).args(["sbom", &src, "--format", "spdx"]),
                "kiln sbom",
            ))
            .unwrap();
            assert_eq!(st["predicate"], sbom);
        } else {
            let m = std::fs::read(&manifest).unwrap();
            let materials = st["predicate"]["materials"].as_array().unwrap();
            assert_eq!(
                materials[0]["digest"]["sha256"],
                sha256_file(&manifest).trim_start_matches("sha256:"),
                "{materials:?} {}",
                m.len()
            );
            assert!(
                materials.iter().any(|x| x["uri"] == "file:kiln.lock"),
                "{materials:?}"
            );
        }
    }
    predicate_types.sort();
    assert_eq!(
        predicate_types,
        [
            "https://slsa.dev/provenance/v0.2",
            "https://spdx.dev/Document"
        ]
    );

    // Another key does not verify them.
    let other = t.path().join("other");
    key_pair(&home, &other);
    let o = kiln_clean_env(&home)
        .args(["verify-attestation", "--key"])
        .arg(other.with_extension("pub"))
        .args(["--type", "spdx", &image])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}

#[test]
fn signatures_in_an_oci_archive_travel_with_it() {
    let t = tempdir();
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (key, pubkey) = key_pair(&home, &t.path().join("k"));
    let manifest = static_image(t.path());
    let archive = t.path().join("app.tar");
    let src = format!("oci-archive:{}:v1", archive.display());
    let digest = manifest_digest(&build(&manifest, &src));
    let unsigned = std::fs::read(&archive).unwrap();

    // Not signed yet: exit 3, saying so.
    let o = kiln_verify(&home, &pubkey, &src);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    ok(
        kiln_pw(&home)
            .args(["sign", "--identity", "registry.example/test/app", "--key"])
            .arg(&key)
            .arg(&src)
            .output()
            .unwrap(),
        "kiln sign (oci-archive)",
    );
    // The archive was rewritten with the signature; the image in it is the same.
    assert_ne!(std::fs::read(&archive).unwrap(), unsigned);
    assert_eq!(skopeo_inspect_digest(&src), digest);
    let out = ok(
        kiln_verify(&home, &pubkey, &src),
        "kiln verify (oci-archive)",
    );
    assert!(out.contains(&digest), "{out}");

    // Pushed, the signature goes along; the peer verifies it in the registry.
    let reg = Registry::start(None);
    let host = reg.host();
    ok(
        kiln_clean_env(&home)
            .args(["push", &src, &format!("docker://{host}/archived:v1")])
            .output()
            .unwrap(),
        "kiln push (signed oci-archive)",
    );
    check(
        &peer_verify(&pubkey, &format!("{host}/archived:v1")),
        "cosign-peer verify a signature made in an oci-archive",
    );

    // A file that is not a tar: exit 1, a plain message, none of its bytes on the terminal.
    let junk = t.path().join("junk.tar");
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(&junk, bytes).unwrap();
    for args in [
        vec!["verify", "--key", pubkey.to_str().unwrap()],
        vec!["sbom"],
    ] {
        let o = kiln_clean_env(&home)
            .args(&args)
            .arg(format!("oci-archive:{}", junk.display()))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        let err = String::from_utf8(o.stderr).expect("the message is UTF-8");
        assert!(err.contains("is not a valid tar archive"), "{err}");
        assert!(
            !err.chars().any(|c| c.is_control() && c != '\n'),
            "control characters in {err:?}"
        );
    }
}

/// The manifest digest skopeo reads from an image spec (`skopeo inspect --raw`).
fn skopeo_inspect_digest(spec: &str) -> String {
    use sha2::Digest;
    let out = Command::new(require("skopeo"))
        .args(["inspect", "--raw", spec])
        .output()
        .unwrap();
    check(&out, "skopeo inspect --raw");
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&out.stdout)))
}

/// The static example built into a layout `oci:T/app:v1`, with a key pair and a HOME.
struct LocalImage {
    _t: tempfile::TempDir,
    home: PathBuf,
    key: PathBuf,
    pubkey: PathBuf,
    manifest: PathBuf,
    src: String,
}

impl LocalImage {
    fn new() -> LocalImage {
        let t = tempdir();
        let home = t.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let (key, pubkey) = key_pair(&home, &t.path().join("k"));
        let manifest = static_image(t.path());
        let src = format!("oci:{}:v1", t.path().join("app").display());
        build(&manifest, &src);
        LocalImage {
            _t: t,
            home,
            key,
            pubkey,
            manifest,
            src,
        }
    }
}

/// A local image names no repository: `sign` and `attest` refuse to make one up from a
/// folder name (before asking for the password), take `--identity` as given when it is a
/// repository name, and refuse a reference with a tag.
#[test]
fn a_local_image_is_signed_only_for_a_named_repository() {
    let l = LocalImage::new();
    let (home, key, src) = (l.home.clone(), l.key.clone(), l.src.clone());
    for args in [vec!["sign"], vec!["attest", "--type", "spdx"]] {
        // No password and no terminal: the identity is what is refused.
        let o = kiln_clean_env(&home)
            .env_remove("KILN_PASSWORD")
            .env_remove("COSIGN_PASSWORD")
            .stdin(std::process::Stdio::null())
            .args(&args)
            .arg("--key")
            .arg(&key)
            .arg(&src)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("no identity to sign"), "{args:?}: {e}");
        assert!(e.contains("hint: say --identity HOST/REPO"), "{e}");
        assert!(!e.to_lowercase().contains("password"), "{e}");
    }
    let o = kiln_pw(&home)
        .args([
            "sign",
            "--identity",
            "registry.example/team/app:v1",
            "--key",
        ])
        .arg(&key)
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a repository name"),
        "{o:?}"
    );
    let signed: Value = serde_json::from_str(&ok(
        kiln_pw(&home)
            .args([
                "sign",
                "--json",
                "--identity",
                "registry.example/team/app",
                "--key",
            ])
            .arg(&key)
            .arg(&src)
            .output()
            .unwrap(),
        "kiln sign --identity",
    ))
    .unwrap();
    assert_eq!(signed["identity"], "registry.example/team/app", "{signed}");
}

/// `attest --type slsaprovenance --manifest M` states that the image was built from M: a
/// manifest whose plan is not the image's is refused, naming where they differ.
#[test]
fn provenance_is_refused_for_a_manifest_the_image_was_not_built_from() {
    let l = LocalImage::new();
    let (home, key, pubkey, manifest, src) = (
        l.home.clone(),
        l.key.clone(),
        l.pubkey.clone(),
        l.manifest.clone(),
        l.src.clone(),
    );
    let attest = |m: &Path| {
        kiln_pw(&home)
            .args(["attest", "--identity", "registry.example/team/app", "--key"])
            .arg(&key)
            .args(["--type", "slsaprovenance", "--manifest"])
            .arg(m)
            .arg(&src)
            .output()
            .unwrap()
    };
    // Another manifest: one more file than the image has.
    let other = manifest.with_file_name("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&manifest).unwrap()
            + "\n[[component]]\nname = \"note\"\nkind = \"file\"\ncontent = \"x\"\nto = \"/etc/note\"\nwhy = \"not in the image\"\n",
    )
    .unwrap();
    let o = attest(&other);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("is not the plan of"), "{e}");
    assert!(
        e.contains("`/etc/note` is in this plan, not in the image"),
        "{e}"
    );
    // Nothing was attested: verification finds nothing valid (exit 3).
    let o = kiln_clean_env(&home)
        .args(["verify-attestation", "--type", "slsaprovenance", "--key"])
        .arg(&pubkey)
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    // The manifest it was built from is attested, and verifies.
    ok(attest(&manifest), "kiln attest --type slsaprovenance");
    ok(
        kiln_clean_env(&home)
            .args(["verify-attestation", "--type", "slsaprovenance", "--key"])
            .arg(&pubkey)
            .arg(&src)
            .output()
            .unwrap(),
        "kiln verify-attestation",
    );
}
