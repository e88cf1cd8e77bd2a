//! `lookthrough keygen`: a new SM2 key pair as PKCS#8 PEM.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use node::keys::write_private;
use privacy::keyfile::{Pbes2Prf, passphrase_from_env};
use privacy::keys::PrivateKey;

/// `lookthrough keygen`.
pub fn keygen(
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
