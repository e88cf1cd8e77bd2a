//! `lookthrough abi decode`: a transaction's input, or a log's topics and
//! data, decoded with a contract's JSON ABI and printed as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chain::CryptoSuite;

/// The chain's hash for selectors and topics.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Crypto {
    /// SM3 (national-standard chains).
    Sm,
    /// keccak256.
    Standard,
}

/// What `abi decode` reads.
#[derive(clap::Args, Debug)]
pub struct DecodeOpts {
    /// The contract's JSON ABI (solc's `--abi` output, or an artifact with
    /// an `abi` field).
    #[arg(long)]
    abi: PathBuf,
    /// The chain's hash for selectors and topics.
    #[arg(long, value_enum)]
    crypto: Crypto,
    /// A transaction's input, hex (with or without 0x).
    #[arg(long, conflicts_with_all = ["topics", "data"], required_unless_present = "topics")]
    input: Option<String>,
    /// A log's topics, hex, comma-separated, topic 0 first.
    #[arg(long, value_delimiter = ',', requires = "data")]
    topics: Option<Vec<String>>,
    /// A log's data, hex.
    #[arg(long)]
    data: Option<String>,
}

fn unhex(what: &str, text: &str) -> Result<Vec<u8>> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(t).with_context(|| format!("{what} is not hex"))
}

/// Decodes and prints; an error names what did not decode.
pub fn decode(opts: &DecodeOpts) -> Result<ExitCode> {
    let suite = match opts.crypto {
        Crypto::Sm => CryptoSuite::Sm,
        Crypto::Standard => CryptoSuite::Standard,
    };
    let meta = std::fs::metadata(&opts.abi)
        .with_context(|| format!("cannot read {}", opts.abi.display()))?;
    if meta.len() > abi::MAX_ABI_BYTES as u64 {
        bail!(
            "{}: {} bytes, more than the {} an ABI may have",
            opts.abi.display(),
            meta.len(),
            abi::MAX_ABI_BYTES
        );
    }
    let text = std::fs::read_to_string(&opts.abi)
        .with_context(|| format!("cannot read {}", opts.abi.display()))?;
    let contract =
        abi::Contract::parse(&text, suite).with_context(|| format!("{}", opts.abi.display()))?;
    let json = match (&opts.input, &opts.topics) {
        (Some(input), _) => {
            let bytes = unhex("--input", input)?;
            contract
                .decode_call(&bytes)
                .context("the input does not decode")?
                .to_json()
        }
        (None, Some(topics)) => {
            let topics = topics
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let b = unhex(&format!("topic {i}"), t)?;
                    <[u8; 32]>::try_from(b.as_slice())
                        .map_err(|_| anyhow::anyhow!("topic {i} is {} bytes, not 32", b.len()))
                })
                .collect::<Result<Vec<_>>>()?;
            let data = unhex("--data", opts.data.as_deref().unwrap_or(""))?;
            contract
                .decode_event(&topics, &data)
                .context("the log does not decode")?
                .to_json()
        }
        (None, None) => bail!("give --input, or --topics and --data"),
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}
