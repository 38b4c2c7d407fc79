//! Dependency resolution: the packages `apt-get install --no-install-recommends ROOTS…`
//! would choose on an empty system with default pins, for one architecture.
//!
//! Owns: the choice of package versions for the roots a manifest names, each with the chain
//! of packages that pulled it in, the waivers (packages never installed) that were needed,
//! and the Conflicts/Breaks check of the result.
//! Does not own: reading indexes (`index`), downloading or unpacking (`fetch`, `debfile`).
//!
//! What is reproduced from apt 2.6's `pkgDepCache::MarkInstall` (depcache.cc):
//! - All roots are marked first (apt-get marks every command-line package before it
//!   auto-installs dependencies), then each root's dependencies are installed depth-first in
//!   the order given, `Pre-Depends` before `Depends` (apt's order in its cache); Recommends
//!   and Suggests are ignored.
//! - The candidate is the highest version (default pins). A root `name (op version)` makes
//!   the highest version satisfying it the candidate, as `apt-get install name=version` does.
//!   A dependency whose candidate violates its version constraint is not satisfied by an older
//!   version: apt never falls back; the or-group fails.
//! - An or-group already satisfied by a chosen package (or a chosen provider) is skipped.
//!   Otherwise the possible solutions are, alternative by alternative, the candidate of the
//!   named package if it satisfies the constraint and the candidates that `Provides` the name
//!   (a versioned dependency only by a versioned provide that matches), each alternative's
//!   list ordered by apt's `CompareProviders` (the package named itself, then Essential, then
//!   `Important`/`Protected`, then the lower Priority number, then apt's package ID, for which
//!   kiln uses the position of the package's first record in the index: later first). The
//!   first solution that installs wins.
//! - A package is not installed when one of its Depends/Pre-Depends can be satisfied by no
//!   candidate and no chosen package (apt's `IsInstallOkDependenciesSatisfiableByCandidates`):
//!   its candidate is dropped for the rest of the run and the next alternative is tried. A
//!   package whose dependency fails deeper down is unmarked (and its candidate dropped), but
//!   what it already pulled in stays marked, as in apt (`MarkInstall_DiscardInstall`); then,
//!   as apt-get does for new installs, packages no root reaches any more are dropped.
//! - A root that is purely virtual is replaced by its only provider (apt's "Note, selecting");
//!   with several providers it is an error naming them, as apt-get refuses it.
//! - `Multi-Arch`, single-architecture subset: the index holds only the target architecture
//!   and `all`; `name`, `name:native` and `name:TARGET` are satisfied by either; `name:any` only
//!   by a `Multi-Arch: allowed` package (or a provider that is `allowed`); `name:OTHER` never.
//!   Foreign architectures (and `Multi-Arch: same` co-installation) are out of scope.
//!
//! Not reproduced, on purpose or by scope:
//! - apt's problem resolver: a Conflicts/Breaks between chosen packages is an error
//!   ([`SolveError::Conflict`]); apt would try to remove or keep back packages.
//! - Essential and `Priority: required` packages are not added: apt on an empty dpkg status
//!   does not add them either for `install` (it only reports them missing when building),
//!   and an image does not need them unless something depends on them.
//! - Pins other than the default, `NotAutomatic` suites, Recommends, Suggests, Enhances.
//! - Waivers have no apt equivalent: a waived package is never chosen, and an or-group
//!   that names a waived package is left out whole (`debconf | debconf-2.0` with debconf
//!   waived brings in no provider of debconf-2.0); the waiver is then reported used.
//!
//! Invariants: the result is deterministic (no hash order); the recursion is bounded by
//! [`MAX_DEPTH`]; every error names the package chain that led to it.

use super::control::{self, ArchQual, Constraint, Dep, Relation};
use super::index::{Index, IndexError, MultiArch, Record};
use super::version::Version;
use std::collections::{BTreeMap, BTreeSet};

/// Longest dependency chain followed (real Debian chains are under 40).
pub const MAX_DEPTH: usize = 200;

/// A package the user asks for: `name` or `name (op version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPackage {
    /// Package (or virtual package) name.
    pub name: String,
    /// Version constraint, if any.
    pub constraint: Option<Constraint>,
}

