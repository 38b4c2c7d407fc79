//! One program per loader rule, compiled at test time: kiln must agree with glibc (the
//! program really runs, or really fails, on the host) and the images it builds must run in
//! chroot.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gcc(dir: &Path, args: &[&str]) {
    let gcc = require("gcc");
    run(
        Command::new(gcc).args(args).current_dir(dir),
        &format!("gcc {args:?}"),
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn ldd_json(files: &[&Path], extra: &[&str]) -> (Output, Value) {
    let out = kiln()
        .arg("ldd")
        .arg("--json")
        .args(extra)
        .args(files)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v["files"].clone())
}

/// name -> real path of every object of the first file's closure.
fn objects(v: &Value) -> Vec<(String, String, String)> {
    v[0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["real_path"].as_str().unwrap().to_string(),
                o["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A tree component `dist` at `/opt/t`, accounts, /tmp; plus `extra` TOML.
fn tree_manifest(dir: &Path, entry: &str, extra: &str) -> PathBuf {
    write(
        dir,
        "kiln.toml",
        &format!(
            "[image]\nname = \"rules\"\nentrypoint = [\"{entry}\"]\nuser = \"nonroot\"\n\n[[component]]\nname = \"app\"\nkind = \"tree\"\nfrom = \"dist\"\nto = \"/opt/t\"\nwhy = \"the program under test\"\n\n[[component]]\nname = \"accounts\"\nkind = \"accounts\"\nwhy = \"run as nonroot\"\n{extra}"
        ),
    )
}

/// Builds the manifest into an OCI layout, unpacks it and runs the entrypoint in chroot.
fn build_and_run(dir: &Path, manifest: &Path) -> Output {
    let layout = dir.join("img");
    build(manifest, &format!("oci:{}:t", layout.display()));
    let (_, config) = image(&layout, "t");
    let rootfs = unpack(&layout, "t", &dir.join("bundle"));
    run_in_chroot(&rootfs, &config, None)
}

#[test]
fn rpath_is_inherited_and_runpath_is_not() {
    let t = tempdir();
    let d = t.path();
    write(d, "b.c", "int b(void){return 42;}\n");
    write(d, "a.c", "int b(void);\nint a(void){return b();}\n");
    write(
        d,
        "app.c",
        "#include <stdio.h>\nint a(void);\nint main(){printf(\"a=%d\\n\", a());return 0;}\n",
    );
    std::fs::create_dir_all(d.join("dist/bin")).unwrap();
    std::fs::create_dir_all(d.join("dist/libs")).unwrap();
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "dist/libs/libb.so",
            "b.c",
            "-Wl,-soname,libb.so",
        ],
    );
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "dist/libs/liba.so",
            "a.c",
            "-Wl,-soname,liba.so",
            "-Ldist/libs",
            "-lb",
        ],
    );
    // DT_RPATH on the program: liba's own need (libb) is found through it too.
    gcc(
        d,
        &[
            "-o",
            "dist/bin/app-rpath",
            "app.c",
            "-Ldist/libs",
            "-la",
            "-Wl,-rpath,$ORIGIN/../libs",
            "-Wl,--disable-new-dtags",
        ],
    );
    // DT_RUNPATH on the program: applies to the program's own needs only.
    gcc(
        d,
        &[
            "-o",
            "dist/bin/app-runpath",
            "app.c",
            "-Ldist/libs",
            "-la",
            "-Wl,-rpath,$ORIGIN/../libs",
            "-Wl,--enable-new-dtags",
        ],
    );

    let host_rpath = Command::new(d.join("dist/bin/app-rpath")).output().unwrap();
    assert!(host_rpath.status.success(), "glibc runs the RPATH program");
    let host_runpath = Command::new(d.join("dist/bin/app-runpath"))
        .output()
        .unwrap();
    assert_eq!(
        host_runpath.status.code(),
        Some(127),
        "glibc refuses the RUNPATH program"
    );
    assert!(stderr(&host_runpath).contains("libb.so"));

    let (out, v) = ldd_json(&[&d.join("dist/bin/app-rpath")], &[]);
    check(&out, "kiln ldd app-rpath");
    let objs = objects(&v);
    let libb = objs
        .iter()
        .find(|o| o.0 == "libb.so")
        .expect("libb in the closure");
    assert_eq!(
        libb.2, "DT_RPATH of app-rpath",
        "found through the program's inherited RPATH"
    );

    let (out, _) = ldd_json(&[&d.join("dist/bin/app-runpath")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("cannot find `libb.so`, needed by") && e.contains("/libs/liba.so"),
        "{e}"
    );

    // The RPATH program's image runs; the RUNPATH one does not build.
    std::fs::remove_file(d.join("dist/bin/app-runpath")).unwrap();
    let m = tree_manifest(d, "/opt/t/bin/app-rpath", "");
    let run = build_and_run(d, &m);
    check(&run, "app-rpath in chroot");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "a=42\n");
}

