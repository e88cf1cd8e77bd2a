//! One stored transaction in the clear ([`TxDoc`]), as the index and the
//! rules both read it: the verified transaction, its block, its envelope
//! class and its payload (the plaintext of a public transaction, or the
//! decrypted record).
//!
//! Payloads are read as JSON when they are JSON (the business fields the
//! workload and typical FISCO BCOS business contracts use: `scenario`,
//! `action`, `reference`, `from`/`to` parties, `amount`, `currency`,
//! `memo`), and every string in them goes to full text. A payload that is
//! text but not JSON is full text; binary payloads add nothing.

#[cfg(feature = "store")]
use chain::hexbytes::encode0x;
#[cfg(feature = "store")]
use chain::model::Block;
#[cfg(feature = "store")]
use chain::model::Receipt;
#[cfg(feature = "store")]
use chain::payload::record;
use serde_json::Value;
#[cfg(feature = "store")]
use store::StoredTx;

use crate::decode::Decoded;
#[cfg(feature = "store")]
use crate::decode::{Catalog, decode_tx, fill};
use crate::money::Money;

/// Full text kept per document at most (bytes); the rest is not indexed.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A party of a payment as a payload names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    /// Account address, lowercase.
    pub account: Option<String>,
    /// Organisation id.
    pub id: Option<String>,
}

impl Party {
    /// The account, else the id: the value of the `payer`/`payee` fields.
    pub fn key(&self) -> Option<&str> {
        self.account.as_deref().or(self.id.as_deref())
    }
}

/// The business fields of a payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Business {
    /// Scenario.
    pub scenario: Option<String>,
    /// Action.
    pub action: Option<String>,
    /// Reference.
    pub reference: Option<String>,
    /// Paying party.
    pub payer: Party,
    /// Receiving party.
    pub payee: Party,
    /// Amount.
    pub amount: Option<Money>,
    /// Currency code, as written.
    pub currency: Option<String>,
    /// Memo.
    pub memo: Option<String>,
}

/// One transaction in the clear, as the index and the rules see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxDoc {
    /// The block's position in the store's merged log of every chain
    /// (`store::merge`; -1 when not read through it).
    pub position: i64,
    /// The chain's number in the node (see [`crate::seq_in`]).
    pub chain: u8,
    /// The chain's id.
    pub chain_id: String,
    /// Its group.
    pub group: String,
    /// Transaction hash, `0x` + lowercase hex.
    pub tx_hash: String,
    /// Block hash.
    pub block_hash: String,
    /// Height.
    pub height: i64,
    /// Index in the block.
    pub index: u32,
    /// Block time, ms since the epoch.
    pub time_ms: i64,
    /// Verified sender.
    pub from: Option<String>,
    /// Contract called.
    pub to: String,
    /// Proposing sealer's node id, hex.
    pub sealer: Option<String>,
    /// Function selector.
    pub method: Option<String>,
    /// Envelope class in the store.
    pub status: String,
    /// Business fields, when the payload is readable JSON.
    pub business: Business,
    /// Full text of the payload.
    pub text: String,
    /// The call, decoded as far as the catalog allows (`None` for a deploy
    /// or a transaction without input).
    pub call: Option<Decoded>,
    /// The receipt's events, each decoded as far as the catalog allows.
    pub events: Vec<Decoded>,
}

impl TxDoc {
    /// The transaction's position across the node's chains
    /// ([`crate::seq_in`]).
    pub fn seq(&self) -> u64 {
        crate::seq_in(self.chain, self.height, self.index)
    }

