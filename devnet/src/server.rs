//! The devnet's JSON-RPC server: the FISCO BCOS 3.x methods a regulator's
//! observer uses, with positional parameters, defaults and error codes as a
//! node's `bcos-rpc` gives them (`bcos-rpc/jsonrpc/JsonRpcImpl_2_0.cpp`,
//! `jsonrpc/Common.h`, ledger errors from `bcos-framework/ledger`).
//!
//! | method | params |
//! |---|---|
//! | `getBlockNumber` | `[group, node]` |
//! | `getBlockByNumber` | `[group, node, number, onlyHeader = true, onlyTxHash = true]` |
//! | `getBlockByHash` | `[group, node, hash, onlyHeader = true, onlyTxHash = true]` |
//! | `getSealerList`, `getObserverList` | `[group, node]` |
//! | `getGroupInfo` | `[group]` |
//! | `getTransaction`, `getTransactionReceipt` | `[group, node, hash, withProof = false]` |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chain::hexbytes::{self, Hash};
use chain::render::{BlockDetail, block_json, receipt_json, transaction_json, with_proof};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::chain::Devnet;
use crate::faults::{Fault, Served, serve_block, serve_hash, serve_receipt};

/// JSON-RPC and FISCO BCOS error codes the server uses.
pub mod codes {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object, or a parameter of the wrong type.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Unknown group or node.
    pub const NODE_NOT_EXIST: i64 = -32000;
    /// Ledger: wrong argument (negative number, unknown block hash).
    pub const LEDGER_ERROR_ARGUMENT: i64 = 3003;
    /// Ledger: block not found.
    pub const LEDGER_COLLECT_ASYNC: i64 = 3006;
    /// Ledger: transaction or receipt not found.
    pub const LEDGER_GET_STORAGE: i64 = 3008;
}

/// A chain shared by its servers and its producer.
pub type SharedDevnet = Arc<RwLock<Devnet>>;

/// What the server shares between requests.
pub struct AppState {
    /// The chain, grown by a producer while serving; several servers (an
    /// honest one and a lying one, say) may serve the same chain.
    pub devnet: SharedDevnet,
    /// A fault this server exhibits, if any.
    pub fault: Option<Fault>,
}

impl AppState {
    /// A server state for `devnet`, lying as `fault` says.
    pub fn new(devnet: SharedDevnet, fault: Option<Fault>) -> Arc<Self> {
        Arc::new(Self { devnet, fault })
    }
}

/// Seals a block of `txs` workload transactions every `interval`, forever
/// (abort the task to stop it). Needs a multi-threaded runtime: signing runs
/// in a blocking section under the write lock.
pub async fn produce(
    devnet: SharedDevnet,
    mut workload: crate::workload::Workload,
    interval: std::time::Duration,
    txs: usize,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut d = devnet.write().await;
        let result = tokio::task::block_in_place(|| {
            workload.generate_block(&mut d, txs, ts).map(|r| r.len())
        });
        match result {
            Ok(n) => tracing::debug!(target: "devnet", height = d.head(), txs = n, "sealed block"),
            Err(e) => tracing::error!(target: "devnet", error = %e, "cannot produce a block"),
        }
    }
}

/// The router: JSON-RPC on `POST /`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new().route("/", post(rpc)).with_state(state)
}

struct RpcError {
    code: i64,
    message: String,
}

fn err(code: i64, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
    }
}

fn respond(id: Value, jsonrpc: Value, result: Result<Value, RpcError>) -> Response {
    let body = match result {
        Ok(result) => json!({"id": id, "jsonrpc": jsonrpc, "result": result}),
        Err(e) => {
            json!({"id": id, "jsonrpc": jsonrpc, "error": {"code": e.code, "message": e.message}})
        }
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn rpc(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return respond(
                json!(0),
                json!("2.0"),
                Err(err(
                    codes::PARSE_ERROR,
                    "Invalid JSON was received by the server.",
                )),
            );
        }
    };
    let id = request.get("id").cloned().unwrap_or(json!(0));
    let jsonrpc = request.get("jsonrpc").cloned().unwrap_or(json!("2.0"));
    let (Some(method), Some(params)) = (
        request.get("method").and_then(Value::as_str),
        request.get("params").and_then(Value::as_array),
    ) else {
        return respond(
            id,
            jsonrpc,
            Err(err(
                codes::INVALID_REQUEST,
                "The JSON sent is not a valid Request object.",
            )),
        );
    };
    let devnet = state.devnet.read().await;
    let answer = dispatch(&devnet, state.fault, method, params);
    match answer {
        Answer::Json(result) => respond(id, jsonrpc, result),
        Answer::Garbage => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"number\":".to_string(),
        )
            .into_response(),
    }
}