#[test]
fn lib_token_and_wrong_class_candidates() {
    let t = tempdir();
    let d = t.path();
    write(d, "w.c", "int w(void){return 7;}\n");
    write(
        d,
        "app.c",
        "#include <stdio.h>\nint w(void);\nint main(){printf(\"w=%d\\n\", w());return 0;}\n",
    );
    std::fs::create_dir_all(d.join("dist/bin")).unwrap();
    std::fs::create_dir_all(d.join("dist/lib/x86_64-linux-gnu")).unwrap();
    std::fs::create_dir_all(d.join("dist/wrong")).unwrap();
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "dist/lib/x86_64-linux-gnu/libw.so",
            "w.c",
            "-Wl,-soname,libw.so",
        ],
    );
    // The same library with e_machine patched to aarch64: glibc skips it and searches on.
    let mut bytes = std::fs::read(d.join("dist/lib/x86_64-linux-gnu/libw.so")).unwrap();
    bytes[18] = 183;
    bytes[19] = 0;
    std::fs::write(d.join("dist/wrong/libw.so"), bytes).unwrap();
    gcc(
        d,
        &[
            "-o",
            "dist/bin/app",
            "app.c",
            "-Ldist/lib/x86_64-linux-gnu",
            "-lw",
            "-Wl,-rpath,$ORIGIN/../wrong:$ORIGIN/../$LIB",
            "-Wl,--enable-new-dtags",
        ],
    );
    let host = Command::new(d.join("dist/bin/app")).output().unwrap();
    check(&host, "glibc skips the wrong-machine candidate");
    let (out, v) = ldd_json(&[&d.join("dist/bin/app")], &[]);
    check(&out, "kiln ldd");
    let w = objects(&v).into_iter().find(|o| o.0 == "libw.so").unwrap();
    assert!(w.1.ends_with("/dist/lib/x86_64-linux-gnu/libw.so"), "{w:?}");
    // Without the right one, the error names the skipped candidate and why.
    std::fs::rename(
        d.join("dist/lib/x86_64-linux-gnu/libw.so"),
        d.join("libw.so.away"),
    )
    .unwrap();
    let (out, _) = ldd_json(&[&d.join("dist/bin/app")], &[]);
    let e = stderr(&out);
    assert!(
        e.contains("skipped:") && e.contains("wrong/libw.so (64-bit aarch64, need 64-bit x86-64)"),
        "{e}"
    );
    assert!(
        e.contains("/dist/bin/../lib/x86_64-linux-gnu"),
        "$LIB expanded in the search list: {e}"
    );
    std::fs::rename(
        d.join("libw.so.away"),
        d.join("dist/lib/x86_64-linux-gnu/libw.so"),
    )
    .unwrap();
    std::fs::remove_dir_all(d.join("dist/wrong")).unwrap();
    let m = tree_manifest(d, "/opt/t/bin/app", "");
    let run = build_and_run(d, &m);
    check(&run, "$LIB program in chroot");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "w=7\n");
}

