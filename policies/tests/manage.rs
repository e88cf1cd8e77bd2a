//! Working alerts: the lifecycle and its history, dedup after a resolve,
//! silences, and rules saved and disabled through the management API taking
//! effect at the next block, with their versions kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use policies::alert::AlertState;
use policies::family::{all_alerts, outbox};
use policies::manage::{self, Action, ManageError};
use policies::{Engine, Watchlists};
use store::Store;

fn engine(store: &Arc<Store>, chain: &testkit::Chain) -> Engine {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lists = Watchlists::load(&root.join("watchlists")).unwrap();
    let (mut rules, errors) = policies::rule::load_dir(&root.join("rules"), Some(&lists.names()));
    assert!(errors.is_empty());
    rules.extend(policies::rule::builtin());
    Engine::new(
        store.clone(),
        chain.sealer.clone(),
        rules,
        lists,
        vec!["compliance-webhook".into()],
    )
    .unwrap()
}

#[test]
fn lifecycle_silences_and_rule_versions() {
    let chain = testkit::chain(47, 60);
    let dir = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, dir.path());
    let head = store.checkpoint().unwrap().unwrap();
    let mut e = engine(&store, &chain);
    let half = head / 2;
    for h in 0..=half {
        e.process(h).unwrap();
    }

    // The lifecycle, with who and why in the history.
    let a = all_alerts(&store)
        .unwrap()
        .into_iter()
        .find(|a| a.rule == "structuring")
        .expect("structuring in the first half");
    let a = manage::act(&store, a.id, Action::Acknowledge, "analyst-1", None).unwrap();
    assert_eq!(a.state, AlertState::Acknowledged);
    let a = manage::assign(&store, a.id, Some("张三"), "analyst-1").unwrap();
    assert_eq!(a.assignee.as_deref(), Some("张三"));
    let a = manage::act(&store, a.id, Action::Note, "张三", Some("called the bank")).unwrap();
    let a = manage::act(
        &store,
        a.id,
        Action::Resolve,
        "张三",
        Some("documented trade"),
    )
    .unwrap();
    assert_eq!(a.state, AlertState::Resolved);
    let actions: Vec<(&str, &str)> = a
        .history
        .iter()
        .map(|h| (h.actor.as_str(), h.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("policies", "opened"),
            ("analyst-1", "acknowledged"),
            ("analyst-1", "assigned"),
            ("张三", "noted"),
            ("张三", "resolved"),
        ]
    );
    assert_eq!(a.history[4].detail, "documented trade");
    // Wrong moves are refused, naming the state.
    let err = manage::act(&store, a.id, Action::Acknowledge, "x", None).unwrap_err();
    assert!(
        matches!(err, ManageError::Conflict(ref m) if m.contains("resolved")),
        "{err}"
    );
    assert!(matches!(
        manage::act(&store, 999_999, Action::Resolve, "x", None),
        Err(ManageError::NotFound(_))
    ));
    assert!(matches!(
        manage::act(&store, a.id, Action::Note, "x", Some("  ")),
        Err(ManageError::Invalid(_))
    ));

    // A silence on listed parties, a rule saved through the API, and
    // round trips disabled, all from the next block on.
    let s = manage::silence(
        &store,
        "listed-party",
        None,
        60,
        "admin",
        "known counterparty",
    )
    .unwrap();
    let saved = manage::save_rule(
        &store,
        "[[rule]]\nid = \"remittance-memo\"\ntitle = \"汇款\"\ncondition = \"tx.readable && tx.memo != null && tx.memo.contains('汇款')\"\nnotify = [\"compliance-webhook\"]\n",
        "admin",
    )
    .unwrap();
    assert_eq!((saved.version, saved.source.as_str()), (1, "api"));
    let bad = manage::save_rule(
        &store,
        "[[rule]]\nid = \"bad\"\ncondition = \"tx.nope\"\n",
        "admin",
    );
    assert!(matches!(bad, Err(ManageError::Rule(ref e)) if e[0].message.contains("tx.nope")));
    let off = manage::set_enabled(&store, "round-trip", false, "admin").unwrap();
    assert_eq!(off.version, 2);
    assert!(off.text.contains("enabled = false"), "{}", off.text);
    let versions = policies::family::rule_versions(&store, "round-trip").unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].source, "file");

    let before = all_alerts(&store).unwrap().len();
    let queued_before = outbox(&store, "compliance-webhook").unwrap().len();
    for h in half + 1..=head {
        e.process(h).unwrap();
    }
    let after = all_alerts(&store).unwrap();
    let new: Vec<_> = after.iter().skip(before).collect();
    assert!(new.iter().any(|a| a.rule == "remittance-memo"));
    assert!(!new.iter().any(|a| a.rule == "round-trip"), "disabled");
    assert!(
        !after
            .iter()
            .take(before)
            .any(|a| a.rule == "remittance-memo"),
        "the saved rule runs from the next block"
    );
    let silenced: Vec<_> = new.iter().filter(|a| a.rule == "listed-party").collect();
    assert!(!silenced.is_empty());
    assert!(
        silenced
            .iter()
            .all(|a| a.silenced_by == Some(s.id) && a.deliveries.is_empty()),
        "{silenced:?}"
    );
    // Notifications were queued for the others and not for the silenced.
    let notifying = new
        .iter()
        .filter(|a| {
            a.silenced_by.is_none()
                && !a.rule.contains("envelope")
                && a.rule != "not-wrapped-for-regulator"
        })
        .count();
    assert_eq!(
        outbox(&store, "compliance-webhook").unwrap().len(),
        queued_before + notifying
    );

    // The engine, restarted, keeps the API's versions in force.
    drop(e);
    let e = engine(&store, &chain);
    let ids: Vec<(String, u32)> = e
        .rules()
        .iter()
        .map(|r| (r.rule.spec.id.clone(), r.version))
        .collect();
    assert!(ids.contains(&("round-trip".into(), 2)), "{ids:?}");
    assert!(ids.contains(&("remittance-memo".into(), 1)), "{ids:?}");
    assert!(
        !e.rules()
            .iter()
            .find(|r| r.rule.spec.id == "round-trip")
            .unwrap()
            .rule
            .spec
            .enabled
    );
    // Expired silences no longer mute.
    let s = manage::expire_silence(&store, s.id).unwrap();
    assert!(!s.mutes("listed-party", "", records::time::now_ms() + 1));
}

