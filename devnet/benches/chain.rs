//! Criterion benchmarks of the chain model: verifying a block (header,
//! quorum signatures, transaction root), verifying one transaction (hash and
//! signature), parsing a served block, and the devnet's generation rate;
//! each for the SM and the standard suite; and the workload generator's rate
//! (sign, seal envelopes, seal blocks); and, beside verification in the
//! same run, what decoding a contract call and its event log costs (the
//! `abi` crate, on the devnet's payment contract).
//!
//! Run: `cargo bench -p devnet --bench chain`. Results in `docs/PERFORMANCE.md`.

use std::hint::black_box;

use chain::CryptoSuite;
use chain::model::{Block, BlockTransactions};
use chain::render::{BlockDetail, block_json};
use chain::verify::{Item, verify_block, verify_transaction};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use devnet::signer::NodeKey;
use devnet::{ChainConfig, Devnet};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const TXS: usize = 100;

fn chain(suite: CryptoSuite) -> (Devnet, Vec<NodeKey>) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let sealers = (0..4)
        .map(|_| NodeKey::generate(suite, &mut rng).expect("key"))
        .collect();
    let users = (0..8)
        .map(|_| NodeKey::generate(suite, &mut rng).expect("key"))
        .collect();
    (
        Devnet::new(ChainConfig::new(suite, 4), sealers).expect("devnet"),
        users,
    )
}

fn txs(d: &Devnet, users: &[NodeKey], n: usize, tag: usize) -> Vec<chain::model::Transaction> {
    (0..n)
        .map(|i| {
            d.make_transaction(
                &users[i % users.len()],
                "0x4444444444444444444444444444444444444444",
                vec![7u8; 256],
                format!("{tag}-{i}"),
                0,
            )
            .expect("tx")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let name = suite.name();
        let (mut d, users) = chain(suite);
        let block_txs = txs(&d, &users, TXS, 0);
        d.seal_block(block_txs, 1).expect("seal");
        let block: Block = d.block(1).expect("block").clone();
        let committee = d.committee();
        let header_only = Block {
            header: block.header.clone(),
            transactions: BlockTransactions::Absent,
        };
        let mut g = c.benchmark_group(format!("verify/{name}"));
        g.bench_function("block_header_and_quorum", |b| {
            b.iter(|| black_box(verify_block(suite, &header_only, Some(&committee))))
        });
        g.throughput(Throughput::Elements(TXS as u64));
        g.bench_function(BenchmarkId::new("block_with_txs", TXS), |b| {
            b.iter(|| black_box(verify_block(suite, &block, Some(&committee))))
        });
        g.throughput(Throughput::Elements(1));
        let BlockTransactions::Full(ts) = &block.transactions else {
            unreachable!("sealed full")
        };
        let one = ts[0].clone();
        g.bench_function("transaction", |b| {
            b.iter(|| black_box(verify_transaction(suite, &one)))
        });
        let text = serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": block_json(&block, BlockDetail::Full)}).to_string();
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(BenchmarkId::new("parse_block_json", TXS), |b| {
            b.iter(|| black_box(Item::parse(&text).expect("parse")))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("devnet/{name}"));
        g.throughput(Throughput::Elements(TXS as u64));
        let mut round = 1;
        g.bench_function(BenchmarkId::new("sign_and_seal", TXS), |b| {
            b.iter(|| {
                round += 1;
                let t = txs(&d, &users, TXS, round);
                d.seal_block(t, round as i64).expect("seal");
            })
        });
        g.finish();
    }
}

fn bench_workload(c: &mut Criterion) {
    use devnet::workload::{Workload, WorkloadConfig};
    let mut g = c.benchmark_group("workload");
    g.throughput(Throughput::Elements(TXS as u64));
    g.sample_size(10);
    for (label, session_reuse) in [("fresh_key_per_tx", false), ("session_reuse", true)] {
        let (mut d, _) = chain(CryptoSuite::Sm);
        let config = WorkloadConfig {
            session_reuse,
            ..WorkloadConfig::default()
        };
        let mut w =
            Workload::new(config, CryptoSuite::Sm, "chain0", "group0", 7).expect("workload");
        g.bench_function(BenchmarkId::new(format!("sm/{label}"), TXS), |b| {
            b.iter(|| {
                let ts = w.next_timestamp();
                w.generate_block(&mut d, TXS, ts).expect("block").len()
            })
        });
    }
    g.finish();
}

/// Decoding the payment contract's `pay` call (a 512-byte envelope in its
/// `bytes` argument) and its `PaymentSent` log, as the EVM produced them.
fn bench_abi(c: &mut Criterion) {
    use alloy_dyn_abi::{DynSolValue, JsonAbiExt};
    use alloy_json_abi::JsonAbi;
    use revm::primitives::{Address, B256, U256};
    let artifact: serde_json::Value = serde_json::from_str(include_str!(
        "../contracts/artifacts/CrossBorderPayment.json"
    ))
    .expect("artifact");
    let abi_text = artifact["abi"].to_string();
    let abi: JsonAbi = serde_json::from_value(artifact["abi"].clone()).expect("abi");
    let code = hex::decode(
        artifact["bytecode"]
            .as_str()
            .expect("bytecode")
            .trim_start_matches("0x"),
    )
    .expect("hex");
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let contract = abi::Contract::parse(&abi_text, suite).expect("abi");
        let pay = abi.function("pay").expect("pay")[0].clone();
        let (_, selector) = contract
            .selectors()
            .into_iter()
            .find(|(s, _)| *s == pay.signature())
            .expect("selector");
        let mut input = hex::decode(&selector[2..]).expect("hex");
        input.extend(
            pay.abi_encode_input_raw(&[
                DynSolValue::FixedBytes(B256::repeat_byte(7), 32),
                Address::repeat_byte(0xf1).into(),
                U256::from(12_345u64).into(),
                DynSolValue::String("CNY".into()),
                DynSolValue::Bytes(vec![0xab; 512]),
            ])
            .expect("encode"),
        );
        let mut evm = devnet::evm::Evm::new(suite);
        let at = evm
            .deploy(
                Address::repeat_byte(0xb1),
                &devnet::evm::translate(&code, &abi_text, suite).expect("translate"),
                1,
                0,
            )
            .expect("deploy")
            .contract
            .expect("address");
        let out = evm
            .call(Address::repeat_byte(0xb1), at, &input, 2)
            .expect("call");
        let log = out.logs.first().expect("a log").clone();
        let mut g = c.benchmark_group(format!("abi/{}", suite.name()));
        g.bench_function("decode_call_pay", |b| {
            b.iter(|| contract.decode_call(black_box(&input)).expect("decodes"))
        });
        g.bench_function("decode_event_payment_sent", |b| {
            b.iter(|| {
                contract
                    .decode_event(black_box(&log.topics), black_box(&log.data))
                    .expect("decodes")
            })
        });
        g.bench_function("decode_call_pay_to_json", |b| {
            b.iter(|| {
                contract
                    .decode_call(black_box(&input))
                    .expect("decodes")
                    .to_json()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench, bench_workload, bench_abi);
criterion_main!(benches);
