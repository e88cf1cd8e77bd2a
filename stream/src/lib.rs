//! `stream`: the distributed mode's replicated log, on NATS JetStream.
//!
//! ```text
//!  observer (one per chain at a time, by lease)          consumer nodes
//!  ingest → its own store ──publish, in order──► JetStream ──pull, durable──► verify again
//!           (verified, records sealed)           stream LT_BLOCKS           → store → merge
//!                                                (3 replicas)               → index, rules, API
//! ```
//!
//! - **Lease** ([`lease`]): which observer follows which chain is a key in
//!   a replicated key-value bucket, taken with compare-and-set (`create`),
//!   kept by heartbeats (`update` at the revision last written) and lost
//!   when its holder stops beating for the bucket's age limit; another
//!   observer then takes it.
//! - **Publishing** ([`publish`]): the lease holder reads each block its
//!   ingest stored back from its store and appends it to subject
//!   `<prefix>.<chain>`, with a message id derived from (chain, group,
//!   height, block hash) so that a retry is stored once, and with the
//!   subject's last sequence as a precondition, so that the subject holds
//!   every height once, in order, whoever publishes.
//! - **Consuming** ([`follow`]): a consumer node reads each chain's subject
//!   through a durable consumer of its own and gives each block to
//!   [`ingest::Ingest::offer`], which verifies it as if an endpoint had
//!   served it before committing it; a message is acknowledged only once
//!   its block is stored (or was already). The node's merger, index and
//!   rule engine then follow the store as in the embedded mode.
//!
//! What crosses the log ([`wire`]): the block and its receipts (public to
//! the consortium), each transaction's class, and the opened payloads only
//! as the store keeps them, sealed with the record key: a consumer needs the
//! regulator's keys to read them. The connection's credentials and TLS are
//! configuration ([`LogConfig`]).

#[cfg(feature = "nats")]
pub mod follow;
#[cfg(feature = "nats")]
pub mod lease;
#[cfg(feature = "nats")]
pub mod observe;
#[cfg(feature = "nats")]
pub mod publish;
pub mod wire;

use std::path::PathBuf;
#[cfg(feature = "nats")]
use std::time::Duration;

use serde::Deserialize;

/// `[stream]`: how blocks travel from the observers to the consumers.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `embedded` (the default: one process, no log) or `nats`.
    #[serde(default)]
    pub mode: Mode,
    /// With `nats`: `observer` (follows chains under a lease and publishes
    /// their blocks; no index, rules or API) or `consumer` (reads the log;
    /// indexes, evaluates and serves).
    #[serde(default)]
    pub role: Role,
    /// This node's name, unique in the deployment: the lease holder's name
    /// and the consumer's durable name. Defaults to the host name.
    #[serde(default)]
    pub name: Option<String>,
    /// NATS server URLs (`nats://host:4222`, `tls://host:4222`).
    #[serde(default)]
    pub servers: Vec<String>,
    /// A NATS credentials file (`.creds`: a user JWT and its NKey seed).
    #[serde(default)]
    pub credentials: Option<PathBuf>,
    /// A user name, with `password_file`.
    #[serde(default)]
    pub user: Option<String>,
    /// A file holding the user's password (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the servers' certificates; setting it
    /// requires TLS.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate (mutual TLS), with `tls_key`.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// The JetStream stream holding the blocks.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Subjects are `<subject_prefix>.<chain id>`.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// The key-value bucket of the observers' leases.
    #[serde(default = "default_bucket")]
    pub lease_bucket: String,
    /// Copies of the stream and the bucket the cluster keeps (1, 3 or 5).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// A lease not renewed for this long is free for another observer.
    #[serde(default = "default_lease_ms")]
    pub lease_ttl_ms: u64,
    /// How long the stream keeps a block; 0: for ever (consumers that start
    /// later read the chain from its genesis).
    #[serde(default)]
    pub max_age_days: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            role: Role::default(),
            name: None,
            servers: Vec::new(),
            credentials: None,
            user: None,
            password_file: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            stream: default_stream(),
            subject_prefix: default_prefix(),
            lease_bucket: default_bucket(),
            replicas: default_replicas(),
            lease_ttl_ms: default_lease_ms(),
            max_age_days: 0,
        }
    }
}

