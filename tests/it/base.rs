//! Building on a base image (`[image] base`, issue 11 §3), against a real registry: the base is
//! an image kiln built and pushed to the loopback docker-registry, pulled back by digest.
//! The image built on it must reuse the base's layers byte for byte, ship only what the base
//! lacks, run (chroot as nonroot, and podman), refuse a program that needs a newer glibc than
//! the base's, refuse a path the base has unless `replace = true`, and pin the base in the
//! lock.

use crate::engines::Podman;
use crate::registry_util::Registry;
use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A base image with the C library, `true` and the default accounts, pushed to `reg` as
/// `base:TAG`; `extra` is appended to its manifest (another component makes another base).
fn push_base(reg: &Registry, t: &Path, tag: &str, extra: &str) -> String {
    let d = t.join(format!("base-{tag}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("kiln.toml"),
        format!(
            r#"[image]
name = "base"
entrypoint = ["/usr/bin/true"]

[[component]]
name = "true"
kind = "elf"
from = "/usr/bin/true"
to = "/usr/bin/true"
why = "the base's program, and the C library it pulls in"

[[component]]
name = "accounts"
kind = "accounts"
why = "root, nobody and nonroot"
{extra}"#
        ),
    )
    .unwrap();
    let layout = d.join("out");
    build(
        &d.join("kiln.toml"),
        &format!("oci:{}:{tag}", layout.display()),
    );
    let dest = format!("docker://{}/base:{tag}", reg.host());
    run(
        kiln().args(["push", &format!("oci:{}:{tag}", layout.display()), &dest]),
        "kiln push base",
    );
    dest
}

/// A program that prints zlib's version: libz is not in the base, libc is.
fn zlib_program(d: &Path) -> PathBuf {
    cc(
        d,
        "#include <stdio.h>\nconst char *zlibVersion(void);\nint main(void) { printf(\"zlib %s\\n\", zlibVersion()); return 0; }\n",
        "app.c",
        "app",
        &["-l:libz.so.1"],
    )
}

/// A registry with `base:1` pushed, a temporary folder, the base's reference, and the app's
/// folder with the zlib program built in it.
fn registry_base_and_app() -> (Registry, tempfile::TempDir, String, PathBuf) {
    let reg = Registry::start(None);
    let t = tempdir();
    let base = push_base(&reg, t.path(), "1", "");
    let d = t.path().join("app");
    std::fs::create_dir_all(&d).unwrap();
    zlib_program(&d);
    (reg, t, base, d)
}

fn app_manifest(d: &Path, base: &str, extra: &str) -> PathBuf {
    let m = d.join("kiln.toml");
    std::fs::write(
        &m,
        format!(
            r#"[image]
name = "app"
base = "{base}"
entrypoint = ["/usr/local/bin/app"]

[[component]]
name = "base"
kind = "base"
why = "the C library and accounts every service here shares"

[[component]]
name = "app"
kind = "elf"
from = "app"
to = "/usr/local/bin/app"
why = "the service"
{extra}"#
        ),
    )
    .unwrap();
    m
}

/// `kiln` with its cache in `t` (nothing shared with other tests or the user).
fn kiln_in(t: &Path) -> Command {
    let mut c = kiln();
    c.env("KILN_CACHE_DIR", t.join("cache"));
    c
}

fn build_in(t: &Path, manifest: &Path, output: &str) -> Value {
    let out = run(
        kiln_in(t)
            .arg("build")
            .arg(manifest)
            .args(["--output", output, "--json"]),
        "kiln build on a base",
    );
    serde_json::from_str(&out).unwrap()
}

fn plan_in(t: &Path, manifest: &Path) -> Value {
    let out = run(
        kiln_in(t)
            .arg("build")
            .arg(manifest)
            .args(["--plan", "--json"]),
        "kiln build --plan",
    );
    serde_json::from_str(&out).unwrap()
}

/// `kiln build --plan` of `manifest` fails; its stderr.
fn plan_fails(t: &Path, manifest: &Path) -> String {
    let out = kiln_in(t)
        .arg("build")
        .arg(manifest)
        .arg("--plan")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    err
}

fn entry<'a>(plan: &'a Value, path: &str) -> &'a Value {
    plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not in the plan"))
}

