//! The index schema: one document per transaction, and the analyzers that
//! read its text.
//!
//! - `exact` fields (hashes, addresses, ids, codes) are one lowercased token
//!   each, so `0xAB…` and `0xab…` find the same transaction; most are also
//!   fast columns for filters, sorting and aggregations.
//! - `memo` and `text` go through [`TEXT_ANALYZER`]: jieba word segmentation
//!   (search mode, so 跨境汇款 is indexed as 跨境, 汇款 and the whole word),
//!   lowercasing and English stemming (`payments` finds `payment`).
//! - Nothing of the decrypted payload is *stored* in the index: hits carry
//!   their position and hash, and snippets are made from the record the
//!   store keeps sealed at rest. The terms themselves are in the index, so
//!   its directory must be protected like the store's.

use records::TxDoc;
use tantivy::{DateTime, TantivyDocument};

use crate::jieba::JiebaTokenizer;
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, NumericOptions,
    STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RawTokenizer, RemoveLongFilter, Stemmer, TextAnalyzer, TokenizerManager,
};

/// The analyzer of memo and payload text.
pub const TEXT_ANALYZER: &str = "lookthrough_text";
/// The analyzer of exact fields: the whole value, lowercased.
pub const EXACT_ANALYZER: &str = "lookthrough_exact";

/// The version of the schema and its analyzers; an index of another version
/// must be rebuilt. 2: jieba with the finance lexicon. 3: decoded calls and
/// events (`contract`, `call`, `event`, `arg`, `abi`, `decode`), no `rule`.
/// 4: several chains (`chain`, `group`; `seq` holds the chain's number).
pub const SCHEMA_VERSION: u32 = 4;

/// Longest `bytes` argument kept as an `arg` term, in bytes (a word: hashes,
/// `bytes32` references); longer ones are left out of `arg`.
pub const MAX_ARG_BYTES: usize = 32;

/// Longest `name=value` term of a decoded argument kept, in bytes (a longer
/// value is cut at a character boundary).
pub const MAX_ARG_TERM_BYTES: usize = 256;

/// The fields of the schema, by name.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The chain's id (lowercased, as every exact field).
    pub chain: Field,
    /// The chain's group.
    pub group: Field,
    /// Transaction hash, `0x` + lowercase hex (stored: hits return it).
    pub tx_hash: Field,
    /// Block hash.
    pub block_hash: Field,
    /// Block height.
    pub height: Field,
    /// Index in the block.
    pub index: Field,
    /// [`records::seq_in`]: chain number and order.
    pub seq: Field,
    /// The block's position in the store's merged log: what a search pins
    /// (documents indexed after its first page are past the position it
    /// saw).
    pub pos: Field,
    /// Block time (ms precision).
    pub time: Field,
    /// The verified sender.
    pub from: Field,
    /// The contract called.
    pub to: Field,
    /// Every party: sender, contract, and the payload's payer and payee
    /// (account and organisation id). Multi-valued.
    pub party: Field,
    /// The payload's paying party (account, else id).
    pub payer: Field,
    /// The payload's receiving party (account, else id).
    pub payee: Field,
    /// Node id of the sealer that proposed the block.
    pub sealer: Field,
    /// The 4-byte function selector of the call, `0x` + hex.
    pub method: Field,
    /// The payload's business scenario.
    pub scenario: Field,
    /// The payload's action.
    pub action: Field,
    /// The payload's business reference (invoice, remittance number, …).
    pub reference: Field,
    /// Amount in hundredths of the currency unit.
    pub amount: Field,
    /// ISO 4217 currency code.
    pub currency: Field,
    /// `public` (plaintext payload) or `private` (an envelope).
    pub privacy: Field,
    /// The envelope class in the store (`opened`, `not-for-us`, …;
    /// `not-envelope` for public payloads).
    pub status: Field,
    /// Every contract of the transaction: the one called and those whose
    /// events its receipt holds. Multi-valued.
    pub contract: Field,
    /// The decoded method's name (`pay`).
    pub call: Field,
    /// The decoded events' names. Multi-valued.
    pub event: Field,
    /// Each decoded argument and event field as `name=value` (the value as
    /// [`records::decode::DecodedArg::text`] prints it), but `bytes` longer
    /// than [`MAX_ARG_BYTES`]. Multi-valued.
    pub arg: Field,
    /// `contract@version` (or `contract@none`, with the mappings' digest) of
    /// each contract decoded: what re-decoding looks for when an ABI or a
    /// mapping changes. Multi-valued.
    pub abi: Field,
    /// How the call and events decoded (`decoded`, `unknown-contract`,
    /// `unknown-selector`, `malformed`). Multi-valued.
    pub decode: Field,
    /// The payload's memo.
    pub memo: Field,
    /// Every text value of the payload.
    pub text: Field,
}

