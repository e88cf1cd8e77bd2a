//! A stored transaction's contract data, decoded: its call (method and
//! arguments) and its receipt's events, each by the latest ABI version the
//! registry holds for the contract, and what the business mapping makes of
//! them.
//!
//! Decoding is derived, never stored: the chain log keeps the raw input and
//! logs, and every reader decodes with the [`Catalog`] of the moment. A
//! transaction to a contract without an ABI, or with a selector its ABI
//! does not have, is marked so ([`Status`]) and decodes as soon as an ABI
//! arrives; the index re-decodes its documents in the background
//! (`indexer::redecode`). Malformed input is a named error on that call or
//! log, never a failed block.

use std::collections::HashMap;
use std::sync::Arc;

use abi::{Contract, DecodeError};
use chain::CryptoSuite;
use chain::model::{LogEntry, Receipt, Transaction};

use crate::doc::{Business, Party, normalise_address};
use crate::mapping::{Item, Mapping, Source, scaled_amount};

/// How a call or a log decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Decoded by the contract's ABI.
    Decoded,
    /// The registry has no ABI for the contract (yet).
    UnknownContract,
    /// The contract's ABI has no function with the selector, or no event
    /// with the topic.
    UnknownItem,
    /// The bytes do not decode as the ABI says they should.
    Malformed,
}

impl Status {
    /// `decoded`, `unknown-contract`, `unknown-selector` or `malformed`
    /// (as indexed and served).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Decoded => "decoded",
            Status::UnknownContract => "unknown-contract",
            Status::UnknownItem => "unknown-selector",
            Status::Malformed => "malformed",
        }
    }
}

/// One decoded argument or event field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedArg {
    /// The name in the ABI (may be empty).
    pub name: String,
    /// The canonical type.
    pub ty: String,
    /// The value.
    pub value: abi::Value,
    /// Whether it is an indexed event field.
    pub indexed: bool,
}

impl DecodedArg {
    /// The value as one line of text: integers in decimal, addresses and
    /// bytes in `0x`-hex, strings as they are, arrays and tuples as JSON.
    pub fn text(&self) -> String {
        value_text(&self.value)
    }
}

/// A call or an event, decoded as far as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The contract, `0x` and 40 lowercase hex digits.
    pub contract: String,
    /// The version of the contract's ABI used, if the registry had one.
    pub abi_version: Option<u32>,
    /// How it went.
    pub status: Status,
    /// The method or event name.
    pub name: Option<String>,
    /// Its canonical signature.
    pub signature: Option<String>,
    /// The arguments or fields, in ABI order.
    pub args: Vec<DecodedArg>,
    /// What went wrong, when it did.
    pub error: Option<String>,
    /// The catalog's tag of the contract when decoded ([`Catalog::tag`]):
    /// what the index keeps to tell which documents an ABI or mapping
    /// change touches.
    pub tag: String,
}

impl Decoded {
    /// A call or log of `contract` (`0x`-hex, lowercase) whose ABI the
    /// catalog does not hold.
    pub fn unknown(contract: &str) -> Self {
        Self::new(contract.to_string(), None)
    }

    fn new(contract: String, abi_version: Option<u32>) -> Self {
        Self {
            tag: abi_tag(&contract, abi_version),
            contract,
            abi_version,
            status: Status::UnknownContract,
            name: None,
            signature: None,
            args: Vec::new(),
            error: None,
        }
    }

    fn failed(mut self, e: &DecodeError) -> Self {
        self.status = match e {
            DecodeError::UnknownSelector(_)
            | DecodeError::UnknownEvent(_)
            | DecodeError::NoTopic => Status::UnknownItem,
            _ => Status::Malformed,
        };
        self.error = Some(e.to_string());
        self
    }

