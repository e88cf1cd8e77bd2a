//! The regulator keyring: the SM2 private keys lookthrough opens envelopes
//! with, and a bounded cache of the data keys they have unwrapped.
//!
//! Several keys may be loaded at once (key rotation: an old key still opens
//! old envelopes). Keys are found by [`KeyId`], so an envelope's recipient list
//! is matched in one lookup per recipient. Data keys are cached under
//! `SM3(rid ‖ encryptedKey)`, so a sender's session key costs one SM2
//! decryption however many transactions use it.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;

use lru::LruCache;

use crate::envelope::DataKey;
use crate::envelope::{UnwrapError, to_data_key};
use crate::error::{Error, Result};
use crate::hash::sm3_concat;
use crate::keys::{KeyId, PrivateKey};
use crate::pke::CipherFormat;

/// Default number of cached data keys.
pub const DATA_KEY_CACHE_DEFAULT: usize = 65_536;

/// One key in the keyring.
#[derive(Debug)]
pub struct RegulatorKey {
    /// Where it came from (a file path or a name), for messages.
    pub label: String,
    /// The key.
    pub key: PrivateKey,
}

/// The regulator's keys and the data-key cache.
pub struct Keyring {
    keys: HashMap<KeyId, RegulatorKey>,
    /// The id of the first key added (see [`Keyring::primary`]).
    primary: Option<KeyId>,
    /// `None` when caching is disabled.
    cache: Option<Mutex<LruCache<[u8; 32], DataKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field(
                "keys",
                &self
                    .keys
                    .values()
                    .map(|k| (&k.label, k.key.key_id()))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for Keyring {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyring {
    /// An empty keyring with the default cache size.
    pub fn new() -> Self {
        Self::with_cache_capacity(DATA_KEY_CACHE_DEFAULT)
    }

    /// An empty keyring caching up to `capacity` data keys (0 disables the cache).
    pub fn with_cache_capacity(capacity: usize) -> Self {
        Self {
            keys: HashMap::new(),
            primary: None,
            cache: NonZeroUsize::new(capacity).map(|cap| Mutex::new(LruCache::new(cap))),
        }
    }

    /// Adds a key; a key already present is an error naming both labels.
    pub fn add(&mut self, label: impl Into<String>, key: PrivateKey) -> Result<KeyId> {
        let label = label.into();
        let id = key.key_id();
        if let Some(existing) = self.keys.get(&id) {
            return Err(Error::KeyFormat(format!(
                "key {id} from {label} is already loaded from {}",
                existing.label
            )));
        }
        self.keys.insert(id, RegulatorKey { label, key });
        self.primary.get_or_insert(id);
        Ok(id)
    }

    /// Loads a PKCS#8 PEM key file (see [`PrivateKey::from_pem_file`]).
    pub fn load_pem_file(&mut self, path: &Path, passphrase_env: Option<&str>) -> Result<KeyId> {
        let key = PrivateKey::from_pem_file(path, passphrase_env)?;
        self.add(path.display().to_string(), key)
    }

    /// Whether a key with this id is loaded.
    pub fn contains(&self, id: &KeyId) -> bool {
        self.keys.contains_key(id)
    }

    /// The first key added: new records are sealed with it
    /// ([`crate::at_rest::RecordSealer`]). `None` if the keyring is empty.
    pub fn primary(&self) -> Option<&RegulatorKey> {
        self.primary.as_ref().and_then(|id| self.keys.get(id))
    }

    /// The loaded keys.
    pub fn keys(&self) -> impl Iterator<Item = &RegulatorKey> {
        self.keys.values()
    }

    /// How many keys are loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of data keys in the cache.
    pub fn cached_data_keys(&self) -> usize {
        self.cache
            .as_ref()
            .and_then(|c| c.lock().ok().map(|c| c.len()))
            .unwrap_or(0)
    }

    /// Unwraps the data key in `wrap` with our key `rid`, from the cache if
    /// it was unwrapped before. Returns the key and whether it was cached.
    pub(crate) fn unwrap_data_key(
        &self,
        rid: &KeyId,
        wrap: &[u8],
    ) -> Result<(DataKey, bool), UnwrapError> {
        let digest = sm3_concat(&[&rid.0, wrap]);
        if let Some(Ok(mut cache)) = self.cache.as_ref().map(|c| c.lock())
            && let Some(k) = cache.get(&digest)
        {
            return Ok((k.clone(), true));
        }
        let key = self.keys.get(rid).ok_or(UnwrapError::WrongKey)?;
        let plain = key.key.decrypt(wrap, CipherFormat::Der)?;
        let data_key = to_data_key(&plain)?;
        if let Some(Ok(mut cache)) = self.cache.as_ref().map(|c| c.lock()) {
            cache.put(digest, data_key.clone());
        }
        Ok((data_key, false))
    }
}
