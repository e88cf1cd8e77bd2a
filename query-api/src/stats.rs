//! Aggregates, computed by the index's aggregation collector and exact:
//! `stats` (volume per hour or day, top counterparties, counts per class,
//! status and currency) and `account(address)` (its transactions,
//! counterparties with volumes, first and last seen).
//!
//! Amounts and payload parties come from decrypted payloads, so for roles
//! that may not read plaintext those aggregates cover public transactions
//! only (and say so in `warnings`); counts per class and status are
//! metadata and cover everything.

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use indexer::search::{
    Filter, Interval as IxInterval, SearchRequest, Sort, SortBy, TermField, TermOrder,
};

use crate::auth::Role;
use crate::context::{blocking, caller, read_log, state};
use crate::error::{internal, search_error};
use crate::model::{
    EnvelopeStatus, PrivacyClass, TransactionConnection, TransactionFilter, TransactionOrder,
    amount_text, restrict_to_role, transaction_page,
};
use records::time::format_ms;

/// Beijing, in minutes east of UTC: days start at midnight there.
const BEIJING_MINUTES: i32 = 8 * 60;
/// Most buckets of a top list.
const MAX_TOP: i32 = 1_000;

/// Histogram bucket width.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Interval {
    /// One hour.
    Hour,
    /// One Beijing day.
    Day,
}

/// What a top list is ordered by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RankBy {
    /// Most transactions first.
    Count,
    /// Largest sum of amounts first.
    Amount,
}

/// Which party a top list groups by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PartyRole {
    /// Payer or payee or sender or contract.
    Any,
    /// Payer.
    Payer,
    /// Payee.
    Payee,
    /// Sender (from the signature).
    Sender,
    /// Contract called.
    Contract,
}

/// Transactions in an hour or a day.
#[derive(SimpleObject, Debug, Clone)]
pub struct VolumeBucket {
    /// Start (RFC 3339, Beijing time).
    pub start: String,
    /// Transactions.
    pub count: u64,
    /// Sum of their amounts, a decimal string (all currencies together:
    /// filter by currency for a meaningful sum).
    pub amount: String,
}

/// A value and how often it occurs.
#[derive(SimpleObject, Debug, Clone)]
pub struct TermCount {
    /// The value (an address, party id, currency, …).
    pub key: String,
    /// Transactions with it.
    pub count: u64,
    /// Sum of their amounts, a decimal string.
    pub amount: String,
}

/// A top list.
#[derive(SimpleObject, Debug, Clone)]
pub struct TopList {
    /// The values, in order.
    pub buckets: Vec<TermCount>,
    /// Transactions with a value outside the list.
    pub other_count: u64,
    /// Upper bound of the error of any count (0: exact).
    pub error_bound: u64,
}

/// Transactions of one privacy class.
#[derive(SimpleObject, Debug, Clone)]
pub struct ClassCount {
    /// The class.
    pub class: PrivacyClass,
    /// Transactions.
    pub count: u64,
}

/// Transactions of one envelope status.
#[derive(SimpleObject, Debug, Clone)]
pub struct EnvelopeStatusCount {
    /// The status.
    pub status: EnvelopeStatus,
    /// Transactions.
    pub count: u64,
}

/// A search and filter with the role's restrictions: `all` for metadata
/// aggregates (counts per class and status), `plain` for those over
/// payload contents (amounts, payload parties); `None` when the role may
/// see none of those.
#[derive(Clone, Debug)]
struct Scope {
    query: Option<String>,
    all: Filter,
    plain: Option<Filter>,
    warnings: Vec<String>,
}

impl Scope {
    fn new(
        role: Role,
        chains: &crate::context::Chains,
        store: &store::Store,
        search: Option<String>,
        mut filter: TransactionFilter,
    ) -> Result<Self> {
        let query = search.filter(|s| !s.trim().is_empty());
        let (warning, _) = restrict_to_role(role, query.is_some(), &mut filter)?;
        let all = filter.to_filter_in(chains, store)?;
        let mut warnings: Vec<String> = warning.into_iter().collect();
        let plain = if role.reads_plaintext() {
            Some(all.clone())
        } else {
            warnings.push(format!(
                "the {role} role's amount sums and party lists cover public transactions only"
            ));
            if filter.privacy_class == Some(PrivacyClass::Private) {
                None
            } else {
                filter.privacy_class = Some(PrivacyClass::Public);
                Some(filter.to_filter_in(chains, store)?)
            }
        };
        Ok(Self {
            query,
            all,
            plain,
            warnings,
        })
    }
}

