//! What one ELF file says about loading it, behind a small facade over goblin.
//!
//! Owns: recognising ELF files, and extracting class, machine, OS ABI, type, PT_INTERP,
//! DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH, and the signs that the file runs other
//! programs (its undefined `system`/`popen`/`exec*`/`posix_spawn*` symbols, a `/bin/sh`
//! string in `.rodata`, Go's `os/exec` in `.gopclntab`). Malformed input is an error, never a panic
//! (goblin is additionally fenced with `catch_unwind`) and never an unbounded allocation.
//! Does not own: searching for libraries (`resolve`).
//! Invariant: nothing here executes the file.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub mod embedded;

/// 32- or 64-bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Class {
    Elf32,
    Elf64,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Elf32 => "32-bit",
            Class::Elf64 => "64-bit",
        })
    }
}

/// ELF object type as far as loading is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElfType {
    Executable,
    SharedObject,
    Relocatable,
    Other,
}

/// The loading-relevant facts of one ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pub class: Class,
    pub little_endian: bool,
    pub machine: u16,
    pub osabi: u8,
    pub elf_type: ElfType,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub soname: Option<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    /// Has a PT_DYNAMIC segment (so it is not a fully static executable).
    pub dynamic: bool,
    /// DF_1_NODEFLIB: the loader must not search the cache and default directories for it.
    pub nodeflib: bool,
    /// DF_1_PIE: a position-independent executable (glibc refuses to load it as a library).
    pub pie: bool,
    /// Symbol versions needed, per library (`.gnu.version_r`).
    pub version_needs: Vec<VersionNeed>,
    /// Symbol versions defined (`.gnu.version_d`), the base (file) entry excluded.
    pub version_defs: Vec<String>,
    /// Undefined dynamic symbols that make glibc load modules at run time (see
    /// [`DLOPEN_TRIGGERS`]).
    pub triggers: Vec<String>,
    /// Entries of systemd-style `.note.dlopen` ELF notes.
    pub dlopen_notes: Vec<DlopenNote>,
    /// Undefined dynamic symbols that start another program (see [`SHELL_SYMBOLS`]).
    pub runs_programs: Vec<String>,
    /// `.rodata` holds the string `/bin/sh`.
    pub mentions_bin_sh: bool,
    /// A Go program that links `os/exec` (its `.gopclntab` names `os/exec.(*Cmd).Start`).
    pub go_os_exec: bool,
}

/// The versions one object needs from one library.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VersionNeed {
    pub file: String,
    /// (version, weak)
    pub versions: Vec<(String, bool)>,
}

/// One entry of a `.note.dlopen` note (<https://systemd.io/ELF_DLOPEN_METADATA/>).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DlopenNote {
    #[serde(default)]
    pub feature: String,
    #[serde(default)]
    pub description: String,
    /// required, recommended or suggested (default recommended).
    #[serde(default = "recommended")]
    pub priority: String,
    pub soname: Vec<String>,
}

fn recommended() -> String {
    "recommended".into()
}

/// Undefined symbols whose use makes glibc open shared objects at run time: libgcc_s for
/// thread cancellation and unwinding, NSS modules for user, group and host lookups, gconv
/// modules for iconv. Only these are kept in [`ElfInfo::triggers`].
pub const DLOPEN_TRIGGERS: &[&str] = &[
    "backtrace",
    "pthread_cancel",
    "pthread_exit",
    "iconv_open",
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getpwent",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrent",
    "getgrouplist",
    "initgroups",
    "getspnam",
    "getspnam_r",
    "gethostbyname",
    "gethostbyname_r",
    "gethostbyname2",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getaddrinfo",
    "getnameinfo",
    "getservbyname",
    "getservbyname_r",
    "getservbyport",
    "getprotobyname",
    "getprotobynumber",
    "getnetbyname",
];

impl ElfInfo {
    /// Whether an object of `other`'s shape can be loaded into a process of `self`'s.
    pub fn compatible(&self, other: &ElfInfo) -> bool {
        self.class == other.class
            && self.machine == other.machine
            && self.little_endian == other.little_endian
            && (self.osabi == other.osabi
                || self.osabi == 0
                || other.osabi == 0
                || other.osabi == 3
                || self.osabi == 3)
    }

    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }

    /// A short description such as "64-bit x86-64".
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.class,
            crate::types::elf_machine_name(self.machine)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an ELF file", path.display())]
    NotElf { path: PathBuf },
    #[error("{} is a malformed ELF file: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
}