#[test]
fn a_watchlist_edited_while_running_applies_from_the_next_block() {
    let chain = testkit::chain(59, 40);
    let manifest = chain.workload.manifest().clone();
    let dir = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, dir.path());
    let head = store.checkpoint().unwrap().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lists_dir = dir.path().join("watchlists");
    std::fs::create_dir(&lists_dir).unwrap();
    std::fs::write(lists_dir.join("demo_sanctions.csv"), "id\n").unwrap();
    std::fs::write(lists_dir.join("internal.csv"), "id\n").unwrap();
    let lists = Watchlists::load(&lists_dir).unwrap();
    let (rules, errors) = policies::rule::load_dir(&root.join("rules"), Some(&lists.names()));
    assert!(errors.is_empty());
    let rules: Vec<_> = rules
        .into_iter()
        .filter(|r| r.spec.id == "listed-party")
        .collect();
    let mut e = Engine::new(
        store.clone(),
        chain.sealer.clone(),
        rules,
        lists,
        Vec::new(),
    )
    .unwrap();
    let half = head / 2;
    for h in 0..=half {
        e.process(h).unwrap();
    }
    assert!(
        all_alerts(&store).unwrap().is_empty(),
        "empty lists list nobody"
    );

    // The most frequent payee goes on the internal list, the engine running.
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for t in &manifest.transactions {
        if t.class.readable() {
            *counts.entry(t.payee.as_str()).or_default() += 1;
        }
    }
    let (payee, _) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    std::fs::write(
        lists_dir.join("internal.csv"),
        format!("id,reason\n{payee},test\n"),
    )
    .unwrap();
    for h in half + 1..=head {
        e.process(h).unwrap();
    }
    let fired: std::collections::BTreeSet<String> = all_alerts(&store)
        .unwrap()
        .into_iter()
        .flat_map(|a| a.transactions)
        .collect();
    let want: std::collections::BTreeSet<String> = manifest
        .transactions
        .iter()
        .filter(|t| t.class.readable() && t.payee == *payee && t.block_height > half)
        .map(|t| t.tx_hash.clone())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(fired, want);
}

