//! The workload generator against its manifest: every transaction on the
//! chain opens (or does not) exactly as the manifest says, the planted
//! findings are exactly what their definitions select, and a seed reproduces
//! the chain byte for byte.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chain::CryptoSuite;
use chain::render::{BlockDetail, block_json};
use chain::verify::Item;
use devnet::signer::NodeKey;
use devnet::workload::{
    Finding, Manifest, Payload, PrivacyClass, Scenario, TxRecord, Workload, WorkloadConfig,
    WorkloadError,
};
use devnet::{ChainConfig, Devnet, contracts};
use privacy::envelope::{Envelope, Outcome, TxContext};
use privacy::keyring::Keyring;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn devnet(suite: CryptoSuite) -> Devnet {
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(suite, &mut rng).unwrap())
        .collect();
    Devnet::new(ChainConfig::new(suite, 4), sealers).unwrap()
}

fn run(
    suite: CryptoSuite,
    config: WorkloadConfig,
    seed: u64,
    blocks: usize,
    txs: usize,
) -> (Devnet, Workload) {
    let mut d = devnet(suite);
    let mut w = Workload::new(config, suite, "chain0", "group0", seed).unwrap();
    w.generate(&mut d, blocks, txs).unwrap();
    (d, w)
}

fn hash_of(hex_hash: &str) -> [u8; 32] {
    hex::decode(hex_hash.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

fn keyring_of(key: &privacy::keys::PrivateKey) -> Keyring {
    let mut k = Keyring::new();
    k.add("test", key.clone()).unwrap();
    k
}

fn check_payload(bytes: &[u8], rec: &TxRecord) {
    let p: Payload = serde_json::from_slice(bytes).unwrap();
    assert_eq!(p.amount, rec.amount, "{}", rec.tx_hash);
    assert_eq!(p.currency, rec.currency, "{}", rec.tx_hash);
    assert_eq!(p.memo, rec.memo);
    assert_eq!(p.from.id, rec.payer);
    assert_eq!(p.to.id, rec.payee);
    assert_eq!(p.scenario, rec.scenario.as_str());
    assert_eq!(p.reference, rec.reference);
    assert_eq!(p.from.account, rec.sender);
}

/// Opens every transaction as the regulator would and checks it against the
/// manifest; returns the count per class as observed.
fn check_chain(d: &Devnet, w: &Workload) -> BTreeMap<String, usize> {
    let m = w.manifest();
    let suite = d.suite();
    let regulator = keyring_of(w.regulator_key());
    let parties: HashMap<String, Keyring> = w
        .organisations()
        .iter()
        .map(|o| (o.id.clone(), keyring_of(&o.envelope_key)))
        .collect();
    assert_eq!(m.regulator_key_id, w.regulator_key().key_id().to_hex());
    assert_eq!(m.transactions.len(), m.summary.transactions);
    assert_eq!(m.blocks.len(), m.summary.blocks);
    assert_eq!(d.head() as usize, m.blocks.len());
    let on_chain: usize = d
        .blocks()
        .iter()
        .map(|b| d.receipts_of(b.header.number).len())
        .sum();
    assert_eq!(on_chain, m.transactions.len());

    let mut seen = BTreeMap::new();
    for rec in &m.transactions {
        let (t, height, index) = d.transaction(&hash_of(&rec.tx_hash)).unwrap();
        assert_eq!((height, index), (rec.block_height, rec.index));
        assert_eq!(d.block(height).unwrap().header.timestamp, rec.timestamp_ms);
        assert_eq!(t.to, rec.contract);
        assert_eq!(t.to, rec.scenario.contract_address());
        assert_eq!(Scenario::from_contract(&t.to), Some(rec.scenario));
        // The scenario's contract, called by its ABI: a public payment with
        // its terms as arguments, a private one with only an envelope.
        let c = contracts::contract(contracts::of_scenario(rec.scenario), suite).unwrap();
        let call = c.decode_call(&t.input).unwrap();
        let receipt = d.receipt(&t.claimed_hash).unwrap();
        assert_eq!(receipt.status, 0, "{}: {receipt:?}", rec.tx_hash);
        let events: Vec<String> = receipt
            .logs
            .iter()
            .map(|l| c.decode_event(&l.topics, &l.data).unwrap().event)
            .collect();
        if rec.class == PrivacyClass::Public {
            let (method, event) = match rec.scenario {
                Scenario::CrossBorderRemittance => ("pay", "PaymentSent"),
                Scenario::SupplyChainFinance => ("settle", "ReceivableSettled"),
                Scenario::TradeSettlement => ("transferWithRecord", "Transfer"),
                Scenario::CopyrightRegistration => ("register", "WorkRegistered"),
            };
            assert_eq!(
                (call.method.as_str(), events),
                (method, vec![event.to_string()])
            );
            let payee = w
                .organisation(&rec.payee)
                .unwrap()
                .address_hex()
                .to_string();
            assert!(
                call.args
                    .iter()
                    .any(|a| a.value == abi::Value::Address(payee.clone()))
            );
        } else {
            assert_eq!(call.method, "submitPrivate");
            assert_eq!(events, ["PrivateRecord"]);
            assert_eq!(call.args.len(), 2, "a reference and the envelope only");
        }
        let sender = t.claimed_from.unwrap();
        assert_eq!(format!("0x{}", hex::encode(sender)), rec.sender);
        assert_eq!(w.organisation(&rec.payer).unwrap().address(), sender);

        let payload = contracts::carried(&t.input).unwrap();
        let ctx = TxContext::new(&t.chain_id, &t.group_id, sender).unwrap();
        let outcome = regulator.open(payload, &ctx);
        let class = match outcome.class().as_str() {
            "not-envelope" => "public",
            other => other,
        };
        assert_eq!(
            class,
            rec.class.as_str(),
            "{}: {}",
            rec.tx_hash,
            outcome.describe()
        );
        *seen.entry(class.to_string()).or_insert(0) += 1;
        match rec.class {
            PrivacyClass::Public => check_payload(payload, rec),
            PrivacyClass::Opened => check_payload(outcome.payload().unwrap(), rec),
            PrivacyClass::NotForUs | PrivacyClass::Inconsistent => {
                // The parties open what the regulator cannot.
                for party in [&rec.payer, &rec.payee] {
                    let o = parties[party].open(payload, &ctx);
                    assert!(
                        matches!(o, Outcome::Opened(_)),
                        "{}: {}",
                        rec.tx_hash,
                        o.describe()
                    );
                    check_payload(o.payload().unwrap(), rec);
                }
            }
        }
        if rec.class != PrivacyClass::Public {
            let env = Envelope::parse(payload).unwrap();
            let want = if rec.class == PrivacyClass::NotForUs {
                2
            } else {
                3
            };
            assert_eq!(env.recipients.len(), want);
            // An outsider (another organisation) cannot open it.
            let outsider = w
                .organisations()
                .iter()
                .find(|o| o.id != rec.payer && o.id != rec.payee)
                .unwrap();
            let o = parties[&outsider.id].open(payload, &ctx);
            assert_eq!(o.class().as_str(), "not-for-us");
        }
    }
    for class in PrivacyClass::ALL {
        let got = seen.get(class.as_str()).copied().unwrap_or(0);
        assert_eq!(got, m.summary.classes[class.as_str()], "{}", class.as_str());
    }
    seen
}

fn night(ts: i64) -> Option<i64> {
    let local = ts + 8 * 3_600_000;
    let hour_ms = local.rem_euclid(86_400_000);
    (3_600_000..4 * 3_600_000)
        .contains(&hour_ms)
        .then(|| local.div_euclid(86_400_000))
}

/// Recomputes every finding from the manifest alone, by its definition, and
/// checks the tags are exactly that.
fn check_findings(m: &Manifest) -> BTreeMap<Finding, usize> {
    let r = &m.rules;
    let txs = &m.transactions;
    let readable = |t: &TxRecord| matches!(t.class, PrivacyClass::Public | PrivacyClass::Opened);
    let mut expected: Vec<BTreeSet<Finding>> = vec![BTreeSet::new(); txs.len()];

    let listed: BTreeSet<&str> = m.watchlist.iter().map(|w| w.org_id.as_str()).collect();
    for (i, t) in txs.iter().enumerate() {
        if readable(t) && listed.contains(t.payee.as_str()) {
            expected[i].insert(Finding::ListedParty);
        }
    }

    let lo = (r.structuring_threshold - r.structuring_band) * 100;
    let hi = r.structuring_threshold * 100;
    let in_band: Vec<usize> = (0..txs.len())
        .filter(|&i| {
            let t = &txs[i];
            readable(t)
                && t.currency == r.structuring_currency
                && (lo..hi).contains(&t.amount_cents)
        })
        .collect();
    for &i in &in_band {
        let t = &txs[i];
        let flagged = in_band.iter().any(|&s| {
            let start = txs[s].timestamp_ms;
            let end = start + r.structuring_window_ms;
            txs[s].payer == t.payer
                && (start..=end).contains(&t.timestamp_ms)
                && in_band
                    .iter()
                    .filter(|&&v| {
                        txs[v].payer == t.payer && (start..=end).contains(&txs[v].timestamp_ms)
                    })
                    .count()
                    >= r.structuring_min_count
        });
        if flagged {
            expected[i].insert(Finding::Structuring);
        }
    }

    for j in 0..txs.len() {
        for i in 0..j {
            let (a, b) = (&txs[i], &txs[j]);
            if readable(a)
                && readable(b)
                && b.payer == a.payee
                && b.payee == a.payer
                && a.currency == b.currency
                && b.timestamp_ms - a.timestamp_ms <= r.round_trip_window_ms
                && u128::from(a.amount_cents.abs_diff(b.amount_cents)) * 10_000
                    <= u128::from(a.amount_cents) * u128::from(r.round_trip_tolerance_bp)
            {
                expected[i].insert(Finding::RoundTrip);
                expected[j].insert(Finding::RoundTrip);
            }
        }
    }

    let mut nights: HashMap<(&str, i64), Vec<usize>> = HashMap::new();
    for (i, t) in txs.iter().enumerate() {
        if readable(t)
            && let Some(day) = night(t.timestamp_ms)
        {
            nights.entry((&t.payer, day)).or_default().push(i);
        }
    }
    for group in nights.values() {
        if group.len() >= r.night_burst_min {
            for &i in group {
                expected[i].insert(Finding::NightBurst);
            }
        }
    }

    let mut counts = BTreeMap::new();
    for (t, want) in txs.iter().zip(&expected) {
        let got: BTreeSet<Finding> = t.findings.iter().copied().collect();
        assert_eq!(&got, want, "{} {:?}", t.tx_hash, t);
        for f in got {
            *counts.entry(f).or_insert(0) += 1;
        }
    }
    for f in Finding::ALL {
        assert_eq!(
            counts.get(&f).copied().unwrap_or(0),
            m.summary.findings[f.as_str()],
            "{}",
            f.as_str()
        );
    }
    counts
}

/// Every block renders as FISCO BCOS JSON and passes the observer's verifier.
fn check_blocks_verify(d: &Devnet) {
    let committee = d.committee();
    for b in d.blocks() {
        let text = serde_json::json!({"id": 1, "jsonrpc": "2.0", "result": block_json(b, BlockDetail::Full)})
            .to_string();
        let item = Item::parse(&text).unwrap();
        let report = item.verify(
            d.suite(),
            (b.header.number > 0).then_some(committee.as_slice()),
        );
        assert!(
            report.passed(),
            "block {}: {:?}",
            b.header.number,
            report.failures().collect::<Vec<_>>()
        );
    }
}

#[test]
fn sm_chain_matches_its_manifest() {
    let config = WorkloadConfig::default();
    let (d, w) = run(CryptoSuite::Sm, config.clone(), 7, 20, 50);
    let m = w.manifest();
    assert_eq!(m.summary.transactions, 1000);
    assert_eq!(m.summary.blocks, 20);

    let seen = check_chain(&d, &w);
    let total = m.summary.transactions as f64;
    for (class, share) in [
        ("public", config.public_share),
        ("opened", config.supervised_share()),
        ("not-for-us", config.not_for_us_share),
        ("inconsistent", config.inconsistent_share),
    ] {
        let got = seen.get(class).copied().unwrap_or(0) as f64 / total;
        assert!(
            (got - share).abs() < 0.04,
            "{class}: {got} vs configured {share}"
        );
        assert!(got > 0.0, "no {class} transaction");
    }

    let findings = check_findings(m);
    for f in Finding::ALL {
        assert!(
            findings.get(&f).copied().unwrap_or(0) > 0,
            "nothing planted for {}",
            f.as_str()
        );
    }
    // The findings' shares are about what was asked (night bursts come with
    // night blocks, not with a share).
    for (f, share) in [
        (Finding::Structuring, config.structuring_share),
        (Finding::RoundTrip, config.round_trip_share),
        (Finding::ListedParty, config.listed_party_share),
    ] {
        let got = findings.get(&f).copied().unwrap_or(0) as f64 / total;
        assert!(
            (got - share).abs() < 0.015,
            "{}: {got} vs {share}",
            f.as_str()
        );
    }

    // The clock: timestamps never go back, business hours by day, and the
    // night blocks in 01:00-04:00 Beijing carry the bursts.
    let times: Vec<i64> = m.blocks.iter().map(|b| b.timestamp_ms).collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]));
    let night_blocks: Vec<i64> = m
        .blocks
        .iter()
        .filter(|b| night(b.timestamp_ms).is_some())
        .map(|b| b.height)
        .collect();
    assert_eq!(night_blocks.len(), 2, "{times:?}");
    for t in m
        .transactions
        .iter()
        .filter(|t| t.findings.contains(&Finding::NightBurst))
    {
        assert!(night_blocks.contains(&t.block_height));
    }

    // Watchlist and organisations are in the manifest, and the watchlist
    // names real accounts.
    assert_eq!(m.watchlist.len(), 2);
    for entry in &m.watchlist {
        let o = w.organisation(&entry.org_id).unwrap();
        assert_eq!(entry.address, o.address_hex());
        assert!(!o.member);
    }
    assert!(m.organisations.len() >= 11);
    assert!(m.organisations.iter().any(|o| o.id == "icbc-sz"));

    // The manifest round-trips through JSON.
    let text = serde_json::to_string(m).unwrap();
    let back: Manifest = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, m);
    assert!(text.contains("\"class\":\"not-for-us\""));
    assert!(text.contains("\"findings\":[\"structuring\"]"));

    check_blocks_verify(&d);
}

