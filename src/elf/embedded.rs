//! Dependency metadata that compilers embed in ELF files.
//!
//! Owns: finding and decoding two such blobs, read from the file's bytes (nothing is
//! executed):
//! - Go's build info (`.go.buildinfo`, what `go version -m` prints): the Go version, the main
//!   package path, the main module, every dependency module with its `go.sum` hash and
//!   replacement, and the build settings ([`go_build_info`]);
//! - cargo-auditable's dependency list (`.dep-v0`, zlib-compressed JSON): every crate compiled
//!   into a Rust binary ([`rust_audit_data`]);
//!
//! and naming what they list as package URLs ([`GoModule::purl`], [`RustPackage::purl`]).
//! Does not own: deciding what to do with the lists (SBOMs, provenance).
//!
//! Invariant: hostile input gives `None` or an error value, never a panic (goblin is fenced
//! like in [`super::parse`]), and memory stays bounded: decompressed data is capped at
//! [`MAX_DECOMPRESSED`] bytes, strings at the file's size, lists at [`MAX_ITEMS`] entries.
//!
//! Gaps: Go binaries built before Go 1.18 store the build info as pointers to Go strings
//! elsewhere in the file (byte 15 of the header without the 0x2 flag); they are not decoded
//! and give `None`. Go strings are bytes: invalid UTF-8 in them is replaced (U+FFFD).

use std::fmt::{self, Write as _};
use std::io::Read;
use std::marker::PhantomData;

/// Cap on decompressed sizes (cargo-auditable's JSON).
pub const MAX_DECOMPRESSED: u64 = 16 << 20;

/// Cap on list lengths read from a file: Go modules, build settings, Rust packages and each
/// package's dependencies. Real programs have a few thousand at most.
pub const MAX_ITEMS: usize = 1 << 16;

/// Go's build-info header magic (`debug/buildinfo`).
const GO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";
/// The header's size; inline strings follow it.
const GO_HEADER: usize = 32;
/// The header is 16-byte aligned.
const GO_ALIGN: usize = 16;
/// How far into the data segment Go looks for the header when there is no section for it.
const GO_SCAN: usize = 64 * 1024;
/// Header byte 15: strings follow the header inline (Go ≥ 1.18).
const GO_FLAG_INLINE: u8 = 0x2;
/// Each end of the module info is framed by a 16-byte sentinel.
const GO_SENTINEL: usize = 16;

/// What a Go binary says about how it was built (`go version -m`, `debug.BuildInfo`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GoBuildInfo {
    /// The toolchain, e.g. `go1.19.8`.
    pub go_version: String,
    /// The main package's import path (empty when the binary has no module info).
    pub path: String,
    /// The main module (empty path when built outside module mode).
    pub main: GoModule,
    /// Every module the binary's packages come from, in the order Go lists them.
    pub deps: Vec<GoModule>,
    /// Build settings (`-compiler=gc`, `CGO_ENABLED=0`, `GOOS=linux`, ...), in order, unquoted.
    pub settings: Vec<(String, String)>,
}

/// One Go module as the build info names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GoModule {
    /// Module path, e.g. `golang.org/x/text`; for a replacement, possibly a directory
    /// (`../lib`).
    pub path: String,
    /// e.g. `v0.3.7`, or `(devel)` for the main module and directory replacements.
    pub version: String,
    /// The `go.sum` hash (`h1:...`) when the module came from a module proxy or cache.
    pub sum: Option<String>,
    /// What `go.mod` replaced this module with (`=>`).
    pub replaced_by: Option<Box<GoModule>>,
}

impl GoModule {
    /// The package URL `pkg:golang/PATH@VERSION` of this module as named (not of its
    /// replacement: see [`GoModule::replaced_by`]).
    ///
    /// The module path's last element is the name and the elements before it the namespace;
    /// each element is percent-encoded (everything but ASCII letters, digits and `-._~:`, so
    /// `+incompatible` becomes `%2Bincompatible`). Case is kept: the purl-spec asks for
    /// lower case, but Go module paths are case-sensitive (`github.com/Sirupsen/logrus` and
    /// `github.com/sirupsen/logrus` are different modules), and Go's own tools keep it. A
    /// `(devel)` or empty version gives no `@VERSION` part. A directory replacement's path
    /// (`../lib`) gives a purl that names no published package.
    pub fn purl(&self) -> String {
        let mut out = String::from("pkg:golang/");
        for (i, element) in self.path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            purl_encode(element, &mut out);
        }
        if !self.version.is_empty() && self.version != "(devel)" {
            out.push('@');
            purl_encode(&self.version, &mut out);
        }
        out
    }
}

/// The crates compiled into a Rust binary, as cargo-auditable recorded them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RustDeps {
    pub packages: Vec<RustPackage>,
}