enum Answer {
    Json(Result<Value, RpcError>),
    Garbage,
}

fn param_i64(params: &[Value], i: usize) -> Result<i64, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| err(codes::INVALID_REQUEST, "Value is not convertible to Int64.")),
    }
}

fn param_bool(params: &[Value], i: usize, default: bool) -> Result<bool, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(err(
            codes::INVALID_REQUEST,
            "Value is not convertible to bool.",
        )),
    }
}

fn param_str(params: &[Value], i: usize) -> &str {
    params.get(i).and_then(Value::as_str).unwrap_or("")
}

fn param_hash(params: &[Value], i: usize) -> Option<Hash> {
    hexbytes::decode_fixed::<32>("hash", param_str(params, i)).ok()
}

fn dispatch(d: &Devnet, fault: Option<Fault>, method: &str, params: &[Value]) -> Answer {
    let group = param_str(params, 0);
    let known = [
        "getBlockNumber",
        "getBlockByNumber",
        "getBlockByHash",
        "getBlockHashByNumber",
        "getCode",
        "getABI",
        "getSealerList",
        "getObserverList",
        "getGroupInfo",
        "getTransaction",
        "getTransactionReceipt",
    ];
    if !known.contains(&method) {
        return Answer::Json(Err(err(
            codes::METHOD_NOT_FOUND,
            "The method does not exist/is not available.",
        )));
    }
    if group != d.config().group_id {
        if method == "getGroupInfo" {
            return Answer::Json(Ok(Value::Null));
        }
        return Answer::Json(Err(err(
            codes::NODE_NOT_EXIST,
            format!(
                "Invalid request for the specified node of doesn't exist or doesn't started!request={method}"
            ),
        )));
    }
    let result = match method {
        "getBlockNumber" => Ok(json!(d.head())),
        "getBlockByNumber" => {
            return block_answer(d, fault, params, |d, params| {
                let n = param_i64(params, 2)?;
                if n < 0 {
                    return Err(err(codes::LEDGER_ERROR_ARGUMENT, "Wrong argument"));
                }
                d.block(n)
                    .ok_or_else(|| err(codes::LEDGER_COLLECT_ASYNC, "Get block failed with errors!"))
            });
        }
        "getBlockByHash" => {
            return block_answer(d, fault, params, |d, params| {
                param_hash(params, 2)
                    .and_then(|h| d.block_by_hash(&h))
                    .ok_or_else(|| err(codes::LEDGER_ERROR_ARGUMENT, "Wrong argument"))
            });
        }
        "getBlockHashByNumber" => param_i64(params, 2).and_then(|n| {
            d.block(n)
                .filter(|_| n >= 0)
                .and_then(|b| serve_hash(d, b, fault))
                .map(|h| json!(hexbytes::encode0x(&h)))
                .ok_or_else(|| err(codes::LEDGER_COLLECT_ASYNC, "Get block failed with errors!"))
        }),
        // FISCO BCOS 3.x: the runtime code, or "" where no contract lives.
        "getCode" => Ok(json!(
            d.code_of(param_str(params, 2))
                .map(|c| hexbytes::encode0x(&c))
                .unwrap_or_default()
        )),
        // The ABI the deploy transaction carried, as a string ("" if none).
        "getABI" => Ok(json!(d.abi_of(param_str(params, 2)).unwrap_or_default())),
        "getSealerList" => Ok(Value::Array(
            d.committee()
                .iter()
                .map(|s| json!({"nodeID": hex::encode(s.node_id), "weight": s.weight, "termWeight": 1}))
                .collect(),
        )),
        "getObserverList" => Ok(json!([])),
        "getGroupInfo" => Ok(group_info(d)),
        "getTransaction" => transaction(d, params),
        "getTransactionReceipt" => receipt(d, fault, params),
        _ => Err(err(codes::METHOD_NOT_FOUND, "The method does not exist/is not available.")),
    };
    Answer::Json(result)
}

