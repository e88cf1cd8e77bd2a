//! `abi`: Solidity's ABI on FISCO BCOS chains. A contract's JSON ABI
//! ([`Contract::parse`]) gives its functions and events; their selectors and
//! topics are hashed with the chain's hash ([`chain::CryptoSuite`]): SM3 on
//! national-standard chains, keccak256 elsewhere, over the canonical
//! signature (`transfer(address,uint256)`, tuples spelled out).
//!
//! [`Contract::decode_call`] turns a transaction's input into its method and
//! arguments, [`Contract::decode_event`] a receipt's log into its event and
//! fields, each value a [`Value`] printed exactly ([`Value::to_json`]):
//! integers of every width as decimal strings, addresses and bytes as
//! lowercase `0x`-hex, strings as text, arrays and tuples as JSON arrays.
//! Bytes that do not decode are a [`DecodeError`] naming what is wrong
//! (an unknown selector, a short or malformed payload, an integer out of its
//! type's range); nothing here panics on outside input.
//!
//! [`Contract::encode_call`] is the way back, for the devnet's workload and
//! tests: a method's name and `Value`s to call data.
//!
//! Decoding itself is alloy's dynamic ABI (`alloy-dyn-abi`); this crate adds
//! the chain's selectors, the range checks alloy leaves out, bounds on what
//! it reads, and the exact rendering.

use std::collections::HashMap;

use alloy_dyn_abi::{DynSolEvent, DynSolType, DynSolValue, JsonAbiExt, Specifier};
use alloy_json_abi::{Event, Function, JsonAbi, Param};
use alloy_primitives::{B256, I256, U256};
use chain::CryptoSuite;

/// The largest JSON ABI read, in bytes.
pub const MAX_ABI_BYTES: usize = 1 << 20;
/// The largest call input or log data decoded, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 20;
/// The deepest nesting of arrays and tuples a type may have.
pub const MAX_TYPE_DEPTH: usize = 16;

/// Why an ABI could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AbiError {
    /// The file is larger than [`MAX_ABI_BYTES`].
    #[error("the ABI is {0} bytes, more than the {MAX_ABI_BYTES} read")]
    TooLarge(usize),
    /// Not a JSON ABI.
    #[error("not a JSON ABI: {0}")]
    Json(String),
    /// An item's type is not a Solidity type, or nests too deep.
    #[error("{item}: {reason}")]
    Type {
        /// The function or event (its signature as far as known).
        item: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why a call could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// No function of the ABI has this name and number of arguments.
    #[error("no function of the ABI is {0}")]
    NoMethod(String),
    /// An argument is not of its parameter's type or range.
    #[error("{item}: {reason}")]
    Value {
        /// The function's signature.
        item: String,
        /// Which argument, and what is wrong.
        reason: String,
    },
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A call's input shorter than a selector.
    #[error("the input is {0} bytes, shorter than a 4-byte selector")]
    NoSelector(usize),
    /// No function of the ABI has this selector.
    #[error("no function of the ABI has selector 0x{0}")]
    UnknownSelector(String),
    /// A log without topics, and no anonymous event of the ABI fits it.
    #[error("the log has no topic and no anonymous event of the ABI decodes it")]
    NoTopic,
    /// No event of the ABI has this topic.
    #[error("no event of the ABI has topic 0x{0}")]
    UnknownEvent(String),
    /// More bytes than [`MAX_PAYLOAD_BYTES`].
    #[error("{0} bytes, more than the {MAX_PAYLOAD_BYTES} decoded")]
    TooLarge(usize),
    /// The bytes do not decode as the item's types.
    #[error("{item}: {reason}")]
    Malformed {
        /// The function or event signature.
        item: String,
        /// What is wrong.
        reason: String,
    },
}

/// A decoded value, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `bool`.
    Bool(bool),
    /// `uintN`, in decimal.
    Uint(String),
    /// `intN`, in decimal.
    Int(String),
    /// `address`, lowercase `0x`-hex.
    Address(String),
    /// `bytes` and `bytesN`, lowercase `0x`-hex.
    Bytes(String),
    /// `string`.
    String(String),
    /// `T[]` and `T[N]`.
    Array(Vec<Value>),
    /// A tuple (a struct).
    Tuple(Vec<Value>),
    /// An indexed event field of a type other than a value type (`bytes`,
    /// `string`, an array, a struct): the log holds only its hash (`0x`-hex),
    /// not the value.
    Hashed(String),
}