#[test]
fn a_seed_reproduces_the_chain_byte_for_byte() {
    let go = |seed| {
        let (d, w) = run(CryptoSuite::Sm, WorkloadConfig::default(), seed, 9, 20);
        let hashes: Vec<[u8; 32]> = d.blocks().iter().map(|b| b.header.claimed_hash).collect();
        (
            hashes,
            serde_json::to_string(w.manifest()).unwrap(),
            w.regulator_key().key_id(),
        )
    };
    let a = go(11);
    let b = go(11);
    let c = go(12);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    assert_ne!(a.0[1..], c.0[1..]);
    assert_ne!(a.2, c.2);
}

#[test]
fn standard_chain_with_session_reuse_repeats_wraps() {
    let config = WorkloadConfig {
        session_reuse: true,
        ..WorkloadConfig::default()
    };
    let (d, w) = run(CryptoSuite::Standard, config, 21, 10, 40);
    check_chain(&d, &w);
    check_findings(w.manifest());
    check_blocks_verify(&d);

    let regulator = keyring_of(w.regulator_key());
    let mut by_pair: BTreeMap<(String, String), Vec<&TxRecord>> = BTreeMap::new();
    for t in &w.manifest().transactions {
        if t.class == PrivacyClass::Opened {
            by_pair
                .entry((t.payer.clone(), t.payee.clone()))
                .or_default()
                .push(t);
        }
    }
    let mut repeated = 0;
    let mut cached = 0;
    for txs in by_pair.values().filter(|v| v.len() >= 2) {
        let inputs: Vec<Vec<u8>> = txs
            .iter()
            .map(|r| d.transaction(&hash_of(&r.tx_hash)).unwrap().0.input.clone())
            .collect();
        let first = Envelope::parse(contracts::carried(&inputs[0]).unwrap()).unwrap();
        for (rec, input) in txs.iter().zip(&inputs).skip(1) {
            let env = Envelope::parse(contracts::carried(input).unwrap()).unwrap();
            assert_eq!(env.recipients, first.recipients, "{}", rec.tx_hash);
            assert_eq!(env.key_commitment, first.key_commitment);
            assert_ne!(env.nonce, first.nonce);
            repeated += 1;
        }
        // The regulator unwraps the session key once.
        for (i, (rec, input)) in txs.iter().zip(&inputs).enumerate() {
            let (t, _, _) = d.transaction(&hash_of(&rec.tx_hash)).unwrap();
            let ctx = TxContext::new(&t.chain_id, &t.group_id, t.claimed_from.unwrap()).unwrap();
            match regulator.open(contracts::carried(input).unwrap(), &ctx) {
                Outcome::Opened(o) => {
                    assert_eq!(o.from_cache, i > 0);
                    cached += usize::from(o.from_cache);
                }
                other => panic!("{}: {}", rec.tx_hash, other.describe()),
            }
        }
    }
    assert!(repeated >= 10, "only {repeated} repeated wraps");
    assert_eq!(cached, repeated);
}