    /// `public` for a plaintext payload, `private` for an envelope.
    pub fn privacy(&self) -> &'static str {
        privacy_of(&self.status)
    }

    /// The document's parties, each once.
    pub fn parties(&self) -> Vec<&str> {
        let b = &self.business;
        let mut v: Vec<&str> = [
            self.from.as_deref(),
            Some(self.to.as_str()),
            b.payer.account.as_deref(),
            b.payer.id.as_deref(),
            b.payee.account.as_deref(),
            b.payee.id.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// `public` for the store class `not-envelope`, else `private`.
pub fn privacy_of(status: &str) -> &'static str {
    if status == "not-envelope" {
        "public"
    } else {
        "private"
    }
}

#[cfg(feature = "store")]
/// The document of stored transaction `tx` of `block` with its `receipt`,
/// whose payload in the clear is `plaintext` (the decrypted record of an
/// opened envelope; `None` for other envelopes: a public transaction's
/// record is read from its input here, from the argument its mapping names
/// or else [`chain::payload::record`]). The call and events are decoded by
/// `catalog`; the business fields are the record's, completed by what the
/// mappings take from the decoded call and events.
pub fn from_store(
    chain: &crate::ChainLabel,
    block: &Block,
    tx: &StoredTx,
    receipt: Option<&Receipt>,
    plaintext: Option<&[u8]>,
    catalog: &Catalog,
) -> TxDoc {
    let h = &block.header;
    let t = &tx.tx;
    let public = tx.class == "not-envelope";
    let (call, events) = decode_tx(catalog, t, receipt);
    let named = call.as_ref().and_then(|c| catalog.record_of(c));
    let clear = if public {
        Some(named.as_deref().unwrap_or_else(|| record(&t.input)))
    } else {
        plaintext
    };
    let sealer = usize::try_from(h.sealer)
        .ok()
        .and_then(|i| h.sealer_list.get(i))
        .map(hex::encode);
    let (mut business, text) = clear.map(read_payload).unwrap_or_default();
    let from = t.claimed_from.map(|a| encode0x(&a));
    fill(
        &mut business,
        &catalog.business(from.as_deref(), call.as_ref(), &events),
    );
    TxDoc {
        position: -1,
        chain: chain.number,
        chain_id: chain.id.clone(),
        group: chain.group.clone(),
        tx_hash: encode0x(&t.claimed_hash),
        block_hash: encode0x(&h.claimed_hash),
        height: tx.height,
        index: tx.index,
        time_ms: h.timestamp,
        from,
        to: normalise_address(&t.to),
        sealer,
        method: t.input.get(..4).map(encode0x),
        status: tx.class.clone(),
        business,
        text,
        call,
        events,
    }
}

/// `0x` + lowercase, as every address is indexed.
pub fn normalise_address(s: &str) -> String {
    let s = s.trim();
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() {
        return String::new();
    }
    format!("0x{}", digits.to_ascii_lowercase())
}

/// Reads a payload in the clear: its business fields and full text.
pub fn read_payload(bytes: &[u8]) -> (Business, String) {
    let Ok(s) = std::str::from_utf8(bytes) else {
        return (Business::default(), String::new());
    };
    match serde_json::from_str::<Value>(s) {
        Ok(v) => {
            // The memo comes first, so that the full text holds all of it
            // even when the rest is cut: searches match on the full text
            // alone, the memo field only weighs in the score.
            let b = business(&v);
            let mut text = b.memo.clone().unwrap_or_default();
            match &v {
                Value::Object(map) => map
                    .iter()
                    .filter(|(k, _)| k.as_str() != "memo" || b.memo.is_none())
                    .for_each(|(_, i)| collect_text(i, &mut text, 1)),
                other => collect_text(other, &mut text, 0),
            }
            (b, text)
        }
        Err(_) => (Business::default(), truncate(s).to_string()),
    }
}

fn truncate(s: &str) -> &str {
    if s.len() <= MAX_TEXT_BYTES {
        return s;
    }
    let mut end = MAX_TEXT_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Every string value, newline-separated, depth-limited, at most
/// [`MAX_TEXT_BYTES`].
fn collect_text(v: &Value, out: &mut String, depth: usize) {
    if depth > 16 || out.len() >= MAX_TEXT_BYTES {
        return;
    }
    match v {
        Value::String(s) => {
            let room = MAX_TEXT_BYTES - out.len();
            let s = if s.len() > room {
                truncate_to(s, room)
            } else {
                s
            };
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(s);
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out, depth + 1)),
        Value::Object(map) => map.values().for_each(|i| collect_text(i, out, depth + 1)),
        _ => {}
    }
}

fn truncate_to(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn string(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn party(v: Option<&Value>) -> Party {
    match v {
        Some(Value::String(s)) if looks_like_address(s) => Party {
            account: Some(normalise_address(s)),
            id: None,
        },
        Some(Value::String(s)) if !s.trim().is_empty() => Party {
            account: None,
            id: Some(s.trim().to_string()),
        },
        Some(o @ Value::Object(_)) => Party {
            account: string(o, "account")
                .or_else(|| string(o, "address"))
                .filter(|s| looks_like_address(s))
                .map(|s| normalise_address(&s)),
            id: string(o, "id"),
        },
        _ => Party::default(),
    }
}

fn looks_like_address(s: &str) -> bool {
    let s = s.trim();
    let d = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    d.len() == 40 && d.bytes().all(|b| b.is_ascii_hexdigit())
}

fn business(v: &Value) -> Business {
    if !v.is_object() {
        return Business::default();
    }
    Business {
        scenario: string(v, "scenario"),
        action: string(v, "action"),
        reference: string(v, "reference"),
        payer: party(v.get("from").or_else(|| v.get("payer"))),
        payee: party(v.get("to").or_else(|| v.get("payee"))),
        amount: string(v, "amount").and_then(|a| Money::parse(&a)),
        currency: string(v, "currency").map(|c| c.to_ascii_uppercase()),
        memo: string(v, "memo").map(|m| truncate(&m).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_business_payload_gives_its_fields_and_text() {
        let p = r#"{"scenario":"cross-border-remittance","scenario_zh":"跨境汇款",
            "action":"remit","reference":"RM-1",
            "from":{"id":"icbc","name":"工商银行","account":"0xABCDEF0123456789abcdef0123456789ABCDEF01"},
            "to":"hk-trade","amount":"1000.50","currency":"hkd","memo":"货款 payment",
            "details":{"note":"加急"}}"#.as_bytes();
        let (b, text) = read_payload(p);
        assert_eq!(b.scenario.as_deref(), Some("cross-border-remittance"));
        assert_eq!(
            b.payer.account.as_deref(),
            Some("0xabcdef0123456789abcdef0123456789abcdef01")
        );
        assert_eq!(b.payer.id.as_deref(), Some("icbc"));
        assert_eq!(b.payee.key(), Some("hk-trade"));
        assert_eq!(b.amount, Some(Money::from_hundredths(100_050)));
        assert_eq!(b.currency.as_deref(), Some("HKD"));
        assert!(text.contains("跨境汇款") && text.contains("加急") && text.contains("工商银行"));
    }

    #[test]
    fn the_full_text_holds_the_whole_memo_even_when_cut() {
        let long = "长".repeat(MAX_TEXT_BYTES);
        let p =
            serde_json::json!({"a": long, "memo": "跨境汇款 late fee", "z": "尾注"}).to_string();
        let (b, text) = read_payload(p.as_bytes());
        assert_eq!(b.memo.as_deref(), Some("跨境汇款 late fee"));
        assert!(text.starts_with("跨境汇款 late fee"), "{}", &text[..40]);
        assert!(text.len() <= MAX_TEXT_BYTES);
        assert_eq!(text.matches("跨境汇款").count(), 1, "the memo once");
    }

    #[test]
    fn odd_payloads_never_fail() {
        assert_eq!(read_payload(&[0xff, 0xfe, 0]).1, "");
        assert_eq!(read_payload(b"plain words").1, "plain words");
        let (b, _) = read_payload(b"[1,2,3]");
        assert_eq!(b, Business::default());
        let deep = "[".repeat(200) + &"]".repeat(200);
        let _ = read_payload(deep.as_bytes());
        let long = format!("\"{}\"", "汇".repeat(MAX_TEXT_BYTES));
        assert!(read_payload(long.as_bytes()).1.len() <= MAX_TEXT_BYTES);
    }
}