    /// The argument named `name`.
    pub fn arg(&self, name: &str) -> Option<&DecodedArg> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// `contract@version`, or `contract@none`.
pub fn abi_tag(contract: &str, version: Option<u32>) -> String {
    match version {
        Some(v) => format!("{contract}@{v}"),
        None => format!("{contract}@none"),
    }
}

/// The ABIs and mappings decoding uses, as loaded at one moment.
#[derive(Debug, Clone)]
pub struct Catalog {
    suite: CryptoSuite,
    contracts: HashMap<[u8; 20], (u32, Arc<Contract>)>,
    mappings: HashMap<(Option<[u8; 20]>, Item), Mapping>,
    /// Per contract with mappings of its own (and `None` for those of any
    /// contract), a digest of them, for [`Catalog::tag`].
    digests: HashMap<Option<[u8; 20]>, String>,
}

/// The registry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The ABI registry failed.
    #[cfg(feature = "store")]
    #[error(transparent)]
    Abis(#[from] crate::abis::AbiRegistryError),
    /// The mappings failed.
    #[error(transparent)]
    Mappings(#[from] crate::mapping::MappingError),
}

impl Catalog {
    /// No ABI, no mapping but the ERC-20 default, for a chain with `suite`.
    pub fn empty(suite: CryptoSuite) -> Self {
        Self {
            suite,
            contracts: HashMap::new(),
            mappings: HashMap::new(),
            digests: HashMap::new(),
        }
    }

    /// The tag of `contract` (`0x`-hex) in this catalog:
    /// `contract@version` (or `@none` without an ABI), then `+m` and a
    /// digest of the mappings that apply to it when any does. Documents
    /// decoded under another tag are out of date.
    pub fn tag(&self, contract: &str) -> String {
        let address = address_bytes(contract);
        let version = address.and_then(|a| self.version_of(&a));
        let mut tag = abi_tag(contract, version);
        let own = address.and_then(|a| self.digests.get(&Some(a)));
        let any = self.digests.get(&None);
        if own.is_some() || any.is_some() {
            tag.push_str("+m");
            for d in [own, any].into_iter().flatten() {
                tag.push_str(d);
            }
        }
        tag
    }

    /// Contracts with mappings of their own.
    pub fn mapped_contracts(&self) -> impl Iterator<Item = [u8; 20]> + '_ {
        self.digests.keys().filter_map(|k| *k)
    }

    fn redigest(&mut self) {
        let mut by: HashMap<Option<[u8; 20]>, Vec<String>> = HashMap::new();
        for ((contract, _), m) in &self.mappings {
            let text = serde_json::to_string(&m.spec()).unwrap_or_default();
            by.entry(*contract).or_default().push(text);
        }
        self.digests = by
            .into_iter()
            .map(|(k, mut texts)| {
                texts.sort();
                let h = CryptoSuite::Sm.hash(texts.join("\n").as_bytes());
                (k, hex::encode(&h[..4]))
            })
            .collect();
    }

    /// The chain's suite.
    pub fn suite(&self) -> CryptoSuite {
        self.suite
    }

    /// Adds version `version` of `address`'s ABI (tests, tools).
    pub fn with_contract(mut self, address: [u8; 20], version: u32, abi: Contract) -> Self {
        self.contracts.insert(address, (version, Arc::new(abi)));
        self
    }

    /// Adds a mapping (tests, tools).
    pub fn with_mapping(mut self, m: Mapping) -> Self {
        self.mappings.insert((m.contract, m.item.clone()), m);
        self.redigest();
        self
    }

    /// The latest ABI of every contract the registry holds and every
    /// saved mapping. An ABI that no longer parses (it did when saved) is
    /// left out with a warning: its contract decodes as unknown.
    #[cfg(feature = "store")]
    pub fn load(store: &store::Store, suite: CryptoSuite) -> Result<Self, CatalogError> {
        Self::load_after(store, suite, None)
    }

    /// [`Catalog::load`], keeping the parsed ABIs of `before` whose
    /// version is still the latest (a change parses only what changed).
    #[cfg(feature = "store")]
    pub fn load_after(
        store: &store::Store,
        suite: CryptoSuite,
        before: Option<&Catalog>,
    ) -> Result<Self, CatalogError> {
        let mut c = Self::empty(suite);
        for address in crate::abis::contracts(store)? {
            let Some(v) = crate::abis::latest(store, &address)? else {
                continue;
            };
            if let Some((version, abi)) = before.and_then(|b| b.contracts.get(&address))
                && *version == v.version
            {
                c.contracts.insert(address, (*version, abi.clone()));
                continue;
            }
            match Contract::parse(&v.abi, suite) {
                Ok(abi) => {
                    c.contracts.insert(address, (v.version, Arc::new(abi)));
                }
                Err(e) => tracing::warn!(
                    contract = %v.address,
                    version = v.version,
                    error = %e,
                    "a registered ABI does not parse; its contract decodes as unknown"
                ),
            }
        }
        for m in crate::mapping::all(store)? {
            c.mappings.insert((m.contract, m.item.clone()), m);
        }
        c.redigest();
        Ok(c)
    }

    /// The ABI version the catalog holds for `address`.
    pub fn version_of(&self, address: &[u8; 20]) -> Option<u32> {
        self.contracts.get(address).map(|(v, _)| *v)
    }

    /// Every contract with an ABI and its version.
    pub fn versions(&self) -> impl Iterator<Item = ([u8; 20], u32)> + '_ {
        self.contracts.iter().map(|(a, (v, _))| (*a, *v))
    }

