//! Where a transaction's business payload is, read from its call data alone
//! (no ABI needed, so that a contract whose ABI arrives later loses
//! nothing):
//! - [`bytes_argument`]: the argument of a one-argument call `f(bytes)`,
//!   the way simple FISCO BCOS business contracts take an opaque record;
//! - [`dynamic_arguments`]: every top-level dynamic argument (`bytes`,
//!   `string`) of any ABI-encoded call, read from the head's offsets, where
//!   ingest looks for a supervised envelope and records for a JSON record;
//! - [`envelope_candidates`]: where a supervised envelope may be;
//! - [`payload`]: the `f(bytes)` argument, else the whole input;
//! - [`record`]: the JSON record of a public call (the `f(bytes)` argument,
//!   else the first dynamic argument that is JSON, else the input).
//!
//! `bytes_argument` is strict so that one input has one reading: the
//! argument offset is 0x20, the length fits, the padding to a 32-byte
//! boundary is zero and nothing follows it. `dynamic_arguments` is
//! lenient (any word of the head that points at a length-prefixed run
//! inside the input is a candidate): its candidates are only tried, by
//! parsers as strict as the envelope's.

/// Head words looked at for offsets at most (a call with more parameters
/// has its later dynamic arguments ignored).
pub const MAX_HEAD_WORDS: usize = 16;

/// The record a public call carries in the clear: the `f(bytes)` argument,
/// else the first dynamic argument that is JSON text (an object or an
/// array), else the whole input.
pub fn record(input: &[u8]) -> &[u8] {
    if let Some(arg) = bytes_argument(input) {
        return arg;
    }
    dynamic_arguments(input)
        .into_iter()
        .find(|a| is_json_text(a))
        .unwrap_or(input)
}

/// Where a transaction's envelope may be: the `f(bytes)` argument, else
/// every top-level dynamic argument of the call that starts like an
/// envelope (any contract, with or without its ABI: an envelope cannot hide
/// in an argument no mapping names), well-formed ones first; empty when
/// none does (the whole input is then classified as it stands).
pub fn envelope_candidates(input: &[u8]) -> Vec<&[u8]> {
    use privacy::envelope::{Envelope, ParseError};
    if let Some(arg) = bytes_argument(input) {
        return vec![arg];
    }
    let mut well_formed = Vec::new();
    let mut malformed = Vec::new();
    for a in dynamic_arguments(input) {
        match Envelope::parse(a) {
            Ok(_) => well_formed.push(a),
            Err(ParseError::NotEnvelope) => {}
            Err(ParseError::Malformed(_)) => malformed.push(a),
        }
    }
    well_formed.extend(malformed);
    well_formed
}

/// Where `part` (a slice of `input`, as [`envelope_candidates`] and the
/// other readers here return) starts in `input`; `None` for a slice of
/// other memory.
pub fn offset_in(input: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    (start.checked_add(part.len())? <= input.len()).then_some(start)
}

