//! The small shared values every stage speaks: image paths, platforms and architectures, layer
//! kinds, CPU levels, gconv choices and component kinds.
//!
//! Owns: `ImagePath` (absolute, normalised, within Linux's path limits), `Arch` and `Platform`
//! with the one table of ELF `e_machine` numbers (and each architecture's OCI, Rust, Debian,
//! ld.so and musl names), `LayerKind`, `CpuLevel`, `Gconv`, `ComponentKind`.
//! Does not own: reading manifests (`manifest`), reading ELF files (`elf`), the loader's search
//! order (`resolve`).
//! Invariant: this module imports nothing of the pipeline (only `std` and serde), so every stage
//! may use it and no import cycle can run through it (`tests/it/modules.rs` checks the graph).
//! Invariant: no value here depends on the build host; `Arch::host` exists only for reading an
//! index (choosing which child to show), never for what is built.

use std::fmt;

/// The longest path Linux takes (`PATH_MAX`, with its NUL).
pub const MAX_PATH: usize = 4096;
/// The longest path component (`NAME_MAX`).
pub const MAX_COMPONENT: usize = 255;

/// A path that breaks one of Linux's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathLimit {
    /// A component longer than [`MAX_COMPONENT`] bytes.
    LongComponent(usize),
    /// A path longer than [`MAX_PATH`] bytes.
    LongPath(usize),
}

impl fmt::Display for PathLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathLimit::LongComponent(n) => write!(
                f,
                "is too long: path component of {n} bytes exceeds {MAX_COMPONENT}"
            ),
            PathLimit::LongPath(n) => {
                write!(f, "is too long: path of {n} bytes exceeds {MAX_PATH}")
            }
        }
    }
}

/// Linux's 255-byte component and 4096-byte path limits.
pub fn path_limits(s: &str) -> Result<(), PathLimit> {
    if let Some(long) = s.split('/').map(str::len).find(|&n| n > MAX_COMPONENT) {
        return Err(PathLimit::LongComponent(long));
    }
    if s.len() > MAX_PATH {
        return Err(PathLimit::LongPath(s.len()));
    }
    Ok(())
}

/// An absolute, normalised path inside the image (`/`, `/usr/bin/x`; never `..`, `//` or a
/// trailing `/`), within Linux's limits: no component over 255 bytes, at most 4096 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ImagePath(String);

impl ImagePath {
    /// The image's root, `/`.
    pub fn root() -> ImagePath {
        ImagePath("/".into())
    }

    /// Normalises `s`; errors say why it is not a valid image path.
    pub fn parse(s: &str) -> Result<ImagePath, String> {
        if s.is_empty() {
            return Err("is empty".into());
        }
        if !s.starts_with('/') {
            return Err("is relative; image paths start with `/`".into());
        }
        if s.contains('\0') {
            return Err("contains a NUL byte".into());
        }
        let mut parts = Vec::new();
        for part in s.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err("contains `..`; image paths may not escape `/`".into()),
                p => parts.push(p),
            }
        }
        let path = format!("/{}", parts.join("/"));
        path_limits(&path).map_err(|e| e.to_string())?;
        Ok(ImagePath(path))
    }

    /// The normalised path, e.g. `/usr/bin/x`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// `self` joined with a relative, already clean path (no `..`); an error when the result
    /// breaks Linux's path limits (as [`ImagePath::parse`] says them).
    pub fn join(&self, rel: &str) -> Result<ImagePath, String> {
        let rel = rel.trim_matches('/');
        if rel.is_empty() {
            return Ok(self.clone());
        }
        let path = if self.is_root() {
            format!("/{rel}")
        } else {
            format!("{}/{rel}", self.0)
        };
        path_limits(&path).map_err(|e| e.to_string())?;
        Ok(ImagePath(path))
    }

    /// The containing directory; `None` for `/`.
    pub fn parent(&self) -> Option<ImagePath> {
        if self.is_root() {
            return None;
        }
        let i = self.0.rfind('/').unwrap_or(0);
        Some(if i == 0 {
            ImagePath::root()
        } else {
            ImagePath(self.0[..i].to_string())
        })
    }

    /// The last component (`x` of `/usr/bin/x`); empty for `/`.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// Every ancestor from `/`'s child down to the parent, e.g. `/usr`, `/usr/bin`.
    pub fn ancestors(&self) -> Vec<ImagePath> {
        let mut v = Vec::new();
        let mut p = self.parent();
        while let Some(q) = p {
            if q.is_root() {
                break;
            }
            p = q.parent();
            v.push(q);
        }
        v.reverse();
        v
    }

    /// The path without its leading `/`, as tar and `Path::join` want it.
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A CPU architecture kiln builds images for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86-64 (`linux/amd64`).
    Amd64,
    /// AArch64 (`linux/arm64`).
    Arm64,
    /// 32-bit Arm, hard float (`linux/arm/v7`).
    ArmV7,
    /// 32-bit x86 (`linux/386`).
    I386,
    /// 64-bit little-endian POWER (`linux/ppc64le`).
    Ppc64le,
    /// IBM Z (`linux/s390x`).
    S390x,
    /// 64-bit RISC-V (`linux/riscv64`).
    Riscv64,
}

