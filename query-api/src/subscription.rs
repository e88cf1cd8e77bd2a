//! Subscriptions (graphql-ws and the older graphql-transport-ws
//! protocols, at `/graphql` over WebSocket):
//!
//! - `blocks(fromHeight)`: every block from the next one on (or from
//!   `fromHeight`, so a client that reconnects misses nothing), as it is
//!   verified and stored (the store's change feed), none skipped;
//! - `transactions(search, filter, fromHeight)`: every transaction from the
//!   next searchable block on (or from `fromHeight`) that matches, in chain
//!   order, with the same meaning and role rules as the `transactions`
//!   query.
//!
//! Decrypted payloads are not sent on subscriptions: a subscriber gets
//! hashes and metadata and fetches a payload with the `transaction` query,
//! where the read is audited (as webhooks carry thin payloads). Private
//! transactions a plaintext filter matched are audited as they are sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::futures_util::stream::{self, Stream};
use async_graphql::{Context, Result, Subscription};
use indexer::search::{MAX_PAGE, Range, SearchRequest, Sort, SortBy};
use privacy::envelope::Class;

use crate::audit::{Actor, Reads};
use crate::auth::Principal;
use crate::context::{ApiState, blocking, caller, state};
use crate::error::{bad_input, internal, search_error};
use crate::model::{BlockNode, Transaction, TransactionFilter, restrict_to_role, stored_for_hit};
use records::time::now_ms;

/// How often a `transactions` subscription looks for newly searchable
/// blocks (the index commits every 500 ms by default).
const INDEX_POLL: Duration = Duration::from_millis(100);

/// The subscriptions.
#[derive(Default)]
pub struct CoreSubscription;

