//! The ABIs a configuration names (`[[abi]]`) are registered when the node
//! is built: a version per change of the file's text, the file named when
//! it cannot be read or does not parse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chain::CryptoSuite;
use ingest::{IngestConfig, Trust};
use node::config::AbiEntry;
use node::{Node, NodeError};

const TOKEN: &str = r#"[{"type":"function","name":"transfer","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[]}]"#;

#[test]
fn configured_abis_are_registered_once_per_text() {
    let dir = tempfile::tempdir().unwrap();
    let chain = testkit::chain(3, 1);
    let config = IngestConfig::new(
        vec!["http://127.0.0.1:1".into()],
        "group0",
        CryptoSuite::Sm,
        Trust::FirstUse,
    );
    let node = Node::open(config, &dir.path().join("data"), chain.keyring, None).unwrap();
    let file = dir.path().join("token.json");
    std::fs::write(&file, TOKEN).unwrap();
    let address = format!("0x{}", "5a".repeat(20));
    let entry = AbiEntry {
        chain: None,
        address: address.clone(),
        file: file.clone(),
    };
    let store: &Arc<store::Store> = &node.store;
    let raw = records::abis::parse_address(&address).unwrap();
    node.register_abis(std::slice::from_ref(&entry)).unwrap();
    node.register_abis(std::slice::from_ref(&entry)).unwrap();
    let v = records::abis::versions(store, &raw).unwrap();
    assert_eq!(v.len(), 1, "the same text twice is one version");
    assert_eq!(v[0].source, format!("file:{}", file.display()));
    std::fs::write(&file, TOKEN.replace("transfer", "send")).unwrap();
    node.register_abis(std::slice::from_ref(&entry)).unwrap();
    let latest = records::abis::latest(store, &raw).unwrap().unwrap();
    assert_eq!(latest.version, 2);
    assert!(latest.abi.contains("send"));

    // A file that is not an ABI, and one that is missing, are named.
    std::fs::write(&file, "{\"abi\": 5}").unwrap();
    match node.register_abis(std::slice::from_ref(&entry)) {
        Err(e @ NodeError::Abi { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("token.json") && text.contains(&address),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let missing = AbiEntry {
        chain: None,
        address,
        file: dir.path().join("missing.json"),
    };
    let e = node.register_abis(&[missing]).unwrap_err().to_string();
    assert!(e.contains("missing.json"), "{e}");
    assert_eq!(
        records::abis::latest(store, &raw).unwrap().unwrap().version,
        2
    );
}
