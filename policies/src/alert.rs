//! Alerts and their lifecycle, as stored.
//!
//! An alert is opened by a rule for one group key and gathers the matches
//! of that key until it is resolved or dismissed, or no match comes within
//! the rule's dedup interval. Its state moves open → acknowledged →
//! resolved or dismissed; each move, assignment and note is kept in its
//! history with who did it and when.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rule::Severity;

/// Most transactions listed on one alert; the rest are counted.
pub const MAX_LISTED: usize = 1_000;

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// New.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Dealt with.
    Resolved,
    /// Not a problem.
    Dismissed,
}

impl AlertState {
    /// Whether new matches of its key still join it.
    pub fn is_live(self) -> bool {
        matches!(self, AlertState::Open | AlertState::Acknowledged)
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
            AlertState::Dismissed => "dismissed",
        }
    }
}

/// One entry of an alert's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (ms since the epoch, wall clock).
    pub at_ms: i64,
    /// Who: `policies` for the engine, else the caller's name.
    pub actor: String,
    /// What: `opened`, `matched`, `acknowledged`, `assigned`, `noted`,
    /// `resolved`, `dismissed`, `reopened`, `silenced`.
    pub action: String,
    /// Details (the note, the assignee, the transactions added).
    pub detail: String,
}

/// One delivery attempt of a notification of the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The channel.
    pub channel: String,
    /// The notification's idempotency id.
    pub message_id: String,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// `queued`, `delivered`, `failed` (will retry) or `dead` (given up).
    pub status: String,
    /// Attempt number, from 1 (0 when queued).
    pub attempt: u32,
    /// The receiver's answer or the error.
    pub detail: String,
}

/// An alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Id, increasing.
    pub id: u64,
    /// The rule.
    pub rule: String,
    /// The rule's version when it opened.
    pub rule_version: u32,
    /// The rule's title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// The group key.
    pub group_key: String,
    /// The rule's labels.
    pub labels: BTreeMap<String, String>,
    /// Lifecycle state.
    pub state: AlertState,
    /// The silence that muted its notifications, if any.
    pub silenced_by: Option<u64>,
    /// Opened (wall clock, ms).
    pub created_ms: i64,
    /// Last changed (wall clock, ms).
    pub updated_ms: i64,
    /// Block time of its first match, ms.
    pub first_seen_ms: i64,
    /// Block time of its last match, ms.
    pub last_seen_ms: i64,
    /// Height of its last match.
    pub last_height: i64,
    /// Height of the block that opened it.
    #[serde(default)]
    pub opened_height: i64,
    /// Matching transactions, in chain order (at most [`MAX_LISTED`]).
    pub transactions: Vec<String>,
    /// Matching transactions beyond the list.
    pub unlisted: u64,
    /// Why it fired: the values that made the condition true.
    pub values: BTreeMap<String, String>,
    /// Who is on it.
    pub assignee: Option<String>,
    /// History, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Notifications and their delivery.
    pub deliveries: Vec<Delivery>,
}

impl Alert {
    /// Transactions matched in all.
    pub fn count(&self) -> u64 {
        self.transactions.len() as u64 + self.unlisted
    }

    /// Those of `hashes` this alert does not list, each once, in order. A
    /// window's firing repeats the window's earlier transactions, which a
    /// long-lived alert already lists: they are looked up in a set, not by
    /// scanning the list once for each.
    pub fn unlisted_of(&self, hashes: &[String]) -> Vec<String> {
        let listed: std::collections::HashSet<&str> =
            self.transactions.iter().map(String::as_str).collect();
        let mut seen = std::collections::HashSet::new();
        hashes
            .iter()
            .filter(|h| !listed.contains(h.as_str()) && seen.insert(h.as_str()))
            .cloned()
            .collect()
    }

    /// Adds `fresh`, transactions new to this alert: listed while there is
    /// room, counted in `unlisted` after that.
    pub fn add_transactions(&mut self, fresh: Vec<String>) {
        for h in fresh {
            if self.transactions.len() < MAX_LISTED {
                self.transactions.push(h);
            } else {
                self.unlisted += 1;
            }
        }
    }
}

/// A silence: mutes the notifications of a rule (or of one group key of
/// it) until a time, like an Alertmanager silence. Alerts are still opened
/// and shown, marked silenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Id.
    pub id: u64,
    /// The rule it mutes.
    pub rule: String,
    /// Only this group key, if set.
    pub group_key: Option<String>,
    /// From (wall clock, ms).
    pub starts_ms: i64,
    /// Until (wall clock, ms).
    pub ends_ms: i64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Whether it mutes an alert of `rule` for `key` at `now_ms`.
    pub fn mutes(&self, rule: &str, key: &str, now_ms: i64) -> bool {
        self.rule == rule
            && self.group_key.as_deref().is_none_or(|k| k == key)
            && (self.starts_ms..self.ends_ms).contains(&now_ms)
    }
}

/// A notification waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Idempotency id (`webhook-id`): the same on every retry.
    pub message_id: String,
    /// The alert.
    pub alert_id: u64,
    /// `alert.opened`.
    pub event: String,
    /// Queued (wall clock, ms).
    pub created_ms: i64,
    /// Attempts made.
    pub attempts: u32,
    /// Not before (wall clock, ms).
    pub next_attempt_ms: i64,
    /// The last error.
    pub last_error: Option<String>,
}