impl Fields {
    /// Field names accepted in `field:value` queries and filters.
    pub const QUERYABLE: [&'static str; 27] = [
        "chain",
        "group",
        "tx_hash",
        "block_hash",
        "height",
        "time",
        "from",
        "to",
        "party",
        "payer",
        "payee",
        "sealer",
        "method",
        "scenario",
        "action",
        "reference",
        "amount",
        "currency",
        "privacy",
        "status",
        "memo",
        "contract",
        "call",
        "event",
        "arg",
        "abi",
        "decode",
    ];
}

/// The tantivy document of a transaction in the clear.
pub fn to_document(d: &TxDoc, f: &Fields) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.chain, &d.chain_id);
    doc.add_text(f.group, &d.group);
    doc.add_text(f.tx_hash, &d.tx_hash);
    doc.add_text(f.block_hash, &d.block_hash);
    doc.add_i64(f.height, d.height);
    doc.add_u64(f.index, u64::from(d.index));
    doc.add_u64(f.seq, d.seq());
    doc.add_i64(f.pos, d.position);
    doc.add_date(f.time, DateTime::from_timestamp_millis(d.time_ms));
    if let Some(from) = &d.from {
        doc.add_text(f.from, from);
    }
    doc.add_text(f.to, &d.to);
    for p in d.parties() {
        doc.add_text(f.party, p);
    }
    let b = &d.business;
    if let Some(p) = b.payer.key() {
        doc.add_text(f.payer, p);
    }
    if let Some(p) = b.payee.key() {
        doc.add_text(f.payee, p);
    }
    if let Some(s) = &d.sealer {
        doc.add_text(f.sealer, s);
    }
    if let Some(m) = &d.method {
        doc.add_text(f.method, m);
    }
    for (field, value) in [
        (f.scenario, &b.scenario),
        (f.action, &b.action),
        (f.reference, &b.reference),
        (f.currency, &b.currency),
        (f.memo, &b.memo),
    ] {
        if let Some(v) = value {
            doc.add_text(field, v);
        }
    }
    if let Some(a) = b.amount {
        doc.add_i64(f.amount, a.hundredths());
    }
    doc.add_text(f.privacy, d.privacy());
    doc.add_text(f.status, &d.status);
    if !d.text.is_empty() {
        doc.add_text(f.text, &d.text);
    }
    add_decoded(&mut doc, d, f);
    doc
}

