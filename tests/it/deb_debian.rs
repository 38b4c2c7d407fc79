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

/// package → version, and path → (package, type, mode, sha256 or target) of the files and
/// links of a plan that come from packages.
fn files(plan: &Value) -> (BTreeMap<String, String>, BTreeMap<String, (String, String)>) {
    let mut versions = BTreeMap::new();
    let mut files = BTreeMap::new();
    for e in plan["entries"].as_array().unwrap() {
        let Some(pkg) = e["package"]["name"].as_str() else {
            continue;
        };
        versions.insert(
            pkg.to_string(),
            e["package"]["version"].as_str().unwrap().to_string(),
        );
        let what = match e["type"].as_str().unwrap() {
            "file" => e["sha256"].as_str().unwrap().to_string(),
            "symlink" => e["target"].as_str().unwrap_or("").to_string(),
            _ => continue,
        };
        files.insert(
            e["path"].as_str().unwrap().to_string(),
            (
                pkg.to_string(),
                format!("{} {} {what}", e["type"], e["mode"]),
            ),
        );
    }
    (versions, files)
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
    cmd.args(["--fork", "--pid", "--kill-child", "--mount"])
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
    let log = t.path().join("nginx.log");
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(fs_err::File::create(&log).unwrap().into_parts().0)
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
    // --kill-child: nginx (PID 1 of the namespace) dies with unshare.
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        page.contains("Welcome to nginx"),
        "no page from nginx; its stderr:\n{}",
        fs_err::read_to_string(&log).unwrap_or_default()
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
    fs_err::write(
        &m,
        text.replace("source = [\"bookworm\", \"security\"]\n", ""),
    )
    .unwrap();
    let from_host = plan_json(&m);
    let (va, fa) = files(&from_archive);
    let (vh, fh) = files(&from_host);
    assert_eq!(
        va.keys().collect::<Vec<_>>(),
        vh.keys().collect::<Vec<_>>(),
        "the same packages ship"
    );
    // Packages the host has at the archive's version must give the same files; the host may
    // lag behind the archive for others (it was installed from an older snapshot).
    let same: Vec<&String> = va.keys().filter(|p| va.get(*p) == vh.get(*p)).collect();
    for p in [
        "nginx",
        "nginx-common",
        "nginx-light",
        "libnginx-mod-http-echo",
    ] {
        assert!(
            same.iter().any(|s| *s == p),
            "{p}: archive {:?}, host {:?}",
            va.get(p),
            vh.get(p)
        );
    }
    let of = |f: &BTreeMap<String, (String, String)>| -> BTreeMap<String, String> {
        f.iter()
            .filter(|(_, (pkg, _))| same.contains(&pkg))
            .map(|(k, (pkg, v))| (k.clone(), format!("{pkg} {v}")))
            .collect()
    };
    let (a, h) = (of(&fa), of(&fh));
    let only_a: Vec<_> = a.iter().filter(|(k, v)| h.get(*k) != Some(v)).collect();
    let only_h: Vec<_> = h.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
    assert!(
        only_a.is_empty() && only_h.is_empty(),
        "archive only: {only_a:#?}\nhost only: {only_h:#?}"
    );
    assert!(
        a.len() > 20,
        "the comparison covers nginx's files: {}",
        a.len()
    );
}

/// Runs `argv` in `rootfs` as `user` (uid:gid), in its own PID namespace that dies with it,
/// with the `/dev/null` and `/dev/shm` a container runtime provides.
fn spawn_in(rootfs: &Path, user: &str, argv: &[&str], log: &Path) -> std::process::Child {
    std::fs::create_dir_all(rootfs.join("proc")).unwrap();
    let dev = rootfs.join("dev");
    std::fs::create_dir_all(dev.join("shm")).unwrap();
    std::fs::set_permissions(
        dev.join("shm"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    if !dev.join("null").exists() {
        run(
            std::process::Command::new(require("mknod"))
                .args(["-m", "666"])
                .arg(dev.join("null"))
                .args(["c", "1", "3"]),
            "mknod /dev/null",
        );
    }
    std::process::Command::new(require("unshare"))
        .args(["--fork", "--pid", "--kill-child", "--mount"])
        .arg(format!("--mount-proc={}", rootfs.join("proc").display()))
        .arg(require("chroot"))
        .arg(format!("--userspec={user}"))
        .arg(rootfs)
        .args(argv)
        .env_clear()
        .stdout(
            fs_err::File::create(log.with_extension("out"))
                .unwrap()
                .into_parts()
                .0,
        )
        .stderr(fs_err::File::create(log).unwrap().into_parts().0)
        .spawn()
        .unwrap()
}

#[test]
fn deb_postgres_from_debian_serves_queries() {
    let psql = require("psql");
    let busybox = require("busybox");
    let t = tempdir();
    let d = t.path().join("postgres-deb");
    copy_tree(&repo().join("examples/postgres-deb"), &d);
    let layout = t.path().join("img");
    build(&d.join("kiln.toml"), &format!("oci:{}:t", layout.display()));
    let (_, config) = image(&layout, "t");
    assert_eq!(config["config"]["User"], "999:999");
    let rootfs = unpack(&layout, "t", &t.path().join("bundle"));
    assert!(
        !rootfs.join("usr/bin/sh").exists() && !rootfs.join("bin/sh").exists(),
        "no shell"
    );
    // initdb starts postgres through popen, so it needs a shell: lend it one for the
    // initialisation (as a deployment's init job would), then take it away again.
    let sh = rootfs.join("bin/sh");
    fs_err::create_dir_all(sh.parent().unwrap()).unwrap();
    fs_err::copy(&busybox, &sh).unwrap();
    let log = t.path().join("initdb.log");
    let mut init = spawn_in(
        &rootfs,
        "999:999",
        &[
            "/usr/lib/postgresql/15/bin/initdb",
            "-D",
            "/var/lib/postgresql/data",
            "-U",
            "postgres",
            "--auth=trust",
        ],
        &log,
    );
    let status = init.wait().unwrap();
    assert!(
        status.success(),
        "initdb: {}",
        fs_err::read_to_string(&log).unwrap_or_default()
    );
    fs_err::remove_file(&sh).unwrap();
    let port = free_port().to_string();
    let entry: Vec<String> = config["config"]["Entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .chain(config["config"]["Cmd"].as_array().unwrap())
        .map(|s| s.as_str().unwrap().to_string())
        .chain(["-p".to_string(), port.clone()])
        .collect();
    let argv: Vec<&str> = entry.iter().map(String::as_str).collect();
    let log = t.path().join("postgres.log");
    let mut server = spawn_in(&rootfs, "999:999", &argv, &log);
    let mut answer = String::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(200));
        let out = std::process::Command::new(&psql)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-At",
                "-c",
            ])
            .arg("select 6 * 7, current_setting('server_version_num')::int / 10000")
            .output()
            .unwrap();
        if out.status.success() {
            answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        answer,
        "42|15",
        "postgres log:\n{}",
        fs_err::read_to_string(&log).unwrap_or_default()
    );
}
