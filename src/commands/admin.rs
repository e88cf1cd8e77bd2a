//! Administration beside the node: `lookthrough token …` manages API tokens
//! and `lookthrough audit …` checks and exports the audit log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use node::Config;
use node::keys::load_node_key;
use privacy::keys::PublicKey;
use query_api::auth::Role;
use records::time::{format_ms, now_ms};
use store::Store;

fn open_store_for_writing(config: &Config) -> Result<Store> {
    let path = config.store_dir();
    Store::open(&path).with_context(|| {
        format!(
            "cannot open the store {} for writing (a running node holds it: stop the node, or use the API's createToken and revokeToken mutations with an admin token)",
            path.display()
        )
    })
}

fn open_store_for_reading(config: &Config) -> Result<Store> {
    let path = config.store_dir();
    Store::open_read_only(&path)
        .with_context(|| format!("cannot open the store {}", path.display()))
}

/// `lookthrough token create`.
pub fn token_create(config: &Path, name: &str, role: &str) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let role: Role = role.parse().context("--role")?;
    let store = open_store_for_writing(&config)?;
    let (record, token) = query_api::auth::create_token(&store, name, role, now_ms())?;
    eprintln!(
        "token {} ({}, role {}) created; it is printed once, below, and kept nowhere:",
        record.id, record.name, record.role
    );
    println!("{}", token.as_str());
    Ok(ExitCode::SUCCESS)
}

/// `lookthrough token revoke`.
pub fn token_revoke(config: &Path, id: &str) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let store = open_store_for_writing(&config)?;
    let record = query_api::auth::revoke_token(&store, id.trim(), now_ms())?;
    println!(
        "token {} ({}) revoked at {}",
        record.id,
        record.name,
        format_ms(record.revoked_ms.unwrap_or_default())
    );
    Ok(ExitCode::SUCCESS)
}

/// `lookthrough token list`.
pub fn token_list(config: &Path) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let store = open_store_for_reading(&config)?;
    let tokens = query_api::auth::list_tokens(&store)?;
    if tokens.is_empty() {
        println!("no tokens; make one with `lookthrough token create`");
    }
    for t in tokens {
        println!(
            "{}  {:<8} {:<30} created {}{}",
            t.id,
            t.role.as_str(),
            t.name,
            format_ms(t.created_ms),
            t.revoked_ms
                .map(|r| format!("  REVOKED {}", format_ms(r)))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The public key seals are checked with: `--public-key`, else the
/// configured node key's.
fn seal_key(config: &Config, public_key: Option<&Path>) -> Result<Option<PublicKey>> {
    if let Some(p) = public_key {
        let pem = std::fs::read_to_string(p)
            .with_context(|| format!("--public-key: cannot read {}", p.display()))?;
        return Ok(Some(
            PublicKey::from_spki_pem(&pem)
                .with_context(|| format!("--public-key: {}", p.display()))?,
        ));
    }
    match &config.keys.node {
        Some(entry) => Ok(Some(load_node_key(entry)?.public_key().clone())),
        None => Ok(None),
    }
}

/// `lookthrough audit verify`: exit 0 when the log is whole, 1 when broken.
pub fn audit_verify(config: &Path, public_key: Option<&Path>) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let key = seal_key(&config, public_key)?;
    let store = open_store_for_reading(&config)?;
    let v = query_api::audit::verify(&store, key.as_ref())?;
    match &v.broken {
        Some(b) => {
            println!(
                "audit log BROKEN at entry {}: {} ({} entries before it are intact)",
                b.seq, b.reason, b.seq
            );
            Ok(ExitCode::FAILURE)
        }
        None => {
            let sealed = match (&key, v.sealed_to) {
                (None, _) => {
                    "seals not checked: no node key (keys.node or --public-key)".to_string()
                }
                (Some(_), None) => "no seal yet".to_string(),
                (Some(k), Some(s)) => format!(
                    "{} seals verified with node key {}, the last covering entry {s}",
                    v.seals_checked,
                    k.key_id()
                ),
            };
            println!("audit log intact: {} entries chained; {sealed}", v.entries);
            if let (Some(_), Some(s)) = (&key, v.sealed_to)
                && v.entries > s + 1
            {
                println!(
                    "note: entries {} to {} are after the last seal; the next seal will cover them",
                    s + 1,
                    v.entries - 1
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `lookthrough audit export`: JSON lines to `out` (stdout when absent).
pub fn audit_export(config: &Path, out: Option<&PathBuf>) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let store = open_store_for_reading(&config)?;
    let n = match out {
        Some(path) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("--out: cannot create {}", path.display()))?,
            );
            let n = query_api::audit::export(&store, &mut f)?;
            f.flush()?;
            n
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            query_api::audit::export(&store, &mut lock)?
        }
    };
    eprintln!("{n} audit entries exported");
    Ok(ExitCode::SUCCESS)
}
