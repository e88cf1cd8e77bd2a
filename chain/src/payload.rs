//! Where a transaction's business payload is: the `bytes` argument of a
//! one-argument contract call (`f(bytes)`, the way FISCO BCOS business
//! contracts take an opaque record), or else the whole input.
//!
//! The decoding is strict so that one input has one reading: the argument
//! offset is 0x20, the length fits, the padding to a 32-byte boundary is
//! zero and nothing follows it. Anything else is taken as a raw payload.

/// The payload carried by call data `input`.
pub fn payload(input: &[u8]) -> &[u8] {
    bytes_argument(input).unwrap_or(input)
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