/// What one architecture is called by each party that names it.
struct ArchRow {
    arch: Arch,
    /// ELF `e_machine`.
    machine: u16,
    /// OCI `architecture` and `variant`.
    oci: &'static str,
    variant: Option<&'static str>,
    /// How kiln describes an ELF file of this machine (`64-bit x86-64`).
    elf_name: &'static str,
    /// Rust's `std::env::consts::ARCH`.
    rust: &'static str,
    /// Debian's architecture name (`dpkg --print-architecture`).
    debian: &'static str,
    /// Debian's multiarch triplet (64-bit objects; x32 is `resolve`'s special case).
    triplet: &'static str,
    /// glibc's `$PLATFORM` (AT_PLATFORM) value.
    ld_platform: &'static str,
    /// musl's `/etc/ld-musl-ARCH.path` name, where kiln knows it.
    musl: Option<&'static str>,
}

/// The one table of ELF machine numbers.
const ARCHES: [ArchRow; 7] = [
    ArchRow {
        arch: Arch::Amd64,
        machine: 62,
        oci: "amd64",
        variant: None,
        elf_name: "x86-64",
        rust: "x86_64",
        debian: "amd64",
        triplet: "x86_64-linux-gnu",
        ld_platform: "x86_64",
        musl: Some("x86_64"),
    },
    ArchRow {
        arch: Arch::Arm64,
        machine: 183,
        oci: "arm64",
        variant: None,
        elf_name: "aarch64",
        rust: "aarch64",
        debian: "arm64",
        triplet: "aarch64-linux-gnu",
        ld_platform: "aarch64",
        musl: Some("aarch64"),
    },
    ArchRow {
        arch: Arch::ArmV7,
        machine: 40,
        oci: "arm",
        variant: Some("v7"),
        elf_name: "arm",
        rust: "arm",
        debian: "armhf",
        triplet: "arm-linux-gnueabihf",
        ld_platform: "v7l",
        musl: Some("armhf"),
    },
    ArchRow {
        arch: Arch::I386,
        machine: 3,
        oci: "386",
        variant: None,
        elf_name: "i386",
        rust: "x86",
        debian: "i386",
        triplet: "i386-linux-gnu",
        ld_platform: "i686",
        musl: Some("i386"),
    },
    ArchRow {
        arch: Arch::Ppc64le,
        machine: 21,
        oci: "ppc64le",
        variant: None,
        elf_name: "ppc64",
        rust: "powerpc64",
        debian: "ppc64el",
        triplet: "powerpc64le-linux-gnu",
        ld_platform: "power8",
        musl: None,
    },
    ArchRow {
        arch: Arch::S390x,
        machine: 22,
        oci: "s390x",
        variant: None,
        elf_name: "s390",
        rust: "s390x",
        debian: "s390x",
        triplet: "s390x-linux-gnu",
        ld_platform: "z196",
        musl: None,
    },
    ArchRow {
        arch: Arch::Riscv64,
        machine: 243,
        oci: "riscv64",
        variant: None,
        elf_name: "riscv",
        rust: "riscv64",
        debian: "riscv64",
        triplet: "riscv64-linux-gnu",
        ld_platform: "riscv64",
        musl: Some("riscv64"),
    },
];

/// ELF machines kiln names in messages but builds no image for.
const OTHER_MACHINES: [(u16, &str); 3] = [(8, "mips"), (20, "ppc"), (258, "loongarch")];

impl Arch {
    /// Every architecture kiln builds for, in the order messages list them.
    pub const ALL: [Arch; 7] = [
        Arch::Amd64,
        Arch::Arm64,
        Arch::ArmV7,
        Arch::I386,
        Arch::Ppc64le,
        Arch::S390x,
        Arch::Riscv64,
    ];

