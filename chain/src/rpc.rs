//! Reading FISCO BCOS JSON-RPC responses: the envelope, the kind of result,
//! and typed access to JSON fields with errors that name the field.
//!
//! Everything here takes untrusted bytes and never panics: a wrong type, a
//! missing field or an out-of-range number is a [`ChainError::Field`].

use serde_json::{Map, Value};

use super::error::ChainError;
use super::hexbytes::{self, Hash};

/// What a JSON document holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A block (`getBlockByNumber`/`getBlockByHash` result).
    Block(Value),
    /// A transaction (`getTransaction` result).
    Transaction(Value),
    /// A receipt (`getTransactionReceipt` result).
    Receipt(Value),
    /// A `sendTransaction` request carrying a TARS-encoded signed
    /// transaction (hex).
    SignedTransactionHex(String),
}

impl Document {
    /// The kind's name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Block(_) => "block",
            Document::Transaction(_) => "transaction",
            Document::Receipt(_) => "receipt",
            Document::SignedTransactionHex(_) => "signed transaction (TARS)",
        }
    }
}

/// Parses a JSON text and finds what it holds: a JSON-RPC response (with
/// `result` or `error`), a bare result object, or a `sendTransaction`
/// request (`params[2]` is the signed transaction).
pub fn parse_document(text: &str) -> Result<Document, ChainError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ChainError::NotRecognised(format!("not JSON: {e}")))?;
    classify(value)
}

/// The `error` member of a JSON-RPC response, if it has one: its code (0
/// when absent) and message (empty when absent).
pub fn rpc_error(response: &serde_json::Map<String, Value>) -> Option<(i64, String)> {
    let err = response.get("error").filter(|e| !e.is_null())?;
    let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Some((code, message))
}

/// [`parse_document`] for an already-parsed value.
pub fn classify(value: Value) -> Result<Document, ChainError> {
    let Value::Object(mut obj) = value else {
        return Err(ChainError::NotRecognised(
            "the top level is not a JSON object".into(),
        ));
    };
    if let Some((code, message)) = rpc_error(&obj) {
        return Err(ChainError::RpcError { code, message });
    }
    if obj.get("method").and_then(Value::as_str) == Some("sendTransaction") {
        let hex = obj
            .get("params")
            .and_then(|p| p.get(2))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ChainError::field("params[2]", "missing: expected the signed transaction hex")
            })?;
        return Ok(Document::SignedTransactionHex(hex.to_string()));
    }
    if let Some(hex) = obj.get("signed_tx_tars_hex").and_then(Value::as_str) {
        return Ok(Document::SignedTransactionHex(hex.to_string()));
    }
    let result = match obj.remove("result") {
        Some(r) => r,
        None => Value::Object(obj),
    };
    let Some(fields) = result.as_object() else {
        return Err(ChainError::NotRecognised(
            "the result is not an object (getBlockNumber and list results are not checkable)"
                .into(),
        ));
    };
    if fields.contains_key("sealerList") || fields.contains_key("parentInfo") {
        Ok(Document::Block(result))
    } else if fields.contains_key("transactionHash") && fields.contains_key("status") {
        Ok(Document::Receipt(result))
    } else if fields.contains_key("chainID") && fields.contains_key("signature") {
        Ok(Document::Transaction(result))
    } else {
        Err(ChainError::NotRecognised(
            "the object is not a block, transaction or receipt".into(),
        ))
    }
}

/// Typed access to a JSON object's fields; `path` prefixes field names in
/// errors (`transactions[3]`).
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a> {
    /// Wraps `value`, which must be an object.
    pub fn new(value: &'a Value, path: &'a str) -> Result<Self, ChainError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ChainError::field(path_or(path, "(top)"), "not a JSON object"))?;
        Ok(Self { obj, path })
    }

    /// The full name of field `name`.
    pub fn name(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The raw value of a field, if present and not null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&'a Value, ChainError> {
        self.get(name)
            .ok_or_else(|| ChainError::field(self.name(name), "missing"))
    }

    /// A string field.
    pub fn str(&self, name: &str) -> Result<&'a str, ChainError> {
        self.required(name)?
            .as_str()
            .ok_or_else(|| ChainError::field(self.name(name), "not a string"))
    }

    /// A string field that may be absent (then `""`).
    pub fn str_or_empty(&self, name: &str) -> Result<&'a str, ChainError> {
        match self.get(name) {
            None => Ok(""),
            Some(v) => v
                .as_str()
                .ok_or_else(|| ChainError::field(self.name(name), "not a string")),
        }
    }

    /// An integer field (a JSON number, or a decimal or `0x` hex string as
    /// older nodes print some numbers).
    pub fn int(&self, name: &str) -> Result<i64, ChainError> {
        int_value(self.required(name)?, &self.name(name))
    }

    /// An integer field that may be absent (then 0).
    pub fn int_or_zero(&self, name: &str) -> Result<i64, ChainError> {
        match self.get(name) {
            None => Ok(0),
            Some(v) => int_value(v, &self.name(name)),
        }
    }

    /// A hex bytes field.
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>, ChainError> {
        hexbytes::decode(&self.name(name), self.str(name)?)
    }

    /// A hex bytes field that may be absent (then empty).
    pub fn bytes_or_empty(&self, name: &str) -> Result<Vec<u8>, ChainError> {
        hexbytes::decode(&self.name(name), self.str_or_empty(name)?)
    }

    /// A 32-byte hash field.
    pub fn hash(&self, name: &str) -> Result<Hash, ChainError> {
        hexbytes::decode_fixed(&self.name(name), self.str(name)?)
    }

    /// An array field.
    pub fn array(&self, name: &str) -> Result<&'a Vec<Value>, ChainError> {
        self.required(name)?
            .as_array()
            .ok_or_else(|| ChainError::field(self.name(name), "not an array"))
    }

    /// An array field that may be absent.
    pub fn array_opt(&self, name: &str) -> Result<Option<&'a Vec<Value>>, ChainError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_array()
                .map(Some)
                .ok_or_else(|| ChainError::field(self.name(name), "not an array")),
        }
    }
}

fn path_or<'b>(path: &'b str, fallback: &'b str) -> &'b str {
    if path.is_empty() { fallback } else { path }
}

/// An integer from a JSON number or a decimal/hex string.
pub fn int_value(v: &Value, field: &str) -> Result<i64, ChainError> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    if let Some(s) = v.as_str() {
        let parsed = match s.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16).ok(),
            None => s.parse::<i64>().ok(),
        };
        return parsed.ok_or_else(|| ChainError::field(field, format!("'{s}' is not an integer")));
    }
    Err(ChainError::field(field, "not an integer"))
}
