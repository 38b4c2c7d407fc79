//! The Debian download cache (`kiln::deb::fetch`) against a tiny HTTP server of the test's own
//! (loopback only; cuts, wrong bytes, extra bytes, 404, ignored ranges, redirects), and `.deb`
//! reading (`kiln::deb::debfile`) on packages built with `dpkg-deb` and on hostile ones written
//! by hand.

use crate::util::{require, tempdir};
use kiln::deb::fetch::{FetchError, FetchOptions, Fetcher, Progress, Want};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the test server misbehaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Normal,
    /// The first answer stops halfway through the body.
    CutFirst,
    /// One byte flipped.
    Wrong,
    /// Four bytes more than the blob, without Content-Length.
    Extra,
    NotFound,
    /// 200 with the whole blob, whatever the Range.
    IgnoreRange,
    /// The body in slices with pauses (so two clients overlap).
    Slow,
}

/// One request the server saw.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
    authorization: Option<String>,
}

struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Serves `blobs` (path → bytes) on 127.0.0.1; `/redirect/P` answers 302 to `P`. At most 64
/// connections, then the thread ends.
fn serve(blobs: Vec<(&str, Vec<u8>)>, mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let blobs: Arc<Vec<(String, Vec<u8>)>> =
        Arc::new(blobs.into_iter().map(|(p, b)| (p.to_string(), b)).collect());
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().take(64).enumerate() {
            let Ok(conn) = conn else { continue };
            let (blobs, log) = (blobs.clone(), log.clone());
            std::thread::spawn(move || answer(conn, n, &blobs, mode, &log));
        }
    });
    Server { port, seen }
}

fn answer(
    mut c: TcpStream,
    n: usize,
    blobs: &[(String, Vec<u8>)],
    mode: Mode,
    log: &Mutex<Vec<Seen>>,
) {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    let (mut range, mut authorization) = (None, None);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap() == 0 || h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "range" => range = Some(v.trim().to_string()),
            "authorization" => authorization = Some(v.trim().to_string()),
            _ => {}
        }
    }
    log.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
        authorization,
    });
    if let Some(to) = path.strip_prefix("/redirect") {
        let _ = write!(
            c,
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let blob = blobs
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| b.clone());
    let Some(mut blob) = blob.filter(|_| mode != Mode::NotFound) else {
        let _ = write!(
            c,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    };
    let from: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .filter(|_| mode != Mode::IgnoreRange)
        .unwrap_or(0);
    match mode {
        Mode::Wrong => blob[0] ^= 1,
        Mode::Extra => {
            blob.extend_from_slice(b"more");
            let _ = write!(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let _ = c.write_all(&blob);
            return;
        }
        _ => {}
    }
    let len = blob.len();
    let head = if from > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{len}\r\n",
            len - 1
        )
    } else {
        "HTTP/1.1 200 OK\r\n".to_string()
    };
    let body = &blob[from..];
    let _ = write!(
        c,
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    match mode {
        Mode::CutFirst if n == 0 => {
            let _ = c.write_all(&body[..body.len() / 2]);
            let _ = c.flush();
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        Mode::Slow => {
            for part in body.chunks(body.len().div_ceil(8).max(1)) {
                let _ = c.write_all(part);
                let _ = c.flush();
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        _ => {
            let _ = c.write_all(body);
        }
    }
}

/// Some bytes that do not compress to nothing, and what a fetch must want of them.
fn blob(len: usize, seed: u8) -> (Vec<u8>, Want) {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect();
    let want = Want {
        sha256: Sha256::digest(&bytes).into(),
        size: len as u64,
    };
    (bytes, want)
}

fn fetcher(cache: &Path) -> Fetcher {
    Fetcher::new(cache, FetchOptions::default()).unwrap()
}

fn partial(cache: &Path, want: &Want) -> std::path::PathBuf {
    cache.join("partial").join(want.hex())
}

#[test]
fn fetch_verifies_and_caches() {
    let (bytes, want) = blob(300_000, 1);
    let srv = serve(vec![("/pool/a.deb", bytes.clone())], Mode::Normal);
    let t = tempdir();
    let f = fetcher(t.path());
    assert!(f.cached(&want).is_none());
    let p = f.get(&srv.url("/pool/a.deb"), &want).unwrap();
    assert_eq!(p, t.path().join("blobs/sha256").join(want.hex()));
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
    assert!(!partial(t.path(), &want).exists());
    // Cached: no request at all, whatever the URL.
    assert_eq!(f.get(&srv.url("/gone"), &want).unwrap(), p);
    assert_eq!(f.cached(&want), Some(p));
    assert_eq!(srv.seen().len(), 1);
    let ua = srv.seen()[0].range.clone();
    assert!(ua.is_none(), "a fresh download asks for no range");
}

#[test]
fn fetch_resumes_after_a_cut() {
    let (bytes, want) = blob(400_000, 2);
    let srv = serve(vec![("/a.deb", bytes.clone())], Mode::CutFirst);
    let t = tempdir();
    let p = fetcher(t.path()).get(&srv.url("/a.deb"), &want).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), bytes);
    let seen = srv.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let range = seen[1]
        .range
        .as_deref()
        .expect("the second request resumes");
    let from: u64 = range["bytes=".len()..range.len() - 1].parse().unwrap();
    assert!(from > 0 && from <= want.size / 2, "{range}");
}

#[test]
fn fetch_resumes_a_partial_file_left_by_an_earlier_run() {
    let (bytes, want) = blob(200_000, 3);
    let srv = serve(vec![("/a.deb", bytes.clone())], Mode::Normal);
    let t = tempdir();
    let f = fetcher(t.path());
    std::fs::write(partial(t.path(), &want), &bytes[..12_345]).unwrap();
    let p = f.get(&srv.url("/a.deb"), &want).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), bytes);
    assert_eq!(srv.seen()[0].range.as_deref(), Some("bytes=12345-"));
    assert!(!partial(t.path(), &want).exists());
}

