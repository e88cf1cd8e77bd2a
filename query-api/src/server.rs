//! The HTTP side: `/graphql` (POST a query; GET shows GraphiQL) and
//! `/healthz`.
//!
//! A query passes, in order: the body limit ([`MAX_BODY`]); authentication
//! (401 without a valid bearer token); the caller's rate limit (429); the
//! schema's depth and complexity limits; execution under
//! [`Limits::timeout`]; and, when it read decrypted data, the audit log —
//! a result whose reads cannot be logged is withheld.
//!
//! Subscriptions upgrade `GET /graphql` to a WebSocket (graphql-ws, or the
//! older graphql-transport-ws); the token comes in the upgrade's
//! `Authorization` header or in the `connection_init` payload as
//! `{"Authorization": "Bearer …"}`, which is what browser clients can send.
//!
//! `/healthz` is the one route open to anyone; it tells liveness and
//! coverage only. The GraphiQL page is static HTML holding no data; every
//! query it sends needs a token like any other.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, ErrorExtensionValues, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::audit::{Actor, AuditLog};
use crate::auth::{Authenticator, Principal};
use crate::context::{ApiState, ReadLog};
use crate::error::ErrorCode;
use crate::metrics::{ApiMetrics, Outcome};
use crate::schema::ApiSchema;
use records::time::now_ms;

/// Largest request body, bytes.
pub const MAX_BODY: usize = 256 * 1024;

/// Per-request limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest a request may run.
    pub timeout: Duration,
    /// Requests per second each caller may make, on average.
    pub rate_per_second: NonZeroU32,
    /// Requests a caller may make at once before the rate applies.
    pub burst: NonZeroU32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            rate_per_second: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Everything the routes need.
#[derive(Clone)]
pub struct Api {
    /// The schema.
    pub schema: ApiSchema,
    /// What the resolvers read.
    pub state: Arc<ApiState>,
    /// Checks bearer tokens.
    pub auth: Arc<Authenticator>,
    /// Limits.
    pub limits: Limits,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    metrics: Arc<ApiMetrics>,
    render: Arc<dyn Fn() -> String + Send + Sync>,
}

impl Api {
    /// The API over `schema` and `state`, with `auth` and `limits`.
    pub fn new(
        schema: ApiSchema,
        state: Arc<ApiState>,
        auth: Arc<Authenticator>,
        limits: Limits,
    ) -> Self {
        let quota = Quota::per_second(limits.rate_per_second).allow_burst(limits.burst);
        let metrics = Arc::new(ApiMetrics::new(state.audit.clone()));
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let registry = Arc::new(registry);
        Self {
            schema,
            state,
            auth,
            limits,
            limiter: Arc::new(RateLimiter::keyed(quota)),
            metrics,
            render: Arc::new(move || render_registry(&registry)),
        }
    }

    /// The API's metrics, to register with a larger registry.
    pub fn metrics(&self) -> &Arc<ApiMetrics> {
        &self.metrics
    }

    /// Serves `render()` at `/metrics` instead of the API's own metrics
    /// (the node passes its registry, holding the API's too).
    #[must_use]
    pub fn with_metrics(mut self, render: Arc<dyn Fn() -> String + Send + Sync>) -> Self {
        self.render = render;
        self
    }

    /// Forgets rate-limit state of callers idle long enough to be back at
    /// full burst (call now and then).
    pub fn prune_rate_limits(&self) {
        self.limiter.retain_recent();
    }
}

/// The API's routes.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .title("lookthrough GraphQL")
            .finish(),
    )
}

fn unauthenticated(e: &crate::auth::AuthError) -> Response {
    tracing::info!(error = %e, "request refused: not authenticated");
    let mut resp = refuse(ErrorCode::Unauthenticated, e.to_string());
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="lookthrough""#),
    );
    resp
}

/// Checks an `Authorization` value off the async workers (a store read).
async fn authenticate(
    auth: Arc<Authenticator>,
    value: Option<Vec<u8>>,
) -> Result<Principal, Response> {
    let checked = tokio::task::spawn_blocking(move || auth.authenticate(value.as_deref())).await;
    match checked {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) if e.is_unauthenticated() => Err(unauthenticated(&e)),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "authentication failed");
            Err(refuse(
                ErrorCode::Internal,
                "internal error while checking the token (the server log has the detail)".into(),
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "authentication task failed");
            Err(refuse(
                ErrorCode::Internal,
                "internal error while checking the token".into(),
            ))
        }
    }
}

