//! The policy engine's records, kept in the store beside the chain log in
//! families this crate declares: its checkpoint and window state, alerts,
//! the outbox of notifications, dead letters, rule versions and silences.
//! The store keeps their bytes and writes each batch atomically and synced;
//! this crate gives them meaning.
//!
//! | family | key | value |
//! |---|---|---|
//! | `policy_state` | name | checkpoint, window state, sequences |
//! | `alerts` | BE64 alert id | alert record |
//! | `alert_keys` | rule ‖ 0x00 ‖ group key | BE64 id of the rule's live alert for the key |
//! | `outbox` | channel ‖ 0x00 ‖ BE64 sequence | notification still to deliver |
//! | `dead_letters` | channel ‖ 0x00 ‖ BE64 sequence | notification given up on |
//! | `rule_versions` | rule id ‖ 0x00 ‖ BE32 version | rule text |
//! | `silences` | BE64 silence id | silence record |
//!
//! Every read-modify-write of these records holds [`lock`] (the engine per
//! block, senders per delivery, lifecycle changes), so none overwrites
//! another's change. The keys of `policy_state` are written in one place
//! ([`key`]), and the records' readers are here, so that the engine, the
//! lifecycle, the senders and the API share one codec.

use std::collections::BTreeMap;

use records::seq;
use serde::{Deserialize, Serialize};
use store::{Family, Op, Store, WriteLock};

use crate::alert::{Alert, OutboxEntry, Silence};
use crate::error::{EngineError, corrupt};

/// Checkpoint, window state, sequences.
pub const STATE: Family = Family::new("policy_state");
/// Alerts by id.
pub const ALERTS: Family = Family::new("alerts");
/// The live alert of each (rule, group key).
pub const ALERT_KEYS: Family = Family::new("alert_keys");
/// Notifications to deliver, per channel in order.
pub const OUTBOX: Family = Family::new("outbox");
/// Notifications given up on, per channel.
pub const DEAD_LETTERS: Family = Family::new("dead_letters");
/// Every version of every rule.
pub const RULE_VERSIONS: Family = Family::new("rule_versions");
/// Silences.
pub const SILENCES: Family = Family::new("silences");

/// The lock of the policy records (one for all of them).
pub fn lock(store: &Store) -> WriteLock {
    store.write_lock(STATE)
}

/// The names and key shapes of [`STATE`], in one place: counters and
/// markers by name, and the links the API reads (a transaction's rules, a
/// rule's transactions, a party's alerts), each prefix with its parser.
pub(crate) mod key {
    use super::keyed;

    /// The engine's checkpoint (BE64 height).
    pub(crate) const CHECKPOINT: &[u8] = b"checkpoint";
    /// The last alert id.
    pub(crate) const ALERT_SEQ: &[u8] = b"alert_seq";
    /// The last outbox sequence number.
    pub(crate) const OUTBOX_SEQ: &[u8] = b"outbox_seq";
    /// The last silence id.
    pub(crate) const SILENCE_SEQ: &[u8] = b"silence_seq";
    /// Findings of the node turned into alerts so far, of chain 0 (see
    /// [`findings_seen`]).
    pub(crate) const FINDINGS_SEEN: &[u8] = b"findings_seen";

    /// The count of chain `chain`'s findings turned into alerts so far
    /// (chain 0's is [`FINDINGS_SEEN`], as before there were several).
    pub(crate) fn findings_seen(chain: u8) -> Vec<u8> {
        if chain == 0 {
            FINDINGS_SEEN.to_vec()
        } else {
            format!("findings_seen/{chain}").into_bytes()
        }
    }
    /// Moves on every rule saved through the API (the engine reloads).
    pub(crate) const RULES_GENERATION: &[u8] = b"rules_generation";
    /// Set once the by-rule links of a store written before them are filled in.
    pub(crate) const RULE_LINKS_FILLED: &[u8] = b"links_by_rule";
    /// Set once the alert counts of a store written before them are filled in.
    pub(crate) const ALERT_COUNTS_FILLED: &[u8] = b"alert_counts";

    /// Every rule window: `w/RULE‖0‖GROUP KEY` → window.
    pub(crate) const WINDOWS: &[u8] = b"w/";
    /// Every by-transaction link: `t/HASH‖0‖RULE` → BE64 alert id.
    pub(crate) const TX_LINKS: &[u8] = b"t/";