/// Whether `bytes` is a JSON object or array.
fn is_json_text(bytes: &[u8]) -> bool {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    matches!(first, Some(b'{' | b'[')) && serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

/// The payload carried by call data `input`.
pub fn payload(input: &[u8]) -> &[u8] {
    bytes_argument(input).unwrap_or(input)
}

/// The top-level dynamic arguments of call data `input` (selector, then an
/// ABI-encoded head): for each of the first [`MAX_HEAD_WORDS`] words that
/// is an offset (a multiple of 32 past the word itself) to a length word
/// whose run fits in the input, that run; in word order, each offset once.
/// Every word is looked at, so that an argument whose value happens to look
/// like an offset (an amount of 64) cannot hide the arguments after it: a
/// candidate that is no argument is only tried, and refused, by the parsers
/// it is given to.
pub fn dynamic_arguments(input: &[u8]) -> Vec<&[u8]> {
    let Some((_selector, body)) = input.split_first_chunk::<4>() else {
        return Vec::new();
    };
    let word = |at: usize| -> Option<usize> {
        let w: &[u8; 32] = body.get(at..at.checked_add(32)?)?.try_into().ok()?;
        if w[..24].iter().any(|b| *b != 0) {
            return None;
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(&w[24..]);
        usize::try_from(u64::from_be_bytes(be)).ok()
    };
    let mut out = Vec::new();
    let mut offsets: Vec<usize> = Vec::new();
    for k in 0..MAX_HEAD_WORDS {
        let at = k * 32;
        if at + 32 > body.len() {
            break;
        }
        let Some(offset) = word(at) else { continue };
        if offset % 32 != 0 || offset <= at || offsets.contains(&offset) {
            continue;
        }
        let Some(len) = word(offset) else { continue };
        let start = offset + 32;
        let Some(end) = start.checked_add(len).filter(|e| *e <= body.len()) else {
            continue;
        };
        offsets.push(offset);
        out.push(&body[start..end]);
    }
    out
}

/// The argument of `input` if it is exactly a call `f(bytes)` (any selector).
pub fn bytes_argument(input: &[u8]) -> Option<&[u8]> {
    let (_selector, rest) = input.split_first_chunk::<4>()?;
    let (offset, rest) = rest.split_first_chunk::<32>()?;
    let (length, data) = rest.split_first_chunk::<32>()?;
    let small = |w: &[u8; 32]| -> Option<usize> {
        if w[..24].iter().any(|b| *b != 0) {
            return None;
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(&w[24..]);
        usize::try_from(u64::from_be_bytes(be)).ok()
    };
    if small(offset)? != 0x20 {
        return None;
    }
    let len = small(length)?;
    if len > data.len() || data.len() != len.div_ceil(32) * 32 {
        return None;
    }
    let (arg, padding) = data.split_at(len);
    if padding.iter().any(|b| *b != 0) {
        return None;
    }
    Some(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(arg: &[u8]) -> Vec<u8> {
        let mut v = vec![0xde, 0xad, 0xbe, 0xef];
        let mut w = [0u8; 32];
        w[31] = 0x20;
        v.extend_from_slice(&w);
        let mut l = [0u8; 32];
        l[24..].copy_from_slice(&(arg.len() as u64).to_be_bytes());
        v.extend_from_slice(&l);
        v.extend_from_slice(arg);
        v.resize(v.len() + (32 - arg.len() % 32) % 32, 0);
        v
    }

    #[test]
    fn reads_the_bytes_argument() {
        for n in [0usize, 1, 31, 32, 33, 100] {
            let arg: Vec<u8> = (0..n as u8).collect();
            assert_eq!(payload(&call(&arg)), arg.as_slice(), "length {n}");
        }
    }

    /// `f(bytes32, address, uint256, string, bytes)` as solc encodes it.
    fn five(currency: &[u8], record: &[u8]) -> Vec<u8> {
        let word = |n: usize| {
            let mut w = [0u8; 32];
            w[24..].copy_from_slice(&(n as u64).to_be_bytes());
            w
        };
        let padded = |b: &[u8]| {
            let mut v = word(b.len()).to_vec();
            v.extend_from_slice(b);
            v.resize(32 + b.len().div_ceil(32) * 32, 0);
            v
        };
        let (c, r) = (padded(currency), padded(record));
        let mut v = vec![1, 2, 3, 4];
        v.extend_from_slice(&[0x11; 32]);
        v.extend_from_slice(&word(0xabcd));
        v.extend_from_slice(&word(0x40));
        v.extend_from_slice(&word(5 * 32));
        v.extend_from_slice(&word(5 * 32 + c.len()));
        v.extend(c);
        v.extend(r);
        v
    }

    #[test]
    fn finds_every_dynamic_argument_of_a_call() {
        let input = five(b"CNY", b"{\"memo\":\"x\"}");
        // The amount word (0x40) would be an offset back into the head:
        // not taken.
        let args = dynamic_arguments(&input);
        assert!(args.contains(&&b"CNY"[..]), "{args:?}");
        assert!(args.contains(&&b"{\"memo\":\"x\"}"[..]), "{args:?}");
        // `f(address, uint256, bytes)` whose amount is 64: that word points
        // at the next one (the record's offset, read as a length); the
        // record after it is still found.
        let word = |n: usize| {
            let mut w = [0u8; 32];
            w[24..].copy_from_slice(&(n as u64).to_be_bytes());
            w
        };
        let rec = b"{\"invoice\":\"INV-1\",\"memo\":\"a record longer than 64 bytes, to make the trap fit\"}";
        let mut v = vec![9, 9, 9, 9];
        v.extend_from_slice(&word(0xb2));
        v.extend_from_slice(&word(64));
        v.extend_from_slice(&word(96));
        v.extend_from_slice(&word(rec.len()));
        v.extend_from_slice(rec);
        v.resize(v.len() + (32 - rec.len() % 32) % 32, 0);
        assert!(dynamic_arguments(&v).contains(&&rec[..]));
        assert_eq!(record(&v), &rec[..]);
        assert_eq!(dynamic_arguments(&call(b"hello")), vec![&b"hello"[..]]);
        // Truncated: the record's run no longer fits, the currency's does.
        let cut = &input[..input.len() - 32];
        assert!(dynamic_arguments(cut).contains(&&b"CNY"[..]));
        assert!(!dynamic_arguments(cut).contains(&&b"{\"memo\":\"x\"}"[..]));
        assert!(dynamic_arguments(&input[..3]).is_empty());
        // The record is the JSON one, not the currency.
        assert_eq!(record(&input), b"{\"memo\":\"x\"}");
        assert_eq!(
            record(&five(b"CNY", b"{not json")),
            &five(b"CNY", b"{not json")[..]
        );
        assert_eq!(record(&call(b"abc")), b"abc");
        assert!(dynamic_arguments(&[]).is_empty());
    }

    #[test]
    fn anything_else_is_the_raw_input() {
        let good = call(b"hello");
        let mut trailing = good.clone();
        trailing.push(0);
        let mut dirty_pad = good.clone();
        let last = dirty_pad.len() - 1;
        dirty_pad[last] = 1;
        let mut bad_offset = good.clone();
        bad_offset[4 + 31] = 0x40;
        for input in [
            &trailing[..],
            &dirty_pad,
            &bad_offset,
            &good[..40],
            b"{\"a\":1}",
        ] {
            assert_eq!(payload(input), input);
        }
    }
}
