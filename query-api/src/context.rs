//! What a resolver works with: the state it reads ([`ApiState`]), the
//! caller and its role, the request's record of reads for the audit log
//! ([`ReadLog`]), and the blocking pool for store and index work. The
//! schema's modules (`schema`, `stats`, `alerts`, `subscription`) all take
//! these from here, and none from another.

use std::sync::{Arc, Mutex};

use async_graphql::{Context, Error, Result};
use indexer::search::Search;
use privacy::at_rest::RecordSealer;
use store::Store;

use crate::audit::{AuditLog, Reads};
use crate::auth::{Principal, Role};
use crate::error::{ErrorCode, internal};

/// What the resolvers read.
pub struct ApiState {
    /// The system of record.
    pub store: Arc<Store>,
    /// The search index.
    pub search: Arc<Search>,
    /// Opens the decrypted records kept sealed in the store.
    pub sealer: Arc<RecordSealer>,
    /// Where reads of decrypted data are logged.
    pub audit: Arc<AuditLog>,
    /// The chains the store holds.
    pub chains: Chains,
    /// The keys evidence packs need (the regulator's, to prove wraps; the
    /// node's, to seal); `None` when the node has no node key.
    pub evidence: Option<EvidenceKeys>,
    /// What backtests read besides the store (the watchlists).
    pub backtest: crate::backtest::BacktestOptions,
}

/// The keys an evidence pack is made with.
#[derive(Clone)]
pub struct EvidenceKeys {
    /// The regulator's keyring.
    pub keyring: Arc<privacy::keyring::Keyring>,
    /// The node's signing key.
    pub node_key: Arc<privacy::keys::PrivateKey>,
}

/// One chain as the API sees it.
pub struct ChainView {
    /// Its id.
    pub id: String,
    /// Its number in the store (the top byte of its documents' `seq`).
    pub number: u8,
    /// Its group.
    pub group: String,
    /// Its crypto suite.
    pub suite: chain::CryptoSuite,
    /// Its log's handle.
    pub store: Arc<Store>,
    /// The ABIs and mappings its calls and events are decoded with.
    pub catalogs: records::decode::Catalogs,
    /// The health of the endpoints it is followed through, when the API
    /// runs beside the node's ingest.
    pub endpoints: Option<Arc<dyn EndpointHealth>>,
}

impl std::fmt::Debug for ChainView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainView")
            .field("id", &self.id)
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

/// What the API needs of a chain beyond the store's registry.
#[derive(Clone)]
pub struct ChainOptions {
    /// Its id.
    pub id: String,
    /// Its crypto suite, whose hash names functions and events.
    pub suite: chain::CryptoSuite,
    /// Its endpoints' health.
    pub endpoints: Option<Arc<dyn EndpointHealth>>,
}

/// The chains of the store, the first (the node's first chain) first.
#[derive(Debug, Clone)]
pub struct Chains(Arc<Vec<Arc<ChainView>>>);

impl Chains {
    /// Every chain `store`'s registry holds (chain 0 alone, as `main`, when
    /// it holds none), each with its options from `options` by id (else
    /// `default_suite` and no endpoints).
    pub fn from_store(
        store: &Arc<Store>,
        options: &[ChainOptions],
        default_suite: chain::CryptoSuite,
    ) -> Result<Self, store::StoreError> {
        let mut entries: Vec<(String, u8, String)> = store
            .chains()?
            .into_iter()
            .map(|e| (e.id, e.number, e.group))
            .collect();
        if entries.is_empty() {
            entries.push((records::UNREGISTERED_CHAIN.to_owned(), 0, String::new()));
        }
        // The node's first chain first.
        let first = store.chain_number();
        entries.sort_by_key(|(_, n, _)| (*n != first, *n));
        let mut views = Vec::with_capacity(entries.len());
        for (id, number, group) in entries {
            let o = options.iter().find(|o| o.id == id);
            let handle = if number == first {
                store.clone()
            } else {
                Arc::new(store.for_chain(number)?)
            };
            let suite = o.map_or(default_suite, |o| o.suite);
            views.push(Arc::new(ChainView {
                catalogs: records::decode::Catalogs::new(suite),
                suite,
                endpoints: o.and_then(|o| o.endpoints.clone()),
                id,
                number,
                group,
                store: handle,
            }));
        }
        Ok(Self(Arc::new(views)))
    }

    /// Every chain.
    pub fn all(&self) -> &[Arc<ChainView>] {
        &self.0
    }

