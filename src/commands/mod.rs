//! The subcommands, one module each.

pub mod api;
pub mod bench;
pub mod bench_api;
pub mod bench_dashboards;
pub mod bench_freshness;
pub mod bench_policies;
pub mod bench_search;
pub mod chain;
pub mod demo;
pub mod devnet;
pub mod envelope;
pub mod keys;
pub mod node;
pub mod rules;
pub mod search;
