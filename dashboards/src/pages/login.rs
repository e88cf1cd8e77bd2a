//! Sign-in with an API token, one-time sign-in links, sign-out, and the
//! language switch.
//!
//! The sign-in form is protected by a double-submit token: a random value
//! in a `SameSite=Strict` cookie that the form must repeat.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::i18n::{self, Lang};
use crate::session::{self, random_id, same_secret};
use crate::{Caller, Dashboards, PageError, cookie_value, layout};

/// `next`, if it is a path on this site; else `/`.
pub fn safe_next(next: &str) -> String {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.starts_with("/login")
        && !next.chars().any(char::is_control);
    if local {
        next.to_string()
    } else {
        "/".to_string()
    }
}

/// The sign-in page's query.
#[derive(Debug, Deserialize)]
pub struct FormQuery {
    next: Option<String>,
}

/// `GET /login`.
pub async fn form(
    State(d): State<Dashboards>,
    headers: HeaderMap,
    Query(q): Query<FormQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    render(&d, &headers, &next, None, StatusCode::OK)
}

/// Whether this request came over plain HTTP to a server whose cookies are
/// `Secure`: the browser will not keep them, so signing in cannot work. A
/// proxy that terminates TLS says `X-Forwarded-Proto: https`.
fn cookies_refused(d: &Dashboards, headers: &HeaderMap) -> bool {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    d.settings.secure_cookies && !https
}

fn render(
    d: &Dashboards,
    headers: &HeaderMap,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = Lang::of(headers);
    let csrf = random_id();
    let refused = cookies_refused(d, headers);
    let body = html! {
        h1 { (lang.t("sign_in")) }
        @if refused {
            p.warning role="alert" { (lang.t("secure_cookies")) }
        }
        @if let Some(e) = error {
            p.error role="alert" { (lang.t("bad_token")) ": " (e) }
        }
        form.signin method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            label for="token" { (lang.t("token")) }
            input id="token" name="token" type="password" autocomplete="off" required aria-describedby="token-help" autofocus;
            p id="token-help" .help { (lang.t("token_help")) }
            button type="submit" { (lang.t("sign_in")) }
        }
    };
    let mut resp = layout::page_for(lang, None, lang.t("sign_in"), "", body);
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&d.cookie(session::LOGIN_COOKIE, &csrf, 3600)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignIn {
    token: Option<String>,
    csrf: Option<String>,
    next: Option<String>,
}

/// `POST /login`.
pub async fn submit(
    State(d): State<Dashboards>,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Response {
    let lang = Lang::of(&headers);
    let next = safe_next(f.next.as_deref().unwrap_or("/"));
    let want = cookie_value(&headers, session::LOGIN_COOKIE);
    let csrf_ok = match (&want, &f.csrf) {
        (Some(w), Some(s)) => same_secret(w, s),
        _ => false,
    };
    if !csrf_ok {
        // Over plain HTTP with Secure cookies the browser dropped the
        // form's cookie: say so on the form rather than blame the form.
        if cookies_refused(&d, &headers) {
            return render(&d, &headers, &next, None, StatusCode::FORBIDDEN);
        }
        return PageError::Csrf.respond(lang, None);
    }
    let token = Zeroizing::new(f.token.unwrap_or_default().trim().to_string());
    let value = format!("Bearer {}", token.as_str()).into_bytes();
    match d.api().authenticate(Some(value)).await {
        Ok(p) => {
            tracing::info!(who = %p.name, role = p.role.as_str(), "dashboard sign-in");
            signed_in(&d, token, &next)
        }
        Err(resp) => {
            let reason = if resp.status() == StatusCode::UNAUTHORIZED {
                "unknown, revoked or malformed token"
            } else {
                "the server could not check it"
            };
            render(&d, &headers, &next, Some(reason), resp.status())
        }
    }
}

fn signed_in(d: &Dashboards, token: Zeroizing<String>, next: &str) -> Response {
    let id = d.sessions.open(token);
    let mut resp = Redirect::to(next).into_response();
    let max_age = i64::try_from(d.sessions.lifetimes().absolute.as_secs()).unwrap_or(i64::MAX);
    for c in [
        d.cookie(session::COOKIE, &id, max_age),
        d.cookie(session::LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// A one-time link's query.
#[derive(Deserialize)]
pub struct LinkQuery {
    code: Option<String>,
}

/// `GET /login/link?code=…`: signs in once with the link's token.
pub async fn link(
    State(d): State<Dashboards>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Response {
    let Some(token) = q.code.as_deref().and_then(|c| d.sessions.redeem(c)) else {
        return render(
            &d,
            &headers,
            "/",
            Some("this sign-in link was used or has expired"),
            StatusCode::UNAUTHORIZED,
        );
    };
    let value = format!("Bearer {}", token.as_str()).into_bytes();
    match d.api().authenticate(Some(value)).await {
        Ok(_) => signed_in(&d, token, "/"),
        Err(_) => render(
            &d,
            &headers,
            "/",
            Some("the link's token is no longer valid"),
            StatusCode::UNAUTHORIZED,
        ),
    }
}

/// A form carrying only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /logout`.
pub async fn logout(
    State(d): State<Dashboards>,
    headers: HeaderMap,
    cx: Caller,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = cx.check_csrf(f.csrf.as_deref()) {
        return e.respond(cx.lang, Some(&cx));
    }
    if let Some(id) = cookie_value(&headers, session::COOKIE) {
        d.sessions.close(&id);
    }
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&d.cookie(session::COOKIE, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The language switch's query.
#[derive(Deserialize)]
pub struct LangQuery {
    to: Option<String>,
    back: Option<String>,
}

/// `GET /lang?to=en&back=/search…`: remembers the language.
pub async fn switch_language(State(d): State<Dashboards>, Query(q): Query<LangQuery>) -> Response {
    let cookie =
        q.to.as_deref()
            .and_then(Lang::parse)
            .map(|lang| d.cookie(i18n::COOKIE, lang.code(), 365 * 86_400));
    back_with(q.back.as_deref(), cookie)
}

/// A redirect back to the local path `back` (else `/`), setting `cookie`
/// when given: what the view switches (language, chain) answer.
fn back_with(back: Option<&str>, cookie: Option<String>) -> Response {
    let back = safe_next(back.unwrap_or("/"));
    let mut resp = Redirect::to(&back).into_response();
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The cookie holding the chain the pages show.
pub const CHAIN_COOKIE: &str = "lt_chain";

/// Whether `id` could be a chain id (what a cookie may hold).
pub fn plain_chain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `?c=ID` (or `all`) and where to go back to.
#[derive(serde::Deserialize)]
pub struct ChainQuery {
    c: Option<String>,
    back: Option<String>,
}

/// `GET /chain?c=ID|all&back=PATH`: the chain switch. Pages show one chain
/// (kept in a cookie, as the language is) or all of them; a view setting,
/// so a plain link changes it.
pub async fn switch_chain(State(d): State<Dashboards>, Query(q): Query<ChainQuery>) -> Response {
    let cookie = match q.c.as_deref() {
        Some(c) if plain_chain_id(c) && c != "all" => d.cookie(CHAIN_COOKIE, c, 365 * 86_400),
        _ => d.cookie(CHAIN_COOKIE, "", 0),
    };
    back_with(q.back.as_deref(), Some(cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/search?q=汇款"), "/search?q=汇款");
        for bad in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil",
            "/login?next=/",
            "x",
            "/a\nb",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}