    fn row(self) -> &'static ArchRow {
        ARCHES
            .iter()
            .find(|r| r.arch == self)
            .expect("every Arch has a row")
    }

    /// The architecture of an ELF `e_machine`, when kiln builds for it.
    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        ARCHES.iter().find(|r| r.machine == machine).map(|r| r.arch)
    }

    /// The architecture Rust names `name` (`std::env::consts::ARCH`).
    pub fn from_rust_name(name: &str) -> Option<Arch> {
        ARCHES.iter().find(|r| r.rust == name).map(|r| r.arch)
    }

    /// The build host's architecture. Only for choosing which image of an index to read; what
    /// kiln builds never depends on it.
    pub fn host() -> Option<Arch> {
        Arch::from_rust_name(std::env::consts::ARCH)
    }

    /// The ELF `e_machine` of the architecture's programs.
    pub fn elf_machine(self) -> u16 {
        self.row().machine
    }

    /// The OCI `architecture`.
    pub fn oci_architecture(self) -> &'static str {
        self.row().oci
    }

    /// The OCI `variant`.
    pub fn oci_variant(self) -> Option<&'static str> {
        self.row().variant
    }

    /// Debian's name of the architecture (`amd64`, `arm64`, `armhf`, `ppc64el`).
    pub fn debian_arch(self) -> &'static str {
        self.row().debian
    }

    /// The Debian multiarch triplet (`x86_64-linux-gnu`), the library directory name under `/usr/lib`.
    pub fn debian_triplet(self) -> &'static str {
        self.row().triplet
    }

    /// glibc's `$PLATFORM`.
    pub fn ld_platform(self) -> &'static str {
        self.row().ld_platform
    }

    /// musl's name in `/etc/ld-musl-ARCH.path`.
    pub fn musl_name(self) -> Option<&'static str> {
        self.row().musl
    }
}

/// How kiln names an ELF `e_machine` in messages (`x86-64`, `aarch64`, `machine 4711`).
pub fn elf_machine_name(machine: u16) -> String {
    if let Some(r) = ARCHES.iter().find(|r| r.machine == machine) {
        return r.elf_name.into();
    }
    match OTHER_MACHINES.iter().find(|(m, _)| *m == machine) {
        Some((_, name)) => (*name).into(),
        None => format!("machine {machine}"),
    }
}

/// An OCI platform kiln builds for: `linux/ARCH[/VARIANT]` (only `linux`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// The platform's CPU architecture (the OS is always `linux`).
    pub arch: Arch,
}

impl Platform {
    /// The platform of an image whose manifest names none and ships no ELF file: fixed, so a
    /// manifest gives the same digest on every build host.
    pub const DEFAULT: Platform = Platform { arch: Arch::Amd64 };

    /// Every platform kiln knows, as `parse` reads them.
    pub fn known() -> Vec<String> {
        Arch::ALL
            .iter()
            .map(|&arch| Platform { arch }.to_string())
            .collect()
    }

    /// Reads `linux/ARCH[/VARIANT]` as OCI writes it (`linux/amd64`, `linux/arm/v7`); `None` for any platform kiln does not build.
    pub fn parse(s: &str) -> Option<Platform> {
        Arch::ALL
            .iter()
            .map(|&arch| Platform { arch })
            .find(|p| p.to_string() == s)
    }

    /// The OCI `os`: always `linux`.
    pub fn os(self) -> &'static str {
        "linux"
    }

    /// The OCI `architecture` (`amd64`, `arm64`, ...).
    pub fn architecture(self) -> &'static str {
        self.arch.oci_architecture()
    }

    /// The OCI `variant` (`v7` for 32-bit Arm), if the architecture has one.
    pub fn variant(self) -> Option<&'static str> {
        self.arch.oci_variant()
    }

    /// The ELF `e_machine` of the platform's programs.
    pub fn elf_machine(self) -> u16 {
        self.arch.elf_machine()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os(), self.architecture())?;
        if let Some(v) = self.variant() {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The three layers, in the order they are stacked (least to most frequently changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// Accounts, CA bundle, time zones, os-release and directories: the files that change least.
    Base,
    /// Shared libraries the programs need (resolved closures).
    Libraries,
    /// The manifest's programs, files and trees: the files that change most.
    Application,
    /// A layer of the image this one is built on (`[image] base`): reused byte for byte, never
    /// written by kiln. Not in [`LayerKind::ALL`], the layers kiln writes.
    BaseImage,
}

impl LayerKind {
    /// The layers kiln writes, bottom to top.
    pub const ALL: [LayerKind; 3] = [
        LayerKind::Base,
        LayerKind::Libraries,
        LayerKind::Application,
    ];

    /// The layer's name, as the manifest's `layer` key and `--plan` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Base => "base",
            LayerKind::Libraries => "libraries",
            LayerKind::Application => "application",
            LayerKind::BaseImage => "base-image",
        }
    }
}