/// One crate of [`RustDeps`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RustPackage {
    pub name: String,
    pub version: String,
    /// Where the crate came from: `crates.io`, `local` (a path or workspace crate), `git`,
    /// `registry` (another registry), or another word a newer cargo-auditable writes.
    pub source: String,
    /// Indices into [`RustDeps::packages`] (checked: every index is in range).
    #[serde(default, deserialize_with = "bounded_indices")]
    pub dependencies: Vec<usize>,
    /// The crate the binary was built from.
    #[serde(default)]
    pub root: bool,
    /// `build` for crates only used by build scripts and proc-macros; absent (`None`) for
    /// runtime crates, as cargo-auditable writes it.
    #[serde(default)]
    pub kind: Option<String>,
}

impl RustPackage {
    /// Whether cargo-auditable marks the crate `kind: build`: compiled only into build scripts
    /// and proc-macros, so none of its code is in the binary. Any other kind (cargo-auditable
    /// writes none for runtime crates) is runtime.
    pub fn is_build_only(&self) -> bool {
        self.kind.as_deref() == Some("build")
    }

    /// The package URL `pkg:cargo/NAME@VERSION` (percent-encoded like [`GoModule::purl`], so
    /// build metadata `+x` becomes `%2Bx`). Crates from `local`, `git` or another `registry`
    /// get the same form without a `repository_url` qualifier: the audit data does not say
    /// which repository, so the purl names the crate, not where it was fetched from.
    pub fn purl(&self) -> String {
        let mut out = String::from("pkg:cargo/");
        purl_encode(&self.name, &mut out);
        if !self.version.is_empty() {
            out.push('@');
            purl_encode(&self.version, &mut out);
        }
        out
    }
}

impl GoBuildInfo {
    /// The Go standard library compiled into the binary, named the way syft names it
    /// (`anchore/syft:syft/pkg/cataloger/golang/stdlib_package.go`) so scanners match its CVEs:
    /// name `stdlib`, version the toolchain's (`go1.19.8`), purl `pkg:golang/stdlib@1.19.8`
    /// (without `go`), CPE `cpe:2.3:a:golang:go:1.19.8:-:*:*:*:*:*:*`. A version with
    /// experiments (`go1.21.0 X:loopvar`) is cut at the space; `None` for a development
    /// toolchain (`devel ...`), which names no release.
    pub fn stdlib(&self) -> Option<GoStdlib> {
        let version = self.go_version.split(' ').next()?.strip_prefix("go")?;
        if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let mut purl = String::from("pkg:golang/stdlib@");
        purl_encode(version, &mut purl);
        // CPE 2.3 formatted string: the version only when it is a plain release number.
        let plain = version.chars().all(|c| c.is_ascii_digit() || c == '.');
        Some(GoStdlib {
            version: format!("go{version}"),
            purl,
            cpe: plain.then(|| format!("cpe:2.3:a:golang:go:{version}:-:*:*:*:*:*:*")),
        })
    }
}

/// The Go standard library of one binary, as an SBOM package ([`GoBuildInfo::stdlib`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoStdlib {
    /// e.g. `go1.19.8`.
    pub version: String,
    /// e.g. `pkg:golang/stdlib@1.19.8`.
    pub purl: String,
    /// e.g. `cpe:2.3:a:golang:go:1.19.8:-:*:*:*:*:*:*`, for a plain release number only.
    pub cpe: Option<String>,
}

/// Whether `elf_bytes` is a program rustc linked: its `.comment` section says
/// `rustc version ...` (rustc writes it into every object; `strip` keeps it), or, when that
/// section was removed, a symbol of Rust's runtime (`rust_begin_unwind`, `__rust_*`) is in
/// the symbol tables. A C program has neither; a C program linking a Rust static library is
/// Rust in this sense (its crates are in it).
pub fn is_rust_program(elf_bytes: &[u8]) -> bool {
    let Some(elf) = parse_elf(elf_bytes) else {
        return false;
    };
    if let Some(Ok(comment)) = section(&elf, elf_bytes, ".comment") {
        if comment
            .windows(RUSTC_COMMENT.len())
            .any(|w| w == RUSTC_COMMENT)
        {
            return true;
        }
    }
    let rusty = |name: Option<&str>| {
        name.is_some_and(|n| n == "rust_begin_unwind" || n.starts_with("__rust_"))
    };
    elf.syms.iter().any(|s| rusty(elf.strtab.get_at(s.st_name)))
        || elf
            .dynsyms
            .iter()
            .any(|s| rusty(elf.dynstrtab.get_at(s.st_name)))
}

/// What rustc writes into `.comment`.
const RUSTC_COMMENT: &[u8] = b"rustc version ";

/// Percent-encodes `s` onto `out` the way package URLs want a namespace element, name or
/// version: ASCII letters, digits and `-._~:` stay, every other byte becomes `%XX`.
fn purl_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Parses `bytes` as ELF, turning goblin's errors and panics into `None`.
fn parse_elf(bytes: &[u8]) -> Option<goblin::elf::Elf<'_>> {
    if bytes.len() < 4 || &bytes[..4] != super::MAGIC {
        return None;
    }
    super::catch_quietly(|| goblin::elf::Elf::parse(bytes).ok())
        .ok()
        .flatten()
}