#[test]
fn an_image_on_a_pulled_base_reuses_its_layers_ships_only_what_it_lacks_and_runs() {
    let (reg, t, base, d) = registry_base_and_app();
    let m = app_manifest(&d, &base, "");

    let plan = plan_in(t.path(), &m);
    let libc = entry(&plan, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    assert_eq!(libc["layer"], "base-image", "{libc}");
    assert_eq!(libc["component"], "base", "{libc}");
    let libz = entry(&plan, "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13");
    assert_eq!(libz["layer"], "libraries", "{libz}");

    let layout = t.path().join("out");
    build_in(t.path(), &m, &format!("oci:{}:1", layout.display()));
    let (manifest, config) = image(&layout, "1");
    // The base's layers, byte for byte, first.
    let base_layout = t.path().join("base-1/out");
    let (base_manifest, base_config) = image(&base_layout, "1");
    let layers = manifest["layers"].as_array().unwrap();
    let base_layers = base_manifest["layers"].as_array().unwrap();
    assert_eq!(&layers[..base_layers.len()], &base_layers[..]);
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap()[..base_layers.len()],
        base_config["rootfs"]["diff_ids"].as_array().unwrap()[..]
    );
    // kiln's own layers hold the program and libz, and nothing of the base.
    let mut shipped = Vec::new();
    for l in &layers[base_layers.len()..] {
        let bytes = blob(&layout, l["digest"].as_str().unwrap());
        shipped.extend(layer_entries(&bytes).into_iter().map(|e| e.path));
    }
    assert!(
        shipped.iter().any(|p| p.ends_with("usr/local/bin/app")),
        "{shipped:?}"
    );
    assert!(
        shipped.iter().any(|p| p.ends_with("libz.so.1.2.13")),
        "{shipped:?}"
    );
    assert!(
        !shipped
            .iter()
            .any(|p| p.contains("libc.so") || p.contains("ld-linux")),
        "the base's C library shipped again: {shipped:?}"
    );
    // The config: the manifest's entrypoint, the base's user.
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/app");
    assert_eq!(config["config"]["User"], "65532:65532");

    let rootfs = unpack(&layout, "1", &t.path().join("bundle"));
    let out = run_in_chroot(&rootfs, &config, None);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("zlib 1."),
        "{out:?}"
    );

    // Pushed to the base's registry, the base's layers are mounted from its repository (the
    // pull that fetched the base remembered where they are), not uploaded again.
    let pushed = run(
        kiln_in(t.path())
            .args(["push", "--json"])
            .arg(format!("oci:{}:1", layout.display()))
            .arg(format!("docker://{}/app:1", reg.host())),
        "kiln push app",
    );
    let pushed: Value = serde_json::from_str(&pushed).unwrap();
    // (The base's artifacts came along with it: their blobs may be mounted too.)
    assert!(
        pushed["mounted"].as_u64().unwrap() >= base_layers.len() as u64,
        "{pushed}"
    );

    let archive = t.path().join("app.tar");
    build_in(
        t.path(),
        &m,
        &format!("docker-archive:{}:app:1", archive.display()),
    );
    let podman = Podman::new(t.path().join("podman"));
    let name = podman.load(&archive);
    assert!(podman.run(&name).starts_with("zlib 1."));

    // The SBOM names the base by its digest.
    let cdx = run(
        kiln_in(t.path())
            .args(["sbom", "--format", "cyclonedx"])
            .arg(format!("oci:{}:1", layout.display())),
        "kiln sbom",
    );
    let cdx: Value = serde_json::from_str(&cdx).unwrap();
    let comp = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "base")
        .unwrap();
    assert_eq!(comp["type"], "container");
    let base_digest = layout_digest(&base_layout, "1");
    assert_eq!(comp["version"], base_digest.as_str());
    assert!(comp["purl"].as_str().unwrap().contains("repository_url="));
    // The base's Debian packages, from the base's own database (status.d in a kiln image),
    // at the version dpkg has on the host the base was built from.
    let libc6 = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "libc6")
        .unwrap_or_else(|| panic!("no libc6 in {cdx}"));
    let host_version = run(
        Command::new("dpkg-query").args(["-W", "-f=${Version}", "libc6:amd64"]),
        "dpkg-query",
    );
    assert_eq!(libc6["version"], host_version.trim());
    assert!(
        libc6["purl"].as_str().unwrap().contains("distro=debian-"),
        "{libc6}"
    );

    // The base kiln built carries its own SBOMs (pushed as referrers, pulled with the base):
    // this image's documents name them, and both still validate.
    let base_sbom = |format: &str| -> Value {
        let text = run(
            kiln_in(t.path())
                .args(["sbom", "--format", format])
                .arg(format!("oci:{}:1", base_layout.display())),
            "kiln sbom of the base",
        );
        serde_json::from_str(&text).unwrap()
    };
    let serial = base_sbom("cyclonedx")["serialNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let bom_ref = &comp["externalReferences"][0];
    assert_eq!(bom_ref["type"], "bom", "{comp}");
    assert_eq!(
        bom_ref["url"],
        format!("urn:cdx:{}/1", serial.trim_start_matches("urn:uuid:")).as_str()
    );
    let spdx_text = run(
        kiln_in(t.path())
            .args(["sbom", "--format", "spdx"])
            .arg(format!("oci:{}:1", layout.display())),
        "kiln sbom spdx",
    );
    let spdx: Value = serde_json::from_str(&spdx_text).unwrap();
    assert_eq!(
        spdx["externalDocumentRefs"][0]["spdxDocument"],
        base_sbom("spdx")["documentNamespace"]
    );
    std::fs::write(t.path().join("app.spdx.json"), &spdx_text).unwrap();
    std::fs::write(t.path().join("app.cdx.json"), cdx.to_string()).unwrap();
    crate::sbom::validate_spdx(&t.path().join("app.spdx.json"));
    crate::sbom::validate_cdx(&t.path().join("app.cdx.json"));
}