    /// The window of `rule` for group key `group`.
    pub(crate) fn window(rule: &str, group: &str) -> Vec<u8> {
        keyed(&format!("w/{rule}"), group)
    }

    /// The (rule, group key) of a window's key.
    pub(crate) fn parse_window(k: &[u8]) -> (String, String) {
        let name = String::from_utf8_lossy(k.get(WINDOWS.len()..).unwrap_or_default());
        let (rule, group) = name.split_once('\0').unwrap_or((&name, ""));
        (rule.to_string(), group.to_string())
    }

    /// The link of transaction `hash` to `rule`'s alert.
    pub(crate) fn tx_link(hash: &str, rule: &str) -> Vec<u8> {
        keyed(&format!("t/{hash}"), rule)
    }

    /// The prefix of transaction `hash`'s links.
    pub(crate) fn tx_links(hash: &str) -> Vec<u8> {
        tx_link(hash, "")
    }

    /// The (hash, rule) of a by-transaction link's key.
    pub(crate) fn parse_tx_link(k: &[u8]) -> Option<(String, String)> {
        let name = String::from_utf8_lossy(k.get(TX_LINKS.len()..)?).into_owned();
        let (hash, rule) = name.split_once('\0')?;
        Some((hash.to_string(), rule.to_string()))
    }

    /// The link of `rule` to transaction `hash`: `r/RULE‖0‖HASH` → BE64
    /// alert id ‖ BE64 chain position (when known).
    pub(crate) fn rule_link(rule: &str, hash: &str) -> Vec<u8> {
        keyed(&format!("r/{rule}"), hash)
    }

    /// The prefix of `rule`'s links.
    pub(crate) fn rule_links(rule: &str) -> Vec<u8> {
        rule_link(rule, "")
    }

    /// The link of `party` to alert `id`: `p/PARTY‖0‖BE64 id` → nothing.
    pub(crate) fn party_alert(party: &str, id: u64) -> Vec<u8> {
        let mut k = party_alerts(party);
        k.extend_from_slice(&id.to_be_bytes());
        k
    }

    /// The prefix of `party`'s alerts.
    pub(crate) fn party_alerts(party: &str) -> Vec<u8> {
        keyed(&format!("p/{party}"), "")
    }

    /// How many alerts `rule` has opened (BE64).
    pub(crate) fn alerts_opened(rule: &str) -> Vec<u8> {
        format!("alerts/{rule}").into_bytes()
    }

    /// How many transactions `rule` has matched (BE64).
    pub(crate) fn hits(rule: &str) -> Vec<u8> {
        format!("hits/{rule}").into_bytes()
    }

    /// Every watchlist entry hunted: `l/LIST‖0‖ENTRY` → BE64 ms it was
    /// first seen ([`crate::retro`]).
    pub(crate) const LIST_ENTRIES: &[u8] = b"l/";
    /// Set once the lists in force were taken as the retro-hunts' baseline.
    pub(crate) const LISTS_BASELINE: &[u8] = b"lists_baseline";

    /// Entry `entry` of list `list`.
    pub(crate) fn list_entry(list: &str, entry: &str) -> Vec<u8> {
        keyed(&format!("l/{list}"), entry)
    }

    /// The (list, entry) of a list entry's key.
    pub(crate) fn parse_list_entry(k: &[u8]) -> (String, String) {
        let name = String::from_utf8_lossy(k.get(LIST_ENTRIES.len()..).unwrap_or_default());
        let (list, entry) = name.split_once('\0').unwrap_or((&name, ""));
        (list.to_string(), entry.to_string())
    }
}

/// A big-endian `u64` as stored.
pub(crate) fn be64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// `a ‖ 0 ‖ b`: the keys of per-name records (a channel's outbox, a rule's
/// versions, a rule's alert for a group key).
pub(crate) fn keyed(a: &str, b: &str) -> Vec<u8> {
    let mut k = a.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// A stored big-endian `u64` (a counter, an id, a sequence number); `what`
/// names the record in the error when it is not 8 bytes.
pub(crate) fn be_u64(what: impl Into<String>, bytes: &[u8]) -> Result<u64, EngineError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(what, format!("{} bytes where 8 were expected", bytes.len())))
}

/// The stored `u64` at `key` of the state family, 0 when absent.
pub(crate) fn state_u64(store: &Store, key: &[u8]) -> Result<u64, EngineError> {
    match store.read(STATE, key)? {
        None => Ok(0),
        Some(b) => be_u64(String::from_utf8_lossy(key), &b),
    }
}

