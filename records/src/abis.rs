//! The ABI registry: the JSON ABI of each contract, every version kept, in
//! the store's `abis` family (the node's own, beside the chain log).
//!
//! An ABI comes from a file named in the configuration, from an admin
//! through GraphQL, or from the chain (FISCO BCOS 3.x `getABI`); each
//! version records where it came from and when. A version is added only
//! when the text differs from the latest; ABIs that do not parse are
//! refused with the reason. Decoding reads the latest version and names it,
//! so what was decoded with which ABI can always be told.
//!
//! Key: the 20-byte contract address ‖ BE32 version (from 1). Value: the
//! version's JSON. Bounded: at most [`MAX_CONTRACTS`] contracts and
//! [`MAX_VERSIONS`] versions each (chain data can add ABIs).

use serde_json::json;
use store::{Family, Op, Store, StoreError};

/// The registry's family.
pub const ABIS: Family = Family::per_chain("abis");
/// The ABI fetcher's family (`ingest::abis`): its checkpoint, the last
/// height whose contracts it has registered ABIs for. The rule engine waits
/// for it, so that rules on decoded calls see the ABIs the chain gives.
pub const ABI_FETCH: Family = Family::per_chain("abi_fetch");
const FETCH_CHECKPOINT: &[u8] = b"checkpoint";

/// The ABI fetcher's checkpoint.
pub fn fetched_to(store: &Store) -> Result<Option<i64>, StoreError> {
    Ok(store
        .read(ABI_FETCH, FETCH_CHECKPOINT)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_be_bytes))
}

/// The write that moves the ABI fetcher's checkpoint to `height`.
pub fn fetched_to_op(height: i64) -> Op {
    Op::Put(
        ABI_FETCH,
        FETCH_CHECKPOINT.to_vec(),
        height.to_be_bytes().to_vec(),
    )
}
/// Contracts with an ABI at most.
pub const MAX_CONTRACTS: usize = 10_000;
/// Of [`MAX_CONTRACTS`], the contracts only the operators' ABIs (files,
/// uploads) may take, so that deploys on the chain cannot fill the registry.
pub const OPERATORS_ROOM: usize = 1_000;
/// Versions of one contract's ABI at most.
pub const MAX_VERSIONS: u32 = 1_000;

/// Why an ABI could not be registered or read.
#[derive(Debug, thiserror::Error)]
pub enum AbiRegistryError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The address is not 20 bytes of hex.
    #[error("contract address {0:?} is not 20 bytes of hex")]
    Address(String),
    /// The ABI does not parse.
    #[error("the ABI of {address} does not parse: {reason}")]
    Invalid {
        /// The contract.
        address: String,
        /// Why.
        reason: String,
    },
    /// A bound was reached.
    #[error("more than {limit} {what}")]
    TooMany {
        /// What was counted.
        what: String,
        /// The bound.
        limit: usize,
    },
    /// A stored version does not read back.
    #[error("corrupt ABI record {0}")]
    Corrupt(String),
}

/// One version of a contract's ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiVersion {
    /// The contract, `0x` and 40 lowercase hex digits.
    pub address: String,
    /// From 1.
    pub version: u32,
    /// Where it came from: `file:PATH`, `api:NAME` or `chain`.
    pub source: String,
    /// When it was added (Unix ms).
    pub added_ms: i64,
    /// The JSON ABI as given.
    pub abi: String,
}

/// What [`save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// A new version.
    Added(u32),
    /// The latest version already has this text.
    Unchanged(u32),
}

/// The 20 bytes of a `0x`-hex address.
pub fn parse_address(text: &str) -> Result<[u8; 20], AbiRegistryError> {
    let t = text.trim();
    let hex_part = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(hex_part)
        .ok()
        .and_then(|b| <[u8; 20]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| AbiRegistryError::Address(text.to_string()))
}

fn key(address: &[u8; 20], version: u32) -> Vec<u8> {
    let mut k = address.to_vec();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn read_version(address: &[u8; 20], bytes: &[u8]) -> Result<AbiVersion, AbiRegistryError> {
    let name = format!("0x{}", hex::encode(address));
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| AbiRegistryError::Corrupt(format!("{name}: {e}")))?;
    let field = |f: &str| {
        v.get(f)
            .ok_or_else(|| AbiRegistryError::Corrupt(format!("{name}: no {f}")))
    };
    Ok(AbiVersion {
        address: name.clone(),
        version: field("version")?
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| AbiRegistryError::Corrupt(format!("{name}: version")))?,
        source: field("source")?.as_str().unwrap_or_default().to_string(),
        added_ms: field("added_ms")?.as_i64().unwrap_or_default(),
        abi: field("abi")?.as_str().unwrap_or_default().to_string(),
    })
}

/// The latest version of `address`'s ABI, if any.
pub fn latest(store: &Store, address: &[u8; 20]) -> Result<Option<AbiVersion>, AbiRegistryError> {
    store
        .scan(ABIS, address, None, true, 1)?
        .first()
        .map(|(_, v)| read_version(address, v))
        .transpose()
}

/// Every version of `address`'s ABI, oldest first.
pub fn versions(store: &Store, address: &[u8; 20]) -> Result<Vec<AbiVersion>, AbiRegistryError> {
    store
        .scan(ABIS, address, None, false, MAX_VERSIONS as usize)?
        .iter()
        .map(|(_, v)| read_version(address, v))
        .collect()
}