#[test]
fn a_program_that_needs_a_newer_glibc_than_the_base_has_is_refused() {
    let reg = Registry::start(None);
    let t = tempdir();
    let base = push_base(&reg, t.path(), "1", "");
    let d = t.path().join("app");
    std::fs::create_dir_all(d.join("stub")).unwrap();
    // A library named libc.so.6 that defines `GLIBC_2.38`: a program linked against it needs
    // that version of libc.so.6, as one built on a newer distribution would (it has its own
    // `_start`, so nothing else of the C library is needed to link it).
    std::fs::write(
        d.join("stub/v.map"),
        "GLIBC_2.38 { global: kiln_newer; local: *; };\n",
    )
    .unwrap();
    cc(
        &d.join("stub"),
        "int kiln_newer(void) { return 0; }\n",
        "stub.c",
        "libc.so.6",
        &[
            "-shared",
            "-fPIC",
            "-Wl,--version-script=v.map",
            "-Wl,-soname,libc.so.6",
        ],
    );
    cc(
        &d,
        "int kiln_newer(void);\nvoid _start(void) { kiln_newer(); for (;;) {} }\n",
        "app.c",
        "app",
        &[
            "-nostdlib",
            "-fPIE",
            "-pie",
            "stub/libc.so.6",
            "-Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2",
        ],
    );
    let readelf = run(
        Command::new(require("readelf"))
            .args(["-V"])
            .arg(d.join("app")),
        "readelf -V",
    );
    assert!(readelf.contains("GLIBC_2.38"), "{readelf}");
    let m = app_manifest(&d, &base, "");
    let err = plan_fails(t.path(), &m);
    assert!(err.contains("/usr/local/bin/app"), "{err}");
    assert!(err.contains("GLIBC_2.38"), "{err}");
    let host_glibc = run(
        Command::new(require("ldd")).arg("--version"),
        "ldd --version",
    );
    let version = host_glibc
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    assert!(err.contains(&format!("glibc {version}")), "{err}");
}

#[test]
fn a_path_the_base_has_needs_replace_and_the_lock_pins_the_base() {
    let (reg, t, base, d) = registry_base_and_app();
    let passwd = "\n[[component]]\nname = \"passwd\"\nkind = \"file\"\ncontent = \"root:x:0:0:root:/root:/sbin/nologin\\n\"\nto = \"/etc/passwd\"\nwhy = \"only root\"\n";
    let m = app_manifest(&d, &base, passwd);
    let err = plan_fails(t.path(), &m);
    assert!(
        err.contains("/etc/passwd") && err.contains("already has"),
        "{err}"
    );
    assert!(err.contains("replace = true"), "{err}");

    let m = app_manifest(&d, &base, &format!("{passwd}replace = true\n"));
    let plan = plan_in(t.path(), &m);
    assert_eq!(entry(&plan, "/etc/passwd")["component"], "passwd");

    // The lock pins the digest the tag named; --locked refuses the tag once it moves.
    let layout = t.path().join("out");
    build_in(t.path(), &m, &format!("oci:{}:1", layout.display()));
    let lock = std::fs::read_to_string(d.join("kiln.lock")).unwrap();
    let pinned = layout_digest(&t.path().join("base-1/out"), "1");
    assert!(lock.contains(&pinned), "{lock}");
    // A different base under the same tag.
    push_base(&reg, t.path(), "1", "\n[[component]]\nname = \"tmp\"\nkind = \"dir\"\nto = \"/tmp\"\nmode = \"1777\"\nwhy = \"scratch\"\n");
    let out = kiln_in(t.path())
        .arg("build")
        .arg(&m)
        .args(["--locked", "--output"])
        .arg(format!("oci:{}:2", layout.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("base {base}")), "{err}");
}

