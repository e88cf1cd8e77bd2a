//! ABIs from the chain: the fetcher registers a deploy transaction's ABI
//! (verified with its block) and asks the endpoints (`getABI`) for the
//! contracts a block touches that the registry does not know; a contract
//! with no ABI on the chain is left unknown, and one already registered is
//! not asked for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use devnet::workload::Scenario;
use ingest::abis::AbiFetcher;
use ingest::source::Endpoint;
use store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_get_their_abis_from_deploys_and_from_the_endpoints() {
    let mut chain = testkit::chain(21, 3);
    // A contract deployed in block 4 (its ABI in the transaction) and a
    // call to an address without code (no ABI anywhere).
    let issuer = devnet::signer::NodeKey::generate(
        chain::CryptoSuite::Sm,
        &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(5),
    )
    .unwrap();
    let token = devnet::contracts::artifact("Token").unwrap();
    let code = devnet::evm::translate(&token.bytecode, &token.abi, chain::CryptoSuite::Sm).unwrap();
    let deploy = chain
        .devnet
        .make_deploy(&issuer, code, &token.abi, "1".into(), 1_000)
        .unwrap();
    let nowhere = format!("0x{}", "77".repeat(20));
    let call = chain
        .devnet
        .make_transaction(&issuer, &nowhere, vec![1, 2, 3, 4], "2".into(), 1_000)
        .unwrap();
    chain
        .devnet
        .seal_block(vec![deploy, call], 10_000_000)
        .unwrap();
    let head = chain.devnet.head();
    let deployed = chain.devnet.evm().contract_address(head, 0);

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<Store> = testkit::store(&chain, dir.path());
    // One contract the registry knows already (an admin's upload).
    let known = Scenario::TradeSettlement.contract_address();
    let known_raw = records::abis::parse_address(known).unwrap();
    records::abis::save(&store, &known_raw, "[]", "api:admin", 1).unwrap();

    let shared = Arc::new(tokio::sync::RwLock::new(chain.devnet));
    let url = support::serve_devnet(&shared, None).await;
    let endpoint = Endpoint::new(&url, "group0", "", Duration::from_secs(5)).unwrap();
    let fetcher = AbiFetcher::new(store.clone(), vec![endpoint], Some(head)).unwrap();
    let stats = fetcher.stats();
    tokio::time::timeout(Duration::from_secs(60), fetcher.run(std::future::pending()))
        .await
        .expect("the fetcher reaches its stop height")
        .unwrap();

    let d = shared.read().await;
    for s in Scenario::ALL {
        let raw = records::abis::parse_address(s.contract_address()).unwrap();
        let v = records::abis::latest(&store, &raw).unwrap().unwrap();
        if s.contract_address() == known {
            assert_eq!(
                (v.version, v.source.as_str()),
                (1, "api:admin"),
                "not asked"
            );
        } else {
            assert_eq!(v.source, format!("chain:getABI {url}"), "{s:?}");
            assert_eq!(Some(v.abi.as_str()), d.abi_of(s.contract_address()));
        }
    }
    let v = records::abis::latest(&store, &deployed.into_array())
        .unwrap()
        .unwrap();
    assert_eq!(v.source, format!("chain:deploy {head}/0"));
    assert_eq!(v.abi, token.abi);
    let none = records::abis::parse_address(&nowhere).unwrap();
    assert_eq!(records::abis::latest(&store, &none).unwrap(), None);
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(stats.from_deploys.load(Relaxed), 1);
    assert_eq!(stats.from_endpoints.load(Relaxed), 3);
    assert_eq!(stats.missing.load(Relaxed), 1, "the address without code");
    // The checkpoint moved to the head: a second run asks nothing.
    let again = AbiFetcher::new(store.clone(), Vec::new(), Some(head)).unwrap();
    let stats = again.stats();
    again.run(std::future::pending()).await.unwrap();
    assert_eq!(stats.asked.load(Relaxed), 0);
}
