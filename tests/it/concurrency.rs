//! Concurrent writers lose nothing, and a writer killed anywhere leaves the old state valid
//! (issue 9): two builds adding tags to one layout, a build and a sign, two signs of a layout
//! or of an oci-archive, each raced for 10 rounds, end with every tag and every signature
//! present; `kill -9` at any moment of a build or a sign leaves the old tags resolving and
//! verifying, and the next run sweeps what the killed one left; Ctrl-C removes a build's
//! staging folders; a push killed midway leaves the registry's tag at the old or the new
//! image, whole.

use crate::hostile::{key_pair, kiln_pw, tiny_layout, tiny_manifest};
use crate::registry_util::*;
use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ROUNDS: usize = 10;

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(c: Child, what: &str) {
    let o = c.wait_with_output().unwrap();
    check(&o, what);
}

fn tags(dir: &Path) -> Vec<String> {
    let idx: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect()
}

fn build_cmd(manifest: &Path, out: &str) -> Command {
    let mut c = kiln();
    c.arg("build").arg(manifest).args(["--output", out]);
    c
}

fn sign_cmd(key: &Path, image: &str) -> Command {
    let mut c = kiln_pw();
    c.args(["sign", "--identity", "registry.example/test/app", "--key"])
        .arg(key)
        .arg(image);
    c
}

fn verifies(pubkey: &Path, image: &str) -> bool {
    kiln()
        .args(["verify", "--key"])
        .arg(pubkey)
        .arg(image)
        .output()
        .unwrap()
        .status
        .success()
}

/// Leftovers of kiln's staging in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".kiln-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn two_builds_adding_tags_to_one_layout_lose_neither() {
    let t = tempdir();
    let a = tiny_manifest(&t.path().join("a"), "a");
    let b = tiny_manifest(&t.path().join("b"), "b");
    for round in 0..ROUNDS {
        // Even rounds race to create the layout, odd ones to add to an existing one.
        let dir = t.path().join(format!("layout{}", round / 2));
        let (ta, tb) = (format!("a{round}"), format!("b{round}"));
        let x = spawn(&mut build_cmd(&a, &format!("oci:{}:{ta}", dir.display())));
        let y = spawn(&mut build_cmd(&b, &format!("oci:{}:{tb}", dir.display())));
        wait_ok(x, "build a");
        wait_ok(y, "build b");
        let have = tags(&dir);
        for tag in [&ta, &tb] {
            assert!(
                have.contains(tag),
                "round {round}: {tag} lost; tags {have:?}"
            );
            let o = kiln()
                .args(["sbom", &format!("oci:{}:{tag}", dir.display())])
                .output()
                .unwrap();
            check(&o, &format!("round {round}: sbom of {tag}"));
        }
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
    }
}

#[test]
fn builds_and_signs_racing_on_one_layout_lose_nothing() {
    let t = tempdir();
    let (k1, p1) = key_pair(t.path(), "one");
    let (k2, p2) = key_pair(t.path(), "two");
    let m = tiny_manifest(&t.path().join("src"), "race");
    for round in 0..ROUNDS {
        let dir = tiny_layout(t.path(), &format!("img{round}"));
        let v1 = format!("oci:{}:v1", dir.display());
        // A build of another tag, and two signs of v1 with different keys, all at once.
        let b = spawn(&mut build_cmd(&m, &format!("oci:{}:v2", dir.display())));
        let s1 = spawn(&mut sign_cmd(&k1, &v1));
        let s2 = spawn(&mut sign_cmd(&k2, &v1));
        wait_ok(b, "build");
        wait_ok(s1, "sign one");
        wait_ok(s2, "sign two");
        let have = tags(&dir);
        assert!(
            have.iter().any(|t| t == "v1") && have.iter().any(|t| t == "v2"),
            "round {round}: {have:?}"
        );
        assert!(verifies(&p1, &v1), "round {round}: signature one lost");
        assert!(verifies(&p2, &v1), "round {round}: signature two lost");
    }
}

#[test]
fn two_signs_of_one_oci_archive_keep_both_signatures() {
    let t = tempdir();
    let (k1, p1) = key_pair(t.path(), "one");
    let (k2, p2) = key_pair(t.path(), "two");
    let m = tiny_manifest(&t.path().join("src"), "archive");
    for round in 0..ROUNDS {
        let file = t.path().join(format!("img{round}.tar"));
        build(&m, &format!("oci-archive:{}:v1", file.display()));
        let spec = format!("oci-archive:{}:v1", file.display());
        let s1 = spawn(&mut sign_cmd(&k1, &spec));
        let s2 = spawn(&mut sign_cmd(&k2, &spec));
        wait_ok(s1, "sign one");
        wait_ok(s2, "sign two");
        assert!(verifies(&p1, &spec), "round {round}: signature one lost");
        assert!(verifies(&p2, &spec), "round {round}: signature two lost");
        assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
    }
}

/// Kills `cmd` with SIGKILL after `delay`.
fn kill_after(cmd: &mut Command, delay: Duration) {
    let mut c = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = c.kill();
    let _ = c.wait();
}

/// Delays spread over a command's run time (in ms), deterministic per round.
fn delay(round: usize, span_ms: u64) -> Duration {
    Duration::from_millis((round as u64 * 7919) % span_ms.max(1))
}

