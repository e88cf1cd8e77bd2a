//! `GET /tx/{hash}`: a transaction: its block, parties, the contract call
//! and events decoded (method, arguments, the ABI version used, or why they
//! did not decode; the raw input one click away), the decrypted payload for
//! roles that may read it (withheld, with the reason, for the others), the
//! envelope's status and why, the receipt and the rules hit.

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
    hash chain group height index time from to method chainId groupId
    privacyClass envelopeStatus envelopeDetail
    block { hash sealer signatureCount }
    receipt { status succeeded gasUsed }
    input
    call { contract abiVersion status method signature args { name type value } error }
    events { logIndex contract abiVersion status name signature args { name type value indexed } error }
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
    let call_withheld = a.forbidden_at(&[json!("transaction"), json!("call")]);
    let pl = &t["payload"];
    let status = text(t, "envelopeStatus");
    let body = html! {
        h1 { (cx.t("transaction")) }
        p.mono.break { (text(t, "hash")) }
        (super::evidence::button(cx, Some(text(t, "hash")), None))
        dl.facts {
            dt { (cx.t("time")) } dd { (when(text(t, "time"))) }
            dt { (cx.t("chain")) } dd { span.mono { (text(t, "chain")) } " · " (text(t, "group")) }
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
        section aria-labelledby="call-title" {
            h2 id="call-title" { (cx.t("contract_call")) }
            @if call_withheld {
                p.withheld role="note" { (cx.t("withheld_call")) }
            } @else {
                @if t["call"].is_null() {
                    p.muted { (cx.t("no_call")) }
                } @else {
                    (decoded(cx, &t["call"], "method"))
                }
                @if !list(t, "events").is_empty() {
                    h3 { (cx.t("events")) }
                    @for e in list(t, "events") {
                        (decoded(cx, e, "name"))
                    }
                }
            }
            details {
                summary { (cx.t("raw_input")) }
                pre.raw.mono { (text(t, "input")) }
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

/// A decoded call or event: `name(args)` with the ABI version, the
/// arguments as a table (name, type, value), or why it did not decode.
fn decoded(cx: &Caller, d: &serde_json::Value, name_field: &str) -> maud::Markup {
    let status = text(d, "status");
    let why: &'static str = match status {
        "UNKNOWN_CONTRACT" => "UNKNOWN_CONTRACT",
        "UNKNOWN_SELECTOR" => "UNKNOWN_SELECTOR",
        _ => "MALFORMED",
    };
    html! {
        div.decoded {
            p {
                @if status == "DECODED" {
                    strong.mono { (text(d, name_field)) } " "
                    span.muted { "ABI v" (int(d, "abiVersion")) " · " }
                } @else {
                    span class={ "status status-" (status.to_ascii_lowercase()) } { (cx.t(why)) } " "
                }
                (account_link(text(d, "contract")))
            }
            @if !text(d, "error").is_empty() {
                p.muted { (text(d, "error")) }
            }
            @if !list(d, "args").is_empty() {
                table.args {
                    thead { tr { th { (cx.t("argument")) } th { (cx.t("type")) } th { (cx.t("value")) } } }
                    tbody {
                        @for a in list(d, "args") {
                            tr {
                                td.mono { (text(a, "name")) @if a["indexed"].as_bool() == Some(true) { " ⁱ" } }
                                td.mono { (text(a, "type")) }
                                @let value = text(a, "value");
                                @if value.len() > 130 && value.starts_with("0x") {
                                    td.mono.break {
                                        details {
                                            summary { ((value.len() - 2) / 2) " " (cx.t("bytes")) }
                                            (value)
                                        }
                                    }
                                } @else {
                                    td.mono.break { (value) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
