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
//! the request's [`ReadLog`] for the audit log.

use std::sync::Arc;

use async_graphql::connection::{Connection, ConnectionNameType, Edge, EdgeNameType, EmptyFields};
use async_graphql::{Context, Enum, Error, InputObject, Object, Result, Schema, SimpleObject};
use chain::hexbytes::{Hash, decode_fixed, encode0x};
use chain::model::Block;
use indexer::search::{
    Filter, MAX_PAGE, Range, Search, SearchError, SearchRequest, Sort, SortBy, payload_in_clear,
};
use privacy::at_rest::RecordSealer;
use privacy::envelope::Class;
use records::Money;
use records::doc::{normalise_address, read_payload};
use store::{Store, StoredTx};

use crate::audit::{AuditEntry, AuditLog};
use crate::auth::{Principal, Role, TokenRecord};
use crate::error::ErrorCode;
use crate::server::ReadLog;
use crate::stats::{Account, Stats};
use crate::subscription::CoreSubscription;
use records::time::{format_ms, parse_ms};

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
}

/// The schema type.
pub type ApiSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Every query: the chain's, and the alerts'.
#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(CoreQuery, crate::alerts::AlertQuery);

/// Every mutation.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(CoreMutation, crate::alerts::AlertMutation);

/// Every subscription.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct SubscriptionRoot(CoreSubscription, crate::alerts::AlertSubscription);

/// Deepest selection accepted (GraphiQL's introspection query needs 13).
pub const MAX_DEPTH: usize = 16;
/// Largest complexity accepted (one per field selected, times the page
/// size for connections; a page of 500
/// transactions with a dozen fields each is about 6,000).
pub const MAX_COMPLEXITY: usize = 10_000;
/// Page size when `first` is not given.
pub const DEFAULT_PAGE: usize = 20;

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

pub(crate) fn bad_input(msg: impl Into<String>) -> Error {
    ErrorCode::BadUserInput.error(msg)
}

pub(crate) fn internal(err: impl std::fmt::Display) -> Error {
    tracing::error!(error = %err, "a query failed");
    ErrorCode::Internal.error("internal error (the server log has the detail)")
}

pub(crate) fn search_error(err: SearchError) -> Error {
    match err {
        SearchError::QueryTooLong(_)
        | SearchError::BadCursor(_)
        | SearchError::BadFilter { .. } => bad_input(err.to_string()),
        SearchError::Index(_) | SearchError::Aggregation(_) => internal(err),
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

pub(crate) fn read_log(ctx: &Context<'_>) -> Option<ReadLog> {
    ctx.data_opt::<ReadLog>().cloned()
}

/// Runs a blocking read (RocksDB, tantivy) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

fn parse_hash(what: &str, s: &str) -> Result<Hash> {
    decode_fixed::<32>(what, s.trim()).map_err(|e| bad_input(e.to_string()))
}

pub(crate) fn amount_text(hundredths: i64) -> String {
    Money::from_hundredths(hundredths).to_string()
}

/// Whether a payload is in the clear or an envelope.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PrivacyClass {
    /// A plaintext payload, readable by every party of the chain.
    Public,
    /// A supervised envelope.
    Private,
}

/// What the node made of a transaction's payload.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum EnvelopeStatus {
    /// Not an envelope: a public payload.
    NotEnvelope,
    /// Opened with the regulator's key.
    Opened,
    /// An envelope with no wrap for the regulator.
    NotForUs,
    /// Claims to be an envelope but breaks the format.
    Malformed,
    /// Made for another transaction.
    WrongContext,
    /// Names the regulator's key but does not decrypt with it.
    WrongKey,
    /// The regulator's data key is not the one the envelope commits to.
    Inconsistent,
}

impl EnvelopeStatus {
    fn class(self) -> Class {
        match self {
            EnvelopeStatus::NotEnvelope => Class::NotEnvelope,
            EnvelopeStatus::Opened => Class::Opened,
            EnvelopeStatus::NotForUs => Class::NotForUs,
            EnvelopeStatus::Malformed => Class::Malformed,
            EnvelopeStatus::WrongContext => Class::WrongContext,
            EnvelopeStatus::WrongKey => Class::WrongKey,
            EnvelopeStatus::Inconsistent => Class::Inconsistent,
        }
    }

