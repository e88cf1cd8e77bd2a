//! The node's key files: the regulator's keyring (`keys.regulator`), the
//! node's own signing key (`keys.node`), and writing new private keys with
//! owner-only permissions. Key material is never logged: keys are named by
//! their key id.

use std::path::Path;
use std::sync::Arc;

use privacy::keyring::Keyring;
use privacy::keys::PrivateKey;

use crate::NodeError;
use crate::config::KeyEntry;

/// Loads the regulator's keys, in order (the first seals stored records).
pub fn open_keyring(keys: &[KeyEntry]) -> Result<Keyring, NodeError> {
    let mut ring = Keyring::new();
    for (i, k) in keys.iter().enumerate() {
        let id = ring
            .load_pem_file(&k.path, k.passphrase_env.as_deref())
            .map_err(|source| NodeError::Key {
                what: format!("keys.regulator[{i}]"),
                path: k.path.clone(),
                source,
            })?;
        tracing::info!(key = %id, path = %k.path.display(), "loaded regulator key");
    }
    Ok(ring)
}

/// Loads the node's SM2 signing key (`keys.node`), which seals the audit log.
pub fn load_node_key(entry: &KeyEntry) -> Result<Arc<PrivateKey>, NodeError> {
    let key = PrivateKey::from_pem_file(&entry.path, entry.passphrase_env.as_deref()).map_err(
        |source| NodeError::Key {
            what: "keys.node".into(),
            path: entry.path.clone(),
            source,
        },
    )?;
    tracing::info!(key = %key.key_id(), "loaded the node key (seals the audit log)");
    Ok(Arc::new(key))
}

/// Writes a secret file readable by its owner only, refusing to overwrite.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    use std::io::Write;
    let fail = |source| NodeError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    Ok(())
}