/// The x86-64 micro-architecture level the image is built for (`[image] cpu-level`): it
/// decides which `glibc-hwcaps` subdirectories the loader will search (never the build host's
/// CPU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum CpuLevel {
    /// x86-64 baseline: no glibc-hwcaps subdirectory is eligible.
    #[default]
    Baseline,
    /// x86-64-v2 (SSE4.2, POPCNT): `glibc-hwcaps/x86-64-v2` is searched.
    V2,
    /// x86-64-v3 (AVX2, FMA): `x86-64-v3` and `x86-64-v2` are searched.
    V3,
    /// x86-64-v4 (AVX-512): every `glibc-hwcaps` level is searched.
    V4,
}

impl CpuLevel {
    /// Reads the manifest's `cpu-level` (`baseline`/`x86-64`, `x86-64-v2`/`v2`, ... `v4`); `None` for anything else.
    pub fn parse(s: &str) -> Option<CpuLevel> {
        match s {
            "baseline" | "x86-64" => Some(CpuLevel::Baseline),
            "x86-64-v2" | "v2" => Some(CpuLevel::V2),
            "x86-64-v3" | "v3" => Some(CpuLevel::V3),
            "x86-64-v4" | "v4" => Some(CpuLevel::V4),
            _ => None,
        }
    }

    /// The eligible `glibc-hwcaps` subdirectories, in the loader's priority order.
    pub fn hwcaps_subdirs(self) -> Vec<&'static str> {
        let all = ["x86-64-v4", "x86-64-v3", "x86-64-v2"];
        let n = match self {
            CpuLevel::Baseline => 0,
            CpuLevel::V2 => 1,
            CpuLevel::V3 => 2,
            CpuLevel::V4 => 3,
        };
        all[3 - n..].to_vec()
    }
}

/// Which gconv converter modules ship when an object calls `iconv_open` itself (`[image]
/// gconv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gconv {
    /// The modules for `resolve::DEFAULT_GCONV` and these charsets (as the manifest's `gconv`
    /// names them: `ISO-8859-15`, an alias such as `LATIN9`, any case).
    Charsets(Vec<String>),
    /// Every module of the target's gconv directory.
    All,
}

impl Default for Gconv {
    fn default() -> Gconv {
        Gconv::Charsets(Vec::new())
    }
}

/// The kinds of `[[component]]`, as the manifest's `kind` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ComponentKind {
    /// A program or library, with its shared-library closure resolved.
    Elf,
    /// One file copied from the host, or inline `content`.
    File,
    /// A directory tree copied from the host.
    Tree,
    /// An empty directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Users and groups: `/etc/passwd` and `/etc/group`.
    Accounts,
    /// The CA certificate bundle.
    CaBundle,
    /// Time-zone data.
    Tzdata,
    /// `/etc/os-release`.
    OsRelease,
    /// The image's base image (`[image] base`), its files in their own layers.
    Base,
    /// Debian packages, from a `[[source]]` archive or the target root's dpkg database.
    Deb,
}

impl ComponentKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [ComponentKind; 11] = [
        ComponentKind::Elf,
        ComponentKind::File,
        ComponentKind::Tree,
        ComponentKind::Dir,
        ComponentKind::Symlink,
        ComponentKind::Accounts,
        ComponentKind::CaBundle,
        ComponentKind::Tzdata,
        ComponentKind::OsRelease,
        ComponentKind::Base,
        ComponentKind::Deb,
    ];

    /// Every kind's name, in [`ComponentKind::ALL`]'s order.
    pub const NAMES: [&'static str; 11] = [
        "elf",
        "file",
        "tree",
        "dir",
        "symlink",
        "accounts",
        "ca-bundle",
        "tzdata",
        "os-release",
        "base",
        "deb",
    ];

    /// The kind's name as the manifest's `kind` spells it (`ca-bundle`).
    pub fn as_str(self) -> &'static str {
        let i = ComponentKind::ALL
            .iter()
            .position(|&k| k == self)
            .expect("every kind is in ALL");
        ComponentKind::NAMES[i]
    }

    /// Reads a manifest `kind` name; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<ComponentKind> {
        let i = ComponentKind::NAMES.iter().position(|&n| n == s)?;
        Some(ComponentKind::ALL[i])
    }
}