/// The answer when `principal` is over its rate, if it is.
fn over_rate(api: &Api, principal: &Principal) -> Option<Response> {
    let wait = api.limiter.check_key(&principal.limit_key()).err()?;
    let wait = wait.wait_time_from(DefaultClock::default().now());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut resp = refuse(
        ErrorCode::RateLimited,
        format!(
            "rate limit: at most {} requests per second (bursts of {}) per token; retry in {secs} s",
            api.limits.rate_per_second, api.limits.burst
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Some(resp)
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions, else GraphiQL.
async fn graphql_get(State(api): State<Api>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let upgrading = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrading {
        return graphiql().into_response();
    }
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    // A token in the upgrade request is checked now (401 before upgrading);
    // otherwise the connection_init payload must carry one.
    let early = match parts.headers.get(header::AUTHORIZATION) {
        Some(v) => match authenticate(api.auth.clone(), Some(v.as_bytes().to_vec())).await {
            Ok(p) => Some(p),
            Err(resp) => return resp,
        },
        None => None,
    };
    if let Some(p) = &early
        && let Some(resp) = over_rate(&api, p)
    {
        return resp;
    }
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let auth = api.auth.clone();
            let limits = api.clone();
            GraphQLWebSocket::new(socket, api.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let principal = match early {
                        Some(p) => p,
                        None => {
                            let value = ["Authorization", "authorization"]
                                .iter()
                                .find_map(|k| payload.get(*k))
                                .and_then(|v| v.as_str())
                                .map(|v| v.as_bytes().to_vec());
                            let checked = tokio::task::spawn_blocking(move || {
                                auth.authenticate(value.as_deref())
                            })
                            .await
                            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                            checked.map_err(|e| async_graphql::Error::new(e.to_string()))?
                        }
                    };
                    if over_rate(&limits, &principal).is_some() {
                        return Err(async_graphql::Error::new(
                            "rate limit: too many requests for this token; retry shortly",
                        ));
                    }
                    let mut data = Data::default();
                    data.insert(principal);
                    Ok(data)
                })
                .serve()
        })
}

/// A GraphQL-shaped error answer with an HTTP status.
/// A request refused before execution: the code's HTTP status, and the
/// code and message as a GraphQL error.
fn refuse(code: ErrorCode, message: String) -> Response {
    let body = Json(json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    }));
    (code.http_status(), body).into_response()
}

fn error_response(code: ErrorCode, message: String) -> async_graphql::Response {
    let mut e = ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code.as_str());
    e.extensions = Some(ext);
    async_graphql::Response::from_errors(vec![e])
}

async fn graphql(State(api): State<Api>, headers: HeaderMap, req: GraphQLRequest) -> Response {
    let started = std::time::Instant::now();
    let (outcome, resp) = answer(&api, &headers, req).await;
    api.metrics.record(outcome, started.elapsed());
    resp
}

async fn answer(api: &Api, headers: &HeaderMap, req: GraphQLRequest) -> (Outcome, Response) {
    let value = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let principal = match authenticate(api.auth.clone(), value).await {
        Ok(p) => p,
        Err(resp) => return (Outcome::Unauthenticated, resp),
    };
    if let Some(resp) = over_rate(api, &principal) {
        return (Outcome::RateLimited, resp);
    }
    match api.execute_as(&principal, req.into_inner()).await {
        Ok((outcome, resp)) => (outcome, GraphQLResponse::from(resp).into_response()),
        Err(Withheld) => (Outcome::Withheld, withheld()),
    }
}

/// A result withheld because its reads could not be audited.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the read could not be written to the audit log, so its result is withheld")]
pub struct Withheld;

