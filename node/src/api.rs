//! The regulators' API and the compliance officers' dashboards over a
//! node's store and index: [`ApiParts::build`] is the one place they are
//! put together (audit log, authenticator, schema, limits, metrics,
//! dashboards) and [`ApiParts::app`] the one `Router` they are served by,
//! in the node, the demo, the benchmarks and the tests alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use indexer::search::Search;
use ingest::metrics::render;
use privacy::at_rest::RecordSealer;
use privacy::keys::PrivateKey;
use prometheus_client::registry::Registry;
use query_api::audit::AuditLog;
use query_api::auth::{Authenticator, JwtSettings, JwtVerifier};
use query_api::server::{Api, Limits};
use query_api::{ApiState, build_schema};
use records::time::now_ms;
use store::Store;

use crate::NodeError;
use crate::config::ApiSection;

/// How the API is served, beyond the data it serves.
#[derive(Default)]
pub struct ApiOptions {
    /// Request limits (time, rate, burst).
    pub limits: Limits,
    /// JWT bearer tokens from an identity provider; `None`: API tokens only.
    pub jwt: Option<JwtSettings>,
    /// The dashboards' cookies and lifetimes.
    pub dashboards: dashboards::Settings,
    /// The endpoints' health of the first chain, shown in `chain {
    /// endpoints }` (the node's ingest, [`crate::Node::endpoint_health`]),
    /// when `chains` does not name it.
    pub endpoints: Option<Arc<dyn query_api::EndpointHealth>>,
    /// The crypto suite of chains `chains` does not name, whose hash names
    /// functions and events.
    pub suite: chain::CryptoSuite,
    /// Each chain's suite and endpoints' health ([`crate::Node::api_chains`]).
    pub chains: Vec<query_api::ChainOptions>,
    /// The regulator's keys, with which evidence packs prove the wraps
    /// they open ([`crate::Node::keyring`]); `None`: no evidence packs.
    pub keyring: Option<Arc<privacy::keyring::Keyring>>,
    /// The watchlists directory backtests read (`[policies]
    /// watchlists_dir`).
    pub watchlists_dir: Option<std::path::PathBuf>,
}

impl ApiOptions {
    /// The options of an `[api]` section served at `listen`: cookies are
    /// `Secure` unless set otherwise or served on loopback.
    pub fn from_section(section: &ApiSection, listen: SocketAddr) -> Result<Self, NodeError> {
        Ok(Self {
            limits: section.limits()?,
            jwt: section.jwt_settings()?,
            dashboards: dashboards::Settings {
                secure_cookies: section.secure_cookies.unwrap_or(!listen.ip().is_loopback()),
                ..Default::default()
            },
            endpoints: None,
            suite: chain::CryptoSuite::Sm,
            chains: Vec::new(),
            keyring: None,
            watchlists_dir: None,
        })
    }
}

/// The API and the dashboards, wired over a store and its index.
#[derive(Clone)]
pub struct ApiParts {
    /// The GraphQL API.
    pub api: Api,
    /// What its resolvers read (the store, the search, the sealer, the audit log).
    pub state: Arc<ApiState>,
    /// The audit log of decrypted reads.
    pub audit: Arc<AuditLog>,
    /// The dashboards (for sign-in links).
    pub dashboards: dashboards::Dashboards,
}

impl ApiParts {
    /// Wires the API over `store` and `search`. The audit log's head is
    /// sealed with `node_key` when given. `/metrics` shows `registry` (the
    /// node's, with the API's own metrics added) when given, else the API's
    /// metrics alone.
    pub fn build(
        store: Arc<Store>,
        search: Arc<Search>,
        sealer: Arc<RecordSealer>,
        node_key: Option<Arc<PrivateKey>>,
        options: ApiOptions,
        registry: Option<Registry>,
    ) -> Result<Self, NodeError> {
        let jwt = options.jwt.as_ref().map(JwtVerifier::new).transpose()?;
        let audit = Arc::new(AuditLog::open(store.clone(), node_key.clone())?);
        let mut chain_options = options.chains.clone();
        if chain_options.is_empty() {
            // One chain: the first, as the store names it.
            let label = records::chain_label(&store).map_err(|source| NodeError::Store {
                path: store.path().to_path_buf(),
                source,
            })?;
            chain_options.push(query_api::ChainOptions {
                id: label.id,
                suite: options.suite,
                endpoints: options.endpoints.clone(),
            });
        }
        let chains = query_api::Chains::from_store(&store, &chain_options, options.suite).map_err(
            |source| NodeError::Store {
                path: store.path().to_path_buf(),
                source,
            },
        )?;
        let evidence = match (&options.keyring, &node_key) {
            (Some(keyring), Some(node_key)) => Some(query_api::context::EvidenceKeys {
                keyring: keyring.clone(),
                node_key: node_key.clone(),
            }),
            _ => None,
        };
        let state = Arc::new(ApiState {
            store: store.clone(),
            search,
            sealer,
            audit: audit.clone(),
            chains,
            evidence,
            backtest: query_api::backtest::BacktestOptions {
                watchlists_dir: options.watchlists_dir.clone(),
            },
        });
        let mut api = Api::new(
            build_schema(state.clone()),
            state.clone(),
            Arc::new(Authenticator::new(store, jwt)),
            options.limits,
        );
        if let Some(mut registry) = registry {
            api.metrics().register(&mut registry);
            api = api.with_metrics(Arc::new(move || render(&registry)));
        }
        let dashboards = dashboards::Dashboards::new(api.clone(), options.dashboards);
        Ok(Self {
            api,
            state,
            audit,
            dashboards,
        })
    }

    /// Every route: `/graphql`, `/healthz`, `/metrics` and the dashboards.
    pub fn app(&self) -> Router {
        query_api::server::router(self.api.clone())
            .merge(dashboards::router(self.dashboards.clone()))
    }

    /// Serves [`ApiParts::app`] on `listen` (`api.listen`) and seals the
    /// audit log's head every `seal_every`; returns the bound address.
    pub async fn serve(
        &self,
        listen: SocketAddr,
        seal_every: Duration,
    ) -> Result<SocketAddr, NodeError> {
        let fail = |source| NodeError::Listen {
            what: "api.listen",
            addr: listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(fail)?;
        let bound = listener.local_addr().map_err(fail)?;
        let app = self.app();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "API server failed");
            }
        });
        let (audit, api) = (self.audit.clone(), self.api.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(seal_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                seal(&audit).await;
                api.prune_rate_limits();
            }
        });
        Ok(bound)
    }
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