#[test]
fn glibc_hwcaps_follow_the_stated_level() {
    let t = tempdir();
    let d = t.path();
    write(
        d,
        "base.c",
        "const char *level(void){return \"baseline\";}\n",
    );
    write(
        d,
        "v3.c",
        "const char *level(void){return \"x86-64-v3\";}\n",
    );
    write(
        d,
        "app.c",
        "#include <stdio.h>\nconst char *level(void);\nint main(){puts(level());return 0;}\n",
    );
    std::fs::create_dir_all(d.join("dist/bin")).unwrap();
    std::fs::create_dir_all(d.join("dist/lib/glibc-hwcaps/x86-64-v3")).unwrap();
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "dist/lib/liblevel.so",
            "base.c",
            "-Wl,-soname,liblevel.so",
        ],
    );
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "dist/lib/glibc-hwcaps/x86-64-v3/liblevel.so",
            "v3.c",
            "-Wl,-soname,liblevel.so",
        ],
    );
    gcc(
        d,
        &[
            "-o",
            "dist/bin/app",
            "app.c",
            "-Ldist/lib",
            "-llevel",
            "-Wl,-rpath,$ORIGIN/../lib",
            "-Wl,--enable-new-dtags",
        ],
    );
    let app = d.join("dist/bin/app");
    let pick = |level: &str| {
        let (out, v) = ldd_json(&[&app], &["--cpu-level", level]);
        check(&out, "kiln ldd --cpu-level");
        objects(&v)
            .into_iter()
            .find(|o| o.0 == "liblevel.so")
            .unwrap()
            .1
    };
    assert!(pick("baseline").ends_with("/dist/lib/liblevel.so"));
    assert!(pick("x86-64-v2").ends_with("/dist/lib/liblevel.so"));
    assert!(pick("x86-64-v3").ends_with("/glibc-hwcaps/x86-64-v3/liblevel.so"));
    assert!(pick("x86-64-v4").ends_with("/glibc-hwcaps/x86-64-v3/liblevel.so"));
    // glibc agrees: with the v3 level masked away it takes the baseline copy.
    let masked = Command::new("/lib64/ld-linux-x86-64.so.2")
        .args(["--glibc-hwcaps-mask", "x86-64-v2"])
        .arg(&app)
        .output()
        .unwrap();
    check(&masked, "ld.so --glibc-hwcaps-mask");
    assert_eq!(String::from_utf8_lossy(&masked.stdout), "baseline\n");
    let cpu_has_v3 = String::from_utf8_lossy(
        &Command::new("/lib64/ld-linux-x86-64.so.2")
            .arg("--help")
            .output()
            .unwrap()
            .stdout,
    )
    .contains("x86-64-v3 (supported, searched)");
    if cpu_has_v3 {
        let native = run(&mut Command::new(&app), "app on the host");
        assert_eq!(native, "x86-64-v3\n");
    }
}

#[test]
fn missing_symbol_version_is_an_error_glibc_agrees() {
    let t = tempdir();
    let d = t.path();
    write(
        d,
        "v.map",
        "V1 { global: old; local: *; };\nV2 { global: new; } V1;\n",
    );
    write(d, "v1.map", "V1 { global: old; local: *; };\n");
    write(
        d,
        "v.c",
        "int old(void){return 1;}\nint new(void){return 2;}\n",
    );
    write(d, "v1.c", "int old(void){return 1;}\n");
    write(
        d,
        "app.c",
        "#include <stdio.h>\nint new(void);\nint main(){printf(\"%d\\n\", new());return 0;}\n",
    );
    std::fs::create_dir_all(d.join("lib")).unwrap();
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "lib/libv.so.1",
            "v.c",
            "-Wl,-soname,libv.so.1",
            "-Wl,--version-script=v.map",
        ],
    );
    run(
        Command::new("ln")
            .args(["-sf", "libv.so.1", "lib/libv.so"])
            .current_dir(d),
        "ln",
    );
    gcc(
        d,
        &[
            "-o",
            "app",
            "app.c",
            "-Llib",
            "-lv",
            "-Wl,-rpath,$ORIGIN/lib",
            "-Wl,--enable-new-dtags",
        ],
    );
    check(
        &Command::new(d.join("app")).output().unwrap(),
        "app with the full library",
    );
    let (out, _) = ldd_json(&[&d.join("app")], &[]);
    check(&out, "kiln ldd with V2 present");
    // Replace the library with one that defines only V1.
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "lib/libv.so.1",
            "v1.c",
            "-Wl,-soname,libv.so.1",
            "-Wl,--version-script=v1.map",
        ],
    );
    let host = Command::new(d.join("app")).output().unwrap();
    assert_ne!(host.status.code(), Some(0));
    assert!(
        stderr(&host).contains("version `V2' not found"),
        "{}",
        stderr(&host)
    );
    let (out, _) = ldd_json(&[&d.join("app")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("needs version `V2` of libv.so.1")
            && e.contains("/lib/libv.so.1 does not define it (it defines V1)"),
        "{e}"
    );
}

