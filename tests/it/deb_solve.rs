//! `kiln::deb::solve` chooses what `apt-get install --no-install-recommends` chooses: the real
//! apt, in a scratch configuration with an empty dpkg status, on a small flat archive and on
//! the host's bookworm indexes. apt and dpkg are required (a missing tool fails the test).

use crate::util::{require, tempdir};
use kiln::deb::index::Index;
use kiln::deb::solve::{solve, Request, RootPackage, SolveError};
use std::collections::{BTreeMap, BTreeSet};

use std::process::Command;

type Set = BTreeSet<(String, String)>;

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// A scratch apt: its own apt.conf (host configuration ignored), empty status, given lists.
struct Apt {
    dir: tempfile::TempDir,
}

impl Apt {
    fn new(sources: &str) -> Apt {
        require("apt-get");
        let dir = tempdir();
        let d = dir.path();
        for sub in [
            "state/lists/partial",
            "cache/archives/partial",
            "etc/parts",
            "etc/prefs",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("status"), "").unwrap();
        std::fs::write(d.join("sources.list"), sources).unwrap();
        let p = |s: &str| d.join(s).display().to_string();
        let conf = format!(
            "Dir::Etc::Parts \"{}\";\nDir::Etc::PreferencesParts \"{}\";\nDir::Etc::Preferences \"/dev/null\";\n\
             Dir::Etc::SourceList \"{}\";\nDir::Etc::SourceParts \"/dev/null\";\nDir::State \"{}\";\n\
             Dir::State::status \"{}\";\nDir::Cache \"{}\";\nAPT::Architecture \"amd64\";\n\
             APT::Architectures {{ \"amd64\"; }};\nAcquire::AllowInsecureRepositories \"true\";\n\
             Debug::NoLocking \"1\";\nAPT::Sandbox::User \"root\";\nAcquire::Languages \"none\";\n",
            p("etc/parts"),
            p("etc/prefs"),
            p("sources.list"),
            p("state"),
            p("status"),
            p("cache")
        );
        std::fs::write(d.join("apt.conf"), conf).unwrap();
        Apt { dir }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("apt-get");
        c.env("APT_CONFIG", self.dir.path().join("apt.conf"))
            .env("LC_ALL", "C");
        c
    }

    /// `apt-get -s install --no-install-recommends ROOTS`: the `Inst` lines, or apt's error.
    fn install(&self, roots: &[&str]) -> Result<Set, String> {
        let out = self
            .cmd()
            .args(["-s", "-q", "install", "--no-install-recommends"])
            .args(roots)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(stdout
            .lines()
            .filter_map(|l| l.strip_prefix("Inst "))
            .filter_map(|l| {
                let (name, rest) = l.split_once(" (")?;
                Some((name.to_string(), rest.split(' ').next()?.to_string()))
            })
            .collect())
    }
}

