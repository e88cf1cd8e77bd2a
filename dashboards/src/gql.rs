//! Pages read through the GraphQL schema as the signed-in officer: the same
//! authorisation, limits and audit as any API client. A page is a client
//! whose queries are written here, not a second way into the store.

use query_api::error::ErrorCode;
use serde_json::Value;

use crate::{Caller, Dashboards, PageError};

/// A GraphQL error, reduced to what pages use.
#[derive(Debug, Clone)]
pub struct GqlError {
    /// Where in the answer (field names and list indices).
    pub path: Vec<Value>,
    /// `extensions.code` (an error without one is internal).
    pub code: ErrorCode,
    /// The message.
    pub message: String,
}

/// A query's answer: its data (null where a field failed) and its errors.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `data`.
    pub data: Value,
    /// `errors`.
    pub errors: Vec<GqlError>,
}

impl Answer {
    /// Whether the field at `path` (a prefix of an error's path) was
    /// refused as FORBIDDEN.
    pub fn forbidden_at(&self, path: &[Value]) -> bool {
        self.errors
            .iter()
            .any(|e| e.code == ErrorCode::Forbidden && e.path.starts_with(path))
    }

    /// The first error not at a field a role may be refused (a bad input,
    /// say), to show on the page.
    pub fn blocking_error(&self) -> Option<&GqlError> {
        self.errors.iter().find(|e| e.code != ErrorCode::Forbidden)
    }
}

impl Dashboards {
    /// Runs `query` (operation `operation`) with `variables` as `cx`.
    pub async fn query(
        &self,
        cx: &Caller,
        query: &str,
        variables: Value,
    ) -> Result<Answer, PageError> {
        let started = std::time::Instant::now();
        let mut req = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables));
        // The audit log names the page's operation.
        if let Some(name) = operation_name(query) {
            req = req.operation_name(name);
        }
        let (outcome, resp) = self
            .api
            .execute_as(&cx.principal, req)
            .await
            .map_err(|_| PageError::Withheld)?;
        self.api.record(outcome, started.elapsed());
        let errors = resp
            .errors
            .iter()
            .map(|e| GqlError {
                path: e
                    .path
                    .iter()
                    .map(|p| match p {
                        async_graphql::PathSegment::Field(f) => Value::String(f.clone()),
                        async_graphql::PathSegment::Index(i) => Value::from(*i),
                    })
                    .collect(),
                code: e
                    .extensions
                    .as_ref()
                    .and_then(|x| x.get("code"))
                    .and_then(|c| match c {
                        async_graphql::Value::String(s) => s.parse().ok(),
                        _ => None,
                    })
                    .unwrap_or(ErrorCode::Internal),
                message: e.message.clone(),
            })
            .collect();
        let data = resp.data.into_json().unwrap_or(Value::Null);
        Ok(Answer { data, errors })
    }

    /// Runs a mutation; its first error, if any, is the page's error.
    pub async fn mutate(
        &self,
        cx: &Caller,
        query: &str,
        variables: Value,
    ) -> Result<Value, PageError> {
        let a = self.query(cx, query, variables).await?;
        match a.errors.first() {
            Some(e) if e.code == ErrorCode::Forbidden => {
                Err(PageError::Forbidden(e.message.clone()))
            }
            Some(e) if e.code == ErrorCode::NotFound => Err(PageError::NotFound(e.message.clone())),
            Some(e) => Err(PageError::Refused(e.message.clone())),
            None => Ok(a.data),
        }
    }
}

/// The name of a document's first operation (`query NAME…`).
fn operation_name(query: &str) -> Option<&str> {
    let rest = query.trim_start();
    let rest = rest
        .strip_prefix("query")
        .or_else(|| rest.strip_prefix("mutation"))?
        .trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// `v[key]` as text ("" when absent or null).
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `v[key]` as an integer (0 when absent).
pub fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or_default()
}

/// `v[key]` as a list (empty when absent).
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_for_the_audit_log() {
        assert_eq!(
            operation_name("\nquery DashboardSearch($a: Int) { x }"),
            Some("DashboardSearch")
        );
        assert_eq!(
            operation_name("mutation DashboardResolve { x }"),
            Some("DashboardResolve")
        );
        assert_eq!(operation_name("mutation($id: Int!) { x }"), None);
        assert_eq!(operation_name("{ x }"), None);
    }
}
