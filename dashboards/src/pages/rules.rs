//! `GET /rules`: the alert rules in force, enabled or not, with their
//! hits, version and source.

use axum::extract::{Form, State};

use axum::response::{IntoResponse, Response};
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
        @if cx.principal.role.reads_plaintext() {
            p { a href="/rules/backtest" { (cx.t("backtest_new")) } }
        }
        table.data.rules {
            thead { tr {
                th scope="col" { (cx.t("rule")) } th scope="col" { (cx.t("title")) } th scope="col" { (cx.t("severity")) }
                th scope="col" { (cx.t("state")) } th scope="col" { (cx.t("alerts")) } th scope="col" { (cx.t("hits")) } th scope="col" { (cx.t("version")) } th scope="col" { (cx.t("source")) }
                @if cx.principal.role.reads_plaintext() { th scope="col" { (cx.t("backtest")) } }
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
                        @if cx.principal.role.reads_plaintext() {
                            td { a href={ "/rules/backtest?rule=" (urlencode(text(r, "id"))) } { (cx.t("backtest")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(cx, cx.t("rules"), "rules", body))
}

const VERSIONS: &str =
    "query DashboardRuleText($id: String!) { ruleVersions(id: $id) { version text } }";

const BACKTEST: &str = "mutation DashboardBacktest($t: String!, $from: String, $to: String) { backtestRule(text: $t, from: $from, to: $to, first: 20) { rules blocks transactions from to alertCount perDay { day alerts } alerts { rule key firstSeen height transactionCount values { key value } } } }";

const SAVE: &str = "mutation DashboardSaveRule($t: String!) { saveRule(text: $t) { id version } }";

/// `GET /rules/backtest?rule=ID`: the form, with the rule's text in force.
#[derive(serde::Deserialize)]
pub struct Pick {
    rule: Option<String>,
}

/// The backtest form (and, after a run, the save form).
#[derive(serde::Deserialize)]
pub struct Ask {
    csrf: Option<String>,
    text: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /rules/backtest`.
pub async fn backtest_form(
    State(d): State<Dashboards>,
    cx: Caller,
    axum::extract::Query(p): axum::extract::Query<Pick>,
) -> Response {
    let page = async {
        let rule_text = match p.rule.as_deref().filter(|r| !r.is_empty()) {
            None => String::new(),
            Some(id) => {
                let a = d.query(&cx, VERSIONS, json!({ "id": id })).await?;
                if let Some(e) = a.blocking_error() {
                    return Err(PageError::Refused(e.message.clone()));
                }
                list(&a.data, "ruleVersions")
                    .last()
                    .map(|v| text(v, "text").to_string())
                    .ok_or_else(|| PageError::NotFound(format!("no rule {id}")))?
            }
        };
        let body = html! {
            h1 { (cx.t("backtest")) }
            p.muted { (cx.t("backtest_hint")) }
            (backtest_box(&cx, &rule_text, "", ""))
        };
        Ok(layout::page(&cx, cx.t("backtest"), "rules", body))
    };
    respond(&cx, page.await)
}

fn backtest_box(cx: &Caller, rule_text: &str, from: &str, to: &str) -> maud::Markup {
    let csrf = cx.csrf.clone().unwrap_or_default();
    html! {
        form.backtest method="post" action="/rules/backtest" {
            input type="hidden" name="csrf" value=(csrf);
            label for="rule-text" { (cx.t("rule_text")) }
            textarea id="rule-text" name="text" rows="14" spellcheck="false" { (rule_text) }
            div.buttons {
                label for="bt-from" { (cx.t("from_date")) }
                input id="bt-from" name="from" type="date" value=(from);
                label for="bt-to" { (cx.t("to_date")) }
                input id="bt-to" name="to" type="date" value=(to);
                button type="submit" { (cx.t("run_backtest")) }
            }
        }
    }
}

/// `POST /rules/backtest`: runs the backtest and shows it beside the live
/// figures of the same rule ids, with the save form for admins.
pub async fn backtest_run(State(d): State<Dashboards>, cx: Caller, Form(f): Form<Ask>) -> Response {
    let page = async {
        cx.check_csrf(f.csrf.as_deref())?;
        let rule_text = f.text.clone().unwrap_or_default();
        let day = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let (from, to) = (day(&f.from), day(&f.to));
        let data = d
            .mutate(
                &cx,
                BACKTEST,
                json!({ "t": rule_text, "from": from, "to": to }),
            )
            .await?;
        let r = &data["backtestRule"];
        let live = d.query(&cx, QUERY, json!({})).await?;
        let ids: Vec<&str> = list(r, "rules").iter().filter_map(|v| v.as_str()).collect();
        let per_day = list(r, "perDay");
        let days: Vec<crate::charts::Bar> = per_day
            .iter()
            .map(|x| crate::charts::Bar {
                label: text(x, "day").to_string(),
                value: int(x, "alerts") as f64,
            })
            .collect();
        let csrf = cx.csrf.clone().unwrap_or_default();
        let body = html! {
            h1 { (cx.t("backtest")) }
            section aria-labelledby="bt-title" {
                h2 id="bt-title" { (cx.t("would_open")) }
                dl.facts {
                    dt { (cx.t("rules")) } dd.mono { (ids.join(", ")) }
                    dt { (cx.t("evaluated")) } dd { (text(r, "from")) " — " (text(r, "to")) }
                    dt { (cx.t("block")) } dd.num { (group(int(r, "blocks"))) }
                    dt { (cx.t("transactions")) } dd.num { (group(int(r, "transactions"))) }
                    dt { (cx.t("alerts")) } dd.num #bt-alerts { (group(int(r, "alertCount"))) }
                }
                table.data.live {
                    caption { (cx.t("live")) }
                    thead { tr { th scope="col" { (cx.t("rule")) } th scope="col" { (cx.t("alerts")) } th scope="col" { (cx.t("hits")) } th scope="col" { (cx.t("version")) } } }
                    tbody {
                        @for id in &ids {
                            @let in_force = list(&live.data, "rules").iter().find(|x| text(x, "id") == *id);
                            tr {
                                td.mono { (id) }
                                @match in_force {
                                    Some(x) => { td.num { (group(int(x, "alerts"))) } td.num { (group(int(x, "hits"))) } td.num { (int(x, "version")) } }
                                    None => { td.muted colspan="3" { (cx.t("new_rule")) } }
                                }
                            }
                        }
                    }
                }
                @if !per_day.is_empty() {
                    (crate::charts::columns("bt-days", cx.t("alerts_per_day"), &days))
                }
                @if !list(r, "alerts").is_empty() {
                    table.data {
                        thead { tr { th scope="col" { (cx.t("rule")) } th scope="col" { (cx.t("group_key")) } th scope="col" { (cx.t("first_seen")) } th scope="col" { (cx.t("height")) } th scope="col" { (cx.t("count")) } th scope="col" { (cx.t("values")) } } }
                        tbody {
                            @for a in list(r, "alerts") {
                                tr {
                                    td.mono { (text(a, "rule")) }
                                    td.break { (text(a, "key")) }
                                    td.time { (text(a, "firstSeen")) }
                                    td.num { (int(a, "height")) }
                                    td.num { (int(a, "transactionCount")) }
                                    td.break { @for v in list(a, "values") { span.mono { (text(v, "key")) "=" (text(v, "value")) } " " } }
                                }
                            }
                        }
                    }
                }
            }
            @if cx.principal.role.administers() {
                form.save method="post" action="/rules/save" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="text" value=(rule_text);
                    button type="submit" { (cx.t("save_rule")) }
                }
            }
            (backtest_box(&cx, &rule_text, from.as_deref().unwrap_or(""), to.as_deref().unwrap_or("")))
        };
        Ok(layout::page(&cx, cx.t("backtest"), "rules", body))
    };
    respond(&cx, page.await)
}

/// `POST /rules/save`: saves the rule text as its next version (admins),
/// then back to the rules.
pub async fn save(State(d): State<Dashboards>, cx: Caller, Form(f): Form<Ask>) -> Response {
    let done = async {
        cx.check_csrf(f.csrf.as_deref())?;
        let text = f.text.unwrap_or_default();
        d.mutate(&cx, SAVE, json!({ "t": text })).await?;
        Ok::<_, PageError>(axum::response::Redirect::to("/rules").into_response())
    };
    respond(&cx, done.await)
}
