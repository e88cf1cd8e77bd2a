//! Delivery against a real HTTP receiver: a receiver that refuses
//! connections for a while, then comes up, gets every notification, in
//! order, the retries of one carrying the same idempotency id; the
//! signatures verify and a tampered body does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use policies::deliver::{Channel, ChannelConfig, ChannelKind, Sender};
use policies::family::{all_alerts, outbox};
use policies::{Engine, Watchlists};
use sha2::Sha256;
use store::Store;

const SECRET_ENV: &str = "LT_TEST_WEBHOOK_SECRET";
const SECRET: &[u8] = b"a receiver's shared secret, 32+ bytes long";

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

/// A receiver's check of a delivery, as the Standard Webhooks libraries do
/// it: HMAC-SHA256 over `id.timestamp.body`, compared in constant time with
/// any of the `v1,` signatures.
fn verify(secret: &[u8], r: &Received) -> bool {
    r.signature.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(want) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
        mac.update(&r.body);
        mac.verify_slice(&want).is_ok()
    })
}

async fn receiver(listener: tokio::net::TcpListener, got: Arc<Mutex<Vec<Received>>>) {
    axum::serve(listener, hook_router(got)).await.unwrap();
}

/// The receiver's one route, `POST /hook`, keeping what arrives.
fn hook_router(got: Arc<Mutex<Vec<Received>>>) -> axum::Router {
    axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let got = got.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                got.lock().unwrap().push(Received {
                    id: h("webhook-id"),
                    timestamp: h("webhook-timestamp"),
                    signature: h("webhook-signature"),
                    body: body.to_vec(),
                });
                "ok"
            }
        }),
    )
}

async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A devnet chain of `blocks` blocks in a store, evaluated with the example
/// rules notifying `compliance-webhook`; returns the store (and its
/// directory) and the queued message ids, oldest first.
fn evaluated(seed: u64, blocks: usize) -> (tempfile::TempDir, Arc<Store>, Vec<String>) {
    let chain = testkit::chain(seed, blocks);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<Store> = testkit::store(&chain, dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lists = Watchlists::load(&root.join("watchlists")).unwrap();
    let (rules, errors) = policies::rule::load_dir(&root.join("rules"), Some(&lists.names()));
    assert!(errors.is_empty());
    let mut engine = Engine::new(
        store.clone(),
        chain.sealer.clone(),
        rules,
        lists,
        vec!["compliance-webhook".into()],
    )
    .unwrap();
    engine.catch_up().unwrap();
    let queued = outbox(&store, "compliance-webhook")
        .unwrap()
        .into_iter()
        .map(|e| e.message_id)
        .collect();
    (dir, store, queued)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_then_up_gets_every_alert_in_order_with_stable_ids() {
    let (_dir, store, queued) = evaluated(43, 40);
    assert!(queued.len() >= 5, "{} queued", queued.len());

    // A port nobody listens on: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(SECRET)
    );
    let channel = Channel::with_secrets(
        ChannelConfig {
            name: "compliance-webhook".into(),
            kind: ChannelKind::Webhook,
            url: format!("http://127.0.0.1:{port}/hook"),
            secret_envs: vec![SECRET_ENV.into()],
            backoff_initial_ms: 20,
            backoff_max_ms: 100,
            give_up_after_ms: 3_600_000,
            timeout_ms: 2_000,
            link_base: String::new(),
            from: String::new(),
            to: Vec::new(),
            ca_file: None,
            username: None,
        },
        vec![(SECRET_ENV.into(), secret.into())],
    )
    .unwrap();
    let sender = Sender::new(store.clone(), channel);
    let stats = sender.stats();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));

    // Down: attempts fail, the first notification is retried, none lost.
    until("failed attempts", 30, || {
        stats.failures.load(std::sync::atomic::Ordering::Relaxed) >= 4
    })
    .await;
    assert_eq!(
        outbox(&store, "compliance-webhook").unwrap().len(),
        queued.len()
    );
    let first = policies::family::alert(&store, all_alerts(&store).unwrap()[0].id)
        .unwrap()
        .unwrap();
    assert!(
        first
            .deliveries
            .iter()
            .any(|d| d.status == "failed" && d.attempt >= 1),
        "{:?}",
        first.deliveries
    );

    // Up.
    let got = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(receiver(listener, got.clone()));
    until("the outbox to empty", 60, || {
        outbox(&store, "compliance-webhook").unwrap().is_empty()
    })
    .await;
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();

    let got = got.lock().unwrap().clone();
    // Every queued notification arrived, in the outbox's order; a
    // duplicate repeats the id of the one before it.
    let mut firsts: Vec<String> = Vec::new();
    for r in &got {
        if firsts.last() != Some(&r.id) {
            assert!(!firsts.contains(&r.id), "{} arrived out of order", r.id);
            firsts.push(r.id.clone());
        }
    }
    assert_eq!(firsts, queued);
    // Each is signed, and its body names its alert, but carries nothing of
    // the decrypted payloads (the group key is one): the receiver reads them
    // through the audited API.
    let alerts = all_alerts(&store).unwrap();
    for r in &got {
        assert!(verify(SECRET, r), "signature of {}", r.id);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let id = body["data"]["alert_id"].as_u64().unwrap();
        assert!(r.id.starts_with(&format!("alert-{id}-")), "{}", r.id);
        assert!(body["data"].get("group_key").is_none(), "{body}");
        let alert = alerts.iter().find(|a| a.id == id).unwrap();
        // (A rule without `group_by` keys each alert by its transaction,
        // whose hash the summary names anyway.)
        if !alert.group_key.is_empty() && !alert.transactions.contains(&alert.group_key) {
            let text = String::from_utf8_lossy(&r.body);
            assert!(
                !text.contains(&alert.group_key),
                "the body of {} holds the group key {}: {text}",
                r.id,
                alert.group_key
            );
        }
        let mut tampered = r.clone();
        tampered.body = String::from_utf8(r.body.clone())
            .unwrap()
            .replacen("\"severity\":\"", "\"severity\":\"x", 1)
            .into_bytes();
        assert!(!verify(SECRET, &tampered));
        assert!(!verify(b"another secret", r));
    }
    // Every alert shows its delivery.
    let delivered: BTreeSet<String> = all_alerts(&store)
        .unwrap()
        .iter()
        .flat_map(|a| a.deliveries.iter())
        .filter(|d| d.status == "delivered")
        .map(|d| d.message_id.clone())
        .collect();
    assert_eq!(delivered, queued.iter().cloned().collect());
}

