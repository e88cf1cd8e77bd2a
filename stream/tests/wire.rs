//! A block message carries a stored block across the log unchanged: read
//! back from an observer's store, encoded, decoded and offered to another
//! node's ingest, it is verified again and stored as the observer stored
//! it. A message that is truncated, of another chain, or whose block was
//! altered is refused, naming what is wrong, and stores nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chain::model::BlockTransactions;
use ingest::{Ingest, IngestConfig, Offer, Offered, Trust};
use store::Store;
use stream::wire;

const BLOCKS: usize = 6;

fn fresh_ingest(chain: &testkit::Chain, dir: &std::path::Path) -> (Arc<Store>, Ingest) {
    let store = Arc::new(Store::open(dir).unwrap());
    let mut config = IngestConfig::new(
        Vec::new(),
        "group0",
        chain.devnet.suite(),
        Trust::Genesis(chain.devnet.committee()),
    );
    config.genesis_hash = chain.devnet.block(0).map(|b| b.header.claimed_hash);
    let ingest = Ingest::new(
        config,
        store.clone(),
        Arc::new(testkit::keyring(&chain.workload)),
        chain.sealer.clone(),
    )
    .unwrap();
    (store, ingest)
}

fn offer(message: wire::BlockMessage) -> Offer {
    stream::follow::offer_of(message)
}

