//! Tidiness that keeps the code easy to find one's way in: every Rust file
//! opens with a `//!` comment saying what it owns, `ARCHITECTURE.md`'s
//! code map has a heading for exactly the crates of the workspace, and its
//! dependency table is the manifests' and points one way.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Rust files of the repository, outside build output and dependencies.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name.starts_with('.')
                || ["target", "node_modules", "corpus", "artifacts"].contains(&name.as_ref())
            {
                continue;
            }
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_comment() {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    assert!(files.len() > 50, "found only {} Rust files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !first.starts_with("//!")
        })
        .map(|f| f.strip_prefix(root()).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` comment saying what they own: {missing:?}"
    );
}

/// The workspace's member folders, from the root `Cargo.toml`.
fn members() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml parses");
    manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members")
        .iter()
        .map(|m| m.as_str().expect("a member is a path").to_string())
        .collect()
}

/// The folders `ARCHITECTURE.md`'s code map has a heading for (`### \`name/\``).
fn mapped_folders() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .filter_map(|l| l.strip_suffix('/'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_code_map_names_exactly_the_workspace_crates() {
    let members = members();
    let mapped = mapped_folders();
    let crates: BTreeSet<String> = mapped
        .iter()
        .filter(|f| root().join(f).join("Cargo.toml").exists())
        .cloned()
        .collect();
    // `fuzz/` is a crate of its own, outside the workspace (cargo-fuzz needs nightly).
    let outside: BTreeSet<String> = ["fuzz".to_string()].into();
    let unmapped: Vec<_> = members.difference(&crates).collect();
    let stale: Vec<_> = crates
        .difference(&members)
        .filter(|c| !outside.contains(*c))
        .collect();
    assert!(
        unmapped.is_empty(),
        "workspace crates without a `### `NAME/`` heading in ARCHITECTURE.md: {unmapped:?}"
    );
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md maps crates that are not workspace members: {stale:?}"
    );
    for heading in &mapped {
        assert!(
            root().join(heading).is_dir(),
            "ARCHITECTURE.md maps `{heading}/`, which does not exist"
        );
    }
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    assert!(
        !text.contains("(in progress)"),
        "ARCHITECTURE.md describes what exists: no \"(in progress)\" marks"
    );
}

/// Each member's package name and its normal dependencies among the
/// workspace's packages, from the manifests.
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let manifests: Vec<toml::Table> = members()
        .iter()
        .map(|m| {
            let path = root().join(m).join("Cargo.toml");
            let text = std::fs::read_to_string(&path).expect("a member's Cargo.toml");
            text.parse().expect("a member's Cargo.toml parses")
        })
        .chain(std::iter::once({
            let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
            text.parse().expect("Cargo.toml parses")
        }))
        .collect();
    let name = |m: &toml::Table| -> String {
        m["package"]["name"]
            .as_str()
            .expect("package.name")
            .to_string()
    };
    let names: BTreeSet<String> = manifests.iter().map(name).collect();
    manifests
        .iter()
        .map(|m| {
            let deps = m
                .get("dependencies")
                .and_then(|d| d.as_table())
                .map(|d| d.keys().filter(|k| names.contains(*k)).cloned().collect())
                .unwrap_or_default();
            (name(m), deps)
        })
        .collect()
}

/// `ARCHITECTURE.md`'s dependency table, in its order: (crate, its dependencies).
fn dependency_table() -> Vec<(String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = text
        .split("## Dependencies point one way")
        .nth(1)
        .expect("a \"Dependencies point one way\" section");
    let ticked = |cell: &str| -> BTreeSet<String> {
        cell.split(',')
            .filter_map(|c| c.trim().strip_prefix('`')?.strip_suffix('`'))
            .map(str::to_string)
            .collect()
    };
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // `| crate | deps |` splits into ["", crate, deps, ""].
            if cells.len() != 4 || !cells[1].starts_with('`') {
                return None;
            }
            let krate = ticked(cells[1]).into_iter().next()?;
            Some((krate, ticked(cells[2])))
        })
        .collect()
}

#[test]
fn the_dependency_table_is_the_manifests_and_points_one_way() {
    let actual = workspace_dependencies();
    let table = dependency_table();
    let listed: BTreeMap<String, BTreeSet<String>> = table.iter().cloned().collect();
    assert_eq!(
        listed, actual,
        "ARCHITECTURE.md's dependency table differs from the manifests"
    );
    for (i, (krate, deps)) in table.iter().enumerate() {
        let above: BTreeSet<&String> = table[..i].iter().map(|(k, _)| k).collect();
        let below: Vec<&String> = deps.iter().filter(|d| !above.contains(d)).collect();
        assert!(
            below.is_empty(),
            "`{krate}` depends on {below:?}, which the table lists below it: dependencies point one way"
        );
    }
}

/// Suffixes the Prometheus exposition adds to a metric's name: counters'
/// `_total`, the `_seconds` unit of the timings, a histogram's series.
const EXPOSED_SUFFIXES: [&str; 9] = [
    "",
    "_total",
    "_seconds",
    "_bucket",
    "_sum",
    "_count",
    "_seconds_bucket",
    "_seconds_sum",
    "_seconds_count",
];

#[test]
fn the_grafana_dashboard_shows_every_metric_and_only_metrics_that_exist() {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    let mut defined = BTreeSet::new();
    for f in files.iter().filter(|f| f.ends_with("metrics.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("\"lookthrough_") {
            let tail = &rest[at + 1..];
            let end = tail.find('"').unwrap();
            defined.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    assert!(
        defined.len() > 40,
        "metric names found in the code: {defined:?}"
    );
    let shown = support::grafana_metrics();
    let resolves = |m: &str, c: &str| {
        m.strip_prefix(c)
            .is_some_and(|s| EXPOSED_SUFFIXES.contains(&s))
    };
    let unknown: Vec<&String> = shown
        .iter()
        .filter(|m| !defined.iter().any(|c| resolves(m, c)))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics the code does not define: {unknown:?}"
    );
    let missing: Vec<&String> = defined
        .iter()
        .filter(|c| !shown.iter().any(|m| resolves(m, c)))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics the dashboard does not show: {missing:?}"
    );
}
