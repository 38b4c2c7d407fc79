//! What a program loads or runs at run time beyond its DT_NEEDED (issue 10 §1): gconv modules
//! only for a program that calls `iconv_open` itself, libraries a program loads from its own
//! directories (`loaded-from`), and shell use in an image without `/bin/sh`.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A manifest with one elf component for `bin` (at /usr/local/bin) and accounts, plus `image`
/// lines in [image] and `extra` TOML at the end.
fn elf_manifest(dir: &Path, bin: &str, image: &str, extra: &str) -> PathBuf {
    let p = dir.join("kiln.toml");
    std::fs::write(
        &p,
        format!(
            "[image]\nname = \"loads\"\nentrypoint = [\"/usr/local/bin/{bin}\"]\nuser = \"nonroot\"\n{image}\n[[component]]\nname = \"app\"\nkind = \"elf\"\nfrom = \"{bin}\"\nto = \"/usr/local/bin/{bin}\"\nwhy = \"the program under test\"\n\n[[component]]\nname = \"accounts\"\nkind = \"accounts\"\nwhy = \"run as nonroot\"\n{extra}"
        ),
    )
    .unwrap();
    p
}

/// The plan's paths under a `gconv` directory.
fn gconv_paths(plan: &Value) -> Vec<String> {
    plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["path"].as_str())
        .filter(|p| p.contains("/gconv/"))
        .map(str::to_string)
        .collect()
}

fn names(paths: &[String]) -> Vec<&str> {
    paths
        .iter()
        .map(|p| p.rsplit('/').next().unwrap())
        .collect()
}

/// The real paths in `kiln ldd --dlopen --json FILE`.
fn ldd_dlopen(file: &Path) -> Vec<String> {
    let out = kiln()
        .args(["ldd", "--dlopen", "--json"])
        .arg(file)
        .output()
        .unwrap();
    check(&out, "kiln ldd --dlopen --json");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["files"][0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["real_path"].as_str().unwrap().to_string())
        .collect()
}

const ICONV_C: &str = "#include <iconv.h>\n#include <stdio.h>\nint main(int argc, char **argv){const char *cs = argc > 1 ? argv[1] : \"UTF-16LE\";\niconv_t c = iconv_open(cs, \"UTF-8\");\nif(c==(iconv_t)-1){perror(\"iconv_open\");return 1;}\nchar in[]=\"hi\"; char out[16]; char *ip=in,*op=out; size_t il=2, ol=sizeof out;\nif(iconv(c,&ip,&il,&op,&ol)==(size_t)-1){perror(\"iconv\");return 1;}\nprintf(\"%zu bytes\\n\", sizeof out - ol);return 0;}\n";

#[test]
fn cxx_program_gets_no_gconv_through_libstdcxx() {
    let t = tempdir();
    let d = t.path();
    let gxx = require("g++");
    std::fs::write(
        d.join("hello.cc"),
        "#include <iostream>\n#include <string>\nint main(){std::string s = \"hello\"; std::cout << s << std::endl; return 0;}\n",
    )
    .unwrap();
    run(
        Command::new(gxx)
            .args(["-O2", "-o", "hello", "hello.cc"])
            .current_dir(d),
        "g++ hello.cc",
    );
    let m = elf_manifest(d, "hello", "", "");
    let plan = plan_json(&m);
    let shipped: Vec<&str> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(
        shipped.iter().any(|p| p.ends_with("/libstdc++.so.6")),
        "the program links libstdc++ (which imports iconv_open): {shipped:?}"
    );
    assert_eq!(gconv_paths(&plan), Vec::<String>::new(), "no gconv files");
    let m = elf_manifest(d, "hello", "gconv = [\"LATIN9\"]\n", "");
    let plan = plan_json(&m);
    assert_eq!(gconv_paths(&plan), Vec::<String>::new());
    assert!(
        plan["warnings"]
            .to_string()
            .contains("no program of the image calls iconv_open itself"),
        "{}",
        plan["warnings"]
    );
    assert!(
        !ldd_dlopen(&d.join("hello"))
            .iter()
            .any(|p| p.contains("/gconv/")),
        "kiln ldd --dlopen follows the same rule"
    );
}

