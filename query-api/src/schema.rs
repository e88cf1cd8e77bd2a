//! The GraphQL schema, following the community's conventions: Relay cursor
//! connections (`edges { node cursor }`, `pageInfo`, `totalCount`), input
//! objects for filters, enums for classes.
//!
//! Store reads and searches run on the blocking pool; errors reach the
//! client with a code in `extensions.code` (`BAD_USER_INPUT` for what the
//! client can fix, `FORBIDDEN` for what the caller's role may not see,
//! `INTERNAL` for the rest, whose detail goes to the log).
//!
//! Authorisation is on fields: the server puts the caller's
//! [`Principal`] in each request, and a field the role may not read fails
//! alone (null, with an error naming the role and the field) while the
//! rest of the answer stands. Decrypted payloads are for `analyst` and
//! `admin`; a search or order by what they hold covers public
//! transactions only for the other roles. Every decrypted payload returned,
//! and every private transaction a plaintext search matched, is noted in
//! the request's [`ReadLog`](crate::context::ReadLog) for the audit log.

use std::sync::Arc;

use async_graphql::connection::{Connection, ConnectionNameType, Edge, EdgeNameType, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, Schema, SimpleObject};

use crate::audit::AuditEntry;
use crate::auth::{Role, TokenRecord};
use crate::context::{ApiState, ChainView, blocking, caller, require, state};
use crate::error::{bad_input, internal};
use crate::model::{
    BlockNode, EnvelopeStatus, Transaction, TransactionConnection, TransactionFilter,
    TransactionOrder, find_transaction, parse_hash, transaction_page,
};
use crate::paging::{page_cost, page_size, take_page};
use crate::stats::{Account, Stats};
use crate::subscription::CoreSubscription;
use records::time::format_ms;

/// The schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query: the chain's, and the alerts'.
#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(
    CoreQuery,
    crate::alerts::AlertQuery,
    crate::watchlists::WatchlistQuery,
);

/// Every mutation.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(
    CoreMutation,
    crate::alerts::AlertMutation,
    crate::evidence::EvidenceMutation,
    crate::backtest::BacktestMutation,
    crate::watchlists::WatchlistMutation,
);

/// Every subscription.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct SubscriptionRoot(CoreSubscription, crate::alerts::AlertSubscription);

/// Deepest selection accepted (GraphiQL's introspection query needs 13).
pub const MAX_DEPTH: usize = 16;
/// Largest complexity accepted (one per field selected, times the page
/// size for connections; a page of 500
/// transactions with a dozen fields each is about 6,000).
pub const MAX_COMPLEXITY: usize = 10_000;

/// The schema over `state`, with depth and complexity limits.
pub fn build_schema(state: Arc<ApiState>) -> ApiSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .data(state)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .finish()
}

/// The schema in SDL, as `docs/schema.graphql` holds it.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .finish()
    .sdl()
}

/// Findings one `findings` query returns at most.
const MAX_FINDINGS: i32 = 1_000;

/// Transactions of one envelope status.
#[derive(SimpleObject, Debug, Clone)]
pub struct StatusCount {
    /// The status.
    pub status: EnvelopeStatus,
    /// Transactions with it.
    pub count: i64,
}

/// The chain as the node sees it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Chain {
    /// Its id in this node (`[[chain]] id`): what `chain`, `chains`
    /// filters and every transaction's `chain` name.
    pub id: String,
    /// The group it follows, as configured.
    pub group: String,
    /// The chain id its transactions carry (none before the first one).
    pub chain_id: Option<String>,
    /// The groups its transactions carry.
    pub groups: Vec<String>,
    /// Highest verified and stored block.
    pub head: Option<i64>,
    /// Highest block of this chain searchable in the index.
    pub indexed_height: Option<i64>,
    /// Blocks stored but not yet searchable.
    pub index_lag: Option<i64>,
    /// The committee in force at the head (node ids).
    pub sealers: Vec<String>,
    /// Transactions per envelope status.
    pub status_counts: Vec<StatusCount>,
    /// Verification findings recorded (blocks refused, endpoints that lied).
    pub finding_count: i64,
    /// The endpoints the chain is followed through, in configured order,
    /// with their health (empty when this API runs without ingest).
    pub endpoints: Vec<Endpoint>,
    /// Directories the node cannot write (a full, read-only or failing
    /// disk): while any is listed, nothing new is stored, indexed or
    /// evaluated, and decrypted reads are withheld (they cannot be audited).
    pub disk_faults: Vec<DiskFault>,
}