impl RootPackage {
    /// Parses `nginx-light` or `nginx-light (= 1.22.1-9+deb12u7)`.
    pub fn parse(s: &str) -> Result<RootPackage, SolveError> {
        let bad = |problem: &str| SolveError::BadRoot {
            text: s.chars().take(200).collect(),
            problem: problem.to_string(),
        };
        let mut rels = control::parse_relations(s).map_err(|e| bad(&e.to_string()))?;
        let (Some(rel), true) = (rels.pop(), rels.is_empty()) else {
            return Err(bad("expected exactly one package"));
        };
        let mut alts = rel.alternatives.into_iter();
        let (Some(dep), None) = (alts.next(), alts.next()) else {
            return Err(bad("alternatives are not allowed here"));
        };
        if dep.arch != ArchQual::None {
            return Err(bad("architecture qualifiers are not allowed here"));
        }
        if !control::valid_package_name(&dep.name) {
            return Err(bad("not a valid Debian package name"));
        }
        Ok(RootPackage {
            name: dep.name,
            constraint: dep.constraint,
        })
    }
}

/// What to solve.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The packages asked for.
    pub roots: &'a [RootPackage],
    /// Package name → reason: never installed, and a dependency that only it would satisfy
    /// is left out.
    pub waived: &'a BTreeMap<String, String>,
    /// `false`: only the roots, no dependencies.
    pub depends: bool,
}

/// One chosen package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Package name.
    pub name: String,
    /// Chosen version.
    pub version: Version,
    /// From this package up to the root that pulled it in; a root's chain is itself.
    pub chain: Vec<String>,
    /// Index into [`Index::records`].
    pub record: usize,
}

/// The chosen set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    /// Chosen packages, sorted by name.
    pub packages: Vec<Chosen>,
    /// Waivers that were needed: (package, reason), sorted.
    pub waived_used: Vec<(String, String)>,
}

/// Why no set of packages can be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolveError {
    /// No package or provider of that name in the index.
    #[error("package {name} not found in the archive (needed by {}){}", chain.join(" ← "), hint.as_ref().map(|h| format!("; did you mean {h}?")).unwrap_or_default())]
    NotFound {
        /// The missing name.
        name: String,
        /// From the dependent package up to the root (empty for a root).
        chain: Vec<String>,
        /// A close package name, if any.
        hint: Option<String>,
    },
    /// A dependency no candidate satisfies.
    #[error("unmet dependency {dep} of {}{}", chain.join(" ← "), candidate.as_ref().map(|c| format!(" (candidate: {c})")).unwrap_or_default())]
    Unsatisfiable {
        /// The relation as written (`a (>= 2) | b`).
        dep: String,
        /// From the package that has the dependency up to the root.
        chain: Vec<String>,
        /// The first alternative's candidate version, if it has one.
        candidate: Option<String>,
    },
    /// Two chosen packages conflict (Conflicts or Breaks).
    #[error("{a} conflicts with or breaks {b}; kiln does not run apt's problem resolver")]
    Conflict {
        /// The package (and relation) that declares the conflict.
        a: String,
        /// The chosen package it hits.
        b: String,
    },
    /// A root that is a virtual package with several providers.
    #[error("{name} is a virtual package provided by {}; name one of them", providers.join(", "))]
    Virtual {
        /// The virtual name.
        name: String,
        /// Its providers (name and version).
        providers: Vec<String>,
    },
    /// A root that does not parse.
    #[error("package {text:?}: {problem}")]
    BadRoot {
        /// The text given.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// A relation field of a chosen package does not parse.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A dependency chain longer than [`MAX_DEPTH`].
    #[error("dependency chain deeper than {MAX_DEPTH}: {}", chain.join(" ← "))]
    TooDeep {
        /// The chain (truncated to its first 10 packages).
        chain: Vec<String>,
    },
}

/// Chooses the packages for `req` as apt would (see the module documentation).
pub fn solve(index: &Index, req: &Request) -> Result<Solution, SolveError> {
    let mut s = Solver {
        index,
        waived: req.waived,
        depends: req.depends,
        cand: BTreeMap::new(),
        dropped: BTreeSet::new(),
        marked: BTreeMap::new(),
        waived_used: BTreeMap::new(),
    };
    let mut roots = Vec::new();
    for root in req.roots {
        if let Some(reason) = req.waived.get(&root.name) {
            s.waived_used.insert(root.name.clone(), reason.clone());
            continue;
        }
        let i = s.root_record(root)?;
        let name = index.records()[i].name.clone();
        s.cand.insert(name.clone(), i);
        s.marked
            .entry(name.clone())
            .or_insert((i, vec![name.clone()]));
        roots.push(name);
    }
    for name in &roots {
        if let Some((i, chain)) = s.marked.get(name).cloned() {
            s.install_deps(i, &chain)?;
        }
    }
    s.sweep(&roots)?;
    s.check_conflicts()?;
    Ok(s.finish())
}

