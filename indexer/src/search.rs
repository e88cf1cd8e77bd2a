//! Search as a library: a user-typed query, filters, a sort, cursor
//! pagination that stays stable while documents arrive, highlighted
//! snippets, and aggregations. The GraphQL layer and the CLI call this.
//!
//! - Queries are read leniently: any input gives a query (odd syntax is
//!   reported as warnings, never as an error), and tantivy's syntax works for
//!   those who know it (`memo:汇款 AND currency:CNY`, `amount:[100000 TO *]`).
//!   Words are ANDed by default.
//! - Cursors carry the sort key and chain position of the last hit and the
//!   height the first page saw: later pages continue strictly after the
//!   cursor and never include documents indexed since, so pages neither
//!   repeat nor skip. Relevance pages also reuse the searcher of the first
//!   page while it is kept (`PIN_TTL`), so scores do not drift.

use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
#[cfg(feature = "store")]
use privacy::at_rest::RecordSealer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
#[cfg(feature = "store")]
use store::Store;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector, AggregationLimitsGuard};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, QueryParser,
    RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value as _};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{
    DateTime, DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument,
    Term,
};

use crate::index::TxIndex;
use crate::schema::Fields;
use records::doc::read_payload;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000;
/// Largest page.
pub const MAX_PAGE: usize = 500;
/// How long the searcher of a relevance-sorted first page is kept for its
/// cursors.
pub const PIN_TTL: Duration = Duration::from_secs(300);
const MAX_PINNED: usize = 64;
/// The characters of tantivy's query syntax.
const QUERY_SYNTAX: &str = "+-&|!(){}[]^\"~*?:\\/<>=";

/// A search that cannot be run, in words the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query is longer than [`MAX_QUERY_CHARS`].
    #[error("query is {0} characters long; at most {MAX_QUERY_CHARS} are allowed")]
    QueryTooLong(usize),
    /// The cursor was not made by this search.
    #[error("invalid cursor: {0}")]
    BadCursor(String),
    /// A filter value is unusable.
    #[error("invalid filter {field}: {detail}")]
    BadFilter {
        /// The filter.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The index failed.
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// An aggregation failed.
    #[error("aggregation: {0}")]
    Aggregation(String),
}

/// An inclusive range; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range<T> {
    /// Lowest value, inclusive.
    pub min: Option<T>,
    /// Highest value, inclusive.
    pub max: Option<T>,
}

impl<T> Range<T> {
    /// `[min, max]`.
    pub fn new(min: Option<T>, max: Option<T>) -> Self {
        Self { min, max }
    }

    /// Whether neither end is given.
    pub fn is_empty(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }
}

/// Filters; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only these chains (ids); `None`: every chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chains: Option<Vec<String>>,
    /// Block time, ms since the epoch.
    pub time_ms: Range<i64>,
    /// Block height.
    pub height: Range<i64>,
    /// The block's position in the store's merged log (the height with
    /// one chain): what a follower of newly searchable blocks asks for.
    #[serde(default, skip_serializing_if = "Range::is_empty")]
    pub position: Range<i64>,
    /// Amount, hundredths.
    pub amount: Range<i64>,
    /// Any party (sender, contract, payer, payee; account or id).
    pub party: Option<String>,
    /// Sender.
    pub from: Option<String>,
    /// Contract.
    pub to: Option<String>,
    /// Payer (account or id).
    pub payer: Option<String>,
    /// Payee (account or id).
    pub payee: Option<String>,
    /// Currency code.
    pub currency: Option<String>,
    /// `public` or `private`.
    pub privacy: Option<String>,
    /// Envelope status (store class).
    pub status: Option<String>,
    /// Only these transactions (hashes, `0x` hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Vec<String>>,
    /// Only these transactions, by chain position ([`crate::schema::seq`]):
    /// for large sets, as an 8-byte term is found in each segment's term
    /// dictionary far faster than a 66-character hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positions: Option<Vec<u64>>,
    /// Scenario.
    pub scenario: Option<String>,
    /// Action.
    pub action: Option<String>,
    /// A contract of the transaction (called, or emitting one of its
    /// events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// The decoded method's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The name of one of the decoded events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// What to sort by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SortBy {
    /// Best match first (ties: newest first). The default with a query.
    #[default]
    Relevance,
    /// Block time.
    Time,
    /// Chain order (height, then index in the block).
    Chain,
    /// Amount (transactions without one last in descending order).
    Amount,
}