#[test]
fn fetch_restarts_when_the_server_ignores_the_range() {
    let (bytes, want) = blob(100_000, 4);
    let srv = serve(vec![("/a.deb", bytes.clone())], Mode::IgnoreRange);
    let t = tempdir();
    let f = fetcher(t.path());
    // A prefix of other bytes: kept only if the server had honoured the range.
    std::fs::write(partial(t.path(), &want), vec![0xAA; 5000]).unwrap();
    let p = f.get(&srv.url("/a.deb"), &want).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), bytes);
    let seen = srv.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].range.as_deref(), Some("bytes=5000-"));
}

#[test]
fn fetch_refuses_wrong_bytes_and_removes_the_partial_file() {
    let (bytes, want) = blob(50_000, 5);
    let srv = serve(vec![("/a.deb", bytes)], Mode::Wrong);
    let t = tempdir();
    let f = fetcher(t.path());
    let e = f.get(&srv.url("/a.deb"), &want).unwrap_err();
    assert!(matches!(e, FetchError::Mismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&want.hex()) && msg.contains("/a.deb"), "{msg}");
    assert!(e.hint().is_some());
    assert!(!partial(t.path(), &want).exists());
    assert!(f.cached(&want).is_none());
    assert_eq!(srv.seen().len(), 1, "a mismatch is not retried");
}

#[test]
fn fetch_refuses_more_bytes_than_the_size() {
    let (bytes, want) = blob(50_000, 6);
    let srv = serve(vec![("/a.deb", bytes)], Mode::Extra);
    let t = tempdir();
    let e = fetcher(t.path())
        .get(&srv.url("/a.deb"), &want)
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::TooLong {
                expected: 50_000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!partial(t.path(), &want).exists());
}

#[test]
fn fetch_404_is_not_found_and_credentials_stay_hidden() {
    let (_, want) = blob(10, 7);
    let srv = serve(vec![], Mode::NotFound);
    let t = tempdir();
    let url = format!("http://kiln:s3cret@127.0.0.1:{}/pool/x.deb", srv.port);
    let e = fetcher(t.path()).get(&url, &want).unwrap_err();
    assert!(matches!(e, FetchError::NotFound { .. }), "{e:?}");
    let msg = format!("{e} {e:?}");
    assert!(!msg.contains("s3cret") && !msg.contains("kiln:"), "{msg}");
    assert!(msg.contains("/pool/x.deb"));
    assert!(e.hint().unwrap().contains("snapshot"));
    // The credentials went to the server as Basic auth, not in the request line.
    let seen = srv.seen();
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Basic a2lsbjpzM2NyZXQ=")
    );
    assert_eq!(seen[0].path, "/pool/x.deb");
    assert!(!partial(t.path(), &want).exists());
}