fn default_stream() -> String {
    "LT_BLOCKS".into()
}
fn default_prefix() -> String {
    "lt.blocks".into()
}
fn default_bucket() -> String {
    "LT_LEASES".into()
}
fn default_replicas() -> usize {
    3
}
fn default_lease_ms() -> u64 {
    10_000
}

/// `[stream] mode`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One process: ingest, index, rules and API over one store.
    #[default]
    Embedded,
    /// Observers and consumers joined by NATS JetStream.
    Nats,
}

/// `[stream] role`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Follows chains under a lease and publishes their blocks.
    #[default]
    Observer,
    /// Reads the log, verifies and stores the blocks, indexes, evaluates
    /// and serves.
    Consumer,
}

/// Why the log failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `[stream]` is not usable.
    #[error("stream.{key}: {message}")]
    Config {
        /// The setting.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A file the configuration names could not be read.
    #[error("stream.{key}: {}: {source}", path.display())]
    File {
        /// The setting.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The servers could not be reached.
    #[error("cannot connect to NATS at {servers}: {reason}")]
    Connect {
        /// The configured servers.
        servers: String,
        /// Why.
        reason: String,
    },
    /// JetStream refused or failed an operation.
    #[error("JetStream: {what}: {reason}")]
    JetStream {
        /// The operation.
        what: String,
        /// Why.
        reason: String,
    },
    /// A message on the log is not a block message.
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    /// The store failed.
    #[cfg(feature = "nats")]
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The consumer's ingest failed.
    #[cfg(feature = "nats")]
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    /// The stream does not hold what a consumer needs.
    #[error("chain {chain}: {message}")]
    Gap {
        /// The chain.
        chain: String,
        /// What is missing.
        message: String,
    },
    /// A worker task died.
    #[error("stream worker failed: {0}")]
    Worker(String),
}

impl LogError {
    #[cfg(feature = "nats")]
    fn js(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::JetStream {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

impl LogConfig {
    /// Checks the settings that need no server.
    pub fn validate(&self) -> Result<(), LogError> {
        if self.mode == Mode::Embedded {
            return Ok(());
        }
        let bad = |key, message: &str| {
            Err(LogError::Config {
                key,
                message: message.into(),
            })
        };
        if self.servers.is_empty() {
            return bad("servers", "the nats mode needs at least one server URL");
        }
        if !matches!(self.replicas, 1 | 3 | 5) {
            return bad("replicas", "must be 1, 3 or 5");
        }
        if self.lease_ttl_ms < 1000 {
            return bad("lease_ttl_ms", "must be at least 1000");
        }
        let token = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !token(&self.stream) {
            return bad("stream", "letters, digits, '_' and '-' only");
        }
        if !token(&self.lease_bucket) {
            return bad("lease_bucket", "letters, digits, '_' and '-' only");
        }
        if self.subject_prefix.is_empty()
            || self
                .subject_prefix
                .split('.')
                .any(|part| part.is_empty() || part.contains(['*', '>', ' ']))
        {
            return bad("subject_prefix", "dot-separated tokens without wildcards");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert", "tls_cert and tls_key go together");
        }
        if self.user.is_some() != self.password_file.is_some() {
            return bad("user", "user and password_file go together");
        }
        if self.credentials.is_some() && self.user.is_some() {
            return bad("credentials", "either credentials or user, not both");
        }
        if let Some(name) = &self.name
            && !token(name)
        {
            return bad("name", "letters, digits, '_' and '-' only");
        }
        Ok(())
    }

    /// This node's name: `name`, else the host name (made a valid token).
    pub fn node_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "lookthrough".into());
        host.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }

    /// The subject of chain `id`'s blocks.
    pub fn subject(&self, chain: &str) -> String {
        format!("{}.{}", self.subject_prefix, subject_token(chain))
    }

    /// The lease's heartbeat: three per time to live.
    #[cfg(feature = "nats")]
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.lease_ttl_ms / 3)
    }
}

