//! The search API over hand-made documents: Chinese words, English stems,
//! exact lookups, ranges, odd input, and cursors that stay stable while
//! documents arrive.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use indexer::index::{Checkpoint, TxIndex};
use indexer::schema::SCHEMA_VERSION;
use indexer::search::{Filter, Range, Search, SearchError, SearchRequest, Sort, SortBy};
use records::TxDoc;
use records::{Business, Money, Party};
use tantivy::IndexWriter;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn doc(height: i64, index: u32, memo: &str) -> TxDoc {
    let n = height * 1000 + i64::from(index);
    TxDoc {
        // One chain: a block's position in the merged log is its height.
        position: height,
        tx_hash: format!("0x{n:064x}"),
        block_hash: format!("0x{:064x}", height + 7),
        height,
        index,
        time_ms: T0 + height * 3_600_000,
        from: Some(format!("0x{:040x}", 0xa000 + n % 3)),
        to: "0x00000000000000000000000000000000000000cc".into(),
        sealer: None,
        method: Some("0x12345678".into()),
        status: if n % 2 == 0 { "opened" } else { "not-envelope" }.into(),
        business: Business {
            scenario: Some("trade-settlement".into()),
            action: Some("pay-invoice".into()),
            reference: Some(format!("INV-{n}")),
            payer: Party {
                account: Some(format!("0x{:040x}", 0xb000 + n % 4)),
                id: Some(format!("org-{}", n % 4)),
            },
            payee: Party {
                account: None,
                id: Some(format!("org-{}", (n + 1) % 4)),
            },
            amount: Some(Money::from_hundredths((n * 7919) % 1_000_000)),
            currency: Some(if n % 3 == 0 { "USD" } else { "CNY" }.into()),
            memo: Some(memo.into()),
        },
        text: memo.into(),
        ..TxDoc::default()
    }
}

struct Fixture {
    index: Arc<TxIndex>,
    writer: IndexWriter,
    docs: Vec<TxDoc>,
}

impl Fixture {
    fn new() -> Self {
        let index = Arc::new(TxIndex::in_memory().unwrap());
        let writer = index.writer(1, 20_000_000).unwrap();
        Self {
            index,
            writer,
            docs: Vec::new(),
        }
    }

    fn add(&mut self, docs: Vec<TxDoc>) {
        for d in docs {
            self.writer
                .add_document(indexer::schema::to_document(&d, self.index.fields()))
                .unwrap();
            self.docs.push(d);
        }
        let last = self.docs.last().unwrap();
        let cp = Checkpoint {
            version: SCHEMA_VERSION,
            height: last.height,
            block_hash: last.block_hash.clone(),
            docs: self.docs.len() as u64,
        };
        self.index.commit(&mut self.writer, &cp).unwrap();
    }

    fn search(&self) -> Search {
        Search::new(self.index.clone())
    }
}

fn hashes(s: &Search, query: &str) -> BTreeSet<String> {
    let page = s
        .search(&SearchRequest {
            query: Some(query.into()),
            first: 100,
            ..Default::default()
        })
        .unwrap();
    page.hits.into_iter().map(|h| h.tx_hash).collect()
}

fn hash_of(d: &TxDoc) -> String {
    d.tx_hash.clone()
}

#[test]
fn chinese_words_are_found_inside_longer_words_but_not_by_single_characters() {
    let mut f = Fixture::new();
    f.add(vec![
        doc(1, 0, "跨境汇款 to HK supplier"),
        doc(1, 1, "工商银行 代付货款"),
        doc(1, 2, "进行结算 settlement"),
        doc(1, 3, "汇款"),
        doc(1, 4, "应收账款转让 AR-2026-00012"),
    ]);
    let s = f.search();
    let d = f.docs.clone();
    assert_eq!(
        hashes(&s, "汇款"),
        BTreeSet::from([hash_of(&d[0]), hash_of(&d[3])])
    );
    // 银行 is found where it is a word, and 行 alone (in 进行) is not 银行.
    assert_eq!(hashes(&s, "银行"), BTreeSet::from([hash_of(&d[1])]));
    assert!(!hashes(&s, "行").contains(&hash_of(&d[1])));
    assert_eq!(hashes(&s, "应收账款"), BTreeSet::from([hash_of(&d[4])]));
    assert_eq!(hashes(&s, "货款"), BTreeSet::from([hash_of(&d[1])]));
    // Words are ANDed.
    assert_eq!(
        hashes(&s, "跨境 supplier"),
        BTreeSet::from([hash_of(&d[0])])
    );
    assert!(hashes(&s, "跨境 settlement").is_empty());
}

