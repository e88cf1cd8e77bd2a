//! The consortium's business contracts (`devnet/contracts/*.sol`, compiled
//! by the official solc into the committed artifacts): what the devnet
//! installs at genesis and what its workload calls.
//!
//! Each scenario of the workload has its contract, installed at the
//! scenario's fixed address ([`Scenario::contract_address`]) when a devnet
//! is created, as a consortium's genesis holds its system contracts:
//! - cross-border remittance: `CrossBorderPayment.pay(ref, payee, amount,
//!   currency, record)`;
//! - supply-chain finance: `Receivables.settle(id, creditor, amount,
//!   currency, record)`;
//! - trade settlement: `Token.transferWithRecord(to, value, record)` (an
//!   ERC-20 `Transfer`);
//! - copyright registration: `CopyrightRegistry.register(workId, operator,
//!   fee, currency, record)`.
//!
//! A public transaction calls the scenario's method with its terms (amounts
//! in minor units, two decimals) and its JSON record in `record`; a private
//! one calls `submitPrivate(ref, envelope)` with an opaque reference and the
//! supervised envelope, so that nothing of its business is in the clear.

use std::sync::OnceLock;

use abi::{Contract, Value};
use chain::CryptoSuite;

use crate::workload::Scenario;

/// Why a contract call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// A committed artifact does not read (a build problem).
    #[error("artifact {name}: {reason}")]
    Artifact {
        /// The contract.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The call does not encode.
    #[error(transparent)]
    Encode(#[from] abi::EncodeError),
}

/// A compiled contract: its name, JSON ABI and creation bytecode (with
/// keccak256 selectors, as solc emits it).
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The contract's name.
    pub name: &'static str,
    /// The JSON ABI (solc's array), as a deploy transaction carries it.
    pub abi: String,
    /// The creation bytecode.
    pub bytecode: Vec<u8>,
}

const SOURCES: [(&str, &str); 4] = [
    (
        "CrossBorderPayment",
        include_str!("../contracts/artifacts/CrossBorderPayment.json"),
    ),
    (
        "Receivables",
        include_str!("../contracts/artifacts/Receivables.json"),
    ),
    ("Token", include_str!("../contracts/artifacts/Token.json")),
    (
        "CopyrightRegistry",
        include_str!("../contracts/artifacts/CopyrightRegistry.json"),
    ),
];

/// Every artifact, in a stable order.
pub fn artifacts() -> Result<&'static [Artifact], ContractError> {
    static ALL: OnceLock<Result<Vec<Artifact>, String>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(name, text)| read(name, text).map_err(|e| format!("{name}: {e}")))
            .collect()
    });
    all.as_deref().map_err(|reason| ContractError::Artifact {
        name: "artifacts",
        reason: reason.clone(),
    })
}

fn read(name: &'static str, text: &str) -> Result<Artifact, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let code = v["bytecode"].as_str().ok_or("no bytecode")?;
    Ok(Artifact {
        name,
        abi: v["abi"].to_string(),
        bytecode: hex::decode(code.trim_start_matches("0x")).map_err(|e| e.to_string())?,
    })
}

/// The artifact of contract `name`.
pub fn artifact(name: &str) -> Result<&'static Artifact, ContractError> {
    artifacts()?
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ContractError::Artifact {
            name: "artifacts",
            reason: format!("no contract named {name}"),
        })
}

/// The contract a scenario's transactions call.
pub fn of_scenario(s: Scenario) -> &'static str {
    match s {
        Scenario::CrossBorderRemittance => "CrossBorderPayment",
        Scenario::SupplyChainFinance => "Receivables",
        Scenario::TradeSettlement => "Token",
        Scenario::CopyrightRegistration => "CopyrightRegistry",
    }
}

/// Contract `name`'s ABI on a chain with `suite`'s hash, parsed once.
pub fn contract(name: &str, suite: CryptoSuite) -> Result<&'static Contract, ContractError> {
    type Parsed = Vec<(&'static str, Result<Contract, String>)>;
    static SM: OnceLock<Parsed> = OnceLock::new();
    static STANDARD: OnceLock<Parsed> = OnceLock::new();
    let cell = match suite {
        CryptoSuite::Sm => &SM,
        CryptoSuite::Standard => &STANDARD,
    };
    let parsed = cell.get_or_init(|| match artifacts() {
        Ok(all) => all
            .iter()
            .map(|a| {
                (
                    a.name,
                    Contract::parse(&a.abi, suite).map_err(|e| e.to_string()),
                )
            })
            .collect(),
        Err(e) => vec![("artifacts", Err(e.to_string()))],
    });
    match parsed.iter().find(|(n, _)| *n == name) {
        Some((_, Ok(c))) => Ok(c),
        Some((n, Err(reason))) => Err(ContractError::Artifact {
            name: n,
            reason: reason.clone(),
        }),
        None => Err(ContractError::Artifact {
            name: "artifacts",
            reason: format!("no contract named {name}"),
        }),
    }
}

/// The business terms of a public call.
#[derive(Debug, Clone)]
pub struct Terms<'a> {
    /// The reference (at most 32 bytes are kept; a longer one is hashed).
    pub reference: &'a str,
    /// The receiving party's account.
    pub payee: [u8; 20],
    /// The amount in minor units (hundredths).
    pub amount_minor: u64,
    /// The currency code.
    pub currency: &'a str,
    /// The JSON record.
    pub record: &'a [u8],
}

