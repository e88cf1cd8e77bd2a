//! Hex strings as FISCO BCOS prints them: usually `0x`-prefixed, sometimes
//! not (proof entries), case-insensitive.

use super::error::ChainError;

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// Decodes hex with or without `0x`; `field` names the field in errors.
pub fn decode(field: &str, s: &str) -> Result<Vec<u8>, ChainError> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex::decode(digits).map_err(|e| ChainError::field(field, format!("not hex: {e}")))
}

/// Decodes exactly `N` bytes of hex.
pub fn decode_fixed<const N: usize>(field: &str, s: &str) -> Result<[u8; N], ChainError> {
    let bytes = decode(field, s)?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| ChainError::field(field, format!("{len} bytes, expected {N}")))
}

/// `0x` + lowercase hex.
pub fn encode0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
