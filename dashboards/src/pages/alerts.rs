//! The alert inbox (`GET /alerts`, filtered, newest first, by cursor) and
//! an alert (`GET /alerts/{id}`): why it fired, its transactions, history
//! and notifications, and the lifecycle actions (`POST /alerts/{id}`,
//! each form carrying the session's CSRF token).

use axum::extract::{Form, Path, Query, State};

use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::{sev, state};
use super::{or_dash, tx_link, urlencode, when};
use crate::gql::{int, list, text};
use crate::{Caller, Dashboards, PageError, layout, respond};

const INBOX: &str = r#"
query DashboardAlerts($filter: AlertFilter, $after: String) {
  alerts(filter: $filter, first: 50, after: $after) {
    pageInfo { hasNextPage }
    resumeAfter
    nodes { id rule title severity state assignee createdAt lastSeen transactionCount }
  }
}"#;

const ALERT: &str = r#"
query DashboardAlert($id: Int!) {
  alert(id: $id) {
    id rule ruleVersion title severity state silencedBy createdAt updatedAt firstSeen lastSeen
    height transactionCount transactions assignee
    labels { key value }
    history { at actor action detail }
    deliveries { channel messageId status attempt at detail }
  }
}"#;

const PLAINTEXT: &str = r#"
query DashboardAlertValues($id: Int!) {
  alert(id: $id) { groupKey values { key value } }
}"#;

/// The inbox's filters.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    state: Option<String>,
    severity: Option<String>,
    rule: Option<String>,
    assignee: Option<String>,
    after: Option<String>,
}

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

const STATES: [&str; 4] = ["OPEN", "ACKNOWLEDGED", "RESOLVED", "DISMISSED"];
const SEVERITIES: [&str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"];

/// `GET /alerts`.
pub async fn inbox(State(d): State<Dashboards>, cx: Caller, Query(f): Query<Filters>) -> Response {
    respond(&cx, inbox_page(&d, &cx, &f).await)
}

async fn inbox_page(d: &Dashboards, cx: &Caller, f: &Filters) -> Result<Response, PageError> {
    let mut filter = serde_json::Map::new();
    if let Some(s) = some(&f.state) {
        if !STATES.contains(&s) {
            return Err(PageError::Refused(format!(
                "state: '{s}' is not one of {STATES:?}"
            )));
        }
        filter.insert("states".into(), json!([s]));
    }
    if let Some(s) = some(&f.severity) {
        if !SEVERITIES.contains(&s) {
            return Err(PageError::Refused(format!(
                "severity: '{s}' is not one of {SEVERITIES:?}"
            )));
        }
        filter.insert("severities".into(), json!([s]));
    }
    if let Some(r) = some(&f.rule) {
        filter.insert("rules".into(), json!([r]));
    }
    if let Some(a) = some(&f.assignee) {
        filter.insert("assignee".into(), json!(a));
    }
    let a = d
        .query(
            cx,
            INBOX,
            json!({ "filter": filter, "after": some(&f.after) }),
        )
        .await?;
    if let Some(e) = a.blocking_error() {
        return Err(PageError::Refused(e.message.clone()));
    }
    let conn = &a.data["alerts"];
    let nodes = list(conn, "nodes");
    // `resumeAfter`, not `endCursor`: a page the scan bound cut short
    // goes on from the last alert examined, not from its last edge.
    let next = conn["resumeAfter"]
        .as_str()
        .filter(|_| conn["pageInfo"]["hasNextPage"].as_bool() == Some(true));
    let chosen_state = some(&f.state).unwrap_or("");
    let chosen_sev = some(&f.severity).unwrap_or("");
    let next_url = next.map(|c| {
        let mut q = vec![format!("after={}", urlencode(c))];
        for (k, v) in [
            ("state", &f.state),
            ("severity", &f.severity),
            ("rule", &f.rule),
            ("assignee", &f.assignee),
        ] {
            if let Some(v) = some(v) {
                q.push(format!("{k}={}", urlencode(v)));
            }
        }
        format!("/alerts?{}", q.join("&"))
    });
    let body = html! {
        h1 { (cx.t("alerts")) }
        form.filters method="get" action="/alerts" {
            div {
                label for="state" { (cx.t("state")) }
                select id="state" name="state" {
                    option value="" selected[chosen_state.is_empty()] { (cx.t("all_states")) }
                    @for s in STATES { option value=(s) selected[chosen_state == s] { (cx.t(state(s))) } }
                }
            }
            div {
                label for="severity" { (cx.t("severity")) }
                select id="severity" name="severity" {
                    option value="" selected[chosen_sev.is_empty()] { (cx.t("all_severities")) }
                    @for s in SEVERITIES { option value=(s) selected[chosen_sev == s] { (cx.t(sev(s))) } }
                }
            }
            div { label for="rule" { (cx.t("rule")) } input id="rule" name="rule" value=(some(&f.rule).unwrap_or("")); }
            div { label for="assignee" { (cx.t("assignee")) } input id="assignee" name="assignee" value=(some(&f.assignee).unwrap_or("")); }
            div { button type="submit" { (cx.t("filter")) } }
        }
        @if nodes.is_empty() {
            p { (cx.t("no_alerts")) }
        } @else {
            table.data.alerts {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { (cx.t("title")) } th scope="col" { (cx.t("severity")) }
                    th scope="col" { (cx.t("state")) } th scope="col" { (cx.t("assignee")) }
                    th scope="col" { (cx.t("transactions")) } th scope="col" { (cx.t("last_seen")) }
                } }
                tbody {
                    @for n in nodes {
                        tr {
                            td.num { a href={ "/alerts/" (int(n, "id")) } { (int(n, "id")) } }
                            td { a href={ "/alerts/" (int(n, "id")) } { (text(n, "title")) } br; span.muted.mono { (text(n, "rule")) } }
                            td { span class={ "sev sev-" (text(n, "severity").to_ascii_lowercase()) } { (cx.t(sev(text(n, "severity")))) } }
                            td { (cx.t(state(text(n, "state")))) }
                            td { (or_dash(text(n, "assignee"))) }
                            td.num { (int(n, "transactionCount")) }
                            td.time { (when(text(n, "lastSeen"))) }
                        }
                    }
                }
            }
        }
        @if let Some(u) = next_url {
            nav.pager aria-label="pages" { a rel="next" href=(u) { (cx.t("next_page")) } }
        }
    };
    Ok(layout::page(cx, cx.t("alerts"), "alerts", body))
}

