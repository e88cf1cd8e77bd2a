//! `dashboards`: the compliance officers' web pages, served by the API's
//! axum server and rendered there (no JavaScript needed).
//!
//! Every page reads and writes through the GraphQL schema as the signed-in
//! officer ([`gql`]), so pages have the API's authorisation, limits and
//! audit log, and nothing else. It owns:
//!
//! - [`session`]: sign-in with an API token (or a one-time link), sessions
//!   in `HttpOnly`, `SameSite=Strict` cookies, and the CSRF token every
//!   form carries; a bearer token in `Authorization` works too.
//! - [`i18n`]: the labels in Chinese and English.
//! - [`layout`]: the page shell, navigation and the security headers.
//! - [`charts`]: bar charts drawn as SVG on the server.
//! - [`pages`]: overview, search (and its CSV export), transaction,
//!   account, alert inbox and alert, rules, and sign-in.
//!
//! Chain-supplied text reaches a page only through `maud`'s escaping.

pub mod charts;
pub mod gql;
pub mod i18n;
pub mod layout;
pub mod pages;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use query_api::auth::Principal;
use query_api::server::Api;

use crate::i18n::Lang;
use crate::session::{Lifetimes, Sessions};

/// How the dashboards run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Mark cookies `Secure` (served over HTTPS, or behind a proxy that
    /// terminates it). Off only for a server on a loopback address.
    pub secure_cookies: bool,
    /// Session and sign-in link lifetimes.
    pub lifetimes: Lifetimes,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            secure_cookies: true,
            lifetimes: Lifetimes::default(),
        }
    }
}

/// The dashboards' shared state.
#[derive(Clone)]
pub struct Dashboards {
    api: Api,
    sessions: Arc<Sessions>,
    settings: Settings,
}

impl std::fmt::Debug for Dashboards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboards")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The officer a request comes from.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, as the API authenticated them.
    pub principal: Principal,
    /// The session's CSRF token (none when the request carried a bearer
    /// token: no cookie, nothing to forge).
    pub csrf: Option<String>,
    /// The page language.
    pub lang: Lang,
    /// The path and query asked for (for the language switch).
    pub here: String,
    /// The chain the pages show (its id), from the chain switch; `None`:
    /// every chain.
    pub chain: Option<String>,
}

impl Caller {
    /// Checks a form's CSRF token.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), PageError> {
        match &self.csrf {
            None => Ok(()),
            Some(want) if sent.is_some_and(|s| session::same_secret(s, want)) => Ok(()),
            Some(_) => Err(PageError::Csrf),
        }
    }

    /// The label `key` in the caller's language.
    pub fn t(&self, key: &'static str) -> &'static str {
        self.lang.t(key)
    }
}

impl axum::extract::FromRequestParts<Dashboards> for Caller {
    /// A redirect to sign in, or the API's 401/429.
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        d: &Dashboards,
    ) -> Result<Self, Response> {
        d.caller(&parts.headers, &parts.uri)
            .await
            .map_err(|e| e.respond(Lang::of(&parts.headers), None))
    }
}

/// A page, or its error as a page.
pub fn respond(cx: &Caller, page: Result<Response, PageError>) -> Response {
    page.unwrap_or_else(|e| e.respond(cx.lang, Some(cx)))
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Not signed in: to the sign-in page, then back to `next`.
    #[error("not signed in")]
    SignIn {
        /// Where to go after signing in.
        next: String,
    },
    /// The API's own refusal: 401 for a bad bearer token, 429 over the
    /// rate limit.
    #[error("refused by the API")]
    Refusal(Box<Response>),
    /// A form without a valid CSRF token.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// The role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such thing.
    #[error("not found: {0}")]
    NotFound(String),
    /// The input was refused (bad search syntax, a wrong state change…).
    #[error("refused: {0}")]
    Refused(String),
    /// The reads could not be audited, so nothing is shown.
    #[error("withheld: the read could not be audited")]
    Withheld,
}

impl Dashboards {
    /// Dashboards over `api`.
    pub fn new(api: Api, settings: Settings) -> Self {
        Self {
            api,
            sessions: Arc::new(Sessions::new(settings.lifetimes)),
            settings,
        }
    }

    /// A one-time sign-in path (`/login/link?code=…`) for `token`.
    pub fn sign_in_link(&self, token: &str) -> String {
        let code = self
            .sessions
            .link(zeroize::Zeroizing::new(token.to_string()));
        format!("/login/link?code={code}")
    }