/// An endpoint's health (see the operations guide for the states).
#[derive(SimpleObject, Debug, Clone)]
pub struct Endpoint {
    /// Its URL.
    pub url: String,
    /// `healthy`, `slow`, `failing` or `benched`.
    pub state: String,
    /// Smoothed latency of its block requests in ms (none before an answer).
    pub latency_ms: Option<f64>,
    /// Network errors and deadlines passed.
    pub errors: i64,
    /// Answers that failed a check.
    pub findings: i64,
    /// The head it last reported.
    pub head: Option<i64>,
    /// How long its bench still lasts, ms.
    pub benched_for_ms: Option<i64>,
}

/// One version of a contract's ABI in the registry.
#[derive(SimpleObject, Debug, Clone)]
pub struct AbiVersionInfo {
    /// The contract (`0x` and 40 lowercase hex digits).
    pub address: String,
    /// From 1.
    pub version: i64,
    /// Where it came from: `file:PATH`, `api:NAME` or `chain`.
    pub source: String,
    /// When it was added (RFC 3339, Beijing time).
    pub added: String,
    /// The JSON ABI as given.
    pub abi: String,
}

impl From<records::abis::AbiVersion> for AbiVersionInfo {
    fn from(v: records::abis::AbiVersion) -> Self {
        Self {
            address: v.address,
            version: i64::from(v.version),
            source: v.source,
            added: format_ms(v.added_ms),
            abi: v.abi,
        }
    }
}

fn abi_error(e: records::abis::AbiRegistryError) -> async_graphql::Error {
    use records::abis::AbiRegistryError as E;
    match e {
        E::Address(_) | E::Invalid { .. } => bad_input(e.to_string()),
        E::TooMany { .. } => crate::error::ErrorCode::Conflict.error(e.to_string()),
        e => internal(e),
    }
}

fn mapping_error(e: records::mapping::MappingError) -> async_graphql::Error {
    use records::mapping::MappingError as E;
    match e {
        E::Invalid { .. } => bad_input(e.to_string()),
        E::TooMany => crate::error::ErrorCode::Conflict.error(e.to_string()),
        e => internal(e),
    }
}

/// A business mapping: which decoded arguments of a contract's method, or
/// fields of its event, are the payment's parties, amount, currency,
/// reference and memo, and which carry its record. Each field names an
/// argument, `@sender` (the transaction's sender) or `=TEXT` (a fixed text).
#[derive(InputObject, SimpleObject, Debug, Clone, Default)]
#[graphql(input_name = "MappingInput")]
pub struct Mapping {
    /// The contract (`0x`-hex); null or `*` for any contract.
    pub contract: Option<String>,
    /// The method's name (give a method or an event).
    pub method: Option<String>,
    /// The event's name.
    pub event: Option<String>,
    /// Paying party.
    pub payer: Option<String>,
    /// Receiving party.
    pub payee: Option<String>,
    /// Amount, an integer in minor units.
    pub amount: Option<String>,
    /// Decimals of the amount (`amount / 10^decimals` units); 0 when not given.
    pub decimals: Option<u32>,
    /// Currency.
    pub currency: Option<String>,
    /// Reference.
    pub reference: Option<String>,
    /// Memo.
    pub memo: Option<String>,
    /// The `bytes` arguments that carry the record or envelope.
    pub record: Option<Vec<String>>,
}

