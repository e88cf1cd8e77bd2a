//! `query-api`: the regulators' GraphQL API over the verified store and the
//! search index.
//!
//! It owns, in the order a request passes through them:
//!
//! - [`server`]: the axum router: `/graphql` (POST; GraphiQL on GET) and
//!   `/healthz`.
//! - [`schema`]: the GraphQL schema (async-graphql): the chain and its sync
//!   state, blocks, and transactions found by full-text search, filters and
//!   sorts in one query, as Relay connections with stable cursors.
//! - [`time`]: the API's timestamps (RFC 3339, Beijing time) read and written.
//!
//! The store answers for what the chain holds; the index answers searches
//! and aggregations and says how far it covers. The API writes nothing to
//! either.

pub mod schema;
pub mod server;
pub mod time;

pub use schema::{ApiSchema, ApiState, build_schema};
