//! `GET /rules`: the alert rules in force, enabled or not, with their
//! hits, version and source.

use axum::extract::State;

use axum::response::Response;
use maud::html;
use serde_json::json;

use super::account::sev;
use super::urlencode;
use crate::charts::group;
use crate::gql::{int, list, text};
use crate::{Caller, Dashboards, PageError, layout, respond};

const QUERY: &str = r#"
query DashboardRules { rules { id title description severity enabled version source notify hits alerts } }"#;

/// `GET /rules`.
pub async fn handler(State(d): State<Dashboards>, cx: Caller) -> Response {
    respond(&cx, page(&d, &cx).await)
}

async fn page(d: &Dashboards, cx: &Caller) -> Result<Response, PageError> {
    let a = d.query(cx, QUERY, json!({})).await?;
    if let Some(e) = a.blocking_error() {
        return Err(PageError::Refused(e.message.clone()));
    }
    let body = html! {
        h1 { (cx.t("rules")) }
        table.data.rules {
            thead { tr {
                th scope="col" { (cx.t("rule")) } th scope="col" { (cx.t("title")) } th scope="col" { (cx.t("severity")) }
                th scope="col" { (cx.t("state")) } th scope="col" { (cx.t("alerts")) } th scope="col" { (cx.t("hits")) } th scope="col" { (cx.t("version")) } th scope="col" { (cx.t("source")) }
            } }
            tbody {
                @for r in list(&a.data, "rules") {
                    @let enabled = r["enabled"].as_bool() == Some(true);
                    tr {
                        td.mono { (text(r, "id")) }
                        td { (text(r, "title")) br; span.muted { (text(r, "description")) } }
                        td { span class={ "sev sev-" (text(r, "severity").to_ascii_lowercase()) } { (cx.t(sev(text(r, "severity")))) } }
                        td { @if enabled { (cx.t("enabled")) } @else { span.muted { (cx.t("disabled")) } } }
                        td.num { a href={ "/alerts?rule=" (urlencode(text(r, "id"))) } { (group(int(r, "alerts"))) } }
                        td.num { a href={ "/search?rule=" (urlencode(text(r, "id"))) } { (group(int(r, "hits"))) } }
                        td.num { (int(r, "version")) }
                        td.muted { (text(r, "source")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(cx, cx.t("rules"), "rules", body))
}