impl Mapping {
    fn spec(&self) -> records::mapping::MappingSpec {
        records::mapping::MappingSpec {
            contract: self.contract.clone(),
            method: self.method.clone(),
            event: self.event.clone(),
            payer: self.payer.clone(),
            payee: self.payee.clone(),
            amount: self.amount.clone(),
            decimals: self.decimals.unwrap_or(0),
            currency: self.currency.clone(),
            reference: self.reference.clone(),
            memo: self.memo.clone(),
            record: self.record.clone().unwrap_or_default(),
        }
    }
}

impl From<records::mapping::MappingSpec> for Mapping {
    fn from(s: records::mapping::MappingSpec) -> Self {
        Self {
            contract: s.contract,
            method: s.method,
            event: s.event,
            payer: s.payer,
            payee: s.payee,
            amount: s.amount,
            decimals: Some(s.decimals),
            currency: s.currency,
            reference: s.reference,
            memo: s.memo,
            record: Some(s.record),
        }
    }
}

/// A directory the node cannot write.
#[derive(SimpleObject, Debug, Clone)]
pub struct DiskFault {
    /// The directory.
    pub dir: String,
    /// What the disk said.
    pub error: String,
    /// Since when (RFC 3339, Beijing time).
    pub since: String,
}

/// A page of blocks, newest first.
pub type BlockConnection = Connection<String, BlockNode, BlockCount, EmptyFields>;

/// What a block page adds to its connection.
#[derive(SimpleObject, Debug, Clone)]
pub struct BlockCount {
    /// Blocks stored (genesis included).
    pub total_count: i64,
}

/// Something the node found wrong in what it was served, kept as evidence
/// (the block was not stored).
#[derive(SimpleObject, Debug, Clone)]
pub struct Finding {
    /// The chain it is about (its id in this node).
    pub chain: String,
    /// When it was found (RFC 3339, Beijing time).
    pub at: String,
    /// The height concerned, if any.
    pub height: Option<i64>,
    /// The endpoint that served it.
    pub endpoint: String,
    /// The failed check (`quorum`, `sealer-signature[0]`, `parent`, …).
    pub check: String,
    /// What was wrong.
    pub detail: String,
    /// The bytes served, as text.
    pub evidence: String,
}

/// The caller, as the server authenticated it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Me {
    /// Token id, or JWT subject.
    pub id: String,
    /// Token name, or JWT subject.
    pub name: String,
    /// The role.
    pub role: Role,
    /// `token` or `jwt`.
    pub credential: String,
}

/// An API token (its secret is shown once, when made, and kept nowhere).
#[derive(SimpleObject, Debug, Clone)]
pub struct ApiToken {
    /// Public id: the part after `lt_` in the token.
    pub id: String,
    /// Who or what it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was made (RFC 3339, Beijing time).
    pub created_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl From<TokenRecord> for ApiToken {
    fn from(r: TokenRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            role: r.role,
            created_at: format_ms(r.created_ms),
            revoked_at: r.revoked_ms.map(format_ms),
        }
    }
}

/// A token just made.
#[derive(SimpleObject, Debug, Clone)]
pub struct CreatedToken {
    /// The bearer token: give it to its holder now; it cannot be shown
    /// again.
    pub token: String,
    /// Its record.
    pub info: ApiToken,
}

/// One audited request.
#[derive(SimpleObject, Debug, Clone)]
pub struct AuditLogEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When (RFC 3339, Beijing time).
    pub at: String,
    /// Token id or JWT subject.
    pub actor_id: String,
    /// Token name or JWT subject.
    pub actor_name: String,
    /// `token` or `jwt`.
    pub credential: String,
    /// The role it acted in.
    pub role: Role,
    /// GraphQL operation name.
    pub operation: Option<String>,
    /// The GraphQL document.
    pub query: String,
    /// Whether the document was cut.
    pub query_truncated: bool,
    /// The variables, as JSON text.
    pub variables: String,
    /// Transactions whose decrypted payload was returned.
    pub read: Vec<String>,
    /// Private transactions matched by a plaintext search.
    pub matched: Vec<String>,
    /// Whether aggregates over decrypted fields were returned.
    pub aggregated: bool,
}