/// A sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    /// The key.
    pub by: SortBy,
    /// Descending (largest, newest first).
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Self {
            by: SortBy::Chain,
            descending: true,
        }
    }
}

/// One search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// The user's query; empty or `None` matches everything.
    pub query: Option<String>,
    /// Filters.
    pub filter: Filter,
    /// Sort; relevance is descending whatever `descending` says.
    pub sort: Sort,
    /// Page size (capped at [`MAX_PAGE`]).
    pub first: usize,
    /// Continue after this cursor.
    pub after: Option<String>,
}

/// One hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The chain's number in the store.
    pub chain: u8,
    /// Transaction hash.
    pub tx_hash: String,
    /// Height.
    pub height: i64,
    /// Index in the block.
    pub index: u32,
    /// Block time, ms.
    pub time_ms: i64,
    /// Relevance score (relevance sort only).
    pub score: Option<f32>,
    /// The cursor that continues after this hit.
    pub cursor: String,
}

/// One page of hits.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The hits, in order.
    pub hits: Vec<Hit>,
    /// Every match (not only this page), as of the first page's height.
    pub total: u64,
    /// Whether more hits follow this page.
    pub has_next: bool,
    /// The height the index covered when the first page was made.
    pub indexed_height: Option<i64>,
    /// What the query parser did not understand (the rest was searched).
    pub warnings: Vec<String>,
}

/// A highlighted fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The field (`memo` or `text`).
    pub field: &'static str,
    /// The fragment of text.
    pub fragment: String,
    /// Byte ranges of `fragment` that matched.
    pub highlighted: Vec<std::ops::Range<usize>>,
}

impl Snippet {
    /// The fragment as HTML, matches in `<b>`, everything escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let mut at = 0;
        for r in &self.highlighted {
            out.push_str(&escape(&self.fragment[at..r.start]));
            out.push_str("<b>");
            out.push_str(&escape(&self.fragment[r.clone()]));
            out.push_str("</b>");
            at = r.end;
        }
        out.push_str(&escape(&self.fragment[at..]));
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Histogram bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// One hour.
    Hour,
    /// One day.
    Day,
}

/// A histogram bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeBucket {
    /// Start of the bucket, ms since the epoch.
    pub start_ms: i64,
    /// Transactions in it.
    pub count: u64,
    /// Sum of their amounts, hundredths (all currencies together: filter
    /// by currency for a meaningful volume).
    pub amount: i64,
}

/// The fields that can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermField {
    /// Payer.
    Payer,
    /// Payee.
    Payee,
    /// Any party.
    Party,
    /// Sender.
    From,
    /// Contract.
    To,
    /// Currency.
    Currency,
    /// Scenario.
    Scenario,
    /// Privacy class.
    Privacy,
    /// Envelope status.
    Status,
    /// The decoded method.
    Call,
}

impl TermField {
    fn name(self) -> &'static str {
        match self {
            TermField::Payer => "payer",
            TermField::Payee => "payee",
            TermField::Party => "party",
            TermField::From => "from",
            TermField::To => "to",
            TermField::Currency => "currency",
            TermField::Scenario => "scenario",
            TermField::Privacy => "privacy",
            TermField::Status => "status",
            TermField::Call => "call",
        }
    }
}

/// Order of term buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermOrder {
    /// Most transactions first.
    Count,
    /// Largest sum of amounts first.
    Amount,
}

/// A term bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermBucket {
    /// The value.
    pub key: String,
    /// Transactions with it.
    pub count: u64,
    /// Sum of their amounts, hundredths.
    pub amount: i64,
}

/// Top terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermsResult {
    /// The buckets, in order.
    pub buckets: Vec<TermBucket>,
    /// Transactions with a value outside the returned buckets.
    pub other_count: u64,
    /// Upper bound of the error of any bucket's count (0: exact).
    pub error_bound: u64,
}