#[test]
fn iconv_program_gets_the_default_gconv_set_and_what_the_manifest_asks() {
    let t = tempdir();
    let d = t.path();
    cc(d, ICONV_C, "conv.c", "conv", &[]);
    let m = elf_manifest(d, "conv", "", "");
    let plan = plan_json(&m);
    let paths = gconv_paths(&plan);
    let mut modules: Vec<&str> = names(&paths)
        .into_iter()
        .filter(|n| n.ends_with(".so"))
        .collect();
    modules.sort();
    assert_eq!(
        modules,
        ["ISO8859-1.so", "UTF-16.so", "UTF-32.so"],
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.ends_with("/gconv-modules")),
        "{paths:?}"
    );
    let ldd: Vec<String> = ldd_dlopen(&d.join("conv"))
        .into_iter()
        .filter(|p| p.contains("/gconv/"))
        .collect();
    let mut ldd_modules = names(&ldd);
    ldd_modules.sort();
    assert_eq!(ldd_modules, ["ISO8859-1.so", "UTF-16.so", "UTF-32.so"]);

    // More charsets by name or alias; the image converts them.
    let m = elf_manifest(d, "conv", "gconv = [\"LATIN9\", \"EUC-JP\"]\n", "");
    let plan = plan_json(&m);
    let paths = gconv_paths(&plan);
    let n = names(&paths);
    for want in ["ISO8859-15.so", "EUC-JP.so", "libJIS.so", "UTF-16.so"] {
        assert!(n.contains(&want), "{want} in {n:?}");
    }
    let layout = d.join("img");
    build(&m, &format!("oci:{}:t", layout.display()));
    let (_, config) = image(&layout, "t");
    let rootfs = unpack(&layout, "t", &d.join("bundle"));
    for cs in ["ISO-8859-15", "EUC-JP", "UTF-16LE"] {
        let out = run_in_chroot(&rootfs, &config, Some(&[cs]));
        check(&out, &format!("iconv_open {cs} in chroot"));
    }
    let out = run_in_chroot(&rootfs, &config, Some(&["KOI8-R"]));
    assert!(!out.status.success(), "KOI8-R was not asked for");

    // Every module on request.
    let m = elf_manifest(d, "conv", "gconv = \"all\"\n", "");
    let plan = plan_json(&m);
    assert!(gconv_paths(&plan).len() > 200);
}

#[test]
fn gconv_field_is_validated() {
    let t = tempdir();
    let d = t.path();
    cc(d, ICONV_C, "conv.c", "conv", &[]);
    let m = elf_manifest(d, "conv", "gconv = \"some\"\n", "");
    let out: Output = kiln().args(["build", "--plan"]).arg(&m).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`gconv` cannot be \"some\""), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