impl From<AuditEntry> for AuditLogEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: format_ms(e.at_ms),
            actor_id: e.actor.id,
            actor_name: e.actor.name,
            credential: e.actor.credential.as_str().into(),
            role: e.actor.role,
            operation: e.operation,
            query: e.query,
            query_truncated: e.query_truncated,
            variables: e.variables.to_string(),
            read: e.read,
            matched: e.matched,
            aggregated: e.aggregated,
        }
    }
}

/// What an audit page adds to its connection.
#[derive(SimpleObject, Debug, Clone)]
pub struct AuditCount {
    /// Entries in the log.
    pub total_count: u64,
}

/// A page of the audit log, newest first.
pub type AuditConnection = Connection<String, AuditLogEntry, AuditCount, EmptyFields>;

/// What an envelope-finding page adds to its connection.
#[derive(SimpleObject, Debug, Clone)]
pub struct FindingCount {
    /// Findings of the asked statuses in the whole store.
    pub total_count: i64,
}

/// Names the envelope-finding connection apart from the search's.
pub struct EnvelopeFindingNames;

impl ConnectionNameType for EnvelopeFindingNames {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "EnvelopeFindingConnection".into()
    }
}

impl EdgeNameType for EnvelopeFindingNames {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "EnvelopeFindingEdge".into()
    }
}

/// A page of envelope findings, in chain order.
pub type EnvelopeFindingConnection = Connection<
    String,
    Transaction,
    FindingCount,
    EmptyFields,
    EnvelopeFindingNames,
    EnvelopeFindingNames,
>;

