//! `lookthrough`: the regulator's full node for FISCO BCOS consortium chains.
//!
//! This binary is the CLI and the wiring; the work is done by the workspace's
//! crates (see `ARCHITECTURE.md`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use privacy::envelope::{SealingSession, TxContext};
use privacy::keyfile::{Pbes2Prf, passphrase_from_env};
use privacy::keyring::Keyring;
use privacy::keys::{PrivateKey, PublicKey};

#[derive(Parser)]
#[command(
    name = "lookthrough",
    version,
    about = "Look-through supervision of FISCO BCOS consortium chains"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Keygen {
            out,
            public_out,
            passphrase_env,
            openssl_compatible,
        } => keygen(
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
        }) => seal(&to, &context, &input, &out),
        Command::Envelope(EnvelopeCommand::Open {
            keys,
            passphrase_env,
            context,
            input,
            out,
        }) => open(&keys, passphrase_env.as_deref(), &context, &input, &out),
    }
}

fn keygen(
    out: &Path,
    public_out: Option<&Path>,
    passphrase_env: Option<&str>,
    openssl: bool,
) -> Result<ExitCode> {
    let key = PrivateKey::generate()?;
    let pem = match passphrase_env {
        Some(var) => {
            let pass = passphrase_from_env(var)?;
            let prf = if openssl {
                Pbes2Prf::HmacSha256
            } else {
                Pbes2Prf::HmacSm3
            };
            key.to_encrypted_pkcs8_pem(pass.as_bytes(), prf)?
        }
        None => key.to_pkcs8_pem()?,
    };
    write_private(out, pem.as_bytes())?;
    if let Some(p) = public_out {
        std::fs::write(p, key.public_key().to_spki_pem()?)
            .with_context(|| format!("cannot write public key {}", p.display()))?;
    }
    println!("key id {}", key.key_id());
    Ok(ExitCode::SUCCESS)
}

/// Writes a secret file readable by its owner only, refusing to overwrite.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create private key file {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write private key file {}", path.display()))?;
    Ok(())
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn seal(to: &[PathBuf], context: &str, input: &Path, out: &Path) -> Result<ExitCode> {
    let ctx = TxContext::parse(context)?;
    let mut recipients = Vec::with_capacity(to.len());
    for path in to {
        let pem = String::from_utf8(read(path, "public key")?)
            .with_context(|| format!("public key {} is not text", path.display()))?;
        let pk = PublicKey::from_spki_pem(&pem)
            .with_context(|| format!("public key {}", path.display()))?;
        recipients.push(pk);
    }
    let payload = read(input, "payload")?;
    let envelope = SealingSession::new(&recipients)?.seal(&ctx, &payload)?;
    std::fs::write(out, &envelope)
        .with_context(|| format!("cannot write envelope {}", out.display()))?;
    println!(
        "sealed {} bytes for {} recipient(s) into {} ({} bytes)",
        payload.len(),
        recipients.len(),
        out.display(),
        envelope.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn open(
    keys: &[PathBuf],
    passphrase_env: Option<&str>,
    context: &str,
    input: &Path,
    out: &Path,
) -> Result<ExitCode> {
    let ctx = TxContext::parse(context)?;
    let mut keyring = Keyring::new();
    for path in keys {
        keyring.load_pem_file(path, passphrase_env)?;
    }
    let envelope = read(input, "envelope")?;
    let outcome = keyring.open(&envelope, &ctx);
    match outcome.payload() {
        Some(payload) => {
            std::fs::write(out, payload)
                .with_context(|| format!("cannot write payload {}", out.display()))?;
            println!("{}: {}", outcome.class(), outcome.describe());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!(
                "{}: {}: {}",
                input.display(),
                outcome.class(),
                outcome.describe()
            );
            Ok(ExitCode::from(2))
        }
    }
}
