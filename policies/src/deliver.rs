//! Delivery: one sender per channel takes the channel's outbox in order,
//! sends each notification, and retries with exponential backoff and
//! jitter until it is delivered or too old, when it is parked in the dead
//! letters (an admin can replay them). An entry leaves the outbox only in
//! the same write that records its delivery on the alert, so a crash at any
//! instant loses nothing; the receiver may see a notification twice, with
//! the same idempotency id.
//!
//! Channels:
//! - `webhook`: a JSON body signed as Standard Webhooks do: `webhook-id`
//!   (the idempotency id), `webhook-timestamp` (Unix seconds) and
//!   `webhook-signature` (`v1,` + base64 of HMAC-SHA256 over
//!   `id.timestamp.body`, one per active secret, space-separated). Secrets
//!   are `whsec_` + base64. Thin payloads: ids and a summary; receivers fetch
//!   details through the audited API.
//! - `dingtalk`: a DingTalk group robot (markdown message; with a secret,
//!   the robot's `timestamp` and `sign` query parameters).
//! - `wecom`: a WeCom (企业微信) group robot (markdown message).
//! - `email`: a plain-text email over SMTP to the configured recipients, its
//!   idempotency id in `Message-ID`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use retry::Backoff;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use store::{Op, Store};

use crate::alert::{Alert, Delivery, OutboxEntry};
use crate::error::{EngineError, corrupt};
use crate::family::{alert, keyed};
use records::time::now_ms;

/// What kind of receiver a channel is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Generic webhook, Standard Webhooks signatures.
    Webhook,
    /// DingTalk group robot.
    DingTalk,
    /// WeCom group robot.
    WeCom,
    /// Email over SMTP: `url` is `smtps://HOST[:465]` (TLS from the
    /// start), `smtp://HOST[:587]?tls=required` (STARTTLS, refused if the
    /// server does not offer it) or `smtp://HOST[:25]` (plain, for a relay
    /// on a trusted network; no credentials are sent over it).
    Email,
}

/// A channel's configuration (`[[policies.channel]]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The name rules use in `notify`.
    pub name: String,
    /// The kind.
    pub kind: ChannelKind,
    /// The receiver's URL (`https://` or `http://`; see [`ChannelKind`]
    /// for email).
    pub url: String,
    /// A PEM file of certificate authorities trusted for this channel's
    /// TLS besides the system's (an internal CA, say).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Signing secrets (`whsec_…` for webhooks, the robot's `SEC…` for
    /// DingTalk); each is the name of an environment variable holding it.
    #[serde(default)]
    pub secret_envs: Vec<String>,
    /// First retry delay, ms.
    #[serde(default = "default_initial")]
    pub backoff_initial_ms: u64,
    /// Longest retry delay, ms.
    #[serde(default = "default_max")]
    pub backoff_max_ms: u64,
    /// Give up (dead letter) after this long, ms (default a day).
    #[serde(default = "default_give_up")]
    pub give_up_after_ms: u64,
    /// Per-request timeout, ms.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// The dashboard's address, for links in messages.
    #[serde(default)]
    pub link_base: String,
    /// Email: the sender address.
    #[serde(default)]
    pub from: String,
    /// Email: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Email: the SMTP user; the password is the first of `secret_envs`.
    #[serde(default)]
    pub username: Option<String>,
}

impl std::fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("secret_envs", &self.secret_envs)
            .finish_non_exhaustive()
    }
}

fn default_initial() -> u64 {
    1_000
}
fn default_max() -> u64 {
    300_000
}
fn default_give_up() -> u64 {
    86_400_000
}
fn default_timeout() -> u64 {
    10_000
}

