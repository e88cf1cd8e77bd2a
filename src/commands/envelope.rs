//! `lookthrough envelope seal|open`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use privacy::envelope::{SealingSession, TxContext};
use privacy::keyring::Keyring;
use privacy::keys::PublicKey;

pub fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

pub fn seal(to: &[PathBuf], context: &str, input: &Path, out: &Path) -> Result<ExitCode> {
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

pub fn open(
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