#[derive(Serialize, Deserialize)]
struct CursorData {
    /// Sort.
    s: SortBy,
    /// Descending.
    d: bool,
    /// Sort key of the last hit.
    k: i64,
    /// Its seq.
    q: u64,
    /// Height of the first page (−1: empty index).
    b: i64,
    /// Searcher generation of the first page.
    g: u64,
}

fn encode_cursor(c: &CursorData) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Result<CursorData, SearchError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim())
        .map_err(|_| SearchError::BadCursor("not a cursor this server made".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| SearchError::BadCursor("not a cursor this server made".into()))
}

/// Search over a [`TxIndex`].
pub struct Search {
    index: Arc<TxIndex>,
    query_tokenizers: TokenizerManager,
    pinned: Mutex<VecDeque<(u64, Searcher, Instant)>>,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search").finish_non_exhaustive()
    }
}

impl Search {
    /// Search over `index`.
    pub fn new(index: Arc<TxIndex>) -> Self {
        Self {
            index,
            query_tokenizers: crate::schema::query_tokenizers(),
            pinned: Mutex::new(VecDeque::new()),
        }
    }

    /// The index.
    pub fn index(&self) -> &Arc<TxIndex> {
        &self.index
    }

    fn fields(&self) -> &Fields {
        self.index.fields()
    }

    /// Parses a user query leniently; `None` or blank is every document.
    /// Words are looked up in the full text (which holds the memo) and the
    /// exact fields (hashes, parties, references).
    pub fn parse(&self, query: Option<&str>) -> Result<(Box<dyn Query>, Vec<String>), SearchError> {
        let f = self.fields();
        let (q, warnings) = self.parse_in(
            query,
            vec![f.text, f.tx_hash, f.block_hash, f.party, f.reference],
        )?;
        Ok((prefilter_phrases(q), warnings))
    }