/// Notes for the audit log that aggregates over decrypted fields were
/// returned (roles that read plaintext; others see public ones only).
fn note_aggregate(ctx: &Context<'_>) -> Result<()> {
    if caller(ctx)?.role.reads_plaintext() {
        match read_log(ctx) {
            Some(log) => log.aggregated(),
            None => return Err(internal("an aggregate read outside an audited request")),
        }
    }
    Ok(())
}

fn top_k(first: Option<i32>) -> Result<usize> {
    match first.unwrap_or(10) {
        n if (1..=MAX_TOP).contains(&n) => Ok(n as usize),
        _ => Err(crate::error::bad_input(format!(
            "first must be 1 to {MAX_TOP}"
        ))),
    }
}

async fn volume(ctx: &Context<'_>, scope: &Scope, interval: Interval) -> Result<Vec<VolumeBucket>> {
    note_aggregate(ctx)?;
    let st = state(ctx)?.clone();
    let scope = scope.clone();
    blocking(move || {
        let width = match interval {
            Interval::Hour => IxInterval::Hour,
            Interval::Day => IxInterval::Day,
        };
        let Some(plain) = &scope.plain else {
            return Ok(Vec::new());
        };
        Ok(st
            .search
            .histogram(scope.query.as_deref(), plain, width, BEIJING_MINUTES)
            .map_err(search_error)?
            .into_iter()
            .map(|b| VolumeBucket {
                start: format_ms(b.start_ms),
                count: b.count,
                amount: amount_text(b.amount),
            })
            .collect())
    })
    .await
}

fn rank(order: RankBy) -> TermOrder {
    match order {
        RankBy::Count => TermOrder::Count,
        RankBy::Amount => TermOrder::Amount,
    }
}

/// The top `k` values of `fields` (counts and amounts summed over the
/// fields), without `exclude`.
async fn top(
    ctx: &Context<'_>,
    scope: &Scope,
    fields: &'static [TermField],
    k: usize,
    by: RankBy,
    exclude: Option<String>,
) -> Result<TopList> {
    note_aggregate(ctx)?;
    let st = state(ctx)?.clone();
    let scope = scope.clone();
    blocking(move || {
        let Some(plain) = &scope.plain else {
            return Ok(TopList {
                buckets: Vec::new(),
                other_count: 0,
                error_bound: 0,
            });
        };
        // With one field the index ranks; with several every value is
        // fetched (up to MAX_TOP per field) so the sums are exact.
        let ask = if fields.len() == 1 {
            k + usize::from(exclude.is_some())
        } else {
            MAX_TOP as usize
        };
        let mut merged: std::collections::BTreeMap<String, (u64, i64)> = Default::default();
        let (mut other, mut error) = (0u64, 0u64);
        for field in fields {
            let t = st
                .search
                .top_terms(scope.query.as_deref(), plain, *field, ask, rank(by))
                .map_err(search_error)?;
            other = other.saturating_add(t.other_count);
            error = error.saturating_add(t.error_bound);
            for b in t.buckets {
                let e = merged.entry(b.key).or_default();
                e.0 = e.0.saturating_add(b.count);
                // Amounts come from chain data: a sum past 64 bits is
                // refused, not wrapped.
                e.1 = e.1.checked_add(b.amount).ok_or_else(|| {
                    crate::error::ErrorCode::Internal
                        .error("the amounts of this aggregation overflow 64 bits")
                })?;
            }
        }
        if let Some(x) = &exclude {
            merged.remove(x);
        }
        let mut list: Vec<(String, (u64, i64))> = merged.into_iter().collect();
        list.sort_by(|a, b| match by {
            RankBy::Count => b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)),
            RankBy::Amount => b.1.1.cmp(&a.1.1).then_with(|| a.0.cmp(&b.0)),
        });
        let rest: u64 = list.iter().skip(k).map(|(_, (c, _))| c).sum();
        list.truncate(k);
        Ok(TopList {
            buckets: list
                .into_iter()
                .map(|(key, (count, amount))| TermCount {
                    key,
                    count,
                    amount: amount_text(amount),
                })
                .collect(),
            other_count: other + rest,
            error_bound: error,
        })
    })
    .await
}

