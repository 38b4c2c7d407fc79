//! The file tree the loader will see: files placed by components over the target root.
//!
//! Owns: looking up an image path the way the kernel would inside the finished image,
//! following symlinks (absolute ones relative to the image root, never the host's), first in
//! the overlay of component-placed entries, then in the unpacked base image (when the image is
//! built on one: what it has is already in the image), then in the target root (`/` or a
//! sysroot).
//! Invariant: a lookup never leaves the root, and never loops (at most 40 symlinks).

use crate::types::ImagePath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An entry a component places in the image, as far as lookups are concerned.
#[derive(Clone, Debug)]
pub enum OverlayNode {
    File(PathBuf),
    Symlink(String),
    Dir,
}

/// Where a looked-up file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A component places it; the host file given.
    Overlay(PathBuf),
    /// The target root has it at this host path; it ships only if kiln adds it.
    Root(PathBuf),
    /// The base image has it (this is its host path in the unpacked base): it is in the image
    /// already and never ships again.
    Base(PathBuf),
}

impl Origin {
    pub fn host(&self) -> &Path {
        match self {
            Origin::Overlay(p) | Origin::Root(p) | Origin::Base(p) => p,
        }
    }
}

/// A symlink met on the way: its image path and its target as written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub path: ImagePath,
    pub target: String,
    /// Whether the link comes from the target root (and must be shipped), or from a component
    /// or the base image (and is there already).
    pub from_root: bool,
}

/// The result of following a path to a regular file.
#[derive(Clone, Debug)]
pub struct Found {
    /// The path asked for, as the loader would open it (may hold `..`).
    pub path: String,
    /// The file's path with every symlink resolved.
    pub real: ImagePath,
    pub links: Vec<Link>,
    pub origin: Origin,
}

/// Why a lookup found no regular file, in the kernel's terms.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// ENOENT.
    Missing,
    /// ENOTDIR: a component on the way is not a directory.
    NotADir,
    /// The path names a directory.
    NotAFile,
    /// ELOOP.
    Loop,
}

/// The overlay plus the target root.
pub struct View<'a> {
    pub root: &'a Path,
    pub overlay: &'a BTreeMap<ImagePath, OverlayNode>,
    /// The unpacked base image, looked in after the overlay and before the target root.
    pub base: Option<&'a Path>,
    /// What the root holds at each path asked so far: the same directories are walked for
    /// every library, so each is `lstat`ed once.
    seen: std::sync::Mutex<BTreeMap<ImagePath, Node>>,
}

impl<'a> View<'a> {
    pub fn new(root: &'a Path, overlay: &'a BTreeMap<ImagePath, OverlayNode>) -> View<'a> {
        View {
            root,
            overlay,
            base: None,
            seen: std::sync::Mutex::new(BTreeMap::new()),
        }
    }
}

#[derive(Clone)]
enum Node {
    File(Origin),
    Dir,
    Symlink(String, bool),
    Missing,
}

