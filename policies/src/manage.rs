//! What people do with alerts, silences and rules, as the API offers it:
//! each change is checked, written under the policy lock and kept in the
//! alert's history or as a new rule version.

use std::path::Path;

use store::{Op, Store};

use crate::alert::{Alert, AlertState, HistoryEntry, Silence};
use crate::error::{EngineError, corrupt};
use crate::family::{
    MAX_RULE_VERSIONS, MAX_RULES, RuleVersion, alert, key, keyed, latest_rules, rule_versions,
    state_u64, version_op,
};
use crate::rule::{Rule, RuleError, parse_one};
use records::time::now_ms;

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// No such alert, silence or rule.
    #[error("{0} not found")]
    NotFound(String),
    /// The change does not apply in the current state.
    #[error("{0}")]
    Conflict(String),
    /// The input is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A rule does not compile.
    #[error("the rule does not compile: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rule(Vec<RuleError>),
    /// The store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<store::StoreError> for ManageError {
    fn from(e: store::StoreError) -> Self {
        ManageError::Engine(EngineError::Store(e))
    }
}

/// A lifecycle action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// open → acknowledged.
    Acknowledge,
    /// open or acknowledged → resolved.
    Resolve,
    /// open or acknowledged → dismissed.
    Dismiss,
    /// resolved or dismissed → open.
    Reopen,
    /// A note, in any state.
    Note,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledged",
            Action::Resolve => "resolved",
            Action::Dismiss => "dismissed",
            Action::Reopen => "reopened",
            Action::Note => "noted",
        }
    }
}

const MAX_NOTE: usize = 4_000;

fn write_alert(store: &Store, a: &Alert, extra: Vec<Op>) -> Result<(), ManageError> {
    let mut ops = extra;
    let v = serde_json::to_vec(a).map_err(|e| corrupt("alert", e))?;
    ops.push(Op::Put(
        crate::family::ALERTS,
        a.id.to_be_bytes().to_vec(),
        v,
    ));
    store.write(&ops)?;
    Ok(())
}

/// Applies `action` to alert `id` for `actor`, with an optional note.
pub fn act(
    store: &Store,
    id: u64,
    action: Action,
    actor: &str,
    note: Option<&str>,
) -> Result<Alert, ManageError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ManageError::Invalid(format!(
            "a note is at most {MAX_NOTE} characters"
        )));
    }
    if action == Action::Note && note.is_none() {
        return Err(ManageError::Invalid("the note is empty".into()));
    }
    let lock = crate::family::lock(store);
    let _held = lock.hold();
    let mut a = alert(store, id)?.ok_or_else(|| ManageError::NotFound(format!("alert {id}")))?;
    let to = match (action, a.state) {
        (Action::Note, s) => s,
        (Action::Acknowledge, AlertState::Open) => AlertState::Acknowledged,
        (Action::Resolve, s) if s.is_live() => AlertState::Resolved,
        (Action::Dismiss, s) if s.is_live() => AlertState::Dismissed,
        (Action::Reopen, s) if !s.is_live() => AlertState::Open,
        (action, s) => {
            return Err(ManageError::Conflict(format!(
                "alert {id} is {}; it cannot be {}",
                s.as_str(),
                action.name()
            )));
        }
    };
    let now = now_ms();
    let mut extra = Vec::new();
    let key = keyed(&a.rule, &a.group_key);
    if !to.is_live() && a.state.is_live() {
        // New matches of its key open a new alert from now on.
        if store.read(crate::family::ALERT_KEYS, &key)?.as_deref() == Some(&id.to_be_bytes()) {
            extra.push(Op::Delete(crate::family::ALERT_KEYS, key));
        }
    } else if to.is_live() && !a.state.is_live() {
        match store.read(crate::family::ALERT_KEYS, &key)? {
            Some(other) if other.as_slice() != id.to_be_bytes() => {
                return Err(ManageError::Conflict(format!(
                    "alert {id} cannot be reopened: a newer alert of its rule and key is open"
                )));
            }
            _ => extra.push(Op::Put(
                crate::family::ALERT_KEYS,
                key,
                id.to_be_bytes().to_vec(),
            )),
        }
    }
    a.state = to;
    a.updated_ms = now;
    a.history.push(HistoryEntry {
        at_ms: now,
        actor: actor.to_string(),
        action: action.name().into(),
        detail: note.unwrap_or_default().to_string(),
    });
    write_alert(store, &a, extra)?;
    Ok(a)
}

/// Assigns alert `id` to `assignee` (`None` unassigns).
pub fn assign(
    store: &Store,
    id: u64,
    assignee: Option<&str>,
    actor: &str,
) -> Result<Alert, ManageError> {
    let assignee = assignee.map(str::trim).filter(|s| !s.is_empty());
    if assignee.is_some_and(|s| s.chars().count() > 200) {
        return Err(ManageError::Invalid(
            "an assignee is at most 200 characters".into(),
        ));
    }
    let lock = crate::family::lock(store);
    let _held = lock.hold();
    let mut a = alert(store, id)?.ok_or_else(|| ManageError::NotFound(format!("alert {id}")))?;
    let now = now_ms();
    a.assignee = assignee.map(str::to_string);
    a.updated_ms = now;
    a.history.push(HistoryEntry {
        at_ms: now,
        actor: actor.to_string(),
        action: if assignee.is_some() {
            "assigned"
        } else {
            "unassigned"
        }
        .into(),
        detail: assignee.unwrap_or_default().to_string(),
    });
    write_alert(store, &a, Vec::new())?;
    Ok(a)
}