/// Aggregates over a search.
pub struct Stats {
    scope: Scope,
}

impl Stats {
    pub(crate) async fn new(
        ctx: &Context<'_>,
        search: Option<String>,
        filter: TransactionFilter,
    ) -> Result<Self> {
        let role = caller(ctx)?.role;
        let st = state(ctx)?.clone();
        // `ruleHit` reads the rule's links from the store: off the async workers.
        let scope =
            blocking(move || Scope::new(role, &st.chains, &st.store, search, filter)).await?;
        Ok(Self { scope })
    }
}

#[Object]
impl Stats {
    /// Matching transactions.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let st = state(ctx)?.clone();
        let scope = self.scope.clone();
        blocking(move || {
            st.search
                .count(scope.query.as_deref(), &scope.all)
                .map_err(search_error)
        })
        .await
    }

    /// The height the index covers.
    async fn indexed_height(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        Ok(state(ctx)?
            .search
            .index()
            .visible_checkpoint()
            .map(|c| c.height))
    }

    /// What the caller's role left out.
    async fn warnings(&self) -> &[String] {
        &self.scope.warnings
    }

    /// Transactions and amounts per hour or Beijing day (empty buckets
    /// between the first and the last included).
    async fn volume(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Interval::Day")] interval: Interval,
    ) -> Result<Vec<VolumeBucket>> {
        volume(ctx, &self.scope, interval).await
    }

    /// The most frequent (or largest by amount) parties.
    async fn top_parties(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "PartyRole::Any")] role: PartyRole,
        #[graphql(default_with = "RankBy::Count")] by: RankBy,
        first: Option<i32>,
    ) -> Result<TopList> {
        let fields: &'static [TermField] = match role {
            PartyRole::Any => &[TermField::Party],
            PartyRole::Payer => &[TermField::Payer],
            PartyRole::Payee => &[TermField::Payee],
            PartyRole::Sender => &[TermField::From],
            PartyRole::Contract => &[TermField::To],
        };
        top(ctx, &self.scope, fields, top_k(first)?, by, None).await
    }

    /// Transactions and amounts per currency.
    async fn currencies(&self, ctx: &Context<'_>) -> Result<TopList> {
        top(
            ctx,
            &self.scope,
            &[TermField::Currency],
            MAX_TOP as usize,
            RankBy::Count,
            None,
        )
        .await
    }

    /// Transactions per privacy class.
    async fn privacy_classes(&self, ctx: &Context<'_>) -> Result<Vec<ClassCount>> {
        let st = state(ctx)?.clone();
        let scope = self.scope.clone();
        blocking(move || {
            let counts = st
                .search
                .counts_by(scope.query.as_deref(), &scope.all, TermField::Privacy)
                .map_err(search_error)?;
            Ok(counts
                .into_iter()
                .filter_map(|(k, count)| {
                    let class = match k.as_str() {
                        "public" => PrivacyClass::Public,
                        "private" => PrivacyClass::Private,
                        _ => return None,
                    };
                    Some(ClassCount { class, count })
                })
                .collect())
        })
        .await
    }

    /// Transactions per envelope status: the supervision findings about
    /// envelopes (not wrapped for the regulator, inconsistent, malformed,
    /// wrong key) are counted here.
    async fn envelope_statuses(&self, ctx: &Context<'_>) -> Result<Vec<EnvelopeStatusCount>> {
        let st = state(ctx)?.clone();
        let scope = self.scope.clone();
        blocking(move || {
            let counts = st
                .search
                .counts_by(scope.query.as_deref(), &scope.all, TermField::Status)
                .map_err(search_error)?;
            let mut out = Vec::new();
            for (k, count) in counts {
                let status = EnvelopeStatus::of(&k)
                    .ok_or_else(|| internal(format!("unknown indexed status {k:?}")))?;
                out.push(EnvelopeStatusCount { status, count });
            }
            Ok(out)
        })
        .await
    }

    /// Blocks refused by verification (findings), over every chain.
    async fn findings(&self, ctx: &Context<'_>) -> Result<i64> {
        let st = state(ctx)?.clone();
        blocking(move || {
            let mut n = 0i64;
            for c in st.chains.all() {
                n = n.saturating_add(c.store.finding_count().map_err(internal)?);
            }
            Ok(n)
        })
        .await
    }
}