/// Why a channel cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The configuration is wrong.
    #[error("channel {name}: {reason}")]
    Config {
        /// The channel.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// A signing secret's key bytes (zeroized on drop).
struct Secret(zeroize::Zeroizing<Vec<u8>>);

/// A channel ready to send.
pub struct Channel {
    config: ChannelConfig,
    secrets: Vec<Secret>,
    http: reqwest::Client,
    smtp: Option<Smtp>,
}

/// An SMTP channel's transport and addresses.
struct Smtp {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("config", &self.config)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Reads the channel's secrets from their environment variables.
    pub fn new(config: ChannelConfig) -> Result<Self, ChannelError> {
        let mut values = Vec::new();
        for var in &config.secret_envs {
            let value = std::env::var(var).map_err(|_| ChannelError::Config {
                name: config.name.clone(),
                reason: format!("secret variable {var} is not set"),
            })?;
            values.push((var.clone(), zeroize::Zeroizing::new(value)));
        }
        Self::with_secrets(config, values)
    }

    /// The channel with its secrets given as (where from, value) pairs, in
    /// the form the environment variables hold them.
    pub fn with_secrets(
        config: ChannelConfig,
        values: Vec<(String, zeroize::Zeroizing<String>)>,
    ) -> Result<Self, ChannelError> {
        let bad = |reason: String| ChannelError::Config {
            name: config.name.clone(),
            reason,
        };
        if config.name.is_empty() || config.name.contains('\0') {
            return Err(bad("a channel needs a name".into()));
        }
        let roots = match &config.ca_file {
            Some(path) => ca_certificates(path).map_err(bad)?,
            None => Vec::new(),
        };
        if config.kind == ChannelKind::Email {
            let password = values.first().map(|(_, v)| v.as_str().to_owned());
            let smtp = smtp(&config, &roots, password).map_err(bad)?;
            return Ok(Self {
                config,
                secrets: Vec::new(),
                http: reqwest::Client::new(),
                smtp: Some(smtp),
            });
        }
        if !config.url.starts_with("https://") && !config.url.starts_with("http://") {
            return Err(bad(format!(
                "url '{}' is not an https:// or http:// URL",
                config.url
            )));
        }
        let mut secrets = Vec::new();
        for (var, value) in &values {
            let key = match config.kind {
                ChannelKind::Webhook => {
                    let b64 = value.strip_prefix("whsec_").unwrap_or(value);
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|e| bad(format!("secret {var} is not whsec_ + base64: {e}")))?
                }
                _ => value.as_bytes().to_vec(),
            };
            if key.is_empty() {
                return Err(bad(format!("secret {var} is empty")));
            }
            secrets.push(Secret(zeroize::Zeroizing::new(key)));
        }
        if config.kind == ChannelKind::Webhook && secrets.is_empty() {
            return Err(bad(
                "a webhook needs at least one signing secret (secret_envs)".into(),
            ));
        }
        let mut certs = Vec::new();
        for der in &roots {
            certs.push(
                reqwest::Certificate::from_der(der)
                    .map_err(|e| bad(format!("ca_file: a certificate is not usable: {e}")))?,
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .tls_certs_merge(certs)
            .build()
            .map_err(|e| bad(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            secrets,
            http,
            smtp: None,
        })
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

/// The certificates of a PEM file, as DER; an error names the file.
fn ca_certificates(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let bytes =
        std::fs::read(path).map_err(|e| format!("ca_file {}: cannot read: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_file {}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "ca_file {}: holds no CERTIFICATE block",
            path.display()
        ));
    }
    Ok(certs)
}

/// How an email channel's connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmtpSecurity {
    /// TLS from the first byte (`smtps://`).
    Implicit,
    /// STARTTLS, required (`smtp://…?tls=required`).
    StartTls,
    /// None (`smtp://`).
    Plain,
}

/// The SMTP transport and addresses of an email channel.
fn smtp(c: &ChannelConfig, roots: &[Vec<u8>], password: Option<String>) -> Result<Smtp, String> {
    let expected = "an email channel's url is smtps://HOST[:465], smtp://HOST[:587]?tls=required or smtp://HOST[:25]";
    let (security, rest) = if let Some(rest) = c.url.strip_prefix("smtps://") {
        (SmtpSecurity::Implicit, rest)
    } else if let Some(rest) = c.url.strip_prefix("smtp://") {
        match rest.split_once('?') {
            Some((r, "tls=required")) => (SmtpSecurity::StartTls, r),
            Some((_, q)) => {
                return Err(format!("url '{}': unknown query '{q}' ({expected})", c.url));
            }
            None => (SmtpSecurity::Plain, rest),
        }
    } else {
        return Err(format!("url '{}': {expected}", c.url));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("url '{}': port '{p}' is not a number", c.url))?,
        ),
        None => (
            rest.to_string(),
            match security {
                SmtpSecurity::Implicit => 465,
                SmtpSecurity::StartTls => 587,
                SmtpSecurity::Plain => 25,
            },
        ),
    };
    if host.is_empty() {
        return Err(format!("url '{}' names no host", c.url));
    }
    let from = c
        .from
        .parse()
        .map_err(|e| format!("from '{}' is not an email address: {e}", c.from))?;
    if c.to.is_empty() {
        return Err("an email channel needs at least one address in `to`".into());
    }
    let to =
        c.to.iter()
            .map(|t| {
                t.parse()
                    .map_err(|e| format!("to '{t}' is not an email address: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
    let mut builder =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(Duration::from_millis(c.timeout_ms)));
    if security != SmtpSecurity::Plain {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let mut params = TlsParameters::builder(host);
        for der in roots {
            let cert = Certificate::from_der(der.clone())
                .map_err(|e| format!("ca_file: a certificate is not usable: {e}"))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| format!("TLS settings: {e}"))?;
        builder = builder.tls(match security {
            SmtpSecurity::Implicit => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    } else if c.ca_file.is_some() {
        return Err(format!(
            "url '{}' is plain SMTP but ca_file is set: use smtps:// or ?tls=required",
            c.url
        ));
    }
    match (&c.username, password) {
        (Some(user), Some(password)) => {
            if security == SmtpSecurity::Plain {
                return Err(format!(
                    "url '{}' is plain SMTP: credentials are only sent over TLS (smtps:// or ?tls=required)",
                    c.url
                ));
            }
            builder = builder.credentials(
                lettre::transport::smtp::authentication::Credentials::new(user.clone(), password),
            );
        }
        (Some(_), None) => {
            return Err("username is set but no password (the first of secret_envs)".into());
        }
        (None, Some(_)) => {
            return Err("a password is set (secret_envs) but no username".into());
        }
        (None, None) => {}
    }
    let transport = builder.build();
    Ok(Smtp {
        transport,
        from,
        to,
    })
}

/// The Standard Webhooks signature header value of `body` for `secrets`.
pub fn webhook_signature(secrets: &[&[u8]], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|k| {
            let mut mac = Hmac::<Sha256>::new_from_slice(k).ok()?;
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            Some(format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The thin JSON of a notification: ids and a summary. It carries nothing
/// taken from decrypted payloads (an alert's group key often is a party from
/// one): the receiver reads those through the API, whose reads are audited.
pub fn summary(entry: &OutboxEntry, a: &Alert, link_base: &str) -> Value {
    json!({
        "type": entry.event,
        "timestamp": entry.created_ms,
        "data": {
            "alert_id": a.id,
            "rule": a.rule,
            "rule_version": a.rule_version,
            "title": a.title,
            "severity": a.severity.as_str(),
            "transactions": a.count(),
            "first_transaction": a.transactions.first(),
            "first_seen_ms": a.first_seen_ms,
            "height": a.last_height,
            "labels": a.labels,
            "link": if link_base.is_empty() { Value::Null } else {
                Value::String(format!("{}/alerts/{}", link_base.trim_end_matches('/'), a.id))
            },
        }
    })
}

fn markdown(a: &Alert, link_base: &str) -> (String, String) {
    let title = format!("[{}] {}", a.severity.as_str().to_uppercase(), a.title);
    let mut text = format!(
        "### {title}\n\n- 告警 Alert: #{}\n- 规则 Rule: {} v{}\n- 交易 Transactions: {}\n- 区块 Block: {}\n",
        a.id,
        a.rule,
        a.rule_version,
        a.count(),
        a.last_height
    );
    if !link_base.is_empty() {
        text.push_str(&format!(
            "\n[查看 Open]({}/alerts/{})\n",
            link_base.trim_end_matches('/'),
            a.id
        ));
    }
    (title, text)
}

/// One attempt's failure.
#[derive(Debug)]
struct SendError(String);

impl Channel {
    /// Sends one notification of `a`.
    async fn send(&self, entry: &OutboxEntry, a: &Alert) -> Result<String, SendError> {
        let c = &self.config;
        if let Some(smtp) = &self.smtp {
            return self.send_email(smtp, entry, a).await;
        }
        let request = match c.kind {
            ChannelKind::Webhook => {
                let body = serde_json::to_vec(&summary(entry, a, &c.link_base))
                    .map_err(|e| SendError(e.to_string()))?;
                let ts = now_ms() / 1000;
                let keys: Vec<&[u8]> = self.secrets.iter().map(|s| s.0.as_slice()).collect();
                let sig = webhook_signature(&keys, &entry.message_id, ts, &body);
                self.http
                    .post(&c.url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &entry.message_id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sig)
                    .body(body)
            }
            ChannelKind::DingTalk => {
                let (title, text) = markdown(a, &c.link_base);
                let mut url = c.url.clone();
                if let Some(secret) = self.secrets.first() {
                    let ts = now_ms();
                    let secret_text = String::from_utf8_lossy(&secret.0);
                    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0)
                        .map_err(|e| SendError(e.to_string()))?;
                    mac.update(format!("{ts}\n{secret_text}").as_bytes());
                    let sign = base64::engine::general_purpose::STANDARD
                        .encode(mac.finalize().into_bytes());
                    let sign: String = sign
                        .bytes()
                        .map(|b| match b {
                            b'+' => "%2B".to_string(),
                            b'/' => "%2F".to_string(),
                            b'=' => "%3D".to_string(),
                            _ => (b as char).to_string(),
                        })
                        .collect();
                    let sep = if url.contains('?') { '&' } else { '?' };
                    url.push_str(&format!("{sep}timestamp={ts}&sign={sign}"));
                }
                self.http.post(url).json(&json!({
                    "msgtype": "markdown",
                    "markdown": { "title": title, "text": text },
                }))
            }
            ChannelKind::Email => {
                return Err(SendError("email channel without its transport".into()));
            }
            ChannelKind::WeCom => {
                let (_, text) = markdown(a, &c.link_base);
                self.http.post(&c.url).json(&json!({
                    "msgtype": "markdown",
                    "markdown": { "content": text },
                }))
            }
        };
        let response = request.send().await.map_err(|e| {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            SendError(s)
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(300).collect();
        if !status.is_success() {
            return Err(SendError(format!("HTTP {status}: {text}")));
        }
        // The robots answer 200 with an error code in the body.
        if c.kind != ChannelKind::Webhook
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && v.get("errcode")
                .and_then(Value::as_i64)
                .is_some_and(|c| c != 0)
        {
            return Err(SendError(format!("robot refused: {text}")));
        }
        Ok(format!("HTTP {status}"))
    }
}

impl Channel {
    async fn send_email(
        &self,
        smtp: &Smtp,
        entry: &OutboxEntry,
        a: &Alert,
    ) -> Result<String, SendError> {
        use lettre::AsyncTransport;
        let (title, text) = markdown(a, &self.config.link_base);
        let mut builder = lettre::Message::builder()
            .from(smtp.from.clone())
            // The idempotency id: the same on every retry, so a mail
            // system or reader can drop a repeat.
            .message_id(Some(format!("<{}@lookthrough>", entry.message_id)))
            .subject(title);
        for t in &smtp.to {
            builder = builder.to(t.clone());
        }
        let message = builder
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| SendError(format!("cannot build the email: {e}")))?;
        let response = smtp
            .transport
            .send(message)
            .await
            .map_err(|e| SendError(format!("SMTP: {e}")))?;
        Ok(format!("SMTP {}", response.code()))
    }
}

/// The delay before attempt `attempts + 1`: doubling from `initial`, at
/// most `max`, with ±25% jitter.
pub fn backoff(initial_ms: u64, max_ms: u64, attempts: u32) -> u64 {
    let b = Backoff::new(
        Duration::from_millis(initial_ms),
        Duration::from_millis(max_ms),
    );
    u64::try_from(b.delay(attempts).as_millis()).unwrap_or(u64::MAX)
}

/// Counters of one sender.
#[derive(Debug, Default)]
pub struct SenderStats {
    /// Delivered.
    pub delivered: std::sync::atomic::AtomicU64,
    /// Failed attempts.
    pub failures: std::sync::atomic::AtomicU64,
    /// Given up (dead letters).
    pub dead: std::sync::atomic::AtomicU64,
}

/// The sender of one channel.
pub struct Sender {
    store: Arc<Store>,
    channel: Channel,
    stats: Arc<SenderStats>,
    progress: Arc<store::follow::Progress>,
}

impl Sender {
    /// A sender of `channel`'s outbox in `store`.
    pub fn new(store: Arc<Store>, channel: Channel) -> Self {
        let progress = store::follow::Progress::new(format!("sender:{}", channel.name()), None);
        Self {
            store,
            channel,
            stats: Arc::new(SenderStats::default()),
            progress,
        }
    }

    /// The sender's progress as a stage (`/metrics`).
    pub fn progress(&self) -> Arc<store::follow::Progress> {
        self.progress.clone()
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<SenderStats> {
        self.stats.clone()
    }

    /// Delivers until `shutdown`, woken by writes to the outbox.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        let store = self.store.clone();
        store::follow::follow(self, &store, shutdown).await
    }

    /// Attempts the channel's oldest message if it is due; else says when
    /// it will be (or waits for the outbox to be written, when empty).
    async fn step_once(&self) -> Result<store::follow::Next, EngineError> {
        use store::follow::Next;
        // Nothing is sent that could not be recorded as sent.
        if self.store.disk().fault(self.store.path()).is_some() {
            return Ok(Next::DiskFault);
        }
        let (store, from) = (self.store.clone(), keyed(self.channel.name(), ""));
        let head =
            blocking(move || Ok(store.scan(crate::family::OUTBOX, &from, None, false, 1)?)).await?;
        let Some((key, value)) = head.into_iter().next() else {
            return Ok(Next::Wait(None));
        };
        let entry: OutboxEntry =
            serde_json::from_slice(&value).map_err(|e| corrupt("outbox entry", e))?;
        let now = now_ms();
        if entry.next_attempt_ms > now {
            let wait = Duration::from_millis(entry.next_attempt_ms.saturating_sub(now) as u64);
            return Ok(Next::Wait(std::time::Instant::now().checked_add(wait)));
        }
        self.attempt(key, entry).await?;
        Ok(Next::Now)
    }

    async fn attempt(&self, key: Vec<u8>, mut entry: OutboxEntry) -> Result<(), EngineError> {
        use std::sync::atomic::Ordering::Relaxed;
        let (store, id) = (self.store.clone(), entry.alert_id);
        let alert = blocking(move || alert(&store, id)).await?;
        let Some(alert) = alert else {
            // The alert is gone (it never is, but do not block the channel).
            let store = self.store.clone();
            return blocking(move || Ok(store.write(&[Op::Delete(crate::family::OUTBOX, key)])?))
                .await;
        };
        let result = self.channel.send(&entry, &alert).await;
        entry.attempts += 1;
        let now = now_ms();
        let c = &self.channel.config;
        let (status, detail, ops_key) = match &result {
            Ok(answer) => {
                self.stats.delivered.fetch_add(1, Relaxed);
                ("delivered", answer.clone(), None)
            }
            Err(SendError(e)) => {
                self.stats.failures.fetch_add(1, Relaxed);
                entry.last_error = Some(e.clone());
                if now - entry.created_ms >= c.give_up_after_ms as i64 {
                    self.stats.dead.fetch_add(1, Relaxed);
                    tracing::error!(channel = %c.name, alert = alert.id, error = %e, "notification given up on; parked in the dead letters");
                    ("dead", e.clone(), Some(crate::family::DEAD_LETTERS))
                } else {
                    let delay = backoff(c.backoff_initial_ms, c.backoff_max_ms, entry.attempts);
                    entry.next_attempt_ms = now + delay as i64;
                    tracing::warn!(channel = %c.name, alert = alert.id, attempt = entry.attempts, retry_in_ms = delay, error = %e, "notification not delivered; will retry");
                    ("failed", e.clone(), Some(crate::family::OUTBOX))
                }
            }
        };
        let delivery = Delivery {
            channel: c.name.clone(),
            message_id: entry.message_id.clone(),
            at_ms: now,
            status: status.into(),
            attempt: entry.attempts,
            detail: detail.chars().take(300).collect(),
        };
        let store = self.store.clone();
        blocking(move || record_attempt(&store, key, &entry, ops_key, delivery)).await
    }
}

impl store::follow::Stage for Sender {
    type Error = EngineError;

    fn progress(&self) -> Arc<store::follow::Progress> {
        self.progress.clone()
    }

    fn wakes_on(&self) -> Vec<store::Family> {
        vec![crate::family::OUTBOX]
    }

    async fn step(self, _head: Option<i64>) -> Result<(Self, store::follow::Step), EngineError> {
        let next = match self.step_once().await {
            Ok(next) => next,
            // The outbox entry stays as it was: the attempt is made again
            // (a repeat carries the same idempotency id).
            Err(e) if e.is_disk_fault() => {
                tracing::warn!(channel = %self.channel.name(), error = %e, "sender paused until the disk takes writes again");
                store::follow::Next::DiskFault
            }
            Err(e) => return Err(e),
        };
        Ok((
            self,
            store::follow::Step {
                checkpoint: None,
                next,
            },
        ))
    }
}

/// Runs store work (RocksDB, the policy lock) on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EngineError::Panicked(e.to_string()))?
}

/// Records an attempt under the policy lock, in one write: the outbox entry
/// leaves (delivered), moves to the dead letters, or stays for its retry
/// (`ops_key`), and the alert's delivery log shows the message's latest state.
fn record_attempt(
    store: &Store,
    key: Vec<u8>,
    entry: &OutboxEntry,
    ops_key: Option<store::Family>,
    d: Delivery,
) -> Result<(), EngineError> {
    {
        let lock = crate::family::lock(store);
        let _held = lock.hold();
        let mut ops = Vec::new();
        match ops_key {
            None => ops.push(Op::Delete(crate::family::OUTBOX, key)),
            Some(crate::family::DEAD_LETTERS) => {
                ops.push(Op::Delete(crate::family::OUTBOX, key.clone()));
                let v = serde_json::to_vec(entry).map_err(|e| corrupt("entry", e))?;
                ops.push(Op::Put(crate::family::DEAD_LETTERS, key, v));
            }
            Some(f) => {
                let v = serde_json::to_vec(entry).map_err(|e| corrupt("entry", e))?;
                ops.push(Op::Put(f, key, v));
            }
        }
        // The alert as it is now (the engine may have changed it meanwhile).
        if let Some(mut a) = alert(store, entry.alert_id)? {
            // One line per message: its latest state.
            match a
                .deliveries
                .iter_mut()
                .find(|x| x.message_id == d.message_id)
            {
                Some(x) => *x = d,
                None => a.deliveries.push(d),
            }
            let v = serde_json::to_vec(&a).map_err(|e| corrupt("alert", e))?;
            ops.push(Op::Put(
                crate::family::ALERTS,
                a.id.to_be_bytes().to_vec(),
                v,
            ));
        }
        store.write(&ops)?;
    }
    Ok(())
}

/// Dead letters moved back to the outbox per write.
const REPLAY_PAGE: usize = 1_000;

/// Moves every dead letter of `channel` back to its outbox, due now;
/// returns how many.
pub fn replay_dead_letters(store: &Store, channel: &str) -> Result<usize, EngineError> {
    let lock = crate::family::lock(store);
    let _held = lock.hold();
    let prefix = keyed(channel, "");
    let now = now_ms();
    let mut moved = 0;
    // A page at a time, each page one write that takes its letters out of
    // the dead letters: the next page starts at the prefix again.
    loop {
        let dead = store.scan(
            crate::family::DEAD_LETTERS,
            &prefix,
            None,
            false,
            REPLAY_PAGE,
        )?;
        if dead.is_empty() {
            return Ok(moved);
        }
        let mut ops = Vec::with_capacity(2 * dead.len());
        for (k, v) in &dead {
            let mut e: OutboxEntry =
                serde_json::from_slice(v).map_err(|e| corrupt("dead letter", e))?;
            e.next_attempt_ms = now;
            e.created_ms = now;
            let v = serde_json::to_vec(&e).map_err(|e| corrupt("dead letter", e))?;
            ops.push(Op::Delete(crate::family::DEAD_LETTERS, k.clone()));
            ops.push(Op::Put(crate::family::OUTBOX, k.clone(), v));
        }
        store.write(&ops)?;
        moved += dead.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dead_letter_is_replayed_a_page_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let n = REPLAY_PAGE * 2 + 7;
        let entry = |i: usize| OutboxEntry {
            message_id: format!("m{i}"),
            alert_id: i as u64,
            event: "alert.opened".into(),
            created_ms: 0,
            attempts: 9,
            next_attempt_ms: 0,
            last_error: Some("down".into()),
        };
        let mut ops: Vec<Op> = (0..n)
            .map(|i| {
                let mut k = keyed("hook", "");
                k.extend_from_slice(&(i as u64).to_be_bytes());
                Op::Put(
                    crate::family::DEAD_LETTERS,
                    k,
                    serde_json::to_vec(&entry(i)).unwrap(),
                )
            })
            .collect();
        // Another channel's dead letter stays.
        ops.push(Op::Put(
            crate::family::DEAD_LETTERS,
            keyed("other", "x"),
            serde_json::to_vec(&entry(0)).unwrap(),
        ));
        store.write(&ops).unwrap();
        assert_eq!(replay_dead_letters(&store, "hook").unwrap(), n);
        let outbox = crate::family::outbox(&store, "hook").unwrap();
        assert_eq!(outbox.len(), n);
        assert!(
            outbox
                .iter()
                .all(|e| e.next_attempt_ms > 0 && e.created_ms > 0)
        );
        let left = store
            .scan(crate::family::DEAD_LETTERS, b"", None, false, 10)
            .unwrap();
        assert_eq!(left.len(), 1, "only the other channel's");
        assert_eq!(replay_dead_letters(&store, "hook").unwrap(), 0);
    }

    fn config(kind: ChannelKind, url: &str) -> ChannelConfig {
        ChannelConfig {
            name: "c".into(),
            kind,
            url: url.into(),
            secret_envs: Vec::new(),
            backoff_initial_ms: default_initial(),
            backoff_max_ms: default_max(),
            give_up_after_ms: default_give_up(),
            timeout_ms: default_timeout(),
            link_base: String::new(),
            from: String::new(),
            to: Vec::new(),
            ca_file: None,
            username: None,
        }
    }

    fn secret(v: &str) -> Vec<(String, zeroize::Zeroizing<String>)> {
        vec![("S".into(), zeroize::Zeroizing::new(v.into()))]
    }

    #[test]
    fn bad_channels_are_named() {
        let err = |c, s| Channel::with_secrets(c, s).unwrap_err().to_string();
        let e = err(config(ChannelKind::WeCom, "ftp://x"), Vec::new());
        assert!(
            e.contains("channel c") && e.contains("not an https:// or http:// URL"),
            "{e}"
        );
        let mut c = config(ChannelKind::Webhook, "https://x/h");
        c.ca_file = Some("/nonexistent/ca.pem".into());
        let e = err(c, secret("whsec_AAAA"));
        assert!(
            e.contains("ca_file /nonexistent/ca.pem: cannot read"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let mut c = config(ChannelKind::Webhook, "https://x/h");
        c.ca_file = Some(not_pem);
        let e = err(c, secret("whsec_AAAA"));
        assert!(e.contains("holds no CERTIFICATE block"), "{e}");
        assert!(
            Channel::with_secrets(
                config(ChannelKind::Webhook, "https://x/h"),
                secret("whsec_AAAA")
            )
            .is_ok()
        );
        let e = err(config(ChannelKind::Webhook, "http://x/h"), Vec::new());
        assert!(e.contains("at least one signing secret"), "{e}");
        let e = err(
            config(ChannelKind::Webhook, "http://x/h"),
            secret("whsec_%%%"),
        );
        assert!(e.contains("secret S is not whsec_ + base64"), "{e}");
        assert!(
            Channel::with_secrets(config(ChannelKind::DingTalk, "http://x/robot"), Vec::new())
                .is_ok()
        );
    }

    #[test]
    fn email_urls_choose_tls_and_credentials_never_go_in_the_clear() {
        let email = |url: &str| {
            let mut c = config(ChannelKind::Email, url);
            c.from = "a@regulator.example.cn".into();
            c.to = vec!["b@regulator.example.cn".into()];
            c
        };
        let err = |c, s| Channel::with_secrets(c, s).unwrap_err().to_string();
        for url in [
            "smtps://mail.example.cn",
            "smtp://mail.example.cn:587?tls=required",
            "smtp://relay.internal:25",
        ] {
            assert!(
                Channel::with_secrets(email(url), Vec::new()).is_ok(),
                "{url}"
            );
        }
        let e = err(email("smtp://m:587?tls=maybe"), Vec::new());
        assert!(e.contains("unknown query 'tls=maybe'"), "{e}");
        let e = err(email("http://m"), Vec::new());
        assert!(e.contains("smtps://HOST[:465]"), "{e}");
        let mut plain = email("smtp://relay.internal:25");
        plain.username = Some("alerts".into());
        let e = err(plain, secret("pw"));
        assert!(e.contains("credentials are only sent over TLS"), "{e}");
        let mut tls = email("smtps://mail.example.cn");
        tls.username = Some("alerts".into());
        assert!(Channel::with_secrets(tls.clone(), secret("pw")).is_ok());
        let e = err(tls, Vec::new());
        assert!(e.contains("no password"), "{e}");
    }

    #[test]
    fn signatures_are_the_standard_webhooks_ones_for_each_secret() {
        // id.timestamp.body under each key, base64, space-separated.
        let sig = webhook_signature(&[b"k1", b"k2"], "msg_1", 1_700_000_000, b"{}");
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k1").unwrap();
        mac.update(b"msg_1.1700000000.{}");
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(parts[0], format!("v1,{want}"));
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter() {
        for attempts in 1..40 {
            let d = backoff(1_000, 300_000, attempts);
            let base = (1_000u64 << (attempts - 1).min(30)).min(300_000);
            assert!(
                d >= base - base / 4 && d <= base + base / 4,
                "{attempts}: {d}"
            );
        }
    }
}
