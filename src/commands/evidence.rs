//! `lookthrough evidence export|verify`: evidence packs (`docs/evidence.md`).
//!
//! Export reads the store read-only (it works beside a running node) and
//! needs the regulator's keys, to prove the wraps it opens, and the node
//! key, to seal the pack. Verify needs nothing but the pack.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use evidence::export::{ChainSource, Exporter, TxRef};
use evidence::pack::{AlertSubject, Subject};
use node::Config;
use node::keys::{load_node_key, open_keyring};
use privacy::keys::PublicKey;
use records::time::{format_ms, now_ms};
use store::Store;

/// The configured chains of a read-only store, as the exporter reads them.
pub fn chain_sources(config: &Config, store: &Store) -> Result<Vec<ChainSource>> {
    let registered = store.chains()?;
    let mut out = Vec::new();
    for c in &config.chains {
        let Some(entry) = registered.iter().find(|e| e.id == c.id()) else {
            // A configured chain the node has not stored yet.
            continue;
        };
        out.push(ChainSource {
            id: c.id().to_string(),
            group: entry.group.clone(),
            suite: c.suite(),
            store: Arc::new(
                store
                    .for_chain(entry.number)
                    .with_context(|| format!("chain {}", c.id()))?,
            ),
        });
    }
    if out.is_empty() {
        // A store made before the chain registry: its one chain.
        let c = config
            .chains
            .first()
            .context("the configuration names no chain")?;
        out.push(ChainSource {
            id: c.id().to_string(),
            group: c.group.clone(),
            suite: c.suite(),
            store: Arc::new(store.for_chain(0)?),
        });
    }
    Ok(out)
}

/// `lookthrough evidence export`.
pub fn export(config: &Path, txs: &[String], alert: Option<u64>, out: &Path) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let node_key = match &config.keys.node {
        Some(entry) => load_node_key(entry)?,
        None => bail!("keys.node is not configured: a pack is sealed with the node's key"),
    };
    let keyring = Arc::new(open_keyring(&config.keys.regulator)?);
    let path = config.store_dir();
    let store = Store::open_read_only(&path)
        .with_context(|| format!("cannot open the store {}", path.display()))?;
    let (subject, refs) = match (alert, txs.is_empty()) {
        (Some(id), true) => {
            let a = policies::family::alert(&store, id)?
                .with_context(|| format!("--alert: no alert {id}"))?;
            if a.transactions.is_empty() {
                bail!("--alert: alert {id} ({}) lists no transactions", a.rule);
            }
            let refs = a
                .transactions
                .iter()
                .map(|h| tx_ref(h))
                .collect::<Result<Vec<_>>>()?;
            let subject = Subject {
                kind: "alert".into(),
                alert: Some(AlertSubject {
                    id: id.to_string(),
                    rule: a.rule.clone(),
                    title: a.title.clone(),
                    severity: a.severity.as_str().into(),
                    opened_at: format_ms(a.created_ms),
                }),
            };
            (subject, refs)
        }
        (None, false) => (
            Subject {
                kind: "transactions".into(),
                alert: None,
            },
            txs.iter().map(|h| tx_ref(h)).collect::<Result<Vec<_>>>()?,
        ),
        _ => bail!("give --tx HASH (one or more) or --alert ID"),
    };
    let exporter = Exporter {
        chains: chain_sources(&config, &store)?,
        keyring,
        node_key,
    };
    let pack = exporter.export(subject, &refs, now_ms())?;
    let bytes = pack.to_bytes()?;
    write_new(out, &bytes)?;
    let opened = pack
        .body
        .transactions
        .iter()
        .filter(|t| t.opening.is_some())
        .count();
    eprintln!(
        "wrote {} ({} bytes): {} transactions, {opened} opened, sealed by node key {}",
        out.display(),
        bytes.len(),
        pack.body.transactions.len(),
        exporter.node_key.key_id()
    );
    eprintln!(
        "note: a pack holds decrypted payloads; this export is not in the API's audit log (the GraphQL evidencePack mutation is)"
    );
    Ok(ExitCode::SUCCESS)
}

/// `0xHASH` or `CHAIN:0xHASH`.
fn tx_ref(s: &str) -> Result<TxRef> {
    TxRef::parse(s).map_err(anyhow::Error::msg)
}

/// Writes a file that must not exist yet (a pack holds plaintext: owner
/// only).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    node::keys::write_private(path, bytes)
        .with_context(|| format!("cannot write {} (it must not exist yet)", path.display()))
}

/// `lookthrough evidence verify`: exit 0 when the pack holds, 1 naming the
/// first failing part.
pub fn verify(pack: &Path, signer: Option<&PathBuf>) -> Result<ExitCode> {
    let bytes = std::fs::read(pack).with_context(|| format!("cannot read {}", pack.display()))?;
    let signer = match signer {
        Some(p) => {
            let pem = std::fs::read_to_string(p)
                .with_context(|| format!("--signer: cannot read {}", p.display()))?;
            Some(
                PublicKey::from_spki_pem(&pem)
                    .with_context(|| format!("--signer: {}", p.display()))?,
            )
        }
        None => None,
    };
    match evidence::verify::verify_bytes(&bytes, signer.as_ref()) {
        Err(f) => {
            println!("evidence pack REFUSED at {}: {}", f.part, f.detail);
            Ok(ExitCode::FAILURE)
        }
        Ok(v) => {
            println!(
                "evidence pack holds: made {} by node key {}{}",
                v.made_at,
                v.signer_key_id,
                if signer.is_some() {
                    " (the expected key)"
                } else {
                    " (compare it with the regulator's published node key, or give --signer)"
                }
            );
            for c in &v.chains {
                println!(
                    "chain {}: genesis {} ({}), {} committee{}{}",
                    c.id,
                    c.genesis_hash,
                    if c.trust == "configured" {
                        "compare it with the consortium's published genesis hash"
                    } else {
                        "TRUSTED ON FIRST USE: its first committee is the first signed block's own"
                    },
                    c.committees,
                    if c.committees == 1 { "" } else { "s" },
                    if c.anchored_in_genesis {
                        ", the first one listed in the genesis block"
                    } else {
                        ""
                    }
                );
            }
            for t in &v.transactions {
                let content = match &t.plaintext {
                    Some(p) => match std::str::from_utf8(p) {
                        Ok(text) => format!("opened: {text}"),
                        Err(_) => format!("opened: {} bytes (not UTF-8)", p.len()),
                    },
                    None => t.class.clone(),
                };
                println!(
                    "{}:{} block {} #{} from {}{}: {content}",
                    t.chain,
                    t.hash,
                    t.height,
                    t.index,
                    t.sender,
                    if t.receipt { ", receipt proven" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
