//! Watchlists: sanctioned and internal lists of parties, one file each in a
//! directory, read again whenever a file changes (no restart).
//!
//! `NAME.txt` holds one entry per line (`#` starts a comment; the first
//! word of a line is the entry). `NAME.csv` holds one party per row after a
//! header row; the cells under `id`, `address`, `account`, `entry` or
//! `name` are entries (so a row with an organisation id and an account
//! address lists both), the other columns are notes. Entries are compared
//! in lowercase. Rules read them as `lists.NAME`: `tx.payee in
//! lists.sanctions`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cel::Value;

/// Why a watchlist could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct WatchlistError {
    /// The file or directory.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The loaded lists.
#[derive(Debug, Clone)]
pub struct Watchlists {
    dir: Option<PathBuf>,
    signature: Vec<(PathBuf, Option<SystemTime>, u64)>,
    lists: BTreeMap<String, BTreeSet<String>>,
    value: Value,
}

impl Default for Watchlists {
    fn default() -> Self {
        Self {
            dir: None,
            signature: Vec::new(),
            lists: BTreeMap::new(),
            value: Value::Null,
        }
    }
}

impl Watchlists {
    /// No lists.
    pub fn empty() -> Self {
        let mut w = Self::default();
        w.rebuild_value();
        w
    }

    /// The lists of `dir`.
    pub fn load(dir: &Path) -> Result<Self, WatchlistError> {
        let mut w = Self {
            dir: Some(dir.to_path_buf()),
            ..Self::default()
        };
        w.reload()?;
        Ok(w)
    }

    /// Lists given directly (tests, the built-in demo list).
    pub fn from_lists(lists: BTreeMap<String, BTreeSet<String>>) -> Self {
        let mut w = Self {
            lists: lists
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(|e| e.to_lowercase()).collect()))
                .collect(),
            ..Self::default()
        };
        w.rebuild_value();
        w
    }

    fn files(dir: &Path) -> Result<Vec<(PathBuf, Option<SystemTime>, u64)>, WatchlistError> {
        let rd = std::fs::read_dir(dir).map_err(|e| WatchlistError {
            path: dir.to_path_buf(),
            message: format!("cannot read the watchlist directory: {e}"),
        })?;
        let mut out: Vec<_> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt" || x == "csv"))
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let mtime = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map_or(0, |m| m.len());
                (p, mtime, len)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Reads the directory again if any file changed; `Ok(true)` when it
    /// did. On error the lists in force stay.
    pub fn reload_if_changed(&mut self) -> Result<bool, WatchlistError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(false);
        };
        if Self::files(&dir)? == self.signature {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    fn reload(&mut self) -> Result<(), WatchlistError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let signature = Self::files(&dir)?;
        let mut lists = BTreeMap::new();
        for (path, _, _) in &signature {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(WatchlistError {
                    path: path.clone(),
                    message: "a list's file name must be letters, digits and '_' (it is the name rules use: lists.NAME)".into(),
                });
            }
            let text = std::fs::read_to_string(path).map_err(|e| WatchlistError {
                path: path.clone(),
                message: format!("cannot read: {e}"),
            })?;
            let csv = path.extension().is_some_and(|x| x == "csv");
            lists.insert(name, parse(&text, csv));
        }
        self.signature = signature;
        self.lists = lists;
        self.rebuild_value();
        Ok(())
    }

    fn rebuild_value(&mut self) {
        let mut m: HashMap<String, Value> = HashMap::new();
        for (name, entries) in &self.lists {
            let set: HashMap<String, Value> = entries
                .iter()
                .map(|e| (e.clone(), Value::Bool(true)))
                .collect();
            m.insert(name.clone(), Value::from(set));
        }
        self.value = Value::from(m);
    }

    /// Every list and its entries (lowercase).
    pub fn lists(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.lists
    }

    /// Whether the lists come from a directory (and may change).
    pub fn from_dir(&self) -> bool {
        self.dir.is_some()
    }

    /// The names of the lists.
    pub fn names(&self) -> BTreeSet<String> {
        self.lists.keys().cloned().collect()
    }

    /// Entries per list.
    pub fn sizes(&self) -> BTreeMap<String, usize> {
        self.lists
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }

    /// Whether `entry` is on list `name`.
    pub fn contains(&self, name: &str, entry: &str) -> bool {
        self.lists
            .get(name)
            .is_some_and(|l| l.contains(&entry.to_lowercase()))
    }

    /// The `lists` value rules see.
    pub fn value(&self) -> Value {
        self.value.clone()
    }
}

/// Columns of a CSV list that hold entries; other columns (a reason, a
/// date) are notes. Without any of them, the first column is the entry.
const ENTRY_COLUMNS: &[&str] = &["id", "address", "account", "entry", "name"];

fn parse(text: &str, csv: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut columns: Vec<usize> = vec![0];
    for (i, line) in text.lines().enumerate() {
        if csv && i == 0 {
            let named: Vec<usize> = line
                .split(',')
                .enumerate()
                .filter(|(_, h)| {
                    ENTRY_COLUMNS.contains(&h.trim().trim_matches('"').to_lowercase().as_str())
                })
                .map(|(j, _)| j)
                .collect();
            if !named.is_empty() {
                columns = named;
            }
            continue;
        }
        if csv {
            for (j, cell) in line.split(',').enumerate() {
                let cell = cell.trim().trim_matches('"').trim();
                if columns.contains(&j) && !cell.is_empty() {
                    out.insert(cell.to_lowercase());
                }
            }
        } else {
            let line = line.split('#').next().unwrap_or_default().trim();
            if let Some(word) = line.split_whitespace().next() {
                out.insert(word.to_lowercase());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_csv_lists_are_read_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("internal.txt"),
            "# ours\nORG-X  reason\n\norg-y\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sanctions.csv"),
            "id,address,reason\norg-z,0xABCDEF,\"listed\"\n",
        )
        .unwrap();
        let mut w = Watchlists::load(dir.path()).unwrap();
        assert!(w.contains("internal", "org-x"));
        assert!(w.contains("internal", "ORG-Y"));
        assert!(!w.contains("internal", "reason"));
        assert!(w.contains("sanctions", "0xabcdef"));
        assert!(w.contains("sanctions", "org-z"));
        assert!(!w.contains("sanctions", "id"));
        assert!(!w.contains("sanctions", "listed"));
        assert!(!w.reload_if_changed().unwrap());
        std::fs::write(dir.path().join("internal.txt"), "org-q\n").unwrap();
        assert!(w.reload_if_changed().unwrap());
        assert!(w.contains("internal", "org-q"));
        assert!(!w.contains("internal", "org-x"));
        std::fs::write(dir.path().join("bad-name.txt"), "x\n").unwrap();
        let e = w.reload_if_changed().unwrap_err();
        assert!(e.to_string().contains("bad-name.txt"), "{e}");
        // The lists in force stay.
        assert!(w.contains("internal", "org-q"));
    }
}
