//! `GET /`: the overview: sync status, transactions per day, alerts per
//! rule and per severity, envelope statuses and verification findings,
//! the charts drawn as SVG.

use axum::extract::State;

use axum::response::Response;
use maud::html;
use serde_json::json;

use super::account::sev;
use super::when;
use crate::charts::{self, Bar, group};
use crate::gql::{int, list, text};
use crate::{Caller, Dashboards, PageError, layout, respond};

const QUERY: &str = r#"
query DashboardOverview($chain: String, $filter: TransactionFilter) {
  chain(id: $chain) {
    id head indexedHeight indexLag findingCount statusCounts { status count }
    endpoints { url state latencyMs errors findings head }
    diskFaults { dir error since }
  }
  chains { id group head indexedHeight indexLag findingCount }
  stats(filter: $filter) { totalCount volume(interval: DAY) { start count amount } }
  rules { id title severity alerts }
}"#;

const HOURLY: &str = r#"query DashboardHourly($filter: TransactionFilter) {
  stats(filter: $filter) { volume(interval: HOUR) { start count amount } }
}"#;

const FINDINGS: &str = r#"query DashboardFindings($chain: String) {
  findings(chain: $chain) { chain at height endpoint check detail }
}"#;

/// `GET /`.
pub async fn handler(State(d): State<Dashboards>, cx: Caller) -> Response {
    respond(&cx, page(&d, &cx).await)
}

