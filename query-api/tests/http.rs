//! The API over real HTTP: a server on a loopback port, over a store filled
//! from a devnet chain and its index. Every answer is checked against what
//! the store holds; every caller is authenticated, and each role sees what
//! it may.

#![allow(clippy::unwrap_used)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chain::hexbytes::encode0x;
use indexer::follow::Indexer;
use indexer::search::Search;
use jsonwebtoken::{EncodingKey, Header};
use node::api::{ApiOptions, ApiParts};
use query_api::ApiState;
use query_api::auth::{JwtSettings, Role, create_token};
use query_api::server::Limits;
use serde_json::{Value, json};

const JWT_SECRET: &[u8] = b"an HS256 secret of at least 32 bytes, for tests";

struct Server {
    url: String,
    state: Arc<ApiState>,
    indexer: std::sync::Mutex<Indexer>,
    node_key: Arc<privacy::keys::PrivateKey>,
    admin: String,
    analyst: String,
    auditor: String,
    viewer: String,
    _dir: tempfile::TempDir,
    chain: testkit::Chain,
}

impl Server {
    /// Stores and indexes the chain's blocks up to `to`.
    fn advance(&self, to: i64) {
        let from = self.state.store.checkpoint().unwrap().map_or(0, |h| h + 1);
        testkit::commit(&self.chain, &self.state.store, from, to);
        testkit::index_to(&mut self.indexer.lock().unwrap(), to);
    }

    fn token(&self, role: Role) -> &str {
        match role {
            Role::Admin => &self.admin,
            Role::Analyst => &self.analyst,
            Role::Auditor => &self.auditor,
            Role::Viewer => &self.viewer,
        }
    }
}

async fn server(seed: u64, blocks: usize) -> Server {
    server_with(seed, blocks, None, Limits::default()).await
}

/// A server over a chain of `blocks` blocks, of which the store holds
/// those up to `stored` (all when `None`).
async fn server_with(seed: u64, blocks: usize, stored: Option<i64>, limits: Limits) -> Server {
    let chain = testkit::chain(seed, blocks);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(&dir.path().join("store")).unwrap());
    testkit::commit(&chain, &store, 0, stored.unwrap_or(chain.devnet.head()));
    let (index, ix) = testkit::index(&store, &chain.sealer, &dir.path().join("index"));
    let node_key = Arc::new(privacy::keys::PrivateKey::generate().unwrap());
    // The example watchlists, copied: a test may add to them.
    let lists_dir = dir.path().join("watchlists");
    std::fs::create_dir_all(&lists_dir).unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/watchlists");
    for f in std::fs::read_dir(&examples).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), lists_dir.join(f.file_name())).unwrap();
    }
    let mut tokens = Role::ALL.iter().map(|r| {
        create_token(&store, &format!("{r} in tests"), *r, 0)
            .unwrap()
            .1
            .to_string()
    });
    let (admin, analyst, auditor, viewer) = (
        tokens.next().unwrap(),
        tokens.next().unwrap(),
        tokens.next().unwrap(),
        tokens.next().unwrap(),
    );
    // The API as the node wires and serves it.
    let options = ApiOptions {
        suite: chain::CryptoSuite::Sm,
        chains: Vec::new(),
        limits,
        jwt: Some(JwtSettings {
            algorithm: "HS256".into(),
            key: zeroize::Zeroizing::new(JWT_SECRET.to_vec()),
            issuer: "https://idp.example.cn".into(),
            audience: "lookthrough".into(),
            role_claim: "roles".into(),
            leeway_secs: 0,
        }),
        dashboards: Default::default(),
        endpoints: Some(Arc::new(TwoEndpoints)),
        keyring: Some(Arc::new(testkit::keyring(&chain.workload))),
        watchlists_dir: Some(lists_dir),
    };
    let parts = ApiParts::build(
        store.clone(),
        Arc::new(Search::new(index)),
        chain.sealer.clone(),
        Some(node_key.clone()),
        options,
        None,
    )
    .unwrap();
    let state = parts.state.clone();
    let app = parts.app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        url,
        state,
        indexer: std::sync::Mutex::new(ix),
        node_key,
        admin,
        analyst,
        auditor,
        viewer,
        _dir: dir,
        chain,
    }
}

/// POSTs a query with `Authorization: <auth>` (none when `None`); returns
/// the status and the body.
/// The endpoint health the API is given: one healthy, one benched.
struct TwoEndpoints;

impl query_api::EndpointHealth for TwoEndpoints {
    fn endpoints(&self) -> Vec<query_api::EndpointReport> {
        vec![
            query_api::EndpointReport {
                url: "http://10.0.0.1:20200/".into(),
                state: "healthy".into(),
                latency_ms: Some(12.5),
                errors: 0,
                findings: 0,
                head: Some(99),
                benched_for_ms: None,
            },
            query_api::EndpointReport {
                url: "http://10.0.0.2:20200/".into(),
                state: "benched".into(),
                latency_ms: None,
                errors: 3,
                findings: 1,
                head: Some(120),
                benched_for_ms: Some(30_000),
            },
        ]
    }
}

