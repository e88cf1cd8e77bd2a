//! The dashboards over HTTP, without a browser: sign-in and its CSRF
//! double-submit, sessions ended by sign-out and by revoking the token,
//! CSRF on every form, chain text escaped, a viewer's withheld payloads
//! (pages and CSV), and the audit of what pages and exports read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chain::hexbytes::encode0x;
use indexer::search::Search;
use node::api::{ApiOptions, ApiParts};
use privacy::envelope::Class;
use query_api::ApiState;
use query_api::auth::{Role, create_token};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

struct Server {
    url: String,
    state: Arc<ApiState>,
    analyst: String,
    analyst_id: String,
    viewer: String,
    node_key: Arc<privacy::keys::PrivateKey>,
    sealer: Arc<privacy::at_rest::RecordSealer>,
    _dir: tempfile::TempDir,
}

async fn server(seed: u64, blocks: usize) -> Server {
    server_with(seed, blocks, false).await
}

async fn server_with(seed: u64, blocks: usize, secure_cookies: bool) -> Server {
    let chain = testkit::chain(seed, blocks);
    let dir = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, &dir.path().join("store"));
    let (index, _) = testkit::index(&store, &chain.sealer, &dir.path().join("index"));
    let node_key = Arc::new(privacy::keys::PrivateKey::generate().unwrap());
    let (record, analyst) = create_token(&store, "wang.fang", Role::Analyst, 0).unwrap();
    let (_, viewer) = create_token(&store, "li.na", Role::Viewer, 0).unwrap();
    // The API and the dashboards as the node wires and serves them.
    let options = ApiOptions {
        dashboards: dashboards::Settings {
            secure_cookies,
            ..Default::default()
        },
        keyring: Some(Arc::new(testkit::keyring(&chain.workload))),
        watchlists_dir: Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/watchlists"),
        ),
        ..Default::default()
    };
    let parts = ApiParts::build(
        store.clone(),
        Arc::new(Search::new(index)),
        chain.sealer.clone(),
        Some(node_key.clone()),
        options,
        None,
    )
    .unwrap();
    let state = parts.state.clone();
    let app = parts.app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        url,
        state,
        analyst: analyst.to_string(),
        analyst_id: record.id,
        viewer: viewer.to_string(),
        node_key,
        sealer: chain.sealer.clone(),
        _dir: dir,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` of cookie `name` set by `resp`, with its attributes.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let pair = v.split(';').next().unwrap().to_string();
            (pair, v.to_string())
        })
}

/// The value of the hidden `csrf` field in a page.
fn csrf_field(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_string()
}

/// Signs in through the form; returns the session cookie (`lt_session=…`).
async fn sign_in(s: &Server, token: &str) -> String {
    let http = client();
    let resp = http.get(format!("{}/login", s.url)).send().await.unwrap();
    let (login_cookie, _) = set_cookie(&resp, "lt_login").unwrap();
    let csrf = csrf_field(&resp.text().await.unwrap());
    let resp = http
        .post(format!("{}/login", s.url))
        .header(COOKIE, &login_cookie)
        .form(&[("token", token), ("csrf", &csrf), ("next", "/rules")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/rules");
    set_cookie(&resp, "lt_session").unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sessions_and_csrf() {
    let s = server(71, 6).await;
    let http = client();

    // Anonymous: to the sign-in page, remembering where to go.
    let resp = http
        .get(format!("{}/search?q=x", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/login?next=%2Fsearch%3Fq%3Dx");

    // The sign-in form's token: the cookie and the field must agree.
    let resp = http.get(format!("{}/login", s.url)).send().await.unwrap();
    let (login_cookie, attrs) = set_cookie(&resp, "lt_login").unwrap();
    assert!(
        attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
        "{attrs}"
    );
    let csrf = csrf_field(&resp.text().await.unwrap());
    for (cookie, field) in [
        (None, Some(csrf.as_str())),
        (Some(login_cookie.as_str()), None),
        (Some(login_cookie.as_str()), Some(&"0".repeat(64)[..])),
    ] {
        let mut req = http.post(format!("{}/login", s.url));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let mut form = vec![("token", s.analyst.as_str())];
        if let Some(f) = field {
            form.push(("csrf", f));
        }
        let resp = req.form(&form).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{cookie:?} {field:?}");
        assert!(set_cookie(&resp, "lt_session").is_none());
    }
    // A wrong token is named, with no session.
    let resp = http
        .post(format!("{}/login", s.url))
        .header(COOKIE, &login_cookie)
        .form(&[("token", "lt_0000000000000000_nope"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&resp, "lt_session").is_none());
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("unknown, revoked or malformed token")
    );

    // Signed in: the session cookie is HttpOnly and SameSite=Strict.
    let session = sign_in(&s, &s.analyst).await;
    let page = http
        .get(format!("{}/alerts", s.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("wang.fang"));
    let csrf = csrf_field(&html);

    // Sign-out needs the session's CSRF token.
    let resp = http
        .post(format!("{}/logout", s.url))
        .header(COOKIE, &session)
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = http
        .post(format!("{}/alerts/0", s.url))
        .header(COOKIE, &session)
        .form(&[("action", "acknowledge")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "a lifecycle form without its token"
    );
    let still = http
        .get(format!("{}/", s.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), StatusCode::OK);
    let resp = http
        .post(format!("{}/logout", s.url))
        .header(COOKIE, &session)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let gone = http
        .get(format!("{}/", s.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::SEE_OTHER, "signed out");

    // Revoking the token ends its sessions at once.
    let session = sign_in(&s, &s.analyst).await;
    let ok = http
        .get(format!("{}/", s.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    query_api::auth::revoke_token(&s.state.store, &s.analyst_id, 1).unwrap();
    let gone = http
        .get(format!("{}/", s.url))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::SEE_OTHER);
}

/// A stored private transaction whose memo carries markup, and its memo.
fn markup_transaction(s: &Server) -> (String, String) {
    let head = s.state.store.checkpoint().unwrap().unwrap();
    for h in 1..=head {
        for t in s.state.store.transactions_at(h).unwrap() {
            let hash = encode0x(&t.tx.claimed_hash);
            if let Some(plain) =
                indexer::search::payload_in_clear(&s.state.store, &s.state.sealer, &hash)
            {
                let text = String::from_utf8_lossy(&plain).to_string();
                if text.contains("<script>") && t.class != Class::NotEnvelope.as_str() {
                    let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
                    return (hash, v["memo"].as_str().unwrap().to_string());
                }
            }
        }
    }
    panic!("the chain has no private memo with markup; use more blocks");
}

/// The overview's sync status says when writing is paused by a disk fault,
/// naming the directory, and stops saying it when the fault clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_a_disk_fault_while_it_lasts() {
    let s = server(73, 3).await;
    let http = client();
    let overview = || async {
        http.get(format!("{}/", s.url))
            .header("authorization", format!("Bearer {}", s.viewer))
            .header("accept-language", "en")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(!overview().await.contains("Writing is paused"));
    let dir = s.state.store.path().to_path_buf();
    s.state
        .store
        .disk()
        .report(&dir, "IO error: No space left on device");
    let html = overview().await;
    let at = html.find("Writing is paused").expect("the fault is shown");
    let banner = &html[html[..at].rfind("<p").unwrap()..];
    assert!(
        banner.starts_with("<p class=\"warning\" role=\"alert\">"),
        "{banner}"
    );
    assert!(banner.contains(&dir.display().to_string()), "{banner}");
    assert!(banner.contains("No space left on device"), "{banner}");
    s.state.store.disk().clear(&dir);
    assert!(!overview().await.contains("Writing is paused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_text_is_escaped_and_viewers_get_no_plaintext() {
    let s = server(72, 60).await;
    let http = client();
    let (hash, memo) = markup_transaction(&s);
    assert!(memo.contains("<script>"), "{memo}");
    let escaped = memo
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");

    // As an analyst (bearer token): the memo as text, nowhere as markup.
    let get = |token: &str, path: String| {
        http.get(format!("{}{path}", s.url))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    let html = get(&s.analyst, format!("/tx/{hash}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&escaped), "the memo, escaped");
    assert!(!html.contains("<script"), "no script element in the page");
    let resp = get(&s.analyst, "/search?q=script".into()).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "pinned to the indexed height"
    );
    let pinned = resp.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(pinned.contains("upto="), "{pinned}");
    let html = get(&s.analyst, pinned.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&hash), "found by its memo");
    assert!(
        html.contains("&lt;<mark>script</mark>&gt;"),
        "highlighted inside the escaped text"
    );
    assert!(!html.contains("<script"));

    // The export: every row, the memo as written, audited as an export.
    let csv_path = pinned.replacen("/search?", "/search.csv?", 1);
    let resp = get(&s.analyst, csv_path.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = resp.text().await.unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains(&hash))
        .expect("the row exported");
    assert!(row.contains(&memo.replace('"', "\"\"")), "{row}");
    let entries = s.state.audit.entries(0, 1_000).unwrap();
    let export = entries
        .iter()
        .find(|e| e.operation.as_deref() == Some("DashboardExport"))
        .expect("the export is audited");
    assert!(
        export.read.contains(&hash),
        "the export's reads name the row"
    );

    // As a viewer: withheld on the page and in the export.
    let html = get(&s.viewer, format!("/tx/{hash}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("withheld"));
    assert!(!html.contains(&escaped) && !html.contains(&memo));
    let csv = get(&s.viewer, csv_path)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!csv.contains(&memo));
    for line in csv.lines().skip(1) {
        if line.contains(",PRIVATE,") {
            assert!(line.contains("(withheld)"), "{line}");
        }
    }
    // Bad input is named.
    let resp = get(&s.analyst, "/search?q=x&from=yesterday".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("yesterday") && text.contains("is not a date (YYYY-MM-DD)"),
        "{text}"
    );
    let resp = get(&s.analyst, "/alerts/abc".into()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_over_plain_http_are_explained_at_sign_in() {
    let s = server_with(73, 2, true).await;
    let http = client();
    // Plain HTTP to a server whose cookies are Secure: the browser would
    // drop them, and the form says why signing in cannot work.
    let resp = http.get(format!("{}/login", s.url)).send().await.unwrap();
    let (_, attrs) = set_cookie(&resp, "lt_login").unwrap();
    assert!(attrs.contains("Secure"), "{attrs}");
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("secure_cookies = false"),
        "the sign-in page explains"
    );
    // The post that follows, without the dropped cookie: the same
    // explanation, not a complaint about the form.
    let resp = http
        .post(format!("{}/login", s.url))
        .form(&[("token", s.analyst.as_str()), ("csrf", &csrf_field(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("secure_cookies = false")
    );
    // Behind a proxy that terminates TLS: no warning, and sign-in works.
    let resp = http
        .get(format!("{}/login", s.url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let (login_cookie, _) = set_cookie(&resp, "lt_login").unwrap();
    let html = resp.text().await.unwrap();
    assert!(!html.contains("secure_cookies = false"));
    let resp = http
        .post(format!("{}/login", s.url))
        .header("x-forwarded-proto", "https")
        .header(COOKIE, &login_cookie)
        .form(&[("token", s.analyst.as_str()), ("csrf", &csrf_field(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, attrs) = set_cookie(&resp, "lt_session").unwrap();
    assert!(
        attrs.contains("Secure") && attrs.contains("HttpOnly"),
        "{attrs}"
    );
}

/// A page as the session `cookie` sees it.
async fn page_as(s: &Server, cookie: &str, path: &str) -> String {
    client()
        .get(format!("{}{path}", s.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A form posted to `path` by the session `cookie`.
async fn post_as(s: &Server, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(format!("{}{path}", s.url))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_downloads_an_evidence_pack_and_a_viewer_sees_no_button() {
    let s = server(23, 6).await;
    let stored = s.state.store.transactions_from((0, 0), usize::MAX).unwrap();
    let opened = stored
        .iter()
        .find(|t| t.class == Class::Opened.as_str())
        .map(|t| encode0x(&t.tx.claimed_hash))
        .unwrap();

    // A viewer's transaction page has no button, and the route refuses it.
    let viewer = sign_in(&s, &s.viewer).await;
    let page = page_as(&s, &viewer, &format!("/tx/{opened}")).await;
    assert!(!page.contains("action=\"/evidence\""), "{page}");
    let csrf = csrf_field(&page);
    let resp = post_as(
        &s,
        &viewer,
        "/evidence",
        &[("csrf", csrf.as_str()), ("tx", opened.as_str())],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // An analyst's has it; without the CSRF token the download is refused.
    let analyst = sign_in(&s, &s.analyst).await;
    let page = page_as(&s, &analyst, &format!("/tx/{opened}")).await;
    assert!(page.contains("action=\"/evidence\""), "{page}");
    let resp = post_as(&s, &analyst, "/evidence", &[("tx", opened.as_str())]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_field(&page);
    let resp = post_as(
        &s,
        &analyst,
        "/evidence",
        &[("csrf", csrf.as_str()), ("tx", opened.as_str())],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"evidence-"),
        "{disposition}"
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let bytes = resp.bytes().await.unwrap();
    let v = evidence::verify::verify_bytes(&bytes, Some(s.node_key.public_key())).unwrap();
    assert_eq!(v.transactions[0].hash, opened);
    assert!(v.transactions[0].plaintext.is_some());

    // The download is audited under the page's operation name.
    let entries = s.state.audit.entries(0, 1_000).unwrap();
    let pack = entries
        .iter()
        .find(|e| e.operation.as_deref() == Some("DashboardEvidencePack"))
        .expect("the download is audited");
    assert_eq!(pack.read, vec![opened]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_page_backtests_a_rule_before_it_is_saved() {
    let s = server(29, 20).await;
    let rule = "[[rule]]\nid = \"big\"\ntitle = \"Big\"\nseverity = \"low\"\ncondition = \"tx.readable && tx.amount != null && tx.amount >= 15000000.0\"\n";
    // What the engine would open, run directly.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (rules, errors) = policies::rule::parse_file(std::path::Path::new("t"), rule, None);
    assert!(errors.is_empty(), "{errors:?}");
    let scratch = tempfile::tempdir().unwrap();
    let want = policies::backtest::Backtest {
        log: s.state.store.clone(),
        sealer: s.sealer.clone(),
        suites: vec![(0, chain::CryptoSuite::Sm)],
        rules,
        watchlists: policies::Watchlists::load(&root.join("../policies/watchlists")).unwrap(),
        range: Default::default(),
    }
    .run(scratch.path(), &|_, _| {})
    .unwrap();
    assert!(!want.alerts.is_empty());

    let analyst = sign_in(&s, &s.analyst).await;
    let page = page_as(&s, &analyst, "/rules/backtest").await;
    assert!(page.contains("action=\"/rules/backtest\""), "{page}");
    let csrf = csrf_field(&page);
    let resp = post_as(
        &s,
        &analyst,
        "/rules/backtest",
        &[
            ("csrf", csrf.as_str()),
            ("text", rule),
            ("from", ""),
            ("to", ""),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(&format!("id=\"bt-alerts\">{}<", want.alerts.len())),
        "{page}"
    );
    assert!(
        page.contains(&want.alerts[0].group_key),
        "the first alert is listed"
    );
    // An analyst may not save it; the form is an admin's.
    assert!(!page.contains("action=\"/rules/save\""));
    // Nothing was written.
    assert!(
        policies::family::all_alerts(&s.state.store)
            .unwrap()
            .is_empty()
    );

    // A viewer may not run one (with the viewer's own CSRF token, so the
    // refusal is the role's).
    let viewer = sign_in(&s, &s.viewer).await;
    let csrf = csrf_field(&page_as(&s, &viewer, "/rules/backtest").await);
    let resp = post_as(
        &s,
        &viewer,
        "/rules/backtest",
        &[("csrf", csrf.as_str()), ("text", rule)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
