//! The business mapping: which decoded arguments of a contract's method, or
//! fields of its event, are the payer, payee, amount (with its decimals),
//! currency, reference and memo of a payment, and which `bytes` arguments
//! carry its record (JSON in the clear, or a supervised envelope).
//!
//! A mapping names a contract (or any contract) and one method or event.
//! Each business field is taken from a [`Source`]: an argument by name, the
//! transaction's sender (`@sender`), or a fixed text (`=CNY`). With no
//! mapping of its own, an ERC-20-style `Transfer(address,address,uint256)`
//! event of any contract maps `from`, `to` and `value` ([`Mapping::erc20`]).
//!
//! Mappings come from the configuration (`[[mapping]]`) and from admins
//! through GraphQL; they are kept in the store's `mappings` family, one per
//! (contract, method or event), the last saved winning. Chain data cannot
//! add mappings, but they are bounded anyway ([`MAX_MAPPINGS`]).

use serde::{Deserialize, Serialize};
#[cfg(feature = "store")]
use store::{Family, Op, Store, StoreError};

use crate::money::Money;

/// The mappings' family.
#[cfg(feature = "store")]
pub const MAPPINGS: Family = Family::new("mappings");
/// Mappings kept at most.
pub const MAX_MAPPINGS: usize = 10_000;
/// The most decimals an amount may be declared with.
pub const MAX_DECIMALS: u32 = 36;

/// Why a mapping is refused.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The store failed.
    #[cfg(feature = "store")]
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The mapping is not well formed; the text names the field.
    #[error("mapping {item}: {reason}")]
    Invalid {
        /// The mapping (contract and method or event).
        item: String,
        /// What is wrong.
        reason: String,
    },
    /// Too many mappings.
    #[error("more than {MAX_MAPPINGS} mappings")]
    TooMany,
    /// A stored mapping does not read back.
    #[error("corrupt mapping record: {0}")]
    Corrupt(String),
}

/// Where a business field comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The decoded argument or event field of this name.
    Arg(String),
    /// The transaction's verified sender.
    Sender,
    /// This text.
    Fixed(String),
}

impl Source {
    /// Reads `@sender`, `=TEXT` or an argument name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "@sender" {
            Ok(Source::Sender)
        } else if let Some(fixed) = t.strip_prefix('=') {
            Ok(Source::Fixed(fixed.to_string()))
        } else if t.is_empty()
            || t.len() > 128
            || !t
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        {
            Err(format!(
                "{text:?} is neither an argument name, `@sender` nor `=TEXT`"
            ))
        } else {
            Ok(Source::Arg(t.to_string()))
        }
    }

    /// As written in a configuration.
    pub fn text(&self) -> String {
        match self {
            Source::Arg(a) => a.clone(),
            Source::Sender => "@sender".into(),
            Source::Fixed(f) => format!("={f}"),
        }
    }
}

/// A mapping as written (configuration, GraphQL, store): every field text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// The contract, `0x`-hex; absent or `*` for any contract.
    #[serde(default)]
    pub contract: Option<String>,
    /// The method's name (exactly one of `method` and `event`).
    #[serde(default)]
    pub method: Option<String>,
    /// The event's name.
    #[serde(default)]
    pub event: Option<String>,
    /// The paying party.
    #[serde(default)]
    pub payer: Option<String>,
    /// The receiving party.
    #[serde(default)]
    pub payee: Option<String>,
    /// The amount, an integer in minor units.
    #[serde(default)]
    pub amount: Option<String>,
    /// How many decimals the amount has (`amount / 10^decimals` units).
    #[serde(default)]
    pub decimals: u32,
    /// The currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// The reference.
    #[serde(default)]
    pub reference: Option<String>,
    /// The memo.
    #[serde(default)]
    pub memo: Option<String>,
    /// The `bytes` arguments that carry the record or envelope.
    #[serde(default)]
    pub record: Vec<String>,
}

/// What a mapping applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    /// A method, by name.
    Method(String),
    /// An event, by name.
    Event(String),
}

/// A checked mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The contract; `None` for any.
    pub contract: Option<[u8; 20]>,
    /// The method or event.
    pub item: Item,
    /// Paying party.
    pub payer: Option<Source>,
    /// Receiving party.
    pub payee: Option<Source>,
    /// Amount in minor units.
    pub amount: Option<Source>,
    /// Decimals of the amount.
    pub decimals: u32,
    /// Currency.
    pub currency: Option<Source>,
    /// Reference.
    pub reference: Option<Source>,
    /// Memo.
    pub memo: Option<Source>,
    /// Arguments carrying the record or envelope.
    pub record: Vec<String>,
}

impl Mapping {
    /// The default for an ERC-20-style `Transfer(from, to, value)` event
    /// of any contract: the sender pays the receiver `value`, no decimals.
    pub fn erc20() -> Self {
        Self {
            contract: None,
            item: Item::Event("Transfer".into()),
            payer: Some(Source::Arg("from".into())),
            payee: Some(Source::Arg("to".into())),
            amount: Some(Source::Arg("value".into())),
            decimals: 0,
            currency: None,
            reference: None,
            memo: None,
            record: Vec::new(),
        }
    }