#[test]
fn without_session_reuse_every_envelope_has_its_own_key() {
    let (d, w) = run(CryptoSuite::Sm, WorkloadConfig::default(), 3, 4, 40);
    let mut commitments = BTreeSet::new();
    let mut wraps = BTreeSet::new();
    let mut sealed = 0;
    let mut recipients = 0;
    for t in &w.manifest().transactions {
        if t.class == PrivacyClass::Public {
            continue;
        }
        let input = &d.transaction(&hash_of(&t.tx_hash)).unwrap().0.input;
        let env = Envelope::parse(contracts::carried(input).unwrap()).unwrap();
        commitments.insert(env.key_commitment);
        for r in &env.recipients {
            wraps.insert(r.wrap.to_vec());
            recipients += 1;
        }
        sealed += 1;
    }
    assert!(sealed > 100);
    assert_eq!(commitments.len(), sealed);
    assert_eq!(wraps.len(), recipients);
}

#[test]
fn misuse_is_an_error() {
    let bad = WorkloadConfig {
        public_share: 0.6,
        not_for_us_share: 0.5,
        ..WorkloadConfig::default()
    };
    let e = Workload::new(bad, CryptoSuite::Sm, "chain0", "group0", 1).unwrap_err();
    assert!(e.to_string().contains("at most 1"), "{e}");
    let bad = WorkloadConfig {
        public_share: 0.0,
        not_for_us_share: 0.5,
        inconsistent_share: 0.5,
        ..WorkloadConfig::default()
    };
    assert!(matches!(
        Workload::new(bad, CryptoSuite::Sm, "chain0", "group0", 1),
        Err(WorkloadError::Config(_))
    ));

    let mut d = devnet(CryptoSuite::Sm);
    let mut other = Workload::new(
        WorkloadConfig::default(),
        CryptoSuite::Sm,
        "chain1",
        "group0",
        1,
    )
    .unwrap();
    assert!(matches!(
        other.generate_block(&mut d, 3, 1_800_000_000_000),
        Err(WorkloadError::Mismatch(_))
    ));
    let mut std_w = Workload::new(
        WorkloadConfig::default(),
        CryptoSuite::Standard,
        "chain0",
        "group0",
        1,
    )
    .unwrap();
    assert!(matches!(
        std_w.generate_block(&mut d, 3, 1_800_000_000_000),
        Err(WorkloadError::Mismatch(_))
    ));

    let mut w = Workload::new(
        WorkloadConfig::default(),
        CryptoSuite::Sm,
        "chain0",
        "group0",
        1,
    )
    .unwrap();
    let recs = w.generate_block(&mut d, 3, 1_800_000_000_000).unwrap();
    assert_eq!(recs.len(), 3);
    assert!(matches!(
        w.generate_block(&mut d, 3, 1_799_999_999_999),
        Err(WorkloadError::TimeWentBack { .. })
    ));
    assert_eq!(d.head(), 1);
    // An empty block is fine.
    assert!(
        w.generate_block(&mut d, 0, 1_800_000_000_000)
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.manifest().summary.blocks, 2);
}