/// An account: an address, or a business party's id or account number.
pub struct Account {
    pub(crate) address: String,
}

impl Account {
    fn filter(&self) -> TransactionFilter {
        TransactionFilter {
            party: Some(self.address.clone()),
            ..Default::default()
        }
    }

    fn scope(&self, ctx: &Context<'_>) -> Result<Scope> {
        Scope::new(
            caller(ctx)?.role,
            &state(ctx)?.chains,
            &state(ctx)?.store,
            None,
            self.filter(),
        )
    }

    /// The oldest or newest transaction's time.
    async fn seen(&self, ctx: &Context<'_>, newest: bool) -> Result<Option<String>> {
        note_aggregate(ctx)?;
        let st = state(ctx)?.clone();
        let scope = self.scope(ctx)?;
        blocking(move || {
            let Some(plain) = scope.plain else {
                return Ok(None);
            };
            let page = st
                .search
                .search(&SearchRequest {
                    query: None,
                    filter: plain,
                    sort: Sort {
                        by: SortBy::Chain,
                        descending: newest,
                    },
                    first: 1,
                    after: None,
                })
                .map_err(search_error)?;
            Ok(page.hits.first().map(|h| format_ms(h.time_ms)))
        })
        .await
    }
}

#[Object]
impl Account {
    /// The address or id, as asked.
    async fn address(&self) -> &str {
        &self.address
    }

    /// Its transactions (as sender, contract, payer or payee).
    async fn transaction_count(&self, ctx: &Context<'_>) -> Result<u64> {
        note_aggregate(ctx)?;
        let st = state(ctx)?.clone();
        let scope = self.scope(ctx)?;
        blocking(move || match &scope.plain {
            Some(plain) => st.search.count(None, plain).map_err(search_error),
            None => Ok(0),
        })
        .await
    }

    /// Its first transaction's time.
    async fn first_seen(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.seen(ctx, false).await
    }

    /// Its last transaction's time.
    async fn last_seen(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        self.seen(ctx, true).await
    }

    /// What the caller's role left out.
    async fn warnings(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(self.scope(ctx)?.warnings)
    }

    /// The newest alerts whose firing match involved it (at most `first`,
    /// default 50). Which alerts touch a party comes from decrypted
    /// fields: analysts and admins only.
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> Result<Vec<crate::alerts::AlertNode>> {
        crate::context::require(ctx, Role::reads_plaintext, "an account's alerts")?;
        let first = crate::paging::page_size(first)?;
        let st = state(ctx)?.clone();
        let party = self.address.clone();
        blocking(move || {
            let ids = policies::family::party_alerts(&st.store, &party, first).map_err(internal)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(a) = policies::family::alert(&st.store, id).map_err(internal)? {
                    out.push(crate::alerts::AlertNode(a));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Its transactions, a page at a time (chain order, newest first,
    /// unless `order` says otherwise).
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        order: Option<TransactionOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TransactionConnection> {
        transaction_page(ctx, None, Some(self.filter()), order, first, after).await
    }

    /// The payers and payees it deals with most (by count or amount), with
    /// volumes.
    async fn counterparties(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "RankBy::Count")] by: RankBy,
        first: Option<i32>,
    ) -> Result<TopList> {
        let scope = self.scope(ctx)?;
        top(
            ctx,
            &scope,
            &[TermField::Payer, TermField::Payee],
            top_k(first)?,
            by,
            Some(self.address.to_lowercase()),
        )
        .await
    }

    /// Its transactions and amounts per hour or Beijing day.
    async fn volume(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Interval::Day")] interval: Interval,
    ) -> Result<Vec<VolumeBucket>> {
        let scope = self.scope(ctx)?;
        volume(ctx, &scope, interval).await
    }
}
