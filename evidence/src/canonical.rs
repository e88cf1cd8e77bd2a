//! The byte form a pack's seal signs, and the strict JSON reader under it.
//!
//! Canonical JSON here is RFC 8785 (JCS) restricted to what a pack holds:
//! objects with their members sorted by key, no whitespace, strings as
//! `serde_json` writes them (only `"`, `\` and control characters escaped;
//! the short forms `\b \f \n \r \t`, else `\u00xx` in lowercase), and
//! integers only. For such values it is also what Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! writes, so an independent verifier needs no JCS library.
//!
//! [`Strict`] reads JSON into a `serde_json::Value` but refuses what would
//! make two readers see two different documents: a key twice in one object
//! and numbers with a fraction or exponent.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The canonical bytes of `v`; an error names a value that has no
/// canonical form here (a fractional number).
pub fn to_bytes(v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(format!("{n} is not an integer"));
            }
        }
        Value::String(s) => {
            let quoted = serde_json::to_string(s).map_err(|e| e.to_string())?;
            out.extend_from_slice(quoted.as_bytes());
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let quoted = serde_json::to_string(k).map_err(|e| e.to_string())?;
                out.extend_from_slice(quoted.as_bytes());
                out.push(b':');
                write(&map[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// A JSON value read strictly (see the module's documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Strict(pub Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value with integer numbers and no repeated keys")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::from(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Err(E::custom(format!(
            "the number {f} is not an integer (packs hold integers only)"
        )))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element::<Strict>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key \"{key}\" appears twice"
                )));
            }
            let Strict(v) = map.next_value::<Strict>()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sorted_no_whitespace_integers_only() {
        let v: Value = serde_json::from_str(
            r#"{ "b": [1, -2, {"z": null, "a": true}], "a": "x\n\u0001\"é" }"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(to_bytes(&v).unwrap()).unwrap(),
            r#"{"a":"x\n\u0001\"é","b":[1,-2,{"a":true,"z":null}]}"#
        );
        let f: Value = serde_json::from_str("1.5").unwrap();
        assert!(to_bytes(&f).is_err());
    }

    #[test]
    fn strict_reading_refuses_repeated_keys_and_fractions() {
        let e = serde_json::from_str::<Strict>(r#"{"a": 1, "b": {"c": 2, "c": 3}}"#).unwrap_err();
        assert!(e.to_string().contains("\"c\" appears twice"), "{e}");
        let e = serde_json::from_str::<Strict>(r#"{"a": 1e3}"#).unwrap_err();
        assert!(e.to_string().contains("not an integer"), "{e}");
        let Strict(v) = serde_json::from_str(r#"{"a": [1, "x", null, false]}"#).unwrap();
        assert_eq!(v["a"][1], "x");
    }
}
