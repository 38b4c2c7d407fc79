//! Streaming and atomicity with a 1 GiB input: bounded memory, and a build killed midway
//! leaves no output that looks valid and never breaks an existing layout.

use crate::util::*;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const GIB: u64 = 1 << 30;

/// A 1 GiB file: mostly sparse zeros with incompressible stripes, so it is cheap to create
/// but still exercises real compression.
fn big_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let mut f = std::fs::File::create(dir.join("data/big.bin")).unwrap();
    f.set_len(GIB).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let stripe: Vec<u8> = (0..(1 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for i in 0..16u64 {
        f.seek(SeekFrom::Start(i * (GIB / 16))).unwrap();
        f.write_all(&stripe).unwrap();
    }
    f.sync_all().unwrap();
    std::fs::write(
        dir.join("kiln.toml"),
        "[image]\nname = \"big\"\n\n[[component]]\nname = \"data\"\nkind = \"tree\"\nfrom = \"data\"\nto = \"/data\"\nwhy = \"a large payload\"\n",
    )
    .unwrap();
}

#[test]
fn one_gib_file_builds_in_bounded_memory_and_kills_leave_no_valid_output() {
    let t = tempdir();
    let d = t.path();
    big_project(d);
    let time = require("time");
    let out = Command::new(time)
        .args(["-f", "maxrss_kib=%M"])
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .args(["build", "kiln.toml", "--output", "oci:img:a"])
        .current_dir(d)
        .output()
        .unwrap();
    check(&out, "kiln build of a 1 GiB file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib = maxrss_kib(&stderr);
    eprintln!("peak RSS building a 1 GiB file: {} MiB", kib / 1024);
    assert!(kib < 100 * 1024, "peak RSS {kib} KiB is over 100 MiB");
    let good = skopeo_inspect(&format!("oci:{}:a", d.join("img").display()));

    // Killed while writing a new layout: nothing named `fresh` appears.
    for delay_ms in [50, 400, 1500] {
        let mut child = kiln()
            .args(["build", "kiln.toml", "--output", "oci:fresh:a"])
            .current_dir(d)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            !d.join("fresh").exists(),
            "a killed build left `fresh` behind (after {delay_ms} ms)"
        );
    }
    // Killed while adding a tag to an existing layout: the old tag still reads, and the index
    // is whole. Touch the file so the new image differs and really writes.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("data/big.bin"))
        .unwrap();
    f.set_len(GIB - 1).unwrap();
    drop(f);
    for delay_ms in [100, 800] {
        let mut child = kiln()
            .args(["build", "kiln.toml", "--output", "oci:img:b"])
            .current_dir(d)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let again = skopeo_inspect(&format!("oci:{}:a", d.join("img").display()));
        assert_eq!(again["Digest"], good["Digest"]);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("img/index.json")).unwrap()).unwrap();
        let manifests = index["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 1, "the new tag appears only when complete");
        assert_eq!(manifests[0]["digest"], good["Digest"], "only the old image");
        for blob in std::fs::read_dir(d.join("img/blobs/sha256")).unwrap() {
            let name = blob.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
                "a killed build left {name} among the blobs"
            );
        }
    }
}
