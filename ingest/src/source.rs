//! Chain sources: a JSON-RPC client for the FISCO BCOS 3.x methods the
//! observer uses (`getBlockNumber`, `getBlockByNumber`,
//! `getTransactionReceipt`, `getSealerList`),
//! spoken the same way to a real node and to the devnet.
//!
//! Nothing an endpoint says is trusted here: a block comes back with the raw
//! text it was read from, so that a block that later fails verification can
//! be kept as evidence byte for byte. Errors are split by what the caller
//! should do: [`SourceError::Network`] is retried with backoff, the others
//! are the endpoint misbehaving and become findings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use chain::ChainError;
use chain::hexbytes::{Hash, encode0x};
use chain::model::{Block, Receipt};
use chain::verify::{Sealer, parse_sealer_list};

/// The largest answer read from an endpoint (a block of 10,000 transactions
/// with 2 KiB inputs is about 50 MiB of JSON); a longer one is a malformed
/// answer, so a hostile endpoint cannot exhaust the node's memory.
pub const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The largest answer to the small calls (`getBlockNumber`,
/// `getSealerList`): a head is a few bytes, a sealer list of a hundred
/// sealers a few KiB.
pub const MAX_SMALL_ANSWER_BYTES: usize = 256 << 10;

/// Ledger error "block not found" (`bcos-framework/ledger/LedgerTypeDef.h`).
pub const LEDGER_BLOCK_NOT_FOUND: i64 = 3006;

/// Why a call to an endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The endpoint could not be reached or did not answer in time; worth
    /// retrying.
    #[error("{endpoint}: {method}: network: {reason}")]
    Network {
        /// The endpoint.
        endpoint: String,
        /// The method called.
        method: &'static str,
        /// What failed.
        reason: String,
    },
    /// The endpoint answered with a JSON-RPC error.
    #[error("{endpoint}: {method}: error {code}: {message}")]
    Rpc {
        /// The endpoint.
        endpoint: String,
        /// The method called.
        method: &'static str,
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
        /// The raw answer.
        body: String,
    },
    /// The answer is not JSON-RPC, or not the shape the method returns.
    #[error("{endpoint}: {method}: malformed answer: {reason}")]
    Malformed {
        /// The endpoint.
        endpoint: String,
        /// The method called.
        method: &'static str,
        /// What is wrong.
        reason: String,
        /// The raw answer.
        body: String,
    },
}

impl SourceError {
    /// Whether retrying the same call may succeed (the endpoint did not
    /// answer, as opposed to answering wrongly).
    pub fn is_network(&self) -> bool {
        matches!(self, SourceError::Network { .. })
    }

    /// The raw answer, if the endpoint gave one.
    pub fn body(&self) -> Option<&str> {
        match self {
            SourceError::Network { .. } => None,
            SourceError::Rpc { body, .. } | SourceError::Malformed { body, .. } => Some(body),
        }
    }
}

/// A block as served, with the exact text it was parsed from.
#[derive(Debug, Clone)]
pub struct Served {
    /// The block, full transactions included.
    pub block: Block,
    /// The endpoint's answer, byte for byte.
    pub raw: String,
}

/// One JSON-RPC endpoint of a group.
#[derive(Debug)]
pub struct Endpoint {
    url: String,
    group: String,
    node: String,
    http: reqwest::Client,
    next_id: AtomicU64,
    max_answer: usize,
    timeout: Duration,
}