    /// The mapping for `item` of `contract`: the contract's own, else one
    /// for any contract, else the ERC-20 default for `Transfer`.
    pub fn mapping(&self, contract: Option<[u8; 20]>, item: &Item) -> Option<Mapping> {
        let own = contract.and_then(|a| self.mappings.get(&(Some(a), item.clone())));
        own.or_else(|| self.mappings.get(&(None, item.clone())))
            .cloned()
            .or_else(|| match item {
                Item::Event(e) if e == "Transfer" => Some(Mapping::erc20()),
                _ => None,
            })
    }

    /// Decodes call data `input` sent to `to` (`None` for a deploy or an
    /// empty input: there is no call).
    pub fn decode_call(&self, to: &str, input: &[u8]) -> Option<Decoded> {
        let address = address_bytes(to)?;
        if input.is_empty() {
            return None;
        }
        let name = format!("0x{}", hex::encode(address));
        let tag = self.tag(&name);
        let Some((version, abi)) = self.contracts.get(&address) else {
            return Some(Decoded {
                tag,
                ..Decoded::new(name, None)
            });
        };
        let d = Decoded {
            tag,
            ..Decoded::new(name, Some(*version))
        };
        Some(match abi.decode_call(input) {
            Ok(call) => Decoded {
                status: Status::Decoded,
                name: Some(call.method),
                signature: Some(call.signature),
                args: args(call.args),
                ..d
            },
            Err(e) => d.failed(&e),
        })
    }

    /// Decodes each of a receipt's `logs`, by the ABI of the contract that
    /// emitted it.
    pub fn decode_events(&self, logs: &[LogEntry]) -> Vec<Decoded> {
        logs.iter()
            .map(|log| {
                let Some(address) = address_bytes(&log.address) else {
                    let mut d = Decoded::new(log.address.clone(), None);
                    d.status = Status::Malformed;
                    d.error = Some(format!(
                        "the log's address {:?} is not 20 bytes",
                        log.address
                    ));
                    return d;
                };
                let name = format!("0x{}", hex::encode(address));
                let tag = self.tag(&name);
                let Some((version, abi)) = self.contracts.get(&address) else {
                    return Decoded {
                        tag,
                        ..Decoded::new(name, None)
                    };
                };
                let d = Decoded {
                    tag,
                    ..Decoded::new(name, Some(*version))
                };
                match abi.decode_event(&log.topics, &log.data) {
                    Ok(e) => Decoded {
                        status: Status::Decoded,
                        name: Some(e.event),
                        signature: Some(e.signature),
                        args: args(e.args),
                        ..d
                    },
                    Err(e) => d.failed(&e),
                }
            })
            .collect()
    }

    /// The business fields the mappings take from a decoded call (first)
    /// and events (in order) of a transaction sent by `sender`: each field
    /// from the first mapping that gives it.
    pub fn business(
        &self,
        sender: Option<&str>,
        call: Option<&Decoded>,
        events: &[Decoded],
    ) -> Business {
        let mut b = Business::default();
        let items = call
            .filter(|c| c.status == Status::Decoded)
            .map(|c| (c, Item::Method(c.name.clone().unwrap_or_default())))
            .into_iter()
            .chain(
                events
                    .iter()
                    .filter(|e| e.status == Status::Decoded)
                    .map(|e| (e, Item::Event(e.name.clone().unwrap_or_default()))),
            );
        for (d, item) in items {
            let Some(m) = self.mapping(address_bytes(&d.contract), &item) else {
                continue;
            };
            fill(&mut b, &apply(&m, d, sender));
        }
        b
    }

    /// The record a decoded call carries in the arguments its mapping
    /// names (the first that is `bytes` and not empty).
    pub fn record_of(&self, call: &Decoded) -> Option<Vec<u8>> {
        if call.status != Status::Decoded {
            return None;
        }
        let m = self.mapping(
            address_bytes(&call.contract),
            &Item::Method(call.name.clone().unwrap_or_default()),
        )?;
        m.record
            .iter()
            .find_map(|name| match &call.arg(name)?.value {
                abi::Value::Bytes(h) => hex::decode(h.trim_start_matches("0x"))
                    .ok()
                    .filter(|b| !b.is_empty()),
                _ => None,
            })
    }
}

/// The catalog of the moment, reloaded from the store when the ABI
/// registry or the mappings changed since it was loaded: what every reader
/// of stored blocks decodes with.
#[cfg(feature = "store")]
#[derive(Debug)]
pub struct Catalogs {
    suite: CryptoSuite,
    current: std::sync::Mutex<Option<Loaded>>,
}

/// A loaded catalog and the family counters it was loaded at.
#[cfg(feature = "store")]
type Loaded = ((u64, u64), Arc<Catalog>);

#[cfg(feature = "store")]
impl Catalogs {
    /// For a chain with `suite`; nothing loaded yet.
    pub fn new(suite: CryptoSuite) -> Self {
        Self {
            suite,
            current: std::sync::Mutex::new(None),
        }
    }

