//! The devnet's JSON-RPC server on a real port: methods, positional
//! parameters, FISCO BCOS error codes, and each fault mode caught by the
//! verifier with the right reason.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chain::CryptoSuite;
use chain::hexbytes::encode0x;
use chain::model::{BlockTransactions, Receipt};
use chain::verify::{Item, parse_sealer_list, verify_block_receipts, verify_receipt};
use devnet::faults::{Fault, FaultKind};
use devnet::server::{AppState, serve};
use devnet::signer::NodeKey;
use devnet::{ChainConfig, Devnet};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

fn chain() -> Devnet {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(CryptoSuite::Sm, &mut rng).unwrap())
        .collect();
    let user = NodeKey::generate(CryptoSuite::Sm, &mut rng).unwrap();
    let mut d = Devnet::new(ChainConfig::new(CryptoSuite::Sm, 4), sealers).unwrap();
    for b in 0..6 {
        let txs = (0..3)
            .map(|i| {
                d.make_transaction(
                    &user,
                    "0x2222222222222222222222222222222222222222",
                    vec![b, i],
                    format!("{b}{i}"),
                    1,
                )
                .unwrap()
            })
            .collect();
        d.seal_block(txs, 1_700_000_000_000 + i64::from(b)).unwrap();
    }
    d
}

struct Running {
    url: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(fault: Option<Fault>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let state = AppState::new(Arc::new(tokio::sync::RwLock::new(chain())), fault);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Running {
        url,
        client: reqwest::Client::new(),
        _stop: tx,
    }
}

impl Running {
    async fn raw(&self, method: &str, params: Value) -> String {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7});
        self.client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
    async fn call(&self, method: &str, params: Value) -> Value {
        serde_json::from_str(&self.raw(method, params).await).unwrap()
    }
}

#[tokio::test]
async fn methods_answer_as_a_fisco_node_does() {
    let s = start(None).await;
    let n = s.call("getBlockNumber", json!(["group0", ""])).await;
    assert_eq!(n["result"], json!(6));
    assert_eq!(n["id"], json!(7));

    // Defaults: header only.
    let b = s.call("getBlockByNumber", json!(["group0", "", 3])).await;
    assert!(b["result"].get("transactions").is_none());
    let b = s
        .call("getBlockByNumber", json!(["group0", "", 3, false, false]))
        .await;
    let full = b.to_string();
    assert_eq!(b["result"]["transactions"].as_array().unwrap().len(), 3);
    let item = Item::parse(&full).unwrap();
    let sealers = s.call("getSealerList", json!(["group0", ""])).await;
    let committee = parse_sealer_list(&sealers.to_string()).unwrap();
    assert_eq!(committee.len(), 4);
    assert!(item.verify(CryptoSuite::Sm, Some(&committee)).passed());

    let hash = b["result"]["hash"].as_str().unwrap();
    let by_hash = s
        .call("getBlockByHash", json!(["group0", "", hash, false, true]))
        .await;
    assert_eq!(by_hash["result"]["number"], json!(3));

    let tx_hash = b["result"]["transactions"][1]["hash"].as_str().unwrap();
    let tx = s
        .call("getTransaction", json!(["group0", "", tx_hash, true]))
        .await;
    let rc = s
        .call(
            "getTransactionReceipt",
            json!(["group0", "", tx_hash, true]),
        )
        .await;
    let items = vec![
        Item::parse(&by_hash.to_string()).unwrap(),
        Item::parse(&tx.to_string()).unwrap(),
        Item::parse(&rc.to_string()).unwrap(),
    ];
    for i in &items {
        assert!(i.verify(CryptoSuite::Sm, None).passed());
    }
    let across = chain::verify::cross_check(|_| CryptoSuite::Sm, &items);
    assert!(
        across.passed() && across.checks.len() >= 4,
        "{:?}",
        across.checks
    );

    let info = s.call("getGroupInfo", json!(["group0"])).await;
    assert_eq!(info["result"]["chainID"], json!("chain0"));
    assert_eq!(info["result"]["nodeList"][0]["type"], json!(1));
    assert_eq!(
        s.call("getObserverList", json!(["group0", ""])).await["result"],
        json!([])
    );
}

#[tokio::test]
async fn errors_are_fisco_codes() {
    let s = start(None).await;
    let code = |v: Value| v["error"]["code"].as_i64().unwrap();
    assert_eq!(
        code(s.call("getBlockByNumber", json!(["group0", "", 99])).await),
        3006
    );
    assert_eq!(
        code(s.call("getBlockByNumber", json!(["group0", "", -1])).await),
        3003
    );
    assert_eq!(
        code(s.call("getBlockByNumber", json!(["group0", "", "x"])).await),
        -32600
    );
    assert_eq!(
        code(
            s.call(
                "getBlockByHash",
                json!(["group0", "", format!("0x{}", "00".repeat(32))])
            )
            .await
        ),
        3003
    );
    assert_eq!(
        code(
            s.call(
                "getTransaction",
                json!(["group0", "", format!("0x{}", "11".repeat(32))])
            )
            .await
        ),
        3008
    );
    assert_eq!(
        code(s.call("getBlockNumber", json!(["group9", ""])).await),
        -32000
    );
    assert_eq!(
        s.call("getGroupInfo", json!(["group9"])).await["result"],
        Value::Null
    );
    assert_eq!(code(s.call("sendRawBitcoin", json!([])).await), -32601);
    let bad = s
        .client
        .post(&s.url)
        .body("{not json")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(code(serde_json::from_str(&bad).unwrap()), -32700);
    let bad = s
        .client
        .post(&s.url)
        .body("{\"method\":\"getBlockNumber\"}")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(code(serde_json::from_str(&bad).unwrap()), -32600);
}

