//! Errors of the chain model: parsing failures that name the field.

/// What went wrong reading chain data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The input is not JSON, or not the shape of any known response.
    #[error("not a FISCO BCOS JSON-RPC response: {0}")]
    NotRecognised(String),
    /// The JSON-RPC response is an error object.
    #[error("JSON-RPC error {code}: {message}")]
    RpcError {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// A field is missing or has the wrong type or value.
    #[error("field `{field}`: {reason}")]
    Field {
        /// The field, as a path (`transactions[3].signature`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ChainError {
    /// A field error.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ChainError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
