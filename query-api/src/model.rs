//! The GraphQL types of chain data: blocks, transactions (with their
//! envelope status, payload in the clear and the rules they hit), receipts
//! and logs, and the transaction filters, orders and search pages that the
//! `transactions` field, `account` and the subscriptions share.
//!
//! A decrypted payload is returned only to a role that reads plaintext,
//! and only after it is noted in the request's record of reads.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};
use chain::hexbytes::{Hash, decode_fixed, encode0x};
use chain::model::Block;
use indexer::search::{Filter, Range, SearchRequest, Sort, SortBy, payload_in_clear_with};
use privacy::envelope::Class;
use records::Money;
use records::doc::{normalise_address, read_payload};
use store::{Store, StoredTx};

use crate::auth::Role;
use std::sync::Arc;

use crate::context::{
    ApiState, ChainView, Chains, ReadLog, blocking, caller, forbidden, read_log, require, state,
};
use crate::error::ErrorCode;
use crate::error::{bad_input, internal, search_error};
use crate::paging::page_size;
use records::time::{format_ms, parse_ms};

pub(crate) fn parse_hash(what: &str, s: &str) -> Result<Hash> {
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
    pub(crate) fn class(self) -> Class {
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
    /// Only these chains (ids); absent: every chain's.
    pub chains: Option<Vec<String>>,
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
    /// A contract of the transaction: the one called, or one that emitted
    /// an event in its receipt.
    pub contract: Option<String>,
    /// The decoded method's name (`pay`).
    pub method: Option<String>,
    /// The name of one of its decoded events (`Transfer`).
    pub event: Option<String>,
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
        if let Some(chains) = &self.chains
            && chains.len() > MAX_CHAIN_FILTER
        {
            return Err(bad_input(format!(
                "chains: at most {MAX_CHAIN_FILTER}, got {}",
                chains.len()
            )));
        }
        Ok(Filter {
            chains: self.chains.clone(),
            time_ms: Range::new(when("from", &time.from)?, when("to", &time.to)?),
            height: Range::new(heights.min, heights.max),
            position: Range::default(),
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
            contract: self.contract.clone(),
            method: self.method.clone(),
            event: self.event.clone(),
        })
    }

    /// [`TransactionFilter::to_filter`], with the chains checked against
    /// the node's and `ruleHit` resolved to the transactions the rule's
    /// alerts list (from the store).
    pub(crate) fn to_filter_in(&self, chains: &Chains, store: &Store) -> Result<Filter> {
        for id in self.chains.iter().flatten() {
            chains.named(Some(id))?;
        }
        let mut f = self.to_filter()?;
        if let Some(rule) = &self.rule_hit {
            let positions = policies::family::rule_positions(store, rule).map_err(|e| match e {
                policies::EngineError::TooMany { .. } => bad_input(format!("ruleHit: {e}")),
                e => internal(e),
            })?;
            f.positions = Some(positions);
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

/// The most chains a filter names.
pub const MAX_CHAIN_FILTER: usize = 128;

/// A verified transaction.
pub struct Transaction {
    pub(crate) stored: StoredTx,
    pub(crate) time_ms: i64,
    /// Its chain's number in the store.
    pub(crate) chain: u8,
}

impl Transaction {
    fn hash_hex(&self) -> String {
        encode0x(&self.stored.tx.claimed_hash)
    }

    /// Its chain, as the API sees it.
    fn view<'a>(&self, st: &'a ApiState) -> Result<&'a Arc<ChainView>> {
        st.chains.numbered(self.chain)
    }

    /// How the audit log names it.
    fn audit_name(&self, st: &ApiState) -> String {
        st.chains.audit_name(self.chain, &self.hash_hex())
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

    /// The chain it is on (its id in this node).
    async fn chain(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.view(state(ctx)?)?.id.clone())
    }

    /// Its chain's group in this node.
    async fn group(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.view(state(ctx)?)?.group.clone())
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
        let view = self.view(state(ctx)?)?.clone();
        let height = self.stored.height;
        blocking(move || {
            view.store
                .block(height)
                .map(|b| b.map(|block| BlockNode::new(block, view.number)))
                .map_err(internal)
        })
        .await
    }

    /// Its receipt, checked against the block's receiptsRoot; null when the
    /// node keeps no receipts (`ingest.receipt_concurrency = 0`). Receipts
    /// are public to the consortium: every role reads them.
    async fn receipt(&self, ctx: &Context<'_>) -> Result<Option<ReceiptNode>> {
        let view = self.view(state(ctx)?)?.clone();
        let hash = self.stored.tx.claimed_hash;
        blocking(move || {
            view.store
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
            Ok(policies::family::rules_hit(&st.store, &hash)
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

    /// The call data as served, `0x`-hex (for a private transaction, its
    /// envelope is in there, encrypted).
    async fn input(&self) -> String {
        encode0x(&self.stored.tx.input)
    }

    /// The call, decoded by the latest ABI the registry holds for the
    /// contract (null for a deployment or an empty input). For a private
    /// transaction the decoded call is read as decrypted data: analysts
    /// and admins, audited.
    async fn call(&self, ctx: &Context<'_>) -> Result<Option<DecodedCall>> {
        let private = self.plaintext_allowed(ctx)?;
        let st = state(ctx)?;
        let view = self.view(st)?.clone();
        let log = read_log(ctx);
        let (hash, tx) = (self.audit_name(st), self.stored.tx.clone());
        blocking(move || {
            let catalog = view.catalogs.current(&view.store).map_err(internal)?;
            let call = catalog.decode_call(&tx.to, &tx.input);
            if private && call.is_some() {
                audit_read(log, &hash, "decoded calls of private transactions")?;
            }
            Ok(call.map(DecodedCall::from))
        })
        .await
    }

    /// The events of its receipt, each decoded by the latest ABI of the
    /// contract that emitted it (empty without a receipt). As `call` for a
    /// private transaction.
    async fn events(&self, ctx: &Context<'_>) -> Result<Vec<DecodedEvent>> {
        let private = self.plaintext_allowed(ctx)?;
        let st = state(ctx)?;
        let view = self.view(st)?.clone();
        let log = read_log(ctx);
        let hash = self.audit_name(st);
        let tx_hash = self.stored.tx.claimed_hash;
        blocking(move || {
            let Some(receipt) = view.store.receipt(&tx_hash).map_err(internal)? else {
                return Ok(Vec::new());
            };
            let catalog = view.catalogs.current(&view.store).map_err(internal)?;
            let events = catalog.decode_events(&receipt.logs);
            if private && !events.is_empty() {
                audit_read(log, &hash, "decoded events of private transactions")?;
            }
            Ok(events
                .into_iter()
                .enumerate()
                .map(|(i, d)| DecodedEvent::from((i, d)))
                .collect())
        })
        .await
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
        let view = self.view(&st)?.clone();
        let hash = self.hash_hex();
        let name = self.audit_name(&st);
        let log = read_log(ctx);
        blocking(move || {
            let catalog = view.catalogs.current(&view.store).map_err(internal)?;
            let Some(plain) = payload_in_clear_with(&view.store, &st.sealer, Some(&catalog), &hash)
            else {
                return Ok(None);
            };
            if private {
                audit_read(log, &name, "decrypted payloads")?;
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
        let view = self.view(&st)?.clone();
        let hash = self.hash_hex();
        let name = self.audit_name(&st);
        let log = read_log(ctx);
        blocking(move || {
            let catalog = view.catalogs.current(&view.store).map_err(internal)?;
            let found = st
                .search
                .snippets_from_store(&search, &hash, &view.store, &st.sealer, Some(&catalog))
                .map_err(internal)?;
            if private && !found.is_empty() {
                audit_read(log, &name, "snippets of decrypted payloads")?;
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

/// How a call or event decoded.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DecodeStatus {
    /// By the contract's ABI.
    Decoded,
    /// The registry has no ABI for the contract (yet).
    UnknownContract,
    /// The ABI has no function with the selector, or no event with the topic.
    UnknownSelector,
    /// The bytes do not decode as the ABI says.
    Malformed,
}

impl From<records::decode::Status> for DecodeStatus {
    fn from(s: records::decode::Status) -> Self {
        use records::decode::Status as S;
        match s {
            S::Decoded => DecodeStatus::Decoded,
            S::UnknownContract => DecodeStatus::UnknownContract,
            S::UnknownItem => DecodeStatus::UnknownSelector,
            S::Malformed => DecodeStatus::Malformed,
        }
    }
}

/// A decoded argument or event field.
#[derive(SimpleObject, Debug, Clone)]
pub struct DecodedArg {
    /// Its name in the ABI (may be empty).
    pub name: String,
    /// Its canonical Solidity type.
    #[graphql(name = "type")]
    pub ty: String,
    /// Its value: integers in decimal (exact, any width), addresses and
    /// bytes as lowercase `0x`-hex (a `bytes32` holding text as the text),
    /// strings as they are, arrays and tuples as JSON.
    pub value: String,
    /// Whether it is an indexed event field.
    pub indexed: bool,
}

fn decoded_args(args: Vec<records::decode::DecodedArg>) -> Vec<DecodedArg> {
    args.into_iter()
        .map(|a| DecodedArg {
            value: a.text(),
            name: a.name,
            ty: a.ty,
            indexed: a.indexed,
        })
        .collect()
}

/// A transaction's call, decoded as far as the registry allows.
#[derive(SimpleObject, Debug, Clone)]
pub struct DecodedCall {
    /// The contract called.
    pub contract: String,
    /// The version of its ABI used (null without one).
    pub abi_version: Option<u32>,
    /// How it decoded.
    pub status: DecodeStatus,
    /// The method's name.
    pub method: Option<String>,
    /// Its canonical signature.
    pub signature: Option<String>,
    /// The arguments, in order.
    pub args: Vec<DecodedArg>,
    /// Why it did not decode.
    pub error: Option<String>,
}

impl From<records::decode::Decoded> for DecodedCall {
    fn from(d: records::decode::Decoded) -> Self {
        Self {
            contract: d.contract,
            abi_version: d.abi_version,
            status: d.status.into(),
            method: d.name,
            signature: d.signature,
            args: decoded_args(d.args),
            error: d.error,
        }
    }
}

/// One event of a transaction's receipt, decoded as far as the registry
/// allows.
#[derive(SimpleObject, Debug, Clone)]
pub struct DecodedEvent {
    /// Its position among the receipt's logs.
    pub log_index: usize,
    /// The contract that emitted it.
    pub contract: String,
    /// The version of its ABI used (null without one).
    pub abi_version: Option<u32>,
    /// How it decoded.
    pub status: DecodeStatus,
    /// The event's name.
    pub name: Option<String>,
    /// Its canonical signature.
    pub signature: Option<String>,
    /// The fields, in the order the ABI declares them.
    pub args: Vec<DecodedArg>,
    /// Why it did not decode.
    pub error: Option<String>,
}

impl From<(usize, records::decode::Decoded)> for DecodedEvent {
    fn from((log_index, d): (usize, records::decode::Decoded)) -> Self {
        Self {
            log_index,
            contract: d.contract,
            abi_version: d.abi_version,
            status: d.status.into(),
            name: d.name,
            signature: d.signature,
            args: decoded_args(d.args),
            error: d.error,
        }
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
pub struct BlockNode(pub(crate) Block, pub(crate) u8);

impl BlockNode {
    /// Block `block` of chain number `chain`.
    pub(crate) fn new(block: Block, chain: u8) -> Self {
        Self(block, chain)
    }
}

#[Object(name = "Block")]
impl BlockNode {
    /// The chain it is on (its id in this node).
    async fn chain(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(state(ctx)?.chains.numbered(self.1)?.id.clone())
    }

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
        let view = state(ctx)?.chains.numbered(self.1)?.clone();
        let height = self.0.header.number;
        let time_ms = self.0.header.timestamp;
        blocking(move || {
            let txs = view.store.transactions_at(height).map_err(internal)?;
            Ok(txs
                .into_iter()
                .map(|stored| Transaction {
                    stored,
                    time_ms,
                    chain: view.number,
                })
                .collect())
        })
        .await
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

/// Transaction `hash` of chain `store`.
pub(crate) fn load_transaction(store: &Store, hash: &Hash) -> Result<Option<Transaction>> {
    let Some(stored) = store.transaction(hash).map_err(internal)? else {
        return Ok(None);
    };
    let time_ms = store
        .block(stored.height)
        .map_err(internal)?
        .map_or(0, |b| b.header.timestamp);
    Ok(Some(Transaction {
        stored,
        time_ms,
        chain: store.chain_number(),
    }))
}

/// Transaction `hash` of the chain `chain` names, else of the first chain
/// that holds it.
pub(crate) fn find_transaction(
    chains: &Chains,
    chain: Option<&str>,
    hash: &Hash,
) -> Result<Option<Transaction>> {
    if chain.is_some() {
        return load_transaction(&chains.named(chain)?.store, hash);
    }
    for c in chains.all() {
        if let Some(t) = load_transaction(&c.store, hash)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
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
            filter: filter.to_filter_in(&st.chains, &st.store)?,
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
            let view = st.chains.numbered(hit.chain)?;
            let stored = stored_for_hit(&view.store, &hit.tx_hash)?;
            if audit_matches && stored.class != Class::NotEnvelope.as_str() {
                match &log {
                    Some(log) => log.matched(st.chains.audit_name(hit.chain, &hit.tx_hash)),
                    None => {
                        return Err(internal("a plaintext search outside an audited request"));
                    }
                }
            }
            let tx = Transaction {
                stored,
                time_ms: hit.time_ms,
                chain: hit.chain,
            };
            conn.edges.push(Edge::new(hit.cursor, tx));
        }
        Ok(conn)
    })
    .await
}