#[test]
fn a_word_jieba_cuts_in_two_is_found_only_where_its_parts_are_adjacent() {
    // 航运保险 is not in jieba's dictionary or the lexicon: the query is the
    // phrase 航运 保险, checked against positions after its words narrow
    // the documents down.
    let mut f = Fixture::new();
    f.add(vec![
        doc(1, 0, "航运保险 premium"),
        doc(1, 1, "保险 for 航运 lines"),
        doc(1, 2, "航运保险"),
        doc(1, 3, "保险"),
    ]);
    let s = f.search();
    let d = f.docs.clone();
    let want = BTreeSet::from([hash_of(&d[0]), hash_of(&d[2])]);
    assert_eq!(hashes(&s, "航运保险"), want);
    assert_eq!(hashes(&s, "\"航运保险\""), want);
    assert_eq!(hashes(&s, "text:航运保险"), want);
    assert_eq!(
        s.count(Some("航运保险 premium"), &Filter::default())
            .unwrap(),
        1
    );
    // A lexicon word is one term, and its parts still find it.
    f.add(vec![doc(2, 0, "跨境汇款手续费")]);
    let s = f.search();
    let d = f.docs.clone();
    assert_eq!(hashes(&s, "跨境汇款"), BTreeSet::from([hash_of(&d[4])]));
    assert_eq!(hashes(&s, "汇款"), BTreeSet::from([hash_of(&d[4])]));
    assert_eq!(hashes(&s, "手续费"), BTreeSet::from([hash_of(&d[4])]));
}