/// A tree at /opt/app: bin/app dlopens lib/server/libinner.so, then lib/libouter.so, which
/// NEEDS libinner.so (no RUNPATH leads there: the program loaded it, as a JVM loads libjvm.so)
/// and libz.so.1 (from the target root). `tree_extra` goes into the tree component.
fn jvm_like(dir: &Path, tree_extra: &str) -> PathBuf {
    let dist = dir.join("dist");
    std::fs::create_dir_all(dist.join("bin")).unwrap();
    std::fs::create_dir_all(dist.join("lib/server")).unwrap();
    let gcc = require("gcc");
    let gcc_run = |args: &[&str]| {
        run(
            Command::new(&gcc).args(args).current_dir(dir),
            &format!("gcc {args:?}"),
        );
    };
    std::fs::write(dir.join("inner.c"), "int inner(void){return 7;}\n").unwrap();
    std::fs::write(
        dir.join("outer.c"),
        "const char *zlibVersion(void);\nint inner(void);\nconst char *outer(void){return inner()==7 ? zlibVersion() : \"bad\";}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("app.c"),
        "#include <dlfcn.h>\n#include <stdio.h>\nint main(void){\nif(!dlopen(\"/opt/app/lib/server/libinner.so\", RTLD_NOW|RTLD_GLOBAL)){puts(dlerror());return 1;}\nvoid *h = dlopen(\"/opt/app/lib/libouter.so\", RTLD_NOW);\nif(!h){puts(dlerror());return 1;}\nconst char *(*f)(void) = (const char *(*)(void))dlsym(h, \"outer\");\nprintf(\"zlib %s\\n\", f());return 0;}\n",
    )
    .unwrap();
    gcc_run(&[
        "-shared",
        "-fPIC",
        "-o",
        "dist/lib/server/libinner.so",
        "inner.c",
        "-Wl,-soname,libinner.so",
    ]);
    let libz = if Path::new("/usr/lib/x86_64-linux-gnu/libz.so.1").exists() {
        "/usr/lib/x86_64-linux-gnu/libz.so.1"
    } else {
        "/lib/x86_64-linux-gnu/libz.so.1"
    };
    gcc_run(&[
        "-shared",
        "-fPIC",
        "-o",
        "dist/lib/libouter.so",
        "outer.c",
        "-Wl,-soname,libouter.so",
        "-Ldist/lib/server",
        "-linner",
        libz,
    ]);
    gcc_run(&["-O2", "-o", "dist/bin/app", "app.c"]);
    let p = dir.join("kiln.toml");
    std::fs::write(
        &p,
        format!(
            "[image]\nname = \"jvm-like\"\nentrypoint = [\"/opt/app/bin/app\"]\nuser = \"nonroot\"\n\n[[component]]\nname = \"app\"\nkind = \"tree\"\nfrom = \"dist\"\nto = \"/opt/app\"\nwhy = \"the program under test\"\n{tree_extra}\n[[component]]\nname = \"accounts\"\nkind = \"accounts\"\nwhy = \"run as nonroot\"\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_library_the_program_loads_itself_does_not_stop_the_other_needs() {
    let t = tempdir();
    let d = t.path();
    // Without the statement: an error naming the object and the soname, showing the statement.
    let m = jvm_like(d, "");
    let out = kiln().args(["build", "--plan"]).arg(&m).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot find `libinner.so`"), "{err}");
    assert!(err.contains("/opt/app/lib/libouter.so"), "{err}");
    assert!(
        err.contains("loaded-from = [\"/opt/app/lib/server\"]"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // With it: libinner.so is the program's, and libz.so.1 ships for libouter.so.
    let m = jvm_like(d, "loaded-from = [\"/opt/app/lib/server\"]\n");
    let plan = plan_json(&m);
    let entries = plan["entries"].as_array().unwrap();
    let libz = entries
        .iter()
        .find(|e| {
            e["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .starts_with("libz.so.1")
        })
        .expect("libz.so.1 ships");
    assert_eq!(libz["component"], "app", "{libz}");
    let json = plan.to_string();
    assert!(
        json.contains("loaded by the program from /opt/app/lib/server")
            || entries
                .iter()
                .any(|e| e["path"] == "/opt/app/lib/server/libinner.so"),
        "{json}"
    );
    let layout = d.join("img");
    build(&m, &format!("oci:{}:t", layout.display()));
    let (_, config) = image(&layout, "t");
    let rootfs = unpack(&layout, "t", &d.join("bundle"));
    let out = run_in_chroot(&rootfs, &config, None);
    check(&out, "app in chroot");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("zlib 1."),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn loaded_from_must_name_a_directory_something_is_loaded_from() {
    let t = tempdir();
    let d = t.path();
    for (dir, says) in [
        ("/opt/app/lib/nothing", "is not a directory of the image"),
        ("/opt/app/bin", "provides nothing"),
        ("opt/app", "`loaded-from` \"opt/app\""),
    ] {
        let m = jvm_like(
            d,
            &format!("loaded-from = [\"/opt/app/lib/server\", \"{dir}\"]\n"),
        );
        let out = kiln().args(["build", "--plan"]).arg(&m).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{dir}: {err}");
        assert!(err.contains(says), "{dir}: {err}");
        assert!(err.contains("kiln.toml:"), "{dir}: {err}");
    }
    let p = d.join("k.toml");
    std::fs::write(&p, "[image]\nname = \"x\"\nentrypoint = [\"/x\"]\n\n[[component]]\nname = \"x\"\nkind = \"file\"\ncontent = \"x\"\nto = \"/x\"\nloaded-from = [\"/opt\"]\nwhy = \"x\"\n").unwrap();
    let out = kiln().args(["build", "--plan"]).arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`loaded-from` does not apply to component `x` of kind `file`"),
        "{err}"
    );
}

/// The plan's warnings that say a program runs a shell the image lacks.
fn shell_warnings(manifest: &Path) -> Vec<String> {
    plan_json(manifest)["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .filter(|w| w.contains("the image has no /bin/sh"))
        .map(str::to_string)
        .collect()
}

#[test]
fn shell_use_without_a_shell_is_a_warning() {
    let t = tempdir();
    let d = t.path();
    let programs = [
        ("sys", "#include <stdlib.h>\nint main(){return system(\"true\");}\n"),
        ("pop", "#include <stdio.h>\nint main(){FILE *f = popen(\"true\", \"r\"); return f ? pclose(f) : 1;}\n"),
        ("exsh", "#include <unistd.h>\nint main(){execl(\"/bin/sh\", \"sh\", \"-c\", \"true\", (char *)0); return 1;}\n"),
        ("exbin", "#include <unistd.h>\nint main(int c, char **v){(void)c; execv(\"/usr/local/bin/other\", v); return 1;}\n"),
        ("plain", "#include <stdio.h>\nint main(){puts(\"hi\"); return 0;}\n"),
    ];
    for (name, src) in programs {
        cc(d, src, &format!("{name}.c"), name, &[]);
    }
    let expect = |name: &str, symbol: Option<&str>, extra: &str| {
        let m = elf_manifest(d, name, "", extra);
        let w = shell_warnings(&m);
        match symbol {
            Some(sym) => {
                assert_eq!(w.len(), 1, "{name}: {w:?}");
                assert!(
                    w[0].contains(&format!("/usr/local/bin/{name} calls `{sym}`")),
                    "{w:?}"
                );
                assert!(
                    w[0].contains("hint:") && w[0].contains("popen failure"),
                    "{w:?}"
                );
                assert!(
                    w[0].contains(&format!("load = \"shell:/usr/local/bin/{name}\"")),
                    "{w:?}"
                );
            }
            None => assert!(w.is_empty(), "{name} {extra}: {w:?}"),
        }
    };
    expect("sys", Some("system"), "");
    expect("pop", Some("popen"), "");
    expect("exsh", Some("execl"), "");
    // exec of another program (no `/bin/sh` string), or no exec at all: nothing to say.
    expect("exbin", None, "");
    expect("plain", None, "");
    // An image with /bin/sh: nothing to say.
    let busybox = Path::new("/bin/busybox");
    let shell_from = if busybox.exists() {
        "/bin/busybox"
    } else {
        "/bin/dash"
    };
    expect(
        "sys",
        None,
        &format!("\n[[component]]\nname = \"shell\"\nkind = \"file\"\nfrom = \"{shell_from}\"\nto = \"/bin/sh\"\nmode = \"0755\"\nwhy = \"system() runs /bin/sh\"\n"),
    );
    // Waived for this program.
    expect(
        "sys",
        None,
        "\n[[waive]]\nload = \"shell:/usr/local/bin/sys\"\nwhy = \"only the --report path calls system(), never used here\"\n",
    );
    // A waiver for a program that runs no shell waives nothing.
    let m = elf_manifest(
        d,
        "plain",
        "",
        "\n[[waive]]\nload = \"shell:/usr/local/bin/plain\"\nwhy = \"x\"\n",
    );
    let out = kiln().args(["build", "--plan"]).arg(&m).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("waiver of `shell:/usr/local/bin/plain` waives nothing"),
        "{err}"
    );
}

#[test]
fn go_program_running_bin_sh_without_a_shell_is_a_warning() {
    let go = require("go");
    let t = tempdir();
    let d = t.path();
    let src = d.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("go.mod"), "module example.com/shelly\n\ngo 1.19\n").unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nimport \"os/exec\"\n\nfunc main() { _ = exec.Command(\"/bin/sh\", \"-c\", \"true\").Run() }\n",
    )
    .unwrap();
    let cache = d.join("gocache");
    let gopath = d.join("gopath");
    run(
        Command::new(go)
            .args(["build", "-trimpath", "-o"])
            .arg(d.join("shelly"))
            .arg(".")
            .current_dir(&src)
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", "-buildvcs=false")
            .env("GOPROXY", "off")
            .env("GOCACHE", &cache)
            .env("GOPATH", &gopath),
        "go build",
    );
    let m = elf_manifest(d, "shelly", "", "");
    let w = shell_warnings(&m);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("/usr/local/bin/shelly links Go's `os/exec` and names `/bin/sh`"),
        "{w:?}"
    );
    if gopath.exists() {
        // The module cache is read-only; the temporary directory must be removable.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&gopath)
            .status();
    }
}