/// The queries.
#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// Every version of a contract's ABI in the registry of `chain` (the
    /// first when not given; each chain has its own), oldest first (empty
    /// when it has none). ABIs are the contracts' public interfaces: every
    /// role reads them.
    async fn abi_versions(
        &self,
        ctx: &Context<'_>,
        address: String,
        chain: Option<String>,
    ) -> Result<Vec<AbiVersionInfo>> {
        let view = state(ctx)?.chains.named(chain.as_deref())?.clone();
        blocking(move || {
            let a = records::abis::parse_address(&address).map_err(abi_error)?;
            Ok(records::abis::versions(&view.store, &a)
                .map_err(abi_error)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }

    /// The business mappings in force (the ERC-20 `Transfer` default
    /// applies where none is saved). Every role reads them.
    async fn mappings(&self, ctx: &Context<'_>) -> Result<Vec<Mapping>> {
        caller(ctx)?;
        let st = state(ctx)?.clone();
        blocking(move || {
            Ok(records::mapping::all(&st.store)
                .map_err(mapping_error)?
                .iter()
                .map(|m| m.spec().into())
                .collect())
        })
        .await
    }

    /// Who the server takes the caller to be.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let who = caller(ctx)?;
        Ok(Me {
            id: who.id.clone(),
            name: who.name.clone(),
            role: who.role,
            credential: who.credential.as_str().into(),
        })
    }

    /// API tokens, revoked ones included (admin).
    async fn tokens(&self, ctx: &Context<'_>) -> Result<Vec<ApiToken>> {
        require(ctx, Role::administers, "tokens")?;
        let st = state(ctx)?.clone();
        blocking(move || {
            Ok(crate::auth::list_tokens(&st.store)
                .map_err(internal)?
                .into_iter()
                .map(ApiToken::from)
                .collect())
        })
        .await
    }

    /// The audit log of decrypted reads, newest first (auditor, admin);
    /// `after` is a cursor of this connection.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditConnection> {
        require(ctx, Role::reads_audit, "the audit log")?;
        let st = state(ctx)?.clone();
        let first = page_size(first)?;
        let below = match after.as_deref() {
            None => None,
            Some(c) => Some(
                c.parse::<u64>()
                    .map_err(|_| bad_input(format!("invalid cursor {c:?}: not an audit cursor")))?,
            ),
        };
        blocking(move || {
            let len = st.audit.len();
            let top = below.map_or(len, |b| b.min(len));
            let bottom = top.saturating_sub(first as u64);
            let mut conn = Connection::with_additional_fields(
                below.is_some(),
                bottom > 0,
                AuditCount { total_count: len },
            );
            let mut entries = st
                .audit
                .entries(bottom, (top - bottom) as usize)
                .map_err(internal)?;
            entries.reverse();
            for e in entries {
                conn.edges
                    .push(Edge::new(e.seq.to_string(), AuditLogEntry::from(e)));
            }
            Ok(conn)
        })
        .await
    }

    /// Every chain the node holds (the first configured first), each with
    /// its head and how far the index covers it.
    async fn chains(&self, ctx: &Context<'_>) -> Result<Vec<Chain>> {
        let st = state(ctx)?.clone();
        blocking(move || st.chains.all().iter().map(|v| chain_info(&st, v)).collect()).await
    }

    /// A chain (by its id; the first when none is given), its head and how
    /// far the index covers it.
    async fn chain(&self, ctx: &Context<'_>, id: Option<String>) -> Result<Chain> {
        let st = state(ctx)?.clone();
        let view = st.chains.named(id.as_deref())?.clone();
        blocking(move || chain_info(&st, &view)).await
    }

    /// A block by height or by hash (exactly one), of `chain` (the first
    /// when not given).
    async fn block(
        &self,
        ctx: &Context<'_>,
        height: Option<i64>,
        hash: Option<String>,
        chain: Option<String>,
    ) -> Result<Option<BlockNode>> {
        let view = state(ctx)?.chains.named(chain.as_deref())?.clone();
        let by_hash = match (height, hash) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(bad_input("give exactly one of height and hash"));
            }
            (None, Some(h)) => Some(parse_hash("hash", &h)?),
            (Some(_), None) => None,
        };
        blocking(move || {
            let height = match by_hash {
                Some(h) => match view.store.height_of(&h).map_err(internal)? {
                    Some(height) => height,
                    None => return Ok(None),
                },
                None => height.unwrap_or(-1),
            };
            view.store
                .block(height)
                .map(|b| b.map(|b| BlockNode::new(b, view.number)))
                .map_err(internal)
        })
        .await
    }

    /// Stored blocks of `chain` (the first when not given), newest first;
    /// `after` is a cursor of this connection.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn blocks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        chain: Option<String>,
    ) -> Result<BlockConnection> {
        let view = state(ctx)?.chains.named(chain.as_deref())?.clone();
        let first = page_size(first)?;
        let below =
            match after.as_deref() {
                None => None,
                Some(c) => Some(c.parse::<i64>().ok().filter(|h| *h >= 0).ok_or_else(|| {
                    bad_input(format!("invalid cursor {c:?}: not a block cursor"))
                })?),
            };
        blocking(move || {
            let Some(head) = view.store.checkpoint().map_err(internal)? else {
                return Ok(Connection::with_additional_fields(
                    false,
                    false,
                    BlockCount { total_count: 0 },
                ));
            };
            let top = below.map_or(head, |b| b - 1).min(head);
            let bottom = (top - first as i64 + 1).max(0);
            let mut conn = Connection::with_additional_fields(
                below.is_some(),
                bottom > 0 && first > 0,
                BlockCount {
                    total_count: head + 1,
                },
            );
            if first > 0 {
                for h in (bottom..=top).rev() {
                    let block = view.store.block(h).map_err(internal)?.ok_or_else(|| {
                        internal(format!("block {h} is below the checkpoint but not stored"))
                    })?;
                    conn.edges
                        .push(Edge::new(h.to_string(), BlockNode::new(block, view.number)));
                }
            }
            Ok(conn)
        })
        .await
    }

    /// Verification findings: blocks an endpoint served that failed a check
    /// (and were not stored). The newest `last` of them (at most 1,000),
    /// oldest first; `chain { findingCount }` counts them all.
    async fn findings(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] last: i32,
        #[graphql(desc = "The chain (the first when not given).")] chain: Option<String>,
    ) -> Result<Vec<Finding>> {
        if !(0..=MAX_FINDINGS).contains(&last) {
            return Err(bad_input(format!(
                "last: must be 0 to {MAX_FINDINGS}, got {last}"
            )));
        }
        let view = state(ctx)?.chains.named(chain.as_deref())?.clone();
        blocking(move || {
            let total = u64::try_from(view.store.finding_count().map_err(internal)?).unwrap_or(0);
            let last = u64::try_from(last).unwrap_or(0);
            Ok(view
                .store
                .findings_from(total.saturating_sub(last), last as usize)
                .map_err(internal)?
                .into_iter()
                .map(|(_, f)| Finding {
                    chain: view.id.clone(),
                    at: format_ms(f.at_ms),
                    height: f.height,
                    endpoint: f.endpoint,
                    check: f.check,
                    detail: f.detail,
                    evidence: f.evidence,
                })
                .collect())
        })
        .await
    }

    /// Supervision findings about envelopes, in chain order: private
    /// transactions not wrapped for the regulator, inconsistent, malformed,
    /// made for another context, or naming our key but not opening with it
    /// (all of these when `statuses` is not given). `after` is a cursor of
    /// this connection.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn envelope_findings(
        &self,
        ctx: &Context<'_>,
        statuses: Option<Vec<EnvelopeStatus>>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "The chain (the first when not given).")] chain: Option<String>,
    ) -> Result<EnvelopeFindingConnection> {
        let view = state(ctx)?.chains.named(chain.as_deref())?.clone();
        let first = page_size(first)?;
        let statuses = statuses.unwrap_or_else(|| {
            vec![
                EnvelopeStatus::NotForUs,
                EnvelopeStatus::Inconsistent,
                EnvelopeStatus::Malformed,
                EnvelopeStatus::WrongContext,
                EnvelopeStatus::WrongKey,
            ]
        });
        let from = match after.as_deref() {
            None => (0, 0),
            Some(c) => {
                let bad = || {
                    bad_input(format!(
                        "invalid cursor {c:?}: not an envelope-finding cursor"
                    ))
                };
                let (h, i) = c.split_once(':').ok_or_else(bad)?;
                let h: i64 = h.parse().map_err(|_| bad())?;
                let i: u32 = i.parse().map_err(|_| bad())?;
                match i.checked_add(1) {
                    Some(next) => (h, next),
                    None => (h + 1, 0),
                }
            }
        };
        blocking(move || {
            let counts = view.store.class_counts().map_err(internal)?;
            let mut total = 0i64;
            let mut found = Vec::new();
            for s in &statuses {
                let class = s.class().as_str();
                total += counts.get(class).copied().unwrap_or(0);
                found.extend(
                    view.store
                        .transactions_of_class(class, from, first + 1)
                        .map_err(internal)?,
                );
            }
            found.sort_by_key(|t| (t.height, t.index));
            found.dedup_by_key(|t| (t.height, t.index));
            let (found, has_next) = take_page(found, first);
            let mut conn = Connection::with_additional_fields(
                after.is_some(),
                has_next,
                FindingCount { total_count: total },
            );
            for stored in found {
                let cursor = format!("{}:{}", stored.height, stored.index);
                let time_ms = view
                    .store
                    .block(stored.height)
                    .map_err(internal)?
                    .map_or(0, |b| b.header.timestamp);
                conn.edges.push(Edge::new(
                    cursor,
                    Transaction {
                        stored,
                        time_ms,
                        chain: view.number,
                    },
                ));
            }
            Ok(conn)
        })
        .await
    }

    /// A transaction by hash, on `chain` (else on the first chain that
    /// holds it).
    async fn transaction(
        &self,
        ctx: &Context<'_>,
        hash: String,
        chain: Option<String>,
    ) -> Result<Option<Transaction>> {
        let st = state(ctx)?.clone();
        if let Some(id) = chain.as_deref() {
            st.chains.named(Some(id))?;
        }
        let hash = parse_hash("hash", &hash)?;
        blocking(move || find_transaction(&st.chains, chain.as_deref(), &hash)).await
    }

    /// Transactions matching a full-text search and filters, in the asked
    /// order, a page at a time. `search` takes words (Chinese by word,
    /// English by stem), hashes, addresses and references, or tantivy's
    /// query syntax; text it cannot parse is searched as plain words and
    /// reported in `warnings`.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        filter: Option<TransactionFilter>,
        order: Option<TransactionOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TransactionConnection> {
        transaction_page(ctx, search, filter, order, first, after).await
    }

    /// An account (an address or a business party id): its transactions,
    /// counterparties, volume, and when it was first and last seen.
    async fn account(&self, ctx: &Context<'_>, address: String) -> Result<Account> {
        caller(ctx)?;
        let address = address.trim().to_string();
        if address.is_empty() || address.len() > 200 {
            return Err(bad_input("address: give 1 to 200 characters"));
        }
        Ok(Account { address })
    }

    /// Aggregates over the transactions matching `search` and `filter`
    /// (all when both are absent), computed by the index, exact.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        filter: Option<TransactionFilter>,
    ) -> Result<Stats> {
        Stats::new(ctx, search, filter.unwrap_or_default()).await
    }
}