#[test]
fn fetch_follows_a_redirect() {
    let (bytes, want) = blob(1000, 8);
    let srv = serve(vec![("/a.deb", bytes.clone())], Mode::Normal);
    let t = tempdir();
    let p = fetcher(t.path())
        .get(&srv.url("/redirect/a.deb"), &want)
        .unwrap();
    assert_eq!(std::fs::read(p).unwrap(), bytes);
    let paths: Vec<String> = srv.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/redirect/a.deb", "/a.deb"]);
}

#[test]
fn fetch_file_urls_and_small_files() {
    let t = tempdir();
    let (bytes, want) = blob(70_000, 9);
    let src = t.path().join("archive dir/x.deb");
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    std::fs::write(&src, &bytes).unwrap();
    let url = format!("file://{}", src.display()).replace(' ', "%20");
    let f = fetcher(&t.path().join("cache"));
    assert_eq!(std::fs::read(f.get(&url, &want).unwrap()).unwrap(), bytes);
    assert_eq!(f.get_small(&url, 70_000).unwrap(), bytes);
    let e = f.get_small(&url, 69_999).unwrap_err();
    assert!(
        matches!(e, FetchError::TooLarge { max: 69_999, .. }),
        "{e:?}"
    );
    // Wrong bytes from a local archive are refused like any other.
    let (_, other) = blob(70_000, 10);
    let e = f.get(&url, &other).unwrap_err();
    assert!(matches!(e, FetchError::Mismatch { .. }), "{e:?}");
    // Over HTTP too, InRelease-style: bounded, never cached.
    let srv = serve(vec![("/InRelease", bytes.clone())], Mode::Normal);
    assert_eq!(f.get_small(&srv.url("/InRelease"), 1 << 20).unwrap(), bytes);
    let e = f.get_small(&srv.url("/InRelease"), 1000).unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e:?}");
    assert_eq!(srv.seen().len(), 2);
}

#[test]
fn fetch_same_blob_concurrently_downloads_once() {
    let (bytes, want) = blob(500_000, 11);
    let srv = serve(vec![("/a.deb", bytes.clone())], Mode::Slow);
    let t = tempdir();
    let url = srv.url("/a.deb");
    let paths: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                // One Fetcher each, as two kiln processes would have.
                let (cache, url) = (t.path(), &url);
                s.spawn(move || fetcher(cache).get(url, &want))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    assert_eq!(paths[0], paths[1]);
    assert_eq!(std::fs::read(&paths[0]).unwrap(), bytes);
    assert_eq!(srv.seen().len(), 1, "one download for both");
}

