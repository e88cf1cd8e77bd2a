//! `lookthrough`: the regulator's full node for FISCO BCOS consortium chains.
//!
//! This binary is the CLI and the wiring; the work is done by the workspace's
//! crates (see `ARCHITECTURE.md`).

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lookthrough",
    version,
    about = "Look-through supervision of FISCO BCOS consortium chains"
)]
struct Cli {
    /// Log format on stderr: `text` (key=value fields) or `json` (one object per line).
    #[arg(long, global = true, env = "LOOKTHROUGH_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local consortium chain and the regulator's node following it,
    /// all on localhost with fresh keys (the first command to try).
    Demo(commands::demo::DemoOpts),
    /// Search the node's index from the command line (works beside a running node).
    Search(commands::search::SearchOpts),
    /// Rebuild the search index from the store alone (stop the node first).
    Reindex {
        /// The configuration file (see lookthrough.example.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the regulator's node: follow a chain into the store.
    Run {
        /// The configuration file (see lookthrough.example.toml).
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
        /// Stop once this height is stored (default: follow the head until stopped).
        #[arg(long)]
        until_height: Option<i64>,
    },
    /// Generate an SM2 key pair as PKCS#8 PEM (optionally passphrase-encrypted).
    Keygen {
        /// Where to write the private key (created with mode 0600).
        #[arg(long)]
        out: PathBuf,
        /// Where to write the public key (SubjectPublicKeyInfo PEM).
        #[arg(long)]
        public_out: Option<PathBuf>,
        /// Encrypt the private key with the passphrase in this environment variable.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// Use PBKDF2-HMAC-SHA256 instead of PBKDF2-HMAC-SM3, so that OpenSSL can read the key.
        #[arg(long, requires = "passphrase_env")]
        openssl_compatible: bool,
    },
    /// Seal and open supervised envelopes (docs/envelope.md).
    #[command(subcommand)]
    Envelope(EnvelopeCommand),
    /// Check FISCO BCOS chain data without trusting the node that served it.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// A local FISCO-BCOS-compatible consortium group for the demo and tests.
    #[command(subcommand)]
    Devnet(DevnetCommand),
    /// API tokens: create (printed once), revoke, list.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log of decrypted reads: verify its chain and seals, export it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Evidence packs: a transaction, its block, committee, proofs and
    /// opened envelope in one signed file anyone can check
    /// (docs/evidence.md).
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Alert rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Solidity ABIs: decode a call or an event log.
    #[command(subcommand)]
    Abi(AbiCommand),
}

#[derive(Subcommand)]
enum AbiCommand {
    /// Decode a transaction's input, or a log's topics and data, with a
    /// contract's JSON ABI; print it as JSON (exit 1 naming the problem if
    /// it does not decode).
    Decode(commands::abi::DecodeOpts),
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Compile every rule of a directory; print each error with its file,
    /// rule and position (exit 1 if any).
    Check {
        /// The rules directory (`*.toml`).
        dir: PathBuf,
        /// The watchlists the rules read (checks `lists.NAME`).
        #[arg(long, value_name = "DIR")]
        watchlists: Option<PathBuf>,
    },
    /// Run the rules of a file over the stored history and report what
    /// they would have opened (alerts per day, the first alerts and why);
    /// writes no alert and sends nothing. Works beside a running node.
    Backtest {
        /// The rules file (`[[rule]]` tables).
        file: PathBuf,
        /// The configuration file.
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
        /// The first day evaluated (Beijing time), YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// The last day evaluated (Beijing time), YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// How many of the first alerts to print.
        #[arg(long, default_value_t = 20)]
        first: usize,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token (stop the node first, or use the createToken mutation).
    Create {
        /// The configuration file.
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
        /// Who or what it is for.
        #[arg(long)]
        name: String,
        /// admin, analyst, auditor or viewer.
        #[arg(long)]
        role: String,
    },
    /// Revoke a token by id (stop the node first, or use the revokeToken mutation).
    Revoke {
        /// The configuration file.
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
        /// The token id (the 16 hex digits after `lt_`).
        id: String,
    },
    /// List tokens (works beside a running node).
    List {
        /// The configuration file.
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Make a pack of transactions (`--tx`, several allowed; `CHAIN:HASH`
    /// names the chain) or of an alert's transactions (`--alert`). Reads
    /// the store read-only, beside a running node.
    Export {
        /// The configuration file.
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
        /// Transaction hashes (0x and 64 hex digits; `--tx A B` or
        /// `--tx A --tx B`).
        #[arg(long = "tx", value_name = "HASH", num_args = 1..)]
        txs: Vec<String>,
        /// An alert's id.
        #[arg(long, conflicts_with = "txs")]
        alert: Option<u64>,
        /// The pack to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a pack from the pack alone; name the first failing part
    /// (exit 1).
    Verify {
        /// The pack.
        pack: PathBuf,
        /// The node key it must be sealed by (SPKI PEM).
        #[arg(long, value_name = "PUB.pem")]
        signer: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every entry's chain link and digest and every seal's signature;
    /// name the first broken entry (exit 1). Works beside a running node.
    Verify {
        /// The configuration file.
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
        /// Check seals with this public key (SPKI PEM) instead of keys.node.
        #[arg(long, value_name = "PUB.pem")]
        public_key: Option<PathBuf>,
    },
    /// Write every entry as a JSON line, oldest first.
    Export {
        /// The configuration file.
        #[arg(long, default_value = "lookthrough.toml")]
        config: PathBuf,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DevnetCommand {
    /// Write a chain of business transactions to a directory, quickly.
    Generate {
        /// Number of transactions.
        #[arg(long)]
        txs: usize,
        /// Transactions per block.
        #[arg(long, default_value_t = 100)]
        txs_per_block: usize,
        /// The directory to write (devnet.json, blocks.jsonl, manifest.json, regulator.pem).
        #[arg(long)]
        out: PathBuf,
        /// The chain.
        #[command(flatten)]
        chain: commands::devnet::NewChain,
    },
    /// Serve a group over JSON-RPC, producing blocks on an interval.
    Serve(commands::devnet::ServeOpts),
}

#[derive(Subcommand)]
enum ChainCommand {
    /// Verify JSON-RPC responses (blocks, transactions, receipts; with or without
    /// the JSON-RPC envelope) and print every check; exit 1 if any fails.
    Verify {
        /// Files holding getBlockBy*, getTransaction, getTransactionReceipt
        /// responses or a sendTransaction request.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A getSealerList response: the committee trusted to sign the blocks.
        #[arg(long, value_name = "FILE")]
        sealers: Option<PathBuf>,
        /// The chain's crypto.
        #[arg(long, value_enum, default_value = "auto")]
        crypto: commands::chain::CryptoArg,
    },
}

#[derive(Subcommand)]
enum EnvelopeCommand {
    /// Seal a payload for one or more recipients' public keys.
    Seal {
        /// A recipient's SubjectPublicKeyInfo PEM; repeat for each recipient.
        #[arg(long = "to", required = true, value_name = "PUB.pem")]
        to: Vec<PathBuf>,
        /// The transaction context, CHAIN/GROUP/0xSENDER.
        #[arg(long)]
        context: String,
        /// The payload file.
        #[arg(long = "in")]
        input: PathBuf,
        /// Where to write the envelope.
        #[arg(long)]
        out: PathBuf,
    },
    /// Open an envelope with a private key; prints the classification if it does not open.
    Open {
        /// A private key PEM; repeat to try several (key rotation).
        #[arg(long = "key", required = true, value_name = "KEY.pem")]
        keys: Vec<PathBuf>,
        /// Environment variable holding the passphrase of encrypted keys.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// The transaction context, CHAIN/GROUP/0xSENDER.
        #[arg(long)]
        context: String,
        /// The envelope file.
        #[arg(long = "in")]
        input: PathBuf,
        /// Where to write the payload.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
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
        Command::Demo(opts) => commands::demo::demo(&opts),
        Command::Search(opts) => commands::search::search(&opts),
        Command::Reindex { config } => commands::search::reindex(&config),
        Command::Run {
            config,
            until_height,
        } => commands::run::run(&config, until_height),
        Command::Keygen {
            out,
            public_out,
            passphrase_env,
            openssl_compatible,
        } => commands::keys::keygen(
            &out,
            public_out.as_deref(),
            passphrase_env.as_deref(),
            openssl_compatible,
        ),
        Command::Envelope(EnvelopeCommand::Seal {
            to,
            context,
            input,
            out,
        }) => commands::envelope::seal(&to, &context, &input, &out),
        Command::Envelope(EnvelopeCommand::Open {
            keys,
            passphrase_env,
            context,
            input,
            out,
        }) => commands::envelope::open(&keys, passphrase_env.as_deref(), &context, &input, &out),
        Command::Chain(ChainCommand::Verify {
            files,
            sealers,
            crypto,
        }) => commands::chain::verify(&files, sealers.as_ref(), crypto),
        Command::Devnet(DevnetCommand::Generate {
            txs,
            txs_per_block,
            out,
            chain,
        }) => commands::devnet::generate(&chain, txs, txs_per_block, &out),
        Command::Devnet(DevnetCommand::Serve(opts)) => commands::devnet::serve_command(&opts),
        Command::Token(TokenCommand::Create { config, name, role }) => {
            commands::admin::token_create(&config, &name, &role)
        }
        Command::Token(TokenCommand::Revoke { config, id }) => {
            commands::admin::token_revoke(&config, &id)
        }
        Command::Token(TokenCommand::List { config }) => commands::admin::token_list(&config),
        Command::Audit(AuditCommand::Verify { config, public_key }) => {
            commands::admin::audit_verify(&config, public_key.as_deref())
        }
        Command::Audit(AuditCommand::Export { config, out }) => {
            commands::admin::audit_export(&config, out.as_ref())
        }
        Command::Evidence(EvidenceCommand::Export {
            config,
            txs,
            alert,
            out,
        }) => commands::evidence::export(&config, &txs, alert, &out),
        Command::Evidence(EvidenceCommand::Verify { pack, signer }) => {
            commands::evidence::verify(&pack, signer.as_ref())
        }
        Command::Abi(AbiCommand::Decode(opts)) => commands::abi::decode(&opts),
        Command::Rules(RulesCommand::Backtest {
            file,
            config,
            from,
            to,
            first,
            json,
        }) => {
            commands::rules::backtest(&config, &file, from.as_deref(), to.as_deref(), first, json)
        }
        Command::Rules(RulesCommand::Check { dir, watchlists }) => {
            commands::rules::check(&dir, watchlists.as_deref())
        }
    }
}
