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
    v[0]["objects"]
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