#[test]
fn kill_9_during_sign_or_build_leaves_old_tags_valid() {
    let t = tempdir();
    let (k1, p1) = key_pair(t.path(), "one");
    let (k2, _) = key_pair(t.path(), "two");
    let m = tiny_manifest(&t.path().join("src"), "killed");
    let dir = tiny_layout(t.path(), "layout");
    let v1 = format!("oci:{}:v1", dir.display());
    check(&sign_cmd(&k1, &v1).output().unwrap(), "first sign");
    let file = t.path().join("img.tar");
    build(&m, &format!("oci-archive:{}:v1", file.display()));
    let av1 = format!("oci-archive:{}:v1", file.display());
    check(&sign_cmd(&k1, &av1).output().unwrap(), "first archive sign");
    // How long a sign and a build take here: the kills land all over them.
    let start = std::time::Instant::now();
    check(&sign_cmd(&k2, &v1).output().unwrap(), "timed sign");
    let span = start.elapsed().as_millis() as u64 + 5;
    for round in 0..ROUNDS {
        kill_after(&mut sign_cmd(&k2, &v1), delay(round, span));
        kill_after(&mut sign_cmd(&k2, &av1), delay(round, span));
        kill_after(
            &mut build_cmd(&m, &format!("oci:{}:v{}", dir.display(), round + 2)),
            delay(round, span),
        );
        assert!(
            verifies(&p1, &v1),
            "round {round}: the layout's old signature no longer verifies"
        );
        assert!(
            verifies(&p1, &av1),
            "round {round}: the archive's old signature no longer verifies"
        );
        let o = kiln().args(["sbom", &v1]).output().unwrap();
        check(&o, &format!("round {round}: v1 still resolves"));
    }
    // The next writer sweeps what the killed ones left (their staging folders' owners are gone).
    // A kill between creating a temporary file and locking it leaves an unlocked file that a
    // sweep only trusts to be abandoned once it is 10 s old (oci::guard::STALE_AFTER): wait
    // that out when there is one, so the sweep below has to remove everything.
    let young = |p: &Path| {
        leftovers(p)
            .iter()
            .any(|n| n.starts_with(".kiln-tmp-") || n.ends_with(".owner"))
    };
    if young(&dir) || young(t.path()) {
        std::thread::sleep(Duration::from_secs(11));
    }
    check(
        &sign_cmd(&k2, &v1).output().unwrap(),
        "sign after the kills",
    );
    assert!(
        leftovers(&dir).is_empty(),
        "left in the layout: {:?}",
        leftovers(&dir)
    );
    build(&m, &format!("oci:{}:last", dir.display()));
    let stale: Vec<String> = leftovers(t.path())
        .into_iter()
        .filter(|n| n.starts_with(".kiln-staging-"))
        .collect();
    assert!(stale.is_empty(), "left beside the layout: {stale:?}");
}

/// A project whose one file is `mib` MiB of incompressible bytes (a build that takes a while).
fn slow_project(t: &Path, mib: usize) -> PathBuf {
    big_image(t, mib)
}

#[test]
fn ctrl_c_removes_a_builds_staging_folders() {
    let t = tempdir();
    let m = slow_project(t.path(), 64);
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let c = build_cmd(&m, &format!("oci:{}:v1", out.join("img").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the build is staging, then interrupt it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while leftovers(&out).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !leftovers(&out).is_empty(),
        "the build never staged anything"
    );
    std::thread::sleep(Duration::from_millis(100));
    // SIGINT, as a terminal's Ctrl-C sends it (the shell's built-in kill: no procps needed).
    run(
        Command::new("sh").args(["-c", &format!("kill -INT {}", c.id())]),
        "kill -INT",
    );
    let o = c.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted"), "{e}");
    assert!(leftovers(&out).is_empty(), "left: {:?}", leftovers(&out));
    assert!(
        !out.join("img").exists(),
        "an interrupted build published a layout"
    );
}

#[test]
fn a_push_killed_midway_leaves_the_tag_whole() {
    let t = tempdir();
    let reg = Registry::start(None);
    let host = reg.host();
    let old = tiny_layout(t.path(), "old");
    let m = slow_project(t.path(), 24);
    let new = t.path().join("new");
    build(&m, &format!("oci:{}:v1", new.display()));
    let push = |dir: &Path| {
        let mut c = kiln_clean_env(t.path());
        c.args([
            "push",
            &format!("oci:{}:v1", dir.display()),
            &format!("docker://{host}/app:v1"),
        ]);
        c
    };
    check(&push(&old).output().unwrap(), "push the old image");
    let old_digest = inspect(&host, "app:v1")["Digest"].clone();
    let start = std::time::Instant::now();
    let probe = {
        let mut c = kiln_clean_env(t.path());
        c.args([
            "push",
            &format!("oci:{}:v1", new.display()),
            &format!("docker://{host}/probe:v1"),
        ]);
        c.output().unwrap()
    };
    check(&probe, "timed push");
    let span = start.elapsed().as_millis() as u64 + 5;
    for round in 0..ROUNDS {
        kill_after(&mut push(&new), delay(round, span));
        // skopeo reads the manifest and its config: the tag names a whole image.
        let d = inspect(&host, "app:v1")["Digest"].clone();
        let new_digest = inspect(&host, "probe:v1")["Digest"].clone();
        assert!(
            d == old_digest || d == new_digest,
            "round {round}: the tag names {d}"
        );
    }
}

/// `skopeo inspect` of an image on the plain-HTTP loopback registry.
fn inspect(host: &str, image: &str) -> Value {
    let out = run(
        Command::new(require("skopeo"))
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{host}/{image}")),
        "skopeo inspect",
    );
    serde_json::from_str(&out).unwrap()
}