    pub(crate) fn of(stored: &str) -> Option<Self> {
        [
            EnvelopeStatus::NotEnvelope,
            EnvelopeStatus::Opened,
            EnvelopeStatus::NotForUs,
            EnvelopeStatus::Malformed,
            EnvelopeStatus::WrongContext,
            EnvelopeStatus::WrongKey,
            EnvelopeStatus::Inconsistent,
        ]
        .into_iter()
        .find(|s| s.class().as_str() == stored)
    }
}

/// Sort keys of a transaction search.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TransactionOrderField {
    /// Best match first (needs `search`; without it, chain order).
    Relevance,
    /// Block time.
    Time,
    /// Height, then position in the block.
    Chain,
    /// Amount (transactions without one come last when descending).
    Amount,
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrderDirection {
    /// Smallest, oldest first.
    Asc,
    /// Largest, newest first.
    Desc,
}

/// A transaction order.
#[derive(InputObject, Clone, Copy, Debug)]
pub struct TransactionOrder {
    /// The key.
    pub field: TransactionOrderField,
    /// The direction (default: descending). Relevance is always descending.
    pub direction: Option<OrderDirection>,
}

/// An inclusive time range (RFC 3339); either end may be left out.
#[derive(InputObject, Clone, Debug, Default)]
pub struct TimeRange {
    /// From (inclusive).
    pub from: Option<String>,
    /// To (inclusive).
    pub to: Option<String>,
}

/// An inclusive height range.
#[derive(InputObject, Clone, Copy, Debug, Default)]
pub struct HeightRange {
    /// Lowest height.
    pub min: Option<i64>,
    /// Highest height.
    pub max: Option<i64>,
}

/// An inclusive amount range, as decimal strings (`"1000"`, `"49.90"`).
#[derive(InputObject, Clone, Debug, Default)]
pub struct AmountRange {
    /// Lowest amount.
    pub min: Option<String>,
    /// Highest amount.
    pub max: Option<String>,
}

/// Transaction filters; all given ones must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub struct TransactionFilter {
    /// Block time.
    pub time_range: Option<TimeRange>,
    /// Block height.
    pub height_range: Option<HeightRange>,
    /// Any party: sender, contract, payer or payee (account or id).
    pub party: Option<String>,
    /// Sender.
    pub from: Option<String>,
    /// Contract called.
    pub to: Option<String>,
    /// Payer (account or id).
    pub payer: Option<String>,
    /// Payee (account or id).
    pub payee: Option<String>,
    /// Amount.
    pub amount_range: Option<AmountRange>,
    /// Currency code (`CNY`).
    pub currency: Option<String>,
    /// Public or private.
    pub privacy_class: Option<PrivacyClass>,
    /// Envelope status.
    pub envelope_status: Option<EnvelopeStatus>,
    /// A rule the transaction hit.
    pub rule_hit: Option<String>,
    /// Business scenario.
    pub scenario: Option<String>,
}

impl TransactionFilter {
    /// Whether the filter reads what decrypted payloads hold (parties from
    /// the payload, amounts, currency, scenario).
    fn uses_plaintext(&self) -> bool {
        self.rule_hit.is_some()
            || self.party.is_some()
            || self.payer.is_some()
            || self.payee.is_some()
            || self.amount_range.is_some()
            || self.currency.is_some()
            || self.scenario.is_some()
    }