impl Value {
    /// The value as JSON: integers as decimal strings, bytes and addresses
    /// as lowercase `0x`-hex, arrays and tuples as arrays; a hashed indexed
    /// field as `{"hash": "0x…"}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Bool(b) => J::Bool(*b),
            Value::Uint(s) | Value::Int(s) | Value::Address(s) | Value::Bytes(s) => {
                J::String(s.clone())
            }
            Value::String(s) => J::String(s.clone()),
            Value::Array(v) | Value::Tuple(v) => J::Array(v.iter().map(Value::to_json).collect()),
            Value::Hashed(h) => serde_json::json!({ "hash": h }),
        }
    }
}

/// One decoded argument or event field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Its name in the ABI (may be empty).
    pub name: String,
    /// Its canonical type (`uint256`, `(address,bytes)[]`).
    pub ty: String,
    /// Whether it is an indexed event field.
    pub indexed: bool,
    /// The value.
    pub value: Value,
}

impl Arg {
    fn to_json(&self) -> serde_json::Value {
        let mut o = serde_json::json!({
            "name": self.name,
            "type": self.ty,
            "value": self.value.to_json(),
        });
        if self.indexed {
            o["indexed"] = serde_json::Value::Bool(true);
        }
        o
    }
}

/// A decoded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The method's name.
    pub method: String,
    /// Its canonical signature.
    pub signature: String,
    /// Its selector, `0x`-hex.
    pub selector: String,
    /// The arguments, in order.
    pub args: Vec<Arg>,
}

impl Call {
    /// As JSON: `{"method", "signature", "selector", "args": [{"name", "type", "value"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "method": self.method,
            "signature": self.signature,
            "selector": self.selector,
            "args": self.args.iter().map(Arg::to_json).collect::<Vec<_>>(),
        })
    }
}

/// A decoded event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The event's name.
    pub event: String,
    /// Its canonical signature.
    pub signature: String,
    /// Its topic, `0x`-hex (none for an anonymous event).
    pub topic: Option<String>,
    /// The fields, in the order the ABI declares them.
    pub args: Vec<Arg>,
}

impl Log {
    /// As JSON: `{"event", "signature", "topic", "args": [{"name", "type", "value", "indexed"?}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "event": self.event,
            "signature": self.signature,
            "topic": self.topic,
            "args": self.args.iter().map(Arg::to_json).collect::<Vec<_>>(),
        })
    }
}

/// A function of the ABI with what decoding needs, resolved once.
#[derive(Debug, Clone)]
struct Method {
    function: Function,
    signature: String,
    selector: [u8; 4],
}

/// An event of the ABI, resolved once.
#[derive(Debug, Clone)]
struct EventItem {
    event: Event,
    signature: String,
    topic: B256,
    decoder: DynSolEvent,
}

/// A contract's ABI on a chain with the given hash.
#[derive(Debug, Clone)]
pub struct Contract {
    suite: CryptoSuite,
    methods: HashMap<[u8; 4], Method>,
    events: HashMap<B256, EventItem>,
    anonymous: Vec<EventItem>,
}

