//! A devnet on disk, so that `devnet generate` can write a large chain once
//! and `devnet serve --from DIR` can serve it (and keep growing it).
//!
//! `DIR/devnet.json` holds the configuration and the sealers' keys (test
//! keys: a devnet is never a production chain); `DIR/blocks.jsonl` holds one
//! full block per line, as `getBlockByNumber(n, false, false)` prints it.
//! Reading checks that every block follows its parent and that the derived
//! receipts match each header.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chain::CryptoSuite;
use chain::model::Block;
use chain::render::{BlockDetail, block_json};
use serde::{Deserialize, Serialize};

use crate::chain::{ChainConfig, Devnet};
use crate::signer::NodeKey;

/// The file format version.
pub const FORMAT: u32 = 1;

/// Why a devnet could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file's content is wrong.
    #[error("{path}: {reason}")]
    Content {
        /// The file (and line).
        path: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    crypto: String,
    chain_id: String,
    group_id: String,
    weights: Vec<i64>,
    /// Hex private keys of the sealers (test keys).
    sealer_keys: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `devnet` to `dir` (created if needed), replacing what was there.
pub fn save(devnet: &Devnet, dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let c = devnet.config();
    let meta = Meta {
        format: FORMAT,
        crypto: c.suite.name().to_string(),
        chain_id: c.chain_id.clone(),
        group_id: c.group_id.clone(),
        weights: c.weights.clone(),
        sealer_keys: devnet
            .sealer_keys()
            .iter()
            .map(|k| hex::encode(k.secret_bytes()))
            .collect(),
    };
    let meta_path = dir.join("devnet.json");
    let text = serde_json::to_string_pretty(&meta).map_err(|e| StoreError::Content {
        path: meta_path.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(&meta_path, text).map_err(io(&meta_path))?;
    let blocks_path = dir.join("blocks.jsonl");
    let tmp = dir.join("blocks.jsonl.tmp");
    {
        let f = File::create(&tmp).map_err(io(&tmp))?;
        let mut w = BufWriter::new(f);
        for b in devnet.blocks() {
            serde_json::to_writer(&mut w, &block_json(b, BlockDetail::Full)).map_err(|e| {
                StoreError::Content {
                    path: tmp.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            w.write_all(b"\n").map_err(io(&tmp))?;
        }
        w.flush().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, &blocks_path).map_err(io(&blocks_path))?;
    Ok(())
}

/// Reads a devnet written by [`save`].
pub fn load(dir: &Path) -> Result<Devnet, StoreError> {
    let meta_path = dir.join("devnet.json");
    let text = std::fs::read_to_string(&meta_path).map_err(io(&meta_path))?;
    let bad = |reason: String| StoreError::Content {
        path: meta_path.display().to_string(),
        reason,
    };
    let meta: Meta = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if meta.format != FORMAT {
        return Err(bad(format!("format {} is not {FORMAT}", meta.format)));
    }
    let suite = match meta.crypto.as_str() {
        "sm" => CryptoSuite::Sm,
        "standard" => CryptoSuite::Standard,
        other => return Err(bad(format!("crypto '{other}' is not sm or standard"))),
    };
    let mut sealers = Vec::with_capacity(meta.sealer_keys.len());
    for (i, k) in meta.sealer_keys.iter().enumerate() {
        let bytes = hex::decode(k).map_err(|e| bad(format!("sealer_keys[{i}]: {e}")))?;
        sealers.push(
            NodeKey::from_secret_bytes(suite, &bytes)
                .map_err(|e| bad(format!("sealer_keys[{i}]: {e}")))?,
        );
    }
    let config = ChainConfig {
        suite,
        chain_id: meta.chain_id,
        group_id: meta.group_id,
        weights: meta.weights,
    };
    let blocks_path = dir.join("blocks.jsonl");
    let f = File::open(&blocks_path).map_err(io(&blocks_path))?;
    let mut blocks = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io(&blocks_path))?;
        let at = || format!("{}:{}", blocks_path.display(), n + 1);
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| StoreError::Content {
                path: at(),
                reason: e.to_string(),
            })?;
        blocks.push(Block::from_json(&v).map_err(|e| StoreError::Content {
            path: at(),
            reason: e.to_string(),
        })?);
    }
    Devnet::restore(config, sealers, blocks).map_err(|e| StoreError::Content {
        path: blocks_path.display().to_string(),
        reason: e.to_string(),
    })
}
