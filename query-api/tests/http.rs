//! The API over real HTTP: a server on a loopback port, over a store filled
//! from a devnet chain and its index. Every answer is checked against what
//! the store holds.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use indexer::TxIndex;
use indexer::follow::{Indexer, IndexerConfig};
use indexer::search::Search;
use observer_node::chain::hexbytes::encode0x;
use query_api::{ApiState, build_schema};
use serde_json::{Value, json};

struct Server {
    url: String,
    state: Arc<ApiState>,
    _dir: tempfile::TempDir,
    _chain: testkit::Chain,
}

async fn server(seed: u64, blocks: usize) -> Server {
    let chain = testkit::chain(seed, blocks);
    let dir = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, &dir.path().join("store"));
    let index = Arc::new(TxIndex::open(&dir.path().join("index")).unwrap());
    let mut ix = Indexer::new(
        index.clone(),
        store.clone(),
        chain.sealer.clone(),
        IndexerConfig::default(),
    )
    .unwrap();
    ix.catch_up(store.checkpoint().unwrap().unwrap(), &mut |_| {})
        .unwrap();
    ix.commit().unwrap();
    let state = Arc::new(ApiState {
        store,
        search: Arc::new(Search::new(index)),
        sealer: chain.sealer.clone(),
    });
    let app = query_api::server::router(build_schema(state.clone()), state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        url,
        state,
        _dir: dir,
        _chain: chain,
    }
}

async fn gql(s: &Server, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_block_and_transaction_answer_what_the_store_holds() {
    let s = server(5, 6).await;
    let store = &s.state.store;
    let head = store.checkpoint().unwrap().unwrap();
    let v = gql(
        &s,
        "{ chain { head indexedHeight indexLag sealers statusCounts { status count } findingCount } }",
        json!({}),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let c = &v["data"]["chain"];
    assert_eq!(c["head"], head);
    assert_eq!(c["indexedHeight"], head);
    assert_eq!(c["indexLag"], 0);
    assert_eq!(c["sealers"].as_array().unwrap().len(), 4);
    let total: i64 = c["statusCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["count"].as_i64().unwrap())
        .sum();
    let stored = store.transactions_from((0, 0), usize::MAX).unwrap();
    assert_eq!(total as usize, stored.len());

    // A block by height and by hash; its transactions in block order.
    let block = store.block(3).unwrap().unwrap();
    let hash = encode0x(&block.header.claimed_hash);
    for (decl, args, vars) in [
        ("$h: Int", "height: $h", json!({ "h": 3 })),
        (
            "$x: String",
            "hash: $x",
            json!({ "x": hash.to_uppercase().replace("0X", "0x") }),
        ),
    ] {
        let q = format!(
            "query({decl}) {{ block({args}) {{ height hash transactions {{ hash index }} }} }}"
        );
        let v = gql(&s, &q, vars).await;
        assert!(v["errors"].is_null(), "{v}");
        let b = &v["data"]["block"];
        assert_eq!(b["height"], 3);
        assert_eq!(b["hash"], hash);
        let want: Vec<String> = store
            .transactions_at(3)
            .unwrap()
            .iter()
            .map(|t| encode0x(&t.tx.claimed_hash))
            .collect();
        let got: Vec<String> = b["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["hash"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want);
    }

    // One of each status: its class and, where opened, its payload.
    for t in stored.iter().take(40) {
        let h = encode0x(&t.tx.claimed_hash);
        let v = gql(
            &s,
            "query($h: String!) { transaction(hash: $h) { hash height envelopeStatus privacyClass payload { memo rawHex } } }",
            json!({ "h": h }),
        )
        .await;
        assert!(v["errors"].is_null(), "{v}");
        let tx = &v["data"]["transaction"];
        assert_eq!(tx["height"], t.height);
        let status = tx["envelopeStatus"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .replace('_', "-");
        assert_eq!(status, t.class);
        let readable = t.class == "opened" || t.class == "not-envelope";
        assert_eq!(!tx["payload"].is_null(), readable, "{tx}");
    }

    // Bad input is named, not a crash.
    let v = gql(
        &s,
        "{ block(height: 1, hash: \"0x00\") { height } }",
        json!({}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    let v = gql(&s, "{ transaction(hash: \"0xzz\") { height } }", json!({})).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_pages_follow_cursors_to_the_store_count() {
    let s = server(7, 8).await;
    let stored = s.state.store.transactions_from((0, 0), usize::MAX).unwrap();
    let q = "query($after: String) { transactions(first: 7, after: $after, order: {field: CHAIN, direction: ASC}) { totalCount indexedHeight pageInfo { hasNextPage endCursor } edges { cursor node { hash height index } } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let v = gql(&s, q, json!({ "after": after })).await;
        assert!(v["errors"].is_null(), "{v}");
        let c = &v["data"]["transactions"];
        assert_eq!(c["totalCount"].as_u64().unwrap() as usize, stored.len());
        for e in c["edges"].as_array().unwrap() {
            seen.push((
                e["node"]["height"].as_i64().unwrap(),
                e["node"]["index"].as_u64().unwrap() as u32,
            ));
        }
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
    }
    let want: Vec<(i64, u32)> = stored.iter().map(|t| (t.height, t.index)).collect();
    assert_eq!(seen, want, "chain order, every stored transaction once");

    // Blocks, newest first, page by page down to genesis.
    let head = s.state.store.checkpoint().unwrap().unwrap();
    let mut after = Value::Null;
    let mut heights = Vec::new();
    loop {
        let v = gql(
            &s,
            "query($after: String) { blocks(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { height hash } } } }",
            json!({ "after": after }),
        )
        .await;
        assert!(v["errors"].is_null(), "{v}");
        let c = &v["data"]["blocks"];
        assert_eq!(c["totalCount"], head + 1);
        for e in c["edges"].as_array().unwrap() {
            let h = e["node"]["height"].as_i64().unwrap();
            let stored = s.state.store.block(h).unwrap().unwrap();
            assert_eq!(e["node"]["hash"], encode0x(&stored.header.claimed_hash));
            heights.push(h);
        }
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(heights, (0..=head).rev().collect::<Vec<_>>());
    let v = gql(&s, "{ findings { height check } }", json!({})).await;
    assert_eq!(
        v["data"]["findings"].as_array().unwrap().len(),
        s.state.store.findings().unwrap().len()
    );
    let v = gql(&s, "{ blocks(after: \"x\") { totalCount } }", json!({})).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );

    // Limits on page size are named.
    let v = gql(
        &s,
        "{ transactions(first: 100000) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
}
