//! A devnet written to disk reads back identical, and damage is refused.

#![allow(clippy::unwrap_used)]

use chain::CryptoSuite;
use chain::render::{BlockDetail, block_json};
use devnet::signer::NodeKey;
use devnet::{ChainConfig, Devnet, store};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn build(suite: CryptoSuite) -> Devnet {
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(suite, &mut rng).unwrap())
        .collect();
    let user = NodeKey::generate(suite, &mut rng).unwrap();
    let mut d = Devnet::new(ChainConfig::new(suite, 4), sealers).unwrap();
    for b in 0..4u8 {
        let txs = (0..b)
            .map(|i| {
                d.make_transaction(
                    &user,
                    "0x3333333333333333333333333333333333333333",
                    vec![b, i],
                    format!("{b}-{i}"),
                    5,
                )
                .unwrap()
            })
            .collect();
        d.seal_block(txs, 1_000 * i64::from(b)).unwrap();
    }
    d
}

#[test]
fn round_trip_both_suites() {
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let d = build(suite);
        let dir = tempfile::tempdir().unwrap();
        store::save(&d, dir.path()).unwrap();
        let back = store::load(dir.path()).unwrap();
        let render = |d: &Devnet| -> Vec<String> {
            d.blocks()
                .iter()
                .map(|b| block_json(b, BlockDetail::Full).to_string())
                .collect()
        };
        assert!(
            render(&back) == render(&d),
            "blocks differ after the round trip"
        );
        assert_eq!(back.committee(), d.committee());
        // It keeps growing from where it stopped.
        let mut back = back;
        back.seal_block(Vec::new(), 99_000).unwrap();
        assert_eq!(back.head(), d.head() + 1);
    }
}

#[test]
fn damaged_files_are_refused_with_the_place() {
    let d = build(CryptoSuite::Sm);
    let dir = tempfile::tempdir().unwrap();
    store::save(&d, dir.path()).unwrap();
    let path = dir.path().join("blocks.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen("\"gasUsed\":\"", "\"gasUsed\":\"1", 1);
    std::fs::write(&path, lines.join("\n")).unwrap();
    let err = store::load(dir.path()).map(|_| ()).unwrap_err().to_string();
    assert!(
        err.contains("blocks.jsonl") && err.contains("block 2: header hash"),
        "{err}"
    );

    std::fs::write(&path, "{not json").unwrap();
    let err = store::load(dir.path()).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("blocks.jsonl:1"), "{err}");
}