#[test]
fn a_given_regulator_key_is_used() {
    let key =
        privacy::keys::PrivateKey::generate_with(&mut ChaCha20Rng::from_seed([9; 32])).unwrap();
    let mut d = devnet(CryptoSuite::Sm);
    let mut w = Workload::with_regulator_key(
        WorkloadConfig {
            public_share: 0.0,
            not_for_us_share: 0.0,
            inconsistent_share: 0.0,
            ..WorkloadConfig::default()
        },
        CryptoSuite::Sm,
        "chain0",
        "group0",
        5,
        key.clone(),
    )
    .unwrap();
    w.generate(&mut d, 2, 10).unwrap();
    assert_eq!(w.manifest().regulator_key_id, key.key_id().to_hex());
    let seen = check_chain(&d, &w);
    assert_eq!(seen.get("opened"), Some(&20));
}

/// The plaintext the chain carries for a transaction: its input for a public
/// one, else what the regulator (or, for envelopes it cannot open, the
/// payer) opens.
fn plaintext_on_chain(d: &Devnet, w: &Workload, rec: &TxRecord) -> Vec<u8> {
    let (t, _, _) = d.transaction(&hash_of(&rec.tx_hash)).unwrap();
    let payload = contracts::carried(&t.input).unwrap();
    let ctx = TxContext::new(&t.chain_id, &t.group_id, t.claimed_from.unwrap()).unwrap();
    let opener = match rec.class {
        PrivacyClass::Public => return payload.to_vec(),
        PrivacyClass::Opened => keyring_of(w.regulator_key()),
        PrivacyClass::NotForUs | PrivacyClass::Inconsistent => {
            keyring_of(&w.organisation(&rec.payer).unwrap().envelope_key)
        }
    };
    let opened = opener.open(payload, &ctx);
    opened.payload().unwrap().to_vec()
}

