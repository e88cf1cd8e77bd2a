//! jieba word segmentation as a tantivy tokenizer, over one shared
//! dictionary: jieba's general dictionary plus [`LEXICON`], words of
//! payments, trade finance and supervision kept whole (the general
//! dictionary cuts many of them in two: 跨境汇款, 应收账款).
//!
//! tantivy clones a field's analyzer for every indexing thread and every
//! parsed query; here a clone is a flag, and the dictionary (tens of
//! megabytes once loaded) is built once per process.

use std::sync::LazyLock;

use jieba_rs::{Jieba, TokenizeMode};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The added words, one per line (`#` comments).
pub const LEXICON: &str = include_str!("lexicon.txt");

static JIEBA: LazyLock<Jieba> = LazyLock::new(|| {
    let mut jieba = Jieba::new();
    for word in lexicon() {
        // No frequency: jieba suggests one high enough to keep the word whole.
        jieba.add_word(word, None, None);
    }
    jieba
});

/// The words of [`LEXICON`].
pub fn lexicon() -> impl Iterator<Item = &'static str> {
    LEXICON
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|w| !w.is_empty())
}

/// Cuts text into words. Search mode adds, for a word of three characters
/// or more, the dictionary words inside it, at their own positions
/// (跨境汇款 → 跨境, 汇款, 跨境汇款); default mode gives each word once.
/// A token's position is its first character's offset, so the parts of a
/// word and the word itself line up for phrase queries.
#[derive(Debug, Clone, Copy)]
pub struct JiebaTokenizer {
    mode: TokenizeMode,
}

impl JiebaTokenizer {
    /// For indexing: each word and the words inside it.
    pub fn search_mode() -> Self {
        Self {
            mode: TokenizeMode::Search,
        }
    }

    /// For queries: each word once.
    pub fn default_mode() -> Self {
        Self {
            mode: TokenizeMode::Default,
        }
    }
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = JiebaTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JiebaTokenStream<'a> {
        let mut words = JIEBA.tokenize(text, self.mode, true);
        // Search mode gives a word's parts before the word; in text order
        // (by start, the longest first) offsets never go back, which
        // tantivy's snippet generator requires.
        words.sort_by_key(|w| (w.start, std::cmp::Reverse(w.end)));
        JiebaTokenStream {
            text,
            words,
            next: 0,
            token: Token::default(),
        }
    }
}

/// The words of one text.
pub struct JiebaTokenStream<'a> {
    text: &'a str,
    words: Vec<jieba_rs::Token<'a>>,
    next: usize,
    token: Token,
}

impl TokenStream for JiebaTokenStream<'_> {
    fn advance(&mut self) -> bool {
        // Spaces and punctuation are cut out as words of their own; they
        // are not words to search for.
        let w = loop {
            let Some(w) = self.words.get(self.next) else {
                return false;
            };
            self.next += 1;
            if w.word.chars().any(char::is_alphanumeric) {
                break w;
            }
        };
        // `w.word` is a slice of `text`.
        self.token.offset_from = w.word.as_ptr() as usize - self.text.as_ptr() as usize;
        self.token.offset_to = self.token.offset_from + w.word.len();
        self.token.position = w.start;
        self.token.position_length = w.end - w.start;
        self.token.text.clear();
        self.token.text.push_str(w.word);
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(mut t: JiebaTokenizer, text: &str) -> Vec<(String, usize)> {
        let mut s = t.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            let tok = s.token();
            assert_eq!(&text[tok.offset_from..tok.offset_to], tok.text);
            out.push((tok.text.clone(), tok.position));
        }
        out
    }

    #[test]
    fn lexicon_words_stay_whole_and_keep_their_parts_in_search_mode() {
        let t = words(JiebaTokenizer::default_mode(), "跨境汇款和应收账款");
        assert!(t.contains(&("跨境汇款".into(), 0)), "{t:?}");
        assert!(t.contains(&("应收账款".into(), 5)), "{t:?}");
        let t = words(JiebaTokenizer::search_mode(), "跨境汇款和应收账款");
        assert_eq!(
            t[..3],
            [
                ("跨境汇款".into(), 0),
                ("跨境".into(), 0),
                ("汇款".into(), 2)
            ]
        );
        for w in [
            ("跨境", 0),
            ("汇款", 2),
            ("跨境汇款", 0),
            ("应收", 5),
            ("账款", 7),
        ] {
            assert!(t.contains(&(w.0.into(), w.1)), "{w:?} in {t:?}");
        }
    }

    #[test]
    fn every_lexicon_word_is_one_word() {
        for w in lexicon() {
            let t = words(JiebaTokenizer::default_mode(), w);
            assert_eq!(t, vec![(w.to_string(), 0)], "{w}");
        }
    }

    #[test]
    fn offsets_are_bytes_and_positions_are_characters() {
        let t = words(JiebaTokenizer::search_mode(), "ab 汇款");
        assert_eq!(t, vec![("ab".into(), 0), ("汇款".into(), 3)]);
    }

    #[test]
    fn spaces_and_punctuation_are_not_words() {
        let t = words(JiebaTokenizer::search_mode(), " 货款，已付 -- (INV-7) ");
        let w: Vec<&str> = t.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(w[..2], ["货款", "已付"]);
        assert!(
            w.iter().all(|w| w.chars().any(char::is_alphanumeric)),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.starts_with("INV")), "{w:?}");
    }
}
