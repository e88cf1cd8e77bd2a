//! `lookthrough keygen`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use privacy::keyfile::{Pbes2Prf, passphrase_from_env};
use privacy::keys::PrivateKey;

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

/// Writes a secret file readable by its owner only, refusing to overwrite.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
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