    pub(crate) fn to_filter(&self) -> Result<Filter> {
        let time = self.time_range.clone().unwrap_or_default();
        let when = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| parse_ms(s).map_err(|e| bad_input(format!("timeRange.{name}: {e}"))))
                .transpose()
        };
        let amounts = self.amount_range.clone().unwrap_or_default();
        let amount = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    Money::parse(s).map(Money::hundredths).ok_or_else(|| {
                        bad_input(format!(
                            "amountRange.{name}: {s:?} is not a decimal amount with at most two decimals"
                        ))
                    })
                })
                .transpose()
        };
        let heights = self.height_range.unwrap_or_default();
        Ok(Filter {
            time_ms: Range::new(when("from", &time.from)?, when("to", &time.to)?),
            height: Range::new(heights.min, heights.max),
            amount: Range::new(amount("min", &amounts.min)?, amount("max", &amounts.max)?),
            party: self.party.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            payer: self.payer.clone(),
            payee: self.payee.clone(),
            currency: self.currency.clone(),
            privacy: self.privacy_class.map(|p| match p {
                PrivacyClass::Public => "public".to_string(),
                PrivacyClass::Private => "private".to_string(),
            }),
            status: self.envelope_status.map(|s| s.class().as_str().to_string()),
            hashes: None,
            positions: None,
            scenario: self.scenario.clone(),
            action: None,
        })
    }

    /// [`TransactionFilter::to_filter`], with `ruleHit` resolved to the
    /// transactions the rule's alerts list (from the store).
    pub(crate) fn to_filter_in(&self, store: &Store) -> Result<Filter> {
        let mut f = self.to_filter()?;
        if let Some(rule) = &self.rule_hit {
            f.positions = Some(policies::engine::rule_positions(store, rule).map_err(internal)?);
        }
        Ok(f)
    }
}

/// What a transaction search adds to its connection.
#[derive(SimpleObject, Debug, Clone)]
pub struct SearchInfo {
    /// Every match, not only this page (as of the first page).
    pub total_count: u64,
    /// The height the index covered when the first page was made.
    pub indexed_height: Option<i64>,
    /// Parts of the search text that were not understood (the rest was
    /// searched).
    pub warnings: Vec<String>,
}

/// A page of transactions.
pub type TransactionConnection = Connection<String, Transaction, SearchInfo, EmptyFields>;

/// A verified transaction.
pub struct Transaction {
    pub(crate) stored: StoredTx,
    pub(crate) time_ms: i64,
}

impl Transaction {
    fn hash_hex(&self) -> String {
        encode0x(&self.stored.tx.claimed_hash)
    }
}

/// The payload of a transaction in the clear: a public payload, or the
/// decrypted record of an envelope the regulator opened.
#[derive(SimpleObject, Debug, Clone)]
pub struct Payload {
    /// Business scenario.
    pub scenario: Option<String>,
    /// Business action.
    pub action: Option<String>,
    /// Business reference (invoice, contract number).
    pub reference: Option<String>,
    /// Payer (account, else id).
    pub payer: Option<String>,
    /// Payee (account, else id).
    pub payee: Option<String>,
    /// Amount, as a decimal string.
    pub amount: Option<String>,
    /// Currency code.
    pub currency: Option<String>,
    /// Memo.
    pub memo: Option<String>,
    /// The payload as UTF-8 text, if it is text.
    pub raw_text: Option<String>,
    /// The payload bytes, `0x` hex.
    pub raw_hex: String,
}

#[Object]
impl Transaction {
    /// Transaction hash.
    async fn hash(&self) -> String {
        self.hash_hex()
    }

    /// Height of its block.
    async fn height(&self) -> i64 {
        self.stored.height
    }

    /// The chain id it was signed for.
    async fn chain_id(&self) -> &str {
        &self.stored.tx.chain_id
    }

    /// The group it was signed for.
    async fn group_id(&self) -> &str {
        &self.stored.tx.group_id
    }

    /// Position in its block.
    async fn index(&self) -> u32 {
        self.stored.index
    }

    /// Block time (RFC 3339, Beijing time).
    async fn time(&self) -> String {
        format_ms(self.time_ms)
    }

    /// Its block.
    async fn block(&self, ctx: &Context<'_>) -> Result<Option<BlockNode>> {
        let st = state(ctx)?.clone();
        let height = self.stored.height;
        blocking(move || {
            st.store
                .block(height)
                .map(|b| b.map(BlockNode))
                .map_err(internal)
        })
        .await
    }

    /// Its receipt, checked against the block's receiptsRoot; null when the
    /// node keeps no receipts (`ingest.receipt_concurrency = 0`). Receipts
    /// are public to the consortium: every role reads them.
    async fn receipt(&self, ctx: &Context<'_>) -> Result<Option<ReceiptNode>> {
        let st = state(ctx)?.clone();
        let hash = self.stored.tx.claimed_hash;
        blocking(move || {
            st.store
                .receipt(&hash)
                .map(|r| r.map(ReceiptNode))
                .map_err(internal)
        })
        .await
    }