const CANCEL_C: &str = r#"#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *worker(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(void) {
    pthread_t t;
    void *res;
    pthread_create(&t, NULL, worker, NULL);
    pthread_cancel(t);
    pthread_join(t, &res);
    puts(res == PTHREAD_CANCELED ? "cancelled" : "not cancelled");
    return 0;
}
"#;

/// A manifest with one elf component for `bin` and accounts, plus `extra`.
fn elf_manifest(dir: &Path, bin: &str, extra: &str) -> PathBuf {
    write(
        dir,
        "kiln.toml",
        &format!(
            "[image]\nname = \"rules\"\nentrypoint = [\"/usr/local/bin/{bin}\"]\nuser = \"nonroot\"\n\n[[component]]\nname = \"app\"\nkind = \"elf\"\nfrom = \"{bin}\"\nto = \"/usr/local/bin/{bin}\"\nwhy = \"the program under test\"\n\n[[component]]\nname = \"accounts\"\nkind = \"accounts\"\nwhy = \"run as nonroot\"\n{extra}"
        ),
    )
}

fn plan_entry<'a>(plan: &'a Value, suffix: &str) -> Option<&'a Value> {
    plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with(suffix))
}

#[test]
fn pthread_cancel_brings_libgcc_s_with_its_reason() {
    let t = tempdir();
    let d = t.path();
    write(d, "cancel.c", CANCEL_C);
    gcc(d, &["-O2", "-o", "cancel", "cancel.c", "-pthread"]);
    let m = elf_manifest(d, "cancel", "");
    let plan = plan_json(&m);
    let lib = plan_entry(&plan, "/libgcc_s.so.1").expect("libgcc_s.so.1 in the plan");
    let note = lib["note"].as_str().unwrap();
    assert!(
        note.contains("dlopens libgcc_s.so.1")
            && note.contains("pthread_cancel")
            && note.contains("glibc 2."),
        "{note}"
    );
    let run = build_and_run(d, &m);
    check(&run, "cancel in chroot");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "cancelled\n");

    // Waived: it is not shipped, and the program really needs it (glibc aborts).
    let t2 = tempdir();
    let d2 = t2.path();
    std::fs::copy(d.join("cancel"), d2.join("cancel")).unwrap();
    let m2 = elf_manifest(
        d2,
        "cancel",
        "\n[[waive]]\nload = \"libgcc_s.so.1\"\nwhy = \"testing what happens without it\"\n",
    );
    assert!(plan_entry(&plan_json(&m2), "/libgcc_s.so.1").is_none());
    let run = build_and_run(d2, &m2);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("libgcc_s.so.1 must be installed"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn getpwnam_gets_a_working_nsswitch_and_its_modules() {
    let t = tempdir();
    let d = t.path();
    write(d, "pw.c", "#include <pwd.h>\n#include <stdio.h>\nint main(){struct passwd *p = getpwnam(\"nonroot\");\nif(!p){puts(\"none\");return 1;}\nprintf(\"%s %u %s\\n\", p->pw_name, p->pw_uid, p->pw_dir);return 0;}\n");
    gcc(d, &["-O2", "-o", "pw", "pw.c"]);
    let m = elf_manifest(d, "pw", "");
    let plan = plan_json(&m);
    let nss = plan_entry(&plan, "/etc/nsswitch.conf").expect("kiln adds an nsswitch.conf");
    assert!(nss["note"].as_str().unwrap().contains("NSS"), "{nss}");
    let run = build_and_run(d, &m);
    check(&run, "pw in chroot");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "nonroot 65532 /home/nonroot\n"
    );

    // An nsswitch.conf naming a module that is not built in brings the module (`compat`: its
    // libnss_compat.so.2 is part of libc6, so the test needs no package beyond libc).
    let t2 = tempdir();
    let d2 = t2.path();
    std::fs::copy(d.join("pw"), d2.join("pw")).unwrap();
    let m2 = elf_manifest(d2, "pw", "\n[[component]]\nname = \"nss\"\nkind = \"file\"\ncontent = \"passwd: files compat\\ngroup: files\\n\"\nto = \"/etc/nsswitch.conf\"\nwhy = \"NIS-style compat entries too\"\n");
    let plan = plan_json(&m2);
    let m = plan_entry(&plan, "/libnss_compat.so.2").expect("libnss_compat.so.2 in the plan");
    assert!(
        m["note"]
            .as_str()
            .unwrap()
            .contains("nsswitch.conf names `compat` for passwd"),
        "{m}"
    );
    assert_eq!(
        plan_entry(&plan, "/etc/nsswitch.conf").unwrap()["component"],
        "nss"
    );
}