struct Solver<'a> {
    index: &'a Index,
    waived: &'a BTreeMap<String, String>,
    depends: bool,
    /// Candidate overrides (roots with a version constraint).
    cand: BTreeMap<String, usize>,
    /// Packages whose candidate apt discarded: never installable in this run.
    dropped: BTreeSet<String>,
    /// Chosen: name → (record, chain).
    marked: BTreeMap<String, (usize, Vec<String>)>,
    waived_used: BTreeMap<String, String>,
}

/// Failure to install one package, before it becomes the caller's error.
type Failed = SolveError;

impl Solver<'_> {
    fn rec(&self, i: usize) -> &Record {
        &self.index.records()[i]
    }

    fn candidate(&self, name: &str) -> Option<usize> {
        if self.dropped.contains(name) {
            return None;
        }
        self.cand
            .get(name)
            .copied()
            .or_else(|| self.index.candidate_id(name))
    }

    fn root_record(&self, root: &RootPackage) -> Result<usize, SolveError> {
        let versions = self.index.versions(&root.name);
        if !versions.is_empty() {
            let ok = |&&i: &&usize| {
                root.constraint
                    .as_ref()
                    .is_none_or(|c| c.matches(&self.rec(i).version))
            };
            return versions
                .iter()
                .find(ok)
                .copied()
                .ok_or_else(|| SolveError::Unsatisfiable {
                    dep: root_text(root),
                    chain: Vec::new(),
                    candidate: versions.first().map(|&i| self.rec(i).version.to_string()),
                });
        }
        let dep = Dep {
            name: root.name.clone(),
            arch: ArchQual::None,
            constraint: root.constraint.clone(),
        };
        let providers: BTreeSet<usize> = self.provider_solutions(&dep).into_iter().collect();
        match providers.len() {
            0 => Err(self.not_found(&root.name, Vec::new())),
            1 => Ok(providers.into_iter().next().unwrap_or_default()),
            _ => Err(SolveError::Virtual {
                name: root.name.clone(),
                providers: providers
                    .iter()
                    .map(|&i| format!("{} ({})", self.rec(i).name, self.rec(i).version))
                    .collect(),
            }),
        }
    }

    fn not_found(&self, name: &str, chain: Vec<String>) -> SolveError {
        let names: Vec<&str> = self.index.names().collect();
        SolveError::NotFound {
            name: name.to_string(),
            chain,
            hint: crate::manifest::did_you_mean(name, &names).map(str::to_string),
        }
    }

    /// Whether record `r` can be what `dep` names (architecture qualifier and constraint).
    fn arch_ok(&self, dep: &Dep, r: &Record) -> bool {
        match &dep.arch {
            ArchQual::None | ArchQual::Native => true,
            ArchQual::Arch(a) => a == self.index.arch(),
            ArchQual::Any => r.multi_arch == MultiArch::Allowed,
        }
    }

    fn real_satisfies(&self, dep: &Dep, i: usize) -> bool {
        let r = self.rec(i);
        r.name == dep.name
            && self.arch_ok(dep, r)
            && dep
                .constraint
                .as_ref()
                .is_none_or(|c| c.matches(&r.version))
    }

    /// Whether provide `k` of record `i` satisfies `dep`.
    fn provide_satisfies(&self, dep: &Dep, i: usize, k: usize) -> bool {
        let r = self.rec(i);
        let Some((_, pv)) = r.provides.get(k) else {
            return false;
        };
        let version_ok = match (&dep.constraint, pv) {
            (None, _) => true,
            (Some(c), Some(v)) => c.matches(v),
            (Some(_), None) => false,
        };
        version_ok && self.arch_ok(dep, r)
    }

    /// Whether a chosen package satisfies `dep`.
    fn satisfied_by_marked(&self, dep: &Dep) -> bool {
        if let Some((i, _)) = self.marked.get(&dep.name) {
            if self.real_satisfies(dep, *i) {
                return true;
            }
        }
        self.index.provider_ids(&dep.name).iter().any(|&(i, k)| {
            self.marked.get(&self.rec(i).name).is_some_and(|m| m.0 == i)
                && self.provide_satisfies(dep, i, k)
        })
    }

    fn group_satisfied(&self, rel: &Relation) -> bool {
        rel.alternatives.iter().any(|d| self.satisfied_by_marked(d))
    }

    /// Candidates that provide `dep`, in index order.
    fn provider_solutions(&self, dep: &Dep) -> Vec<usize> {
        self.index
            .provider_ids(&dep.name)
            .iter()
            .filter(|&&(i, k)| {
                self.candidate(&self.rec(i).name) == Some(i) && self.provide_satisfies(dep, i, k)
            })
            .map(|&(i, _)| i)
            .collect()
    }

    /// apt's `getAllPossibleSolutions(…, CANDIDATE, sorted)` for an or-group.
    fn solutions(&self, rel: &Relation) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for dep in &rel.alternatives {
            let mut list = self.provider_solutions(dep);
            if let Some(c) = self.candidate(&dep.name) {
                if self.real_satisfies(dep, c) {
                    list.push(c);
                }
            }
            list.sort_by_key(|&i| self.provider_rank(dep, i));
            list.dedup();
            for i in list {
                if out.last() != Some(&i) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// apt's `CompareProviders` on an empty system, as a sort key (smaller first).
    fn provider_rank(
        &self,
        dep: &Dep,
        i: usize,
    ) -> (bool, bool, bool, u8, std::cmp::Reverse<usize>) {
        let r = self.rec(i);
        let important = ["Important", "Protected"].iter().any(|f| {
            control::paragraphs(&r.paragraph)
                .next()
                .and_then(Result::ok)
                .is_some_and(|p| p.get(f) == Some("yes"))
        });
        let first = self
            .index
            .versions(&r.name)
            .iter()
            .min()
            .copied()
            .unwrap_or(i);
        (
            r.name != dep.name,
            !r.essential,
            !important,
            r.priority_rank(),
            std::cmp::Reverse(first),
        )
    }

    /// Whether some alternative of `rel` names a waived package.
    fn waived_in<'r>(&self, rel: &'r Relation) -> Option<&'r str> {
        rel.alternatives
            .iter()
            .find(|d| self.waived.contains_key(&d.name))
            .map(|d| d.name.as_str())
    }

    /// apt's `IsInstallOkDependenciesSatisfiableByCandidates`: the first or-group of record
    /// `i` that neither a chosen package nor any candidate can satisfy.
    fn first_impossible(&self, i: usize) -> Option<&Relation> {
        let r = self.rec(i);
        r.pre_depends.iter().chain(&r.depends).find(|rel| {
            !self.group_satisfied(rel)
                && self.waived_in(rel).is_none()
                && self.solutions(rel).is_empty()
        })
    }

    /// Marks record `i` (a dependency) for install, then its dependencies.
    fn mark_install(&mut self, i: usize, chain: &[String]) -> Result<(), Failed> {
        let name = self.rec(i).name.clone();
        if self.marked.contains_key(&name) {
            return Ok(());
        }
        let mut own = Vec::with_capacity(chain.len() + 1);
        own.push(name.clone());
        own.extend_from_slice(chain);
        if own.len() > MAX_DEPTH {
            own.truncate(10);
            return Err(SolveError::TooDeep { chain: own });
        }
        if self.depends {
            if let Some(rel) = self.first_impossible(i) {
                let err = self.unsatisfiable(rel, &own);
                self.dropped.insert(name);
                return Err(err);
            }
        }
        self.marked.insert(name.clone(), (i, own.clone()));
        if let Err(e) = self.install_deps(i, &own) {
            self.marked.remove(&name);
            self.dropped.insert(name);
            return Err(e);
        }
        Ok(())
    }

    /// Installs the Pre-Depends and Depends of chosen record `i` whose chain is `chain`.
    fn install_deps(&mut self, i: usize, chain: &[String]) -> Result<(), Failed> {
        if !self.depends {
            return Ok(());
        }
        let r = self.rec(i);
        let groups: Vec<Relation> = r.pre_depends.iter().chain(&r.depends).cloned().collect();
        for rel in &groups {
            if self.group_satisfied(rel) {
                continue;
            }
            self.install_group(rel, chain)?;
        }
        Ok(())
    }

    fn install_group(&mut self, rel: &Relation, chain: &[String]) -> Result<(), Failed> {
        // A waiver covers the whole or-group it appears in: `[[waive]] package = "debconf"`
        // leaves out the need `debconf | debconf-2.0`, not only one way to meet it.
        if let Some(w) = self.waived_in(rel) {
            let reason = self.waived.get(w).cloned().unwrap_or_default();
            self.waived_used.insert(w.to_string(), reason);
            return Ok(());
        }
        let mut deeper = None;
        for sol in self.solutions(rel) {
            let name = &self.rec(sol).name;
            if self.waived.contains_key(name) || self.candidate(name) != Some(sol) {
                continue;
            }
            match self.mark_install(sol, chain) {
                Ok(()) => return Ok(()),
                Err(e @ SolveError::TooDeep { .. }) => return Err(e),
                Err(e) => {
                    deeper.get_or_insert(e);
                }
            }
        }
        if let Some(w) = self.waived_in(rel) {
            let reason = self.waived.get(w).cloned().unwrap_or_default();
            self.waived_used.insert(w.to_string(), reason);
            return Ok(());
        }
        Err(deeper.unwrap_or_else(|| self.unsatisfiable(rel, chain)))
    }

    fn unsatisfiable(&self, rel: &Relation, chain: &[String]) -> SolveError {
        let unknown = rel.alternatives.iter().all(|d| {
            self.index.versions(&d.name).is_empty() && self.index.provider_ids(&d.name).is_empty()
        });
        match rel.alternatives.first() {
            Some(d) if unknown => self.not_found(&d.name, chain.to_vec()),
            first => SolveError::Unsatisfiable {
                dep: rel.to_string(),
                chain: chain.to_vec(),
                candidate: first
                    .and_then(|d| self.index.candidate(&d.name))
                    .map(|r| r.version.to_string()),
            },
        }
    }

    /// apt-get's garbage step for new installs: a package chosen on the way but no longer
    /// reachable from a root (its dependent was discarded later) is not installed. Reachability
    /// follows Pre-Depends, Depends, Recommends and Suggests to every chosen package that
    /// satisfies them, as apt's `MarkAndSweep` does with its default settings.
    fn sweep(&mut self, roots: &[String]) -> Result<(), SolveError> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<String> = roots.to_vec();
        while let Some(name) = todo.pop() {
            let Some(&(i, _)) = self.marked.get(&name) else {
                continue;
            };
            if !seen.insert(name) {
                continue;
            }
            let r = self.rec(i);
            for field in ["Pre-Depends", "Depends", "Recommends", "Suggests"] {
                for rel in r.relations(field)? {
                    for dep in &rel.alternatives {
                        todo.extend(self.marked_targets(dep));
                    }
                }
            }
        }
        self.marked.retain(|name, _| seen.contains(name));
        Ok(())
    }

    /// Chosen packages that satisfy `dep` (the package itself and providers).
    fn marked_targets(&self, dep: &Dep) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(&(i, _)) = self.marked.get(&dep.name) {
            if self.real_satisfies(dep, i) {
                out.push(dep.name.clone());
            }
        }
        for &(i, k) in self.index.provider_ids(&dep.name) {
            let r = self.rec(i);
            if self.marked.get(&r.name).is_some_and(|m| m.0 == i)
                && self.provide_satisfies(dep, i, k)
            {
                out.push(r.name.clone());
            }
        }
        out
    }

    /// Errors on the first Conflicts/Breaks between chosen packages (by name order).
    fn check_conflicts(&self) -> Result<(), SolveError> {
        for (name, &(i, _)) in &self.marked {
            let r = self.rec(i);
            for field in ["Conflicts", "Breaks"] {
                for rel in r.relations(field)? {
                    for dep in &rel.alternatives {
                        if let Some(hit) = self.conflict_hit(name, dep) {
                            return Err(SolveError::Conflict {
                                a: format!("{name} ({}) {field}: {dep}", r.version),
                                b: hit,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The chosen package (other than `own`) that `dep` of a negative relation hits.
    fn conflict_hit(&self, own: &str, dep: &Dep) -> Option<String> {
        if dep.name != own {
            if let Some(&(i, _)) = self.marked.get(&dep.name) {
                if self.real_satisfies(dep, i) {
                    return Some(format!("{} ({})", dep.name, self.rec(i).version));
                }
            }
        }
        self.index
            .provider_ids(&dep.name)
            .iter()
            .find_map(|&(i, k)| {
                let r = self.rec(i);
                let chosen = r.name != own && self.marked.get(&r.name).is_some_and(|m| m.0 == i);
                (chosen && self.provide_satisfies(dep, i, k))
                    .then(|| format!("{} ({}) providing {}", r.name, r.version, dep.name))
            })
    }

    fn finish(self) -> Solution {
        let packages = self
            .marked
            .into_iter()
            .map(|(name, (i, chain))| Chosen {
                name,
                version: self.index.records()[i].version.clone(),
                chain,
                record: i,
            })
            .collect();
        Solution {
            packages,
            waived_used: self.waived_used.into_iter().collect(),
        }
    }
}

fn root_text(root: &RootPackage) -> String {
    match &root.constraint {
        Some(c) => format!("{} {c}", root.name),
        None => root.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    /// `(name version arch, extra fields)` → an index.
    fn index(pkgs: &[(&str, &str)]) -> Index {
        let mut text = String::new();
        for (head, extra) in pkgs {
            let mut it = head.split(' ');
            let (n, v, a) = (
                it.next().unwrap(),
                it.next().unwrap(),
                it.next().unwrap_or("amd64"),
            );
            text.push_str(&format!(
                "Package: {n}\nVersion: {v}\nArchitecture: {a}\n{extra}Filename: pool/{n}.deb\nSize: 1\nSHA256: {SHA}\n\n"
            ));
        }
        Index::parse(&text, "amd64").unwrap()
    }

    fn run(idx: &Index, roots: &[&str], waived: &[&str]) -> Result<Solution, SolveError> {
        let roots: Vec<RootPackage> = roots
            .iter()
            .map(|r| RootPackage::parse(r).unwrap())
            .collect();
        let waived: BTreeMap<String, String> = waived
            .iter()
            .map(|w| (w.to_string(), "test".to_string()))
            .collect();
        solve(
            idx,
            &Request {
                roots: &roots,
                waived: &waived,
                depends: true,
            },
        )
    }

    fn names(s: &Solution) -> Vec<String> {
        s.packages
            .iter()
            .map(|c| format!("{}={}", c.name, c.version))
            .collect()
    }

    #[test]
    fn candidate_is_highest_and_chains_lead_to_the_root() {
        let idx = index(&[
            ("app 1.0", "Depends: lib (>= 1)\n"),
            ("lib 1.0", "Pre-Depends: base\n"),
            ("lib 2.0", "Pre-Depends: base\n"),
            ("base 1 all", ""),
        ]);
        let s = run(&idx, &["app"], &[]).unwrap();
        assert_eq!(names(&s), ["app=1.0", "base=1", "lib=2.0"]);
        assert_eq!(s.packages[1].chain, ["base", "lib", "app"]);
        assert_eq!(s.packages[0].chain, ["app"]);
        let s = run(&idx, &["lib (= 1.0)"], &[]).unwrap();
        assert_eq!(names(&s), ["base=1", "lib=1.0"]);
        let only = solve(
            &idx,
            &Request {
                roots: &[RootPackage::parse("app").unwrap()],
                waived: &BTreeMap::new(),
                depends: false,
            },
        )
        .unwrap();
        assert_eq!(names(&only), ["app=1.0"]);
    }

    #[test]
    fn no_fallback_to_older_versions() {
        let idx = index(&[
            ("app 1", "Depends: lib (<< 2)\n"),
            ("lib 1", ""),
            ("lib 2", ""),
        ]);
        match run(&idx, &["app"], &[]) {
            Err(SolveError::Unsatisfiable {
                dep,
                chain,
                candidate,
            }) => {
                assert_eq!(dep, "lib (<< 2)");
                assert_eq!(chain, ["app"]);
                assert_eq!(candidate.as_deref(), Some("2"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alternatives() {
        let idx = index(&[
            ("app 1", "Depends: missing | old (>= 2) | bb | cc\n"),
            ("old 1", ""),
            ("bb 1", ""),
            ("cc 1", ""),
            ("two 1", "Depends: bb | cc\n"),
        ]);
        assert_eq!(names(&run(&idx, &["app"], &[]).unwrap()), ["app=1", "bb=1"]);
        // An alternative already chosen (here a root) wins.
        assert_eq!(
            names(&run(&idx, &["cc", "two"], &[]).unwrap()),
            ["cc=1", "two=1"]
        );
        // An alternative whose own dependencies cannot be met is skipped.
        let idx = index(&[
            ("app 1", "Depends: bb | cc\n"),
            ("bb 1", "Depends: nothing\n"),
            ("cc 1", ""),
        ]);
        assert_eq!(names(&run(&idx, &["app"], &[]).unwrap()), ["app=1", "cc=1"]);
    }

    #[test]
    fn virtual_packages() {
        let idx = index(&[
            ("app 1", "Depends: mta\n"),
            ("exim 1", "Provides: mta\nPriority: extra\n"),
            ("postfix 1", "Provides: mta\nPriority: optional\n"),
            ("one 1", "Provides: solo\n"),
            ("ver 1", "Depends: v (>= 2)\n"),
            ("v1 1", "Provides: v (= 1)\n"),
            ("v2 1", "Provides: v (= 2)\n"),
            ("unv 1", "Provides: v\n"),
        ]);
        assert_eq!(
            names(&run(&idx, &["app"], &[]).unwrap()),
            ["app=1", "postfix=1"]
        );
        assert_eq!(names(&run(&idx, &["solo"], &[]).unwrap()), ["one=1"]);
        assert!(
            matches!(run(&idx, &["mta"], &[]), Err(SolveError::Virtual { providers, .. }) if providers.len() == 2)
        );
        assert_eq!(names(&run(&idx, &["ver"], &[]).unwrap()), ["v2=1", "ver=1"]);
    }

    #[test]
    fn multi_arch_any() {
        let idx = index(&[
            ("app 1", "Depends: perl:any, py:any | py-allowed\n"),
            ("perl 1", "Multi-Arch: allowed\n"),
            ("py 1", ""),
            ("py-allowed 1 all", ""),
            ("other 1", "Depends: perl:arm64\n"),
        ]);
        assert_eq!(
            names(&run(&idx, &["app"], &[]).unwrap()),
            ["app=1", "perl=1", "py-allowed=1"]
        );
        assert!(run(&idx, &["other"], &[]).is_err());
    }

    #[test]
    fn cycles_and_waivers() {
        let idx = index(&[
            ("a1 1", "Depends: b1, w1\n"),
            ("b1 1", "Depends: a1\n"),
            ("w1 1", ""),
        ]);
        let s = run(&idx, &["a1"], &["w1", "unused"]).unwrap();
        assert_eq!(names(&s), ["a1=1", "b1=1"]);
        assert_eq!(s.waived_used, [("w1".to_string(), "test".to_string())]);
    }

    #[test]
    fn conflicts_and_breaks_are_errors() {
        let idx = index(&[
            ("a1 1", "Depends: b1\nConflicts: c1\n"),
            ("b1 1", "Breaks: a1 (<< 2)\n"),
            ("c1 1", ""),
            ("d1 1", "Conflicts: virt\nProvides: virt\n"),
        ]);
        assert!(matches!(
            run(&idx, &["a1"], &[]),
            Err(SolveError::Conflict { .. })
        ));
        assert!(
            run(&idx, &["d1"], &[]).is_ok(),
            "a package may conflict with what it provides"
        );
    }

    #[test]
    fn not_found_with_hint() {
        let idx = index(&[("nginx-light 1", "Depends: libpcre\n"), ("libpcre3 1", "")]);
        match run(&idx, &["nginx-lite"], &[]) {
            Err(SolveError::NotFound { hint, .. }) => {
                assert_eq!(hint.as_deref(), Some("nginx-light"))
            }
            other => panic!("{other:?}"),
        }
        match run(&idx, &["nginx-light"], &[]) {
            Err(SolveError::NotFound { name, chain, hint }) => {
                assert_eq!(
                    (name.as_str(), chain, hint.as_deref()),
                    ("libpcre", vec!["nginx-light".to_string()], Some("libpcre3"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(RootPackage::parse("a | b").is_err());
        assert!(RootPackage::parse("Bad").is_err());
        assert!(RootPackage::parse("nginx (= 1.0)")
            .unwrap()
            .constraint
            .is_some());
    }

    #[test]
    fn deep_chains_are_bounded() {
        let pkgs: Vec<(String, String)> = (0..500)
            .map(|n| (format!("p{n} 1"), format!("Depends: p{}\n", n + 1)))
            .collect();
        let refs: Vec<(&str, &str)> = pkgs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let idx = index(&refs);
        assert!(matches!(
            run(&idx, &["p0"], &[]),
            Err(SolveError::TooDeep { .. })
        ));
    }
}
