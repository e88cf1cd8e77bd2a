//! The readers of outside bytes behind the index: a payload in the clear (the
//! business fields and full text of whatever a transaction carried), an
//! amount string, and a user's query with the search built on it. None may
//! panic; amounts read back exactly; text stays within its bound.
//! Seeds: `fuzz/seeds/index_payload/` (workload payloads and odd queries).

#![no_main]

use std::sync::{Arc, OnceLock};

use indexer::TxIndex;
use indexer::search::{Search, SearchRequest};
use libfuzzer_sys::fuzz_target;
use records::Money;
use records::doc::{MAX_TEXT_BYTES, read_payload};

/// One small in-memory index, built once.
fn search() -> &'static Search {
    static SEARCH: OnceLock<Search> = OnceLock::new();
    SEARCH.get_or_init(|| {
        let index = Arc::new(TxIndex::in_memory().expect("an in-memory index"));
        let mut w = index.writer(1, 15_000_000).expect("a writer");
        for (i, memo) in [
            "跨境汇款 to HK supplier",
            "Payment for invoice INV-2026-0001",
            "应收账款转让",
        ]
        .iter()
        .enumerate()
        {
            let doc = records::TxDoc {
                tx_hash: format!("0x{i:064x}"),
                block_hash: format!("0x{:064x}", 1),
                height: 1,
                index: i as u32,
                time_ms: 1_767_225_600_000,
                to: "0x00000000000000000000000000000000000000cc".into(),
                status: "opened".into(),
                text: memo.to_string(),
                business: records::Business {
                    memo: Some(memo.to_string()),
                    amount: Some(Money::from_hundredths(100 * i as i64)),
                    currency: Some("CNY".into()),
                    ..Default::default()
                },
                ..Default::default()
            };
            w.add_document(indexer::schema::to_document(&doc, index.fields()))
                .expect("add");
        }
        index
            .commit(
                &mut w,
                &indexer::Checkpoint {
                    version: indexer::schema::SCHEMA_VERSION,
                    height: 1,
                    block_hash: format!("0x{:064x}", 1),
                    docs: 3,
                },
            )
            .expect("commit");
        Search::new(index)
    })
}

fuzz_target!(|data: &[u8]| {
    let (business, text) = read_payload(data);
    assert!(text.len() <= MAX_TEXT_BYTES + 1024);
    if let Some(a) = business.amount {
        // An amount read back prints as the same number.
        assert_eq!(Money::parse(&a.to_string()), Some(a));
    }
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Money::parse(q);
    let s = search();
    let page = s.search(&SearchRequest {
        query: Some(q.to_string()),
        first: 5,
        ..Default::default()
    });
    if let Ok(page) = page {
        assert!(page.hits.len() as u64 <= page.total);
        let _ = s.snippets(q, "跨境汇款 payment".as_bytes());
    }
    // Any text as a cursor is refused or accepted, never a panic.
    let _ = s.search(&SearchRequest {
        after: Some(q.to_string()),
        first: 1,
        ..Default::default()
    });
});