/// The engine's checkpoint in `store`.
pub fn checkpoint(store: &Store) -> Result<Option<i64>, EngineError> {
    match store.read(STATE, key::CHECKPOINT)? {
        None => Ok(None),
        Some(v) => Ok(Some(store::be_i64("policy checkpoint", &v)?)),
    }
}

/// The rules transaction `hash` (`0x` hex, lowercase) hit, with the alert
/// that lists it for each.
pub fn rules_hit(store: &Store, hash: &str) -> Result<Vec<(String, u64)>, EngineError> {
    let prefix = key::tx_links(&hash.to_lowercase());
    store
        .scan(STATE, &prefix, None, false, 1_000)?
        .into_iter()
        .map(|(k, v)| {
            let rule = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let id = be_u64("transaction hit", &v)?;
            Ok((rule, id))
        })
        .collect()
}

/// The newest alerts (at most `limit` ids, newest first) whose firing match
/// involved `party` (an address, account or organisation id).
pub fn party_alerts(store: &Store, party: &str, limit: usize) -> Result<Vec<u64>, EngineError> {
    let prefix = key::party_alerts(&party.to_lowercase());
    store
        .scan(STATE, &prefix, None, true, limit)?
        .into_iter()
        .map(|(k, _)| be_u64("party alert key", k.get(prefix.len()..).unwrap_or_default()))
        .collect()
}

/// Store entries read per page when a reader walks a prefix.
pub(crate) const SCAN_PAGE: usize = 4_096;

/// The most transactions a rule's links are read for at once (`ruleHit`):
/// links grow with a rule's hits over history, so a reader refuses past
/// this many rather than hold them all.
pub const MAX_RULE_LINKS: usize = 1_000_000;

/// Walks the entries of `family` under `prefix` in key order, a page of at
/// most `page` entries at a time, handing each page to `f` (which may
/// write: the next page starts after the last key handed over).
pub(crate) fn for_each_page(
    store: &Store,
    family: Family,
    prefix: &[u8],
    page: usize,
    mut f: impl FnMut(Vec<store::Entry>) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let entries = store.scan(family, prefix, after.as_deref(), false, page)?;
        let Some((last, _)) = entries.last() else {
            return Ok(());
        };
        // The scan starts at its key, inclusive: the next page starts just
        // past the last key read.
        let mut next = last.clone();
        next.push(0);
        after = Some(next);
        let full = entries.len() == page;
        f(entries)?;
        if !full {
            return Ok(());
        }
    }
}

/// The links of rule `rule`, at most [`MAX_RULE_LINKS`] of them.
fn rule_links(store: &Store, rule: &str) -> Result<Vec<store::Entry>, EngineError> {
    rule_links_at_most(store, rule, MAX_RULE_LINKS)
}

/// The links of rule `rule` (hash, value), at most `limit` of them.
fn rule_links_at_most(
    store: &Store,
    rule: &str,
    limit: usize,
) -> Result<Vec<store::Entry>, EngineError> {
    let prefix = key::rule_links(rule);
    let mut out = Vec::new();
    for_each_page(store, STATE, &prefix, SCAN_PAGE, |page| {
        if out.len() + page.len() > limit {
            return Err(EngineError::TooMany {
                what: format!("transactions matched by rule {rule}"),
                limit,
            });
        }
        out.extend(
            page.into_iter()
                .map(|(k, v)| (k[prefix.len()..].to_vec(), v)),
        );
        Ok(())
    })?;
    Ok(out)
}

/// Every transaction the alerts of rule `rule` matched, each once, in hash
/// order: read from the rule's links, so the cost follows its hits, not
/// the number of alerts (at most [`MAX_RULE_LINKS`]; more is an error).
pub fn rule_transactions(store: &Store, rule: &str) -> Result<Vec<String>, EngineError> {
    Ok(rule_links(store, rule)?
        .into_iter()
        .map(|(hash, _)| String::from_utf8_lossy(&hash).into_owned())
        .collect())
}

