//! The example rules against a generated devnet chain: each fires on
//! exactly the transactions the workload generator planted for it, the
//! built-in supervision rules on exactly the envelopes of their class, and
//! a restart in the middle changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use devnet::workload::{Finding, PrivacyClass};
use policies::family::all_alerts;
use policies::rule::{builtin, load_dir};
use policies::{Engine, Watchlists};
use store::Store;

fn example_rules() -> Vec<policies::Rule> {
    let lists =
        Watchlists::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists")).unwrap();
    let (mut rules, errors) = load_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
        Some(&lists.names()),
    );
    assert!(errors.is_empty(), "{errors:?}");
    rules.extend(builtin());
    rules
}

fn engine(store: &Arc<Store>, chain: &testkit::Chain) -> Engine {
    let lists =
        Watchlists::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("watchlists")).unwrap();
    Engine::new(
        store.clone(),
        chain.sealer.clone(),
        example_rules(),
        lists,
        vec!["compliance-webhook".into()],
    )
    .unwrap()
}

/// Rule → the transactions its alerts list.
fn fired(store: &Store) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in all_alerts(store).unwrap() {
        assert_eq!(a.unlisted, 0);
        out.entry(a.rule.clone())
            .or_default()
            .extend(a.transactions.iter().cloned());
    }
    out
}

#[test]
fn each_rule_fires_on_exactly_what_the_generator_planted_and_a_restart_changes_nothing() {
    let chain = testkit::chain(41, 160);
    let manifest = chain.workload.manifest().clone();
    let dir = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, dir.path());
    let head = store.checkpoint().unwrap().unwrap();

    let mut e = engine(&store, &chain);
    assert_eq!(e.catch_up().unwrap(), head as usize + 1);
    let got = fired(&store);

    let tagged = |f: Finding| -> BTreeSet<String> {
        manifest
            .transactions
            .iter()
            .filter(|t| t.findings.contains(&f))
            .map(|t| t.tx_hash.clone())
            .collect()
    };
    let of_class = |c: PrivacyClass| -> BTreeSet<String> {
        manifest
            .transactions
            .iter()
            .filter(|t| t.class == c)
            .map(|t| t.tx_hash.clone())
            .collect()
    };
    let large: BTreeSet<String> = manifest
        .transactions
        .iter()
        .filter(|t| t.class.readable() && t.amount_cents >= 1_500_000_000)
        .map(|t| t.tx_hash.clone())
        .collect();
    let want: BTreeMap<&str, BTreeSet<String>> = [
        ("structuring", tagged(Finding::Structuring)),
        ("round-trip", tagged(Finding::RoundTrip)),
        ("listed-party", tagged(Finding::ListedParty)),
        ("night-burst", tagged(Finding::NightBurst)),
        ("large-transfer", large),
        (
            "not-wrapped-for-regulator",
            of_class(PrivacyClass::NotForUs),
        ),
        (
            "inconsistent-envelope",
            of_class(PrivacyClass::Inconsistent),
        ),
    ]
    .into_iter()
    .collect();
    for (rule, want) in &want {
        assert!(!want.is_empty(), "the chain plants some {rule}");
        let got = got.get(*rule).cloned().unwrap_or_default();
        assert_eq!(
            got.difference(want).count() + want.difference(&got).count(),
            0,
            "{rule}: {} fired, {} planted; extra {:?}, missed {:?}",
            got.len(),
            want.len(),
            got.difference(want).take(3).collect::<Vec<_>>(),
            want.difference(&got).take(3).collect::<Vec<_>>()
        );
    }
    // Nothing else fires on this chain: its envelopes all open or are
    // classified above.
    for rule in got.keys() {
        assert!(want.contains_key(rule.as_str()), "unexpected {rule}");
    }
    // Every alert queued its notification in the outbox.
    let alerts = all_alerts(&store).unwrap();
    let queued = policies::family::outbox(&store, "compliance-webhook").unwrap();
    let notifying = alerts
        .iter()
        .filter(|a| !a.rule.contains("envelope") && a.rule != "not-wrapped-for-regulator")
        .count();
    assert_eq!(queued.len(), notifying);

    // The same chain with the engine stopped and started again half-way,
    // in the middle of windows: the same alerts.
    let dir2 = tempfile::tempdir().unwrap();
    let store2 = testkit::store(&chain, dir2.path());
    {
        let mut e = engine(&store2, &chain);
        for h in 0..=head / 2 {
            e.process(h).unwrap();
        }
    }
    let mut e = engine(&store2, &chain);
    assert_eq!(e.checkpoint().unwrap(), Some(head / 2));
    e.catch_up().unwrap();
    let again = all_alerts(&store2).unwrap();
    let strip = |v: &[policies::alert::Alert]| -> Vec<(String, String, Vec<String>)> {
        v.iter()
            .map(|a| (a.rule.clone(), a.group_key.clone(), a.transactions.clone()))
            .collect()
    };
    assert_eq!(strip(&again), strip(&alerts));
}

