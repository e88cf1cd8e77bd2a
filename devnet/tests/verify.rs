//! Devnet blocks pass the same verifier as real FISCO BCOS blocks, through
//! the same code path.

#![allow(clippy::unwrap_used)]

use chain::CryptoSuite;
use chain::render::{BlockDetail, block_json, receipt_json, transaction_json, with_proof};
use chain::verify::{Item, cross_check};
use devnet::signer::NodeKey;
use devnet::{ChainConfig, Devnet};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn devnet(suite: CryptoSuite, weights: Vec<i64>) -> (Devnet, Vec<NodeKey>) {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let sealers = (0..weights.len())
        .map(|_| NodeKey::generate(suite, &mut rng).unwrap())
        .collect();
    let users = (0..3)
        .map(|_| NodeKey::generate(suite, &mut rng).unwrap())
        .collect();
    let mut config = ChainConfig::new(suite, weights.len());
    config.weights = weights;
    (Devnet::new(config, sealers).unwrap(), users)
}

fn fill(d: &mut Devnet, users: &[NodeKey], blocks: usize, per_block: usize) {
    for b in 0..blocks {
        let txs = (0..per_block)
            .map(|i| {
                let u = &users[i % users.len()];
                d.make_transaction(
                    u,
                    "0x1111111111111111111111111111111111111111",
                    vec![b as u8, i as u8, 7],
                    format!("{b}{i:04}"),
                    1_700_000_000_000,
                )
                .unwrap()
            })
            .collect();
        d.seal_block(txs, 1_700_000_000_000 + b as i64 * 1000)
            .unwrap();
    }
}

fn check_all(d: &Devnet) {
    let suite = d.suite();
    let committee = d.committee();
    for b in d.blocks() {
        for detail in [
            BlockDetail::Header,
            BlockDetail::TxHashes,
            BlockDetail::Full,
        ] {
            let text =
                serde_json::json!({"id": 1, "jsonrpc": "2.0", "result": block_json(b, detail)})
                    .to_string();
            let item = Item::parse(&text).unwrap();
            assert_eq!(item.detect_suite(), suite);
            let committee = (b.header.number > 0).then_some(committee.as_slice());
            let report = item.verify(suite, committee);
            assert!(
                report.passed(),
                "block {} {detail:?}: {:?}",
                b.header.number,
                report.failures().collect::<Vec<_>>()
            );
        }
        for r in d.receipts_of(b.header.number) {
            let (t, _, _) = d.transaction(&r.transaction_hash).unwrap();
            let tx = with_proof(
                transaction_json(t),
                "txProof",
                &d.transaction_proof(&t.claimed_hash).unwrap(),
            );
            let rc = with_proof(
                receipt_json(suite, r, Some(t)),
                "txReceiptProof",
                &d.receipt_proof(&t.claimed_hash).unwrap(),
            );
            let items = vec![
                Item::parse(&block_json(b, BlockDetail::Header).to_string()).unwrap(),
                Item::parse(&tx.to_string()).unwrap(),
                Item::parse(&rc.to_string()).unwrap(),
            ];
            for i in &items {
                let rep = i.verify(suite, None);
                assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
            }
            let across = cross_check(|_| suite, &items);
            assert!(
                across.passed(),
                "{:?}",
                across.failures().collect::<Vec<_>>()
            );
            assert!(across.checks.len() >= 3, "{:?}", across.checks);
        }
    }
}

#[test]
fn sm_devnet_blocks_verify() {
    let (mut d, users) = devnet(CryptoSuite::Sm, vec![1, 1, 1, 1]);
    fill(&mut d, &users, 5, 7);
    d.seal_block(Vec::new(), 1_800_000_000_000).unwrap(); // an empty block too
    check_all(&d);
}

#[test]
fn standard_devnet_blocks_verify() {
    let (mut d, users) = devnet(CryptoSuite::Standard, vec![1, 1, 1, 1]);
    fill(&mut d, &users, 4, 5);
    check_all(&d);
}

#[test]
fn weighted_committees_sign_exactly_a_quorum() {
    let (mut d, users) = devnet(CryptoSuite::Sm, vec![5, 1, 1, 1, 2]);
    fill(&mut d, &users, 6, 1);
    check_all(&d);
    for b in &d.blocks()[1..] {
        let signed: i64 = b
            .header
            .signatures
            .iter()
            .map(|s| d.config().weights[s.sealer_index as usize])
            .sum();
        // total 10 → required 10 − 3 = 7
        assert!(
            signed >= 7,
            "block {} signed weight {signed}",
            b.header.number
        );
    }
}

#[test]
fn devnet_and_real_blocks_share_one_code_path() {
    // The real SM block 2 and an SM devnet block are both parsed by
    // `Item::parse` and checked by `Item::verify`, and produce the same checks.
    let real = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../chain/tests/fixtures/fisco-bcos/sm_block2_getBlockByHash.json"
    ))
    .unwrap();
    let (mut d, users) = devnet(CryptoSuite::Sm, vec![1, 1, 1, 1]);
    fill(&mut d, &users, 2, 1);
    let ours = block_json(d.block(2).unwrap(), BlockDetail::Header).to_string();
    let names = |text: &str| -> Vec<String> {
        let item = Item::parse(text).unwrap();
        let rep = item.verify(item.detect_suite(), None);
        assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
        rep.checks.into_iter().map(|c| c.name).collect()
    };
    assert_eq!(names(&real), names(&ours));
}