#[test]
fn iconv_brings_gconv_modules() {
    let t = tempdir();
    let d = t.path();
    write(
        d,
        "conv.c",
        "#include <iconv.h>\n#include <stdio.h>\n#include <string.h>\nint main(){iconv_t c = iconv_open(\"UTF-16LE\", \"UTF-8\");\nif(c==(iconv_t)-1){perror(\"iconv_open\");return 1;}\nchar in[]=\"hi\"; char out[16]; char *ip=in,*op=out; size_t il=2, ol=sizeof out;\nif(iconv(c,&ip,&il,&op,&ol)==(size_t)-1){perror(\"iconv\");return 1;}\nprintf(\"%zu bytes\\n\", sizeof out - ol);return 0;}\n",
    );
    gcc(d, &["-O2", "-o", "conv", "conv.c"]);
    let m = elf_manifest(d, "conv", "");
    let plan = plan_json(&m);
    let utf16 = plan_entry(&plan, "/gconv/UTF-16.so").expect("the UTF-16 converter ships");
    assert!(utf16["note"].as_str().unwrap().contains("iconv_open"));
    assert!(
        plan_entry(&plan, "/gconv/gconv-modules").is_some()
            || plan_entry(&plan, "/gconv/gconv-modules.cache").is_some()
    );
    let run = build_and_run(d, &m);
    check(&run, "conv in chroot");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "4 bytes\n");

    let t2 = tempdir();
    let d2 = t2.path();
    std::fs::copy(d.join("conv"), d2.join("conv")).unwrap();
    let m2 = elf_manifest(
        d2,
        "conv",
        "\n[[waive]]\nload = \"gconv\"\nwhy = \"only UTF-8 is ever converted\"\n",
    );
    let run = build_and_run(d2, &m2);
    assert!(
        !run.status.success(),
        "without gconv modules UTF-16 is unknown"
    );
}