/// The records people make are bounded: silences (ended ones pruned after
/// their keeping time, a new one refused at the bound), rules and rule
/// versions (a save past either bound refused, naming it), and the latest
/// version of each rule read without reading every version.
#[test]
fn silences_rules_and_versions_stop_at_their_bounds() {
    use policies::family::{
        MAX_RULE_VERSIONS, MAX_RULES, MAX_SILENCES, RULE_VERSIONS, RuleVersion, SILENCE_KEPT_MS,
        SILENCES, latest_rules, rule_versions,
    };
    use store::Op;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = records::time::now_ms();

    // A full store of silences, the oldest ended long ago.
    let mut ops = Vec::new();
    for id in 1..=MAX_SILENCES as u64 {
        let ends_ms = if id == 1 {
            now - SILENCE_KEPT_MS - 1
        } else {
            now + 60_000
        };
        let s = policies::alert::Silence {
            id,
            rule: "structuring".into(),
            group_key: None,
            starts_ms: now - 1,
            ends_ms,
            created_by: "analyst".into(),
            comment: String::new(),
        };
        ops.push(Op::Put(
            SILENCES,
            id.to_be_bytes().to_vec(),
            serde_json::to_vec(&s).unwrap(),
        ));
    }
    store.write(&ops).unwrap();
    store
        .write(&[Op::Put(
            policies::family::STATE,
            // The silence sequence's key, as stored.
            b"silence_seq".to_vec(),
            (MAX_SILENCES as u64).to_be_bytes().to_vec(),
        )])
        .unwrap();
    // The old one makes room and goes.
    let s = manage::silence(&store, "structuring", None, 10, "analyst", "").unwrap();
    assert_eq!(s.id, MAX_SILENCES as u64 + 1);
    let all = manage::silences(&store).unwrap();
    assert_eq!(all.len(), MAX_SILENCES);
    assert!(
        all.iter().all(|s| s.id != 1),
        "the silence ended long ago is pruned"
    );
    // Now the store is full of live silences: refused, naming the bound.
    let err = manage::silence(&store, "structuring", None, 10, "analyst", "").unwrap_err();
    assert!(
        matches!(&err, ManageError::Conflict(m) if m.contains(&MAX_SILENCES.to_string())),
        "{err}"
    );
    assert_eq!(manage::silences(&store).unwrap().len(), MAX_SILENCES);

    // Rules: MAX_RULES of them, three versions each.
    let text = |id: &str, n: u32| {
        format!("[[rule]]\nid = \"{id}\"\ntitle = \"v{n}\"\ncondition = \"tx.readable\"\n")
    };
    let mut ops = Vec::new();
    for r in 0..MAX_RULES {
        let id = format!("rule-{r:04}");
        for version in 1..=3u32 {
            let v = RuleVersion {
                id: id.clone(),
                version,
                text: text(&id, version),
                source: "api".into(),
                author: "admin".into(),
                at_ms: now,
            };
            let mut k = id.as_bytes().to_vec();
            k.push(0);
            k.extend_from_slice(&version.to_be_bytes());
            ops.push(Op::Put(RULE_VERSIONS, k, serde_json::to_vec(&v).unwrap()));
        }
    }
    store.write(&ops).unwrap();
    let latest = latest_rules(&store).unwrap();
    assert_eq!(latest.len(), MAX_RULES);
    assert!(
        latest
            .values()
            .all(|v| v.version == 3 && v.text.contains("v3"))
    );
    // A new rule is refused; a new version of one that exists is not.
    let err = manage::save_rule(&store, &text("one-too-many", 1), "admin").unwrap_err();
    assert!(
        matches!(&err, ManageError::Conflict(m) if m.contains(&MAX_RULES.to_string())),
        "{err}"
    );
    let v = manage::save_rule(&store, &text("rule-0007", 4), "admin").unwrap();
    assert_eq!(v.version, 4);

    // One rule with every version it may keep.
    let mut ops = Vec::new();
    for version in 5..=MAX_RULE_VERSIONS as u32 {
        let v = RuleVersion {
            id: "rule-0007".into(),
            version,
            text: text("rule-0007", version),
            source: "api".into(),
            author: "admin".into(),
            at_ms: now,
        };
        let mut k = b"rule-0007\0".to_vec();
        k.extend_from_slice(&version.to_be_bytes());
        ops.push(Op::Put(RULE_VERSIONS, k, serde_json::to_vec(&v).unwrap()));
    }
    store.write(&ops).unwrap();
    assert_eq!(
        rule_versions(&store, "rule-0007").unwrap().len(),
        MAX_RULE_VERSIONS
    );
    let err = manage::save_rule(&store, &text("rule-0007", 0), "admin").unwrap_err();
    assert!(
        matches!(&err, ManageError::Conflict(m) if m.contains(&MAX_RULE_VERSIONS.to_string())),
        "{err}"
    );
    assert_eq!(
        latest_rules(&store).unwrap()["rule-0007"].version,
        MAX_RULE_VERSIONS as u32
    );
}