/// The decoded call and events: contracts, names, `name=value` terms, the
/// ABI tags and statuses (each value once), and the string arguments in the
/// full text (with the payload's text, at most `MAX_TEXT_BYTES`).
fn add_decoded(doc: &mut TantivyDocument, d: &TxDoc, f: &Fields) {
    use std::collections::BTreeSet;
    let decoded = d.call.iter().chain(&d.events);
    let mut contracts = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    let mut events = BTreeSet::new();
    let mut args = BTreeSet::new();
    // String arguments share the full text's bound with the payload's.
    let mut text_room = records::doc::MAX_TEXT_BYTES.saturating_sub(d.text.len());
    for x in decoded {
        contracts.insert(x.contract.as_str());
        tags.insert(x.tag.as_str());
        statuses.insert(x.status.as_str());
        for a in &x.args {
            // Bytes longer than a word (an envelope, a blob) are no value
            // anyone searches by; their long unique terms cost the term
            // dictionary most of its building and merging.
            if let abi::Value::Bytes(h) = &a.value
                && h.len() > 2 + 2 * MAX_ARG_BYTES
            {
                continue;
            }
            let mut term = format!("{}={}", a.name, a.text());
            if term.len() > MAX_ARG_TERM_BYTES {
                let mut end = MAX_ARG_TERM_BYTES;
                while !term.is_char_boundary(end) {
                    end -= 1;
                }
                term.truncate(end);
            }
            args.insert(term);
            if let abi::Value::String(s) = &a.value
                && !s.is_empty()
                && text_room > 0
            {
                let mut end = s.len().min(text_room);
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                doc.add_text(f.text, &s[..end]);
                text_room -= end;
            }
        }
    }
    for e in &d.events {
        if let Some(n) = &e.name {
            events.insert(n.as_str());
        }
    }
    if let Some(n) = d.call.as_ref().and_then(|c| c.name.as_deref()) {
        doc.add_text(f.call, n);
    }
    for c in contracts {
        doc.add_text(f.contract, c);
    }
    for t in tags {
        doc.add_text(f.abi, t);
    }
    for s in statuses {
        doc.add_text(f.decode, s);
    }
    for e in events {
        doc.add_text(f.event, e);
    }
    for a in &args {
        doc.add_text(f.arg, a);
    }
}

/// Builds the schema and its fields.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let exact = |fast: bool, stored: bool| {
        let mut o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(EXACT_ANALYZER)
                .set_index_option(IndexRecordOption::Basic),
        );
        if fast {
            o = o.set_fast("raw");
        }
        if stored {
            o = o.set_stored();
        }
        o
    };
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TEXT_ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let chain = b.add_text_field("chain", exact(true, false));
    let group = b.add_text_field("group", exact(true, false));
    let tx_hash = b.add_text_field("tx_hash", exact(false, true));
    let block_hash = b.add_text_field("block_hash", exact(false, false));
    let height = b.add_i64_field(
        "height",
        NumericOptions::default() | INDEXED | FAST | STORED,
    );
    let index = b.add_u64_field("index", NumericOptions::default() | FAST | STORED);
    let seq = b.add_u64_field("seq", NumericOptions::default() | INDEXED | FAST);
    let pos = b.add_i64_field("pos", NumericOptions::default() | INDEXED | FAST | STORED);
    let time = b.add_date_field(
        "time",
        DateOptions::from(INDEXED | FAST | STORED).set_precision(DateTimePrecision::Milliseconds),
    );
    let from = b.add_text_field("from", exact(true, false));
    let to = b.add_text_field("to", exact(true, false));
    let party = b.add_text_field("party", exact(true, false));
    let payer = b.add_text_field("payer", exact(true, false));
    let payee = b.add_text_field("payee", exact(true, false));
    let sealer = b.add_text_field("sealer", exact(false, false));
    let method = b.add_text_field("method", exact(true, false));
    let scenario = b.add_text_field("scenario", exact(true, false));
    let action = b.add_text_field("action", exact(true, false));
    let reference = b.add_text_field("reference", exact(false, false));
    let amount = b.add_i64_field("amount", NumericOptions::default() | INDEXED | FAST);
    let currency = b.add_text_field("currency", exact(true, false));
    let privacy = b.add_text_field("privacy", exact(true, false));
    let status = b.add_text_field("status", exact(true, false));
    let contract = b.add_text_field("contract", exact(true, false));
    let call = b.add_text_field("call", exact(true, false));
    let event = b.add_text_field("event", exact(true, false));
    let arg = b.add_text_field("arg", exact(false, false));
    let abi = b.add_text_field("abi", exact(false, false));
    let decode = b.add_text_field("decode", exact(true, false));
    let memo = b.add_text_field("memo", text.clone());
    let text = b.add_text_field("text", text);
    let fields = Fields {
        chain,
        group,
        tx_hash,
        block_hash,
        height,
        index,
        seq,
        pos,
        time,
        from,
        to,
        party,
        payer,
        payee,
        sealer,
        method,
        scenario,
        action,
        reference,
        amount,
        currency,
        privacy,
        status,
        contract,
        call,
        event,
        arg,
        abi,
        decode,
        memo,
        text,
    };
    (b.build(), fields)
}