    /// The alert rules it hit, each with the alert that lists it. For a
    /// private transaction this tells of its decrypted contents: analysts
    /// and admins only.
    async fn rules_hit(&self, ctx: &Context<'_>) -> Result<Vec<RuleHit>> {
        if self.stored.class != Class::NotEnvelope.as_str() {
            require(
                ctx,
                Role::reads_plaintext,
                "the rules a private transaction hit",
            )?;
        }
        let st = state(ctx)?.clone();
        let hash = self.hash_hex();
        blocking(move || {
            Ok(policies::engine::rules_hit(&st.store, &hash)
                .map_err(internal)?
                .into_iter()
                .map(|(rule, alert_id)| RuleHit { rule, alert_id })
                .collect())
        })
        .await
    }

    /// Sender, as the node claimed it and the signature proved it.
    async fn from(&self) -> Option<String> {
        self.stored.tx.claimed_from.map(|a| encode0x(&a))
    }

    /// Contract called (empty for a deployment).
    async fn to(&self) -> String {
        normalise_address(&self.stored.tx.to)
    }

    /// First four bytes of the call data.
    async fn method(&self) -> Option<String> {
        self.stored.tx.input.get(..4).map(encode0x)
    }

    /// Public or private.
    async fn privacy_class(&self) -> PrivacyClass {
        if self.stored.class == Class::NotEnvelope.as_str() {
            PrivacyClass::Public
        } else {
            PrivacyClass::Private
        }
    }

    /// What the node made of the payload.
    async fn envelope_status(&self) -> Result<EnvelopeStatus> {
        EnvelopeStatus::of(&self.stored.class)
            .ok_or_else(|| internal(format!("unknown stored class {:?}", self.stored.class)))
    }

    /// Why, in words.
    async fn envelope_detail(&self) -> &str {
        &self.stored.detail
    }

    /// The payload in the clear, if the regulator can read it. A private
    /// transaction's decrypted payload is for the analyst and admin roles,
    /// and each read is audited.
    async fn payload(&self, ctx: &Context<'_>) -> Result<Option<Payload>> {
        let private = self.plaintext_allowed(ctx)?;
        let st = state(ctx)?.clone();
        let hash = self.hash_hex();
        let log = read_log(ctx);
        blocking(move || {
            let Some(plain) = payload_in_clear(&st.store, &st.sealer, &hash) else {
                return Ok(None);
            };
            if private {
                audit_read(log, &hash, "decrypted payloads")?;
            }
            let (b, _) = read_payload(&plain);
            Ok(Some(Payload {
                scenario: b.scenario,
                action: b.action,
                reference: b.reference,
                payer: b.payer.key().map(str::to_string),
                payee: b.payee.key().map(str::to_string),
                amount: b.amount.map(|a| a.to_string()),
                currency: b.currency,
                memo: b.memo,
                raw_text: std::str::from_utf8(&plain).ok().map(str::to_string),
                raw_hex: encode0x(&plain),
            }))
        })
        .await
    }

    /// Where `search` matches this transaction's payload: fragments of the
    /// memo and the text with the matched ranges. Made from the payload in
    /// the clear, so a private transaction's snippets are for the analyst
    /// and admin roles, and each is audited as a read.
    async fn snippets(&self, ctx: &Context<'_>, search: String) -> Result<Vec<Snippet>> {
        if search.len() > 1_000 {
            return Err(bad_input("search: at most 1,000 bytes"));
        }
        let private = self.plaintext_allowed(ctx)?;
        let st = state(ctx)?.clone();
        let hash = self.hash_hex();
        let log = read_log(ctx);
        blocking(move || {
            let found = st
                .search
                .snippets_from_store(&search, &hash, &st.store, &st.sealer)
                .map_err(internal)?;
            if private && !found.is_empty() {
                audit_read(log, &hash, "snippets of decrypted payloads")?;
            }
            Ok(found.into_iter().map(Snippet::from).collect())
        })
        .await
    }
}