const MAGIC: &[u8; 4] = b"\x7fELF";

/// Whether `path` starts with the ELF magic (false for directories and short files).
pub fn is_elf(path: &Path) -> std::io::Result<bool> {
    let mut f = fs_err::File::open(path)?;
    if !f.metadata()?.is_file() {
        return Ok(false);
    }
    let mut m = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut m[n..])? {
            0 => return Ok(false),
            k => n += k,
        }
    }
    Ok(&m == MAGIC)
}

/// Reads the loading facts of the ELF file at `path`.
pub fn read(path: &Path) -> Result<ElfInfo, Error> {
    let io = |e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = fs_err::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(Error::NotElf {
            path: path.to_path_buf(),
        });
    }
    if meta.len() < 52 {
        let mut head = Vec::new();
        file.file().take(4).read_to_end(&mut head).map_err(io)?;
        return Err(if head == MAGIC {
            Error::Malformed {
                path: path.to_path_buf(),
                reason: format!("truncated: only {} bytes", meta.len()),
            }
        } else {
            Error::NotElf {
                path: path.to_path_buf(),
            }
        });
    }
    let map = map_file(file.file()).map_err(io)?;
    parse(&map).map_err(|e| match e {
        ParseError::NotElf => Error::NotElf {
            path: path.to_path_buf(),
        },
        ParseError::Malformed(reason) => Error::Malformed {
            path: path.to_path_buf(),
            reason,
        },
    })
}

/// Maps an ELF file read-only (for readers of sections, such as `embedded`).
pub fn map(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let f = fs_err::File::open(path)?;
    map_file(f.file())
}

/// Maps the file read-only. Only ELF headers and dynamic metadata are touched, so resident
/// memory stays small even for large binaries.
#[allow(unsafe_code)]
fn map_file(f: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and private to this process; if another process truncates
    // the file while it is mapped, reads past the new end fault (SIGBUS). kiln reads inputs the
    // user controls, and a concurrent truncation is outside its contract.
    unsafe { memmap2::Mmap::map(f) }
}

#[derive(Debug)]
pub enum ParseError {
    NotElf,
    Malformed(String),
}

/// Parses ELF bytes. Public for the fuzz target.
pub fn parse(bytes: &[u8]) -> Result<ElfInfo, ParseError> {
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err(ParseError::NotElf);
    }
    let result = catch_quietly(|| goblin::elf::Elf::parse(bytes).map(|elf| extract(&elf, bytes)));
    match result {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) => Err(ParseError::Malformed(e.to_string())),
        Err(_) => Err(ParseError::Malformed(
            "the ELF parser rejected it (inconsistent headers)".into(),
        )),
    }
}

/// Undefined symbols that start another program: `system` and `popen` always through
/// `/bin/sh -c`; the `exec` and `posix_spawn` families run whatever path they are given.
/// Only these are kept in [`ElfInfo::runs_programs`].
pub const SHELL_SYMBOLS: &[&str] = &[
    "system",
    "popen",
    "posix_spawn",
    "posix_spawnp",
    "execl",
    "execle",
    "execlp",
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "fexecve",
];

/// The bytes of the section named `name`, when the file holds them.
fn section<'b>(elf: &goblin::elf::Elf<'_>, bytes: &'b [u8], name: &str) -> Option<&'b [u8]> {
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))?;
    if sh.sh_type == goblin::elf::section_header::SHT_NOBITS {
        return None;
    }
    let start = usize::try_from(sh.sh_offset).ok()?;
    let end = start.checked_add(usize::try_from(sh.sh_size).ok()?)?;
    bytes.get(start..end)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs `f`, turning a panic into `Err` without printing it. goblin is careful, but a parser
/// bug must not become a crash on hostile input.
fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    use std::cell::Cell;
    use std::sync::Once;
    thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                prev(info);
            }
        }));
    });
    // Under the fuzzer a panic must stay a crash, so it can be found and fixed.
    if cfg!(fuzzing) {
        return Ok(f());
    }
    QUIET.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    r
}

/// Caps on counts read from the file, so hostile input cannot make kiln allocate or loop
/// without bound.
const MAX_ITEMS: usize = 1 << 16;

