//! `lookthrough-bench`: the benchmarks, kept out of the product binary.
//!
//! Each one builds what it measures through the same crates and the same
//! wiring (`node`) as `lookthrough run`, on chains made by devnet's
//! generator; results and commands are in `docs/PERFORMANCE.md`.

mod api;
mod freshness;
mod ingest;
mod latency;
mod pages;
mod retro;
mod rules;
mod search;
mod stream;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lookthrough-bench",
    version,
    about = "Benchmarks of the lookthrough node (see docs/PERFORMANCE.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest throughput over generated chains, with the SM2 floors of the same cores.
    Ingest(ingest::IngestBenchOpts),
    /// Transaction search: the tantivy index next to PostgreSQL on the same generated records.
    Search(search::SearchBenchOpts),
    /// Time from a block being stored to its transactions being searchable, at a steady rate.
    Freshness(freshness::FreshnessBenchOpts),
    /// The GraphQL API under concurrent clients, and its overhead over the index.
    Api(api::ApiBenchOpts),
    /// Rule evaluation rate, and alert latency from block stored to webhook received.
    Policies(rules::PoliciesBenchOpts),
    /// How long each dashboard page takes to answer over a large store.
    Dashboards(pages::DashboardsBenchOpts),
    /// The distributed mode's log (NATS JetStream) against the embedded path: throughput and stored-to-searchable latency.
    Stream(stream::StreamBenchOpts),
    /// A retro-hunt of new watchlist entries against a full replay of the rules, in one run.
    Retro(retro::RetroBenchOpts),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest(opts) => ingest::ingest(&opts),
        Command::Search(opts) => search::search(&opts),
        Command::Freshness(opts) => freshness::freshness(&opts),
        Command::Api(opts) => api::api(&opts),
        Command::Policies(opts) => rules::policies(&opts),
        Command::Dashboards(opts) => pages::dashboards(&opts),
        Command::Stream(opts) => stream::stream(&opts),
        Command::Retro(opts) => retro::retro(&opts),
    }
}