async fn page(d: &Dashboards, cx: &Caller) -> Result<Response, PageError> {
    // One chain (the switch's), else every chain: the sync status and
    // findings of the first, the volumes over all.
    let filter = match &cx.chain {
        Some(c) => json!({ "chains": [c] }),
        None => json!({}),
    };
    let mut a = d
        .query(cx, QUERY, json!({ "chain": cx.chain, "filter": filter }))
        .await?;
    if a.blocking_error().is_some() && cx.chain.is_some() {
        // A chain the node no longer holds: show them all.
        a = d
            .query(cx, QUERY, json!({ "chain": null, "filter": {} }))
            .await?;
    }
    if let Some(e) = a.blocking_error() {
        return Err(PageError::Refused(e.message.clone()));
    }
    let chain = &a.data["chain"];
    let shown = text(chain, "id").to_string();
    let chains = list(&a.data, "chains");
    // The findings of the chain shown, or of every chain.
    let mut items = Vec::new();
    let ids: Vec<String> = match &cx.chain {
        Some(_) => vec![shown.clone()],
        None => chains.iter().map(|c| text(c, "id").to_string()).collect(),
    };
    for id in ids {
        let f = d.query(cx, FINDINGS, json!({ "chain": id })).await?;
        items.extend(list(&f.data, "findings").iter().cloned());
    }
    items.sort_by(|x, y| text(x, "at").cmp(text(y, "at")));
    // Per day; per hour when the chain spans fewer than three days.
    let daily = list(&a.data["stats"], "volume");
    let hourly = if daily.len() < 3 {
        Some(d.query(cx, HOURLY, json!({ "filter": filter })).await?)
    } else {
        None
    };
    let (buckets, volume_title) = match &hourly {
        Some(h) => (list(&h.data["stats"], "volume"), cx.t("volume_per_hour")),
        None => (daily, cx.t("volume_over_time")),
    };
    let volume: Vec<Bar> = buckets
        .iter()
        .map(|b| Bar {
            label: if hourly.is_some() {
                text(b, "start").chars().skip(11).take(5).collect()
            } else {
                text(b, "start").chars().skip(5).take(5).collect()
            },
            value: int(b, "count") as f64,
        })
        .collect();
    let mut per_rule: Vec<Bar> = list(&a.data, "rules")
        .iter()
        .filter(|r| int(r, "alerts") > 0)
        .map(|r| Bar {
            label: text(r, "id").to_string(),
            value: int(r, "alerts") as f64,
        })
        .collect();
    per_rule.sort_by(|x, y| y.value.total_cmp(&x.value));
    let per_severity: Vec<Bar> = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
        .iter()
        .map(|s| Bar {
            label: cx.t(sev(s)).to_string(),
            value: list(&a.data, "rules")
                .iter()
                .filter(|r| text(r, "severity") == *s)
                .map(|r| int(r, "alerts") as f64)
                .sum(),
        })
        .collect();
    let statuses: Vec<Bar> = list(chain, "statusCounts")
        .iter()
        .map(|s| Bar {
            label: text(s, "status").to_string(),
            value: int(s, "count") as f64,
        })
        .collect();
    let back = crate::pages::urlencode("/");
    let body = html! {
        h1 { (cx.t("overview")) }
        section #chains aria-labelledby="chains-title" {
            h2 id="chains-title" { (cx.t("chains")) }
            p.switch {
                @if cx.chain.is_none() {
                    strong aria-current="true" { (cx.t("all_chains")) }
                } @else {
                    a href={ "/chain?c=all&back=" (back) } { (cx.t("all_chains")) }
                }
                @for c in chains.iter() {
                    " · "
                    @if cx.chain.as_deref() == Some(text(c, "id")) {
                        strong aria-current="true" { (text(c, "id")) }
                    } @else {
                        a href={ "/chain?c=" (crate::pages::urlencode(text(c, "id"))) "&back=" (back) } { (text(c, "id")) }
                    }
                }
            }
            table.data #chain-table {
                thead { tr { th scope="col" { (cx.t("chain")) } th scope="col" { (cx.t("group")) } th scope="col" { (cx.t("head")) } th scope="col" { (cx.t("indexed")) } th scope="col" { (cx.t("lag")) } th scope="col" { (cx.t("findings")) } } }
                tbody {
                    @for c in chains.iter() {
                        tr {
                            td.mono { (text(c, "id")) }
                            td { (text(c, "group")) }
                            td.num { (c["head"].as_i64().map_or("—".into(), |h| h.to_string())) }
                            td.num { (c["indexedHeight"].as_i64().map_or("—".into(), |h| h.to_string())) }
                            td.num { (int(c, "indexLag")) }
                            td.num { (int(c, "findingCount")) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="sync-title" {
            h2 id="sync-title" { (cx.t("sync")) " · " span.mono { (shown) } }
            dl.facts.sync {
                dt { (cx.t("head")) } dd #head { (chain["head"].as_i64().map_or("—".into(), |h| h.to_string())) }
                dt { (cx.t("indexed")) } dd { (chain["indexedHeight"].as_i64().map_or("—".into(), |h| h.to_string())) }
                dt { (cx.t("lag")) } dd { (int(chain, "indexLag")) }
                dt { (cx.t("transactions")) } dd { (group(int(&a.data["stats"], "totalCount"))) }
                dt { (cx.t("findings")) } dd { (int(chain, "findingCount")) }
            }
            @for f in list(chain, "diskFaults") {
                p.warning role="alert" {
                    (cx.t("disk_fault")) " "
                    span.mono { (text(f, "dir")) } " (" (when(text(f, "since"))) "): " (text(f, "error"))
                }
            }
            @let endpoints = list(chain, "endpoints");
            @if !endpoints.is_empty() {
                table.data #endpoints {
                    caption { (cx.t("endpoints")) }
                    thead { tr { th scope="col" { (cx.t("endpoint")) } th scope="col" { (cx.t("state")) } th scope="col" { (cx.t("latency_ms")) } th scope="col" { (cx.t("head")) } th scope="col" { (cx.t("errors")) } th scope="col" { (cx.t("findings")) } } }
                    tbody {
                        @for e in endpoints {
                            tr {
                                td.mono { (text(e, "url")) }
                                td { (state_label(cx, text(e, "state"))) }
                                td.num { (e["latencyMs"].as_f64().map_or("—".into(), |ms| format!("{ms:.0}"))) }
                                td.num { (e["head"].as_i64().map_or("—".into(), |h| h.to_string())) }
                                td.num { (int(e, "errors")) }
                                td.num { (int(e, "findings")) }
                            }
                        }
                    }
                }
            }
        }
        div.grid {
            section aria-labelledby="vol-title" {
                h2 id="vol-title" { (volume_title) }
                (charts::columns("volume", volume_title, &volume))
            }
            section aria-labelledby="rule-title" {
                h2 id="rule-title" { (cx.t("alerts_per_rule")) }
                (charts::rows("per-rule", cx.t("alerts_per_rule"), &per_rule))
            }
            section aria-labelledby="sev-title" {
                h2 id="sev-title" { (cx.t("alerts_per_severity")) }
                (charts::rows("per-severity", cx.t("alerts_per_severity"), &per_severity))
            }
            section aria-labelledby="env-title" {
                h2 id="env-title" { (cx.t("envelope_statuses")) }
                (charts::rows("statuses", cx.t("envelope_statuses"), &statuses))
            }
        }
        section aria-labelledby="find-title" {
            h2 id="find-title" { (cx.t("findings")) }
            @if items.is_empty() { p.muted { (cx.t("none")) } } @else {
                table.data {
                    thead { tr { th scope="col" { (cx.t("chain")) } th scope="col" { (cx.t("at")) } th scope="col" { (cx.t("height")) } th scope="col" { (cx.t("endpoint")) } th scope="col" { (cx.t("check")) } th scope="col" { (cx.t("detail")) } } }
                    tbody {
                        @for f in items.iter().rev().take(20) {
                            tr { td.mono { (text(f, "chain")) } td.time { (when(text(f, "at"))) } td.num { (int(f, "height")) } td.mono { (text(f, "endpoint")) } td { (text(f, "check")) } td.break { (text(f, "detail")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(cx, cx.t("overview"), "overview", body))
}

/// An endpoint state's label.
fn state_label(cx: &Caller, state: &str) -> &'static str {
    match state {
        "healthy" => cx.t("healthy"),
        "slow" => cx.t("slow"),
        "failing" => cx.t("failing"),
        "benched" => cx.t("benched"),
        _ => "—",
    }
}
