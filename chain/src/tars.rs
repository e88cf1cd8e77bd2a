//! A minimal decoder of the TARS encoding FISCO BCOS uses on the wire, for
//! one purpose: reading a signed transaction (`sendTransaction`'s payload)
//! so that it can be verified like one served by `getTransaction`.
//!
//! Wire format (TarsCpp `tup/Tars.h`): each field is a head byte (high
//! nibble = tag, low nibble = type; tag 15 means the tag is in the next byte)
//! followed by its value, integers big-endian. Types: 0–3 int8/16/32/64,
//! 4 float, 5 double, 6 string (1-byte length), 7 string (4-byte length),
//! 8 map, 9 list, 10 struct begin, 11 struct end, 12 zero, 13 simple list
//! (`vector<byte>`). Fields holding their default value are omitted.
//! Field tags are those of `bcos-tars-protocol/tars/Transaction.tars`.

use super::error::ChainError;
use super::model::Transaction;

/// Nesting depth limit: a transaction nests one struct.
const DEPTH_MAX: usize = 8;

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Int(i64),
    Bytes(Vec<u8>),
    Struct(Vec<(u8, Item)>),
    Other,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

fn err(reason: impl Into<String>) -> ChainError {
    ChainError::field("signed transaction (TARS)", reason)
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChainError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| err(format!("truncated: needs {n} bytes at offset {}", self.pos)))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ChainError> {
        Ok(self.take(1)?[0])
    }

    fn head(&mut self) -> Result<(u8, u8), ChainError> {
        let b = self.byte()?;
        let (mut tag, kind) = (b >> 4, b & 0x0f);
        if tag == 15 {
            tag = self.byte()?;
        }
        Ok((tag, kind))
    }

    fn int_of(&mut self, kind: u8) -> Result<i64, ChainError> {
        Ok(match kind {
            0 => i64::from(self.take(1)?[0] as i8),
            1 => i64::from(i16::from_be_bytes(arr(self.take(2)?)?)),
            2 => i64::from(i32::from_be_bytes(arr(self.take(4)?)?)),
            3 => i64::from_be_bytes(arr(self.take(8)?)?),
            12 => 0,
            other => {
                return Err(err(format!(
                    "expected an integer, found type {other} at offset {}",
                    self.pos
                )));
            }
        })
    }

    /// A length: an integer field with tag 0.
    fn length(&mut self) -> Result<usize, ChainError> {
        let (_, kind) = self.head()?;
        let n = self.int_of(kind)?;
        let n = usize::try_from(n).map_err(|_| err(format!("negative length {n}")))?;
        if n > self.bytes.len() - self.pos {
            return Err(err(format!("length {n} runs past the end")));
        }
        Ok(n)
    }

    fn item(&mut self, kind: u8, depth: usize) -> Result<Item, ChainError> {
        if depth > DEPTH_MAX {
            return Err(err("nested too deeply"));
        }
        Ok(match kind {
            0..=3 | 12 => Item::Int(self.int_of(kind)?),
            4 => {
                self.take(4)?;
                Item::Other
            }
            5 => {
                self.take(8)?;
                Item::Other
            }
            6 => {
                let n = usize::from(self.byte()?);
                Item::Bytes(self.take(n)?.to_vec())
            }
            7 => {
                let n = u32::from_be_bytes(arr(self.take(4)?)?) as usize;
                Item::Bytes(self.take(n)?.to_vec())
            }
            8 => {
                let n = self.length()?;
                for _ in 0..n.saturating_mul(2) {
                    let (_, k) = self.head()?;
                    self.item(k, depth + 1)?;
                }
                Item::Other
            }
            9 => {
                let n = self.length()?;
                for _ in 0..n {
                    let (_, k) = self.head()?;
                    self.item(k, depth + 1)?;
                }
                Item::Other
            }
            10 => Item::Struct(self.fields(depth + 1, true)?),
            13 => {
                let (_, elem) = self.head()?;
                if elem != 0 {
                    return Err(err(format!("simple list of element type {elem}")));
                }
                let n = self.length()?;
                Item::Bytes(self.take(n)?.to_vec())
            }
            other => return Err(err(format!("unknown type {other} at offset {}", self.pos))),
        })
    }

    /// Fields until struct end (nested) or the end of input (top level).
    fn fields(&mut self, depth: usize, nested: bool) -> Result<Vec<(u8, Item)>, ChainError> {
        let mut out = Vec::new();
        loop {
            if !nested && self.pos == self.bytes.len() {
                return Ok(out);
            }
            let (tag, kind) = self.head()?;
            if kind == 11 {
                if nested {
                    return Ok(out);
                }
                return Err(err("struct end without a struct"));
            }
            out.push((tag, self.item(kind, depth)?));
        }
    }
}

