//! The page shell: header with navigation, who is signed in, the language
//! switch and sign-out; the stylesheet; the security headers every page
//! carries (no caching of decrypted data, no scripts, no framing).

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::Caller;
use crate::i18n::Lang;

const STYLE: &str = include_str!("../assets/style.css");

/// `GET /assets/style.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// A page for `cx`, `nav` naming the active section.
pub fn page(cx: &Caller, title: &str, nav: &str, body: Markup) -> Response {
    page_for(cx.lang, Some(cx), title, nav, body)
}

/// A page in `lang`, for `cx` when someone is signed in.
pub fn page_for(lang: Lang, cx: Option<&Caller>, title: &str, nav: &str, body: Markup) -> Response {
    let here = cx.map_or("/", |c| c.here.as_str());
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.html()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · lookthrough" }
                link rel="stylesheet" href="/assets/style.css";
                link rel="icon" href="data:,";
            }
            body {
                a.skip href="#main" { (lang.t("skip")) }
                header.top {
                    a.brand href="/" { (lang.t("app")) }
                    @if let Some(cx) = cx {
                        nav aria-label="main" {
                            ul {
                                @for (key, href) in [("overview", "/"), ("search", "/search"), ("alerts", "/alerts"), ("rules", "/rules")] {
                                    li {
                                        @if nav == key {
                                            a href=(href) aria-current="page" { (lang.t(key)) }
                                        } @else {
                                            a href=(href) { (lang.t(key)) }
                                        }
                                    }
                                }
                            }
                        }
                        a.chain href="/#chains" title=(lang.t("switch_chain")) {
                            (lang.t("chain")) ": "
                            strong { (cx.chain.as_deref().unwrap_or(lang.t("all_chains"))) }
                        }
                        div.who {
                            span { (lang.t("signed_in_as")) " " strong { (cx.principal.name) } " (" (cx.principal.role.as_str()) ")" }
                            @if let Some(csrf) = &cx.csrf {
                                form method="post" action="/logout" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { (lang.t("sign_out")) }
                                }
                            }
                        }
                    }
                    a.lang href={ "/lang?to=" (lang.other().code()) "&back=" (crate::pages::urlencode(here)) } lang=(lang.other().html()) {
                        (lang.t("language"))
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    };
    html_response(markup)
}

/// Markup as an HTML answer with the security headers.
pub fn html_response(markup: Markup) -> Response {
    let mut resp = Html(markup.into_string()).into_response();
    let h = resp.headers_mut();
    // Pages hold decrypted data: never kept by a browser or proxy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Search URLs name what was searched.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
