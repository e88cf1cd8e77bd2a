//! `query-api`: the regulators' GraphQL API over the verified store and the
//! search index.
//!
//! It owns, in the order a request passes through them:
//!
//! - [`server`]: the axum router: `/graphql` (POST; GraphiQL on GET) and
//!   `/healthz`; body limit, authentication, per-caller rate limit,
//!   timeout, and the audit of what a request read.
//! - [`auth`]: API tokens (hashed at rest) and JWT bearer tokens, each
//!   giving a principal with one of four roles.
//! - [`schema`]: the GraphQL schema's roots (async-graphql): the chain and
//!   its sync state, blocks, and transactions found by full-text search,
//!   filters and sorts in one query, as Relay connections with stable
//!   cursors; tokens and the audit log.
//! - [`model`]: the types of chain data the schema returns (blocks,
//!   transactions with their payloads and envelope status, receipts) and the
//!   transaction filters, orders and search pages.
//! - [`context`]: what every resolver works with (state, caller, role
//!   checks, the request's record of reads, the blocking pool), and
//!   [`paging`]: page sizes, costs and the next-page test.
//! - [`stats`]: aggregates by the index (volume, top parties, counts per
//!   class and status) and accounts.
//! - [`subscription`]: blocks and transactions pushed over WebSocket as they
//!   are stored and indexed.
//! - [`alerts`]: alerts, their lifecycle, silences and rules (the policy
//!   engine's records), and alerts pushed as they open.
//! - [`audit`]: the append-only, SM3-chained, SM2-sealed log of every read
//!   of decrypted data.
//! - [`records`]: the families this crate keeps in the store (tokens, the
//!   audit log and its seals) and their reads and writes.
//! - [`metrics`]: requests by outcome, latency, audit entries (Prometheus).
//! - [`time`]: the API's timestamps (RFC 3339, Beijing time) read and written.
//!
//! The store answers for what the chain holds; the index answers searches
//! and aggregations and says how far it covers. The API writes only its
//! own records to the store (tokens and the audit log) and, through
//! `policies::manage`, what people do with alerts, silences and rules.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backtest;
pub mod context;
pub mod error;
pub mod evidence;
pub mod metrics;
pub mod model;
pub mod paging;
pub mod records;
pub mod schema;
pub mod server;
pub mod stats;
pub mod subscription;
pub mod watchlists;

pub use context::{ApiState, ChainOptions, ChainView, Chains, EndpointHealth, EndpointReport};
pub use schema::{ApiSchema, build_schema};
