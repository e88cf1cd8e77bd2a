//! Disk faults at the node's writers, on a real filesystem that fills up (a
//! small tmpfs; mounting one needs root, so elsewhere these tests print why
//! they are skipped): a write that finds the disk full is refused with the
//! directory named, stores nothing of itself, leaves every reader
//! answering, and the writer goes on by itself once the directory has
//! room again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use indexer::TxIndex;
use indexer::follow::{Indexer, IndexerConfig};
use store::follow::{Next, Stage};
use store::{Finding, Store};
use testkit::tmpfs::Tmpfs;

fn mount(bytes: u64) -> Option<Tmpfs> {
    match Tmpfs::mount(bytes) {
        Ok(fs) => Some(fs),
        Err(reason) => {
            eprintln!("skipped: {reason}");
            None
        }
    }
}

fn finding(i: usize, evidence: &str) -> Finding {
    Finding {
        at_ms: 0,
        height: None,
        endpoint: "http://127.0.0.1:1/".into(),
        check: "test".into(),
        detail: format!("finding {i}"),
        evidence: evidence.into(),
    }
}

#[test]
fn a_full_store_refuses_writes_naming_its_directory_answers_reads_and_recovers() {
    let Some(fs) = mount(16 << 20) else { return };
    let chain = testkit::chain(21, 12);
    let head = chain.devnet.head();
    let dir = fs.path().join("store");
    let store = Store::open(&dir).unwrap();
    testkit::commit(&chain, &store, 0, 4);

    // Fill what is left, then write until RocksDB needs room it cannot
    // have (what it had already allocated takes a few more writes).
    let filler = fs.fill();
    let evidence = "e".repeat(64 << 10);
    let mut accepted = 0;
    let err = loop {
        assert!(accepted < 1000, "16 MiB never filled");
        match store.add_finding(&finding(accepted, &evidence)) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
    };
    assert!(err.is_disk_fault(), "{err}");
    let text = err.to_string();
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    let fault = store.disk().fault(&dir).expect("the fault is reported");
    assert_eq!(fault.dir, dir);

    // Every write is refused now, a block too; reads are answered.
    let refused = store.commit(&testkit::block_commit(&chain, 5)).unwrap_err();
    assert!(refused.is_disk_fault(), "{refused}");
    assert_eq!(store.checkpoint().unwrap(), Some(4));
    assert!(store.block(4).unwrap().is_some());
    assert!(store.transactions_at(5).unwrap().is_empty());
    assert_eq!(store.findings().unwrap().len(), accepted);
    // Still full: the probe fails and the fault stays.
    assert!(!store.recover_disks());
    assert!(store.disk().fault(&dir).is_some());

    std::fs::remove_file(filler).unwrap();
    assert!(store.recover_disks(), "{:?}", store.disk().faults());
    assert!(store.disk().faults().is_empty());
    testkit::commit(&chain, &store, 5, head);
    drop(store);

    // Reopened: every block once, the findings written before the fault
    // (the one refused may have reached the log: RocksDB's log is whole
    // batches only, so it is there whole or not at all).
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.checkpoint().unwrap(), Some(head));
    let mut txs = 0;
    for h in 0..=head {
        let block = store.block(h).unwrap().expect("every block");
        assert_eq!(
            store.height_of(&block.header.claimed_hash).unwrap(),
            Some(h)
        );
        txs += store.transactions_at(h).unwrap().len();
    }
    assert_eq!(txs, head as usize * testkit::TXS_PER_BLOCK);
    let findings = store.findings().unwrap();
    assert!(
        findings.len() == accepted || findings.len() == accepted + 1,
        "{} findings after {accepted} accepted",
        findings.len()
    );
    assert!(findings.iter().all(|f| f.evidence == evidence));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_index_directory_pauses_the_indexer_which_resumes_from_its_last_commit() {
    let Some(fs) = mount(24 << 20) else { return };
    let chain = testkit::chain(22, 60);
    let head = chain.devnet.head();
    let data = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, &data.path().join("store"));
    let dir = fs.path().join("index");
    let index = Arc::new(TxIndex::open(&dir).unwrap());
    let config = IndexerConfig {
        commit_docs: 24,
        ..IndexerConfig::default()
    };
    let mut indexer =
        Indexer::new(index.clone(), store.clone(), chain.sealer.clone(), config).unwrap();
    indexer = indexer.step(Some(3)).await.unwrap().0;
    let filler = fs.fill();

    // Steps until a commit needs room: the step says so, and the index's
    // directory is reported.
    let mut steps = 0;
    let cp = loop {
        steps += 1;
        assert!(steps < 100, "the index never ran out of room");
        let (ix, step) = indexer.step(Some(head)).await.unwrap();
        indexer = ix;
        if step.next == Next::DiskFault {
            break step.checkpoint;
        }
    };
    let fault = store
        .disk()
        .fault(&dir)
        .expect("the index's directory is reported");
    assert!(
        fault.error.contains("No space left on device"),
        "{}",
        fault.error
    );
    assert!(cp.is_some_and(|c| c < head), "stopped at {cp:?} of {head}");
    // What is searchable is whole blocks up to the committed checkpoint.
    index.reload().unwrap();
    let committed = index
        .checkpoint()
        .unwrap()
        .expect("a commit before the fault");
    assert_eq!(Some(committed.height), cp);
    assert_eq!(index.num_docs(), committed.docs);

    std::fs::remove_file(filler).unwrap();
    assert!(store.recover_disks(), "{:?}", store.disk().faults());
    loop {
        let (ix, step) = indexer.step(Some(head)).await.unwrap();
        indexer = ix;
        assert_ne!(step.next, Next::DiskFault);
        if indexer.next_height() > head {
            break;
        }
    }
    indexer.commit().unwrap();
    index.reload().unwrap();
    // Every transaction once.
    let seen = testkit::indexed_once(&index);
    assert_eq!(seen.len(), head as usize * testkit::TXS_PER_BLOCK);
}