    /// The catalog as the store holds it now (blocking: call it where the
    /// store may be read).
    pub fn current(&self, store: &store::Store) -> Result<Arc<Catalog>, CatalogError> {
        let stamp = (
            store.family_changes(crate::abis::ABIS),
            store.family_changes(crate::mapping::MAPPINGS),
        );
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, c)) = current.as_ref()
            && *at == stamp
        {
            return Ok(c.clone());
        }
        let before = current.as_ref().map(|(_, c)| c.clone());
        let c = Arc::new(Catalog::load_after(store, self.suite, before.as_deref())?);
        *current = Some((stamp, c.clone()));
        Ok(c)
    }
}

/// What one mapping makes of one decoded call or event.
pub fn apply(m: &Mapping, d: &Decoded, sender: Option<&str>) -> Business {
    let get = |s: &Option<Source>| -> Option<String> {
        match s.as_ref()? {
            Source::Arg(name) => Some(d.arg(name)?.text()).filter(|t| !t.is_empty()),
            Source::Sender => sender.map(str::to_string),
            Source::Fixed(t) => Some(t.clone()).filter(|t| !t.is_empty()),
        }
    };
    let party = |s: &Option<Source>| -> Party {
        match get(s) {
            Some(t) if is_address(&t) => Party {
                account: Some(normalise_address(&t)),
                id: None,
            },
            Some(t) => Party {
                account: None,
                id: Some(t),
            },
            None => Party::default(),
        }
    };
    Business {
        scenario: None,
        action: None,
        reference: get(&m.reference),
        payer: party(&m.payer),
        payee: party(&m.payee),
        amount: get(&m.amount).and_then(|a| scaled_amount(&a, m.decimals)),
        currency: get(&m.currency).map(|c| c.to_ascii_uppercase()),
        memo: get(&m.memo),
    }
}

/// Fills the fields `b` lacks from `more`.
pub fn fill(b: &mut Business, more: &Business) {
    let take = |f: &mut Option<String>, g: &Option<String>| {
        if f.is_none() {
            f.clone_from(g);
        }
    };
    take(&mut b.scenario, &more.scenario);
    take(&mut b.action, &more.action);
    take(&mut b.reference, &more.reference);
    take(&mut b.payer.account, &more.payer.account);
    take(&mut b.payer.id, &more.payer.id);
    take(&mut b.payee.account, &more.payee.account);
    take(&mut b.payee.id, &more.payee.id);
    if b.amount.is_none() {
        b.amount = more.amount;
    }
    take(&mut b.currency, &more.currency);
    take(&mut b.memo, &more.memo);
}

/// A transaction's call and events, decoded.
pub fn decode_tx(
    catalog: &Catalog,
    tx: &Transaction,
    receipt: Option<&Receipt>,
) -> (Option<Decoded>, Vec<Decoded>) {
    let call = catalog.decode_call(&tx.to, &tx.input);
    let events = receipt
        .map(|r| catalog.decode_events(&r.logs))
        .unwrap_or_default();
    (call, events)
}

fn args(args: Vec<abi::Arg>) -> Vec<DecodedArg> {
    args.into_iter()
        .map(|a| DecodedArg {
            name: a.name,
            ty: a.ty,
            value: a.value,
            indexed: a.indexed,
        })
        .collect()
}

pub(crate) fn address_bytes(text: &str) -> Option<[u8; 20]> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

fn is_address(s: &str) -> bool {
    address_bytes(s).is_some() && s.trim().starts_with("0x")
}

/// A value as one line of text. A `bytes32` holding printable text (a
/// reference written left-aligned, zero-padded) reads as that text.
pub fn value_text(v: &abi::Value) -> String {
    match v {
        abi::Value::Bool(b) => b.to_string(),
        abi::Value::Uint(s) | abi::Value::Int(s) | abi::Value::Address(s) => s.clone(),
        abi::Value::String(s) => s.clone(),
        abi::Value::Bytes(h) => printable(h).unwrap_or_else(|| h.clone()),
        abi::Value::Hashed(h) => h.clone(),
        other => other.to_json().to_string(),
    }
}

/// The text a fixed-size `bytes` value holds, when it is printable ASCII
/// padded with zeros (and only for 32 bytes or less).
fn printable(hex_text: &str) -> Option<String> {
    let bytes = hex::decode(hex_text.trim_start_matches("0x")).ok()?;
    if bytes.len() > 32 {
        return None;
    }
    let end = bytes.iter().rposition(|b| *b != 0)? + 1;
    let (text, pad) = bytes.split_at(end);
    if pad.iter().any(|b| *b != 0) || !text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return None;
    }
    String::from_utf8(text.to_vec()).ok()
}