    /// `query` parsed over `fields` (the default fields of bare words).
    fn parse_in(
        &self,
        query: Option<&str>,
        fields: Vec<Field>,
    ) -> Result<(Box<dyn Query>, Vec<String>), SearchError> {
        let q = query.map(str::trim).unwrap_or("");
        let chars = q.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong(chars));
        }
        if q.is_empty() {
            return Ok((Box::new(AllQuery), Vec::new()));
        }
        let mut parser = QueryParser::new(
            self.index.tantivy().schema(),
            fields,
            self.query_tokenizers.clone(),
        );
        parser.set_conjunction_by_default();
        let (query, errors) = parser.parse_query_lenient(q);
        if errors.is_empty() {
            return Ok((query, Vec::new()));
        }
        // Not valid syntax: search for the words alone, as a search box
        // would, and say so.
        let words: String = q
            .chars()
            .map(|c| if QUERY_SYNTAX.contains(c) { ' ' } else { c })
            .collect();
        let mut warnings: Vec<String> = errors.iter().map(ToString::to_string).collect();
        warnings.push(format!("searched for the words: {}", words.trim()));
        let (query, _) = parser.parse_query_lenient(&words);
        Ok((query, warnings))
    }

    /// `matching` scored for relevance, with the memo's score added at
    /// twice its weight: words of the memo rank above the same words
    /// elsewhere in the payload.
    fn with_memo_boost(&self, matching: Box<dyn Query>, query: Option<&str>) -> Box<dyn Query> {
        let Ok((memo, _)) = self.parse_in(query, vec![self.fields().memo]) else {
            return matching;
        };
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, matching),
            (Occur::Should, Box::new(BoostQuery::new(memo, 2.0))),
        ]))
    }

    /// The query of `filter` clauses, without the user query.
    fn filter_clauses(&self, filter: &Filter) -> Result<Vec<Box<dyn Query>>, SearchError> {
        let f = self.fields();
        let mut out: Vec<Box<dyn Query>> = Vec::new();
        let exact = |field: Field, v: &Option<String>, out: &mut Vec<Box<dyn Query>>| {
            if let Some(v) = v {
                out.push(Box::new(TermQuery::new(
                    Term::from_field_text(field, &v.trim().to_lowercase()),
                    IndexRecordOption::Basic,
                )));
            }
        };
        if let Some(chains) = &filter.chains {
            out.push(Box::new(TermSetQuery::new(chains.iter().map(|c| {
                Term::from_field_text(f.chain, &c.trim().to_lowercase())
            }))));
        }
        exact(f.party, &filter.party, &mut out);
        exact(f.from, &filter.from, &mut out);
        exact(f.to, &filter.to, &mut out);
        exact(f.payer, &filter.payer, &mut out);
        exact(f.payee, &filter.payee, &mut out);
        exact(f.currency, &filter.currency, &mut out);
        exact(f.privacy, &filter.privacy, &mut out);
        exact(f.status, &filter.status, &mut out);
        if let Some(hashes) = &filter.hashes {
            out.push(Box::new(TermSetQuery::new(hashes.iter().map(|h| {
                Term::from_field_text(f.tx_hash, &h.trim().to_lowercase())
            }))));
        }
        if let Some(positions) = &filter.positions {
            out.push(Box::new(TermSetQuery::new(
                positions.iter().map(|p| Term::from_field_u64(f.seq, *p)),
            )));
        }
        exact(f.scenario, &filter.scenario, &mut out);
        exact(f.action, &filter.action, &mut out);
        exact(f.contract, &filter.contract, &mut out);
        exact(f.call, &filter.method, &mut out);
        exact(f.event, &filter.event, &mut out);
        let range = |name: &'static str,
                     r: &Range<i64>,
                     term: &dyn Fn(i64) -> Term,
                     out: &mut Vec<Box<dyn Query>>|
         -> Result<(), SearchError> {
            if let (Some(a), Some(b)) = (r.min, r.max)
                && a > b
            {
                return Err(SearchError::BadFilter {
                    field: name,
                    detail: format!("min {a} is above max {b}"),
                });
            }
            if r.min.is_none() && r.max.is_none() {
                return Ok(());
            }
            let lo = r.min.map_or(Bound::Unbounded, |v| Bound::Included(term(v)));
            let hi = r.max.map_or(Bound::Unbounded, |v| Bound::Included(term(v)));
            out.push(Box::new(RangeQuery::new(lo, hi)));
            Ok(())
        };
        range(
            "timeRange",
            &filter.time_ms,
            &|v| Term::from_field_date(f.time, DateTime::from_timestamp_millis(v)),
            &mut out,
        )?;
        range(
            "heightRange",
            &filter.height,
            &|v| Term::from_field_i64(f.height, v),
            &mut out,
        )?;
        range(
            "position",
            &filter.position,
            &|v| Term::from_field_i64(f.pos, v),
            &mut out,
        )?;
        range(
            "amountRange",
            &filter.amount,
            &|v| Term::from_field_i64(f.amount, v),
            &mut out,
        )?;
        Ok(out)
    }

    /// The full query: the user query AND every filter.
    pub fn query(
        &self,
        query: Option<&str>,
        filter: &Filter,
    ) -> Result<(Box<dyn Query>, Vec<String>), SearchError> {
        let (user, warnings) = self.parse(query)?;
        let mut clauses = self.filter_clauses(filter)?;
        if clauses.is_empty() {
            return Ok((user, warnings));
        }
        clauses.push(user);
        Ok((
            Box::new(BooleanQuery::new(
                clauses.into_iter().map(|q| (Occur::Must, q)).collect(),
            )),
            warnings,
        ))
    }

    fn searcher_for(&self, cursor: Option<&CursorData>) -> Searcher {
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        pinned.retain(|(_, _, at)| at.elapsed() < PIN_TTL);
        if let Some(c) = cursor
            && let Some((_, s, _)) = pinned.iter().find(|(g, _, _)| *g == c.g)
        {
            return s.clone();
        }
        self.index.searcher()
    }

    fn pin(&self, searcher: &Searcher) {
        let g = searcher.generation().generation_id();
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = pinned.iter_mut().find(|(id, _, _)| *id == g) {
            e.2 = Instant::now();
            return;
        }
        if pinned.len() >= MAX_PINNED {
            pinned.pop_front();
        }
        pinned.push_back((g, searcher.clone(), Instant::now()));
    }

    /// Runs one search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage, SearchError> {
        let cursor = req.after.as_deref().map(decode_cursor).transpose()?;
        let has_query = req.query.as_deref().is_some_and(|q| !q.trim().is_empty());
        let mut sort = req.sort;
        if sort.by == SortBy::Relevance {
            if has_query {
                sort.descending = true;
            } else {
                // Without a query every score is equal: chain order.
                sort = Sort::default();
            }
        }
        if let Some(c) = &cursor
            && (c.s != sort.by || c.d != sort.descending)
        {
            return Err(SearchError::BadCursor(format!(
                "it was made for another sort ({:?}, descending {})",
                c.s, c.d
            )));
        }
        let (mut query, warnings) = self.query(req.query.as_deref(), &req.filter)?;
        if sort.by == SortBy::Relevance {
            query = self.with_memo_boost(query, req.query.as_deref());
        }
        let searcher = self.searcher_for(cursor.as_ref());
        let bound = match &cursor {
            Some(c) => c.b,
            None => self.index.visible_checkpoint().map_or(-1, |cp| cp.height),
        };
        let generation = searcher.generation().generation_id();
        if cursor.is_none() && sort.by == SortBy::Relevance {
            self.pin(&searcher);
        }
        let limit = req.first.clamp(1, MAX_PAGE);
        let collector = SortCollector {
            by: sort.by,
            descending: sort.descending,
            after: cursor.as_ref().map(|c| (c.k, c.q)),
            max_pos: bound,
            limit: limit + 1,
        };
        let (total, mut top) = searcher.search(&*query, &collector)?;
        let has_next = top.len() > limit;
        top.truncate(limit);
        let f = *self.fields();
        let mut hits = Vec::with_capacity(top.len());
        for e in top {
            let doc: TantivyDocument = searcher.doc(e.address)?;
            let tx_hash = self.index.stored_hash(&doc).unwrap_or_default();
            let height = doc
                .get_first(f.height)
                .and_then(|v| v.as_i64())
                .unwrap_or(-1);
            let index = doc
                .get_first(f.index)
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0);
            let time_ms = doc
                .get_first(f.time)
                .and_then(|v| v.as_datetime())
                .map_or(0, |d| d.into_timestamp_millis());
            let cursor = encode_cursor(&CursorData {
                s: sort.by,
                d: sort.descending,
                k: e.key,
                q: e.seq,
                b: bound,
                g: generation,
            });
            hits.push(Hit {
                chain: records::unseq_in(e.seq).0,
                tx_hash,
                height,
                index,
                time_ms,
                score: (sort.by == SortBy::Relevance).then(|| f32::from_bits(e.key as u32)),
                cursor,
            });
        }
        Ok(SearchPage {
            hits,
            total,
            has_next,
            indexed_height: (bound >= 0).then_some(bound),
            warnings,
        })
    }

    /// The documents with `party` (any case) among their parties (sender,
    /// contract, payer and payee account or id: the `party` field) at merged
    /// positions up to `max_pos`, with their hash and position, in position
    /// order: what a retro-hunt looks up for a new watchlist entry.
    pub fn with_party(&self, party: &str, max_pos: i64) -> Result<Vec<(String, i64)>, SearchError> {
        use tantivy::collector::DocSetCollector;
        let f = *self.fields();
        let term = TermQuery::new(
            Term::from_field_text(f.party, &party.trim().to_lowercase()),
            IndexRecordOption::Basic,
        );
        let upto = RangeQuery::new(
            std::ops::Bound::Unbounded,
            std::ops::Bound::Included(Term::from_field_i64(f.pos, max_pos)),
        );
        let query = BooleanQuery::new(vec![
            (Occur::Must, Box::new(term) as Box<dyn Query>),
            (Occur::Must, Box::new(upto)),
        ]);
        let searcher = self.index.searcher();
        let docs = searcher.search(&query, &DocSetCollector)?;
        let mut out = Vec::with_capacity(docs.len());
        for address in docs {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some(hash) = self.index.stored_hash(&doc) else {
                continue;
            };
            let pos = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .i64("pos")?
                .first(address.doc_id)
                .unwrap_or(-1);
            out.push((hash, pos));
        }
        out.sort_by_key(|(_, p)| *p);
        Ok(out)
    }

    /// Matches of a query and filter.
    pub fn count(&self, query: Option<&str>, filter: &Filter) -> Result<u64, SearchError> {
        let (q, _) = self.query(query, filter)?;
        Ok(self
            .index
            .searcher()
            .search(&*q, &tantivy::collector::Count)? as u64)
    }

    /// Highlighted fragments of `query` in a payload in the clear (the
    /// decrypted record, or a public transaction's payload).
    pub fn snippets(&self, query: &str, payload: &[u8]) -> Result<Vec<Snippet>, SearchError> {
        let f = self.fields();
        let (q, _) = self.parse_in(Some(query), vec![f.memo, f.text])?;
        let searcher = self.index.searcher();
        let (business, text) = read_payload(payload);
        let mut out = Vec::new();
        for (name, field, value) in [
            ("memo", f.memo, business.memo.unwrap_or_default()),
            ("text", f.text, text),
        ] {
            if value.is_empty() {
                continue;
            }
            let mut g = SnippetGenerator::create(&searcher, &*q, field)?;
            g.set_max_num_chars(160);
            let s = g.snippet(&value);
            if !s.highlighted().is_empty() {
                out.push(Snippet {
                    field: name,
                    fragment: s.fragment().to_string(),
                    highlighted: s.highlighted().to_vec(),
                });
            }
        }
        Ok(out)
    }

    #[cfg(feature = "store")]
    /// Snippets for a stored transaction: its payload in the clear is read
    /// from the store (opened records are unsealed with `sealer`).
    pub fn snippets_from_store(
        &self,
        query: &str,
        tx_hash: &str,
        store: &Store,
        sealer: &RecordSealer,
        catalog: Option<&records::decode::Catalog>,
    ) -> Result<Vec<Snippet>, SearchError> {
        let Some(plain) = payload_in_clear_with(store, sealer, catalog, tx_hash) else {
            return Ok(Vec::new());
        };
        self.snippets(query, &plain)
    }

    fn aggregate(&self, query: &dyn Query, aggs: Value) -> Result<Value, SearchError> {
        let aggs: Aggregations =
            serde_json::from_value(aggs).map_err(|e| SearchError::Aggregation(e.to_string()))?;
        let collector = AggregationCollector::from_aggs(
            aggs,
            AggContextParams::new(
                AggregationLimitsGuard::default(),
                self.index.tantivy().tokenizers().clone(),
            ),
        );
        let res = self.index.searcher().search(query, &collector)?;
        serde_json::to_value(res).map_err(|e| SearchError::Aggregation(e.to_string()))
    }

    /// Transactions and their amounts per hour or day; days start at
    /// midnight in the time zone `utc_offset_minutes` east of UTC (480 for
    /// Beijing). Empty buckets between the first and the last are included.
    pub fn histogram(
        &self,
        query: Option<&str>,
        filter: &Filter,
        interval: Interval,
        utc_offset_minutes: i32,
    ) -> Result<Vec<VolumeBucket>, SearchError> {
        let (q, _) = self.query(query, filter)?;
        let width = match interval {
            Interval::Hour => "1h",
            Interval::Day => "1d",
        };
        let offset = format!("{}m", -i64::from(utc_offset_minutes));
        let offset = if offset.starts_with('-') {
            offset
        } else {
            format!("+{offset}")
        };
        let v = self.aggregate(
            &*q,
            json!({"h": {
                "date_histogram": {"field": "time", "fixed_interval": width, "offset": offset,
                                   "min_doc_count": 0},
                "aggs": {"amount": {"sum": {"field": "amount"}}}
            }}),
        )?;
        let mut out = Vec::new();
        for b in v["h"]["buckets"].as_array().into_iter().flatten() {
            out.push(VolumeBucket {
                start_ms: b["key"].as_f64().unwrap_or(0.0) as i64,
                count: b["doc_count"].as_u64().unwrap_or(0),
                amount: b["amount"]["value"].as_f64().unwrap_or(0.0).round() as i64,
            });
        }
        Ok(out)
    }

    /// The `k` most frequent (or largest by amount) values of `field`
    /// among the matches, with counts and amount sums. Exact while a
    /// segment holds at most `max(k, 10000)` distinct values; `error_bound`
    /// says otherwise.
    pub fn top_terms(
        &self,
        query: Option<&str>,
        filter: &Filter,
        field: TermField,
        k: usize,
        order: TermOrder,
    ) -> Result<TermsResult, SearchError> {
        let (q, _) = self.query(query, filter)?;
        let k = k.clamp(1, 1_000);
        let order = match order {
            TermOrder::Count => json!({"_count": "desc"}),
            TermOrder::Amount => json!({"amount": "desc"}),
        };
        let v = self.aggregate(
            &*q,
            json!({"t": {
                "terms": {"field": field.name(), "size": k, "segment_size": k.max(10_000),
                          "order": order, "show_term_doc_count_error": true},
                "aggs": {"amount": {"sum": {"field": "amount"}}}
            }}),
        )?;
        let t = &v["t"];
        let buckets = t["buckets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| TermBucket {
                key: match &b["key"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                count: b["doc_count"].as_u64().unwrap_or(0),
                amount: b["amount"]["value"].as_f64().unwrap_or(0.0).round() as i64,
            })
            .collect();
        Ok(TermsResult {
            buckets,
            other_count: t["sum_other_doc_count"].as_u64().unwrap_or(0),
            error_bound: t["doc_count_error_upper_bound"].as_u64().unwrap_or(0),
        })
    }

    /// Matches per value of `field`: every value, exact (for fields with
    /// few values: privacy, status, currency, scenario).
    pub fn counts_by(
        &self,
        query: Option<&str>,
        filter: &Filter,
        field: TermField,
    ) -> Result<BTreeMap<String, u64>, SearchError> {
        let t = self.top_terms(query, filter, field, 1_000, TermOrder::Count)?;
        Ok(t.buckets.into_iter().map(|b| (b.key, b.count)).collect())
    }
}

