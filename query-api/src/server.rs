//! The HTTP side: `/graphql` (POST a query; GET shows GraphiQL) and
//! `/healthz`. Each request runs under [`REQUEST_TIMEOUT`]; bodies over
//! [`MAX_BODY`] are refused.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql::{ErrorExtensionValues, ServerError};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use serde_json::json;

use crate::schema::{ApiSchema, ApiState};

/// Longest a request may run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body, bytes.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
struct App {
    schema: ApiSchema,
    state: Arc<ApiState>,
}

/// The API's routes.
pub fn router(schema: ApiSchema, state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(App { schema, state })
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn graphql(State(app): State<App>, req: GraphQLRequest) -> GraphQLResponse {
    let req = req.into_inner();
    match tokio::time::timeout(REQUEST_TIMEOUT, app.schema.execute(req)).await {
        Ok(resp) => resp.into(),
        Err(_) => {
            let mut e = ServerError::new(
                format!(
                    "the request ran longer than {} s and was stopped; narrow the search or ask for fewer fields",
                    REQUEST_TIMEOUT.as_secs()
                ),
                None,
            );
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", "TIMEOUT");
            e.extensions = Some(ext);
            async_graphql::Response::from_errors(vec![e]).into()
        }
    }
}

/// Liveness and coverage: the stored head and the indexed height.
async fn healthz(State(app): State<App>) -> impl IntoResponse {
    let st = app.state.clone();
    let (head, indexed) = tokio::task::spawn_blocking(move || {
        (
            st.store.checkpoint().ok().flatten(),
            st.search.index().visible_checkpoint().map(|c| c.height),
        )
    })
    .await
    .unwrap_or((None, None));
    Json(json!({ "status": "ok", "head": head, "indexedHeight": indexed }))
}
