//! The target root's `ld.so.conf`: the directories ldconfig would put in the loader's cache.
//!
//! Owns: parsing `/etc/ld.so.conf` inside the root, with `include` globs (relative ones
//! against the including file's folder, matches sorted like glob(3)), comments and `hwcap`
//! lines; include cycles are cut. Paths are read inside the root, never on the host.

use std::path::Path;

/// Directories in the order ldconfig reads them, without duplicates.
pub(super) fn directories(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen_files = Vec::new();
    read(root, "/etc/ld.so.conf", &mut out, &mut seen_files, 0);
    out
}

fn read(root: &Path, file: &str, out: &mut Vec<String>, seen: &mut Vec<String>, depth: usize) {
    if depth > 16 || seen.iter().any(|f| f == file) {
        return;
    }
    seen.push(file.to_string());
    let Ok(text) = fs_err::read_to_string(root.join(file.trim_start_matches('/'))) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(pattern) = line
            .strip_prefix("include")
            .filter(|r| r.starts_with([' ', '\t']))
        {
            for pat in pattern.split_whitespace() {
                let pat = if pat.starts_with('/') {
                    pat.to_string()
                } else {
                    let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
                    format!("{dir}/{pat}")
                };
                for f in glob_in(root, &pat) {
                    read(root, &f, out, seen, depth + 1);
                }
            }
            continue;
        }
        if line.starts_with("hwcap") {
            continue;
        }
        for dir in line.split([' ', '\t', ':', ',']).filter(|s| !s.is_empty()) {
            let dir = dir.split('=').next().unwrap_or(dir).trim_end_matches('/');
            let dir = if dir.is_empty() { "/" } else { dir };
            if dir.starts_with('/') && !out.iter().any(|d| d == dir) {
                out.push(dir.to_string());
            }
        }
    }
}

/// Files in the root matching a glob whose wildcards are in the last component only (the
/// form ld.so.conf uses), sorted.
fn glob_in(root: &Path, pattern: &str) -> Vec<String> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let Ok(glob) = globset::Glob::new(name) else {
        return vec![];
    };
    let m = glob.compile_matcher();
    let Ok(rd) = fs_err::read_dir(root.join(dir.trim_start_matches('/'))) else {
        return vec![];
    };
    let mut v: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.') && m.is_match(n))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_includes_in_order_and_cuts_cycles() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs_err::create_dir_all(r.join("etc/ld.so.conf.d")).unwrap();
        fs_err::write(
            r.join("etc/ld.so.conf"),
            "include /etc/ld.so.conf.d/*.conf\n/opt/last\n",
        )
        .unwrap();
        fs_err::write(
            r.join("etc/ld.so.conf.d/b.conf"),
            "# comment\n/usr/local/lib\n",
        )
        .unwrap();
        fs_err::write(
            r.join("etc/ld.so.conf.d/a.conf"),
            "/opt/a/lib=libc6\ninclude ../ld.so.conf\n",
        )
        .unwrap();
        fs_err::write(r.join("etc/ld.so.conf.d/c.txt"), "/ignored\n").unwrap();
        assert_eq!(
            directories(r),
            ["/opt/a/lib", "/usr/local/lib", "/opt/last"]
        );
    }
}