/// Rules on decoded contract data: with the contracts' ABIs registered,
/// `tx.call` and `tx.events` give each call's method and arguments and each
/// receipt's events, and the rules fire on exactly the transactions the
/// workload made of that kind; without the ABIs, every call is
/// `unknown-contract` and those rules fire on nothing.
#[test]
fn rules_on_decoded_calls_and_events_fire_on_exactly_those_calls() {
    use devnet::workload::Scenario;
    const RULES: &str = r#"
[[rule]]
id = "private-calls"
title = "Private submissions"
condition = 'tx.call.method == "submitPrivate" && tx.call.abi_version == 1'

[[rule]]
id = "token-transfers"
title = "Token transfers by their sender"
condition = 'tx.events.exists(e, e.name == "Transfer" && e.args.from == tx.from)'

[[rule]]
id = "usd-payments"
title = "Cross-border payments in USD"
condition = 'tx.call.method == "pay" && tx.call.args.currency == "USD"'

[[rule]]
id = "undecoded"
title = "Calls to contracts without an ABI"
condition = 'tx.call.status == "unknown-contract"'
"#;
    let chain = testkit::chain(43, 24);
    let manifest = chain.workload.manifest().clone();
    let (rules, errors) = policies::rule::parse_file(Path::new("decoded.toml"), RULES, None);
    assert!(errors.is_empty(), "{errors:?}");
    let run = |with_abis: bool| {
        let dir = tempfile::tempdir().unwrap();
        let store = testkit::store(&chain, dir.path());
        if with_abis {
            for s in Scenario::ALL {
                let a = devnet::contracts::artifact(devnet::contracts::of_scenario(s)).unwrap();
                let at = records::abis::parse_address(s.contract_address()).unwrap();
                records::abis::save(&store, &at, &a.abi, "test", 0).unwrap();
            }
        }
        let mut e = Engine::new(
            store.clone(),
            chain.sealer.clone(),
            rules.clone(),
            Watchlists::empty(),
            Vec::new(),
        )
        .unwrap();
        e.catch_up().unwrap();
        fired(&store)
    };
    let of = |f: &dyn Fn(&devnet::workload::TxRecord) -> bool| -> BTreeSet<String> {
        manifest
            .transactions
            .iter()
            .filter(|t| f(t))
            .map(|t| t.tx_hash.clone())
            .collect()
    };
    let got = run(true);
    let private = of(&|t| t.class != PrivacyClass::Public);
    let transfers =
        of(&|t| t.class == PrivacyClass::Public && t.scenario == Scenario::TradeSettlement);
    let usd = of(&|t| {
        t.class == PrivacyClass::Public
            && t.scenario == Scenario::CrossBorderRemittance
            && t.currency == "USD"
    });
    assert!(!private.is_empty() && !transfers.is_empty() && !usd.is_empty());
    let empty = BTreeSet::new();
    assert_eq!(got.get("private-calls").unwrap_or(&empty), &private);
    assert_eq!(got.get("token-transfers").unwrap_or(&empty), &transfers);
    assert_eq!(got.get("usd-payments").unwrap_or(&empty), &usd);
    assert_eq!(got.get("undecoded"), None);

    let blind = run(false);
    for id in ["private-calls", "token-transfers", "usd-payments"] {
        assert_eq!(blind.get(id), None, "{id} without ABIs");
    }
    let all = of(&|_| true);
    assert_eq!(blind.get("undecoded").unwrap_or(&empty), &all);
}