/// The mutations.
#[derive(Default)]
pub struct CoreMutation;

#[Object]
impl CoreMutation {
    /// Registers a contract's JSON ABI (admin) in the registry of `chain`
    /// (the first when not given): a new version unless the latest has the
    /// same text; an ABI that does not parse is refused. Answers the version
    /// in force.
    async fn save_abi(
        &self,
        ctx: &Context<'_>,
        address: String,
        abi: String,
        chain: Option<String>,
    ) -> Result<AbiVersionInfo> {
        let who = require(ctx, Role::administers, "contract ABIs")?.clone();
        let view = state(ctx)?.chains.named(chain.as_deref())?.clone();
        blocking(move || {
            let a = records::abis::parse_address(&address).map_err(abi_error)?;
            let source = format!("api:{}", who.name);
            let saved =
                records::abis::save(&view.store, &a, &abi, &source, records::time::now_ms())
                    .map_err(abi_error)?;
            if let records::abis::Saved::Added(version) = saved {
                tracing::info!(chain = %view.id, contract = %address, version, by = %who.name, "ABI registered");
            }
            records::abis::latest(&view.store, &a)
                .map_err(abi_error)?
                .map(Into::into)
                .ok_or_else(|| internal("the ABI just saved is not there"))
        })
        .await
    }

