//! `GET /search`: one box, filters, a sortable table with highlighted
//! matches, pages by cursor; the URL reproduces the search. `GET
//! /search.csv` exports the whole result set (audited like any read).

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{account_link, highlighted, or_dash, tx_link, urlencode, when};
use crate::charts::group;
use crate::gql::{Answer, int, list, text};
use crate::{Caller, Dashboards, PageError, layout, respond};

/// Rows per page unless `first` says otherwise.
pub const PAGE: i64 = 25;
/// Rows fetched per request while exporting (within the API's complexity
/// limit for this query).
const EXPORT_PAGE: i64 = 100;
/// Most rows one export holds.
pub const EXPORT_MAX: usize = 10_000;

/// The search form, as the URL carries it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Params {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min: Option<String>,
    max: Option<String>,
    party: Option<String>,
    privacy: Option<String>,
    rule: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    after: Option<String>,
    first: Option<String>,
    /// The highest block searched: set on every link from a result page,
    /// so its pages, sorts, export and deep link show the same result set
    /// while the chain grows.
    upto: Option<String>,
}

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

const QUERY: &str = r#"
query DashboardSearch($search: String, $filter: TransactionFilter, $order: TransactionOrder,
                      $first: Int, $after: String, $snip: String!, $withSnip: Boolean!) {
  transactions(search: $search, filter: $filter, order: $order, first: $first, after: $after) {
    totalCount indexedHeight warnings
    pageInfo { hasNextPage endCursor }
    nodes {
      chain hash height time from to privacyClass envelopeStatus
      payload { payer payee amount currency memo }
      snippets(search: $snip) @include(if: $withSnip) { field fragment highlights { start end } }
    }
  }
}"#;

const HEIGHT: &str = "query DashboardIndexedHeight($chain: String) { chain(id: $chain) { indexedHeight } chains { id } }";

/// `vars` searching the chain the switch shows, if one.
fn on_chain(mut vars: Value, cx: &Caller) -> Value {
    if let Some(c) = &cx.chain {
        vars["filter"]["chains"] = json!([c]);
    }
    vars
}

/// A date field (`YYYY-MM-DD`) as the start or end of that Beijing day.
fn day(field: &str, v: &str, end: bool) -> Result<String, PageError> {
    let b = v.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !ok {
        return Err(PageError::Refused(format!(
            "{field}: '{v}' is not a date (YYYY-MM-DD)"
        )));
    }
    Ok(if end {
        format!("{v}T23:59:59.999+08:00")
    } else {
        format!("{v}T00:00:00+08:00")
    })
}

impl Params {
    fn sort(&self) -> &str {
        match some(&self.sort) {
            Some(s @ ("relevance" | "time" | "amount" | "chain")) => s,
            _ if some(&self.q).is_some() => "relevance",
            _ => "time",
        }
    }

    fn dir(&self) -> &str {
        match some(&self.dir) {
            Some("asc") => "asc",
            _ => "desc",
        }
    }

    /// The query's variables for a page of `first` after `after`.
    fn variables(&self, first: i64, after: Option<&str>) -> Result<Value, PageError> {
        let mut filter = serde_json::Map::new();
        let from = some(&self.from)
            .map(|v| day("from", v, false))
            .transpose()?;
        let to = some(&self.to).map(|v| day("to", v, true)).transpose()?;
        if from.is_some() || to.is_some() {
            filter.insert("timeRange".into(), json!({ "from": from, "to": to }));
        }
        if some(&self.min).is_some() || some(&self.max).is_some() {
            filter.insert(
                "amountRange".into(),
                json!({ "min": some(&self.min), "max": some(&self.max) }),
            );
        }
        if let Some(p) = some(&self.party) {
            filter.insert("party".into(), json!(p));
        }
        match some(&self.privacy) {
            Some("public") => {
                filter.insert("privacyClass".into(), json!("PUBLIC"));
            }
            Some("private") => {
                filter.insert("privacyClass".into(), json!("PRIVATE"));
            }
            _ => {}
        }
        if let Some(r) = some(&self.rule) {
            filter.insert("ruleHit".into(), json!(r));
        }
        if let Some(u) = some(&self.upto) {
            let h: i64 = u
                .parse()
                .map_err(|_| PageError::Refused(format!("upto: '{u}' is not a block height")))?;
            filter.insert("heightRange".into(), json!({ "max": h }));
        }
        let q = some(&self.q);
        Ok(json!({
            "search": q,
            "filter": filter,
            "order": {
                "field": self.sort().to_ascii_uppercase(),
                "direction": self.dir().to_ascii_uppercase(),
            },
            "first": first,
            "after": after,
            "snip": q.unwrap_or_default(),
            "withSnip": q.is_some(),
        }))
    }