/// The manifest without what only a chain gives (hashes).
fn without_hashes(m: &Manifest) -> Manifest {
    let mut m = m.clone();
    for t in &mut m.transactions {
        t.tx_hash.clear();
    }
    for b in &mut m.blocks {
        b.hash.clear();
    }
    m
}

#[test]
fn business_blocks_are_the_plaintexts_of_the_chain() {
    for (suite, seed, session_reuse) in [
        (CryptoSuite::Sm, 31, false),
        (CryptoSuite::Standard, 32, true),
    ] {
        let config = WorkloadConfig {
            session_reuse,
            ..WorkloadConfig::default()
        };
        let (d, w) = run(suite, config.clone(), seed, 12, 30);
        let m = w.manifest();
        let mut b = Workload::new(config.clone(), suite, "chain0", "group0", seed).unwrap();
        let mut streamed = Workload::new(config, suite, "chain0", "group0", seed).unwrap();
        streamed.keep_records(false);
        let mut records = m.transactions.iter();
        let mut readable = 0;
        for block in &m.blocks {
            let ts = b.next_timestamp();
            assert_eq!(ts, block.timestamp_ms);
            assert_eq!(streamed.next_timestamp(), ts);
            let business = b.business_block(block.txs, ts).unwrap();
            assert_eq!(business.len(), block.txs);
            assert_eq!(streamed.business_block(block.txs, ts).unwrap(), business);
            for (index, tx) in business.iter().enumerate() {
                let rec = records.next().unwrap();
                assert_eq!((rec.block_height, rec.index), (block.height, index));
                assert_eq!(tx.class, rec.class, "{}", rec.tx_hash);
                assert_eq!(tx.scenario, rec.scenario);
                assert_eq!(b.organisations()[tx.payer].id, rec.payer);
                assert_eq!(b.organisations()[tx.payee].id, rec.payee);
                assert_eq!(b.organisations()[tx.payer].address_hex(), rec.sender);
                let on_chain = plaintext_on_chain(&d, &w, rec);
                assert!(
                    on_chain == tx.payload,
                    "{}: the chain carries {} but the business is {}",
                    rec.tx_hash,
                    String::from_utf8_lossy(&on_chain),
                    String::from_utf8_lossy(&tx.payload)
                );
                readable += usize::from(tx.class.readable());
            }
        }
        assert!(records.next().is_none());
        assert!(readable > 200, "{readable}");
        // The same records, findings tagged the same, but for the hashes.
        assert_eq!(without_hashes(b.manifest()), without_hashes(m));
        assert!(m.summary.findings.values().sum::<usize>() > 0);
        // Without records, the counts remain.
        let s = &streamed.manifest().summary;
        assert!(streamed.manifest().transactions.is_empty());
        assert!(streamed.manifest().blocks.is_empty());
        assert_eq!(
            (s.blocks, s.transactions, &s.classes),
            (m.summary.blocks, m.summary.transactions, &m.summary.classes)
        );
    }
}
