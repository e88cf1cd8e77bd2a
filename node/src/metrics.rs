//! `/metrics`: the node's Prometheus registry as a router of its own, for
//! a node that serves metrics without the API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use ingest::metrics::render;
use prometheus_client::registry::Registry;

use crate::NodeError;

/// `GET /metrics` over `registry`.
pub fn router(registry: Registry) -> Router {
    let registry = Arc::new(registry);
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    render(&registry),
                )
            }
        }),
    )
}

/// Serves [`router`] on `addr` (`server.metrics_listen`); returns the
/// bound address.
pub async fn serve(addr: SocketAddr, registry: Registry) -> Result<SocketAddr, NodeError> {
    let listen = |source| NodeError::Listen {
        what: "server.metrics_listen",
        addr,
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen)?;
    let bound = listener.local_addr().map_err(listen)?;
    let app = router(registry);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(bound)
}
