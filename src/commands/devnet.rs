//! `lookthrough devnet generate|serve`: a local FISCO-BCOS-compatible group.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chain::CryptoSuite;
use devnet::faults::Fault;
use devnet::server::{AppState, produce, serve};
use devnet::signer::NodeKey;
use devnet::workload::{Workload, WorkloadConfig};
use devnet::{ChainConfig, Devnet, store};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The crypto of a new devnet.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Crypto {
    /// SM3 / SM2.
    Sm,
    /// keccak256 / secp256k1.
    Standard,
}

impl From<Crypto> for CryptoSuite {
    fn from(c: Crypto) -> Self {
        match c {
            Crypto::Sm => CryptoSuite::Sm,
            Crypto::Standard => CryptoSuite::Standard,
        }
    }
}

/// Options shared by the commands that build a new devnet.
#[derive(clap::Args, Debug, Clone)]
pub struct NewChain {
    /// Number of sealers (weight 1 each).
    #[arg(long, default_value_t = 4)]
    pub sealers: usize,
    /// The chain's crypto.
    #[arg(long, value_enum, default_value = "sm")]
    pub crypto: Crypto,
    /// Seed of every key and choice: the same seed gives the same chain.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Reuse one sealing session (data key) per payer/payee pair instead of a
    /// fresh data key per envelope.
    #[arg(long)]
    pub session_reuse: bool,
}

/// A new devnet and its workload from the options.
pub fn build(opts: &NewChain) -> Result<(Devnet, Workload)> {
    if opts.sealers == 0 || opts.sealers > 64 {
        bail!("--sealers must be 1 to 64, got {}", opts.sealers);
    }
    let suite = CryptoSuite::from(opts.crypto);
    let mut rng = ChaCha20Rng::seed_from_u64(opts.seed);
    let mut sealers = Vec::with_capacity(opts.sealers);
    for _ in 0..opts.sealers {
        sealers.push(NodeKey::generate(suite, &mut rng)?);
    }
    let config = ChainConfig::new(suite, opts.sealers);
    let workload_config = WorkloadConfig {
        session_reuse: opts.session_reuse,
        ..WorkloadConfig::default()
    };
    let workload = Workload::new(
        workload_config,
        suite,
        &config.chain_id,
        &config.group_id,
        opts.seed.wrapping_add(1),
    )?;
    Ok((Devnet::new(config, sealers)?, workload))
}

/// Writes the regulator's envelope key (a test key) and its public key.
pub fn write_regulator_key(workload: &Workload, dir: &Path) -> Result<()> {
    let key = workload.regulator_key();
    let path = dir.join("regulator.pem");
    if path.exists() {
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    node::keys::write_private(&path, key.to_pkcs8_pem()?.as_bytes())?;
    std::fs::write(dir.join("regulator.pub"), key.public_key().to_spki_pem()?)
        .with_context(|| format!("cannot write {}", dir.join("regulator.pub").display()))?;
    Ok(())
}

/// `devnet generate`.
pub fn generate(opts: &NewChain, txs: usize, txs_per_block: usize, out: &Path) -> Result<ExitCode> {
    if txs_per_block == 0 {
        bail!("--txs-per-block must be at least 1");
    }
    let (mut devnet, mut workload) = build(opts)?;
    let blocks = txs.div_ceil(txs_per_block);
    let bar = indicatif::ProgressBar::new(txs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} tx ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut left = txs;
    for _ in 0..blocks {
        let n = left.min(txs_per_block);
        let ts = workload.next_timestamp();
        workload.generate_block(&mut devnet, n, ts)?;
        left -= n;
        bar.inc(n as u64);
    }
    bar.finish();
    store::save(&devnet, out)?;
    write_regulator_key(&workload, out)?;
    let manifest = workload.into_manifest();
    let path = out.join("manifest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {} blocks with {txs} transactions to {} (manifest.json, regulator.pem)",
        devnet.head(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Options of `devnet serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeOpts {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:20200")]
    pub listen: SocketAddr,
    /// Serve a chain written by `devnet generate` (as it is, without new blocks).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["sealers", "crypto", "seed", "session_reuse"])]
    pub from: Option<PathBuf>,
    /// Milliseconds between new blocks.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Transactions in each new block.
    #[arg(long, default_value_t = 20)]
    pub txs_per_block: usize,
    /// Where to write the regulator's key (regulator.pem/.pub) for a new devnet.
    #[arg(long, value_name = "DIR")]
    pub key_out: Option<PathBuf>,
    /// Make this server lie: KIND@HEIGHT (low-quorum, forged-signature,
    /// wrong-parent, tampered-transaction, withheld-block, garbage-json,
    /// tampered-receipt).
    #[arg(long)]
    pub fault: Option<Fault>,
    /// The new chain.
    #[command(flatten)]
    pub chain: NewChain,
}

/// `devnet serve`: runs until Ctrl-C.
pub fn serve_command(opts: &ServeOpts) -> Result<ExitCode> {
    let (devnet, workload) = match &opts.from {
        Some(dir) => (store::load(dir)?, None),
        None => {
            let (d, w) = build(&opts.chain)?;
            if let Some(dir) = &opts.key_out {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                write_regulator_key(&w, dir)?;
            }
            (d, Some(w))
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState::new(Arc::new(tokio::sync::RwLock::new(devnet)), opts.fault);
        tracing::info!(target: "devnet", %addr, fault = ?opts.fault.map(|f| f.to_string()), "serving FISCO BCOS JSON-RPC");
        println!("devnet JSON-RPC on http://{addr}/ (group0); Ctrl-C to stop");
        if let Some(workload) = workload {
            tokio::spawn(produce(
                state.devnet.clone(),
                workload,
                Duration::from_millis(opts.interval_ms.max(1)),
                opts.txs_per_block,
            ));
        }
        serve(listener, state, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("server failed")?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