/// The file bytes of the section called `name`: `None` when there is no such section,
/// `Some(Err)` when its header points outside the file or it has no bytes in the file.
fn section<'a>(
    elf: &goblin::elf::Elf<'_>,
    bytes: &'a [u8],
    name: &str,
) -> Option<Result<&'a [u8], String>> {
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))?;
    if sh.sh_type == goblin::elf::section_header::SHT_NOBITS {
        return Some(Err(format!("section {name} has no bytes in the file")));
    }
    Some(file_slice(bytes, sh.sh_offset, sh.sh_size).ok_or_else(|| {
        format!(
            "section {name} (offset {}, size {}) lies outside the file ({} bytes)",
            sh.sh_offset,
            sh.sh_size,
            bytes.len()
        )
    }))
}

/// `bytes[offset..offset + size]`, `None` when out of range (no overflow).
fn file_slice(bytes: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    bytes.get(start..end)
}

/// Reads the build info of a Go binary (what `go version -m` prints), or `None` when
/// `elf_bytes` is not an ELF file with readable Go ≥ 1.18 build info.
///
/// The blob is the section `.go.buildinfo`; a file without section headers is searched like
/// Go does it: the first 64 KiB of the first writable, non-executable PT_LOAD segment, at
/// 16-byte aligned offsets. (Go also searches there when the section headers name no
/// `.go.buildinfo`; this gives `None` then: every Go ≥ 1.18 ELF linker writes the section.) Module info that Go's own parser would reject (wrong column
/// counts, a replacement without a module, bad quoting) gives `None` too; a binary without
/// module info (built outside module mode) gives only [`GoBuildInfo::go_version`].
pub fn go_build_info(elf_bytes: &[u8]) -> Option<GoBuildInfo> {
    let elf = parse_elf(elf_bytes)?;
    let blob = if elf.section_headers.is_empty() {
        let segment = elf.program_headers.iter().find(|ph| {
            use goblin::elf::program_header::{PF_W, PF_X, PT_LOAD};
            ph.p_type == PT_LOAD && ph.p_flags & (PF_W | PF_X) == PF_W
        })?;
        let data = file_slice(elf_bytes, segment.p_offset, segment.p_filesz)?;
        &data[find_go_header(&data[..data.len().min(GO_SCAN)])?..]
    } else {
        section(&elf, elf_bytes, ".go.buildinfo")?.ok()?
    };
    decode_go_blob(blob)
}

/// The offset of the first 16-byte aligned build-info header in `data`.
fn find_go_header(data: &[u8]) -> Option<usize> {
    (0..data.len().saturating_sub(GO_HEADER - 1))
        .step_by(GO_ALIGN)
        .find(|&i| data[i..].starts_with(GO_MAGIC))
}

/// Decodes a blob that starts with the build-info header.
fn decode_go_blob(blob: &[u8]) -> Option<GoBuildInfo> {
    if blob.len() < GO_HEADER || !blob.starts_with(GO_MAGIC) {
        return None;
    }
    if blob[15] & GO_FLAG_INLINE == 0 {
        return None; // Go < 1.18: pointers to strings elsewhere (not supported)
    }
    let (version, rest) = go_string(&blob[GO_HEADER..])?;
    if version.is_empty() {
        return None;
    }
    // Like Go: module info that does not decode, or is not framed, is empty.
    let modinfo = match go_string(rest) {
        Some((m, _)) if m.len() > 2 * GO_SENTINEL && m[m.len() - GO_SENTINEL - 1] == b'\n' => {
            &m[GO_SENTINEL..m.len() - GO_SENTINEL]
        }
        _ => &[][..],
    };
    let mut info = parse_modinfo(&String::from_utf8_lossy(modinfo))?;
    info.go_version = String::from_utf8_lossy(version).into_owned();
    Some(info)
}

/// An unsigned LEB128 varint as Go's `binary.Uvarint` reads it: the value and the bytes
/// used, `None` when truncated or over 64 bits.
fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        if b < 0x80 {
            if i == 9 && b > 1 {
                return None;
            }
            return Some((value | u64::from(b) << (7 * i), i + 1));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
    }
    None
}

/// A varint-length-prefixed string at the start of `data`, and what follows it.
fn go_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = uvarint(data)?;
    let rest = &data[used..];
    let len = usize::try_from(len).ok().filter(|&l| l <= rest.len())?;
    Some(rest.split_at(len))
}

/// Which module a `=>` line replaces.
enum Last {
    None,
    Main,
    Dep(usize),
}

