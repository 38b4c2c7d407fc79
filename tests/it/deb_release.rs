//! `deb::release`: InRelease signatures checked against keyrings, on throw-away archives
//! signed by gpg (`debrepo`) and on Debian's own InRelease files from apt's lists.

use crate::debrepo::{Publish, Repo};
use kiln::deb::release::{verify, Compression, Keyring, Release, ReleaseError, VerifyOptions};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const DAY: Duration = Duration::from_secs(86_400);

fn check(repo: &Repo, now: SystemTime, opts: &VerifyOptions) -> Result<Release, ReleaseError> {
    let inrelease = fs_err::read(repo.path(&format!("{}/InRelease", repo.dists()))).unwrap();
    let keyring = Keyring::load(&repo.keyring).unwrap();
    verify(&inrelease, &keyring, now, opts)
}

fn strict() -> VerifyOptions {
    VerifyOptions::default()
}

fn one_package_repo() -> Repo {
    let mut repo = Repo::new("stable");
    repo.add(
        crate::debrepo::DebSpec::new("hello", "1:1.0-1", "amd64")
            .file("/usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755)
            .dir("/usr/share/hello")
            .depends("libc6 (>= 2.36)"),
    );
    repo
}

fn edit_inrelease(repo: &Repo, edit: impl Fn(String) -> String) {
    let path = repo.path(&format!("{}/InRelease", repo.dists()));
    let text = fs_err::read_to_string(&path).unwrap();
    fs_err::write(&path, edit(text)).unwrap();
}

#[test]
fn deb_release_good_signature_yields_index_hashes() {
    let repo = one_package_repo();
    repo.publish();
    let release = check(&repo, SystemTime::now(), &strict()).unwrap();
    assert_eq!(release.signed_by, repo.fingerprint);
    assert_eq!(release.suite.as_deref(), Some("stable"));
    assert_eq!(release.components, ["main"]);
    assert!(release.acquire_by_hash);
    let (path, file, compression) = release.pick_index("main", "amd64").unwrap();
    assert_eq!(path, "main/binary-amd64/Packages.xz");
    assert_eq!(compression, Compression::Xz);
    let bytes = fs_err::read(repo.path(&format!("{}/{path}", repo.dists()))).unwrap();
    assert_eq!(file.size, bytes.len() as u64);
    assert_eq!(file.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
    let by_hash = release.by_hash(&path).unwrap();
    assert_eq!(
        fs_err::read(repo.path(&format!("{}/{by_hash}", repo.dists()))).unwrap(),
        bytes
    );
    let packages =
        fs_err::read_to_string(repo.path(&format!("{}/main/binary-amd64/Packages", repo.dists())))
            .unwrap();
    assert!(packages.contains("Filename: pool/main/h/hello/hello_1.0-1_amd64.deb"));
    assert!(release.sha256_of("main/binary-amd64/Packages.gz").is_some());
}

#[test]
fn deb_release_armored_keyring_works() {
    let repo = one_package_repo();
    repo.publish();
    let out = std::process::Command::new("gpg")
        .env("GNUPGHOME", repo.gpg_home())
        .args(["--batch", "--armor", "--export", &repo.fingerprint])
        .output()
        .unwrap();
    assert!(out.status.success());
    let keyring = Keyring::from_bytes(&out.stdout).unwrap();
    assert_eq!(
        keyring.fingerprints(),
        std::slice::from_ref(&repo.fingerprint)
    );
    let inrelease = fs_err::read(repo.path(&format!("{}/InRelease", repo.dists()))).unwrap();
    verify(&inrelease, &keyring, SystemTime::now(), &strict()).unwrap();
}

#[test]
fn deb_release_other_key_refused_naming_it() {
    let repo = one_package_repo();
    let other = repo.gpg.gen_key("intruder", "never");
    repo.publish_opts(Publish {
        signers: vec![other.clone()],
        ..Publish::default()
    });
    let err = check(&repo, SystemTime::now(), &strict()).unwrap_err();
    assert!(matches!(err, ReleaseError::UnknownSigner { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&other), "{msg}");
    assert!(msg.contains(&repo.keyring.display().to_string()), "{msg}");
    assert!(msg.contains("does not hold the key that signed"), "{msg}");
}

#[test]
fn deb_release_unknown_signature_beside_a_good_one_is_ignored() {
    let repo = one_package_repo();
    let other = repo.gpg.gen_key("other archive key", "never");
    repo.publish_opts(Publish {
        signers: vec![other, repo.fingerprint.clone()],
        ..Publish::default()
    });
    let release = check(&repo, SystemTime::now(), &strict()).unwrap();
    assert_eq!(release.signed_by, repo.fingerprint);
}

#[test]
fn deb_release_tampered_hash_refused() {
    let repo = one_package_repo();
    repo.publish();
    edit_inrelease(&repo, |text| {
        let at = text.find("\n ").unwrap() + 2;
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    });
    let err = check(&repo, SystemTime::now(), &strict()).unwrap_err();
    assert!(matches!(err, ReleaseError::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[test]
fn deb_release_sha1_signature_refused() {
    let repo = one_package_repo();
    repo.publish_opts(Publish {
        digest: Some("SHA1"),
        ..Publish::default()
    });
    let err = check(&repo, SystemTime::now(), &strict()).unwrap_err();
    assert!(err.to_string().contains("weak digest SHA1"), "{err}");
}

#[test]
fn deb_release_expired_key_refused() {
    let repo = Repo::with_key("stable", "1d");
    repo.publish();
    let now = SystemTime::now();
    check(&repo, now, &strict()).unwrap();
    let err = check(&repo, now + 2 * DAY, &strict()).unwrap_err();
    assert!(matches!(err, ReleaseError::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn deb_release_revoked_key_refused() {
    let repo = one_package_repo();
    repo.publish();
    // gpg keeps a revocation certificate, guarded by a leading `:`, for every key it makes.
    let rev = repo
        .gpg_home()
        .join(format!("openpgp-revocs.d/{}.rev", repo.fingerprint));
    let cert = fs_err::read_to_string(&rev)
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    fs_err::write(&rev, cert).unwrap();
    let out = std::process::Command::new("gpg")
        .env("GNUPGHOME", repo.gpg_home())
        .args(["--batch", "--import"])
        .arg(&rev)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.gpg.export(&[&repo.fingerprint], &repo.keyring);
    let err = check(&repo, SystemTime::now(), &strict()).unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[test]
fn deb_release_valid_until_past_refused_unless_allowed() {
    let repo = one_package_repo();
    let now = SystemTime::now();
    repo.publish_opts(Publish {
        date: Some(now - 10 * DAY),
        valid_until: Some(now - 3 * DAY),
        ..Publish::default()
    });
    let err = check(&repo, now, &strict()).unwrap_err();
    assert!(matches!(err, ReleaseError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("allow_expired"), "{err}");
    let lax = VerifyOptions {
        allow_expired: true,
    };
    let release = check(&repo, now, &lax).unwrap();
    assert!(release.valid_until.unwrap() < now);
}

#[test]
fn deb_release_date_in_the_future_refused() {
    let repo = one_package_repo();
    repo.publish_opts(Publish {
        date: Some(SystemTime::now() + 3 * DAY),
        ..Publish::default()
    });
    let err = check(&repo, SystemTime::now(), &strict()).unwrap_err();
    assert!(matches!(err, ReleaseError::FromTheFuture { .. }), "{err}");
}

#[test]
fn deb_release_text_outside_the_signed_block_refused() {
    let repo = one_package_repo();
    repo.publish();
    let original =
        fs_err::read_to_string(repo.path(&format!("{}/InRelease", repo.dists()))).unwrap();
    type Edit = fn(&str) -> String;
    let cases: [(&str, Edit); 4] = [
        ("before", |t| format!("Origin: evil\n{t}")),
        ("after", |t| format!("{t}Origin: evil\n")),
        ("second signed message", |t| format!("{t}{t}")),
        ("dash-escaped", |t| t.replacen("\nSHA256:", "\n-SHA256:", 1)),
    ];
    for (what, edit) in cases {
        edit_inrelease(&repo, |_| edit(&original));
        let err = check(&repo, SystemTime::now(), &strict()).unwrap_err();
        assert!(matches!(err, ReleaseError::Framing { .. }), "{what}: {err}");
    }
    edit_inrelease(&repo, |_| format!("\n \n{original}\n\n"));
    check(&repo, SystemTime::now(), &strict()).unwrap();
}

/// Debian's InRelease files as apt fetched them on this machine (`apt-get update`).
#[test]
fn deb_release_debian_inreleases_verify() {
    let keyring = Keyring::load(Path::new("/usr/share/keyrings/debian-archive-keyring.gpg"))
        .expect("debian-archive-keyring is installed (apt-get install debian-archive-keyring)");
    let now = SystemTime::now();
    for list in crate::util::apt_lists() {
        let name = list.inrelease.display().to_string();
        let bytes = fs_err::read(&list.inrelease)
            .unwrap_or_else(|e| panic!("{e}: run `apt-get update` for bookworm's lists"));
        let started = Instant::now();
        let verified = verify(
            &bytes,
            &keyring,
            now,
            &VerifyOptions {
                allow_expired: true,
            },
        );
        let took = started.elapsed();
        let release = verified.unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!(
            "{name}: {} bytes verified in {took:?} by {}",
            bytes.len(),
            release.signed_by
        );
        assert_eq!(release.origin.as_deref(), Some("Debian"), "{name}");
        assert!(release.acquire_by_hash, "{name}");
        let (path, _, compression) = release.pick_index("main", "amd64").unwrap();
        assert_eq!(path, "main/binary-amd64/Packages.xz", "{name}");
        assert_eq!(compression, Compression::Xz);
        let strict_result = verify(&bytes, &keyring, now, &strict());
        match release.valid_until {
            Some(until) if until < now => {
                assert!(
                    matches!(strict_result, Err(ReleaseError::Expired { .. })),
                    "{name}"
                )
            }
            _ => assert!(strict_result.is_ok(), "{name}"),
        }
    }
}