/// A base another tool assembled (its layers written in the test, published with skopeo):
/// merged /usr, the loader reached through `/lib64 -> usr/lib64 -> /lib/...`, a dpkg database,
/// and a second uncompressed layer whose whiteout removes /etc/motd and whose opaque marker
/// empties /opt/old. kiln's view of the base is what a runtime unpacks: the removed paths are
/// not in the plan, the loader and libc are found in the base (not shipped), and the program
/// runs on it.
#[test]
fn an_image_builds_and_runs_on_a_base_another_tool_made_with_whiteouts() {
    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
    let reg = Registry::start(None);
    let t = tempdir();
    let libc = std::fs::read("/usr/lib/x86_64-linux-gnu/libc.so.6").unwrap();
    let ld = std::fs::read("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").unwrap();
    let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u99\n";
    let one = crate::explain_foreign::tar_layer(&[
        ("etc/", D, b"", 0o755, 0),
        ("etc/motd", F, b"hello\n", 0o644, 0),
        (
            "etc/os-release",
            F,
            b"ID=debian\nVERSION_ID=\"12\"\n",
            0o644,
            0,
        ),
        ("lib", L, b"usr/lib", 0o777, 0),
        ("lib64", L, b"usr/lib64", 0o777, 0),
        ("opt/old/stale", F, b"stale", 0o644, 0),
        ("usr/lib/x86_64-linux-gnu/libc.so.6", F, &libc, 0o755, 0),
        (
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            F,
            &ld,
            0o755,
            0,
        ),
        (
            "usr/lib64/ld-linux-x86-64.so.2",
            L,
            b"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            0o777,
            0,
        ),
        ("var/lib/dpkg/status", F, status.as_bytes(), 0o644, 0),
        (
            "var/lib/dpkg/info/libc6:amd64.list",
            F,
            b"/.\n/lib/x86_64-linux-gnu/libc.so.6\n",
            0o644,
            0,
        ),
    ]);
    let two = crate::explain_foreign::tar_layer(&[
        ("etc/.wh.motd", F, b"", 0o644, 0),
        ("opt/old/.wh..wh..opq", F, b"", 0o644, 0),
        ("opt/old/fresh", F, b"fresh", 0o644, 0),
    ]);
    let made = t.path().join("made");
    crate::explain_foreign::layout(
        &made,
        &[
            (crate::explain_foreign::gzip(&one), one),
            (two.clone(), two),
        ],
    );
    let base = format!("docker://{}/made:1", reg.host());
    run(
        Command::new(require("skopeo")).args([
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", made.display()),
            &base,
        ]),
        "skopeo copy",
    );
    let d = t.path().join("app");
    std::fs::create_dir_all(&d).unwrap();
    zlib_program(&d);
    let m = app_manifest(&d, &base, "");
    let plan = plan_in(t.path(), &m);
    let paths: Vec<&str> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(!paths.contains(&"/etc/motd"), "{paths:?}");
    assert!(!paths.contains(&"/opt/old/stale"), "{paths:?}");
    assert!(paths.contains(&"/opt/old/fresh"), "{paths:?}");
    let libc_entry = entry(&plan, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    assert_eq!(libc_entry["layer"], "base-image", "{libc_entry}");
    assert_eq!(
        libc_entry["package"]["version"], "2.36-9+deb12u99",
        "{libc_entry}"
    );
    assert_eq!(libc_entry["package"]["source"], "glibc", "{libc_entry}");
    let loader = entry(&plan, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    assert_eq!(loader["layer"], "base-image", "{loader}");

    let layout = t.path().join("out");
    build_in(t.path(), &m, &format!("oci:{}:1", layout.display()));
    let (_, config) = image(&layout, "1");
    let rootfs = unpack(&layout, "1", &t.path().join("bundle"));
    assert!(!rootfs.join("etc/motd").exists());
    let out = run_in_chroot(&rootfs, &config, None);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("zlib 1."),
        "{out:?}"
    );
}