/// Parses Go's module info text like `runtime/debug.ParseBuildInfo` (Go 1.19), with the
/// same rejections; `None` for what Go rejects or past [`MAX_ITEMS`] modules or settings.
fn parse_modinfo(text: &str) -> Option<GoBuildInfo> {
    let mut info = GoBuildInfo {
        go_version: String::new(),
        path: String::new(),
        main: module("", "", None),
        deps: Vec::new(),
        settings: Vec::new(),
    };
    let mut last = Last::None;
    // Go ignores whatever follows the last newline.
    let mut lines = text.split('\n');
    lines.next_back();
    for line in lines {
        if let Some(path) = line.strip_prefix("path\t") {
            info.path = path.to_string();
        } else if let Some(cols) = line.strip_prefix("mod\t") {
            info.main = module_line(cols)?;
            last = Last::Main;
        } else if let Some(cols) = line.strip_prefix("dep\t") {
            if info.deps.len() >= MAX_ITEMS {
                return None;
            }
            info.deps.push(module_line(cols)?);
            last = Last::Dep(info.deps.len() - 1);
        } else if let Some(cols) = line.strip_prefix("=>\t") {
            let cols: Vec<&str> = cols.splitn(4, '\t').collect();
            let [path, version, sum] = cols[..] else {
                return None;
            };
            let target = match std::mem::replace(&mut last, Last::None) {
                Last::None => return None,
                Last::Main => &mut info.main,
                Last::Dep(i) => info.deps.get_mut(i)?,
            };
            target.replaced_by = Some(Box::new(module(path, version, Some(sum))));
        } else if let Some(kv) = line.strip_prefix("build\t") {
            if info.settings.len() >= MAX_ITEMS {
                return None;
            }
            info.settings.push(build_setting(kv)?);
        }
    }
    Some(info)
}

fn module(path: &str, version: &str, sum: Option<&str>) -> GoModule {
    GoModule {
        path: path.to_string(),
        version: version.to_string(),
        sum: sum.filter(|s| !s.is_empty()).map(str::to_string),
        replaced_by: None,
    }
}

/// `PATH\tVERSION[\tSUM]`.
fn module_line(cols: &str) -> Option<GoModule> {
    let cols: Vec<&str> = cols.splitn(4, '\t').collect();
    match cols[..] {
        [path, version] => Some(module(path, version, None)),
        [path, version, sum] => Some(module(path, version, Some(sum))),
        _ => None,
    }
}

/// `KEY=VALUE`, either side possibly Go-quoted.
fn build_setting(kv: &str) -> Option<(String, String)> {
    let (key, raw_value) = match kv.as_bytes().first()? {
        b'=' => return None,
        b'"' | b'`' => {
            let (key, used) = go_unquote_prefix(kv)?;
            (key, kv[used..].strip_prefix('=')?)
        }
        _ => {
            let (key, value) = kv.split_once('=')?;
            if needs_quotes(key, "= \t\r\n\"`") {
                return None;
            }
            (key.to_string(), value)
        }
    };
    let value = match raw_value.as_bytes().first() {
        Some(b'"' | b'`') => match go_unquote_prefix(raw_value)? {
            (value, used) if used == raw_value.len() => value,
            _ => return None,
        },
        _ if needs_quotes(raw_value, " \t\r\n\"`") && !raw_value.is_empty() => return None,
        _ => raw_value.to_string(),
    };
    Some((key, value))
}

fn needs_quotes(s: &str, special: &str) -> bool {
    s.is_empty() || s.contains(|c| special.contains(c))
}

/// Decodes the Go string literal (`"..."` with escapes, or `` `...` `` raw) at the start of
/// `s`: its value and the bytes it used. Invalid UTF-8 from `\x` escapes is replaced.
fn go_unquote_prefix(s: &str) -> Option<(String, usize)> {
    let bytes = s.as_bytes();
    match *bytes.first()? {
        b'`' => {
            let end = s[1..].find('`')? + 1;
            Some((s[1..end].replace('\r', ""), end + 1))
        }
        b'"' => {
            let mut out = Vec::new();
            let mut i = 1;
            loop {
                match *bytes.get(i)? {
                    b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
                    b'\n' => return None,
                    b'\\' => i += go_escape(&bytes[i + 1..], &mut out)? + 1,
                    b => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
        }
        _ => None,
    }
}

/// One escape after a backslash in a double-quoted Go string: appends its bytes to `out` and
/// returns the bytes it used.
fn go_escape(s: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let hex = |digits: &[u8]| -> Option<u32> {
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let byte = match *s.first()? {
        b'a' => 0x07,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'v' => 0x0b,
        b'\\' => b'\\',
        b'"' => b'"',
        b'x' => {
            let digits = s.get(1..3)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::try_from(hex(digits)?).ok()?);
            return Some(3);
        }
        b'0'..=b'7' => {
            let digits = s.get(0..3)?;
            if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                return None;
            }
            let v = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(v).ok()?);
            return Some(3);
        }
        c @ (b'u' | b'U') => {
            let n = if c == b'u' { 4 } else { 8 };
            let digits = s.get(1..1 + n)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let ch = char::from_u32(hex(digits)?)?;
            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            return Some(1 + n);
        }
        _ => return None,
    };
    out.push(byte);
    Some(1)
}