/// Registers the analyzers on an index's tokenizer manager.
pub fn register(tokenizers: &TokenizerManager) {
    tokenizers.register(TEXT_ANALYZER, text_analyzer());
    tokenizers.register(
        EXACT_ANALYZER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
}

/// jieba (search mode) → drop tokens over 64 bytes → lowercase → English
/// stems. The stemmer leaves Chinese words as they are.
pub fn text_analyzer() -> TextAnalyzer {
    analyzer(JiebaTokenizer::search_mode())
}

/// The analyzers for parsing queries: as [`register`]'s, but the text
/// fields cut queries with jieba's default mode, which gives each word once
/// (跨境汇款) where search mode adds the words inside it (跨境, 汇款) at
/// overlapping positions. A document holding the whole word was indexed in
/// search mode with the words inside it too, so the single term finds the
/// same documents as a phrase of all of them, without reading positions.
pub fn query_tokenizers() -> TokenizerManager {
    let tokenizers = TokenizerManager::default();
    register(&tokenizers);
    tokenizers.register(TEXT_ANALYZER, analyzer(JiebaTokenizer::default_mode()));
    tokenizers
}

fn analyzer(jieba: JiebaTokenizer) -> TextAnalyzer {
    TextAnalyzer::builder(jieba)
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::TokenStream;

    fn tokens(text: &str) -> Vec<String> {
        let mut a = text_analyzer();
        let mut s = a.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push(s.token().text.clone());
        }
        out
    }

    #[test]
    fn arguments_are_terms_but_bytes_longer_than_a_word() {
        use records::decode::{Decoded, DecodedArg, Status};
        let arg = |name: &str, ty: &str, value: abi::Value| DecodedArg {
            name: name.into(),
            ty: ty.into(),
            value,
            indexed: false,
        };
        let word = format!("0x{}", "ab".repeat(MAX_ARG_BYTES));
        let blob = format!("0x{}", "cd".repeat(MAX_ARG_BYTES + 1));
        let d = TxDoc {
            call: Some(Decoded {
                contract: "0x00000000000000000000000000000000000000cc".into(),
                abi_version: Some(1),
                status: Status::Decoded,
                name: Some("pay".into()),
                signature: Some("pay(bytes,bytes,uint256)".into()),
                args: vec![
                    arg("ref", "bytes", abi::Value::Bytes(word.clone())),
                    arg("record", "bytes", abi::Value::Bytes(blob)),
                    arg("amount", "uint256", abi::Value::Uint("125".into())),
                ],
                error: None,
                tag: "0x00000000000000000000000000000000000000cc@1".into(),
            }),
            ..TxDoc::default()
        };
        let (_, f) = build();
        let doc = to_document(&d, &f);
        let mut terms: Vec<String> = doc
            .get_all(f.arg)
            .filter_map(|v| tantivy::schema::Value::as_str(&v).map(str::to_string))
            .collect();
        terms.sort();
        assert_eq!(terms, vec!["amount=125".to_string(), format!("ref={word}")]);
    }

    #[test]
    fn chinese_is_cut_into_words_and_english_is_stemmed() {
        let t = tokens("跨境汇款 Payments for INVOICES");
        assert!(t.contains(&"汇款".to_string()), "{t:?}");
        assert!(t.contains(&"跨境".to_string()), "{t:?}");
        assert!(t.contains(&"payment".to_string()), "{t:?}");
        assert!(t.contains(&"invoic".to_string()), "{t:?}");
        // 银行 is one word: 行 alone is not a token of it.
        let t = tokens("中国工商银行");
        assert!(t.contains(&"银行".to_string()), "{t:?}");
        assert!(!t.contains(&"行".to_string()), "{t:?}");
    }
}