impl Endpoint {
    /// A client of `url` for `group` (and `node`, empty for the endpoint's
    /// own node), with a per-request `timeout`: the total deadline of a
    /// call, from connecting to the last byte of the answer.
    pub fn new(url: &str, group: &str, node: &str, timeout: Duration) -> Result<Self, SourceError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| SourceError::Network {
                endpoint: url.to_string(),
                method: "connect",
                reason: e.to_string(),
            })?;
        Ok(Self {
            url: url.to_string(),
            group: group.to_string(),
            node: node.to_string(),
            http,
            next_id: AtomicU64::new(1),
            max_answer: MAX_ANSWER_BYTES,
            timeout,
        })
    }

    /// The same client with another answer size limit.
    pub fn with_max_answer(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and returns its `result` and the raw answer, within
    /// the endpoint's deadline (body included) and reading at most `limit`
    /// bytes of answer (and never more than the endpoint's limit).
    async fn call(
        &self,
        method: &'static str,
        params: Vec<Value>,
        limit: usize,
    ) -> Result<(Value, String), SourceError> {
        match tokio::time::timeout(self.timeout, self.call_once(method, params, limit)).await {
            Ok(r) => r,
            Err(_) => Err(SourceError::Network {
                endpoint: self.url.clone(),
                method,
                reason: format!(
                    "no complete answer within {} ms (the request deadline)",
                    self.timeout.as_millis()
                ),
            }),
        }
    }

    async fn call_once(
        &self,
        method: &'static str,
        params: Vec<Value>,
        limit: usize,
    ) -> Result<(Value, String), SourceError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let network = |e: reqwest::Error| SourceError::Network {
            endpoint: self.url.clone(),
            method,
            reason: error_chain(&e),
        };
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(request.to_string())
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        let body = read_capped(response, limit.min(self.max_answer))
            .await
            .map_err(|e| match e {
                Capped::Network(e) => network(e),
                Capped::TooLong(n) => SourceError::Malformed {
                    endpoint: self.url.clone(),
                    method,
                    reason: format!("the answer exceeds {n} bytes (the limit); not read further"),
                    body: String::new(),
                },
            })?;
        if status.is_server_error() {
            return Err(SourceError::Network {
                endpoint: self.url.clone(),
                method,
                reason: format!("HTTP {status}"),
            });
        }
        let malformed = |reason: String, body: String| SourceError::Malformed {
            endpoint: self.url.clone(),
            method,
            reason,
            body,
        };
        if !status.is_success() {
            return Err(malformed(format!("HTTP {status}"), body));
        }
        let mut value: Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(e) => return Err(malformed(format!("not JSON: {e}"), body)),
        };
        if let Some((code, message)) = value.as_object().and_then(chain::rpc::rpc_error) {
            return Err(SourceError::Rpc {
                endpoint: self.url.clone(),
                method,
                code,
                message,
                body,
            });
        }
        match value.get_mut("result").map(Value::take) {
            Some(result) => Ok((result, body)),
            None => Err(malformed("no result and no error".into(), body)),
        }
    }

    /// `getBlockNumber`: the endpoint's head.
    pub async fn block_number(&self) -> Result<i64, SourceError> {
        let (v, body) = self
            .call(
                "getBlockNumber",
                vec![json!(self.group), json!(self.node)],
                MAX_SMALL_ANSWER_BYTES,
            )
            .await?;
        chain::rpc::int_value(&v, "result").map_err(|e| SourceError::Malformed {
            endpoint: self.url.clone(),
            method: "getBlockNumber",
            reason: e.to_string(),
            body,
        })
    }

    /// `getBlockByNumber` with full transactions.
    pub async fn block(&self, height: i64) -> Result<Served, SourceError> {
        let (v, raw) = self
            .call(
                "getBlockByNumber",
                vec![
                    json!(self.group),
                    json!(self.node),
                    json!(height),
                    json!(false),
                    json!(false),
                ],
                MAX_ANSWER_BYTES,
            )
            .await?;
        let block = Block::from_json(&v).map_err(|e: ChainError| SourceError::Malformed {
            endpoint: self.url.clone(),
            method: "getBlockByNumber",
            reason: e.to_string(),
            body: raw.clone(),
        })?;
        Ok(Served { block, raw })
    }

    /// `getBlockHashByNumber`: the hash the endpoint holds at `height`.
    pub async fn block_hash(&self, height: i64) -> Result<Hash, SourceError> {
        let (v, body) = self
            .call(
                "getBlockHashByNumber",
                vec![json!(self.group), json!(self.node), json!(height)],
                MAX_SMALL_ANSWER_BYTES,
            )
            .await?;
        v.as_str()
            .ok_or_else(|| "not a string".to_string())
            .and_then(|s| chain::hexbytes::decode_fixed::<32>("hash", s).map_err(|e| e.to_string()))
            .map_err(|reason| SourceError::Malformed {
                endpoint: self.url.clone(),
                method: "getBlockHashByNumber",
                reason,
                body,
            })
    }

    /// `getTransactionReceipt` without proof (the caller checks the block's
    /// receipts against its receiptsRoot, which needs no proof).
    pub async fn receipt(&self, hash: &Hash) -> Result<Receipt, SourceError> {
        let (v, raw) = self
            .call(
                "getTransactionReceipt",
                vec![
                    json!(self.group),
                    json!(self.node),
                    json!(encode0x(hash)),
                    json!(false),
                ],
                MAX_ANSWER_BYTES,
            )
            .await?;
        Receipt::from_json(&v).map_err(|e: ChainError| SourceError::Malformed {
            endpoint: self.url.clone(),
            method: "getTransactionReceipt",
            reason: e.to_string(),
            body: raw,
        })
    }

    /// `getABI`: the JSON ABI the endpoint keeps for the contract at
    /// `address` (the one its deploy transaction carried); `None` when it
    /// keeps none (an empty answer).
    pub async fn abi(&self, address: &str) -> Result<Option<String>, SourceError> {
        let (v, body) = self
            .call(
                "getABI",
                vec![json!(self.group), json!(self.node), json!(address)],
                abi::MAX_ABI_BYTES + MAX_SMALL_ANSWER_BYTES,
            )
            .await?;
        match v {
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            other => Err(SourceError::Malformed {
                endpoint: self.url.clone(),
                method: "getABI",
                reason: format!("the result is {other}, not a string"),
                body,
            }),
        }
    }

    /// `getSealerList`: the committee the endpoint reports.
    pub async fn sealer_list(&self) -> Result<Vec<Sealer>, SourceError> {
        let (_, body) = self
            .call(
                "getSealerList",
                vec![json!(self.group), json!(self.node)],
                MAX_SMALL_ANSWER_BYTES,
            )
            .await?;
        parse_sealer_list(&body).map_err(|e| SourceError::Malformed {
            endpoint: self.url.clone(),
            method: "getSealerList",
            reason: e.to_string(),
            body,
        })
    }
}

enum Capped {
    Network(reqwest::Error),
    TooLong(usize),
}

/// The body as text (invalid UTF-8 replaced), refusing more than `limit`
/// bytes without reading them.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<String, Capped> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Capped::TooLong(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Network)? {
        if body.len() + chunk.len() > limit {
            return Err(Capped::TooLong(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(match String::from_utf8(body) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// An error and its sources, on one line (reqwest hides the useful part,
/// such as "connection refused", in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