    /// The URL of this search with `changes` applied (`None` removes).
    fn url(&self, path: &str, changes: &[(&str, Option<&str>)]) -> String {
        let fields: [(&str, &Option<String>); 13] = [
            ("q", &self.q),
            ("from", &self.from),
            ("to", &self.to),
            ("min", &self.min),
            ("max", &self.max),
            ("party", &self.party),
            ("privacy", &self.privacy),
            ("rule", &self.rule),
            ("sort", &self.sort),
            ("dir", &self.dir),
            ("after", &self.after),
            ("first", &self.first),
            ("upto", &self.upto),
        ];
        let mut parts = Vec::new();
        for (k, v) in fields {
            let v = match changes.iter().find(|(c, _)| *c == k) {
                Some((_, changed)) => changed.map(str::to_string),
                None => some(v).map(str::to_string),
            };
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", urlencode(&v)));
            }
        }
        if parts.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", parts.join("&"))
        }
    }

    fn page_size(&self) -> Result<i64, PageError> {
        match some(&self.first) {
            None => Ok(PAGE),
            Some(f) => match f.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => Ok(n),
                _ => Err(PageError::Refused(format!(
                    "first: '{f}' is not a page size from 1 to 100"
                ))),
            },
        }
    }
}

/// `GET /search`.
pub async fn handler(State(d): State<Dashboards>, cx: Caller, Query(p): Query<Params>) -> Response {
    respond(&cx, page(&d, &cx, &p).await)
}

async fn page(d: &Dashboards, cx: &Caller, p: &Params) -> Result<Response, PageError> {
    let searched = some(&p.q).is_some() || p.url("", &[]).contains('=');
    // Bad input is named before anything else happens.
    let vars = if searched {
        Some(on_chain(p.variables(p.page_size()?, some(&p.after))?, cx))
    } else {
        None
    };
    if searched && some(&p.upto).is_none() {
        // Pin the search to the blocks searchable now, in the URL: the
        // address bar is then a deep link that shows these same results
        // however far the chain has grown (a height names one chain's
        // blocks: with several, only when one is shown).
        let a = d.query(cx, HEIGHT, json!({ "chain": cx.chain })).await?;
        let one = cx.chain.is_some() || list(&a.data, "chains").len() <= 1;
        if let Some(h) = a.data["chain"]["indexedHeight"].as_i64().filter(|_| one) {
            let to = p.url("/search", &[("upto", Some(&h.to_string()))]);
            return Ok(Redirect::to(&to).into_response());
        }
    }
    let answer = if let Some(vars) = vars {
        let a = d.query(cx, QUERY, vars).await?;
        if let Some(e) = a.blocking_error() {
            return Err(PageError::Refused(e.message.clone()));
        }
        Some(a)
    } else {
        None
    };
    let body = html! {
        h1 { (cx.t("search")) }
        (form(cx, p))
        @if let Some(a) = &answer { (results(cx, p, a)) }
    };
    Ok(layout::page(cx, cx.t("search"), "search", body))
}

fn form(cx: &Caller, p: &Params) -> Markup {
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let privacy = some(&p.privacy).unwrap_or("");
    let sort = p.sort();
    html! {
        form.search method="get" action="/search" role="search" {
            div.q {
                label for="q" { (cx.t("query")) }
                input id="q" name="q" type="search" value=(v(&p.q)) aria-describedby="q-help" autofocus;
                button type="submit" { (cx.t("apply")) }
                p id="q-help" .help { (cx.t("query_help")) }
            }
            fieldset.filters {
                legend { (cx.t("filter")) }
                div { label for="from" { (cx.t("from_date")) } input id="from" name="from" type="date" value=(v(&p.from)); }
                div { label for="to" { (cx.t("to_date")) } input id="to" name="to" type="date" value=(v(&p.to)); }
                div { label for="min" { (cx.t("min_amount")) } input id="min" name="min" inputmode="decimal" value=(v(&p.min)); }
                div { label for="max" { (cx.t("max_amount")) } input id="max" name="max" inputmode="decimal" value=(v(&p.max)); }
                div { label for="party" { (cx.t("party")) } input id="party" name="party" value=(v(&p.party)); }
                div {
                    label for="privacy" { (cx.t("privacy")) }
                    select id="privacy" name="privacy" {
                        option value="" selected[privacy.is_empty()] { (cx.t("any")) }
                        option value="public" selected[privacy == "public"] { (cx.t("public")) }
                        option value="private" selected[privacy == "private"] { (cx.t("private")) }
                    }
                }
                div { label for="rule" { (cx.t("rule_hit")) } input id="rule" name="rule" value=(v(&p.rule)); }
                div {
                    label for="sort" { (cx.t("sort")) }
                    select id="sort" name="sort" {
                        @for s in ["relevance", "time", "amount", "chain"] {
                            option value=(s) selected[sort == s] { (cx.t(sort_label(s))) }
                        }
                    }
                }
            }
        }
    }
}

