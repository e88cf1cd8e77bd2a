//! The API's error codes: one small set, each with its meaning, the HTTP
//! status a refusal before execution carries, and the `extensions.code` of a
//! GraphQL error. Clients (the dashboards among them) match on these codes,
//! never on messages; the detail of an internal error goes to the log only.

use std::fmt;
use std::str::FromStr;

use async_graphql::{Error, ErrorExtensions};
use axum::http::StatusCode;
use indexer::search::SearchError;

/// What went wrong, as a client can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed or names something impossible: fix it.
    BadUserInput,
    /// No valid token or JWT: sign in.
    Unauthenticated,
    /// The caller's role may not read or do this.
    Forbidden,
    /// What was named does not exist.
    NotFound,
    /// The change conflicts with the current state (e.g. a closed alert).
    Conflict,
    /// Too many requests for this caller: retry after the given time.
    RateLimited,
    /// The request ran past its time limit.
    Timeout,
    /// The server failed; the log has the detail.
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::BadUserInput,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::Timeout,
        ErrorCode::Internal,
    ];

    /// The code as `extensions.code` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The HTTP status of a request refused with this code.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A GraphQL error with this code and `message` (safe to show).
    pub fn error(self, message: impl Into<String>) -> Error {
        Error::new(message.into()).extend_with(move |_, e| e.set("code", self.as_str()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown error code {s:?}"))
    }
}

/// A BAD_USER_INPUT error: something the client can fix.
pub(crate) fn bad_input(msg: impl Into<String>) -> Error {
    ErrorCode::BadUserInput.error(msg)
}

/// An INTERNAL error; the detail goes to the log, not to the client.
pub(crate) fn internal(err: impl std::fmt::Display) -> Error {
    tracing::error!(error = %err, "a query failed");
    ErrorCode::Internal.error("internal error (the server log has the detail)")
}

/// A search's error as the client sees it.
pub(crate) fn search_error(err: SearchError) -> Error {
    match err {
        SearchError::QueryTooLong(_)
        | SearchError::BadCursor(_)
        | SearchError::BadFilter { .. } => bad_input(err.to_string()),
        SearchError::Index(_) | SearchError::Aggregation(_) => internal(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_and_map_to_distinct_statuses() {
        let mut statuses = Vec::new();
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>(), Ok(c));
            statuses.push(c.http_status());
        }
        statuses.sort();
        statuses.dedup();
        assert_eq!(statuses.len(), ErrorCode::ALL.len());
        assert!("OOPS".parse::<ErrorCode>().is_err());
    }
}