/// The input of scenario `s`'s public call with `terms`.
pub fn public_call(
    suite: CryptoSuite,
    s: Scenario,
    terms: &Terms<'_>,
) -> Result<Vec<u8>, ContractError> {
    let c = contract(of_scenario(s), suite)?;
    let reference = Value::Bytes(format!("0x{}", hex::encode(ref32(suite, terms.reference))));
    let payee = Value::Address(format!("0x{}", hex::encode(terms.payee)));
    let amount = Value::Uint(terms.amount_minor.to_string());
    let currency = Value::String(terms.currency.to_string());
    let record = Value::Bytes(format!("0x{}", hex::encode(terms.record)));
    Ok(match s {
        Scenario::CrossBorderRemittance => {
            c.encode_call("pay", &[reference, payee, amount, currency, record])?
        }
        Scenario::SupplyChainFinance => {
            c.encode_call("settle", &[reference, payee, amount, currency, record])?
        }
        Scenario::TradeSettlement => {
            c.encode_call("transferWithRecord", &[payee, amount, record])?
        }
        Scenario::CopyrightRegistration => {
            c.encode_call("register", &[reference, payee, amount, currency, record])?
        }
    })
}

/// The input of scenario `s`'s private call: `submitPrivate(reference,
/// envelope)`.
pub fn private_call(
    suite: CryptoSuite,
    s: Scenario,
    reference: [u8; 32],
    envelope: &[u8],
) -> Result<Vec<u8>, ContractError> {
    let c = contract(of_scenario(s), suite)?;
    Ok(c.encode_call(
        "submitPrivate",
        &[
            Value::Bytes(format!("0x{}", hex::encode(reference))),
            Value::Bytes(format!("0x{}", hex::encode(envelope))),
        ],
    )?)
}

/// The selector (`0x`-hex) of scenario `s`'s public method, or of
/// `submitPrivate` when `public` is false, on a chain with `suite`'s hash.
pub fn selector(suite: CryptoSuite, s: Scenario, public: bool) -> Result<String, ContractError> {
    let c = contract(of_scenario(s), suite)?;
    let method = match (public, s) {
        (false, _) => "submitPrivate(",
        (true, Scenario::CrossBorderRemittance) => "pay(",
        (true, Scenario::SupplyChainFinance) => "settle(",
        (true, Scenario::TradeSettlement) => "transferWithRecord(",
        (true, Scenario::CopyrightRegistration) => "register(",
    };
    c.selectors()
        .into_iter()
        .find(|(signature, _)| signature.starts_with(method))
        .map(|(_, selector)| selector)
        .ok_or_else(|| ContractError::Artifact {
            name: of_scenario(s),
            reason: format!("no method {method}..)"),
        })
}

/// A reference as `bytes32`: its text left-aligned and zero-padded when it
/// fits, else the chain's hash of it.
pub fn ref32(suite: CryptoSuite, reference: &str) -> [u8; 32] {
    let b = reference.as_bytes();
    if b.len() <= 32 {
        let mut w = [0u8; 32];
        w[..b.len()].copy_from_slice(b);
        w
    } else {
        suite.hash(b)
    }
}

/// The record or envelope a workload call carries: its last dynamic
/// argument (the `bytes` the scenario's method and `submitPrivate` end
/// with).
pub fn carried(input: &[u8]) -> Option<&[u8]> {
    chain::payload::dynamic_arguments(input).last().copied()
}

/// The business mappings of the contracts, for the node that follows a
/// devnet: the parties, amount (in hundredths), currency and reference of
/// each scenario's public method, the `bytes` argument carrying the record
/// or envelope, and the token's `Transfer` in hundredths.
pub fn mappings() -> Vec<records::mapping::MappingSpec> {
    use records::mapping::MappingSpec;
    let mut out = Vec::new();
    for s in Scenario::ALL {
        let contract = Some(s.contract_address().to_string());
        let (method, payee, amount, reference) = match s {
            Scenario::CrossBorderRemittance => ("pay", "payee", "amount", Some("ref")),
            Scenario::SupplyChainFinance => ("settle", "creditor", "amount", Some("id")),
            Scenario::TradeSettlement => ("transferWithRecord", "to", "value", None),
            Scenario::CopyrightRegistration => ("register", "operator", "fee", Some("workId")),
        };
        out.push(MappingSpec {
            contract: contract.clone(),
            method: Some(method.into()),
            payer: Some("@sender".into()),
            payee: Some(payee.into()),
            amount: Some(amount.into()),
            decimals: 2,
            currency: (s != Scenario::TradeSettlement).then(|| "currency".into()),
            reference: reference.map(Into::into),
            record: vec!["record".into()],
            ..MappingSpec::default()
        });
        out.push(MappingSpec {
            contract: contract.clone(),
            method: Some("submitPrivate".into()),
            record: vec!["envelope".into()],
            ..MappingSpec::default()
        });
        if s == Scenario::TradeSettlement {
            out.push(MappingSpec {
                contract,
                event: Some("Transfer".into()),
                payer: Some("from".into()),
                payee: Some("to".into()),
                amount: Some("value".into()),
                decimals: 2,
                ..MappingSpec::default()
            });
        }
    }
    out
}