/// Mutes the notifications of `rule` (or of one key of it) from now for
/// `minutes`.
pub fn silence(
    store: &Store,
    rule: &str,
    group_key: Option<&str>,
    minutes: u32,
    actor: &str,
    comment: &str,
) -> Result<Silence, ManageError> {
    if rule.is_empty() {
        return Err(ManageError::Invalid("a silence names a rule".into()));
    }
    if minutes == 0 || minutes > 366 * 24 * 60 {
        return Err(ManageError::Invalid(
            "a silence lasts 1 minute to a year".into(),
        ));
    }
    let lock = crate::family::lock(store);
    let _held = lock.hold();
    let seq = state_u64(store, key::SILENCE_SEQ)? + 1;
    let now = now_ms();
    // Silences ended long ago go with this write; the rest count against
    // the bound.
    let mut ops = Vec::new();
    let mut kept = 0usize;
    for old in crate::family::silences(store, false)? {
        if old.ends_ms < now.saturating_sub(crate::family::SILENCE_KEPT_MS) {
            ops.push(Op::Delete(
                crate::family::SILENCES,
                old.id.to_be_bytes().to_vec(),
            ));
        } else {
            kept += 1;
        }
    }
    if kept >= crate::family::MAX_SILENCES {
        return Err(ManageError::Conflict(format!(
            "{kept} silences are kept, the most allowed ({}): expire some, or wait until \
             ended ones are older than 90 days",
            crate::family::MAX_SILENCES
        )));
    }
    let s = Silence {
        id: seq,
        rule: rule.to_string(),
        group_key: group_key.map(str::to_string),
        starts_ms: now,
        ends_ms: now + i64::from(minutes) * 60_000,
        created_by: actor.to_string(),
        comment: comment.chars().take(MAX_NOTE).collect(),
    };
    let v = serde_json::to_vec(&s).map_err(|e| corrupt("silence", e))?;
    ops.push(Op::Put(
        crate::family::SILENCES,
        seq.to_be_bytes().to_vec(),
        v,
    ));
    ops.push(Op::Put(
        crate::family::STATE,
        key::SILENCE_SEQ.to_vec(),
        seq.to_be_bytes().to_vec(),
    ));
    store.write(&ops)?;
    Ok(s)
}

/// Ends silence `id` now.
pub fn expire_silence(store: &Store, id: u64) -> Result<Silence, ManageError> {
    let lock = crate::family::lock(store);
    let _held = lock.hold();
    let mut s: Silence = match store.read(crate::family::SILENCES, &id.to_be_bytes())? {
        None => return Err(ManageError::NotFound(format!("silence {id}"))),
        Some(b) => serde_json::from_slice(&b).map_err(|e| corrupt("silence", e))?,
    };
    s.ends_ms = s.ends_ms.min(now_ms());
    let v = serde_json::to_vec(&s).map_err(|e| corrupt("silence", e))?;
    store.write(&[Op::Put(
        crate::family::SILENCES,
        id.to_be_bytes().to_vec(),
        v,
    )])?;
    Ok(s)
}

/// Every silence, newest first (ended ones are kept for
/// [`SILENCE_KEPT_MS`](crate::family::SILENCE_KEPT_MS)).
pub fn silences(store: &Store) -> Result<Vec<Silence>, ManageError> {
    Ok(crate::family::silences(store, true)?)
}

/// Saves `text` (one `[[rule]]`) as the rule's next version; the engine
/// runs it from its next block. The rule must compile.
pub fn save_rule(store: &Store, text: &str, author: &str) -> Result<RuleVersion, ManageError> {
    let rule: Rule = parse_one(Path::new("(api)"), text, None).map_err(ManageError::Rule)?;
    let lock = crate::family::lock(store);
    let _held = lock.hold();
    let versions = rule_versions(store, &rule.spec.id)?;
    if versions.last().is_some_and(|v| v.text == rule.text) {
        return Err(ManageError::Conflict(format!(
            "rule {} already has this text (version {})",
            rule.spec.id,
            versions.len()
        )));
    }
    if versions.len() >= MAX_RULE_VERSIONS {
        return Err(ManageError::Conflict(format!(
            "rule {} has {MAX_RULE_VERSIONS} versions, the most kept: save it under a new id",
            rule.spec.id
        )));
    }
    if versions.is_empty() && latest_rules(store)?.len() >= MAX_RULES {
        return Err(ManageError::Conflict(format!(
            "the store holds {MAX_RULES} rules, the most kept: change an existing rule instead"
        )));
    }
    let v = RuleVersion {
        id: rule.spec.id.clone(),
        version: versions.last().map_or(1, |v| v.version + 1),
        text: rule.text.clone(),
        source: "api".into(),
        author: author.to_string(),
        at_ms: now_ms(),
    };
    let generation = state_u64(store, key::RULES_GENERATION)? + 1;
    store.write(&[
        version_op(&v)?,
        Op::Put(
            crate::family::STATE,
            key::RULES_GENERATION.to_vec(),
            generation.to_be_bytes().to_vec(),
        ),
    ])?;
    Ok(v)
}

/// Saves a version of rule `id` with `enabled` set.
pub fn set_enabled(
    store: &Store,
    id: &str,
    enabled: bool,
    author: &str,
) -> Result<RuleVersion, ManageError> {
    let latest = latest_rules(store)?
        .remove(id)
        .ok_or_else(|| ManageError::NotFound(format!("rule {id}")))?;
    let mut text = String::new();
    let mut seen = false;
    for line in latest.text.lines() {
        if line.trim_start().starts_with("enabled") && line.contains('=') {
            seen = true;
            text.push_str(&format!("enabled = {enabled}\n"));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    if !seen {
        // Right under the header, so that it is the rule's key and not a
        // sub-table's.
        text = text.replacen("[[rule]]\n", &format!("[[rule]]\nenabled = {enabled}\n"), 1);
    }
    save_rule(store, &text, author)
}