impl Transaction {
    /// Whether this transaction's plaintext is private, once the caller is
    /// checked: any caller for a public payload, the roles that read
    /// plaintext for a private one.
    fn plaintext_allowed(&self, ctx: &Context<'_>) -> Result<bool> {
        let private = self.stored.class != Class::NotEnvelope.as_str();
        if private {
            require(ctx, Role::reads_plaintext, "decrypted payloads")?;
        } else {
            caller(ctx)?;
        }
        Ok(private)
    }
}

/// Records a read of `hash`'s decrypted data for the audit log; without a
/// log (a subscription), `what` is refused, since it could not be audited.
fn audit_read(log: Option<ReadLog>, hash: &str, what: &str) -> Result<()> {
    match log {
        Some(log) => {
            log.read(hash.to_string());
            Ok(())
        }
        None => Err(ErrorCode::Forbidden.error(format!(
            "{what} are not sent on subscriptions; fetch them with the transaction query, where each read is audited"
        ))),
    }
}

/// A fragment of a payload where a search matched.
#[derive(SimpleObject, Debug, Clone)]
pub struct Snippet {
    /// `memo` or `text` (the whole payload as text).
    pub field: String,
    /// The fragment.
    pub fragment: String,
    /// The matched parts of `fragment`, as character (not byte) offsets.
    pub highlights: Vec<Span>,
}

/// A range of characters, `start` inclusive, `end` exclusive.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct Span {
    /// First character.
    pub start: i32,
    /// One past the last character.
    pub end: i32,
}

impl From<indexer::search::Snippet> for Snippet {
    fn from(s: indexer::search::Snippet) -> Self {
        let chars = |byte: usize| {
            i32::try_from(s.fragment.get(..byte).map_or(0, |p| p.chars().count()))
                .unwrap_or(i32::MAX)
        };
        let highlights = s
            .highlighted
            .iter()
            .map(|r| Span {
                start: chars(r.start),
                end: chars(r.end),
            })
            .collect();
        Self {
            field: s.field.to_string(),
            fragment: s.fragment.clone(),
            highlights,
        }
    }
}

/// An alert rule a transaction hit.
#[derive(SimpleObject, Debug, Clone)]
pub struct RuleHit {
    /// The rule.
    pub rule: String,
    /// The alert that lists the transaction.
    pub alert_id: u64,
}

/// A transaction's receipt: what executing it did.
pub struct ReceiptNode(chain::model::Receipt);

#[Object(name = "Receipt")]
impl ReceiptNode {
    /// Receipt hash (a leaf of the block's receiptsRoot).
    async fn hash(&self) -> String {
        encode0x(&self.0.claimed_hash)
    }

    /// Execution status: 0 is success; other codes are FISCO BCOS's
    /// `TransactionStatus` (16 = reverted).
    async fn status(&self) -> i32 {
        self.0.status
    }

    /// Whether it succeeded (status 0).
    async fn succeeded(&self) -> bool {
        self.0.status == 0
    }

    /// Gas used, as a decimal string.
    async fn gas_used(&self) -> &str {
        &self.0.gas_used
    }

    /// The contract it deployed, if it was a deployment.
    async fn contract_address(&self) -> Option<String> {
        (!self.0.contract_address.is_empty()).then(|| format!("0x{}", self.0.contract_address))
    }

    /// Return data, `0x` hex.
    async fn output(&self) -> String {
        encode0x(&self.0.output)
    }

    /// Events emitted, in order.
    async fn logs(&self) -> Vec<LogNode> {
        self.0
            .logs
            .iter()
            .map(|l| LogNode {
                address: format!("0x{}", l.address),
                topics: l.topics.iter().map(|t| encode0x(t)).collect(),
                data: encode0x(&l.data),
            })
            .collect()
    }

    /// Receipt format version.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// An event a transaction emitted.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Log")]
pub struct LogNode {
    /// Emitting contract.
    pub address: String,
    /// Topics, `0x` hex.
    pub topics: Vec<String>,
    /// Data, `0x` hex.
    pub data: String,
}

/// A verified block.
pub struct BlockNode(pub(crate) Block);

#[Object(name = "Block")]
impl BlockNode {
    /// Height.
    async fn height(&self) -> i64 {
        self.0.header.number
    }

    /// Block hash.
    async fn hash(&self) -> String {
        encode0x(&self.0.header.claimed_hash)
    }

