//! Watchlists through GraphQL: `watchlists` (every role: names and sizes)
//! and `addWatchlistEntries` (admins). The lists stay files in the
//! configured directory (`[policies] watchlists_dir`), the one source the
//! rule engine reads: an addition is appended to the list's file, the
//! engine reads it again within seconds and hunts the new entries over the
//! history already evaluated (`policies::retro`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_graphql::{Context, Object, Result, SimpleObject};

use crate::auth::Role;
use crate::context::{blocking, require, state};
use crate::error::{ErrorCode, bad_input, internal};

/// Entries added in one call at most.
pub const MAX_ADDED: usize = 10_000;

/// The cells of a CSV list that hold entries (`policies::watchlist`).
const ENTRY_COLUMNS: [&str; 5] = ["id", "address", "account", "entry", "name"];

/// One list.
#[derive(SimpleObject)]
pub struct Watchlist {
    /// Its name (`lists.NAME` in rules).
    pub name: String,
    /// Its entries.
    pub entries: i64,
}

/// Appends are serialised within the process.
static APPEND: Mutex<()> = Mutex::new(());

/// The queries.
#[derive(Default)]
pub struct WatchlistQuery;

#[Object]
impl WatchlistQuery {
    /// The watchlists the rules read, with their sizes.
    async fn watchlists(&self, ctx: &Context<'_>) -> Result<Vec<Watchlist>> {
        let st = state(ctx)?.clone();
        blocking(move || {
            let Some(dir) = &st.backtest.watchlists_dir else {
                return Ok(Vec::new());
            };
            let lists = policies::Watchlists::load(dir).map_err(internal)?;
            Ok(lists
                .lists()
                .iter()
                .map(|(name, e)| Watchlist {
                    name: name.clone(),
                    entries: i64::try_from(e.len()).unwrap_or(i64::MAX),
                })
                .collect())
        })
        .await
    }
}

/// The mutation.
#[derive(Default)]
pub struct WatchlistMutation;

#[Object]
impl WatchlistMutation {
    /// Adds `entries` to list `list` (created if new), each with `note`
    /// (admins). The rule engine reads the list again within seconds and
    /// hunts the new entries over the history it has evaluated.
    async fn add_watchlist_entries(
        &self,
        ctx: &Context<'_>,
        list: String,
        entries: Vec<String>,
        note: Option<String>,
    ) -> Result<Watchlist> {
        require(ctx, Role::administers, "watchlists")?;
        let st = state(ctx)?.clone();
        let Some(dir) = st.backtest.watchlists_dir.clone() else {
            return Err(ErrorCode::Conflict
                .error("no watchlist directory is configured ([policies] watchlists_dir)"));
        };
        if list.is_empty()
            || list.len() > 64
            || !list.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad_input(format!(
                "list '{list}': a name is 1 to 64 letters, digits and '_'"
            )));
        }
        if entries.is_empty() || entries.len() > MAX_ADDED {
            return Err(bad_input(format!("entries: 1 to {MAX_ADDED} at a time")));
        }
        let mut clean = Vec::with_capacity(entries.len());
        for e in &entries {
            let e = e.trim().to_lowercase();
            if e.is_empty()
                || e.len() > 200
                || e.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '"' | '#'))
            {
                return Err(bad_input(format!(
                    "entry '{e}': 1 to 200 characters without spaces, commas, quotes or '#'"
                )));
            }
            clean.push(e);
        }
        let note = note.unwrap_or_default();
        if note.len() > 500
            || note
                .chars()
                .any(|c| c.is_control() || matches!(c, ',' | '"'))
        {
            return Err(bad_input(
                "note: at most 500 characters, without commas, quotes or control characters",
            ));
        }
        blocking(move || {
            let _held = APPEND
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            append(&dir, &list, &clean, &note)?;
            let lists = policies::Watchlists::load(&dir).map_err(internal)?;
            let n = lists.lists().get(&list).map_or(0, |e| e.len());
            Ok(Watchlist {
                name: list,
                entries: i64::try_from(n).unwrap_or(i64::MAX),
            })
        })
        .await
    }
}

/// Appends `entries` to the list's file in its own format: `NAME.txt`
/// (one per line, the note as a comment), else `NAME.csv` (created with
/// `id,reason` if neither exists; the entry in the first entry column).
fn append(dir: &Path, list: &str, entries: &[String], note: &str) -> Result<()> {
    let txt = dir.join(format!("{list}.txt"));
    let csv = dir.join(format!("{list}.csv"));
    let io = |p: &PathBuf, e: std::io::Error| internal(format!("{}: {e}", p.display()));
    if txt.exists() {
        let mut text = String::new();
        for e in entries {
            if note.is_empty() {
                text.push_str(&format!("{e}\n"));
            } else {
                text.push_str(&format!("{e} # {note}\n"));
            }
        }
        return write_end(&txt, &text).map_err(|e| io(&txt, e));
    }
    let (columns, at) = if csv.exists() {
        let head = std::fs::read_to_string(&csv).map_err(|e| io(&csv, e))?;
        let header: Vec<String> = head
            .lines()
            .next()
            .unwrap_or_default()
            .split(',')
            .map(|c| c.trim().to_lowercase())
            .collect();
        let Some(at) = header
            .iter()
            .position(|c| ENTRY_COLUMNS.contains(&c.as_str()))
        else {
            return Err(ErrorCode::Conflict.error(format!(
                "{}: no entry column ({}) in its header",
                csv.display(),
                ENTRY_COLUMNS.join(", ")
            )));
        };
        (header.len(), at)
    } else {
        write_end(&csv, "id,reason\n").map_err(|e| io(&csv, e))?;
        (2, 0)
    };
    let mut text = String::new();
    for e in entries {
        let mut cells = vec![String::new(); columns];
        cells[at] = e.clone();
        if let Some(c) = (0..columns).find(|c| *c != at) {
            cells[c] = note.to_string();
        }
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    write_end(&csv, &text).map_err(|e| io(&csv, e))
}

/// Appends `text` to `path` on a line of its own, synced.
fn write_end(path: &Path, text: &str) -> std::io::Result<()> {
    let ends_in_newline = match std::fs::read(path) {
        Ok(b) => b.is_empty() || b.ends_with(b"\n"),
        Err(_) => true,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if !ends_in_newline {
        f.write_all(b"\n")?;
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