async fn post(s: &Server, auth: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// A query as `role`, which must be answered with 200.
async fn gql_as(s: &Server, role: Role, query: &str, variables: Value) -> Value {
    let (status, v) = post(
        s,
        Some(&format!("Bearer {}", s.token(role))),
        query,
        variables,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// A query as an analyst.
async fn gql(s: &Server, query: &str, variables: Value) -> Value {
    gql_as(s, Role::Analyst, query, variables).await
}

fn jwt(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_block_and_transaction_answer_what_the_store_holds() {
    let s = server(5, 6).await;
    let store = &s.state.store;
    let head = store.checkpoint().unwrap().unwrap();
    let v = gql(
        &s,
        "{ chain { chainId groups head indexedHeight indexLag sealers statusCounts { status count } findingCount } }",
        json!({}),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let c = &v["data"]["chain"];
    assert_eq!(c["head"], head);
    assert_eq!(c["indexedHeight"], head);
    assert_eq!(c["indexLag"], 0);
    assert_eq!(c["sealers"].as_array().unwrap().len(), 4);
    let first = &store.transactions_from((0, 0), 1).unwrap()[0].tx;
    assert_eq!(c["chainId"], first.chain_id.as_str());
    assert_eq!(c["groups"], json!([first.group_id]));
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
            "query($h: String!) { transaction(hash: $h) { hash height envelopeStatus privacyClass payload { memo rawHex }
               receipt { hash status succeeded gasUsed contractAddress output version logs { address topics data } } } }",
            json!({ "h": h }),
        )
        .await;
        assert!(v["errors"].is_null(), "{v}");
        let tx = &v["data"]["transaction"];
        assert_eq!(tx["height"], t.height);
        // The receipt is the one the chain produced for it.
        let r = s.chain.devnet.receipt(&t.tx.claimed_hash).unwrap();
        assert_eq!(
            tx["receipt"],
            json!({
                "hash": encode0x(&r.claimed_hash),
                "status": r.status,
                "succeeded": r.status == 0,
                "gasUsed": r.gas_used,
                "contractAddress": null,
                "output": encode0x(&r.output),
                "version": r.version,
                "logs": r.logs.iter().map(|l| json!({
                    "address": format!("0x{}", l.address),
                    "topics": l.topics.iter().map(|x| encode0x(x)).collect::<Vec<_>>(),
                    "data": encode0x(&l.data),
                })).collect::<Vec<_>>(),
            })
        );
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

/// `chain` tells the endpoints' health as ingest keeps it, and the disk
/// faults; `/healthz` says `disk-fault` while there is one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_tells_endpoint_health_and_disk_faults() {
    let s = server(31, 2).await;
    let q = "{ chain { endpoints { url state latencyMs errors findings head benchedForMs } diskFaults { dir error since } } }";
    let v = gql(&s, q, json!({})).await;
    let endpoints = v["data"]["chain"]["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2, "{v}");
    assert_eq!(endpoints[0]["state"], "healthy");
    assert_eq!(endpoints[0]["latencyMs"], 12.5);
    assert_eq!(endpoints[1]["state"], "benched");
    assert_eq!(endpoints[1]["benchedForMs"], 30_000);
    assert_eq!(endpoints[1]["findings"], 1);
    assert_eq!(v["data"]["chain"]["diskFaults"], json!([]));

    let dir = s.state.store.path().to_path_buf();
    s.state
        .store
        .disk()
        .report(&dir, "IO error: No space left on device");
    let v = gql(&s, q, json!({})).await;
    let faults = v["data"]["chain"]["diskFaults"].as_array().unwrap();
    assert_eq!(faults.len(), 1, "{v}");
    assert_eq!(faults[0]["dir"], dir.display().to_string());
    assert!(
        faults[0]["error"]
            .as_str()
            .unwrap()
            .contains("No space left")
    );
    assert!(
        faults[0]["since"].as_str().unwrap().ends_with("+08:00"),
        "{v}"
    );
    let health: Value = reqwest::get(format!("{}/healthz", s.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "disk-fault", "{health}");
    // Open to anyone, it tells how many, not which or why.
    assert_eq!(health["diskFaults"], 1, "{health}");
    assert!(!health.to_string().contains(&dir.display().to_string()));

    s.state.store.disk().clear(&dir);
    let v = gql(&s, q, json!({})).await;
    assert_eq!(v["data"]["chain"]["diskFaults"], json!([]));
}

/// Admins register contract ABIs (`saveAbi`): a version per change of the
/// text, refused with the reason when it does not parse; every role reads
/// the versions (`abiVersions`), each naming who added it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_register_abis_and_every_role_reads_their_versions() {
    let s = server(32, 1).await;
    let address = format!("0x{}", "c4".repeat(20));
    let token = r#"[{"type":"function","name":"transfer","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[]}]"#;
    let save = "mutation($a: String!, $abi: String!) { saveAbi(address: $a, abi: $abi) { address version source abi } }";
    let v = gql_as(&s, Role::Admin, save, json!({ "a": address, "abi": token })).await;
    assert_eq!(v["data"]["saveAbi"]["version"], 1, "{v}");
    assert_eq!(v["data"]["saveAbi"]["address"], address);
    let v = gql_as(&s, Role::Admin, save, json!({ "a": address, "abi": token })).await;
    assert_eq!(
        v["data"]["saveAbi"]["version"], 1,
        "the same text adds no version: {v}"
    );
    let changed = token.replace("transfer", "send");
    let v = gql_as(
        &s,
        Role::Admin,
        save,
        json!({ "a": address, "abi": changed }),
    )
    .await;
    assert_eq!(v["data"]["saveAbi"]["version"], 2, "{v}");

    // Not an admin, not an ABI, not an address: refused, named.
    let v = gql_as(
        &s,
        Role::Analyst,
        save,
        json!({ "a": address, "abi": token }),
    )
    .await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let v = gql_as(&s, Role::Admin, save, json!({ "a": address, "abi": "{" })).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&address),
        "{v}"
    );
    let v = gql_as(&s, Role::Admin, save, json!({ "a": "0x12", "abi": token })).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );

    let read = "query($a: String!) { abiVersions(address: $a) { version source added abi } }";
    let v = gql_as(&s, Role::Viewer, read, json!({ "a": address })).await;
    let versions = v["data"]["abiVersions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{v}");
    assert!(
        versions[0]["source"].as_str().unwrap().starts_with("api:"),
        "{v}"
    );
    assert!(versions[1]["abi"].as_str().unwrap().contains("send"));
    assert!(versions[0]["added"].as_str().unwrap().ends_with("+08:00"));
    let v = gql_as(
        &s,
        Role::Viewer,
        read,
        json!({ "a": format!("0x{}", "00".repeat(20)) }),
    )
    .await;
    assert_eq!(v["data"]["abiVersions"], json!([]));
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
    // Findings come newest `last`, oldest first; the count covers them all.
    let before = s.state.store.finding_count().unwrap();
    for i in 0..5 {
        s.state
            .store
            .add_finding(&store::Finding {
                at_ms: i,
                height: Some(1_000 + i),
                endpoint: "http://10.0.0.9:20200".into(),
                check: format!("check-{i}"),
                detail: "served in a test".into(),
                evidence: String::new(),
            })
            .unwrap();
    }
    let v = gql(&s, "{ findings(last: 2) { height check } }", json!({})).await;
    let heights: Vec<i64> = v["data"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["height"].as_i64().unwrap())
        .collect();
    assert_eq!(heights, [1_003, 1_004]);
    let v = gql(&s, "{ findings { check } }", json!({})).await;
    assert_eq!(
        v["data"]["findings"].as_array().unwrap().len() as i64,
        (before + 5).min(100)
    );
    let v = gql(&s, "{ findings(last: 5000) { check } }", json!({})).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    // Envelope findings, page by page: every stored transaction the
    // regulator could not open, in chain order.
    let want: Vec<(i64, u32)> = stored
        .iter()
        .filter(|t| !matches!(t.class.as_str(), "opened" | "not-envelope"))
        .map(|t| (t.height, t.index))
        .collect();
    assert!(!want.is_empty());
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let v = gql_as(
            &s,
            Role::Viewer,
            "query($after: String) { envelopeFindings(first: 4, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { height index envelopeStatus envelopeDetail } } } }",
            json!({ "after": after }),
        )
        .await;
        assert!(v["errors"].is_null(), "{v}");
        let c = &v["data"]["envelopeFindings"];
        assert_eq!(c["totalCount"].as_u64().unwrap() as usize, want.len());
        for e in c["edges"].as_array().unwrap() {
            assert!(!e["node"]["envelopeDetail"].as_str().unwrap().is_empty());
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
    assert_eq!(seen, want);
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

/// A private transaction the regulator opened, and a public one.
fn opened_and_public(s: &Server) -> (String, String) {
    let stored = s.state.store.transactions_from((0, 0), usize::MAX).unwrap();
    let find = |class: &str| {
        stored
            .iter()
            .find(|t| t.class == class)
            .map(|t| encode0x(&t.tx.claimed_hash))
            .unwrap()
    };
    (find("opened"), find("not-envelope"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_what_it_may_and_decrypted_reads_are_audited() {
    let s = server(11, 6).await;
    let (private, public) = opened_and_public(&s);
    let q = "query($h: String!) { transaction(hash: $h) { hash envelopeStatus payload { memo } } }";

    // Analysts (and admins) read the decrypted payload.
    for role in [Role::Analyst, Role::Admin] {
        let v = gql_as(&s, role, q, json!({ "h": private })).await;
        assert!(v["errors"].is_null(), "{role}: {v}");
        assert!(
            v["data"]["transaction"]["payload"]["memo"].is_string(),
            "{v}"
        );
    }
    // Viewers and auditors get the rest, and an error for the payload alone.
    for role in [Role::Viewer, Role::Auditor] {
        let v = gql_as(&s, role, q, json!({ "h": private })).await;
        let tx = &v["data"]["transaction"];
        assert_eq!(tx["hash"], private, "{v}");
        assert_eq!(tx["envelopeStatus"], "OPENED", "{v}");
        assert!(tx["payload"].is_null(), "{v}");
        let errors = v["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{v}");
        assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN");
        assert_eq!(errors[0]["path"], json!(["transaction", "payload"]));
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .contains(role.as_str()),
            "{v}"
        );
        // A public payload is theirs to read.
        let v = gql_as(&s, role, q, json!({ "h": public })).await;
        assert!(v["errors"].is_null(), "{v}");
        assert!(!v["data"]["transaction"]["payload"].is_null(), "{v}");
    }

    // A viewer's search covers public transactions only, and says so.
    let sq = r#"{ transactions(search: "汇款", first: 100) { totalCount warnings edges { node { privacyClass } } } }"#;
    let v = gql_as(&s, Role::Viewer, sq, json!({})).await;
    assert!(v["errors"].is_null(), "{v}");
    let c = &v["data"]["transactions"];
    assert!(
        c["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["privacyClass"] == "PUBLIC"),
        "{v}"
    );
    assert!(
        c["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("public transactions only")),
        "{v}"
    );
    let v = gql_as(
        &s,
        Role::Viewer,
        r#"{ transactions(search: "汇款", filter: {privacyClass: PRIVATE}) { totalCount } }"#,
        json!({}),
    )
    .await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    // The analyst's same search reaches private transactions too.
    let v = gql(&s, sq, json!({})).await;
    let analyst_hits: Vec<&Value> = v["data"]["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(
        analyst_hits
            .iter()
            .any(|e| e["node"]["privacyClass"] == "PRIVATE"),
        "{v}"
    );

    // Only auditors and admins read the audit log, and it holds exactly
    // the analyst's decrypted reads, newest first.
    for role in [Role::Viewer, Role::Analyst] {
        let v = gql_as(&s, role, "{ auditLog { totalCount } }", json!({})).await;
        assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
        assert!(v["data"].is_null(), "{v}");
    }
    let v = gql_as(
        &s,
        Role::Auditor,
        "{ auditLog(first: 10) { totalCount edges { node { seq actorName role query read matched } } } }",
        json!({}),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let log = &v["data"]["auditLog"];
    // Two payload reads (analyst, admin) and the analyst's search; the
    // viewers' and auditors' requests read nothing decrypted.
    assert_eq!(log["totalCount"], 3, "{v}");
    let entries = log["edges"].as_array().unwrap();
    let search_entry = &entries[0]["node"];
    assert_eq!(search_entry["seq"], 2);
    assert_eq!(search_entry["actorName"], "analyst in tests");
    assert!(search_entry["query"].as_str().unwrap().contains("汇款"));
    assert!(search_entry["read"].as_array().unwrap().is_empty());
    let private_hits = analyst_hits
        .iter()
        .filter(|e| e["node"]["privacyClass"] == "PRIVATE")
        .count();
    assert_eq!(
        search_entry["matched"].as_array().unwrap().len(),
        private_hits,
        "{v}"
    );
    assert_eq!(entries[1]["node"]["role"], "ADMIN");
    assert_eq!(entries[2]["node"]["role"], "ANALYST");
    assert_eq!(entries[2]["node"]["read"], json!([private]));

    // The chain of entries verifies and is sealed with the node's key.
    s.state.audit.seal(0).unwrap().unwrap();
    let check = query_api::audit::verify(&s.state.store, Some(s.node_key.public_key())).unwrap();
    assert_eq!(check.broken, None);
    assert_eq!((check.entries, check.sealed_to), (3, Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_manage_tokens_and_a_revoked_token_is_refused() {
    let s = server(13, 2).await;
    let create = "mutation($n: String!, $r: Role!) { createToken(name: $n, role: $r) { token info { id name role revokedAt } } }";
    let v = gql_as(&s, Role::Analyst, create, json!({ "n": "x", "r": "ADMIN" })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let v = gql_as(
        &s,
        Role::Admin,
        create,
        json!({ "n": "carol", "r": "VIEWER" }),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let made = &v["data"]["createToken"];
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["info"]["id"].as_str().unwrap().to_string();
    assert_eq!(made["info"]["role"], "VIEWER");

    let (status, v) = post(
        &s,
        Some(&format!("Bearer {token}")),
        "{ me { name role } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"]["me"],
        json!({ "name": "carol", "role": "VIEWER" })
    );

    let v = gql_as(&s, Role::Admin, "{ tokens { id name role } }", json!({})).await;
    assert_eq!(v["data"]["tokens"].as_array().unwrap().len(), 5, "{v}");
    let v = gql_as(
        &s,
        Role::Admin,
        "mutation($id: String!) { revokeToken(id: $id) { id revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    assert!(v["data"]["revokeToken"]["revokedAt"].is_string(), "{v}");
    let (status, v) = post(
        &s,
        Some(&format!("Bearer {token}")),
        "{ me { name } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 401, "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bad_and_expired_credentials_get_401() {
    let s = server(17, 1).await;
    let now = now_secs();
    let claims = |exp: u64, aud: &str, roles: Value| json!({ "sub": "zhang.wei", "iss": "https://idp.example.cn", "aud": aud, "exp": exp, "roles": roles });
    let good = jwt(claims(
        now + 600,
        "lookthrough",
        json!(["offline_access", "analyst"]),
    ));
    let (status, v) = post(
        &s,
        Some(&format!("Bearer {good}")),
        "{ me { name role credential } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"]["me"],
        json!({ "name": "zhang.wei", "role": "ANALYST", "credential": "jwt" })
    );

    let expired = jwt(claims(now - 5, "lookthrough", json!("analyst")));
    let wrong_aud = jwt(claims(now + 600, "someone-else", json!("analyst")));
    let no_role = jwt(claims(now + 600, "lookthrough", json!(["offline_access"])));
    let forged = {
        let mut t = good.clone();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        t
    };
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing Authorization"),
        (
            Some("Bearer lt_0123456789abcdef_nope".into()),
            "invalid API token",
        ),
        (Some(format!("Basic {}", s.analyst)), "not `Bearer"),
        (Some(format!("Bearer {expired}")), "expired"),
        (Some(format!("Bearer {wrong_aud}")), "audience"),
        (Some(format!("Bearer {no_role}")), "names none of"),
        (Some(format!("Bearer {forged}")), "invalid JWT"),
    ];
    for (auth, says) in cases {
        let (status, v) = post(&s, auth.as_deref(), "{ chain { head } }", json!({})).await;
        assert_eq!(status, 401, "{auth:?}: {v}");
        assert_eq!(v["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        let msg = v["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{auth:?}: {msg}");
        assert!(v.get("data").is_none(), "{v}");
    }

    // Only /healthz is open.
    let health: Value = reqwest::get(format!("{}/healthz", s.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    // /metrics needs a token too, and counts the refusals above.
    let resp = reqwest::get(format!("{}/metrics", s.url)).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", s.url))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"lookthrough_api_requests_total{outcome="unauthenticated"} 7"#),
        "{text}"
    );
    assert!(text.contains("lookthrough_audit_entries 0"), "{text}");
    assert!(
        text.contains("lookthrough_api_request_seconds_bucket"),
        "{text}"
    );
    // Introspection is there for authenticated callers.
    let v = gql_as(
        &s,
        Role::Viewer,
        "{ __schema { queryType { name } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        v["data"]["__schema"]["queryType"]["name"], "QueryRoot",
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_complex_and_too_frequent_queries_are_refused_clearly() {
    let limits = Limits {
        timeout: Duration::from_secs(10),
        rate_per_second: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(4).unwrap(),
    };
    let s = server_with(19, 1, None, limits).await;
    // 19 levels: block → transactions → block → …
    let deep = format!(
        "{{ block(height: 1) {{ {} height {} }} }}",
        "transactions { block { ".repeat(9),
        "} } ".repeat(9)
    );
    let v = gql_as(&s, Role::Admin, &deep, json!({})).await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{v}"
    );
    // 500 transactions × many fields, twice over with aliases.
    let fields = "hash height index time from to method privacyClass envelopeStatus envelopeDetail block { height hash time sealer }";
    let complex = format!(
        "{{ a: transactions(first: 500) {{ edges {{ node {{ {fields} }} }} }} b: transactions(first: 500) {{ edges {{ node {{ {fields} }} }} }} }}"
    );
    let v = gql_as(&s, Role::Admin, &complex, json!({})).await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{v}"
    );
    // Four requests were allowed at once (two above, two here); the fifth,
    // within the same second, waits its turn.
    let mut statuses = Vec::new();
    let mut last = Value::Null;
    for _ in 0..3 {
        let (status, v) = post(
            &s,
            Some(&format!("Bearer {}", s.admin)),
            "{ me { role } }",
            json!({}),
        )
        .await;
        statuses.push(status);
        last = v;
    }
    assert_eq!(statuses, [200, 200, 429], "{last}");
    let v = last;
    assert_eq!(v["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    // Another caller has its own allowance.
    let (status, _) = post(
        &s,
        Some(&format!("Bearer {}", s.viewer)),
        "{ me { role } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
}

/// A graphql-transport-ws connection to `s`, initialised with `token` in
/// `connection_init` as browser clients send it, and acknowledged.
async fn ws_connect(
    s: &Server,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use async_graphql::futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/graphql", s.url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text(
        json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {token}") }
        })
        .to_string(),
    ))
    .await
    .unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    ws
}

/// Reads graphql-transport-ws messages until `done` says enough; returns
/// the `next` payloads by subscription id.
async fn collect<S>(
    ws: &mut S,
    mut done: impl FnMut(&std::collections::BTreeMap<String, Vec<Value>>) -> bool,
) -> std::collections::BTreeMap<String, Vec<Value>>
where
    S: async_graphql::futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use async_graphql::futures_util::StreamExt;
    let mut got = std::collections::BTreeMap::<String, Vec<Value>>::new();
    while !done(&got) {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("the socket stays open")
            .unwrap();
        let tokio_tungstenite::tungstenite::Message::Text(text) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        match v["type"].as_str().unwrap() {
            "next" => {
                assert!(v["payload"]["errors"].is_null(), "{v}");
                got.entry(v["id"].as_str().unwrap().to_string())
                    .or_default()
                    .push(v["payload"]["data"].clone());
            }
            "ping" | "pong" | "connection_ack" => {}
            other => panic!("unexpected {other}: {v}"),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_receive_blocks_and_transactions_as_they_commit() {
    use async_graphql::futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let s = server_with(23, 6, Some(3), Limits::default()).await;
    let store = s.state.store.clone();

    // Without a token, the upgrade is refused with 401.
    let mut req = format!("{}/graphql", s.url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let mut bad = req.clone();
    bad.headers_mut()
        .insert("authorization", "Bearer lt_0_0".parse().unwrap());
    match tokio_tungstenite::connect_async(bad).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }

    // A viewer's token in connection_init, as browser clients send it.
    let mut ws = ws_connect(&s, &s.viewer).await;
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(json!({
        "id": "blocks", "type": "subscribe",
        "payload": { "query": "subscription { blocks(fromHeight: 2) { height hash } }" }
    })))
    .await
    .unwrap();
    ws.send(send(json!({
        "id": "txs", "type": "subscribe",
        "payload": { "query": "subscription { transactions(fromHeight: 3, filter: {envelopeStatus: OPENED}) { hash height index envelopeStatus } }" }
    })))
    .await
    .unwrap();

    // Blocks 2 and 3 are stored already; 4 to 6 commit while subscribed.
    let got = collect(&mut ws, |g| g.get("blocks").is_some_and(|b| b.len() >= 2)).await;
    assert_eq!(got["blocks"][0]["blocks"]["height"], 2);
    s.advance(6);
    let want_txs: Vec<(i64, u32)> = store
        .transactions_from((3, 0), usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|t| t.class == "opened")
        .map(|t| (t.height, t.index))
        .collect();
    let more = collect(&mut ws, |g| {
        g.get("blocks").is_some_and(|b| b.len() >= 3)
            && g.get("txs").map_or(0, Vec::len) >= want_txs.len()
    })
    .await;
    let mut blocks = got["blocks"].clone();
    blocks.extend(more["blocks"].iter().cloned());
    let heights: Vec<i64> = blocks
        .iter()
        .map(|b| b["blocks"]["height"].as_i64().unwrap())
        .collect();
    assert_eq!(heights, [2, 3, 4, 5, 6]);
    for b in &blocks {
        let h = b["blocks"]["height"].as_i64().unwrap();
        let stored = store.block(h).unwrap().unwrap();
        assert_eq!(b["blocks"]["hash"], encode0x(&stored.header.claimed_hash));
    }
    let mut txs = got.get("txs").cloned().unwrap_or_default();
    txs.extend(more["txs"].iter().cloned());
    let seen: Vec<(i64, u32)> = txs
        .iter()
        .map(|t| {
            let t = &t["transactions"];
            assert_eq!(t["envelopeStatus"], "OPENED");
            (
                t["height"].as_i64().unwrap(),
                t["index"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    assert!(!want_txs.is_empty());
    assert_eq!(
        seen, want_txs,
        "every opened transaction from height 3, in chain order, once"
    );
}

/// What the store says about every transaction: (class, block time, the
/// payload's payer and payee, amount in hundredths), read the slow way.
struct Facts {
    class: String,
    time_ms: i64,
    /// Sender, contract, and the payload's payer and payee (account and
    /// id), lowercase: what an account page matches.
    parties: Vec<String>,
    /// The payload's payer and payee (account, else id), lowercase: what
    /// counterparty lists count.
    keys: Vec<String>,
    amount: Option<i64>,
}

fn facts(s: &Server) -> Vec<Facts> {
    let store = &s.state.store;
    store
        .transactions_from((0, 0), usize::MAX)
        .unwrap()
        .into_iter()
        .map(|t| {
            let time_ms = store.block(t.height).unwrap().unwrap().header.timestamp;
            let hash = encode0x(&t.tx.claimed_hash);
            let mut parties: Vec<String> = t.tx.claimed_from.iter().map(|a| encode0x(a)).collect();
            parties.push(records::doc::normalise_address(&t.tx.to));
            let mut keys = Vec::new();
            let mut amount = None;
            if let Some(plain) = indexer::search::payload_in_clear(store, &s.state.sealer, &hash) {
                let (b, _) = records::doc::read_payload(&plain);
                for p in [&b.payer, &b.payee] {
                    parties.extend(p.account.clone());
                    parties.extend(p.id.clone());
                    keys.extend(p.key().map(str::to_string));
                }
                amount = b.amount.map(records::Money::hundredths);
            }
            let lower = |v: Vec<String>| -> Vec<String> {
                v.into_iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| p.to_lowercase())
                    .collect()
            };
            Facts {
                class: t.class,
                time_ms,
                parties: lower(parties),
                keys: lower(keys),
                amount,
            }
        })
        .collect()
}

fn hundredths(decimal: &Value) -> i64 {
    records::Money::parse(decimal.as_str().unwrap())
        .unwrap()
        .hundredths()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_accounts_equal_what_the_store_holds() {
    let s = server(29, 8).await;
    let all = facts(&s);
    let v = gql(
        &s,
        "{ stats { totalCount findings volume(interval: HOUR) { start count amount } envelopeStatuses { status count } privacyClasses { class count } } }",
        json!({}),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let st = &v["data"]["stats"];
    assert_eq!(st["totalCount"].as_u64().unwrap() as usize, all.len());
    let hours = st["volume"].as_array().unwrap();
    let count: u64 = hours.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(count as usize, all.len());
    let sum: i64 = hours.iter().map(|b| hundredths(&b["amount"])).sum();
    // Amounts the analyst's index holds: public and opened payloads.
    let want_sum: i64 = all.iter().filter_map(|f| f.amount).sum();
    assert_eq!(sum, want_sum);
    let mut by_status = std::collections::BTreeMap::new();
    for f in &all {
        *by_status.entry(f.class.clone()).or_insert(0u64) += 1;
    }
    for e in st["envelopeStatuses"].as_array().unwrap() {
        let status = e["status"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .replace('_', "-");
        assert_eq!(
            Some(&e["count"].as_u64().unwrap()),
            by_status.get(&status),
            "{e}"
        );
    }
    assert_eq!(
        st["envelopeStatuses"].as_array().unwrap().len(),
        by_status.len()
    );
    let public = all.iter().filter(|f| f.class == "not-envelope").count() as u64;
    for c in st["privacyClasses"].as_array().unwrap() {
        let want = if c["class"] == "PUBLIC" {
            public
        } else {
            all.len() as u64 - public
        };
        assert_eq!(c["count"].as_u64().unwrap(), want, "{c}");
    }

    // A viewer's amounts cover public transactions only, and it is told.
    let v = gql_as(
        &s,
        Role::Viewer,
        "{ stats { totalCount warnings volume { amount } } }",
        json!({}),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let viewer_sum: i64 = v["data"]["stats"]["volume"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| hundredths(&b["amount"]))
        .sum();
    let public_sum: i64 = all
        .iter()
        .filter(|f| f.class == "not-envelope")
        .filter_map(|f| f.amount)
        .sum();
    assert_eq!(viewer_sum, public_sum);
    assert_eq!(
        v["data"]["stats"]["totalCount"].as_u64().unwrap() as usize,
        all.len()
    );
    assert!(
        !v["data"]["stats"]["warnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The busiest business party: its account page.
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for f in &all {
        for p in &f.keys {
            *counts.entry(p.as_str()).or_default() += 1;
        }
    }
    let (address, _) = counts
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
        .unwrap();
    let address = address.to_string();
    let mine: Vec<&Facts> = all
        .iter()
        .filter(|f| f.parties.contains(&address))
        .collect();
    let n = mine.len();
    let v = gql(
        &s,
        "query($a: String!) { account(address: $a) { address transactionCount firstSeen lastSeen counterparties(first: 1000) { buckets { key count amount } otherCount } transactions(first: 500) { totalCount } } }",
        json!({ "a": address }),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let a = &v["data"]["account"];
    assert_eq!(a["transactionCount"].as_u64().unwrap() as usize, n);
    assert_eq!(
        a["transactions"]["totalCount"].as_u64().unwrap() as usize,
        n
    );
    let first = mine.iter().map(|f| f.time_ms).min().unwrap();
    let last = mine.iter().map(|f| f.time_ms).max().unwrap();
    assert_eq!(a["firstSeen"], records::time::format_ms(first));
    assert_eq!(a["lastSeen"], records::time::format_ms(last));
    // Counterparties: the other payers and payees of its transactions,
    // with counts and amounts as the store has them.
    let mut want = std::collections::BTreeMap::<String, (u64, i64)>::new();
    for f in &mine {
        for p in &f.keys {
            if *p != address {
                let e = want.entry(p.clone()).or_default();
                e.0 += 1;
                e.1 += f.amount.unwrap_or(0);
            }
        }
    }
    assert!(!want.is_empty());
    let got: std::collections::BTreeMap<String, (u64, i64)> = a["counterparties"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap().to_string(),
                (b["count"].as_u64().unwrap(), hundredths(&b["amount"])),
            )
        })
        .collect();
    assert_eq!(got, want);
}

/// The policy engine over the server's store, with the example rules.
fn policy_engine(s: &Server, dir: &std::path::Path) -> policies::Engine {
    let (rules_dir, lists_dir) = policies::write_examples(dir).unwrap();
    let lists = policies::Watchlists::load(&lists_dir).unwrap();
    let (mut rules, errors) = policies::rule::load_dir(&rules_dir, Some(&lists.names()));
    assert!(errors.is_empty(), "{errors:?}");
    rules.extend(policies::rule::builtin());
    policies::Engine::new(
        s.state.store.clone(),
        s.chain.sealer.clone(),
        rules,
        lists,
        Vec::new(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_pages_roles_lifecycle_rules_and_subscription() {
    use async_graphql::futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let s = server_with(29, 30, Some(15), Limits::default()).await;
    let store = s.state.store.clone();
    let pdir = tempfile::tempdir().unwrap();
    let mut engine = policy_engine(&s, pdir.path());
    engine.catch_up().unwrap();
    let all = policies::family::all_alerts(&store).unwrap();
    assert!(all.len() > 10, "{} alerts", all.len());

    // Pages of 7, newest first, to the end: every alert once.
    let q = "query($a: String) { alerts(first: 7, after: $a) { pageInfo { hasNextPage endCursor } edges { cursor node { id rule state transactionCount transactions } } } }";
    let mut after = Value::Null;
    let mut ids = Vec::new();
    loop {
        let v = gql_as(&s, Role::Viewer, q, json!({ "a": after })).await;
        assert!(v["errors"].is_null(), "{v}");
        let c = &v["data"]["alerts"];
        for e in c["edges"].as_array().unwrap() {
            let id = e["node"]["id"].as_u64().unwrap();
            let a = all.iter().find(|a| a.id == id).unwrap();
            assert_eq!(e["node"]["rule"], a.rule.as_str());
            assert_eq!(e["node"]["transactionCount"], a.count());
            assert_eq!(e["node"]["transactions"], json!(a.transactions));
            ids.push(id);
        }
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
    }
    let mut want: Vec<u64> = all.iter().map(|a| a.id).collect();
    want.reverse();
    assert_eq!(ids, want);

    // A filter by rule.
    let v = gql(
        &s,
        "{ alerts(first: 500, filter: {rules: [\"structuring\"]}) { edges { node { rule } } } }",
        json!({}),
    )
    .await;
    let n = v["data"]["alerts"]["edges"].as_array().unwrap().len();
    assert_eq!(n, all.iter().filter(|a| a.rule == "structuring").count());

    // The group key and values are decrypted data: a viewer gets FORBIDDEN
    // on those fields alone; an analyst reads them, audited.
    let target = all
        .iter()
        .find(|a| a.rule == "structuring")
        .unwrap_or(&all[0]);
    let q = "query($id: Int!) { alert(id: $id) { id title groupKey values { key value } } }";
    let v = gql_as(&s, Role::Viewer, q, json!({ "id": target.id })).await;
    assert_eq!(v["data"]["alert"]["id"], target.id);
    assert_eq!(v["data"]["alert"]["title"], target.title.as_str());
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let before = query_api::records::last_audit(&store)
        .unwrap()
        .map_or(0, |(seq, _)| seq + 1);
    let v = gql(&s, q, json!({ "id": target.id })).await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(v["data"]["alert"]["groupKey"], target.group_key.as_str());
    let after_read = query_api::records::last_audit(&store)
        .unwrap()
        .map_or(0, |(seq, _)| seq + 1);
    assert_eq!(after_read, before + 1, "one audit entry for the read");

    // A search by rule hit finds exactly the transactions its alerts list.
    let v = gql(
        &s,
        "query($r: String!) { transactions(filter: {ruleHit: $r}, first: 500) { edges { node { hash } } } }",
        json!({ "r": target.rule }),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let mut found: Vec<String> = v["data"]["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["hash"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    let want = policies::family::rule_transactions(&store, &target.rule).unwrap();
    assert!(!want.is_empty());
    assert_eq!(found, want);

    // The transaction shows the rules it hit, and the account its alerts.
    let tx = target.transactions[0].clone();
    let v = gql(
        &s,
        "query($h: String!) { transaction(hash: $h) { rulesHit { rule alertId } } }",
        json!({ "h": tx }),
    )
    .await;
    let hits = v["data"]["transaction"]["rulesHit"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        hits.contains(&json!({ "rule": target.rule, "alertId": target.id })),
        "{v}"
    );
    let payer = target.values.get("payer").cloned().unwrap_or_default();
    if !payer.is_empty() {
        let v = gql(
            &s,
            "query($a: String!) { account(address: $a) { alerts(first: 500) { id } } }",
            json!({ "a": payer }),
        )
        .await;
        let ids: Vec<u64> = v["data"]["account"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_u64().unwrap())
            .collect();
        assert!(ids.contains(&target.id), "{v}");
        let v = gql_as(
            &s,
            Role::Viewer,
            "query($a: String!) { account(address: $a) { alerts { id } } }",
            json!({ "a": payer }),
        )
        .await;
        assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    }

    // The lifecycle: viewers may not act; an analyst acknowledges and
    // resolves with a note; a second acknowledge is a conflict.
    let ack = "mutation($id: Int!) { acknowledgeAlert(id: $id, note: \"looking\") { state } }";
    let v = gql_as(&s, Role::Viewer, ack, json!({ "id": target.id })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let v = gql(&s, ack, json!({ "id": target.id })).await;
    assert_eq!(
        v["data"]["acknowledgeAlert"]["state"], "ACKNOWLEDGED",
        "{v}"
    );
    let v = gql(
        &s,
        "mutation($id: Int!) { resolveAlert(id: $id, note: \"证实为正常贸易\") { state history { actor action detail } } }",
        json!({ "id": target.id }),
    )
    .await;
    let r = &v["data"]["resolveAlert"];
    assert_eq!(r["state"], "RESOLVED", "{v}");
    let last = r["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "resolved");
    assert_eq!(last["detail"], "证实为正常贸易");
    assert_eq!(last["actor"], "analyst in tests");
    let v = gql(&s, ack, json!({ "id": target.id })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "CONFLICT", "{v}");

    // Rules: everyone lists them; only admins save; a bad rule is named.
    let v = gql_as(
        &s,
        Role::Viewer,
        "{ rules { id version source enabled hits alerts } }",
        json!({}),
    )
    .await;
    let rules = v["data"]["rules"].as_array().unwrap();
    let structuring = rules.iter().find(|r| r["id"] == "structuring").unwrap();
    assert_eq!(
        structuring["hits"].as_u64().unwrap(),
        policies::family::hits(&store, "structuring").unwrap()
    );
    // Each rule's alert count is the number of its alerts.
    let every = policies::family::all_alerts(&store).unwrap();
    for r in rules {
        let n = every.iter().filter(|a| a.rule == r["id"]).count() as u64;
        assert_eq!(r["alerts"].as_u64().unwrap(), n, "{r}");
    }
    assert!(rules.iter().any(|r| r["alerts"].as_u64().unwrap() > 0));
    let save = "mutation($t: String!) { saveRule(text: $t) { version source } }";
    let text = "[[rule]]\nid = \"memo-remit\"\ncondition = \"tx.memo != null && tx.memo.contains('汇款')\"\n";
    let v = gql(&s, save, json!({ "t": text })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let v = gql_as(&s, Role::Admin, save, json!({ "t": text })).await;
    assert_eq!(v["data"]["saveRule"]["version"], 1, "{v}");
    let v = gql_as(
        &s,
        Role::Admin,
        save,
        json!({ "t": "[[rule]]\nid = \"x\"\ncondition = \"tx.amout > 1.0\"\n" }),
    )
    .await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("tx.amout"),
        "{v}"
    );

    // Subscribed, alerts arrive as later blocks are evaluated.
    let last_id = all.last().unwrap().id;
    let mut ws = ws_connect(&s, &s.viewer).await;
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(json!({
        "id": "alerts", "type": "subscribe",
        "payload": { "query": format!("subscription {{ alerts(afterId: {last_id}) {{ id rule }} }}") }
    })))
    .await
    .unwrap();
    s.advance(30);
    engine.catch_up().unwrap();
    let now = policies::family::all_alerts(&store).unwrap();
    let new: Vec<u64> = now
        .iter()
        .map(|a| a.id)
        .filter(|id| *id > last_id)
        .collect();
    assert!(!new.is_empty());
    let got = collect(&mut ws, |g| {
        g.get("alerts").map_or(0, Vec::len) >= new.len()
    })
    .await;
    let seen: Vec<u64> = got["alerts"]
        .iter()
        .map(|v| v["alerts"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, new);
    assert!(
        now.iter().any(|a| a.id > last_id && a.rule == "memo-remit"),
        "the saved rule ran on the later blocks"
    );
}

/// A selective filter over a long history: one request examines at most
/// `MAX_ALERT_SCAN` alerts, comes back short with `hasNextPage` and
/// `resumeAfter`, and following `resumeAfter` finds the rest, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_alert_filter_stops_at_its_scan_bound_and_resumes() {
    use query_api::alerts::MAX_ALERT_SCAN;
    let s = server(33, 2).await;
    let total = MAX_ALERT_SCAN as u64 + 2_500;
    // The three oldest alerts are the only ones of rule `rare`.
    let rare = [0u64, 1, 2];
    let mut ops = Vec::new();
    for id in 0..total {
        let rule = if rare.contains(&id) { "rare" } else { "common" };
        let a = json!({
            "id": id, "rule": rule, "rule_version": 1, "title": rule, "severity": "low",
            "group_key": "k", "labels": {}, "state": "open", "silenced_by": null,
            "created_ms": 0, "updated_ms": 0, "first_seen_ms": 0, "last_seen_ms": 0,
            "last_height": 0, "opened_height": 0, "transactions": [], "unlisted": 0,
            "values": {}, "assignee": null, "history": [], "deliveries": []
        });
        ops.push(store::Op::Put(
            policies::family::ALERTS,
            id.to_be_bytes().to_vec(),
            serde_json::to_vec(&a).unwrap(),
        ));
        if ops.len() == 2_000 {
            s.state.store.write(&std::mem::take(&mut ops)).unwrap();
        }
    }
    s.state.store.write(&ops).unwrap();

    let q = "query($a: String) { alerts(first: 2, after: $a, filter: {rules: [\"rare\"]}) { pageInfo { hasNextPage endCursor } resumeAfter scanned nodes { id } } }";
    let v = gql(&s, q, json!({ "a": null })).await;
    assert!(v["errors"].is_null(), "{v}");
    let c = &v["data"]["alerts"];
    assert_eq!(c["nodes"], json!([]), "no rare alert among the newest");
    assert_eq!(c["scanned"], MAX_ALERT_SCAN as u64);
    assert_eq!(c["pageInfo"]["hasNextPage"], true);
    let resume = total - MAX_ALERT_SCAN as u64;
    assert_eq!(c["resumeAfter"], resume.to_string());

    let mut after = c["resumeAfter"].clone();
    let mut found = Vec::new();
    loop {
        let v = gql(&s, q, json!({ "a": after })).await;
        assert!(v["errors"].is_null(), "{v}");
        let c = &v["data"]["alerts"];
        assert!(c["scanned"].as_u64().unwrap() <= MAX_ALERT_SCAN as u64);
        found.extend(
            c["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_u64().unwrap()),
        );
        if c["pageInfo"]["hasNextPage"] != true {
            assert!(c["resumeAfter"].is_null(), "{v}");
            break;
        }
        after = c["resumeAfter"].clone();
    }
    assert_eq!(found, vec![2, 1, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_packs_for_analysts_verify_and_their_plaintext_reads_are_audited() {
    let s = server(11, 6).await;
    let (private, public) = opened_and_public(&s);
    let q = "mutation($t: [String!], $a: Int) { evidencePack(transactions: $t, alert: $a) { fileName content transactions opened sm3 } }";

    // Viewers and auditors may not make one: it holds plaintext.
    for role in [Role::Viewer, Role::Auditor] {
        let v = gql_as(&s, role, q, json!({ "t": [private] })).await;
        assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    }
    // Bad and unknown input is named.
    let v = gql(&s, q, json!({ "t": ["0x12"] })).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    let v = gql(&s, q, json!({ "t": [format!("0x{}", "ab".repeat(32))] })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "NOT_FOUND", "{v}");
    let v = gql(&s, q, json!({ "t": [private], "a": 1 })).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    let v = gql(&s, q, json!({ "a": 424242 })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "NOT_FOUND", "{v}");

    // An analyst's pack of a private and a public transaction verifies
    // from the pack alone, sealed by the node's key.
    let v = gql(&s, q, json!({ "t": [private, public] })).await;
    assert!(v["errors"].is_null(), "{v}");
    let pack = &v["data"]["evidencePack"];
    assert_eq!(
        (pack["transactions"].as_i64(), pack["opened"].as_i64()),
        (Some(2), Some(1))
    );
    let content = pack["content"].as_str().unwrap();
    assert_eq!(
        pack["sm3"].as_str().unwrap(),
        hex::encode(privacy::hash::sm3(content.as_bytes()))
    );
    assert!(pack["fileName"].as_str().unwrap().ends_with(".json"));
    let verified =
        evidence::verify::verify_bytes(content.as_bytes(), Some(s.node_key.public_key())).unwrap();
    assert_eq!(verified.transactions[0].hash, private);
    assert!(verified.transactions[0].plaintext.is_some());
    assert_eq!(verified.transactions[1].class, "not-envelope");

    // The one plaintext in it is a read in the audit log.
    let v = gql_as(
        &s,
        Role::Auditor,
        "{ auditLog(first: 10) { totalCount edges { node { role query read } } } }",
        json!({}),
    )
    .await;
    let log = &v["data"]["auditLog"];
    assert_eq!(log["totalCount"], 1, "{v}");
    let entry = &log["edges"][0]["node"];
    assert_eq!(entry["read"], json!([private]), "{v}");
    assert!(entry["query"].as_str().unwrap().contains("evidencePack"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_reports_what_the_live_engine_opened_and_writes_nothing() {
    let s = server(29, 30).await;
    let pdir = tempfile::tempdir().unwrap();
    let mut engine = policy_engine(&s, pdir.path());
    engine.catch_up().unwrap();
    drop(engine);
    let live = policies::family::all_alerts(&s.state.store).unwrap();
    let rule = r#"
[[rule]]
id = "large-transfer-test"
title = "Large transfer"
severity = "medium"
condition = "tx.readable && tx.amount != null && tx.amount >= 15000000.0"
"#;
    let want: Vec<&policies::alert::Alert> =
        live.iter().filter(|a| a.rule == "large-transfer").collect();
    assert!(!want.is_empty(), "the history has large transfers");
    let q = "mutation($t: String!, $f: Int = 20) { backtestRule(text: $t, first: $f) { rules blocks transactions alertCount perDay { day alerts } alerts { rule key height transactions transactionCount values { key value } } } }";

    // Viewers and auditors may not run one; bad rules are named.
    let v = gql_as(&s, Role::Viewer, q, json!({ "t": rule })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let v = gql(
        &s,
        q,
        json!({ "t": "[[rule]]\nid = \"x\"\ncondition = \"tx.nope >\"\n" }),
    )
    .await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    let v = gql(&s, q, json!({ "t": rule, "f": 100000 })).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );

    let alerts_before = policies::family::all_alerts(&s.state.store).unwrap().len();
    let outbox_before = policies::family::outbox(&s.state.store, "compliance-webhook")
        .unwrap()
        .len();
    let v = gql(&s, q, json!({ "t": rule, "f": 200 })).await;
    assert!(v["errors"].is_null(), "{v}");
    let r = &v["data"]["backtestRule"];
    assert_eq!(r["rules"], json!(["large-transfer-test"]));
    assert_eq!(
        r["alertCount"].as_u64().unwrap() as usize,
        want.len(),
        "{r}"
    );
    let per_day: u64 = r["perDay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["alerts"].as_u64().unwrap())
        .sum();
    assert_eq!(per_day as usize, want.len());
    for (got, live) in r["alerts"].as_array().unwrap().iter().zip(&want) {
        assert_eq!(got["key"], live.group_key.as_str());
        assert_eq!(got["height"], live.opened_height);
        assert_eq!(got["transactions"], json!(live.transactions));
    }
    // Nothing was written: no alert, no notification.
    assert_eq!(
        policies::family::all_alerts(&s.state.store).unwrap().len(),
        alerts_before
    );
    assert_eq!(
        policies::family::outbox(&s.state.store, "compliance-webhook")
            .unwrap()
            .len(),
        outbox_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_add_watchlist_entries_to_the_list_files_the_engine_reads() {
    let s = server(11, 2).await;
    let dir = s.state.backtest.watchlists_dir.clone().unwrap();
    let q = "mutation($l: String!, $e: [String!]!, $n: String) { addWatchlistEntries(list: $l, entries: $e, note: $n) { name entries } }";
    // Only admins; bad names and entries are named.
    let v = gql(&s, q, json!({ "l": "hunt", "e": ["x"] })).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let v = gql_as(&s, Role::Admin, q, json!({ "l": "bad name", "e": ["x"] })).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    let v = gql_as(&s, Role::Admin, q, json!({ "l": "hunt", "e": ["a,b"] })).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );

    // A new list is a CSV file; entries are kept in lowercase.
    let v = gql_as(
        &s,
        Role::Admin,
        q,
        json!({ "l": "hunt", "e": ["Ocean-Star", "0xABC"], "n": "order 7" }),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(
        v["data"]["addWatchlistEntries"],
        json!({ "name": "hunt", "entries": 2 })
    );
    let text = std::fs::read_to_string(dir.join("hunt.csv")).unwrap();
    assert_eq!(text, "id,reason\nocean-star,order 7\n0xabc,order 7\n");
    // An existing CSV list gains rows under its own header.
    let v = gql_as(
        &s,
        Role::Admin,
        q,
        json!({ "l": "internal", "e": ["new-co"] }),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(v["data"]["addWatchlistEntries"]["entries"], 2);
    let lists = policies::Watchlists::load(&dir).unwrap();
    assert!(lists.lists()["internal"].contains("new-co"));
    assert!(lists.lists()["internal"].contains("golden-ear"));
    // Every role sees the lists and their sizes.
    let v = gql_as(
        &s,
        Role::Viewer,
        "{ watchlists { name entries } }",
        json!({}),
    )
    .await;
    let names: Vec<&str> = v["data"]["watchlists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["demo_sanctions", "hunt", "internal"]);
}
