//! Counts the outcome classes of a corpus, to see how deep fuzzing reaches.
//!
//! ```text
//! cd fuzz
//! cargo run --example corpus_stats -- envelope_open corpus/envelope_open
//! cargo run --example corpus_stats -- envelope_mutate corpus/envelope_mutate
//! ```
//!
//! For `envelope_open` each file is opened as is; for `envelope_mutate` it is
//! applied as a mutation program to its base envelope first, as the target
//! does.

use std::collections::BTreeMap;
use std::fs;

use lookthrough_fuzz::{apply_mutations, bases, context, keyring};

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .expect("usage: corpus_stats envelope_open|envelope_mutate DIR");
    let dir = args
        .next()
        .expect("usage: corpus_stats envelope_open|envelope_mutate DIR");
    let kr = keyring(0);
    let ctx = context();
    let bases = bases();
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for entry in fs::read_dir(&dir).expect("read corpus dir") {
        let data = fs::read(entry.expect("entry").path()).expect("read file");
        let env = match target.as_str() {
            "envelope_open" => data,
            "envelope_mutate" => {
                let Some((&pick, ops)) = data.split_first() else {
                    continue;
                };
                let mut env = bases[usize::from(pick) % bases.len()].envelope.clone();
                apply_mutations(&mut env, ops);
                env
            }
            other => panic!("unknown target {other}"),
        };
        let outcome = kr.open(&env, &ctx);
        *classes.entry(outcome.class().to_string()).or_default() += 1;
        if let privacy::envelope::Outcome::Malformed { reason } = &outcome {
            // Group reasons by their text up to the first digit-bearing detail.
            let key: String = reason
                .split(':')
                .next()
                .unwrap_or(reason)
                .chars()
                .take(70)
                .collect();
            *reasons.entry(key).or_default() += 1;
        }
    }
    println!("classes:");
    for (c, n) in &classes {
        println!("  {n:6}  {c}");
    }
    println!("malformed reasons (by prefix):");
    let mut r: Vec<_> = reasons.into_iter().collect();
    r.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (reason, n) in r.iter().take(25) {
        println!("  {n:6}  {reason}");
    }
}