/// The chain positions (`records::seq`) of every transaction the
/// alerts of rule `rule` matched, ascending (at most [`MAX_RULE_LINKS`]).
pub fn rule_positions(store: &Store, rule: &str) -> Result<Vec<u64>, EngineError> {
    let mut out = Vec::new();
    for (hash, v) in rule_links(store, rule)? {
        match v.get(8..16).map(|b| be_u64("rule link position", b)) {
            Some(seq) => out.push(seq?),
            // A link whose transaction was not found when it was written.
            None => {
                if let Some(seq) = position(store, &String::from_utf8_lossy(&hash))? {
                    out.push(seq);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The chain position (`records::seq_in`) of stored transaction `hash`,
/// if one of the store's chains holds it (the first, by chain number).
pub(crate) fn position(store: &Store, hash: &str) -> Result<Option<u64>, EngineError> {
    let Ok(h) = chain::hexbytes::decode_fixed::<32>("hash", hash) else {
        return Ok(None);
    };
    let chains = store.chains()?;
    if chains.is_empty() {
        return Ok(store.transaction(&h)?.map(|t| seq(t.height, t.index)));
    }
    for c in chains {
        if let Some(t) = store.for_chain(c.number)?.transaction(&h)? {
            return Ok(Some(records::seq_in(c.number, t.height, t.index)));
        }
    }
    Ok(None)
}

/// Alerts rule `id` has opened.
pub fn alerts_opened(store: &Store, id: &str) -> Result<u64, EngineError> {
    state_u64(store, &key::alerts_opened(id))
}

/// Transactions matched by rule `id` so far.
pub fn hits(store: &Store, id: &str) -> Result<u64, EngineError> {
    state_u64(store, &key::hits(id))
}

/// Alert `id`, if there is one.
pub fn alert(store: &Store, id: u64) -> Result<Option<Alert>, EngineError> {
    match store.read(ALERTS, &be64(id))? {
        None => Ok(None),
        Some(b) => Ok(Some(
            serde_json::from_slice(&b).map_err(|e| corrupt(format!("alert {id}"), e))?,
        )),
    }
}

/// Up to `limit` alerts in id order from id `from` (inclusive; `None`: the
/// first), or in reverse id order from `from` down when `newest_first`
/// (`None`: the newest). Readers page through alerts with this, so that
/// none decodes the family's keys itself.
pub fn alerts_from(
    store: &Store,
    from: Option<u64>,
    newest_first: bool,
    limit: usize,
) -> Result<Vec<Alert>, EngineError> {
    let from = from.map(be64);
    store
        .scan(
            ALERTS,
            b"",
            from.as_ref().map(|k| k.as_slice()),
            newest_first,
            limit,
        )?
        .into_iter()
        .map(|(k, v)| {
            let id = be_u64("alert key", &k)?;
            let a: Alert =
                serde_json::from_slice(&v).map_err(|e| corrupt(format!("alert {id}"), e))?;
            if a.id != id {
                return Err(corrupt(
                    format!("alert {id}"),
                    format!("holds alert {}", a.id),
                ));
            }
            Ok(a)
        })
        .collect()
}

/// Every alert, in id order (for tests and exports).
pub fn all_alerts(store: &Store) -> Result<Vec<Alert>, EngineError> {
    store
        .scan(ALERTS, b"", None, false, usize::MAX)?
        .into_iter()
        .map(|(k, v)| serde_json::from_slice(&v).map_err(|e| corrupt(format!("alert {k:?}"), e)))
        .collect()
}

/// The outbox entries of `channel`, oldest first.
pub fn outbox(store: &Store, channel: &str) -> Result<Vec<OutboxEntry>, EngineError> {
    store
        .scan(OUTBOX, &keyed(channel, ""), None, false, usize::MAX)?
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| corrupt("outbox entry", e)))
        .collect()
}

/// Most silences the store keeps, ended ones included: the engine loads
/// them all, so a new silence past this is refused.
pub const MAX_SILENCES: usize = 10_000;

/// How long an ended silence is kept (listed, and named by the alerts it
/// muted) before a new silence prunes it: 90 days.
pub const SILENCE_KEPT_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// Every stored silence, oldest first, or newest first when `newest_first`
/// (at most [`MAX_SILENCES`]; more is an error).
pub fn silences(store: &Store, newest_first: bool) -> Result<Vec<Silence>, EngineError> {
    let rows = store.scan(SILENCES, b"", None, newest_first, MAX_SILENCES + 1)?;
    if rows.len() > MAX_SILENCES {
        return Err(EngineError::TooMany {
            what: "silences".into(),
            limit: MAX_SILENCES,
        });
    }
    rows.into_iter()
        .map(|(k, v)| serde_json::from_slice(&v).map_err(|e| corrupt(format!("silence {k:?}"), e)))
        .collect()
}

/// One stored version of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleVersion {
    /// The rule id.
    pub id: String,
    /// Version, from 1.
    pub version: u32,
    /// The rule's TOML text.
    pub text: String,
    /// `file` (loaded from the rules directory at start) or `api`.
    pub source: String,
    /// Who saved it (`policies` for files).
    pub author: String,
    /// When (ms since the epoch).
    pub at_ms: i64,
}

/// Most rules (distinct ids) the store keeps: each is loaded into the
/// engine, so more is refused when a rule is saved.
pub const MAX_RULES: usize = 1_000;

/// Most versions one rule keeps: every save is a version, so more is
/// refused when the rule is saved again.
pub const MAX_RULE_VERSIONS: usize = 1_000;

/// Every version of rule `id`, oldest first (at most
/// [`MAX_RULE_VERSIONS`]; more is an error).
pub fn rule_versions(store: &Store, id: &str) -> Result<Vec<RuleVersion>, EngineError> {
    let rows = store.scan(
        RULE_VERSIONS,
        &keyed(id, ""),
        None,
        false,
        MAX_RULE_VERSIONS + 1,
    )?;
    if rows.len() > MAX_RULE_VERSIONS {
        return Err(EngineError::TooMany {
            what: format!("versions of rule {id}"),
            limit: MAX_RULE_VERSIONS,
        });
    }
    rows.into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| corrupt("rule version", e)))
        .collect()
}

