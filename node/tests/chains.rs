//! Several chains in one node: three devnets on real ports (two national-
//! standard, one standard; the second served first by an endpoint that
//! lies about one block), followed by one node with one store, one index
//! and one rule engine. Every transaction of every chain is stored,
//! indexed and evaluated once; a window rule over two chains fires on an
//! organisation that pays on both; the lie is a finding of its chain only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chain::CryptoSuite;
use chain::model::BlockTransactions;
use devnet::Devnet;
use devnet::faults::Fault;
use indexer::IndexerConfig;
use indexer::search::{Search, SearchRequest};
use ingest::{IngestConfig, Trust};
use node::{ChainSpec, Node};
use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;

const BLOCKS: usize = 8;
const TXS: usize = 10;

/// A devnet chain whose envelopes are wrapped for `regulator`.
fn devnet(suite: CryptoSuite, seed: u64, regulator: &[u8; 32]) -> Devnet {
    let key = PrivateKey::from_scalar_bytes(regulator).unwrap();
    testkit::generate(suite, seed, BLOCKS, TXS, Some(key)).0
}

fn hashes(d: &Devnet) -> Vec<String> {
    (0..=d.head())
        .flat_map(|h| match &d.block(h).unwrap().transactions {
            BlockTransactions::Full(ts) => ts
                .iter()
                .map(|t| chain::hexbytes::encode0x(&t.claimed_hash))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Serves `d` on a loopback port (lying as `fault` says); its URL.
async fn serve(d: &Arc<tokio::sync::RwLock<Devnet>>, fault: Option<Fault>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let state = devnet::server::AppState::new(d.clone(), fault);
    tokio::spawn(devnet::server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_chains_one_node_each_transaction_once_and_findings_apart() {
    let regulator = PrivateKey::generate().unwrap();
    let scalar: [u8; 32] = regulator.to_scalar_bytes().as_slice().try_into().unwrap();
    let chains = [
        ("sh", CryptoSuite::Sm, 41u64),
        ("bj", CryptoSuite::Sm, 42),
        ("hk", CryptoSuite::Standard, 43),
    ];
    let mut specs = Vec::new();
    let mut txs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut liar = String::new();
    for (id, suite, seed) in chains {
        let d = devnet(suite, seed, &scalar);
        txs.insert(id, hashes(&d));
        let committee = d.committee();
        let genesis = d.block(0).map(|b| b.header.claimed_hash);
        let head = d.head();
        let shared = Arc::new(tokio::sync::RwLock::new(d));
        let mut urls = Vec::new();
        if id == "bj" {
            liar = serve(&shared, Some("forged-signature@3".parse().unwrap())).await;
            urls.push(liar.clone());
        }
        urls.push(serve(&shared, None).await);
        let mut c = IngestConfig::new(urls, "group0", suite, Trust::Genesis(committee));
        c.genesis_hash = genesis;
        c.poll_interval = Duration::from_millis(20);
        c.backoff_initial = Duration::from_millis(10);
        c.backoff_max = Duration::from_millis(200);
        c.stop_at = Some(head);
        specs.push(ChainSpec {
            id: id.to_owned(),
            ingest: c,
        });
    }
    let total_blocks = (BLOCKS as i64 + 1) * 3;
    let total_txs: usize = txs.values().map(Vec::len).sum();
    assert!(total_txs >= BLOCKS * TXS * 3);

    // A window over two chains: an organisation paying on sh and bj.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("cross.toml"),
        r#"[[rule]]
id = "pays-on-two-chains"
title = "Pays on two chains"
severity = "medium"
chains = ["sh", "bj"]
condition = "tx.readable && tx.payer_id != null"
group_by = "tx.payer_id"
window = "30d"
threshold = { count = 2 }
dedup = "1m"
"#,
    )
    .unwrap();
    let mut keyring = Keyring::new();
    keyring.add("regulator", regulator).unwrap();
    let index_config = IndexerConfig {
        stop_at: Some(total_blocks - 1),
        commit_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let mut node = Node::open_chains(specs, &dir.path().join("data"), keyring, Some(index_config))
        .unwrap()
        .with_policies(Some(&rules), None, &[], Some(total_blocks - 1))
        .unwrap();
    assert_eq!(node.chains.len(), 3);
    tokio::time::timeout(Duration::from_secs(120), node.run(std::future::pending()))
        .await
        .expect("the node follows three chains to their heads")
        .unwrap();

    // Stored: each chain in its own log, every transaction once.
    let ids: Vec<(String, u8)> = node
        .store
        .chains()
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.number))
        .collect();
    assert_eq!(
        ids,
        vec![("sh".into(), 0), ("bj".into(), 1), ("hk".into(), 2)]
    );
    let mut chain_of: BTreeMap<String, String> = BTreeMap::new();
    for c in &node.chains {
        assert_eq!(c.store.checkpoint().unwrap(), Some(BLOCKS as i64));
        let stored = c.store.transactions_from((0, 0), usize::MAX).unwrap();
        let expected = &txs[c.id.as_str()];
        assert_eq!(stored.len(), expected.len(), "chain {}", c.id);
        for t in &stored {
            let h = chain::hexbytes::encode0x(&t.tx.claimed_hash);
            assert!(expected.contains(&h), "chain {} stores {h}", c.id);
            assert!(chain_of.insert(h, c.id.clone()).is_none(), "stored twice");
        }
    }
    assert_eq!(node.store.merged_head().unwrap(), Some(total_blocks - 1));

    // Searchable: every transaction once, each under its chain.
    let index = node.index.clone().unwrap();
    let once = testkit::indexed_once(&index);
    assert_eq!(once.len(), total_txs);
    let search = Search::new(index);
    for (id, expected) in &txs {
        let page = search
            .search(&SearchRequest {
                query: Some(format!("chain:{id}")),
                first: 1,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.total as usize, expected.len(), "chain:{id}");
    }

    // Evaluated once each.
    let stats = node.policy_stats().unwrap();
    assert_eq!(
        stats.transactions.load(Ordering::Relaxed) as usize,
        total_txs
    );

    // The cross-chain window fired on an organisation's payments on both
    // chains, and never on the chain the rule leaves out.
    let alerts = policies::family::all_alerts(&node.store).unwrap();
    let cross: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule == "pays-on-two-chains")
        .collect();
    assert!(!cross.is_empty());
    let spans = |a: &policies::alert::Alert| {
        a.transactions
            .iter()
            .map(|h| chain_of[h].as_str())
            .collect::<HashSet<_>>()
    };
    assert!(cross.iter().all(|a| !spans(a).contains("hk")));
    // Each alert names the chain of the transaction that fired it.
    for a in &cross {
        let last = a.transactions.last().unwrap();
        assert_eq!(a.values.get("chain"), Some(&chain_of[last]), "{a:?}");
    }
    assert!(
        cross
            .iter()
            .any(|a| spans(a) == HashSet::from(["sh", "bj"])),
        "an alert over payments on both chains"
    );

    // The lie: a finding of bj only, and its alert names bj.
    let bj = &node.chains[1];
    let findings = bj.store.findings().unwrap();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| f.endpoint == liar));
    for c in [&node.chains[0], &node.chains[2]] {
        assert!(c.store.findings().unwrap().is_empty(), "chain {}", c.id);
    }
    let lies: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule == "block-failed-verification")
        .collect();
    assert!(!lies.is_empty());
    assert!(
        lies.iter()
            .all(|a| a.values.get("chain").map(String::as_str) == Some("bj")),
        "{lies:?}"
    );

    // /metrics: each chain's ingest metrics once per family, by chain.
    let text = ingest::metrics::render(&node.registry());
    for family in [
        "lookthrough_height",
        "lookthrough_endpoint_state",
        "lookthrough_ingest_fetch_seconds",
    ] {
        let types = text.matches(&format!("# TYPE {family} ")).count();
        assert_eq!(types, 1, "{family} described once:\n{text}");
    }
    for id in ["sh", "bj", "hk"] {
        assert!(
            text.contains(&format!("lookthrough_height{{chain=\"{id}\"}} {BLOCKS}")),
            "{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "lookthrough_endpoint_findings_total{{chain=\"bj\",endpoint=\"{liar}\"}} "
        )),
        "{text}"
    );

    // GraphQL over all three and each: the node's API as it serves it.
    let parts = node::api::ApiParts::build(
        node.store.clone(),
        Arc::new(Search::new(node.index.clone().unwrap())),
        node.sealer.clone(),
        Some(Arc::new(PrivateKey::generate().unwrap())),
        node::api::ApiOptions {
            chains: node.api_chains(),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let (_, token) =
        query_api::auth::create_token(&node.store, "analyst", query_api::auth::Role::Analyst, 0)
            .unwrap();
    let who = parts
        .api
        .authenticate(Some(format!("Bearer {}", token.as_str()).into_bytes()))
        .await
        .unwrap();
    let ask = |q: String| {
        let api = parts.api.clone();
        let who = who.clone();
        async move {
            let (_, resp) = api
                .execute_as(&who, async_graphql::Request::new(q))
                .await
                .unwrap();
            serde_json::to_value(resp).unwrap()
        }
    };
    let v = ask("{ chains { id group head findingCount indexedHeight endpoints { url } } }".into())
        .await;
    let chains = v["data"]["chains"].as_array().unwrap();
    let ids: Vec<&str> = chains.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["sh", "bj", "hk"], "{v}");
    for c in chains {
        assert_eq!(c["head"], BLOCKS as i64, "{c}");
        assert_eq!(c["indexedHeight"], BLOCKS as i64, "{c}");
        let lied = c["id"] == "bj";
        assert_eq!(c["findingCount"].as_i64().unwrap() > 0, lied, "{c}");
        assert_eq!(
            c["endpoints"].as_array().unwrap().len(),
            if lied { 2 } else { 1 }
        );
    }
    let v = ask(r#"{ transactions(filter: { chains: ["bj", "hk"] }, first: 500) { totalCount edges { node { chain group hash payload { memo } } } } }"#.into()).await;
    let conn = &v["data"]["transactions"];
    assert_eq!(conn["totalCount"], txs["bj"].len() + txs["hk"].len(), "{v}");
    for e in conn["edges"].as_array().unwrap() {
        let n = &e["node"];
        let (chain, hash) = (n["chain"].as_str().unwrap(), n["hash"].as_str().unwrap());
        assert_eq!(chain_of[hash], chain);
        assert_eq!(n["group"], "group0");
    }
    // By hash, found on its chain without naming it; a wrong chain finds
    // nothing; an unknown one is refused, naming the known ones.
    let hk_tx = &txs["hk"][3];
    let v = ask(format!(
        r#"{{ transaction(hash: "{hk_tx}") {{ chain block {{ chain height }} }} }}"#
    ))
    .await;
    assert_eq!(v["data"]["transaction"]["chain"], "hk", "{v}");
    assert_eq!(v["data"]["transaction"]["block"]["chain"], "hk", "{v}");
    let v = ask(format!(
        r#"{{ transaction(hash: "{hk_tx}", chain: "sh") {{ chain }} }}"#
    ))
    .await;
    assert!(v["data"]["transaction"].is_null(), "{v}");
    let v = ask(r#"{ chain(id: "nope") { head } }"#.into()).await;
    let e = &v["errors"][0];
    assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{v}");
    assert!(e["message"].as_str().unwrap().contains("sh, bj, hk"), "{v}");
    let v = ask(
        r#"{ findings(chain: "bj") { chain endpoint } sh: findings(chain: "sh") { chain } }"#
            .into(),
    )
    .await;
    assert!(!v["data"]["findings"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["data"]["sh"].as_array().unwrap().is_empty(), "{v}");
    // A decrypted read of another chain's transaction names the chain in
    // the audit log.
    let opened = node.chains[2]
        .store
        .transactions_of_class("opened", (0, 0), 1)
        .unwrap();
    let opened = chain::hexbytes::encode0x(&opened[0].tx.claimed_hash);
    let v = ask(format!(
        r#"{{ transaction(hash: "{opened}") {{ payload {{ rawHex }} }} }}"#
    ))
    .await;
    assert!(v["errors"].is_null(), "{v}");
    assert!(
        v["data"]["transaction"]["payload"]["rawHex"].is_string(),
        "{v}"
    );
    let last = parts.audit.entries(parts.audit.len() - 1, 1).unwrap();
    let text = format!("{last:?}");
    assert!(text.contains(&format!("hk:{opened}")), "{text}");

    // The dashboards switch between one chain and all of them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = parts.app();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bearer = format!("Bearer {}", token.as_str());
    let page = |path: &str, chain: Option<&str>| {
        let mut r = http
            .get(format!("{base}{path}"))
            .header("Authorization", &bearer);
        if let Some(c) = chain {
            r = r.header("Cookie", format!("lt_chain={c}"));
        }
        async move {
            let resp = r.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    let all = page("/", None).await;
    for id in ["sh", "bj", "hk"] {
        assert!(
            all.contains(&format!("/chain?c={id}&amp;back=%2F")),
            "a switch to {id}"
        );
    }
    assert_eq!(
        all.matches("<td class=\"mono\">bj</td>").count(),
        2,
        "bj's row and its finding"
    );
    let switched = http
        .get(format!("{base}/chain?c=bj&back=/"))
        .send()
        .await
        .unwrap();
    assert!(switched.status().is_redirection());
    let cookie = switched.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("lt_chain=bj;"), "{cookie}");
    let bj = page("/", Some("bj")).await;
    assert!(
        bj.contains("<strong aria-current=\"true\">bj</strong>"),
        "{bj}"
    );
    let hk = page("/search?privacy=public&upto=8", Some("hk")).await;
    let rows = hk.matches("<span class=\"muted\">hk</span>").count();
    assert!(rows > 0, "{hk}");
    assert!(!hk.contains("<span class=\"muted\">sh</span>"));
    assert!(!hk.contains("<span class=\"muted\">bj</span>"));
}

/// A data directory made for one chain, before there were several: its
/// log under the bare family names, no chain registry, no merged log, an
/// index of an older schema. The node opens it as chain `main`, number 0,
/// its log unchanged; the consumers' checkpoints read as positions; the
/// index is rebuilt; nothing is evaluated twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_chain_data_directory_opens_unchanged() {
    let regulator = PrivateKey::generate().unwrap();
    let scalar: [u8; 32] = regulator.to_scalar_bytes().as_slice().try_into().unwrap();
    let d = devnet(CryptoSuite::Sm, 51, &scalar);
    let committee = d.committee();
    let head = d.head();
    let all = hashes(&d);
    let shared = Arc::new(tokio::sync::RwLock::new(d));
    let url = serve(&shared, None).await;
    let config = |stop: i64| {
        let mut c = IngestConfig::new(
            vec![url.clone()],
            "group0",
            CryptoSuite::Sm,
            Trust::Genesis(committee.clone()),
        );
        c.poll_interval = Duration::from_millis(20);
        c.stop_at = Some(stop);
        c
    };
    let keyring = || {
        let mut k = Keyring::new();
        k.add("regulator", PrivateKey::from_scalar_bytes(&scalar).unwrap())
            .unwrap();
        k
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let half = head / 2;
    let index_config = |stop: i64| IndexerConfig {
        stop_at: Some(stop),
        commit_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let (alerts_before, evaluated_before) = {
        let mut node = Node::open(config(half), &data, keyring(), Some(index_config(half)))
            .unwrap()
            .with_policies(None, None, &[], Some(half))
            .unwrap();
        node.run(std::future::pending()).await.unwrap();
        let alerts = policies::family::all_alerts(&node.store).unwrap().len();
        (
            alerts,
            node.policy_stats()
                .unwrap()
                .transactions
                .load(Ordering::Relaxed),
        )
    };
    assert!(evaluated_before > 0);
    // As an older version left it: no registry, no merged log, and an
    // index whose checkpoint says schema 3.
    {
        let store = data.join("store");
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &store).unwrap();
        let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &store, &cfs).unwrap();
        db.drop_cf("chains").unwrap();
        db.drop_cf("merged").unwrap();
    }
    {
        let index = indexer::TxIndex::open(&data.join("index")).unwrap();
        let mut cp = index.checkpoint().unwrap().unwrap();
        cp.version = 3;
        let mut writer = index.writer(1, 16 << 20).unwrap();
        index.commit(&mut writer, &cp).unwrap();
    }
    let mut node = Node::open(config(head), &data, keyring(), Some(index_config(head)))
        .unwrap()
        .with_policies(None, None, &[], Some(head))
        .unwrap();
    let chains = node.store.chains().unwrap();
    assert_eq!(chains.len(), 1);
    assert_eq!((chains[0].id.as_str(), chains[0].number), ("main", 0));
    assert_eq!(
        node.store.checkpoint().unwrap(),
        Some(half),
        "the log as it was"
    );
    for p in 0..=half {
        let m = node.store.merged_at(p).unwrap().unwrap();
        assert_eq!((m.chain, m.height), (0, p), "positions are the heights");
    }
    node.run(std::future::pending()).await.unwrap();
    assert_eq!(node.store.checkpoint().unwrap(), Some(head));
    // Every transaction indexed once (the index was rebuilt from the
    // store), each evaluated once over both runs.
    let once = testkit::indexed_once(&node.index.clone().unwrap());
    assert_eq!(once.len(), all.len());
    let evaluated = node
        .policy_stats()
        .unwrap()
        .transactions
        .load(Ordering::Relaxed);
    assert_eq!(
        evaluated_before + evaluated,
        all.len() as u64,
        "each transaction evaluated once over the two runs"
    );
    assert!(policies::family::all_alerts(&node.store).unwrap().len() >= alerts_before);
}