    /// Parent hash.
    async fn parent_hash(&self) -> Option<String> {
        self.0.header.parents.first().map(|p| encode0x(&p.hash))
    }

    /// Block time (RFC 3339, Beijing time).
    async fn time(&self) -> String {
        format_ms(self.0.header.timestamp)
    }

    /// Node id of the sealer that proposed it.
    async fn sealer(&self) -> Option<String> {
        usize::try_from(self.0.header.sealer)
            .ok()
            .and_then(|i| self.0.header.sealer_list.get(i))
            .map(hex::encode)
    }

    /// The committee's node ids.
    async fn sealers(&self) -> Vec<String> {
        self.0.header.sealer_list.iter().map(hex::encode).collect()
    }

    /// How many sealers signed it.
    async fn signature_count(&self) -> usize {
        self.0.header.signatures.len()
    }

    /// Its transactions, in block order.
    async fn transactions(&self, ctx: &Context<'_>) -> Result<Vec<Transaction>> {
        let st = state(ctx)?.clone();
        let height = self.0.header.number;
        let time_ms = self.0.header.timestamp;
        blocking(move || {
            let txs = st.store.transactions_at(height).map_err(internal)?;
            Ok(txs
                .into_iter()
                .map(|stored| Transaction { stored, time_ms })
                .collect())
        })
        .await
    }
}

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
    /// The chain id its transactions carry (none before the first one).
    pub chain_id: Option<String>,
    /// The groups this node follows (one node follows one group).
    pub groups: Vec<String>,
    /// Highest verified and stored block.
    pub head: Option<i64>,
    /// Highest block searchable in the index.
    pub indexed_height: Option<i64>,
    /// Blocks stored but not yet searchable.
    pub index_lag: Option<i64>,
    /// The committee in force at the head (node ids).
    pub sealers: Vec<String>,
    /// Transactions per envelope status.
    pub status_counts: Vec<StatusCount>,
    /// Verification findings recorded (blocks refused, endpoints that lied).
    pub finding_count: i64,
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

    /// The chain, its head and how far the index covers.
    async fn chain(&self, ctx: &Context<'_>) -> Result<Chain> {
        let st = state(ctx)?.clone();
        blocking(move || {
            let head = st.store.checkpoint().map_err(internal)?;
            let indexed = st.search.index().visible_checkpoint().map(|c| c.height);
            let sealers = match head {
                Some(h) => st
                    .store
                    .committee_at(h)
                    .map_err(internal)?
                    .unwrap_or_default()
                    .iter()
                    .map(|s| hex::encode(s.node_id))
                    .collect(),
                None => Vec::new(),
            };
            let status_counts = st
                .store
                .class_counts()
                .map_err(internal)?
                .into_iter()
                .filter_map(|(class, count)| {
                    EnvelopeStatus::of(&class).map(|status| StatusCount { status, count })
                })
                .collect();
            let first = st.store.transactions_from((0, 0), 1).map_err(internal)?;
            Ok(Chain {
                chain_id: first.first().map(|t| t.tx.chain_id.clone()),
                groups: first.iter().map(|t| t.tx.group_id.clone()).collect(),
                head,
                indexed_height: indexed,
                index_lag: head.map(|h| h - indexed.unwrap_or(-1)),
                sealers,
                status_counts,
                finding_count: st.store.finding_count().map_err(internal)?,
            })
        })
        .await
    }