#[tokio::test]
async fn every_fault_is_caught_and_named() {
    let honest = start(None).await;
    let genuine = honest
        .call("getBlockByNumber", json!(["group0", "", 4, false, false]))
        .await;
    for (kind, _) in FaultKind::ALL {
        let s = start(Some(Fault { kind, height: 4 })).await;
        // Other heights are served honestly.
        let other = s
            .raw("getBlockByNumber", json!(["group0", "", 3, false, false]))
            .await;
        assert!(
            Item::parse(&other)
                .unwrap()
                .verify(CryptoSuite::Sm, None)
                .passed(),
            "{kind:?}"
        );
        let text = s
            .raw("getBlockByNumber", json!(["group0", "", 4, false, false]))
            .await;
        let expected: &str = match kind {
            FaultKind::LowQuorum => "quorum",
            FaultKind::ForgedSignature => "sealer-signature",
            FaultKind::WrongParent => "parent",
            FaultKind::TamperedTransaction => "tx-hash",
            FaultKind::WithheldBlock => "3006",
            FaultKind::GarbageJson => "not JSON",
            FaultKind::TamperedReceipt => "receipts-root",
            FaultKind::WrongHash => "getBlockHashByNumber",
        };
        let named = match Item::parse(&text) {
            Err(e) => e.to_string(),
            Ok(item) => {
                let report = item.verify(CryptoSuite::Sm, None);
                if kind == FaultKind::TamperedReceipt {
                    // The block is honest; its first receipt is not, and
                    // only the block's receiptsRoot shows it.
                    assert!(report.passed());
                    assert_eq!(text, genuine.to_string());
                    let block = match item {
                        Item::Block(b) => b,
                        _ => panic!("a block"),
                    };
                    let mut receipts = Vec::new();
                    let mut senders = Vec::new();
                    let BlockTransactions::Full(txs) = &block.transactions else {
                        panic!("full transactions");
                    };
                    for t in txs {
                        let hash = encode0x(&t.claimed_hash);
                        let r = s
                            .call("getTransactionReceipt", json!(["group0", "", hash]))
                            .await;
                        receipts.push(Receipt::from_json(&r["result"]).unwrap());
                        senders.push(t.claimed_from);
                    }
                    let lied = verify_receipt(CryptoSuite::Sm, &receipts[0]);
                    assert!(lied.passed(), "the lie is self-consistent");
                    assert_eq!(receipts[0].status, 16);
                    verify_block_receipts(CryptoSuite::Sm, &block, &senders, &receipts)
                        .failures()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                } else if kind == FaultKind::WrongHash {
                    // The block is honest; the hash named at its height is
                    // not (and at other heights it is).
                    assert!(report.passed());
                    assert_eq!(text, genuine.to_string());
                    let named = s
                        .call("getBlockHashByNumber", json!(["group0", "", 4]))
                        .await;
                    assert_ne!(named["result"], genuine["result"]["hash"]);
                    assert_eq!(named["result"].as_str().map(str::len), Some(66));
                    let three = s
                        .call("getBlockHashByNumber", json!(["group0", "", 3]))
                        .await;
                    let real3 = honest
                        .call("getBlockByNumber", json!(["group0", "", 3]))
                        .await;
                    assert_eq!(three["result"], real3["result"]["hash"]);
                    "getBlockHashByNumber".to_string()
                } else if kind == FaultKind::WrongParent {
                    // Self-consistent and re-signed: only the link to the
                    // real block 3 shows it.
                    assert!(report.passed());
                    let parent = item_parent(&text);
                    let real3 = honest
                        .call("getBlockByNumber", json!(["group0", "", 3]))
                        .await;
                    assert_ne!(parent, real3["result"]["hash"].as_str().unwrap());
                    "parent".to_string()
                } else {
                    report
                        .failures()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            }
        };
        assert!(
            named.contains(expected),
            "{kind:?}: expected '{expected}' in: {named}"
        );
        if !matches!(kind, FaultKind::TamperedReceipt | FaultKind::WrongHash) {
            assert_ne!(text, genuine.to_string(), "{kind:?}");
        }
    }
}

fn item_parent(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap();
    v["result"]["parentInfo"][0]["blockHash"]
        .as_str()
        .unwrap()
        .to_string()
}
