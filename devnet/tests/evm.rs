//! The devnet's EVM runs the contracts the official compiler builds from
//! `devnet/contracts/` (compiled again here with npm's solc, and compared
//! with the committed artifacts), on a national-standard chain and on a
//! standard one: calls select by the chain's selectors, the logs decode
//! (with the `abi` crate) to the events the Solidity source declares,
//! `KECCAK256` is SM3 on the national-standard chain, and contracts live
//! where FISCO BCOS puts them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use alloy_dyn_abi::{DynSolValue, JsonAbiExt};
use alloy_json_abi::JsonAbi;
use chain::CryptoSuite;
use devnet::evm::{Evm, EvmLog, translate};
use revm::primitives::{Address, B256, U256};
use serde_json::{Value, json};

fn contracts_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/contracts"))
}

/// Compiles the sources with the pinned solc into `out` (installing it
/// with `npm ci` on first use).
fn compile(out: &Path) {
    let dir = contracts_dir();
    if !dir.join("node_modules/solc").is_dir() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm runs");
        assert!(ok.success(), "npm ci in devnet/contracts failed");
    }
    let run = Command::new("node")
        .arg(dir.join("build.js"))
        .arg(out)
        .output()
        .expect("node runs");
    assert!(
        run.status.success(),
        "solc failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

struct Artifact {
    abi_text: String,
    abi: JsonAbi,
    bytecode: Vec<u8>,
}

fn artifact(dir: &Path, name: &str) -> Artifact {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap();
    Artifact {
        abi_text: v["abi"].to_string(),
        abi: serde_json::from_value(v["abi"].clone()).unwrap(),
        bytecode: hex::decode(v["bytecode"].as_str().unwrap().trim_start_matches("0x")).unwrap(),
    }
}

/// The input of `method(args)` with the chain's selector.
fn input(a: &Artifact, suite: CryptoSuite, method: &str, args: &[DynSolValue]) -> Vec<u8> {
    let f = a.abi.function(method).unwrap().first().unwrap();
    let c = abi::Contract::parse(&a.abi_text, suite).unwrap();
    let (_, selector) = c
        .selectors()
        .into_iter()
        .find(|(s, _)| *s == f.signature())
        .unwrap();
    let mut out = hex::decode(&selector[2..]).unwrap();
    out.extend(f.abi_encode_input_raw(args).unwrap());
    out
}

/// Each log of `logs` decoded with `a`'s ABI on `suite`, as JSON.
fn decoded(a: &Artifact, suite: CryptoSuite, logs: &[EvmLog]) -> Vec<Value> {
    let c = abi::Contract::parse(&a.abi_text, suite).unwrap();
    logs.iter()
        .map(|l| c.decode_event(&l.topics, &l.data).unwrap().to_json())
        .collect()
}

fn values(log: &Value) -> Vec<Value> {
    log["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].clone())
        .collect()
}

fn addr(byte: u8) -> Address {
    Address::repeat_byte(byte)
}

fn hex_addr(a: Address) -> String {
    format!("0x{}", hex::encode(a))
}

#[test]
fn the_contracts_compile_to_the_committed_artifacts() {
    let fresh = tempfile::tempdir().unwrap();
    compile(fresh.path());
    for name in [
        "CopyrightRegistry",
        "CrossBorderPayment",
        "Receivables",
        "Token",
    ] {
        let read = |dir: &Path| -> Value {
            serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            read(fresh.path()),
            read(&contracts_dir().join("artifacts")),
            "{name}: the committed artifact is not what `node build.js` makes of the source"
        );
    }
}

#[test]
fn contracts_run_and_their_logs_decode_on_both_kinds_of_chain() {
    let dir = contracts_dir().join("artifacts");
    let token = artifact(&dir, "Token");
    let receivables = artifact(&dir, "Receivables");
    let payment = artifact(&dir, "CrossBorderPayment");
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let mut evm = Evm::new(suite);
        let (bank, firm, buyer) = (addr(0xb1), addr(0xf1), addr(0xc1));
        let deploy = |evm: &mut Evm, a: &Artifact, index: usize| {
            let code = translate(&a.bytecode, &a.abi_text, suite).unwrap();
            let out = evm.deploy(bank, &code, 1, index).unwrap();
            assert_eq!(out.status, 0, "{suite:?}: deploy: {out:?}");
            let at = out.contract.unwrap();
            assert_eq!(at, evm.contract_address(1, index), "FISCO's address");
            let fisco = suite.hash(format!("1_{index}_0").as_bytes());
            assert_eq!(at.as_slice(), &fisco[..20]);
            at
        };
        let token_at = deploy(&mut evm, &token, 0);
        let receivables_at = deploy(&mut evm, &receivables, 1);
        let payment_at = deploy(&mut evm, &payment, 2);

        // The token: a transfer moves net positions (a member may go short
        // down to its credit line) and is an ERC-20 Transfer.
        let pay = input(
            &token,
            suite,
            "transfer",
            &[buyer.into(), U256::from(400u64).into()],
        );
        let out = evm.call(firm, token_at, &pay, 2).unwrap();
        assert_eq!(out.status, 0, "{suite:?}: transfer {out:?}");
        assert!(out.gas_used > 21_000);
        assert_eq!(
            out.output,
            U256::from(1u64).to_be_bytes::<32>(),
            "returns true"
        );
        let logs = decoded(&token, suite, &out.logs);
        assert_eq!(logs[0]["event"], "Transfer");
        assert_eq!(
            values(&logs[0]),
            [json!(hex_addr(firm)), json!(hex_addr(buyer)), json!("400")]
        );
        assert_eq!(out.logs[0].address, token_at, "the log names the contract");
        let position = |evm: &mut Evm, who: Address| {
            let q = input(&token, suite, "positionOf", &[who.into()]);
            let out = evm.call(firm, token_at, &q, 2).unwrap();
            revm::primitives::I256::from_be_bytes::<32>(out.output.try_into().unwrap()).to_string()
        };
        assert_eq!(position(&mut evm, firm), "-400", "{suite:?}");
        assert_eq!(position(&mut evm, buyer), "400");
        let with_record = input(
            &token,
            suite,
            "transferWithRecord",
            &[
                firm.into(),
                U256::from(150u64).into(),
                DynSolValue::Bytes(b"{\"invoice\":\"INV-1\"}".to_vec()),
            ],
        );
        let out = evm.call(buyer, token_at, &with_record, 2).unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(
            values(&decoded(&token, suite, &out.logs)[0]),
            [json!(hex_addr(buyer)), json!(hex_addr(firm)), json!("150")]
        );
        assert_eq!(position(&mut evm, firm), "-250");
        let beyond = input(
            &token,
            suite,
            "transfer",
            &[
                buyer.into(),
                U256::from(10u64).pow(U256::from(31u64)).into(),
            ],
        );
        let out = evm.call(firm, token_at, &beyond, 2).unwrap();
        assert_eq!(out.status, 16, "a revert");
        assert!(out.logs.is_empty());
        assert!(String::from_utf8_lossy(&out.output).contains("above the credit line"));
        // A keccak256 selector selects nothing on the SM chain (and the
        // other way round): the contract has no fallback, so it reverts.
        let other = if suite == CryptoSuite::Sm {
            CryptoSuite::Standard
        } else {
            CryptoSuite::Sm
        };
        let wrong = input(&token, other, "positionOf", &[firm.into()]);
        assert_eq!(evm.call(firm, token_at, &wrong, 2).unwrap().status, 16);

        // Receivables: issued, financed, settled, each an event.
        let id = DynSolValue::FixedBytes(B256::repeat_byte(0x42), 32);
        let calls = [
            (
                "issue",
                firm,
                vec![
                    id.clone(),
                    buyer.into(),
                    U256::from(5_000_000u64).into(),
                    DynSolValue::Uint(U256::from(1_767_225_600u64), 64),
                    DynSolValue::String("应收账款 INV-2026-001".into()),
                ],
                "ReceivableIssued",
            ),
            (
                "finance",
                bank,
                vec![
                    id.clone(),
                    U256::from(4_800_000u64).into(),
                    DynSolValue::Uint(U256::from(350u64), 16),
                ],
                "ReceivableFinanced",
            ),
            (
                "settle",
                buyer,
                vec![
                    id.clone(),
                    firm.into(),
                    U256::from(5_000_000u64).into(),
                    DynSolValue::String("CNY".into()),
                    DynSolValue::Bytes(b"{}".to_vec()),
                ],
                "ReceivableSettled",
            ),
        ];
        let mut seen = Vec::new();
        for (method, from, args, event) in calls {
            let out = evm
                .call(
                    from,
                    receivables_at,
                    &input(&receivables, suite, method, &args),
                    3,
                )
                .unwrap();
            assert_eq!(out.status, 0, "{suite:?} {method}: {out:?}");
            let logs = decoded(&receivables, suite, &out.logs);
            assert_eq!(logs.len(), 1);
            assert_eq!(logs[0]["event"], event);
            seen.push(logs[0].clone());
        }
        let issued = values(&seen[0]);
        assert_eq!(issued[0], json!(format!("0x{}", "42".repeat(32))));
        assert_eq!(
            issued[2],
            json!(hex_addr(firm)),
            "the creditor is the caller"
        );
        assert_eq!(issued[3], json!("5000000"));
        assert_eq!(issued[5], json!("应收账款 INV-2026-001"));
        assert_eq!(
            values(&seen[2]),
            [
                json!(format!("0x{}", "42".repeat(32))),
                json!(hex_addr(buyer)),
                json!(hex_addr(firm)),
                json!("5000000"),
                json!("CNY")
            ],
            "the debtor (the caller) pays the creditor"
        );

        // A payment carries its record in a bytes argument; the log names
        // the parties, amount and currency.
        let reference = DynSolValue::FixedBytes(B256::repeat_byte(0x07), 32);
        let call = input(
            &payment,
            suite,
            "pay",
            &[
                reference.clone(),
                firm.into(),
                U256::from(12_345u64).into(),
                DynSolValue::String("CNY".into()),
                DynSolValue::Bytes(b"LTENV1 sealed".to_vec()),
            ],
        );
        let out = evm.call(bank, payment_at, &call, 4).unwrap();
        assert_eq!(out.status, 0, "{out:?}");
        let log = &decoded(&payment, suite, &out.logs)[0];
        assert_eq!(log["event"], "PaymentSent");
        assert_eq!(
            values(log),
            [
                json!(format!("0x{}", "07".repeat(32))),
                json!(hex_addr(bank)),
                json!(hex_addr(firm)),
                json!("12345"),
                json!("CNY")
            ]
        );
        // A private payment: an opaque reference and the envelope; the
        // event keeps the envelope's digest, hashed by the chain's hash.
        let private = input(
            &payment,
            suite,
            "submitPrivate",
            &[reference, DynSolValue::Bytes(b"LTENV1 sealed".to_vec())],
        );
        let out = evm.call(bank, payment_at, &private, 4).unwrap();
        assert_eq!(out.status, 0, "{out:?}");
        let log = &decoded(&payment, suite, &out.logs)[0];
        assert_eq!(log["event"], "PrivateRecord");
        assert_eq!(
            values(log)[2],
            json!(format!("0x{}", hex::encode(suite.hash(b"LTENV1 sealed"))))
        );
        // And the call decodes, record included.
        let c = abi::Contract::parse(&payment.abi_text, suite).unwrap();
        let decoded_call = c.decode_call(&call).unwrap().to_json();
        assert_eq!(decoded_call["method"], "pay");
        assert_eq!(
            decoded_call["args"][4]["value"],
            format!("0x{}", hex::encode(b"LTENV1 sealed"))
        );
    }
}

#[test]
fn keccak256_is_sm3_on_a_national_standard_chain() {
    // Runtime: copy the call data to memory, hash it, return the hash.
    // CALLDATASIZE PUSH1 0 PUSH1 0 CALLDATACOPY CALLDATASIZE PUSH1 0 KECCAK256
    // PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    let runtime = hex::decode("3660006000373660002060005260206000f3").unwrap();
    // Init: copy the runtime (18 bytes at offset 12) to memory and return it.
    let mut init = hex::decode("6012600c60003960126000f3").unwrap();
    init.extend(&runtime);
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let mut evm = Evm::new(suite);
        let at = evm.deploy(addr(1), &init, 1, 0).unwrap().contract.unwrap();
        for data in [&b""[..], b"abc", &[7u8; 100][..]] {
            let out = evm.call(addr(1), at, data, 2).unwrap();
            assert_eq!(out.status, 0);
            assert_eq!(
                out.output,
                suite.hash(data),
                "{suite:?} over {} bytes",
                data.len()
            );
        }
    }
    // GB/T 32905's example: SM3("abc").
    let mut evm = Evm::new(CryptoSuite::Sm);
    let at = evm.deploy(addr(1), &init, 1, 0).unwrap().contract.unwrap();
    assert_eq!(
        hex::encode(evm.call(addr(1), at, b"abc", 2).unwrap().output),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
}

#[test]
fn a_selector_with_a_leading_zero_byte_is_refused_by_name() {
    // keccak256("repay(bytes32,uint256)") starts 0x00: solc would push it
    // in three bytes, and the SM3 one cannot take its place.
    let abi = r#"[{"type":"function","name":"repay","inputs":[{"name":"id","type":"bytes32"},{"name":"amount","type":"uint256"}],"outputs":[]}]"#;
    let e = translate(&[0x00], abi, CryptoSuite::Sm)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("repay(bytes32,uint256)") && e.contains("zero byte"),
        "{e}"
    );
    assert_eq!(
        translate(&[0x60, 0x01], abi, CryptoSuite::Standard).unwrap(),
        [0x60, 0x01]
    );
}

