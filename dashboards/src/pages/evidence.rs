//! `POST /evidence`: downloads an evidence pack (`docs/evidence.md`) of a
//! transaction or of an alert's transactions, made by the GraphQL mutation
//! `evidencePack` as the signed-in officer (analysts and admins; the
//! plaintext it holds is audited as `DashboardEvidencePack`). The form
//! carries the session's CSRF token; the transaction and alert pages show
//! the button to the roles that may use it.

use axum::extract::{Form, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use crate::gql::text;
use crate::{Caller, Dashboards, PageError, respond};

const MUTATION: &str = "mutation DashboardEvidencePack($t: [String!], $a: Int) { evidencePack(transactions: $t, alert: $a) { fileName content } }";

/// The download form.
#[derive(Deserialize)]
pub struct Ask {
    csrf: Option<String>,
    tx: Option<String>,
    alert: Option<String>,
}

/// The button: a form posting to `/evidence` for `tx` or `alert`, shown
/// only to roles that read plaintext.
pub fn button(cx: &Caller, tx: Option<&str>, alert: Option<i64>) -> Markup {
    if !cx.principal.role.reads_plaintext() {
        return html! {};
    }
    let csrf = cx.csrf.clone().unwrap_or_default();
    html! {
        form.evidence method="post" action="/evidence" {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(t) = tx { input type="hidden" name="tx" value=(t); }
            @if let Some(a) = alert { input type="hidden" name="alert" value=(a); }
            button type="submit" title=(cx.t("evidence_pack_hint")) { (cx.t("evidence_pack")) }
        }
    }
}

/// `POST /evidence`.
pub async fn download(State(d): State<Dashboards>, cx: Caller, Form(f): Form<Ask>) -> Response {
    let made = async {
        cx.check_csrf(f.csrf.as_deref())?;
        let vars = match (
            f.tx.as_deref().map(str::trim),
            f.alert.as_deref().map(str::trim),
        ) {
            (Some(t), None) if !t.is_empty() => json!({ "t": [t] }),
            (None, Some(a)) => {
                let id: i64 = a
                    .parse()
                    .map_err(|_| PageError::NotFound(format!("'{a}' is not an alert id")))?;
                json!({ "a": id })
            }
            _ => return Err(PageError::Refused("give a transaction or an alert".into())),
        };
        let data = d.mutate(&cx, MUTATION, vars).await?;
        let pack = &data["evidencePack"];
        let name: String = text(pack, "fileName")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .collect();
        let mut resp = text(pack, "content").to_string().into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"evidence.json\""));
        h.insert(header::CONTENT_DISPOSITION, disposition);
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Ok::<_, PageError>(resp)
    };
    respond(&cx, made.await)
}
