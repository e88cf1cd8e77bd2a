//! Chain JSON parsing and verification: whatever a node serves, parsing and
//! every check return results, never panic; cross-document checks, the
//! committee-change check and the call-data payload reader too.
//! Seeds: the real FISCO BCOS fixtures (`fuzz/run.sh` passes them).

#![no_main]

use chain::CryptoSuite;
use chain::payload::{dynamic_arguments, payload, record};
use chain::verify::{Item, committee_vouches, cross_check, parse_sealer_list};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Any bytes, read as call data, give a payload inside them.
    let p = payload(data);
    assert!(p.len() <= data.len());
    assert!(record(data).len() <= data.len());
    let args = dynamic_arguments(data);
    assert!(args.len() <= chain::payload::MAX_HEAD_WORDS);
    assert!(args.iter().all(|a| a.len() < data.len()));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_sealer_list(text);
    let Ok(item) = Item::parse(text) else {
        return;
    };
    let suite = item.detect_suite();
    if let Item::Block(b) = &item {
        // Against an empty committee nothing can vouch for a sealer list.
        assert!(!committee_vouches(suite, &b.header, &[]).passed);
    }
    let report = item.verify(suite, None);
    // A check list is never empty for a parsed item.
    assert!(!report.checks.is_empty());
    for other in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let _ = item.verify(other, None);
    }
    // The document beside itself exercises the cross-document checks.
    let items = [item.clone(), item];
    let _ = cross_check(|i| i.detect_suite(), &items);
});