    /// Checks `spec`.
    pub fn from_spec(spec: &MappingSpec) -> Result<Self, MappingError> {
        let item_name = format!(
            "{}/{}",
            spec.contract.as_deref().unwrap_or("*"),
            spec.method
                .as_deref()
                .or(spec.event.as_deref())
                .unwrap_or("?")
        );
        let invalid = |reason: String| MappingError::Invalid {
            item: item_name.clone(),
            reason,
        };
        let contract = match spec.contract.as_deref().map(str::trim) {
            None | Some("*") | Some("") => None,
            Some(a) => Some(
                crate::decode::address_bytes(a)
                    .ok_or_else(|| invalid(format!("contract {a:?} is not 20 bytes of hex")))?,
            ),
        };
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 128
                && n.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        };
        let item = match (&spec.method, &spec.event) {
            (Some(m), None) if name_ok(m) => Item::Method(m.clone()),
            (None, Some(e)) if name_ok(e) => Item::Event(e.clone()),
            (Some(_), Some(_)) => {
                return Err(invalid("name a method or an event, not both".into()));
            }
            (None, None) => return Err(invalid("name a method or an event".into())),
            (Some(n), None) | (None, Some(n)) => {
                return Err(invalid(format!("{n:?} is not a Solidity name")));
            }
        };
        let source = |field: &str, v: &Option<String>| -> Result<Option<Source>, MappingError> {
            v.as_deref()
                .map(|t| Source::parse(t).map_err(|e| invalid(format!("{field}: {e}"))))
                .transpose()
        };
        if spec.decimals > MAX_DECIMALS {
            return Err(invalid(format!(
                "decimals: {} is more than {MAX_DECIMALS}",
                spec.decimals
            )));
        }
        if spec.record.len() > 16 {
            return Err(invalid("record: more than 16 arguments".into()));
        }
        if let Some(bad) = spec.record.iter().find(|r| !name_ok(r)) {
            return Err(invalid(format!("record: {bad:?} is not an argument name")));
        }
        let amount = source("amount", &spec.amount)?;
        if matches!(amount, Some(Source::Sender)) {
            return Err(invalid("amount: the sender is not an amount".into()));
        }
        Ok(Self {
            contract,
            item,
            payer: source("payer", &spec.payer)?,
            payee: source("payee", &spec.payee)?,
            amount,
            decimals: spec.decimals,
            currency: source("currency", &spec.currency)?,
            reference: source("reference", &spec.reference)?,
            memo: source("memo", &spec.memo)?,
            record: spec.record.clone(),
        })
    }

    /// As written.
    pub fn spec(&self) -> MappingSpec {
        let (method, event) = match &self.item {
            Item::Method(m) => (Some(m.clone()), None),
            Item::Event(e) => (None, Some(e.clone())),
        };
        MappingSpec {
            contract: self.contract.map(|a| format!("0x{}", hex::encode(a))),
            method,
            event,
            payer: self.payer.as_ref().map(Source::text),
            payee: self.payee.as_ref().map(Source::text),
            amount: self.amount.as_ref().map(Source::text),
            decimals: self.decimals,
            currency: self.currency.as_ref().map(Source::text),
            reference: self.reference.as_ref().map(Source::text),
            memo: self.memo.as_ref().map(Source::text),
            record: self.record.clone(),
        }
    }

    #[cfg(feature = "store")]
    fn key(&self) -> Vec<u8> {
        let mut k = self.contract.map_or_else(|| vec![0u8; 20], |a| a.to_vec());
        k.push(u8::from(self.contract.is_some()));
        match &self.item {
            Item::Method(m) => {
                k.push(b'm');
                k.extend_from_slice(m.as_bytes());
            }
            Item::Event(e) => {
                k.push(b'e');
                k.extend_from_slice(e.as_bytes());
            }
        }
        k
    }
}

/// An amount of `minor` minor units (a decimal integer) with `decimals`
/// decimals, exactly; `None` when it is not an integer, has more than two
/// non-zero decimals once scaled, or does not fit.
pub fn scaled_amount(minor: &str, decimals: u32) -> Option<Money> {
    let digits = minor.trim();
    let (negative, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 80 {
        return None;
    }
    let d = decimals as usize;
    let padded = format!("{digits:0>width$}", width = d + 1);
    let (whole, fraction) = padded.split_at(padded.len() - d);
    let text = format!("{}{whole}.{fraction}", if negative { "-" } else { "" });
    Money::parse(text.trim_end_matches('.'))
}

/// Saves `mapping` (replacing the one for the same contract and item).
#[cfg(feature = "store")]
pub fn save(store: &Store, mapping: &Mapping) -> Result<(), MappingError> {
    let key = mapping.key();
    if store.read(MAPPINGS, &key)?.is_none() && all(store)?.len() >= MAX_MAPPINGS {
        return Err(MappingError::TooMany);
    }
    let value =
        serde_json::to_vec(&mapping.spec()).map_err(|e| MappingError::Corrupt(e.to_string()))?;
    store.write(&[Op::Put(MAPPINGS, key, value)])?;
    Ok(())
}

/// Removes the mapping for `contract` and `item`; whether there was one.
#[cfg(feature = "store")]
pub fn remove(
    store: &Store,
    contract: Option<[u8; 20]>,
    item: &Item,
) -> Result<bool, MappingError> {
    let probe = Mapping {
        contract,
        item: item.clone(),
        ..Mapping::erc20()
    };
    let key = probe.key();
    if store.read(MAPPINGS, &key)?.is_none() {
        return Ok(false);
    }
    store.write(&[Op::Delete(MAPPINGS, key)])?;
    Ok(true)
}

/// Every saved mapping.
#[cfg(feature = "store")]
pub fn all(store: &Store) -> Result<Vec<Mapping>, MappingError> {
    store
        .scan(MAPPINGS, &[], None, false, MAX_MAPPINGS + 1)?
        .iter()
        .map(|(_, v)| {
            let spec: MappingSpec =
                serde_json::from_slice(v).map_err(|e| MappingError::Corrupt(e.to_string()))?;
            Mapping::from_spec(&spec)
        })
        .collect()
}