#[test]
fn note_dlopen_entries_are_added() {
    let t = tempdir();
    let d = t.path();
    // A .note.dlopen note as systemd writes it: name "FDO", type 0x407c0c0a, JSON payload.
    let c = r#"#include <dlfcn.h>
#include <stdio.h>
#include <stdint.h>
#define JSON "[{\"feature\":\"compression\",\"description\":\"zlib support\",\"priority\":\"required\",\"soname\":[\"libz.so.1\"]}]"
#define PADDED ((sizeof(JSON) + 3) & ~3u)
struct note { uint32_t n, d, t; char name[4]; char desc[PADDED]; };
__attribute__((used, section(".note.dlopen"), aligned(4)))
static const struct note note = { 4, PADDED, 0x407c0c0a, "FDO", JSON };
int main(void) {
    void *h = dlopen("libz.so.1", RTLD_NOW);
    if (!h) { puts(dlerror()); return 1; }
    const char *(*v)(void) = (const char *(*)(void))dlsym(h, "zlibVersion");
    printf("zlib %s\n", v());
    return 0;
}
"#;
    write(d, "dl.c", c);
    gcc(d, &["-O2", "-o", "dl", "dl.c", "-ldl"]);
    let (out, v) = ldd_json(&[&d.join("dl")], &["--dlopen"]);
    check(&out, "kiln ldd --dlopen");
    let z = objects(&v)
        .into_iter()
        .find(|o| o.0 == "libz.so.1")
        .expect("libz from .note.dlopen");
    assert!(
        z.2.contains("required dlopen dependency in .note.dlopen: compression (zlib support)"),
        "{z:?}"
    );
    let (_, v) = ldd_json(&[&d.join("dl")], &[]);
    assert!(
        objects(&v).iter().all(|o| o.0 != "libz.so.1"),
        "plain ldd view lists DT_NEEDED only"
    );
    let m = elf_manifest(d, "dl", "");
    let run = build_and_run(d, &m);
    check(&run, "dl in chroot");
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("zlib 1."));
}

