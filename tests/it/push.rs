//! `kiln push` and `kiln build --push` against a real registry (docker-registry 2.8 on
//! 127.0.0.1, one per test): exact bytes (skopeo sees the local digests), basic auth without
//! leaking the password, HEAD-before-upload and cross-repository mounts (counted by a proxy),
//! chunked uploads in bounded memory that survive injected faults.

use crate::registry_util::*;
use crate::util::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `skopeo inspect --raw` of a reference on a plain-HTTP registry: sha256 of the bytes.
fn remote_digest(reference: &str) -> String {
    let skopeo = require("skopeo");
    let out = Command::new(skopeo)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    check(&out, "skopeo inspect --raw");
    format!("sha256:{}", sha256_hex(&out.stdout))
}

fn push_json(home: &Path, src: &str, dest: &str, extra: &[&str]) -> Value {
    let out = run(
        kiln_clean_env(home)
            .args(["push", src, dest, "--json"])
            .args(extra),
        "kiln push",
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn push_sends_exact_bytes_that_skopeo_reads_back() {
    let t = tempdir();
    let reg = Registry::start(None);
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let summary = build(&manifest, &format!("oci:{}:v1", layout.display()));
    let digest = manifest_digest(&summary);
    let host = reg.host();

    let refs = t.path().join("refs.txt");
    let out = run(
        kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{host}/kiln/static:v1"))
            .arg("--image-refs")
            .arg(&refs),
        "kiln push",
    );
    let line = format!("{host}/kiln/static@{digest}");
    assert_eq!(out.trim(), line);
    assert_eq!(std::fs::read_to_string(&refs).unwrap().trim(), line);
    assert_eq!(remote_digest(&format!("{host}/kiln/static:v1")), digest);

    // The SBOMs and the plan went along, by digest, byte for byte.
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");
    let artifacts: Vec<String> = ["spdx", "cyclonedx", "plan"]
        .iter()
        .map(|k| {
            index["manifests"][0]["annotations"][format!("dev.kiln.artifact.{k}")]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(artifacts.len(), 3, "{index}");
    for a in &artifacts {
        assert_eq!(remote_digest(&format!("{host}/kiln/static@{a}")), *a);
    }

    // skopeo copies it back: same manifest digest.
    let back = t.path().join("back");
    run(
        Command::new(require("skopeo"))
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{host}/kiln/static:v1"))
            .arg(format!("oci:{}:t", back.display())),
        "skopeo copy back",
    );
    assert_eq!(layout_digest(&back, "t"), digest);

    // From an oci-archive, and straight from `kiln build --push`: the same digest.
    let archive = t.path().join("img.tar");
    build(&manifest, &format!("oci-archive:{}:v2", archive.display()));
    let j = push_json(
        t.path(),
        &format!("oci-archive:{}:v2", archive.display()),
        &format!("docker://{host}/kiln/static:v2"),
        &[],
    );
    assert_eq!(j["digest"], digest.as_str());
    // Only the SBOMs differ (they name the tag); the image's blobs are there already.
    assert!(j["skipped"].as_u64().unwrap() >= 4, "{j}");
    assert_eq!(remote_digest(&format!("{host}/kiln/static:v2")), digest);

    let out = run(
        kiln_clean_env(t.path())
            .arg("build")
            .arg(&manifest)
            .arg("--output")
            .arg(format!("oci:{}:v3", t.path().join("img3").display()))
            .args(["--json", "--push"])
            .arg(format!("docker://{host}/kiln/built:v3")),
        "kiln build --push",
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["push"]["digest"], digest.as_str(), "{j}");
    assert_eq!(
        j["push"]["reference"],
        format!("{host}/kiln/built@{digest}").as_str()
    );
    assert_eq!(remote_digest(&format!("{host}/kiln/built:v3")), digest);
}

#[test]
fn basic_auth_works_and_the_password_never_shows() {
    let t = tempdir();
    let pass = "s3cret-Pa55word-not-in-output";
    let htpasswd = require("htpasswd");
    let line = run(
        Command::new(htpasswd).args(["-Bbn", "kilnuser", pass]),
        "htpasswd",
    );
    let file = t.path().join("htpasswd");
    std::fs::write(&file, line.trim().to_string() + "\n").unwrap();
    let reg = Registry::start(Some(&format!(
        "{{htpasswd: {{realm: kiln-test, path: \"{}\"}}}}",
        file.display()
    )));
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let digest = manifest_digest(&build(&manifest, &format!("oci:{}:v1", layout.display())));
    let src = format!("oci:{}:v1", layout.display());
    let dest = format!("docker://{}/private/app:v1", reg.host());
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let no_secret = |o: &std::process::Output| {
        for s in [&o.stdout, &o.stderr] {
            let text = String::from_utf8_lossy(s);
            assert!(!text.contains(pass), "the password leaked: {text}");
        }
    };

    // Anonymous: refused, exit 1, says why.
    let o = kiln_clean_env(&home)
        .args(["push", &src, &dest])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("asks for credentials"), "{err}");
    no_secret(&o);

    // A wrong password: refused, exit 1.
    let o = kiln_clean_env(&home)
        .args(["push", &src, &dest, "--creds", "kilnuser:wrong-password"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(!err.contains("wrong-password"), "{err}");

    // --creds.
    let o = kiln_clean_env(&home)
        .args(["push", &src, &dest, "--creds", &format!("kilnuser:{pass}")])
        .output()
        .unwrap();
    check(&o, "kiln push --creds");
    no_secret(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&digest));

    // Standard input, as `docker login --password-stdin`.
    let mut child = kiln_clean_env(&home)
        .args([
            "push",
            &src,
            &dest,
            "--username",
            "kilnuser",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{pass}").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    check(&o, "kiln push --password-stdin");
    no_secret(&o);

    // The environment.
    let o = kiln_clean_env(&home)
        .args(["push", &src, &dest, "--json"])
        .env("KILN_REGISTRY_USERNAME", "kilnuser")
        .env("KILN_REGISTRY_PASSWORD", pass)
        .output()
        .unwrap();
    check(&o, "kiln push with KILN_REGISTRY_*");
    no_secret(&o);

    // containers' auth.json in ~/.config (podman's persistent login), found through HOME.
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("kilnuser:{pass}"));
    std::fs::create_dir_all(home.join(".config/containers")).unwrap();
    std::fs::write(
        home.join(".config/containers/auth.json"),
        serde_json::json!({"auths": {reg.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let o = kiln_clean_env(&home)
        .args(["push", &src, &dest])
        .output()
        .unwrap();
    check(&o, "kiln push with ~/.config/containers/auth.json");
    no_secret(&o);
    std::fs::remove_file(home.join(".config/containers/auth.json")).unwrap();

    // Docker's config.json (auths, base64 user:pass), found through HOME.
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    std::fs::write(
        home.join(".docker/config.json"),
        serde_json::json!({"auths": {reg.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let refs = t.path().join("refs");
    let o = kiln_clean_env(&home)
        .args(["push", &src, &dest, "--image-refs"])
        .arg(&refs)
        .output()
        .unwrap();
    check(&o, "kiln push with ~/.docker/config.json");
    no_secret(&o);
    assert!(!std::fs::read_to_string(&refs).unwrap().contains(pass));

    // A credential helper (credHelpers for the host, then credsStore), run as
    // `docker-credential-NAME get` with the host on stdin: the helper checks it was asked for
    // this host.
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-kilntest");
    let script = r#"#!/bin/sh
[ "$1" = get ] || exit 1
read host
[ "$host" = "HOST" ] || exit 1
echo '{"ServerURL":"'$host'","Username":"kilnuser","Secret":"PASS"}'
"#;
    std::fs::write(
        &helper,
        script.replace("HOST", &reg.host()).replace("PASS", pass),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for config in [
        serde_json::json!({"credHelpers": {reg.host(): "kilntest"}}),
        serde_json::json!({"credsStore": "kilntest"}),
    ] {
        std::fs::write(home.join(".docker/config.json"), config.to_string()).unwrap();
        let o = kiln_clean_env(&home)
            .args(["push", &src, &dest])
            .env("PATH", &path)
            .output()
            .unwrap();
        check(&o, &format!("kiln push with {config}"));
        no_secret(&o);
    }
    let log = std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap_or_default();
    assert!(!log.contains(pass));
}

#[test]
fn repush_uploads_nothing_and_another_repository_mounts() {
    let t = tempdir();
    let reg = Registry::start(None);
    let proxy = Proxy::start(reg.port, Faults::None);
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let digest = manifest_digest(&build(&manifest, &format!("oci:{}:v1", layout.display())));
    let src = format!("oci:{}:v1", layout.display());
    let host = proxy.host();

    let j = push_json(t.path(), &src, &format!("docker://{host}/one:v1"), &[]);
    let blobs = j["blobs"].as_u64().unwrap();
    assert!(blobs >= 6, "{j}"); // layers, config, 3 artifact blobs, the empty config
    assert_eq!(j["uploaded"], blobs, "{j}");
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), blobs as usize);

    // Again: the tag already points at the image and every artifact is there (one HEAD per
    // manifest), so nothing is uploaded, no blob is even asked about, no manifest is PUT.
    proxy.requests.lock().unwrap().clear();
    let j = push_json(t.path(), &src, &format!("docker://{host}/one:v1"), &[]);
    assert_eq!(
        (j["uploaded"].as_u64(), j["skipped"].as_u64()),
        (Some(0), Some(blobs)),
        "{j}"
    );
    assert_eq!(proxy.count("POST", "/blobs/uploads/"), 0);
    assert_eq!(proxy.count("PATCH", "/blobs/uploads/"), 0);
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 0);
    assert_eq!(proxy.count("HEAD", "/blobs/sha256:"), 0);
    assert_eq!(proxy.count("PUT", "/manifests/"), 0);
    assert_eq!(
        proxy.count("HEAD", "/manifests/"),
        4,
        "the tag and 3 artifacts"
    );

    // A blob the registry lost under a manifest it still has is not this push's business, but
    // a new tag of the same image re-sends only the tag: blobs are found by HEAD.
    proxy.requests.lock().unwrap().clear();
    let j = push_json(t.path(), &src, &format!("docker://{host}/one:v2"), &[]);
    assert_eq!(j["uploaded"].as_u64(), Some(0), "{j}");
    assert_eq!(proxy.count("PUT", "/manifests/v2"), 1);

    // Another repository, told where the blobs are: mounted, not uploaded.
    proxy.requests.lock().unwrap().clear();
    let j = push_json(
        t.path(),
        &src,
        &format!("docker://{host}/two:v1"),
        &["--from-repo", "one"],
    );
    assert_eq!(
        (j["uploaded"].as_u64(), j["mounted"].as_u64()),
        (Some(0), Some(blobs)),
        "{j}"
    );
    assert_eq!(proxy.count("POST", "mount=sha256"), blobs as usize);
    assert_eq!(proxy.count("PATCH", "/blobs/uploads/"), 0);
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 0);
    assert_eq!(remote_digest(&format!("{}/two:v1", reg.host())), digest);

    // A third repository, told nothing: kiln remembers where it pushed the blobs and mounts.
    let cache = t.path().join(".cache/kiln/blob-locations.json");
    assert!(cache.is_file(), "no blob cache at {}", cache.display());
    proxy.requests.lock().unwrap().clear();
    let j = push_json(t.path(), &src, &format!("docker://{host}/three:v1"), &[]);
    assert_eq!(
        (j["uploaded"].as_u64(), j["mounted"].as_u64()),
        (Some(0), Some(blobs)),
        "{j}"
    );
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 0);
    assert_eq!(remote_digest(&format!("{}/three:v1", reg.host())), digest);
    // A broken cache costs the mounts, never the push.
    std::fs::write(&cache, "{not json").unwrap();
    let j = push_json(t.path(), &src, &format!("docker://{host}/four:v1"), &[]);
    assert_eq!(j["uploaded"].as_u64(), Some(blobs), "{j}");
    assert_eq!(remote_digest(&format!("{}/four:v1", reg.host())), digest);
}

#[test]
fn chunked_upload_streams_and_survives_faults() {
    let t = tempdir();
    let reg = Registry::start(None);
    let proxy = Proxy::start(reg.port, Faults::OneInFour);
    let manifest = big_image(t.path(), 48);
    let layout = t.path().join("img");
    let summary = build(&manifest, &format!("oci:{}:v1", layout.display()));
    let digest = manifest_digest(&summary);
    let layer_size = summary["layers"][0]["size"].as_u64().unwrap();
    assert!(layer_size > 40 << 20, "{summary}");

    let time = require("time");
    let start = std::time::Instant::now();
    let out = Command::new(time)
        .args(["-f", "maxrss_kib=%M"])
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .args(["push", &format!("oci:{}:v1", layout.display())])
        .arg(format!("docker://{}/big:v1", proxy.host()))
        .args(["--json", "--chunk-mib", "16"])
        .env("HOME", t.path())
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    if !out.status.success() {
        let reqs = proxy.requests.lock().unwrap().clone();
        panic!(
            "kiln push through a faulty proxy failed: {}\nrequests (every 4th faulted):\n{}",
            String::from_utf8_lossy(&out.stderr),
            reqs.iter()
                .enumerate()
                .map(|(i, r)| format!("  {i}: {r}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib = maxrss_kib(&stderr);
    eprintln!(
        "push of a {} MiB layer through faults: {:?}, peak RSS {} MiB, {} faults injected",
        layer_size >> 20,
        start.elapsed(),
        kib / 1024,
        proxy
            .faults_injected
            .load(std::sync::atomic::Ordering::SeqCst)
    );
    assert!(kib < 40 * 1024, "peak RSS {kib} KiB: the blob was buffered");
    assert!(
        proxy
            .faults_injected
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 3
    );
    assert!(
        proxy.count("PATCH", "/blobs/uploads/") >= 3,
        "{:?}",
        proxy.requests.lock().unwrap()
    );
    // Exact bytes: skopeo reads the manifest back and verifies every blob while copying.
    assert_eq!(remote_digest(&format!("{}/big:v1", reg.host())), digest);
    let back = t.path().join("back");
    run(
        Command::new(require("skopeo"))
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{}/big:v1", reg.host()))
            .arg(format!("oci:{}:t", back.display())),
        "skopeo copy back",
    );
    assert_eq!(layout_digest(&back, "t"), digest);

    // The same faults falling on every other request of the sequence: each alignment pushes
    // the exact bytes too (a resume bug once hid behind one alignment).
    for first in 1..4 {
        let proxy = Proxy::start_at(reg.port, Faults::OneInFour, first);
        let out = kiln_clean_env(t.path())
            .args(["push", &format!("oci:{}:v1", layout.display())])
            .arg(format!("docker://{}/big{first}:v1", proxy.host()))
            .args(["--chunk-mib", "16"])
            .output()
            .unwrap();
        check(&out, &format!("kiln push, faults shifted by {first}"));
        assert!(
            proxy
                .faults_injected
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 3
        );
        assert_eq!(
            remote_digest(&format!("{}/big{first}:v1", reg.host())),
            digest
        );
    }
}

#[test]
fn plain_http_is_refused_for_other_hosts() {
    let t = tempdir();
    let layout = t.path().join("img");
    let manifest = static_image(t.path());
    build(&manifest, &format!("oci:{}:v1", layout.display()));
    let o = kiln_clean_env(t.path())
        .args(["push", &format!("oci:{}:v1", layout.display())])
        .arg("docker://registry.invalid/app:v1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("plain HTTP only for a loopback host"), "{err}");
    // A bad reference is a usage-level mistake with a clear message.
    let o = kiln_clean_env(t.path())
        .args(["push", &format!("oci:{}:v1", layout.display())])
        .arg("registry.invalid/app:v1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("docker://HOST[:PORT]/REPO[:TAG]"));
}

#[test]
fn tls_with_a_private_ca_needs_cert_dir() {
    let t = tempdir();
    let certs = t.path().join("certs");
    make_certs(&certs);
    let reg = Registry::start_with(None, Some((&certs.join("srv.crt"), &certs.join("srv.key"))));
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let digest = manifest_digest(&build(&manifest, &format!("oci:{}:v1", layout.display())));
    let src = format!("oci:{}:v1", layout.display());
    let dest = format!("docker://{}/tls/app:v1", reg.host());

    // Not trusted: exit 1, says how to trust it, never falls back to plain HTTP.
    let o = kiln_clean_env(t.path())
        .args(["push", &src, &dest])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not trusted") && err.contains("--cert-dir"),
        "{err}"
    );

    // Trusted through --cert-dir (the CA only, as in containers' certs.d).
    let dir = t.path().join("certs.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(certs.join("ca.crt"), dir.join("ca.crt")).unwrap();
    let j = push_json(
        t.path(),
        &src,
        &dest,
        &["--cert-dir", dir.to_str().unwrap()],
    );
    assert_eq!(j["digest"], digest.as_str());
    let out = run(
        Command::new(require("skopeo"))
            .args(["inspect", "--raw", "--cert-dir"])
            .arg(&dir)
            .arg(format!("docker://{}/tls/app:v1", reg.host())),
        "skopeo inspect over TLS",
    );
    assert_eq!(format!("sha256:{}", sha256_hex(out.as_bytes())), digest);
}

#[test]
fn bearer_tokens_from_a_token_server() {
    let t = tempdir();
    let certs = t.path().join("certs");
    make_certs(&certs);
    let pass = "t0ken-server-Pa55";
    let tokens = TokenServer::start(&certs, "robot", pass);
    let reg = Registry::start(Some(&tokens.registry_auth(&certs)));
    let manifest = static_image(t.path());
    let layout = t.path().join("img");
    let digest = manifest_digest(&build(&manifest, &format!("oci:{}:v1", layout.display())));
    let src = format!("oci:{}:v1", layout.display());
    let dest = format!("docker://{}/team/app:v1", reg.host());

    let o = kiln_clean_env(t.path())
        .args(["push", &src, &dest, "--creds", "robot:wrong"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");

    let o = kiln_clean_env(t.path())
        .args([
            "push",
            &src,
            &dest,
            "--json",
            "--creds",
            &format!("robot:{pass}"),
        ])
        .output()
        .unwrap();
    check(&o, "kiln push with a bearer token");
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["digest"], digest.as_str());
    // The token asked for the repository's push scope; neither it nor the password shows.
    let asked = tokens.requests.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|r| r.contains("scope=repository%3Ateam%2Fapp%3Apull%2Cpush")),
        "{asked:?}"
    );
    let issued = tokens.tokens.lock().unwrap().clone();
    assert!(!issued.is_empty());
    for s in [&o.stdout, &o.stderr] {
        let text = String::from_utf8_lossy(s);
        assert!(!text.contains(pass), "{text}");
        for tok in &issued {
            assert!(!text.contains(tok.as_str()), "a token leaked: {text}");
            // Not even its signature part.
            assert!(!text.contains(tok.rsplit('.').next().unwrap()), "{text}");
        }
    }
    // An identity token in config.json goes to the token server as an OAuth2 refresh token
    // (POST), never as a password; the push works and the token never shows.
    let refresh = "refresh-t0ken-kiln-test";
    let oauth = TokenServer::start_with_refresh(&certs, "robot", pass, Some(refresh));
    let reg2 = Registry::start(Some(&oauth.registry_auth(&certs)));
    let home = t.path().join("home-oauth");
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    std::fs::write(
        home.join(".docker/config.json"),
        serde_json::json!({"auths": {reg2.host(): {"identitytoken": refresh}}}).to_string(),
    )
    .unwrap();
    let o = kiln_clean_env(&home)
        .args([
            "push",
            &src,
            &format!("docker://{}/team/app:v1", reg2.host()),
        ])
        .output()
        .unwrap();
    check(&o, "kiln push with an identity token");
    assert!(
        oauth
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with("POST /token")),
        "{:?}",
        oauth.requests.lock().unwrap()
    );
    for s in [&o.stdout, &o.stderr] {
        assert!(!String::from_utf8_lossy(s).contains(refresh));
    }

    // skopeo, with the same credentials, reads back the same digest.
    let out = run(
        Command::new(require("skopeo"))
            .args(["inspect", "--raw", "--tls-verify=false", "--creds"])
            .arg(format!("robot:{pass}"))
            .arg(format!("docker://{}/team/app:v1", reg.host())),
        "skopeo inspect with a token",
    );
    assert_eq!(format!("sha256:{}", sha256_hex(out.as_bytes())), digest);
}