impl Api {
    /// Runs `req` as `principal`: under the time limit, and with every
    /// read of decrypted data written to the audit log before the result
    /// is returned. The one execution path of `/graphql` and the
    /// dashboards (which authenticate and rate-limit the caller first).
    pub async fn execute_as(
        &self,
        principal: &Principal,
        req: async_graphql::Request,
    ) -> Result<(Outcome, async_graphql::Response), Withheld> {
        let query = req.query.clone();
        let operation = req.operation_name.clone();
        let variables = serde_json::to_value(&req.variables).unwrap_or(serde_json::Value::Null);
        let reads = ReadLog::default();
        let req = req.data(principal.clone()).data(reads.clone());
        let mut outcome = Outcome::Answered;
        let resp = match tokio::time::timeout(self.limits.timeout, self.schema.execute(req)).await {
            Ok(resp) => resp,
            Err(_) => {
                outcome = Outcome::TimedOut;
                error_response(
                    ErrorCode::Timeout,
                    format!(
                        "the request ran longer than {} s and was stopped; narrow the search or ask for fewer fields",
                        self.limits.timeout.as_secs()
                    ),
                )
            }
        };
        let reads = reads.take();
        if !reads.is_empty() {
            let actor = Actor::from(principal);
            let audit: Arc<AuditLog> = self.state.audit.clone();
            let logged = tokio::task::spawn_blocking(move || {
                audit.append(actor, now_ms(), operation, &query, variables, reads)
            })
            .await;
            match logged {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "audit append failed; result withheld");
                    return Err(Withheld);
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit task failed; result withheld");
                    return Err(Withheld);
                }
            }
        }
        Ok((outcome, resp))
    }

    /// Checks an `Authorization` value (`Bearer …`) off the async workers.
    /// `Err` is the answer to send: 401 naming what was wrong, or 500.
    pub async fn authenticate(&self, value: Option<Vec<u8>>) -> Result<Principal, Response> {
        authenticate(self.auth.clone(), value).await
    }

    /// The 429 answer when `principal` is over its rate, if it is.
    pub fn over_rate(&self, principal: &Principal) -> Option<Response> {
        over_rate(self, principal)
    }

    /// Records a request's outcome and duration in the API's metrics.
    pub fn record(&self, outcome: Outcome, took: Duration) {
        self.metrics.record(outcome, took);
    }
}

fn withheld() -> Response {
    GraphQLResponse::from(error_response(
        ErrorCode::Internal,
        "the read could not be written to the audit log, so its result is withheld".into(),
    ))
    .into_response()
}

fn render_registry(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::prometheus_text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// `GET /metrics` in Prometheus text format, for any authenticated caller
/// (Prometheus sends the token with `authorization.credentials`).
async fn metrics(State(api): State<Api>, headers: HeaderMap) -> Response {
    let value = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    if let Err(resp) = authenticate(api.auth.clone(), value).await {
        return resp;
    }
    let render = api.render.clone();
    match tokio::task::spawn_blocking(move || render()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Liveness and coverage: the stored head and the indexed height (positions
/// of the merged log of every chain: heights when the node follows one
/// chain), each chain's head, and how
/// many directories the node cannot write (a full, read-only or failing
/// disk: the node answers reads but stores, indexes and evaluates nothing
/// until it can, so `status` is `disk-fault`; the answer stays 200, since
/// restarting the node would not help). Which directories, and why, is
/// for authenticated callers (`chain { diskFaults }`, `/metrics`): this
/// route is open to anyone.
async fn healthz(State(api): State<Api>) -> impl IntoResponse {
    let st = api.state.clone();
    let (head, indexed, chains) = tokio::task::spawn_blocking(move || {
        let chains: serde_json::Map<String, serde_json::Value> = st
            .chains
            .all()
            .iter()
            .map(|c| (c.id.clone(), json!(c.store.checkpoint().ok().flatten())))
            .collect();
        (
            st.store.merged_head().ok().flatten(),
            st.search.index().visible_checkpoint().map(|c| c.height),
            chains,
        )
    })
    .await
    .unwrap_or_default();
    let faults = api.state.store.disk().faults().len();
    let status = if faults == 0 { "ok" } else { "disk-fault" };
    Json(json!({
        "status": status,
        "head": head,
        "indexedHeight": indexed,
        "chains": chains,
        "diskFaults": faults,
    }))
}