/// Reads the cargo-auditable dependency list of a Rust binary: `None` when `elf_bytes` is not
/// ELF or has no `.dep-v0` section, `Some(Err)` naming the problem when the section is there
/// but does not decompress within [`MAX_DECOMPRESSED`] bytes, is not the expected JSON, lists
/// more than [`MAX_ITEMS`] crates or dependencies of one crate, or has a dependency index out
/// of range.
///
/// The JSON's `format` field (1 today, absent in older versions) is not checked: fields this
/// reader does not know are ignored.
pub fn rust_audit_data(elf_bytes: &[u8]) -> Option<Result<RustDeps, String>> {
    let elf = parse_elf(elf_bytes)?;
    let compressed = section(&elf, elf_bytes, ".dep-v0")?;
    Some(compressed.and_then(decode_audit_data))
}

/// Decompresses and checks cargo-auditable's section contents.
fn decode_audit_data(compressed: &[u8]) -> Result<RustDeps, String> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("section .dep-v0 is not zlib data: {e}"))?;
    if json.len() as u64 > MAX_DECOMPRESSED {
        return Err(format!(
            "section .dep-v0 decompresses to more than {} MiB",
            MAX_DECOMPRESSED >> 20
        ));
    }
    let raw: RawAuditData = serde_json::from_slice(&json)
        .map_err(|e| format!("section .dep-v0 is not cargo-auditable JSON: {e}"))?;
    let count = raw.packages.len();
    for p in &raw.packages {
        if let Some(bad) = p.dependencies.iter().find(|&&i| i >= count) {
            return Err(format!(
                "section .dep-v0: crate {} {} depends on package #{bad}, but there are only {count}",
                p.name, p.version
            ));
        }
    }
    Ok(RustDeps {
        packages: raw.packages,
    })
}

/// The top level of cargo-auditable's JSON.
#[derive(serde::Deserialize)]
struct RawAuditData {
    #[serde(deserialize_with = "bounded_packages")]
    packages: Vec<RustPackage>,
}

fn bounded_packages<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RustPackage>, D::Error> {
    d.deserialize_seq(BoundedSeq(PhantomData))
}

fn bounded_indices<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    d.deserialize_seq(BoundedSeq(PhantomData))
}