fn sort_label(s: &str) -> &'static str {
    match s {
        "relevance" => "relevance",
        "amount" => "amount",
        "chain" => "chain_order",
        _ => "time",
    }
}

fn results(cx: &Caller, p: &Params, a: &Answer) -> Markup {
    let conn = &a.data["transactions"];
    // Links from this page keep to the blocks it searched.
    let mut pinned = p.clone();
    if some(&p.upto).is_none() {
        pinned.upto = conn["indexedHeight"].as_i64().map(|h| h.to_string());
    }
    let p = &pinned;
    let nodes = list(conn, "nodes");
    let total = int(conn, "totalCount");
    let next = conn["pageInfo"]["endCursor"]
        .as_str()
        .filter(|_| conn["pageInfo"]["hasNextPage"].as_bool() == Some(true));
    let sort = p.sort();
    let dir = p.dir();
    let header = |key: &'static str, s: &'static str| {
        let active = sort == s;
        let next_dir = if active && dir == "desc" {
            "asc"
        } else {
            "desc"
        };
        let url = p.url(
            "/search",
            &[("sort", Some(s)), ("dir", Some(next_dir)), ("after", None)],
        );
        let aria = match (active, dir) {
            (false, _) => "none",
            (true, "asc") => "ascending",
            (true, _) => "descending",
        };
        html! {
            th scope="col" aria-sort=(aria) {
                a href=(url) { (cx.t(key)) @if active { (if dir == "asc" { " ▲" } else { " ▼" }) } }
            }
        }
    };
    html! {
        section.results aria-labelledby="results-title" {
            h2 id="results-title" {
                span.count { (group(total)) } " " (cx.t("results"))
            }
            @for w in list(conn, "warnings") {
                p.warning { (w.as_str().unwrap_or_default()) }
            }
            p.actions {
                a.button href=(p.url("/search.csv", &[("after", None), ("first", None)])) download { (cx.t("export_csv")) }
            }
            @if nodes.is_empty() {
                p { (cx.t("no_results")) }
            } @else {
                table.data {
                    thead {
                        tr {
                            (header("time", "time"))
                            th scope="col" { (cx.t("hash")) }
                            (header("height", "chain"))
                            th scope="col" { (cx.t("payer")) }
                            th scope="col" { (cx.t("payee")) }
                            (header("amount", "amount"))
                            th scope="col" { (cx.t("privacy")) }
                            th scope="col" {
                                @if some(&p.q).is_some() {
                                    a href=(p.url("/search", &[("sort", Some("relevance")), ("dir", None), ("after", None)])) { (cx.t("match")) }
                                } @else { (cx.t("memo")) }
                            }
                        }
                    }
                    tbody {
                        @for (i, n) in nodes.iter().enumerate() {
                            (row(cx, a, i, n))
                        }
                    }
                }
            }
            nav.pager aria-label="pages" {
                @if some(&p.after).is_some() {
                    a href=(p.url("/search", &[("after", None)])) { (cx.t("first_page")) }
                }
                @if let Some(c) = next {
                    a rel="next" href=(p.url("/search", &[("after", Some(c))])) { (cx.t("next_page")) }
                }
            }
        }
    }
}

fn row(cx: &Caller, a: &Answer, i: usize, n: &Value) -> Markup {
    let withheld = a.forbidden_at(&[
        json!("transactions"),
        json!("nodes"),
        json!(i),
        json!("payload"),
    ]);
    let pl = &n["payload"];
    let snippets = list(n, "snippets");
    html! {
        tr {
            td.time { (when(text(n, "time"))) }
            td { (tx_link(text(n, "hash"))) }
            td.num { span.muted { (text(n, "chain")) } " " (int(n, "height")) }
            @if withheld {
                td.withheld colspan="3" { (cx.t("withheld")) }
            } @else {
                td { (account_link(text(pl, "payer"))) }
                td { (account_link(text(pl, "payee"))) }
                td.num { (or_dash(text(pl, "amount"))) " " span.muted { (text(pl, "currency")) } }
            }
            td { (cx.t(if text(n, "privacyClass") == "PRIVATE" { "private" } else { "public" })) }
            td.snippet {
                @if withheld {
                    span.muted { "—" }
                } @else if !snippets.is_empty() {
                    @for s in snippets {
                        @let spans: Vec<(usize, usize)> = list(s, "highlights").iter().map(|h| (int(h, "start").max(0) as usize, int(h, "end").max(0) as usize)).collect();
                        span.frag { (highlighted(text(s, "fragment"), &spans)) }
                    }
                } @else {
                    (or_dash(text(pl, "memo")))
                }
            }
        }
    }
}