#[test]
fn words_in_the_memo_rank_first() {
    let mut f = Fixture::new();
    let mut in_text = doc(1, 0, "货款 paid");
    in_text.business.memo = Some("monthly statement".into());
    in_text.text = "monthly statement\nfreight invoice 货款 paid".into();
    let in_memo = doc(1, 1, "freight invoice");
    f.add(vec![in_text, in_memo]);
    let s = f.search();
    let page = s
        .search(&SearchRequest {
            query: Some("freight".into()),
            sort: Sort {
                by: SortBy::Relevance,
                descending: true,
            },
            first: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.hits[0].tx_hash, f.docs[1].tx_hash, "{page:?}");
    assert!(page.hits[0].score > page.hits[1].score);
}

#[test]
fn english_is_found_by_stem_and_any_case() {
    let mut f = Fixture::new();
    f.add(vec![
        doc(1, 0, "Payments for INVOICES of March"),
        doc(1, 1, "paying the invoice"),
        doc(1, 2, "container freight"),
    ]);
    let s = f.search();
    let d = f.docs.clone();
    assert_eq!(hashes(&s, "payment"), BTreeSet::from([hash_of(&d[0])]));
    assert_eq!(
        hashes(&s, "Invoice"),
        BTreeSet::from([hash_of(&d[0]), hash_of(&d[1])])
    );
    assert_eq!(hashes(&s, "FREIGHTS"), BTreeSet::from([hash_of(&d[2])]));
    // Power-user syntax: a field and a phrase.
    assert_eq!(
        hashes(&s, "memo:\"container freight\""),
        BTreeSet::from([hash_of(&d[2])])
    );
}

#[test]
fn hashes_and_addresses_are_found_exactly_in_any_case() {
    let mut f = Fixture::new();
    f.add(
        (0..30)
            .map(|i| doc(2 + i / 10, (i % 10) as u32, "x"))
            .collect(),
    );
    let s = f.search();
    let target = &f.docs[17];
    let upper = target.tx_hash.to_uppercase().replacen("0X", "0x", 1);
    assert_eq!(hashes(&s, &upper), BTreeSet::from([target.tx_hash.clone()]));
    assert_eq!(
        hashes(&s, &format!("tx_hash:{}", target.tx_hash)),
        BTreeSet::from([target.tx_hash.clone()])
    );
    // A block hash finds the block's transactions.
    let block: BTreeSet<String> = f
        .docs
        .iter()
        .filter(|d| d.block_hash == target.block_hash)
        .map(hash_of)
        .collect();
    assert_eq!(hashes(&s, &target.block_hash), block);
    // A party filter on the payer's account.
    let payer = target.business.payer.account.clone().unwrap();
    let page = s
        .search(&SearchRequest {
            filter: Filter {
                party: Some(payer.to_uppercase().replacen("0X", "0x", 1)),
                ..Default::default()
            },
            first: 100,
            ..Default::default()
        })
        .unwrap();
    let want = f
        .docs
        .iter()
        .filter(|d| d.business.payer.account.as_deref() == Some(&payer))
        .count();
    assert_eq!(page.total as usize, want);
    assert_eq!(page.hits.len(), want);
}

type Predicate = Box<dyn Fn(&TxDoc) -> bool>;

#[test]
fn ranges_and_filters_match_a_scan_of_the_documents() {
    let mut f = Fixture::new();
    f.add(
        (0..200)
            .map(|i| doc(i / 10, (i % 10) as u32, "货款"))
            .collect(),
    );
    let s = f.search();
    let cases: Vec<(Filter, Predicate)> = vec![
        (
            Filter {
                amount: Range::new(Some(100_000), Some(500_000)),
                ..Default::default()
            },
            Box::new(|d: &TxDoc| {
                (100_000..=500_000).contains(&d.business.amount.unwrap().hundredths())
            }),
        ),
        (
            Filter {
                time_ms: Range::new(Some(T0 + 3_600_000 * 5), Some(T0 + 3_600_000 * 9)),
                ..Default::default()
            },
            Box::new(|d: &TxDoc| (5..=9).contains(&d.height)),
        ),
        (
            Filter {
                height: Range::new(Some(12), None),
                currency: Some("usd".into()),
                ..Default::default()
            },
            Box::new(|d: &TxDoc| d.height >= 12 && d.business.currency.as_deref() == Some("USD")),
        ),
        (
            Filter {
                privacy: Some("public".into()),
                amount: Range::new(None, Some(300_000)),
                ..Default::default()
            },
            Box::new(|d: &TxDoc| {
                d.status == "not-envelope" && d.business.amount.unwrap().hundredths() <= 300_000
            }),
        ),
    ];
    for (filter, pred) in cases {
        let want: BTreeSet<String> = f.docs.iter().filter(|d| pred(d)).map(hash_of).collect();
        assert!(!want.is_empty());
        let page = s
            .search(&SearchRequest {
                query: Some("货款".into()),
                filter: filter.clone(),
                first: 500,
                ..Default::default()
            })
            .unwrap();
        let got: BTreeSet<String> = page.hits.into_iter().map(|h| h.tx_hash).collect();
        assert_eq!(got, want, "{filter:?}");
        assert_eq!(page.total as usize, want.len());
        assert_eq!(s.count(Some("货款"), &filter).unwrap() as usize, want.len());
    }
    let bad = s.search(&SearchRequest {
        filter: Filter {
            amount: Range::new(Some(5), Some(1)),
            ..Default::default()
        },
        first: 10,
        ..Default::default()
    });
    assert!(matches!(
        bad,
        Err(SearchError::BadFilter {
            field: "amountRange",
            ..
        })
    ));
}

#[test]
fn odd_queries_never_fail_and_bad_cursors_are_named() {
    let mut f = Fixture::new();
    f.add(vec![doc(1, 0, "跨境汇款"), doc(1, 1, "payment")]);
    let s = f.search();
    for q in [
        "",
        "   ",
        "(((",
        ")",
        "AND",
        "OR OR",
        "memo:",
        "\"unclosed",
        "*",
        "amount:[x TO y]",
        "height:>",
        "nosuchfield:value",
        "汇款 AND",
        "+-!^~",
        "\\",
        "0x",
        "'; DROP TABLE tx; --",
        "memo:汇款~5",
        "a\u{0}b",
        "😀",
    ] {
        let page = s.search(&SearchRequest {
            query: Some(q.into()),
            first: 10,
            ..Default::default()
        });
        assert!(page.is_ok(), "{q:?}: {page:?}");
    }
    // Broken syntax falls back to the words, with a warning.
    let page = s
        .search(&SearchRequest {
            query: Some("跨境汇款 (".into()),
            first: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.hits.len(), 1);
    assert!(!page.warnings.is_empty());
    let long = "汇".repeat(1_001);
    assert!(matches!(
        s.search(&SearchRequest {
            query: Some(long),
            first: 10,
            ..Default::default()
        }),
        Err(SearchError::QueryTooLong(1_001))
    ));
    for cursor in ["", "garbage", "eyJ4IjoxfQ"] {
        let r = s.search(&SearchRequest {
            after: Some(cursor.into()),
            first: 10,
            ..Default::default()
        });
        assert!(matches!(r, Err(SearchError::BadCursor(_))), "{cursor:?}");
    }
    // A cursor of one sort is refused for another.
    let page = s
        .search(&SearchRequest {
            sort: Sort {
                by: SortBy::Amount,
                descending: true,
            },
            first: 1,
            ..Default::default()
        })
        .unwrap();
    let r = s.search(&SearchRequest {
        after: Some(page.hits[0].cursor.clone()),
        first: 1,
        ..Default::default()
    });
    assert!(matches!(r, Err(SearchError::BadCursor(_))));
}

/// The documents matching `pred` in the order of `sort`.
fn expected_order(docs: &[TxDoc], sort: Sort, pred: &dyn Fn(&TxDoc) -> bool) -> Vec<String> {
    let mut v: Vec<&TxDoc> = docs.iter().filter(|d| pred(d)).collect();
    let key = |d: &TxDoc| -> (i64, i64, u32) {
        let k = match sort.by {
            SortBy::Time => d.time_ms,
            SortBy::Amount => d.business.amount.map_or(i64::MIN, Money::hundredths),
            SortBy::Chain | SortBy::Relevance => 0,
        };
        (k, d.height, d.index)
    };
    v.sort_by_key(|d| key(d));
    if sort.descending {
        v.reverse();
    }
    v.into_iter().map(hash_of).collect()
}

#[test]
fn cursors_are_stable_while_documents_arrive() {
    for by in [
        SortBy::Chain,
        SortBy::Time,
        SortBy::Amount,
        SortBy::Relevance,
    ] {
        for descending in [true, false] {
            let mut f = Fixture::new();
            f.add(
                (0..120)
                    .map(|i| doc(i / 10, (i % 10) as u32, "货款 goods"))
                    .collect(),
            );
            let s = f.search();
            let sort = Sort { by, descending };
            let filter = Filter {
                currency: Some("CNY".into()),
                ..Default::default()
            };
            let before = f.docs.clone();
            let mut seen = Vec::new();
            let mut after = None;
            let mut totals = BTreeSet::new();
            let mut next_height = 12;
            loop {
                let page = s
                    .search(&SearchRequest {
                        query: Some("货款".into()),
                        filter: filter.clone(),
                        sort,
                        first: 7,
                        after: after.clone(),
                    })
                    .unwrap();
                totals.insert(page.total);
                seen.extend(page.hits.iter().map(|h| h.tx_hash.clone()));
                // New blocks arrive between pages, some sorting before and
                // some after the cursor.
                f.add((0..10).map(|i| doc(next_height, i, "货款 goods")).collect());
                next_height += 1;
                if !page.has_next {
                    break;
                }
                after = Some(page.hits.last().unwrap().cursor.clone());
            }
            let pred = |d: &TxDoc| d.business.currency.as_deref() == Some("CNY");
            let want = if by == SortBy::Relevance {
                // Equal scores: newest first, as a set and in chain order.
                expected_order(
                    &before,
                    Sort {
                        by: SortBy::Chain,
                        descending: true,
                    },
                    &pred,
                )
            } else {
                expected_order(&before, sort, &pred)
            };
            assert_eq!(seen, want, "{sort:?}");
            assert_eq!(totals, BTreeSet::from([want.len() as u64]), "{sort:?}");
        }
    }
}

#[test]
fn snippets_highlight_the_matched_words() {
    let mut f = Fixture::new();
    f.add(vec![doc(1, 0, "跨境汇款 to HK supplier")]);
    let s = f.search();
    let payload = r#"{"memo":"跨境汇款 to HK <supplier>","amount":"1.00"}"#;
    let snippets = s.snippets("汇款 supplier", payload.as_bytes()).unwrap();
    let memo = snippets.iter().find(|s| s.field == "memo").unwrap();
    let html = memo.to_html();
    assert!(html.contains("<b>汇款</b>"), "{html}");
    // The chain's `<` is escaped; the fragment ends at the last word.
    assert!(html.contains("&lt;<b>supplier</b>"), "{html}");
    assert!(!html.contains("<supplier"), "{html}");
}

#[test]
fn snippets_of_long_text_cut_fragments_between_words() {
    let mut f = Fixture::new();
    f.add(vec![doc(1, 0, "跨境汇款")]);
    let s = f.search();
    // Lexicon words (one token, with tokens for their parts) at every
    // distance from the fragment limit.
    for pad in 140..170 {
        let memo = format!("{} 跨境汇款 应收账款 跨境汇款", "付".repeat(pad));
        let payload = serde_json::json!({ "memo": memo }).to_string();
        for q in ["跨境汇款", "汇款", "应收账款 汇款"] {
            let snippets = s.snippets(q, payload.as_bytes()).unwrap();
            let memo = snippets.iter().find(|s| s.field == "memo").unwrap();
            assert!(memo.to_html().contains("汇款</b>"), "{pad} {q}: {memo:?}");
            for r in &memo.highlighted {
                assert!(r.end <= memo.fragment.len(), "{pad} {q}: {memo:?}");
            }
        }
    }
}

#[test]
fn a_day_is_a_beijing_day() {
    let mut f = Fixture::new();
    // 15:59 and 16:01 UTC fall on two Beijing days.
    let mut a = doc(1, 0, "x");
    a.time_ms = T0 + 15 * 3_600_000 + 59 * 60_000;
    let mut b = doc(1, 1, "x");
    b.time_ms = T0 + 16 * 3_600_000 + 60_000;
    let mut c = doc(2, 0, "x");
    c.time_ms = T0 + 3 * DAY;
    f.add(vec![a.clone(), b.clone(), c.clone()]);
    let s = f.search();
    let h = s
        .histogram(
            None,
            &Filter::default(),
            indexer::search::Interval::Day,
            480,
        )
        .unwrap();
    let counts: Vec<(i64, u64)> = h.iter().map(|b| (b.start_ms, b.count)).collect();
    let bj_midnight = T0 - 8 * 3_600_000;
    assert_eq!(
        counts,
        vec![
            (bj_midnight, 1),
            (bj_midnight + DAY, 1),
            (bj_midnight + 2 * DAY, 0),
            (bj_midnight + 3 * DAY, 1),
        ]
    );
    assert_eq!(h[0].amount, a.business.amount.unwrap().hundredths());
}
