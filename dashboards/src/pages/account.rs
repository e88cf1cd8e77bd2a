//! `GET /account/{address}`: an address or party id: its counterparties
//! with volumes, its daily timeline, its transactions and its alerts.

use axum::extract::{Path, Query, State};

use axum::response::Response;
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{account_link, or_dash, tx_link, urlencode, when};
use crate::charts::{self, Bar, group};
use crate::gql::{int, list, text};
use crate::{Caller, Dashboards, PageError, layout, respond};

const QUERY: &str = r#"
query DashboardAccount($address: String!, $after: String) {
  account(address: $address) {
    address transactionCount firstSeen lastSeen warnings
    counterparties(by: COUNT, first: 20) { buckets { key count amount } otherCount }
    volume(interval: DAY) { start count amount }
    transactions(first: 25, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { hash time height privacyClass payload { payer payee amount currency } }
    }
  }
}"#;

const ALERTS: &str = r#"
query DashboardAccountAlerts($address: String!) {
  account(address: $address) { alerts(first: 20) { id rule title severity state } }
}"#;

/// The page's query.
#[derive(Debug, Deserialize)]
pub struct Params {
    after: Option<String>,
}

/// `GET /account/{address}`.
pub async fn handler(
    State(d): State<Dashboards>,
    cx: Caller,
    Path(address): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    respond(&cx, page(&d, &cx, &address, p.after.as_deref()).await)
}

async fn page(
    d: &Dashboards,
    cx: &Caller,
    address: &str,
    after: Option<&str>,
) -> Result<Response, PageError> {
    let a = d
        .query(cx, QUERY, json!({ "address": address, "after": after }))
        .await?;
    if let Some(e) = a.blocking_error() {
        return Err(PageError::Refused(e.message.clone()));
    }
    let alerts = if cx.principal.role.reads_plaintext() {
        Some(d.query(cx, ALERTS, json!({ "address": address })).await?)
    } else {
        None
    };
    let acc = &a.data["account"];
    let bars: Vec<Bar> = list(acc, "volume")
        .iter()
        .map(|b| Bar {
            label: text(b, "start").chars().take(10).collect(),
            value: int(b, "count") as f64,
        })
        .collect();
    let txs = &acc["transactions"];
    let next = txs["pageInfo"]["endCursor"]
        .as_str()
        .filter(|_| txs["pageInfo"]["hasNextPage"].as_bool() == Some(true));
    let body = html! {
        h1 { (cx.t("account")) }
        p.mono.break { (address) }
        @for w in list(acc, "warnings") { p.warning { (w.as_str().unwrap_or_default()) } }
        dl.facts {
            dt { (cx.t("transactions")) } dd { (group(int(acc, "transactionCount"))) }
            dt { (cx.t("first_seen")) } dd { (when(text(acc, "firstSeen"))) }
            dt { (cx.t("last_seen")) } dd { (when(text(acc, "lastSeen"))) }
            dt { (cx.t("search")) } dd { a href={ "/search?party=" (urlencode(address)) } { (cx.t("search")) } }
        }
        section aria-labelledby="cp-title" {
            h2 id="cp-title" { (cx.t("counterparties")) }
            @let cps = list(&acc["counterparties"], "buckets");
            @if cps.is_empty() { p.muted { (cx.t("none")) } } @else {
                table.data {
                    thead { tr { th scope="col" { (cx.t("account")) } th scope="col" { (cx.t("count")) } th scope="col" { (cx.t("volume")) } } }
                    tbody {
                        @for c in cps {
                            tr { td { (account_link(text(c, "key"))) } td.num { (group(int(c, "count"))) } td.num { (text(c, "amount")) } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="tl-title" {
            h2 id="tl-title" { (cx.t("timeline")) }
            (charts::columns("timeline", cx.t("timeline"), &bars))
        }
        @if let Some(al) = &alerts {
            section aria-labelledby="al-title" {
                h2 id="al-title" { (cx.t("alerts")) }
                @let items = list(&al.data["account"], "alerts");
                @if items.is_empty() { p.muted { (cx.t("none")) } } @else {
                    ul {
                        @for x in items {
                            li { a href={ "/alerts/" (int(x, "id")) } { "#" (int(x, "id")) " " (text(x, "title")) } " · " (cx.t(sev(text(x, "severity")))) " · " (cx.t(state(text(x, "state")))) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="tx-title" {
            h2 id="tx-title" { (cx.t("recent_transactions")) }
            table.data {
                thead { tr {
                    th scope="col" { (cx.t("time")) } th scope="col" { (cx.t("hash")) } th scope="col" { (cx.t("payer")) }
                    th scope="col" { (cx.t("payee")) } th scope="col" { (cx.t("amount")) } th scope="col" { (cx.t("privacy")) }
                } }
                tbody {
                    @for (i, n) in list(txs, "nodes").iter().enumerate() {
                        @let withheld = a.forbidden_at(&[json!("account"), json!("transactions"), json!("nodes"), json!(i), json!("payload")]);
                        tr {
                            td.time { (when(text(n, "time"))) }
                            td { (tx_link(text(n, "hash"))) }
                            @if withheld { td.withheld colspan="3" { (cx.t("withheld")) } } @else {
                                td { (account_link(text(&n["payload"], "payer"))) }
                                td { (account_link(text(&n["payload"], "payee"))) }
                                td.num { (or_dash(text(&n["payload"], "amount"))) }
                            }
                            td { (cx.t(if text(n, "privacyClass") == "PRIVATE" { "private" } else { "public" })) }
                        }
                    }
                }
            }
            @if let Some(c) = next {
                nav.pager aria-label="pages" { a rel="next" href={ "/account/" (urlencode(address)) "?after=" (urlencode(c)) } { (cx.t("next_page")) } }
            }
        }
    };
    Ok(layout::page(cx, cx.t("account"), "search", body))
}

/// The label key of a severity (`HIGH` is its own key).
pub fn sev(s: &str) -> &'static str {
    match s {
        "INFO" => "INFO",
        "LOW" => "LOW",
        "MEDIUM" => "MEDIUM",
        "HIGH" => "HIGH",
        "CRITICAL" => "CRITICAL",
        _ => "none",
    }
}

/// The label key of an alert state.
pub fn state(s: &str) -> &'static str {
    match s {
        "OPEN" => "OPEN",
        "ACKNOWLEDGED" => "ACKNOWLEDGED",
        "RESOLVED" => "RESOLVED",
        "DISMISSED" => "DISMISSED",
        _ => "none",
    }
}