    /// The first chain (the default of every query that takes one).
    pub fn first(&self) -> Result<&Arc<ChainView>> {
        self.0
            .first()
            .ok_or_else(|| internal("the store holds no chain"))
    }

    /// The chain numbered `number`.
    pub fn numbered(&self, number: u8) -> Result<&Arc<ChainView>> {
        self.0
            .iter()
            .find(|c| c.number == number)
            .ok_or_else(|| internal(format!("no chain numbered {number}")))
    }

    /// The chain `id` names, the first when `None`; an unknown id is a
    /// BAD_USER_INPUT error listing the known ones.
    pub fn named(&self, id: Option<&str>) -> Result<&Arc<ChainView>> {
        let Some(id) = id else {
            return self.first();
        };
        self.0.iter().find(|c| c.id == id).ok_or_else(|| {
            let known: Vec<&str> = self.0.iter().map(|c| c.id.as_str()).collect();
            ErrorCode::BadUserInput.error(format!(
                "chain: no chain {id:?} (the node holds {})",
                known.join(", ")
            ))
        })
    }

    /// How a transaction is named in the audit log: its hash, prefixed
    /// with its chain's id unless on the first chain.
    pub fn audit_name(&self, number: u8, hash: &str) -> String {
        match self.0.first() {
            Some(c) if c.number != number => match self.numbered(number) {
                Ok(v) => format!("{}:{hash}", v.id),
                Err(_) => hash.to_owned(),
            },
            _ => hash.to_owned(),
        }
    }
}

/// The health of the endpoints the node follows the chain through, as its
/// ingest pipeline keeps it (the node provides it: the API does not depend
/// on the pipeline).
pub trait EndpointHealth: Send + Sync {
    /// Every endpoint, in configured order.
    fn endpoints(&self) -> Vec<EndpointReport>;
}

/// One endpoint's health.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointReport {
    /// Its URL.
    pub url: String,
    /// `healthy`, `slow`, `failing` or `benched`.
    pub state: String,
    /// Smoothed latency of its block requests, ms (none before an answer).
    pub latency_ms: Option<f64>,
    /// Network errors and deadlines passed.
    pub errors: u64,
    /// Answers that failed a check.
    pub findings: u64,
    /// The head it last reported.
    pub head: Option<i64>,
    /// How long its bench still lasts, ms.
    pub benched_for_ms: Option<u64>,
}

/// What the reads of one request collect for the audit log.
#[derive(Clone, Debug, Default)]
pub struct ReadLog(Arc<Mutex<Reads>>);

impl ReadLog {
    /// A decrypted payload of `tx` was returned.
    pub fn read(&self, tx: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .read
            .push(tx);
    }

    /// Private transaction `tx` was matched or ordered by its plaintext.
    pub fn matched(&self, tx: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .matched
            .push(tx);
    }

    /// Aggregates over decrypted fields were returned.
    pub fn aggregated(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).aggregated = true;
    }

    /// Everything noted, each transaction once (a read is not also a match).
    pub(crate) fn take(&self) -> Reads {
        let mut r = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        r.read.sort();
        r.read.dedup();
        r.matched.sort();
        r.matched.dedup();
        r.matched.retain(|m| r.read.binary_search(m).is_err());
        r
    }
}

/// What resolvers read; only for an authenticated caller (the server
/// refuses others before execution; this keeps the schema safe on its own).
pub(crate) fn state<'a>(ctx: &Context<'a>) -> Result<&'a Arc<ApiState>> {
    caller(ctx)?;
    ctx.data::<Arc<ApiState>>()
}

/// The caller; a request without one (never sent by the server) is refused.
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(|| ErrorCode::Unauthenticated.error("not authenticated"))
}

/// A FORBIDDEN error naming the role and what it may not read.
pub(crate) fn forbidden(role: Role, what: &str) -> Error {
    ErrorCode::Forbidden.error(format!("the {role} role may not read {what}"))
}

/// The caller, if its role passes `allowed`; else a FORBIDDEN error naming
/// `what`.
pub(crate) fn require<'a>(
    ctx: &Context<'a>,
    allowed: fn(Role) -> bool,
    what: &str,
) -> Result<&'a Principal> {
    let who = caller(ctx)?;
    if allowed(who.role) {
        Ok(who)
    } else {
        Err(forbidden(who.role, what))
    }
}

/// The request's record of reads (absent outside an audited request).
pub(crate) fn read_log(ctx: &Context<'_>) -> Option<ReadLog> {
    ctx.data_opt::<ReadLog>().cloned()
}

/// Runs a blocking read (RocksDB, tantivy) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}