/// The alert's id from the path, or a named error.
fn alert_id(raw: &str) -> Result<i64, PageError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && *n <= i64::from(i32::MAX))
        .ok_or_else(|| PageError::NotFound(format!("'{raw}' is not an alert id")))
}

/// `GET /alerts/{id}`.
pub async fn detail(State(d): State<Dashboards>, cx: Caller, Path(id): Path<String>) -> Response {
    let shown = async {
        let id = alert_id(&id)?;
        detail_page(&d, &cx, id).await
    };
    respond(&cx, shown.await)
}

async fn detail_page(d: &Dashboards, cx: &Caller, id: i64) -> Result<Response, PageError> {
    let a = d.query(cx, ALERT, json!({ "id": id })).await?;
    if let Some(e) = a.blocking_error() {
        return Err(PageError::Refused(e.message.clone()));
    }
    let al = &a.data["alert"];
    if al.is_null() {
        return Err(PageError::NotFound(format!("no alert #{id}")));
    }
    // Why it fired comes from decrypted fields: asked for only by roles
    // that may read them (each read audited).
    let plain = if cx.principal.role.reads_plaintext() {
        let p = d.query(cx, PLAINTEXT, json!({ "id": id })).await?;
        Some(p.data["alert"].clone())
    } else {
        None
    };
    let st = text(al, "state");
    let acts = cx.principal.role.reads_plaintext();
    let title = format!("#{id} {}", text(al, "title"));
    let hashes = list(al, "transactions");
    let unlisted = int(al, "transactionCount") - hashes.len() as i64;
    let body = html! {
        h1 { (title) }
        dl.facts {
            dt { (cx.t("rule")) } dd { span.mono { (text(al, "rule")) } " · " (cx.t("version")) " " (int(al, "ruleVersion")) }
            dt { (cx.t("severity")) } dd { span class={ "sev sev-" (text(al, "severity").to_ascii_lowercase()) } { (cx.t(sev(text(al, "severity")))) } }
            dt { (cx.t("state")) } dd #state { (cx.t(state(st))) }
            dt { (cx.t("assignee")) } dd #assignee { (or_dash(text(al, "assignee"))) }
            dt { (cx.t("opened")) } dd { (when(text(al, "createdAt"))) }
            dt { (cx.t("updated")) } dd { (when(text(al, "updatedAt"))) }
            dt { (cx.t("first_seen")) } dd { (when(text(al, "firstSeen"))) }
            dt { (cx.t("last_seen")) } dd { (when(text(al, "lastSeen"))) " · " (cx.t("height")) " " (int(al, "height")) }
            @for l in list(al, "labels") { dt { (text(l, "key")) } dd { (text(l, "value")) } }
        }
        @if !hashes.is_empty() { (super::evidence::button(cx, None, Some(id))) }
        @if acts { (actions(cx, id, st)) }
        section aria-labelledby="why-title" {
            h2 id="why-title" { (cx.t("values")) }
            @match &plain {
                Some(p) => {
                    dl.facts {
                        dt { (cx.t("group_key")) } dd.mono.break { (or_dash(text(p, "groupKey"))) }
                        @for v in list(p, "values") { dt { (text(v, "key")) } dd.break { (text(v, "value")) } }
                    }
                }
                None => { p.withheld { (cx.t("withheld")) } }
            }
        }
        section aria-labelledby="tx-title" {
            h2 id="tx-title" { (cx.t("matched_transactions")) " (" (int(al, "transactionCount")) ")" }
            ul.hashes {
                @for h in hashes { li { (tx_link(h.as_str().unwrap_or_default())) } }
            }
            @if unlisted > 0 { p.muted { (unlisted) " " (cx.t("unlisted")) } }
        }
        section aria-labelledby="hist-title" {
            h2 id="hist-title" { (cx.t("history")) }
            table.data #history {
                thead { tr { th scope="col" { (cx.t("at")) } th scope="col" { (cx.t("actor")) } th scope="col" { (cx.t("action")) } th scope="col" { (cx.t("detail")) } } }
                tbody {
                    @for h in list(al, "history") {
                        tr { td.time { (when(text(h, "at"))) } td { (text(h, "actor")) } td { (text(h, "action")) } td.break { (text(h, "detail")) } }
                    }
                }
            }
        }
        section aria-labelledby="del-title" {
            h2 id="del-title" { (cx.t("deliveries")) }
            @if list(al, "deliveries").is_empty() { p.muted { (cx.t("none")) } } @else {
                table.data {
                    thead { tr { th scope="col" { (cx.t("channel")) } th scope="col" { (cx.t("status")) } th scope="col" { "#" } th scope="col" { (cx.t("at")) } th scope="col" { (cx.t("detail")) } } }
                    tbody {
                        @for x in list(al, "deliveries") {
                            tr { td { (text(x, "channel")) } td { (text(x, "status")) } td.num { (int(x, "attempt")) } td.time { (when(text(x, "at"))) } td.break { (text(x, "detail")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(cx, &title, "alerts", body))
}

fn actions(cx: &Caller, id: i64, st: &str) -> Markup {
    let csrf = cx.csrf.clone().unwrap_or_default();
    let closed = st == "RESOLVED" || st == "DISMISSED";
    html! {
        section.actions aria-labelledby="act-title" {
            h2 id="act-title" { (cx.t("action")) }
            form method="post" action={ "/alerts/" (id) } {
                input type="hidden" name="csrf" value=(csrf);
                label for="note" { (cx.t("note")) }
                textarea id="note" name="note" rows="3" {}
                div.buttons {
                    @if st == "OPEN" { button type="submit" name="action" value="acknowledge" { (cx.t("acknowledge")) } }
                    @if !closed {
                        button type="submit" name="action" value="resolve" { (cx.t("resolve")) }
                        button type="submit" name="action" value="dismiss" { (cx.t("dismiss")) }
                    } @else {
                        button type="submit" name="action" value="reopen" { (cx.t("reopen")) }
                    }
                    button type="submit" name="action" value="note" { (cx.t("add_note")) }
                }
            }
            form.assign method="post" action={ "/alerts/" (id) } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="action" value="assign";
                label for="assignee-input" { (cx.t("assignee")) }
                input id="assignee-input" name="assignee" value=(cx.principal.name);
                button type="submit" { (cx.t("assign")) }
            }
        }
    }
}

/// A lifecycle form.
#[derive(Deserialize)]
pub struct Act {
    csrf: Option<String>,
    action: Option<String>,
    note: Option<String>,
    assignee: Option<String>,
}

/// `POST /alerts/{id}`: one lifecycle action, then back to the alert.
pub async fn act(
    State(d): State<Dashboards>,
    cx: Caller,
    Path(id): Path<String>,
    Form(f): Form<Act>,
) -> Response {
    let done = async {
        cx.check_csrf(f.csrf.as_deref())?;
        let id = alert_id(&id)?;
        let note = f.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let (mutation, vars): (&str, Value) = match f.action.as_deref() {
            Some("acknowledge") => (
                "mutation DashboardAcknowledge($id: Int!, $note: String) { acknowledgeAlert(id: $id, note: $note) { id } }",
                json!({ "id": id, "note": note }),
            ),
            Some("resolve") => (
                "mutation DashboardResolve($id: Int!, $note: String) { resolveAlert(id: $id, note: $note) { id } }",
                json!({ "id": id, "note": note }),
            ),
            Some("dismiss") => (
                "mutation DashboardDismiss($id: Int!, $note: String) { dismissAlert(id: $id, note: $note) { id } }",
                json!({ "id": id, "note": note }),
            ),
            Some("reopen") => (
                "mutation DashboardReopen($id: Int!, $note: String) { reopenAlert(id: $id, note: $note) { id } }",
                json!({ "id": id, "note": note }),
            ),
            Some("note") => {
                let Some(note) = note else {
                    return Err(PageError::Refused("a note needs some text".into()));
                };
                (
                    "mutation DashboardNote($id: Int!, $note: String!) { noteAlert(id: $id, note: $note) { id } }",
                    json!({ "id": id, "note": note }),
                )
            }
            Some("assign") => {
                let who = f
                    .assignee
                    .as_deref()
                    .map(str::trim)
                    .filter(|a| !a.is_empty());
                (
                    "mutation DashboardAssign($id: Int!, $who: String) { assignAlert(id: $id, assignee: $who) { id } }",
                    json!({ "id": id, "who": who }),
                )
            }
            other => {
                return Err(PageError::Refused(format!(
                    "action: '{}' is not one of acknowledge, resolve, dismiss, reopen, note, assign",
                    other.unwrap_or_default()
                )));
            }
        };
        d.mutate(&cx, mutation, vars).await?;
        Ok::<_, PageError>(Redirect::to(&format!("/alerts/{id}")).into_response())
    };
    respond(&cx, done.await)
}
