//! The layers are exactly the Plan: same paths, types, modes, owners, sizes and hashes; and
//! the hardening defaults hold (accounts, /tmp, no shell, no package manager).

use crate::util::*;
use std::collections::{BTreeMap, BTreeSet};

const MANIFEST: &str = r#"
[image]
name = "plan-test"
entrypoint = ["/usr/local/bin/ssl-version"]
user = "nonroot"
ports = ["8080/tcp", 9090]
env = { MODE = "test" }

[[component]]
name = "app"
kind = "elf"
from = "ssl-version"
to = "/usr/local/bin/ssl-version"
why = "the program under test"

[[component]]
name = "accounts"
kind = "accounts"
why = "run as nonroot"

[[component]]
name = "ca"
kind = "ca-bundle"
why = "TLS"

[[component]]
name = "tz"
kind = "tzdata"
zones = ["UTC", "Europe/Berlin"]
why = "local time"

[[component]]
name = "tmp"
kind = "dir"
to = "/tmp"
mode = "1777"
why = "scratch"

[[component]]
name = "conf"
kind = "file"
content = "key = 1\n"
to = "/etc/app/app.conf"
why = "configuration"

[[component]]
name = "data"
kind = "tree"
from = "data"
to = "/srv/data"
exclude = ["**/*.bak"]
why = "static files"

[[component]]
name = "link"
kind = "symlink"
to = "/usr/local/bin/app"
target = "ssl-version"
why = "a shorter name"
"#;

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempdir();
    cc(t.path(), "#include <openssl/crypto.h>\n#include <stdio.h>\nint main(){puts(OpenSSL_version(0));return 0;}\n", "s.c", "ssl-version", &["-lcrypto"]);
    std::fs::create_dir_all(t.path().join("data/sub")).unwrap();
    std::fs::write(t.path().join("data/index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(t.path().join("data/sub/old.bak"), "old").unwrap();
    std::fs::write(t.path().join("data/sub/run.sh"), "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        t.path().join("data/sub/run.sh"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let m = t.path().join("kiln.toml");
    std::fs::write(&m, MANIFEST).unwrap();
    (t, m)
}

#[test]
fn union_of_layers_equals_the_plan() {
    let (t, m) = setup();
    let plan = plan_json(&m);
    let layout = t.path().join("img");
    build(&m, &format!("oci:{}:x", layout.display()));
    let (manifest, config) = image(&layout, "x");
    let mut from_layers: BTreeMap<String, TarEntry> = BTreeMap::new();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "base, libraries, application");
    for (i, l) in layers.iter().enumerate() {
        let bytes = blob(&layout, l["digest"].as_str().unwrap());
        // The diff_id is the digest of the uncompressed tar.
        let mut raw = vec![];
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut raw)
            .unwrap();
        use sha2::Digest;
        assert_eq!(
            config["rootfs"]["diff_ids"][i],
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(&raw)))
        );
        let entries = layer_entries(&bytes);
        let paths: Vec<&String> = entries.iter().map(|e| &e.path).collect();
        let mut sorted = paths.clone();
        sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(paths, sorted, "layer {i} is sorted by path bytes");
        for e in entries {
            assert_eq!(e.mtime, 0);
            assert!(e.uname.is_empty());
            if let Some(prev) = from_layers.get(&e.path) {
                assert_eq!(prev, &e, "a path repeated in two layers must be identical");
            }
            from_layers.insert(e.path.clone(), e);
        }
    }
    let mut from_plan: BTreeMap<String, TarEntry> = BTreeMap::new();
    for e in plan["entries"].as_array().unwrap() {
        let path = e["path"].as_str().unwrap().to_string();
        from_plan.insert(
            path.clone(),
            TarEntry {
                path,
                kind: e["type"].as_str().unwrap().into(),
                mode: u32::from_str_radix(e["mode"].as_str().unwrap(), 8).unwrap(),
                uid: e["uid"].as_u64().unwrap(),
                gid: e["gid"].as_u64().unwrap(),
                size: e["size"].as_u64().unwrap_or(0),
                sha256: e["sha256"].as_str().map(String::from),
                target: e["target"].as_str().map(String::from),
                mtime: 0,
                uname: vec![],
            },
        );
    }
    assert_eq!(
        from_layers.keys().collect::<BTreeSet<_>>(),
        from_plan.keys().collect::<BTreeSet<_>>()
    );
    assert_eq!(from_layers, from_plan);

    // Hardening and content checks on the Plan itself.
    let get = |p: &str| {
        from_plan
            .get(p)
            .unwrap_or_else(|| panic!("{p} missing from the plan"))
    };
    assert_eq!(get("/tmp").mode, 0o1777);
    let home = get("/home/nonroot");
    assert_eq!(
        (home.kind.as_str(), home.mode, home.uid, home.gid),
        ("dir", 0o700, 65532, 65532)
    );
    assert_eq!(
        get("/srv/data/sub/run.sh").mode,
        0o755,
        "modes are normalised, not copied"
    );
    assert!(
        !from_plan.contains_key("/srv/data/sub/old.bak"),
        "excluded by glob"
    );
    assert_eq!(get("/usr/share/zoneinfo/UTC").kind, "symlink");
    assert!(
        from_plan.contains_key("/usr/share/zoneinfo/Etc/UTC"),
        "the file a zone links to ships too"
    );
    assert!(
        !from_plan.contains_key("/usr/share/zoneinfo/Asia/Tokyo"),
        "only listed zones ship"
    );
    for bad in [
        "/bin/sh",
        "/usr/bin/sh",
        "/bin/bash",
        "/usr/bin/dpkg",
        "/usr/bin/apt",
        "/usr/bin/apt-get",
        "/sbin/apk",
    ] {
        assert!(!from_plan.contains_key(bad), "{bad} must not ship");
    }
    let rootfs = unpack(&layout, "x", &t.path().join("bundle"));
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    for line in [
        "root:x:0:0:",
        "nobody:x:65534:65534:",
        "nonroot:x:65532:65532:nonroot:/home/nonroot:",
    ] {
        assert!(
            passwd.lines().any(|l| l.starts_with(line)),
            "{line} in {passwd}"
        );
    }
    // Config view.
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "9090/tcp": {}})
    );
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{env:?}"
    );
    assert!(env.contains(&"MODE=test"));
    assert!(env[0].starts_with("PATH="));
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["history"].as_array().unwrap().len(), 3);
    // The program finds its certificate bundle and runs.
    let out = run_in_chroot(&rootfs, &config, None);
    check(&out, "ssl-version in chroot");
}

#[test]
fn plan_table_shows_why_and_chain() {
    let (_t, m) = setup();
    let out = run(
        kiln().args(["build", "--plan"]).arg(&m),
        "kiln build --plan",
    );
    let line = out
        .lines()
        .find(|l| l.contains("/libcrypto.so.3 "))
        .expect("libcrypto line");
    assert!(
        line.contains("app: /usr/local/bin/ssl-version -> libcrypto.so.3"),
        "{line}"
    );
    assert!(out.contains("why: static files"));
    // --plan writes nothing.
    assert!(!m.parent().unwrap().join("out").exists());
}