/// Transactions sealed into devnet blocks run in the chain's EVM: a deploy's
/// receipt names FISCO's contract address, a call's receipt carries the
/// logs the contract emitted; a chain restored from its blocks executes
/// them again to the same receipts.
#[test]
fn sealed_transactions_run_in_the_chain_and_replay_on_restore() {
    use devnet::signer::NodeKey;
    use devnet::{ChainConfig, Devnet};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    let token = artifact(&contracts_dir().join("artifacts"), "Token");
    for suite in [CryptoSuite::Sm, CryptoSuite::Standard] {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let sealers: Vec<NodeKey> = (0..4)
            .map(|_| NodeKey::generate(suite, &mut rng).unwrap())
            .collect();
        let issuer = NodeKey::generate(suite, &mut rng).unwrap();
        let config = ChainConfig::new(suite, 4);
        let mut d = Devnet::new(config.clone(), sealers.clone()).unwrap();
        let code = translate(&token.bytecode, &token.abi_text, suite).unwrap();
        let deploy = d
            .make_deploy(&issuer, code, &token.abi_text, "1".into(), 0)
            .unwrap();
        d.seal_block(vec![deploy], 1_000).unwrap();
        let receipt = d.receipts_of(1)[0].clone();
        assert_eq!(receipt.status, 0);
        let at = d.evm().contract_address(1, 0);
        assert_eq!(receipt.contract_address, hex::encode(at));
        // As getABI and getCode answer: the ABI the deploy carried, the
        // runtime code the constructor returned.
        assert_eq!(d.abi_of(&hex_addr(at)), Some(token.abi_text.as_str()));
        let runtime = d.code_of(&hex_addr(at)).expect("code");
        assert!(!runtime.is_empty() && runtime.len() < token.bytecode.len());
        assert_eq!(d.code_of(&hex_addr(Address::repeat_byte(9))), None);
        let holder = Address::repeat_byte(0x5e);
        let mint = input(
            &token,
            suite,
            "transfer",
            &[holder.into(), U256::from(77u64).into()],
        );
        let call = d
            .make_transaction(&issuer, &hex_addr(at), mint, "2".into(), 0)
            .unwrap();
        d.seal_block(vec![call], 2_000).unwrap();
        let receipt = d.receipts_of(2)[0].clone();
        assert_eq!(receipt.status, 0, "{suite:?}: {receipt:?}");
        assert_eq!(receipt.logs.len(), 1);
        assert_eq!(receipt.logs[0].address, hex::encode(at));
        let c = abi::Contract::parse(&token.abi_text, suite).unwrap();
        let log = c
            .decode_event(&receipt.logs[0].topics, &receipt.logs[0].data)
            .unwrap();
        assert_eq!(log.event, "Transfer");
        assert_eq!(log.args[2].value, abi::Value::Uint("77".into()));
        // The receipts verify against the block, as ingest checks them.
        let block = d.block(2).unwrap().clone();
        let senders = vec![Some(issuer.address())];
        let report =
            chain::verify::verify_block_receipts(suite, &block, &senders, d.receipts_of(2));
        assert!(
            report.passed(),
            "{:?}",
            report.failures().collect::<Vec<_>>()
        );
        // Restored from its blocks, the chain runs them again.
        let blocks = d.blocks().to_vec();
        let mut again = Devnet::restore(config, sealers, blocks).unwrap();
        assert_eq!(again.receipts_of(2), d.receipts_of(2));
        assert!(again.evm().has_code(at));
        assert_eq!(again.abi_of(&hex_addr(at)), Some(token.abi_text.as_str()));

        // Served: getCode and getABI answer as a FISCO BCOS 3.x node does.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let served = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let state = devnet::server::AppState::new(
                std::sync::Arc::new(tokio::sync::RwLock::new(again)),
                None,
            );
            tokio::spawn(devnet::server::serve(listener, state, std::future::pending()));
            let call = |method: &str, address: String| {
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": ["group0", "", address]});
                let url = url.clone();
                async move {
                    reqwest::Client::new()
                        .post(url)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json::<Value>()
                        .await
                        .unwrap()
                }
            };
            (
                call("getCode", hex_addr(at)).await,
                call("getABI", hex_addr(at)).await,
                call("getCode", hex_addr(Address::repeat_byte(9))).await,
                call("getABI", hex_addr(Address::repeat_byte(9))).await,
            )
        });
        assert_eq!(
            served.0["result"],
            json!(format!("0x{}", hex::encode(&runtime)))
        );
        assert_eq!(served.1["result"], json!(token.abi_text));
        assert_eq!(served.2["result"], json!(""));
        assert_eq!(served.3["result"], json!(""));
    }
}