#[Subscription]
impl CoreSubscription {
    /// Blocks as they are verified and stored, from the next one on, or
    /// from `fromHeight` (stored ones first).
    async fn blocks(
        &self,
        ctx: &Context<'_>,
        from_height: Option<i64>,
        #[graphql(desc = "The chain (the first when not given).")] chain: Option<String>,
    ) -> Result<impl Stream<Item = Result<BlockNode>>> {
        caller(ctx)?;
        let st = state(ctx)?.chains.named(chain.as_deref())?.clone();
        let rx = st.store.subscribe();
        let next = match from_height {
            Some(h) if h < 0 => return Err(bad_input("fromHeight must not be negative")),
            Some(h) => h,
            None => rx.borrow().map_or(0, |h| h + 1),
        };
        Ok(stream::unfold(
            (st, rx, next),
            |(st, mut rx, next)| async move {
                loop {
                    let head = *rx.borrow_and_update();
                    if head.is_some_and(|h| h >= next) {
                        let reader = st.clone();
                        let block =
                            blocking(move || reader.store.block(next).map_err(internal)).await;
                        let item = match block {
                            Ok(Some(b)) => Ok(BlockNode::new(b, st.number)),
                            Ok(None) => Err(internal(format!(
                                "block {next} is below the checkpoint but not stored"
                            ))),
                            Err(e) => Err(e),
                        };
                        return Some((item, (st, rx, next + 1)));
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            },
        ))
    }

    /// Transactions as their blocks become searchable, from the next block
    /// on (or from `fromHeight`: a position of the node's merged log of
    /// every chain, which is the height when the node follows one chain),
    /// that match `search` and `filter` (as in the `transactions` query),
    /// batch by batch as they become searchable, each batch in chain order.
    /// Payloads are fetched with the `transaction` query.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        filter: Option<TransactionFilter>,
        from_height: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Transaction>>> {
        if from_height.is_some_and(|h| h < 0) {
            return Err(bad_input("fromHeight must not be negative"));
        }
        let who = caller(ctx)?.clone();
        let st = state(ctx)?.clone();
        let mut filter = filter.unwrap_or_default();
        if filter.rule_hit.is_some() {
            return Err(bad_input(
                "ruleHit is not available on subscriptions (a rule may list a transaction after it was sent); subscribe to alerts instead",
            ));
        }
        let has_search = search.as_deref().is_some_and(|s| !s.trim().is_empty());
        let (_, audit_matches) = restrict_to_role(who.role, has_search, &mut filter)?;
        let follow = Follow {
            st: st.clone(),
            who,
            query: search.filter(|s| !s.trim().is_empty()),
            filter: filter.to_filter_in(&st.chains, &st.store)?,
            audit_matches,
            last: match from_height {
                Some(h) => h - 1,
                None => st
                    .search
                    .index()
                    .visible_checkpoint()
                    .map_or(-1, |c| c.height),
            },
            pending: VecDeque::new(),
        };
        Ok(stream::unfold(follow, |mut f| async move {
            let mut tick = tokio::time::interval(INDEX_POLL);
            loop {
                if let Some(tx) = f.pending.pop_front() {
                    return Some((Ok(tx), f));
                }
                tick.tick().await;
                let visible =
                    f.st.search
                        .index()
                        .visible_checkpoint()
                        .map_or(-1, |c| c.height);
                if visible <= f.last {
                    continue;
                }
                let (from, to) = (f.last + 1, visible);
                f.last = visible;
                let job = f.job(from, to);
                match blocking(move || job.run()).await {
                    Ok(txs) => f.pending.extend(txs),
                    Err(e) => return Some((Err(e), f)),
                }
            }
        }))
    }
}

/// A `transactions` subscription's state.
struct Follow {
    st: Arc<ApiState>,
    who: Principal,
    query: Option<String>,
    filter: indexer::search::Filter,
    audit_matches: bool,
    /// The last height sent.
    last: i64,
    pending: VecDeque<Transaction>,
}

impl Follow {
    fn job(&self, from: i64, to: i64) -> Job {
        Job {
            st: self.st.clone(),
            who: self.who.clone(),
            query: self.query.clone(),
            filter: self.filter.clone(),
            audit_matches: self.audit_matches,
            from,
            to,
        }
    }
}

/// One batch of newly searchable heights, run on the blocking pool.
struct Job {
    st: Arc<ApiState>,
    who: Principal,
    query: Option<String>,
    filter: indexer::search::Filter,
    audit_matches: bool,
    from: i64,
    to: i64,
}

impl Job {
    /// Every match in heights `from..=to` (within the filter's own height
    /// range), in chain order; private ones matched by plaintext are
    /// audited before they are sent.
    fn run(self) -> Result<Vec<Transaction>> {
        let mut filter = self.filter.clone();
        if self.from > self.to {
            return Ok(Vec::new());
        }
        filter.position = Range::new(Some(self.from), Some(self.to));
        let mut req = SearchRequest {
            query: self.query.clone(),
            filter,
            sort: Sort {
                by: SortBy::Chain,
                descending: false,
            },
            first: MAX_PAGE,
            after: None,
        };
        let mut out = Vec::new();
        let mut matched = Vec::new();
        loop {
            let page = self.st.search.search(&req).map_err(search_error)?;
            for hit in &page.hits {
                let view = self.st.chains.numbered(hit.chain)?;
                let stored = stored_for_hit(&view.store, &hit.tx_hash)?;
                if self.audit_matches && stored.class != Class::NotEnvelope.as_str() {
                    matched.push(self.st.chains.audit_name(hit.chain, &hit.tx_hash));
                }
                out.push(Transaction {
                    stored,
                    time_ms: hit.time_ms,
                    chain: hit.chain,
                });
            }
            match (page.has_next, page.hits.last()) {
                (true, Some(last)) => req.after = Some(last.cursor.clone()),
                _ => break,
            }
        }
        if !matched.is_empty() {
            let actor = Actor::from(&self.who);
            let variables = serde_json::json!({
                "search": self.query,
                "filter": self.filter,
                "heights": [self.from, self.to],
            });
            self.st
                .audit
                .append(
                    actor,
                    now_ms(),
                    Some("subscription transactions".into()),
                    "subscription { transactions(search, filter) }",
                    variables,
                    Reads {
                        read: Vec::new(),
                        matched,
                        aggregated: false,
                    },
                )
                .map_err(internal)?;
        }
        Ok(out)
    }
}