impl View<'_> {
    fn node(&self, p: &ImagePath) -> Node {
        if let Some(n) = self.overlay.get(p) {
            return match n {
                OverlayNode::File(h) => Node::File(Origin::Overlay(h.clone())),
                OverlayNode::Symlink(t) => Node::Symlink(t.clone(), false),
                OverlayNode::Dir => Node::Dir,
            };
        }
        if let Some(n) = self.seen.lock().ok().and_then(|m| m.get(p).cloned()) {
            return n;
        }
        let n = self.node_on_disk(p);
        if let Ok(mut m) = self.seen.lock() {
            m.insert(p.clone(), n.clone());
        }
        n
    }

    fn node_on_disk(&self, p: &ImagePath) -> Node {
        if let Some(base) = self.base {
            let n = Self::node_at(base.join(p.relative()), false);
            if !matches!(n, Node::Missing) {
                return n;
            }
        }
        Self::node_at(self.host_path(p), true)
    }

    /// What `host` is, without following a final symlink. `in_root`: it is in the target
    /// root (ships if kiln adds it), else in the base (never ships).
    fn node_at(host: PathBuf, in_root: bool) -> Node {
        match fs_err::symlink_metadata(&host) {
            Err(_) => Node::Missing,
            Ok(m) if m.file_type().is_symlink() => match fs_err::read_link(&host) {
                Ok(t) => Node::Symlink(t.to_string_lossy().into_owned(), in_root),
                Err(_) => Node::Missing,
            },
            Ok(m) if m.is_dir() => Node::Dir,
            Ok(m) if m.is_file() && in_root => Node::File(Origin::Root(host)),
            Ok(m) if m.is_file() => Node::File(Origin::Base(host)),
            Ok(_) => Node::Missing,
        }
    }

    /// The host path of an image path inside the target root (no symlinks followed).
    pub fn host_path(&self, p: &ImagePath) -> PathBuf {
        self.root.join(p.relative())
    }

    /// Whether `dir` exists as a directory (after symlinks) in the view.
    pub fn is_dir(&self, dir: &str) -> bool {
        self.walk(dir, true).is_ok()
    }

    /// The canonical form of directory `dir` (every symlink resolved inside the root).
    pub fn resolve_dir(&self, dir: &str) -> Option<ImagePath> {
        self.walk(dir, true).ok().map(|(p, _, _)| p)
    }

    /// Follows `path` to a regular file.
    pub fn lookup(&self, path: &str) -> Result<Found, Lookup> {
        self.walk(path, false)
            .and_then(|(real, links, node)| match node {
                Some(origin) => Ok(Found {
                    path: path.to_string(),
                    real,
                    links,
                    origin,
                }),
                None => Err(Lookup::NotAFile),
            })
    }

    /// Walks `path` component by component. Returns the resolved path, the links met, and the
    /// file's origin (None for a directory).
    #[allow(clippy::type_complexity)]
    fn walk(
        &self,
        path: &str,
        want_dir: bool,
    ) -> Result<(ImagePath, Vec<Link>, Option<Origin>), Lookup> {
        if !path.starts_with('/') {
            return Err(Lookup::Missing);
        }
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .rev()
            .map(String::from)
            .collect();
        let mut cur = ImagePath::root();
        let mut links = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    cur = cur.parent().unwrap_or_else(ImagePath::root);
                    continue;
                }
                _ => {}
            }
            // A path over Linux's limits cannot be opened (ENAMETOOLONG): nothing is there.
            let Ok(next) = cur.join(&part) else {
                return Err(Lookup::Missing);
            };
            match self.node(&next) {
                Node::Missing => return Err(Lookup::Missing),
                Node::Dir => cur = next,
                Node::File(origin) => {
                    if !todo.is_empty() {
                        return Err(Lookup::NotADir);
                    }
                    if want_dir {
                        return Err(Lookup::NotAFile);
                    }
                    return Ok((next, links, Some(origin)));
                }
                Node::Symlink(target, from_root) => {
                    hops += 1;
                    if hops > 40 {
                        return Err(Lookup::Loop);
                    }
                    links.push(Link {
                        path: next,
                        target: target.clone(),
                        from_root,
                    });
                    if target.starts_with('/') {
                        cur = ImagePath::root();
                    }
                    todo.extend(
                        target
                            .split('/')
                            .filter(|s| !s.is_empty())
                            .rev()
                            .map(String::from),
                    );
                }
            }
        }
        if want_dir {
            Ok((cur, links, None))
        } else {
            Err(Lookup::NotAFile)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::parse(s).unwrap()
    }

    #[test]
    fn follows_links_inside_root_and_stops_loops() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs_err::create_dir_all(r.join("usr/lib")).unwrap();
        fs_err::write(r.join("usr/lib/libz.so.1.2"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        std::os::unix::fs::symlink("/lib/libz.so.1.2", r.join("usr/lib/libz.so.1")).unwrap();
        std::os::unix::fs::symlink("a", r.join("b")).unwrap();
        std::os::unix::fs::symlink("b", r.join("a")).unwrap();
        let overlay = BTreeMap::new();
        let v = View::new(r, &overlay);
        let f = v.lookup("/lib/libz.so.1").unwrap();
        assert_eq!(f.real, p("/usr/lib/libz.so.1.2"));
        let names: Vec<_> = f.links.iter().map(|l| l.path.to_string()).collect();
        assert_eq!(names, ["/lib", "/usr/lib/libz.so.1", "/lib"]);
        assert_eq!(v.lookup("/a").unwrap_err(), Lookup::Loop);
        assert_eq!(v.lookup("/usr/lib").unwrap_err(), Lookup::NotAFile);
        assert_eq!(v.lookup("/nope").unwrap_err(), Lookup::Missing);
    }

    #[test]
    fn overlay_wins_over_root() {
        let t = tempfile::tempdir().unwrap();
        let mut overlay = BTreeMap::new();
        overlay.insert(p("/opt/app/lib"), OverlayNode::Dir);
        overlay.insert(
            p("/opt/app/lib/libg.so.1"),
            OverlayNode::File("/src/libg".into()),
        );
        overlay.insert(p("/opt"), OverlayNode::Dir);
        overlay.insert(p("/opt/app"), OverlayNode::Dir);
        let v = View::new(t.path(), &overlay);
        let f = v.lookup("/opt/app/bin/../lib/libg.so.1");
        // `bin` does not exist, so `..` after it cannot be walked.
        assert!(f.is_err());
        let f = v.lookup("/opt/app/lib/libg.so.1").unwrap();
        assert_eq!(f.origin, Origin::Overlay("/src/libg".into()));
    }
}