/// Follows `path` inside an image as the kernel would: `..` and `.` resolved, every symbolic
/// link on the way followed (the last component's too when `follow_last`), absolute targets
/// from the image's root, at most 40 links. `target_of(p)` says what the image has at `p`:
/// `None` nothing, `Some(None)` something that is not a link, `Some(Some(t))` a link to `t`;
/// `on_link(p)` hears each link followed. `Ok` is the path it leads to; `Err` the path of the
/// first component that is missing, or of the link one too many.
pub fn follow_links(
    path: &str,
    follow_last: bool,
    mut target_of: impl FnMut(&str) -> Option<Option<String>>,
    mut on_link: impl FnMut(&str),
) -> Result<String, String> {
    const MAX_LINKS: usize = 40;
    let mut followed = 0;
    let mut done = String::new();
    let mut rest: std::collections::VecDeque<String> =
        path.split('/').map(str::to_string).collect();
    while let Some(part) = rest.pop_front() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                done.truncate(done.rfind('/').unwrap_or(0));
                continue;
            }
            _ => {}
        }
        let next = format!("{done}/{part}");
        let last = rest.iter().all(|p| p.is_empty() || p == ".");
        let target = target_of(&next).ok_or_else(|| next.clone())?;
        match target.filter(|_| follow_last || !last) {
            Some(target) => {
                followed += 1;
                if followed > MAX_LINKS {
                    return Err(next);
                }
                on_link(&next);
                if target.starts_with('/') {
                    done.clear();
                }
                for p in target.split('/').rev() {
                    rest.push_front(p.to_string());
                }
            }
            None => done = next,
        }
    }
    Ok(if done.is_empty() { "/".into() } else { done })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_inside_the_image_and_loops_end() {
        use std::collections::BTreeMap;
        let image: BTreeMap<&str, Option<&str>> = [
            ("/usr", None),
            ("/usr/lib", None),
            ("/usr/lib/libz.so.1.2", None),
            ("/lib", Some("usr/lib")),
            ("/usr/lib/libz.so.1", Some("/lib/libz.so.1.2")),
            ("/a", Some("b")),
            ("/b", Some("a")),
        ]
        .into_iter()
        .collect();
        let at = |p: &str| image.get(p).map(|t| t.map(str::to_string));
        let mut met = Vec::new();
        let real = follow_links("/lib/../lib/./libz.so.1", true, at, |l| {
            met.push(l.to_string())
        });
        assert_eq!(real.as_deref(), Ok("/usr/lib/libz.so.1.2"));
        // `..` after the link is taken from where the link led (/usr/lib), as the kernel does.
        assert_eq!(met, ["/lib", "/usr/lib/libz.so.1", "/lib"]);
        assert_eq!(
            follow_links("/lib/libz.so.1", false, at, |_| {}).as_deref(),
            Ok("/usr/lib/libz.so.1")
        );
        // The 41st link is /a again: the walk ends there.
        assert_eq!(follow_links("/a", true, at, |_| {}), Err("/a".to_string()));
        assert_eq!(
            follow_links("/usr/nope/x", true, at, |_| {}),
            Err("/usr/nope".to_string())
        );
    }

    #[test]
    fn one_row_per_arch_and_machine() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_elf_machine(a.elf_machine()), Some(a));
            assert_eq!(Arch::from_rust_name(a.row().rust), Some(a));
            let p = Platform { arch: a };
            assert_eq!(Platform::parse(&p.to_string()), Some(p));
        }
        assert_eq!(Arch::from_elf_machine(62), Some(Arch::Amd64));
        assert_eq!(Arch::from_elf_machine(183), Some(Arch::Arm64));
        assert_eq!(Arch::from_elf_machine(8), None);
        assert_eq!(elf_machine_name(183), "aarch64");
        assert_eq!(elf_machine_name(258), "loongarch");
        assert_eq!(elf_machine_name(4711), "machine 4711");
    }

    #[test]
    fn platforms_read_and_print_as_oci_names() {
        assert_eq!(
            Platform::known(),
            [
                "linux/amd64",
                "linux/arm64",
                "linux/arm/v7",
                "linux/386",
                "linux/ppc64le",
                "linux/s390x",
                "linux/riscv64"
            ]
        );
        assert_eq!(Platform::parse("linux/arm"), None);
        assert_eq!(Platform::DEFAULT.to_string(), "linux/amd64");
    }

    #[test]
    fn component_kinds_round_trip() {
        for k in ComponentKind::ALL {
            assert_eq!(ComponentKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ComponentKind::parse("rpm"), None);
    }

    #[test]
    fn cpu_levels_pick_hwcaps_subdirs() {
        assert!(CpuLevel::Baseline.hwcaps_subdirs().is_empty());
        assert_eq!(CpuLevel::V3.hwcaps_subdirs(), ["x86-64-v3", "x86-64-v2"]);
    }
}