impl Contract {
    /// Reads a JSON ABI (the array `solc --abi` writes, or an object with an
    /// `abi` field as Hardhat and Truffle artifacts hold it), hashing
    /// selectors and topics with `suite`.
    pub fn parse(json: &str, suite: CryptoSuite) -> Result<Self, AbiError> {
        if json.len() > MAX_ABI_BYTES {
            return Err(AbiError::TooLarge(json.len()));
        }
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| AbiError::Json(e.to_string()))?;
        let items = match value {
            serde_json::Value::Object(mut o) if o.contains_key("abi") => {
                o.remove("abi").unwrap_or_default()
            }
            v => v,
        };
        let abi: JsonAbi =
            serde_json::from_value(items).map_err(|e| AbiError::Json(e.to_string()))?;
        Self::from_abi(&abi, suite)
    }

    fn from_abi(abi: &JsonAbi, suite: CryptoSuite) -> Result<Self, AbiError> {
        let mut methods = HashMap::new();
        for f in abi.functions() {
            let signature = f.signature();
            check_types(
                &signature,
                f.inputs
                    .iter()
                    .map(|p| (p.resolve(), p.selector_type().into_owned())),
            )?;
            let h = suite.hash(signature.as_bytes());
            let selector = [h[0], h[1], h[2], h[3]];
            methods.insert(
                selector,
                Method {
                    function: f.clone(),
                    signature,
                    selector,
                },
            );
        }
        let mut events = HashMap::new();
        let mut anonymous = Vec::new();
        for e in abi.events() {
            let signature = e.signature();
            check_types(
                &signature,
                e.inputs
                    .iter()
                    .map(|p| (p.resolve(), p.selector_type().into_owned())),
            )?;
            let topic = B256::from(suite.hash(signature.as_bytes()));
            let resolve = |indexed: bool| -> Result<Vec<DynSolType>, AbiError> {
                e.inputs
                    .iter()
                    .filter(|p| p.indexed == indexed)
                    .map(|p| {
                        p.resolve().map_err(|err| AbiError::Type {
                            item: signature.clone(),
                            reason: err.to_string(),
                        })
                    })
                    .collect()
            };
            let decoder = DynSolEvent::new(
                (!e.anonymous).then_some(topic),
                resolve(true)?,
                DynSolType::Tuple(resolve(false)?),
            )
            .ok_or_else(|| AbiError::Type {
                item: signature.clone(),
                reason: "more indexed fields than a log has topics".into(),
            })?;
            let item = EventItem {
                event: e.clone(),
                signature,
                topic,
                decoder,
            };
            if e.anonymous {
                anonymous.push(item);
            } else {
                events.insert(topic, item);
            }
        }
        Ok(Self {
            suite,
            methods,
            events,
            anonymous,
        })
    }

    /// The hash selectors and topics are made with.
    pub fn suite(&self) -> CryptoSuite {
        self.suite
    }

    /// Each function's canonical signature and selector (`0x`-hex), sorted
    /// by signature.
    pub fn selectors(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .methods
            .values()
            .map(|m| {
                (
                    m.signature.clone(),
                    format!("0x{}", hex::encode(m.selector)),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Each event's canonical signature and topic (`0x`-hex), sorted by
    /// signature (anonymous events have none and are left out).
    pub fn topics(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .events
            .values()
            .map(|e| (e.signature.clone(), format!("0x{}", hex::encode(e.topic))))
            .collect();
        out.sort();
        out
    }

    /// Decodes a transaction's input: the selector names the method, the
    /// rest are its arguments.
    pub fn decode_call(&self, input: &[u8]) -> Result<Call, DecodeError> {
        if input.len() > MAX_PAYLOAD_BYTES {
            return Err(DecodeError::TooLarge(input.len()));
        }
        let Some((selector, data)) = input.split_first_chunk::<4>() else {
            return Err(DecodeError::NoSelector(input.len()));
        };
        let m = self
            .methods
            .get(selector)
            .ok_or_else(|| DecodeError::UnknownSelector(hex::encode(selector)))?;
        let malformed = |reason: String| DecodeError::Malformed {
            item: m.signature.clone(),
            reason,
        };
        let values = m
            .function
            .abi_decode_input(data)
            .map_err(|e| malformed(e.to_string()))?;
        let args = m
            .function
            .inputs
            .iter()
            .zip(values)
            .map(|(p, v)| arg(p, false, &v).map_err(&malformed))
            .collect::<Result<_, _>>()?;
        Ok(Call {
            method: m.function.name.clone(),
            signature: m.signature.clone(),
            selector: format!("0x{}", hex::encode(m.selector)),
            args,
        })
    }

    /// The input of a call of `method` (the first function of that name
    /// taking as many arguments) with `args`: the chain's selector, then the
    /// arguments ABI-encoded. Each value must be of its parameter's type and
    /// range (a `uint8` of 256 is refused), named in the error.
    pub fn encode_call(&self, method: &str, args: &[Value]) -> Result<Vec<u8>, EncodeError> {
        let mut candidates: Vec<&Method> = self
            .methods
            .values()
            .filter(|m| m.function.name == method && m.function.inputs.len() == args.len())
            .collect();
        candidates.sort_by(|a, b| a.signature.cmp(&b.signature));
        let m = candidates.first().ok_or_else(|| {
            EncodeError::NoMethod(format!("{method} with {} arguments", args.len()))
        })?;
        let values = m
            .function
            .inputs
            .iter()
            .zip(args)
            .map(|(p, v)| {
                let ty = p.resolve().map_err(|e| e.to_string())?;
                to_dyn(&ty, v).map_err(|reason| format!("{}: {reason}", name_of(p)))
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|reason| EncodeError::Value {
                item: m.signature.clone(),
                reason,
            })?;
        let data = m
            .function
            .abi_encode_input_raw(&values)
            .map_err(|e| EncodeError::Value {
                item: m.signature.clone(),
                reason: e.to_string(),
            })?;
        let mut out = m.selector.to_vec();
        out.extend(data);
        Ok(out)
    }

    /// Decodes a receipt's log: the first topic names the event (or, with
    /// no topics, the one anonymous event of the ABI that decodes it), the
    /// other topics are its indexed fields, `data` the rest.
    pub fn decode_event(&self, topics: &[[u8; 32]], data: &[u8]) -> Result<Log, DecodeError> {
        if data.len() > MAX_PAYLOAD_BYTES {
            return Err(DecodeError::TooLarge(data.len()));
        }
        let topics: Vec<B256> = topics.iter().map(|t| B256::from(*t)).collect();
        match topics.first().and_then(|t0| self.events.get(t0)) {
            Some(item) => decode_log(item, &topics, data),
            None => {
                // An anonymous event has no topic of its own: the one whose
                // shape fits the log, if exactly one does.
                let fits: Vec<Log> = self
                    .anonymous
                    .iter()
                    .filter_map(|item| decode_log(item, &topics, data).ok())
                    .collect();
                match (fits.len(), topics.first()) {
                    (1, _) => Ok(fits.into_iter().next().unwrap_or_else(|| unreachable!())),
                    (_, Some(t0)) => Err(DecodeError::UnknownEvent(hex::encode(t0))),
                    (_, None) => Err(DecodeError::NoTopic),
                }
            }
        }
    }
}

fn decode_log(item: &EventItem, topics: &[B256], data: &[u8]) -> Result<Log, DecodeError> {
    let malformed = |reason: String| DecodeError::Malformed {
        item: item.signature.clone(),
        reason,
    };
    let decoded = item
        .decoder
        .decode_log_parts(topics.iter().copied(), data)
        .map_err(|e| malformed(e.to_string()))?;
    let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
    let mut args = Vec::with_capacity(item.event.inputs.len());
    for p in &item.event.inputs {
        let v = if p.indexed {
            indexed.next()
        } else {
            body.next()
        }
        .ok_or_else(|| malformed(format!("no value for field {}", p.name)))?;
        let ty = p.selector_type().into_owned();
        // An indexed field of a type other than a value type (bytes,
        // string, arrays, structs) is only its hash in the log.
        let hashed = p.indexed
            && p.resolve().is_ok_and(|t| {
                !matches!(
                    t,
                    DynSolType::Bool
                        | DynSolType::Int(_)
                        | DynSolType::Uint(_)
                        | DynSolType::FixedBytes(_)
                        | DynSolType::Address
                        | DynSolType::Function
                )
            });
        let value = if hashed {
            match v {
                DynSolValue::FixedBytes(w, _) => Ok(Value::Hashed(format!("0x{}", hex::encode(w)))),
                _ => Err(malformed(format!("field {}: not a topic", p.name))),
            }?
        } else {
            value(&v).map_err(|r| malformed(format!("field {}: {r}", p.name)))?
        };
        args.push(Arg {
            name: p.name.clone(),
            ty,
            indexed: p.indexed,
            value,
        });
    }
    Ok(Log {
        event: item.event.name.clone(),
        signature: item.signature.clone(),
        topic: (!item.event.anonymous).then(|| format!("0x{}", hex::encode(item.topic))),
        args,
    })
}

/// An argument from its parameter and decoded value.
fn arg(p: &Param, indexed: bool, v: &DynSolValue) -> Result<Arg, String> {
    Ok(Arg {
        name: p.name.clone(),
        ty: canonical(p),
        indexed,
        value: value(v).map_err(|r| format!("argument {}: {r}", name_of(p)))?,
    })
}

fn name_of(p: &Param) -> &str {
    if p.name.is_empty() { &p.ty } else { &p.name }
}

/// A parameter's canonical type: tuples spelled out.
fn canonical(p: &Param) -> String {
    p.selector_type().into_owned()
}

/// Refuses types that do not resolve or nest deeper than
/// [`MAX_TYPE_DEPTH`].
fn check_types<E: std::fmt::Display>(
    item: &str,
    params: impl Iterator<Item = (Result<DynSolType, E>, String)>,
) -> Result<(), AbiError> {
    for (resolved, canonical) in params {
        let t = resolved.map_err(|e| AbiError::Type {
            item: item.to_string(),
            reason: e.to_string(),
        })?;
        if depth(&t) > MAX_TYPE_DEPTH {
            return Err(AbiError::Type {
                item: item.to_string(),
                reason: format!("{canonical} nests deeper than {MAX_TYPE_DEPTH}"),
            });
        }
    }
    Ok(())
}

fn depth(t: &DynSolType) -> usize {
    match t {
        DynSolType::Array(inner) | DynSolType::FixedArray(inner, _) => 1 + depth(inner),
        DynSolType::Tuple(ts) => 1 + ts.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// `v` as a value of type `ty`, checked against the type's range.
fn to_dyn(ty: &DynSolType, v: &Value) -> Result<DynSolValue, String> {
    let hex_bytes =
        |h: &str| hex::decode(h.strip_prefix("0x").unwrap_or(h)).map_err(|e| format!("{h:?}: {e}"));
    let out = match (ty, v) {
        (DynSolType::Bool, Value::Bool(b)) => DynSolValue::Bool(*b),
        (DynSolType::Uint(bits), Value::Uint(s)) => {
            let u = U256::from_str_radix(s, 10).map_err(|e| format!("{s:?}: {e}"))?;
            DynSolValue::Uint(u, *bits)
        }
        (DynSolType::Int(bits), Value::Int(s)) => {
            let i = I256::from_dec_str(s).map_err(|e| format!("{s:?}: {e}"))?;
            DynSolValue::Int(i, *bits)
        }
        (DynSolType::Address, Value::Address(h)) => {
            let b = hex_bytes(h)?;
            let a: [u8; 20] = b.try_into().map_err(|_| format!("{h:?} is not 20 bytes"))?;
            DynSolValue::Address(a.into())
        }
        (DynSolType::Bytes, Value::Bytes(h)) => DynSolValue::Bytes(hex_bytes(h)?),
        (DynSolType::FixedBytes(n), Value::Bytes(h)) => {
            let b = hex_bytes(h)?;
            if b.len() != *n {
                return Err(format!("{h:?} is not {n} bytes"));
            }
            let mut w = [0u8; 32];
            w[..b.len()].copy_from_slice(&b);
            DynSolValue::FixedBytes(B256::from(w), *n)
        }
        (DynSolType::String, Value::String(s)) => DynSolValue::String(s.clone()),
        (DynSolType::Array(t), Value::Array(vs)) => {
            DynSolValue::Array(vs.iter().map(|v| to_dyn(t, v)).collect::<Result<_, _>>()?)
        }
        (DynSolType::FixedArray(t, n), Value::Array(vs)) if vs.len() == *n => {
            DynSolValue::FixedArray(vs.iter().map(|v| to_dyn(t, v)).collect::<Result<_, _>>()?)
        }
        (DynSolType::Tuple(ts), Value::Tuple(vs)) if ts.len() == vs.len() => DynSolValue::Tuple(
            ts.iter()
                .zip(vs)
                .map(|(t, v)| to_dyn(t, v))
                .collect::<Result<_, _>>()?,
        ),
        (ty, v) => return Err(format!("{v:?} is not a {ty}")),
    };
    // The range checks decoding makes.
    value(&out)?;
    Ok(out)
}

/// A decoded value, checked against its type's range (alloy does not: a
/// `uint8` word holding 256 decodes) and rendered exactly.
fn value(v: &DynSolValue) -> Result<Value, String> {
    Ok(match v {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Uint(u, bits) => {
            if *bits < 256 && *u >> *bits != U256::ZERO {
                return Err(format!("{u} does not fit uint{bits}"));
            }
            Value::Uint(u.to_string())
        }
        DynSolValue::Int(i, bits) => {
            if *bits < 256 {
                let half = I256::ONE << (*bits - 1);
                if *i >= half || *i < -half {
                    return Err(format!("{i} does not fit int{bits}"));
                }
            }
            Value::Int(i.to_string())
        }
        DynSolValue::Address(a) => Value::Address(format!("0x{}", hex::encode(a))),
        DynSolValue::FixedBytes(w, n) => {
            let n = (*n).min(32);
            if w[n..].iter().any(|b| *b != 0) {
                return Err(format!("bytes{n} has bytes set past its length"));
            }
            Value::Bytes(format!("0x{}", hex::encode(&w[..n])))
        }
        DynSolValue::Function(f) => Value::Bytes(format!("0x{}", hex::encode(f.as_slice()))),
        DynSolValue::Bytes(b) => Value::Bytes(format!("0x{}", hex::encode(b))),
        DynSolValue::String(s) => Value::String(s.clone()),
        DynSolValue::Array(vs) | DynSolValue::FixedArray(vs) => {
            Value::Array(vs.iter().map(value).collect::<Result<_, _>>()?)
        }
        DynSolValue::Tuple(vs) => Value::Tuple(vs.iter().map(value).collect::<Result<_, _>>()?),
    })
}