#[test]
fn fetch_offline_uses_only_the_cache() {
    let (bytes, want) = blob(2000, 12);
    let srv = serve(vec![("/a.deb", bytes)], Mode::Normal);
    let t = tempdir();
    let offline = Fetcher::new(
        t.path(),
        FetchOptions {
            jobs: 1,
            offline: true,
        },
    )
    .unwrap();
    let e = offline.get(&srv.url("/a.deb"), &want).unwrap_err();
    assert!(matches!(e, FetchError::Offline { .. }), "{e:?}");
    assert!(e.hint().is_some());
    assert!(srv.seen().is_empty());
    fetcher(t.path()).get(&srv.url("/a.deb"), &want).unwrap();
    offline.get(&srv.url("/a.deb"), &want).unwrap();
    let many = offline
        .get_many(&[(srv.url("/a.deb"), want)], &|_| {})
        .unwrap();
    assert_eq!(many.len(), 1);
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn fetch_many_keeps_input_order_and_reports_progress() {
    let blobs: Vec<(Vec<u8>, Want)> = (0..6)
        .map(|i| blob(100_000 + i * 50_000, i as u8))
        .collect();
    let names: Vec<String> = (0..6).map(|i| format!("/p/{i}.deb")).collect();
    let srv = serve(
        names
            .iter()
            .zip(&blobs)
            .map(|(n, (b, _))| (n.as_str(), b.clone()))
            .collect(),
        Mode::Normal,
    );
    let t = tempdir();
    let f = fetcher(t.path());
    let items: Vec<(String, Want)> = names
        .iter()
        .zip(&blobs)
        .map(|(n, (_, w))| (srv.url(n), *w))
        .collect();
    let reports = Mutex::new(Vec::<Progress>::new());
    let paths = f
        .get_many(&items, &|p| reports.lock().unwrap().push(p))
        .unwrap();
    for (p, (bytes, _)) in paths.iter().zip(&blobs) {
        assert_eq!(&std::fs::read(p).unwrap(), bytes);
    }
    let reports = reports.into_inner().unwrap();
    let last = reports.last().unwrap();
    let total: u64 = blobs.iter().map(|(_, w)| w.size).sum();
    assert_eq!(
        (
            last.done_bytes,
            last.total_bytes,
            last.done_items,
            last.total_items
        ),
        (total, total, 6, 6)
    );
    assert!(reports
        .windows(2)
        .all(|w| w[0].done_bytes <= w[1].done_bytes));
    // An error: the first one wins, and what finished stays cached.
    let mut bad = items.clone();
    bad.push((srv.url("/missing.deb"), blob(10, 99).1));
    let e = f.get_many(&bad, &|_| {}).unwrap_err();
    assert!(matches!(e, FetchError::NotFound { .. }), "{e:?}");
    assert!(items.iter().all(|(_, w)| f.cached(w).is_some()));
}

mod debfile {
    use super::*;
    use kiln::deb::debfile::{unpack, DebError, EntryKind, Unpacked};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    fn sha(p: &Path) -> [u8; 32] {
        Sha256::digest(std::fs::read(p).unwrap()).into()
    }

    /// A package tree with a binary, a symlink, a setuid file, a 1777 folder, a hard link,
    /// a conffile and a postinst; built with `dpkg-deb -Z<compression>`.
    fn build(t: &Path, compression: &str) -> std::path::PathBuf {
        let dpkg_deb = require("dpkg-deb");
        let pkg = t.join(format!("pkg-{compression}"));
        for d in ["DEBIAN", "usr/bin", "etc", "var/tmp"] {
            std::fs::create_dir_all(pkg.join(d)).unwrap();
        }
        std::fs::write(
            pkg.join("DEBIAN/control"),
            "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: K <k@example.org>\nDescription: test\n",
        )
        .unwrap();
        std::fs::write(pkg.join("DEBIAN/conffiles"), "/etc/hello.conf\n").unwrap();
        std::fs::write(pkg.join("DEBIAN/postinst"), "#!/bin/sh\nexit 0\n").unwrap();
        let set = |p: &str, mode| {
            std::fs::set_permissions(pkg.join(p), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set("DEBIAN/postinst", 0o755);
        std::fs::copy("/bin/true", pkg.join("usr/bin/hello")).unwrap();
        set("usr/bin/hello", 0o755);
        std::fs::hard_link(pkg.join("usr/bin/hello"), pkg.join("usr/bin/hello2")).unwrap();
        std::os::unix::fs::symlink("hello", pkg.join("usr/bin/hi")).unwrap();
        std::fs::write(pkg.join("usr/bin/su-ish"), "#!/bin/sh\n").unwrap();
        set("usr/bin/su-ish", 0o4755);
        set("var/tmp", 0o1777);
        std::fs::write(pkg.join("etc/hello.conf"), "x=1\n").unwrap();
        let out = t.join(format!("hello-{compression}.deb"));
        run(Command::new(dpkg_deb)
            .args(["--root-owner-group", &format!("-Z{compression}"), "--build"])
            .arg(&pkg)
            .arg(&out));
        out
    }

    fn run(cmd: &mut Command) {
        let o = cmd.output().unwrap();
        crate::util::check(&o, "dpkg-deb");
    }

    fn entry<'a>(u: &'a Unpacked, path: &str) -> &'a kiln::deb::debfile::Entry {
        u.entries
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no {path} in {:?}", u.entries))
    }

    #[test]
    fn debfile_unpacks_dpkg_deb_packages_in_every_compression() {
        if std::env::var_os("CI").is_some() {
            require("zstd");
        }
        let t = tempdir();
        let cache = t.path().join("cache");
        let truebin = std::fs::read("/bin/true").unwrap();
        for c in ["xz", "gzip", "zstd", "none"] {
            let deb = build(t.path(), c);
            let u = unpack(&deb, &sha(&deb), &cache).unwrap();
            assert!(u.control.contains("Package: hello"), "{c}");
            assert_eq!(u.conffiles.as_deref(), Some("/etc/hello.conf\n"));
            assert!(u.md5sums.is_none());
            assert_eq!(u.scripts, ["postinst"]);
            assert!(u
                .entries
                .iter()
                .all(|e| e.path.starts_with('/') && !e.path.ends_with('/')));
            assert!(u.entries.iter().all(|e| e.uid == 0 && e.gid == 0));
            let hello = entry(&u, "/usr/bin/hello");
            assert_eq!(hello.mode, 0o755);
            let EntryKind::File { size, sha256, .. } = &hello.kind else {
                panic!("{hello:?}")
            };
            assert_eq!(*size, truebin.len() as u64);
            assert_eq!(*sha256, <[u8; 32]>::from(Sha256::digest(&truebin)));
            assert_eq!(
                std::fs::read(u.content_path(hello).unwrap()).unwrap(),
                truebin
            );
            assert_eq!(
                entry(&u, "/usr/bin/hi").kind,
                EntryKind::Symlink {
                    target: "hello".into()
                }
            );
            // GNU tar links the second name to the first one it met.
            let h2 = entry(&u, "/usr/bin/hello2");
            let h1 = entry(&u, "/usr/bin/hello");
            let linked = matches!(&h2.kind, EntryKind::Hardlink { target } if target == "/usr/bin/hello")
                || matches!(&h1.kind, EntryKind::Hardlink { target } if target == "/usr/bin/hello2");
            assert!(linked, "{h1:?} {h2:?}");
            assert_eq!(entry(&u, "/usr/bin/su-ish").mode, 0o4755);
            assert_eq!(entry(&u, "/var/tmp").mode, 0o1777);
            assert_eq!(entry(&u, "/var/tmp").kind, EntryKind::Dir);
            // Nothing on disk is a link, nothing is setuid.
            let su = u.dir.join("root/usr/bin/su-ish");
            assert_eq!(
                std::fs::metadata(&su).unwrap().permissions().mode() & 0o7000,
                0
            );
            assert!(!u.dir.join("root/usr/bin/hi").exists());
            // Write-once: a second unpack loads the same list.
            let again = unpack(&deb, &sha(&deb), &cache).unwrap();
            assert_eq!(again, u);
        }
    }

    /// An ar archive of `members`, padded as dpkg writes it.
    fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in members {
            out.extend_from_slice(
                format!(
                    "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                    name,
                    0,
                    0,
                    0,
                    100644,
                    data.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    fn control_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let body = b"Package: evil\nVersion: 1\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "./control", &body[..]).unwrap();
        b.into_inner().unwrap()
    }

    /// A raw tar entry: the name bytes go into the header as they are (no checks).
    fn raw(
        b: &mut tar::Builder<Vec<u8>>,
        name: &[u8],
        ty: tar::EntryType,
        link: &[u8],
        data: &[u8],
        size: u64,
    ) {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(ty);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn hostile(
        t: &Path,
        name: &str,
        entries: &dyn Fn(&mut tar::Builder<Vec<u8>>),
    ) -> std::path::PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        entries(&mut b);
        let data = b.into_inner().unwrap();
        let p = t.join(format!("{name}.deb"));
        std::fs::write(
            &p,
            ar(&[
                ("debian-binary", b"2.0\n"),
                ("control.tar", &control_tar()),
                ("data.tar", &data),
            ]),
        )
        .unwrap();
        p
    }

    fn refused(t: &Path, deb: &Path) -> DebError {
        let e = unpack(deb, &sha(deb), &t.join("cache")).unwrap_err();
        assert!(e.to_string().contains(&deb.display().to_string()), "{e}");
        e
    }

    /// Writes a data tar's entries.
    type Entries = dyn Fn(&mut tar::Builder<Vec<u8>>);

    #[test]
    fn debfile_refuses_hostile_packages() {
        use tar::EntryType as T;
        let t = tempdir();
        let dir = |b: &mut tar::Builder<Vec<u8>>, n: &[u8]| raw(b, n, T::Directory, b"", b"", 0);
        let cases: Vec<(&str, Box<Entries>, &str)> = vec![
            (
                "dotdot",
                Box::new(|b| raw(b, b"./../x", T::Regular, b"", b"hi", 2)),
                "`..`",
            ),
            (
                "under-link",
                Box::new(move |b| {
                    dir(b, b"./");
                    raw(b, b"./lib", T::Symlink, b"/etc", b"", 0);
                    raw(b, b"./lib/passwd", T::Regular, b"", b"x", 1);
                }),
                "symbolic link /lib",
            ),
            (
                "bomb",
                Box::new(|b| raw(b, b"./big", T::Regular, b"", b"", 17 << 30)),
                "more than",
            ),
            (
                "device",
                Box::new(|b| raw(b, b"./dev/null", T::Char, b"", b"", 0)),
                "device",
            ),
            (
                "hardlink-forward",
                Box::new(|b| raw(b, b"./a", T::Link, b"./b", b"", 0)),
                "earlier regular file",
            ),
            (
                "duplicate",
                Box::new(|b| {
                    raw(b, b"./a", T::Regular, b"", b"1", 1);
                    raw(b, b"./a", T::Regular, b"", b"2", 1);
                }),
                "twice",
            ),
            (
                "newline",
                Box::new(|b| raw(b, b"./a\nb", T::Regular, b"", b"", 0)),
                "newline",
            ),
        ];
        for (name, entries, why) in &cases {
            let deb = hostile(t.path(), name, entries.as_ref());
            let e = refused(t.path(), &deb);
            assert!(e.to_string().contains(why), "{name}: {e}");
            assert!(e.hint().is_some());
        }
        // Nothing was left behind: no unpacked folder, no staging.
        let left: Vec<_> = std::fs::read_dir(t.path().join("cache/unpacked"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(!t.path().join("etc/passwd").exists() && !t.path().join("x").exists());
    }

    #[test]
    fn debfile_accepts_absolute_names_and_repeated_folders() {
        use tar::EntryType as T;
        let t = tempdir();
        let deb = hostile(t.path(), "abs", &|b| {
            raw(b, b"/etc", T::Directory, b"", b"", 0);
            raw(b, b"./etc/", T::Directory, b"", b"", 0);
            raw(b, b"/etc/x", T::Regular, b"", b"x", 1);
        });
        let u = unpack(&deb, &sha(&deb), &t.path().join("cache")).unwrap();
        let paths: Vec<&str> = u.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/etc", "/etc/x"]);
        assert_eq!(std::fs::read(u.dir.join("root/etc/x")).unwrap(), b"x");
    }

    #[test]
    fn debfile_refuses_bad_containers() {
        let t = tempdir();
        let data = tar::Builder::new(Vec::new()).into_inner().unwrap();
        let write = |name: &str, bytes: Vec<u8>| {
            let p = t.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let version = write(
            "v.deb",
            ar(&[
                ("debian-binary", b"3.0\n"),
                ("control.tar", &control_tar()),
                ("data.tar", &data),
            ]),
        );
        assert!(refused(t.path(), &version)
            .to_string()
            .contains("debian-binary"));
        let good = ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &control_tar()),
            ("data.tar", &data),
        ]);
        let cut = write("cut.deb", good[..good.len() - 700].to_vec());
        let e = refused(t.path(), &cut).to_string();
        assert!(
            e.contains("truncated") || e.contains("bad tar stream"),
            "{e}"
        );
        let mut junk = good.clone();
        junk.extend_from_slice(b"junk");
        refused(t.path(), &write("junk.deb", junk));
        let bz = write(
            "bz.deb",
            ar(&[
                ("debian-binary", b"2.0\n"),
                ("control.tar", &control_tar()),
                ("data.tar.bz2", b"BZh"),
            ]),
        );
        assert!(refused(t.path(), &bz).to_string().contains("bz2"));
        let order = write(
            "order.deb",
            ar(&[
                ("debian-binary", b"2.0\n"),
                ("data.tar", &data),
                ("control.tar", &control_tar()),
            ]),
        );
        refused(t.path(), &order);
        refused(t.path(), &write("empty.deb", Vec::new()));
    }
}