#[cfg(feature = "store")]
/// The payload in the clear of a stored transaction: the decrypted record,
/// or a public transaction's payload (its JSON record, found in its call
/// data). `None` if there is none to read.
pub fn payload_in_clear(
    store: &Store,
    sealer: &RecordSealer,
    tx_hash: &str,
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    payload_in_clear_with(store, sealer, None, tx_hash)
}

#[cfg(feature = "store")]
/// [`payload_in_clear`], a public record read from the argument `catalog`'s
/// mapping names when it names one, as the index and the rules read it.
pub fn payload_in_clear_with(
    store: &Store,
    sealer: &RecordSealer,
    catalog: Option<&records::decode::Catalog>,
    tx_hash: &str,
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let hash: [u8; 32] = chain::hexbytes::decode_fixed("tx_hash", tx_hash).ok()?;
    let tx = store.transaction(&hash).ok()??;
    if tx.class == "not-envelope" {
        let named = catalog.and_then(|c| {
            c.decode_call(&tx.tx.to, &tx.tx.input)
                .and_then(|call| c.record_of(&call))
        });
        return Some(zeroize::Zeroizing::new(
            named.unwrap_or_else(|| chain::payload::record(&tx.tx.input).to_vec()),
        ));
    }
    let sealed = store.record(&hash).ok()??;
    sealer.open(&hash, &sealed).ok()
}