/// `GET /search.csv`: the result set (at most [`EXPORT_MAX`] rows) as CSV.
pub async fn export(State(d): State<Dashboards>, cx: Caller, Query(p): Query<Params>) -> Response {
    match csv_of(&d, &cx, &p).await {
        Ok(bytes) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"lookthrough-transactions.csv\""),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.respond(cx.lang, Some(&cx)),
    }
}

/// A cell as a spreadsheet will not run it as a formula.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

async fn csv_of(d: &Dashboards, cx: &Caller, p: &Params) -> Result<Vec<u8>, PageError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| PageError::Refused(format!("CSV: {e}"));
    // A byte-order mark, so spreadsheet programs read the Chinese as UTF-8.
    out.write_record([
        "\u{feff}time",
        "hash",
        "height",
        "from",
        "to",
        "privacy",
        "envelope",
        "payer",
        "payee",
        "amount",
        "currency",
        "memo",
    ])
    .map_err(bad)?;
    // The same query, named so the audit log tells an export from a page.
    let export_query = QUERY.replace("DashboardSearch", "DashboardExport");
    let mut after: Option<String> = None;
    let mut rows = 0usize;
    loop {
        let mut vars = on_chain(p.variables(EXPORT_PAGE, after.as_deref())?, cx);
        vars["withSnip"] = json!(false);
        let a = d.query(cx, &export_query, vars).await?;
        if let Some(e) = a.blocking_error() {
            return Err(PageError::Refused(e.message.clone()));
        }
        let conn = &a.data["transactions"];
        for (i, n) in list(conn, "nodes").iter().enumerate() {
            if rows == EXPORT_MAX {
                break;
            }
            let withheld = a.forbidden_at(&[
                json!("transactions"),
                json!("nodes"),
                json!(i),
                json!("payload"),
            ]);
            let pl = &n["payload"];
            let field = |k: &str| {
                if withheld {
                    "(withheld)".to_string()
                } else {
                    cell(text(pl, k))
                }
            };
            out.write_record([
                cell(text(n, "time")),
                cell(text(n, "hash")),
                int(n, "height").to_string(),
                cell(text(n, "from")),
                cell(text(n, "to")),
                cell(text(n, "privacyClass")),
                cell(text(n, "envelopeStatus")),
                field("payer"),
                field("payee"),
                field("amount"),
                field("currency"),
                field("memo"),
            ])
            .map_err(bad)?;
            rows += 1;
        }
        let more = conn["pageInfo"]["hasNextPage"].as_bool() == Some(true);
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
        if !more || after.is_none() || rows >= EXPORT_MAX {
            break;
        }
    }
    out.into_inner()
        .map_err(|e| PageError::Refused(format!("CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_reproduces_the_search_and_variables_follow_the_form() {
        let p = Params {
            q: Some("跨境 汇款".into()),
            from: Some("2026-01-02".into()),
            privacy: Some("private".into()),
            after: Some("c1".into()),
            ..Default::default()
        };
        assert_eq!(
            p.url("/search", &[("after", None)]),
            "/search?q=%E8%B7%A8%E5%A2%83%20%E6%B1%87%E6%AC%BE&from=2026-01-02&privacy=private"
        );
        let v = p.variables(25, Some("c1")).unwrap_or_default();
        assert_eq!(
            v["filter"]["timeRange"]["from"],
            "2026-01-02T00:00:00+08:00"
        );
        assert_eq!(v["filter"]["privacyClass"], "PRIVATE");
        assert_eq!(v["order"]["field"], "RELEVANCE");
        assert_eq!(v["withSnip"], true);
        let bad = Params {
            to: Some("02/01/2026".into()),
            ..Default::default()
        };
        assert!(
            matches!(bad.variables(25, None), Err(PageError::Refused(m)) if m.contains("to: '02/01/2026'"))
        );
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("汇款"), "汇款");
    }
}