fn arr<const N: usize>(b: &[u8]) -> Result<[u8; N], ChainError> {
    b.try_into().map_err(|_| err("internal: short read"))
}

fn get(fields: &[(u8, Item)], tag: u8) -> Option<&Item> {
    fields.iter().find(|(t, _)| *t == tag).map(|(_, i)| i)
}

fn int(fields: &[(u8, Item)], tag: u8, name: &str) -> Result<i64, ChainError> {
    match get(fields, tag) {
        None => Ok(0),
        Some(Item::Int(v)) => Ok(*v),
        Some(_) => Err(err(format!("{name} (tag {tag}) is not an integer"))),
    }
}

fn bytes(fields: &[(u8, Item)], tag: u8, name: &str) -> Result<Vec<u8>, ChainError> {
    match get(fields, tag) {
        None => Ok(Vec::new()),
        Some(Item::Bytes(b)) => Ok(b.clone()),
        Some(_) => Err(err(format!("{name} (tag {tag}) is not bytes"))),
    }
}

fn string(fields: &[(u8, Item)], tag: u8, name: &str) -> Result<String, ChainError> {
    String::from_utf8(bytes(fields, tag, name)?)
        .map_err(|_| err(format!("{name} (tag {tag}) is not UTF-8")))
}

/// Decodes a TARS `Transaction` (hex, with or without `0x`).
pub fn decode_transaction(hex_text: &str) -> Result<Transaction, ChainError> {
    let raw = super::hexbytes::decode("signed transaction (TARS)", hex_text.trim())?;
    let mut r = Reader {
        bytes: &raw,
        pos: 0,
    };
    let top = r.fields(0, false)?;
    let data = match get(&top, 1) {
        Some(Item::Struct(fields)) => fields,
        _ => return Err(err("no TransactionData (tag 1)")),
    };
    let version = int(data, 1, "version")?;
    let hash = bytes(&top, 2, "dataHash")?;
    let claimed_hash: [u8; 32] = hash
        .try_into()
        .map_err(|h: Vec<u8>| err(format!("dataHash is {} bytes, expected 32", h.len())))?;
    let sender = bytes(&top, 7, "sender")?;
    Ok(Transaction {
        version: i32::try_from(version).map_err(|_| err("version out of range"))?,
        chain_id: string(data, 2, "chainID")?,
        group_id: string(data, 3, "groupID")?,
        block_limit: int(data, 4, "blockLimit")?,
        nonce_printed: string(data, 5, "nonce")?,
        nonce_is_raw: true,
        to: string(data, 6, "to")?,
        input: bytes(data, 7, "input")?,
        abi: string(data, 8, "abi")?,
        value: string(data, 9, "value")?,
        gas_price: string(data, 10, "gasPrice")?,
        gas_limit: int(data, 11, "gasLimit")?,
        max_fee_per_gas: string(data, 12, "maxFeePerGas")?,
        max_priority_fee_per_gas: string(data, 13, "maxPriorityFeePerGas")?,
        extension: bytes(data, 14, "extension")?,
        claimed_hash,
        signature: bytes(&top, 3, "signature")?,
        claimed_from: sender.try_into().ok(),
        import_time: int(&top, 4, "importTime")?,
        proof: None,
    })
}
