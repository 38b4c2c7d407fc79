//! `deb` components from Debian's real archive: the mirror this machine's apt is configured
//! with (`url = "apt"`; no host name is written in the project), verified with Debian's
//! archive keyring. nginx-light's image serves a page as nonroot in a chroot, and the same
//! packages taken from the host's installed copies give the same files.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The nginx example, copied, listening on `port`.
fn nginx_example(dir: &Path, port: u16) -> std::path::PathBuf {
    let d = dir.join("nginx-deb");
    copy_tree(&repo().join("examples/nginx-deb"), &d);
    let conf = d.join("nginx.conf");
    let text = fs_err::read_to_string(&conf).unwrap();
    fs_err::write(
        &conf,
        text.replace("listen 8080;", &format!("listen 127.0.0.1:{port};")),
    )
    .unwrap();
    d.join("kiln.toml")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// path → (type, mode, sha256 or target) of the files, links and folders of a plan.
fn files(plan: &Value, component: &str) -> BTreeMap<String, String> {
    plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["component"] == component && e["type"] != "dir")
        .map(|e| {
            let what = match e["type"].as_str().unwrap() {
                "file" => e["sha256"].as_str().unwrap().to_string(),
                _ => e["target"].as_str().unwrap_or("").to_string(),
            };
            (
                e["path"].as_str().unwrap().to_string(),
                format!("{} {} {what}", e["type"], e["mode"]),
            )
        })
        .collect()
}

#[test]
fn deb_nginx_from_debian_serves_a_page_as_nonroot() {
    require("curl");
    let t = tempdir();
    let port = free_port();
    let m = nginx_example(t.path(), port);
    let layout = t.path().join("img");
    build(&m, &format!("oci:{}:t", layout.display()));
    let (_, config) = image(&layout, "t");
    assert_eq!(config["config"]["User"], "65532:65532");
    let rootfs = unpack(&layout, "t", &t.path().join("bundle"));
    assert!(!rootfs.join("usr/bin/sh").exists(), "no shell");
    // Serve in the background; the chroot helper's command, started as a child.
    let mut cmd = std::process::Command::new(require("unshare"));
    cmd.args(["--fork", "--pid", "--mount"])
        .arg(format!("--mount-proc={}", rootfs.join("proc").display()))
        .arg(require("chroot"))
        .arg("--userspec=65532:65532")
        .arg(&rootfs);
    let argv: Vec<String> = config["config"]["Entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    cmd.args(&argv).env_clear();
    std::fs::create_dir_all(rootfs.join("proc")).unwrap();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut page = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let out = std::process::Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{port}/")])
            .output()
            .unwrap();
        if out.status.success() {
            page = String::from_utf8_lossy(&out.stdout).into_owned();
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        page.contains("Welcome to nginx"),
        "no page from nginx; its stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn deb_archive_and_installed_packages_give_the_same_files() {
    // The host has nginx-light installed (`cargo xtask test` installs it) from the same
    // mirror; a component without `source` takes the installed packages.
    require("nginx");
    let t = tempdir();
    let m = nginx_example(t.path(), 8080);
    let from_archive = plan_json(&m);
    let text = fs_err::read_to_string(&m).unwrap();
    fs_err::write(&m, text.replace("source = \"bookworm\"\n", "")).unwrap();
    let from_host = plan_json(&m);
    let version = |p: &Value| {
        p["entries"].as_array().unwrap().iter().find_map(|e| {
            (e["package"]["name"] == "nginx").then(|| e["package"]["version"].clone())
        })
    };
    assert_eq!(
        version(&from_archive),
        version(&from_host),
        "the same nginx version"
    );
    let (a, h) = (files(&from_archive, "nginx"), files(&from_host, "nginx"));
    let only_a: Vec<_> = a.iter().filter(|(k, v)| h.get(*k) != Some(v)).collect();
    let only_h: Vec<_> = h.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
    assert!(
        only_a.is_empty() && only_h.is_empty(),
        "archive only: {only_a:#?}\nhost only: {only_h:#?}"
    );
}
