//! `GET /tx/{hash}`: a transaction: its block, parties, the decrypted
//! payload for roles that may read it (withheld, with the reason, for the
//! others), the envelope's status and why, the receipt and the rules hit.

use axum::extract::{Path, State};

use axum::response::Response;
use maud::html;
use serde_json::json;

use super::{account_link, or_dash, when};
use crate::gql::{int, list, text};
use crate::{Caller, Dashboards, PageError, layout, respond};

const QUERY: &str = r#"
query DashboardTransaction($hash: String!) {
  transaction(hash: $hash) {
    hash height index time from to method chainId groupId
    privacyClass envelopeStatus envelopeDetail
    block { hash sealer signatureCount }
    receipt { status succeeded gasUsed }
    payload { scenario action reference payer payee amount currency memo rawText }
    rulesHit { rule alertId }
  }
}"#;

/// `GET /tx/{hash}`.
pub async fn handler(
    State(d): State<Dashboards>,
    cx: Caller,
    Path(hash): Path<String>,
) -> Response {
    respond(&cx, page(&d, &cx, &hash).await)
}

async fn page(d: &Dashboards, cx: &Caller, hash: &str) -> Result<Response, PageError> {
    let a = d.query(cx, QUERY, json!({ "hash": hash })).await?;
    if let Some(e) = a.blocking_error() {
        return Err(PageError::Refused(e.message.clone()));
    }
    let t = &a.data["transaction"];
    if t.is_null() {
        return Err(PageError::NotFound(format!("no stored transaction {hash}")));
    }
    let payload_withheld = a.forbidden_at(&[json!("transaction"), json!("payload")]);
    let rules_withheld = a.forbidden_at(&[json!("transaction"), json!("rulesHit")]);
    let pl = &t["payload"];
    let status = text(t, "envelopeStatus");
    let body = html! {
        h1 { (cx.t("transaction")) }
        p.mono.break { (text(t, "hash")) }
        dl.facts {
            dt { (cx.t("time")) } dd { (when(text(t, "time"))) }
            dt { (cx.t("block")) } dd { (int(t, "height")) " · #" (int(t, "index")) }
            dt { (cx.t("block_hash")) } dd.mono.break { (text(&t["block"], "hash")) }
            dt { (cx.t("sender")) } dd { (account_link(text(t, "from"))) }
            dt { (cx.t("contract")) } dd { (account_link(text(t, "to"))) }
            dt { (cx.t("method")) } dd { (or_dash(text(t, "method"))) }
            dt { (cx.t("privacy")) } dd { (cx.t(if text(t, "privacyClass") == "PRIVATE" { "private" } else { "public" })) }
            dt { (cx.t("receipt")) }
            dd {
                @if t["receipt"].is_null() { span.muted { "—" } }
                @else if t["receipt"]["succeeded"].as_bool() == Some(true) { (cx.t("succeeded")) }
                @else { (cx.t("failed")) " (" (int(&t["receipt"], "status")) ")" }
            }
        }
        section aria-labelledby="env-title" {
            h2 id="env-title" { (cx.t("envelope")) }
            dl.facts {
                dt { (cx.t("envelope_status")) } dd { span class={ "status status-" (status.to_ascii_lowercase()) } { (status) } }
                dt { (cx.t("why")) } dd { (text(t, "envelopeDetail")) }
            }
        }
        section aria-labelledby="payload-title" {
            h2 id="payload-title" { (cx.t("payload")) }
            @if payload_withheld {
                p.withheld role="note" { (cx.t("withheld_payload")) }
            } @else if pl.is_null() {
                p.muted { (cx.t("not_readable")) }
            } @else {
                dl.facts {
                    dt { (cx.t("scenario")) } dd { (or_dash(text(pl, "scenario"))) }
                    dt { (cx.t("reference")) } dd { (or_dash(text(pl, "reference"))) }
                    dt { (cx.t("payer")) } dd { (account_link(text(pl, "payer"))) }
                    dt { (cx.t("payee")) } dd { (account_link(text(pl, "payee"))) }
                    dt { (cx.t("amount")) } dd { (or_dash(text(pl, "amount"))) " " (text(pl, "currency")) }
                    dt { (cx.t("memo")) } dd.memo { (or_dash(text(pl, "memo"))) }
                }
                @if !text(pl, "rawText").is_empty() {
                    details {
                        summary { "JSON" }
                        pre.raw { (text(pl, "rawText")) }
                    }
                }
            }
        }
        section aria-labelledby="rules-title" {
            h2 id="rules-title" { (cx.t("rules_hit")) }
            @if rules_withheld {
                p.withheld { (cx.t("withheld")) }
            } @else if list(t, "rulesHit").is_empty() {
                p.muted { (cx.t("none")) }
            } @else {
                ul {
                    @for h in list(t, "rulesHit") {
                        li { a href={ "/alerts/" (int(h, "alertId")) } { (text(h, "rule")) " · #" (int(h, "alertId")) } }
                    }
                }
            }
        }
    };
    Ok(layout::page(cx, cx.t("transaction"), "search", body))
}