    /// Saves a business mapping (admin), replacing the one for the same
    /// contract and method or event; a mapping that does not check is
    /// refused, naming the field. Transactions already indexed are decoded
    /// again in the background.
    async fn save_mapping(&self, ctx: &Context<'_>, mapping: Mapping) -> Result<Mapping> {
        let who = require(ctx, Role::administers, "business mappings")?.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            let m = records::mapping::Mapping::from_spec(&mapping.spec()).map_err(mapping_error)?;
            records::mapping::save(&st.store, &m).map_err(mapping_error)?;
            tracing::info!(mapping = ?m.item, by = %who.name, "business mapping saved");
            Ok(m.spec().into())
        })
        .await
    }

    /// Removes the business mapping of a contract's method or event
    /// (admin); whether there was one.
    async fn remove_mapping(
        &self,
        ctx: &Context<'_>,
        contract: Option<String>,
        method: Option<String>,
        event: Option<String>,
    ) -> Result<bool> {
        let who = require(ctx, Role::administers, "business mappings")?.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            let m = records::mapping::Mapping::from_spec(&records::mapping::MappingSpec {
                contract,
                method,
                event,
                ..Default::default()
            })
            .map_err(mapping_error)?;
            let removed =
                records::mapping::remove(&st.store, m.contract, &m.item).map_err(mapping_error)?;
            if removed {
                tracing::info!(mapping = ?m.item, by = %who.name, "business mapping removed");
            }
            Ok(removed)
        })
        .await
    }

    /// Makes an API token (admin). The answer holds the token: the only
    /// time it is shown.
    async fn create_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        role: Role,
    ) -> Result<CreatedToken> {
        let who = require(ctx, Role::administers, "tokens")?.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            let (record, token) =
                crate::auth::create_token(&st.store, &name, role, records::time::now_ms()).map_err(
                    |e| match e {
                        crate::auth::AuthError::BadName(_) => bad_input(e.to_string()),
                        crate::auth::AuthError::TooMany(_) => {
                            crate::error::ErrorCode::Conflict.error(e.to_string())
                        }
                        e => internal(e),
                    },
                )?;
            tracing::info!(id = %record.id, name = %record.name, role = %record.role, by = %who.name, "token created");
            Ok(CreatedToken {
                token: token.to_string(),
                info: record.into(),
            })
        })
        .await
    }

    /// Revokes an API token (admin); it is refused from the next request.
    async fn revoke_token(&self, ctx: &Context<'_>, id: String) -> Result<ApiToken> {
        let who = require(ctx, Role::administers, "tokens")?.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            let record = crate::auth::revoke_token(&st.store, id.trim(), records::time::now_ms())
                .map_err(|e| match e {
                crate::auth::AuthError::NoSuchToken(_) => bad_input(e.to_string()),
                e => internal(e),
            })?;
            tracing::info!(id = %record.id, by = %who.name, "token revoked");
            Ok(record.into())
        })
        .await
    }
}