/// A chain id as one subject token (ids are letters, digits, `-` and `_`
/// already; anything else becomes `_`).
pub fn subject_token(chain: &str) -> String {
    chain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A connection to the log: the client and its JetStream context.
#[cfg(feature = "nats")]
#[derive(Clone)]
pub struct Log {
    /// The settings it was made from.
    pub config: LogConfig,
    /// The JetStream context.
    pub js: async_nats::jetstream::Context,
    client: async_nats::Client,
}

#[cfg(feature = "nats")]
impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("servers", &self.config.servers)
            .field("stream", &self.config.stream)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "nats")]
impl Log {
    /// Connects (retrying while no server answers, as a node that starts
    /// before its cluster must) and makes sure the stream and the lease
    /// bucket exist with the configured replicas.
    pub async fn connect(config: &LogConfig) -> Result<Self, LogError> {
        config.validate()?;
        let mut opts = async_nats::ConnectOptions::new()
            .name(format!("lookthrough {}", config.node_name()))
            .retry_on_initial_connect()
            .max_reconnects(None::<usize>)
            .connection_timeout(Duration::from_secs(5));
        if let Some(path) = &config.credentials {
            opts = opts
                .credentials_file(path)
                .await
                .map_err(|source| LogError::File {
                    key: "credentials",
                    path: path.clone(),
                    source,
                })?;
        }
        if let (Some(user), Some(path)) = (&config.user, &config.password_file) {
            let text = std::fs::read_to_string(path).map_err(|source| LogError::File {
                key: "password_file",
                path: path.clone(),
                source,
            })?;
            let password = text.lines().next().unwrap_or_default().to_string();
            opts = opts.user_and_password(user.clone(), password);
        }
        if let Some(ca) = &config.tls_ca {
            opts = opts.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        let servers = config.servers.join(",");
        let client =
            opts.connect(config.servers.as_slice())
                .await
                .map_err(|e| LogError::Connect {
                    servers: servers.clone(),
                    reason: e.to_string(),
                })?;
        let js = async_nats::jetstream::new(client.clone());
        let log = Self {
            config: config.clone(),
            js,
            client,
        };
        log.ensure().await?;
        Ok(log)
    }

    /// Creates the stream and the bucket when they do not exist (retrying
    /// while the cluster elects its leaders).
    async fn ensure(&self) -> Result<(), LogError> {
        let c = &self.config;
        let stream = async_nats::jetstream::stream::Config {
            name: c.stream.clone(),
            subjects: vec![format!("{}.>", c.subject_prefix)],
            storage: async_nats::jetstream::stream::StorageType::File,
            num_replicas: c.replicas,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(c.max_age_days * 86_400),
            max_message_size: MAX_MESSAGE_BYTES as i32,
            ..Default::default()
        };
        let bucket = async_nats::jetstream::kv::Config {
            bucket: c.lease_bucket.clone(),
            history: 1,
            max_age: Duration::from_millis(c.lease_ttl_ms),
            num_replicas: c.replicas,
            storage: async_nats::jetstream::stream::StorageType::File,
            ..Default::default()
        };
        let mut delay = Duration::from_millis(100);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let made = async {
                self.js
                    .get_or_create_stream(stream.clone())
                    .await
                    .map_err(|e| LogError::js(format!("stream {}", c.stream), e))?;
                if self.js.get_key_value(&c.lease_bucket).await.is_err() {
                    self.js
                        .create_key_value(bucket.clone())
                        .await
                        .map_err(|e| LogError::js(format!("bucket {}", c.lease_bucket), e))?;
                }
                Ok::<_, LogError>(())
            }
            .await;
            match made {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "JetStream not ready; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The stream, looked up again (its leader may have moved).
    pub async fn stream(&self) -> Result<async_nats::jetstream::stream::Stream, LogError> {
        self.js
            .get_stream(&self.config.stream)
            .await
            .map_err(|e| LogError::js(format!("stream {}", self.config.stream), e))
    }

    /// The connection's state, for health reports.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// The largest block message the stream takes (compressed); the servers'
/// `max_payload` must allow it (see `docs/operations.md`).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