fn extract(elf: &goblin::elf::Elf<'_>, bytes: &[u8]) -> ElfInfo {
    use goblin::elf::header;
    let dynstr = |off: usize| elf.dynstrtab.get_at(off).unwrap_or("").to_string();
    let mut version_needs = Vec::new();
    if let Some(vn) = &elf.verneed {
        for need in vn.iter().take(MAX_ITEMS) {
            let versions = need
                .iter()
                .take(MAX_ITEMS)
                .map(|aux| (dynstr(aux.vna_name), aux.vna_flags & 0x2 != 0))
                .collect();
            version_needs.push(VersionNeed {
                file: dynstr(need.vn_file),
                versions,
            });
        }
    }
    let mut version_defs = Vec::new();
    if let Some(vd) = &elf.verdef {
        for def in vd.iter().take(MAX_ITEMS) {
            if def.vd_flags & 0x1 != 0 {
                continue; // VER_FLG_BASE names the file itself
            }
            if let Some(aux) = def.iter().next() {
                version_defs.push(dynstr(aux.vda_name));
            }
        }
    }
    let mut triggers: Vec<String> = elf
        .dynsyms
        .iter()
        .take(1 << 20)
        .filter(|s| s.st_shndx == 0 && s.st_name != 0)
        .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
        .filter(|n| DLOPEN_TRIGGERS.contains(n))
        .map(str::to_string)
        .collect();
    triggers.sort();
    triggers.dedup();
    let mut runs_programs: Vec<String> = elf
        .dynsyms
        .iter()
        .take(1 << 20)
        .filter(|s| s.st_shndx == 0 && s.st_name != 0)
        .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
        .filter(|n| SHELL_SYMBOLS.contains(n))
        .map(str::to_string)
        .collect();
    runs_programs.sort();
    runs_programs.dedup();
    let mentions_bin_sh = section(elf, bytes, ".rodata").is_some_and(|r| contains(r, b"/bin/sh"));
    let go_os_exec =
        section(elf, bytes, ".gopclntab").is_some_and(|r| contains(r, b"os/exec.(*Cmd).Start"));
    let mut dlopen_notes = Vec::new();
    if let Some(notes) = elf.iter_note_sections(bytes, Some(".note.dlopen")) {
        for note in notes.take(MAX_ITEMS).flatten() {
            if note.n_type == 0x407c_0c0a && note.name == "FDO" {
                let json = note.desc.split(|&b| b == 0).next().unwrap_or(&[]);
                if let Ok(entries) = serde_json::from_slice::<Vec<DlopenNote>>(json) {
                    dlopen_notes.extend(entries);
                }
            }
        }
    }
    let split = |v: &[&str]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    ElfInfo {
        class: if elf.is_64 {
            Class::Elf64
        } else {
            Class::Elf32
        },
        little_endian: elf.little_endian,
        machine: elf.header.e_machine,
        osabi: elf.header.e_ident[header::EI_OSABI],
        elf_type: match elf.header.e_type {
            header::ET_EXEC => ElfType::Executable,
            header::ET_DYN => ElfType::SharedObject,
            header::ET_REL => ElfType::Relocatable,
            _ => ElfType::Other,
        },
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        soname: elf.soname.map(str::to_string),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
        dynamic: elf.dynamic.is_some(),
        nodeflib: elf
            .dynamic
            .as_ref()
            .is_some_and(|d| d.info.flags_1 & 0x800 != 0),
        pie: elf
            .dynamic
            .as_ref()
            .is_some_and(|d| d.info.flags_1 & 0x0800_0000 != 0),
        version_needs,
        version_defs,
        triggers,
        dlopen_notes,
        runs_programs,
        mentions_bin_sh,
        go_os_exec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let info = read(&exe).unwrap();
        assert_eq!(
            info.class,
            if cfg!(target_pointer_width = "64") {
                Class::Elf64
            } else {
                Class::Elf32
            }
        );
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{info:?}"
        );
        assert!(info.interpreter.is_some());
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let exe = fs_err::read(std::env::current_exe().unwrap()).unwrap();
        for len in [0, 3, 4, 16, 52, 63, 64, 200, 1000, 4096] {
            let _ = parse(&exe[..len.min(exe.len())]);
        }
        let mut junk = exe[..4096].to_vec();
        for (i, b) in junk.iter_mut().enumerate().skip(16) {
            *b = (i * 7919 % 251) as u8;
        }
        assert!(parse(&junk).is_err());
        assert!(matches!(parse(b"#!/bin/sh\n"), Err(ParseError::NotElf)));
    }
}