/// What `chain` and `chains` answer for one chain.
fn chain_info(st: &ApiState, view: &ChainView) -> Result<Chain> {
    let store = &view.store;
    let head = store.checkpoint().map_err(internal)?;
    let indexed = match st.search.index().visible_checkpoint() {
        Some(c) => store
            .merged_height_at(view.number, c.height)
            .map_err(internal)?,
        None => None,
    };
    let sealers = match head {
        Some(h) => store
            .committee_at(h)
            .map_err(internal)?
            .unwrap_or_default()
            .iter()
            .map(|s| hex::encode(s.node_id))
            .collect(),
        None => Vec::new(),
    };
    let status_counts = store
        .class_counts()
        .map_err(internal)?
        .into_iter()
        .filter_map(|(class, count)| {
            EnvelopeStatus::of(&class).map(|status| StatusCount { status, count })
        })
        .collect();
    let first = store.transactions_from((0, 0), 1).map_err(internal)?;
    Ok(Chain {
        id: view.id.clone(),
        group: view.group.clone(),
        chain_id: first.first().map(|t| t.tx.chain_id.clone()),
        groups: first.iter().map(|t| t.tx.group_id.clone()).collect(),
        head,
        indexed_height: indexed,
        index_lag: head.map(|h| h - indexed.unwrap_or(-1)),
        sealers,
        status_counts,
        finding_count: store.finding_count().map_err(internal)?,
        endpoints: view
            .endpoints
            .as_ref()
            .map(|e| e.endpoints())
            .unwrap_or_default()
            .into_iter()
            .map(|e| Endpoint {
                url: e.url,
                state: e.state,
                latency_ms: e.latency_ms,
                errors: i64::try_from(e.errors).unwrap_or(i64::MAX),
                findings: i64::try_from(e.findings).unwrap_or(i64::MAX),
                head: e.head,
                benched_for_ms: e
                    .benched_for_ms
                    .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            })
            .collect(),
        disk_faults: store
            .disk()
            .faults()
            .into_iter()
            .map(|f| DiskFault {
                dir: f.dir.display().to_string(),
                error: f.error,
                since: format_ms(f.since_ms),
            })
            .collect(),
    })
}
