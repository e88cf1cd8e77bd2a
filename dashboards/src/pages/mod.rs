//! The pages, one module each, and what they share: links to transactions
//! and accounts, short hashes, amounts, and URL encoding.

pub mod account;
pub mod alerts;
pub mod evidence;
pub mod login;
pub mod overview;
pub mod rules;
pub mod search;
pub mod transaction;

use maud::{Markup, html};

/// Percent-encodes `s` for a URL query value or path segment.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `0x1234…cdef` for a long hash or address.
pub fn short_hash(h: &str) -> String {
    if h.chars().count() > 18 {
        let head: String = h.chars().take(10).collect();
        let tail: String = h
            .chars()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head}…{tail}")
    } else {
        h.to_string()
    }
}

/// A link to a transaction.
pub fn tx_link(hash: &str) -> Markup {
    html! { a.mono href={ "/tx/" (urlencode(hash)) } title=(hash) { (short_hash(hash)) } }
}

/// A link to an account (an address or a party id); empty text is "—".
pub fn account_link(party: &str) -> Markup {
    html! {
        @if party.is_empty() {
            span.muted { "—" }
        } @else {
            a.mono href={ "/account/" (urlencode(party)) } title=(party) { (short_hash(party)) }
        }
    }
}

/// A timestamp (RFC 3339, Beijing time) shown as `YYYY-MM-DD HH:MM:SS`,
/// the full value kept in `datetime`.
pub fn when(rfc: &str) -> Markup {
    let shown: String = rfc
        .chars()
        .take(19)
        .map(|c| if c == 'T' { ' ' } else { c })
        .collect();
    html! {
        @if rfc.is_empty() { span.muted { "—" } } @else { time datetime=(rfc) { (shown) } }
    }
}

/// Text or a muted dash.
pub fn or_dash(s: &str) -> Markup {
    html! {
        @if s.is_empty() { span.muted { "—" } } @else { (s) }
    }
}

/// `fragment` with the character ranges `spans` in `<mark>`, all escaped.
pub fn highlighted(fragment: &str, spans: &[(usize, usize)]) -> Markup {
    let chars: Vec<char> = fragment.chars().collect();
    let mut parts: Vec<(String, bool)> = Vec::new();
    let mut at = 0usize;
    for &(start, end) in spans {
        let (start, end) = (start.min(chars.len()), end.min(chars.len()));
        if start < at || end <= start {
            continue;
        }
        parts.push((chars[at..start].iter().collect(), false));
        parts.push((chars[start..end].iter().collect(), true));
        at = end;
    }
    parts.push((chars[at..].iter().collect(), false));
    html! {
        @for (text, hit) in &parts {
            @if *hit { mark { (text) } } @else { (text) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_are_marked_and_text_escaped() {
        let m = highlighted("跨境<汇款>到期", &[(3, 5)]).into_string();
        assert_eq!(m, "跨境&lt;<mark>汇款</mark>&gt;到期");
        // Ranges past the end or out of order are ignored, not a panic.
        let m = highlighted("abc", &[(2, 9), (0, 1)]).into_string();
        assert_eq!(m, "ab<mark>c</mark>");
        assert_eq!(urlencode("a b/汇"), "a%20b%2F%E6%B1%87");
        assert_eq!(short_hash("0x0123456789abcdef0123"), "0x01234567…ef0123");
    }
}