/// A minimal SMTP server: accepts every message and keeps its text; over
/// TLS from the first byte when given an acceptor (`smtps://`).
async fn smtp_server(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    got: Arc<Mutex<Vec<String>>>,
) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        let got = got.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(socket).await {
                        smtp_session(stream, got).await;
                    }
                }
                None => smtp_session(socket, got).await,
            }
        });
    }
}

async fn smtp_session(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    got: Arc<Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test ESMTP\r\n").await.unwrap();
    let mut data: Option<String> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(body) = data.as_mut() {
            if line == "." {
                got.lock().unwrap().push(data.take().unwrap_or_default());
                write.write_all(b"250 queued\r\n").await.unwrap();
            } else {
                body.push_str(&line);
                body.push('\n');
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250-test\r\n250 AUTH PLAIN LOGIN\r\n",
            "AUTH" => {
                got.lock().unwrap().push(line.clone());
                b"235 accepted\r\n"
            }
            "DATA" => {
                data = Some(String::new());
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                let _ = write.flush().await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(reply).await.unwrap();
        write.flush().await.unwrap();
    }
}

/// A certificate authority of the test's own, and a server certificate
/// for `localhost` that it signed.
struct TestCa {
    /// The CA certificate, PEM (what a channel's `ca_file` holds).
    ca_pem: String,
    /// The server's TLS settings.
    server: Arc<tokio_rustls::rustls::ServerConfig>,
}

fn test_ca() -> TestCa {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "lookthrough test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let key =
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)
        .unwrap();
    TestCa {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

/// A TCP listener whose connections are TLS, for `axum::serve`.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((socket, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses our certificate ends here.
            if let Ok(stream) = self.acceptor.accept(socket).await {
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn webhook_config(url: String, ca_file: Option<std::path::PathBuf>) -> ChannelConfig {
    ChannelConfig {
        name: "compliance-webhook".into(),
        kind: ChannelKind::Webhook,
        url,
        secret_envs: vec![SECRET_ENV.into()],
        backoff_initial_ms: 20,
        backoff_max_ms: 100,
        give_up_after_ms: 3_600_000,
        timeout_ms: 5_000,
        link_base: String::new(),
        from: String::new(),
        to: Vec::new(),
        ca_file,
        username: None,
    }
}

fn webhook_secret() -> Vec<(String, zeroize::Zeroizing<String>)> {
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(SECRET)
    );
    vec![(SECRET_ENV.into(), secret.into())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_receiver_is_reached_only_through_a_trusted_ca() {
    let (dir, store, queued) = evaluated(47, 20);
    assert!(!queued.is_empty());
    let ca = test_ca();
    let ca_file = dir.path().join("internal-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(ca.server.clone()),
    };
    {
        let got = got.clone();
        tokio::spawn(async move {
            axum::serve(listener, hook_router(got)).await.unwrap();
        });
    }
    let url = format!("https://localhost:{port}/hook");

    // Not trusting the receiver's CA: every attempt fails on its
    // certificate and nothing is delivered.
    let untrusting =
        Channel::with_secrets(webhook_config(url.clone(), None), webhook_secret()).unwrap();
    let sender = Sender::new(store.clone(), untrusting);
    let stats = sender.stats();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    until("failed attempts", 30, || {
        stats.failures.load(std::sync::atomic::Ordering::Relaxed) >= 2
    })
    .await;
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();
    assert!(
        got.lock().unwrap().is_empty(),
        "delivered to an untrusted receiver"
    );
    assert_eq!(
        outbox(&store, "compliance-webhook").unwrap().len(),
        queued.len()
    );
    let first = policies::family::alert(&store, all_alerts(&store).unwrap()[0].id)
        .unwrap()
        .unwrap();
    let failed = first
        .deliveries
        .iter()
        .find(|d| d.status == "failed")
        .expect("a failed attempt recorded");
    assert!(
        failed.detail.to_lowercase().contains("certificate"),
        "{failed:?}"
    );

    // Trusting it through `ca_file`: every notification arrives, signed.
    let trusting =
        Channel::with_secrets(webhook_config(url, Some(ca_file)), webhook_secret()).unwrap();
    let sender = Sender::new(store.clone(), trusting);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    until("the outbox to empty", 60, || {
        outbox(&store, "compliance-webhook").unwrap().is_empty()
    })
    .await;
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();
    let got = got.lock().unwrap().clone();
    let ids: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, queued);
    assert!(got.iter().all(|r| verify(SECRET, r)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_emailed_with_their_idempotency_id() {
    emailed(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_emailed_over_smtps_with_credentials() {
    emailed(true).await;
}

/// Evaluates a chain and emails its alerts to an SMTP server in the test:
/// over TLS from the first byte with a login when `tls`, plain otherwise.
async fn emailed(tls: bool) {
    let (dir, store, queued) = evaluated(53, 20);
    assert!(!queued.is_empty());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (acceptor, ca_file, url) = if tls {
        let ca = test_ca();
        let ca_file = dir.path().join("internal-ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem).unwrap();
        (
            Some(tokio_rustls::TlsAcceptor::from(ca.server)),
            Some(ca_file),
            format!("smtps://localhost:{port}"),
        )
    } else {
        (None, None, format!("smtp://127.0.0.1:{port}"))
    };
    tokio::spawn(smtp_server(listener, acceptor, got.clone()));
    let (username, password) = if tls {
        (
            Some("alerts".to_string()),
            vec![(
                "LT_TEST_SMTP_PASSWORD".to_string(),
                "s3cret".to_string().into(),
            )],
        )
    } else {
        (None, Vec::new())
    };
    let channel = Channel::with_secrets(
        ChannelConfig {
            name: "compliance-webhook".into(),
            kind: ChannelKind::Email,
            url,
            secret_envs: Vec::new(),
            backoff_initial_ms: 20,
            backoff_max_ms: 100,
            give_up_after_ms: 3_600_000,
            timeout_ms: 5_000,
            link_base: "http://127.0.0.1:8080".into(),
            from: "lookthrough <alerts@regulator.example.cn>".into(),
            to: vec!["compliance@regulator.example.cn".into()],
            ca_file,
            username,
        },
        password,
    )
    .unwrap();
    let sender = Sender::new(store.clone(), channel);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sender.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    until("the outbox to empty", 60, || {
        outbox(&store, "compliance-webhook").unwrap().is_empty()
    })
    .await;
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();

    let mut got = got.lock().unwrap().clone();
    // With a login, each connection authenticated first (AUTH PLAIN of
    // the user and password).
    let logins: Vec<String> = got
        .iter()
        .filter(|l| l.starts_with("AUTH"))
        .cloned()
        .collect();
    got.retain(|l| !l.starts_with("AUTH"));
    if tls {
        let plain = base64::engine::general_purpose::STANDARD.encode("\0alerts\0s3cret");
        assert!(!logins.is_empty());
        assert!(logins.iter().all(|l| l.contains(&plain)), "{logins:?}");
    } else {
        assert!(logins.is_empty(), "{logins:?}");
    }
    let ids: Vec<String> = got
        .iter()
        .map(|m| {
            let line = m
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .unwrap_or_else(|| panic!("no Message-ID in {m}"));
            line.split_once('<')
                .and_then(|(_, r)| r.split_once("@lookthrough>"))
                .map(|(id, _)| id.to_string())
                .unwrap()
        })
        .collect();
    assert_eq!(ids, queued, "every alert emailed once, in order");
    for m in &got {
        assert!(m.contains("To: compliance@regulator.example.cn"), "{m}");
        assert!(m.contains("Subject: "), "{m}");
        assert!(m.contains("/alerts/"), "a link to the alert: {m}");
    }
}
