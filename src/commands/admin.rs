//! The regulators' API in the binary: [`serve_api`] wires `query-api` over
//! a node's store and index; `lookthrough token …` manages API tokens and
//! `lookthrough audit …` checks and exports the audit log.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use indexer::TxIndex;
use indexer::search::Search;
use observer_node::ingest::metrics::render;
use observer_node::store::Store;
use privacy::at_rest::RecordSealer;
use privacy::keys::{PrivateKey, PublicKey};
use prometheus_client::registry::Registry;
use query_api::audit::AuditLog;
use query_api::auth::{Authenticator, JwtVerifier, Role};
use query_api::server::Api;
use query_api::time::{format_ms, now_ms};
use query_api::{ApiState, build_schema};

use crate::config::{ApiSection, Config, KeyEntry};

/// A running API.
pub struct ApiHandle {
    /// Where it listens.
    pub bound: SocketAddr,
    /// Its audit log (seal it once more on the way out).
    pub audit: Arc<AuditLog>,
    /// The dashboards it serves (for sign-in links).
    pub dashboards: dashboards::Dashboards,
}

/// Loads the node's SM2 signing key (`keys.node`).
pub fn load_node_key(entry: &KeyEntry) -> Result<Arc<PrivateKey>> {
    let key = PrivateKey::from_pem_file(&entry.path, entry.passphrase_env.as_deref())
        .with_context(|| format!("keys.node: {}", entry.path.display()))?;
    tracing::info!(key = %key.key_id(), "loaded the node key (seals the audit log)");
    Ok(Arc::new(key))
}

/// Serves the API on `listen` over `store` and `index`, with `/metrics`
/// showing `registry` (the node's) and the API's own; seals the audit
/// log's head every `section.seal_interval_secs`.
pub async fn serve_api(
    listen: SocketAddr,
    section: &ApiSection,
    store: Arc<Store>,
    index: Arc<TxIndex>,
    sealer: Arc<RecordSealer>,
    node_key: Arc<PrivateKey>,
    mut registry: Registry,
) -> Result<ApiHandle> {
    let jwt = section
        .jwt_settings()?
        .map(|s| JwtVerifier::new(&s))
        .transpose()
        .context("api.jwt")?;
    let audit = Arc::new(
        AuditLog::open(store.clone(), Some(node_key)).context("cannot open the audit log")?,
    );
    let state = Arc::new(ApiState {
        store: store.clone(),
        search: Arc::new(Search::new(index)),
        sealer,
        audit: audit.clone(),
    });
    let limits = section.limits()?;
    let api = Api::new(
        build_schema(state.clone()),
        state,
        Arc::new(Authenticator::new(store, jwt)),
        limits,
    );
    api.metrics().register(&mut registry);
    let api = api.with_metrics(Arc::new(move || render(&registry)));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("api.listen: cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let dashboards = dashboards::Dashboards::new(
        api.clone(),
        dashboards::Settings {
            secure_cookies: section.secure_cookies.unwrap_or(!bound.ip().is_loopback()),
            ..Default::default()
        },
    );
    let app = query_api::server::router(api.clone()).merge(dashboards::router(dashboards.clone()));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "API server failed");
        }
    });
    let every = Duration::from_secs(section.seal_interval_secs);
    let sealing = audit.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            seal(&sealing).await;
            api.prune_rate_limits();
        }
    });
    Ok(ApiHandle {
        bound,
        audit,
        dashboards,
    })
}

/// Seals the audit log's head if it moved, logging the outcome.
pub async fn seal(audit: &Arc<AuditLog>) {
    let audit = audit.clone();
    match tokio::task::spawn_blocking(move || audit.seal(now_ms())).await {
        Ok(Ok(Some(s))) => tracing::info!(seq = s.seq, head = %s.head, "audit log sealed"),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "sealing the audit log failed"),
        Err(e) => tracing::error!(error = %e, "sealing task failed"),
    }
}

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
