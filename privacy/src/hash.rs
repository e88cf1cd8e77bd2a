//! SM3 (GB/T 32905-2016) helpers over the RustCrypto `sm3` crate.

use sm3::{Digest, Sm3};

/// Length of an SM3 digest in bytes.
pub const SM3_LEN: usize = 32;

/// SM3 of `data`.
pub fn sm3(data: &[u8]) -> [u8; SM3_LEN] {
    Sm3::digest(data).into()
}

/// SM3 of the concatenation of `parts`, without building the concatenation.
pub fn sm3_concat(parts: &[&[u8]]) -> [u8; SM3_LEN] {
    let mut hasher = Sm3::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