/// The message of a stored block, as an observer publishes it.
fn encode(observer: &str, commit: &store::BlockCommit) -> Vec<u8> {
    let envelopes: Vec<wire::Envelope> = commit
        .envelopes
        .iter()
        .map(|e| wire::Envelope {
            class: e.class.clone(),
            detail: e.detail.clone(),
            sealed_record: e.sealed_record.clone(),
        })
        .collect();
    wire::encode(
        "sh",
        "group0",
        observer,
        &commit.block,
        &envelopes,
        commit.receipts.as_deref(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_block_crosses_the_log_and_is_verified_again() {
    let chain = testkit::chain(7, BLOCKS);
    let dir = tempfile::tempdir().unwrap();
    // The observer's store, as its ingest left it.
    let observer = testkit::store(&chain, &dir.path().join("observer"));
    let (consumer, ingest) = fresh_ingest(&chain, &dir.path().join("consumer"));

    let mut sealed = 0;
    for h in 0..=BLOCKS as i64 {
        let commit = observer.block_commit(h).unwrap().unwrap();
        let original = testkit::block_commit(&chain, h);
        assert_eq!(commit.block.header, original.block.header, "block {h}");
        // The same classes; the records are the store's own (sealing is
        // randomised, so the original's differ byte for byte).
        let shape = |es: &[store::TxEnvelope]| {
            es.iter()
                .map(|e| (e.class.clone(), e.detail.clone(), e.sealed_record.is_some()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shape(&commit.envelopes),
            shape(&original.envelopes),
            "block {h}"
        );
        assert_eq!(commit.receipts, original.receipts, "block {h}");
        sealed += commit
            .envelopes
            .iter()
            .filter(|e| e.sealed_record.is_some())
            .count();
        let payload = encode("obs-a", &commit);
        let message = wire::decode("sh", &payload).unwrap();
        assert_eq!(message.observer, "obs-a");
        assert_eq!(ingest.offer(offer(message)).await.unwrap(), Offered::Stored);
    }
    assert!(sealed > 0, "the chain has opened payloads");
    assert_eq!(consumer.checkpoint().unwrap(), Some(BLOCKS as i64));
    for h in 0..=BLOCKS as i64 {
        for t in observer.transactions_at(h).unwrap() {
            let hash = t.tx.claimed_hash;
            assert_eq!(consumer.transaction(&hash).unwrap(), Some(t));
            // The sealed record crossed as stored: no plaintext in between.
            assert_eq!(
                consumer.record(&hash).unwrap(),
                observer.record(&hash).unwrap()
            );
            assert_eq!(
                consumer.receipt(&hash).unwrap(),
                observer.receipt(&hash).unwrap()
            );
        }
    }
    assert!(consumer.findings().unwrap().is_empty());

    // A redelivery is known; a block above the next one is ahead.
    let again = encode("obs-b", &observer.block_commit(2).unwrap().unwrap());
    assert_eq!(
        ingest
            .offer(offer(wire::decode("sh", &again).unwrap()))
            .await
            .unwrap(),
        Offered::Known
    );
    let longer = testkit::chain(7, BLOCKS + 2);
    let beyond = testkit::block_commit(&longer, BLOCKS as i64 + 2);
    let payload = encode("obs-a", &beyond);
    assert_eq!(
        ingest
            .offer(offer(wire::decode("sh", &payload).unwrap()))
            .await
            .unwrap(),
        Offered::Ahead {
            next: BLOCKS as i64 + 1
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_block_is_a_finding_against_its_observer_and_is_not_stored() {
    let chain = testkit::chain(8, 3);
    let dir = tempfile::tempdir().unwrap();
    let observer = testkit::store(&chain, &dir.path().join("observer"));
    let (consumer, ingest) = fresh_ingest(&chain, &dir.path().join("consumer"));
    for h in 0..=1 {
        let payload = encode("obs-a", &observer.block_commit(h).unwrap().unwrap());
        ingest
            .offer(offer(wire::decode("sh", &payload).unwrap()))
            .await
            .unwrap();
    }
    // Block 2 with one transaction's input changed: its hash no longer holds.
    let mut commit = observer.block_commit(2).unwrap().unwrap();
    let BlockTransactions::Full(txs) = &mut commit.block.transactions else {
        panic!("full transactions");
    };
    txs[0].input.push(0);
    let payload = encode("obs-liar", &commit);
    let Offered::Refused(finding) = ingest
        .offer(offer(wire::decode("sh", &payload).unwrap()))
        .await
        .unwrap()
    else {
        panic!("an altered block is refused");
    };
    assert_eq!(finding.endpoint, "stream:obs-liar");
    assert_eq!(finding.height, Some(2));
    assert_eq!(consumer.checkpoint().unwrap(), Some(1));
    let findings = consumer.findings().unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].check, finding.check);
    // Offered again, it is refused again but recorded once.
    ingest
        .offer(offer(wire::decode("sh", &payload).unwrap()))
        .await
        .unwrap();
    assert_eq!(consumer.findings().unwrap().len(), 1);
    // The true block 2 is then stored.
    let payload = encode("obs-a", &observer.block_commit(2).unwrap().unwrap());
    assert_eq!(
        ingest
            .offer(offer(wire::decode("sh", &payload).unwrap()))
            .await
            .unwrap(),
        Offered::Stored
    );
}

#[test]
fn a_malformed_message_is_refused_naming_what_is_wrong() {
    let chain = testkit::chain(9, 1);
    let dir = tempfile::tempdir().unwrap();
    let observer = testkit::store(&chain, &dir.path().join("observer"));
    let commit = observer.block_commit(1).unwrap().unwrap();
    let payload = encode("obs-a", &commit);

    let truncated = wire::decode("sh", &payload[..payload.len() / 2]).unwrap_err();
    assert!(truncated.to_string().contains("zstd"), "{truncated}");
    let other = wire::decode("bj", &payload).unwrap_err();
    assert!(other.to_string().contains("chain"), "{other}");
    let json = zstd::bulk::compress(b"{\"v\":2}", 3).unwrap();
    let e = wire::decode("sh", &json).unwrap_err();
    assert!(e.to_string().contains("block message"), "{e}");

    // One envelope too few.
    let mut short = commit.clone();
    short.envelopes.pop();
    let e = wire::decode("sh", &encode("obs-a", &short)).unwrap_err();
    assert!(e.to_string().contains("envelopes"), "{e}");

    // The message id depends on every part of what it names.
    let hash = commit.block.header.claimed_hash;
    let id = wire::message_id("sh", "group0", 1, &hash);
    assert_eq!(id.len(), 64);
    assert_ne!(id, wire::message_id("bj", "group0", 1, &hash));
    assert_ne!(id, wire::message_id("sh", "group1", 1, &hash));
    assert_ne!(id, wire::message_id("sh", "group0", 2, &hash));
    let mut other_hash = hash;
    other_hash[0] ^= 1;
    assert_ne!(id, wire::message_id("sh", "group0", 1, &other_hash));
}