    /// The API the pages run on.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Who is asking: a bearer token, else the session cookie.
    pub async fn caller(&self, headers: &HeaderMap, uri: &Uri) -> Result<Caller, PageError> {
        let here = uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let lang = Lang::of(headers);
        let (value, csrf, session) = match headers.get(header::AUTHORIZATION) {
            Some(v) => (v.as_bytes().to_vec(), None, None),
            None => {
                let Some(id) = cookie_value(headers, session::COOKIE) else {
                    return Err(PageError::SignIn { next: here });
                };
                let Some(live) = self.sessions.get(&id) else {
                    return Err(PageError::SignIn { next: here });
                };
                let value = format!("Bearer {}", live.token.as_str()).into_bytes();
                (value, Some(live.csrf), Some(id))
            }
        };
        let principal = match self.api.authenticate(Some(value)).await {
            Ok(p) => p,
            Err(resp) => {
                // A revoked or expired token ends its session.
                if let Some(id) = session {
                    self.sessions.close(&id);
                    return Err(PageError::SignIn { next: here });
                }
                return Err(PageError::Refusal(Box::new(resp)));
            }
        };
        if let Some(resp) = self.api.over_rate(&principal) {
            return Err(PageError::Refusal(Box::new(resp)));
        }
        let chain = cookie_value(headers, pages::login::CHAIN_COOKIE)
            .filter(|c| pages::login::plain_chain_id(c));
        Ok(Caller {
            principal,
            csrf,
            lang,
            here,
            chain,
        })
    }

    /// A `Set-Cookie` value with this server's attributes.
    pub(crate) fn cookie(&self, name: &str, value: &str, max_age_secs: i64) -> String {
        let mut c = cookie::Cookie::new(name.to_string(), value.to_string());
        c.set_path("/");
        c.set_http_only(true);
        c.set_same_site(cookie::SameSite::Strict);
        c.set_secure(self.settings.secure_cookies);
        c.set_max_age(cookie::time::Duration::seconds(max_age_secs));
        c.encoded().to_string()
    }
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

impl PageError {
    /// The answer to send.
    pub fn respond(self, lang: Lang, cx: Option<&Caller>) -> Response {
        let (status, message) = match self {
            PageError::SignIn { next } => {
                let next = pages::login::safe_next(&next);
                let to = format!("/login?next={}", pages::urlencode(&next));
                return Redirect::to(&to).into_response();
            }
            PageError::Refusal(resp) => return *resp,
            PageError::Csrf => (StatusCode::FORBIDDEN, lang.t("csrf_refused").to_string()),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            PageError::Refused(m) => (StatusCode::BAD_REQUEST, m),
            PageError::Withheld => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the read could not be written to the audit log, so its result is withheld"
                    .to_string(),
            ),
        };
        let title = match status {
            StatusCode::FORBIDDEN => lang.t("forbidden"),
            StatusCode::NOT_FOUND => lang.t("not_found"),
            _ => lang.t("error"),
        };
        let body = maud::html! {
            h1 { (title) }
            p.error role="alert" { (message) }
        };
        let mut resp = layout::page_for(lang, cx, title, "", body);
        *resp.status_mut() = status;
        resp
    }
}

/// The dashboards' routes (mount beside the API's).
pub fn router(d: Dashboards) -> Router {
    Router::new()
        .route("/", get(pages::overview::handler))
        .route("/search", get(pages::search::handler))
        .route("/search.csv", get(pages::search::export))
        .route("/tx/{hash}", get(pages::transaction::handler))
        .route("/account/{address}", get(pages::account::handler))
        .route("/alerts", get(pages::alerts::inbox))
        .route(
            "/alerts/{id}",
            get(pages::alerts::detail).post(pages::alerts::act),
        )
        .route("/evidence", post(pages::evidence::download))
        .route("/rules", get(pages::rules::handler))
        .route(
            "/rules/backtest",
            get(pages::rules::backtest_form).post(pages::rules::backtest_run),
        )
        .route("/rules/save", post(pages::rules::save))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/login/link", get(pages::login::link))
        .route("/logout", post(pages::login::logout))
        .route("/lang", get(pages::login::switch_language))
        .route("/chain", get(pages::login::switch_chain))
        .route("/assets/style.css", get(layout::stylesheet))
        .with_state(d)
}