/// The contracts with an ABI (their addresses, in order), at most
/// [`MAX_CONTRACTS`]: one read per contract.
pub fn contracts(store: &Store) -> Result<Vec<[u8; 20]>, AbiRegistryError> {
    let mut out = Vec::new();
    let mut from: Option<Vec<u8>> = None;
    while out.len() <= MAX_CONTRACTS {
        let page = store.scan(ABIS, &[], from.as_deref(), false, 1)?;
        let Some((k, _)) = page.first() else {
            break;
        };
        let address = <[u8; 20]>::try_from(k.get(..20).unwrap_or_default())
            .map_err(|_| AbiRegistryError::Corrupt(format!("key {}", hex::encode(k))))?;
        out.push(address);
        // The next contract's first key: this address ‖ the last version + 1.
        let mut next = address.to_vec();
        next.extend_from_slice(&[0xff; 4]);
        next.push(0);
        from = Some(next);
    }
    Ok(out)
}

/// Registers `abi` (JSON text) for `address`, from `source`, at `now_ms`:
/// a new version unless the latest has the same text. The ABI must parse
/// ([`abi::Contract::parse`]); the bounds hold.
pub fn save(
    store: &Store,
    address: &[u8; 20],
    abi_text: &str,
    source: &str,
    now_ms: i64,
) -> Result<Saved, AbiRegistryError> {
    let name = format!("0x{}", hex::encode(address));
    abi::Contract::parse(abi_text, chain::CryptoSuite::Standard).map_err(|e| {
        AbiRegistryError::Invalid {
            address: name.clone(),
            reason: e.to_string(),
        }
    })?;
    // Read, then write, under the registry's lock: two savers never both
    // take the next version.
    let lock = store.write_lock(ABIS);
    let _held = lock.hold();
    let last = latest(store, address)?;
    if let Some(l) = &last
        && l.abi == abi_text
    {
        return Ok(Saved::Unchanged(l.version));
    }
    let version = last.as_ref().map_or(1, |l| l.version + 1);
    if version > MAX_VERSIONS {
        return Err(AbiRegistryError::TooMany {
            what: format!("versions of the ABI of {name}"),
            limit: MAX_VERSIONS as usize,
        });
    }
    if last.is_none() {
        // ABIs the chain gives cannot take the room kept for the
        // operators' (files and uploads).
        let limit = if source.starts_with("chain") {
            MAX_CONTRACTS - OPERATORS_ROOM
        } else {
            MAX_CONTRACTS
        };
        if contracts(store)?.len() >= limit {
            return Err(AbiRegistryError::TooMany {
                what: format!("contracts with an ABI (from {source})"),
                limit,
            });
        }
    }
    let value = json!({
        "version": version,
        "source": source,
        "added_ms": now_ms,
        "abi": abi_text,
    });
    store.write(&[Op::Put(
        ABIS,
        key(address, version),
        value.to_string().into_bytes(),
    )])?;
    Ok(Saved::Added(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = r#"[{"type":"function","name":"transfer","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[]}]"#;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open(dir.path()).expect("a store");
        (dir, store)
    }

    #[test]
    fn versions_are_kept_and_an_unchanged_text_adds_none() -> Result<(), AbiRegistryError> {
        let (_dir, store) = store();
        let a = parse_address("0x00000000000000000000000000000000000000aa")?;
        assert_eq!(latest(&store, &a)?, None);
        assert_eq!(
            save(&store, &a, TOKEN, "file:token.json", 1)?,
            Saved::Added(1)
        );
        assert_eq!(save(&store, &a, TOKEN, "chain", 2)?, Saved::Unchanged(1));
        let two = TOKEN.replace("transfer", "send");
        assert_eq!(save(&store, &a, &two, "api:li.na", 3)?, Saved::Added(2));
        let all = versions(&store, &a)?;
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].version, all[0].source.as_str()),
            (1, "file:token.json")
        );
        let last = latest(&store, &a)?.expect("a version");
        assert_eq!(
            (last.version, last.added_ms, last.abi.as_str()),
            (2, 3, two.as_str())
        );
        assert_eq!(last.address, "0x00000000000000000000000000000000000000aa");
        // Another contract, listed in address order.
        let b = parse_address("0x00000000000000000000000000000000000000ab")?;
        save(&store, &b, TOKEN, "chain", 4)?;
        assert_eq!(contracts(&store)?, vec![a, b]);
        assert_eq!(latest(&store, &b)?.map(|v| v.version), Some(1));
        Ok(())
    }

    #[test]
    fn bad_abis_and_addresses_are_refused_by_name() -> Result<(), AbiRegistryError> {
        let (_dir, store) = store();
        assert!(matches!(
            parse_address("0x1234"),
            Err(AbiRegistryError::Address(_))
        ));
        assert!(matches!(
            parse_address("zz"),
            Err(AbiRegistryError::Address(_))
        ));
        let a = parse_address("00000000000000000000000000000000000000aa")?;
        let e = save(&store, &a, "{", "api:x", 1).expect_err("not JSON");
        assert!(
            e.to_string()
                .contains("0x00000000000000000000000000000000000000aa"),
            "{e}"
        );
        assert_eq!(latest(&store, &a)?, None, "nothing stored");
        Ok(())
    }

    #[test]
    fn versions_stop_at_their_bound() -> Result<(), AbiRegistryError> {
        let (_dir, store) = store();
        let a = parse_address("0x00000000000000000000000000000000000000cc")?;
        for i in 0..MAX_VERSIONS {
            let text = TOKEN.replace("transfer", &format!("t{i}"));
            assert_eq!(save(&store, &a, &text, "api:x", 0)?, Saved::Added(i + 1));
        }
        let e = save(&store, &a, TOKEN, "api:x", 0).expect_err("past the bound");
        assert!(matches!(e, AbiRegistryError::TooMany { .. }), "{e}");
        assert_eq!(versions(&store, &a)?.len(), MAX_VERSIONS as usize);
        Ok(())
    }
}