/// A collected hit: sort key, chain position, address.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: i64,
    seq: u64,
    address: DocAddress,
    descending: bool,
}

impl Entry {
    /// `Less` when `self` comes before `other` in the result order.
    fn rank(&self, other: &Self) -> std::cmp::Ordering {
        let o = (self.key, self.seq).cmp(&(other.key, other.seq));
        if self.descending { o.reverse() } else { o }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.rank(other).is_eq()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// The max-heap's top is the entry that comes last in the result order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank(other)
    }
}

/// Counts matches at positions up to `max_pos` and keeps the first `limit` of them
/// strictly after `after` in the sort order.
/// Each exact phrase of `q` also requires its words, as clauses of no
/// score. A phrase reads the positions of every document holding all its
/// words; tantivy drives a conjunction from its cheapest clause, so with
/// the words beside it, filters and other words narrow the documents first
/// and positions are read last, for the few left. (A Chinese word that
/// jieba cuts in two, such as 应收账款, is such a phrase.)
fn prefilter_phrases(q: Box<dyn Query>) -> Box<dyn Query> {
    if let Some(b) = q.downcast_ref::<BooleanQuery>() {
        let clauses = b
            .clauses()
            .iter()
            .map(|(occur, c)| (*occur, prefilter_phrases(c.box_clone())))
            .collect();
        let mut out = BooleanQuery::new(clauses);
        out.set_minimum_number_should_match(b.get_minimum_number_should_match());
        return Box::new(out);
    }
    let Some(p) = q.downcast_ref::<PhraseQuery>() else {
        return q;
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = p
        .phrase_terms()
        .into_iter()
        .map(|t| {
            let term: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::Basic));
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(term, 0.0)) as Box<dyn Query>,
            )
        })
        .collect();
    clauses.push((Occur::Must, q));
    Box::new(BooleanQuery::new(clauses))
}