fn block_answer(
    d: &Devnet,
    fault: Option<Fault>,
    params: &[Value],
    find: impl for<'a> Fn(&'a Devnet, &[Value]) -> Result<&'a chain::model::Block, RpcError>,
) -> Answer {
    let only_header = match param_bool(params, 3, true) {
        Ok(b) => b,
        Err(e) => return Answer::Json(Err(e)),
    };
    let only_hash = match param_bool(params, 4, true) {
        Ok(b) => b,
        Err(e) => return Answer::Json(Err(e)),
    };
    let block = match find(d, params) {
        Ok(b) => b,
        Err(e) => return Answer::Json(Err(e)),
    };
    let detail = match (only_header, only_hash) {
        (true, _) => BlockDetail::Header,
        (false, true) => BlockDetail::TxHashes,
        (false, false) => BlockDetail::Full,
    };
    match serve_block(d, block, fault) {
        Served::Block(b) => Answer::Json(Ok(block_json(&b, detail))),
        Served::Withheld => Answer::Json(Err(err(
            codes::LEDGER_COLLECT_ASYNC,
            "Get block failed with errors!",
        ))),
        Served::Garbage => Answer::Garbage,
    }
}

fn transaction(d: &Devnet, params: &[Value]) -> Result<Value, RpcError> {
    let proof_wanted = param_bool(params, 3, false)?;
    let (t, _, _) = param_hash(params, 2)
        .and_then(|h| d.transaction(&h))
        .ok_or_else(|| err(codes::LEDGER_GET_STORAGE, "GetBatchTxsByHashList error"))?;
    let v = transaction_json(t);
    Ok(if proof_wanted {
        let proof = d.transaction_proof(&t.claimed_hash).unwrap_or_default();
        let mut v = with_proof(v, "txProof", &proof);
        if let Some(o) = v.as_object_mut() {
            o.insert("transactionProof".into(), json!([]));
        }
        v
    } else {
        v
    })
}

fn receipt(d: &Devnet, fault: Option<Fault>, params: &[Value]) -> Result<Value, RpcError> {
    let proof_wanted = param_bool(params, 3, false)?;
    let hash = param_hash(params, 2);
    let (r, t) = hash
        .and_then(|h| Some((d.receipt(&h)?, d.transaction(&h)?.0)))
        .ok_or_else(|| err(codes::LEDGER_GET_STORAGE, "GetTransactionReceiptByHash"))?;
    let v = receipt_json(d.suite(), &serve_receipt(d, r, fault), Some(t));
    Ok(if proof_wanted {
        let rp = d.receipt_proof(&t.claimed_hash).unwrap_or_default();
        let tp = d.transaction_proof(&t.claimed_hash).unwrap_or_default();
        let mut v = with_proof(with_proof(v, "txReceiptProof", &rp), "txProof", &tp);
        if let Some(o) = v.as_object_mut() {
            o.insert("receiptProof".into(), json!([]));
            o.insert("transactionProof".into(), json!([]));
        }
        v
    } else {
        v
    })
}

fn group_info(d: &Devnet) -> Value {
    let genesis = d
        .block(0)
        .map(|b| String::from_utf8_lossy(&b.header.extra_data).into_owned())
        .unwrap_or_default();
    let node_type = match d.suite() {
        chain::CryptoSuite::Sm => 1,
        chain::CryptoSuite::Standard => 0,
    };
    json!({
        "chainID": d.config().chain_id,
        "groupID": d.config().group_id,
        "genesisConfig": genesis,
        "iniConfig": "",
        "nodeList": d.committee().iter().enumerate().map(|(i, s)| json!({
            "name": format!("node{i}"),
            "nodeID": hex::encode(s.node_id),
            "type": node_type,
            "microService": false,
            "iniConfig": "",
            "serviceInfo": [],
        })).collect::<Vec<_>>(),
    })
}

/// Serves `state` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