/// Deserialises a list of at most [`MAX_ITEMS`] elements, failing as soon as there are more
/// (before allocating for them).
struct BoundedSeq<T>(PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for BoundedSeq<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {MAX_ITEMS} elements")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            if items.len() == MAX_ITEMS {
                return Err(serde::de::Error::custom(format!(
                    "more than {MAX_ITEMS} elements"
                )));
            }
            items.push(item);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Go's module info sentinels (`cmd/go/internal/modload.infoStart`/`infoEnd`).
    const START: &[u8; 16] = b"\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";
    const END: &[u8; 16] = b"\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2";

    const MODINFO: &str = "path\texample.com/app\n\
        mod\texample.com/app\t(devel)\t\n\
        dep\texample.com/liba\tv1.2.3\n\
        =>\t../liba\t(devel)\t\n\
        dep\texample.com/libc\tv1.4.0+incompatible\th1:abc=\n\
        build\t-compiler=gc\n\
        build\t-ldflags=\"-s -w \\\"q\\\" \\u00e9\\x41\\101\"\n\
        build\t\"odd key\"=`raw v`\n\
        build\tCGO_ENABLED=\n";

    fn varint(mut n: u64, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    /// A Go ≥ 1.18 build-info blob with inline strings.
    fn go_blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = GO_MAGIC.to_vec();
        b.extend_from_slice(&[8, GO_FLAG_INLINE]);
        b.resize(GO_HEADER, 0);
        varint(version.len() as u64, &mut b);
        b.extend_from_slice(version.as_bytes());
        let mut framed = START.to_vec();
        framed.extend_from_slice(modinfo.as_bytes());
        framed.extend_from_slice(END);
        varint(framed.len() as u64, &mut b);
        b.extend_from_slice(&framed);
        b
    }

    /// A minimal little-endian ELF64 executable with the given sections (no section headers
    /// at all when `sections` is empty) and, when given, one writable PT_LOAD segment.
    fn elf(sections: &[(&str, &[u8])], segment: Option<&[u8]>) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        let phnum = usize::from(segment.is_some());
        f.resize(64 + 56 * phnum, 0);
        let align = |f: &mut Vec<u8>| f.resize(f.len().next_multiple_of(16), 0);
        let mut placed = Vec::new();
        for (name, data) in sections {
            align(&mut f);
            placed.push((*name, f.len(), data.len()));
            f.extend_from_slice(data);
        }
        if let Some(data) = segment {
            align(&mut f);
            let off = f.len() as u64;
            let mut ph = Vec::new();
            ph.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
            ph.extend_from_slice(&6u32.to_le_bytes()); // PF_R | PF_W
            for v in [off, 0x40_0000 + off, 0x40_0000 + off] {
                ph.extend_from_slice(&v.to_le_bytes());
            }
            for v in [data.len() as u64, data.len() as u64, 0x1000] {
                ph.extend_from_slice(&v.to_le_bytes());
            }
            f[64..120].copy_from_slice(&ph);
            f.extend_from_slice(data);
        }
        let (shoff, shnum, shstrndx) = if sections.is_empty() {
            (0u64, 0u16, 0u16)
        } else {
            let mut strtab = vec![0u8];
            let mut names = Vec::new();
            for (name, _, _) in &placed {
                names.push(strtab.len() as u32);
                strtab.extend_from_slice(name.as_bytes());
                strtab.push(0);
            }
            let shstrtab_name = strtab.len() as u32;
            strtab.extend_from_slice(b".shstrtab\0");
            let strtab_off = f.len();
            f.extend_from_slice(&strtab);
            align(&mut f);
            let shoff = f.len() as u64;
            let header = |f: &mut Vec<u8>, name: u32, ty: u32, off: usize, size: usize| {
                f.extend_from_slice(&name.to_le_bytes());
                f.extend_from_slice(&ty.to_le_bytes());
                for v in [0u64, 0, off as u64, size as u64] {
                    f.extend_from_slice(&v.to_le_bytes());
                }
                f.extend_from_slice(&[0; 8]);
                f.extend_from_slice(&1u64.to_le_bytes());
                f.extend_from_slice(&0u64.to_le_bytes());
            };
            header(&mut f, 0, 0, 0, 0);
            for ((_, off, size), name) in placed.iter().zip(&names) {
                header(&mut f, *name, 1, *off, *size); // SHT_PROGBITS
            }
            header(&mut f, shstrtab_name, 3, strtab_off, strtab.len()); // SHT_STRTAB
            let n = placed.len() as u16 + 2;
            (shoff, n, n - 1)
        };
        f[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        f[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        let phoff: u64 = if phnum > 0 { 64 } else { 0 };
        f[32..40].copy_from_slice(&phoff.to_le_bytes());
        f[40..48].copy_from_slice(&shoff.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&shnum.to_le_bytes());
        f[62..64].copy_from_slice(&shstrndx.to_le_bytes());
        f
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn expected_go() -> GoBuildInfo {
        let mut liba = module("example.com/liba", "v1.2.3", None);
        liba.replaced_by = Some(Box::new(module("../liba", "(devel)", None)));
        GoBuildInfo {
            go_version: "go1.19.8".into(),
            path: "example.com/app".into(),
            main: module("example.com/app", "(devel)", None),
            deps: vec![
                liba,
                module("example.com/libc", "v1.4.0+incompatible", Some("h1:abc=")),
            ],
            settings: vec![
                ("-compiler".into(), "gc".into()),
                ("-ldflags".into(), "-s -w \"q\" éAA".into()),
                ("odd key".into(), "raw v".into()),
                ("CGO_ENABLED".into(), String::new()),
            ],
        }
    }

    #[test]
    fn reads_go_build_info_from_the_section() {
        let file = elf(
            &[
                (".text", b"\xc3"),
                (".go.buildinfo", &go_blob("go1.19.8", MODINFO)),
            ],
            None,
        );
        assert_eq!(go_build_info(&file), Some(expected_go()));
    }

    #[test]
    fn scans_the_data_segment_without_section_headers() {
        let mut data = vec![0u8; 40];
        data.extend_from_slice(GO_MAGIC); // unaligned: skipped
        data.resize(96, 0);
        data.extend_from_slice(&go_blob("go1.19.8", MODINFO));
        let file = elf(&[], Some(&data));
        assert_eq!(go_build_info(&file), Some(expected_go()));
        // Only aligned headers count.
        let mut shifted = vec![0u8; 8];
        shifted.extend_from_slice(&go_blob("go1.19.8", MODINFO));
        assert_eq!(go_build_info(&elf(&[], Some(&shifted))), None);
    }

    #[test]
    fn modinfo_without_framing_is_empty_and_old_formats_are_none() {
        let mut blob = go_blob("go1.20", "");
        let info = go_build_info(&elf(&[(".go.buildinfo", &blob)], None)).unwrap();
        assert_eq!(info.go_version, "go1.20");
        assert_eq!(info.path, "");
        assert!(info.deps.is_empty() && info.settings.is_empty());
        blob[15] = 0; // pointer format
        assert_eq!(go_build_info(&elf(&[(".go.buildinfo", &blob)], None)), None);
        assert_eq!(
            go_build_info(&elf(&[(".go.buildinfo", &go_blob("", MODINFO))], None)),
            None
        );
        assert_eq!(go_build_info(&elf(&[(".text", b"x")], None)), None);
    }

    #[test]
    fn truncated_and_garbage_go_blobs_give_none_without_panicking() {
        let blob = go_blob("go1.19.8", MODINFO);
        for len in 0..blob.len() {
            let file = elf(&[(".go.buildinfo", &blob[..len])], None);
            let info = go_build_info(&file);
            if len < GO_HEADER + 9 {
                assert_eq!(info, None, "{len}");
            }
            let _ = go_build_info(&file[..file.len() * len / blob.len()]);
        }
        let mut junk = blob.clone();
        for (i, b) in junk.iter_mut().enumerate().skip(16) {
            *b = (i * 7919 % 251) as u8;
        }
        let _ = go_build_info(&elf(&[(".go.buildinfo", &junk)], None));
        assert_eq!(go_build_info(b""), None);
        assert_eq!(go_build_info(b"\x7fELF"), None);
        assert_eq!(go_build_info(&[0xff; 4096]), None);
    }

    #[test]
    fn huge_varints_are_rejected() {
        assert_eq!(uvarint(&[0xff; 10]), None);
        assert_eq!(uvarint(&[0xff; 11]), None);
        assert_eq!(
            uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Some((u64::MAX, 10))
        );
        assert_eq!(uvarint(&[0x80, 0x80]), None);
        assert_eq!(uvarint(&[]), None);
        assert_eq!(uvarint(&[0xac, 0x02]), Some((300, 2)));
        let mut blob = GO_MAGIC.to_vec();
        blob.extend_from_slice(&[8, GO_FLAG_INLINE]);
        blob.resize(GO_HEADER, 0);
        for len in [u64::MAX, 1 << 62, 1 << 40, 1000] {
            let mut b = blob.clone();
            varint(len, &mut b);
            b.extend_from_slice(b"go1.19");
            assert_eq!(go_build_info(&elf(&[(".go.buildinfo", &b)], None)), None);
        }
    }

    #[test]
    fn modinfo_that_go_rejects_is_none() {
        for bad in [
            "=>\tx\tv1\t\n",                          // replacement with no module
            "dep\ta\n",                               // too few columns
            "dep\ta\tb\tc\td\n",                      // too many columns
            "dep\ta\tv1\n=>\tb\tv2\n",                // replacement with 2 columns
            "dep\ta\tv1\n=>\tb\tv2\t\n=>\tc\tv3\t\n", // two replacements
            "build\t\n",
            "build\t=x\n",
            "build\tkey\n",
            "build\tk y=v\n",
            "build\tk=v w\n",
            "build\t\"k=v\n",
            "build\t\"k\"v\n",
            "build\tk=\"v\"x\n",
            "build\tk=\"\\q\"\n",
            "build\tk=\"\\400\"\n",
            "build\tk=\"\\ud800\"\n",
            "build\tk=\"\\x4\"\n",
        ] {
            assert_eq!(parse_modinfo(bad), None, "{bad:?}");
        }
        // Unknown lines and an unterminated last line are ignored, like Go.
        let info = parse_modinfo("go\tgo1.22\nfoo\tbar\npath\tp\npath\tq").unwrap();
        assert_eq!(info.path, "p");
    }

    #[test]
    fn too_many_modules_is_none() {
        let many = "dep\ta\tv1\n".repeat(MAX_ITEMS + 1);
        assert_eq!(parse_modinfo(&many), None);
        assert_eq!(
            parse_modinfo(&"dep\ta\tv1\n".repeat(MAX_ITEMS)).map(|i| i.deps.len()),
            Some(MAX_ITEMS)
        );
    }

    #[test]
    fn go_purls() {
        let mut m = module("github.com/Sirupsen/logrus", "v1.0.0+incompatible", None);
        assert_eq!(
            m.purl(),
            "pkg:golang/github.com/Sirupsen/logrus@v1.0.0%2Bincompatible"
        );
        m.version = "(devel)".into();
        assert_eq!(m.purl(), "pkg:golang/github.com/Sirupsen/logrus");
        assert_eq!(
            module("golang.org/x/text", "v0.3.7", None).purl(),
            "pkg:golang/golang.org/x/text@v0.3.7"
        );
        assert_eq!(module("std", "", None).purl(), "pkg:golang/std");
        assert_eq!(
            module("example.com/a b", "v1", None).purl(),
            "pkg:golang/example.com/a%20b@v1"
        );
    }

    #[test]
    fn go_stdlib_is_named_as_syft_names_it() {
        let mut info = expected_go();
        let std = |info: &GoBuildInfo| info.stdlib();
        info.go_version = "go1.19.8".into();
        assert_eq!(
            std(&info),
            Some(GoStdlib {
                version: "go1.19.8".into(),
                purl: "pkg:golang/stdlib@1.19.8".into(),
                cpe: Some("cpe:2.3:a:golang:go:1.19.8:-:*:*:*:*:*:*".into()),
            })
        );
        info.go_version = "go1.21.0 X:loopvar".into();
        assert_eq!(std(&info).unwrap().purl, "pkg:golang/stdlib@1.21.0");
        info.go_version = "go1.22rc1".into();
        let rc = std(&info).unwrap();
        assert_eq!(
            (rc.purl.as_str(), rc.cpe),
            ("pkg:golang/stdlib@1.22rc1", None)
        );
        for none in ["devel go1.23-abcdef", "go", "gox", ""] {
            info.go_version = none.into();
            assert_eq!(std(&info), None, "{none:?}");
        }
    }

    #[test]
    fn rust_programs_are_known_by_rustc_comment_or_runtime_symbols() {
        let rustc = b"\0rustc version 1.95.0 (59807616e 2026-04-14)\0GCC: (Debian 12.2.0) 12.2.0\0";
        assert!(is_rust_program(&elf(&[(".comment", rustc)], None)));
        let gcc = b"\0GCC: (Debian 12.2.0-14+deb12u1) 12.2.0\0";
        assert!(!is_rust_program(&elf(&[(".comment", gcc)], None)));
        assert!(!is_rust_program(&elf(&[], None)));
        assert!(!is_rust_program(b"not an ELF file"));
    }

    fn package(
        name: &str,
        version: &str,
        source: &str,
        deps: Vec<usize>,
        root: bool,
    ) -> RustPackage {
        RustPackage {
            name: name.into(),
            version: version.into(),
            source: source.into(),
            dependencies: deps,
            root,
            kind: None,
        }
    }

    #[test]
    fn reads_cargo_auditable_data() {
        let json = br#"{"packages":[
            {"name":"app","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},
            {"name":"itoa","version":"1.0.19","source":"crates.io"},
            {"name":"cc","version":"1.2.0+x","source":"registry","kind":"build","extra":1}
        ],"format":1}"#;
        let file = elf(&[(".dep-v0", &zlib(json))], None);
        let deps = rust_audit_data(&file).unwrap().unwrap();
        let mut cc = package("cc", "1.2.0+x", "registry", vec![], false);
        cc.kind = Some("build".into());
        assert_eq!(
            deps.packages,
            vec![
                package("app", "0.1.0", "local", vec![1, 2], true),
                package("itoa", "1.0.19", "crates.io", vec![], false),
                cc,
            ]
        );
        assert_eq!(deps.packages[1].purl(), "pkg:cargo/itoa@1.0.19");
        assert_eq!(deps.packages[2].purl(), "pkg:cargo/cc@1.2.0%2Bx");
        assert_eq!(rust_audit_data(&elf(&[(".text", b"x")], None)), None);
        assert_eq!(rust_audit_data(b"not elf"), None);
    }

    #[test]
    fn bad_audit_data_is_an_error() {
        let err = |section: &[u8]| {
            rust_audit_data(&elf(&[(".dep-v0", section)], None))
                .unwrap()
                .unwrap_err()
        };
        let out_of_range =
            br#"{"packages":[{"name":"a","version":"1","source":"local","dependencies":[1]}]}"#;
        assert!(
            err(&zlib(out_of_range)).contains("only 1"),
            "{}",
            err(&zlib(out_of_range))
        );
        assert!(err(b"garbage").contains("not zlib"));
        assert!(err(&zlib(b"{\"packages\":5}")).contains("not cargo-auditable JSON"));
        assert!(err(&zlib(b"[1,2")).contains("not cargo-auditable JSON"));
        let huge_index = br#"{"packages":[{"name":"a","version":"1","source":"x","dependencies":[18446744073709551616]}]}"#;
        let _ = err(&zlib(huge_index));
        let full = zlib(out_of_range);
        for len in 0..full.len() {
            assert!(rust_audit_data(&elf(&[(".dep-v0", &full[..len])], None))
                .unwrap()
                .is_err());
        }
    }

    #[test]
    fn zip_bombs_stop_at_the_cap() {
        // 17 MiB of zeros compresses to ~17 KiB.
        let bomb = zlib(&vec![0u8; (MAX_DECOMPRESSED + (1 << 20)) as usize]);
        assert!(bomb.len() < 64 << 10);
        let e = rust_audit_data(&elf(&[(".dep-v0", &bomb)], None))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("more than 16 MiB"), "{e}");
    }

    #[test]
    fn too_many_packages_or_indices_are_errors() {
        let mut json = String::from(r#"{"packages":["#);
        for i in 0..=MAX_ITEMS {
            if i > 0 {
                json.push(',');
            }
            json.push_str(r#"{"name":"a","version":"1","source":"x"}"#);
        }
        json.push_str("]}");
        let e = decode_audit_data(&zlib(json.as_bytes())).unwrap_err();
        assert!(e.contains("more than 65536"), "{e}");
        let indices = vec!["0"; MAX_ITEMS + 1].join(",");
        let json = format!(
            r#"{{"packages":[{{"name":"a","version":"1","source":"x","dependencies":[{indices}]}}]}}"#
        );
        let e = decode_audit_data(&zlib(json.as_bytes())).unwrap_err();
        assert!(e.contains("more than 65536"), "{e}");
    }

    #[test]
    fn sections_outside_the_file_are_errors() {
        /// Sets the file offset of the second section header (the first one named).
        fn move_first_section(file: &mut [u8], offset: u64) {
            let shoff = u64::from_le_bytes(file[40..48].try_into().unwrap()) as usize;
            let at = shoff + 64 + 24;
            file[at..at + 8].copy_from_slice(&offset.to_le_bytes());
        }
        let mut file = elf(&[(".dep-v0", &zlib(b"{}"))], None);
        move_first_section(&mut file, u64::MAX);
        let e = rust_audit_data(&file).unwrap().unwrap_err();
        assert!(e.contains("outside the file"), "{e}");
        let mut go = elf(&[(".go.buildinfo", &go_blob("go1.19.8", MODINFO))], None);
        for offset in [1u64 << 40, u64::MAX, go.len() as u64 - 8] {
            move_first_section(&mut go, offset);
            assert_eq!(go_build_info(&go), None);
        }
    }
}