    /// A block by height or by hash (exactly one).
    async fn block(
        &self,
        ctx: &Context<'_>,
        height: Option<i64>,
        hash: Option<String>,
    ) -> Result<Option<BlockNode>> {
        let st = state(ctx)?.clone();
        let by_hash = match (height, hash) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(bad_input("give exactly one of height and hash"));
            }
            (None, Some(h)) => Some(parse_hash("hash", &h)?),
            (Some(_), None) => None,
        };
        blocking(move || {
            let height = match by_hash {
                Some(h) => match st.store.height_of(&h).map_err(internal)? {
                    Some(height) => height,
                    None => return Ok(None),
                },
                None => height.unwrap_or(-1),
            };
            st.store
                .block(height)
                .map(|b| b.map(BlockNode))
                .map_err(internal)
        })
        .await
    }

    /// Stored blocks, newest first; `after` is a cursor of this connection.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn blocks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BlockConnection> {
        let st = state(ctx)?.clone();
        let first = page_size(first)?;
        let below =
            match after.as_deref() {
                None => None,
                Some(c) => Some(c.parse::<i64>().ok().filter(|h| *h >= 0).ok_or_else(|| {
                    bad_input(format!("invalid cursor {c:?}: not a block cursor"))
                })?),
            };
        blocking(move || {
            let Some(head) = st.store.checkpoint().map_err(internal)? else {
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
                    let block = st.store.block(h).map_err(internal)?.ok_or_else(|| {
                        internal(format!("block {h} is below the checkpoint but not stored"))
                    })?;
                    conn.edges.push(Edge::new(h.to_string(), BlockNode(block)));
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
    ) -> Result<Vec<Finding>> {
        if !(0..=MAX_FINDINGS).contains(&last) {
            return Err(bad_input(format!(
                "last: must be 0 to {MAX_FINDINGS}, got {last}"
            )));
        }
        let st = state(ctx)?.clone();
        blocking(move || {
            let total = u64::try_from(st.store.finding_count().map_err(internal)?).unwrap_or(0);
            let last = u64::try_from(last).unwrap_or(0);
            Ok(st
                .store
                .findings_from(total.saturating_sub(last), last as usize)
                .map_err(internal)?
                .into_iter()
                .map(|(_, f)| Finding {
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
    ) -> Result<EnvelopeFindingConnection> {
        let st = state(ctx)?.clone();
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
            let counts = st.store.class_counts().map_err(internal)?;
            let mut total = 0i64;
            let mut found = Vec::new();
            for s in &statuses {
                let class = s.class().as_str();
                total += counts.get(class).copied().unwrap_or(0);
                found.extend(
                    st.store
                        .transactions_of_class(class, from, first + 1)
                        .map_err(internal)?,
                );
            }
            found.sort_by_key(|t| (t.height, t.index));
            found.dedup_by_key(|t| (t.height, t.index));
            let has_next = found.len() > first;
            found.truncate(first);
            let mut conn = Connection::with_additional_fields(
                after.is_some(),
                has_next,
                FindingCount { total_count: total },
            );
            for stored in found {
                let cursor = format!("{}:{}", stored.height, stored.index);
                let time_ms = st
                    .store
                    .block(stored.height)
                    .map_err(internal)?
                    .map_or(0, |b| b.header.timestamp);
                conn.edges
                    .push(Edge::new(cursor, Transaction { stored, time_ms }));
            }
            Ok(conn)
        })
        .await
    }

    /// A transaction by hash.
    async fn transaction(&self, ctx: &Context<'_>, hash: String) -> Result<Option<Transaction>> {
        let st = state(ctx)?.clone();
        let hash = parse_hash("hash", &hash)?;
        blocking(move || load_transaction(&st.store, &hash)).await
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

/// Matching or ordering by what decrypted payloads hold reveals it: for a
/// role that may not read plaintext, such a search covers public
/// transactions only (the warning says so), and asking for private ones is
/// FORBIDDEN. Returns the warning, and whether private matches must be
/// audited (the role reads plaintext and the search used it).
pub(crate) fn restrict_to_role(
    role: Role,
    text_or_amount_order: bool,
    filter: &mut TransactionFilter,
) -> Result<(Option<String>, bool)> {
    let by_plaintext = text_or_amount_order || filter.uses_plaintext();
    if !by_plaintext {
        return Ok((None, false));
    }
    if role.reads_plaintext() {
        return Ok((None, true));
    }
    if filter.privacy_class == Some(PrivacyClass::Private) {
        return Err(forbidden(
            role,
            "private transactions by search text, payload fields or amount",
        ));
    }
    filter.privacy_class = Some(PrivacyClass::Public);
    Ok((
        Some(format!(
            "the {role} role searches, filters and orders by payload contents over public transactions only"
        )),
        false,
    ))
}

/// The stored transaction of a search hit. The index holds only stored
/// transactions, so one missing from the store is an inconsistency worth
/// an error.
pub(crate) fn stored_for_hit(store: &Store, tx_hash: &str) -> Result<StoredTx> {
    let hash = parse_hash("hash", tx_hash)?;
    store
        .transaction(&hash)
        .map_err(internal)?
        .ok_or_else(|| internal(format!("{tx_hash} is indexed but not in the store")))
}

/// A page's complexity: what one item asks for, times the items asked
/// (counted up to [`MAX_PAGE`]: a larger `first` is refused by name when
/// the field runs).
pub(crate) fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let n = first.map_or(DEFAULT_PAGE, |n| usize::try_from(n).unwrap_or(0));
    n.clamp(1, MAX_PAGE).saturating_mul(child_complexity)
}

/// `first` checked: [`DEFAULT_PAGE`] when absent, at most [`MAX_PAGE`].
pub(crate) fn page_size(first: Option<i32>) -> Result<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n < 0 => Err(bad_input("first must not be negative")),
        Some(n) if n as usize > MAX_PAGE => Err(bad_input(format!("first is at most {MAX_PAGE}"))),
        Some(n) => Ok(n as usize),
    }
}

fn load_transaction(store: &Store, hash: &Hash) -> Result<Option<Transaction>> {
    let Some(stored) = store.transaction(hash).map_err(internal)? else {
        return Ok(None);
    };
    let time_ms = store
        .block(stored.height)
        .map_err(internal)?
        .map_or(0, |b| b.header.timestamp);
    Ok(Some(Transaction { stored, time_ms }))
}

/// The mutations.
#[derive(Default)]
pub struct CoreMutation;

#[Object]
impl CoreMutation {
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

/// One page of a transaction search, as the `transactions` field answers
/// it (also under `account`).
pub(crate) async fn transaction_page(
    ctx: &Context<'_>,
    search: Option<String>,
    filter: Option<TransactionFilter>,
    order: Option<TransactionOrder>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<TransactionConnection> {
    let st = state(ctx)?.clone();
    let who = caller(ctx)?;
    let log = read_log(ctx);
    let first = page_size(first)?;
    let mut filter = filter.unwrap_or_default();
    let has_search = search.as_deref().is_some_and(|s| !s.trim().is_empty());
    let order = order.unwrap_or(TransactionOrder {
        field: if has_search {
            TransactionOrderField::Relevance
        } else {
            TransactionOrderField::Chain
        },
        direction: None,
    });
    let sort = Sort {
        by: match order.field {
            TransactionOrderField::Relevance => SortBy::Relevance,
            TransactionOrderField::Time => SortBy::Time,
            TransactionOrderField::Chain => SortBy::Chain,
            TransactionOrderField::Amount => SortBy::Amount,
        },
        descending: order.direction != Some(OrderDirection::Asc),
    };
    let (role_warning, audit_matches) = restrict_to_role(
        who.role,
        has_search || order.field == TransactionOrderField::Amount,
        &mut filter,
    )?;
    let had_cursor = after.is_some();
    blocking(move || {
        // `ruleHit` reads the rule's links from the store: here, off the
        // async workers.
        let req = SearchRequest {
            query: search,
            filter: filter.to_filter_in(&st.store)?,
            sort,
            first,
            after,
        };
        let page = if first == 0 {
            // Only the count (and coverage) is wanted.
            let mut p = st
                .search
                .search(&SearchRequest { first: 1, ..req })
                .map_err(search_error)?;
            p.hits.clear();
            p
        } else {
            st.search.search(&req).map_err(search_error)?
        };
        let mut warnings = page.warnings;
        warnings.extend(role_warning);
        let mut conn = Connection::with_additional_fields(
            had_cursor,
            page.has_next,
            SearchInfo {
                total_count: page.total,
                indexed_height: page.indexed_height,
                warnings,
            },
        );
        for hit in page.hits {
            // The hit carries the block time, so the block is not read.
            let stored = stored_for_hit(&st.store, &hit.tx_hash)?;
            if audit_matches && stored.class != Class::NotEnvelope.as_str() {
                match &log {
                    Some(log) => log.matched(hit.tx_hash.clone()),
                    None => {
                        return Err(internal("a plaintext search outside an audited request"));
                    }
                }
            }
            let tx = Transaction {
                stored,
                time_ms: hit.time_ms,
            };
            conn.edges.push(Edge::new(hit.cursor, tx));
        }
        Ok(conn)
    })
    .await
}