#[test]
fn static_pie_cycles_loops_and_directories() {
    let t = tempdir();
    let d = t.path();
    write(d, "hello.c", "int main(){return 0;}\n");
    gcc(d, &["-static-pie", "-o", "spie", "hello.c"]);
    let out = kiln().args(["ldd"]).arg(d.join("spie")).output().unwrap();
    check(&out, "kiln ldd static-pie");
    assert!(String::from_utf8_lossy(&out.stdout).contains("statically linked"));

    // Cyclic DT_NEEDED: liba needs libb needs liba.
    write(d, "ca.c", "int ca(void){return 1;}\n");
    write(d, "cb.c", "int cb(void){return 2;}\n");
    std::fs::create_dir_all(d.join("lib")).unwrap();
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "lib/libca.so",
            "ca.c",
            "-Wl,-soname,libca.so",
        ],
    );
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "lib/libcb.so",
            "cb.c",
            "-Wl,-soname,libcb.so",
            "-Llib",
            "-lca",
        ],
    );
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "lib/libca.so",
            "ca.c",
            "-Wl,-soname,libca.so",
            "-Llib",
            "-Wl,--no-as-needed",
            "-lcb",
            "-Wl,-rpath,$ORIGIN",
            "-Wl,--enable-new-dtags",
        ],
    );
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "lib/libcb.so",
            "cb.c",
            "-Wl,-soname,libcb.so",
            "-Llib",
            "-Wl,--no-as-needed",
            "-lca",
            "-Wl,-rpath,$ORIGIN",
            "-Wl,--enable-new-dtags",
        ],
    );
    write(d, "app.c", "int ca(void);\nint main(){return ca()-1;}\n");
    gcc(
        d,
        &[
            "-o",
            "app",
            "app.c",
            "-Llib",
            "-lca",
            "-Wl,-rpath,$ORIGIN/lib",
            "-Wl,--enable-new-dtags",
        ],
    );
    check(
        &Command::new(d.join("app")).output().unwrap(),
        "glibc runs the cyclic program",
    );
    let (out, v) = ldd_json(&[&d.join("app")], &[]);
    check(&out, "kiln ldd cyclic");
    let names: Vec<String> = objects(&v).into_iter().map(|o| o.0).collect();
    assert!(
        names.contains(&"libca.so".to_string()) && names.contains(&"libcb.so".to_string()),
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|n| *n == "libca.so").count(), 1);

    // A symlink loop earlier in the RUNPATH: glibc abandons that list (ELOOP is not ENOENT),
    // so the library is not found at all. kiln must agree, and must not loop.
    std::fs::create_dir_all(d.join("loop")).unwrap();
    std::os::unix::fs::symlink("libca.so", d.join("loop/libca.so")).unwrap();
    gcc(
        d,
        &[
            "-o",
            "app-loop",
            "app.c",
            "-Llib",
            "-lca",
            "-Wl,-rpath,$ORIGIN/loop:$ORIGIN/lib",
            "-Wl,--enable-new-dtags",
        ],
    );
    let host = Command::new(d.join("app-loop")).output().unwrap();
    assert_eq!(
        host.status.code(),
        Some(127),
        "glibc fails: {}",
        stderr(&host)
    );
    let (out, _) = ldd_json(&[&d.join("app-loop")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("symlink loop: glibc stops searching this list here"),
        "{}",
        stderr(&out)
    );

    // A directory named like the library: open(2) succeeds and the read fails; fatal in glibc.
    std::fs::create_dir_all(d.join("dir/libca.so")).unwrap();
    gcc(
        d,
        &[
            "-o",
            "app-dir",
            "app.c",
            "-Llib",
            "-lca",
            "-Wl,-rpath,$ORIGIN/dir:$ORIGIN/lib",
            "-Wl,--enable-new-dtags",
        ],
    );
    let host = Command::new(d.join("app-dir")).output().unwrap();
    assert_eq!(host.status.code(), Some(127));
    assert!(
        stderr(&host).contains("dir/libca.so: cannot read file data"),
        "{}",
        stderr(&host)
    );
    let (out, _) = ldd_json(&[&d.join("app-dir")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("cannot load `libca.so`")
            && e.contains("dir/libca.so: cannot read file data: Is a directory"),
        "{e}"
    );
}

#[test]
fn a_library_only_the_cache_finds_gets_a_link_in_a_default_directory() {
    // A small x86-64 sysroot: the loader and libc from the host, a private library in
    // /usr/local/lib that only ld.so.conf names.
    let t = tempdir();
    let d = t.path();
    let sr = d.join("sysroot");
    let triplet_dir = sr.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&triplet_dir).unwrap();
    std::fs::create_dir_all(sr.join("usr/local/lib")).unwrap();
    std::fs::create_dir_all(sr.join("etc")).unwrap();
    for lib in ["libc.so.6", "ld-linux-x86-64.so.2"] {
        std::fs::copy(
            Path::new("/usr/lib/x86_64-linux-gnu").join(lib),
            triplet_dir.join(lib),
        )
        .unwrap();
    }
    std::fs::create_dir_all(sr.join("lib64")).unwrap();
    std::os::unix::fs::symlink(
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        sr.join("lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    std::fs::write(sr.join("etc/ld.so.conf"), "/usr/local/lib\n").unwrap();
    write(d, "local.c", "int local(void){return 5;}\n");
    gcc(
        d,
        &[
            "-shared",
            "-fPIC",
            "-o",
            "sysroot/usr/local/lib/liblocal.so.1",
            "local.c",
            "-Wl,-soname,liblocal.so.1",
        ],
    );
    write(d, "app.c", "#include <stdio.h>\nint local(void);\nint main(){printf(\"local=%d\\n\", local());return 0;}\n");
    gcc(
        d,
        &["-o", "app", "app.c", "sysroot/usr/local/lib/liblocal.so.1"],
    );
    let m = elf_manifest(d, "app", "");
    let text = std::fs::read_to_string(&m).unwrap().replace(
        "user = \"nonroot\"\n",
        "user = \"nonroot\"\nsysroot = \"sysroot\"\n",
    );
    std::fs::write(&m, text).unwrap();
    let plan = plan_json(&m);
    let real =
        plan_entry(&plan, "/usr/local/lib/liblocal.so.1").expect("the library from the sysroot");
    assert!(
        real["note"].as_str().unwrap().contains("ld.so.conf"),
        "{real}"
    );
    let link = plan_entry(&plan, "/usr/lib/x86_64-linux-gnu/liblocal.so.1")
        .expect("a link in a default directory");
    assert_eq!(link["target"], "/usr/local/lib/liblocal.so.1");
    assert!(link["note"].as_str().unwrap().contains("no ld.so.cache"));
    let run = build_and_run(d, &m);
    check(&run, "app in chroot");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "local=5\n");
}