/// The latest version of every rule, by id (at most [`MAX_RULES`] rules;
/// more is an error). Reads two records per rule, whatever its history:
/// the first key of the next id, then the last version under it.
pub fn latest_rules(store: &Store) -> Result<BTreeMap<String, RuleVersion>, EngineError> {
    let mut out = BTreeMap::new();
    let mut start: Vec<u8> = Vec::new();
    while let Some((k, _)) = store
        .scan(RULE_VERSIONS, b"", Some(&start), false, 1)?
        .pop()
    {
        let Some(end) = k.iter().position(|b| *b == 0) else {
            return Err(corrupt(
                format!("rule version key {k:?}"),
                "it has no separator after the rule id",
            ));
        };
        let prefix = &k[..=end];
        let Some((_, v)) = store.scan(RULE_VERSIONS, prefix, None, true, 1)?.pop() else {
            return Err(corrupt(
                "rule versions",
                "a rule's versions vanished while read",
            ));
        };
        let r: RuleVersion = serde_json::from_slice(&v).map_err(|e| corrupt("rule version", e))?;
        if out.len() == MAX_RULES {
            return Err(EngineError::TooMany {
                what: "rules".into(),
                limit: MAX_RULES,
            });
        }
        out.insert(r.id.clone(), r);
        // Past every key of this id: `id ‖ 1` sorts after `id ‖ 0 ‖ …` and
        // at or before the next id.
        start = k[..end].to_vec();
        start.push(1);
    }
    Ok(out)
}

/// The op that stores `v`.
pub(crate) fn version_op(v: &RuleVersion) -> Result<Op, EngineError> {
    let mut k = keyed(&v.id, "");
    k.extend_from_slice(&v.version.to_be_bytes());
    let body = serde_json::to_vec(v).map_err(|e| corrupt("rule version", e))?;
    Ok(Op::Put(RULE_VERSIONS, k, body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn link(rule: &str, i: u64) -> Op {
        Op::Put(
            STATE,
            key::rule_link(rule, &format!("0x{i:064x}")),
            be64(i).to_vec(),
        )
    }

    #[test]
    fn a_rules_links_are_read_by_pages_up_to_their_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // More than a page, beside another rule's links sharing a prefix.
        let n = SCAN_PAGE as u64 + 5;
        let mut ops: Vec<Op> = (0..n).map(|i| link("r", i)).collect();
        ops.extend((0..3).map(|i| link("r2", i)));
        store.write(&ops).unwrap();
        let all = rule_links_at_most(&store, "r", n as usize).unwrap();
        assert_eq!(all.len() as u64, n, "every page, and only rule r's");
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "in key order");
        let err = rule_links_at_most(&store, "r", n as usize - 1).unwrap_err();
        assert!(
            matches!(err, EngineError::TooMany { limit, .. } if limit == n as usize - 1),
            "{err}"
        );
        assert_eq!(rule_transactions(&store, "r2").unwrap().len(), 3);
    }
}