fn kiln_solve(index: &Index, roots: &[&str]) -> Result<Set, SolveError> {
    let roots = roots
        .iter()
        .map(|r| RootPackage::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let waived = BTreeMap::new();
    let s = solve(
        index,
        &Request {
            roots: &roots,
            waived: &waived,
            depends: true,
        },
    )?;
    Ok(s.packages
        .iter()
        .map(|c| (c.name.clone(), c.version.to_string()))
        .collect())
}

/// `name=version` (apt) → `name (= version)` (kiln).
fn kiln_root(apt: &str) -> String {
    match apt.split_once('=') {
        Some((n, v)) => format!("{n} (= {v})"),
        None => apt.to_string(),
    }
}

const ARCHIVE: &[(&str, &str)] = &[
    ("app 1.0 amd64", "Pre-Depends: pre\nDepends: alt-missing | alt-real (>= 2), virt-one, virt-many, vprov (>= 2), tool:any, liball, cyc-a\n"),
    ("pre 1.0 amd64", ""),
    ("alt-real 1.0 amd64", ""),
    ("alt-real 2.0 amd64", ""),
    ("provider-one 1.0 amd64", "Provides: virt-one\n"),
    ("many-b 1.0 amd64", "Provides: virt-many\nPriority: extra\n"),
    ("many-a 1.0 amd64", "Provides: virt-many\nPriority: optional\n"),
    ("vp1 1.0 amd64", "Provides: vprov (= 1)\n"),
    ("vp3 1.0 amd64", "Provides: vprov (= 3)\n"),
    ("tool 1.0 amd64", "Multi-Arch: allowed\n"),
    ("plain 1.0 amd64", ""),
    ("liball 1.0 all", "Depends: libarch\n"),
    ("libarch 1:0.5 amd64", ""),
    ("libarch 1.0 arm64", ""),
    ("cyc-a 1.0 all", "Depends: cyc-b (>= 1)\n"),
    ("cyc-b 1.0 amd64", "Depends: cyc-a\n"),
    ("choose-second 1.0 amd64", "Depends: broken | fine\n"),
    ("broken 1.0 amd64", "Depends: nowhere-to-be-found\n"),
    ("fine 2.0~rc1 amd64", ""),
    ("needs-any 1.0 amd64", "Depends: plain:any | tool\n"),
    ("dep-on-old 1.0 amd64", "Depends: alt-real (<< 2)\n"),
    ("tie 1.0 amd64", "Depends: tievirt\n"),
    ("tie-x 1.0 amd64", "Provides: tievirt\n"),
    ("tie-y 1.0 amd64", "Provides: tievirt\n"),
    ("deep 1.0 amd64", "Depends: mid | fine\n"),
    ("mid 1.0 amd64", "Depends: pre, broken\n"),
];

fn archive_text() -> String {
    ARCHIVE
        .iter()
        .map(|(head, extra)| {
            let mut it = head.split(' ');
            let (n, v, a) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            format!(
                "Package: {n}\nVersion: {v}\nArchitecture: {a}\nMaintainer: kiln <kiln@example.org>\n{extra}\
                 Filename: pool/{n}_{v}_{a}.deb\nSize: 1000\nSHA256: {SHA}\nDescription: test {n}\n\n"
            )
        })
        .collect()
}

#[test]
fn deb_solve_matches_apt_on_a_flat_archive() {
    let archive = tempdir();
    let text = archive_text();
    std::fs::write(archive.path().join("Packages"), &text).unwrap();
    let apt = Apt::new(&format!(
        "deb [trusted=yes] file:{} ./\n",
        archive.path().display()
    ));
    crate::util::run(apt.cmd().args(["-q", "update"]), "apt-get update");
    let index = Index::parse(&text, "amd64").unwrap();

    let agree = [
        vec!["app"],
        vec!["choose-second", "needs-any"],
        vec!["virt-one"],
        vec!["alt-real=1.0"],
        vec!["cyc-b", "app"],
        vec!["deep"],
        vec!["tie"],
    ];
    for roots in agree {
        let want = apt
            .install(&roots)
            .unwrap_or_else(|e| panic!("apt {roots:?}: {e}"));
        let kroots: Vec<String> = roots.iter().map(|r| kiln_root(r)).collect();
        let kroots: Vec<&str> = kroots.iter().map(String::as_str).collect();
        let got = kiln_solve(&index, &kroots).unwrap_or_else(|e| panic!("kiln {roots:?}: {e}"));
        assert_eq!(got, want, "roots {roots:?}");
    }
    // Both refuse these: an unmet versioned dependency (no fallback to the older version),
    // and a virtual root with several providers.
    for roots in [["dep-on-old"], ["virt-many"]] {
        let apt_says = apt.install(&roots);
        assert!(apt_says.is_err(), "apt accepted {roots:?}: {apt_says:?}");
        let kiln_says = kiln_solve(&index, &roots);
        assert!(kiln_says.is_err(), "kiln accepted {roots:?}: {kiln_says:?}");
    }
    assert!(matches!(
        kiln_solve(&index, &["virt-many"]),
        Err(SolveError::Virtual { .. })
    ));
}

#[test]
fn deb_solve_matches_apt_on_bookworm() {
    require("apt-get");
    let mut sources = String::new();
    let mut index: Option<Index> = None;
    let mut parse_time = std::time::Duration::ZERO;
    let lists = crate::util::apt_lists();
    for l in &lists {
        sources.push_str(&l.source_line);
        let text = crate::util::apt_list_text(&l.packages);
        let t = std::time::Instant::now();
        let one = Index::parse(&text, "amd64").unwrap();
        parse_time += t.elapsed();
        match &mut index {
            Some(i) => i.extend(one),
            None => index = Some(one),
        }
    }
    eprintln!("kiln parsed the bookworm indexes in {parse_time:?}");
    let index = index.unwrap();
    let apt = Apt::new(&sources);
    let state_lists = apt.dir.path().join("state/lists");
    for l in &lists {
        std::fs::copy(
            &l.packages,
            state_lists.join(l.packages.file_name().unwrap()),
        )
        .unwrap();
        std::fs::copy(
            &l.inrelease,
            state_lists.join(l.inrelease.file_name().unwrap()),
        )
        .unwrap();
    }
    for roots in [["nginx-light"], ["postgresql-15"]] {
        let want = apt
            .install(&roots)
            .unwrap_or_else(|e| panic!("apt {roots:?}: {e}"));
        let got = kiln_solve(&index, &roots).unwrap_or_else(|e| panic!("kiln {roots:?}: {e}"));
        let only_apt: Vec<_> = want.difference(&got).collect();
        let only_kiln: Vec<_> = got.difference(&want).collect();
        assert!(
            only_apt.is_empty() && only_kiln.is_empty(),
            "{roots:?}: only apt {only_apt:?}, only kiln {only_kiln:?}"
        );
        assert!(want.len() > 5, "{roots:?}: apt chose {want:?}");
    }
}