struct SortCollector {
    by: SortBy,
    descending: bool,
    after: Option<(i64, u64)>,
    max_pos: i64,
    limit: usize,
}

enum KeyColumn {
    Score,
    Seq,
    Time(Column<DateTime>),
    Amount(Column<i64>),
}

struct SortSegment {
    segment: SegmentOrdinal,
    seq: Column<u64>,
    key: KeyColumn,
    descending: bool,
    after: Option<(i64, u64)>,
    pos: Column<i64>,
    max_pos: i64,
    limit: usize,
    count: u64,
    heap: BinaryHeap<Entry>,
}

impl Collector for SortCollector {
    type Fruit = (u64, Vec<Entry>);
    type Child = SortSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SortSegment> {
        let ff = reader.fast_fields();
        let key = match self.by {
            SortBy::Relevance => KeyColumn::Score,
            SortBy::Chain => KeyColumn::Seq,
            SortBy::Time => KeyColumn::Time(ff.date("time")?),
            SortBy::Amount => KeyColumn::Amount(ff.i64("amount")?),
        };
        Ok(SortSegment {
            segment,
            seq: ff.u64("seq")?,
            key,
            descending: self.descending,
            after: self.after,
            pos: ff.i64("pos")?,
            max_pos: self.max_pos,
            limit: self.limit,
            count: 0,
            heap: BinaryHeap::with_capacity(self.limit + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.by == SortBy::Relevance
    }

    fn merge_fruits(&self, fruits: Vec<(u64, Vec<Entry>)>) -> tantivy::Result<(u64, Vec<Entry>)> {
        let total = fruits.iter().map(|(n, _)| n).sum();
        let mut all: Vec<Entry> = fruits.into_iter().flat_map(|(_, v)| v).collect();
        all.sort_by(|a, b| a.rank(b));
        all.truncate(self.limit);
        Ok((total, all))
    }
}

impl SegmentCollector for SortSegment {
    type Fruit = (u64, Vec<Entry>);

    fn collect(&mut self, doc: DocId, score: Score) {
        let Some(seq) = self.seq.first(doc) else {
            return;
        };
        if self.pos.first(doc).is_none_or(|p| p > self.max_pos) || self.max_pos < 0 {
            return;
        }
        self.count += 1;
        let key = match &self.key {
            KeyColumn::Score => i64::from(score.max(0.0).to_bits()),
            KeyColumn::Seq => i64::try_from(seq).unwrap_or(i64::MAX),
            KeyColumn::Time(c) => c.first(doc).map_or(i64::MIN, |d| d.into_timestamp_millis()),
            KeyColumn::Amount(c) => c.first(doc).unwrap_or(i64::MIN),
        };
        if let Some(after) = self.after {
            let o = (key, seq).cmp(&after);
            let after_cursor = if self.descending {
                o.is_lt()
            } else {
                o.is_gt()
            };
            if !after_cursor {
                return;
            }
        }
        let e = Entry {
            key,
            seq,
            address: DocAddress::new(self.segment, doc),
            descending: self.descending,
        };
        if self.heap.len() < self.limit {
            self.heap.push(e);
        } else if let Some(worst) = self.heap.peek()
            && e.rank(worst).is_lt()
        {
            self.heap.pop();
            self.heap.push(e);
        }
    }

    fn harvest(self) -> (u64, Vec<Entry>) {
        (self.count, self.heap.into_vec())
    }
}
